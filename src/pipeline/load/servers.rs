//! The `jenkins:` block, named `servers:`, and which server each step uses.

use std::collections::BTreeMap;

use crate::pipeline::file::JenkinsFile;
use crate::pipeline::locate::YamlPath;
use crate::pipeline::model::{AuthScheme, DEFAULT_SERVER, ServerSpec};
use crate::pipeline::suggest;

use super::lowering::{Lowering, Node, is_id};

impl Lowering<'_> {
    /// `servers:`, by name; `default` and names that are not ids are reported and left out.
    pub(super) fn servers(&mut self) -> BTreeMap<String, ServerSpec> {
        let mut servers = BTreeMap::new();
        let Some(file) = &self.doc.servers else {
            return servers;
        };
        let base = YamlPath::root().key("servers");
        for (name, server) in &file.0 {
            let path = base.key(name);
            let spec = self.server(server, &path);
            if name == DEFAULT_SERVER {
                self.diags.at(
                    &path,
                    "`default` names the `jenkins:` server; give this server another name \
                     (steps reach the `jenkins:` server by leaving out `server:` or with \
                     `server: default`)",
                );
                continue;
            }
            if !is_id(name) {
                self.diags.at(
                    &path,
                    format!(
                        "server name `{name}` may use only letters, digits, `-` and `_` (steps \
                         name it with `server: {name}`)"
                    ),
                );
                continue;
            }
            servers.insert(name.clone(), spec);
        }
        servers
    }

    /// A server block (`jenkins:` or an entry of `servers:`) at `base`.
    pub(super) fn server(&mut self, jenkins: &JenkinsFile, base: &YamlPath) -> ServerSpec {
        let JenkinsFile {
            url,
            user,
            token,
            token_file,
            password,
            password_file,
            auth,
            token_command,
            token_ttl,
            headers,
            ca_file,
            proxy,
            max_in_flight,
            triggers_per_second,
            unreachable_timeout,
        } = jenkins;
        let scheme = auth.unwrap_or_default();
        self.auth_keys(jenkins, scheme, base);
        let pairs = [
            ("token", token.is_some(), "token_file", token_file.is_some()),
            (
                "password",
                password.is_some(),
                "password_file",
                password_file.is_some(),
            ),
        ];
        for (a, has_a, b, has_b) in pairs {
            if has_a && has_b {
                self.diags.at(
                    &base.key(b),
                    format!("{base}: give either `{a}` or `{b}`, not both"),
                );
            }
        }
        if (token.is_some() || token_file.is_some())
            && (password.is_some() || password_file.is_some())
        {
            let key = if password.is_some() {
                "password"
            } else {
                "password_file"
            };
            self.diags.at(
                &base.key(key),
                format!(
                    "{base}: give either an API token (`token`/`token_file`) or a password \
                     (`password`/`password_file`), not both"
                ),
            );
        }
        if let Some(url) = url
            && !url.contains("{{")
            && !url.starts_with("http://")
            && !url.starts_with("https://")
        {
            self.diags.at(
                &base.key("url"),
                format!(
                    "{base}.url `{url}` must start with http:// or https://, e.g. \
                     https://ci.example.com"
                ),
            );
        }
        if let Some(proxy) = proxy
            && !proxy.contains("{{")
            && let Err(problem) = crate::jenkins::check_proxy_url(proxy)
        {
            self.diags
                .at(&base.key("proxy"), format!("{base}.proxy: {problem}"));
        }
        if *max_in_flight == Some(0) {
            self.diags.at(
                &base.key("max_in_flight"),
                format!("{base}.max_in_flight must be at least 1"),
            );
        }
        if *triggers_per_second == Some(0) {
            self.diags.at(
                &base.key("triggers_per_second"),
                format!("{base}.triggers_per_second must be at least 1"),
            );
        }
        let unreachable_timeout =
            self.positive(*unreachable_timeout, &base.key("unreachable_timeout"));
        let field = |this: &mut Self, value: &Option<String>, key: &str, secret: bool| {
            value
                .as_ref()
                .and_then(|v| this.template(v, &base.key(key), secret))
        };
        let token_command = token_command.as_ref().map(|argv| {
            argv.iter()
                .enumerate()
                .filter_map(|(i, arg)| {
                    self.template(arg, &base.key("token_command").index(i), false)
                })
                .collect()
        });
        let token_ttl = self.positive(*token_ttl, &base.key("token_ttl"));
        let headers = headers
            .iter()
            .flatten()
            .filter_map(|(name, value)| {
                let path = base.key("headers").key(name);
                Some((name.clone(), self.template(value, &path, true)?))
            })
            .collect();
        ServerSpec {
            auth: scheme,
            token_command,
            token_ttl,
            headers,
            url: field(self, url, "url", false),
            user: field(self, user, "user", false),
            token: field(self, token, "token", true),
            token_file: field(self, token_file, "token_file", false),
            password: field(self, password, "password", true),
            password_file: field(self, password_file, "password_file", false),
            ca_file: field(self, ca_file, "ca_file", false),
            proxy: field(self, proxy, "proxy", true),
            max_in_flight: *max_in_flight,
            triggers_per_second: *triggers_per_second,
            unreachable_timeout,
        }
    }

    /// The keys that say how requests authenticate, checked for combinations that contradict
    /// each other or mean nothing, and headers that cannot be sent.
    fn auth_keys(&mut self, jenkins: &JenkinsFile, scheme: AuthScheme, base: &YamlPath) {
        let given = |key: &str| match key {
            "user" => jenkins.user.is_some(),
            "token" => jenkins.token.is_some(),
            "token_file" => jenkins.token_file.is_some(),
            "token_command" => jenkins.token_command.is_some(),
            "password" => jenkins.password.is_some(),
            "password_file" => jenkins.password_file.is_some(),
            _ => false,
        };
        let refused: &[&str] = match scheme {
            AuthScheme::Basic => &[],
            AuthScheme::Bearer => &["user", "password", "password_file"],
            AuthScheme::None => &[
                "user",
                "token",
                "token_file",
                "token_command",
                "password",
                "password_file",
            ],
        };
        for key in refused.iter().filter(|key| given(key)) {
            let why = match scheme {
                AuthScheme::Bearer => {
                    "sends only a token (`token`, `token_file` or `token_command`)"
                }
                _ => "sends no credentials (only `headers`)",
            };
            self.diags.at(
                &base.key(key),
                format!(
                    "{base}.{key} means nothing with `auth: {}`, which {why}; remove `{key}` or \
                     the `auth:` line",
                    scheme.as_str()
                ),
            );
        }
        if jenkins.token_command.is_some() {
            for key in ["token", "token_file", "password", "password_file"] {
                if given(key) && !refused.contains(&key) {
                    self.diags.at(
                        &base.key(key),
                        format!(
                            "{base}: give either `token_command` or `{key}`, not both (the \
                             command's output is the token)"
                        ),
                    );
                }
            }
        }
        if let Some(argv) = &jenkins.token_command
            && argv.first().is_none_or(|program| program.trim().is_empty())
        {
            self.diags.at(
                &base.key("token_command"),
                format!(
                    "{base}.token_command must name a program and its arguments, e.g. \
                     [gcloud, auth, print-identity-token]"
                ),
            );
        }
        if jenkins.token_ttl.is_some() && jenkins.token_command.is_none() {
            self.diags.at(
                &base.key("token_ttl"),
                format!(
                    "{base}.token_ttl says how long a `token_command`'s token is used, and \
                     there is no `token_command`; remove `token_ttl` or add the command"
                ),
            );
        }
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in jenkins.headers.iter().flatten() {
            let path = base.key("headers").key(name);
            let lower = name.to_ascii_lowercase();
            if let Some(problem) = header_name_problem(name, scheme) {
                self.diags.at(&path, format!("{base}.headers: {problem}"));
            } else if seen.contains(&lower) {
                self.diags.at(
                    &path,
                    format!(
                        "{base}.headers: `{name}` is given twice (header names ignore case); \
                         keep one"
                    ),
                );
            }
            seen.push(lower);
            if value.chars().any(|c| c.is_control() && c != '\t') {
                self.diags.at(
                    &path,
                    format!(
                        "{base}.headers.{name}: a header value cannot hold line breaks or \
                         control characters"
                    ),
                );
            }
        }
    }

    /// `server: NAME` as [`Step::server`]: `None` for the `jenkins:` block.
    pub(super) fn step_server(
        &mut self,
        node: &Node,
        servers: &BTreeMap<String, ServerSpec>,
    ) -> Option<Option<String>> {
        let Some(name) = &node.doc.server else {
            return Some(None);
        };
        if name == DEFAULT_SERVER {
            return Some(None);
        }
        if servers.contains_key(name) {
            return Some(Some(name.clone()));
        }
        let path = node.path.key("server");
        let declared = self.doc.servers.as_ref().is_some_and(|s| !s.0.is_empty());
        if !declared {
            self.diags.at(
                &path,
                format!(
                    "step `{}` uses server `{name}`, but the pipeline declares no `servers:`; \
                     declare `{name}` under `servers:`, or remove `server:` to use the \
                     `jenkins:` server",
                    node.id
                ),
            );
            return None;
        }
        let names: Vec<&str> = std::iter::once(DEFAULT_SERVER)
            .chain(servers.keys().map(String::as_str))
            .collect();
        let mut message = format!("step `{}` uses unknown server `{name}`", node.id);
        if let Some(near) = suggest::closest(name, names.iter().copied()) {
            message.push_str(&format!(" (did you mean `{near}`?)"));
        }
        message.push_str(&format!(
            "; the servers are: {}",
            suggest::list(names.iter().copied())
        ));
        self.diags.at(&path, message);
        None
    }
}

/// Why `name` cannot be one of a server's `headers`, if it cannot: not an HTTP header name, or
/// one jrun sets itself.
fn header_name_problem(name: &str, scheme: AuthScheme) -> Option<String> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(tchar) {
        return Some(format!(
            "`{name}` is not an HTTP header name (letters, digits and `-`, e.g. X-Forwarded-User)"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower == "authorization" && scheme != AuthScheme::None {
        return Some(format!(
            "`{name}` is what `auth: {}` sends; there is only one Authorization header, so \
             give it with `auth: none`, or put a front door's token in Proxy-Authorization",
            scheme.as_str()
        ));
    }
    let own = [
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "cookie",
        "jenkins-crumb",
    ];
    own.contains(&lower.as_str())
        .then(|| format!("jrun sets `{name}` itself; remove it from `headers`"))
}

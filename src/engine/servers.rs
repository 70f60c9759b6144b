//! Where a server's URL and credentials come from: the pipeline file, else the environment
//! variables Jenkins' own CLI uses (`JENKINS_URL`, `JENKINS_USER_ID`, `JENKINS_API_TOKEN`), else
//! `~/.netrc`. A secret given as `token` is sent as an API token; `password`, `password_file` or
//! `JENKINS_PASSWORD` say it is a password (which needs a crumb).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::files::{CA_LIMIT, FileError, SECRET_LIMIT};
use crate::jenkins::{
    Auth, DEFAULT_TOKEN_TTL, Proxy, Secret, ServerSettings, Tls, TokenCommand, check_proxy_url,
};
use crate::pipeline::{AuthScheme, RenderContext, ServerSpec, Template};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServerError(pub String);

pub use crate::jenkins::DEFAULT_MAX_IN_FLIGHT;

pub struct Environment<'a> {
    pub vars: &'a BTreeMap<String, String>,
    pub home: Option<PathBuf>,
}

impl Environment<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

fn render(
    template: &Option<Template>,
    ctx: &RenderContext,
    what: &str,
) -> Result<Option<String>, ServerError> {
    template
        .as_ref()
        .map(|t| {
            t.render(ctx)
                .map_err(|e| ServerError(format!("{what}: {e}")))
        })
        .transpose()
}

/// A file named in a server block; `~/` is the home directory.
fn expand(path: &str, env: &Environment<'_>) -> PathBuf {
    match (path.strip_prefix("~/"), &env.home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// The text of a secret or CA file, refused unless it is a regular file of at most `limit`.
fn read_capped(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, ServerError> {
    crate::files::read_capped(path, limit, what).map_err(|e| match e {
        FileError::Io { source, .. } => {
            ServerError(format!("cannot read {what} {}: {source}", path.display()))
        }
        other => ServerError(other.to_string()),
    })
}

fn read_secret_file(path: &str, env: &Environment<'_>, what: &str) -> Result<String, ServerError> {
    let expanded = expand(path, env);
    let bytes = read_capped(&expanded, SECRET_LIMIT, what)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ServerError(format!("{what} {} is not UTF-8 text", expanded.display())))?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(ServerError(format!(
            "{what} {} is empty",
            expanded.display()
        )));
    }
    Ok(secret)
}

/// Resolves the `jenkins:` block into client settings.
/// Resolves a server block into client settings. `name` is `default` for the `jenkins:`
/// block, the only one that falls back on the environment (`from_env`).
pub fn resolve(
    name: &str,
    spec: &ServerSpec,
    ctx: &RenderContext,
    env: &Environment<'_>,
    from_env: bool,
) -> Result<ServerSettings, ServerError> {
    let block = if from_env {
        "jenkins".to_string()
    } else {
        format!("servers.{name}")
    };
    let fallback = |var: &str| if from_env { env.var(var) } else { None };
    let url = render(&spec.url, ctx, &format!("{block}.url"))?
        .or_else(|| fallback("JENKINS_URL"))
        .ok_or_else(|| {
            ServerError(if from_env {
                "no Jenkins URL: set `jenkins.url` in the pipeline or JENKINS_URL in the environment (or try it with --sandbox)".to_string()
            } else {
                format!("no URL for server `{name}`: set `{block}.url` in the pipeline")
            })
        })?;
    let url = url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ServerError(format!(
            "Jenkins URL `{url}` must start with http:// or https://"
        )));
    }
    let (auth, credentials_from) = credentials(spec, ctx, env, from_env, &block, &url)?;
    let mut settings = ServerSettings::new(name, url, auth);
    settings.credentials_from = credentials_from;
    settings.headers = headers(spec, ctx, &block)?;
    if let Some(max) = spec.max_in_flight {
        settings.max_in_flight = max.max(1);
    }
    if let Some(patience) = spec.unreachable_timeout {
        settings.unreachable_timeout = patience;
    }
    settings.tls = Tls {
        extra_roots: ca_file(spec, ctx, env, &block)?,
        insecure: false,
    };
    settings.proxy = proxy(spec, ctx, env, &block, &settings.url)?;
    Ok(settings)
}

/// How the block authenticates, and where each credential came from (for `jrun check`).
fn credentials(
    spec: &ServerSpec,
    ctx: &RenderContext,
    env: &Environment<'_>,
    from_env: bool,
    block: &str,
    url: &str,
) -> Result<(Auth, Vec<String>), ServerError> {
    let fallback = |var: &str| if from_env { env.var(var) } else { None };
    let mut from = Vec::new();
    if spec.auth == AuthScheme::None {
        from.push("no credentials (auth: none)".to_string());
        return Ok((Auth::Anonymous, from));
    }
    let user = match render(&spec.user, ctx, &format!("{block}.user"))? {
        Some(user) => {
            from.push("user from the pipeline file".to_string());
            Some(user)
        }
        None if spec.auth == AuthScheme::Basic => {
            let user = fallback("JENKINS_USER_ID");
            if user.is_some() {
                from.push("user from JENKINS_USER_ID".to_string());
            }
            user
        }
        None => None,
    };
    let command = match &spec.token_command {
        Some(argv) => {
            let argv = argv
                .iter()
                .map(|arg| {
                    arg.render(ctx)
                        .map_err(|e| ServerError(format!("{block}.token_command: {e}")))
                })
                .collect::<Result<Vec<String>, ServerError>>()?;
            Some(TokenCommand {
                argv,
                ttl: spec.token_ttl.unwrap_or(DEFAULT_TOKEN_TTL),
            })
        }
        None => None,
    };
    if let Some(command) = command {
        let program = command.argv.first().cloned().unwrap_or_default();
        from.push(format!(
            "token from token_command `{program}` (run when first needed, kept for {})",
            crate::duration::Dur(command.ttl)
        ));
        if spec.auth == AuthScheme::Basic && user.is_none() {
            return Err(ServerError(format!(
                "`{block}.token_command` prints an API token, which goes with a user: set \
                 `{block}.user`{}, or `auth: bearer` to send the token as a bearer token",
                if from_env { " or JENKINS_USER_ID" } else { "" }
            )));
        }
        return Ok((Auth::Command { user, command }, from));
    }
    let token = match (
        render(&spec.token, ctx, &format!("{block}.token"))?,
        &spec.token_file,
    ) {
        (Some(t), _) => {
            from.push("token from the pipeline file".to_string());
            Some(t)
        }
        (None, Some(file)) => {
            let path = file.render(ctx).map_err(|e| ServerError(e.to_string()))?;
            let token = read_secret_file(&path, env, &format!("{block}.token_file"))?;
            from.push(format!("token from token_file {path}"));
            Some(token)
        }
        (None, None) => None,
    };
    let password = match (
        render(&spec.password, ctx, &format!("{block}.password"))?,
        &spec.password_file,
    ) {
        (Some(p), _) => {
            from.push("password from the pipeline file".to_string());
            Some(p)
        }
        (None, Some(file)) => {
            let path = file.render(ctx).map_err(|e| ServerError(e.to_string()))?;
            let password = read_secret_file(&path, env, &format!("{block}.password_file"))?;
            from.push(format!("password from password_file {path}"));
            Some(password)
        }
        (None, None) => None,
    };
    let from_file = token.is_some() || password.is_some();
    let (token, password) = if from_file {
        (token, password)
    } else {
        let token = fallback("JENKINS_API_TOKEN");
        let password = if spec.auth == AuthScheme::Basic {
            fallback("JENKINS_PASSWORD")
        } else {
            None
        };
        if token.is_some() {
            from.push("token from JENKINS_API_TOKEN".to_string());
        } else if password.is_some() {
            from.push("password from JENKINS_PASSWORD".to_string());
        }
        (token, password)
    };
    if spec.auth == AuthScheme::Bearer {
        let Some(token) = token else {
            return Err(ServerError(format!(
                "`{block}` says `auth: bearer` but gives no token: set `{block}.token`, \
                 `token_file` or `token_command`{}",
                if from_env {
                    ", or JENKINS_API_TOKEN"
                } else {
                    ""
                }
            )));
        };
        return Ok((
            Auth::Bearer {
                token: Secret::new(token),
            },
            from,
        ));
    }
    let auth = match (user, token, password) {
        (Some(user), Some(token), _) => Auth::Token {
            user,
            token: Secret::new(token),
        },
        (Some(user), None, Some(password)) => Auth::Password {
            user,
            password: Secret::new(password),
        },
        (None, Some(_), _) | (None, None, Some(_)) => {
            return Err(ServerError(format!(
                "a token or password is set for `{block}` but no user: set `{block}.user`{}",
                if from_env { " or JENKINS_USER_ID" } else { "" }
            )));
        }
        (user, None, None) => match netrc(url, env)? {
            Some((login, password)) => {
                if user.is_none() {
                    from.push("user from ~/.netrc".to_string());
                }
                from.push("token from ~/.netrc".to_string());
                Auth::Token {
                    user: user.unwrap_or(login),
                    token: Secret::new(password),
                }
            }
            None => {
                from.push("no credentials (anonymous)".to_string());
                Auth::Anonymous
            }
        },
    };
    Ok((auth, from))
}

/// The block's `headers`, rendered; a value that cannot be sent in a header is an error that
/// names the header, never its value.
fn headers(
    spec: &ServerSpec,
    ctx: &RenderContext,
    block: &str,
) -> Result<Vec<(String, Secret)>, ServerError> {
    spec.headers
        .iter()
        .map(|(name, value)| {
            let key = format!("{block}.headers.{name}");
            let value = value
                .render(ctx)
                .map_err(|e| ServerError(format!("{key}: {e}")))?;
            if reqwest::header::HeaderValue::from_str(&value).is_err() {
                return Err(ServerError(format!(
                    "{key}: the value cannot be sent in an HTTP header (it holds a line break \
                     or another control character)"
                )));
            }
            Ok((name.clone(), Secret::new(value)))
        })
        .collect()
}

/// The block's `proxy`, or else the one the environment names for the server's scheme, read
/// the way curl and reqwest read it: upper case before lower case, `ALL_PROXY` as the
/// fallback, `NO_PROXY` for hosts to reach directly. Like curl, jrun sends requests for
/// localhost and 127.0.0.1 through that proxy too unless `NO_PROXY` lists them, so a proxy
/// that is meant to see everything does. `proxy:` in the file is for every request, and
/// `NO_PROXY` does not apply to it.
fn proxy(
    spec: &ServerSpec,
    ctx: &RenderContext,
    env: &Environment<'_>,
    block: &str,
    url: &str,
) -> Result<Option<Proxy>, ServerError> {
    let key = format!("{block}.proxy");
    if let Some(proxy) = render(&spec.proxy, ctx, &key)? {
        check_proxy_url(&proxy).map_err(|e| ServerError(format!("{key}: {e}")))?;
        return Ok(Some(Proxy {
            url: Secret::new(proxy),
            no_proxy: None,
            from: key,
        }));
    }
    let names: &[&str] = if url.starts_with("https://") {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    let Some((name, proxy)) = names
        .iter()
        .find_map(|name| env.var(name).map(|value| (*name, value)))
    else {
        return Ok(None);
    };
    // reqwest takes `proxy:3128` as curl does, as http://proxy:3128.
    let proxy = if proxy.contains("://") {
        proxy
    } else {
        format!("http://{proxy}")
    };
    check_proxy_url(&proxy).map_err(|e| ServerError(format!("{name}: {e}")))?;
    let no_proxy = env.var("NO_PROXY").or_else(|| env.var("no_proxy"));
    // curl's "every host" is not one of reqwest's patterns.
    if no_proxy.as_deref().is_some_and(|list| list.trim() == "*") {
        return Ok(None);
    }
    Ok(Some(Proxy {
        url: Secret::new(proxy),
        no_proxy,
        from: name.to_string(),
    }))
}

/// The PEM text of the block's `ca_file`, with the file's name for messages.
fn ca_file(
    spec: &ServerSpec,
    ctx: &RenderContext,
    env: &Environment<'_>,
    block: &str,
) -> Result<Option<(String, Vec<u8>)>, ServerError> {
    let Some(path) = render(&spec.ca_file, ctx, &format!("{block}.ca_file"))? else {
        return Ok(None);
    };
    let expanded = expand(&path, env);
    let pem = read_capped(&expanded, CA_LIMIT, &format!("{block}.ca_file"))?;
    Ok(Some((
        format!("{block}.ca_file {}", expanded.display()),
        pem,
    )))
}

/// `login` and `password` of the `~/.netrc` entry for the URL's host (or `default`).
/// A netrc that cannot be opened is no netrc, as before there were limits; one that is not a
/// regular file or is too large is an error. `NETRC=/dev/null` turns it off.
fn netrc(url: &str, env: &Environment<'_>) -> Result<Option<(String, String)>, ServerError> {
    let Some(path) = env
        .var("NETRC")
        .map(PathBuf::from)
        .or_else(|| env.home.as_ref().map(|h| h.join(".netrc")))
    else {
        return Ok(None);
    };
    if path == Path::new("/dev/null") {
        return Ok(None);
    }
    let bytes = match crate::files::read_capped(&path, SECRET_LIMIT, "the netrc file") {
        Ok(bytes) => bytes,
        Err(FileError::Io { .. }) => return Ok(None),
        Err(other) => return Err(ServerError(other.to_string())),
    };
    let text = String::from_utf8_lossy(&bytes);
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':', '?']).next())
        .and_then(|authority| authority.rsplit('@').next())
        .map(str::to_ascii_lowercase);
    Ok(host.and_then(|host| parse_netrc(&text, &host)))
}

fn parse_netrc(text: &str, host: &str) -> Option<(String, String)> {
    let mut tokens = text.split_whitespace();
    let mut found: Option<(Option<String>, Option<String>)> = None;
    let mut default: Option<(Option<String>, Option<String>)> = None;
    let mut current: Option<&mut (Option<String>, Option<String>)> = None;
    while let Some(token) = tokens.next() {
        match token {
            "machine" => {
                let name = tokens.next().unwrap_or("");
                current = if name.eq_ignore_ascii_case(host) && found.is_none() {
                    found = Some((None, None));
                    found.as_mut()
                } else {
                    None
                };
            }
            "default" => {
                default = Some((None, None));
                current = default.as_mut();
            }
            "login" => {
                let value = tokens.next().map(str::to_string);
                if let Some(entry) = current.as_mut() {
                    entry.0 = value;
                }
            }
            "password" => {
                let value = tokens.next().map(str::to_string);
                if let Some(entry) = current.as_mut() {
                    entry.1 = value;
                }
            }
            "account" | "macdef" => {
                tokens.next();
            }
            _ => {}
        }
    }
    match found.or(default)? {
        (Some(login), Some(password)) => Some((login, password)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_entries_are_found_by_host_with_default_as_fallback() {
        let text =
            "machine ci.example.com login bot password s3cret\ndefault login anon password x\n";
        assert_eq!(
            parse_netrc(text, "ci.example.com"),
            Some(("bot".to_string(), "s3cret".to_string()))
        );
        assert_eq!(
            parse_netrc(text, "other.example.com"),
            Some(("anon".to_string(), "x".to_string()))
        );
        assert_eq!(parse_netrc("machine a login b", "a"), None);
    }

    /// The proxy `resolve` picks for `url` with `vars` in the environment: its URL and
    /// where it came from.
    fn proxy_for(
        yaml_proxy: Option<&str>,
        url: &str,
        vars: &[(&str, &str)],
    ) -> Option<(String, String)> {
        let mut yaml = format!("name: p\njenkins:\n  url: {url}\n");
        if let Some(proxy) = yaml_proxy {
            yaml.push_str(&format!("  proxy: {proxy}\n"));
        }
        yaml.push_str("steps:\n  - job: a\n");
        let pipeline =
            crate::pipeline::load_str(&yaml, Path::new("p.yaml"), &[]).expect("pipeline");
        let ctx = RenderContext::new(
            &pipeline,
            crate::pipeline::RunFacts::default(),
            BTreeMap::new(),
        );
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = Environment {
            vars: &vars,
            home: None,
        };
        let settings = resolve("default", &pipeline.server, &ctx, &env, true).expect("settings");
        settings.proxy.map(|p| (p.url.expose().to_string(), p.from))
    }

    #[test]
    fn the_environment_proxy_is_the_one_for_the_servers_scheme() {
        let vars = [
            ("HTTPS_PROXY", "http://secure:3128"),
            ("http_proxy", "plain:3128"),
            ("ALL_PROXY", "http://all:3128"),
        ];
        let picked = |url| proxy_for(None, url, &vars).map(|(url, _)| url);
        assert_eq!(
            picked("https://ci.example.com").as_deref(),
            Some("http://secure:3128")
        );
        assert_eq!(
            picked("http://ci.example.com").as_deref(),
            Some("http://plain:3128")
        );
        let all = proxy_for(None, "https://ci", &[("all_proxy", "http://all:1")]);
        assert_eq!(
            all,
            Some(("http://all:1".to_string(), "all_proxy".to_string()))
        );
        assert_eq!(
            proxy_for(None, "https://ci", &[("HTTP_PROXY", "http://p:1")]),
            None
        );
        let none = [("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")];
        assert_eq!(proxy_for(None, "https://ci", &none), None);
    }

    #[test]
    fn the_blocks_proxy_wins_over_the_environment() {
        let vars = [("HTTPS_PROXY", "http://env:1"), ("NO_PROXY", "*")];
        let picked = proxy_for(Some("http://file:2"), "https://ci", &vars);
        assert_eq!(
            picked,
            Some(("http://file:2".to_string(), "jenkins.proxy".to_string()))
        );
    }

    #[test]
    fn proxy_urls_are_http_or_https_with_a_host() {
        assert!(check_proxy_url("http://proxy:3128").is_ok());
        assert!(check_proxy_url("https://u:p@proxy").is_ok());
        for bad in ["not a url", "socks5://proxy:1080", "ftp://proxy", "http://"] {
            assert!(check_proxy_url(bad).is_err(), "{bad}");
        }
        let shown = check_proxy_url("u:s3cret-pw@ proxy").unwrap_err();
        assert!(!shown.contains("s3cret-pw"), "{shown}");
    }
}

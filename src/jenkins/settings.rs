//! What the client needs to know about one server, and the secret wrapper that keeps
//! credentials out of every printed form.

use std::fmt;
use std::time::Duration;

/// Requests to one server in flight at once, unless its block says `max_in_flight`.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// How long a server may stay unusable before the run gives up on it (long enough for a
/// Jenkins restart), unless its block says `unreachable_timeout`.
pub const DEFAULT_UNREACHABLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A password or API token. It prints as `****` in both `Debug` and `Display`, so a settings
/// struct, a client or an error can be logged without a second thought; `expose` is for the
/// one place that builds the `Authorization` header.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

/// How requests authenticate. The kind matters beyond the header: an API token needs no
/// crumb (Jenkins >= 2.96 exempts it from CSRF checks), a password, a bearer token or
/// anonymous access does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    Token {
        user: String,
        token: Secret,
    },
    Password {
        user: String,
        password: Secret,
    },
    /// `Authorization: Bearer`, as the openshift-login plugin accepts it.
    Bearer {
        token: Secret,
    },
    /// A command prints the token when it is needed: sent as an API token of `user`, or as a
    /// bearer token without one.
    Command {
        user: Option<String>,
        command: TokenCommand,
    },
}

/// A command whose trimmed standard output is a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCommand {
    /// The program and its arguments, run without a shell.
    pub argv: Vec<String>,
    /// How long one run's token is used before the command runs again.
    pub ttl: Duration,
}

/// How long a `token_command`'s token is used unless the block says `token_ttl`.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);

impl Auth {
    /// The user Jenkins records in `UserIdCause.userId`; None for anonymous.
    pub fn user(&self) -> Option<&str> {
        match self {
            Auth::Anonymous | Auth::Bearer { .. } => None,
            Auth::Token { user, .. } | Auth::Password { user, .. } => Some(user),
            Auth::Command { user, .. } => user.as_deref(),
        }
    }

    /// Every secret this auth carries, for callers that scrub text before showing it (a
    /// command's token is registered for redaction when it is read).
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::Anonymous | Auth::Command { .. } => Vec::new(),
            Auth::Token { token: s, .. }
            | Auth::Password { password: s, .. }
            | Auth::Bearer { token: s } => vec![s.expose()],
        }
    }

    /// Whether POSTs go without a crumb: only an API token is exempt from CSRF checks.
    pub fn is_api_token(&self) -> bool {
        matches!(
            self,
            Auth::Token { .. } | Auth::Command { user: Some(_), .. }
        )
    }

    /// The scheme as the pipeline file names it.
    pub fn scheme(&self) -> &'static str {
        match self {
            Auth::Anonymous => "none",
            Auth::Token { .. } | Auth::Password { .. } | Auth::Command { user: Some(_), .. } => {
                "basic"
            }
            Auth::Bearer { .. } | Auth::Command { user: None, .. } => "bearer",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The server's name in the pipeline file ("default" for `jenkins:`), for messages.
    pub name: String,
    /// The configured base URL; a path prefix (`https://ci.example.com/jenkins`) is kept.
    pub url: String,
    pub auth: Auth,
    /// Cap on concurrent requests to this server.
    pub max_in_flight: usize,
    pub connect_timeout: Duration,
    /// Whole-request timeout, body included.
    pub request_timeout: Duration,
    /// How long reads keep retrying transient failures before giving up with
    /// `Error::Unreachable`; long enough by default for a Jenkins restart.
    pub unreachable_timeout: Duration,
    pub user_agent: String,
    pub tls: Tls,
    /// The forward proxy requests go through; None goes to the server directly, whatever
    /// the environment says (the environment's proxy is resolved into this by the caller).
    pub proxy: Option<Proxy>,
    /// Headers sent with every request to the server itself (never to another host), by
    /// name; their values are secrets.
    pub headers: Vec<(String, Secret)>,
    /// Where each credential came from (`user: pipeline file`, `token: JENKINS_API_TOKEN`),
    /// for `jrun check`; never a secret.
    pub credentials_from: Vec<String>,
}

/// A forward proxy for one server.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// The proxy's URL; a Secret because it may carry `user:password@`.
    pub url: Secret,
    /// `NO_PROXY`'s list: hosts reached directly even so.
    pub no_proxy: Option<String>,
    /// Where the URL came from (`jenkins.proxy`, `HTTPS_PROXY`), for messages.
    pub from: String,
}

/// Why `url` cannot be a proxy's URL, if it cannot: jrun speaks to proxies over HTTP(S) only,
/// and a URL without a host would fail on the first request instead of up front.
pub fn check_proxy_url(url: &str) -> Result<(), String> {
    let example = "e.g. http://proxy.example.com:3128";
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| format!("`{}` is not a URL; give the proxy as {example}", shown(url)))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "the proxy URL must start with http:// or https://, {example}"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("the proxy URL names no host, {example}"));
    }
    Ok(())
}

/// `url` without what may be a password, for messages.
fn shown(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((_, host)) => format!("****@{host}"),
        None => url.to_string(),
    }
}

/// How HTTPS certificates are checked, beyond the system's certificate store.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// Certificate authorities to trust besides the system's: the PEM file's name, for
    /// messages, and its contents.
    pub extra_roots: Option<(String, Vec<u8>)>,
    /// Accept any certificate, for a test Jenkins with a self-signed one (`--insecure`).
    pub insecure: bool,
}

impl ServerSettings {
    /// Registers every secret these settings carry for redaction (`crate::redact`), so that
    /// no server echoing one gets it printed or written. Any other secret a server block
    /// comes to carry (a custom header's value, a bearer token) is registered here too.
    pub fn register_secrets(&self) {
        match &self.auth {
            Auth::Anonymous => {}
            Auth::Token { user, token: s } | Auth::Password { user, password: s } => {
                crate::redact::register_credentials(user, s.expose());
            }
            Auth::Bearer { token } => crate::redact::register(token.expose()),
            Auth::Command { .. } => {}
        }
        for (_, value) in &self.headers {
            crate::redact::register(value.expose());
        }
        if let Some(proxy) = &self.proxy
            && let Ok(url) = reqwest::Url::parse(proxy.url.expose())
            && let Some(password) = url.password()
        {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            crate::redact::register(password);
            crate::redact::register_credentials(&decode(url.username()), &decode(password));
        }
    }

    /// Settings with the documented defaults: 8 requests in flight, 10 s to connect, 30 s per
    /// request, 2 minutes of patience with an unreachable server.
    pub fn new(name: impl Into<String>, url: impl Into<String>, auth: Auth) -> ServerSettings {
        ServerSettings {
            name: name.into(),
            url: url.into(),
            auth,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            unreachable_timeout: DEFAULT_UNREACHABLE_TIMEOUT,
            user_agent: concat!("jrun/", env!("CARGO_PKG_VERSION")).to_string(),
            tls: Tls::default(),
            proxy: None,
            headers: Vec::new(),
            credentials_from: Vec::new(),
        }
    }
}

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
/// crumb (Jenkins >= 2.96 exempts it from CSRF checks), a password or anonymous access does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    Token { user: String, token: Secret },
    Password { user: String, password: Secret },
}

impl Auth {
    /// The user Jenkins records in `UserIdCause.userId`; None for anonymous.
    pub fn user(&self) -> Option<&str> {
        match self {
            Auth::Anonymous => None,
            Auth::Token { user, .. } | Auth::Password { user, .. } => Some(user),
        }
    }

    /// Every secret this auth carries, for callers that scrub text before showing it.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::Anonymous => Vec::new(),
            Auth::Token { token: s, .. } | Auth::Password { password: s, .. } => {
                vec![s.expose()]
            }
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
        }
    }
}

//! The client's errors, how transport failures are classified, and how a readable message is
//! dug out of Jenkins' HTML error pages.

use std::error::Error as StdError;
use std::time::Duration;

/// Everything the client can fail with. No variant ever carries a password, an API token or a
/// job's trigger token: URLs in messages are shown without their query string, and Jenkins'
/// pages are reduced to their one-line message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "Jenkins server `{server}` ({url}) has been unreachable for {}; last error: {last}",
        show_duration(*after)
    )]
    Unreachable {
        server: String,
        url: String,
        after: Duration,
        last: String,
    },
    #[error("Jenkins refused the request (HTTP {status}): {message}")]
    Auth { status: u16, message: String },
    #[error("{what} does not exist on Jenkins")]
    NotFound { what: String },
    #[error("{method} {url} failed with HTTP {status}: {message}")]
    Http {
        status: u16,
        method: String,
        url: String,
        message: String,
    },
    /// Something in front of Jenkins answered (an SSO proxy's sign-in page, an identity-aware
    /// proxy's 401, a redirect to an identity provider): the request never reached Jenkins,
    /// and asking again with the same settings gets the same answer.
    #[error(
        "a login page or SSO proxy answered instead of Jenkins at {url}: {answered}. jrun's \
         request did not reach Jenkins; give it what the front door wants: the server's \
         `headers:` (such as X-Forwarded-User or `Proxy-Authorization: Bearer …`), `auth: \
         bearer` with a token the proxy accepts, `token_command` for a short-lived token, or \
         `proxy:` (HTTPS_PROXY / NO_PROXY) if the way to Jenkins goes through another proxy"
    )]
    FrontDoor { url: String, answered: String },
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
    /// A transport failure that retrying cannot fix, such as a certificate Jenkins' TLS
    /// endpoint presents that the trust store does not accept.
    #[error("cannot talk to {url}: {message}")]
    Transport { url: String, message: String },
    #[error("{message}")]
    Config { message: String },
    /// More than one queue item or build could be the one a trigger created (its answer was
    /// lost, and someone else triggered the same job alike): jrun does not guess.
    #[error(
        "cannot tell which of {} is the build this run triggered (its answer was lost and they \
         all match): {}",
        candidates.len(),
        candidates.join(", ")
    )]
    Ambiguous { candidates: Vec<String> },
}

impl Error {
    /// Whether the failure may go away by itself (the server is down, restarting or
    /// overloaded). Reads have already been retried for `unreachable_timeout` when an
    /// `Unreachable` comes back, so callers should not retry it again in a tight loop; this is
    /// for callers that run their own, longer loops.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            Error::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config {
            message: message.into(),
        }
    }
}

pub(crate) fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 120_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// A request that did not produce an HTTP answer.
#[derive(Debug, Clone)]
pub(crate) struct TransportError {
    /// False only when the connection was never made, so the server cannot have seen the
    /// request: that is the one case where a POST may be resent without looking first.
    pub sent: bool,
    pub transient: bool,
    pub message: String,
}

impl TransportError {
    /// `waited` is how long the request was allowed to take, for a timeout to say.
    pub fn from_reqwest(err: reqwest::Error, waited: Duration) -> TransportError {
        // reqwest's Display repeats the URL, which can carry a trigger token.
        let err = err.without_url();
        if let Some(unanswered) = unanswered(&err, waited) {
            return unanswered;
        }
        let message = describe_chain(&err);
        if err.is_builder() {
            return TransportError {
                sent: false,
                transient: false,
                message,
            };
        }
        // A certificate the trust store rejects will be rejected again; everything else that
        // goes wrong on the way (TLS handshake included) is worth another try.
        let certificate = message.to_ascii_lowercase().contains("certificate");
        let transient = !certificate && is_transient_chain(&err);
        let message = if message.contains("UnknownIssuer") {
            format!(
                "{message} (no certificate authority this machine trusts signed it; if a \
                 private CA did, name that CA's PEM file with the server's `ca_file:`, or pass \
                 --insecure to skip the check)"
            )
        } else {
            message
        };
        TransportError {
            // Only a failed connect proves the request never left; a TLS failure also counts,
            // as it happens before any byte of the request is written.
            sent: !err.is_connect(),
            transient,
            message,
        }
    }

    /// Reading the body failed after the server had started to answer.
    pub fn body(err: reqwest::Error, waited: Duration) -> TransportError {
        let err = err.without_url();
        unanswered(&err, waited).unwrap_or_else(|| TransportError {
            sent: true,
            transient: true,
            message: describe_chain(&err),
        })
    }
}

/// A request that got no (whole) answer in the time it was given, said as such: reqwest's
/// "operation timed out" does not say how long was waited. A connect that timed out keeps
/// its own message, since it never reached the server.
fn unanswered(err: &reqwest::Error, waited: Duration) -> Option<TransportError> {
    (err.is_timeout() && !err.is_connect()).then(|| TransportError {
        sent: true,
        transient: true,
        message: format!("no answer within {}", show_duration(waited)),
    })
}

/// The error and its causes on one line, without the repetitions reqwest and hyper produce
/// when they wrap each other.
pub(crate) fn describe_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Walks the `source()` chain the way uv's retry classification does: the io error kinds that
/// a restarting server or a flaky proxy produce, and hyper's "the connection went away"
/// errors, are transient; so are reqwest's own connect and timeout errors.
fn is_transient_chain(err: &reqwest::Error) -> bool {
    if err.is_timeout() || err.is_connect() {
        return true;
    }
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset
                    | ConnectionAborted
                    | ConnectionRefused
                    | NotConnected
                    | BrokenPipe
                    | TimedOut
                    | UnexpectedEof
                    | Interrupted
            ) {
                return true;
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            // An answer cut short, or a pooled connection the server had already closed.
            if h.is_incomplete_message() || h.is_closed() || h.is_canceled() || h.is_timeout() {
                return true;
            }
        }
        current = e.source();
    }
    // Anything else that failed while sending or reading (an HTTP/2 GOAWAY, a proxy that
    // hung up) is more likely a hiccup than a permanent condition.
    err.is_request() || err.is_body() || err.is_decode()
}

/// The one-line message of a Jenkins error page: the Oops page's exception, the servlet
/// container's `HTTP ERROR` text, or the page title; never the whole HTML.
pub(crate) fn page_message(body: &[u8], status: u16) -> String {
    let text = String::from_utf8_lossy(body);
    let message = oops_message(&text)
        .or_else(|| between(&text, "<h2>HTTP ERROR ", "</h2>").and_then(strip_status))
        .or_else(|| between(&text, "<title>", "</title>").and_then(clean_title))
        .or_else(|| {
            (!text.trim_start().starts_with('<'))
                .then(|| text.lines().find(|l| !l.trim().is_empty()))
                .flatten()
                .map(|l| l.trim().to_string())
        })
        .map(|m| unescape(&m))
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| {
            http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("no message")
                .to_string()
        });
    quoted(message.trim(), body.len())
}

/// The most of a server's text an error message quotes, in characters, what says it was cut
/// included: enough for any message Jenkins writes, and a server that sends a whole page (or
/// echoes a request) does not flood the terminal, the report or the journal.
pub(crate) const QUOTED_CHARS: usize = 300;

/// `text` from a server as an error message quotes it: control characters as spaces, so it
/// can neither redraw a terminal nor break a line, and cut to [`QUOTED_CHARS`] with `…` and
/// the size of the whole answer (`total` bytes). Secrets are masked before the cut: a secret
/// cut in two would no longer be recognised where the message is printed.
pub(crate) fn quoted(text: &str, total: usize) -> String {
    let clean: String = crate::redact::redact(text)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() <= QUOTED_CHARS {
        return clean.to_string();
    }
    let tail = format!("… ({total} bytes in all)");
    let keep = QUOTED_CHARS.saturating_sub(tail.chars().count());
    let cut: String = clean.chars().take(keep).collect();
    format!("{}{tail}", cut.trim_end())
}

/// Whether the body is Jenkins' own "Oops!" page, i.e. Jenkins processed the request and an
/// exception ended it, as opposed to a proxy or the container failing in front of it.
pub(crate) fn is_oops_page(body: &[u8]) -> bool {
    String::from_utf8_lossy(body).contains("Oops!")
}

/// The 503 page Jenkins serves while it starts or restarts; nothing is processed then.
pub(crate) fn is_loading_page(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains("getting ready to work") || text.contains("Jenkins is restarting")
}

pub(crate) fn mentions_crumb(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("crumb")
}

fn oops_message(text: &str) -> Option<String> {
    if !text.contains("Oops!") {
        return None;
    }
    let pre = between(text, "<pre>", "</pre>")?;
    let first = pre.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(strip_exception_class(first).to_string())
}

/// `java.lang.IllegalArgumentException: Illegal choice ...` -> `Illegal choice ...`.
fn strip_exception_class(line: &str) -> &str {
    if let Some((head, rest)) = line.split_once(": ") {
        let is_class = head.contains('.')
            && head
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '$' || c == '_')
            && (head.ends_with("Exception") || head.ends_with("Error"));
        if is_class {
            return rest;
        }
    }
    line
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// `409 x is not buildable` -> `x is not buildable`; a bare `403` (Jetty 9 puts the reason
/// elsewhere) -> None.
fn strip_status(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let is_code = |s: &str| s.len() == 3 && s.chars().all(|c| c.is_ascii_digit());
    let rest = match trimmed.split_once(' ') {
        Some((code, rest)) if is_code(code) => rest.trim(),
        None if is_code(trimmed) => "",
        _ => trimmed,
    };
    (!rest.is_empty()).then(|| rest.to_string())
}

/// `Error 400 Nothing is submitted` -> `Nothing is submitted`; `Not Found [Jenkins]` ->
/// `Not Found`.
fn clean_title(title: &str) -> Option<String> {
    let title = title.trim();
    let title = title.strip_suffix("[Jenkins]").unwrap_or(title).trim();
    match title.strip_prefix("Error ") {
        Some(rest) => strip_status(rest),
        None => (!title.is_empty()).then(|| title.to_string()),
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_error_pages_give_their_message() {
        let page = b"<html>\n<head>\n<title>Error 400 Nothing is submitted</title>\n</head>\n<body><h2>HTTP ERROR 400 Nothing is submitted</h2>\n<table>...</table></body></html>";
        assert_eq!(page_message(page, 400), "Nothing is submitted");
        let jetty9 = b"<html><head><title>Error 403 No valid crumb was included in the request</title></head><body><h2>HTTP ERROR 403</h2><pre>    No valid crumb was included in the request</pre></body></html>";
        assert_eq!(
            page_message(jetty9, 403),
            "No valid crumb was included in the request"
        );
    }

    #[test]
    fn oops_pages_give_the_exception_message_without_its_class() {
        let page = b"<!DOCTYPE html><html><head><title>Jenkins [Jenkins]</title></head><body><h1>Oops!</h1><p>A problem occurred.</p><pre>java.lang.IllegalArgumentException: Illegal choice for parameter C: &quot;x&quot;</pre></body></html>";
        assert_eq!(
            page_message(page, 500),
            "Illegal choice for parameter C: \"x\""
        );
        assert!(is_oops_page(page));
    }

    #[test]
    fn jenkins_pages_give_their_title() {
        let page = b"<!DOCTYPE html><html><head><title>Not Found [Jenkins]</title></head><body><h2>Not Found</h2></body></html>";
        assert_eq!(page_message(page, 404), "Not Found");
    }

    #[test]
    fn empty_bodies_give_the_status_reason() {
        assert_eq!(page_message(b"", 502), "Bad Gateway");
        assert_eq!(
            page_message(b"upstream timed out\n", 504),
            "upstream timed out"
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(1000);
        assert!(page_message(long.as_bytes(), 500).chars().count() <= 301);
    }

    #[test]
    fn quoted_text_is_cut_with_the_answer_size_and_loses_control_characters() {
        let page = format!("<title>{}</title>", "y".repeat(5000));
        let message = page_message(page.as_bytes(), 500);
        assert_eq!(message.chars().count(), QUOTED_CHARS, "{message}");
        assert!(message.ends_with("… (5015 bytes in all)"), "{message}");
        assert!(message.starts_with("yyyy"), "{message}");
        assert_eq!(quoted("a\u{1b}[2Jb\rc", 9), "a [2Jb c");
        assert_eq!(
            page_message(b"refused\x07 \x1b]0;owned\x07", 409),
            "refused   ]0;owned"
        );
    }
}

//! What a request to a server carries to prove who sends it: the `Authorization` header (a
//! fixed one, or one made from a command's token that is renewed when it expires or is
//! refused) and the block's `headers`. Both go to the server itself only, never to another
//! host a redirect points at.

use std::process::Stdio;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::TransportError;
use super::settings::TokenCommand;
use super::{Auth, Error, ServerSettings};

/// How long a token command may take before it is killed and the request fails: long enough
/// for a CLI that refreshes a session over the network, short enough that a command waiting
/// for a person (a password prompt, a browser login) does not hold the run.
pub const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a token command's output that is read, per stream: a token is at most a few
/// KiB (an identity token about 1 KiB), and an error message as much.
const OUTPUT_LIMIT: u64 = 64 * 1024;

/// How much of a failed command's standard error a message quotes (its end).
const STDERR_SHOWN: usize = 2000;

pub(crate) struct Credentials {
    server: String,
    fixed: Option<HeaderValue>,
    command: Option<CommandToken>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

struct CommandToken {
    command: TokenCommand,
    /// Sent as an API token of this user; a bearer token without one.
    user: Option<String>,
    /// Held while the command runs, so that concurrent requests share one run.
    current: Mutex<Option<Issued>>,
}

#[derive(Clone)]
struct Issued {
    header: HeaderValue,
    at: Instant,
    run: u64,
}

/// Which run of the token command a request's `Authorization` came from, so that a 401 renews
/// that token only once however many requests it failed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Used(Option<u64>);

impl Credentials {
    pub fn new(settings: &ServerSettings) -> Result<Credentials, Error> {
        let server = settings.name.clone();
        let unsendable = |what: &str| {
            Error::config(format!(
                "server `{server}`: the {what} cannot be sent in an HTTP header"
            ))
        };
        let check_user = |user: &str| {
            if user.contains(':') {
                Err(Error::config(format!(
                    "server `{server}`: user name `{user}` contains `:`, which HTTP Basic auth cannot carry"
                )))
            } else {
                Ok(())
            }
        };
        let (fixed, command) = match &settings.auth {
            Auth::Anonymous => (None, None),
            Auth::Token {
                user,
                token: secret,
            }
            | Auth::Password {
                user,
                password: secret,
            } => {
                check_user(user)?;
                let header = basic(user, secret.expose())
                    .ok_or_else(|| unsendable(&format!("credentials of user `{user}`")))?;
                (Some(header), None)
            }
            Auth::Bearer { token } => {
                let header = bearer(token.expose()).ok_or_else(|| unsendable("bearer token"))?;
                (Some(header), None)
            }
            Auth::Command { user, command } => {
                if let Some(user) = user {
                    check_user(user)?;
                }
                let token = CommandToken {
                    command: command.clone(),
                    user: user.clone(),
                    current: Mutex::new(None),
                };
                (None, Some(token))
            }
        };
        let mut headers = Vec::new();
        for (name, value) in &settings.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::config(format!(
                    "server `{server}`: `{name}` is not an HTTP header name"
                ))
            })?;
            let mut value = HeaderValue::from_str(value.expose())
                .map_err(|_| unsendable(&format!("value of header `{name}`")))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        Ok(Credentials {
            server,
            fixed,
            command,
            headers,
        })
    }

    /// The block's own headers, for every request to the server.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The `Authorization` header for the next request, running the token command when its
    /// token is missing or older than `token_ttl`.
    pub async fn authorization(&self) -> Result<(Option<HeaderValue>, Used), String> {
        let Some(command) = &self.command else {
            return Ok((self.fixed.clone(), Used(None)));
        };
        let mut current = command.current.lock().await;
        if let Some(issued) = current.as_ref()
            && issued.at.elapsed() < command.command.ttl
        {
            return Ok((Some(issued.header.clone()), Used(Some(issued.run))));
        }
        let run = current.as_ref().map_or(1, |issued| issued.run + 1);
        let issued = command.issue(&self.server, run).await?;
        let header = issued.header.clone();
        *current = Some(issued);
        Ok((Some(header), Used(Some(run))))
    }

    /// After a 401 to a request sent with `used`: the new `Authorization` to send it again
    /// with, if there is one. The command runs again only if no other request already renewed
    /// the token that `used` came from; a fixed secret is never renewed.
    pub async fn renew(&self, used: Used) -> Result<Option<HeaderValue>, String> {
        let (Some(command), Used(Some(run))) = (&self.command, used) else {
            return Ok(None);
        };
        let mut current = command.current.lock().await;
        if let Some(issued) = current.as_ref()
            && issued.run != run
        {
            return Ok(Some(issued.header.clone()));
        }
        tracing::debug!(
            "server `{}`: the token was refused; running the token command again",
            self.server
        );
        let issued = command.issue(&self.server, run + 1).await?;
        let header = issued.header.clone();
        *current = Some(issued);
        Ok(Some(header))
    }
}

impl CommandToken {
    async fn issue(&self, server: &str, run: u64) -> Result<Issued, String> {
        let token = run_token_command(server, &self.command.argv).await?;
        let header = match &self.user {
            Some(user) => {
                crate::redact::register_credentials(user, &token);
                basic(user, &token)
            }
            None => {
                crate::redact::register(&token);
                bearer(&token)
            }
        }
        .ok_or_else(|| {
            format!(
                "the token that the token command `{}` of server `{server}` printed cannot be \
                 sent in an HTTP header",
                program(&self.command.argv)
            )
        })?;
        Ok(Issued {
            header,
            at: Instant::now(),
            run,
        })
    }
}

/// A request that could not be sent for want of its credentials: it never left, and asking
/// again at once would only fail again.
pub(crate) fn unsent(message: String) -> TransportError {
    TransportError {
        sent: false,
        transient: false,
        message,
    }
}

fn program(argv: &[String]) -> &str {
    argv.first().map_or("", String::as_str)
}

/// Runs `argv` (no shell) and returns its trimmed standard output. On failure the message
/// names the program, how it ended and its standard error, never its standard output, which
/// may hold a token even when the command fails.
pub(crate) async fn run_token_command(server: &str, argv: &[String]) -> Result<String, String> {
    let name = program(argv);
    let failed = |how: String| format!("the token command `{name}` of server `{server}` {how}");
    let Some((first, rest)) = argv.split_first() else {
        return Err(failed("is empty".to_string()));
    };
    tracing::debug!("server `{server}`: running the token command `{name}`");
    let mut child = tokio::process::Command::new(first)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot be started: {e}")))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(failed("cannot be read from".to_string()));
    };
    let finished = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut stdout = stdout.take(OUTPUT_LIMIT + 1);
        let mut stderr = stderr.take(OUTPUT_LIMIT + 1);
        let (read_out, read_err) =
            tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err),);
        // A command that goes on writing past the cap gets a broken pipe instead of a wait.
        drop((stdout, stderr));
        let status = child.wait().await;
        (read_out.and(read_err).and(status), out, err)
    };
    // The child is killed when the timed-out future drops it.
    let (status, out, err) = tokio::time::timeout(TOKEN_COMMAND_TIMEOUT, finished)
        .await
        .map_err(|_| {
            failed(format!(
                "gave no token within {}s and was stopped",
                TOKEN_COMMAND_TIMEOUT.as_secs()
            ))
        })?;
    let status = status.map_err(|e| failed(format!("cannot be read from: {e}")))?;
    let stderr = stderr_text(&err);
    if !status.success() {
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        return Err(failed(format!("{how}{stderr}")));
    }
    if out.len() as u64 > OUTPUT_LIMIT {
        return Err(failed(format!(
            "printed more than {} KiB, which is no token",
            OUTPUT_LIMIT / 1024
        )));
    }
    let token = String::from_utf8(out)
        .map_err(|_| failed("printed something that is not UTF-8 text".to_string()))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(failed(format!("printed no token{stderr}")));
    }
    Ok(token.to_string())
}

/// `; its standard error: ...` with the end of `err`, scrubbed of every known secret, or
/// nothing when it said nothing.
fn stderr_text(err: &[u8]) -> String {
    let text = String::from_utf8_lossy(err);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let start = text
        .char_indices()
        .rev()
        .nth(STDERR_SHOWN)
        .map_or(0, |(i, _)| i);
    let cut = if start > 0 { "..." } else { "" };
    format!(
        "; its standard error: {cut}{}",
        crate::redact::redact(&text[start..])
    )
}

fn basic(user: &str, secret: &str) -> Option<HeaderValue> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    sensitive(format!("Basic {encoded}"))
}

fn bearer(token: &str) -> Option<HeaderValue> {
    sensitive(format!("Bearer {token}"))
}

fn sensitive(value: String) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&value).ok()?;
    // Keeps it out of reqwest's and hyper's Debug output.
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        ["sh", "-c", script].map(String::from).to_vec()
    }

    #[tokio::test]
    async fn a_token_commands_output_is_trimmed() {
        let token = run_token_command("default", &sh("printf '  tok-123\\n\\n'")).await;
        assert_eq!(token.as_deref(), Ok("tok-123"));
    }

    #[tokio::test]
    async fn a_failed_command_says_its_status_and_stderr_but_never_its_stdout() {
        let err = run_token_command("ci", &sh("echo leaked-out; echo 'no session' >&2; exit 4"))
            .await
            .unwrap_err();
        assert!(
            err.contains("`sh` of server `ci` exited with status 4"),
            "{err}"
        );
        assert!(err.contains("no session"), "{err}");
        assert!(!err.contains("leaked-out"), "{err}");
    }

    #[tokio::test]
    async fn an_empty_token_is_an_error() {
        let err = run_token_command("ci", &sh("echo '   '"))
            .await
            .unwrap_err();
        assert!(err.contains("printed no token"), "{err}");
    }

    #[tokio::test]
    async fn a_program_that_does_not_exist_cannot_be_started() {
        let argv = vec!["/nonexistent/jrun-token".to_string()];
        let err = run_token_command("ci", &argv).await.unwrap_err();
        assert!(err.contains("`/nonexistent/jrun-token`"), "{err}");
        assert!(err.contains("cannot be started"), "{err}");
    }

    #[tokio::test]
    async fn output_past_the_cap_is_no_token() {
        let err = run_token_command("ci", &sh("head -c 70000 /dev/zero | tr '\\0' a"))
            .await
            .unwrap_err();
        assert!(err.contains("more than 64 KiB"), "{err}");
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_run_and_a_refusal_renews_once() {
        let dir = std::env::temp_dir().join(format!("jrun-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let count = dir.join("runs");
        let _ = std::fs::remove_file(&count);
        let script = format!(
            "echo x >> '{}'; echo tok-$(wc -l < '{}')",
            count.display(),
            count.display()
        );
        let mut settings = ServerSettings::new(
            "default",
            "http://127.0.0.1:1",
            Auth::Command {
                user: None,
                command: TokenCommand {
                    argv: sh(&script),
                    ttl: Duration::from_secs(300),
                },
            },
        );
        settings.headers = Vec::new();
        let creds = std::sync::Arc::new(Credentials::new(&settings).unwrap());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let creds = creds.clone();
            tasks.push(tokio::spawn(
                async move { creds.authorization().await.unwrap() },
            ));
        }
        let mut used = Vec::new();
        for task in tasks {
            used.push(task.await.unwrap().1);
        }
        let runs = || std::fs::read_to_string(&count).unwrap().lines().count();
        assert_eq!(runs(), 1);
        // Every request that failed with the first token renews it; only the first runs it.
        for u in &used {
            assert!(creds.renew(*u).await.unwrap().is_some());
        }
        assert_eq!(runs(), 2);
        let (header, _) = creds.authorization().await.unwrap();
        assert!(header.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

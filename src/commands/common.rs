//! What every command shares: its error type, the printer of notes and errors, loading.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::exit::ExitStatus;
use crate::pipeline::{self, Pipeline, RenderContext};

/// An error with the exit status it stands for.
#[derive(Debug, thiserror::Error)]
#[error("{source:#}")]
pub struct CommandError {
    pub status: ExitStatus,
    pub source: anyhow::Error,
}

impl CommandError {
    pub fn new(status: ExitStatus, source: impl Into<anyhow::Error>) -> Self {
        CommandError {
            status,
            source: source.into(),
        }
    }

    pub fn invalid(source: impl Into<anyhow::Error>) -> Self {
        CommandError::new(ExitStatus::InvalidInput, source)
    }
}

/// The one printer of error chains. A cause may quote a server's answer, and so a secret.
pub fn print_error(error: &anyhow::Error) {
    let mut text = format!("error: {error}\n");
    for cause in error.chain().skip(1) {
        text.push_str(&format!("  caused by: {cause}\n"));
    }
    to_stderr(&text);
}

/// Something the user may want to know, that is not a problem.
pub fn print_note(message: &str) {
    to_stderr(&format!("note: {message}\n"));
}

/// Something the user should know that does not stop the run.
pub fn print_warning(message: &str) {
    to_stderr(&format!("warning: {message}\n"));
}

/// A line on stderr as it is, with every registered secret masked.
pub fn to_stderr(text: &str) {
    let _ = std::io::stderr()
        .lock()
        .write_all(crate::redact::redact(text).as_bytes());
}

/// A command's answer on stdout. A closed pipe (`jrun validate | head`) is not an error.
pub fn to_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// With `-v`, jrun's debug events go to stderr as timestamped lines.
pub fn log_requests(verbose: bool) {
    if !verbose {
        return;
    }
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Only jrun's own events: the HTTP stack's connection chatter says nothing about Jenkins.
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(|| RedactingStderr)
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .with_filter(
            tracing_subscriber::filter::Targets::new().with_target("jrun", tracing::Level::DEBUG),
        );
    let _ = tracing_subscriber::registry().with(lines).try_init();
}

/// Stderr for `-v` lines, with every registered secret masked: a logged answer or error may
/// quote one. The formatter hands over each line whole, in one `write`.
struct RedactingStderr;

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr()
            .lock()
            .write_all(crate::redact::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `--set key=value` pairs.
pub fn overrides(set: &[String]) -> Result<Vec<(String, String)>, CommandError> {
    set.iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_string(), value.to_string()))
            }
            _ => Err(CommandError::invalid(anyhow::anyhow!(
                "--set `{pair}` must look like KEY=VALUE"
            ))),
        })
        .collect()
}

pub fn load(path: &Path, set: &[String]) -> Result<Pipeline, CommandError> {
    let overrides = overrides(set)?;
    pipeline::load(path, &overrides).map_err(CommandError::invalid)
}

pub fn environment() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

pub fn base_context(
    pipeline: &Pipeline,
    env: &BTreeMap<String, String>,
    run: &pipeline::RunFacts,
) -> RenderContext {
    RenderContext::new(pipeline, run.clone(), env.clone())
}

pub fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(|e| CommandError::new(ExitStatus::Jenkins, e))
}

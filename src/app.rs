//! From arguments to an exit status: parse, resolve, run, and print any error once.

use std::ffi::OsString;
use std::io::Write;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command, SandboxArgs};
use crate::exit::ExitStatus;
use crate::sandbox::{Sandbox, SandboxConfig};

/// An error with the exit status it stands for.
#[derive(Debug, thiserror::Error)]
#[error("{source:#}")]
pub struct Failure {
    pub status: ExitStatus,
    pub source: anyhow::Error,
}

impl Failure {
    pub fn new(status: ExitStatus, source: impl Into<anyhow::Error>) -> Self {
        Failure {
            status,
            source: source.into(),
        }
    }
}

pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitStatus {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::InvalidInput
            } else {
                ExitStatus::Success
            };
        }
    };
    match run(cli) {
        Ok(status) => status,
        Err(failure) => {
            print_error(&failure.source);
            failure.status
        }
    }
}

/// The one printer of error chains.
pub fn print_error(error: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {error}");
    for cause in error.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
}

fn run(cli: Cli) -> Result<ExitStatus, Failure> {
    match cli.command {
        Command::Sandbox(args) => sandbox(args),
    }
}

fn sandbox(args: SandboxArgs) -> Result<ExitStatus, Failure> {
    let mut config = match &args.config {
        Some(path) => {
            SandboxConfig::load(path).map_err(|e| Failure::new(ExitStatus::InvalidInput, e))?
        }
        None => SandboxConfig {
            auto_create: true,
            ..SandboxConfig::default()
        },
    };
    if let Some(speed) = args.speed {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(Failure::new(
                ExitStatus::InvalidInput,
                anyhow::anyhow!("--speed must be a number above 0, not {speed}"),
            ));
        }
        config.speed = speed;
    }
    config.auto_create |= args.auto_create;
    let users = config.users.clone();
    let sandbox = Sandbox::start_on(config, args.port)
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))
        .map_err(|e| Failure::new(ExitStatus::InvalidInput, e))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "jrun sandbox listening on {}", sandbox.url());
    for user in &users {
        let password = user.password.as_deref().unwrap_or("(none)");
        let tokens = if user.tokens.is_empty() {
            "(none)".to_string()
        } else {
            user.tokens.join(", ")
        };
        let _ = writeln!(
            out,
            "user {}: password {password}, API token {tokens}",
            user.name
        );
    }
    let _ = writeln!(out, "press Ctrl-C to stop");
    let _ = out.flush();
    drop(out);
    wait_for_signal().map_err(|e| Failure::new(ExitStatus::InvalidInput, e))?;
    drop(sandbox);
    Ok(ExitStatus::Success)
}

fn wait_for_signal() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        Ok(())
    })
}

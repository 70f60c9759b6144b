//! `jrun sandbox`: the Jenkins emulator as a server on a port, until Ctrl-C or SIGTERM.

use anyhow::Context;

use crate::cli::SandboxArgs;
use crate::exit::ExitStatus;
use crate::sandbox::{Sandbox, SandboxConfig};

use super::common::{CommandError, to_stdout};

pub fn sandbox(args: SandboxArgs) -> Result<ExitStatus, CommandError> {
    let mut config = match &args.config {
        Some(path) => SandboxConfig::load(path).map_err(CommandError::invalid)?,
        None => SandboxConfig {
            auto_create: true,
            ..SandboxConfig::default()
        },
    };
    if let Some(speed) = args.speed {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(CommandError::invalid(anyhow::anyhow!(
                "--speed must be a number above 0, not {speed}"
            )));
        }
        config.speed = speed;
    }
    config.auto_create |= args.auto_create;
    let users = config.users.clone();
    let sandbox = Sandbox::start_on(config, args.port)
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))
        .map_err(CommandError::invalid)?;
    let mut banner = format!(
        "jrun sandbox listening on {}\n",
        sandbox.jenkins_url().trim_end_matches('/')
    );
    for user in &users {
        let password = user.password.as_deref().unwrap_or("(none)");
        let tokens = if user.tokens.is_empty() {
            "(none)".to_string()
        } else {
            user.tokens.join(", ")
        };
        banner.push_str(&format!(
            "user {}: password {password}, API token {tokens}\n",
            user.name
        ));
    }
    banner.push_str("press Ctrl-C to stop\n");
    to_stdout(&banner);
    wait_for_signal().map_err(CommandError::invalid)?;
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

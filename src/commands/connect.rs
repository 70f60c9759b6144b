//! From a pipeline's servers to Jenkins clients: the configured servers, or the in-process sandbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::engine::{PipelineTime, servers};
use crate::exit::ExitStatus;
use crate::jenkins::{self, Auth, Secret, ServerSettings};
use crate::pipeline::{self, Pipeline, RenderContext};
use crate::sandbox::{Sandbox, SandboxConfig};

use super::common::{CommandError, print_warning};

/// Which Jenkins the run talks to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The servers the pipeline and the environment configure; `insecure` skips checking
    /// their HTTPS certificates.
    Configured { insecure: bool },
    /// The in-process sandbox, from this config file or with the rehearsal defaults.
    Sandbox(Option<&'a Path>),
}

/// The servers a run talks to, and how its time passes.
pub struct Connection {
    pub clients: BTreeMap<String, jenkins::Client>,
    pub time: PipelineTime,
    /// The in-process sandbox, kept alive for the run.
    _sandbox: Option<Arc<Sandbox>>,
}

/// The names of the servers the selected steps use.
fn servers_used(pipeline: &Pipeline, selected: Option<&[bool]>) -> Vec<String> {
    let mut names: Vec<String> = pipeline
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| selected.is_none_or(|s| s[*i]))
        .map(|(_, step)| {
            step.server
                .clone()
                .unwrap_or_else(|| pipeline::DEFAULT_SERVER.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Resolves every server the run needs into a client, or starts the sandbox they all point at.
pub fn connect(
    pipeline: &Pipeline,
    ctx: &RenderContext,
    env: &BTreeMap<String, String>,
    selected: Option<&[bool]>,
    target: Target<'_>,
) -> Result<Connection, CommandError> {
    let names = servers_used(pipeline, selected);
    match target {
        Target::Sandbox(config) => connect_sandbox(pipeline, ctx, names, config),
        Target::Configured { insecure } => connect_configured(pipeline, ctx, env, names, insecure),
    }
}

fn connect_sandbox(
    pipeline: &Pipeline,
    ctx: &RenderContext,
    names: Vec<String>,
    config: Option<&Path>,
) -> Result<Connection, CommandError> {
    let mut clients = BTreeMap::new();
    let (settings, time, sandbox) = start_sandbox(pipeline, ctx, config)?;
    for name in names {
        let mut settings = settings.clone();
        if let Some(spec) = pipeline.server_spec(Some(&name)) {
            settings.max_in_flight = spec.max_in_flight.unwrap_or(servers::DEFAULT_MAX_IN_FLIGHT);
        }
        settings.name = name.clone();
        settings.register_secrets();
        clients.insert(
            name,
            jenkins::Client::new(settings).map_err(CommandError::invalid)?,
        );
    }
    Ok(Connection {
        clients,
        time,
        _sandbox: Some(sandbox),
    })
}

fn connect_configured(
    pipeline: &Pipeline,
    ctx: &RenderContext,
    env: &BTreeMap<String, String>,
    names: Vec<String>,
    insecure: bool,
) -> Result<Connection, CommandError> {
    let mut clients = BTreeMap::new();
    let environment = servers::Environment {
        vars: env,
        home: std::env::var_os("HOME").map(PathBuf::from),
    };
    for name in names {
        let Some(spec) = pipeline.server_spec(Some(&name)) else {
            continue;
        };
        // Only the `jenkins:` block falls back on JENKINS_URL and friends.
        let default = name == pipeline::DEFAULT_SERVER;
        let mut settings = servers::resolve(&name, spec, ctx, &environment, default)
            .map_err(CommandError::invalid)?;
        settings.register_secrets();
        if insecure && settings.url.starts_with("https://") {
            settings.tls.insecure = true;
            print_warning(&format!(
                "--insecure: the HTTPS certificate of {} is not checked",
                settings.url
            ));
        }
        clients.insert(
            name,
            jenkins::Client::new(settings).map_err(CommandError::invalid)?,
        );
    }
    Ok(Connection {
        clients,
        time: PipelineTime::real(),
        _sandbox: None,
    })
}

/// The sandbox's defaults for a rehearsal: ten times real speed, Jenkins' quiet period, and
/// jobs that take a little while so there is something to watch.
fn rehearsal_config() -> SandboxConfig {
    SandboxConfig {
        speed: 10.0,
        executors: 8,
        auto_create: true,
        ..SandboxConfig::default()
    }
}

/// Starts the in-process sandbox and creates the jobs the pipeline names, with the
/// parameters it passes, unless its config declares them.
fn start_sandbox(
    pipeline: &Pipeline,
    ctx: &RenderContext,
    config: Option<&Path>,
) -> Result<(ServerSettings, PipelineTime, Arc<Sandbox>), CommandError> {
    let mut config = match config {
        Some(path) => SandboxConfig::load(path).map_err(CommandError::invalid)?,
        None => rehearsal_config(),
    };
    config.auto_create = true;
    let speed = config.speed;
    let auth = config
        .users
        .first()
        .map(|u| match (u.tokens.first(), &u.password) {
            (Some(token), _) => Auth::Token {
                user: u.name.clone(),
                token: Secret::new(token.clone()),
            },
            (None, Some(password)) => Auth::Password {
                user: u.name.clone(),
                password: Secret::new(password.clone()),
            },
            (None, None) => match u.bearer_tokens.first() {
                Some(bearer) => Auth::Bearer {
                    token: Secret::new(bearer.token()),
                },
                None => Auth::Anonymous,
            },
        })
        .unwrap_or(Auth::Anonymous);
    let declared: Vec<String> = (config.jobs.iter().map(|j| j.path.clone()))
        .chain(config.multibranch.iter().map(|p| p.path.clone()))
        .collect();
    let sandbox = Arc::new(
        Sandbox::start(config)
            .context("cannot start the sandbox")
            .map_err(|e| CommandError::new(ExitStatus::Jenkins, e))?,
    );
    sandbox.add_rehearsal(&crate::sandbox::rehearsal(pipeline, ctx, &declared));
    // The documented defaults; the sandbox speaks plain HTTP.
    let mut settings = ServerSettings::new("sandbox", sandbox.jenkins_url(), auth);
    if let Some(max) = pipeline.server.max_in_flight {
        settings.max_in_flight = max;
    }
    let clock = sandbox.clone();
    let time = PipelineTime::scaled(speed, Arc::new(move || clock.with_model(|m| m.now())));
    Ok((settings, time, sandbox))
}

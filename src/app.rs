//! From arguments to an exit status: parse, resolve the settings once, run the command, print
//! any error once.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use crate::cli::{
    CheckArgs, Cli, Command, OutputArg, PlanArgs, ProgressArg, ResumeArgs, RunArgs, SandboxArgs,
    SchemaKind, ValidateArgs,
};
use crate::engine::{self, PipelineTime, RunSettings, servers};
use crate::exit::ExitStatus;
use crate::jenkins::{self, Auth, Secret, ServerSettings};
use crate::pipeline::{self, Pipeline, RenderContext, StepKind};
use crate::report::{self, Format, Progress, ProgressChoice, Reporter};
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

    fn invalid(source: impl Into<anyhow::Error>) -> Self {
        Failure::new(ExitStatus::InvalidInput, source)
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
    match dispatch(cli) {
        Ok(status) => status,
        Err(failure) => {
            print_error(&failure.source);
            failure.status
        }
    }
}

/// The one printer of error chains. A cause may quote a server's answer, and so a secret.
pub fn print_error(error: &anyhow::Error) {
    let mut text = format!("error: {error}\n");
    for cause in error.chain().skip(1) {
        text.push_str(&format!("  caused by: {cause}\n"));
    }
    let _ = std::io::stderr()
        .lock()
        .write_all(crate::redact::redact(&text).as_bytes());
}

/// With `-v`, jrun's debug events go to stderr as timestamped lines.
fn log_requests(verbose: bool) {
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

/// Something the user may want to know, that is not a problem.
fn print_note(message: &str) {
    let line = format!("note: {message}\n");
    let _ = std::io::stderr()
        .lock()
        .write_all(crate::redact::redact(&line).as_bytes());
}

/// Something the user should know that does not stop the run.
fn print_warning(message: &str) {
    let line = format!("warning: {message}\n");
    let _ = std::io::stderr()
        .lock()
        .write_all(crate::redact::redact(&line).as_bytes());
}

fn dispatch(cli: Cli) -> Result<ExitStatus, Failure> {
    match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(args),
        Some(Command::Validate(args)) => validate(args),
        Some(Command::Plan(args)) => plan(args),
        Some(Command::Check(args)) => check(args),
        Some(Command::Resume(args)) => resume(args),
        Some(Command::Schema(args)) => {
            let text = match args.kind {
                SchemaKind::Pipeline => pipeline::schema_text(),
                SchemaKind::Report => report::schema_text(),
            };
            print!("{text}");
            Ok(ExitStatus::Success)
        }
        Some(Command::Sandbox(args)) => sandbox(args),
        Some(Command::Completions(args)) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut command, "jrun", &mut std::io::stdout());
            Ok(ExitStatus::Success)
        }
    }
}

/// `--set key=value` pairs.
fn overrides(set: &[String]) -> Result<Vec<(String, String)>, Failure> {
    set.iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_string(), value.to_string()))
            }
            _ => Err(Failure::invalid(anyhow::anyhow!(
                "--set `{pair}` must look like KEY=VALUE"
            ))),
        })
        .collect()
}

fn load(path: &Path, set: &[String]) -> Result<Pipeline, Failure> {
    let overrides = overrides(set)?;
    pipeline::load(path, &overrides).map_err(Failure::invalid)
}

fn environment() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn validate(args: ValidateArgs) -> Result<ExitStatus, Failure> {
    let mut status = ExitStatus::Success;
    for path in &args.pipelines {
        match load(path, &args.set) {
            Ok(p) => println!(
                "{}: ok ({})",
                path.display(),
                report::count(p.steps.len(), "step")
            ),
            Err(failure) => {
                print_error(&failure.source);
                status = status.worst(failure.status);
            }
        }
    }
    Ok(status)
}

fn plan(args: PlanArgs) -> Result<ExitStatus, Failure> {
    let pipeline = load(&args.pipeline, &args.set)?;
    let ctx = RenderContext {
        vars: pipeline.vars.clone(),
        env: environment(),
        steps: BTreeMap::new(),
        matrix: BTreeMap::new(),
        run: engine::run_facts(),
        pipeline_name: pipeline.name.clone(),
    };
    let preview = |t: &pipeline::Template, step: &pipeline::Step| -> String {
        if !t.step_refs().is_empty() {
            format!("{} (known when it runs)", t.source())
        } else {
            t.render(&ctx.clone().for_step(step))
                .unwrap_or_else(|e| format!("{} (cannot render: {e})", t.source()))
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "pipeline {}: {}",
        pipeline.name,
        report::count(pipeline.steps.len(), "step")
    );
    for (i, step) in pipeline.steps.iter().enumerate() {
        let needs: Vec<&str> = step
            .needs
            .iter()
            .map(|d| pipeline.steps[*d].id.as_str())
            .collect();
        let after = if needs.is_empty() {
            String::new()
        } else {
            format!(" after {}", needs.join(", "))
        };
        let condition = match &step.condition {
            pipeline::Condition::OnSuccess => String::new(),
            pipeline::Condition::OnFailure => " if on_failure".to_string(),
            pipeline::Condition::Always => " if always".to_string(),
            pipeline::Condition::Expr(t) => format!(" if {}", t.source()),
        };
        match &step.kind {
            StepKind::Job(job) => {
                let _ = writeln!(
                    out,
                    "{}. {}: job {}{after}{condition}{}",
                    i + 1,
                    step.id,
                    preview(&job.job, step),
                    if job.wait { "" } else { " (not waited for)" }
                );
                for (name, value) in &job.params {
                    let _ = writeln!(out, "     {name} = {}", preview(value, step));
                }
            }
            StepKind::Await(gate) => {
                let wanted: Vec<&str> = gate.results.iter().map(|r| r.as_str()).collect();
                let _ = writeln!(
                    out,
                    "{}. {}: await {} last build {}{after}{condition}",
                    i + 1,
                    step.id,
                    preview(&gate.job, step),
                    wanted.join("|")
                );
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// The servers a run talks to, and how its time passes.
struct Connection {
    clients: BTreeMap<String, jenkins::Client>,
    time: PipelineTime,
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
fn connect(
    pipeline: &Pipeline,
    ctx: &RenderContext,
    env: &BTreeMap<String, String>,
    selected: Option<&[bool]>,
    sandbox: Option<Option<&Path>>,
    insecure: bool,
) -> Result<Connection, Failure> {
    let names = servers_used(pipeline, selected);
    let mut clients = BTreeMap::new();
    if let Some(config) = sandbox {
        let (settings, time, sandbox) = start_sandbox(pipeline, ctx, config)?;
        for name in names {
            let mut settings = settings.clone();
            if let Some(spec) = pipeline.server_spec(Some(&name)) {
                settings.max_in_flight =
                    spec.max_in_flight.unwrap_or(servers::DEFAULT_MAX_IN_FLIGHT);
            }
            settings.name = name.clone();
            settings.register_secrets();
            clients.insert(
                name,
                jenkins::Client::new(settings).map_err(Failure::invalid)?,
            );
        }
        return Ok(Connection {
            clients,
            time,
            _sandbox: Some(sandbox),
        });
    }
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
        let mut settings =
            servers::resolve(&name, spec, ctx, &environment, default).map_err(Failure::invalid)?;
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
            jenkins::Client::new(settings).map_err(Failure::invalid)?,
        );
    }
    Ok(Connection {
        clients,
        time: PipelineTime::real(),
        _sandbox: None,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(|e| Failure::new(ExitStatus::Jenkins, e))
}

fn base_context(
    pipeline: &Pipeline,
    env: &BTreeMap<String, String>,
    run: &pipeline::RunFacts,
) -> RenderContext {
    RenderContext {
        vars: pipeline.vars.clone(),
        env: env.clone(),
        steps: BTreeMap::new(),
        matrix: BTreeMap::new(),
        run: run.clone(),
        pipeline_name: pipeline.name.clone(),
    }
}

fn selection(
    pipeline: &Pipeline,
    only: &[String],
    from: &[String],
) -> Result<Option<Vec<bool>>, Failure> {
    if only.is_empty() && from.is_empty() {
        return Ok(None);
    }
    pipeline
        .select(only, from)
        .map(Some)
        .map_err(Failure::invalid)
}

/// The preflight's problems as one error.
fn preflight_failure(problems: Vec<engine::preflight::Problem>) -> Failure {
    let count = problems.len();
    let problems: Vec<String> = problems.into_iter().map(|p| p.message).collect();
    Failure::invalid(anyhow::anyhow!(
        "{count} problem{} found before anything was triggered:\n{}",
        if count == 1 { "" } else { "s" },
        problems.join("\n")
    ))
}

fn check(args: CheckArgs) -> Result<ExitStatus, Failure> {
    log_requests(args.talk.verbose);
    let pipeline = load(&args.pipeline, &args.set)?;
    let env = environment();
    pipeline.check_env(&env).map_err(Failure::invalid)?;
    let run_facts = engine::run_facts();
    let ctx = base_context(&pipeline, &env, &run_facts);
    let connection = connect(&pipeline, &ctx, &env, None, None, args.talk.insecure)?;
    let jobs = engine::JobCache::default();
    let problems = runtime()?
        .block_on(engine::preflight::check(
            &pipeline,
            &connection.clients,
            &ctx,
            None,
            &jobs,
        ))
        .map_err(|(_, e)| Failure::new(ExitStatus::Jenkins, e))?;
    if !problems.is_empty() {
        return Err(preflight_failure(problems));
    }
    let checked = jobs.lock().unwrap_or_else(|e| e.into_inner()).len();
    println!(
        "{}: ok ({checked} job{} checked, nothing triggered)",
        args.pipeline.display(),
        if checked == 1 { "" } else { "s" }
    );
    Ok(ExitStatus::Success)
}

fn resume(args: ResumeArgs) -> Result<ExitStatus, Failure> {
    let replay = engine::journal::read(&args.journal).map_err(Failure::invalid)?;
    if let Some(code) = replay.finished {
        println!(
            "{}: this run of {} already finished with exit {code}; nothing to resume",
            args.journal.display(),
            replay.pipeline
        );
        return Ok(ExitStatus::Success);
    }
    run(RunArgs {
        pipeline: Some(replay.file.clone()),
        set: replay.set.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        only: Vec::new(),
        from: Vec::new(),
        no_cancel_on_interrupt: args.no_cancel_on_interrupt,
        max_parallel: None,
        timeout: None,
        progress: args.progress,
        output: args.output,
        lock: args.lock,
        lock_wait: None,
        journal: Some(args.journal),
        report: args.report,
        junit: args.junit,
        follow: args.follow,
        sandbox: false,
        sandbox_config: None,
        talk: args.talk,
        quiet: args.quiet,
    })
}

/// The journal of this run, and the interrupted run it finishes, if any: only a run of this
/// pipeline (same file, same name) is finished.
fn open_journal(
    path: &Path,
    pipeline: &str,
    canonical: &Path,
) -> Result<
    (
        Arc<engine::journal::Journal>,
        Option<engine::journal::Replay>,
    ),
    Failure,
> {
    use engine::journal::{Journal, belongs_to, read};
    let existing = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    let replay = if existing {
        let replay = read(path).map_err(Failure::invalid)?;
        if replay.finished.is_some() {
            // A finished run's journal starts over.
            Journal::truncate(path).map_err(Failure::invalid)?;
            None
        } else {
            belongs_to(&replay, path, pipeline, canonical).map_err(Failure::invalid)?;
            Some(replay)
        }
    } else {
        None
    };
    let journal = Journal::open(path).map_err(Failure::invalid)?;
    Ok((Arc::new(journal), replay))
}

fn run(args: RunArgs) -> Result<ExitStatus, Failure> {
    log_requests(args.talk.verbose);
    let path = args
        .pipeline
        .clone()
        .ok_or_else(|| Failure::invalid(anyhow::anyhow!("a pipeline file is required")))?;
    let pipeline = Arc::new(load(&path, &args.set)?);
    let selected = selection(&pipeline, &args.only, &args.from)?;
    let _lock = match &args.lock {
        Some(file) => Some(
            crate::lock::acquire(file, args.lock_wait.map(|d| d.0)).map_err(|e| match e {
                crate::lock::LockError::Held { .. } => Failure::new(ExitStatus::Locked, e),
                other => Failure::invalid(other),
            })?,
        ),
        None => None,
    };
    let env = environment();
    pipeline.check_env(&env).map_err(Failure::invalid)?;
    let set = overrides(&args.set)?;
    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let (journal, resume) = match &args.journal {
        Some(file) => {
            let (journal, replay) = open_journal(file, &pipeline.name, &canonical)?;
            (Some(journal), replay)
        }
        None => (None, None),
    };
    let file_digest = std::fs::read(&path)
        .ok()
        .map(|bytes| engine::journal::digest(&bytes));
    let run_facts = match &resume {
        Some(replay) => pipeline::RunFacts {
            id: replay.run_id.clone(),
            started_at: replay.started_at.clone(),
        },
        None => engine::run_facts(),
    };
    if let (Some(journal), None) = (&journal, &resume) {
        journal
            .record(&engine::journal::Record::RunStarted {
                pipeline: pipeline.name.clone(),
                file: canonical.clone(),
                set: set.clone(),
                run_id: run_facts.id.clone(),
                started_at: run_facts.started_at.clone(),
                format: Some(engine::journal::FORMAT),
                digest: file_digest.clone(),
            })
            .map_err(Failure::invalid)?;
    }
    let ctx = base_context(&pipeline, &env, &run_facts);
    for path in [&args.report, &args.junit].into_iter().flatten() {
        report::check_writable(path).map_err(Failure::invalid)?;
    }
    let sandboxed = args.sandbox || args.sandbox_config.is_some();
    let connection = connect(
        &pipeline,
        &ctx,
        &env,
        selected.as_deref(),
        sandboxed.then_some(args.sandbox_config.as_deref()),
        args.talk.insecure,
    )?;
    if let (Some(replay), Some(file)) = (&resume, &args.journal) {
        let urls: BTreeMap<String, String> = connection
            .clients
            .iter()
            .map(|(name, client)| (name.clone(), client.base_url().to_string()))
            .collect();
        engine::journal::check_steps(
            replay,
            &engine::journal::Resumed {
                journal: file,
                pipeline: &pipeline,
                env: &env,
                run: &run_facts,
                urls: &urls,
            },
        )
        .map_err(Failure::invalid)?;
        if replay.digest.is_some() && replay.digest != file_digest {
            print_note(&format!(
                "{} changed since the run started; the steps it had started are unchanged, so it resumes",
                path.display()
            ));
        }
    }
    // Log lines would tear through redrawn bars: -v prints plain lines.
    let progress = Progress::resolve(
        match args.progress {
            _ if args.talk.verbose => ProgressChoice::Never,
            ProgressArg::Auto => ProgressChoice::Auto,
            ProgressArg::Always => ProgressChoice::Always,
            ProgressArg::Never => ProgressChoice::Never,
        },
        args.quiet,
    );
    let format = match args.output {
        OutputArg::Text => Format::Text,
        OutputArg::Json => Format::Json,
    };
    let runtime = runtime()?;
    let jobs = Arc::new(engine::JobCache::default());
    let reporter =
        Arc::new(Reporter::new(progress, format).with_time_scale(connection.time.scale()));
    let settings = RunSettings {
        max_parallel: args.max_parallel,
        timeout: args.timeout.map(|d| d.0),
        time: connection.time.clone(),
        env,
        clients: connection.clients.clone(),
        selected,
        cancel_on_interrupt: !args.no_cancel_on_interrupt,
        jobs,
        journal,
        resume,
        follow: args.follow,
    };
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(None);
    let outcome = runtime.block_on(async {
        let listener = tokio::spawn(listen_for_signals(signal_tx));
        let outcome = engine::run(pipeline, settings, reporter.clone(), run_facts, signal_rx).await;
        listener.abort();
        outcome
    });
    // Requests still in flight (a stop after a timeout) must not hold up the exit.
    runtime.shutdown_background();
    reporter.summary(&outcome.summary);
    if let Err(e) = report::write_files(
        &outcome.summary,
        args.report.as_deref(),
        args.junit.as_deref(),
    ) {
        print_error(&anyhow::Error::new(e));
        return Ok(outcome.status.worst(ExitStatus::InvalidInput));
    }
    Ok(outcome.status)
}

/// The first SIGINT or SIGTERM asks the run to stop what it started; a second one exits at
/// once.
async fn listen_for_signals(tx: tokio::sync::watch::Sender<Option<engine::Stop>>) {
    use engine::{Signal, Stop};
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let mut count = 0;
        loop {
            let which = tokio::select! {
                _ = int.recv() => Signal::Int,
                _ = term.recv() => Signal::Term,
            };
            count += 1;
            // The second one makes the run leave at once, writing its report; a third is
            // for a run that could not even do that.
            if count > 2 {
                let code = match which {
                    Signal::Int => ExitStatus::Interrupted,
                    Signal::Term => ExitStatus::Terminated,
                };
                eprintln!(
                    "jrun: interrupted a third time, exiting now; builds may still be running"
                );
                std::process::exit(i32::from(code.code()));
            }
            let _ = tx.send(Some(Stop::Interrupt(which)));
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(Some(Stop::Interrupt(Signal::Int)));
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(ExitStatus::Interrupted.code()));
        }
    }
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
) -> Result<(ServerSettings, PipelineTime, Arc<Sandbox>), Failure> {
    let mut config = match config {
        Some(path) => SandboxConfig::load(path).map_err(Failure::invalid)?,
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
            (None, None) => Auth::Anonymous,
        })
        .unwrap_or(Auth::Anonymous);
    let declared: Vec<String> = config.jobs.iter().map(|j| j.path.clone()).collect();
    let sandbox = Arc::new(
        Sandbox::start(config)
            .context("cannot start the sandbox")
            .map_err(|e| Failure::new(ExitStatus::Jenkins, e))?,
    );
    sandbox.add_missing_jobs(&crate::sandbox::rehearsal(pipeline, ctx, &declared));
    let settings = ServerSettings {
        name: "sandbox".to_string(),
        url: sandbox.url(),
        auth,
        max_in_flight: pipeline
            .server
            .max_in_flight
            .unwrap_or(servers::DEFAULT_MAX_IN_FLIGHT),
        connect_timeout: std::time::Duration::from_secs(10),
        request_timeout: std::time::Duration::from_secs(30),
        unreachable_timeout: servers::DEFAULT_UNREACHABLE_TIMEOUT,
        user_agent: format!("jrun/{}", env!("CARGO_PKG_VERSION")),
        // The sandbox speaks plain HTTP.
        tls: jenkins::Tls::default(),
    };
    let clock = sandbox.clone();
    let time = PipelineTime::scaled(speed, Arc::new(move || clock.with_model(|m| m.now())));
    Ok((settings, time, sandbox))
}

fn sandbox(args: SandboxArgs) -> Result<ExitStatus, Failure> {
    let mut config = match &args.config {
        Some(path) => SandboxConfig::load(path).map_err(Failure::invalid)?,
        None => SandboxConfig {
            auto_create: true,
            ..SandboxConfig::default()
        },
    };
    if let Some(speed) = args.speed {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(Failure::invalid(anyhow::anyhow!(
                "--speed must be a number above 0, not {speed}"
            )));
        }
        config.speed = speed;
    }
    config.auto_create |= args.auto_create;
    let users = config.users.clone();
    let sandbox = Sandbox::start_on(config, args.port)
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))
        .map_err(Failure::invalid)?;
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
    wait_for_signal().map_err(Failure::invalid)?;
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

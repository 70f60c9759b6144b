//! `jrun run` (and a bare `jrun FILE`): runs a pipeline, from loading it to the exit status.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::cli::{OutputArg, ProgressArg, RunArgs};
use crate::engine::{self, RunSettings, journal};
use crate::exit::ExitStatus;
use crate::pipeline::{self, Pipeline};
use crate::report::{self, Format, Progress, ProgressChoice, Reporter};

use super::common::{
    CommandError, base_context, environment, load, log_requests, overrides, print_error,
    print_note, runtime, to_stderr,
};
use super::connect::{Connection, Target, connect};

pub fn run(args: RunArgs) -> Result<ExitStatus, CommandError> {
    log_requests(args.talk.verbose);
    let path = args
        .pipeline
        .clone()
        .ok_or_else(|| CommandError::invalid(anyhow::anyhow!("a pipeline file is required")))?;
    let pipeline = Arc::new(load(&path, &args.set)?);
    let selected = selection(&pipeline, &args.only, &args.from)?;
    let approvals = approvals(&pipeline, &args.approve)?;
    check_prompts(&pipeline, selected.as_deref())?;
    let _lock = match &args.lock {
        Some(file) => Some(
            crate::lock::acquire(file, args.lock_wait.map(|d| d.0)).map_err(|e| match e {
                crate::lock::LockError::Held { .. } => CommandError::new(ExitStatus::Locked, e),
                other => CommandError::invalid(other),
            })?,
        ),
        None => None,
    };
    let env = environment();
    pipeline.check_env(&env).map_err(CommandError::invalid)?;
    let set = overrides(&args.set)?;
    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let file_digest = std::fs::read(&path)
        .ok()
        .map(|bytes| journal::digest(&bytes));
    let (journal, resume, run_facts) = match &args.journal {
        Some(file) => {
            let start = journal::RunStart {
                pipeline: &pipeline.name,
                file: &canonical,
                set: &set,
                digest: file_digest.clone(),
                fresh: engine::run_facts(),
            };
            let (journal, replay, facts) =
                journal::start_or_resume(file, start).map_err(CommandError::invalid)?;
            (Some(Arc::new(journal)), replay, facts)
        }
        None => (None, None, engine::run_facts()),
    };
    let ctx = base_context(&pipeline, &env, &run_facts);
    for path in [&args.report, &args.junit, &args.html]
        .into_iter()
        .flatten()
    {
        report::check_writable(path).map_err(CommandError::invalid)?;
    }
    let target = if args.sandbox || args.sandbox_config.is_some() {
        Target::Sandbox(args.sandbox_config.as_deref())
    } else {
        Target::Configured {
            insecure: args.talk.insecure,
        }
    };
    let connection = connect(&pipeline, &ctx, &env, selected.as_deref(), target)?;
    if let (Some(replay), Some(file)) = (&resume, &args.journal) {
        let resumed = Resumed {
            journal: file,
            pipeline: &pipeline,
            env: &env,
            run: &run_facts,
            connection: &connection,
        };
        check_resumed(replay, &resumed)?;
        if replay.digest.is_some() && replay.digest != file_digest {
            print_note(&format!(
                "{} changed since the run started; the steps it had started are unchanged, so it resumes",
                path.display()
            ));
        }
    }
    let settings = RunSettings {
        max_parallel: args.max_parallel,
        timeout: args.timeout.map(|d| d.0),
        time: connection.time.clone(),
        env,
        clients: connection.clients.clone(),
        selected,
        cancel_on_interrupt: !args.no_cancel_on_interrupt,
        jobs: Arc::new(engine::JobCache::default()),
        journal,
        resume,
        follow: args.follow,
        diagnose: engine::DiagnoseSettings {
            log_tail: args.log_tail as usize,
            ..engine::DiagnoseSettings::default()
        },
        approvals: Arc::new(approvals),
    };
    execute(&args, pipeline, settings, run_facts)
}

/// `--approve STEP[:INPUT]`, with STEP a step of the pipeline (a matrix step's cells too) and
/// INPUT capitalized as Jenkins stores input ids.
fn approvals(
    pipeline: &Pipeline,
    given: &[String],
) -> Result<Vec<(String, Option<String>)>, CommandError> {
    let mut approvals = Vec::new();
    for value in given {
        let (step, input) = match value.split_once(':') {
            Some((step, input)) => (step.trim(), Some(input.trim())),
            None => (value.trim(), None),
        };
        let cells: Vec<&str> = pipeline
            .steps
            .iter()
            .map(|s| s.id.as_str())
            .filter(|id| *id == step || id.split_once('[').is_some_and(|(base, _)| base == step))
            .collect();
        if cells.is_empty() || input.is_some_and(str::is_empty) {
            return Err(CommandError::invalid(anyhow::anyhow!(
                "--approve {value}: write STEP or STEP:INPUT_ID with STEP a step of pipeline `{}`",
                pipeline.name
            )));
        }
        for cell in cells {
            approvals.push((cell.to_string(), input.map(pipeline::jenkins_input_id)));
        }
    }
    Ok(approvals)
}

/// `action: prompt` needs someone at a terminal; without one (cron, CI) the run would wait
/// for nobody, so it is refused before anything is triggered.
fn check_prompts(pipeline: &Pipeline, selected: Option<&[bool]>) -> Result<(), CommandError> {
    use std::io::IsTerminal;
    // The question goes to stderr and the answer comes from stdin: both must be the terminal.
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        return Ok(());
    }
    for (index, step) in pipeline.steps.iter().enumerate() {
        if selected.is_some_and(|s| !s.get(index).copied().unwrap_or(true)) {
            continue;
        }
        if let pipeline::StepKind::Job(job) = &step.kind
            && job.inputs.prompts()
        {
            return Err(CommandError::invalid(anyhow::anyhow!(
                "step `{}` answers an input with `action: prompt`, but jrun's input or its \
                 stderr is not a terminal, so nobody could answer; use `action: proceed` or `abort`, or \
                 --approve {}",
                step.id,
                step.id
            )));
        }
    }
    Ok(())
}

fn selection(
    pipeline: &Pipeline,
    only: &[String],
    from: &[String],
) -> Result<Option<Vec<bool>>, CommandError> {
    if only.is_empty() && from.is_empty() {
        return Ok(None);
    }
    pipeline
        .select(only, from)
        .map(Some)
        .map_err(CommandError::invalid)
}

/// The run a journal holds, against the one about to finish it.
struct Resumed<'a> {
    journal: &'a Path,
    pipeline: &'a Pipeline,
    env: &'a BTreeMap<String, String>,
    run: &'a pipeline::RunFacts,
    connection: &'a Connection,
}

/// Refuses to resume when what the journal's run had started is no longer what the pipeline
/// file, the environment or the servers say.
fn check_resumed(replay: &journal::Replay, now: &Resumed<'_>) -> Result<(), CommandError> {
    let urls: BTreeMap<String, String> = now
        .connection
        .clients
        .iter()
        .map(|(name, client)| (name.clone(), client.base_url().to_string()))
        .collect();
    journal::check_steps(
        replay,
        &journal::Resumed {
            journal: now.journal,
            pipeline: now.pipeline,
            env: now.env,
            run: now.run,
            urls: &urls,
        },
    )
    .map_err(CommandError::invalid)
}

/// Runs the pipeline with its progress and summary, and writes the report files.
fn execute(
    args: &RunArgs,
    pipeline: Arc<Pipeline>,
    settings: RunSettings,
    run_facts: pipeline::RunFacts,
) -> Result<ExitStatus, CommandError> {
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
    let reporter = Arc::new(Reporter::new(progress, format).with_time_scale(settings.time.scale()));
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
        args.html.as_deref(),
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
                to_stderr(
                    "jrun: interrupted a third time, exiting now; builds may still be running\n",
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

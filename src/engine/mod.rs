//! Runs a pipeline: one scheduler over the step graph (list order and `parallel:` are sugar for
//! `needs`), each step started the moment its dependencies are done, polling with backoff,
//! per-step and whole-run timeouts and interrupts that stop what the run started, matrix
//! fail-fast, and an exit status from the steps' outcomes.

mod follow;
pub mod journal;
mod outcome;
mod poll;
pub mod preflight;
mod reads;
pub mod servers;
mod step;
pub mod time;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use crate::report::{FailureKind, StepOutcome};
pub use outcome::{JobCache, STOP_BUDGET, Signal, Stop};
pub use preflight::nearest;
pub use time::PipelineTime;

use crate::exit::ExitStatus;
use crate::jenkins::Client;
use crate::pipeline::{Condition, DEFAULT_SERVER, Pipeline, RenderContext, RunFacts, StepFacts};
use crate::report::{self, Event, Reporter, RunStatus, StepStatus, StepSummary, Summary};

pub struct RunSettings {
    /// How many steps may run at once.
    pub max_parallel: Option<usize>,
    /// Deadline for the whole run, in pipeline time.
    pub timeout: Option<Duration>,
    pub time: PipelineTime,
    pub env: BTreeMap<String, String>,
    /// One client per server, by the names steps use (`default` for the `jenkins:` block).
    pub clients: BTreeMap<String, Client>,
    /// Which steps run (`--only`, `--from`); `None` runs them all.
    pub selected: Option<Vec<bool>>,
    /// Whether an interrupt cancels the queue items and stops the builds the run started.
    pub cancel_on_interrupt: bool,
    /// Job definitions already read (by the preflight), shared by the steps.
    pub jobs: Arc<JobCache>,
    /// Where every event goes, for `jrun resume`.
    pub journal: Option<Arc<journal::Journal>>,
    /// The journal of an interrupted run this run finishes.
    pub resume: Option<journal::Replay>,
    /// Stream the console log of every build the run waits for (`--follow`).
    pub follow: bool,
}

pub struct RunOutcome {
    pub summary: Summary,
    pub status: ExitStatus,
}

/// What the scheduler knows of a step that is done.
struct Done {
    result: StepOutcome,
    /// Whether dependents see this step as a success (a failure with `continue_on_failure`
    /// counts as one; a skip inherits its dependencies' state).
    ok: bool,
    counts: bool,
}

impl Done {
    /// A step that fails before anything is sent to Jenkins: a bad `if:` expression, a
    /// journal that cannot be written.
    fn refused(reporter: &Reporter, step: &crate::pipeline::Step, message: String) -> Done {
        reporter.event(Event::Finished {
            step: &step.id,
            status: StepStatus::Failed,
            result: None,
            number: None,
            duration_ms: 0,
            message: Some(&message),
        });
        Done {
            result: StepOutcome {
                status: StepStatus::Failed,
                failure: Some(FailureKind::Invalid),
                message: Some(message),
                ..StepOutcome::new()
            },
            ok: step.continue_on_failure,
            counts: !step.continue_on_failure,
        }
    }
}

pub fn run_facts() -> RunFacts {
    let now = SystemTime::now();
    let stamp = report::time::rfc3339(now, false);
    let compact: String = stamp
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    RunFacts {
        id: format!("{compact}-{:04x}", fastrand::u16(..)),
        started_at: stamp,
    }
}

fn server_of(pipeline: &Pipeline, index: usize) -> String {
    pipeline.steps[index]
        .server
        .clone()
        .unwrap_or_else(|| DEFAULT_SERVER.to_string())
}

/// Runs the pipeline. `signals` carries an interrupt from outside (SIGINT, SIGTERM).
pub async fn run(
    pipeline: Arc<Pipeline>,
    settings: RunSettings,
    reporter: Arc<Reporter>,
    run: RunFacts,
    mut signals: watch::Receiver<Option<Stop>>,
) -> RunOutcome {
    let begun = Instant::now();
    let count = pipeline.steps.len();
    reporter.event(Event::RunStarted {
        pipeline: &pipeline.name,
        steps: count,
    });
    let permits = Arc::new(Semaphore::new(
        settings
            .max_parallel
            .unwrap_or(Semaphore::MAX_PERMITS)
            .clamp(1, Semaphore::MAX_PERMITS),
    ));
    // A matrix's `max_parallel` caps its own cells, inside the run's cap.
    let mut group_permits: HashMap<String, Arc<Semaphore>> = HashMap::new();
    for step in &pipeline.steps {
        if let Some(cell) = &step.matrix
            && let Some(max) = cell.max_parallel
        {
            group_permits
                .entry(cell.group.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(max.max(1))));
        }
    }
    let run_deadline = settings.timeout.map(|t| settings.time.after(t));
    let mut done: Vec<Option<Done>> = (0..count).map(|_| None).collect();
    let mut stops: Vec<Option<watch::Sender<Option<Stop>>>> = (0..count).map(|_| None).collect();
    let mut tasks = JoinSet::new();
    let mut task_index: HashMap<tokio::task::Id, usize> = HashMap::new();
    // What each running step has learnt of its build, for a run that cannot wait for it.
    let progress: Vec<Arc<std::sync::Mutex<outcome::Progress>>> =
        (0..count).map(|_| Arc::default()).collect();
    let mut failed_groups: HashSet<String> = HashSet::new();
    let mut attach: HashMap<usize, journal::StepReplay> = HashMap::new();
    let build_reads = Arc::new(reads::BuildReads::default());
    if let Some(replay) = &settings.resume {
        for (index, step) in pipeline.steps.iter().enumerate() {
            let Some(state) = replay.steps.get(&step.id) else {
                continue;
            };
            match &state.outcome {
                // An interrupt cancelled what it had started: that step runs again.
                Some(outcome) if outcome.failure == Some(FailureKind::Interrupted) => {}
                Some(outcome) => {
                    let result = outcome.clone();
                    let passed = result.status == StepStatus::Passed;
                    let note = format!(
                        "finished before the interruption: {}",
                        result.status.as_str()
                    );
                    reporter.event(Event::Note {
                        step: Some(&step.id),
                        message: &note,
                    });
                    done[index] = Some(Done {
                        ok: passed || step.continue_on_failure,
                        counts: !step.continue_on_failure,
                        result,
                    });
                }
                None if state.triggered => {
                    attach.insert(index, state.clone());
                }
                None => {}
            }
        }
    }

    // Every job is read once before anything is triggered; a problem anywhere stops the run
    // before it starts, with every problem listed.
    // The run's deadline and an interrupt bound the preflight too: nothing was started yet,
    // so nothing needs stopping.
    let base = render_context(&pipeline, &settings.env, &run, &done);
    let preflight = preflight::check(
        &pipeline,
        &settings.clients,
        &base,
        settings.selected.as_deref(),
        &settings.jobs,
    );
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let mut stopped: Option<Stop> = None;
    let checked = tokio::select! {
        checked = preflight => Some(checked),
        _ = tokio::time::sleep_until(run_deadline.unwrap_or(far)), if run_deadline.is_some() => {
            stopped = Some(Stop::RunTimeout);
            None
        }
        stop = first_signal(&mut signals) => {
            stopped = Some(stop);
            None
        }
    };
    if let Some(stop) = stopped {
        reporter.event(Event::Note {
            step: None,
            message: match stop {
                Stop::RunTimeout => "the run's --timeout was reached before any job was triggered",
                _ => "interrupted before any job was triggered",
            },
        });
    }
    // When the run began stopping what it started (run timeout or interrupt).
    let mut stopping_since: Option<Instant> = stopped.map(|_| Instant::now());
    let mut signalled = matches!(stopped, Some(Stop::Interrupt(_)));
    let mut signals_closed = false;
    let refused: Option<(BTreeMap<usize, String>, FailureKind, &str)> = match checked {
        None => None,
        Some(Ok(problems)) if problems.is_empty() => None,
        Some(Ok(problems)) => {
            let mut by_step: BTreeMap<usize, String> = BTreeMap::new();
            for problem in problems {
                by_step
                    .entry(problem.step)
                    .and_modify(|m| {
                        m.push('\n');
                        m.push_str(&problem.message);
                    })
                    .or_insert(problem.message);
            }
            Some((
                by_step,
                FailureKind::Invalid,
                "not run: problems were found before anything was triggered",
            ))
        }
        Some(Err((step, error))) => Some((
            BTreeMap::from([(step, error.to_string())]),
            FailureKind::Jenkins,
            "not run: Jenkins could not be used",
        )),
    };
    if let Some((failed, failure, reason)) = refused {
        for (index, step) in pipeline.steps.iter().enumerate() {
            let result = match failed.get(&index) {
                Some(message) => {
                    reporter.event(Event::Finished {
                        step: &step.id,
                        status: StepStatus::Failed,
                        result: None,
                        number: None,
                        duration_ms: 0,
                        message: Some(message),
                    });
                    StepOutcome {
                        status: StepStatus::Failed,
                        failure: Some(failure),
                        message: Some(message.clone()),
                        ..skipped_result()
                    }
                }
                None => {
                    reporter.event(Event::Skipped {
                        step: &step.id,
                        reason,
                    });
                    StepOutcome {
                        message: Some(reason.to_string()),
                        ..skipped_result()
                    }
                }
            };
            done[index] = Some(Done {
                result,
                ok: false,
                counts: true,
            });
        }
    }

    loop {
        // Start or skip every step whose dependencies are done, until nothing changes.
        let mut changed = true;
        while changed {
            changed = false;
            for index in 0..count {
                if done[index].is_some() || stops[index].is_some() {
                    continue;
                }
                let step = &pipeline.steps[index];
                if !step.needs.iter().all(|d| done[*d].is_some()) {
                    continue;
                }
                changed = true;
                let deps_ok = step
                    .needs
                    .iter()
                    .all(|d| done[*d].as_ref().is_some_and(|x| x.ok));
                let failed_dep = step
                    .needs
                    .iter()
                    .find(|d| done[**d].as_ref().is_some_and(|x| !x.ok))
                    .map(|d| pipeline.steps[*d].id.clone());
                let selected = settings.selected.as_ref().is_none_or(|s| s[index]);
                // An `if:` expression that cannot be rendered, or renders neither true nor false.
                let mut invalid: Option<String> = None;
                let reason = if let Some(stop) = stopped {
                    Some(match stop {
                        Stop::RunTimeout => "the run's --timeout was reached".to_string(),
                        _ => "the run was interrupted".to_string(),
                    })
                } else if !selected {
                    Some("not selected (--only / --from)".to_string())
                } else if step
                    .matrix
                    .as_ref()
                    .is_some_and(|c| c.fail_fast && failed_groups.contains(&c.group))
                {
                    Some("a sibling cell failed (fail_fast)".to_string())
                } else {
                    match &step.condition {
                        Condition::OnSuccess if !deps_ok => Some(format!(
                            "`{}` did not succeed",
                            failed_dep.unwrap_or_default()
                        )),
                        Condition::OnFailure if deps_ok => {
                            Some("nothing it needs failed (if: on_failure)".to_string())
                        }
                        Condition::Expr(template) => {
                            let ctx = render_context(&pipeline, &settings.env, &run, &done)
                                .for_step(step);
                            let verdict = template
                                .render(&ctx)
                                .map_err(|e| e.to_string())
                                .and_then(|text| {
                                    Condition::truth(&text)
                                        .map_err(|e| format!("{}: {e}", template.field()))
                                });
                            match verdict {
                                Ok(true) => None,
                                Ok(false) => Some("its `if` expression is false".to_string()),
                                Err(message) => {
                                    invalid = Some(message);
                                    None
                                }
                            }
                        }
                        _ => None,
                    }
                };
                if let Some(message) = invalid {
                    done[index] = Some(Done::refused(&reporter, step, message));
                    continue;
                }
                if let Some(reason) = reason {
                    reporter.event(Event::Skipped {
                        step: &step.id,
                        reason: &reason,
                    });
                    // A step left out of a partial run stands in as a success for the rest.
                    let ok = (deps_ok || !selected) && stopped.is_none();
                    let result = StepOutcome {
                        status: StepStatus::Skipped,
                        message: Some(reason),
                        ..skipped_result()
                    };
                    done[index] = Some(Done {
                        result,
                        ok,
                        counts: false,
                    });
                    continue;
                }
                let server = server_of(&pipeline, index);
                let Some(client) = settings.clients.get(&server).cloned() else {
                    // Resolved servers cover every name the pipeline uses; this is a bug guard.
                    let message = format!("no client for server `{server}`");
                    done[index] = Some(Done::refused(&reporter, step, message));
                    continue;
                };
                if let Some(journal) = &settings.journal
                    && let Err(e) = journal.record(&journal::Record::StepStarted {
                        step: step.id.clone(),
                        server: Some(server.clone()),
                        url: Some(client.base_url().to_string()),
                    })
                {
                    done[index] = Some(Done::refused(&reporter, step, e.to_string()));
                    continue;
                }
                let (stop_tx, stop_rx) = watch::channel(None);
                stops[index] = Some(stop_tx);
                let ctx = step::StepContext {
                    pipeline: pipeline.clone(),
                    index,
                    client,
                    server,
                    jobs: settings.jobs.clone(),
                    cancel_on_interrupt: settings.cancel_on_interrupt,
                    follow: settings.follow,
                    journal: settings.journal.clone(),
                    attach: attach.remove(&index),
                    attempt: 0,
                    reads: build_reads.clone(),
                    reporter: reporter.clone(),
                    time: settings.time.clone(),
                    render: render_context(&pipeline, &settings.env, &run, &done).for_step(step),
                    stop: stop_rx,
                    progress: progress[index].clone(),
                };
                let permits = permits.clone();
                let group = step
                    .matrix
                    .as_ref()
                    .and_then(|c| group_permits.get(&c.group).cloned());
                let handle = tasks.spawn(async move {
                    let group = match group {
                        Some(g) => g.acquire_owned().await.ok(),
                        None => None,
                    };
                    let permit = permits.acquire_owned().await.ok();
                    // The permits go back with the result and are released once the
                    // scheduler has acted on it, so a fail_fast stop reaches the cells
                    // waiting for them before they can start.
                    (step::run(ctx).await, (group, permit))
                });
                task_index.insert(handle.id(), index);
            }
        }
        if tasks.is_empty() {
            break;
        }
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let stop_now = |stops: &[Option<watch::Sender<Option<Stop>>>], stop: Stop| {
            for sender in stops.iter().flatten() {
                let _ = sender.send(Some(stop));
            }
        };
        tokio::select! {
            joined = tasks.join_next_with_id() => {
                let Some(joined) = joined else { continue };
                let (id, result, held) = match joined {
                    Ok((id, (result, held))) => (id, result, Some(held)),
                    Err(e) => {
                        let id = e.id();
                        let mut result = skipped_result();
                        result.status = StepStatus::Failed;
                        result.failure = Some(FailureKind::Jenkins);
                        result.message = Some(format!("internal error: {e}"));
                        (id, result, None)
                    }
                };
                let Some(index) = task_index.remove(&id) else { continue };
                stops[index] = None;
                let step = &pipeline.steps[index];
                if result.status == StepStatus::Skipped {
                    // Stopped while it waited for a permit: it started nothing.
                    reporter.event(Event::Skipped {
                        step: &step.id,
                        reason: result.message.as_deref().unwrap_or_default(),
                    });
                } else {
                    reporter.event(Event::Finished {
                        step: &step.id,
                        status: result.status,
                        result: result.result.as_deref(),
                        number: result.number,
                        duration_ms: result.duration_ms,
                        message: result.message.as_deref(),
                    });
                }
                let passed = result.status == StepStatus::Passed;
                // A build that may still be queued or running (left so by an interrupt, or
                // Jenkins did not confirm its stop) is re-attached on resume, not finished.
                let left_running = result.status == StepStatus::Interrupted
                    || (result.failure == Some(FailureKind::Interrupted)
                        && !settings.cancel_on_interrupt);
                if let Some(journal) = &settings.journal
                    && !left_running
                {
                    let _ = journal.record(&journal::Record::Finished {
                        step: step.id.clone(),
                        outcome: result.clone(),
                    });
                }
                if !passed
                    && !step.continue_on_failure
                    && stopped.is_none()
                    && let Some(cell) = &step.matrix
                    && cell.fail_fast
                    && failed_groups.insert(cell.group.clone())
                {
                    for sibling in pipeline.cells(&cell.group) {
                        if let Some(sender) = &stops[sibling] {
                            let _ = sender.send(Some(Stop::FailFast));
                        }
                    }
                }
                drop(held);
                done[index] = Some(Done {
                    ok: passed || step.continue_on_failure,
                    counts: !step.continue_on_failure,
                    result,
                });
            }
            _ = tokio::time::sleep_until(run_deadline.unwrap_or(far)), if run_deadline.is_some() && stopped.is_none() => {
                stopped = Some(Stop::RunTimeout);
                stopping_since.get_or_insert_with(Instant::now);
                stop_now(&stops, Stop::RunTimeout);
                reporter.event(Event::Note {
                    step: None,
                    message: "the run's --timeout was reached: stopping the builds it started",
                });
            }
            // Every step bounds its own stopping by the stop budget; this bounds the run even
            // if one did not.
            _ = tokio::time::sleep_until(stopping_since.map_or(far, |t| t + STOP_BUDGET + ABANDON_GRACE)), if stopping_since.is_some() => {
                abandon(&mut Abandon {
                    tasks: &mut tasks,
                    task_index: &mut task_index,
                    done: &mut done,
                    progress: &progress,
                    pipeline: &pipeline,
                    reporter: &reporter,
                    message: "jrun stopped waiting for Jenkins to confirm its stop; the queue item or build may still be there",
                });
                break;
            }
            changed = signals.changed(), if !signals_closed => {
                let signal = match changed {
                    Ok(()) => *signals.borrow_and_update(),
                    Err(_) => {
                        signals_closed = true;
                        None
                    }
                };
                let Some(stop) = signal else { continue };
                if signalled {
                    // A second interrupt: leave now, with the report of where things stand.
                    reporter.event(Event::Note {
                        step: None,
                        message: "interrupted again: exiting now; builds may still be queued or running",
                    });
                    abandon(&mut Abandon {
                        tasks: &mut tasks,
                        task_index: &mut task_index,
                        done: &mut done,
                        progress: &progress,
                        pipeline: &pipeline,
                        reporter: &reporter,
                        message: "interrupted again: jrun exited without waiting for Jenkins; the queue item or build may still be there",
                    });
                    stopped = Some(stop);
                    break;
                }
                signalled = true;
                stopped = Some(stop);
                stopping_since.get_or_insert_with(Instant::now);
                stop_now(&stops, stop);
                let message = if settings.cancel_on_interrupt {
                    "interrupted: cancelling the queue items and stopping the builds this run started (interrupt again to exit at once)"
                } else {
                    "interrupted: leaving the builds this run started running in Jenkins"
                };
                reporter.event(Event::Note { step: None, message });
            }
        }
    }

    let mut status = ExitStatus::Success;
    for entry in done.iter().flatten() {
        if entry.counts
            && let Some(failure) = entry.result.failure
        {
            status = status.worst(match failure {
                FailureKind::Result => ExitStatus::Failed,
                FailureKind::Timeout => ExitStatus::Timeout,
                FailureKind::Jenkins => ExitStatus::Jenkins,
                FailureKind::Invalid => ExitStatus::InvalidInput,
                FailureKind::Interrupted => ExitStatus::Interrupted,
                // The build may have run: the pipeline did not pass, and a person must look.
                FailureKind::Ambiguous | FailureKind::Lost => ExitStatus::Failed,
            });
        }
    }
    match stopped {
        Some(Stop::RunTimeout) => status = status.worst(ExitStatus::Timeout),
        Some(Stop::Interrupt(Signal::Int)) => status = ExitStatus::Interrupted,
        Some(Stop::Interrupt(Signal::Term)) => status = ExitStatus::Terminated,
        _ => {}
    }
    if let Some(journal) = &settings.journal
        && !matches!(stopped, Some(Stop::Interrupt(_)))
    {
        let _ = journal.record(&journal::Record::RunFinished {
            exit_code: status.code(),
        });
    }
    let steps = pipeline
        .steps
        .iter()
        .zip(done)
        .enumerate()
        .map(|(index, (step, entry))| {
            let result = entry.map(|e| e.result).unwrap_or_else(skipped_result);
            StepSummary::new(step.id.clone(), server_of(&pipeline, index), result)
        })
        .collect();
    let summary = Summary {
        pipeline: pipeline.name.clone(),
        status: if status == ExitStatus::Success {
            RunStatus::Passed
        } else {
            RunStatus::Failed
        },
        exit_code: status.code(),
        started_at: run.started_at.clone(),
        duration_ms: settings.time.pipeline_duration(begun.elapsed()).as_millis() as u64,
        steps,
    };
    RunOutcome { summary, status }
}

/// The first interrupt, however long it takes to come.
async fn first_signal(signals: &mut watch::Receiver<Option<Stop>>) -> Stop {
    loop {
        if let Some(stop) = *signals.borrow_and_update() {
            return stop;
        }
        if signals.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The permits a running step holds: its matrix group's and the run's.
type Held = (
    Option<tokio::sync::OwnedSemaphorePermit>,
    Option<tokio::sync::OwnedSemaphorePermit>,
);

/// How long past the stop budget the run waits for its steps before it leaves them.
const ABANDON_GRACE: Duration = Duration::from_secs(5);

/// What `abandon` needs of the scheduler.
struct Abandon<'a> {
    tasks: &'a mut JoinSet<(StepOutcome, Held)>,
    task_index: &'a mut HashMap<tokio::task::Id, usize>,
    done: &'a mut [Option<Done>],
    progress: &'a [Arc<std::sync::Mutex<outcome::Progress>>],
    pipeline: &'a Pipeline,
    reporter: &'a Reporter,
    message: &'static str,
}

/// Stops waiting for the running steps: each ends `interrupted` with what it knew of its
/// build, and is not journaled as finished, so `jrun resume` re-attaches to it.
fn abandon(run: &mut Abandon<'_>) {
    run.tasks.abort_all();
    for (_, index) in run.task_index.drain() {
        let seen = run.progress[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let step = &run.pipeline.steps[index];
        let result = StepOutcome {
            status: StepStatus::Interrupted,
            failure: Some(FailureKind::Interrupted),
            job: seen.job,
            queue_id: seen.queue_id,
            number: seen.number,
            url: seen.url,
            attempts: seen.attempt,
            message: Some(run.message.to_string()),
            ..StepOutcome::new()
        };
        run.reporter.event(Event::Finished {
            step: &step.id,
            status: result.status,
            result: None,
            number: result.number,
            duration_ms: 0,
            message: result.message.as_deref(),
        });
        run.done[index] = Some(Done {
            result,
            ok: false,
            counts: true,
        });
    }
}

fn skipped_result() -> StepOutcome {
    StepOutcome {
        status: StepStatus::Skipped,
        ..StepOutcome::new()
    }
}

fn render_context(
    pipeline: &Pipeline,
    env: &BTreeMap<String, String>,
    run: &RunFacts,
    done: &[Option<Done>],
) -> RenderContext {
    let steps = pipeline
        .steps
        .iter()
        .zip(done)
        .filter_map(|(step, entry)| {
            let result = &entry.as_ref()?.result;
            Some((
                step.id.clone(),
                StepFacts {
                    number: result.number,
                    url: result.url.clone(),
                    result: result.result.clone(),
                    duration_ms: result.build_duration_ms,
                    queue_id: result.queue_id,
                },
            ))
        })
        .collect();
    RenderContext {
        vars: pipeline.vars.clone(),
        env: env.clone(),
        steps,
        matrix: BTreeMap::new(),
        run: run.clone(),
        pipeline_name: pipeline.name.clone(),
    }
}

//! Runs a pipeline: one scheduler over the step graph (list order and `parallel:` are sugar for
//! `needs`), each step started the moment its dependencies are done, polling with backoff,
//! per-step and whole-run timeouts that stop what the run started, and an exit status from the
//! steps' outcomes.

mod poll;
pub mod servers;
mod step;
pub mod time;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use step::{Failure, StepResult, Stop, nearest};
pub use time::PipelineTime;

use crate::exit::ExitStatus;
use crate::jenkins::Client;
use crate::pipeline::{Condition, Pipeline, RenderContext, RunFacts, StepFacts};
use crate::report::{self, Event, Reporter, RunStatus, StepStatus, StepSummary, Summary};

pub struct RunSettings {
    /// How many steps may run at once.
    pub max_parallel: Option<usize>,
    /// Deadline for the whole run, in pipeline time.
    pub timeout: Option<Duration>,
    pub time: PipelineTime,
    pub env: BTreeMap<String, String>,
    /// The name the summary gives the server ("default").
    pub server: String,
}

pub struct RunOutcome {
    pub summary: Summary,
    pub status: ExitStatus,
}

/// What the scheduler knows of a step that is done.
struct Done {
    result: StepResult,
    /// Whether dependents see this step as a success (a failure with `continue_on_failure`
    /// counts as one; a skip inherits its dependencies' state).
    ok: bool,
    counts: bool,
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

pub async fn run(
    pipeline: Arc<Pipeline>,
    client: Client,
    settings: RunSettings,
    reporter: Arc<Reporter>,
    run: RunFacts,
) -> RunOutcome {
    let begun = Instant::now();
    let count = pipeline.steps.len();
    reporter.event(Event::RunStarted {
        pipeline: &pipeline.name,
        steps: count,
    });
    let (stop_tx, stop_rx) = watch::channel(None);
    let permits = Arc::new(Semaphore::new(
        settings
            .max_parallel
            .unwrap_or(Semaphore::MAX_PERMITS)
            .clamp(1, Semaphore::MAX_PERMITS),
    ));
    let run_deadline = settings.timeout.map(|t| settings.time.after(t));
    let mut done: Vec<Option<Done>> = (0..count).map(|_| None).collect();
    let mut running = vec![false; count];
    let mut tasks = JoinSet::new();
    let mut task_index: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut stopped: Option<Stop> = None;

    loop {
        // Start or skip every step whose dependencies are done, until nothing changes.
        let mut changed = true;
        while changed {
            changed = false;
            for index in 0..count {
                if done[index].is_some() || running[index] {
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
                // An `if:` expression that cannot be rendered, or renders neither true nor false.
                let mut invalid: Option<String> = None;
                let reason = if stopped.is_some() {
                    Some("the run's --timeout was reached".to_string())
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
                    reporter.event(Event::Finished {
                        step: &step.id,
                        status: StepStatus::Failed,
                        result: None,
                        number: None,
                        duration_ms: 0,
                        message: Some(&message),
                    });
                    let result = StepResult {
                        status: StepStatus::Failed,
                        failure: Some(Failure::Invalid),
                        message: Some(message),
                        ..skipped_result()
                    };
                    done[index] = Some(Done {
                        result,
                        ok: step.continue_on_failure,
                        counts: !step.continue_on_failure,
                    });
                    continue;
                }
                if let Some(reason) = reason {
                    reporter.event(Event::Skipped {
                        step: &step.id,
                        reason: &reason,
                    });
                    let result = StepResult {
                        status: StepStatus::Skipped,
                        message: Some(reason),
                        ..skipped_result()
                    };
                    done[index] = Some(Done {
                        result,
                        ok: deps_ok && stopped.is_none(),
                        counts: false,
                    });
                    continue;
                }
                running[index] = true;
                let ctx = step::StepContext {
                    pipeline: pipeline.clone(),
                    index,
                    client: client.clone(),
                    reporter: reporter.clone(),
                    time: settings.time.clone(),
                    render: render_context(&pipeline, &settings.env, &run, &done).for_step(step),
                    stop: stop_rx.clone(),
                };
                let permits = permits.clone();
                let handle = tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    step::run(ctx).await
                });
                task_index.insert(handle.id(), index);
            }
        }
        if tasks.is_empty() {
            break;
        }
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        tokio::select! {
            joined = tasks.join_next_with_id() => {
                let Some(joined) = joined else { continue };
                let (id, result) = match joined {
                    Ok((id, result)) => (id, result),
                    Err(e) => {
                        let id = e.id();
                        let mut result = skipped_result();
                        result.status = StepStatus::Failed;
                        result.failure = Some(Failure::Jenkins);
                        result.message = Some(format!("internal error: {e}"));
                        (id, result)
                    }
                };
                let Some(index) = task_index.remove(&id) else { continue };
                running[index] = false;
                let step = &pipeline.steps[index];
                reporter.event(Event::Finished {
                    step: &step.id,
                    status: result.status,
                    result: result.result.as_deref(),
                    number: result.number,
                    duration_ms: result.duration.as_millis() as u64,
                    message: result.message.as_deref(),
                });
                let passed = result.status == StepStatus::Passed;
                done[index] = Some(Done {
                    ok: passed || step.continue_on_failure,
                    counts: !step.continue_on_failure,
                    result,
                });
            }
            _ = tokio::time::sleep_until(run_deadline.unwrap_or(far)), if run_deadline.is_some() && stopped.is_none() => {
                stopped = Some(Stop::RunTimeout);
                let _ = stop_tx.send(Some(Stop::RunTimeout));
                reporter.event(Event::Note {
                    step: None,
                    message: "the run's --timeout was reached: stopping the builds it started",
                });
            }
        }
    }

    let mut status = ExitStatus::Success;
    for entry in done.iter().flatten() {
        if entry.counts
            && let Some(failure) = entry.result.failure
        {
            status = status.worst(match failure {
                Failure::Result => ExitStatus::Failed,
                Failure::Timeout => ExitStatus::Timeout,
                Failure::Jenkins => ExitStatus::Jenkins,
                Failure::Invalid => ExitStatus::InvalidInput,
            });
        }
    }
    if stopped == Some(Stop::RunTimeout) {
        status = status.worst(ExitStatus::Timeout);
    }
    let steps = pipeline
        .steps
        .iter()
        .zip(done)
        .map(|(step, entry)| {
            let result = entry.map(|e| e.result).unwrap_or_else(skipped_result);
            StepSummary {
                id: step.id.clone(),
                job: result.job,
                server: settings.server.clone(),
                status: result.status,
                result: result.result,
                number: result.number,
                url: result.url,
                queue_id: result.queue_id,
                attempts: result.attempts,
                duration_ms: result.duration.as_millis() as u64,
                message: result.message,
            }
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

fn skipped_result() -> StepResult {
    StepResult {
        status: StepStatus::Skipped,
        failure: None,
        job: None,
        result: None,
        number: None,
        url: None,
        queue_id: None,
        attempts: 0,
        duration: Duration::ZERO,
        build_duration_ms: None,
        message: None,
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

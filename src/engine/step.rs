//! One step from start to result: render, check the job, trigger, follow the queue item to the
//! build this run started, poll the build until Jenkins says it is done; or, for an `await:`
//! gate, poll another job's last build until it has the wanted result.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::poll::{Delays, QUEUE_POLL_CEILING};
use super::time::PipelineTime;
use crate::jenkins::{self, Client, QueueState};
use crate::pipeline::{AwaitStep, JobStep, Pipeline, RenderContext, ResultName, StepKind};
use crate::report::{Event, Reporter, StepStatus};

/// Why the whole run is stopping what it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    RunTimeout,
}

/// Why a step did not pass, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The build ended with a result the step did not expect (or was cancelled, or lost).
    Result,
    /// A step or run timeout.
    Timeout,
    /// Jenkins could not be used.
    Jenkins,
    /// The pipeline asked for something impossible: unknown job or parameter, bad template.
    Invalid,
}

#[derive(Debug, Clone)]
pub struct StepResult {
    pub status: StepStatus,
    pub failure: Option<Failure>,
    pub job: Option<String>,
    pub result: Option<String>,
    pub number: Option<u64>,
    pub url: Option<String>,
    pub queue_id: Option<u64>,
    pub attempts: u32,
    /// Step wall time, trigger to result, in pipeline time.
    pub duration: Duration,
    /// The build's own duration as Jenkins reports it.
    pub build_duration_ms: Option<u64>,
    pub message: Option<String>,
}

impl StepResult {
    fn new() -> StepResult {
        StepResult {
            status: StepStatus::Passed,
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

    fn fail(mut self, status: StepStatus, failure: Failure, message: impl Into<String>) -> Self {
        self.status = status;
        self.failure = Some(failure);
        self.message = Some(message.into());
        self
    }
}

pub struct StepContext {
    pub pipeline: Arc<Pipeline>,
    pub index: usize,
    pub client: Client,
    pub reporter: Arc<Reporter>,
    pub time: PipelineTime,
    pub render: RenderContext,
    pub stop: watch::Receiver<Option<Stop>>,
}

/// What interrupted a wait.
enum Interrupt {
    Stop(Stop),
    Deadline,
    Jenkins(jenkins::Error),
}

impl StepContext {
    fn id(&self) -> &str {
        &self.pipeline.steps[self.index].id
    }

    fn event(&self, event: Event<'_>) {
        self.reporter.event(event);
    }

    async fn stopped(&mut self) -> Stop {
        loop {
            if let Some(stop) = *self.stop.borrow_and_update() {
                return stop;
            }
            if self.stop.changed().await.is_err() {
                // Nobody can stop the run any more.
                std::future::pending::<()>().await;
            }
        }
    }

    /// A request bounded by `deadline` and by the run being stopped.
    async fn read<T>(
        &mut self,
        deadline: Option<Instant>,
        request: impl Future<Output = Result<T, jenkins::Error>>,
    ) -> Result<T, Interrupt> {
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let deadline = deadline.unwrap_or(far);
        tokio::select! {
            result = request => result.map_err(Interrupt::Jenkins),
            _ = tokio::time::sleep_until(deadline) => Err(Interrupt::Deadline),
            stop = self.stopped() => Err(Interrupt::Stop(stop)),
        }
    }

    /// Sleeps `delay` of pipeline time, but not past `deadline`.
    async fn pause(&mut self, delay: Duration, deadline: Option<Instant>) -> Result<(), Interrupt> {
        let mut wake = self.time.after(delay);
        if let Some(deadline) = deadline {
            wake = wake.min(deadline);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => Ok(()),
            stop = self.stopped() => Err(Interrupt::Stop(stop)),
        }
    }

    fn render(&self, template: &crate::pipeline::Template) -> Result<String, String> {
        template.render(&self.render).map_err(|e| e.to_string())
    }

    /// `file:line:column: ` of a value in the pipeline file, so that a job or parameter
    /// Jenkins does not know is reported where the user wrote it.
    fn place(&self, template: &crate::pipeline::Template) -> String {
        let mut text = self.pipeline.file.display().to_string();
        if let Some(line) = template.line() {
            text.push_str(&format!(":{line}"));
            if let Some(column) = template.column() {
                text.push_str(&format!(":{column}"));
            }
        }
        text.push_str(": ");
        text
    }
}

pub async fn run(mut ctx: StepContext) -> StepResult {
    let begun = Instant::now();
    let pipeline = ctx.pipeline.clone();
    let step = &pipeline.steps[ctx.index];
    let mut result = match &step.kind {
        StepKind::Job(job) => run_job(&mut ctx, job).await,
        StepKind::Await(gate) => run_await(&mut ctx, gate).await,
    };
    result.duration = ctx.time.pipeline_duration(begun.elapsed());
    result
}

fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn jenkins_failure(result: StepResult, error: &jenkins::Error) -> StepResult {
    let failure = match error {
        jenkins::Error::NotFound { .. } => Failure::Invalid,
        _ => Failure::Jenkins,
    };
    result.fail(StepStatus::Failed, failure, error.to_string())
}

fn stop_status(stop: Stop) -> (StepStatus, Failure, &'static str) {
    match stop {
        Stop::RunTimeout => (
            StepStatus::TimedOut,
            Failure::Timeout,
            "the run's --timeout was reached",
        ),
    }
}

async fn run_job(ctx: &mut StepContext, step: &JobStep) -> StepResult {
    let mut result = StepResult::new();
    let job = match ctx.render(&step.job) {
        Ok(job) => job,
        Err(e) => return result.fail(StepStatus::Failed, Failure::Invalid, e),
    };
    result.job = Some(job.clone());
    let mut params = Vec::with_capacity(step.params.len());
    for (name, template) in &step.params {
        match ctx.render(template) {
            Ok(value) => params.push((name.clone(), value)),
            Err(e) => return result.fail(StepStatus::Failed, Failure::Invalid, e),
        }
    }
    let token = match step.token.as_ref().map(|t| ctx.render(t)).transpose() {
        Ok(token) => token,
        Err(e) => return result.fail(StepStatus::Failed, Failure::Invalid, e),
    };
    let build_deadline = step.timeout.map(|t| ctx.time.after(t));
    let queue_deadline = min_deadline(Some(ctx.time.after(step.queue_timeout)), build_deadline);

    let client = ctx.client.clone();
    let info = match ctx.read(build_deadline, client.job(&job)).await {
        Ok(info) => info,
        Err(Interrupt::Jenkins(jenkins::Error::NotFound { .. })) => {
            let message = format!(
                "{}job `{job}` does not exist on {} (check its full name; folders are separated by /)",
                ctx.place(&step.job),
                client.base_url()
            );
            return result.fail(StepStatus::Failed, Failure::Invalid, message);
        }
        Err(interrupt) => return interrupted(ctx, result, interrupt, step.timeout),
    };
    if !info.buildable {
        let message = format!(
            "{}job `{job}` is disabled in Jenkins, so it cannot be triggered",
            ctx.place(&step.job)
        );
        return result.fail(StepStatus::Failed, Failure::Invalid, message);
    }
    if let Err((index, message)) = check_params(&job, &info, &params) {
        let message = format!("{}{message}", ctx.place(&step.params[index].1));
        return result.fail(StepStatus::Failed, Failure::Invalid, message);
    }

    result.attempts = 1;
    let parameterized = !info.parameters.is_empty();
    // A trigger in flight is never abandoned: its outcome must be known to avoid a double build.
    let triggered = match client
        .trigger(&job, &params, parameterized, token.as_deref())
        .await
    {
        Ok(t) => t,
        Err(e) => return jenkins_failure(result, &e),
    };
    let queue_id = triggered.queue_id;
    result.queue_id = Some(queue_id);
    ctx.event(Event::Queued {
        step: ctx.id(),
        job: &job,
        queue_id,
    });
    if triggered.folded {
        ctx.event(Event::Note {
            step: Some(ctx.id()),
            message: "Jenkins merged this trigger into an identical queued item",
        });
    }

    let (number, url) = match follow_queue(ctx, &job, queue_id, step, queue_deadline).await {
        Ok(started) => started,
        Err(failed) => {
            let mut failed = *failed;
            failed.job = result.job;
            failed.queue_id = result.queue_id;
            failed.attempts = result.attempts;
            return failed;
        }
    };
    result.number = Some(number);
    result.url = Some(url.clone());
    if !step.wait {
        ctx.event(Event::Started {
            step: ctx.id(),
            number,
            url: &url,
            estimated_ms: None,
        });
        result.message = Some("not waited for (wait: false)".to_string());
        return result;
    }
    poll_build(ctx, result, &job, number, &url, step, build_deadline).await
}

/// Every parameter given must be one the job defines, and choice values among its choices.
/// An error names the index of the offending parameter.
fn check_params(
    job: &str,
    info: &jenkins::Job,
    params: &[(String, String)],
) -> Result<(), (usize, String)> {
    for (index, (name, value)) in params.iter().enumerate() {
        let Some(def) = info.parameters.iter().find(|p| &p.name == name) else {
            let known: Vec<&str> = info.parameters.iter().map(|p| p.name.as_str()).collect();
            if known.is_empty() {
                return Err((
                    index,
                    format!("job `{job}` takes no parameters, but the step gives `{name}`"),
                ));
            }
            let hint = nearest(name, &known)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            return Err((
                index,
                format!(
                    "job `{job}` has no parameter `{name}`{hint}; it defines: {}",
                    known.join(", ")
                ),
            ));
        };
        if !def.choices.is_empty() && !def.choices.iter().any(|c| c == value) {
            return Err((
                index,
                format!(
                    "parameter `{name}` of job `{job}` is a choice of {}, not `{value}`",
                    def.choices.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn without_numbers(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// The closest name by edit distance, if it is close enough to be a likely typo.
pub fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = if ca.eq_ignore_ascii_case(cb) {
                    prev
                } else {
                    1 + prev.min(row[j]).min(row[j + 1])
                };
                prev = cur;
            }
        }
        row[b.len()]
    }
    known
        .iter()
        .map(|k| (distance(name, k), *k))
        .filter(|(d, k)| *d <= (k.chars().count() / 3).max(2))
        .min()
        .map(|(_, k)| k)
}

/// Follows the queue item to its build; never guesses with `lastBuild`.
async fn follow_queue(
    ctx: &mut StepContext,
    job: &str,
    queue_id: u64,
    step: &JobStep,
    deadline: Option<Instant>,
) -> Result<(u64, String), Box<StepResult>> {
    let poll = &step.poll;
    let mut delays = Delays::new(poll.initial, poll.max.min(QUEUE_POLL_CEILING), poll.factor);
    let mut last_why: Option<String> = None;
    let mut misses = 0;
    let client = ctx.client.clone();
    loop {
        match ctx.read(deadline, client.queue_item(queue_id)).await {
            Ok(item) => match item.state {
                QueueState::Started { number, url } => return Ok((number, url)),
                QueueState::Cancelled => {
                    let result = StepResult {
                        result: Some("CANCELLED".to_string()),
                        ..StepResult::new()
                    };
                    return Err(Box::new(result.fail(
                        StepStatus::Cancelled,
                        Failure::Result,
                        format!("queue item {queue_id} was cancelled in Jenkins"),
                    )));
                }
                QueueState::Waiting { why, .. } => {
                    // "Expires in 4.9 sec" and "Expires in 2.9 sec" are one state, not two.
                    let shape = why.as_deref().map(without_numbers);
                    if why.is_some() && shape != last_why {
                        let text = why.clone().unwrap_or_default();
                        ctx.event(Event::Waiting {
                            step: ctx.id(),
                            why: &text,
                        });
                        last_why = shape;
                    }
                }
                // Jenkins creates the build just after the item leaves: keep looking.
                QueueState::LeftWithoutBuild => {}
            },
            Err(Interrupt::Jenkins(jenkins::Error::NotFound { .. })) => {
                // The item expired or Jenkins restarted: the build knows its queue id.
                match ctx
                    .read(deadline, client.find_build_by_queue_id(job, queue_id))
                    .await
                {
                    Ok(Some(build)) => return Ok((build.number, build.url)),
                    Ok(None) => {
                        misses += 1;
                        if misses >= 3 {
                            return Err(Box::new(StepResult::new().fail(
                                StepStatus::Failed,
                                Failure::Result,
                                format!(
                                    "lost: queue item {queue_id} vanished and no build of `{job}` has that queue id"
                                ),
                            )));
                        }
                    }
                    Err(interrupt) => {
                        return Err(Box::new(
                            stop_queued(ctx, job, queue_id, interrupt, step).await,
                        ));
                    }
                }
            }
            Err(interrupt) => {
                return Err(Box::new(
                    stop_queued(ctx, job, queue_id, interrupt, step).await,
                ));
            }
        }
        if let Err(interrupt) = ctx.pause(delays.next_delay(), deadline).await {
            return Err(Box::new(
                stop_queued(ctx, job, queue_id, interrupt, step).await,
            ));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Box::new(
                stop_queued(ctx, job, queue_id, Interrupt::Deadline, step).await,
            ));
        }
    }
}

/// A timeout or stop while queued: cancel the item this run created, and stop its build if it
/// started in the meantime.
async fn stop_queued(
    ctx: &mut StepContext,
    job: &str,
    queue_id: u64,
    interrupt: Interrupt,
    step: &JobStep,
) -> StepResult {
    let (status, failure, message) = match interrupt {
        Interrupt::Jenkins(e) => return jenkins_failure(StepResult::new(), &e),
        Interrupt::Stop(stop) => {
            let (status, failure, text) = stop_status(stop);
            (status, failure, text.to_string())
        }
        Interrupt::Deadline => (
            StepStatus::TimedOut,
            Failure::Timeout,
            match step.timeout {
                Some(t) if t < step.queue_timeout => {
                    format!(
                        "still queued when its timeout of {} ran out",
                        crate::duration::Dur(t)
                    )
                }
                _ => format!(
                    "still queued after its queue_timeout of {}",
                    crate::duration::Dur(step.queue_timeout)
                ),
            },
        ),
    };
    let client = ctx.client.clone();
    let _ = client.cancel_queue_item(queue_id).await;
    let mut result = StepResult::new();
    if let Ok(item) = client.queue_item(queue_id).await
        && let QueueState::Started { number, url } = item.state
    {
        let _ = client.stop(job, number).await;
        result.number = Some(number);
        result.url = Some(url);
    }
    result.fail(status, failure, message)
}

async fn poll_build(
    ctx: &mut StepContext,
    mut result: StepResult,
    job: &str,
    number: u64,
    url: &str,
    step: &JobStep,
    deadline: Option<Instant>,
) -> StepResult {
    let poll = &step.poll;
    let mut delays = Delays::new(poll.initial, poll.max, poll.factor);
    let client = ctx.client.clone();
    let mut announced = false;
    loop {
        let interrupt = match ctx.read(deadline, client.build(job, number)).await {
            Ok(build) => {
                if !announced {
                    ctx.event(Event::Started {
                        step: ctx.id(),
                        number,
                        url,
                        estimated_ms: build.estimated_duration_ms,
                    });
                    announced = true;
                }
                if !build.building {
                    return finish(result, &build, &step.expect);
                }
                match ctx.pause(delays.next_delay(), deadline).await {
                    Ok(()) if deadline.is_some_and(|d| Instant::now() >= d) => Interrupt::Deadline,
                    Ok(()) => continue,
                    Err(interrupt) => interrupt,
                }
            }
            Err(Interrupt::Jenkins(jenkins::Error::NotFound { .. })) => {
                return result.fail(
                    StepStatus::Failed,
                    Failure::Result,
                    format!(
                        "lost: build #{number} of `{job}` was deleted while jrun waited for it"
                    ),
                );
            }
            Err(interrupt) => interrupt,
        };
        return match interrupt {
            Interrupt::Jenkins(e) => jenkins_failure(result, &e),
            Interrupt::Stop(stop) => {
                let (status, failure, message) = stop_status(stop);
                abort_build(ctx, &mut result, job, number).await;
                result.fail(status, failure, message)
            }
            Interrupt::Deadline => {
                abort_build(ctx, &mut result, job, number).await;
                let limit = step.timeout.map(crate::duration::Dur).unwrap_or_default();
                result.fail(
                    StepStatus::TimedOut,
                    Failure::Timeout,
                    format!("build #{number} ran past its timeout of {limit}; jrun stopped it"),
                )
            }
        };
    }
}

/// Stops a build this run started and waits, bounded, until Jenkins shows it ended, so the
/// summary reports its real result.
async fn abort_build(ctx: &mut StepContext, result: &mut StepResult, job: &str, number: u64) {
    let client = ctx.client.clone();
    let _ = client.stop(job, number).await;
    let limit = Instant::now() + Duration::from_secs(30);
    let mut delays = Delays::new(Duration::from_millis(100), Duration::from_secs(2), 2.0);
    while Instant::now() < limit {
        if let Ok(Ok(build)) = tokio::time::timeout_at(limit, client.build(job, number)).await
            && !build.building
        {
            result.result = build.result.clone();
            result.build_duration_ms = u64::try_from(build.duration_ms).ok();
            return;
        }
        let wake = (Instant::now() + ctx.time.real_duration(delays.next_delay())).min(limit);
        tokio::time::sleep_until(wake).await;
    }
}

fn finish(mut result: StepResult, build: &jenkins::Build, expect: &[ResultName]) -> StepResult {
    result.build_duration_ms = u64::try_from(build.duration_ms).ok();
    let Some(name) = build.result.clone() else {
        return result.fail(
            StepStatus::Failed,
            Failure::Jenkins,
            format!(
                "Jenkins reports build #{} as finished but gives no result",
                build.number
            ),
        );
    };
    result.result = Some(name.clone());
    if expect.iter().any(|e| e.as_str() == name) {
        result
    } else {
        let wanted: Vec<&str> = expect.iter().map(|e| e.as_str()).collect();
        result.fail(
            StepStatus::Failed,
            Failure::Result,
            format!("ended {name}, expected {}", wanted.join(" or ")),
        )
    }
}

fn interrupted(
    _ctx: &StepContext,
    result: StepResult,
    interrupt: Interrupt,
    timeout: Option<Duration>,
) -> StepResult {
    match interrupt {
        Interrupt::Jenkins(e) => jenkins_failure(result, &e),
        Interrupt::Stop(stop) => {
            let (status, failure, message) = stop_status(stop);
            result.fail(status, failure, message)
        }
        Interrupt::Deadline => result.fail(
            StepStatus::TimedOut,
            Failure::Timeout,
            format!(
                "timeout of {} reached before the build was triggered",
                crate::duration::Dur(timeout.unwrap_or_default())
            ),
        ),
    }
}

async fn run_await(ctx: &mut StepContext, gate: &AwaitStep) -> StepResult {
    let mut result = StepResult::new();
    let job = match ctx.render(&gate.job) {
        Ok(job) => job,
        Err(e) => return result.fail(StepStatus::Failed, Failure::Invalid, e),
    };
    result.job = Some(job.clone());
    let deadline = Some(ctx.time.after(gate.timeout));
    let client = ctx.client.clone();
    match ctx.read(deadline, client.job(&job)).await {
        Ok(_) => {}
        Err(Interrupt::Jenkins(jenkins::Error::NotFound { .. })) => {
            let message = format!(
                "{}job `{job}` does not exist on {} (check its full name; folders are separated by /)",
                ctx.place(&gate.job),
                client.base_url()
            );
            return result.fail(StepStatus::Failed, Failure::Invalid, message);
        }
        Err(interrupt) => return interrupted(ctx, result, interrupt, Some(gate.timeout)),
    }
    let wanted: Vec<&str> = gate.results.iter().map(|r| r.as_str()).collect();
    let mut delays = Delays::new(gate.poll.initial, gate.poll.max, gate.poll.factor);
    let mut last_state = String::new();
    loop {
        let interrupt = match ctx
            .read(deadline, client.permalink(&job, "lastBuild"))
            .await
        {
            Ok(build) => {
                let state = match &build {
                    None => format!("`{job}` has no builds yet"),
                    Some(b) if b.building => {
                        format!("last build #{} of `{job}` is running", b.number)
                    }
                    Some(b) => {
                        let name = b.result.clone().unwrap_or_default();
                        let end = b.timestamp_ms + b.duration_ms;
                        let age_ms = ctx.time.server_now_ms() - end;
                        let fresh = gate
                            .newer_than
                            .is_none_or(|limit| age_ms <= limit.as_millis() as i64);
                        if wanted.contains(&name.as_str()) && fresh {
                            result.result = Some(name);
                            result.number = Some(b.number);
                            result.url = Some(b.url.clone());
                            result.queue_id = b.queue_id;
                            result.build_duration_ms = u64::try_from(b.duration_ms).ok();
                            return result;
                        }
                        if wanted.contains(&name.as_str()) {
                            format!(
                                "last build #{} of `{job}` is {name} but older than {}",
                                b.number,
                                crate::duration::Dur(gate.newer_than.unwrap_or_default())
                            )
                        } else {
                            format!(
                                "last build #{} of `{job}` is {name}; waiting for {}",
                                b.number,
                                wanted.join(" or ")
                            )
                        }
                    }
                };
                if state != last_state {
                    ctx.event(Event::Waiting {
                        step: ctx.id(),
                        why: &state,
                    });
                    last_state = state;
                }
                match ctx.pause(delays.next_delay(), deadline).await {
                    Ok(()) if deadline.is_some_and(|d| Instant::now() >= d) => Interrupt::Deadline,
                    Ok(()) => continue,
                    Err(interrupt) => interrupt,
                }
            }
            Err(interrupt) => interrupt,
        };
        return match interrupt {
            Interrupt::Deadline => result.fail(
                StepStatus::TimedOut,
                Failure::Timeout,
                format!(
                    "gave up after {}: {last_state}",
                    crate::duration::Dur(gate.timeout)
                ),
            ),
            other => interrupted(ctx, result, other, Some(gate.timeout)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested_and_far_ones_are_not() {
        let known = ["VERSION", "REGION", "DRY_RUN"];
        assert_eq!(nearest("VERSOIN", &known), Some("VERSION"));
        assert_eq!(nearest("region", &known), Some("REGION"));
        assert_eq!(nearest("COLOUR", &known), None);
    }
}

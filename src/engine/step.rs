//! One step from start to result: render, check the job, trigger, follow the queue item to the
//! build this run started, poll the build until Jenkins says it is done; or, for an `await:`
//! gate, poll another job's last build until it has the wanted result.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::journal::{Journal, Record, StepReplay};
use super::outcome::{JobCache, Progress, STOP_BUDGET, Signal, Stop, missing_job};
use super::poll::{
    Delays, Overrun, QUEUE_POLL_CEILING, Steps, due_offsets, even_gaps, first_look, typical_ms,
};
use super::preflight::param_problems;
use super::time::PipelineTime;
use crate::jenkins::{self, Client, QueueState};
use crate::pipeline::{
    AwaitBuild, AwaitStep, BranchScan, JobStep, Pipeline, RenderContext, ResultName, Retry,
    RetryOn, StepKind,
};
use crate::report::{
    AttemptTimes, Event, FailureKind, Reporter, StepOutcome, StepStatus, StepTimes,
};

/// The first look at a queue item comes this soon after its trigger: most items leave the
/// queue at once, and the sooner jrun sees its build start, the closer to its end it reads it.
const FIRST_QUEUE_LOOK: Duration = Duration::from_millis(50);

/// Builds that are due together are read spread over up to this much time, not in one burst:
/// a millisecond for each build followed on the same server.
const DUE_SPREAD_MS: u64 = 50;

pub struct StepContext {
    pub pipeline: Arc<Pipeline>,
    pub index: usize,
    pub client: Client,
    pub server: String,
    pub jobs: Arc<JobCache>,
    /// Whether an interrupt cancels the queue items and stops the builds it started.
    pub cancel_on_interrupt: bool,
    /// Stream the console log of the builds it waits for (`--follow`).
    pub follow: bool,
    pub journal: Option<Arc<Journal>>,
    /// Where an interrupted run left this step, when resuming it.
    /// Boxed: rare, and a step's context lives as long as the step.
    pub attach: Option<Box<StepReplay>>,
    /// Folds the reads of builds of one job that are due together.
    pub reads: Arc<super::reads::BuildReads>,
    pub reporter: Arc<Reporter>,
    pub time: PipelineTime,
    pub render: RenderContext,
    pub stop: watch::Receiver<Option<Stop>>,
    /// What the step has learnt of its build so far, for a run that cannot wait for its end.
    pub progress: Arc<std::sync::Mutex<Progress>>,
    /// How a failed build is diagnosed.
    pub diagnose: super::diagnose::DiagnoseSettings,
    /// `--approve STEP[:INPUT]`: step ids and the capitalized input id (none: any input).
    pub approvals: Arc<Vec<(String, Option<String>)>>,
    /// When the run began: the step's times are recorded from it.
    pub run_begun: Instant,
}

/// What ended a wait before its answer.
pub(super) enum WaitEnded {
    Stop(Stop),
    Deadline,
    Jenkins(jenkins::Error),
}

impl StepContext {
    pub(super) fn id(&self) -> &str {
        &self.pipeline.steps[self.index].id
    }

    pub(super) fn event(&self, event: Event<'_>) {
        // Said before the event whose URLs it explains, once per server.
        if let Some(message) = self.client.root_url_warning() {
            self.reporter.event(Event::Note {
                step: None,
                message: &message,
            });
        }
        self.reporter.event(event);
    }

    fn learnt(&self, update: impl FnOnce(&mut Progress)) {
        update(&mut self.progress.lock().unwrap_or_else(|e| e.into_inner()));
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
    pub(super) async fn read<T>(
        &mut self,
        deadline: Option<Instant>,
        request: impl Future<Output = Result<T, jenkins::Error>>,
    ) -> Result<T, WaitEnded> {
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let deadline = deadline.unwrap_or(far);
        tokio::select! {
            result = request => result.map_err(WaitEnded::Jenkins),
            _ = tokio::time::sleep_until(deadline) => Err(WaitEnded::Deadline),
            stop = self.stopped() => Err(WaitEnded::Stop(stop)),
        }
    }

    /// Sleeps `delay` of pipeline time, but not past `deadline`.
    pub(super) async fn pause(
        &mut self,
        delay: Duration,
        deadline: Option<Instant>,
    ) -> Result<(), WaitEnded> {
        let mut wake = self.time.after(delay);
        if let Some(deadline) = deadline {
            wake = wake.min(deadline);
        }
        // A timer due now still waits for the timer wheel's next millisecond tick; a stop is
        // seen by the request that follows.
        if wake <= Instant::now() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => Ok(()),
            stop = self.stopped() => Err(WaitEnded::Stop(stop)),
        }
    }

    /// A template rendered with what the run knows now; an error says where it is written.
    pub(super) fn render(&self, template: &crate::pipeline::Template) -> Result<String, String> {
        template
            .render(&self.render)
            .map_err(|e| format!("{}{e}", self.place(template)))
    }

    /// Pipeline time from the start of the run to `at`, for the report's timeline.
    fn since_run(&self, at: Instant) -> u64 {
        let elapsed = at.saturating_duration_since(self.run_begun);
        self.time.pipeline_duration(elapsed).as_millis() as u64
    }

    /// `result` with the times of attempt `number` recorded: triggered at `triggered`, its
    /// build seen started at `seen` and ended at `ended`. Jenkins' own duration of the build,
    /// when known, places its start more closely than when jrun saw it.
    fn timed(
        &self,
        mut result: StepOutcome,
        number: u32,
        triggered: Instant,
        seen: Option<Instant>,
        ended: Instant,
    ) -> StepOutcome {
        let triggered_ms = self.since_run(triggered);
        let ended_ms = self.since_run(ended).max(triggered_ms);
        let started_ms = seen.map(|seen| {
            let seen = self.since_run(seen).clamp(triggered_ms, ended_ms);
            match result.build_duration_ms {
                Some(d) => match ended_ms.checked_sub(d) {
                    Some(start) if start >= triggered_ms => start,
                    _ => seen,
                },
                None => seen,
            }
        });
        let attempt = AttemptTimes {
            attempt: number,
            triggered_ms,
            started_ms,
            ended_ms,
            number: result.number,
            url: result.url.clone(),
            result: result.result.clone(),
        };
        result.times.get_or_insert_default().attempts.push(attempt);
        result
    }

    /// `file:line:column: ` of a value in the pipeline file, so that a job or parameter
    /// Jenkins does not know is reported where the user wrote it.
    pub(super) fn place(&self, template: &crate::pipeline::Template) -> String {
        super::preflight::place(&self.pipeline.file, template)
    }
}

/// Takes its context boxed: an async fn's arguments stay in its state beside the locals made
/// of them, for as long as the step runs.
pub async fn run(ctx: Box<StepContext>) -> StepOutcome {
    let mut ctx = ctx;
    let begun = Instant::now();
    let pipeline = ctx.pipeline.clone();
    let step = &pipeline.steps[ctx.index];
    // A step that was still waiting for a permit (`max_parallel`) when the run was told to
    // stop must start nothing: a fail_fast matrix does not start its other cells, and a
    // timeout or an interrupt triggers no new build. One being resumed has a build to settle.
    let stopped = *ctx.stop.borrow();
    if let Some(stop) = stopped
        && ctx.attach.is_none()
    {
        // One skipped by an interrupt is marked so, so that a resumed run runs it.
        let failure = matches!(stop, Stop::Interrupt(_)).then_some(FailureKind::Interrupted);
        return StepOutcome {
            status: StepStatus::Skipped,
            failure,
            message: Some(stop.skip_reason().to_string()),
            ..StepOutcome::new()
        };
    }
    let mut result = match &step.kind {
        StepKind::Job(job) => run_job(&mut ctx, job).await,
        StepKind::Await(gate) => Box::pin(run_await(&mut ctx, gate)).await,
    };
    let ended = Instant::now();
    result.duration_ms = ctx.time.pipeline_duration(ended - begun).as_millis() as u64;
    let times = result.times.get_or_insert_default();
    times.began_ms = ctx.since_run(begun);
    times.ended_ms = ctx.since_run(ended).max(times.began_ms);
    result
}

fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(super) fn jenkins_failure(mut result: StepOutcome, error: &jenkins::Error) -> StepOutcome {
    let failure = match error {
        jenkins::Error::NotFound { .. } => FailureKind::Invalid,
        jenkins::Error::Ambiguous { candidates } => {
            result.candidates = candidates.clone();
            FailureKind::Ambiguous
        }
        _ => FailureKind::Jenkins,
    };
    result.fail(StepStatus::Failed, failure, error.to_string())
}

pub(super) fn stop_status(stop: Stop) -> (StepStatus, FailureKind, &'static str) {
    match stop {
        Stop::RunTimeout => (
            StepStatus::TimedOut,
            FailureKind::Timeout,
            "the run's --timeout was reached",
        ),
        Stop::Interrupt(Signal::Int) => (
            StepStatus::Cancelled,
            FailureKind::Interrupted,
            "interrupted (SIGINT)",
        ),
        Stop::Interrupt(Signal::Term) => (
            StepStatus::Cancelled,
            FailureKind::Interrupted,
            "stopped (SIGTERM)",
        ),
        Stop::FailFast => (
            StepStatus::Cancelled,
            FailureKind::Result,
            "stopped because a sibling cell failed (fail_fast)",
        ),
    }
}

impl StepContext {
    /// Writes a journal record before the next action; a journal that cannot be written stops
    /// the step, since a resume could then not know what it did.
    pub(super) fn journal(&self, record: Record) -> Result<(), String> {
        match &self.journal {
            Some(journal) => journal.record(&record).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// Jenkins' clock: exact against the in-process sandbox, else from its `Date` answers.
    pub(super) fn server_now_ms(&self) -> i64 {
        self.time
            .exact_server_now_ms()
            .or_else(|| self.client.server_time_ms())
            .unwrap_or_else(|| self.time.server_now_ms())
    }

    /// Whether a stop should take back what this step started in Jenkins.
    fn cancels(&self, stop: Stop) -> bool {
        !matches!(stop, Stop::Interrupt(_)) || self.cancel_on_interrupt
    }

    /// How long cancelling and stopping what this step started may take in all: requests and
    /// waiting for Jenkins to confirm. A server silent for its `unreachable_timeout` is
    /// unreachable, so waiting longer for it would not help.
    fn stop_budget(&self) -> Duration {
        STOP_BUDGET.min(self.client.settings().unreachable_timeout)
    }

    pub(super) fn stop_deadline(&self) -> Instant {
        Instant::now() + self.stop_budget()
    }

    /// The job's definition, read once per run.
    pub(super) async fn job_info(
        &mut self,
        job: &str,
        deadline: Option<Instant>,
    ) -> Result<jenkins::Job, WaitEnded> {
        if let Some(info) = self.jobs.get(&self.server, job) {
            return Ok(info);
        }
        let client = self.client.clone();
        let info = self.read(deadline, client.job(job)).await?;
        self.jobs.insert(&self.server, job, info.clone());
        Ok(info)
    }
}

/// What every attempt of a job step sends, once its templates are rendered and its job was
/// found fit to trigger.
struct Prepared {
    job: String,
    params: Vec<(String, String)>,
    parameterized: bool,
    token: Option<String>,
    estimate: Option<i64>,
    recent: Vec<i64>,
    /// The outcome every attempt starts from.
    result: StepOutcome,
}

async fn run_job(ctx: &mut StepContext, step: &JobStep) -> StepOutcome {
    // Boxed: what it reads and checks before the first trigger is not kept while the step
    // waits for its build, nor is its definition of the job.
    let mut prepared = match Box::pin(prepare_job(ctx, step)).await {
        Ok(prepared) => prepared,
        Err(failed) => return failed,
    };
    let attempt = Attempt {
        job: &prepared.job,
        params: &prepared.params,
        parameterized: prepared.parameterized,
        token: prepared.token.as_deref(),
        estimate: prepared.estimate,
        recent: &prepared.recent,
    };
    let retry = &step.retry;
    // Resuming: what the interrupted run already did is not done again, on its attempt only.
    let mut attached = ctx.attach.take();
    let mut number = attached.as_ref().map_or(0, |a| a.attempt.saturating_sub(1));
    let mut times = Vec::new();
    loop {
        number += 1;
        let mut outcome = attempt_build(
            ctx,
            step,
            &attempt,
            number,
            attached.take(),
            &prepared.result,
        )
        .await;
        // Only the first attempt follows the build a scan started; a retry is triggered.
        prepared.result.adopted = false;
        outcome.attempts = number;
        times.extend(outcome.times.take().map(|t| t.attempts).unwrap_or_default());
        outcome.times = Some(StepTimes {
            attempts: times.clone(),
            ..StepTimes::default()
        });
        if !retryable(&outcome, retry) || number > retry.max {
            if number > 1 && outcome.status != StepStatus::Passed {
                let note = format!("after {number} attempts");
                outcome.message = Some(match outcome.message.take() {
                    Some(m) => format!("{m} ({note})"),
                    None => note,
                });
            }
            return outcome;
        }
        let note = format!(
            "attempt {number} {}; retrying in {} (attempt {} of {})",
            attempt_ended(&outcome),
            crate::duration::Dur(retry.delay),
            number + 1,
            retry.max + 1
        );
        ctx.event(Event::Note {
            step: Some(ctx.id()),
            message: &note,
        });
        if let Err(WaitEnded::Stop(stop)) = ctx.pause(retry.delay, None).await {
            let (status, failure, message) = stop_status(stop);
            return outcome.fail(status, failure, message);
        }
    }
}

/// Renders the step's templates and checks its job before the first trigger.
async fn prepare_job(ctx: &mut StepContext, step: &JobStep) -> Result<Box<Prepared>, StepOutcome> {
    let mut result = StepOutcome::new();
    let job = match ctx.render(&step.job) {
        Ok(job) => job,
        Err(e) => return Err(result.fail(StepStatus::Failed, FailureKind::Invalid, e)),
    };
    result.job = Some(job.clone());
    let mut params = Vec::with_capacity(step.params.len());
    for (name, template) in &step.params {
        match ctx.render(template) {
            Ok(value) => params.push((name.clone(), value)),
            Err(e) => return Err(result.fail(StepStatus::Failed, FailureKind::Invalid, e)),
        }
    }
    let token = match step.token.as_ref().map(|t| ctx.render(t)).transpose() {
        Ok(token) => token,
        Err(e) => return Err(result.fail(StepStatus::Failed, FailureKind::Invalid, e)),
    };
    let build_deadline = step.timeout.map(|t| ctx.time.after(t));

    let client = ctx.client.clone();
    let info = match Box::pin(ctx.job_info(&job, build_deadline)).await {
        Ok(info) => info,
        Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. }))
            if step.branch_scan == BranchScan::Auto && ctx.attach.is_none() =>
        {
            match Box::pin(super::branch::appear(ctx, step, &job, &params, &result)).await {
                Ok(appeared) => {
                    if appeared.adopted.is_some() {
                        ctx.attach = appeared.adopted.map(Box::new);
                    }
                    appeared.info
                }
                Err(failed) => return Err(failed),
            }
        }
        Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => {
            let message = missing_job(&ctx.place(&step.job), &job, &client);
            return Err(result.fail(StepStatus::Failed, FailureKind::Invalid, message));
        }
        Err(interrupt) => return Err(interrupted(ctx, result, interrupt, step.timeout)),
    };
    // A build a scan started was not triggered with the step's parameters: they were
    // compared when it was adopted, and the job may not define them before it ran.
    let adopted = ctx.attach.as_ref().is_some_and(|a| a.adopted);
    result.adopted = adopted;
    if info.is_folder() {
        let message = format!(
            "{}`{job}` is a folder in Jenkins, not a job: name a job inside it (folders are separated by /)",
            ctx.place(&step.job)
        );
        return Err(result.fail(StepStatus::Failed, FailureKind::Invalid, message));
    }
    if !info.buildable {
        let message = format!(
            "{}job `{job}` is disabled in Jenkins, so it cannot be triggered",
            ctx.place(&step.job)
        );
        return Err(result.fail(StepStatus::Failed, FailureKind::Invalid, message));
    }
    let given: Vec<(&str, Option<&str>)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), Some(v.as_str())))
        .collect();
    if let Some((index, message)) = param_problems(&job, &info, &given, step.trigger_id.as_deref())
        .into_iter()
        .find(|_| !adopted)
    {
        let template = index.map_or(&step.job, |i| &step.params[i].1);
        let message = format!("{}{message}", ctx.place(template));
        return Err(result.fail(StepStatus::Failed, FailureKind::Invalid, message));
    }

    // An adopted build that got the step's parameters shows the job takes them, even when
    // its definition was read before that build registered them.
    let parameterized = !info.parameters.is_empty() || (adopted && !params.is_empty());
    Ok(Box::new(Prepared {
        job,
        params,
        parameterized,
        token,
        estimate: info.estimated_duration_ms,
        recent: info.recent_durations_ms,
        result,
    }))
}

/// Whether an attempt's end is one its step's `retry:` retries: a lost build, or a result
/// it names.
fn retryable(outcome: &StepOutcome, retry: &Retry) -> bool {
    outcome.status == StepStatus::Failed
        && match outcome.failure {
            Some(FailureKind::Lost) => retry.retries(RetryOn::Lost),
            Some(FailureKind::Output) => retry.retries(RetryOn::Output),
            Some(FailureKind::Result) => outcome
                .result
                .as_deref()
                .and_then(|r| r.parse::<ResultName>().ok())
                .is_some_and(|r| retry.retries(RetryOn::Result(r))),
            _ => false,
        }
}

/// How an attempt that is retried ended, for the note that says so.
fn attempt_ended(outcome: &StepOutcome) -> String {
    if outcome.failure == Some(FailureKind::Lost) {
        "was lost".to_string()
    } else if outcome.failure == Some(FailureKind::Output) {
        format!(
            "ended{}, but {}",
            outcome.number.map(|n| format!(" #{n}")).unwrap_or_default(),
            outcome
                .message
                .as_deref()
                .unwrap_or("what it reads could not be had")
        )
    } else {
        format!(
            "ended {}{}",
            outcome.result.as_deref().unwrap_or("?"),
            outcome.number.map(|n| format!(" #{n}")).unwrap_or_default()
        )
    }
}

/// What one trigger of a job step sends.
struct Attempt<'a> {
    job: &'a str,
    params: &'a [(String, String)],
    parameterized: bool,
    token: Option<&'a str>,
    /// How long Jenkins expects the build to take.
    estimate: Option<i64>,
    /// How long the job's recent successful builds took.
    recent: &'a [i64],
}

/// The build a queue item became.
struct StartedBuild {
    number: u64,
    url: String,
    /// Between which two instants the build started, when that is known.
    window: Option<(Instant, Instant)>,
    /// The build as the read that found it showed it, when that read showed it whole.
    seen: Option<jenkins::Build>,
    /// When the read that found it was sent.
    asked: Option<Instant>,
}

/// A trigger this run sent and Jenkins answered.
struct SentTrigger {
    queue_id: u64,
    /// When the trigger was sent, and when Jenkins' answer brackets the item's queueing.
    sent: (Instant, Option<Instant>),
    /// A stop that came while the trigger was in flight.
    stop: Option<Stop>,
}

/// One build of a job step: trigger, follow the queue item, wait for the result. `timeout`
/// and `queue_timeout` apply to each attempt. `number` is the attempt's number (1 for the
/// first build); `attached` is where an interrupted run left it, when resuming.
async fn attempt_build(
    ctx: &mut StepContext,
    step: &JobStep,
    attempt: &Attempt<'_>,
    number: u32,
    attached: Option<Box<StepReplay>>,
    base: &StepOutcome,
) -> StepOutcome {
    // Boxed: it is handed to the polling, which keeps it while the step waits.
    let mut result = Box::new(base.clone());
    let job = attempt.job;
    let build_deadline = step.timeout.map(|t| ctx.time.after(t));
    let params = attempt_params(ctx, step, attempt, attached.as_deref(), number);
    let attached_inputs = attached.as_ref().map(|a| a.inputs.clone());
    let triggered = Instant::now();
    // Boxed, like every phase of an attempt (see the polling below).
    let started = match Box::pin(reach_build(
        ctx,
        step,
        attempt,
        &params,
        number,
        attached,
        &mut result,
    ))
    .await
    {
        Ok(started) => started,
        Err(ended) => return ctx.timed(ended, number, triggered, None, Instant::now()),
    };
    let seen = Instant::now();
    let StartedBuild {
        number: build,
        url,
        window,
        seen: found,
        asked,
    } = started;
    result.number = Some(build);
    result.url = Some(url.clone());
    ctx.learnt(|p| {
        p.job = Some(job.to_string());
        p.attempt = number;
        p.queue_id = result.queue_id;
        p.number = Some(build);
        p.url = Some(url.clone());
    });
    ctx.event(Event::Started {
        step: ctx.id(),
        number: build,
        url: &url,
        estimated_ms: attempt.estimate,
    });
    let describing = describe(ctx, step, job, build);
    if !step.wait {
        super::outputs::described(describing).await;
        result.message = Some("not waited for (wait: false)".to_string());
        return ctx.timed(*result, number, triggered, Some(seen), seen);
    }
    let due = window.and_then(|window| due_reads(ctx, attempt, window, build));
    let follower = ctx.follow.then(|| {
        tokio::spawn(super::follow::follow(
            ctx.client.clone(),
            job.to_string(),
            build,
            ctx.id().to_string(),
            ctx.reporter.clone(),
            ctx.time.clone(),
        ))
    });
    let answered = attached_inputs.unwrap_or_default();
    let mut gate = super::input::Gate::new(number, answered);
    // Every phase of an attempt is boxed: a future keeps room for its largest state from the
    // start, and thousands of steps wait for their builds at once, each needing only the room
    // of its wait.
    let result = Box::pin(poll_build(
        ctx,
        result,
        job,
        build,
        step,
        build_deadline,
        due,
        (found, asked),
        &mut gate,
    ))
    .await;
    let ended = Instant::now();
    let ending = Ending {
        job,
        build,
        follower,
        describing,
    };
    let result = Box::pin(after_build(ctx, step, ending, result)).await;
    ctx.timed(result, number, triggered, Some(seen), ended)
}

/// What an attempt does once its build ended, before its step may end.
struct Ending<'a> {
    job: &'a str,
    build: u64,
    /// The console log being streamed (`--follow`).
    follower: Option<tokio::task::JoinHandle<()>>,
    /// The description being set.
    describing: Option<tokio::task::JoinHandle<()>>,
}

/// The console log's end, the diagnosis of a build that failed, the step's outputs and
/// artifacts, and the description: what an attempt does once its build ended, kept out of the
/// state of the thousands of steps still waiting for theirs.
async fn after_build(
    ctx: &mut StepContext,
    step: &JobStep,
    ending: Ending<'_>,
    mut result: StepOutcome,
) -> StepOutcome {
    let Ending {
        job,
        build,
        follower,
        describing,
    } = ending;
    if let Some(follower) = follower {
        Box::pin(super::follow::drain(follower, &ctx.time, &result)).await;
    }
    if super::diagnose::wanted(&result) {
        let pipeline = ctx
            .jobs
            .get(&ctx.server, job)
            .and_then(|j| super::diagnose::is_pipeline(&j.class));
        let found = Box::pin(super::diagnose::diagnose(
            &ctx.client,
            job,
            build,
            pipeline,
            ctx.diagnose,
            ctx.stop.clone(),
        ))
        .await;
        result.diagnosis = (!found.is_empty()).then_some(found);
    }
    let result = Box::pin(read_outputs(ctx, step, job, build, result)).await;
    let result = match &step.artifacts {
        // A build with a result has ended; one that was lost or not confirmed has not.
        Some(spec) if result.result.is_some() => {
            Box::pin(super::artifacts::download(ctx, spec, job, build, result)).await
        }
        _ => result,
    };
    super::outputs::described(describing).await;
    result
}

/// Sets the description in the background once the build has a number; a template that
/// cannot be rendered is a warning like a refusal.
fn describe(
    ctx: &StepContext,
    step: &JobStep,
    job: &str,
    number: u64,
) -> Option<tokio::task::JoinHandle<()>> {
    let template = step.description.as_ref()?;
    match ctx.render(template) {
        Ok(text) => Some(super::outputs::describe(
            ctx.client.clone(),
            job.to_string(),
            number,
            text,
            ctx.id().to_string(),
            ctx.reporter.clone(),
        )),
        Err(why) => {
            super::outputs::warn_description(&ctx.reporter, ctx.id(), number, &why);
            None
        }
    }
}

/// The step's outputs, once its build ended with an expected result; one that cannot be read
/// fails the step with kind `output`. Nothing is journaled before they are read, so a run that
/// dies here reads them again on resume.
async fn read_outputs(
    ctx: &mut StepContext,
    step: &JobStep,
    job: &str,
    number: u64,
    mut result: StepOutcome,
) -> StepOutcome {
    if result.status != StepStatus::Passed || step.outputs.is_empty() {
        return result;
    }
    if let Some(journal) = &ctx.journal {
        journal.checkpoint("build_ended");
    }
    let client = ctx.client.clone();
    let reading = super::outputs::read(&client, job, number, &step.outputs);
    match ctx.read(None, async { Ok(reading.await) }).await {
        Ok(Ok(values)) => {
            result.outputs = values;
            result
        }
        Ok(Err(why)) => result.fail(StepStatus::Failed, FailureKind::Output, why.to_string()),
        Err(WaitEnded::Stop(stop)) => {
            let (status, failure, message) = stop_status(stop);
            result.fail(
                status,
                failure,
                format!("{message} while its outputs were read"),
            )
        }
        Err(_) => result.fail(
            StepStatus::Failed,
            FailureKind::Output,
            "its outputs could not be read",
        ),
    }
}

/// This attempt's parameters: the step's, and a trigger id unique to this trigger. A trigger
/// that may already have been sent keeps the id it was sent with.
fn attempt_params(
    ctx: &StepContext,
    step: &JobStep,
    attempt: &Attempt<'_>,
    attached: Option<&StepReplay>,
    number: u32,
) -> Vec<(String, String)> {
    let mut params = attempt.params.to_vec();
    if let Some(name) = &step.trigger_id {
        let sent = attached
            .filter(|a| a.triggered)
            .and_then(|a| a.params.iter().find(|(n, _)| n == name))
            .map(|(_, v)| v.clone());
        let id = sent.unwrap_or_else(|| trigger_id(&ctx.render.run.id, ctx.id(), number));
        params.push((name.clone(), id));
    }
    params
}

fn journal_failure(result: StepOutcome, e: String) -> StepOutcome {
    result.fail(StepStatus::Failed, FailureKind::Invalid, e)
}

/// The build this attempt follows: the one an interrupted run recorded, or the one its
/// queue item becomes, triggering it unless the interrupted run already had.
async fn reach_build(
    ctx: &mut StepContext,
    step: &JobStep,
    attempt: &Attempt<'_>,
    params: &[(String, String)],
    number: u32,
    attached: Option<Box<StepReplay>>,
    result: &mut StepOutcome,
) -> Result<StartedBuild, StepOutcome> {
    let job = attempt.job;
    let mut known_queue = attached.as_ref().and_then(|a| a.queue_id);
    let known_build = attached.as_ref().and_then(|a| a.build.clone());
    if let Some(at) = attached
        .as_ref()
        .filter(|a| a.triggered && known_queue.is_none() && known_build.is_none())
    {
        known_queue = Box::pin(find_sent_trigger(
            ctx, step, attempt, params, at, number, result,
        ))
        .await?;
    }
    if let Some((build, url)) = known_build {
        result.queue_id = known_queue;
        return Box::pin(recheck_build(
            ctx,
            step,
            job,
            known_queue,
            build,
            url,
            result,
        ))
        .await;
    }
    let (queue_id, sent, stop) = match known_queue {
        Some(id) => (id, None, None),
        None => {
            let sent = Box::pin(send_trigger(ctx, step, attempt, params, number, result)).await?;
            (sent.queue_id, Some(sent.sent), sent.stop)
        }
    };
    result.queue_id = Some(queue_id);
    ctx.learnt(|p| {
        p.job = Some(job.to_string());
        p.attempt = number;
        p.queue_id = Some(queue_id);
        p.number = None;
        p.url = None;
    });
    ctx.event(Event::Queued {
        step: ctx.id(),
        job,
        queue_id,
    });
    let queue_deadline = min_deadline(
        Some(ctx.time.after(step.queue_timeout)),
        step.timeout.map(|t| ctx.time.after(t)),
    );
    let followed = match stop {
        Some(stop) => Err(Box::new(
            Box::pin(stop_queued(ctx, job, queue_id, WaitEnded::Stop(stop), step)).await,
        )),
        None => match sent.and_then(|sent| look_first_at(ctx, step, attempt, sent, queue_deadline))
        {
            Some((sent, at)) => {
                Box::pin(look_then_follow(
                    ctx,
                    job,
                    queue_id,
                    step,
                    queue_deadline,
                    sent,
                    at,
                ))
                .await
            }
            None => {
                Box::pin(follow_queue(
                    ctx,
                    job,
                    queue_id,
                    step,
                    queue_deadline,
                    sent,
                    None,
                ))
                .await
            }
        },
    };
    let started = followed.map_err(|failed| StepOutcome {
        job: result.job.clone(),
        queue_id: result.queue_id,
        ..*failed
    })?;
    let record = Record::Started {
        step: ctx.id().to_string(),
        attempt: number,
        number: started.number,
        url: started.url.clone(),
    };
    ctx.journal(record)
        .map_err(|e| journal_failure(result.clone(), e))?;
    Ok(started)
}

/// The trigger may have reached Jenkins before the crash: look for its queue item before
/// sending another.
async fn find_sent_trigger(
    ctx: &mut StepContext,
    step: &JobStep,
    attempt: &Attempt<'_>,
    params: &[(String, String)],
    at: &StepReplay,
    number: u32,
    result: &StepOutcome,
) -> Result<Option<u64>, StepOutcome> {
    let search = ctx.client.clone();
    let search = search.find_trigger(
        attempt.job,
        params,
        attempt.token,
        step.trigger_id.as_deref(),
        at.server_time_ms,
    );
    let found = match ctx.read(None, search).await {
        Ok(found) => found,
        Err(interrupt) => {
            // The trigger may have queued a build that nobody stops now.
            let mut stopped = interrupted(ctx, result.clone(), interrupt, step.timeout);
            stopped.status = unconfirmed_status(stopped.status);
            return Err(stopped);
        }
    };
    if let Some(id) = found {
        ctx.journal(Record::Queued {
            step: ctx.id().to_string(),
            attempt: number,
            queue_id: id,
        })
        .map_err(|e| journal_failure(result.clone(), e))?;
    }
    Ok(found)
}

/// A recorded build is trusted again only if Jenkins still shows it as what the recorded
/// queue item became (a deleted one is found lost by the polling).
async fn recheck_build(
    ctx: &mut StepContext,
    step: &JobStep,
    job: &str,
    queue_id: Option<u64>,
    number: u64,
    url: String,
    result: &StepOutcome,
) -> Result<StartedBuild, StepOutcome> {
    if let Some(queue_id) = queue_id {
        let check = ctx.client.clone();
        let check = check.build_of(job, number, queue_id);
        let build_deadline = step.timeout.map(|t| ctx.time.after(t));
        match ctx.read(build_deadline, check).await {
            Ok(_) | Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => {}
            Err(WaitEnded::Jenkins(e)) => return Err(jenkins_failure(result.clone(), &e)),
            Err(interrupt) => {
                let result = result.clone();
                return Err(stopped_build(ctx, result, job, number, step, interrupt).await);
            }
        }
    }
    Ok(StartedBuild {
        number,
        url,
        window: None,
        seen: None,
        asked: None,
    })
}

/// Sends the trigger, journaled before and after. A trigger in flight is not abandoned at a
/// stop: what it queued must be known to be taken back. Its answer is waited for within the
/// stop budget.
async fn send_trigger(
    ctx: &mut StepContext,
    step: &JobStep,
    attempt: &Attempt<'_>,
    params: &[(String, String)],
    number: u32,
    result: &StepOutcome,
) -> Result<SentTrigger, StepOutcome> {
    let client = ctx.client.clone();
    let job = attempt.job;
    ctx.journal(Record::TriggerSent {
        step: ctx.id().to_string(),
        attempt: number,
        job: job.to_string(),
        params: params.to_vec(),
        server_time_ms: client.server_time_ms(),
    })
    .map_err(|e| journal_failure(result.clone(), e))?;
    let sent_at = Instant::now();
    let triggering = client.trigger_with_id(
        job,
        params,
        attempt.parameterized,
        attempt.token,
        step.trigger_id.as_deref(),
    );
    tokio::pin!(triggering);
    let mut stop_after_trigger = None;
    let answer = tokio::select! {
        answer = &mut triggering => answer,
        stop = ctx.stopped() => {
            let limit = ctx.stop_deadline();
            match tokio::time::timeout_at(limit, &mut triggering).await {
                Ok(answer) => {
                    stop_after_trigger = Some(stop);
                    answer
                }
                Err(_) => {
                    let (status, failure, text) = stop_status(stop);
                    let message = format!(
                        "{text}; the trigger sent to Jenkins had no answer within {}, so a build may have been queued",
                        crate::duration::Dur(ctx.stop_budget())
                    );
                    return Err(result.clone().fail(unconfirmed_status(status), failure, message));
                }
            }
        }
    };
    let triggered = answer.map_err(|e| jenkins_failure(result.clone(), &e))?;
    if let Some(journal) = &ctx.journal {
        journal.checkpoint("trigger_answered");
    }
    ctx.journal(Record::Queued {
        step: ctx.id().to_string(),
        attempt: number,
        queue_id: triggered.queue_id,
    })
    .map_err(|e| journal_failure(result.clone(), e))?;
    // A merged item was queued before this trigger, and a recovered one at an unknown moment
    // of it: only a plain answer brackets when the item was queued.
    let answered = (!triggered.folded && !triggered.recovered).then(Instant::now);
    if triggered.folded {
        ctx.event(Event::Note {
            step: Some(ctx.id()),
            message: "Jenkins merged this trigger into an identical queued item",
        });
    }
    Ok(SentTrigger {
        queue_id: triggered.queue_id,
        sent: (sent_at, answered),
        stop: stop_after_trigger,
    })
}

/// When to read a build that started within `window`: when builds of its job usually end,
/// counted from its earliest start.
fn due_reads(
    ctx: &StepContext,
    attempt: &Attempt<'_>,
    (earliest, latest): (Instant, Instant),
    number: u64,
) -> Option<Due> {
    let window = ctx
        .time
        .pipeline_duration(latest.saturating_duration_since(earliest));
    let offsets = due_offsets(
        attempt.recent,
        attempt.estimate,
        i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
    );
    let offsets = match typical_ms(attempt.recent, attempt.estimate) {
        Some(typical) => even_gaps(&offsets, typical),
        None => offsets,
    };
    let plan = if offsets.is_empty() {
        "no estimate yet: reads back off from poll.initial".to_string()
    } else {
        let offsets: Vec<String> = offsets.iter().map(i64::to_string).collect();
        format!("read it {} ms after that", offsets.join(", "))
    };
    tracing::debug!(
        "{}: #{number} of {} started within {} ms; {plan}",
        ctx.id(),
        attempt.job,
        window.as_millis(),
    );
    let typical = attempt
        .estimate
        .or_else(|| offsets.last().copied())
        .unwrap_or(0);
    // Builds due together are read spread out a little, not in one burst; the more builds
    // the server runs for this run, the wider. One build alone is read on time.
    let crowd = ctx.reads.followed_on(&ctx.server) as u64;
    let spread = fastrand::u64(0..=crowd.min(DUE_SPREAD_MS));
    let reads: VecDeque<Instant> = offsets
        .iter()
        .map(|ms| {
            let after = Duration::from_millis((*ms).max(0).unsigned_abs() + spread);
            earliest + ctx.time.real_duration(after)
        })
        .collect();
    (!reads.is_empty()).then_some(Due {
        reads,
        estimate_ms: typical,
    })
}

/// A value no other trigger has: the run, the step, the attempt, and a random part for two
/// runs that started in the same second.
fn trigger_id(run_id: &str, step: &str, attempt: u32) -> String {
    format!("jrun-{run_id}-{step}-{attempt}-{:08x}", fastrand::u32(..))
}

fn without_numbers(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// How long, in pipeline time, jrun keeps looking for a build by its queue id once the queue
/// item answers 404 before naming one. Jenkins creates the build a moment after the item
/// leaves the queue, and a controller that forgets left items (a restart, a short retention)
/// answers 404 in between; a busy controller can take seconds there. Thirty seconds covers
/// that with a wide margin and still lets `retry: {on: [lost]}` act soon on a build that will
/// never exist. The step's deadline bounds it too.
const LOST_AFTER: Duration = Duration::from_secs(30);

/// Follows the queue item to its build; never guesses with `lastBuild`.
///
/// Besides the build, it tells between which two instants the build started, when that is
/// known: after the last answer that showed the item queued (or the trigger, when this run
/// sent it) and before the first that showed it running, narrowed by Jenkins' own record of
/// how long the item was queued when the trigger's answer brackets when it was queued.
async fn follow_queue(
    ctx: &mut StepContext,
    job: &str,
    queue_id: u64,
    step: &JobStep,
    deadline: Option<Instant>,
    sent: Option<(Instant, Option<Instant>)>,
    first_look: Option<Duration>,
) -> Result<StartedBuild, Box<StepOutcome>> {
    let poll = &step.poll;
    // Most items leave the queue within a second: the first look comes soon.
    let mut delays = Delays::new(
        poll.initial.min(FIRST_QUEUE_LOOK),
        poll.max.min(QUEUE_POLL_CEILING),
        poll.factor,
    );
    let mut last_why: Option<String> = None;
    // Since when neither the item nor a build with its queue id could be found.
    let mut missing_since: Option<Instant> = None;
    let client = ctx.client.clone();
    // The first look is not jittered: it decides how well the build's start is known.
    let mut wait_for: Option<Duration> =
        Some(first_look.unwrap_or(poll.initial.min(FIRST_QUEUE_LOOK)));
    // Since when the build may have started: the trigger, then the last answer that showed it
    // queued. Unknown when a resumed run follows an item it did not see queued.
    let mut queued_at = sent.map(|(at, _)| at);
    let ended = loop {
        if let Some(delay) = wait_for.take() {
            if let Err(interrupt) = ctx.pause(delay, deadline).await {
                break interrupt;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break WaitEnded::Deadline;
            }
        }
        let mut next = delays.next_delay();
        let asked = Instant::now();
        let answer = ctx
            .read(deadline, Box::pin(client.queue_item(queue_id)))
            .await;
        if answer.is_ok() {
            missing_since = None;
        }
        match answer {
            Ok(item) => match item.state {
                // It started between the previous answer and this one.
                QueueState::Started {
                    number,
                    url,
                    queued_for_ms,
                } => {
                    let window =
                        queued_at.map(|since| start_window(ctx, since, sent, queued_for_ms));
                    return Ok(StartedBuild {
                        number,
                        url,
                        window,
                        seen: None,
                        asked: Some(asked),
                    });
                }
                QueueState::Cancelled => {
                    let result = StepOutcome {
                        result: Some("CANCELLED".to_string()),
                        ..StepOutcome::new()
                    };
                    return Err(Box::new(result.fail(
                        StepStatus::Cancelled,
                        FailureKind::Result,
                        format!("queue item {queue_id} was cancelled in Jenkins"),
                    )));
                }
                QueueState::Waiting { why, due_ms, .. } => {
                    queued_at = Some(Instant::now());
                    next = quiet_wait(ctx, due_ms, next);
                    tell_why(ctx, why.as_deref(), &mut last_why);
                }
                // Jenkins creates the build just after the item leaves: keep looking.
                QueueState::LeftWithoutBuild => {}
            },
            Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => {
                // The item expired or Jenkins restarted: the build knows its queue id.
                match ctx
                    .read(
                        deadline,
                        Box::pin(client.find_build_by_queue_id(job, queue_id)),
                    )
                    .await
                {
                    Ok(Some(build)) => {
                        return Ok(StartedBuild {
                            number: build.number,
                            url: build.url,
                            window: None,
                            seen: None,
                            asked: None,
                        });
                    }
                    Ok(None) => {
                        let since = *missing_since.get_or_insert_with(Instant::now);
                        let missing = ctx.time.pipeline_duration(since.elapsed());
                        if missing >= LOST_AFTER {
                            return Err(Box::new(StepOutcome::new().fail(
                                StepStatus::Failed,
                                FailureKind::Lost,
                                format!(
                                    "lost: queue item {queue_id} vanished and no build of `{job}` has had that queue id for {} s",
                                    LOST_AFTER.as_secs()
                                ),
                            )));
                        }
                        // The last look comes when the time is up, not a backoff step later.
                        next = next.min(LOST_AFTER - missing);
                    }
                    Err(interrupt) => break interrupt,
                }
            }
            Err(interrupt) => break interrupt,
        }
        wait_for = Some(next);
    };
    Err(Box::new(
        Box::pin(stop_queued(ctx, job, queue_id, ended, step)).await,
    ))
}

/// When a build this run just triggered is first looked for among its job's builds instead of
/// through its queue item, and when it was sent: only a short build whose start the trigger's
/// answer brackets, whose number nothing needs before its end (not `--follow`, nor `wait:
/// false`), and whose look falls before the queue's deadline.
fn look_first_at(
    ctx: &StepContext,
    step: &JobStep,
    attempt: &Attempt<'_>,
    (sent, answered): (Instant, Option<Instant>),
    deadline: Option<Instant>,
) -> Option<((Instant, Option<Instant>), Instant)> {
    // A fan-out this wide would need looks that span it all: its items are read instead.
    if ctx.follow
        || !step.wait
        || ctx.reads.looking_for(&ctx.server, attempt.job) >= super::reads::LOOK_AT_MOST
    {
        return None;
    }
    let answered = answered?;
    let window = ctx
        .time
        .pipeline_duration(answered.saturating_duration_since(sent));
    let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let offset = first_look(attempt.recent, attempt.estimate, window)?;
    let at = sent
        + ctx
            .time
            .real_duration(Duration::from_millis(offset.max(0).unsigned_abs()));
    if deadline.is_some_and(|d| at >= d) {
        return None;
    }
    Some(((sent, Some(answered)), at))
}

/// Looks for a short build among its job's builds by its queue id once it may have ended. One
/// not listed yet (still queued, or created a moment later) or pushed out of the newest by
/// others is followed through its queue item from then on: a missing build is never taken
/// as a sign of anything.
async fn look_then_follow(
    ctx: &mut StepContext,
    job: &str,
    queue_id: u64,
    step: &JobStep,
    deadline: Option<Instant>,
    sent: (Instant, Option<Instant>),
    at: Instant,
) -> Result<StartedBuild, Box<StepOutcome>> {
    // Counted from the trigger, so that the looks for builds triggered together span them.
    let looking = ctx.reads.clone().look_for(&ctx.server, job);
    let delay = ctx
        .time
        .pipeline_duration(at.saturating_duration_since(Instant::now()));
    if let Err(interrupt) = ctx.pause(delay, deadline).await {
        return Err(Box::new(
            Box::pin(stop_queued(ctx, job, queue_id, interrupt, step)).await,
        ));
    }
    let (reads, client) = (ctx.reads.clone(), ctx.client.clone());
    let asked = Instant::now();
    // A wide fan-out of this job since its trigger: the queue item is the smaller read.
    let found = if reads.look_span(&looking) > super::reads::LOOK_AT_MOST {
        Ok(None)
    } else {
        let look = Box::pin(reads.find_queued(&client, &looking, queue_id));
        ctx.read(deadline, look).await
    };
    drop(looking);
    match found {
        Ok(Some(build)) => Ok(StartedBuild {
            number: build.number,
            url: build.url.clone(),
            // Read as if it started when the trigger reached Jenkins; one that waited longer
            // is found by the reads that follow its due ones.
            window: Some((sent.0, sent.0)),
            seen: Some(build),
            asked: Some(asked),
        }),
        Ok(None) | Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => {
            Box::pin(follow_queue(
                ctx,
                job,
                queue_id,
                step,
                deadline,
                Some(sent),
                Some(Duration::ZERO),
            ))
            .await
        }
        Err(interrupt) => Err(Box::new(
            Box::pin(stop_queued(ctx, job, queue_id, interrupt, step)).await,
        )),
    }
}

/// When to look again at a queue item in its quiet period: nothing happens before it ends.
fn quiet_wait(ctx: &StepContext, due_ms: Option<i64>, next: Duration) -> Duration {
    match due_ms.map(|due| due - ctx.server_now_ms()) {
        Some(left) if left > 0 => Duration::from_millis(left as u64 + 50)
            .min(QUEUE_POLL_CEILING)
            .max(next.min(super::poll::MIN_STEP)),
        _ => next,
    }
}

/// Between which instants a build seen started at `seen_at` began: after `since` (the last
/// answer that showed it queued), narrowed by how long Jenkins says its item was queued when
/// the trigger's answer brackets when it was queued.
fn start_window(
    ctx: &StepContext,
    since: Instant,
    sent: Option<(Instant, Option<Instant>)>,
    queued_for_ms: Option<i64>,
) -> (Instant, Instant) {
    let seen_at = Instant::now();
    let queued = sent.and_then(|(at, answered)| {
        let answered = answered?;
        let waited = Duration::from_millis(u64::try_from(queued_for_ms?).ok()?);
        let waited = ctx.time.real_duration(waited);
        Some((at + waited, answered + waited))
    });
    narrowed((since, seen_at), queued)
}

/// Tells why a queue item waits, once per state: "Expires in 4.9 sec" and "Expires in 2.9
/// sec" are one state, not two.
fn tell_why(ctx: &StepContext, why: Option<&str>, last: &mut Option<String>) {
    let shape = why.map(without_numbers);
    if let Some(text) = why
        && shape != *last
    {
        ctx.event(Event::Waiting {
            step: ctx.id(),
            why: text,
        });
        *last = shape;
    }
}

/// The part of `seen` that `queued` also allows, or `seen` when they disagree (Jenkins' clock
/// jumped, say).
fn narrowed(seen: (Instant, Instant), queued: Option<(Instant, Instant)>) -> (Instant, Instant) {
    match queued {
        Some((from, to)) => {
            let (from, to) = (from.max(seen.0), to.min(seen.1));
            if from <= to { (from, to) } else { seen }
        }
        None => seen,
    }
}

/// A timeout or stop while queued: cancel the item this run created, and stop its build if it
/// started in the meantime. It is reported cancelled only once Jenkins shows it so.
async fn stop_queued(
    ctx: &mut StepContext,
    job: &str,
    queue_id: u64,
    interrupt: WaitEnded,
    step: &JobStep,
) -> StepOutcome {
    let (status, failure, message, stop) = match interrupt {
        WaitEnded::Jenkins(e) => return jenkins_failure(StepOutcome::new(), &e),
        WaitEnded::Stop(stop) => {
            let (status, failure, text) = stop_status(stop);
            (status, failure, text.to_string(), Some(stop))
        }
        WaitEnded::Deadline => (
            StepStatus::TimedOut,
            FailureKind::Timeout,
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
            None,
        ),
    };
    let mut result = StepOutcome::new();
    if stop.is_some_and(|stop| !ctx.cancels(stop)) {
        return result.fail(
            StepStatus::Interrupted,
            failure,
            format!("{message}; queue item {queue_id} left in Jenkins"),
        );
    }
    let limit = ctx.stop_deadline();
    let client = ctx.client.clone();
    ctx.event(Event::Note {
        step: Some(ctx.id()),
        message: &format!("cancelling queue item {queue_id}"),
    });
    let _ = tokio::time::timeout_at(limit, client.cancel_queue_item(queue_id)).await;
    // Cancelled, or started just before the cancel reached Jenkins (then its build is stopped).
    let confirmed = match tokio::time::timeout_at(limit, client.queue_item(queue_id)).await {
        Ok(Ok(item)) => match item.state {
            QueueState::Cancelled => {
                result.result = Some("CANCELLED".to_string());
                ctx.event(Event::Note {
                    step: Some(ctx.id()),
                    message: &format!("cancelled queue item {queue_id}"),
                });
                true
            }
            QueueState::Started { number, url, .. } => {
                result.number = Some(number);
                result.url = Some(url);
                abort_build(ctx, &mut result, job, number, limit).await
            }
            _ => false,
        },
        _ => false,
    };
    if confirmed {
        return result.fail(status, failure, message);
    }
    let what = format!("queue item {queue_id} was cancelled");
    unconfirmed(ctx, result, (status, failure, message), &what, "queued")
}

/// A stop Jenkins did not confirm within the stop budget: said at once, and the step ends
/// saying that `what` may still be `state`.
fn unconfirmed(
    ctx: &StepContext,
    result: StepOutcome,
    (status, failure, message): (StepStatus, FailureKind, String),
    what: &str,
    state: &str,
) -> StepOutcome {
    let message = format!(
        "{message}; Jenkins did not confirm that {what} within {}, so it may still be {state}",
        crate::duration::Dur(ctx.stop_budget())
    );
    ctx.event(Event::Note {
        step: Some(ctx.id()),
        message: &message,
    });
    result.fail(unconfirmed_status(status), failure, message)
}

/// A stop that Jenkins did not confirm is never reported as cancelled: the item or build may
/// still be there. A timeout stays a timeout.
fn unconfirmed_status(status: StepStatus) -> StepStatus {
    match status {
        StepStatus::Cancelled => StepStatus::Interrupted,
        other => other,
    }
}

/// When a running build is likely to have ended: known when it was seen starting and its job
/// has built before.
struct Due {
    /// Instants to read it at, in order.
    reads: VecDeque<Instant>,
    /// How long such a build usually takes, which sets the steps once the reads are past.
    estimate_ms: i64,
}

/// Polls the build until Jenkins says it is done. When it is `due`, it is read at the
/// instants due and then in steps that fit its length; otherwise reads back off from
/// `poll.initial` to `poll.max`.
#[allow(clippy::too_many_arguments)]
async fn poll_build(
    ctx: &mut StepContext,
    // Boxed, and kept so: a waiting step keeps it all along.
    mut result: Box<StepOutcome>,
    job: &str,
    number: u64,
    step: &JobStep,
    deadline: Option<Instant>,
    due: Option<Due>,
    (found, asked): (Option<jenkins::Build>, Option<Instant>),
    gate: &mut super::input::Gate,
) -> StepOutcome {
    // The read that found the build showed it ended already.
    if let Some(build) = found.filter(|b| !b.building) {
        gate.moved_on(ctx, &mut result);
        return finish(*result, &build, &step.expect);
    }
    // Counted while it follows the build, so reads due together are folded.
    let following = ctx
        .reads
        .clone()
        .follow(&ctx.server, job, number, result.queue_id);
    let poll = &step.poll;
    // A build that runs past its estimate is read again in steps that fit its length.
    let mut delays = match &due {
        Some(due) => Steps::Overrun(Overrun::past_estimate(
            due.estimate_ms,
            poll.initial,
            poll.max,
            poll.factor,
        )),
        None => Steps::Backoff(Delays::new(poll.initial, poll.max, poll.factor)),
    };
    let client = ctx.client.clone();
    // Until the build is due, wait for it, but never longer than `poll.max` at a time: a
    // build that ends earlier than usual is still noticed within `poll.max`.
    let time = ctx.time.clone();
    let mut due_reads = due.map(|d| d.reads).unwrap_or_default();
    // A due read that came while the last read was in flight (a far controller, a read that
    // found the build just before) is sent at once: that read showed the build before then.
    // Not in a crowd of builds on one server, where reads wait behind each other and one sent
    // at once would only add to the wait; the folded reads of siblings find those.
    let alone = ctx.reads.followed_on(&ctx.server) <= super::reads::LOOK_AT_MOST;
    let mut next_wait = move |delays: &mut Steps, last_sent: Instant| {
        let now = Instant::now();
        let mut overdue = false;
        while let Some(at) = due_reads.front().copied().filter(|at| *at <= now) {
            overdue |= at > last_sent;
            due_reads.pop_front();
        }
        if overdue && alone {
            return Duration::ZERO;
        }
        match due_reads.front().copied() {
            Some(at) => time
                .pipeline_duration(at.saturating_duration_since(now))
                .min(poll.max),
            // Overrun steps count from when the last read went out, not from its answer, so
            // a far controller does not stretch every step by a round trip.
            None => match delays {
                Steps::Overrun(_) => delays.next_delay().saturating_sub(
                    time.pipeline_duration(now.saturating_duration_since(last_sent)),
                ),
                Steps::Backoff(_) => delays.next_delay(),
            },
        }
    };
    let mut last_sent = asked.unwrap_or_else(Instant::now);
    let mut wait = Some(next_wait(&mut delays, last_sent));
    loop {
        // Time at an input counts against `timeout` only when the step says so.
        let limit = gate.limit(step, deadline);
        // A read of its siblings that showed it still running, taken as its own.
        let mut taken = None;
        if let Some(delay) = wait.take() {
            let wake = min_deadline(limit, gate.act_at());
            let paused_at = Instant::now();
            let due = ctx.time.after(delay);
            // An answer typed on the terminal is sent at once, not at the next read.
            let (paused, seen) = tokio::select! {
                paused = ctx.pause(delay, wake) => (paused, false),
                () = gate.typed() => (Ok(()), false),
                // A read of its siblings showed it: ended, it is read from that answer now.
                () = following.seen_elsewhere() => (Ok(()), true),
            };
            let paused = match paused {
                Ok(()) if limit.is_some_and(|d| Instant::now() >= d) => Err(WaitEnded::Deadline),
                other => other,
            };
            if let Err(interrupt) = paused {
                return Box::pin(stopped_build(ctx, *result, job, number, step, interrupt)).await;
            }
            if seen {
                match ctx.reads.seen(&following) {
                    super::reads::Seen::Ended => {}
                    // Running when its own read was nearly due (within an eighth of the wait,
                    // about the jitter between siblings' steps): that read is the one the
                    // sibling's was. Taken any earlier, a build read by many siblings would
                    // step ahead faster than its steps grow.
                    super::reads::Seen::Running(at, build)
                        if at > last_sent
                            && due.saturating_duration_since(at) * 8
                                <= due.saturating_duration_since(paused_at) =>
                    {
                        taken = Some((at, build));
                    }
                    // Nothing to act on yet: it waits on for its own read.
                    _ => {
                        let left = due.saturating_duration_since(Instant::now());
                        wait = Some(ctx.time.pipeline_duration(left));
                        continue;
                    }
                }
            }
        }
        let reads = ctx.reads.clone();
        let server = ctx.server.clone();
        let (sent, answer) = match taken {
            Some((at, build)) => (at, Ok(*build)),
            None => {
                let sent = Instant::now();
                let read = Box::pin(reads.read(&client, &server, job, number, result.queue_id));
                (sent, ctx.read(limit, read).await)
            }
        };
        last_sent = sent;
        let interrupt = match answer {
            Ok(build) => {
                if !build.building {
                    gate.moved_on(ctx, &mut result);
                    return finish(*result, &build, &step.expect);
                }
                let turn = Box::pin(super::input::look(
                    ctx,
                    gate,
                    step,
                    job,
                    number,
                    &build,
                    &mut result,
                ))
                .await;
                match turn {
                    super::input::Turn::End(ended) => return *ended,
                    // Reads backed off while it waited; it runs again from the answer on.
                    super::input::Turn::Answered => {
                        delays = Steps::Backoff(Delays::new(poll.initial, poll.max, poll.factor));
                    }
                    super::input::Turn::Poll => {}
                }
                wait = Some(next_wait(&mut delays, sent));
                continue;
            }
            Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => {
                return (*result).fail(
                    StepStatus::Failed,
                    FailureKind::Lost,
                    format!(
                        "lost: build #{number} of `{job}` was deleted while jrun waited for it"
                    ),
                );
            }
            Err(interrupt) => interrupt,
        };
        return Box::pin(stopped_build(ctx, *result, job, number, step, interrupt)).await;
    }
}

/// A wait for a running build that ended otherwise than with its result.
async fn stopped_build(
    ctx: &mut StepContext,
    mut result: StepOutcome,
    job: &str,
    number: u64,
    step: &JobStep,
    interrupt: WaitEnded,
) -> StepOutcome {
    let (status, failure, message) = match interrupt {
        WaitEnded::Jenkins(e) => return jenkins_failure(result, &e),
        WaitEnded::Stop(stop) => {
            let (status, failure, message) = stop_status(stop);
            if !ctx.cancels(stop) {
                let message = format!("{message}; build #{number} left running in Jenkins");
                return result.fail(StepStatus::Interrupted, failure, message);
            }
            (status, failure, message.to_string())
        }
        WaitEnded::Deadline => {
            let limit = step.timeout.map(crate::duration::Dur).unwrap_or_default();
            (
                StepStatus::TimedOut,
                FailureKind::Timeout,
                format!("build #{number} ran past its timeout of {limit}; jrun stopped it"),
            )
        }
    };
    let limit = ctx.stop_deadline();
    if abort_build(ctx, &mut result, job, number, limit).await {
        return result.fail(status, failure, message);
    }
    let what = format!("build #{number} ended");
    unconfirmed(ctx, result, (status, failure, message), &what, "running")
}

/// Stops a build this run started and waits, until `limit` at most, for Jenkins to show it
/// ended, so the summary reports its real result. Whether Jenkins showed that.
pub(super) async fn abort_build(
    ctx: &mut StepContext,
    result: &mut StepOutcome,
    job: &str,
    number: u64,
    limit: Instant,
) -> bool {
    let client = ctx.client.clone();
    ctx.event(Event::Note {
        step: Some(ctx.id()),
        message: &format!("stopping build #{number}"),
    });
    let _ = tokio::time::timeout_at(limit, client.stop(job, number)).await;
    let mut delays = Delays::new(Duration::from_millis(100), Duration::from_secs(2), 2.0);
    while Instant::now() < limit {
        if let Ok(Ok(build)) = tokio::time::timeout_at(limit, client.build(job, number)).await
            && !build.building
        {
            result.result = build.result.clone();
            result.build_duration_ms = u64::try_from(build.duration_ms).ok();
            return true;
        }
        let wake = (Instant::now() + ctx.time.real_duration(delays.next_delay())).min(limit);
        tokio::time::sleep_until(wake).await;
    }
    false
}

fn finish(mut result: StepOutcome, build: &jenkins::Build, expect: &[ResultName]) -> StepOutcome {
    result.build_duration_ms = u64::try_from(build.duration_ms).ok();
    let Some(name) = build.result.clone() else {
        return result.fail(
            StepStatus::Failed,
            FailureKind::Jenkins,
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
            FailureKind::Result,
            format!("ended {name}, expected {}", wanted.join(" or ")),
        )
    }
}

pub(super) fn interrupted(
    _ctx: &StepContext,
    result: StepOutcome,
    interrupt: WaitEnded,
    timeout: Option<Duration>,
) -> StepOutcome {
    match interrupt {
        WaitEnded::Jenkins(e) => jenkins_failure(result, &e),
        WaitEnded::Stop(stop) => {
            let (status, failure, message) = stop_status(stop);
            result.fail(status, failure, message)
        }
        WaitEnded::Deadline => result.fail(
            StepStatus::TimedOut,
            FailureKind::Timeout,
            format!(
                "timeout of {} reached before the build was triggered",
                crate::duration::Dur(timeout.unwrap_or_default())
            ),
        ),
    }
}

async fn run_await(ctx: &mut StepContext, gate: &AwaitStep) -> StepOutcome {
    let mut result = StepOutcome::new();
    let job = match ctx.render(&gate.job) {
        Ok(job) => job,
        Err(e) => return result.fail(StepStatus::Failed, FailureKind::Invalid, e),
    };
    result.job = Some(job.clone());
    let deadline = Some(ctx.time.after(gate.timeout));
    let client = ctx.client.clone();
    match ctx.read(deadline, client.job(&job)).await {
        Ok(_) => {}
        Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => {
            let message = missing_job(&ctx.place(&gate.job), &job, &client);
            return result.fail(StepStatus::Failed, FailureKind::Invalid, message);
        }
        Err(interrupt) => return interrupted(ctx, result, interrupt, Some(gate.timeout)),
    }
    let wanted: Vec<&str> = gate.results.iter().map(|r| r.as_str()).collect();
    let mut delays = Delays::new(gate.poll.initial, gate.poll.max, gate.poll.factor);
    let mut last_state = String::new();
    loop {
        let which = match &gate.build {
            AwaitBuild::Permalink(name) => name.clone(),
            AwaitBuild::Number(_) => "build".to_string(),
        };
        let read = async {
            match &gate.build {
                AwaitBuild::Permalink(name) => client.permalink(&job, name).await,
                AwaitBuild::Number(n) => match client.build(&job, *n).await {
                    Err(jenkins::Error::NotFound { .. }) => Ok(None),
                    other => other.map(Some),
                },
            }
        };
        let interrupt = match ctx.read(deadline, read).await {
            Ok(build) => {
                let state = match &build {
                    None => format!("`{job}` has no {which} yet"),
                    Some(b) if b.building => {
                        format!("{which} #{} of `{job}` is running", b.number)
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
                                "{which} #{} of `{job}` is {name} but older than {}",
                                b.number,
                                crate::duration::Dur(gate.newer_than.unwrap_or_default())
                            )
                        } else {
                            format!(
                                "{which} #{} of `{job}` is {name}; waiting for {}",
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
                    Ok(()) if deadline.is_some_and(|d| Instant::now() >= d) => WaitEnded::Deadline,
                    Ok(()) => continue,
                    Err(interrupt) => interrupt,
                }
            }
            Err(interrupt) => interrupt,
        };
        return match interrupt {
            WaitEnded::Deadline => result.fail(
                StepStatus::TimedOut,
                FailureKind::Timeout,
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
    fn only_a_lost_build_or_a_named_result_is_retried() {
        let retry = Retry {
            on: vec![RetryOn::Lost, RetryOn::Result(ResultName::Failure)],
            ..Retry::default()
        };
        let failed = |kind, result: Option<&str>| StepOutcome {
            result: result.map(str::to_string),
            ..StepOutcome::new().fail(StepStatus::Failed, kind, "")
        };
        assert!(retryable(&failed(FailureKind::Lost, None), &retry));
        assert!(retryable(
            &failed(FailureKind::Result, Some("FAILURE")),
            &retry
        ));
        assert!(!retryable(
            &failed(FailureKind::Result, Some("UNSTABLE")),
            &retry
        ));
        assert!(!retryable(&failed(FailureKind::Jenkins, None), &retry));
        assert!(!retryable(&failed(FailureKind::Timeout, None), &retry));
        let cancelled = StepOutcome::new().fail(StepStatus::Cancelled, FailureKind::Result, "");
        assert!(!retryable(&cancelled, &retry));
    }

    #[test]
    fn the_start_window_narrows_to_what_jenkins_clock_also_allows() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let seen = (t, t + ms(50));
        assert_eq!(
            narrowed(seen, Some((t + ms(10), t + ms(12)))),
            (t + ms(10), t + ms(12))
        );
        assert_eq!(
            narrowed(seen, Some((t + ms(40), t + ms(90)))),
            (t + ms(40), t + ms(50))
        );
        // Disagreeing clocks leave what was seen.
        assert_eq!(narrowed(seen, Some((t + ms(60), t + ms(70)))), seen);
        assert_eq!(narrowed(seen, None), seen);
    }
}

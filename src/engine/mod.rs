//! Runs a pipeline: one scheduler over the step graph (list order and `parallel:` are sugar for
//! `needs`), each step started the moment its dependencies are done, polling with backoff,
//! per-step and whole-run timeouts and interrupts that stop what the run started, matrix
//! fail-fast, and an exit status from the steps' outcomes.
//!
//! `Scheduler` (here) owns the run's state and reacts to one event at a time; its rules are
//! pure functions in `decide`; one step's life is in `step`; the types every part shares sit
//! in the leaf `outcome`, and a step's end is a `report::StepOutcome`, as the journal stores
//! it and the report shows it.

mod artifacts;
mod branch;
mod decide;
mod diagnose;
mod follow;
mod input;
pub mod journal;
mod outcome;
mod outputs;
mod pace;
mod poll;
pub mod preflight;
mod reads;
pub mod servers;
mod step;
pub mod time;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use crate::report::{FailureKind, StepOutcome};
pub use diagnose::DiagnoseSettings;
pub use outcome::{JobCache, STOP_BUDGET, Signal, Stop};
pub use time::PipelineTime;

use crate::exit::ExitStatus;
use crate::jenkins::Client;
use crate::pipeline::{Condition, DEFAULT_SERVER, Pipeline, RenderContext, RunFacts, StepKind};
use crate::report::{self, Event, Reporter, RunStatus, StepStatus, StepSummary, Summary};
use decide::{Gate, Settled, Verdict};

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
    /// How a build that failed is diagnosed (`--log-tail`).
    pub diagnose: DiagnoseSettings,
    /// `--approve STEP[:INPUT]`: inputs to answer `proceed` that the pipeline does not answer;
    /// input ids capitalized as Jenkins stores them.
    pub approvals: Arc<Vec<(String, Option<String>)>>,
}

pub struct RunOutcome {
    pub summary: Summary,
    pub status: ExitStatus,
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
    signals: watch::Receiver<Option<Stop>>,
) -> RunOutcome {
    let mut scheduler = Scheduler::new(pipeline, settings, reporter, run, signals);
    scheduler.seed_from_journal();
    scheduler.preflight().await;
    while scheduler.step_once().await {}
    scheduler.finish()
}

/// A step that is done: its outcome, and what it means for the rest of the run.
struct Done {
    result: StepOutcome,
    settled: Settled,
}

/// The permits a running step holds: its matrix group's and the run's.
type Held = (
    Option<tokio::sync::OwnedSemaphorePermit>,
    Option<tokio::sync::OwnedSemaphorePermit>,
);

/// How long past the stop budget the run waits for its steps before it leaves them.
const ABANDON_GRACE: Duration = Duration::from_secs(5);

/// Far enough away to stand for "never" in a `select!` whose branch is disabled.
fn far() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

/// One run over the step graph (list order and `parallel:` are sugar for `needs`): each step
/// starts the moment its dependencies are done; the rules of what starts, what is skipped and
/// how the run ends are in `decide`.
struct Scheduler {
    pipeline: Arc<Pipeline>,
    settings: RunSettings,
    reporter: Arc<Reporter>,
    run: RunFacts,
    signals: watch::Receiver<Option<Stop>>,
    begun: Instant,
    permits: Arc<Semaphore>,
    /// A matrix's `max_parallel` caps its own cells, inside the run's cap.
    group_permits: HashMap<String, Arc<Semaphore>>,
    run_deadline: Option<Instant>,
    done: Vec<Option<Done>>,
    /// How to stop each running step.
    stops: Vec<Option<watch::Sender<Option<Stop>>>>,
    tasks: JoinSet<(StepOutcome, Held)>,
    task_index: HashMap<tokio::task::Id, usize>,
    /// What each running step has learnt of its build, for a run that cannot wait for it.
    progress: Vec<Arc<std::sync::Mutex<outcome::Progress>>>,
    failed_groups: HashSet<String>,
    /// What every step's templates render with; its facts grow as steps finish, and each
    /// step gets a clone of it as it stands when the step starts (sharing, not copying).
    base: RenderContext,
    /// The steps that need each step, to look at again when it is done.
    dependents: Vec<Vec<usize>>,
    /// Steps that may have become ready since `start_ready` last looked, in step order:
    /// looking only at these keeps a run of n steps from costing n² in checks.
    candidates: BTreeSet<usize>,
    /// How fast steps start triggering, per server.
    paces: HashMap<String, Arc<pace::Pace>>,
    /// Steps that start once the pass of `start_ready` that found them ready ends.
    starting: Vec<(usize, watch::Receiver<Option<Stop>>)>,
    /// Where an interrupted run left the steps it had triggered, to re-attach to them.
    attach: HashMap<usize, journal::StepReplay>,
    build_reads: Arc<reads::BuildReads>,
    stopped: Option<Stop>,
    /// When the run began stopping what it started (run timeout or interrupt).
    stopping_since: Option<Instant>,
    signalled: bool,
    signals_closed: bool,
}

impl Scheduler {
    fn new(
        pipeline: Arc<Pipeline>,
        settings: RunSettings,
        reporter: Arc<Reporter>,
        run: RunFacts,
        signals: watch::Receiver<Option<Stop>>,
    ) -> Scheduler {
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
        let base = RenderContext::new(&pipeline, run.clone(), settings.env.clone());
        let mut dependents = vec![Vec::new(); count];
        for (index, step) in pipeline.steps.iter().enumerate() {
            for &need in &step.needs {
                if let Some(list) = dependents.get_mut(need) {
                    list.push(index);
                }
            }
        }
        Scheduler {
            pipeline,
            settings,
            reporter,
            run,
            signals,
            begun: Instant::now(),
            permits,
            group_permits,
            run_deadline,
            done: (0..count).map(|_| None).collect(),
            stops: (0..count).map(|_| None).collect(),
            tasks: JoinSet::new(),
            task_index: HashMap::new(),
            progress: (0..count).map(|_| Arc::default()).collect(),
            failed_groups: HashSet::new(),
            base,
            dependents,
            candidates: (0..count).collect(),
            paces: HashMap::new(),
            starting: Vec::new(),
            attach: HashMap::new(),
            build_reads: Arc::new(reads::BuildReads::default()),
            stopped: None,
            stopping_since: None,
            signalled: false,
            signals_closed: false,
        }
    }

    /// How step `index` settled, if it is done.
    fn settled(&self, index: usize) -> Option<Settled> {
        self.done[index].as_ref().map(|d| d.settled)
    }

    fn render_context(&self) -> RenderContext {
        self.base.clone()
    }

    /// Step `index` is done: its facts become readable by the steps after it, and the steps
    /// that need it may be ready.
    fn set_done(&mut self, index: usize, done: Done) {
        self.base.steps.insert(
            self.pipeline.steps[index].id.clone(),
            outcome::facts(&done.result),
        );
        self.done[index] = Some(done);
        self.candidates
            .extend(self.dependents[index].iter().copied());
    }

    /// Steps an interrupted run finished count as done; those it triggered are re-attached.
    fn seed_from_journal(&mut self) {
        let Some(replay) = self.settings.resume.take() else {
            return;
        };
        let pipeline = self.pipeline.clone();
        for (index, step) in pipeline.steps.iter().enumerate() {
            let Some(state) = replay.steps.get(&step.id) else {
                continue;
            };
            match &state.outcome {
                // An interrupt cancelled what it had started: that step runs again.
                Some(outcome) if outcome.failure == Some(FailureKind::Interrupted) => {}
                Some(outcome) => {
                    let note = format!(
                        "finished before the interruption: {}",
                        outcome.status.as_str()
                    );
                    self.reporter.event(Event::Note {
                        step: Some(&step.id),
                        message: &note,
                    });
                    // Its times were those of the run that was interrupted, not of this one.
                    let result = StepOutcome {
                        times: None,
                        ..outcome.clone()
                    };
                    let done = Done {
                        settled: Settled::ran(outcome.status, step.continue_on_failure),
                        result,
                    };
                    self.set_done(index, done);
                }
                None if state.triggered => {
                    self.attach.insert(index, state.clone());
                }
                None => {}
            }
        }
        self.settings.resume = Some(replay);
    }

    /// Every job is read once before anything is triggered; a problem anywhere stops the run
    /// before it starts, with every problem listed. The run's deadline and an interrupt bound
    /// the preflight too: nothing was started yet, so nothing needs stopping.
    async fn preflight(&mut self) {
        let base = self.render_context();
        let preflight = preflight::check(
            &self.pipeline,
            &self.settings.clients,
            &base,
            self.settings.selected.as_deref(),
            &self.settings.jobs,
        );
        let deadline = self.run_deadline;
        let mut stopped: Option<Stop> = None;
        let checked = tokio::select! {
            checked = preflight => Some(checked),
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(far)), if deadline.is_some() => {
                stopped = Some(Stop::RunTimeout);
                None
            }
            stop = first_signal(&mut self.signals) => {
                stopped = Some(stop);
                None
            }
        };
        if let Some(stop) = stopped {
            self.reporter.event(Event::Note {
                step: None,
                message: match stop {
                    Stop::RunTimeout => {
                        "the run's --timeout was reached before any job was triggered"
                    }
                    _ => "interrupted before any job was triggered",
                },
            });
        }
        self.stopped = stopped;
        self.stopping_since = stopped.map(|_| Instant::now());
        self.signalled = matches!(stopped, Some(Stop::Interrupt(_)));
        match checked {
            None => {}
            Some(Ok(problems)) if problems.is_empty() => {}
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
                self.refuse_all(
                    by_step,
                    FailureKind::Invalid,
                    "not run: problems were found before anything was triggered",
                );
            }
            Some(Err((step, error))) => self.refuse_all(
                BTreeMap::from([(step, error.to_string())]),
                FailureKind::Jenkins,
                "not run: Jenkins could not be used",
            ),
        }
    }

    /// The preflight found problems: the steps they name fail, every other is skipped.
    fn refuse_all(&mut self, failed: BTreeMap<usize, String>, kind: FailureKind, reason: &str) {
        let pipeline = self.pipeline.clone();
        for (index, step) in pipeline.steps.iter().enumerate() {
            let result = match failed.get(&index) {
                Some(message) => {
                    self.reporter.event(Event::Finished {
                        step: &step.id,
                        status: StepStatus::Failed,
                        result: None,
                        number: None,
                        duration_ms: 0,
                        message: Some(message),
                    });
                    skipped_result().fail(StepStatus::Failed, kind, message.clone())
                }
                None => {
                    self.reporter.event(Event::Skipped {
                        step: &step.id,
                        reason,
                    });
                    StepOutcome {
                        message: Some(reason.to_string()),
                        ..skipped_result()
                    }
                }
            };
            self.set_done(
                index,
                Done {
                    result,
                    settled: Settled::lost(),
                },
            );
        }
    }

    /// A step that fails before anything is sent to Jenkins: a bad `if:` expression, a
    /// journal that cannot be written.
    fn refuse(&mut self, index: usize, message: String) {
        let step = &self.pipeline.steps[index];
        self.reporter.event(Event::Finished {
            step: &step.id,
            status: StepStatus::Failed,
            result: None,
            number: None,
            duration_ms: 0,
            message: Some(&message),
        });
        self.set_done(
            index,
            Done {
                result: StepOutcome::new().fail(StepStatus::Failed, FailureKind::Invalid, message),
                settled: Settled::refused(step.continue_on_failure),
            },
        );
    }

    /// Starts or skips every step whose dependencies are done, until nothing changes.
    /// Steps are looked at in step order, and one that is skipped makes the steps that need
    /// it candidates, which come later in that order: one pass settles everything that can be.
    fn start_ready(&mut self) {
        loop {
            while let Some(index) = self.candidates.pop_first() {
                if self.done[index].is_some() || self.stops[index].is_some() {
                    continue;
                }
                if !decide::ready(&self.pipeline.steps[index].needs, |d| self.settled(d)) {
                    continue;
                }
                self.start_or_skip(index);
            }
            if self.starting.is_empty() {
                break;
            }
            // Steps refused because the journal could not be written make others ready.
            self.launch_starting();
        }
    }

    fn start_or_skip(&mut self, index: usize) {
        let pipeline = self.pipeline.clone();
        let step = &pipeline.steps[index];
        let (deps_ok, failed_dep) = decide::dependencies(&step.needs, |d| self.settled(d));
        let selected = self.settings.selected.as_ref().is_none_or(|s| s[index]);
        let sibling_failed = step
            .matrix
            .as_ref()
            .is_some_and(|c| c.fail_fast && self.failed_groups.contains(&c.group));
        let gate = match &step.condition {
            Condition::OnSuccess => Gate::OnSuccess,
            Condition::OnFailure => Gate::OnFailure,
            Condition::Always => Gate::Always,
            Condition::Expr(_) => Gate::Expr,
        };
        let failed_dep = failed_dep.map(|d| pipeline.steps[d].id.as_str());
        let verdict = decide::verdict(
            self.stopped,
            selected,
            sibling_failed,
            gate,
            deps_ok,
            failed_dep,
        );
        let reason = match verdict {
            Verdict::Skip(reason) => Some(reason),
            Verdict::Run => match &step.condition {
                Condition::Expr(template) => {
                    let ctx = self.render_context().for_step(step);
                    let verdict =
                        template
                            .render(&ctx)
                            .map_err(|e| e.to_string())
                            .and_then(|text| {
                                Condition::truth(&text)
                                    .map_err(|e| format!("{}: {e}", template.field()))
                            });
                    match verdict {
                        Ok(true) => None,
                        Ok(false) => Some("its `if` expression is false".to_string()),
                        // An `if:` that cannot be rendered, or renders neither true nor false.
                        Err(message) => return self.refuse(index, message),
                    }
                }
                _ => None,
            },
        };
        match reason {
            Some(reason) => self.skip(index, reason, deps_ok, selected),
            None => self.spawn(index),
        }
    }

    fn skip(&mut self, index: usize, reason: String, deps_ok: bool, selected: bool) {
        self.reporter.event(Event::Skipped {
            step: &self.pipeline.steps[index].id,
            reason: &reason,
        });
        self.set_done(
            index,
            Done {
                result: StepOutcome {
                    message: Some(reason),
                    ..skipped_result()
                },
                settled: Settled::skipped(deps_ok, selected, self.stopped.is_some()),
            },
        );
    }

    /// Marks the step as starting; `launch_starting` journals and starts it with the others
    /// that start with it.
    fn spawn(&mut self, index: usize) {
        let server = server_of(&self.pipeline, index);
        if !self.settings.clients.contains_key(&server) {
            // Resolved servers cover every name the pipeline uses; this is a bug guard.
            return self.refuse(index, format!("no client for server `{server}`"));
        }
        let (stop_tx, stop_rx) = watch::channel(None);
        self.stops[index] = Some(stop_tx);
        self.starting.push((index, stop_rx));
    }

    /// Journals that the steps marked as starting started, in one write synced once, then
    /// starts them; if the journal cannot be written, none starts.
    fn launch_starting(&mut self) {
        let starting = std::mem::take(&mut self.starting);
        if let Some(journal) = &self.settings.journal {
            let records: Vec<journal::Record> = starting
                .iter()
                .map(|(index, _)| {
                    let server = server_of(&self.pipeline, *index);
                    let url = self
                        .settings
                        .clients
                        .get(&server)
                        .map(|c| c.base_url().to_string());
                    journal::Record::StepStarted {
                        step: self.pipeline.steps[*index].id.clone(),
                        server: Some(server),
                        url,
                    }
                })
                .collect();
            if let Err(e) = journal.record_all(&records) {
                let message = e.to_string();
                for (index, _) in starting {
                    self.stops[index] = None;
                    self.refuse(index, message.clone());
                }
                return;
            }
        }
        for (index, stop_rx) in starting {
            self.launch(index, stop_rx);
        }
    }

    fn launch(&mut self, index: usize, stop_rx: watch::Receiver<Option<Stop>>) {
        let pipeline = self.pipeline.clone();
        let step = &pipeline.steps[index];
        let server = server_of(&pipeline, index);
        let Some(client) = self.settings.clients.get(&server).cloned() else {
            self.stops[index] = None;
            return self.refuse(index, format!("no client for server `{server}`"));
        };
        // A step re-attached to its build, or one that awaits a build, triggers nothing.
        let triggers = matches!(step.kind, StepKind::Job(_)) && !self.attach.contains_key(&index);
        let pace = triggers.then(|| {
            self.paces
                .entry(server.clone())
                .or_insert_with(|| {
                    let rate = pipeline
                        .server_spec(step.server.as_deref())
                        .and_then(|spec| spec.triggers_per_second)
                        .unwrap_or(pace::DEFAULT_TRIGGERS_PER_SECOND);
                    Arc::new(pace::Pace::new(rate))
                })
                .clone()
        });
        let mut stop_watch = stop_rx.clone();
        let ctx = Box::new(step::StepContext {
            pipeline: pipeline.clone(),
            index,
            client,
            server,
            jobs: self.settings.jobs.clone(),
            cancel_on_interrupt: self.settings.cancel_on_interrupt,
            follow: self.settings.follow,
            journal: self.settings.journal.clone(),
            attach: self.attach.remove(&index).map(Box::new),
            reads: self.build_reads.clone(),
            reporter: self.reporter.clone(),
            time: self.settings.time.clone(),
            render: self.render_context().for_step(step),
            stop: stop_rx,
            progress: self.progress[index].clone(),
            diagnose: self.settings.diagnose,
            approvals: self.settings.approvals.clone(),
            run_begun: self.begun,
        });
        let permits = self.permits.clone();
        let group = step
            .matrix
            .as_ref()
            .and_then(|c| self.group_permits.get(&c.group).cloned());
        let handle = self.tasks.spawn(async move {
            let group = match group {
                Some(g) => g.acquire_owned().await.ok(),
                None => None,
            };
            let permit = permits.acquire_owned().await.ok();
            if let Some(pace) = pace {
                // A stop while it waits for its turn ends the wait: the step starts nothing.
                let stopped = async {
                    if stop_watch.wait_for(Option::is_some).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    () = pace.wait() => {}
                    () = stopped => {}
                }
            }
            // The permits go back with the result and are released once the scheduler has
            // acted on it, so a fail_fast stop reaches the cells waiting for them before they
            // can start.
            // A step's future is large (every state of a step's life); boxed only now, the
            // thousands of steps still waiting for a permit or their turn hold a small one.
            let run = Box::pin(step::run(ctx));
            (run.await, (group, permit))
        });
        self.task_index.insert(handle.id(), index);
    }

    /// Starts what can start and waits for the next thing to act on; false once the run is
    /// over.
    async fn step_once(&mut self) -> bool {
        self.start_ready();
        if self.tasks.is_empty() {
            return false;
        }
        let deadline = self.run_deadline.filter(|_| self.stopped.is_none());
        // Every step bounds its own stopping by the stop budget; this bounds the run even if
        // one did not.
        let give_up = self.stopping_since.map(|t| t + STOP_BUDGET + ABANDON_GRACE);
        tokio::select! {
            joined = self.tasks.join_next_with_id() => {
                if let Some(joined) = joined {
                    self.on_joined(joined);
                }
                true
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(far)), if deadline.is_some() => {
                self.on_run_timeout();
                true
            }
            _ = tokio::time::sleep_until(give_up.unwrap_or_else(far)), if give_up.is_some() => {
                self.abandon("jrun stopped waiting for Jenkins to confirm its stop; the queue item or build may still be there");
                false
            }
            changed = self.signals.changed(), if !self.signals_closed => {
                self.on_signal(changed.is_ok())
            }
        }
    }

    fn stop_all(&self, stop: Stop) {
        for sender in self.stops.iter().flatten() {
            let _ = sender.send(Some(stop));
        }
    }

    fn on_joined(
        &mut self,
        joined: Result<(tokio::task::Id, (StepOutcome, Held)), tokio::task::JoinError>,
    ) {
        let (id, result, held) = match joined {
            Ok((id, (result, held))) => (id, result, Some(held)),
            Err(e) => {
                let message = format!("internal error: {e}");
                let result =
                    skipped_result().fail(StepStatus::Failed, FailureKind::Jenkins, message);
                (e.id(), result, None)
            }
        };
        let Some(index) = self.task_index.remove(&id) else {
            return;
        };
        self.stops[index] = None;
        let pipeline = self.pipeline.clone();
        let step = &pipeline.steps[index];
        if result.status == StepStatus::Skipped {
            // Stopped while it waited for a permit: it started nothing.
            self.reporter.event(Event::Skipped {
                step: &step.id,
                reason: result.message.as_deref().unwrap_or_default(),
            });
        } else {
            self.reporter.event(Event::Finished {
                step: &step.id,
                status: result.status,
                result: result.result.as_deref(),
                number: result.number,
                duration_ms: result.duration_ms,
                message: result.message.as_deref(),
            });
        }
        let cancels = self.settings.cancel_on_interrupt;
        if let Some(journal) = &self.settings.journal
            && !decide::left_running(result.status, result.failure, cancels)
        {
            let _ = journal.record(&journal::Record::Finished {
                step: step.id.clone(),
                outcome: Box::new(result.clone()),
            });
        }
        if let Some(cell) = &step.matrix
            && decide::fails_fast(
                result.status,
                step.continue_on_failure,
                cell.fail_fast,
                self.stopped.is_some(),
            )
            && self.failed_groups.insert(cell.group.clone())
        {
            for sibling in pipeline.cells(&cell.group) {
                if let Some(sender) = &self.stops[sibling] {
                    let _ = sender.send(Some(Stop::FailFast));
                }
            }
        }
        drop(held);
        self.set_done(
            index,
            Done {
                settled: Settled::ran(result.status, step.continue_on_failure),
                result,
            },
        );
    }

    fn on_run_timeout(&mut self) {
        self.stopped = Some(Stop::RunTimeout);
        self.stopping_since.get_or_insert_with(Instant::now);
        self.stop_all(Stop::RunTimeout);
        self.reporter.event(Event::Note {
            step: None,
            message: "the run's --timeout was reached: stopping the builds it started",
        });
    }

    /// An interrupt stops what the run started; a second one leaves at once. False once the
    /// run is over.
    fn on_signal(&mut self, open: bool) -> bool {
        let signal = if open {
            *self.signals.borrow_and_update()
        } else {
            self.signals_closed = true;
            None
        };
        let Some(stop) = signal else {
            return true;
        };
        if self.signalled {
            // A second interrupt: leave now, with the report of where things stand.
            self.reporter.event(Event::Note {
                step: None,
                message: "interrupted again: exiting now; builds may still be queued or running",
            });
            self.abandon("interrupted again: jrun exited without waiting for Jenkins; the queue item or build may still be there");
            self.stopped = Some(stop);
            return false;
        }
        self.signalled = true;
        self.stopped = Some(stop);
        self.stopping_since.get_or_insert_with(Instant::now);
        self.stop_all(stop);
        let message = if self.settings.cancel_on_interrupt {
            "interrupted: cancelling the queue items and stopping the builds this run started (interrupt again to exit at once)"
        } else {
            "interrupted: leaving the builds this run started running in Jenkins"
        };
        self.reporter.event(Event::Note {
            step: None,
            message,
        });
        true
    }

    /// Stops waiting for the running steps: each ends `interrupted` with what it knew of its
    /// build, and is not journaled as finished, so `jrun resume` re-attaches to it.
    fn abandon(&mut self, message: &'static str) {
        self.tasks.abort_all();
        let running: Vec<usize> = self.task_index.drain().map(|(_, index)| index).collect();
        for index in running {
            let seen = self.progress[index]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let step = &self.pipeline.steps[index];
            let result = StepOutcome {
                status: StepStatus::Interrupted,
                failure: Some(FailureKind::Interrupted),
                job: seen.job,
                queue_id: seen.queue_id,
                number: seen.number,
                url: seen.url,
                attempts: seen.attempt,
                message: Some(message.to_string()),
                ..StepOutcome::new()
            };
            self.reporter.event(Event::Finished {
                step: &step.id,
                status: result.status,
                result: None,
                number: result.number,
                duration_ms: 0,
                message: result.message.as_deref(),
            });
            self.set_done(
                index,
                Done {
                    result,
                    settled: Settled::lost(),
                },
            );
        }
    }

    /// The run's exit status, its last journal record and its summary.
    fn finish(self) -> RunOutcome {
        let failures = self
            .done
            .iter()
            .flatten()
            .filter(|d| d.settled.counts)
            .filter_map(|d| d.result.failure);
        let status = decide::run_status(failures, self.stopped);
        if let Some(journal) = &self.settings.journal
            && !matches!(self.stopped, Some(Stop::Interrupt(_)))
        {
            let _ = journal.record(&journal::Record::RunFinished {
                exit_code: status.code(),
            });
        }
        let pipeline = &self.pipeline;
        let steps = pipeline
            .steps
            .iter()
            .zip(self.done)
            .enumerate()
            .map(|(index, (step, entry))| {
                let result = entry.map(|e| e.result).unwrap_or_else(skipped_result);
                let mut summary =
                    StepSummary::new(step.id.clone(), server_of(pipeline, index), result);
                summary.needs = step
                    .needs
                    .iter()
                    .map(|&n| pipeline.steps[n].id.clone())
                    .collect();
                summary.matrix = step.matrix.as_ref().map(|c| c.group.clone());
                summary
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
            started_at: self.run.started_at.clone(),
            duration_ms: self
                .settings
                .time
                .pipeline_duration(self.begun.elapsed())
                .as_millis() as u64,
            steps,
            utc_offset_s: report::time::local_offset_s(),
        };
        RunOutcome { summary, status }
    }
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

fn skipped_result() -> StepOutcome {
    StepOutcome {
        status: StepStatus::Skipped,
        ..StepOutcome::new()
    }
}

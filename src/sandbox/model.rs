//! The emulated controller: items (folders and jobs), the build queue, executors, builds and
//! sessions. Time is simulated: every request first advances the model to the current sandbox
//! time, processing quiet-period ends and build ends in order, so no task ticks in the background
//! and a thousand builds cost nothing while nobody looks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::clock::Clock;
use super::config::{
    Anonymous, ArtifactSpec, BuildResult, BuildSpec, Faults, InputSpec, JobConfig, JobKind,
    ParamConfig, ParamType, SandboxConfig, StageSpec, TestsSpec, UserConfig, parse_version,
};

/// A parameter value of a queued item or a build.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ParamValue {
    Text { kind: ParamType, value: String },
    Bool(bool),
}

impl ParamValue {
    /// The value as `params` of a queue item and as `Queue.Item.getParams` prints it.
    pub fn display(&self) -> String {
        match self {
            ParamValue::Text {
                kind: ParamType::Password,
                ..
            } => "****".to_string(),
            ParamValue::Text { value, .. } => value.clone(),
            ParamValue::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ParamDef {
    pub name: String,
    pub kind: ParamType,
    pub default: ParamValue,
    pub choices: Vec<String>,
    pub description: String,
}

impl ParamDef {
    pub(super) fn from_config(config: &ParamConfig) -> ParamDef {
        let text = |v: &yaml_serde::Value| match v {
            yaml_serde::Value::String(s) => s.clone(),
            yaml_serde::Value::Bool(b) => b.to_string(),
            yaml_serde::Value::Number(n) => n.to_string(),
            yaml_serde::Value::Null => String::new(),
            other => yaml_serde::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let default = match config.kind {
            ParamType::Boolean => ParamValue::Bool(match &config.default {
                Some(yaml_serde::Value::Bool(b)) => *b,
                Some(other) => text(other).eq_ignore_ascii_case("true"),
                None => false,
            }),
            ParamType::Choice => ParamValue::Text {
                kind: ParamType::Choice,
                value: config
                    .default
                    .as_ref()
                    .map(text)
                    .or_else(|| config.choices.first().cloned())
                    .unwrap_or_default(),
            },
            kind => ParamValue::Text {
                kind,
                value: config.default.as_ref().map(text).unwrap_or_default(),
            },
        };
        ParamDef {
            name: config.name.clone(),
            kind: config.kind,
            default,
            choices: config.choices.clone(),
            description: config.description.clone(),
        }
    }

    /// `createValue(req)` of a simple parameter definition for one submitted value.
    pub fn value_from(&self, raw: &str) -> Result<ParamValue, String> {
        match self.kind {
            ParamType::Boolean => Ok(ParamValue::Bool(raw.eq_ignore_ascii_case("true"))),
            ParamType::Choice if !self.choices.iter().any(|c| c == raw) => Err(format!(
                "Illegal choice for parameter {}: {}",
                self.name, raw
            )),
            kind => Ok(ParamValue::Text {
                kind,
                value: raw.to_string(),
            }),
        }
    }
}

/// Why a build was started, as its `CauseAction` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    User(Option<String>),
    Remote {
        addr: String,
        note: Option<String>,
    },
    /// `jenkins.branch.BranchIndexingCause`: a multibranch scan built a branch it found.
    BranchIndexing,
}

impl Cause {
    pub fn short_description(&self) -> String {
        match self {
            Cause::User(Some(user)) => format!("Started by user {user}"),
            Cause::User(None) => "Started by anonymous user".to_string(),
            Cause::Remote { addr, note: None } => format!("Started by remote host {addr}"),
            Cause::Remote {
                addr,
                note: Some(note),
            } => format!("Started by remote host {addr} with note: {note}"),
            Cause::BranchIndexing => "Branch indexing".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Build {
    pub number: u32,
    pub queue_id: u64,
    pub start: i64,
    /// When the build stops being `building`: the planned end, or the end of an abort.
    pub end: i64,
    pub post_build_ms: i64,
    pub planned: BuildResult,
    pub aborted: Option<(i64, Option<String>)>,
    pub params: Option<Vec<(String, ParamValue)>>,
    pub causes: Vec<Cause>,
    pub log: Vec<String>,
    /// Sandbox time of the first read of its queue item that showed `executable`.
    pub observed_start: Option<i64>,
    /// Sandbox time of the first API read that showed it `building: false`: with `end`, how
    /// late a client learnt that the build had finished.
    pub observed_done: Option<i64>,
    /// When its queue item entered the queue (`queueDurationMillis` of `wfapi`).
    pub scheduled: i64,
    pub description: Option<String>,
    pub display_name: Option<String>,
    /// What the build archives, publishes and runs through, shared with its spec.
    pub outputs: Arc<Outputs>,
    /// Its `input` steps in order, each with how it was answered.
    pub inputs: Vec<Input>,
}

/// An `input` step of a build: where it pauses and how it was answered.
#[derive(Debug, Clone)]
pub struct Input {
    pub id: String,
    pub message: String,
    pub ok: String,
    pub submitter: Option<String>,
    pub params: Vec<ParamDef>,
    /// Running time (pauses excluded) at which the build reaches it.
    pub at_ms: i64,
    pub outcome: Option<InputOutcome>,
}

impl Input {
    fn from_spec(spec: &InputSpec, duration: crate::duration::Dur) -> Input {
        Input {
            id: spec.resolved_id(),
            message: spec.message.clone(),
            ok: spec.ok.clone().unwrap_or_else(|| "Proceed".to_string()),
            submitter: spec.submitter.clone().filter(|s| !s.trim().is_empty()),
            params: spec.parameters.iter().map(ParamDef::from_config).collect(),
            at_ms: spec.at_ms(duration),
            outcome: None,
        }
    }

    /// `InputStepExecution.canSettle` for a user, matching names case-insensitively as the
    /// default `IdStrategy` does. The sandbox's users have Job/Build and Job/Cancel but not
    /// Overall/Administer, so a `submitter` list is what decides.
    pub fn may_submit(&self, user: &str) -> bool {
        match &self.submitter {
            None => true,
            Some(list) => list
                .split(',')
                .map(str::trim)
                .any(|entry| entry.eq_ignore_ascii_case(user)),
        }
    }
}

/// How an input was settled.
#[derive(Debug, Clone)]
pub struct InputOutcome {
    pub at: i64,
    pub by: Option<String>,
    pub proceeded: bool,
    /// The values submitted with a proceed; the server applies no defaults.
    pub values: Vec<(String, ParamValue)>,
}

/// A build end that no pause-free timeline reaches: the build waits until someone answers.
pub const NEVER: i64 = i64::MAX / 4;

/// What a build leaves behind besides its log: archived files, stages and a test report.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// The build's running time, its pauses at inputs left out.
    pub run_ms: i64,
    /// The build's planned running time, over which its stages play even if it is stopped.
    pub active_ms: i64,
    pub artifacts: Vec<ArtifactSpec>,
    pub stages: Vec<StageSpec>,
    pub tests: Option<TestsSpec>,
}

impl Outputs {
    pub fn of(spec: &BuildSpec) -> Arc<Outputs> {
        let duration = spec.duration.as_millis() as i64;
        Arc::new(Outputs {
            run_ms: duration,
            active_ms: (duration - spec.post_build.as_millis() as i64).max(0),
            artifacts: spec.artifacts.clone(),
            stages: spec.stages.clone(),
            tests: spec.tests.clone(),
        })
    }
}

/// What a build looks like at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildStatus {
    pub building: bool,
    pub in_progress: bool,
    pub result: Option<BuildResult>,
    pub duration_ms: i64,
}

impl Build {
    pub fn status(&self, t: i64) -> BuildStatus {
        if t >= self.end {
            BuildStatus {
                building: false,
                in_progress: false,
                result: Some(self.final_result()),
                duration_ms: self.end - self.start,
            }
        } else {
            let result = (self.aborted.is_none() && t >= self.end - self.post_build_ms)
                .then_some(self.planned);
            BuildStatus {
                building: true,
                in_progress: true,
                result,
                duration_ms: 0,
            }
        }
    }

    /// How long the build has paused at its first `n` inputs; `None` when one of them is not
    /// answered yet or aborted the build.
    fn paused_before(&self, n: usize) -> Option<i64> {
        let mut shift = 0;
        for input in self.inputs.iter().take(n) {
            let paused_at = self.start + input.at_ms + shift;
            match &input.outcome {
                Some(o) if o.proceeded => shift += o.at - paused_at,
                _ => return None,
            }
        }
        Some(shift)
    }

    /// The instant the build has run `run` ms, its pauses included; `NEVER` when an input
    /// that is not answered yet (or one that aborted it) stands before that point.
    pub fn wall(&self, run: i64) -> i64 {
        let before = self.inputs.iter().take_while(|i| i.at_ms < run).count();
        self.paused_before(before)
            .map_or(NEVER, |shift| self.start + run + shift)
    }

    /// The planned end once every input is answered: its running time plus its pauses.
    fn planned_end(&self) -> i64 {
        self.paused_before(self.inputs.len())
            .map_or(NEVER, |shift| self.start + self.outputs.run_ms + shift)
    }

    /// When the build reaches input `i`: `None` while it has not yet (at `t`) or never will.
    pub fn paused_at(&self, i: usize, t: i64) -> Option<i64> {
        let at = self.start + self.inputs.get(i)?.at_ms + self.paused_before(i)?;
        let cut = self.aborted.as_ref().map_or(t, |(at, _)| t.min(*at));
        (at <= cut).then_some(at)
    }

    /// The input the build waits at, at `t`.
    pub fn waiting_input(&self, t: i64) -> Option<usize> {
        if self.is_complete(t) || self.aborted.is_some() {
            return None;
        }
        (0..self.inputs.len())
            .find(|i| self.inputs[*i].outcome.is_none() && self.paused_at(*i, t).is_some())
    }

    /// Whether the build has reached any input (its `InputAction` exists).
    pub fn has_input_action(&self, t: i64) -> bool {
        (0..self.inputs.len()).any(|i| self.paused_at(i, t).is_some())
    }

    pub fn final_result(&self) -> BuildResult {
        if self.aborted.is_some() {
            BuildResult::Aborted
        } else {
            self.planned
        }
    }

    pub fn is_complete(&self, t: i64) -> bool {
        t >= self.end
    }

    /// `Run.getDisplayName`: the custom name, else `#N`.
    pub fn display_name(&self) -> String {
        self.display_name
            .clone()
            .unwrap_or_else(|| format!("#{}", self.number))
    }

    /// The archived files, once the build has ended (it archives them all at its end).
    pub fn artifacts(&self, t: i64) -> &[ArtifactSpec] {
        if self.is_complete(t) {
            &self.outputs.artifacts
        } else {
            &[]
        }
    }

    /// The JUnit report, published when the build ends.
    pub fn tests(&self, t: i64) -> Option<&TestsSpec> {
        self.outputs.tests.as_ref().filter(|_| self.is_complete(t))
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub full_name: String,
    pub kind: JobKind,
    pub description: String,
    pub params: Vec<ParamDef>,
    pub disabled: bool,
    pub concurrent: bool,
    pub quiet_period_ms: Option<i64>,
    pub token: Option<String>,
    pub script: Vec<BuildSpec>,
    pub script_pos: usize,
    pub next_build_number: u32,
    pub builds: BTreeMap<u32, Build>,
    pub estimated_override: Option<i64>,
    /// A branch job's branch name as the source gives it (its `displayName`).
    pub branch: Option<String>,
    /// The parameters a branch job registers once its first build has run.
    pub pending_params: Option<Vec<ParamDef>>,
}

impl Job {
    pub fn is_parameterized(&self) -> bool {
        !self.params.is_empty()
    }

    /// Jenkins' estimate: the mean duration of up to three recent finished builds, successful
    /// ones first, then failed ones, rounded; -1 when there are none.
    pub fn estimated_duration(&self, t: i64) -> i64 {
        let finished = || self.builds.values().rev().filter(|b| b.is_complete(t));
        let mut picked: Vec<i64> = finished()
            .filter(|b| {
                matches!(
                    b.final_result(),
                    BuildResult::Success | BuildResult::Unstable
                )
            })
            .take(3)
            .map(|b| b.end - b.start)
            .collect();
        if picked.len() < 3 {
            let need = 3 - picked.len();
            picked.extend(
                finished()
                    .filter(|b| b.final_result() == BuildResult::Failure)
                    .take(need)
                    .map(|b| b.end - b.start),
            );
        }
        let total: i64 = picked.iter().sum();
        if picked.is_empty() {
            self.estimated_override.unwrap_or(-1)
        } else if total == 0 {
            // `Job.getEstimatedDuration` treats builds of no length as no estimate at all.
            -1
        } else {
            // Math.round, not integer division: 5000 / 3 is 1667.
            (total as f64 / picked.len() as f64).round() as i64
        }
    }

    pub fn running_build(&self, t: i64) -> Option<&Build> {
        self.builds.values().rev().find(|b| !b.is_complete(t))
    }

    pub fn next_spec(&mut self) -> BuildSpec {
        let spec = self
            .script
            .get(self.script_pos.min(self.script.len().saturating_sub(1)))
            .cloned()
            .unwrap_or_default();
        self.script_pos += 1;
        spec
    }
}

#[cfg(test)]
impl Job {
    /// A pipeline job with nothing in it, for unit tests of renderings.
    pub fn test(name: &str) -> Job {
        Job {
            name: name.rsplit('/').next().unwrap_or(name).to_string(),
            full_name: name.to_string(),
            kind: JobKind::Pipeline,
            description: String::new(),
            params: Vec::new(),
            disabled: false,
            concurrent: true,
            quiet_period_ms: None,
            token: None,
            script: Vec::new(),
            script_pos: 0,
            next_build_number: 1,
            builds: BTreeMap::new(),
            estimated_override: None,
            branch: None,
            pending_params: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Folder {
    pub name: String,
    pub full_name: String,
    /// Set when the folder is a multibranch project.
    pub multibranch: Option<Box<super::multibranch::Multibranch>>,
}

#[derive(Debug, Clone)]
pub enum Node {
    Folder(Folder),
    Job(Box<Job>),
}

#[derive(Debug, Clone)]
pub struct QueueItem {
    pub id: u64,
    pub job: String,
    pub params: Option<Vec<(String, ParamValue)>>,
    pub causes: Vec<Cause>,
    pub in_queue_since: i64,
    pub due: i64,
    /// Queued by `faults.shadow_triggers`: its build starts no shadow of its own.
    pub shadow: bool,
}

#[derive(Debug, Clone)]
pub struct LeftItem {
    pub item: QueueItem,
    pub left_at: i64,
    pub cancelled: bool,
    pub executable: Option<u32>,
    pub executable_visible_at: i64,
}

/// Where a live queue item stands at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    Waiting,
    Blocked { running: u32, eta: Option<i64> },
    Buildable,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: Option<String>,
    pub tokens: Vec<String>,
    /// Bearer tokens and the sandbox time each stops being valid at, if it does.
    pub bearer: Vec<(String, Option<i64>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    Password(String),
    Token(String),
}

impl Principal {
    pub fn name(&self) -> Option<&str> {
        match self {
            Principal::Anonymous => None,
            Principal::Password(n) | Principal::Token(n) => Some(n),
        }
    }

    /// The name the crumb hash uses.
    pub fn crumb_name(&self) -> &str {
        self.name().unwrap_or("anonymous")
    }
}

/// One trigger request the sandbox received, whatever its answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TriggerRecord {
    pub at_ms: i64,
    pub job: String,
    pub endpoint: String,
    pub user: Option<String>,
    pub params: Vec<(String, String)>,
    pub status: u16,
    pub queue_id: Option<u64>,
    /// Whether the trigger created a new queue item (false when folded into an existing one).
    pub created: bool,
    /// Whether it came through the control route's "someone else triggers" action.
    pub external: bool,
    /// The cause its build gets, as the build's `shortDescription` says it.
    pub cause: String,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RouteStats {
    pub count: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub routes: BTreeMap<String, RouteStats>,
    pub triggers: Vec<TriggerRecord>,
    pub requests: u64,
    pub bytes: u64,
    pub faults_injected: u64,
    /// `api/json` reads that carried no `tree=` filter.
    pub reads_without_tree: u64,
    /// Requests per second of sandbox time (epoch seconds), to show bursts against spread.
    pub per_second: BTreeMap<i64, u64>,
    /// The latest requests, oldest first, with the names (never the values) of their headers.
    pub log: std::collections::VecDeque<RequestRecord>,
}

/// One request as the sandbox's log keeps it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub route: String,
    /// Lower-case header names, in the order they came.
    pub headers: Vec<String>,
}

pub struct Model {
    pub clock: Clock,
    pub version: Vec<u32>,
    pub version_text: String,
    pub root_url: Option<String>,
    /// `/jenkins`, or empty when Jenkins serves from the root.
    pub context_path: String,
    pub front_door: Option<super::doors::FrontDoorConfig>,
    pub csrf: bool,
    pub anonymous: Anonymous,
    pub users: Vec<User>,
    pub auto_create: bool,
    pub executors: usize,
    pub quiet_period_ms: i64,
    pub left_ttl_ms: i64,
    pub executable_delay_ms: i64,
    pub build_creation_delay_ms: i64,
    pub abort_delay_ms: i64,
    pub restart_forgets_queue: bool,
    pub console_notes: bool,
    pub missing_plugins: Vec<super::config::Plugin>,
    pub faults: Faults,
    pub rng: fastrand::Rng,
    pub nodes: HashMap<String, Node>,
    pub queue: BTreeMap<u64, QueueItem>,
    pub left: HashMap<u64, LeftItem>,
    /// Items that left the queue and whose builds do not exist yet, with when they will.
    creating: Vec<(i64, QueueItem)>,
    next_queue_id: u64,
    running: Vec<(String, u32)>,
    sim_time: i64,
    pub session_hash: String,
    pub cookie_name: String,
    pub salt: String,
    pub sessions: HashMap<String, ()>,
    pub restart_until: i64,
    restarts: Vec<(i64, i64)>,
    pub stats: Stats,
    /// The external artifact store downloads are sent to, when `artifact_store` is on.
    pub store: Option<super::store::Store>,
}

/// Who triggers the builds of `faults.shadow_triggers`.
pub const SHADOW_USER: &str = "someone-else";

fn random_hex(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
        .collect()
}

impl Model {
    pub fn new(config: &SandboxConfig) -> Model {
        let mut rng = config
            .seed
            .map(fastrand::Rng::with_seed)
            .unwrap_or_default();
        let clock = Clock::new(config.speed);
        let now = clock.now_ms();
        let ms = |d: crate::duration::Dur| d.as_millis() as i64;
        let mut model = Model {
            version: parse_version(&config.version).unwrap_or_else(|| vec![2, 528, 3]),
            version_text: config.version.clone(),
            root_url: config
                .root_url
                .as_ref()
                .map(|u| format!("{}/", u.trim_end_matches('/'))),
            context_path: super::doors::normalize_context(config.context_path.as_deref()),
            front_door: config.front_door.clone(),
            csrf: config.csrf,
            anonymous: config.anonymous,
            users: config.users.iter().map(|u| User::at(u, now)).collect(),
            auto_create: config.auto_create,
            executors: config.executors,
            quiet_period_ms: ms(config.quiet_period),
            left_ttl_ms: ms(config.left_item_ttl),
            executable_delay_ms: ms(config.executable_delay),
            build_creation_delay_ms: ms(config.build_creation_delay),
            abort_delay_ms: ms(config.abort_delay),
            restart_forgets_queue: config.restart_forgets_queue,
            console_notes: config.console_notes,
            missing_plugins: config.missing_plugins.clone(),
            faults: config.faults.clone(),
            session_hash: random_hex(&mut rng, 8),
            cookie_name: format!("JSESSIONID.{}", random_hex(&mut rng, 8)),
            salt: random_hex(&mut rng, 32),
            rng,
            nodes: HashMap::new(),
            queue: BTreeMap::new(),
            left: HashMap::new(),
            creating: Vec::new(),
            next_queue_id: 1,
            running: Vec::new(),
            sim_time: now,
            sessions: HashMap::new(),
            restart_until: 0,
            restarts: config
                .restarts
                .iter()
                .map(|r| (now + ms(r.at), ms(r.duration)))
                .collect(),
            stats: Stats::default(),
            store: None,
            clock,
        };
        for job in &config.jobs {
            model.put_job(job);
        }
        for project in &config.multibranch {
            model.put_multibranch(project);
        }
        model
    }

    pub fn has_plugin(&self, plugin: super::config::Plugin) -> bool {
        !self.missing_plugins.contains(&plugin)
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.version.as_slice() >= [major, minor].as_slice()
    }

    /// Adds or replaces a job, creating the folders on its path.
    pub fn put_job(&mut self, config: &JobConfig) {
        let segments: Vec<&str> = config.path.split('/').collect();
        for depth in 1..segments.len() {
            let full = segments[..depth].join("/");
            self.nodes.entry(full.clone()).or_insert_with(|| {
                Node::Folder(Folder {
                    name: segments[depth - 1].to_string(),
                    full_name: full,
                    multibranch: None,
                })
            });
        }
        let now = self.now();
        let (next_build_number, builds) = match self.nodes.get(&config.path) {
            Some(Node::Job(old)) => (old.next_build_number, old.builds.clone()),
            _ => (1, BTreeMap::new()),
        };
        let mut job = Job {
            name: segments.last().copied().unwrap_or_default().to_string(),
            full_name: config.path.clone(),
            kind: config.kind,
            description: config.description.clone(),
            params: config
                .parameters
                .iter()
                .map(ParamDef::from_config)
                .collect(),
            disabled: config.disabled,
            concurrent: config
                .concurrent
                .unwrap_or(config.kind == JobKind::Pipeline),
            quiet_period_ms: config.quiet_period.map(|d| d.as_millis() as i64),
            token: config.token.clone(),
            script: config.builds.clone(),
            script_pos: 0,
            next_build_number,
            builds,
            estimated_override: config.estimated_duration.map(|d| d.as_millis() as i64),
            branch: None,
            pending_params: None,
        };
        // History plays back to back, ending a moment before now.
        let total: i64 = config
            .history
            .iter()
            .map(|s| s.duration.as_millis() as i64 + 1000)
            .sum();
        let mut t = now - total;
        for spec in &config.history {
            let number = job.next_build_number;
            job.next_build_number += 1;
            let duration = spec.duration.as_millis() as i64;
            let queue_id = self.next_queue_id;
            self.next_queue_id += 1;
            job.builds.insert(
                number,
                Build {
                    number,
                    queue_id,
                    start: t,
                    end: t + duration,
                    post_build_ms: 0,
                    planned: spec.result,
                    aborted: None,
                    params: job.is_parameterized().then(|| default_values(&job.params)),
                    causes: vec![Cause::User(Some("history".to_string()))],
                    log: spec.log.clone(),
                    observed_start: None,
                    observed_done: None,
                    scheduled: t,
                    description: spec.description.clone(),
                    display_name: spec.display_name.clone(),
                    outputs: Outputs::of(spec),
                    // History is played to its end: its inputs were answered by nobody in it.
                    inputs: Vec::new(),
                },
            );
            t += duration + 1000;
        }
        self.nodes
            .insert(config.path.clone(), Node::Job(Box::new(job)));
    }

    pub fn job(&self, name: &str) -> Option<&Job> {
        match self.nodes.get(name) {
            Some(Node::Job(job)) => Some(job),
            _ => None,
        }
    }

    pub fn job_mut(&mut self, name: &str) -> Option<&mut Job> {
        match self.nodes.get_mut(name) {
            Some(Node::Job(job)) => Some(job),
            _ => None,
        }
    }

    /// Direct children of a folder (`""` for the root), sorted as Jenkins sorts items.
    pub fn children(&self, folder: &str) -> Vec<&Node> {
        let prefix = if folder.is_empty() {
            String::new()
        } else {
            format!("{folder}/")
        };
        let mut children: Vec<(&String, &Node)> = self
            .nodes
            .iter()
            .filter(|(name, _)| {
                name.strip_prefix(prefix.as_str())
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
            })
            .collect();
        children.sort_by_key(|(name, _)| name.to_lowercase());
        children.into_iter().map(|(_, node)| node).collect()
    }

    /// Runs the simulation up to `now`: items leave their quiet period, builds start on free
    /// executors and end, in time order.
    pub fn advance(&mut self, now: i64) {
        self.apply_scheduled_restarts(now);
        loop {
            self.play_scans(self.sim_time);
            self.dispatch(self.sim_time);
            self.register_branch_params(self.sim_time);
            let t = self.sim_time;
            let next_due = self.queue.values().map(|i| i.due).filter(|d| *d > t).min();
            let next_end = self
                .running
                .iter()
                .filter_map(|(job, n)| self.job(job).and_then(|j| j.builds.get(n)))
                .map(|b| b.end)
                .filter(|e| *e > t)
                .min();
            let restart_end = (self.restart_until > t).then_some(self.restart_until);
            let next_creation = self.creating.iter().map(|(at, _)| *at).filter(|at| *at > t);
            let next_scan = self.next_scan_event(t);
            match next_due
                .into_iter()
                .chain(next_scan)
                .chain(next_end)
                .chain(restart_end)
                .chain(next_creation)
                .min()
            {
                Some(next) if next <= now => self.sim_time = next,
                _ => break,
            }
        }
        if now > self.sim_time {
            self.sim_time = now;
            self.play_scans(now);
            self.dispatch(now);
            self.register_branch_params(now);
        }
        let ttl = self.left_ttl_ms;
        self.left.retain(|_, left| left.left_at + ttl > now);
    }

    fn dispatch(&mut self, t: i64) {
        let nodes = &self.nodes;
        self.running.retain(|(job, n)| match nodes.get(job) {
            Some(Node::Job(j)) => j.builds.get(n).is_some_and(|b| !b.is_complete(t)),
            _ => false,
        });
        // A loading Jenkins starts nothing from its queue.
        if t < self.restart_until {
            return;
        }
        let (due, later) = std::mem::take(&mut self.creating)
            .into_iter()
            .partition(|(at, _)| *at <= t);
        self.creating = later;
        for (_, item) in due {
            self.create_build(item, t);
        }
        let ready: Vec<u64> = self
            .queue
            .values()
            .filter(|i| i.due <= t)
            .map(|i| i.id)
            .collect();
        for id in ready {
            let Some(item) = self.queue.get(&id) else {
                continue;
            };
            let Some(job) = self.job(&item.job) else {
                // The job was deleted while its item waited.
                if let Some(item) = self.queue.remove(&id) {
                    self.leave(item, t, true, None);
                }
                continue;
            };
            let creating = self.creating.iter().any(|(_, i)| i.job == item.job);
            if !job.concurrent && (job.running_build(t).is_some() || creating) {
                continue;
            }
            let disabled = job.disabled;
            if job.kind == JobKind::Freestyle && self.busy_executors() >= self.executors {
                continue;
            }
            let Some(item) = self.queue.remove(&id) else {
                continue;
            };
            if disabled {
                // createExecutable() returns null: the item leaves without a build, for good.
                self.leave(item, t, false, None);
                continue;
            }
            if self.build_creation_delay_ms > 0 {
                // It has its executor but no build yet: a left item without executable.
                let at = t + self.build_creation_delay_ms;
                self.creating.push((at, item.clone()));
                self.leave(item, t, false, None);
            } else {
                self.start_build(item, t);
            }
        }
    }

    /// The build of an item that left the queue earlier. Its left item, while Jenkins still
    /// keeps it, now names the build; one already forgotten stays forgotten.
    fn create_build(&mut self, item: QueueItem, t: i64) {
        let id = item.id;
        let kept = self.left.remove(&id).map(|left| left.left_at);
        self.start_build(item, t);
        match kept {
            Some(left_at) => {
                if let Some(left) = self.left.get_mut(&id) {
                    left.left_at = left_at;
                }
            }
            None => {
                self.left.remove(&id);
            }
        }
    }

    fn busy_executors(&self) -> usize {
        let creating = self.creating.iter().map(|(_, item)| &item.job);
        self.running
            .iter()
            .map(|(job, _)| job)
            .chain(creating)
            .filter(|job| self.job(job).is_some_and(|j| j.kind == JobKind::Freestyle))
            .count()
    }

    fn start_build(&mut self, item: QueueItem, t: i64) {
        let Some(job) = self.job_mut(&item.job) else {
            return;
        };
        let number = job.next_build_number;
        job.next_build_number += 1;
        let spec = job.next_spec();
        let duration = spec.duration.as_millis() as i64;
        let inputs: Vec<Input> = spec
            .inputs
            .iter()
            .map(|i| Input::from_spec(i, spec.duration))
            .collect();
        let build = Build {
            number,
            queue_id: item.id,
            start: t,
            // A build with inputs ends once the last one is answered.
            end: if inputs.is_empty() {
                t + duration
            } else {
                NEVER
            },
            post_build_ms: (spec.post_build.as_millis() as i64).min(duration),
            planned: spec.result,
            aborted: None,
            params: item.params.clone(),
            causes: item.causes.clone(),
            observed_start: None,
            observed_done: None,
            scheduled: item.in_queue_since,
            description: spec.description.clone(),
            display_name: spec.display_name.clone(),
            outputs: Outputs::of(&spec),
            log: spec.log,
            inputs,
        };
        job.builds.insert(number, build);
        self.running.push((item.job.clone(), number));
        let shadow = self.faults.shadow_triggers && !item.shadow;
        let shadow_user =
            (self.faults.shadow_user.clone()).unwrap_or_else(|| SHADOW_USER.to_string());
        let (job_name, params) = (item.job.clone(), item.params.clone());
        let shadow_user_name = shadow_user.clone();
        self.leave(item, t, false, Some(number));
        if shadow {
            let id = self.next_queue_id;
            self.next_queue_id += 1;
            self.queue.insert(
                id,
                QueueItem {
                    id,
                    job: job_name.clone(),
                    params: params.clone(),
                    causes: vec![Cause::User(Some(shadow_user.clone()))],
                    in_queue_since: t,
                    due: t,
                    shadow: true,
                },
            );
            self.record_trigger(TriggerRecord {
                at_ms: t,
                job: job_name,
                endpoint: "shadow".to_string(),
                user: Some(shadow_user),
                params: params
                    .iter()
                    .flatten()
                    .map(|(n, v)| (n.clone(), v.display()))
                    .collect(),
                status: 201,
                queue_id: Some(id),
                created: true,
                external: true,
                cause: format!("Started by user {shadow_user_name}"),
            });
        }
    }

    fn leave(&mut self, item: QueueItem, t: i64, cancelled: bool, executable: Option<u32>) {
        let visible = t + if executable.is_some() {
            self.executable_delay_ms
        } else {
            0
        };
        self.left.insert(
            item.id,
            LeftItem {
                item,
                left_at: t,
                cancelled,
                executable,
                executable_visible_at: visible,
            },
        );
    }

    /// Where a live item stands now (after `advance`).
    pub fn stage(&self, item: &QueueItem, t: i64) -> Stage {
        if item.due > t {
            return Stage::Waiting;
        }
        if let Some(job) = self.job(&item.job)
            && !job.concurrent
            && let Some(running) = job.running_build(t)
        {
            let estimate = job.estimated_duration(t);
            // Past its estimate a build's remaining time is "N/A", as when there is none.
            let eta = Some(running.start + estimate - t).filter(|_| estimate >= 0);
            let eta = eta.filter(|ms| *ms > 0);
            return Stage::Blocked {
                running: running.number,
                eta,
            };
        }
        Stage::Buildable
    }

    /// Puts a build request in the queue, folding it into a live item of the same job with the
    /// same parameters as `Queue.scheduleInternal` does. Returns the item id and whether it is new.
    pub fn schedule(
        &mut self,
        job: &str,
        params: Option<Vec<(String, ParamValue)>>,
        cause: Cause,
        delay_ms: Option<i64>,
    ) -> (u64, bool) {
        let now = self.now();
        self.schedule_at(job, params, cause, delay_ms, now)
    }

    /// `schedule` at sandbox time `now`, for what the simulation itself schedules.
    pub fn schedule_at(
        &mut self,
        job: &str,
        params: Option<Vec<(String, ParamValue)>>,
        cause: Cause,
        delay_ms: Option<i64>,
        now: i64,
    ) -> (u64, bool) {
        let quiet = self
            .job(job)
            .and_then(|j| j.quiet_period_ms)
            .unwrap_or(self.quiet_period_ms);
        let due = now + delay_ms.unwrap_or(quiet).max(0);
        let mut sorted = params.clone();
        if let Some(p) = sorted.as_mut() {
            p.sort();
        }
        let existing = self.queue.values_mut().find(|item| {
            item.job == job && {
                let mut other = item.params.clone();
                if let Some(p) = other.as_mut() {
                    p.sort();
                }
                other == sorted
            }
        });
        if let Some(item) = existing {
            item.causes.push(cause);
            item.due = item.due.min(due);
            return (item.id, false);
        }
        let id = self.next_queue_id;
        self.next_queue_id += 1;
        self.queue.insert(
            id,
            QueueItem {
                id,
                job: job.to_string(),
                params,
                causes: vec![cause],
                in_queue_since: now,
                due,
                shadow: false,
            },
        );
        self.dispatch(now);
        (id, true)
    }

    /// A new queue item id, for what the queue holds besides builds (scans).
    pub(super) fn take_queue_id(&mut self) -> u64 {
        let id = self.next_queue_id;
        self.next_queue_id += 1;
        id
    }

    /// `Queue.doCancelItem`: Ok(()) when cancelled, Err(status) otherwise.
    pub fn cancel(&mut self, id: u64) -> Result<(), u16> {
        let now = self.now();
        if let Some(item) = self.queue.remove(&id) {
            self.leave(item, now, true, None);
            Ok(())
        } else if self.left.contains_key(&id) {
            Err(500)
        } else {
            Err(404)
        }
    }

    /// Stops a running build; nothing happens to a finished one.
    pub fn stop(&mut self, job: &str, number: u32, user: Option<String>) {
        let now = self.now();
        let delay = self.abort_delay_ms;
        if let Some(build) = self.job_mut(job).and_then(|j| j.builds.get_mut(&number))
            && !build.is_complete(now)
            && build.aborted.is_none()
        {
            // A stop interrupts the input the build waits at: it is settled, as aborted.
            if let Some(i) = build.waiting_input(now) {
                build.inputs[i].outcome = Some(InputOutcome {
                    at: now,
                    by: user.clone(),
                    proceeded: false,
                    values: Vec::new(),
                });
            }
            build.aborted = Some((now, user));
            build.end = now + delay;
        }
    }

    /// Proceeds input `i` of a build waiting at it: the build runs on from `now`.
    pub fn proceed_input(
        &mut self,
        (job, number, i): (&str, u32, usize),
        user: Option<String>,
        values: Vec<(String, ParamValue)>,
        now: i64,
    ) {
        let Some(build) = self.job_mut(job).and_then(|j| j.builds.get_mut(&number)) else {
            return;
        };
        let Some(input) = build.inputs.get_mut(i) else {
            return;
        };
        input.outcome = Some(InputOutcome {
            at: now,
            by: user,
            proceeded: true,
            values,
        });
        build.end = build.planned_end();
    }

    /// Aborts input `i` of a build waiting at it: the build ends ABORTED, as after a stop.
    pub fn abort_input(
        &mut self,
        (job, number, i): (&str, u32, usize),
        user: Option<String>,
        now: i64,
    ) {
        let delay = self.abort_delay_ms;
        let Some(build) = self.job_mut(job).and_then(|j| j.builds.get_mut(&number)) else {
            return;
        };
        let Some(input) = build.inputs.get_mut(i) else {
            return;
        };
        input.outcome = Some(InputOutcome {
            at: now,
            by: user.clone(),
            proceeded: false,
            values: Vec::new(),
        });
        build.aborted = Some((now, user));
        build.end = now + delay;
    }

    /// Build rotation ("discard old builds") or a manual delete.
    pub fn delete_build(&mut self, job: &str, number: u32) -> bool {
        let removed = self
            .job_mut(job)
            .and_then(|j| j.builds.remove(&number))
            .is_some();
        self.running.retain(|(j, n)| !(j == job && *n == number));
        removed
    }

    /// A restart: 503 for `duration_ms`, left items, sessions and (optionally) the queue
    /// forgotten, a new session hash and cookie name.
    pub fn restart(&mut self, at: i64, duration_ms: i64) {
        self.restart_until = at + duration_ms;
        // Freestyle builds die with the controller; Pipeline builds resume after it.
        let running = std::mem::take(&mut self.running);
        for (job, number) in &running {
            if let Some(Node::Job(j)) = self.nodes.get_mut(job)
                && j.kind == JobKind::Freestyle
                && let Some(build) = j.builds.get_mut(number)
                && build.end > at
                && build.aborted.is_none()
            {
                build.aborted = Some((at, None));
                build.end = at;
            }
        }
        self.running = running;
        self.session_hash = random_hex(&mut self.rng, 8);
        self.cookie_name = format!("JSESSIONID.{}", random_hex(&mut self.rng, 8));
        self.sessions.clear();
        self.left.clear();
        // Builds not created yet die with the controller: their items are gone for good.
        self.creating.clear();
        if self.restart_forgets_queue {
            self.queue.clear();
        }
    }

    fn apply_scheduled_restarts(&mut self, now: i64) {
        let due: Vec<(i64, i64)> = self
            .restarts
            .iter()
            .copied()
            .filter(|(at, _)| *at <= now)
            .collect();
        self.restarts.retain(|(at, _)| *at > now);
        for (at, duration) in due {
            self.advance_to(at);
            self.restart(at, duration);
        }
    }

    fn advance_to(&mut self, t: i64) {
        if t > self.sim_time {
            let restarts = std::mem::take(&mut self.restarts);
            self.advance(t);
            self.restarts = restarts;
        }
    }

    pub fn is_restarting(&self, now: i64) -> bool {
        now < self.restart_until
    }

    pub fn new_session(&mut self) -> String {
        let id = format!("node0{}", random_hex(&mut self.rng, 24));
        self.sessions.insert(id.clone(), ());
        id
    }

    pub fn crumb(&self, principal: &Principal, session: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!(
            "{};{}{}",
            principal.crumb_name(),
            session,
            self.salt
        ));
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The values a build of `job` gets from submitted servlet parameters: every declared
    /// parameter, from the request or its default; undeclared names are dropped.
    pub fn values_from_request(
        job: &Job,
        submitted: &[(String, String)],
    ) -> Result<Vec<(String, ParamValue)>, String> {
        let mut values = Vec::new();
        for def in &job.params {
            let given: Vec<&String> = submitted
                .iter()
                .filter(|(k, _)| *k == def.name)
                .map(|(_, v)| v)
                .collect();
            let value = match given.as_slice() {
                [] => def.default.clone(),
                [one] => def.value_from(one)?,
                _ => {
                    return Err(format!(
                        "Parameter {} has more than one value: {}",
                        def.name,
                        given.len()
                    ));
                }
            };
            values.push((def.name.clone(), value));
        }
        Ok(values)
    }

    pub fn record_trigger(&mut self, record: TriggerRecord) {
        self.stats.triggers.push(record);
    }

    /// A read at `t` showed these builds of `job` finished; only the first such read counts.
    pub fn observe_done(&mut self, job: &str, numbers: impl IntoIterator<Item = u32>, t: i64) {
        let Some(Node::Job(job)) = self.nodes.get_mut(job) else {
            return;
        };
        for number in numbers {
            if let Some(build) = job.builds.get_mut(&number) {
                build.observed_done.get_or_insert(t);
            }
        }
    }

    /// A read at `t` of queue item `id` showed its `executable`.
    pub fn observe_started(&mut self, id: u64, t: i64) {
        let Some(left) = self.left.get(&id) else {
            return;
        };
        let Some(number) = left.executable else {
            return;
        };
        if let Some(Node::Job(job)) = self.nodes.get_mut(&left.item.job)
            && let Some(build) = job.builds.get_mut(&number)
        {
            build.observed_start.get_or_insert(t);
        }
    }
}

pub fn default_values(params: &[ParamDef]) -> Vec<(String, ParamValue)> {
    params
        .iter()
        .map(|p| (p.name.clone(), p.default.clone()))
        .collect()
}

impl User {
    /// The configured user of a sandbox started at `start` (sandbox time).
    fn at(config: &UserConfig, start: i64) -> Self {
        User {
            name: config.name.clone(),
            password: config.password.clone(),
            tokens: config.tokens.clone(),
            bearer: config
                .bearer_tokens
                .iter()
                .map(|b| {
                    let until = b.expires().map(|d| start + d.0.as_millis() as i64);
                    (b.token().to_string(), until)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(yaml: &str) -> Model {
        Model::new(&SandboxConfig::parse(yaml, "test").unwrap())
    }

    #[test]
    fn builds_start_after_the_quiet_period_and_end_after_their_duration() {
        let mut m = model(
            "quiet_period: 5s\njobs:\n  - path: a\n    builds: [{duration: 10s, result: FAILURE}]\n",
        );
        let t0 = m.now();
        let (id, created) = m.schedule("a", None, Cause::User(None), None);
        assert!(created);
        m.advance(t0 + 4_000);
        assert_eq!(m.stage(&m.queue[&id].clone(), t0 + 4_000), Stage::Waiting);
        m.advance(t0 + 6_000);
        let left = &m.left[&id];
        assert_eq!(left.executable, Some(1));
        let build = &m.job("a").unwrap().builds[&1];
        assert!(build.start >= t0 + 5_000 && build.start <= t0 + 5_100);
        assert!(build.status(t0 + 14_000).building);
        let done = build.status(build.start + 10_000);
        assert_eq!(
            (done.building, done.result),
            (false, Some(BuildResult::Failure))
        );
    }

    #[test]
    fn identical_requests_fold_into_one_item_and_different_ones_do_not() {
        let mut m = model(
            "jobs:\n  - path: p\n    parameters: [{name: X}]\n    builds: [{duration: 1s}]\n",
        );
        let v = |s: &str| {
            Some(vec![(
                "X".to_string(),
                ParamValue::Text {
                    kind: ParamType::String,
                    value: s.to_string(),
                },
            )])
        };
        let (a, _) = m.schedule("p", v("1"), Cause::User(None), None);
        let (b, created) = m.schedule("p", v("1"), Cause::User(None), None);
        let (c, created_c) = m.schedule("p", v("2"), Cause::User(None), None);
        assert_eq!(a, b);
        assert!(!created);
        assert!(created_c && c != a);
        assert_eq!(m.queue[&a].causes.len(), 2);
    }

    #[test]
    fn a_non_concurrent_job_blocks_its_second_item_until_the_first_build_ends() {
        let mut m = model(
            "quiet_period: 0s\njobs:\n  - path: a\n    parameters: [{name: X}]\n    builds: [{duration: 10s}]\n",
        );
        let t0 = m.now();
        let v = |s: &str| Some(vec![("X".to_string(), ParamValue::Bool(s == "1"))]);
        m.schedule("a", v("1"), Cause::User(None), None);
        let (second, _) = m.schedule("a", v("2"), Cause::User(None), None);
        m.advance(t0 + 5_000);
        let item = m.queue[&second].clone();
        assert!(matches!(
            m.stage(&item, t0 + 5_000),
            Stage::Blocked { running: 1, .. }
        ));
        m.advance(t0 + 10_500);
        assert_eq!(m.left[&second].executable, Some(2));
        let b2 = &m.job("a").unwrap().builds[&2];
        assert!(b2.start >= t0 + 10_000 && b2.start < t0 + 10_200);
    }

    #[test]
    fn executors_limit_freestyle_builds_but_not_pipelines() {
        let mut m = model(
            "quiet_period: 0s\nexecutors: 1\njobs:\n  - {path: f1, builds: [{duration: 10s}]}\n  - {path: f2, builds: [{duration: 10s}]}\n  - {path: p, kind: pipeline, builds: [{duration: 10s}]}\n",
        );
        let t0 = m.now();
        m.schedule("f1", None, Cause::User(None), None);
        let (f2, _) = m.schedule("f2", None, Cause::User(None), None);
        let (p, _) = m.schedule("p", None, Cause::User(None), None);
        m.advance(t0 + 1_000);
        assert!(m.queue.contains_key(&f2));
        assert_eq!(m.stage(&m.queue[&f2].clone(), t0 + 1_000), Stage::Buildable);
        assert!(m.left.contains_key(&p));
        m.advance(t0 + 10_500);
        assert!(m.left.contains_key(&f2));
    }

    #[test]
    fn left_items_expire_after_their_ttl() {
        let mut m = model("quiet_period: 0s\nleft_item_ttl: 10s\njobs: [{path: a}]\n");
        let t0 = m.now();
        let (id, _) = m.schedule("a", None, Cause::User(None), None);
        m.advance(t0 + 9_000);
        assert!(m.left.contains_key(&id));
        m.advance(t0 + 10_500);
        assert!(!m.left.contains_key(&id));
    }

    #[test]
    fn a_stopped_build_ends_aborted_after_the_abort_delay() {
        let mut m = model(
            "quiet_period: 0s\nabort_delay: 1s\njobs: [{path: a, builds: [{duration: 1h}]}]\n",
        );
        let t0 = m.now();
        m.schedule("a", None, Cause::User(None), None);
        m.advance(t0 + 100);
        m.stop("a", 1, Some("me".into()));
        let b = m.job("a").unwrap().builds[&1].clone();
        let stop_at = b.aborted.as_ref().unwrap().0;
        assert!(b.status(stop_at + 500).building);
        assert_eq!(b.status(stop_at + 1_000).result, Some(BuildResult::Aborted));
    }

    #[test]
    fn the_estimate_is_the_mean_of_recent_builds_successful_ones_first() {
        let m = model(
            "jobs: [{path: a, history: [{duration: 9s, result: FAILURE}, {duration: 1s}, {duration: 2s}, {duration: 6s}]}]\n",
        );
        let job = m.job("a").unwrap();
        assert_eq!(job.estimated_duration(m.now()), 3_000);
        // Failed builds only fill in when there are fewer than three good ones.
        let m = model(
            "jobs: [{path: a, history: [{duration: 1s, result: FAILURE}, {duration: 2s}, {duration: 4s}]}]\n",
        );
        assert_eq!(m.job("a").unwrap().estimated_duration(m.now()), 2_333);
        let fresh = model("jobs: [{path: b}]\n");
        assert_eq!(fresh.job("b").unwrap().estimated_duration(fresh.now()), -1);
    }

    #[test]
    fn inputs_pause_the_build_in_order_and_each_answer_moves_its_end() {
        let mut m = model(
            "quiet_period: 0s\njobs:\n  - path: p\n    kind: pipeline\n    builds:\n      - duration: 10s\n        inputs: [{id: one, message: a, at: 2s}, {id: two, message: b, at: 6s}]\n",
        );
        let t0 = m.now();
        m.schedule("p", None, Cause::User(None), None);
        m.advance(t0 + 1);
        let start = m.job("p").unwrap().builds[&1].start;
        let b = |m: &Model| m.job("p").unwrap().builds[&1].clone();
        assert_eq!(b(&m).end, NEVER);
        assert_eq!(b(&m).waiting_input(start + 1_000), None);
        assert_eq!(b(&m).waiting_input(start + 50_000), Some(0));
        assert_eq!(b(&m).paused_at(0, start + 50_000), Some(start + 2_000));
        assert_eq!(b(&m).paused_at(1, start + 50_000), None);
        // Answered 30 s after the pause: the second input comes 4 s of running later.
        let answered = start + 32_000;
        m.proceed_input(("p", 1, 0), Some("a".into()), vec![], answered);
        let build = b(&m);
        assert_eq!(
            build.paused_at(1, answered + 10_000),
            Some(answered + 4_000)
        );
        assert_eq!(build.wall(5_000), answered + 3_000);
        assert_eq!(build.end, NEVER);
        let second = answered + 4_000 + 1_000;
        m.proceed_input(("p", 1, 1), None, vec![], second);
        // 4 s of running remain after the second input.
        assert_eq!(b(&m).end, second + 4_000);
        assert!(b(&m).status(second + 3_999).building);
        assert_eq!(
            b(&m).status(second + 4_000).result,
            Some(BuildResult::Success)
        );
    }

    #[test]
    fn post_build_shows_a_result_while_still_building() {
        let b = Build {
            number: 1,
            queue_id: 1,
            start: 0,
            end: 10_000,
            post_build_ms: 2_000,
            planned: BuildResult::Unstable,
            aborted: None,
            params: None,
            causes: vec![],
            log: vec![],
            observed_start: None,
            observed_done: None,
            scheduled: 0,
            description: None,
            display_name: None,
            outputs: Default::default(),
            inputs: vec![],
        };
        assert_eq!(b.status(7_000).result, None);
        let post = b.status(9_000);
        assert!(post.building);
        assert_eq!(post.result, Some(BuildResult::Unstable));
    }
}

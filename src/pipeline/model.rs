//! The pipeline as the engine sees it: one graph of steps with every default applied.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::file::AuthScheme;
use super::render::{FinishedSteps, RenderContext, RunFacts, Template};

/// A loaded, validated pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub file: PathBuf,
    /// The `jenkins:` block, the default server; every field is `None` when the file leaves
    /// it out.
    pub server: ServerSpec,
    /// The `servers:` block: further servers by name, chosen per step with `server:`. Never
    /// holds `default`, which names [`Pipeline::server`].
    pub servers: BTreeMap<String, ServerSpec>,
    /// `vars:` with the `--set` overrides applied (an override is always a string).
    pub vars: BTreeMap<String, serde_json::Value>,
    /// A topological order: every step comes after the steps it needs, and otherwise in the
    /// order of the file.
    pub steps: Vec<Step>,
}

impl Pipeline {
    /// The index in [`Pipeline::steps`] of the step with this id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|step| step.id == id)
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }

    /// Every template of the file: the default server's first, then the named servers' (by
    /// name), then each step's in step order. The cells of a matrix step share its templates,
    /// which come once, with its first cell.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        fn group(step: &Step) -> Option<&str> {
            step.matrix.as_ref().map(|m| m.group.as_str())
        }
        let steps = self.steps.iter().enumerate().filter(|(i, step)| {
            *i == 0 || group(step).is_none() || group(step) != group(&self.steps[i - 1])
        });
        self.server
            .templates()
            .chain(self.servers.values().flat_map(ServerSpec::templates))
            .chain(steps.flat_map(|(_, step)| step.templates()))
    }

    /// The server a step with `server: name` talks to: `None` (or `default`) is the `jenkins:`
    /// block; `None` comes back for a name the file does not declare.
    pub fn server_spec(&self, name: Option<&str>) -> Option<&ServerSpec> {
        match name {
            None | Some(DEFAULT_SERVER) => Some(&self.server),
            Some(name) => self.servers.get(name),
        }
    }

    /// Indices in [`Pipeline::steps`] of the cells of the matrix step written with id
    /// `group`, in expansion order; empty when there is no such matrix step.
    pub fn cells(&self, group: &str) -> Vec<usize> {
        self.steps
            .iter()
            .enumerate()
            .filter(|(_, step)| step.matrix.as_ref().is_some_and(|m| m.group == group))
            .map(|(i, _)| i)
            .collect()
    }
}

/// The name `server:` gives the `jenkins:` block; reserved under `servers:`.
pub const DEFAULT_SERVER: &str = "default";

/// How to reach and authenticate to Jenkins. Any field may be missing: the environment
/// (`JENKINS_URL`, `JENKINS_USER_ID`, `JENKINS_API_TOKEN`, `JENKINS_PASSWORD`) or the sandbox
/// fills it in.
#[derive(Debug, Clone, Default)]
pub struct ServerSpec {
    pub url: Option<Template>,
    pub user: Option<Template>,
    pub token: Option<Template>,
    pub token_file: Option<Template>,
    pub password: Option<Template>,
    pub password_file: Option<Template>,
    pub auth: AuthScheme,
    /// The command's arguments, each a template.
    pub token_command: Option<Vec<Template>>,
    pub token_ttl: Option<Duration>,
    /// Header names as written, with their values.
    pub headers: Vec<(String, Template)>,
    pub ca_file: Option<Template>,
    pub proxy: Option<Template>,
    pub max_in_flight: Option<usize>,
    pub triggers_per_second: Option<u32>,
    pub unreachable_timeout: Option<Duration>,
}

impl ServerSpec {
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        [
            &self.url,
            &self.user,
            &self.token,
            &self.token_file,
            &self.password,
            &self.password_file,
            &self.ca_file,
            &self.proxy,
        ]
        .into_iter()
        .flatten()
        .chain(self.token_command.iter().flatten())
        .chain(self.headers.iter().map(|(_, value)| value))
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    /// The id written in the file, or for a cell of a matrix step the written id followed by
    /// the cell's values: `deploy[REGION=eu,TIER=web]`.
    pub id: String,
    /// Direct dependencies, as indices into [`Pipeline::steps`] (always smaller than this
    /// step's own index).
    pub needs: Vec<usize>,
    pub condition: Condition,
    pub continue_on_failure: bool,
    pub kind: StepKind,
    /// The `servers:` entry the step talks to; `None` is the `jenkins:` block.
    pub server: Option<String>,
    /// Set on each cell a `matrix:` step expands into.
    pub matrix: Option<MatrixCell>,
    /// Line where the step starts in the file (for a cell: where its matrix step starts).
    pub line: usize,
    /// Where the step sits in the file, e.g. `steps[2].parallel[0]`.
    pub path: String,
}

/// One combination of a `matrix:` step. The cells of one matrix step share its templates and
/// settings and sit next to each other in [`Pipeline::steps`]; a step that needs the matrix
/// step needs every cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixCell {
    /// The id written in the file, shared by all the cells.
    pub group: String,
    /// This cell's value of each matrix key, keys in file order: what `{{matrix.KEY}}` reads.
    pub values: Vec<(String, String)>,
    /// When a cell fails, stop its running siblings and do not start the others (default
    /// true).
    pub fail_fast: bool,
    /// At most this many cells of the group at once.
    pub max_parallel: Option<usize>,
}

impl Step {
    /// The job this step triggers or awaits.
    pub fn job(&self) -> &Template {
        match &self.kind {
            StepKind::Job(job) => &job.job,
            StepKind::Await(gate) => &gate.job,
        }
    }

    pub fn templates(&self) -> Box<dyn Iterator<Item = &Template> + '_> {
        match &self.kind {
            StepKind::Job(job) => Box::new(
                std::iter::once(&job.job)
                    .chain(job.params.iter().map(|(_, value)| value))
                    .chain(job.token.iter())
                    .chain(job.description.iter())
                    .chain(self.condition.expr()),
            ),
            StepKind::Await(gate) => {
                Box::new(std::iter::once(&gate.job).chain(self.condition.expr()))
            }
        }
    }
}

/// When a step runs, given how the steps it needs ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Condition {
    /// Runs when every step it needs passed (the default).
    #[default]
    OnSuccess,
    /// Runs when a step it needs failed: for clean-up and alerts.
    OnFailure,
    /// Runs whatever happened to the steps it needs, once they have ended.
    Always,
    /// `if: "{{eq steps.build.result 'UNSTABLE'}}"`: once the steps it needs have ended,
    /// whatever happened to them, the template is rendered with the context the step itself
    /// gets, and [`Condition::truth`] decides.
    Expr(Template),
}

impl Condition {
    /// The keyword as written in the file; `expression` for [`Condition::Expr`].
    pub fn as_str(&self) -> &'static str {
        match self {
            Condition::OnSuccess => "on_success",
            Condition::OnFailure => "on_failure",
            Condition::Always => "always",
            Condition::Expr(_) => "expression",
        }
    }

    /// The template of an expression condition.
    pub fn expr(&self) -> Option<&Template> {
        match self {
            Condition::Expr(template) => Some(template),
            _ => None,
        }
    }

    /// The truth rule of `if:` expressions, applied to the rendered text: after trimming
    /// white space, `true` runs the step, `false` or nothing skips it, and anything else is an
    /// error (the step fails) rather than a guess. Handlebars' helpers (`eq`, `and`, `not`...)
    /// render exactly `true` or `false`.
    pub fn truth(rendered: &str) -> Result<bool, String> {
        match rendered.trim() {
            "true" => Ok(true),
            "false" | "" => Ok(false),
            other => {
                const SHOWN: usize = 60;
                let shown = match other.char_indices().nth(SHOWN) {
                    Some((cut, _)) => format!("{}...", &other[..cut]),
                    None => other.to_string(),
                };
                Err(format!(
                    "the `if` expression rendered `{shown}`, which is neither true nor false; \
                     make it a test such as `{{{{eq steps.build.result 'UNSTABLE'}}}}`"
                ))
            }
        }
    }
}

// A pipeline holds steps by the dozen, not by the million: boxing the larger kind would save
// nothing worth an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum StepKind {
    Job(JobStep),
    Await(AwaitStep),
}

/// Triggers a build and (unless `wait` is false) follows it to its result.
#[derive(Debug, Clone)]
pub struct JobStep {
    /// Full name with folders: `platform/app/build`.
    pub job: Template,
    /// In file order. Every value is a template, whatever its YAML type was.
    pub params: Vec<(String, Template)>,
    /// Results that count as passing.
    pub expect: Vec<ResultName>,
    pub wait: bool,
    /// Wall time of the build, queue time included.
    pub timeout: Option<Duration>,
    pub queue_timeout: Duration,
    pub poll: Poll,
    /// Remote trigger token (`?token=`), for jobs that require one.
    pub token: Option<Template>,
    /// A string parameter of the job that jrun fills with a unique id per trigger, so that a
    /// trigger whose answer was lost is found by that id rather than by who and when.
    pub trigger_id: Option<String>,
    /// When to trigger the build again; never for `wait: false`.
    pub retry: Retry,
    /// What to read from the build once it ended with an expected result; empty for
    /// `wait: false`.
    pub outputs: Outputs,
    /// The description set on the build once it has a number.
    pub description: Option<Template>,
    /// Archived files to download once the build ended (boxed: most steps have none).
    pub artifacts: Option<Box<Artifacts>>,
    /// Whether a branch job that does not exist yet is looked for with a scan.
    pub branch_scan: BranchScan,
    /// How long that scan may take until the branch appears.
    pub scan_timeout: Duration,
    /// How the build's Pipeline `input` steps are answered and waited for.
    pub inputs: Inputs,
}

/// `branch_scan:`: what a job step does when its branch job does not exist yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BranchScan {
    /// The step fails: the job does not exist.
    #[default]
    Never,
    /// When its parent is a multibranch project, scan it, wait for the branch, and follow
    /// the build the scan started for it.
    Auto,
}

/// `input:`, `input_timeout:`, `input_default:` and `timeout_counts_input:` of a job step.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// In file order; the first that matches an input (by id, or any input when it names
    /// none) and whose `if:` holds answers it.
    pub answers: Vec<InputAnswer>,
    /// How long one input may wait unanswered before jrun acts.
    pub timeout: Option<Duration>,
    /// What is sent when `timeout` passes; `None` aborts the build as a timeout.
    pub default: Option<InputAction>,
    /// Time waited at inputs counts against the step's `timeout`.
    pub counts_against_timeout: bool,
}

impl Inputs {
    /// Whether some answer asks a person on the terminal.
    pub fn prompts(&self) -> bool {
        self.answers.iter().any(|a| a.action == InputAction::Prompt)
            || self.default == Some(InputAction::Prompt)
    }
}

#[derive(Debug, Clone)]
pub struct InputAnswer {
    /// Capitalized as Jenkins stores it; `None` answers any input.
    pub id: Option<String>,
    pub action: InputAction,
    pub params: Vec<(String, Template)>,
    pub condition: Option<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputAction {
    Proceed,
    Abort,
    Prompt,
}

impl InputAction {
    pub fn as_str(self) -> &'static str {
        match self {
            InputAction::Proceed => "proceed",
            InputAction::Abort => "abort",
            InputAction::Prompt => "prompt",
        }
    }
}

/// An input id as Jenkins stores it: its first letter upper-cased (`deploy` is `Deploy`).
pub fn jenkins_input_id(id: &str) -> String {
    let mut chars = id.chars();
    match chars.next() {
        Some(first) if first.is_ascii_lowercase() => {
            first.to_ascii_uppercase().to_string() + chars.as_str()
        }
        _ => id.to_string(),
    }
}

/// `artifacts:`: which archived files of an ended build to download, and where to.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub get: Vec<ArtifactGlob>,
    /// The folder they go to, rendered when the build ended.
    pub to: Template,
    /// A glob that matches nothing is not a failure.
    pub optional: bool,
}

/// One glob of `artifacts.get`, over an artifact's `/`-separated path in Jenkins.
#[derive(Debug, Clone)]
pub struct ArtifactGlob {
    pub pattern: String,
    matcher: globset::GlobMatcher,
}

impl ArtifactGlob {
    /// `*` and `?` stay within one folder, `**` crosses folders. A pattern that could never
    /// match an artifact's path (absolute, or climbing out with `..`) is refused.
    pub fn new(pattern: &str) -> Result<ArtifactGlob, String> {
        if pattern.trim().is_empty() {
            return Err("an artifact glob is empty; write a path such as `dist/*.tar.gz`".into());
        }
        if pattern.starts_with('/') || pattern.split('/').any(|s| s == ".." || s == ".") {
            return Err(format!(
                "artifact glob `{pattern}` is absolute or has a `.`/`..` segment, but artifact \
                 paths are relative to the build's archive; write it like `dist/*.tar.gz`"
            ));
        }
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("artifact glob `{pattern}` is not valid: {}", e.kind()))?;
        Ok(ArtifactGlob {
            pattern: pattern.to_string(),
            matcher: glob.compile_matcher(),
        })
    }

    pub fn matches(&self, relative_path: &str) -> bool {
        self.matcher.is_match(relative_path)
    }
}

/// `outputs:`: values read from an ended build, for later steps' templates.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// An archived .json, .properties or .env file whose every top-level key is an output.
    pub from_artifact: Option<String>,
    /// Named outputs in file order.
    pub named: Vec<(String, OutputSource)>,
}

impl Outputs {
    pub fn is_empty(&self) -> bool {
        self.from_artifact.is_none() && self.named.is_empty()
    }

    /// Whether templates may read `name` of this step: a named output, or any name when a
    /// whole file provides them (checked once that file is read).
    pub fn may_provide(&self, name: &str) -> bool {
        self.from_artifact.is_some() || self.named.iter().any(|(n, _)| n == name)
    }
}

/// The kinds of archived file outputs are read from, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    Properties,
    Env,
}

impl OutputFormat {
    /// By the file's extension (`.json`, `.properties`, `.env`, or a file named `.env`).
    pub fn of(path: &str) -> Option<OutputFormat> {
        let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        if name.ends_with(".json") {
            Some(OutputFormat::Json)
        } else if name.ends_with(".properties") {
            Some(OutputFormat::Properties)
        } else if name.ends_with(".env") {
            Some(OutputFormat::Env)
        } else {
            None
        }
    }
}

/// Where one named output comes from.
#[derive(Debug, Clone)]
pub enum OutputSource {
    /// The first capture group (or the whole match, without groups) of the first line of the
    /// console log that matches.
    Log(regex::Regex),
    Description,
    DisplayName,
    /// A parameter the build ran with.
    Param(String),
    /// A top-level key of an archived .json, .properties or .env file.
    Artifact {
        path: String,
        key: String,
    },
}

impl OutputSource {
    /// Where the value is read, for messages: `log /pushed (\S+)/`, `artifact meta.json`.
    pub fn describe(&self) -> String {
        match self {
            OutputSource::Log(regex) => format!("the console log (/{}/)", regex.as_str()),
            OutputSource::Description => "the build's description".to_string(),
            OutputSource::DisplayName => "the build's display name".to_string(),
            OutputSource::Param(name) => format!("the build's parameter `{name}`"),
            OutputSource::Artifact { path, key } => format!("key `{key}` of artifact `{path}`"),
        }
    }
}

/// `retry:`: trigger the job again, up to `max` more times, when its build ends for one of
/// the reasons `on`, after `delay`. Transport errors are retried by the HTTP layer and never
/// cause a second trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Attempts after the first (default 0: no retry).
    pub max: u32,
    /// Default `[FAILURE, lost]`. Never `SUCCESS`.
    pub on: Vec<RetryOn>,
    /// Pause before each new attempt (default 10s).
    pub delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max: 0,
            on: vec![RetryOn::Result(ResultName::Failure), RetryOn::Lost],
            delay: Duration::from_secs(10),
        }
    }
}

impl Retry {
    /// Whether a build that ended this way is worth another attempt (attempts aside).
    pub fn retries(&self, reason: RetryOn) -> bool {
        self.on.contains(&reason)
    }
}

/// Why a build is retried: its result, `lost` (the build could not be followed: its queue
/// item or the build vanished), or `output` (what the step reads from its build once it ended,
/// its outputs or artifacts, could not be had).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryOn {
    Result(ResultName),
    Lost,
    Output,
}

impl RetryOn {
    /// As written in the file: Jenkins' result names, and `lost`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RetryOn::Result(result) => result.as_str(),
            RetryOn::Lost => "lost",
            RetryOn::Output => "output",
        }
    }
}

impl fmt::Display for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Triggers nothing: polls one build of the job (`build`, default its last build) until it has
/// one of `results`.
#[derive(Debug, Clone)]
pub struct AwaitStep {
    pub job: Template,
    /// Which build to watch.
    pub build: AwaitBuild,
    pub results: Vec<ResultName>,
    /// The build must have ended at most this long ago.
    pub newer_than: Option<Duration>,
    pub timeout: Duration,
    pub poll: Poll,
}

/// The build an `await:` gate watches: one of Jenkins' permalinks (`lastBuild`,
/// `lastSuccessfulBuild`...), which it reads at `job/<name>/<permalink>/api/json`, or a fixed
/// build number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AwaitBuild {
    Permalink(String),
    Number(u64),
}

impl AwaitBuild {
    /// The permalinks Jenkins keeps for every job.
    pub const PERMALINKS: [&'static str; 7] = [
        "lastBuild",
        "lastCompletedBuild",
        "lastSuccessfulBuild",
        "lastStableBuild",
        "lastFailedBuild",
        "lastUnstableBuild",
        "lastUnsuccessfulBuild",
    ];

    /// The path segment after the job's URL: `lastBuild`, or `42`.
    pub fn segment(&self) -> String {
        match self {
            AwaitBuild::Permalink(name) => name.clone(),
            AwaitBuild::Number(number) => number.to_string(),
        }
    }
}

impl Default for AwaitBuild {
    fn default() -> Self {
        AwaitBuild::Permalink("lastBuild".to_string())
    }
}

impl fmt::Display for AwaitBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AwaitBuild::Permalink(name) => f.write_str(name),
            AwaitBuild::Number(number) => write!(f, "#{number}"),
        }
    }
}

/// Polling intervals: start at `initial`, multiply by `factor`, never above `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Poll {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(15),
            factor: 1.5,
        }
    }
}

/// A build result, with Jenkins' own names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResultName {
    Success,
    Unstable,
    Failure,
    NotBuilt,
    Aborted,
}

impl ResultName {
    pub const ALL: [ResultName; 5] = [
        ResultName::Success,
        ResultName::Unstable,
        ResultName::Failure,
        ResultName::NotBuilt,
        ResultName::Aborted,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ResultName::Success => "SUCCESS",
            ResultName::Unstable => "UNSTABLE",
            ResultName::Failure => "FAILURE",
            ResultName::NotBuilt => "NOT_BUILT",
            ResultName::Aborted => "ABORTED",
        }
    }
}

impl fmt::Display for ResultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads Jenkins' names exactly, as they appear in its JSON.
impl FromStr for ResultName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ResultName::ALL
            .into_iter()
            .find(|name| name.as_str() == text)
            .ok_or_else(|| {
                format!("unknown build result `{text}`; Jenkins' results are SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED")
            })
    }
}

/// Contexts are built here, beside the pipeline they read, so that `render` needs nothing of
/// the model.
impl RenderContext {
    /// A context for `pipeline` with no step finished yet.
    pub fn new(
        pipeline: &Pipeline,
        run: RunFacts,
        env: impl Into<Arc<BTreeMap<String, String>>>,
    ) -> RenderContext {
        RenderContext {
            vars: Arc::new(pipeline.vars.clone()),
            env: env.into(),
            steps: FinishedSteps::default(),
            matrix: Vec::new(),
            run,
            pipeline_name: pipeline.name.clone(),
            step_id: None,
        }
    }

    /// This context for one step: with its cell's matrix values when it is a cell of a
    /// matrix step, without any otherwise.
    pub fn for_step(mut self, step: &Step) -> RenderContext {
        self.matrix = step
            .matrix
            .as_ref()
            .map(|cell| cell.values.clone())
            .unwrap_or_default();
        self.step_id = Some(step.id.clone());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_names_are_jenkins_names_both_ways() {
        for name in ResultName::ALL {
            assert_eq!(name.as_str().parse::<ResultName>(), Ok(name));
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, format!("\"{}\"", name.as_str()));
        }
        assert!("success".parse::<ResultName>().is_err());
    }

    #[test]
    fn retry_defaults_to_no_retry_on_failure_or_lost_after_ten_seconds() {
        let retry = Retry::default();
        assert_eq!(retry.max, 0);
        assert_eq!(
            retry.on,
            [RetryOn::Result(ResultName::Failure), RetryOn::Lost]
        );
        assert_eq!(retry.delay, Duration::from_secs(10));
        assert!(retry.retries(RetryOn::Lost));
        assert!(!retry.retries(RetryOn::Result(ResultName::Aborted)));
    }

    #[test]
    fn the_truth_rule_takes_true_false_or_nothing_and_refuses_the_rest() {
        assert_eq!(Condition::truth("true"), Ok(true));
        assert_eq!(Condition::truth("  true\n"), Ok(true));
        assert_eq!(Condition::truth("false"), Ok(false));
        assert_eq!(Condition::truth(""), Ok(false));
        assert_eq!(Condition::truth(" \n"), Ok(false));
        for other in ["True", "yes", "1", "UNSTABLE", "true false"] {
            let err = Condition::truth(other).unwrap_err();
            assert!(err.contains("neither true nor false"), "{other}: {err}");
        }
    }

    #[test]
    fn await_builds_default_to_the_last_build_and_name_their_url_segment() {
        assert_eq!(AwaitBuild::default().segment(), "lastBuild");
        assert_eq!(AwaitBuild::Number(42).segment(), "42");
        assert_eq!(AwaitBuild::Number(42).to_string(), "#42");
    }

    #[test]
    fn poll_defaults_are_one_second_to_fifteen_by_one_and_a_half() {
        let poll = Poll::default();
        assert_eq!(poll.initial, Duration::from_secs(1));
        assert_eq!(poll.max, Duration::from_secs(15));
        assert_eq!(poll.factor, 1.5);
    }
}

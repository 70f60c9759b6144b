//! The sandbox's YAML configuration: the controller's settings, its users, its jobs and the
//! script of builds each job plays, and the faults to inject.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Dur;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Sandbox seconds per real second: 100 plays a 5-minute build in 3 real seconds.
    pub speed: f64,
    /// Jenkins' global quiet period, used when a job sets none and a trigger sends no `delay`.
    pub quiet_period: Dur,
    /// Executors of the built-in node. Pipeline jobs are flyweight and need none.
    pub executors: usize,
    pub csrf: bool,
    pub anonymous: Anonymous,
    pub users: Vec<UserConfig>,
    pub jobs: Vec<JobConfig>,
    /// Create a job on first use when a request names one that does not exist.
    pub auto_create: bool,
    /// How long a queue item stays readable after it left the queue (Jenkins: 5 minutes).
    pub left_item_ttl: Dur,
    /// How long a left item shows `executable: null` before the build is attached to it.
    pub executable_delay: Dur,
    /// How long after a ready item leaves the queue its build is created. Meanwhile the left
    /// item shows no executable and the job no build, as in Jenkins between the two.
    pub build_creation_delay: Dur,
    /// How long a build keeps running after a stop request before it shows ABORTED.
    pub abort_delay: Dur,
    /// The Jenkins version to impersonate; behaviours that changed between versions follow it.
    pub version: String,
    /// The configured root URL used in `url` fields; by default the address the request used.
    pub root_url: Option<String>,
    /// Jenkins' `--prefix`: it answers only below this path; outside it the container's 404.
    pub context_path: Option<String>,
    /// A proxy in front of Jenkins that wants a header or a token, else answers by itself.
    pub front_door: Option<super::doors::FrontDoorConfig>,
    /// Seed of the random number generator behind fault rates, for reproducible runs.
    pub seed: Option<u64>,
    /// Whether a restart also forgets waiting items (a real clean restart keeps them).
    pub restart_forgets_queue: bool,
    /// Hide ConsoleNote annotations inside logs, as real Jenkins does.
    pub console_notes: bool,
    /// Plugins this controller lacks: their URLs answer 404 and their actions are not there,
    /// as on a Jenkins where they are not installed.
    pub missing_plugins: Vec<Plugin>,
    pub faults: Faults,
    /// Restarts to play at fixed points of sandbox time after start.
    pub restarts: Vec<RestartConfig>,
    /// Serve artifact downloads as an external artifact manager does: a 302 to a second
    /// listener (like S3 presigned URLs) that wants a signed query and no credentials.
    pub artifact_store: bool,
    /// Multibranch Pipeline projects, whose scans create and build branch jobs.
    pub multibranch: Vec<MultibranchConfig>,
}

/// A `WorkflowMultiBranchProject` and the branches its source has.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultibranchConfig {
    /// Full name with folders, e.g. `team/app`.
    pub path: String,
    /// How long a scan (branch indexing) runs.
    #[serde(default = "one_second")]
    pub scan_duration: Dur,
    #[serde(default)]
    pub branches: Vec<BranchConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchConfig {
    /// The branch as the source names it, e.g. `release/2.4`; its job is named encoded.
    pub name: String,
    /// As a job's builds; empty: one-second SUCCESS builds.
    #[serde(default)]
    pub builds: Vec<BuildSpec>,
    /// What the Jenkinsfile's `properties([parameters(…)])` registers when its first build ran.
    #[serde(default)]
    pub parameters: Vec<ParamConfig>,
    /// False: the branch is only in the source, and the first scan creates and builds its job.
    #[serde(default = "yes")]
    pub discovered: bool,
    /// Finished builds a discovered branch's job already has; they registered its parameters.
    #[serde(default)]
    pub history: Vec<BuildSpec>,
}

fn yes() -> bool {
    true
}

/// `jenkins.branch.NameEncoder.encode`: the few characters that cannot be in an item name.
pub fn encode_branch(name: &str) -> String {
    match name {
        "" => return "%00".to_string(),
        "." => return "%2E".to_string(),
        ".." => return "%2E.".to_string(),
        _ => {}
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '#' => out.push_str("%23"),
            '?' => out.push_str("%3F"),
            '[' => out.push_str("%5B"),
            ']' => out.push_str("%5D"),
            '\\' => out.push_str("%5C"),
            c => out.push(c),
        }
    }
    out
}

/// `NameEncoder.decode`: undoes `encode`; other `%` sequences stay as they are.
pub fn decode_branch(name: &str) -> String {
    match name {
        "%00" => return String::new(),
        "%2E" => return ".".to_string(),
        "%2E." => return "..".to_string(),
        _ => {}
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).unwrap_or("");
        let decoded = match code {
            "25" => Some('%'),
            "2F" => Some('/'),
            "23" => Some('#'),
            "3F" => Some('?'),
            "5B" => Some('['),
            "5D" => Some(']'),
            "5C" => Some('\\'),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            speed: 1.0,
            quiet_period: Dur::from_secs(5),
            executors: 2,
            csrf: true,
            anonymous: Anonymous::None,
            users: vec![UserConfig::default()],
            jobs: Vec::new(),
            auto_create: false,
            left_item_ttl: Dur::from_secs(300),
            executable_delay: Dur::ZERO,
            build_creation_delay: Dur::ZERO,
            abort_delay: Dur::from_millis(200),
            version: "2.528.3".to_string(),
            root_url: None,
            context_path: None,
            front_door: None,
            seed: None,
            restart_forgets_queue: false,
            console_notes: true,
            missing_plugins: Vec::new(),
            faults: Faults::default(),
            restarts: Vec::new(),
            artifact_store: false,
            multibranch: Vec::new(),
        }
    }
}

/// The plugins whose REST side the sandbox plays, by their ids in Jenkins' update center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Plugin {
    /// The stage view's REST API: `wfapi` on Pipeline jobs and builds.
    #[serde(rename = "pipeline-rest-api")]
    PipelineRestApi,
    /// Test reports: `testReport` and the build's `TestResultAction`.
    #[serde(rename = "junit")]
    Junit,
}

/// What an anonymous caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Anonymous {
    /// No access: every request needs credentials (Jenkins' "logged-in users can do anything").
    #[default]
    None,
    Read,
    /// Read and trigger builds, as an unsecured Jenkins allows.
    Build,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Tokens Jenkins accepts in `Authorization: Bearer`, as the openshift-login plugin does
    /// (no crumb exemption, unlike API tokens).
    #[serde(default)]
    pub bearer_tokens: Vec<BearerToken>,
}

/// A bearer token, valid forever or until `expires` of sandbox time after the start.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum BearerToken {
    Forever(String),
    Expiring {
        token: String,
        #[serde(default)]
        expires: Option<Dur>,
    },
}

impl BearerToken {
    pub fn token(&self) -> &str {
        match self {
            BearerToken::Forever(token) | BearerToken::Expiring { token, .. } => token,
        }
    }

    pub fn expires(&self) -> Option<Dur> {
        match self {
            BearerToken::Forever(_) => None,
            BearerToken::Expiring { expires, .. } => *expires,
        }
    }
}

pub const DEFAULT_USER: &str = "admin";
pub const DEFAULT_PASSWORD: &str = "admin";
pub const DEFAULT_TOKEN: &str = "11a1b2c3d4e5f60718293a4b5c6d7e8f90";

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            name: DEFAULT_USER.to_string(),
            password: Some(DEFAULT_PASSWORD.to_string()),
            tokens: vec![DEFAULT_TOKEN.to_string()],
            bearer_tokens: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    #[default]
    Freestyle,
    Pipeline,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Full name with folders, e.g. `platform/app/build`.
    pub path: String,
    #[serde(default)]
    pub kind: JobKind,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub parameters: Vec<ParamConfig>,
    #[serde(default)]
    pub disabled: bool,
    /// Allow builds to run at the same time (default: no for freestyle, yes for pipeline).
    #[serde(default)]
    pub concurrent: Option<bool>,
    #[serde(default)]
    pub quiet_period: Option<Dur>,
    /// Remote trigger token ("Trigger builds remotely").
    #[serde(default)]
    pub token: Option<String>,
    /// Builds to play in order; the last one repeats. Empty: one-second SUCCESS builds.
    #[serde(default)]
    pub builds: Vec<BuildSpec>,
    /// `estimatedDuration` to report before the job has finished builds of its own.
    #[serde(default)]
    pub estimated_duration: Option<Dur>,
    /// Completed builds the job already has when the sandbox starts, played instantly.
    #[serde(default)]
    pub history: Vec<BuildSpec>,
}

impl JobConfig {
    pub fn new(path: impl Into<String>) -> Self {
        JobConfig {
            path: path.into(),
            kind: JobKind::default(),
            description: String::new(),
            parameters: Vec::new(),
            disabled: false,
            concurrent: None,
            quiet_period: None,
            token: None,
            builds: Vec::new(),
            estimated_duration: None,
            history: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[default]
    String,
    Text,
    Boolean,
    Choice,
    Password,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamConfig {
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: ParamType,
    /// Default value; for choice parameters the first choice when absent.
    #[serde(default)]
    pub default: Option<yaml_serde::Value>,
    #[serde(default)]
    pub choices: Vec<String>,
    #[serde(default)]
    pub description: String,
}

/// Jenkins' build results, by their own names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, Hash)]
pub enum BuildResult {
    #[default]
    #[serde(rename = "SUCCESS")]
    Success,
    #[serde(rename = "UNSTABLE")]
    Unstable,
    #[serde(rename = "FAILURE")]
    Failure,
    #[serde(rename = "NOT_BUILT")]
    NotBuilt,
    #[serde(rename = "ABORTED")]
    Aborted,
}

impl BuildResult {
    pub fn name(self) -> &'static str {
        match self {
            BuildResult::Success => "SUCCESS",
            BuildResult::Unstable => "UNSTABLE",
            BuildResult::Failure => "FAILURE",
            BuildResult::NotBuilt => "NOT_BUILT",
            BuildResult::Aborted => "ABORTED",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    #[serde(default = "one_second")]
    pub duration: Dur,
    #[serde(default)]
    pub result: BuildResult,
    /// Console lines, written evenly over the build's duration.
    #[serde(default)]
    pub log: Vec<String>,
    /// The last part of `duration` during which the result is already set while `building` is
    /// still true (freestyle post-build steps).
    #[serde(default)]
    pub post_build: Dur,
    /// The build's description (`null` in its JSON without one).
    #[serde(default)]
    pub description: Option<String>,
    /// A custom display name instead of `#N`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Files the build archives, visible once it has ended.
    #[serde(default)]
    pub artifacts: Vec<ArtifactSpec>,
    /// Pipeline stages (`wfapi`), played in order over the build's duration.
    #[serde(default)]
    pub stages: Vec<StageSpec>,
    /// A JUnit report (`testReport`, `TestResultAction`), published when the build ends.
    #[serde(default)]
    pub tests: Option<TestsSpec>,
    /// Pipeline `input` steps, played in order; the build's clock stops while one waits.
    #[serde(default)]
    pub inputs: Vec<InputSpec>,
}

/// One `input` step of a Pipeline build.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// As the Pipeline gives it; Jenkins capitalizes it. Default: the message's MD5, capitalized.
    #[serde(default)]
    pub id: Option<String>,
    pub message: String,
    /// Running time before the build pauses (default: half its duration).
    #[serde(default)]
    pub at: Option<Dur>,
    /// The proceed button's caption (default `Proceed`).
    #[serde(default)]
    pub ok: Option<String>,
    /// Comma-separated users who may answer (default: anyone with Job/Build).
    #[serde(default)]
    pub submitter: Option<String>,
    #[serde(default)]
    pub parameters: Vec<ParamConfig>,
}

impl InputSpec {
    /// The id Jenkins stores (`InputStep.setId`/`getId`): the first letter upper-cased.
    pub fn resolved_id(&self) -> String {
        let raw = match &self.id {
            Some(id) => id.clone(),
            None => super::md5::hex(self.message.as_bytes()),
        };
        capitalize(&raw)
    }

    /// When the build pauses, in running time.
    pub fn at_ms(&self, duration: Dur) -> i64 {
        self.at
            .unwrap_or(Dur::from_millis(duration.as_millis() / 2))
            .as_millis() as i64
    }
}

/// `InputStep.capitalize`: only an ASCII lower-case first letter changes.
fn capitalize(id: &str) -> String {
    let mut chars = id.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() => c.to_ascii_uppercase().to_string() + chars.as_str(),
        _ => id.to_string(),
    }
}

/// `InputStep.DescriptorImpl.doCheckId` (SECURITY-2880): `^[a-zA-Z0-9[-]._~!$()*+,:@=]+$`,
/// and neither `.` nor `..`.
pub fn check_input_id(id: &str) -> Result<(), String> {
    if id == "." || id == ".." {
        return Err(format!("input id `{id}` is not allowed"));
    }
    if id.is_empty() {
        return Err("an input id may not be empty".to_string());
    }
    match id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "[-]._~!$()*+,:@=".contains(*c)))
    {
        Some(bad) => Err(format!(
            "input id `{id}` contains `{bad}`; Jenkins allows letters, digits and [-]._~!$()*+,:@="
        )),
        None => Ok(()),
    }
}

/// What `validate` checks of parameter definitions, of a job or of an input (`owner`).
pub fn check_parameters(params: &[ParamConfig], owner: &str) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    for param in params {
        if param.name.is_empty() {
            return Err(format!("{owner} has a parameter without a name"));
        }
        if !names.insert(param.name.as_str()) {
            return Err(format!("{owner} declares parameter `{}` twice", param.name));
        }
        if param.kind == ParamType::Choice && param.choices.is_empty() {
            return Err(format!(
                "choice parameter `{}` of {owner} needs `choices`",
                param.name
            ));
        }
    }
    Ok(())
}

fn check_inputs(spec: &BuildSpec) -> Result<(), String> {
    let mut ids = std::collections::HashSet::new();
    let mut last_at = 0;
    for input in &spec.inputs {
        if let Some(given) = &input.id {
            check_input_id(given)?;
        }
        let id = input.resolved_id();
        if !ids.insert(id.clone()) {
            return Err(format!("input `{id}` is declared twice in one build"));
        }
        let at = input.at_ms(spec.duration);
        if at > spec.duration.as_millis() as i64 {
            return Err(format!(
                "input `{id}` pauses at {}, after the build's duration ({})",
                input.at.unwrap_or_default(),
                spec.duration
            ));
        }
        if at < last_at {
            return Err(format!(
                "input `{id}` pauses before the input declared above it: inputs play in order"
            ));
        }
        last_at = at;
        check_parameters(&input.parameters, &format!("input `{id}`"))?;
    }
    Ok(())
}

/// Artifacts bigger than this are refused: generated bytes are streamed, but a test asking for
/// more than a gibibyte is a typo.
pub const MAX_ARTIFACT_SIZE: u64 = 1 << 30;

/// An archived file: its text, or a size whose bytes are generated (byte `i` is `i % 251`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// Relative path under the build's archive, `/`-separated.
    pub path: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

impl ArtifactSpec {
    pub fn len(&self) -> u64 {
        match (&self.content, self.size) {
            (Some(text), _) => text.len() as u64,
            (None, Some(size)) => size,
            (None, None) => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The byte at offset `i` of a generated artifact.
pub fn generated_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// A stage's status by `wfapi`'s names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum StageStatus {
    #[default]
    #[serde(rename = "SUCCESS")]
    Success,
    #[serde(rename = "FAILED")]
    Failed,
    #[serde(rename = "UNSTABLE")]
    Unstable,
    #[serde(rename = "ABORTED")]
    Aborted,
    #[serde(rename = "NOT_EXECUTED")]
    NotExecuted,
}

impl StageStatus {
    pub fn name(self) -> &'static str {
        match self {
            StageStatus::Success => "SUCCESS",
            StageStatus::Failed => "FAILED",
            StageStatus::Unstable => "UNSTABLE",
            StageStatus::Aborted => "ABORTED",
            StageStatus::NotExecuted => "NOT_EXECUTED",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub name: String,
    #[serde(default)]
    pub status: StageStatus,
    /// Without one, the stage shares what is left of the build's duration with the others.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// The failing step's error message.
    #[serde(default)]
    pub error: Option<String>,
    /// The stage's step log, also written to the build's console.
    #[serde(default)]
    pub log: Vec<String>,
    /// The step's arguments (the `sh` script), shown as `parameterDescription`.
    #[serde(default)]
    pub script: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestsSpec {
    /// Passing cases besides `cases`, generated as `sandbox.GeneratedTest.passes_N`.
    #[serde(default)]
    pub passed: u32,
    #[serde(default)]
    pub cases: Vec<CaseSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum CaseStatus {
    #[default]
    #[serde(rename = "PASSED")]
    Passed,
    #[serde(rename = "FAILED")]
    Failed,
    #[serde(rename = "SKIPPED")]
    Skipped,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    pub class: String,
    pub name: String,
    #[serde(default)]
    pub status: CaseStatus,
    /// The failure message (`errorDetails`), or the skip message of a skipped case.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub stack_trace: Option<String>,
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub stderr: Option<String>,
    #[serde(default)]
    pub duration: Option<Dur>,
}

/// What `validate` checks of one build spec; `Err` names what is wrong and how to fix it.
pub fn check_build_spec(spec: &BuildSpec) -> Result<(), String> {
    check_inputs(spec)?;
    let mut paths: Vec<&str> = Vec::new();
    for artifact in &spec.artifacts {
        let path = artifact.path.as_str();
        if path.starts_with('/') || path.contains('\\') {
            return Err(format!(
                "artifact path `{path}` must be relative and `/`-separated"
            ));
        }
        if path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(format!(
                "artifact path `{path}` has an empty, `.` or `..` segment"
            ));
        }
        match (&artifact.content, artifact.size) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "artifact `{path}` has both `content` and `size`: give one"
                ));
            }
            (None, None) => {
                return Err(format!("artifact `{path}` needs `content` or `size`"));
            }
            (None, Some(size)) if size > MAX_ARTIFACT_SIZE => {
                return Err(format!(
                    "artifact `{path}` is {size} bytes; the sandbox generates at most {MAX_ARTIFACT_SIZE} (1 GiB)"
                ));
            }
            _ => {}
        }
        for other in &paths {
            if *other == path {
                return Err(format!("artifact `{path}` is declared twice"));
            }
            let (short, long) = if other.len() < path.len() {
                (*other, path)
            } else {
                (path, *other)
            };
            if long.starts_with(&format!("{short}/")) {
                return Err(format!(
                    "artifact `{short}` is a file, so `{long}` cannot be inside it"
                ));
            }
        }
        paths.push(path);
    }
    let mut names = std::collections::HashSet::new();
    for stage in &spec.stages {
        if stage.name.trim().is_empty() {
            return Err("a stage needs a name".to_string());
        }
        if !names.insert(stage.name.as_str()) {
            return Err(format!("stage `{}` is declared twice", stage.name));
        }
    }
    let explicit: u64 = spec
        .stages
        .iter()
        .filter(|s| s.status != StageStatus::NotExecuted)
        .filter_map(|s| s.duration)
        .map(|d| d.as_millis())
        .sum();
    if explicit > spec.duration.as_millis() {
        return Err(format!(
            "the stages' durations add up to more than the build's duration ({})",
            spec.duration
        ));
    }
    if let Some(tests) = &spec.tests {
        let mut seen = std::collections::HashSet::new();
        for case in &tests.cases {
            if case.class.is_empty() || case.name.is_empty() {
                return Err("a test case needs a `class` and a `name`".to_string());
            }
            if !seen.insert((case.class.as_str(), case.name.as_str())) {
                return Err(format!(
                    "test case `{}.{}` is declared twice",
                    case.class, case.name
                ));
            }
        }
    }
    Ok(())
}

fn one_second() -> Dur {
    Dur::from_secs(1)
}

impl Default for BuildSpec {
    fn default() -> Self {
        BuildSpec {
            duration: one_second(),
            result: BuildResult::Success,
            log: Vec::new(),
            post_build: Dur::ZERO,
            description: None,
            display_name: None,
            artifacts: Vec::new(),
            stages: Vec::new(),
            tests: None,
            inputs: Vec::new(),
        }
    }
}

/// Faults to inject into the Jenkins routes (never into the control routes).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Share of requests answered with `error_status` (0.0 to 1.0).
    pub error_rate: f64,
    /// The next N requests are answered with `error_status`.
    pub error_burst: u32,
    /// 500, 502, 503 or 504 (default 503).
    pub error_status: Option<u16>,
    /// Share of requests whose connection is dropped without an answer.
    pub reset_rate: f64,
    /// The next N requests have their connection dropped without an answer.
    pub reset_burst: u32,
    /// Drop the connection only after the request took effect (a POST whose outcome is unknown).
    pub reset_after_processing: bool,
    /// Extra real time before each answer.
    pub latency: Dur,
    /// Which requests the faults above hit.
    pub scope: FaultScope,
    /// Someone else triggers the same job, with the same parameters, the moment each build
    /// starts, so `lastBuild` is soon not the build a client started.
    pub shadow_triggers: bool,
    /// Who the shadow triggers come from (default `someone-else`). A client's own user makes
    /// them look like the client's own triggers but for their time.
    pub shadow_user: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FaultScope {
    #[default]
    All,
    /// GET and HEAD requests only.
    Reads,
    /// POST requests only.
    Posts,
    /// `build` and `buildWithParameters` requests only.
    Triggers,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    /// Sandbox time after start at which the restart begins.
    pub at: Dur,
    /// How long Jenkins answers 503 "getting ready to work".
    pub duration: Dur,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read sandbox config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl SandboxConfig {
    pub fn load(path: &Path) -> Result<SandboxConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a config whose text came from `origin` (a path, for messages).
    pub fn parse(text: &str, origin: &str) -> Result<SandboxConfig, ConfigError> {
        let config: SandboxConfig = if text.trim().is_empty() {
            SandboxConfig::default()
        } else {
            yaml_serde::from_str(text).map_err(|e| ConfigError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?
        };
        config.validate().map_err(|message| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 1_000_000.0) {
            return Err(format!(
                "speed must be a number above 0 and at most 1000000, not {}",
                self.speed
            ));
        }
        check_rate("faults.error_rate", self.faults.error_rate)?;
        check_rate("faults.reset_rate", self.faults.reset_rate)?;
        if let Some(status) = self.faults.error_status
            && !(500..=599).contains(&status)
        {
            return Err(format!(
                "faults.error_status must be a 5xx status, not {status}"
            ));
        }
        super::doors::validate(
            self.context_path.as_deref(),
            self.root_url.as_deref(),
            self.front_door.as_ref(),
        )?;
        parse_version(&self.version).ok_or_else(|| {
            format!(
                "version `{}` is not a Jenkins version like 2.528.3",
                self.version
            )
        })?;
        let mut seen = std::collections::HashSet::new();
        for job in &self.jobs {
            check_job_path(&job.path)?;
            if !seen.insert(job.path.as_str()) {
                return Err(format!("job `{}` is declared twice", job.path));
            }
            for (i, spec) in job.history.iter().chain(&job.builds).enumerate() {
                check_build_spec(spec).map_err(|message| {
                    let (list, n) = if i < job.history.len() {
                        ("history", i)
                    } else {
                        ("builds", i - job.history.len())
                    };
                    format!("job `{}`, {list}[{n}]: {message}", job.path)
                })?;
            }
            check_parameters(&job.parameters, &format!("job `{}`", job.path))?;
            if job.kind != JobKind::Pipeline && job.builds.iter().any(|b| !b.inputs.is_empty()) {
                return Err(format!(
                    "job `{}` has `inputs`, which only a Pipeline plays: add `kind: pipeline`",
                    job.path
                ));
            }
        }
        // A job's path may not run through another job as though it were a folder.
        for job in &self.jobs {
            for other in &self.jobs {
                if other.path.starts_with(&format!("{}/", job.path)) {
                    return Err(format!(
                        "`{}` is a job, so `{}` cannot be inside it",
                        job.path, other.path
                    ));
                }
            }
        }
        for project in &self.multibranch {
            check_job_path(&project.path)?;
            let clash = self.jobs.iter().any(|j| {
                j.path == project.path
                    || j.path.starts_with(&format!("{}/", project.path))
                    || project.path.starts_with(&format!("{}/", j.path))
            });
            if clash || !seen.insert(project.path.as_str()) {
                return Err(format!(
                    "multibranch project `{}` clashes with a job or project of the same path",
                    project.path
                ));
            }
            let mut names = std::collections::HashSet::new();
            for branch in &project.branches {
                if branch.name.trim().is_empty() {
                    return Err(format!(
                        "multibranch project `{}` has a branch without a name",
                        project.path
                    ));
                }
                if !names.insert(encode_branch(&branch.name)) {
                    return Err(format!(
                        "branch `{}` of `{}` is declared twice",
                        branch.name, project.path
                    ));
                }
                let owner = format!("branch `{}` of `{}`", branch.name, project.path);
                for (i, spec) in branch.builds.iter().enumerate() {
                    check_build_spec(spec).map_err(|m| format!("{owner}, builds[{i}]: {m}"))?;
                }
                for (i, spec) in branch.history.iter().enumerate() {
                    check_build_spec(spec).map_err(|m| format!("{owner}, history[{i}]: {m}"))?;
                }
                if !branch.discovered && !branch.history.is_empty() {
                    return Err(format!(
                        "{owner} has a history but is not discovered yet; a branch's job, and \
                         its builds, only exist once a scan found it"
                    ));
                }
                check_parameters(&branch.parameters, &owner)?;
            }
        }
        for user in &self.users {
            if user.name.is_empty() || user.name.contains(':') {
                return Err(format!("user name `{}` is not valid", user.name));
            }
        }
        Ok(())
    }
}

fn check_rate(name: &str, rate: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!("{name} must be between 0.0 and 1.0, not {rate}"))
    }
}

/// Names Jenkins refuses for items (`Jenkins.checkGoodName`), checked per path segment.
pub fn check_job_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("a job needs a path".to_string());
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!("job path `{path}` has an empty or dot segment"));
        }
        if segment.ends_with('.') {
            return Err(format!("job name `{segment}` may not end with a dot"));
        }
        if let Some(bad) = segment
            .chars()
            .find(|c| "?*\\%!@#$^&|<>[]:;".contains(*c) || c.is_control())
        {
            return Err(format!(
                "job name `{segment}` contains `{bad}`, which Jenkins does not allow in names"
            ));
        }
    }
    Ok(())
}

/// `2.528.3` -> [2, 528, 3].
pub fn parse_version(text: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_gives_jenkins_defaults() {
        let config = SandboxConfig::parse("", "test").unwrap();
        assert_eq!(config.quiet_period, Dur::from_secs(5));
        assert_eq!(config.left_item_ttl, Dur::from_secs(300));
        assert!(config.csrf);
        assert_eq!(config.users[0].name, "admin");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_line() {
        let err = SandboxConfig::parse("speed: 2\njobs:\n  - path: a\n    colour: red\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.yaml"), "{err}");
        assert!(err.contains("colour"), "{err}");
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn bad_job_names_are_rejected() {
        for path in ["a/", "a//b", "a?b", "x/y;z", "trailing."] {
            let text = format!("jobs:\n  - path: \"{path}\"\n");
            assert!(SandboxConfig::parse(&text, "t").is_err(), "{path}");
        }
        let text = "jobs:\n  - path: \"team folder/sub job é\"\n";
        assert!(SandboxConfig::parse(text, "t").is_ok());
    }

    #[test]
    fn a_job_cannot_contain_another_job() {
        let text = "jobs:\n  - path: a\n  - path: a/b\n";
        let err = SandboxConfig::parse(text, "t").unwrap_err().to_string();
        assert!(err.contains("cannot be inside"), "{err}");
    }

    #[test]
    fn branch_names_encode_like_name_encoder_and_decode_back() {
        let cases = [
            ("release/2.4", "release%2F2.4"),
            ("a%2Fb", "a%252Fb"),
            ("feat#1?[x]\\y", "feat%231%3F%5Bx%5D%5Cy"),
            ("", "%00"),
            (".", "%2E"),
            ("..", "%2E."),
            ("plain-é", "plain-é"),
        ];
        for (raw, encoded) in cases {
            assert_eq!(encode_branch(raw), encoded, "{raw}");
            assert_eq!(decode_branch(encoded), raw, "{encoded}");
        }
        assert_eq!(decode_branch("100%"), "100%");
        assert_eq!(decode_branch("a%41"), "a%41");
    }

    #[test]
    fn multibranch_projects_are_validated() {
        let err = |yaml: &str| SandboxConfig::parse(yaml, "t").unwrap_err().to_string();
        let twice = err("multibranch:\n  - path: app\n    branches: [{name: a/b}, {name: a/b}]\n");
        assert!(twice.contains("declared twice"), "{twice}");
        let clash = err("jobs: [{path: app}]\nmultibranch: [{path: app}]\n");
        assert!(clash.contains("clashes"), "{clash}");
        let nameless = err("multibranch: [{path: app, branches: [{name: ''}]}]\n");
        assert!(nameless.contains("without a name"), "{nameless}");
        assert!(SandboxConfig::parse("multibranch: [{path: t/app, scan_duration: 10s, branches: [{name: main}, {name: release/2.4, discovered: false}]}]\n", "t").is_ok());
    }

    #[test]
    fn input_ids_follow_jenkins_rule_and_are_capitalized() {
        for good in ["Deploy", "a-b_c.d~e!f$(g)*+,:@=[x]", "1st"] {
            assert_eq!(check_input_id(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a?b", "a#b"] {
            assert!(check_input_id(bad).is_err(), "{bad:?}");
        }
        let spec = |id: Option<&str>, message: &str| InputSpec {
            id: id.map(str::to_string),
            message: message.to_string(),
            at: None,
            ok: None,
            submitter: None,
            parameters: Vec::new(),
        };
        assert_eq!(spec(Some("deploy"), "m").resolved_id(), "Deploy");
        assert_eq!(spec(Some("_x"), "m").resolved_id(), "_x");
        // md5("abc") = 900150983cd24fb0d6963f7d28e17f72: a digit first stays as it is.
        assert_eq!(
            spec(None, "abc").resolved_id(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            spec(None, "").resolved_id(),
            "D41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(spec(None, "m").at_ms(Dur::from_secs(20)), 10_000);
    }

    #[test]
    fn choice_parameters_need_choices() {
        let text = "jobs:\n  - path: a\n    parameters: [{name: C, type: choice}]\n";
        assert!(SandboxConfig::parse(text, "t").is_err());
    }
}

//! The pipeline file as written: serde types that read it and, through schemars, describe it
//! in `schemas/pipeline.schema.json`.
//!
//! Every struct denies unknown fields. There is no `untagged` enum and no `flatten`: both make
//! serde forget which key was wrong and where. A step is one struct with every key optional
//! (including `parallel`), and the loader checks which keys go together.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::model::{AwaitBuild, BranchScan, DEFAULT_SERVER, ResultName, RetryOn};
use crate::duration::Dur;

/// A pipeline of Jenkins jobs, run by jrun (`jrun run FILE`, `jrun validate FILE`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a pipeline: a mapping with at least `name:` and `steps:`"
)]
#[schemars(title = "jrun pipeline")]
pub struct PipelineFile {
    /// Name of the pipeline, shown in output and reports. Templates read it as `pipeline.name`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The Jenkins server. Every field may instead come from the environment:
    /// `JENKINS_URL`, `JENKINS_USER_ID`, `JENKINS_API_TOKEN` (or `JENKINS_PASSWORD`).
    pub jenkins: Option<JenkinsFile>,
    /// Further Jenkins servers by name, for steps that say `server: NAME`. Same keys as
    /// `jenkins:`; the name `default` is taken by `jenkins:`.
    pub servers: Option<ServersFile>,
    /// Values for templates (`{{vars.version}}`). Any YAML value, nested mappings included.
    /// `--set key=value` replaces a top-level var with a string.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub vars: Option<VarsFile>,
    /// Settings that apply to every step that does not set them itself.
    pub defaults: Option<DefaultsFile>,
    /// The steps, run in list order unless they say `needs:`. An entry is a job step
    /// (`job:`), a gate (`await:`), or a group of steps that run at the same time (`parallel:`).
    #[schemars(length(min = 1))]
    pub steps: Vec<StepFile>,
}

/// The Jenkins server and how to authenticate to it. Values may be templates such as
/// `"{{env.RELEASE_TOKEN}}"`, so no secret needs to be written in the file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "the Jenkins server: a mapping with keys such as `url:`, `user:`, `token:`"
)]
pub struct JenkinsFile {
    /// Base URL of Jenkins, e.g. `https://ci.example.com`. Default: `$JENKINS_URL`.
    pub url: Option<String>,
    /// User name. Default: `$JENKINS_USER_ID`.
    pub user: Option<String>,
    /// API token of the user. Default: `$JENKINS_API_TOKEN`.
    pub token: Option<String>,
    /// File holding the API token (instead of `token`).
    pub token_file: Option<String>,
    /// Password of the user, when there is no API token (jrun then fetches a CSRF crumb).
    pub password: Option<String>,
    /// File holding the password (instead of `password`).
    pub password_file: Option<String>,
    /// How requests authenticate: `basic` (default: `user` with an API token or a password),
    /// `bearer` (`Authorization: Bearer` with the token, no user) or `none` (no
    /// `Authorization`, e.g. when a front door's `headers` are the only credential).
    pub auth: Option<AuthScheme>,
    /// Command whose trimmed output is the token (instead of `token`/`token_file`), as an
    /// argument list run without a shell, e.g. `[gcloud, auth, print-identity-token]`. Run
    /// when first needed, again after `token_ttl` and once more when Jenkins refuses its token.
    #[schemars(length(min = 1))]
    pub token_command: Option<Vec<String>>,
    /// How long a `token_command`'s token is used before the command runs again (default 5m).
    pub token_ttl: Option<Dur>,
    /// HTTP headers sent with every request to this server, e.g. `X-Forwarded-User: bot` or
    /// `Proxy-Authorization: "Bearer {{env.IAP_TOKEN}}"`. Their values are kept out of every
    /// output.
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// PEM file of certificate authorities to trust besides the system's, for a Jenkins whose
    /// HTTPS certificate a company CA signed.
    pub ca_file: Option<String>,
    /// Forward proxy every request to this server goes through, e.g. `http://proxy:3128`
    /// (credentials in it, `http://user:secret@proxy:3128`, are kept out of every output).
    /// Without it, `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` apply as curl
    /// applies them.
    pub proxy: Option<String>,
    /// Most requests in flight to this server at once.
    #[schemars(range(min = 1))]
    pub max_in_flight: Option<usize>,
    /// Most steps a second that start triggering on this server (default 50), with a quarter
    /// of a second's worth at once after a quiet spell: thousands of steps ready together
    /// reach Jenkins as a steady stream, not a storm.
    #[schemars(range(min = 1))]
    pub triggers_per_second: Option<u32>,
    /// How long the server may stay unreachable before the run gives up (default 2m). A
    /// request that gets no answer for this long counts as unreachable too (requests wait at
    /// most 30s for an answer).
    pub unreachable_timeout: Option<Dur>,
}

/// How requests to a server authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthScheme {
    /// `Authorization: Basic` with `user` and an API token or a password.
    #[default]
    Basic,
    /// `Authorization: Bearer` with the token.
    Bearer,
    /// No `Authorization` header.
    None,
}

impl AuthScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::Basic => "basic",
            AuthScheme::Bearer => "bearer",
            AuthScheme::None => "none",
        }
    }
}

/// Settings that apply to every step unless the step sets them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "defaults: a mapping with keys such as `expect:`, `timeout:`, `poll:`"
)]
pub struct DefaultsFile {
    /// Results that count as passing (default `[SUCCESS]`).
    pub expect: Option<Vec<ResultName>>,
    /// Wall time of a build, queue time included (default: none). Also bounds `await:` gates
    /// (whose own default is 1h).
    pub timeout: Option<Dur>,
    /// How long a build may wait in the Jenkins queue (default 1h).
    pub queue_timeout: Option<Dur>,
    /// How often to ask Jenkins about a build.
    pub poll: Option<PollFile>,
    /// When to trigger a job again; a step's own `retry:` overrides these key by key.
    pub retry: Option<RetryFile>,
    /// A string parameter of every job that jrun fills with a unique id per trigger (see the
    /// step's `trigger_id`).
    pub trigger_id: Option<String>,
    /// Whether a branch job that does not exist yet is looked for with a scan of its
    /// multibranch project (default `never`).
    pub branch_scan: Option<BranchScan>,
    /// How long such a scan may take until the branch appears (default 10m).
    pub scan_timeout: Option<Dur>,
}

/// `retry:`: trigger the job again when its build ends for one of the reasons in `on`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "retry settings: a mapping with `max:`, `on:` and/or `delay:`"
)]
pub struct RetryFile {
    /// Attempts after the first, at most 100 (default 0: no retry).
    #[schemars(range(max = 100))]
    pub max: Option<u32>,
    /// Why to retry: build results (FAILURE, UNSTABLE, ABORTED, NOT_BUILT) and `lost` (the
    /// build could not be followed). Default `[FAILURE, lost]`.
    #[schemars(length(min = 1))]
    pub on: Option<Vec<RetryOn>>,
    /// Pause before each new attempt (default 10s).
    pub delay: Option<Dur>,
}

/// Polling intervals: start at `initial`, grow by `factor`, never above `max`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "poll settings: a mapping with `initial:`, `max:` and/or `factor:`"
)]
pub struct PollFile {
    /// First interval (default 1s).
    pub initial: Option<Dur>,
    /// Longest interval (default 15s).
    pub max: Option<Dur>,
    /// Growth from one interval to the next, at least 1 (default 1.5).
    #[schemars(range(min = 1.0))]
    pub factor: Option<f64>,
}

/// One entry of `steps:` (or of a `parallel:` group): a job step (`job:`), a gate (`await:`),
/// or a group (`parallel:`, alone in its entry).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a step: a mapping with `job:`, `await:` or `parallel:`"
)]
#[schemars(transform = step_kinds)]
pub struct StepFile {
    /// Unique name of the step, used by `needs:` and in templates (`steps.<id>.number`).
    /// Letters, digits, `-` and `_`. Default: the last part of the job name.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub id: Option<String>,
    /// Job to build, with its folders: `platform/app/build`.
    pub job: Option<String>,
    /// A gate: waits until the job's last build has one of the results; triggers nothing.
    #[serde(rename = "await")]
    pub await_: Option<AwaitFile>,
    /// Steps that run at the same time; the next entry waits for all of them.
    pub parallel: Option<Vec<StepFile>>,
    /// Build parameters. Values are text (numbers and booleans are sent as written).
    pub params: Option<Params>,
    /// Results that count as passing (default `[SUCCESS]`, or `defaults.expect`).
    pub expect: Option<Vec<ResultName>>,
    /// `false` triggers the build and moves on without waiting for it (default `true`).
    pub wait: Option<bool>,
    /// Wall time of the build, queue time included; for `await:`, how long to wait (1h).
    pub timeout: Option<Dur>,
    /// How long the build may wait in the Jenkins queue (default 1h).
    pub queue_timeout: Option<Dur>,
    /// How often to ask Jenkins about the build.
    pub poll: Option<PollFile>,
    /// When the step runs, given how the steps it needs ended (default `on_success`).
    #[serde(rename = "if")]
    pub condition: Option<ConditionFile>,
    /// A failure of this step is reported but does not stop its dependents nor fail the run.
    pub continue_on_failure: Option<bool>,
    /// Remote trigger token of the job ("Trigger builds remotely").
    pub token: Option<String>,
    /// A string parameter of the job that jrun fills with a unique id for each trigger, so a
    /// trigger whose answer was lost is recognised by that id alone, whoever else builds the job.
    pub trigger_id: Option<String>,
    /// Ids of the steps this one waits for, instead of the entry before it.
    pub needs: Option<Vec<String>>,
    /// The server to use, by its name under `servers:` (default: the `jenkins:` block, also
    /// named `default`).
    pub server: Option<String>,
    /// When to trigger the job again (overrides `defaults.retry` key by key).
    pub retry: Option<RetryFile>,
    /// Runs the job once per combination of the values: `{ REGION: [eu, us], TIER: [web] }`.
    /// Templates read the values as `{{matrix.REGION}}`; the cells have ids such as
    /// `deploy[REGION=eu,TIER=web]`, and the steps that need this one wait for all of them.
    pub matrix: Option<MatrixFile>,
    /// With `matrix:`: when a cell fails, stop the other cells (default `true`).
    pub fail_fast: Option<bool>,
    /// With `matrix:`: at most this many cells at once.
    #[schemars(range(min = 1))]
    pub max_parallel: Option<usize>,
    /// Values read from the build once it ended with an expected result, for later steps'
    /// templates as `{{steps.<id>.outputs.<NAME>}}`.
    pub outputs: Option<OutputsFile>,
    /// The description jrun sets on the build once it has a number, e.g. `"release
    /// {{vars.version}} (jrun run {{run.id}})"`. A refusal is a warning, never a failure.
    pub description: Option<String>,
    /// Files the ended build archived, to download: `{ get: ["dist/*.tar.gz"], to: out }`.
    pub artifacts: Option<ArtifactsFile>,
    /// A branch of the multibranch project `job:` names, as written in the repository
    /// (`release/2.4`); jrun encodes it into the branch job's name (`app/release%2F2.4`).
    pub branch: Option<String>,
    /// `auto`: when the branch job does not exist yet, scan its multibranch project, wait for
    /// the branch to appear and follow the build the scan started for it (default `never`).
    pub branch_scan: Option<BranchScan>,
    /// How long a scan may take until the branch appears (default 10m).
    pub scan_timeout: Option<Dur>,
    /// How to answer the build's Pipeline `input` steps: `{ id: Deploy, action: proceed,
    /// params: { TARGET: prod } }`, or a list of such blocks for several inputs.
    pub input: Option<InputsFile>,
    /// How long the build may wait at one input before jrun acts: it aborts the build (the
    /// step times out) or sends `input_default`. Default: no limit.
    pub input_timeout: Option<Dur>,
    /// What `input_timeout` sends instead of aborting: `proceed` or `abort`.
    pub input_default: Option<InputActionFile>,
    /// `true`: time the build waits at an input counts against `timeout` (default `false`).
    pub timeout_counts_input: Option<bool>,
}

/// `input:` as written: one block, or a list of them.
#[derive(Debug, Default)]
pub struct InputsFile(pub Vec<InputFile>);

/// One input of the build and how to answer it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an input answer: a mapping with `id:`, `action:`, `params:` and/or `if:`"
)]
pub struct InputFile {
    /// The input's id as written in the Jenkinsfile; Jenkins capitalizes it (`deploy` is
    /// `Deploy`), and so does jrun. Default: any input of the build.
    pub id: Option<String>,
    /// `proceed` (default), `abort`, or `prompt` (ask on the terminal).
    pub action: Option<InputActionFile>,
    /// Values of the input's parameters; every parameter the input declares must be given or
    /// have a default.
    pub params: Option<Params>,
    /// Answer only when this template expression renders `true`; otherwise wait for a person.
    #[serde(rename = "if")]
    pub condition: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputActionFile {
    Proceed,
    Abort,
    Prompt,
}

impl<'de> Deserialize<'de> for InputsFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(InputsVisitor)
    }
}

struct InputsVisitor;

impl<'de> Visitor<'de> for InputsVisitor {
    type Value = InputsFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("input: a mapping with `id:` and `action:`, or a list of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InputsFile, A::Error> {
        let one = InputFile::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(InputsFile(vec![one]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InputsFile, A::Error> {
        let mut all = Vec::new();
        while let Some(one) = seq.next_element::<InputFile>()? {
            all.push(one);
        }
        Ok(InputsFile(all))
    }
}

impl JsonSchema for InputsFile {
    fn schema_name() -> Cow<'static, str> {
        "InputsFile".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<InputFile>();
        json_schema!({
            "description": "One input answer, or a list of them.",
            "anyOf": [one, { "type": "array", "items": one }]
        })
    }
}

/// `artifacts:`: which archived files of the build to download, and where to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "artifacts: a mapping with `get:` (a list of globs), `to:` and/or `optional:`"
)]
pub struct ArtifactsFile {
    /// Globs over the artifacts' paths in Jenkins: `*` and `?` within one folder, `**` across
    /// folders, `[abc]` and `{a,b}` too. Each must match at least one artifact.
    #[schemars(length(min = 1))]
    pub get: Vec<String>,
    /// Folder the files are written to, keeping their paths below it; a template (default
    /// `artifacts/{{step.id}}`, from the working directory).
    pub to: Option<String>,
    /// `true`: a glob that matches nothing is not a failure (default `false`).
    pub optional: Option<bool>,
}

/// Keys of a step that mean something only to a job step: an `await:` step triggers nothing.
pub(crate) const JOB_ONLY_KEYS: &[&str] = &[
    "params",
    "expect",
    "wait",
    "queue_timeout",
    "token",
    "trigger_id",
    "retry",
    "matrix",
    "outputs",
    "description",
    "artifacts",
    "branch",
    "branch_scan",
    "scan_timeout",
    "input",
    "input_timeout",
    "input_default",
    "timeout_counts_input",
];

/// Keys of a step that mean something only beside `matrix:` (itself one of [`JOB_ONLY_KEYS`]).
pub(crate) const MATRIX_ONLY_KEYS: &[&str] = &["fail_fast", "max_parallel"];

/// Which keys go together, for editors; the loader checks the same rules with better messages.
fn step_kinds(schema: &mut Schema) {
    let mut await_props = serde_json::Map::new();
    await_props.insert("parallel".into(), false.into());
    for &key in JOB_ONLY_KEYS.iter().chain(MATRIX_ONLY_KEYS) {
        await_props.insert(key.into(), false.into());
    }
    schema.insert(
        "oneOf".into(),
        serde_json::json!([
            {
                "title": "job step",
                "required": ["job"],
                "properties": { "parallel": false }
            },
            {
                "title": "await step",
                "required": ["await"],
                "properties": await_props
            },
            {
                "title": "parallel group",
                "required": ["parallel"],
                "maxProperties": 1
            }
        ]),
    );
    schema.insert(
        "dependencies".into(),
        serde_json::json!({
            "fail_fast": ["matrix"],
            "max_parallel": ["matrix"]
        }),
    );
}

/// A gate on another job's last build.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an await gate: a mapping with `job:` and optionally `build:`, `result:` and \
                 `newer_than:`"
)]
pub struct AwaitFile {
    /// Job whose build is watched, with its folders.
    pub job: String,
    /// Which build: a permalink (`lastBuild`, the default; `lastSuccessfulBuild`,
    /// `lastCompletedBuild`, `lastStableBuild`, `lastFailedBuild`, `lastUnstableBuild`,
    /// `lastUnsuccessfulBuild`) or a build number.
    pub build: Option<AwaitBuildFile>,
    /// Results that open the gate (default `[SUCCESS]`).
    pub result: Option<Vec<ResultName>>,
    /// The build must have ended at most this long ago, e.g. `24h`.
    pub newer_than: Option<Dur>,
}

/// `if:` as written: a keyword, or a template expression (any text with `{{`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionFile {
    OnSuccess,
    OnFailure,
    Always,
    Expr(String),
}

const CONDITION_KEYWORDS: [&str; 3] = ["on_success", "on_failure", "always"];

impl<'de> Deserialize<'de> for ConditionFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ConditionVisitor)
    }
}

struct ConditionVisitor;

impl Visitor<'_> for ConditionVisitor {
    type Value = ConditionFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a condition: on_success, on_failure, always, or a quoted template expression such \
             as \"{{eq steps.build.result 'UNSTABLE'}}\"",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ConditionFile, E> {
        match v {
            "on_success" => Ok(ConditionFile::OnSuccess),
            "on_failure" => Ok(ConditionFile::OnFailure),
            "always" => Ok(ConditionFile::Always),
            _ if v.contains("{{") => Ok(ConditionFile::Expr(v.to_string())),
            _ => {
                let mut message = format!("unknown condition `{v}`");
                if let Some(near) = super::suggest::nearest(v, CONDITION_KEYWORDS) {
                    message.push_str(&format!(" (did you mean `{near}`?)"));
                }
                message.push_str(
                    "; `if` is on_success (the default), on_failure, always, or a template \
                     expression that renders true or false, such as \
                     \"{{eq steps.build.result 'UNSTABLE'}}\"",
                );
                Err(E::custom(message))
            }
        }
    }
}

impl JsonSchema for ConditionFile {
    fn schema_name() -> Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "When the step runs, given how the steps it needs ended.",
            "oneOf": [
                {
                    "const": "on_success",
                    "description": "Runs when every step it needs passed (the default)."
                },
                {
                    "const": "on_failure",
                    "description": "Runs when a step it needs failed: for clean-up and alerts."
                },
                {
                    "const": "always",
                    "description": "Runs whatever happened to the steps it needs, once they have ended."
                },
                {
                    "type": "string",
                    "pattern": "\\{\\{",
                    "description": "A template expression, e.g. \"{{eq steps.build.result 'UNSTABLE'}}\": once the steps it needs have ended (whatever happened to them), it is rendered; `true` runs the step, `false` or nothing skips it, anything else fails it.",
                    "examples": ["{{eq steps.build.result 'UNSTABLE'}}"]
                }
            ]
        })
    }
}

/// A retry reason: a build result other than SUCCESS, or `lost`.
impl<'de> Deserialize<'de> for RetryOn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(RetryOnVisitor)
    }
}

struct RetryOnVisitor;

const RETRY_REASONS: [&str; 6] = [
    "FAILURE",
    "UNSTABLE",
    "ABORTED",
    "NOT_BUILT",
    "lost",
    "output",
];

impl Visitor<'_> for RetryOnVisitor {
    type Value = RetryOn;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a retry reason: FAILURE, UNSTABLE, ABORTED, NOT_BUILT, lost or output")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RetryOn, E> {
        match v {
            "lost" => return Ok(RetryOn::Lost),
            "output" => return Ok(RetryOn::Output),
            _ => {}
        }
        match v.parse::<ResultName>() {
            Ok(ResultName::Success) => Err(E::custom(
                "SUCCESS is not a reason to retry (the build passed); list FAILURE, UNSTABLE, \
                 ABORTED, NOT_BUILT, lost or output",
            )),
            Ok(result) => Ok(RetryOn::Result(result)),
            Err(_) => {
                let mut message = format!("unknown retry reason `{v}`");
                if let Some(near) = super::suggest::nearest(v, RETRY_REASONS) {
                    message.push_str(&format!(" (did you mean `{near}`?)"));
                }
                message.push_str(
                    "; retry on FAILURE, UNSTABLE, ABORTED, NOT_BUILT (Jenkins' results), \
                     lost (the build could not be followed) or output (a declared output or \
                     artifact could not be read)",
                );
                Err(E::custom(message))
            }
        }
    }
}

impl JsonSchema for RetryOn {
    fn schema_name() -> Cow<'static, str> {
        "RetryOn".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A reason to retry: a build result, or `lost` (the build could not be followed).",
            "enum": RETRY_REASONS
        })
    }
}

/// `await.build` as written: a permalink or a build number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitBuildFile(pub AwaitBuild);

impl<'de> Deserialize<'de> for AwaitBuildFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AwaitBuildVisitor)
    }
}

struct AwaitBuildVisitor;

impl Visitor<'_> for AwaitBuildVisitor {
    type Value = AwaitBuildFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a build: a build number or one of {}",
            AwaitBuild::PERMALINKS.join(", ")
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<AwaitBuildFile, E> {
        if v == 0 {
            return Err(E::custom(
                "build numbers start at 1; give a build number or a permalink such as lastBuild",
            ));
        }
        Ok(AwaitBuildFile(AwaitBuild::Number(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<AwaitBuildFile, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!(
                "build number {v} is negative; build numbers start at 1"
            ))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<AwaitBuildFile, E> {
        if AwaitBuild::PERMALINKS.contains(&v) {
            return Ok(AwaitBuildFile(AwaitBuild::Permalink(v.to_string())));
        }
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            return match v.parse::<u64>() {
                Ok(number) => self.visit_u64(number),
                Err(_) => Err(E::custom(format!("build number {v} is too large"))),
            };
        }
        let mut message = format!("unknown build `{v}`");
        if let Some(near) = super::suggest::closest(v, AwaitBuild::PERMALINKS) {
            message.push_str(&format!(" (did you mean `{near}`?)"));
        }
        message.push_str(&format!(
            "; give a build number or one of Jenkins' permalinks: {}",
            AwaitBuild::PERMALINKS.join(", ")
        ));
        Err(E::custom(message))
    }
}

impl JsonSchema for AwaitBuildFile {
    fn schema_name() -> Cow<'static, str> {
        "AwaitBuild".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The build to watch: a permalink (default lastBuild) or a build number.",
            "oneOf": [
                { "enum": AwaitBuild::PERMALINKS },
                { "type": "integer", "minimum": 1 }
            ]
        })
    }
}

/// `servers:` in file order; a name given twice is an error.
#[derive(Debug, Default)]
pub struct ServersFile(pub Vec<(String, JenkinsFile)>);

impl<'de> Deserialize<'de> for ServersFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ServersVisitor)
    }
}

struct ServersVisitor;

impl<'de> Visitor<'de> for ServersVisitor {
    type Value = ServersFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("servers: a mapping of NAME: { url: ..., user: ..., token: ... }")
    }

    fn visit_unit<E: de::Error>(self) -> Result<ServersFile, E> {
        Ok(ServersFile::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ServersFile, A::Error> {
        let mut servers: Vec<(String, JenkinsFile)> = Vec::new();
        let mut seen = HashSet::new();
        let twice = |name: &str| format!("server `{name}` is given twice; keep one of them");
        while let Some(name) = map.next_key_seed(NewKey {
            seen: &seen,
            twice: &twice,
        })? {
            let server = map.next_value::<JenkinsFile>()?;
            seen.insert(name.clone());
            servers.push((name, server));
        }
        Ok(ServersFile(servers))
    }
}

impl JsonSchema for ServersFile {
    fn schema_name() -> Cow<'static, str> {
        "Servers".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let server = generator.subschema_for::<JenkinsFile>();
        json_schema!({
            "type": "object",
            "description": "Further Jenkins servers: NAME: { url, user, token, ... }, chosen per step with `server: NAME`.",
            "propertyNames": {
                "pattern": "^[A-Za-z0-9_-]+$",
                "not": { "const": DEFAULT_SERVER }
            },
            "additionalProperties": server
        })
    }
}

/// `matrix:` in file order: each key with its values; a key given twice is an error.
#[derive(Debug, Default)]
pub struct MatrixFile(pub Vec<(String, Vec<MatrixValue>)>);

impl<'de> Deserialize<'de> for MatrixFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MatrixVisitor)
    }
}

struct MatrixVisitor;

impl<'de> Visitor<'de> for MatrixVisitor {
    type Value = MatrixFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a matrix: a mapping of KEY: [values], e.g. { REGION: [eu, us] }")
    }

    fn visit_unit<E: de::Error>(self) -> Result<MatrixFile, E> {
        Ok(MatrixFile::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MatrixFile, A::Error> {
        let mut keys: Vec<(String, Vec<MatrixValue>)> = Vec::new();
        let mut seen = HashSet::new();
        let twice =
            |key: &str| format!("matrix key `{key}` is given twice; list all its values once");
        while let Some(key) = map.next_key_seed(NewKey {
            seen: &seen,
            twice: &twice,
        })? {
            let values = map.next_value::<MatrixValues>()?;
            seen.insert(key.clone());
            keys.push((key, values.0));
        }
        Ok(MatrixFile(keys))
    }
}

/// The values of one matrix key: a list of scalars, kept as written (like parameter values).
struct MatrixValues(Vec<MatrixValue>);

/// One matrix value as written: YAML scalars keep their text (`1.10` stays `1.10`); null reads
/// as empty text, which the loader refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixValue(pub String);

impl<'de> Deserialize<'de> for MatrixValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(ScalarText {
                expecting: "a matrix value: text, a number or a boolean",
            })
            .map(MatrixValue)
    }
}

impl<'de> Deserialize<'de> for MatrixValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(MatrixValuesVisitor)
    }
}

struct MatrixValuesVisitor;

impl<'de> Visitor<'de> for MatrixValuesVisitor {
    type Value = MatrixValues;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of matrix values, e.g. [eu, us]")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<MatrixValues, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = seq.next_element::<MatrixValue>()? {
            values.push(value);
        }
        Ok(MatrixValues(values))
    }
}

impl JsonSchema for MatrixFile {
    fn schema_name() -> Cow<'static, str> {
        "Matrix".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "KEY: [values]; the step runs once per combination (at most 256), and templates read the values as {{matrix.KEY}}.",
            "minProperties": 1,
            "propertyNames": { "pattern": "^[A-Za-z0-9_-]+$" },
            "additionalProperties": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": ["string", "number", "boolean"],
                    "description": "A value as text; numbers and booleans as written."
                }
            }
        })
    }
}

/// `outputs:` as written: `from_artifact: PATH` and NAME: { one source } in file order; a name
/// given twice is an error.
#[derive(Debug, Default)]
pub struct OutputsFile {
    /// Every top-level key of this archived file (.json, .properties or .env) is an output.
    pub from_artifact: Option<String>,
    pub named: Vec<(String, OutputFile)>,
}

/// Where one named output comes from. Every key is optional here; the loader checks that
/// exactly one source is given.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an output source: a mapping with one of `log:`, `description: true`, \
                 `display_name: true`, `param:`, or `artifact:` with `key:`"
)]
#[schemars(transform = output_forms)]
pub struct OutputFile {
    /// A regular expression: the first capture group (or the whole match) of the first
    /// matching line of the build's console log.
    pub log: Option<String>,
    /// `true`: the build's description.
    pub description: Option<bool>,
    /// `true`: the build's display name (`#N` unless the build set one).
    pub display_name: Option<bool>,
    /// A parameter the build ran with, by name.
    pub param: Option<String>,
    /// An archived file (.json, .properties or .env) to read `key` from.
    pub artifact: Option<String>,
    /// With `artifact:`: the top-level key whose value is the output.
    pub key: Option<String>,
}

/// One source per output, for editors; the loader checks the same with better messages.
fn output_forms(schema: &mut Schema) {
    schema.insert(
        "oneOf".into(),
        serde_json::json!([
            { "required": ["log"], "maxProperties": 1 },
            { "required": ["description"], "maxProperties": 1, "properties": { "description": { "const": true } } },
            { "required": ["display_name"], "maxProperties": 1, "properties": { "display_name": { "const": true } } },
            { "required": ["param"], "maxProperties": 1 },
            { "required": ["artifact", "key"], "maxProperties": 2 }
        ]),
    );
}

impl<'de> Deserialize<'de> for OutputsFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OutputsVisitor)
    }
}

struct OutputsVisitor;

impl<'de> Visitor<'de> for OutputsVisitor {
    type Value = OutputsFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "outputs: a mapping of NAME: { log: REGEX } (or description, display_name, param, \
             artifact with key), and/or `from_artifact: PATH`",
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<OutputsFile, E> {
        Ok(OutputsFile::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OutputsFile, A::Error> {
        let mut outputs = OutputsFile::default();
        let mut seen = HashSet::new();
        let twice = |name: &str| format!("output `{name}` is given twice; keep one of them");
        while let Some(name) = map.next_key_seed(NewKey {
            seen: &seen,
            twice: &twice,
        })? {
            if name == FROM_ARTIFACT {
                outputs.from_artifact = Some(map.next_value::<String>()?);
            } else {
                let source = map.next_value::<OutputFile>()?;
                outputs.named.push((name.clone(), source));
            }
            seen.insert(name);
        }
        Ok(outputs)
    }
}

/// The key of `outputs:` that names a whole file of outputs rather than one output.
pub(crate) const FROM_ARTIFACT: &str = "from_artifact";

impl JsonSchema for OutputsFile {
    fn schema_name() -> Cow<'static, str> {
        "Outputs".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let source = generator.subschema_for::<OutputFile>();
        json_schema!({
            "type": "object",
            "description": "Values read from the build once it ended with an expected result: NAME: { log: REGEX } | { description: true } | { display_name: true } | { param: NAME } | { artifact: PATH, key: KEY }, and `from_artifact: PATH` for every top-level key of a .json, .properties or .env artifact. Later steps read them as {{steps.<id>.outputs.<NAME>}}.",
            "properties": {
                FROM_ARTIFACT: {
                    "type": "string",
                    "minLength": 1,
                    "description": "An archived .json, .properties or .env file whose every top-level key is an output."
                }
            },
            "propertyNames": { "pattern": "^[A-Za-z0-9_-]+$" },
            "additionalProperties": source
        })
    }
}

/// Build parameters in file order.
#[derive(Debug, Default)]
pub struct Params(pub Vec<(String, ParamValue)>);

/// A parameter value as written: YAML scalars keep their text (`1.10` stays `1.10`), null is
/// empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamValue(pub String);

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ParamsVisitor)
    }
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("build parameters: a mapping of NAME: value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Params, E> {
        Ok(Params::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
        let mut params: Vec<(String, ParamValue)> = Vec::new();
        let mut seen = HashSet::new();
        let twice = |name: &str| format!("parameter `{name}` is given twice; keep one of them");
        while let Some(name) = map.next_key_seed(NewKey {
            seen: &seen,
            twice: &twice,
        })? {
            let value = map.next_value::<ParamValue>()?;
            seen.insert(name.clone());
            params.push((name, value));
        }
        Ok(Params(params))
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `deserialize_str` hands over any scalar's text as written, so numbers such as `1.10`
        // or `007` reach Jenkins unchanged, and containers fail with the message below.
        deserializer
            .deserialize_str(ScalarText {
                expecting: "a parameter value: text, a number or a boolean (Jenkins parameters \
                            are text; write a list as one string, e.g. \"eu,us\")",
            })
            .map(ParamValue)
    }
}

/// Any scalar's text as written; null is empty text.
struct ScalarText {
    expecting: &'static str,
}

impl<'de> Visitor<'de> for ScalarText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        // The text of a YAML null; a quoted "null" reads the same here, which only matters
        // for a value whose intended text is the word null.
        let null = matches!(v, "" | "~" | "null" | "Null" | "NULL");
        Ok(if null { String::new() } else { v.to_string() })
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

/// `vars:` as JSON for the templates. YAML lets a parser keep either of two equal keys, so a
/// key given twice in any mapping, however deep, is an error at the second one rather than a
/// silent choice.
#[derive(Debug, Default)]
pub struct VarsFile(pub serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for VarsFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_map(UniqueValue)? {
            serde_json::Value::Object(map) => Ok(VarsFile(map)),
            _ => Err(de::Error::custom(
                "vars must be a mapping of names to values, like `vars: { version: \"2.4.0\" }`",
            )),
        }
    }
}

/// Any YAML value, as JSON, refusing a mapping key given twice.
struct UniqueValue;

impl<'de> DeserializeSeed<'de> for UniqueValue {
    type Value = serde_json::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueValue {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueValue)? {
            items.push(item);
        }
        Ok(items.into())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        let mut seen = HashSet::new();
        let twice = |key: &str| format!("`{key}` is given twice in this mapping; keep one of them");
        while let Some(key) = map.next_key_seed(AnyKey(NewKey {
            seen: &seen,
            twice: &twice,
        }))? {
            let value = map.next_value_seed(UniqueValue)?;
            seen.insert(key.clone());
            out.insert(key, value);
        }
        Ok(out.into())
    }
}

/// A mapping key of `vars:`, which YAML lets be a number or a boolean too: as text.
struct AnyKey<'a>(NewKey<'a>);

impl<'de> DeserializeSeed<'de> for AnyKey<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyKey<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.0.visit_str(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.0.visit_str(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.0.visit_str(&v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.0.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.0.visit_str(&v.to_string())
    }
}

/// A mapping key that must not repeat one in `seen`. It fails while the key itself is being
/// read, so that the error points at the repeated key.
struct NewKey<'a> {
    seen: &'a HashSet<String>,
    twice: &'a dyn Fn(&str) -> String,
}

impl<'de> DeserializeSeed<'de> for NewKey<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NewKey<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if self.seen.contains(v) {
            return Err(E::custom((self.twice)(v)));
        }
        Ok(v.to_string())
    }
}

impl JsonSchema for Params {
    fn schema_name() -> Cow<'static, str> {
        "Params".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<ParamValue>();
        json_schema!({
            "type": "object",
            "description": "Build parameters: NAME: value, sent in file order.",
            "additionalProperties": value
        })
    }
}

impl JsonSchema for ParamValue {
    fn schema_name() -> Cow<'static, str> {
        "ParamValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A parameter value; may be a template such as \"{{steps.build.number}}\". Numbers and booleans are sent as written, null as empty text.",
            "type": ["string", "number", "boolean", "null"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> Result<Vec<(String, String)>, String> {
        #[derive(Deserialize)]
        struct Doc {
            params: Params,
        }
        let doc: Doc = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
        Ok(doc.params.0.into_iter().map(|(k, v)| (k, v.0)).collect())
    }

    #[test]
    fn param_values_keep_their_text_in_file_order() {
        let got = params(
            "params:\n  Z: 1.10\n  A: 007\n  B: true\n  C: ~\n  D:\n  E: \"x\"\n  F: 3\n  G: 'a&b <c>'\n",
        )
        .unwrap();
        let want = [
            ("Z", "1.10"),
            ("A", "007"),
            ("B", "true"),
            ("C", ""),
            ("D", ""),
            ("E", "x"),
            ("F", "3"),
            ("G", "a&b <c>"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn list_and_map_param_values_are_rejected_with_advice() {
        let err = params("params:\n  REGIONS: [eu, us]\n").unwrap_err();
        assert!(err.contains("params.REGIONS"), "{err}");
        assert!(err.contains("write a list as one string"), "{err}");
        assert!(err.contains("line 2 column 12"), "{err}");
        let err = params("params:\n  X: {a: 1}\n").unwrap_err();
        assert!(err.contains("invalid type: map"), "{err}");
    }

    #[test]
    fn a_parameter_given_twice_is_rejected() {
        let err = params("params: {A: 1, A: 2}").unwrap_err();
        assert!(err.contains("parameter `A` is given twice"), "{err}");
    }
}

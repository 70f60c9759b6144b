//! What the client hands back, and the JSON shapes it reads them from. The JSON structs only
//! name the fields the `tree=` filters ask for, and tolerate `null` wherever Jenkins may send
//! one.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub full_name: String,
    /// False for disabled jobs, and for folders (which are not jobs at all).
    pub buildable: bool,
    pub parameters: Vec<ParamDef>,
    /// Jenkins' `_class`, e.g. `hudson.model.FreeStyleProject` or a folder class.
    pub class: String,
    /// How long its builds usually take, as Jenkins estimates it (from its last build's
    /// `estimatedDuration`, which is the job's); `None` before any build.
    pub estimated_duration_ms: Option<i64>,
    /// How long its most recent successful or unstable builds took, newest first: the
    /// durations Jenkins averages into its estimate, and the likeliest times a build ends.
    pub recent_durations_ms: Vec<i64>,
}

impl Job {
    /// Whether the name is a folder (plain, multibranch or organization) rather than a job:
    /// a mistake in the pipeline file, not a job that happens to be disabled.
    pub fn is_folder(&self) -> bool {
        is_folder_class(&self.class)
    }
}

/// Folders of every kind: cloudbees-folder's `Folder`, branch-api's `OrganizationFolder`, and
/// the `*MultiBranchProject`s, which export a `buildable` of their own (a scan) yet take no
/// build parameters and never give a queue item for a build.
fn is_folder_class(class: &str) -> bool {
    let simple = class.rsplit(['.', '$']).next().unwrap_or(class);
    simple.ends_with("Folder") || simple.ends_with("MultiBranchProject")
}

/// The results Jenkins' `hudson.model.Result` can take; anything else is not a Jenkins answer.
pub(crate) const RESULTS: [&str; 5] = ["SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDef {
    pub name: String,
    /// The definition's simple class name, e.g. `StringParameterDefinition`.
    pub kind: String,
    /// The default as text (`true`/`false` for booleans); None when Jenkins shows none, as for
    /// password parameters.
    pub default: Option<String>,
    pub choices: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triggered {
    pub queue_id: u64,
    /// Jenkins answered 303: the request was merged into an identical item already queued.
    pub folded: bool,
    /// A POST went unanswered and the item (or its build) was found afterwards instead of
    /// POSTing again.
    pub recovered: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueState {
    Waiting {
        why: Option<String>,
        blocked: bool,
        buildable: bool,
        /// When its quiet period ends (server time, epoch ms), for an item still waiting.
        due_ms: Option<i64>,
    },
    Cancelled,
    Started {
        number: u64,
        url: String,
        /// How long after it was queued the build was created, by Jenkins' own clock
        /// (`executable.timestamp - inQueueSince`), when Jenkins shows both.
        queued_for_ms: Option<i64>,
    },
    /// Left the queue, not cancelled, no build attached (yet): either the moment between
    /// leaving and the build being created, or for good when the job was disabled meanwhile.
    LeftWithoutBuild,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    pub id: u64,
    pub state: QueueState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRef {
    pub number: u64,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub number: u64,
    /// As Jenkins reports it (on its root URL); for display, never requested.
    pub url: String,
    /// The completion test: a build is finished when this is false, whatever `result` says.
    pub building: bool,
    pub result: Option<String>,
    pub timestamp_ms: i64,
    pub duration_ms: i64,
    pub queue_id: Option<u64>,
    /// Paused at a Pipeline `input` step: an `InputAction` says it waits. The action stays
    /// after the input is answered, so its presence alone means nothing.
    pub waiting_for_input: bool,
}

/// Requests this client sent and body bytes it received, for reports and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Every attempt, including failed ones and crumb fetches.
    pub requests: u64,
    /// Decoded body bytes of the answers.
    pub bytes_received: u64,
}

// ---- JSON ----

#[derive(Deserialize)]
pub(crate) struct JobJson {
    #[serde(rename = "_class", default)]
    class: Option<String>,
    #[serde(rename = "fullName", default)]
    full_name: Option<String>,
    #[serde(default)]
    buildable: Option<bool>,
    #[serde(default)]
    property: Option<Vec<PropertyJson>>,
    #[serde(rename = "lastBuild", default)]
    last_build: Option<EstimateJson>,
    #[serde(default)]
    builds: Option<Vec<RecentBuildJson>>,
}

#[derive(Deserialize)]
struct RecentBuildJson {
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    duration: Option<i64>,
}

#[derive(Deserialize)]
struct EstimateJson {
    #[serde(rename = "estimatedDuration", default)]
    estimated_duration: Option<i64>,
}

#[derive(Deserialize)]
struct PropertyJson {
    #[serde(rename = "parameterDefinitions", default)]
    parameter_definitions: Option<Vec<ParamDefJson>>,
}

#[derive(Deserialize)]
struct ParamDefJson {
    #[serde(rename = "_class", default)]
    class: Option<String>,
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    choices: Option<Vec<Value>>,
    #[serde(rename = "defaultParameterValue", default)]
    default: Option<ValueJson>,
}

#[derive(Deserialize)]
struct ValueJson {
    #[serde(default)]
    value: Option<Value>,
}

/// A parameter value as text the way a form would have submitted it.
pub(crate) fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

impl JobJson {
    /// The job, or what makes the answer something other than a job or a folder: every item
    /// has a `_class`, and every job (unlike other items) exports `buildable`.
    pub fn into_job(self, asked: &str) -> Result<Job, String> {
        let class = match self.class.as_deref() {
            Some(class) if !class.trim().is_empty() => class.to_string(),
            _ => return Err("expected a job, got JSON without a `_class`".to_string()),
        };
        let folder = is_folder_class(&class);
        if self.buildable.is_none() && !folder {
            return Err(format!(
                "expected a job, got a `{class}`, which has no `buildable` and is not a folder"
            ));
        }
        let parameters = self
            .property
            .unwrap_or_default()
            .into_iter()
            .flat_map(|p| p.parameter_definitions.unwrap_or_default())
            .map(|d| ParamDef {
                kind: d
                    .kind
                    .or_else(|| {
                        d.class
                            .as_deref()
                            .and_then(|c| c.rsplit(['.', '$']).next())
                            .map(str::to_string)
                    })
                    .unwrap_or_default(),
                default: d
                    .default
                    .and_then(|v| v.value)
                    .as_ref()
                    .and_then(value_text),
                choices: d
                    .choices
                    .unwrap_or_default()
                    .iter()
                    .filter_map(value_text)
                    .collect(),
                name: d.name,
            })
            .collect();
        Ok(Job {
            full_name: self.full_name.unwrap_or_else(|| asked.to_string()),
            // A multibranch project's `buildable` is about its scan, not about builds.
            buildable: !folder && self.buildable.unwrap_or(false),
            parameters,
            class,
            estimated_duration_ms: self
                .last_build
                .and_then(|b| b.estimated_duration)
                .filter(|ms| *ms > 0),
            // Jenkins' own estimate leaves out failed and aborted builds, which often end
            // early; a running build has no result and a duration of 0.
            recent_durations_ms: self
                .builds
                .unwrap_or_default()
                .into_iter()
                .filter(|b| matches!(b.result.as_deref(), Some("SUCCESS" | "UNSTABLE")))
                .filter_map(|b| b.duration.filter(|ms| *ms > 0))
                .collect(),
        })
    }
}

#[derive(Deserialize)]
pub(crate) struct QueueItemJson {
    #[serde(rename = "_class", default)]
    class: Option<String>,
    id: u64,
    #[serde(default)]
    why: Option<String>,
    #[serde(default)]
    blocked: Option<bool>,
    #[serde(default)]
    buildable: Option<bool>,
    #[serde(default)]
    cancelled: Option<bool>,
    #[serde(default)]
    executable: Option<ExecutableJson>,
    #[serde(rename = "inQueueSince", default)]
    in_queue_since: Option<i64>,
    /// A waiting item's due time.
    #[serde(default)]
    timestamp: Option<i64>,
}

#[derive(Deserialize)]
struct ExecutableJson {
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
}

impl QueueItemJson {
    pub fn into_item(self) -> QueueItem {
        let in_queue_since = self.in_queue_since.filter(|ms| *ms > 0);
        let started = self.executable.and_then(|e| {
            let queued_for = e
                .timestamp
                .zip(in_queue_since)
                .map(|(start, since)| start - since)
                .filter(|ms| *ms >= 0);
            e.number.map(|n| (n, e.url.unwrap_or_default(), queued_for))
        });
        let left = self
            .class
            .as_deref()
            .is_some_and(|c| c.ends_with("$LeftItem"));
        let state = match started {
            Some((number, url, queued_for_ms)) => QueueState::Started {
                number,
                url,
                queued_for_ms,
            },
            None if self.cancelled == Some(true) => QueueState::Cancelled,
            None if left => QueueState::LeftWithoutBuild,
            None => QueueState::Waiting {
                why: self.why,
                blocked: self.blocked.unwrap_or(false),
                buildable: self.buildable.unwrap_or(false),
                due_ms: self.timestamp.filter(|_| {
                    self.class
                        .as_deref()
                        .is_some_and(|c| c.ends_with("$WaitingItem"))
                }),
            },
        };
        QueueItem { id: self.id, state }
    }
}

#[derive(Deserialize)]
pub(crate) struct BuildJson {
    number: u64,
    #[serde(default)]
    url: Option<String>,
    building: bool,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(rename = "queueId", default)]
    queue_id: Option<u64>,
    #[serde(default)]
    actions: Option<Vec<Option<InputFlagJson>>>,
}

/// An entry of a build's `actions[]`; Jenkins puts `{}` or `null` for actions with nothing to
/// export.
#[derive(Deserialize)]
struct InputFlagJson {
    #[serde(rename = "waitingForInput", default)]
    waiting_for_input: Option<bool>,
}

impl TryFrom<BuildJson> for Build {
    /// What makes the answer something Jenkins never sends.
    type Error = String;

    fn try_from(b: BuildJson) -> Result<Build, String> {
        if let Some(result) = b.result.as_deref()
            && !RESULTS.contains(&result)
        {
            return Err(format!(
                "build #{} has the result `{result}`, which Jenkins does not have (it has {})",
                b.number,
                RESULTS.join(", ")
            ));
        }
        Ok(Build {
            number: b.number,
            url: b.url.unwrap_or_default(),
            building: b.building,
            result: b.result,
            timestamp_ms: b.timestamp.unwrap_or(0),
            duration_ms: b.duration.unwrap_or(0),
            queue_id: b.queue_id,
            waiting_for_input: b
                .actions
                .iter()
                .flatten()
                .flatten()
                .any(|a| a.waiting_for_input == Some(true)),
        })
    }
}

#[derive(Deserialize)]
pub(crate) struct FullBuildListJson {
    #[serde(rename = "allBuilds", default)]
    pub all_builds: Option<Vec<BuildJson>>,
}

#[derive(Deserialize)]
pub(crate) struct BuildListJson {
    #[serde(default)]
    pub builds: Option<Vec<BuildStubJson>>,
    #[serde(rename = "allBuilds", default)]
    pub all_builds: Option<Vec<BuildStubJson>>,
}

#[derive(Deserialize)]
pub(crate) struct BuildStubJson {
    pub number: u64,
    #[serde(rename = "queueId", default)]
    pub queue_id: Option<u64>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub actions: Option<Vec<ActionJson>>,
}

#[derive(Deserialize)]
pub(crate) struct CrumbJson {
    pub crumb: String,
    #[serde(rename = "crumbRequestField")]
    pub field: String,
}

#[derive(Deserialize)]
pub(crate) struct QueueListJson {
    #[serde(default)]
    pub items: Option<Vec<QueuedJson>>,
}

#[derive(Deserialize)]
pub(crate) struct QueuedJson {
    pub id: u64,
    #[serde(default)]
    pub task: Option<TaskJson>,
    #[serde(default)]
    pub actions: Option<Vec<ActionJson>>,
    #[serde(rename = "inQueueSince", default)]
    pub in_queue_since: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct TaskJson {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// One entry of `actions`: a `ParametersAction`, a `CauseAction`, or one of the `{}` that
/// invisible actions serialise to.
#[derive(Deserialize)]
pub(crate) struct ActionJson {
    #[serde(default)]
    pub parameters: Option<Vec<serde_json::Map<String, Value>>>,
    /// Kept as maps: a `UserIdCause` of anonymous has `"userId": null`, a `RemoteCause` has no
    /// `userId` at all, and the difference matters.
    #[serde(default)]
    pub causes: Option<Vec<serde_json::Map<String, Value>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(json: Value) -> Result<Job, String> {
        serde_json::from_value::<JobJson>(json)
            .expect("job JSON")
            .into_job("asked")
    }

    #[test]
    fn only_items_with_a_class_and_buildable_or_folders_are_jobs() {
        assert!(job(serde_json::json!({})).is_err());
        assert!(job(serde_json::json!({"_class": "", "buildable": true})).is_err());
        let weird = job(serde_json::json!({"_class": "com.example.Weird"})).unwrap_err();
        assert!(weird.contains("com.example.Weird"), "{weird}");
        let plugin =
            job(serde_json::json!({"_class": "com.example.OwnProject", "buildable": true}))
                .expect("a job type of a plugin");
        assert!(plugin.buildable && !plugin.is_folder());
        let disabled = job(serde_json::json!({
            "_class": "hudson.model.FreeStyleProject",
            "buildable": false
        }))
        .expect("a disabled job");
        assert!(!disabled.buildable && !disabled.is_folder());
        for class in [
            "com.cloudbees.hudson.plugins.folder.Folder",
            "jenkins.branch.OrganizationFolder",
            "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject",
        ] {
            // A multibranch project's `buildable` is about its branch scan.
            let folder =
                job(serde_json::json!({"_class": class, "buildable": true})).expect("a folder");
            assert!(folder.is_folder() && !folder.buildable, "{class}");
        }
    }

    #[test]
    fn results_jenkins_never_sends_are_refused_and_its_own_are_kept() {
        let build = |result: Value| {
            Build::try_from(
                serde_json::from_value::<BuildJson>(serde_json::json!({
                    "number": 3,
                    "building": false,
                    "result": result,
                }))
                .expect("build JSON"),
            )
        };
        for result in RESULTS {
            assert_eq!(
                build(Value::from(result)).expect(result).result.as_deref(),
                Some(result)
            );
        }
        assert_eq!(build(Value::Null).expect("no result yet").result, None);
        let weird = build(Value::from("WEIRD")).unwrap_err();
        assert!(weird.contains("WEIRD") && weird.contains("#3"), "{weird}");
        assert!(build(Value::from("success")).is_err());
    }
}

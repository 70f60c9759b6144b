//! The pipeline as the engine sees it: one graph of steps with every default applied.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::render::Template;

/// A loaded, validated pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub file: PathBuf,
    /// The `jenkins:` block; every field is `None` when the file leaves it out.
    pub server: ServerSpec,
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

    /// Every template of the file: the server's first, then each step's in step order.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.server
            .templates()
            .chain(self.steps.iter().flat_map(Step::templates))
    }
}

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
    pub max_in_flight: Option<usize>,
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
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    /// Direct dependencies, as indices into [`Pipeline::steps`] (always smaller than this
    /// step's own index).
    pub needs: Vec<usize>,
    pub condition: Condition,
    pub continue_on_failure: bool,
    pub kind: StepKind,
    /// Line where the step starts in the file.
    pub line: usize,
    /// Where the step sits in the file, e.g. `steps[2].parallel[0]`.
    pub path: String,
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
                    .chain(job.token.iter()),
            ),
            StepKind::Await(gate) => Box::new(std::iter::once(&gate.job)),
        }
    }
}

/// When a step runs, given how the steps it needs ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Runs when every step it needs passed (the default).
    #[default]
    OnSuccess,
    /// Runs when a step it needs failed: for clean-up and alerts.
    OnFailure,
    /// Runs whatever happened to the steps it needs, once they have ended.
    Always,
}

impl Condition {
    pub fn as_str(&self) -> &'static str {
        match self {
            Condition::OnSuccess => "on_success",
            Condition::OnFailure => "on_failure",
            Condition::Always => "always",
        }
    }
}

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
}

/// Triggers nothing: polls the job's last build until it has one of `results`.
#[derive(Debug, Clone)]
pub struct AwaitStep {
    pub job: Template,
    pub results: Vec<ResultName>,
    /// The build must have ended at most this long ago.
    pub newer_than: Option<Duration>,
    pub timeout: Duration,
    pub poll: Poll,
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
    fn poll_defaults_are_one_second_to_fifteen_by_one_and_a_half() {
        let poll = Poll::default();
        assert_eq!(poll.initial, Duration::from_secs(1));
        assert_eq!(poll.max, Duration::from_secs(15));
        assert_eq!(poll.factor, 1.5);
    }
}

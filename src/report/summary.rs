//! The run summary: every step with its status, result, build number, URL and duration, as a
//! table for people or as JSON (`--output json`, `--report`) for machines.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::time::short;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Passed,
    Failed,
    Skipped,
    Cancelled,
    TimedOut,
    /// Stopped by an interrupt without Jenkins confirming that its queue item or build ended:
    /// it may still be queued or running (left so by `--no-cancel-on-interrupt`, or Jenkins
    /// did not answer in time).
    Interrupted,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Passed => "passed",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Cancelled => "cancelled",
            StepStatus::TimedOut => "timed_out",
            StepStatus::Interrupted => "interrupted",
        }
    }
}

/// Why a step did not pass, beyond its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Its build ended with a result the step did not expect, or its queue item was cancelled.
    Result,
    /// Its build could not be followed: the queue item and the build vanished.
    Lost,
    /// What the step reads from its ended build (a declared output, an artifact) could not be
    /// had.
    Output,
    /// A trigger's answer was lost and several builds match it: see `candidates`.
    Ambiguous,
    /// A step or run timeout.
    Timeout,
    /// Jenkins could not be used, or answered what Jenkins never answers.
    Jenkins,
    /// The pipeline asked for something impossible: unknown job or parameter, bad template.
    Invalid,
    /// The run was interrupted by a signal.
    Interrupted,
}

/// Why a build ended with a result its step did not expect, as far as Jenkins could tell:
/// the failing stage and its error, the failed tests and the end of the log. Each part is
/// best effort; `unavailable` says why one could not be had.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnosis {
    /// The first failed or unstable Pipeline stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The failing step's error (or the stage's), e.g. `script returned exit code 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last lines of the failing step's log, or of the console log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// The build's test results, when it has a test report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestFailures>,
    /// The parts that could not be had, and why (a plugin not installed, a refusal, an answer
    /// too big).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
}

impl Diagnosis {
    pub fn is_empty(&self) -> bool {
        self == &Diagnosis::default()
    }
}

/// The counts of a build's test report and its first failed cases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestFailures {
    pub failed: u64,
    pub skipped: u64,
    pub total: u64,
    /// At most 20 failed cases, in the report's order.
    #[serde(default)]
    pub cases: Vec<FailedTest>,
}

/// A failed test case of a build's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FailedTest {
    pub class: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a step did not pass: the kind of failure and, for a build that ended with a result
/// the step did not expect, what Jenkins tells of why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    pub kind: FailureKind,
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
}

/// How one step ended, as the engine returns it, the journal stores it and the report shows
/// it. The journal's field names and texts are those of this struct's serde form, so a
/// journal written before it was typed reads the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutcome {
    pub status: StepStatus,
    pub failure: Option<FailureKind>,
    pub job: Option<String>,
    pub result: Option<String>,
    pub number: Option<u64>,
    pub url: Option<String>,
    pub queue_id: Option<u64>,
    pub attempts: u32,
    /// Step wall time, trigger to result, in pipeline time.
    pub duration_ms: u64,
    /// The build's own duration as Jenkins reports it.
    pub build_duration_ms: Option<u64>,
    pub message: Option<String>,
    /// With `FailureKind::Ambiguous`: the queue items and builds that could each be its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// Why its build failed, when it ended with a result the step did not expect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// The outputs read from its build (`outputs:`), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// The artifacts downloaded from its build (`artifacts:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRecord>,
    /// Its build was started by a scan of its multibranch project, not triggered by jrun.
    #[serde(default, skip_serializing_if = "is_false")]
    pub adopted: bool,
    /// The Pipeline `input` steps its build waited at, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputRecord>,
    /// When it ran, relative to the start of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<StepTimes>,
}

/// When a step ran, in milliseconds of pipeline time since the run started: what a timeline
/// of the run is drawn from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StepTimes {
    /// When the step began (its dependencies done, a permit held).
    pub began_ms: u64,
    /// When its result was known.
    pub ended_ms: u64,
    /// Each build triggered for it, retries included, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptTimes>,
}

/// One build of a step: when it was triggered, left the queue and ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AttemptTimes {
    /// 1 for the first build, 2 for the first retry, ...
    pub attempt: u32,
    /// When its trigger was sent.
    pub triggered_ms: u64,
    /// When its build started; none when it never left the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// When it ended, or was given up.
    pub ended_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Jenkins' result of the build, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// One wait of a step's build at a Pipeline `input` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InputRecord {
    /// The input's id as Jenkins stores it.
    pub id: String,
    pub message: String,
    /// How long the build waited at it, in pipeline time.
    pub waited_ms: u64,
    /// `proceed` or `abort` as jrun sent it; none when someone else answered, or nobody did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Who answered: `jrun` (from `input:`), `--approve`, `prompt`, `input_default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// One artifact downloaded from a step's build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactRecord {
    /// Its path in Jenkins, relative to the build's artifacts.
    pub path: String,
    /// The local file it was written to.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
}

impl StepOutcome {
    /// A passed step that has learnt nothing yet; the engine fills in what it learns.
    pub fn new() -> StepOutcome {
        StepOutcome::with_status(StepStatus::Passed)
    }

    pub fn with_status(status: StepStatus) -> StepOutcome {
        StepOutcome {
            status,
            failure: None,
            job: None,
            result: None,
            number: None,
            url: None,
            queue_id: None,
            attempts: 0,
            duration_ms: 0,
            build_duration_ms: None,
            message: None,
            candidates: Vec::new(),
            diagnosis: None,
            outputs: BTreeMap::new(),
            artifacts: Vec::new(),
            adopted: false,
            inputs: Vec::new(),
            times: None,
        }
    }

    /// The outcome with a failure of `kind`, ending in `status`.
    pub fn fail(
        mut self,
        status: StepStatus,
        kind: FailureKind,
        message: impl Into<String>,
    ) -> Self {
        self.status = status;
        self.failure = Some(kind);
        self.message = Some(message.into());
        self
    }
}

impl Default for StepOutcome {
    fn default() -> Self {
        StepOutcome::new()
    }
}

impl StepSummary {
    /// The report's line for a step: its outcome, placed on its server.
    pub fn new(id: String, server: String, outcome: StepOutcome) -> StepSummary {
        StepSummary {
            id,
            job: outcome.job,
            server,
            status: outcome.status,
            result: outcome.result,
            number: outcome.number,
            url: outcome.url,
            queue_id: outcome.queue_id,
            attempts: outcome.attempts,
            duration_ms: outcome.duration_ms,
            message: outcome.message,
            failure: outcome.failure.map(|kind| Failure {
                kind,
                diagnosis: outcome.diagnosis.unwrap_or_default(),
            }),
            candidates: outcome.candidates,
            outputs: outcome.outputs,
            artifacts: outcome.artifacts,
            adopted: outcome.adopted,
            inputs: outcome.inputs,
            needs: Vec::new(),
            matrix: None,
            times: outcome.times,
        }
    }
}

/// How the run ended: passed when the exit code is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Passed,
    Failed,
}

/// One step of the run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StepSummary {
    /// The step's id (matrix cells as `deploy[REGION=eu]`).
    pub id: String,
    /// The job's full name, once rendered.
    pub job: Option<String>,
    /// The server it ran on (`default` for the `jenkins:` block).
    pub server: String,
    pub status: StepStatus,
    /// Jenkins' result of its build (SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED), or
    /// CANCELLED for a queue item cancelled in Jenkins.
    pub result: Option<String>,
    /// Build number of the build this step followed.
    pub number: Option<u64>,
    pub url: Option<String>,
    /// Jenkins' queue item id of its trigger.
    pub queue_id: Option<u64>,
    /// Builds triggered for it (retries included).
    pub attempts: u32,
    /// Wall time of the step, trigger to result.
    pub duration_ms: u64,
    /// Why the step failed or was skipped, when that is not just its result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What kind of failure ended the step, when it did not pass, and why its build failed
    /// as far as Jenkins could tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// With `failure: ambiguous`: the queue items and builds that could each be the one this
    /// step triggered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// The values its `outputs:` read from its build, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// The artifacts downloaded from its build (`artifacts:`), as `{path, file, size}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRecord>,
    /// `true` when its build was not triggered by jrun but started by a scan (branch
    /// indexing) of its multibranch project, which found the branch, and adopted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub adopted: bool,
    /// The Pipeline `input` steps its build waited at: `{id, message, waited_ms, answer, by}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputRecord>,
    /// The ids of the steps it waited for (`needs`, list order, `parallel:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// For a cell of a `matrix:` step, that step's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<String>,
    /// When it ran, in milliseconds since the run started: `{began_ms, ended_ms, attempts:
    /// [{attempt, triggered_ms, started_ms, ended_ms, number, url, result}]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<StepTimes>,
}

/// The summary of a jrun run, as `--output json` prints it and `--report` writes it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "jrun run report")]
pub struct Summary {
    /// The pipeline's `name`.
    pub pipeline: String,
    pub status: RunStatus,
    /// jrun's exit code for the run.
    pub exit_code: u8,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: u64,
    pub steps: Vec<StepSummary>,
    /// The offset of the local time zone from UTC, in seconds, where the run ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_s: Option<i32>,
}

impl Summary {
    /// The summary with every registered secret masked in its texts, as it is shown and
    /// written: a step's message may quote what a server answered.
    pub fn redacted(&self) -> Summary {
        use crate::redact::redact_owned;
        let r = |text: &mut String| *text = redact_owned(std::mem::take(text));
        let mut summary = self.clone();
        // Named field by field, so that a text field added later cannot be forgotten here.
        let Summary {
            pipeline,
            status: _,
            exit_code: _,
            started_at,
            duration_ms: _,
            steps,
            utc_offset_s: _,
        } = &mut summary;
        r(pipeline);
        r(started_at);
        for step in steps {
            let StepSummary {
                id,
                job,
                server,
                status: _,
                result,
                number: _,
                url,
                queue_id: _,
                attempts: _,
                duration_ms: _,
                message,
                failure,
                candidates,
                outputs,
                artifacts,
                adopted: _,
                inputs,
                needs,
                matrix,
                times,
            } = step;
            needs.iter_mut().for_each(r);
            if let Some(matrix) = matrix {
                r(matrix);
            }
            for attempt in times.iter_mut().flat_map(|t| t.attempts.iter_mut()) {
                for text in [&mut attempt.url, &mut attempt.result]
                    .into_iter()
                    .flatten()
                {
                    r(text);
                }
            }
            for InputRecord { id, message, .. } in inputs.iter_mut() {
                r(id);
                r(message);
            }
            r(id);
            r(server);
            for text in [job, result, url, message].into_iter().flatten() {
                r(text);
            }
            candidates.iter_mut().for_each(r);
            if let Some(Failure { kind: _, diagnosis }) = failure {
                redact_diagnosis(diagnosis, r);
            }
            outputs.values_mut().for_each(r);
            for ArtifactRecord {
                path,
                file,
                size: _,
            } in artifacts
            {
                r(path);
                r(file);
            }
        }
        summary
    }
}

fn redact_diagnosis(diagnosis: &mut Diagnosis, r: impl Fn(&mut String)) {
    let Diagnosis {
        stage,
        error,
        log_tail,
        tests,
        unavailable,
    } = diagnosis;
    for text in [stage, error].into_iter().flatten() {
        r(text);
    }
    log_tail.iter_mut().for_each(&r);
    unavailable.iter_mut().for_each(&r);
    if let Some(TestFailures { cases, .. }) = tests {
        for FailedTest { class, name, error } in cases {
            r(class);
            r(name);
            if let Some(error) = error {
                r(error);
            }
        }
    }
}

/// The JSON Schema of the report, generated from the same types.
pub fn schema_text() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Summary>().to_value();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

pub fn json(summary: &Summary) -> String {
    let mut text = serde_json::to_string_pretty(summary).unwrap_or_default();
    text.push('\n');
    text
}

/// The table as it goes anywhere but a terminal.
#[cfg(test)]
pub fn text(summary: &Summary, color: bool) -> String {
    text_on(summary, color, None)
}

/// The table, with a timeline column (queue `░`, build `█`) when it goes to a terminal
/// `columns` wide.
pub fn text_on(summary: &Summary, color: bool, columns: Option<usize>) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    };
    let rows: Vec<[String; 6]> = summary
        .steps
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.status.as_str().to_string(),
                s.result.clone().unwrap_or_else(|| "-".to_string()),
                s.number.map_or("-".to_string(), |n| format!("#{n}")),
                if s.status == StepStatus::Skipped {
                    "-".to_string()
                } else {
                    short(Duration::from_millis(s.duration_ms))
                },
                s.url.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["STEP", "STATUS", "RESULT", "BUILD", "DURATION", "URL"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let rows_bars = columns.map(|columns| timeline_column(summary, &widths, columns));
    let (header, rows): (Vec<String>, Vec<Vec<String>>) = match &rows_bars {
        Some(bars) => {
            let mut header: Vec<String> = header.map(str::to_string).to_vec();
            header.insert(5, "TIMELINE".to_string());
            let rows = rows
                .into_iter()
                .zip(bars)
                .map(|(row, bar)| {
                    let mut row = row.to_vec();
                    row.insert(5, bar.clone());
                    row
                })
                .collect();
            (header, rows)
        }
        None => (
            header.map(str::to_string).to_vec(),
            rows.into_iter().map(|r| r.to_vec()).collect(),
        ),
    };
    let mut widths = widths.to_vec();
    if let Some(bars) = &rows_bars {
        let width = bars.iter().map(|b| b.chars().count()).max().unwrap_or(0);
        widths.insert(5, width.max("TIMELINE".len()));
    }
    let line = |cells: &[String], status_color: Option<&str>| {
        let mut out = String::from("  ");
        for (i, cell) in cells.iter().enumerate() {
            let padded = if i + 1 == cells.len() {
                cell.clone()
            } else {
                format!("{cell:<width$}  ", width = widths[i])
            };
            match (i, status_color) {
                (1, Some(code)) => out.push_str(&paint(code, &padded)),
                _ => out.push_str(&padded),
            }
        }
        out.trim_end().to_string()
    };
    let verdict = match summary.status {
        RunStatus::Passed => paint("32", "passed"),
        RunStatus::Failed => paint("31", "failed"),
    };
    let mut out = format!(
        "pipeline {}: {verdict} (exit {}) in {}\n",
        summary.pipeline,
        summary.exit_code,
        short(Duration::from_millis(summary.duration_ms))
    );
    out.push_str(&line(&header, None));
    out.push('\n');
    for (row, step) in rows.iter().zip(&summary.steps) {
        let code = match step.status {
            StepStatus::Passed => "32",
            StepStatus::Skipped => "2",
            _ => "31",
        };
        out.push_str(&line(row, Some(code)));
        out.push('\n');
        if let Some(message) = &step.message {
            out.push_str(&format!("      {}\n", super::plain::clean(message)));
        }
    }
    for step in &summary.steps {
        if let Some(block) = diagnosis_block(step) {
            out.push('\n');
            out.push_str(&block);
        }
    }
    out
}

/// Each step's bar for the timeline column, as wide as what is left of a terminal `columns`
/// wide beside the other columns but the URL, within bounds that keep it readable.
fn timeline_column(summary: &Summary, widths: &[usize; 6], columns: usize) -> Vec<String> {
    let beside: usize = 2 + widths[..5].iter().map(|w| w + 2).sum::<usize>();
    let width = columns.saturating_sub(beside + 2).clamp(10, 60);
    let axis_ms = summary
        .steps
        .iter()
        .filter_map(super::timeline::span)
        .map(|(_, end)| end)
        .max()
        .unwrap_or(0)
        .max(summary.duration_ms);
    summary
        .steps
        .iter()
        .map(|step| super::timeline::terminal_bar(step, axis_ms, width))
        .collect()
}

/// What a failed step's build tells of why it failed, as a few indented lines under the
/// table; None when nothing is known.
fn diagnosis_block(step: &StepSummary) -> Option<String> {
    use super::plain::{clean, log_line};
    let diagnosis = &step.failure.as_ref()?.diagnosis;
    if diagnosis.is_empty() {
        return None;
    }
    let build = match (&step.job, step.number) {
        (Some(job), Some(n)) => format!(" ({})", clean(&format!("{job} #{n}"))),
        (Some(job), None) => format!(" ({})", clean(job)),
        _ => String::new(),
    };
    let mut out = format!("  {}{build}:\n", clean(&step.id));
    if let Some(stage) = &diagnosis.stage {
        out.push_str(&format!("    stage: {}\n", clean(stage)));
    }
    if let Some(error) = &diagnosis.error {
        out.push_str(&format!("    error: {}\n", clean(error)));
    }
    if let Some(tests) = &diagnosis.tests {
        out.push_str(&format!(
            "    tests: {} failed, {} skipped, {} in all\n",
            tests.failed, tests.skipped, tests.total
        ));
        for case in &tests.cases {
            let error = case
                .error
                .as_deref()
                .map(|e| format!(": {}", clean(e)))
                .unwrap_or_default();
            out.push_str(&format!(
                "      {}.{}{error}\n",
                clean(&case.class),
                clean(&case.name)
            ));
        }
        let unlisted = tests.failed.saturating_sub(tests.cases.len() as u64);
        if unlisted > 0 && !tests.cases.is_empty() {
            out.push_str(&format!("      ... and {unlisted} more\n"));
        }
    }
    if !diagnosis.log_tail.is_empty() {
        out.push_str(&format!(
            "    log (last {}):\n",
            super::count(diagnosis.log_tail.len(), "line")
        ));
        for line in &diagnosis.log_tail {
            out.push_str(&format!("      {}\n", log_line(&step.id, line)));
        }
    }
    for why in &diagnosis.unavailable {
        out.push_str(&format!("    not known: {}\n", clean(why)));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            pipeline: "release".into(),
            status: RunStatus::Failed,
            exit_code: 1,
            started_at: "2026-12-01T05:00:00Z".into(),
            duration_ms: 12_300,
            steps: vec![
                StepSummary {
                    id: "build".into(),
                    job: Some("app/build".into()),
                    server: "default".into(),
                    status: StepStatus::Passed,
                    result: Some("SUCCESS".into()),
                    number: Some(5),
                    url: Some("http://ci/job/app/job/build/5/".into()),
                    queue_id: Some(12),
                    attempts: 1,
                    duration_ms: 4_200,
                    message: None,
                    failure: None,
                    candidates: Vec::new(),
                    outputs: Default::default(),
                    artifacts: Vec::new(),
                    adopted: false,
                    inputs: Vec::new(),
                    needs: Vec::new(),
                    matrix: None,
                    times: None,
                },
                StepSummary {
                    id: "announce".into(),
                    job: Some("notify".into()),
                    server: "default".into(),
                    status: StepStatus::Skipped,
                    result: None,
                    number: None,
                    url: None,
                    queue_id: None,
                    attempts: 0,
                    duration_ms: 0,
                    message: Some("`build` failed".into()),
                    failure: None,
                    candidates: Vec::new(),
                    outputs: Default::default(),
                    artifacts: Vec::new(),
                    adopted: false,
                    inputs: Vec::new(),
                    needs: Vec::new(),
                    matrix: None,
                    times: None,
                },
            ],
            utc_offset_s: None,
        }
    }

    #[test]
    fn the_table_names_every_step_with_result_build_and_url() {
        let text = text(&summary(), false);
        assert!(text.starts_with("pipeline release: failed (exit 1) in 12.3s\n"));
        assert!(
            text.contains(
                "build     passed   SUCCESS  #5     4.2s      http://ci/job/app/job/build/5/"
            ),
            "{text}"
        );
        assert!(text.contains("announce  skipped  -"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    fn diagnosed() -> Summary {
        let mut summary = summary();
        let step = &mut summary.steps[0];
        step.status = StepStatus::Failed;
        step.result = Some("FAILURE".into());
        step.message = Some("ended FAILURE, expected SUCCESS".into());
        step.failure = Some(Failure {
            kind: FailureKind::Result,
            diagnosis: Diagnosis {
                stage: Some("Test".into()),
                error: Some("script returned exit code 1".into()),
                log_tail: vec!["running tests".into(), "FooTest > bar FAILED".into()],
                tests: Some(TestFailures {
                    failed: 3,
                    skipped: 2,
                    total: 120,
                    cases: vec![FailedTest {
                        class: "com.ex.FooTest".into(),
                        name: "bar".into(),
                        error: Some("expected:<1> but was:<2>".into()),
                    }],
                }),
                unavailable: vec![],
            },
        });
        summary
    }

    #[test]
    fn a_failed_step_gets_a_block_with_stage_error_tests_and_log_under_the_table() {
        let text = text(&diagnosed(), false);
        let block = text.split("\n\n").nth(1).unwrap_or_default();
        assert_eq!(
            block,
            "  build (app/build #5):\n    stage: Test\n    error: script returned exit code 1\n    \
             tests: 3 failed, 2 skipped, 120 in all\n      com.ex.FooTest.bar: expected:<1> but was:<2>\n      \
             ... and 2 more\n    log (last 2 lines):\n      build | running tests\n      build | FooTest > bar FAILED\n",
            "{text}"
        );
    }

    #[test]
    fn on_a_terminal_the_table_gains_a_timeline_column_scaled_to_its_width() {
        use crate::report::summary::{AttemptTimes, StepTimes};
        let mut summary = summary();
        summary.steps[0].times = Some(StepTimes {
            began_ms: 0,
            ended_ms: 12_300,
            attempts: vec![AttemptTimes {
                attempt: 1,
                triggered_ms: 0,
                started_ms: Some(3_900),
                ended_ms: 12_300,
                ..Default::default()
            }],
        });
        let plain = text(&summary, false);
        assert!(
            !plain.contains("TIMELINE") && !plain.contains('█'),
            "{plain}"
        );
        let wide = text_on(&summary, false, Some(90));
        let row = wide.lines().find(|l| l.contains("#5")).unwrap_or_default();
        // 90 columns less the others: 41 cells of 300ms, 13 of them queue.
        assert!(
            row.contains(&format!("  {}{}  http", "░".repeat(13), "█".repeat(28))),
            "{wide}"
        );
        assert!(wide.contains("DURATION  TIMELINE"), "{wide}");
        let narrow = text_on(&summary, false, Some(40));
        let row = narrow
            .lines()
            .find(|l| l.contains("#5"))
            .unwrap_or_default();
        // At least 10 cells of 1.23s: the fourth is mostly build.
        assert!(row.contains("  ░░░▊██████  http"), "{narrow}");
    }

    #[test]
    fn a_step_without_a_diagnosis_gets_no_block() {
        let text = text(&summary(), false);
        assert!(!text.contains("\n\n"), "{text}");
    }

    #[test]
    fn failure_is_an_object_with_its_kind_and_what_was_found() {
        let value: serde_json::Value = serde_json::from_str(&json(&diagnosed())).unwrap();
        let failure = &value["steps"][0]["failure"];
        assert_eq!(failure["kind"], "result");
        assert_eq!(failure["stage"], "Test");
        assert_eq!(failure["error"], "script returned exit code 1");
        assert_eq!(failure["log_tail"][1], "FooTest > bar FAILED");
        assert_eq!(failure["tests"]["failed"], 3);
        assert_eq!(failure["tests"]["cases"][0]["class"], "com.ex.FooTest");
        assert!(failure.get("unavailable").is_none(), "{failure}");
    }

    #[test]
    fn an_old_journal_outcome_without_a_diagnosis_still_reads() {
        let outcome: StepOutcome = serde_json::from_str(
            r#"{"status":"failed","failure":"result","job":"a","result":"FAILURE","number":3,
                "url":null,"queue_id":1,"attempts":1,"duration_ms":5,"build_duration_ms":4,
                "message":"ended FAILURE, expected SUCCESS"}"#,
        )
        .unwrap();
        assert_eq!(outcome.diagnosis, None);
        let text = serde_json::to_string(&outcome).unwrap();
        assert!(!text.contains("diagnosis"), "{text}");
    }

    #[test]
    fn json_has_the_documented_fields() {
        let value: serde_json::Value = serde_json::from_str(&json(&summary())).unwrap();
        for key in [
            "pipeline",
            "status",
            "exit_code",
            "started_at",
            "duration_ms",
            "steps",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
        let step = &value["steps"][0];
        for key in [
            "id",
            "job",
            "server",
            "status",
            "result",
            "number",
            "url",
            "queue_id",
            "attempts",
            "duration_ms",
        ] {
            assert!(step.get(key).is_some(), "{key}");
        }
        assert_eq!(value["steps"][1]["status"], "skipped");
    }
}

//! The run summary: every step with its status, result, build number, URL and duration, as a
//! table for people or as JSON (`--output json`, `--report`) for machines.

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
    /// The artifacts downloaded from its build (`artifacts:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRecord>,
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
            artifacts: Vec::new(),
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
            failure: outcome.failure,
            candidates: outcome.candidates,
            artifacts: outcome.artifacts,
        }
    }
}

/// How the run ended: passed when the exit code is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Passed,
    Failed,
}

/// One step of the run.
#[derive(Debug, Clone, Serialize, JsonSchema)]
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
    /// What kind of failure ended the step, when it did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
    /// With `failure: ambiguous`: the queue items and builds that could each be the one this
    /// step triggered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// The artifacts downloaded from its build (`artifacts:`), as `{path, file, size}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRecord>,
}

/// The summary of a jrun run, as `--output json` prints it and `--report` writes it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
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
                failure: _,
                candidates,
                artifacts,
            } = step;
            r(id);
            r(server);
            for text in [job, result, url, message].into_iter().flatten() {
                r(text);
            }
            candidates.iter_mut().for_each(r);
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

pub fn text(summary: &Summary, color: bool) -> String {
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
    let line = |cells: &[String; 6], status_color: Option<&str>| {
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
    out.push_str(&line(&header.map(str::to_string), None));
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
    out
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
                    artifacts: Vec::new(),
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
                    artifacts: Vec::new(),
                },
            ],
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

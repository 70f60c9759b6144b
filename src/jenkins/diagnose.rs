//! Reads that tell why a build failed: its Pipeline stages (`wfapi`, plugin
//! `pipeline-rest-api`), its test report (junit plugin) and the tail of its console log.
//! Each read is one small answer; a plugin that is not installed answers 404, which is `None`
//! here, never an error, since a build without that information is not a Jenkins failure.

use serde::Deserialize;

use super::client::Client;
use super::error::Error;
use super::log::strip_notes;
use super::paths::{job_path, shown};

/// How much of the end of a console log one tail read asks for: enough for the last few
/// dozen lines even when they are long, never the whole of a big log.
pub const LOG_TAIL_BYTES: u64 = 64 * 1024;

/// The most failed test cases kept of one report.
pub const MAX_FAILED_CASES: usize = 20;

/// The cases of one suite asked for at most: a report lists passing cases too, and a suite
/// of many thousands would otherwise make an answer past the cap on one body.
const REPORT_CASES: usize = 5000;

/// A stage as the stage view shows it (`StageNodeExt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub id: String,
    pub name: String,
    /// `SUCCESS`, `FAILED`, `UNSTABLE`, `ABORTED`, `NOT_EXECUTED`, `IN_PROGRESS`, ...
    pub status: String,
    pub error: Option<NodeError>,
}

impl Stage {
    /// Whether this stage is where the build went wrong.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "FAILED" | "UNSTABLE")
    }
}

/// `error{message,type}` of a stage or a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    pub message: String,
    /// The Java exception's class, e.g. `hudson.AbortException`.
    pub kind: Option<String>,
}

/// A step (flow node) of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepNode {
    pub id: String,
    pub name: String,
    pub status: String,
    pub error: Option<NodeError>,
}

/// The test counts of a build's `TestResultAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCounts {
    pub failed: u64,
    pub skipped: u64,
    pub total: u64,
}

/// One failed test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCase {
    pub class: String,
    pub name: String,
    pub error: Option<String>,
}

/// A test report's counts and its first failed cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    pub counts: TestCounts,
    /// At most [`MAX_FAILED_CASES`], in the report's order.
    pub failed: Vec<FailedCase>,
}

// ---- JSON ----

#[derive(Deserialize)]
struct ErrorJson {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct StageJson {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    error: Option<ErrorJson>,
    #[serde(rename = "stageFlowNodes", default)]
    nodes: Vec<StageJson>,
}

#[derive(Deserialize)]
struct RunJson {
    #[serde(default)]
    stages: Vec<StageJson>,
}

#[derive(Deserialize)]
struct NodeLogJson {
    text: Option<String>,
    #[serde(rename = "hasMore", default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct ActionsJson {
    #[serde(default)]
    actions: Vec<Option<ActionJson>>,
}

#[derive(Deserialize)]
struct ActionJson {
    #[serde(rename = "failCount")]
    fail: Option<u64>,
    #[serde(rename = "skipCount")]
    skip: Option<u64>,
    #[serde(rename = "totalCount")]
    total: Option<u64>,
}

#[derive(Deserialize)]
struct ReportJson {
    #[serde(rename = "failCount", default)]
    fail: u64,
    #[serde(rename = "passCount", default)]
    pass: u64,
    #[serde(rename = "skipCount", default)]
    skip: u64,
    #[serde(default)]
    suites: Vec<SuiteJson>,
}

#[derive(Deserialize)]
struct SuiteJson {
    #[serde(default)]
    cases: Vec<CaseJson>,
}

#[derive(Deserialize)]
struct CaseJson {
    #[serde(rename = "className", default)]
    class: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(rename = "errorDetails")]
    error: Option<String>,
}

fn node_error(json: Option<ErrorJson>) -> Option<NodeError> {
    let json = json?;
    let message = json.message.filter(|m| !m.trim().is_empty());
    match (message, json.kind) {
        (None, None) => None,
        (message, kind) => Some(NodeError {
            message: message.unwrap_or_else(|| kind.clone().unwrap_or_default()),
            kind,
        }),
    }
}

impl From<StageJson> for Stage {
    fn from(json: StageJson) -> Stage {
        Stage {
            id: json.id,
            name: json.name,
            status: json.status,
            error: node_error(json.error),
        }
    }
}

impl From<StageJson> for StepNode {
    fn from(json: StageJson) -> StepNode {
        StepNode {
            id: json.id,
            name: json.name,
            status: json.status,
            error: node_error(json.error),
        }
    }
}

/// Whether a test case counts as failed: junit before 1363 also says `REGRESSION` (failing
/// now, passed before) and `FIXED` (passing now).
fn case_failed(status: &str) -> bool {
    matches!(status, "FAILED" | "REGRESSION")
}

impl Client {
    fn build_url(&self, job: &str, number: u64, rest: &str) -> Result<String, Error> {
        Ok(format!(
            "{}{}{number}/{rest}",
            self.inner.base,
            job_path(job)?
        ))
    }

    /// The stages of a Pipeline build, in order (`…/N/wfapi/describe`). `None` when the build
    /// has no stage view: a freestyle build, or `pipeline-rest-api` not installed.
    pub async fn stages(&self, job: &str, number: u64) -> Result<Option<Vec<Stage>>, Error> {
        let url = self.build_url(job, number, "wfapi/describe")?;
        // `null` is what the stage view answers for a run it cannot describe.
        let run: Option<Option<RunJson>> = self.get_json(&url).await?;
        Ok(run.map(|run| {
            run.map(|r| r.stages.into_iter().map(Stage::from).collect())
                .unwrap_or_default()
        }))
    }

    /// The steps of a stage (`…/execution/node/ID/wfapi/describe`, at most 100 of them).
    pub async fn stage_steps(
        &self,
        job: &str,
        number: u64,
        stage: &str,
    ) -> Result<Option<Vec<StepNode>>, Error> {
        let id = node_id(stage)?;
        let url = self.build_url(job, number, &format!("execution/node/{id}/wfapi/describe"))?;
        let node: Option<Option<StageJson>> = self.get_json(&url).await?;
        Ok(node.map(|n| {
            n.map(|n| n.nodes.into_iter().map(StepNode::from).collect())
                .unwrap_or_default()
        }))
    }

    /// The last lines of one step's log (`…/execution/node/ID/wfapi/log`, its last 10 KiB as
    /// HTML), as plain text.
    pub async fn step_log(
        &self,
        job: &str,
        number: u64,
        node: &str,
    ) -> Result<Option<Vec<String>>, Error> {
        let id = node_id(node)?;
        let url = self.build_url(job, number, &format!("execution/node/{id}/wfapi/log"))?;
        let log: Option<Option<NodeLogJson>> = self.get_json(&url).await?;
        Ok(log.map(|log| {
            let Some(log) = log else {
                return Vec::new();
            };
            let text = plain_of_html(log.text.as_deref().unwrap_or(""));
            let mut lines = lines_of(&text);
            // The text starts where a 10 KiB window of a longer log did, inside a line.
            if log.has_more && !lines.is_empty() {
                lines.remove(0);
            }
            lines
        }))
    }

    /// The counts of the build's test report, from its build JSON; `None` when the build has
    /// no test report.
    pub async fn test_counts(&self, job: &str, number: u64) -> Result<Option<TestCounts>, Error> {
        let path = format!("{}{number}/", job_path(job)?);
        let url = self.api_url(&path, "actions[_class,failCount,skipCount,totalCount]");
        let Some(build) = self.get_json::<ActionsJson>(&url).await? else {
            return Err(Error::NotFound {
                what: format!("build #{number} of job `{job}`"),
            });
        };
        // A `TestResultAction`, or another test action that exports the same counts (the
        // aggregated results of downstream builds); the `_class` is asked for only to tell
        // real actions from the `{}` placeholders.
        Ok(build
            .actions
            .into_iter()
            .flatten()
            .find(|a| a.total.is_some())
            .map(|a| TestCounts {
                failed: a.fail.unwrap_or(0),
                skipped: a.skip.unwrap_or(0),
                total: a.total.unwrap_or(0),
            }))
    }

    /// The build's test report (`…/N/testReport/api/json`): counts and the first
    /// [`MAX_FAILED_CASES`] failed cases. `None` when there is none (404).
    pub async fn test_report(&self, job: &str, number: u64) -> Result<Option<TestReport>, Error> {
        let path = format!("{}{number}/testReport/", job_path(job)?);
        // Stack traces, stdout and stderr of every case come without a tree; only what is
        // shown is asked for.
        let tree = format!(
            "failCount,passCount,skipCount,suites[cases[className,name,status,errorDetails]{{0,{REPORT_CASES}}}]"
        );
        let url = self.api_url(&path, &tree);
        let Some(report) = self.get_json::<ReportJson>(&url).await? else {
            return Ok(None);
        };
        let failed = report
            .suites
            .into_iter()
            .flat_map(|s| s.cases)
            .filter(|c| case_failed(&c.status))
            .take(MAX_FAILED_CASES)
            .map(|c| FailedCase {
                class: c.class,
                name: c.name,
                error: c.error.filter(|e| !e.trim().is_empty()),
            })
            .collect();
        Ok(Some(TestReport {
            counts: TestCounts {
                failed: report.fail,
                skipped: report.skip,
                total: report.fail + report.pass + report.skip,
            },
            failed,
        }))
    }

    /// The last `lines` lines of the build's console log, reading at most about
    /// [`LOG_TAIL_BYTES`] of it: its size comes first from the `X-Text-Size` of a `HEAD`,
    /// then only the end is asked for. A server that does not answer the `HEAD` with a size
    /// gets one capped read from the start instead.
    pub async fn console_tail(
        &self,
        job: &str,
        number: u64,
        lines: usize,
    ) -> Result<Vec<String>, Error> {
        if lines == 0 {
            return Ok(Vec::new());
        }
        let url = self.build_url(job, number, "logText/progressiveText?start=0")?;
        let size = self.log_size(&url).await;
        // An offset past the end makes Jenkins send the whole log again, so only a size it
        // gave is ever used.
        let start = size.map_or(0, |s| s.saturating_sub(LOG_TAIL_BYTES));
        let chunk = self.progressive_text(job, number, start).await?;
        let mut all = lines_of(&chunk.text);
        // A read that starts inside the log starts inside a line, maybe inside a hidden
        // annotation: that line is not shown.
        if start > 0 && !all.is_empty() {
            all.remove(0);
        }
        let skip = all.len().saturating_sub(lines);
        Ok(all.split_off(skip))
    }

    /// The log's size in raw bytes from a `HEAD` of `progressiveText`, or `None` if the
    /// server does not say.
    async fn log_size(&self, url: &str) -> Option<u64> {
        let reply = self
            .send(reqwest::Method::HEAD, url, None, None)
            .await
            .ok()?;
        if reply.status.as_u16() != 200 {
            tracing::debug!(
                "HEAD {}: HTTP {}, reading the log from its start",
                shown(url),
                reply.status.as_u16()
            );
            return None;
        }
        reply
            .headers
            .get("x-text-size")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    }
}

/// A node id as the stage view gives it: digits, put into a URL path as they are.
fn node_id(id: &str) -> Result<&str, Error> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(id)
    } else {
        Err(Error::Decode {
            url: "wfapi".to_string(),
            message: format!("the stage view gave a node id that is not one: {id:?}"),
        })
    }
}

/// Lines of a text, without line ends or trailing blank lines.
fn lines_of(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

/// The text of the HTML the stage view sends for a log: console notes rendered as markup,
/// `<` and `&` escaped. Tags are dropped, entities decoded, annotations removed.
pub(crate) fn plain_of_html(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        text.push_str(&rest[..at]);
        rest = match rest[at..].find('>') {
            Some(end) => &rest[at + end + 1..],
            // A `<` that opens no tag is text (escaped HTML never has one, but be lenient).
            None => {
                text.push_str(&rest[at..]);
                ""
            }
        };
    }
    text.push_str(rest);
    let decoded = html_escape::decode_html_entities(&text);
    strip_notes(&decoded).replace("\r\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_of_a_step_log_becomes_its_plain_lines() {
        let html = "<span class=\"timestamp\"><b>10:00:01</b> </span>a &lt;b&gt; &amp;&amp; &quot;c&quot; &#39;d&#39;\n\
                    <a href='/x'>link</a>\n";
        assert_eq!(
            lines_of(&plain_of_html(html)),
            ["10:00:01 a <b> && \"c\" 'd'", "link"]
        );
    }

    #[test]
    fn a_lone_angle_bracket_is_kept() {
        assert_eq!(plain_of_html("1 < 2"), "1 < 2");
    }

    #[test]
    fn trailing_blank_lines_are_dropped_and_crlf_ends_removed() {
        assert_eq!(lines_of("a\r\nb\r\n\r\n"), ["a", "b"]);
        assert!(lines_of("").is_empty());
    }

    #[test]
    fn regressions_count_as_failed_and_fixed_tests_as_passed() {
        assert!(case_failed("FAILED"));
        assert!(case_failed("REGRESSION"));
        assert!(!case_failed("FIXED"));
        assert!(!case_failed("PASSED"));
        assert!(!case_failed("SKIPPED"));
    }

    #[test]
    fn node_ids_never_carry_path_characters() {
        assert!(node_id("17").is_ok());
        assert!(node_id("../17").is_err());
        assert!(node_id("").is_err());
    }

    #[test]
    fn an_error_without_a_message_is_named_by_its_type() {
        let error = node_error(Some(ErrorJson {
            message: None,
            kind: Some("java.lang.NullPointerException".into()),
        }));
        assert_eq!(
            error.map(|e| e.message),
            Some("java.lang.NullPointerException".to_string())
        );
        assert_eq!(
            node_error(Some(ErrorJson {
                message: Some(" ".into()),
                kind: None
            })),
            None
        );
    }
}

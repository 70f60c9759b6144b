//! Why a build failed: after a build ends with a result its step did not expect, a few small
//! reads find the failing stage and its error, the failed tests and the end of the log. This
//! is best effort and bounded in time: nothing here changes the step's status, result or the
//! run's exit code, and a part that cannot be had is named in `unavailable`.

use std::time::Duration;

use tokio::sync::watch;

use super::outcome::Stop;
use crate::jenkins::{self, Client, MAX_FAILED_CASES, Stage, StepNode};
use crate::report::{Diagnosis, FailedTest, FailureKind, StepOutcome, TestFailures};

/// The most real time a diagnosis may take: the run's summary waits for it.
pub const TIME_LIMIT: Duration = Duration::from_secs(5);

/// How a diagnosis is made, from the run's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagnoseSettings {
    /// How many lines of the end of the log to show (`--log-tail`); 0 reads no log.
    pub log_tail: usize,
    pub time_limit: Duration,
}

impl Default for DiagnoseSettings {
    fn default() -> Self {
        DiagnoseSettings {
            log_tail: 30,
            time_limit: TIME_LIMIT,
        }
    }
}

/// Whether a step's outcome calls for a diagnosis: it has a build that ended, with a result
/// the step did not expect, or stopped by jrun at the step's timeout (where its log shows
/// what it was doing). A lost build, a queue item cancelled, an interrupted run have nothing
/// of their own to explain.
pub fn wanted(outcome: &StepOutcome) -> bool {
    matches!(
        outcome.failure,
        Some(FailureKind::Result | FailureKind::Timeout)
    ) && outcome.number.is_some()
        && outcome.result.is_some()
}

/// Whether a job of Jenkins class `class` has Pipeline stages; `None` when the class is not
/// known.
pub fn is_pipeline(class: &str) -> Option<bool> {
    (!class.is_empty()).then(|| class == "org.jenkinsci.plugins.workflow.job.WorkflowJob")
}

/// The diagnosis of build `number` of `job`, whatever could be had of it within the time
/// limit and before the run is stopped. `pipeline` says whether the job is known to be a
/// Pipeline job (`Some(false)` for a freestyle job, whose build has no stages to ask for).
pub async fn diagnose(
    client: &Client,
    job: &str,
    number: u64,
    pipeline: Option<bool>,
    settings: DiagnoseSettings,
    mut stop: watch::Receiver<Option<Stop>>,
) -> Diagnosis {
    let mut stages = Part::default();
    let mut tests = Part::default();
    let mut console = Part::default();
    let ended = {
        let work = async {
            let stage_part = async {
                if pipeline != Some(false) {
                    stages.value = Some(failed_stage(client, job, number, settings).await);
                }
            };
            let test_part = async {
                tests.value = Some(test_failures(client, job, number).await);
            };
            tokio::join!(stage_part, test_part);
            // The console is only read when the stage gave no log of its own.
            let stage_log = matches!(&stages.value, Some(Ok(Some(f))) if !f.log.is_empty());
            if settings.log_tail > 0 && !stage_log {
                console.value = Some(
                    client
                        .console_tail(job, number, settings.log_tail)
                        .await
                        .map_err(|e| format!("the console log could not be read: {e}")),
                );
            }
        };
        let stopped = async {
            loop {
                if stop.borrow_and_update().is_some() {
                    return;
                }
                if stop.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = work => None,
            () = tokio::time::sleep(settings.time_limit) => Some(format!(
                "jrun stopped asking after {}",
                crate::duration::Dur(settings.time_limit)
            )),
            () = stopped => Some("the run was stopped before it was known".to_string()),
        }
    };
    let mut diagnosis = Diagnosis::default();
    match stages.value {
        Some(Ok(Some(failed))) => {
            diagnosis.stage = Some(failed.stage);
            diagnosis.error = failed.error;
            diagnosis.log_tail = failed.log;
            diagnosis.unavailable.extend(failed.unavailable);
        }
        Some(Ok(None)) => {}
        Some(Err(why)) => diagnosis.unavailable.push(why),
        None => {}
    }
    match tests.value {
        Some(Ok((found, missing))) => {
            diagnosis.tests = found;
            diagnosis.unavailable.extend(missing);
        }
        Some(Err(why)) => diagnosis.unavailable.push(why),
        None => {}
    }
    match console.value {
        Some(Ok(lines)) => diagnosis.log_tail = lines,
        Some(Err(why)) => diagnosis.unavailable.push(why),
        None => {}
    }
    if settings.log_tail > 0 {
        let keep = diagnosis.log_tail.len().saturating_sub(settings.log_tail);
        diagnosis.log_tail.drain(..keep);
    } else {
        diagnosis.log_tail.clear();
    }
    if let Some(why) = ended {
        diagnosis.unavailable.push(why);
    }
    diagnosis
}

/// One part of a diagnosis, filled in when its reads finished.
struct Part<T> {
    value: Option<Result<T, String>>,
}

impl<T> Default for Part<T> {
    fn default() -> Self {
        Part { value: None }
    }
}

/// The failing stage of a Pipeline build, as the stage view shows it.
#[derive(Debug, Default)]
struct FailedStage {
    stage: String,
    error: Option<String>,
    log: Vec<String>,
    unavailable: Vec<String>,
}

/// What a refused or failed read of the stage view says.
fn stage_view_error(e: &jenkins::Error) -> String {
    format!("the stages could not be read: {e}")
}

/// The first failed or unstable stage, its failing step's error and that step's log. `None`
/// when the build has stages and none failed (it failed outside of them); an error when the
/// build has no stage view at all.
async fn failed_stage(
    client: &Client,
    job: &str,
    number: u64,
    settings: DiagnoseSettings,
) -> Result<Option<FailedStage>, String> {
    let stages = client
        .stages(job, number)
        .await
        .map_err(|e| stage_view_error(&e))?
        .ok_or_else(|| {
            "stages: Jenkins has no stage view of this build (HTTP 404: not a Pipeline build, \
             or the pipeline-rest-api plugin is not installed)"
                .to_string()
        })?;
    let Some(stage) = first_failed(&stages) else {
        return Ok(None);
    };
    let mut failed = FailedStage {
        stage: stage.name.clone(),
        error: stage.error.as_ref().map(|e| e.message.clone()),
        ..FailedStage::default()
    };
    let steps = match client.stage_steps(job, number, &stage.id).await {
        Ok(steps) => steps.unwrap_or_default(),
        Err(e) => {
            failed
                .unavailable
                .push(format!("the steps of stage {}: {e}", stage.name));
            return Ok(Some(failed));
        }
    };
    let Some(step) = failing_step(&steps) else {
        return Ok(Some(failed));
    };
    if let Some(error) = &step.error {
        failed.error = Some(error.message.clone());
    }
    if settings.log_tail > 0 {
        match client.step_log(job, number, &step.id).await {
            Ok(Some(lines)) => failed.log = lines,
            Ok(None) => {}
            Err(e) => failed.unavailable.push(format!(
                "the log of step {} of stage {}: {e}",
                step.name, stage.name
            )),
        }
    }
    Ok(Some(failed))
}

fn first_failed(stages: &[Stage]) -> Option<&Stage> {
    stages.iter().find(|s| s.failed())
}

/// The step that failed its stage: the first failed or unstable one that carries an error,
/// else the first failed or unstable one, else the first with an error.
fn failing_step(steps: &[StepNode]) -> Option<&StepNode> {
    let failed = |s: &&StepNode| matches!(s.status.as_str(), "FAILED" | "UNSTABLE");
    steps
        .iter()
        .filter(failed)
        .find(|s| s.error.is_some())
        .or_else(|| steps.iter().find(failed))
        .or_else(|| steps.iter().find(|s| s.error.is_some()))
}

/// The build's test results, when it has a report, and why a part of them could not be had.
async fn test_failures(
    client: &Client,
    job: &str,
    number: u64,
) -> Result<(Option<TestFailures>, Option<String>), String> {
    let counts = client
        .test_counts(job, number)
        .await
        .map_err(|e| format!("the test results could not be read: {e}"))?;
    let Some(counts) = counts else {
        return Ok((None, None));
    };
    let counted = TestFailures {
        failed: counts.failed,
        skipped: counts.skipped,
        total: counts.total,
        cases: Vec::new(),
    };
    if counts.failed == 0 {
        return Ok((Some(counted), None));
    }
    match client.test_report(job, number).await {
        Ok(Some(report)) => Ok((
            Some(TestFailures {
                failed: report.counts.failed,
                skipped: report.counts.skipped,
                total: report.counts.total,
                cases: report
                    .failed
                    .into_iter()
                    .take(MAX_FAILED_CASES)
                    .map(|c| FailedTest {
                        class: c.class,
                        name: c.name,
                        error: c.error,
                    })
                    .collect(),
            }),
            None,
        )),
        // The counts are known, the cases are not: both are said.
        Ok(None) => Ok((
            Some(counted),
            Some("the failed test cases: the build has no test report (HTTP 404)".to_string()),
        )),
        Err(e) => Ok((
            Some(counted),
            Some(format!("the failed test cases could not be read: {e}")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jenkins::NodeError;

    fn stage(name: &str, status: &str) -> Stage {
        Stage {
            id: name.len().to_string(),
            name: name.into(),
            status: status.into(),
            error: None,
        }
    }

    fn node(id: &str, status: &str, error: Option<&str>) -> StepNode {
        StepNode {
            id: id.into(),
            name: "Shell Script".into(),
            status: status.into(),
            error: error.map(|m| NodeError {
                message: m.into(),
                kind: None,
            }),
        }
    }

    #[test]
    fn the_first_failed_or_unstable_stage_is_the_one_shown() {
        let stages = [
            stage("Build", "SUCCESS"),
            stage("Test", "UNSTABLE"),
            stage("Deploy", "FAILED"),
            stage("Notify", "NOT_EXECUTED"),
        ];
        assert_eq!(first_failed(&stages).map(|s| s.name.as_str()), Some("Test"));
        assert!(first_failed(&stages[..1]).is_none());
    }

    #[test]
    fn the_failing_step_is_the_failed_one_with_an_error() {
        let steps = [
            node("5", "SUCCESS", None),
            node("6", "FAILED", None),
            node("7", "FAILED", Some("script returned exit code 1")),
        ];
        assert_eq!(failing_step(&steps).map(|s| s.id.as_str()), Some("7"));
        assert_eq!(failing_step(&steps[..2]).map(|s| s.id.as_str()), Some("6"));
        assert!(failing_step(&steps[..1]).is_none());
    }

    #[test]
    fn only_a_build_that_ended_with_an_unexpected_result_is_diagnosed() {
        let mut outcome = StepOutcome::new().fail(
            crate::report::StepStatus::Failed,
            FailureKind::Result,
            "ended FAILURE, expected SUCCESS",
        );
        outcome.number = Some(4);
        outcome.result = Some("FAILURE".into());
        assert!(wanted(&outcome));
        let cancelled_in_queue = StepOutcome {
            number: None,
            ..outcome.clone()
        };
        assert!(!wanted(&cancelled_in_queue));
        let lost = StepOutcome {
            failure: Some(FailureKind::Lost),
            ..outcome.clone()
        };
        assert!(!wanted(&lost));
        assert!(!wanted(&StepOutcome::new()));
    }
}

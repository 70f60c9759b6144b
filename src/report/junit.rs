//! JUnit XML, one test case per step, in the shape Jenkins' `junit` step reads: a failure
//! carries the result, the build URL and why the build failed (stage, error, the end of its
//! log), a skipped step is `<skipped/>`, times are seconds. The failed tests of a step's
//! downstream build follow in a suite of that step, under their own class names, so that
//! Jenkins lists them, and tracks them from run to run, as tests of the job that ran jrun.

use super::summary::{Diagnosis, StepStatus, StepSummary, Summary, TestFailures};

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters, not even escaped.
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// The diagnosis of a step that did not pass, if it says anything.
fn diagnosis_of(step: &StepSummary) -> Option<&Diagnosis> {
    step.failure
        .as_ref()
        .map(|f| &f.diagnosis)
        .filter(|d| !d.is_empty())
}

/// The failed tests of a step's build, if it listed any.
fn failed_tests(step: &StepSummary) -> Option<&TestFailures> {
    diagnosis_of(step)?
        .tests
        .as_ref()
        .filter(|t| !t.cases.is_empty())
}

/// What a step's `<failure>` says beyond where its build is: the stage, the error, the test
/// counts and the end of the log, one per line.
fn failure_detail(diagnosis: &Diagnosis) -> String {
    let mut out = String::new();
    if let Some(stage) = &diagnosis.stage {
        out.push_str(&format!("stage: {stage}\n"));
    }
    if let Some(error) = &diagnosis.error {
        out.push_str(&format!("error: {error}\n"));
    }
    if let Some(tests) = &diagnosis.tests {
        out.push_str(&format!(
            "tests: {} failed, {} skipped, {} in all\n",
            tests.failed, tests.skipped, tests.total
        ));
    }
    if !diagnosis.log_tail.is_empty() {
        out.push_str("log:\n");
        for line in &diagnosis.log_tail {
            out.push_str(line);
            out.push('\n');
        }
    }
    for why in &diagnosis.unavailable {
        out.push_str(&format!("not known: {why}\n"));
    }
    out
}

pub fn render(summary: &Summary) -> String {
    let step_failures = summary
        .steps
        .iter()
        .filter(|s| !matches!(s.status, StepStatus::Passed | StepStatus::Skipped))
        .count();
    let downstream: usize = summary
        .steps
        .iter()
        .filter_map(failed_tests)
        .map(|t| t.cases.len())
        .sum();
    let all_tests = summary.steps.len() + downstream;
    let all_failures = step_failures + downstream;
    let tests = summary.steps.len();
    let failures = step_failures;
    let skipped = summary
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Skipped)
        .count();
    let time = seconds(summary.duration_ms);
    // The JUnit schema's timestamp has no zone designator.
    let timestamp = summary.started_at.trim_end_matches('Z');
    let name = escape(&summary.pipeline);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"jrun\" tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"0\" time=\"{time}\">\n"
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{}\" hostname=\"localhost\" id=\"0\" package=\"jrun\">\n",
        escape(timestamp)
    ));
    out.push_str("    <properties/>\n");
    for step in &summary.steps {
        out.push_str(&format!(
            "    <testcase classname=\"jrun.{name}\" name=\"{}\" time=\"{}\"",
            escape(&step.id),
            seconds(step.duration_ms)
        ));
        let where_ = match (&step.job, step.number, &step.url) {
            (Some(job), Some(n), Some(url)) => format!("{job} #{n}: {url}"),
            (Some(job), _, _) => job.clone(),
            _ => String::new(),
        };
        match step.status {
            StepStatus::Passed => out.push_str("/>\n"),
            StepStatus::Skipped => {
                out.push_str(">\n");
                out.push_str(&format!(
                    "      <skipped message=\"{}\"/>\n",
                    escape(step.message.as_deref().unwrap_or("skipped"))
                ));
                out.push_str("    </testcase>\n");
            }
            status => {
                let result = step.result.as_deref().unwrap_or(status.as_str());
                let mut message = step
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("ended {result}"));
                let mut body = where_.clone();
                if let Some(diagnosis) = diagnosis_of(step) {
                    match (&diagnosis.stage, &diagnosis.error) {
                        (Some(stage), Some(error)) => {
                            message.push_str(&format!(" (stage {stage}: {error})"))
                        }
                        (Some(stage), None) => message.push_str(&format!(" (stage {stage})")),
                        (None, Some(error)) => message.push_str(&format!(" ({error})")),
                        (None, None) => {}
                    }
                    body.push_str("\n\n");
                    body.push_str(&failure_detail(diagnosis));
                }
                out.push_str(">\n");
                out.push_str(&format!(
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                    escape(&message),
                    escape(result),
                    escape(&body)
                ));
                out.push_str("    </testcase>\n");
            }
        }
    }
    out.push_str("    <system-out/>\n    <system-err/>\n  </testsuite>\n");
    for (index, step) in summary.steps.iter().enumerate() {
        if let Some(tests) = failed_tests(step) {
            out.push_str(&downstream_suite(summary, step, tests, index + 1));
        }
    }
    out.push_str("</testsuites>\n");
    out
}

/// The failed tests of one step's build as a suite of their own, named after the pipeline
/// and the step. Each case keeps the class and name its build gave it.
fn downstream_suite(
    summary: &Summary,
    step: &StepSummary,
    tests: &TestFailures,
    id: usize,
) -> String {
    let count = tests.cases.len();
    let timestamp = summary.started_at.trim_end_matches('Z');
    let build = match (&step.job, step.number, &step.url) {
        (Some(job), Some(n), Some(url)) => format!("{job} #{n}: {url}"),
        (Some(job), Some(n), None) => format!("{job} #{n}"),
        (Some(job), None, _) => job.clone(),
        _ => String::new(),
    };
    let mut out = format!(
        "  <testsuite name=\"{}.{}\" tests=\"{count}\" failures=\"{count}\" errors=\"0\" skipped=\"0\" time=\"0.000\" timestamp=\"{}\" hostname=\"localhost\" id=\"{id}\" package=\"jrun\">\n",
        escape(&summary.pipeline),
        escape(&step.id),
        escape(timestamp)
    );
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("jrun.step", step.id.clone()),
        ("jrun.build", build.clone()),
        ("jrun.tests.failed", tests.failed.to_string()),
        ("jrun.tests.skipped", tests.skipped.to_string()),
        ("jrun.tests.total", tests.total.to_string()),
    ] {
        out.push_str(&format!(
            "      <property name=\"{name}\" value=\"{}\"/>\n",
            escape(&value)
        ));
    }
    out.push_str("    </properties>\n");
    for case in &tests.cases {
        let message = case.error.as_deref().unwrap_or("failed");
        let first_line = message.lines().next().unwrap_or(message);
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0.000\">\n",
            escape(&case.class),
            escape(&case.name)
        ));
        out.push_str(&format!(
            "      <failure message=\"{}\" type=\"FAILED\">{}</failure>\n",
            escape(first_line),
            escape(&format!("{message}\n\nin {build}"))
        ));
        out.push_str("    </testcase>\n");
    }
    out.push_str("    <system-out/>\n    <system-err/>\n  </testsuite>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::{RunStatus, StepSummary};

    fn step(id: &str, status: StepStatus, result: Option<&str>) -> StepSummary {
        StepSummary {
            id: id.into(),
            job: Some("app/build".into()),
            server: "default".into(),
            status,
            result: result.map(str::to_string),
            number: Some(7),
            url: Some("http://ci/job/app/job/build/7/".into()),
            queue_id: Some(3),
            attempts: 1,
            duration_ms: 1_500,
            message: (status != StepStatus::Passed)
                .then(|| "ended FAILURE, expected <SUCCESS> & more".into()),
            failure: None,
            candidates: Vec::new(),
            outputs: Default::default(),
            artifacts: Vec::new(),
            adopted: false,
            inputs: Vec::new(),
            needs: Vec::new(),
            matrix: None,
            times: None,
        }
    }

    #[test]
    fn every_step_is_a_test_case_and_failures_carry_result_and_url() {
        let summary = Summary {
            pipeline: "rel\"ease".into(),
            status: RunStatus::Failed,
            exit_code: 1,
            started_at: "2026-12-01T05:00:00Z".into(),
            duration_ms: 3_000,
            steps: vec![
                step("build", StepStatus::Passed, Some("SUCCESS")),
                step("test", StepStatus::Failed, Some("FAILURE")),
                step("deploy", StepStatus::Skipped, None),
            ],
            utc_offset_s: None,
        };
        let xml = render(&summary);
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"3.000\"")
        );
        assert!(xml.contains("timestamp=\"2026-12-01T05:00:00\""));
        assert!(xml.contains(
            "<testcase classname=\"jrun.rel&quot;ease\" name=\"build\" time=\"1.500\"/>"
        ));
        assert!(
            xml.contains("type=\"FAILURE\">app/build #7: http://ci/job/app/job/build/7/</failure>")
        );
        assert!(xml.contains("message=\"ended FAILURE, expected &lt;SUCCESS&gt; &amp; more\""));
        assert!(xml.contains("<skipped message="));
    }

    #[test]
    fn a_diagnosed_failure_carries_stage_error_and_log_and_its_failed_tests_get_a_suite() {
        use crate::report::summary::{Diagnosis, FailedTest, Failure, FailureKind, TestFailures};
        let mut failed = step("test", StepStatus::Failed, Some("FAILURE"));
        failed.failure = Some(Failure {
            kind: FailureKind::Result,
            diagnosis: Diagnosis {
                stage: Some("Test".into()),
                error: Some("script returned exit code 1".into()),
                log_tail: vec!["FooTest > bar FAILED".into()],
                tests: Some(TestFailures {
                    failed: 1,
                    skipped: 0,
                    total: 118,
                    cases: vec![FailedTest {
                        class: "com.ex.FooTest".into(),
                        name: "bar".into(),
                        error: Some("expected:<1> but was:<2>".into()),
                    }],
                }),
                unavailable: vec![],
            },
        });
        let summary = Summary {
            pipeline: "release".into(),
            status: RunStatus::Failed,
            exit_code: 1,
            started_at: "2026-12-01T05:00:00Z".into(),
            duration_ms: 3_000,
            steps: vec![step("build", StepStatus::Passed, Some("SUCCESS")), failed],
            utc_offset_s: None,
        };
        let xml = render(&summary);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("tests"), Some("3"));
        assert_eq!(root.attribute("failures"), Some("2"));
        let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        assert_eq!(suites.len(), 2);
        let step_failure = suites[0]
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            step_failure.attribute("message"),
            Some(
                "ended FAILURE, expected <SUCCESS> & more (stage Test: script returned exit code 1)"
            )
        );
        let body = step_failure.text().unwrap_or_default();
        assert!(
            body.starts_with("app/build #7: http://ci/job/app/job/build/7/\n\nstage: Test\n"),
            "{body}"
        );
        assert!(body.contains("log:\nFooTest > bar FAILED\n"), "{body}");
        assert_eq!(suites[1].attribute("name"), Some("release.test"));
        let case = suites[1]
            .children()
            .find(|n| n.has_tag_name("testcase"))
            .unwrap();
        assert_eq!(case.attribute("classname"), Some("com.ex.FooTest"));
        assert_eq!(case.attribute("name"), Some("bar"));
        let failure = case.children().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("expected:<1> but was:<2>")
        );
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        assert_eq!(escape("a\u{1b}b\u{0}c"), "a b c");
    }
}

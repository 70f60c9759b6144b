//! JUnit XML, one test case per step, in the shape Jenkins' `junit` step reads: a failure
//! carries the result and the build URL, a skipped step is `<skipped/>`, times are seconds.

use super::summary::{StepStatus, Summary};

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

pub fn render(summary: &Summary) -> String {
    let tests = summary.steps.len();
    let failures = summary
        .steps
        .iter()
        .filter(|s| !matches!(s.status, StepStatus::Passed | StepStatus::Skipped))
        .count();
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
        "<testsuites name=\"jrun\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">\n"
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
                let message = step
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("ended {result}"));
                out.push_str(">\n");
                out.push_str(&format!(
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                    escape(&message),
                    escape(result),
                    escape(&where_)
                ));
                out.push_str("    </testcase>\n");
            }
        }
    }
    out.push_str("    <system-out/>\n    <system-err/>\n  </testsuite>\n</testsuites>\n");
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
            artifacts: Vec::new(),
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
    fn control_characters_never_reach_the_xml() {
        assert_eq!(escape("a\u{1b}b\u{0}c"), "a b c");
    }
}

//! Why a build failed: the failing stage, its error, the failed tests and the end of the log,
//! in the summary, `--report` and `--junit`, never changing a step's status or the exit code.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{self, Answer, Hostile, Outcome, TOKEN, USER, jrun, pipeline_file};

/// A pipeline with one step, `test`, on `url`.
pub(crate) fn one_step(url: &str, job: &str) -> String {
    format!(
        "name: nightly\njenkins:\n  url: {url}\n  user: {USER}\n  token: {TOKEN}\n  unreachable_timeout: 5s\nsteps:\n  - id: test\n    job: {job}\n"
    )
}

/// What one run left: its text summary, its report and its JUnit file.
struct Ran {
    outcome: Outcome,
    report: Value,
    junit: String,
}

impl Ran {
    fn failure(&self) -> &Value {
        &self.report["steps"][0]["failure"]
    }
}

fn run_with_files(path: &Path, args: &[&str]) -> Ran {
    let dir = path.parent().expect("pipeline folder");
    let report = dir.join("report.json");
    let junit = dir.join("junit.xml");
    let output = jrun()
        .arg(path)
        .args(["--progress", "never", "--report"])
        .arg(&report)
        .arg("--junit")
        .arg(&junit)
        .args(args)
        .output()
        .expect("jrun runs");
    let outcome = Outcome::from(output);
    let report = std::fs::read_to_string(&report)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("no report\n{outcome}"));
    let junit = std::fs::read_to_string(&junit).unwrap_or_default();
    Ran {
        outcome,
        report,
        junit,
    }
}

/// The routes the sandbox served, `METHOD route` → `{count, bytes}`.
fn routes(sb: &jrun::sandbox::Sandbox) -> Value {
    common::stats(sb)["routes"].clone()
}

const FREESTYLE: &str = "speed: 50\nquiet_period: 0s\njobs:\n  - path: app/test\n    kind: freestyle\n    builds: [{duration: 2s, result: FAILURE, log: [\"compiling\", \"FooTest > bar FAILED\", \"tests failed\"]}]\n";

#[test]
fn a_freestyle_failure_shows_the_end_of_its_console_log_everywhere() {
    let sb = common::sandbox(FREESTYLE);
    let (_dir, path) = pipeline_file(&one_step(&sb.url(), "app/test"));
    let ran = run_with_files(&path, &[]);
    ran.outcome.assert_code(1);
    let failure = ran.failure();
    assert_eq!(failure["kind"], "result", "{}", ran.report);
    let tail: Vec<&str> = failure["log_tail"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        tail[tail.len().saturating_sub(3)..],
        ["FooTest > bar FAILED", "tests failed", "Finished: FAILURE"],
        "{}",
        ran.report
    );
    // A freestyle build has no stages: nothing is asked of the stage view, nothing missed.
    assert!(failure.get("stage").is_none(), "{}", ran.report);
    assert!(failure.get("unavailable").is_none(), "{}", ran.report);
    assert!(
        routes(&sb)
            .as_object()
            .is_some_and(|r| r.keys().all(|k| !k.contains("wfapi"))),
        "{}",
        routes(&sb)
    );
    assert!(
        ran.outcome
            .stdout
            .contains("\n  test (app/test #1):\n    log (last "),
        "{}",
        ran.outcome
    );
    assert!(
        ran.outcome.stdout.contains("      test | tests failed\n"),
        "{}",
        ran.outcome
    );
    assert!(
        ran.junit.contains("log:\nStarted by user") && ran.junit.contains("tests failed\n"),
        "{}",
        ran.junit
    );
}

#[test]
fn log_tail_0_reads_no_log_and_the_run_ends_the_same() {
    let sb = common::sandbox(FREESTYLE);
    let (_dir, path) = pipeline_file(&one_step(&sb.url(), "app/test"));
    let ran = run_with_files(&path, &["--log-tail", "0"]);
    ran.outcome.assert_code(1);
    assert_eq!(ran.report["steps"][0]["status"], "failed");
    assert_eq!(ran.failure()["kind"], "result");
    assert!(ran.failure().get("log_tail").is_none(), "{}", ran.report);
    let routes = routes(&sb);
    assert!(
        routes.get("GET log").is_none() && routes.get("HEAD log").is_none(),
        "{routes}"
    );
    assert!(!ran.outcome.stdout.contains("log (last"), "{}", ran.outcome);
}

#[test]
fn a_huge_console_log_is_read_only_at_its_end() {
    let lines: Vec<String> = (0..40_000)
        .map(|i| format!("line {i:05} {}", "x".repeat(60)))
        .collect();
    let yaml = format!(
        "speed: 50\nquiet_period: 0s\njobs:\n  - path: big\n    kind: freestyle\n    builds: [{{duration: 2s, result: FAILURE, log: {}}}]\n",
        serde_json::to_string(&lines).unwrap()
    );
    let sb = common::sandbox(&yaml);
    let (_dir, path) = pipeline_file(&one_step(&sb.url(), "big"));
    let ran = run_with_files(&path, &["--log-tail", "5"]);
    ran.outcome.assert_code(1);
    let tail = ran.failure()["log_tail"].clone();
    assert_eq!(
        tail,
        json!([
            lines[39_996],
            lines[39_997],
            lines[39_998],
            lines[39_999],
            "Finished: FAILURE"
        ]),
        "{}",
        ran.report
    );
    // The log is about 2.8 MB; what was downloaded of it is its last 64 KiB.
    let routes = routes(&sb);
    let got = routes["GET log"]["bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(got <= 70 * 1024, "{routes}");
}

/// The stage view's and the junit plugin's answers for build #1 of `app/test`, as a
/// controller with `pipeline-rest-api` and `junit` gives them.
pub(crate) fn pipeline_answers(asked: &common::Asked, answer: Answer) -> Answer {
    let path = asked.path();
    let base = "/job/app/job/test/1/";
    let Some(rest) = path.strip_prefix(base) else {
        return answer;
    };
    match rest {
        "wfapi/describe" => Answer::json(
            200,
            &json!({"id": "1", "name": "#1", "status": "FAILED", "stages": [
                {"id": "6", "name": "Build", "execNode": "", "status": "SUCCESS",
                 "startTimeMillis": 1, "durationMillis": 10, "pauseDurationMillis": 0},
                {"id": "15", "name": "Test", "execNode": "", "status": "FAILED",
                 "error": {"message": "script returned exit code 1", "type": "hudson.AbortException"},
                 "startTimeMillis": 11, "durationMillis": 20, "pauseDurationMillis": 0},
                {"id": "30", "name": "Deploy", "execNode": "", "status": "NOT_EXECUTED",
                 "startTimeMillis": 1, "durationMillis": 0, "pauseDurationMillis": 0}]}),
        ),
        "execution/node/15/wfapi/describe" => Answer::json(
            200,
            &json!({"id": "15", "name": "Test", "status": "FAILED",
                "error": {"message": "script returned exit code 1", "type": "hudson.AbortException"},
                "stageFlowNodes": [
                    {"id": "16", "name": "Print Message", "status": "SUCCESS", "parentNodes": ["15"]},
                    {"id": "17", "name": "Shell Script", "status": "FAILED",
                     "error": {"message": "make test: exit 2", "type": "hudson.AbortException"},
                     "parameterDescription": "make test", "parentNodes": ["16"]}]}),
        ),
        "execution/node/17/wfapi/log" => Answer::json(
            200,
            &json!({"nodeId": "17", "nodeStatus": "FAILED", "length": 80, "hasMore": false,
                "text": "+ make test\nrunning tests\nFooTest &gt; bar FAILED &amp; <span class=\"x\">stopped</span>\n",
                "consoleUrl": "/job/app/job/test/1/execution/node/17/log"}),
        ),
        "api/json" if asked.target.contains("failCount") => Answer::json(
            200,
            &json!({"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "actions": [
                {}, {"_class": "hudson.model.CauseAction"},
                {"_class": "hudson.tasks.junit.TestResultAction", "failCount": 2, "skipCount": 1, "totalCount": 120}]}),
        ),
        "testReport/api/json" => Answer::json(
            200,
            &json!({"_class": "hudson.tasks.junit.TestResult", "failCount": 2, "passCount": 117, "skipCount": 1,
                "suites": [{"cases": [
                    {"className": "com.ex.FooTest", "name": "bar", "status": "REGRESSION", "errorDetails": "expected:<1> but was:<2>"},
                    {"className": "com.ex.FooTest", "name": "baz", "status": "SKIPPED", "errorDetails": null},
                    {"className": "com.ex.FooTest", "name": "ok", "status": "FIXED", "errorDetails": null},
                    {"className": "com.ex.BarTest", "name": "qux", "status": "FAILED", "errorDetails": "boom"}]}]}),
        ),
        _ => answer,
    }
}

pub(crate) const PIPELINE_JOB: &str = "speed: 50\nquiet_period: 0s\njobs:\n  - path: app/test\n    kind: pipeline\n    builds: [{duration: 2s, result: FAILURE, log: [\"compiling\", \"tests failed\"]}]\n";

#[test]
fn a_failed_pipeline_build_names_its_stage_error_log_and_failed_tests_everywhere() {
    let sb = common::sandbox(PIPELINE_JOB);
    let proxy = Hostile::proxy(&sb.url(), pipeline_answers);
    let (_dir, path) = pipeline_file(&one_step(&proxy.url(), "app/test"));
    let ran = run_with_files(&path, &[]);
    ran.outcome.assert_code(1);
    let failure = ran.failure();
    assert_eq!(failure["kind"], "result");
    assert_eq!(failure["stage"], "Test", "{}", ran.report);
    assert_eq!(failure["error"], "make test: exit 2", "{}", ran.report);
    assert_eq!(
        failure["log_tail"],
        json!([
            "+ make test",
            "running tests",
            "FooTest > bar FAILED & stopped"
        ]),
        "{}",
        ran.report
    );
    assert_eq!(
        failure["tests"],
        json!({"failed": 2, "skipped": 1, "total": 120, "cases": [
            {"class": "com.ex.FooTest", "name": "bar", "error": "expected:<1> but was:<2>"},
            {"class": "com.ex.BarTest", "name": "qux", "error": "boom"}]}),
        "{}",
        ran.report
    );
    let text = &ran.outcome.stdout;
    for expected in [
        "    stage: Test\n",
        "    error: make test: exit 2\n",
        "    tests: 2 failed, 1 skipped, 120 in all\n",
        "      com.ex.FooTest.bar: expected:<1> but was:<2>\n",
        "      test | FooTest > bar FAILED & stopped\n",
    ] {
        assert!(text.contains(expected), "{expected}\n{}", ran.outcome);
    }
    // The step's failure says where and why; the build's failed tests are test cases.
    let doc = roxmltree::Document::parse(&ran.junit).expect("well-formed JUnit");
    let step_failure = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("test"))
        .and_then(|n| n.children().find(|c| c.has_tag_name("failure")))
        .expect("the step's failure");
    assert!(
        step_failure
            .attribute("message")
            .is_some_and(|m| m.contains("stage Test: make test: exit 2")),
        "{}",
        ran.junit
    );
    assert!(
        step_failure
            .text()
            .is_some_and(|t| t.contains("log:\n+ make test\nrunning tests\n")),
        "{}",
        ran.junit
    );
    let cases: Vec<(String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| n.children().any(|c| c.has_tag_name("failure")))
        .map(|n| {
            (
                n.attribute("classname").unwrap_or_default().to_string(),
                n.attribute("name").unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        cases.contains(&("com.ex.FooTest".into(), "bar".into()))
            && cases.contains(&("com.ex.BarTest".into(), "qux".into())),
        "{}",
        ran.junit
    );
}

#[test]
fn a_missing_stage_view_and_test_report_change_nothing_but_the_diagnosis() {
    let sb = common::sandbox(PIPELINE_JOB);
    // A controller without pipeline-rest-api, whose build claims a report the junit plugin
    // then refuses to show.
    let proxy = Hostile::proxy(&sb.url(), |asked, answer| {
        let path = asked.path();
        if path.contains("/wfapi/") {
            return Answer {
                status: 404,
                headers: vec![],
                body: b"<html>Not Found</html>".to_vec(),
            };
        }
        if path.ends_with("/1/api/json") && asked.target.contains("failCount") {
            return Answer::json(
                200,
                &json!({"actions": [{"_class": "hudson.tasks.junit.TestResultAction",
                    "failCount": 1, "skipCount": 0, "totalCount": 3}]}),
            );
        }
        if path.contains("/testReport/") {
            return Answer {
                status: 403,
                headers: vec![],
                body: b"<html>access denied</html>".to_vec(),
            };
        }
        answer
    });
    let (_dir, path) = pipeline_file(&one_step(&proxy.url(), "app/test"));
    let ran = run_with_files(&path, &[]);
    ran.outcome.assert_code(1);
    let step = &ran.report["steps"][0];
    assert_eq!(step["status"], "failed");
    assert_eq!(step["result"], "FAILURE");
    assert_eq!(ran.report["exit_code"], 1);
    let failure = ran.failure();
    assert!(failure.get("stage").is_none(), "{}", ran.report);
    let unavailable = failure["unavailable"].to_string();
    assert!(
        unavailable.contains("stage view") && unavailable.contains("failed test cases"),
        "{}",
        ran.report
    );
    // Counts are still known, and the log comes from the console instead.
    assert_eq!(failure["tests"]["failed"], 1, "{}", ran.report);
    assert!(
        failure["log_tail"].to_string().contains("tests failed"),
        "{}",
        ran.report
    );
}

#[test]
fn a_diagnosis_that_gets_no_answer_gives_up_within_seconds() {
    let sb = common::sandbox(PIPELINE_JOB);
    let proxy = Hostile::proxy(&sb.url(), |asked, answer| {
        if asked.path().contains("/wfapi/") {
            std::thread::sleep(Duration::from_secs(30));
        }
        answer
    });
    let (_dir, path) = pipeline_file(&one_step(&proxy.url(), "app/test"));
    let started = Instant::now();
    let ran = run_with_files(&path, &[]);
    ran.outcome.assert_code(1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{}",
        ran.outcome
    );
    assert!(
        ran.failure()["unavailable"]
            .to_string()
            .contains("stopped asking after 5s"),
        "{}",
        ran.report
    );
    assert_eq!(ran.report["steps"][0]["status"], "failed");
}

#[test]
fn a_secret_in_a_failed_build_log_is_masked_in_every_output() {
    let yaml = format!(
        "speed: 50\nquiet_period: 0s\njobs:\n  - path: leaky\n    kind: freestyle\n    builds: [{{duration: 2s, result: FAILURE, log: [\"curl -u {USER}:{TOKEN} https://repo\", \"401\"]}}]\n"
    );
    let sb = common::sandbox(&yaml);
    let (_dir, path) = pipeline_file(&one_step(&sb.url(), "leaky"));
    let ran = run_with_files(&path, &[]);
    ran.outcome.assert_code(1);
    assert!(
        ran.failure()["log_tail"].to_string().contains("curl -u"),
        "{}",
        ran.report
    );
    ran.outcome.assert_hides(TOKEN);
    assert!(!ran.report.to_string().contains(TOKEN), "{}", ran.report);
    assert!(!ran.junit.contains(TOKEN), "{}", ran.junit);
}

#[test]
fn a_build_with_a_test_report_lists_its_failed_tests_in_the_report_and_junit() {
    let sb = common::sandbox(
        "speed: 50\nquiet_period: 0s\njobs:\n  - path: app/unit\n    kind: freestyle\n    builds:\n      - duration: 2s\n        result: UNSTABLE\n        tests:\n          passed: 117\n          cases:\n            - { class: com.ex.FooTest, name: bar, status: FAILED, error: \"expected:<1> but was:<2>\" }\n            - { class: com.ex.FooTest, name: baz, status: SKIPPED }\n            - { class: com.ex.QuxTest, name: quux, status: FAILED, error: \"boom\" }\n",
    );
    let (_dir, path) = pipeline_file(&one_step(&sb.url(), "app/unit"));
    let ran = run_with_files(&path, &[]);
    ran.outcome.assert_code(1);
    assert_eq!(ran.report["steps"][0]["result"], "UNSTABLE");
    let tests = &ran.failure()["tests"];
    assert_eq!(tests["failed"], 2, "{}", ran.report);
    assert_eq!(tests["skipped"], 1, "{}", ran.report);
    assert_eq!(tests["total"], 120, "{}", ran.report);
    assert_eq!(
        tests["cases"],
        json!([
            {"class": "com.ex.FooTest", "name": "bar", "error": "expected:<1> but was:<2>"},
            {"class": "com.ex.QuxTest", "name": "quux", "error": "boom"}
        ]),
        "{}",
        ran.report
    );
    assert!(
        ran.outcome
            .stdout
            .contains("    tests: 2 failed, 1 skipped, 120 in all\n      com.ex.FooTest.bar: expected:<1> but was:<2>\n"),
        "{}",
        ran.outcome
    );
    assert!(
        ran.junit
            .contains("<testcase classname=\"com.ex.QuxTest\" name=\"quux\" time=\"0.000\">\n      <failure message=\"boom\""),
        "{}",
        ran.junit
    );
    // The report was read with a tree: no answer carried every case's output.
    assert_eq!(common::stats(&sb)["reads_without_tree"], 0);
}

#[test]
fn a_failed_pipeline_build_in_the_sandbox_names_its_stage_error_and_step_log() {
    let sb = common::sandbox(
        "speed: 50\nquiet_period: 0s\njobs:\n  - path: app/build\n    kind: pipeline\n    builds:\n      - duration: 30s\n        result: FAILURE\n        log: [\"compiling\"]\n        stages:\n          - { name: Build, status: SUCCESS, duration: 10s }\n          - { name: Test, status: FAILED, duration: 20s, error: \"script returned exit code 1\", log: [\"running tests\", \"FooTest > bar FAILED\"] }\n          - { name: Deploy, status: NOT_EXECUTED }\n",
    );
    let (_dir, path) = pipeline_file(&one_step(&sb.url(), "app/build"));
    let ran = run_with_files(&path, &[]);
    ran.outcome.assert_code(1);
    let failure = ran.failure();
    assert_eq!(failure["kind"], "result");
    assert_eq!(failure["stage"], "Test", "{}", ran.report);
    assert_eq!(
        failure["error"], "script returned exit code 1",
        "{}",
        ran.report
    );
    let tail = failure["log_tail"].to_string();
    assert!(
        tail.contains("running tests") && tail.contains("FooTest > bar FAILED"),
        "{}",
        ran.report
    );
    assert!(failure.get("unavailable").is_none(), "{}", ran.report);
    for expected in [
        "  test (app/build #1):\n    stage: Test\n    error: script returned exit code 1\n",
        "      test | FooTest > bar FAILED\n",
    ] {
        assert!(
            ran.outcome.stdout.contains(expected),
            "{expected}\n{}",
            ran.outcome
        );
    }
    assert!(
        ran.junit
            .contains("(stage Test: script returned exit code 1)")
            && ran.junit.contains("FooTest &gt; bar FAILED"),
        "{}",
        ran.junit
    );
}

#[test]
fn a_pipeline_build_whose_stage_view_answers_404_changes_nothing_but_the_diagnosis() {
    let yaml = "speed: 50\nquiet_period: 0s\njobs:\n  - path: app/build\n    kind: pipeline\n    builds:\n      - duration: 2s\n        result: FAILURE\n        log: [\"compiling\", \"exploded\"]\n        stages:\n          - { name: Test, status: FAILED, error: \"script returned exit code 1\", log: [\"running tests\"] }\n";
    // The same controller without pipeline-rest-api.
    let sb = common::sandbox(&format!("missing_plugins: [pipeline-rest-api]\n{yaml}"));
    let (_dir, path) = pipeline_file(&one_step(&sb.url(), "app/build"));
    let without = run_with_files(&path, &[]);
    let sb = common::sandbox(yaml);
    let (_dir2, path) = pipeline_file(&one_step(&sb.url(), "app/build"));
    let with = run_with_files(&path, &[]);
    for ran in [&without, &with] {
        ran.outcome.assert_code(1);
        assert_eq!(ran.report["steps"][0]["status"], "failed");
        assert_eq!(ran.report["steps"][0]["result"], "FAILURE");
        assert_eq!(ran.failure()["kind"], "result");
    }
    assert_eq!(with.failure()["stage"], "Test", "{}", with.report);
    assert!(
        without.failure().get("stage").is_none(),
        "{}",
        without.report
    );
    assert!(
        without.failure()["unavailable"]
            .to_string()
            .contains("no stage view"),
        "{}",
        without.report
    );
    // The console log stands in for the step's.
    assert!(
        without.failure()["log_tail"]
            .to_string()
            .contains("exploded"),
        "{}",
        without.report
    );
}

#[test]
fn a_build_stopped_at_its_step_timeout_shows_where_its_log_stopped_and_still_exits_4() {
    let sb = common::sandbox(
        "speed: 20\nquiet_period: 0s\njobs:\n  - {path: slow, kind: freestyle, builds: [{duration: 60s, log: [\"step one\", \"waiting for lock\"]}]}\n",
    );
    let text = format!("{}    timeout: 1s\n", one_step(&sb.url(), "slow"));
    let (_dir, path) = pipeline_file(&text);
    let ran = run_with_files(&path, &[]);
    ran.outcome.assert_code(4);
    assert_eq!(ran.report["steps"][0]["status"], "timed_out");
    assert_eq!(ran.failure()["kind"], "timeout");
    let tail = ran.failure()["log_tail"].to_string();
    assert!(
        tail.contains("waiting for lock") && tail.contains("Finished: ABORTED"),
        "{}",
        ran.report
    );
}

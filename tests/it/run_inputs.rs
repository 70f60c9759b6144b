//! Pipeline `input` steps: a paused build is shown with the page to answer it at, and is
//! answered from the step's `input:`, `--approve` or `input_default`, each answer journaled.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// A release Pipeline that pauses 5 s into its 20 s at an input only alice or the release
/// team may answer; bob is a user too.
const RELEASE: &str = r#"speed: 100
quiet_period: 0s
users:
  - { name: alice, password: alice-password, tokens: ["11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] }
  - { name: bob, password: bob-password, tokens: ["11bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"] }
jobs:
  - path: app/release
    kind: pipeline
    builds:
      - duration: 20s
        inputs:
          - id: deploy
            message: "Deploy to production?"
            at: 5s
            ok: Deploy
            submitter: "release-team,alice"
            parameters:
              - { name: TARGET, type: choice, choices: [eu, us] }
              - { name: FORCE, type: boolean, default: false }
"#;

/// The outcome of the first input of build #1 of app/release as the sandbox recorded it.
fn input_outcome(sb: &jrun::sandbox::Sandbox) -> Value {
    builds(sb)
        .into_iter()
        .find(|b| b["job"] == "app/release" && b["number"] == 1)
        .map(|b| b["inputs"][0].clone())
        .unwrap_or(Value::Null)
}

fn release_pipeline(sb: &jrun::sandbox::Sandbox, step: &str) -> String {
    format!(
        "name: release\n{}steps:\n  - id: release\n    job: app/release\n    timeout: 1m\n{step}",
        jenkins_block(sb)
    )
}

fn run_json(path: &std::path::Path, args: &[&str]) -> Outcome {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    Outcome::from(run(path, &all))
}

#[test]
fn a_paused_release_answered_with_parameters_passes_and_jenkins_gets_the_values() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(
        &sb,
        "    input: { id: deploy, action: proceed, params: { TARGET: us } }\n",
    );
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    let input = input_outcome(&sb);
    assert_eq!(input["outcome"], "proceeded", "{input}");
    assert_eq!(input["by"], "alice");
    assert_eq!(input["params"], json!({"TARGET": "us", "FORCE": "false"}));
    let step = outcome.step("release");
    assert_eq!(step["result"], "SUCCESS");
    assert_eq!(step["inputs"][0]["id"], "Deploy");
    assert_eq!(step["inputs"][0]["message"], "Deploy to production?");
    assert_eq!(step["inputs"][0]["answer"], "proceed");
    let url = format!("{}/job/app/job/release/1/input/", sb.url());
    assert!(
        outcome
            .stderr
            .lines()
            .any(|l| l.contains("waiting for input Deploy") && l.contains(&url)),
        "no plain line with {url}\n{outcome}"
    );
}

#[test]
fn an_abort_answer_ends_the_step_aborted() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input: { id: Deploy, action: abort }\n");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(1);
    assert_eq!(outcome.step("release")["result"], "ABORTED");
    assert_eq!(input_outcome(&sb)["outcome"], "aborted");
}

#[test]
fn an_unanswered_input_past_input_timeout_times_out_and_leaves_no_build_running() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input_timeout: 10s\n");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(4);
    let step = outcome.step("release");
    assert_eq!(step["status"], "timed_out", "{outcome}");
    assert!(
        step["message"]
            .as_str()
            .unwrap_or("")
            .contains("input_timeout"),
        "{outcome}"
    );
    assert!(
        builds(&sb).iter().all(|b| b["building"] != true),
        "{:?}",
        builds(&sb)
    );
}

#[test]
fn input_default_proceed_is_sent_when_input_timeout_passes() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(
        &sb,
        "    input: { id: Deploy, action: prompt, params: { TARGET: eu } }\n    input_timeout: 5s\n    input_default: proceed\n",
    );
    let (_dir, path) = pipeline_file(&yaml);
    // A prompt needs a terminal; this run has none, so it is refused before triggering.
    let outcome = run_json(&path, &[]);
    outcome.assert_code(2);
    assert!(outcome.stderr.contains("action: prompt"), "{outcome}");
    assert!(triggers(&sb).is_empty());
    let yaml = yaml.replace(
        "action: prompt",
        "action: proceed, if: \"{{eq run.id 'never'}}\"",
    );
    std::fs::write(&path, yaml).unwrap();
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    assert_eq!(outcome.step("release")["inputs"][0]["by"], "input_default");
    assert_eq!(
        input_outcome(&sb)["params"],
        json!({"TARGET": "eu", "FORCE": "false"})
    );
}

#[test]
fn a_submitter_restriction_names_the_input_and_who_may_answer() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input: { params: { TARGET: us } }\n")
        .replace("user: alice", "user: bob")
        .replace(TOKEN, "11bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(3);
    let message = outcome.step("release")["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        message.contains("input Deploy") && message.contains("release-team,alice"),
        "{outcome}"
    );
    assert_ne!(input_outcome(&sb)["outcome"], "proceeded");
}

#[test]
fn a_missing_input_parameter_is_refused_before_answering() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input: { id: Deploy, params: { FORCE: true } }\n");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(2);
    let message = outcome.step("release")["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(message.contains("needs parameter `TARGET`"), "{outcome}");
    assert!(
        input_outcome(&sb)["outcome"].is_null() || input_outcome(&sb)["outcome"] != "proceeded"
    );
}

const GO: &str = "speed: 100\nquiet_period: 0s\njobs:\n  - path: app/release\n    kind: pipeline\n    builds: [{duration: 10s, inputs: [{id: go, message: Go?}]}]\n";

#[test]
fn approve_on_the_command_line_answers_proceed() {
    let sb = sandbox(GO);
    let yaml = release_pipeline(&sb, "");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &["--approve", "release:go"]);
    outcome.assert_code(0);
    assert_eq!(outcome.step("release")["inputs"][0]["by"], "--approve");
    assert_eq!(input_outcome(&sb)["outcome"], "proceeded");
    let bad = run_json(&path, &["--approve", "nosuchstep"]);
    bad.assert_code(2);
}

#[test]
fn a_resume_after_a_crash_between_the_answer_and_the_end_answers_nothing_twice() {
    let sb = sandbox(GO);
    let yaml = release_pipeline(&sb, "    input: { id: go }\n");
    let (dir, path) = pipeline_file(&yaml);
    let journal = dir.path().join("journal.jsonl");
    let crashed = Running::spawn(
        jrun_command()
            .arg(&path)
            .args(["--progress", "never", "--journal"])
            .arg(&journal)
            .env("JRUN_TEST_CRASH_AFTER", "input_answered"),
    );
    let Outcome { code, stderr, .. } = crashed.outcome(Duration::from_secs(30));
    assert_eq!(
        code, 137,
        "the run did not stop at input_answered: {stderr}"
    );
    let resumed = Running::spawn(jrun_command().arg("resume").arg(&journal).args([
        "--progress",
        "never",
        "--output",
        "json",
    ]))
    .outcome(Duration::from_secs(30));
    resumed.assert_code(0);
    assert_eq!(resumed.step("release")["result"], "SUCCESS");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(
        text.matches("\"event\":\"input_answering\"").count(),
        1,
        "{text}"
    );
    assert_eq!(input_outcome(&sb)["outcome"], "proceeded");
    assert_eq!(triggers(&sb).len(), 1);
}

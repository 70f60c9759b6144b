//! Multibranch jobs: a branch named with `branch:` or as `%2F` reaches the same branch job, a
//! branch that does not exist yet is scanned for with `branch_scan: auto` and the build the
//! scan started for it is followed rather than a second one triggered, unless the step gives
//! parameters that build did not get; a branch that never appears fails in `scan_timeout`, and
//! `jrun check` tells a branch a scan may create from a missing job.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jrun::sandbox::Sandbox;
use serde_json::Value;

use common::{
    Outcome, Running, builds, jenkins_block, jrun_command, pipeline_file, sandbox, triggers,
};

/// The branch job of `release/2.4` in the multibranch project `app`.
const RELEASE_JOB: &str = "app/release%2F2.4";

/// `app` has `main` from the start, and `release/2.4` appears with the first scan, which
/// builds it once.
const MULTIBRANCH: &str = r#"speed: 20
quiet_period: 0s
jobs:
  - path: tools/lint
multibranch:
  - path: app
    scan_duration: 4s
    branches:
      - name: main
      - name: release/2.3
        builds: [{ duration: 2s }]
      - name: release/2.4
        discovered: false
        builds: [{ duration: 4s }, { duration: 2s }]
"#;

/// The same project, where the new branch's Jenkinsfile declares a parameter.
const MULTIBRANCH_PARAMS: &str = r#"speed: 20
quiet_period: 0s
multibranch:
  - path: app
    scan_duration: 4s
    branches:
      - name: release/2.4
        discovered: false
        parameters: [{ name: VERSION, default: "0.0.0" }]
        builds: [{ duration: 4s }, { duration: 2s }]
"#;

const POLL: &str = "  poll: {initial: 20ms, max: 100ms}\n";

fn pipeline(sb: &Sandbox, defaults: &str, steps: &str) -> (tempfile::TempDir, PathBuf) {
    pipeline_file(&format!(
        "name: test\n{}defaults:\n{POLL}{defaults}steps:\n{steps}",
        jenkins_block(sb)
    ))
}

/// Runs the pipeline to its end with a JSON summary on stdout.
fn run_json(path: &Path, extra: &[&str]) -> Outcome {
    let mut cmd = jrun_command();
    cmd.arg(path)
        .args(["--progress", "never", "--output", "json"])
        .args(extra);
    Running::spawn(&mut cmd).outcome(Duration::from_secs(60))
}

/// Runs `steps` with `defaults` against the sandbox to their end, with a JSON summary.
fn run_steps(sb: &Sandbox, defaults: &str, steps: &str) -> Outcome {
    let (_dir, path) = pipeline(sb, defaults, steps);
    run_json(&path, &[])
}

fn check(path: &Path) -> Outcome {
    let mut cmd = jrun_command();
    cmd.arg("check").arg(path);
    Running::spawn(&mut cmd).outcome(Duration::from_secs(30))
}

/// The builds the sandbox holds of `job`.
fn builds_of(sb: &Sandbox, job: &str) -> Vec<Value> {
    builds(sb).into_iter().filter(|b| b["job"] == job).collect()
}

/// The triggers jrun sent to `job`, with their parameters.
fn triggers_of(sb: &Sandbox, job: &str) -> Vec<Vec<(String, String)>> {
    triggers(sb)
        .into_iter()
        .filter(|t| t.job == job)
        .map(|t| t.params)
        .collect()
}

#[test]
fn a_new_branch_is_scanned_and_the_build_the_scan_started_is_followed_not_built_twice() {
    let sb = sandbox(MULTIBRANCH);
    let outcome = run_steps(
        &sb,
        "  branch_scan: auto\n",
        "  - { id: release, job: app, branch: release/2.4, scan_timeout: 1m }\n",
    );
    outcome.assert_code(0);
    let step = outcome.step("release");
    assert_eq!(step["job"], RELEASE_JOB, "{outcome}");
    assert_eq!(step["number"], 1, "{outcome}");
    assert_eq!(step["result"], "SUCCESS", "{outcome}");
    assert_eq!(step["adopted"], true, "{outcome}");
    assert!(triggers_of(&sb, RELEASE_JOB).is_empty(), "{outcome}");
    let built = builds_of(&sb, RELEASE_JOB);
    assert_eq!(built.len(), 1, "{built:?}\n{outcome}");
    assert_eq!(built[0]["building"], false, "{built:?}");
    assert!(
        outcome
            .stderr
            .contains("scanning multibranch project `app`"),
        "{outcome}"
    );
}

#[test]
fn the_branch_key_and_the_encoded_name_reach_the_same_branch_job() {
    let sb = sandbox(MULTIBRANCH);
    let outcome = run_steps(
        &sb,
        "",
        "  - { id: plain, job: app, branch: release/2.3 }\n  - { id: encoded, job: app/release%2F2.3 }\n",
    );
    outcome.assert_code(0);
    let (plain, encoded) = (outcome.step("plain"), outcome.step("encoded"));
    assert_eq!(plain["job"], "app/release%2F2.3", "{outcome}");
    assert_eq!(encoded["job"], plain["job"], "{outcome}");
    assert_eq!(plain["number"], 1, "{outcome}");
    assert_eq!(encoded["number"], 2, "{outcome}");
    assert_eq!(triggers_of(&sb, "app/release%2F2.3").len(), 2, "{outcome}");
    assert!(
        plain["url"]
            .as_str()
            .is_some_and(|u| u.contains("/job/app/job/release%252F2.3/1/")),
        "{outcome}"
    );
}

#[test]
fn a_step_with_parameters_the_scan_build_did_not_get_triggers_its_own_and_says_why() {
    let sb = sandbox(MULTIBRANCH_PARAMS);
    let outcome = run_steps(
        &sb,
        "  branch_scan: auto\n",
        "  - { id: release, job: app, branch: release/2.4, params: { VERSION: 2.4.0 } }\n",
    );
    outcome.assert_code(0);
    let step = outcome.step("release");
    assert_eq!(step["number"], 2, "{outcome}");
    assert!(step.get("adopted").is_none(), "{outcome}");
    assert!(
        outcome.stderr.contains("not adopting build #1")
            && outcome.stderr.contains("`VERSION")
            && outcome
                .stderr
                .contains("triggering a build with the step's parameters"),
        "{outcome}"
    );
    let sent = triggers_of(&sb, RELEASE_JOB);
    assert_eq!(
        sent,
        [vec![("VERSION".to_string(), "2.4.0".to_string())]],
        "{outcome}"
    );
    assert_eq!(builds_of(&sb, RELEASE_JOB).len(), 2, "{outcome}");
}

#[test]
fn a_branch_that_does_not_appear_within_scan_timeout_times_out() {
    let sb = sandbox(&MULTIBRANCH.replace("scan_duration: 4s", "scan_duration: 10m"));
    let started = Instant::now();
    let outcome = run_steps(
        &sb,
        "  branch_scan: auto\n",
        "  - { id: release, job: app, branch: release/2.4, scan_timeout: 1s }\n",
    );
    outcome.assert_code(4);
    assert!(started.elapsed() < Duration::from_secs(15), "{outcome}");
    let step = outcome.step("release");
    assert_eq!(step["status"], "timed_out", "{outcome}");
    let message = step["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("did not appear within scan_timeout 1s"),
        "{outcome}"
    );
    assert!(triggers_of(&sb, RELEASE_JOB).is_empty(), "{outcome}");
}

#[test]
fn a_scan_that_ends_without_the_branch_fails_the_step_as_an_unknown_job() {
    let sb = sandbox(MULTIBRANCH);
    let outcome = run_steps(
        &sb,
        "  branch_scan: auto\n",
        "  - { id: release, job: app, branch: release/9.9 }\n",
    );
    outcome.assert_code(2);
    let message = outcome.message("release");
    assert!(
        message.contains("does not exist") && message.contains("without finding its branch"),
        "{outcome}"
    );
    assert!(
        triggers_of(&sb, "app/release%2F9.9").is_empty(),
        "{outcome}"
    );
}

#[test]
fn branch_scan_never_keeps_the_job_does_not_exist_error_and_scans_nothing() {
    let sb = sandbox(MULTIBRANCH);
    let outcome = run_steps(
        &sb,
        "",
        "  - { id: release, job: app, branch: release/2.4 }\n",
    );
    outcome.assert_code(2);
    let message = outcome.message("release");
    assert!(
        message.contains("job `app/release%2F2.4` does not exist")
            && message.contains("branch_scan: auto"),
        "{outcome}"
    );
    // No scan ran: the branch is still undiscovered, and nothing was built.
    assert!(builds(&sb).is_empty(), "{outcome}");
    let client = common::client();
    let answer = common::get(&client, &sb, "/job/app/job/release%252F2.4/api/json");
    assert_eq!(answer.status(), 404);
}

#[test]
fn jrun_check_notes_a_branch_a_scan_may_create_and_refuses_a_missing_one() {
    let sb = sandbox(MULTIBRANCH);
    let (_dir, auto) = pipeline(
        &sb,
        "  branch_scan: auto\n",
        "  - { id: release, job: app, branch: release/2.4 }\n  - { id: main, job: app, branch: main }\n",
    );
    let checked = check(&auto);
    checked.assert_code(0);
    assert!(
        checked.stdout.contains("note: ")
            && checked
                .stdout
                .contains("branch job `app/release%2F2.4` does not exist yet")
            && checked.stdout.contains("multibranch project")
            && checked.stdout.contains("cannot")
            && checked.stdout.contains("1 branch job to be scanned for"),
        "{checked}"
    );
    let (_dir, never) = pipeline(
        &sb,
        "",
        "  - { id: release, job: app, branch: release/2.4 }\n",
    );
    let checked = check(&never);
    checked.assert_code(2);
    assert!(
        checked.stderr.contains("does not exist")
            && checked.stderr.contains("set `branch_scan: auto`"),
        "{checked}"
    );
    let (_dir, folder) = pipeline(
        &sb,
        "  branch_scan: auto\n",
        "  - { id: lint, job: tools, branch: feature/x }\n",
    );
    let checked = check(&folder);
    checked.assert_code(2);
    assert!(
        checked
            .stderr
            .contains("job `tools/feature%2Fx` does not exist")
            && !checked.stderr.contains("branch_scan"),
        "{checked}"
    );
    // A check triggers nothing and scans nothing.
    assert!(builds(&sb).is_empty(), "{checked}");
}

#[test]
fn a_run_resumed_after_the_adoption_follows_the_adopted_build_and_triggers_nothing() {
    let sb = sandbox(MULTIBRANCH);
    let (dir, path) = pipeline(
        &sb,
        "  branch_scan: auto\n",
        "  - { id: release, job: app, branch: release/2.4 }\n",
    );
    let journal = dir.path().join("run.journal");
    let crashed = Running::spawn(
        jrun_command()
            .arg(&path)
            .args(["--progress", "never", "--journal"])
            .arg(&journal)
            .env("JRUN_TEST_CRASH_AFTER", "adopted"),
    )
    .outcome(Duration::from_secs(30));
    assert_eq!(
        crashed.code, 137,
        "the run did not stop at the adoption\n{crashed}"
    );
    let resumed = common::resume_to_end(&journal);
    let step = resumed.step("release");
    assert_eq!(step["number"], 1, "{resumed}");
    assert_eq!(step["adopted"], true, "{resumed}");
    assert!(triggers_of(&sb, RELEASE_JOB).is_empty(), "{resumed}");
    assert_eq!(builds_of(&sb, RELEASE_JOB).len(), 1, "{resumed}");
}

#[test]
fn a_retry_after_an_adopted_build_failed_triggers_a_build_that_is_not_adopted() {
    let sb = sandbox(&MULTIBRANCH.replace(
        "builds: [{ duration: 4s }, { duration: 2s }]",
        "builds: [{ duration: 2s, result: FAILURE }, { duration: 2s }]",
    ));
    let outcome = run_steps(
        &sb,
        "  branch_scan: auto\n",
        "  - id: release\n    job: app\n    branch: release/2.4\n    retry: { max: 1, on: [FAILURE], delay: 100ms }\n",
    );
    outcome.assert_code(0);
    let step = outcome.step("release");
    assert_eq!(step["number"], 2, "{outcome}");
    assert_eq!(step["attempts"], 2, "{outcome}");
    assert!(step.get("adopted").is_none(), "{outcome}");
    assert_eq!(triggers_of(&sb, RELEASE_JOB).len(), 1, "{outcome}");
    assert_eq!(builds_of(&sb, RELEASE_JOB).len(), 2, "{outcome}");
}

#[test]
fn a_scan_asked_with_a_password_carries_a_crumb_and_finds_the_branch() {
    let sb = sandbox(MULTIBRANCH);
    let block = format!(
        "jenkins:\n  url: {}\n  user: {}\n  password: {}\n  unreachable_timeout: 5s\n",
        sb.url(),
        common::USER,
        common::PASSWORD
    );
    let (_dir, path) = pipeline_file(&format!(
        "name: test\n{block}defaults:\n{POLL}  branch_scan: auto\nsteps:\n  - {{ id: release, job: app, branch: release/2.4 }}\n"
    ));
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    assert_eq!(outcome.step("release")["adopted"], true, "{outcome}");
    assert_eq!(builds_of(&sb, RELEASE_JOB).len(), 1, "{outcome}");
}

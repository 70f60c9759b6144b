//! Outputs and descriptions: what a step reads from its ended build reaches later steps'
//! parameters, a value that cannot be had fails the step with kind `output`, references are
//! checked by `jrun validate`, a crash before the outputs were read still gives them on
//! resume, and the description jrun sets shows on the build.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use jrun::sandbox::Sandbox;
use serde_json::Value;

use common::{
    FAST_POLL, Outcome, Running, builds, jenkins_block, jrun, jrun_command, pipeline_file, sandbox,
    text, triggers,
};

fn pipeline_for(url: &str, sb: &Sandbox, rest: &str) -> (tempfile::TempDir, PathBuf) {
    let block = jenkins_block(sb).replace(&sb.url(), url);
    pipeline_file(&format!("name: test\n{block}{FAST_POLL}{rest}"))
}

/// Runs the pipeline to its end with a JSON summary on stdout.
fn run_json(path: &std::path::Path, extra: &[&str]) -> Outcome {
    let mut cmd = jrun_command();
    cmd.arg(path)
        .args(["--progress", "never", "--output", "json"])
        .args(extra);
    Running::spawn(&mut cmd).outcome(Duration::from_secs(60))
}

/// The parameters jrun sent to `job`, from the sandbox's trigger records.
fn sent_to(sb: &Sandbox, job: &str) -> Vec<Vec<(String, String)>> {
    triggers(sb)
        .into_iter()
        .filter(|t| t.job == job)
        .map(|t| t.params)
        .collect()
}

const RELEASE_SANDBOX: &str = r##"speed: 20
quiet_period: 0s
jobs:
  - path: app/build
    parameters: [{name: GIT_BRANCH}]
    builds:
      - duration: 2s
        description: nightly
        display_name: release-1.2.3
        log: ["compiling", "pushed image registry/app@sha256:abc", "pushed image other", "done"]
        artifacts:
          - { path: out/build-info.json, content: '{"version": "1.2.3", "build": 42}' }
          - { path: meta.properties, content: "# generated\ngit.sha = abc123\nmulti = a, \\\n  b\n" }
  - path: deploy
    parameters: [{name: IMAGE}, {name: VERSION}, {name: SHA}, {name: NOTE}, {name: TITLE}, {name: BRANCH}, {name: BUILD}]
"##;

const RELEASE: &str = r#"steps:
  - id: build
    job: app/build
    params: { GIT_BRANCH: main }
    outputs:
      from_artifact: out/build-info.json
      IMAGE: { log: 'pushed image (\S+)' }
      NOTE: { description: true }
      TITLE: { display_name: true }
      BRANCH: { param: GIT_BRANCH }
      SHA: { artifact: meta.properties, key: git.sha }
  - id: deploy
    job: deploy
    params:
      IMAGE: "{{steps.build.outputs.IMAGE}}"
      VERSION: "{{steps.build.outputs.version}}"
      SHA: "{{steps.build.outputs.SHA}}"
      NOTE: "{{steps.build.outputs.NOTE}}"
      TITLE: "{{steps.build.outputs.TITLE}}"
      BRANCH: "{{steps.build.outputs.BRANCH}}"
      BUILD: "{{steps.build.outputs.build}}"
"#;

fn release_params() -> Vec<(String, String)> {
    [
        ("IMAGE", "registry/app@sha256:abc"),
        ("VERSION", "1.2.3"),
        ("SHA", "abc123"),
        ("NOTE", "nightly"),
        ("TITLE", "release-1.2.3"),
        ("BRANCH", "main"),
        ("BUILD", "42"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn outputs_from_artifacts_the_build_and_its_log_reach_a_later_steps_parameters() {
    let sb = sandbox(RELEASE_SANDBOX);
    let (_dir, path) = pipeline_for(&sb.url(), &sb, RELEASE);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    assert_eq!(sent_to(&sb, "deploy"), [release_params()], "{outcome}");
    let build = outcome.step("build");
    assert_eq!(build["outputs"]["IMAGE"], "registry/app@sha256:abc");
    assert_eq!(build["outputs"]["version"], "1.2.3");
    // One pass over the log for every pattern, one download per values file.
    let routes = common::stats(&sb)["routes"].clone();
    assert_eq!(routes["GET log"]["count"], 1, "{routes}");
    assert_eq!(routes["GET artifact"]["count"], 2, "{routes}");
    assert!(outcome.step("deploy").get("outputs").is_none(), "{outcome}");
}

#[test]
fn an_output_that_cannot_be_read_fails_the_step_with_kind_output() {
    let sb = sandbox(
        "speed: 20\nquiet_period: 0s\njobs:\n  - path: build\n    builds:\n      - { duration: 1s, log: [nothing to see] }\n  - path: deploy\n",
    );
    let (_dir, path) = pipeline_for(
        &sb.url(),
        &sb,
        "steps:\n  - job: build\n    outputs: { IMAGE: { log: 'pushed image (\\S+)' } }\n  - job: deploy\n",
    );
    let outcome = run_json(&path, &[]);
    outcome.assert_code(1);
    let build = outcome.step("build");
    assert_eq!(build["status"], "failed", "{outcome}");
    assert_eq!(build["failure"]["kind"], "output", "{outcome}");
    assert_eq!(build["result"], "SUCCESS", "{outcome}");
    let message = build["message"].as_str().unwrap();
    assert!(message.contains("output `IMAGE`"), "{message}");
    assert!(message.contains("pushed image (\\S+)"), "{message}");
    assert!(
        message.contains("no line of the console log of build #1 matches"),
        "{message}"
    );
    assert_eq!(outcome.step("deploy")["status"], "skipped", "{outcome}");
}

#[test]
fn an_output_failure_is_retried_with_on_output_and_the_next_build_provides_it() {
    let sb = sandbox(
        r#"speed: 20
quiet_period: 0s
jobs:
  - path: build
    builds:
      - { duration: 1s }
      - duration: 1s
        artifacts: [{ path: info.env, content: "export VERSION='2.0'\n" }]
  - path: deploy
    parameters: [{name: VERSION}]
"#,
    );
    let (_dir, path) = pipeline_for(
        &sb.url(),
        &sb,
        "steps:\n  - job: build\n    retry: { max: 1, on: [output], delay: 10ms }\n    outputs: { from_artifact: info.env }\n  - job: deploy\n    params: { VERSION: '{{steps.build.outputs.VERSION}}' }\n",
    );
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    let build = outcome.step("build");
    assert_eq!(build["attempts"], 2, "{outcome}");
    assert_eq!(build["number"], 2, "{outcome}");
    assert!(
        outcome.stderr.contains("did not archive it")
            || outcome.stdout.contains("did not archive it"),
        "the retry note names why: {outcome}"
    );
    assert_eq!(
        sent_to(&sb, "deploy"),
        [vec![("VERSION".to_string(), "2.0".to_string())]]
    );
}

#[test]
fn a_key_a_from_artifact_file_did_not_provide_fails_the_step_that_reads_it() {
    let sb = sandbox(
        r#"speed: 20
quiet_period: 0s
jobs:
  - path: build
    builds: [{ duration: 1s, artifacts: [{ path: info.json, content: '{"version": "1"}' }] }]
  - path: deploy
    parameters: [{name: V}]
"#,
    );
    let (_dir, path) = pipeline_for(
        &sb.url(),
        &sb,
        "steps:\n  - job: build\n    outputs: { from_artifact: info.json }\n  - job: deploy\n    params: { V: '{{steps.build.outputs.verison}}' }\n",
    );
    let outcome = run_json(&path, &[]);
    // Like any template that cannot be rendered: the pipeline asked for what is not there.
    outcome.assert_code(2);
    let deploy = outcome.step("deploy");
    assert_eq!(deploy["failure"]["kind"], "invalid", "{outcome}");
    let message = deploy["message"].as_str().unwrap();
    assert!(
        message.contains("step `build` did not provide output `verison` (it provided: version)"),
        "{message}"
    );
    assert!(sent_to(&sb, "deploy").is_empty());
}

#[test]
fn validate_catches_a_misspelt_output_reference_with_file_line_and_column() {
    let yaml = "name: x\nsteps:\n  - id: build\n    job: app/build\n    outputs:\n      IMAGE: { log: 'pushed image (\\S+)' }\n  - job: deploy\n    params:\n      IMAGE: '{{steps.build.outputs.IMAGES}}'\n";
    let (_dir, path) = pipeline_file(yaml);
    let output = jrun().arg("validate").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    let place = format!("{}:9:14:", path.display());
    assert!(stderr.contains(&place), "{stderr}");
    assert!(
        stderr.contains("declares no output `IMAGES` (did you mean `steps.build.outputs.IMAGE`?)"),
        "{stderr}"
    );
    // With `from_artifact`, any name may come: it is checked when the file is read.
    let (_dir2, path) = pipeline_file(&yaml.replace(
        "      IMAGE: { log",
        "      from_artifact: out/info.json\n      IMAGE: { log",
    ));
    let output = jrun().arg("validate").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

#[test]
fn a_crash_between_the_builds_end_and_its_outputs_still_gives_the_later_step_the_value() {
    let sb = sandbox(RELEASE_SANDBOX);
    let (_dir, journal) = crashed_at(&sb, "build_ended");
    assert!(sent_to(&sb, "deploy").is_empty());
    let recorded = std::fs::read_to_string(&journal).unwrap();
    assert!(!recorded.contains("\"finished\""), "{recorded}");
    let resumed = common::resume_to_end(&journal);
    assert_eq!(sent_to(&sb, "deploy"), [release_params()], "{resumed}");
    assert_eq!(
        builds(&sb)
            .iter()
            .filter(|b| b["job"] == "app/build")
            .count(),
        1,
        "the build was not triggered again"
    );
    // The journal now holds the outputs: resuming again reads nothing more of Jenkins.
    let recorded = std::fs::read_to_string(&journal).unwrap();
    assert!(recorded.contains("registry/app@sha256:abc"), "{recorded}");
}

const DESCRIBED: &str = r#"vars: { version: 1.2.3 }
steps:
  - job: app
    description: "release {{vars.version}} (jrun run {{run.id}})"
"#;

#[test]
fn the_description_is_set_on_the_build_jrun_started() {
    let sb = sandbox(
        "speed: 20\nquiet_period: 0s\njobs:\n  - path: app\n    builds: [{duration: 2s}]\n",
    );
    let (_dir, path) = pipeline_for(&sb.url(), &sb, DESCRIBED);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    let all = builds(&sb);
    let description = all[0]["description"].as_str().unwrap_or_default();
    assert!(
        description.starts_with("release 1.2.3 (jrun run ") && description.ends_with(')'),
        "{all:?}"
    );
    assert!(!outcome.stderr.contains("warning"), "{outcome}");
}

#[test]
fn a_refused_description_is_only_a_warning() {
    let sb = sandbox(
        "speed: 20\nquiet_period: 0s\njobs:\n  - path: app\n    builds: [{duration: 1s}]\n",
    );
    let proxy = common::Hostile::proxy(&sb.url(), |asked, answer| {
        if asked.path().ends_with("/submitDescription") {
            return common::Answer {
                status: 403,
                headers: vec![(
                    "x-required-permission".into(),
                    "hudson.model.Run.Update".into(),
                )],
                body: b"alice is missing the Run/Update permission".to_vec(),
            };
        }
        answer
    });
    let (_dir, path) = pipeline_for(&proxy.url(), &sb, DESCRIBED);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    assert_eq!(outcome.step("app")["status"], "passed", "{outcome}");
    assert!(
        outcome
            .stderr
            .contains("warning: the description of build #1 was not set"),
        "{outcome}"
    );
    assert_eq!(outcome.step("app")["failure"], Value::Null, "{outcome}");
}

#[test]
fn plan_shows_the_description_and_where_each_output_comes_from() {
    let yaml = "name: x\nvars: { version: 1.2.3 }\nsteps:\n  - id: build\n    job: app/build\n    description: 'release {{vars.version}}'\n    outputs:\n      from_artifact: out/info.json\n      IMAGE: { log: 'pushed image (\\S+)' }\n      SHA: { artifact: meta.properties, key: git.sha }\n";
    let (_dir, path) = pipeline_file(yaml);
    let output = jrun().arg("plan").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for line in [
        "     description: release 1.2.3",
        "     outputs: every key of artifact out/info.json",
        "     output IMAGE from the console log (/pushed image (\\S+)/)",
        "     output SHA from key `git.sha` of artifact `meta.properties`",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in:\n{stdout}");
    }
}

#[test]
fn a_resumed_run_reuses_journaled_outputs_without_reading_the_build_again() {
    let sb = sandbox(RELEASE_SANDBOX);
    let (_dir, journal) = crashed_at(&sb, "finished");
    let reads = |sb: &Sandbox| {
        let routes = common::stats(sb)["routes"].clone();
        (
            routes["GET log"]["count"].clone(),
            routes["GET artifact"]["count"].clone(),
        )
    };
    let before = reads(&sb);
    assert_ne!(before.0, Value::Null, "the log was read once: {before:?}");
    let resumed = common::resume_to_end(&journal);
    assert_eq!(sent_to(&sb, "deploy"), [release_params()], "{resumed}");
    assert_eq!(reads(&sb), before, "the finished build was read again");
    assert_eq!(
        resumed.step("build")["outputs"]["SHA"],
        "abc123",
        "{resumed}"
    );
}

/// Runs the release pipeline with a journal until jrun is killed at the crash point `point`.
fn crashed_at(sb: &Sandbox, point: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, path) = pipeline_for(&sb.url(), sb, RELEASE);
    let journal = dir.path().join("run.journal");
    let crashed = Running::spawn(
        jrun_command()
            .arg(&path)
            .args(["--progress", "never", "--journal"])
            .arg(&journal)
            .env("JRUN_TEST_CRASH_AFTER", point),
    );
    let Outcome { code, stderr, .. } = crashed.outcome(Duration::from_secs(30));
    assert_eq!(code, 137, "the run did not stop at {point}: {stderr}");
    (dir, journal)
}

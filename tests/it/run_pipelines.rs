//! Running pipelines with the real `jrun` binary against an in-process sandbox: outcomes, exit
//! codes, what Jenkins received, and what jrun prints on stdout and stderr.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use jrun::sandbox::Sandbox;
use serde_json::Value;

use common::{
    FAST_POLL, Running, TOKEN, assert_code, builds, jenkins_block, jrun, pipeline_file,
    request_count, root, run, sandbox, step, summary_json, text, triggers, wait_for,
};

/// A pipeline file that talks to `sb`: name, the `jenkins:` block, fast polling, then `rest`
/// (which may add `vars:` and must hold `steps:`).
fn pipeline_for(sb: &Sandbox, rest: &str) -> (tempfile::TempDir, PathBuf) {
    pipeline_file(&format!(
        "name: test\n{}{FAST_POLL}{rest}",
        jenkins_block(sb)
    ))
}

/// The summary table's row for step `id`, split into cells.
fn row(stdout: &str, id: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells.first().is_some_and(|c| c == id))
        .unwrap_or_else(|| panic!("no row for {id} in:\n{stdout}"))
}

fn builds_of(sb: &Sandbox, job: &str) -> Vec<Value> {
    builds(sb).into_iter().filter(|b| b["job"] == job).collect()
}

/// A queue item as Jenkins shows it, read with alice's token.
fn queue_item(sb: &Sandbox, id: u64) -> Value {
    common::get_json(&common::client(), sb, &format!("/queue/item/{id}/api/json"))
}

/// `2026-12-01T05:40:01Z` at the start of a line, and what follows it.
fn after_timestamp(line: &str) -> Option<&str> {
    let (stamp, rest) = line.split_at_checked(20)?;
    let b = stamp.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    let shaped = digits.iter().all(|i| b[*i].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    (shaped && rest.starts_with(' ')).then(|| &rest[1..])
}

const THREE_STAGES_SANDBOX: &str = "\
speed: 10
quiet_period: 0s
executors: 4
jobs:
  - path: app/build
    history: [{duration: 2s}, {duration: 2s}]
    builds: [{duration: 2s}]
  - path: deploy
    concurrent: true
    parameters: [{name: REGION}, {name: BUILD}]
    builds: [{duration: 10s}]
  - path: notify
";

const THREE_STAGES: &str = "\
steps:
  - id: build
    job: app/build
  - parallel:
      - id: deploy-eu
        job: deploy
        params: {REGION: eu, BUILD: \"{{steps.build.number}}\"}
      - id: deploy-us
        job: deploy
        params: {REGION: us, BUILD: \"{{steps.build.number}}\"}
  - id: notify
    job: notify
";

#[test]
fn a_three_stage_pipeline_passes_and_its_summary_names_every_build() {
    let sb = sandbox(THREE_STAGES_SANDBOX);
    let (_dir, path) = pipeline_for(&sb, THREE_STAGES);
    let output = run(&path, &[]);
    assert_code(&output, 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("pipeline test: passed (exit 0)"),
        "{stdout}"
    );
    let url = sb.url();
    for (id, job, number) in [
        ("build", "app/job/build", 3),
        ("deploy-eu", "deploy", 0),
        ("deploy-us", "deploy", 0),
        ("notify", "notify", 1),
    ] {
        let cells = row(&stdout, id);
        assert_eq!(cells[1], "passed", "{stdout}");
        assert_eq!(cells[2], "SUCCESS", "{stdout}");
        if number > 0 {
            assert_eq!(cells[3], format!("#{number}"), "{stdout}");
            assert_eq!(
                cells.last().unwrap(),
                &format!("{url}/job/{job}/{number}/"),
                "{stdout}"
            );
        } else {
            let n: u64 = cells[3].trim_start_matches('#').parse().expect("a number");
            assert!(n == 1 || n == 2, "{stdout}");
            assert_eq!(
                cells.last().unwrap(),
                &format!("{url}/job/deploy/{n}/"),
                "{stdout}"
            );
        }
    }
    // Each deploy is a different build of the same job.
    assert_ne!(row(&stdout, "deploy-eu")[3], row(&stdout, "deploy-us")[3]);
}

#[test]
fn a_three_stage_pipeline_reports_json_matching_what_jenkins_built() {
    let sb = sandbox(THREE_STAGES_SANDBOX);
    let (_dir, path) = pipeline_for(&sb, THREE_STAGES);
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    assert_eq!(summary["pipeline"], "test");
    assert_eq!(summary["status"], "passed");
    assert_eq!(summary["exit_code"], 0);
    assert!(
        after_timestamp(&format!("{} x", summary["started_at"].as_str().unwrap())).is_some(),
        "started_at: {}",
        summary["started_at"]
    );
    assert!(summary["duration_ms"].as_u64().is_some());
    let ids: Vec<&str> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["build", "deploy-eu", "deploy-us", "notify"]);

    let seen = builds(&sb);
    let built = |job: &str, number: &Value| -> Value {
        seen.iter()
            .find(|b| b["job"] == job && &b["number"] == number)
            .unwrap_or_else(|| panic!("the sandbox has no build {number} of {job}: {seen:#?}"))
            .clone()
    };
    for (id, job, path) in [
        ("build", "app/build", "app/job/build"),
        ("deploy-eu", "deploy", "deploy"),
        ("deploy-us", "deploy", "deploy"),
        ("notify", "notify", "notify"),
    ] {
        let s = step(&summary, id);
        let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        // What the steps waited for, and when they ran, for the timeline.
        let timeline: &[&str] = if id == "build" {
            &["times"]
        } else {
            &["needs", "times"]
        };
        assert_eq!(
            keys,
            [
                [
                    "id",
                    "job",
                    "server",
                    "status",
                    "result",
                    "number",
                    "url",
                    "queue_id",
                    "attempts",
                    "duration_ms"
                ]
                .as_slice(),
                timeline
            ]
            .concat(),
            "{s:#}"
        );
        assert_eq!(s["job"], job);
        assert_eq!(s["server"], "default");
        assert_eq!(s["status"], "passed");
        assert_eq!(s["result"], "SUCCESS");
        assert_eq!(s["attempts"], 1);
        assert!(s["duration_ms"].as_u64().is_some_and(|d| d > 0), "{s:#}");
        let build = built(job, &s["number"]);
        assert_eq!(s["queue_id"], build["queue_id"], "{s:#} vs {build:#}");
        assert_eq!(build["result"], "SUCCESS");
        assert_eq!(
            s["url"],
            format!("{}/job/{path}/{}/", sb.url(), s["number"]),
            "{s:#}"
        );
    }
    assert_eq!(step(&summary, "build")["number"], 3);

    // Both deploys were given the number of the build step's build.
    let deploys = builds_of(&sb, "deploy");
    assert_eq!(deploys.len(), 2, "{deploys:#?}");
    let mut regions: Vec<&str> = deploys
        .iter()
        .map(|d| d["params"]["REGION"].as_str().unwrap())
        .collect();
    regions.sort();
    assert_eq!(regions, ["eu", "us"]);
    for d in &deploys {
        assert_eq!(d["params"]["BUILD"], "3", "{d:#}");
    }
    // They ran side by side: each started before the other ended.
    let (a, b) = (&deploys[0], &deploys[1]);
    assert!(
        a["start_ms"].as_i64() < b["end_ms"].as_i64()
            && b["start_ms"].as_i64() < a["end_ms"].as_i64(),
        "the deploys did not overlap: {deploys:#?}"
    );
    // And notify only after both.
    let notify = &builds_of(&sb, "notify")[0];
    for d in &deploys {
        assert!(
            notify["start_ms"].as_i64() >= d["end_ms"].as_i64(),
            "{notify:#} {d:#}"
        );
    }
    // One trigger per step, never a second one.
    assert_eq!(triggers(&sb).len(), 4, "{:#?}", triggers(&sb));
}

const ODD: &str = "a b&c=d \"q\" 'x' + 50% #1 é ✓";

#[test]
fn odd_parameter_values_and_a_folder_with_a_space_arrive_byte_for_byte() {
    let sb = sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: team folder/sub job\n    \
         parameters: [{name: NOTE}, {name: VIA_VAR}]\n",
    );
    // YAML single quotes: `''` is one quote, nothing else is special.
    let quoted = format!("'{}'", ODD.replace('\'', "''"));
    let (_dir, path) = pipeline_for(
        &sb,
        &format!(
            "vars:\n  odd: {quoted}\nsteps:\n  - id: odd\n    job: team folder/sub job\n    \
             params:\n      NOTE: {quoted}\n      VIA_VAR: \"{{{{vars.odd}}}}\"\n"
        ),
    );
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    let s = step(&summary, "odd");
    assert_eq!(s["job"], "team folder/sub job");
    assert_eq!(s["status"], "passed");
    assert_eq!(
        s["url"],
        format!("{}/job/team%20folder/job/sub%20job/1/", sb.url())
    );
    let built = builds_of(&sb, "team folder/sub job");
    assert_eq!(built.len(), 1, "{built:#?}");
    assert_eq!(built[0]["params"]["NOTE"], ODD);
    assert_eq!(built[0]["params"]["VIA_VAR"], ODD);
    let sent = triggers(&sb);
    assert_eq!(sent.len(), 1);
    let mut params = sent[0].params.clone();
    params.sort();
    assert_eq!(
        params,
        [
            ("NOTE".to_string(), ODD.to_string()),
            ("VIA_VAR".to_string(), ODD.to_string())
        ]
    );
}

/// A sandbox with one job `app/build` whose builds end with `result`.
fn sandbox_with_result(result: &str) -> Sandbox {
    sandbox(&format!(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: app/build\n    builds: [{{result: {result}}}]\n"
    ))
}

#[test]
fn a_failed_build_fails_the_run_with_exit_1() {
    let sb = sandbox_with_result("FAILURE");
    let (_dir, path) = pipeline_for(&sb, "steps:\n  - id: build\n    job: app/build\n");
    let output = run(&path, &[]);
    assert_code(&output, 1);
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("pipeline test: failed (exit 1)"),
        "{stdout}"
    );
    assert_eq!(
        row(&stdout, "build")[1..4],
        ["failed", "FAILURE", "#1"],
        "{stdout}"
    );
    assert!(
        stdout.contains("ended FAILURE, expected SUCCESS"),
        "{stdout}"
    );
}

#[test]
fn an_unstable_build_passes_when_the_step_expects_unstable() {
    let sb = sandbox_with_result("UNSTABLE");
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: build\n    job: app/build\n    expect: [SUCCESS, UNSTABLE]\n",
    );
    let output = run(&path, &[]);
    assert_code(&output, 0);
    let stdout = text(&output.stdout);
    assert_eq!(
        row(&stdout, "build")[1..4],
        ["passed", "UNSTABLE", "#1"],
        "{stdout}"
    );
}

#[test]
fn an_unstable_build_fails_when_the_step_expects_only_success() {
    let sb = sandbox_with_result("UNSTABLE");
    let (_dir, path) = pipeline_for(&sb, "steps:\n  - id: build\n    job: app/build\n");
    let output = run(&path, &[]);
    assert_code(&output, 1);
    let stdout = text(&output.stdout);
    assert_eq!(
        row(&stdout, "build")[1..4],
        ["failed", "UNSTABLE", "#1"],
        "{stdout}"
    );
}

const BRANCHES_SANDBOX: &str = "\
speed: 10
quiet_period: 0s
jobs:
  - path: ok
  - path: broken
    builds: [{result: FAILURE}]
  - path: cleanup
  - path: announce
  - path: next
";

#[test]
fn continue_on_failure_reports_the_failure_runs_dependents_and_exits_0() {
    let sb = sandbox(BRANCHES_SANDBOX);
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: broken\n    job: broken\n    continue_on_failure: true\n  \
         - id: next\n    job: next\n",
    );
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    assert_eq!(summary["status"], "passed");
    assert_eq!(step(&summary, "broken")["status"], "failed");
    assert_eq!(step(&summary, "broken")["result"], "FAILURE");
    assert_eq!(step(&summary, "next")["status"], "passed");
    assert_eq!(builds_of(&sb, "next").len(), 1);
}

#[test]
fn after_a_failure_always_and_on_failure_steps_run_and_on_success_steps_are_skipped() {
    let sb = sandbox(BRANCHES_SANDBOX);
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: broken\n    job: broken\n  \
         - id: cleanup\n    job: cleanup\n    needs: [broken]\n    if: on_failure\n  \
         - id: announce\n    job: announce\n    needs: [broken]\n    if: always\n  \
         - id: next\n    job: next\n    needs: [broken]\n",
    );
    let output = run(&path, &[]);
    assert_code(&output, 1);
    let stdout = text(&output.stdout);
    assert_eq!(
        row(&stdout, "broken")[1..3],
        ["failed", "FAILURE"],
        "{stdout}"
    );
    assert_eq!(
        row(&stdout, "cleanup")[1..4],
        ["passed", "SUCCESS", "#1"],
        "{stdout}"
    );
    assert_eq!(
        row(&stdout, "announce")[1..4],
        ["passed", "SUCCESS", "#1"],
        "{stdout}"
    );
    assert_eq!(
        row(&stdout, "next")[1..4],
        ["skipped", "-", "-"],
        "{stdout}"
    );
    assert!(stdout.contains("`broken` did not succeed"), "{stdout}");
    assert_eq!(builds_of(&sb, "cleanup").len(), 1);
    assert_eq!(builds_of(&sb, "announce").len(), 1);
    assert!(builds_of(&sb, "next").is_empty());
}

#[test]
fn an_on_failure_step_is_skipped_when_nothing_it_needs_failed() {
    let sb = sandbox(BRANCHES_SANDBOX);
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: ok\n    job: ok\n  \
         - id: cleanup\n    job: cleanup\n    needs: [ok]\n    if: on_failure\n  \
         - id: announce\n    job: announce\n    needs: [ok]\n    if: always\n",
    );
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    assert_eq!(step(&summary, "ok")["status"], "passed");
    assert_eq!(step(&summary, "cleanup")["status"], "skipped");
    assert_eq!(step(&summary, "cleanup")["number"], Value::Null);
    assert_eq!(step(&summary, "announce")["status"], "passed");
    assert!(builds_of(&sb, "cleanup").is_empty());
    assert_eq!(builds_of(&sb, "announce").len(), 1);
}

const SLOW_SANDBOX: &str = "\
speed: 10
quiet_period: 0s
jobs:
  - path: slow
    builds: [{duration: 1h}]
  - path: held
    quiet_period: 1h
  - path: after
";

#[test]
fn a_build_over_its_timeout_is_stopped_and_the_run_exits_4() {
    let sb = sandbox(SLOW_SANDBOX);
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: slow\n    job: slow\n    timeout: 1s\n  - id: after\n    job: after\n",
    );
    let output = run(&path, &[]);
    assert_code(&output, 4);
    let stdout = text(&output.stdout);
    assert_eq!(
        row(&stdout, "slow")[1..4],
        ["timed_out", "ABORTED", "#1"],
        "{stdout}"
    );
    assert_eq!(row(&stdout, "after")[1], "skipped", "{stdout}");
    let slow = builds_of(&sb, "slow");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0]["aborted"], true, "{slow:#?}");
    assert_eq!(slow[0]["building"], false, "{slow:#?}");
    assert_eq!(slow[0]["result"], "ABORTED", "{slow:#?}");
    assert!(builds_of(&sb, "after").is_empty());
}

#[test]
fn an_item_over_its_queue_timeout_is_cancelled_and_the_run_exits_4() {
    let sb = sandbox(SLOW_SANDBOX);
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: held\n    job: held\n    queue_timeout: 1s\n",
    );
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 4);
    let summary = summary_json(&output);
    let s = step(&summary, "held");
    assert_eq!(s["status"], "timed_out", "{s:#}");
    assert_eq!(s["number"], Value::Null, "{s:#}");
    let id = s["queue_id"].as_u64().expect("a queue id");
    let item = queue_item(&sb, id);
    assert_eq!(item["cancelled"], true, "{item:#}");
    assert!(builds_of(&sb, "held").is_empty());
}

#[test]
fn the_runs_timeout_stops_what_it_started_and_exits_4() {
    let sb = sandbox(SLOW_SANDBOX);
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - parallel:\n      - id: slow\n        job: slow\n      \
         - id: held\n        job: held\n  - id: after\n    job: after\n",
    );
    let output = run(&path, &["--timeout", "1s", "--output", "json"]);
    assert_code(&output, 4);
    let summary = summary_json(&output);
    assert_eq!(summary["exit_code"], 4);
    assert_eq!(summary["status"], "failed");
    // The running build was stopped, and Jenkins shows it ABORTED.
    let s = step(&summary, "slow");
    assert_eq!(s["status"], "timed_out", "{s:#}");
    assert_eq!(s["result"], "ABORTED", "{s:#}");
    let slow = builds_of(&sb, "slow");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0]["result"], "ABORTED", "{slow:#?}");
    assert_eq!(slow[0]["aborted"], true, "{slow:#?}");
    // The queued item was cancelled.
    let h = step(&summary, "held");
    assert_eq!(h["status"], "timed_out", "{h:#}");
    let item = queue_item(&sb, h["queue_id"].as_u64().expect("a queue id"));
    assert_eq!(item["cancelled"], true, "{item:#}");
    assert!(builds_of(&sb, "held").is_empty());
    // Nothing new starts once the deadline has passed.
    assert_eq!(step(&summary, "after")["status"], "skipped");
    assert!(builds_of(&sb, "after").is_empty());
    assert!(
        text(&output.stderr).contains("the run's --timeout was reached"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_queue_item_cancelled_in_jenkins_ends_the_step_as_cancelled() {
    let sb = sandbox(SLOW_SANDBOX);
    let (_dir, path) = pipeline_for(&sb, "steps:\n  - id: held\n    job: held\n");
    let jrun = Running::start(&path, &["--output", "json"]);
    let id = wait_for(Duration::from_secs(20), "jrun's trigger", || {
        triggers(&sb).first().and_then(|t| t.queue_id)
    });
    let response = common::post(
        &common::client(),
        &sb,
        &format!("/queue/cancelItem?id={id}"),
    );
    assert!(response.status().is_success(), "{}", response.status());
    let output = jrun.finish(Duration::from_secs(20));
    assert_code(&output, 1);
    let summary = summary_json(&output);
    let s = step(&summary, "held");
    assert_eq!(s["status"], "cancelled", "{s:#}");
    assert_eq!(s["result"], "CANCELLED", "{s:#}");
    assert_eq!(s["queue_id"], id, "{s:#}");
    assert!(builds_of(&sb, "held").is_empty());
}

const VERSIONED: &str = "\
vars:
  version: \"1.0\"
steps:
  - id: build
    job: app/build
    params: {VERSION: \"{{vars.version}}\"}
";

fn versioned_sandbox() -> Sandbox {
    sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: app/build\n    \
         parameters: [{name: VERSION, default: \"0.1\"}]\n",
    )
}

#[test]
fn set_overrides_a_var_that_jenkins_then_receives() {
    let sb = versioned_sandbox();
    let (_dir, path) = pipeline_for(&sb, VERSIONED);
    let output = run(&path, &["--set", "version=9.9"]);
    assert_code(&output, 0);
    let built = builds_of(&sb, "app/build");
    assert_eq!(built.len(), 1);
    assert_eq!(built[0]["params"]["VERSION"], "9.9");
}

#[test]
fn set_of_an_undeclared_var_exits_2_naming_the_nearest_one() {
    let sb = versioned_sandbox();
    let (_dir, path) = pipeline_for(&sb, VERSIONED);
    let output = run(&path, &["--set", "nosuch=1"]);
    assert_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("nosuch"), "{stderr}");
    assert!(stderr.contains("`version`"), "{stderr}");
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    assert!(sb.triggers().is_empty());
}

/// `line:column` of the first `needle` in the file at `path`, both counted from 1.
fn place_of(path: &std::path::Path, needle: &str) -> String {
    let text = std::fs::read_to_string(path).expect("read pipeline");
    let (line, found) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, l[..c].chars().count() + 1)))
        .unwrap_or_else(|| panic!("no `{needle}` in:\n{text}"));
    format!("{line}:{found}")
}

/// Runs a pipeline that must be refused: exit 2, an error on stderr at `needle`'s place in
/// the file, and no trigger in the sandbox. Returns stderr.
#[track_caller]
fn assert_refused_at(sb: &Sandbox, rest: &str, needle: &str) -> String {
    let (_dir, path) = pipeline_for(sb, rest);
    let output = run(&path, &[]);
    assert_code(&output, 2);
    let stderr = text(&output.stderr);
    let expected = format!("{}:{}: ", path.display(), place_of(&path, needle));
    assert!(
        stderr.contains(&expected),
        "stderr does not have {expected}:\n{stderr}"
    );
    assert!(sb.triggers().is_empty(), "{:#?}", sb.triggers());
    assert!(!stderr.contains(TOKEN), "the token leaked: {stderr}");
    stderr
}

#[test]
fn bad_yaml_exits_2_at_its_place_before_any_request() {
    let sb = versioned_sandbox();
    let stderr = assert_refused_at(
        &sb,
        "steps:\n  - id: a\n    job: app: build\n  - id: b\n    job: app/build\n",
        ": build",
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("mapping values are not allowed"),
        "{stderr}"
    );
    assert_eq!(request_count(&sb), 0);
}

#[test]
fn an_unknown_key_exits_2_at_the_key() {
    let sb = versioned_sandbox();
    let stderr = assert_refused_at(
        &sb,
        "steps:\n  - id: a\n    job: app/build\n    colour: red\n",
        "colour",
    );
    assert!(stderr.contains("unknown field `colour`"), "{stderr}");
    assert_eq!(request_count(&sb), 0);
}

#[test]
fn a_cycle_in_needs_exits_2_naming_the_cycle() {
    let sb = versioned_sandbox();
    let stderr = assert_refused_at(
        &sb,
        "steps:\n  - id: a\n    job: app/build\n    needs: [b]\n  \
         - id: b\n    job: app/build\n    needs: [a]\n",
        "b]",
    );
    assert!(stderr.contains("a -> b -> a"), "{stderr}");
    assert_eq!(request_count(&sb), 0);
}

#[test]
fn an_unknown_template_variable_exits_2_suggesting_the_right_one() {
    let sb = versioned_sandbox();
    let stderr = assert_refused_at(
        &sb,
        "vars:\n  version: \"1\"\nsteps:\n  - id: a\n    job: app/build\n    \
         params: {VERSION: \"{{vars.verison}}\"}\n",
        "\"{{vars.verison",
    );
    assert!(stderr.contains("`vars.verison`"), "{stderr}");
    assert!(stderr.contains("`vars.version`"), "{stderr}");
    assert_eq!(request_count(&sb), 0);
}

#[test]
fn a_missing_environment_variable_exits_2_naming_it() {
    let sb = versioned_sandbox();
    let stderr = assert_refused_at(
        &sb,
        "steps:\n  - id: a\n    job: app/build\n    params: {VERSION: \"{{env.NOPE_NOT_SET}}\"}\n",
        "\"{{env",
    );
    assert!(stderr.contains("`NOPE_NOT_SET` is not set"), "{stderr}");
    assert_eq!(request_count(&sb), 0);
}

#[test]
fn an_unknown_job_exits_2_at_its_name_without_a_trigger() {
    let sb = versioned_sandbox();
    let stderr = assert_refused_at(
        &sb,
        "steps:\n  - id: a\n    job: app/nosuch\n",
        "app/nosuch",
    );
    assert!(
        stderr.contains("job `app/nosuch` does not exist"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_job_in_an_await_gate_exits_2_at_its_name() {
    let sb = versioned_sandbox();
    let stderr = assert_refused_at(
        &sb,
        "steps:\n  - id: gate\n    await: {job: qa/nosuch, result: [SUCCESS]}\n",
        "qa/nosuch",
    );
    assert!(
        stderr.contains("job `qa/nosuch` does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_parameter_the_job_does_not_define_exits_2_naming_the_nearest_one() {
    let sb = versioned_sandbox();
    let stderr = assert_refused_at(
        &sb,
        "steps:\n  - id: a\n    job: app/build\n    params: {VERSOIN: \"1.2\"}\n",
        "\"1.2\"",
    );
    assert!(stderr.contains("no parameter `VERSOIN`"), "{stderr}");
    assert!(stderr.contains("did you mean `VERSION`?"), "{stderr}");
}

#[test]
fn a_missing_pipeline_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.yaml");
    let output = run(&path, &[]);
    assert_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("{}: no such file", path.display())),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn no_jenkins_url_anywhere_exits_2_saying_where_to_put_one() {
    let (_dir, path) = pipeline_file("name: test\nsteps:\n  - id: a\n    job: app/build\n");
    let output = run(&path, &[]);
    assert_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("no Jenkins URL"), "{stderr}");
    assert!(stderr.contains("JENKINS_URL"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn validate_accepts_both_example_pipelines() {
    let output = jrun()
        .current_dir(root())
        .args([
            "validate",
            "pipelines/release.yaml",
            "pipelines/nightly.yaml",
        ])
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "pipelines/release.yaml: ok (5 steps)\npipelines/nightly.yaml: ok (5 steps)\n"
    );
}

#[test]
fn plan_lists_steps_in_order_with_rendered_parameters() {
    let output = jrun()
        .current_dir(root())
        .args(["plan", "pipelines/release.yaml"])
        .output()
        .unwrap();
    assert_code(&output, 0);
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let index = |wanted: &str| {
        lines
            .iter()
            .position(|l| *l == wanted)
            .unwrap_or_else(|| panic!("no line `{wanted}` in:\n{stdout}"))
    };
    let order = [
        index("1. build: job platform/app/build"),
        index("2. qa-gate: await qa/nightly last build SUCCESS after build"),
        index("3. deploy-eu: job deploy after qa-gate"),
        index("4. deploy-us: job deploy after qa-gate"),
        index("5. announce: job notify after deploy-eu, deploy-us if always"),
    ];
    assert!(order.is_sorted(), "{stdout}");
    assert_eq!(lines[order[0] + 1], "VERSION = 2.4.0", "{stdout}");
    // Values that need an earlier step's build are shown as templates, not guessed.
    assert_eq!(lines[order[2] + 1], "REGION = eu", "{stdout}");
    assert_eq!(
        lines[order[2] + 2],
        "BUILD = {{steps.build.number}} (known when it runs)",
        "{stdout}"
    );
    assert_eq!(lines[order[4] + 1], "CHANNEL = #releases", "{stdout}");
    assert!(
        lines[order[4] + 2].starts_with("MESSAGE = release 2.4.0 (run ")
            && lines[order[4] + 2].ends_with(") has finished"),
        "{stdout}"
    );
}

#[test]
fn schema_prints_the_committed_schema() {
    let output = jrun().arg("schema").output().unwrap();
    assert_code(&output, 0);
    let committed = std::fs::read_to_string(root().join("schemas/pipeline.schema.json")).unwrap();
    assert_eq!(text(&output.stdout), committed);
}

#[test]
fn sandbox_mode_rehearses_the_release_pipeline() {
    let output = jrun()
        .current_dir(root())
        .args(["--sandbox", "pipelines/release.yaml", "--progress", "never"])
        .output()
        .unwrap();
    assert_code(&output, 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("pipeline release: passed (exit 0)"),
        "{stdout}"
    );
    for id in ["build", "qa-gate", "deploy-eu", "deploy-us", "announce"] {
        assert_eq!(row(&stdout, id)[1..3], ["passed", "SUCCESS"], "{stdout}");
    }
}

#[test]
fn sandbox_config_scripts_a_failure_that_fails_the_rehearsal() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sandbox.yaml");
    std::fs::write(
        &config,
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: platform/app/build\n    \
         parameters: [{name: VERSION}]\n    builds: [{duration: 5s, result: FAILURE}]\n",
    )
    .unwrap();
    let output = jrun()
        .current_dir(root())
        .args([
            "pipelines/release.yaml",
            "--progress",
            "never",
            "--sandbox-config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_code(&output, 1);
    let stdout = text(&output.stdout);
    assert_eq!(
        row(&stdout, "build")[1..4],
        ["failed", "FAILURE", "#1"],
        "{stdout}"
    );
    assert_eq!(row(&stdout, "qa-gate")[1], "skipped", "{stdout}");
    assert_eq!(row(&stdout, "deploy-eu")[1], "skipped", "{stdout}");
}

#[test]
fn output_off_a_terminal_has_no_escape_codes_even_without_no_color() {
    let sb = sandbox(BRANCHES_SANDBOX);
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: ok\n    job: ok\n  - id: broken\n    job: broken\n  \
         - id: next\n    job: next\n",
    );
    // The default progress mode, a colour-capable TERM and no NO_COLOR: only the fact that
    // neither stream is a terminal keeps escapes out.
    let output = jrun()
        .arg(&path)
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert_code(&output, 1);
    assert!(!output.stdout.is_empty() && !output.stderr.is_empty());
    assert!(
        !output.stdout.contains(&0x1b),
        "stdout: {:?}",
        text(&output.stdout)
    );
    assert!(
        !output.stderr.contains(&0x1b),
        "stderr: {:?}",
        text(&output.stderr)
    );
    assert!(
        !output.stderr.contains(&b'\r'),
        "{:?}",
        text(&output.stderr)
    );
    for stream in [&output.stdout, &output.stderr] {
        assert!(
            !text(stream).contains(TOKEN),
            "the token leaked: {}",
            text(stream)
        );
    }
}

#[test]
fn stderr_has_one_timestamped_line_per_state_change() {
    let sb = sandbox(THREE_STAGES_SANDBOX);
    let (_dir, path) = pipeline_for(&sb, THREE_STAGES);
    let output = run(&path, &[]);
    assert_code(&output, 0);
    let stderr = text(&output.stderr);
    let bodies: Vec<&str> = stderr
        .lines()
        .map(|l| after_timestamp(l).unwrap_or_else(|| panic!("untimestamped line {l:?}")))
        .collect();
    assert_eq!(bodies[0], "pipeline test: 4 steps", "{stderr}");
    let url = sb.url();
    let of = |id: &str| -> Vec<&str> {
        bodies
            .iter()
            .copied()
            .filter(|b| b.starts_with(&format!("{id}: ")))
            .collect()
    };
    // Polled every 20-100 ms, yet each state shows once: triggered, building, passed.
    let build = of("build");
    assert_eq!(build.len(), 3, "{stderr}");
    assert!(
        build[0].starts_with("build: triggered app/build (queue item "),
        "{stderr}"
    );
    assert!(
        build[1].starts_with(&format!("build: building #3 {url}/job/app/job/build/3/")),
        "{stderr}"
    );
    assert!(
        build[2].starts_with("build: passed SUCCESS #3 in "),
        "{stderr}"
    );
    for id in ["deploy-eu", "deploy-us", "notify"] {
        let lines = of(id);
        assert_eq!(lines.len(), 3, "{stderr}");
        assert!(lines[0].contains(": triggered "), "{stderr}");
        assert!(lines[1].contains(": building #"), "{stderr}");
        assert!(lines[2].contains(": passed SUCCESS #"), "{stderr}");
    }
    assert_eq!(bodies.len(), 1 + 4 * 3, "{stderr}");
}

#[test]
fn no_arguments_exits_2_with_usage() {
    let output = jrun().output().unwrap();
    assert_code(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("Usage: jrun"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn help_lists_the_exit_codes() {
    let output = jrun().arg("--help").output().unwrap();
    assert_code(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Exit codes:"), "{stdout}");
    for line in [
        "0    every step passed",
        "1    a step ended with a result it did not expect",
        "2    invalid input",
        "3    Jenkins could not be used",
        "4    a timeout was reached",
        "5    another run holds the lock",
        "130  interrupted by SIGINT",
        "143  stopped by SIGTERM",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
}

//! Pipeline graphs and policies, end to end with the real `jrun` binary against in-process
//! sandboxes: `needs` graphs, matrices with fail_fast and max_parallel, retries, `if:`
//! expressions, `await:` gates, named servers, `jrun check` and the preflight, partial runs
//! and steps not waited for. Order is read from the sandbox's build times, never from clocks.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use jrun::sandbox::Sandbox;
use serde_json::{Value, json};

use common::{
    FAST_POLL, Running, assert_code, builds, control, jenkins_block, jrun, pipeline_file,
    request_count, run, sandbox, step, summary_json, text, triggers, wait_for,
};

/// A pipeline file that talks to `sb`: name, the `jenkins:` block, fast polling, then `rest`
/// (which must hold `steps:` and may add top-level keys before it).
fn pipeline_for(sb: &Sandbox, rest: &str) -> (tempfile::TempDir, PathBuf) {
    pipeline_file(&format!(
        "name: graphs\n{}{FAST_POLL}{rest}",
        jenkins_block(sb)
    ))
}

fn step_ids(summary: &Value) -> Vec<String> {
    summary["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_string())
        .collect()
}

/// The builds of one job, by number.
fn builds_of(sb: &Sandbox, job: &str) -> Vec<Value> {
    let mut found: Vec<Value> = builds(sb).into_iter().filter(|b| b["job"] == job).collect();
    found.sort_by_key(|b| b["number"].as_u64());
    found
}

/// The one build of `job` numbered `number`.
fn build_of(sb: &Sandbox, job: &str, number: &Value) -> Value {
    builds_of(sb, job)
        .into_iter()
        .find(|b| &b["number"] == number)
        .unwrap_or_else(|| panic!("the sandbox has no build {number} of {job}"))
}

fn start(build: &Value) -> i64 {
    build["start_ms"].as_i64().expect("start_ms")
}

fn end(build: &Value) -> i64 {
    build["end_ms"].as_i64().expect("end_ms")
}

/// Builds that ran one after another: each started once the one before it had ended.
#[track_caller]
fn assert_one_after_another(mut ran: Vec<Value>) {
    ran.sort_by_key(start);
    for pair in ran.windows(2) {
        assert!(
            start(&pair[1]) >= end(&pair[0]),
            "these builds overlapped: {:#} {:#}",
            pair[0],
            pair[1]
        );
    }
}

fn triggered_jobs(sb: &Sandbox) -> Vec<String> {
    triggers(sb).into_iter().map(|t| t.job).collect()
}

/// `file:line:column: ` of the first `needle` in the pipeline file, counted from 1.
fn place_of(path: &Path, needle: &str) -> String {
    let text = std::fs::read_to_string(path).expect("read pipeline");
    let (line, column) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, l[..c].chars().count() + 1)))
        .unwrap_or_else(|| panic!("no `{needle}` in:\n{text}"));
    format!("{}:{line}:{column}: ", path.display())
}

// ---------------------------------------------------------------------------------------------
// Graphs

#[test]
fn a_step_starts_as_soon_as_what_it_needs_is_done_and_not_before() {
    // b is slow and c fast; d needs both, e only c.
    let sb = sandbox(
        "speed: 20\nquiet_period: 0s\nexecutors: 4\njobs:\n  \
         - path: b\n    builds: [{duration: 40s}]\n  \
         - path: c\n    builds: [{duration: 4s}]\n  \
         - path: d\n    builds: [{duration: 10s}]\n  \
         - path: e\n    builds: [{duration: 10s}]\n",
    );
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: b\n    job: b\n  \
         - id: c\n    job: c\n    needs: []\n  \
         - id: d\n    job: d\n    needs: [b, c]\n  \
         - id: e\n    job: e\n    needs: [c]\n",
    );
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    for id in ["b", "c", "d", "e"] {
        assert_eq!(step(&summary, id)["status"], "passed", "{summary:#}");
    }
    let [b, c, d, e] = ["b", "c", "d", "e"].map(|job| {
        let mut found = builds_of(&sb, job);
        assert_eq!(found.len(), 1, "{job}: {found:#?}");
        found.remove(0)
    });
    // b and c start together; e follows c while b is still running.
    assert!(start(&c) < end(&b), "c did not run beside b: {b:#} {c:#}");
    assert!(
        start(&e) >= end(&c),
        "e started before c ended: {c:#} {e:#}"
    );
    assert!(start(&e) < end(&b), "e waited for b: {b:#} {e:#}");
    // d waits for both.
    assert!(
        start(&d) >= end(&b),
        "d started before b ended: {b:#} {d:#}"
    );
    assert!(
        start(&d) >= end(&c),
        "d started before c ended: {c:#} {d:#}"
    );
    // The graph ran its branches side by side: in sandbox time, first start to last end is
    // shorter than the builds one after another.
    let all = [&b, &c, &d, &e];
    let span =
        all.iter().map(|x| end(x)).max().unwrap() - all.iter().map(|x| start(x)).min().unwrap();
    let sum: i64 = all.iter().map(|x| end(x) - start(x)).sum();
    assert!(span < sum, "span {span} ms is not below the sum {sum} ms");
}

// ---------------------------------------------------------------------------------------------
// Matrix

const MATRIX_STEPS: &str = "\
steps:
  - id: deploy
    job: deploy
    matrix: {REGION: [eu, us, ap]}
    params: {REGION: \"{{matrix.REGION}}\"}
  - id: notify
    job: notify
    needs: [deploy]
";

/// A sandbox whose `deploy` takes REGION and plays `builds` in trigger order; builds of
/// several cells run at once (a pipeline job needs no executor).
fn matrix_sandbox(builds: &str) -> Sandbox {
    sandbox(&format!(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: deploy\n    kind: pipeline\n    \
         parameters: [{{name: REGION}}]\n    builds: {builds}\n  - path: notify\n"
    ))
}

/// The pipeline of [`MATRIX_STEPS`] with `extra` lines added to the matrix step.
fn matrix_pipeline(sb: &Sandbox, extra: &str) -> (tempfile::TempDir, PathBuf) {
    let steps = MATRIX_STEPS.replace(
        "    params: {REGION: \"{{matrix.REGION}}\"}\n",
        &format!("    params: {{REGION: \"{{{{matrix.REGION}}}}\"}}\n{extra}"),
    );
    pipeline_for(sb, &steps)
}

const CELLS: [&str; 3] = [
    "deploy[REGION=eu]",
    "deploy[REGION=us]",
    "deploy[REGION=ap]",
];

#[test]
fn a_matrix_runs_one_build_per_value_side_by_side_and_its_dependents_wait_for_all() {
    let sb = matrix_sandbox("[{duration: 2s}, {duration: 5s}, {duration: 10s}]");
    let (_dir, path) = matrix_pipeline(&sb, "");
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    assert_eq!(
        step_ids(&summary),
        [CELLS[0], CELLS[1], CELLS[2], "notify"],
        "{summary:#}"
    );
    let deploys = builds_of(&sb, "deploy");
    assert_eq!(deploys.len(), 3, "{deploys:#?}");
    for (cell, region) in CELLS.iter().zip(["eu", "us", "ap"]) {
        let s = step(&summary, cell);
        assert_eq!(s["status"], "passed", "{s:#}");
        assert_eq!(s["job"], "deploy", "{s:#}");
        // The build this cell followed is the one that got its value.
        let build = build_of(&sb, "deploy", &s["number"]);
        assert_eq!(build["params"]["REGION"], region, "{s:#} {build:#}");
        assert_eq!(build["queue_id"], s["queue_id"], "{s:#} {build:#}");
    }
    let mut regions: Vec<String> = triggers(&sb)
        .iter()
        .filter(|t| t.job == "deploy")
        .map(|t| {
            t.params
                .iter()
                .find(|(n, _)| n == "REGION")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    regions.sort();
    assert_eq!(regions, ["ap", "eu", "us"]);
    // The cells ran at the same time: each started before any ended.
    let last_start = deploys.iter().map(start).max().unwrap();
    let first_end = deploys.iter().map(end).min().unwrap();
    assert!(
        last_start < first_end,
        "the cells did not overlap: {deploys:#?}"
    );
    // `needs: [deploy]` waited for the slowest cell.
    let notify = builds_of(&sb, "notify");
    assert_eq!(notify.len(), 1, "{notify:#?}");
    let last_end = deploys.iter().map(end).max().unwrap();
    assert!(
        start(&notify[0]) >= last_end,
        "notify started before every cell ended: {notify:#?} {deploys:#?}"
    );
}

#[test]
fn a_failing_cell_aborts_its_running_siblings_under_fail_fast() {
    // Builds are played in trigger order: the first cell to be built fails quickly.
    let sb = matrix_sandbox("[{duration: 5s, result: FAILURE}, {duration: 1h}, {duration: 1h}]");
    let (_dir, path) = matrix_pipeline(&sb, "");
    let output = Running::start(&path, &["--output", "json"]).finish(Duration::from_secs(30));
    assert_code(&output, 1);
    let summary = summary_json(&output);
    assert_eq!(summary["status"], "failed");
    let cells: Vec<&Value> = CELLS.iter().map(|c| step(&summary, c)).collect();
    let failed: Vec<&&Value> = cells.iter().filter(|s| s["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{summary:#}");
    assert_eq!(failed[0]["result"], "FAILURE", "{summary:#}");
    assert_eq!(failed[0]["number"], 1, "{summary:#}");
    let cancelled: Vec<&&Value> = cells
        .iter()
        .filter(|s| s["status"] == "cancelled")
        .collect();
    assert_eq!(cancelled.len(), 2, "{summary:#}");
    for s in &cancelled {
        // The real result, read back from Jenkins after the stop.
        assert_eq!(s["result"], "ABORTED", "{s:#}");
        assert!(
            s["message"].as_str().unwrap_or("").contains("fail_fast"),
            "{s:#}"
        );
        let build = build_of(&sb, "deploy", &s["number"]);
        assert_eq!(build["result"], "ABORTED", "{build:#}");
        assert_eq!(build["aborted"], true, "{build:#}");
        assert_eq!(build["building"], false, "{build:#}");
    }
    assert_eq!(step(&summary, "notify")["status"], "skipped", "{summary:#}");
    assert!(builds_of(&sb, "notify").is_empty());
    // No cell was triggered twice.
    assert_eq!(builds_of(&sb, "deploy").len(), 3);
}

#[test]
fn without_fail_fast_the_siblings_of_a_failing_cell_run_to_their_end() {
    let sb = matrix_sandbox("[{duration: 2s, result: FAILURE}, {duration: 20s}, {duration: 20s}]");
    let (_dir, path) = matrix_pipeline(&sb, "    fail_fast: false\n");
    let output = Running::start(&path, &["--output", "json"]).finish(Duration::from_secs(30));
    assert_code(&output, 1);
    let summary = summary_json(&output);
    let statuses: Vec<(String, String)> = CELLS
        .iter()
        .map(|c| {
            let s = step(&summary, c);
            (
                s["status"].as_str().unwrap().to_string(),
                s["result"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("failed".to_string(), "FAILURE".to_string()),
            ("passed".to_string(), "SUCCESS".to_string()),
            ("passed".to_string(), "SUCCESS".to_string()),
        ],
        "{summary:#}"
    );
    let deploys = builds_of(&sb, "deploy");
    assert_eq!(deploys.len(), 3, "{deploys:#?}");
    for build in deploys.iter().filter(|b| b["number"] != 1) {
        assert_eq!(build["aborted"], false, "{build:#}");
        assert_eq!(build["result"], "SUCCESS", "{build:#}");
        // The siblings went on after the failure.
        assert!(end(build) > end(&deploys[0]), "{deploys:#?}");
    }
    assert_eq!(step(&summary, "notify")["status"], "skipped", "{summary:#}");
}

#[test]
fn max_parallel_one_runs_the_cells_of_a_matrix_one_after_another() {
    let sb = matrix_sandbox("[{duration: 5s}]");
    let (_dir, path) = matrix_pipeline(&sb, "    max_parallel: 1\n");
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    for cell in CELLS {
        assert_eq!(step(&summary, cell)["status"], "passed", "{summary:#}");
    }
    let deploys = builds_of(&sb, "deploy");
    assert_eq!(deploys.len(), 3, "{deploys:#?}");
    assert_one_after_another(deploys);
}

#[test]
fn a_fail_fast_matrix_capped_by_max_parallel_never_starts_the_cells_after_a_failure() {
    let sb = matrix_sandbox("[{duration: 5s, result: FAILURE}, {duration: 5s}]");
    let (_dir, path) = matrix_pipeline(&sb, "    max_parallel: 1\n");
    let output = Running::start(&path, &["--output", "json"]).finish(Duration::from_secs(30));
    assert_code(&output, 1);
    let summary = summary_json(&output);
    let cells: Vec<&Value> = CELLS.iter().map(|c| step(&summary, c)).collect();
    let failed: Vec<&&Value> = cells.iter().filter(|s| s["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{summary:#}");
    assert_eq!(failed[0]["result"], "FAILURE", "{summary:#}");
    let skipped: Vec<&&Value> = cells.iter().filter(|s| s["status"] == "skipped").collect();
    assert_eq!(skipped.len(), 2, "{summary:#}");
    for s in skipped {
        assert_eq!(s["message"], "a sibling cell failed (fail_fast)", "{s:#}");
        assert_eq!(s["number"], Value::Null, "{s:#}");
    }
    // The cells still waiting for their turn were never triggered.
    assert_eq!(triggered_jobs(&sb), ["deploy"]);
    assert_eq!(builds_of(&sb, "deploy").len(), 1);
}

#[test]
fn max_parallel_on_the_command_line_runs_a_parallel_group_one_after_another() {
    let sb = sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: work\n    kind: pipeline\n    \
         builds: [{duration: 5s}]\n",
    );
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - parallel:\n      - {id: one, job: work}\n      - {id: two, job: work}\n      \
         - {id: three, job: work}\n",
    );
    let output = run(&path, &["--output", "json", "--max-parallel", "1"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    for id in ["one", "two", "three"] {
        assert_eq!(step(&summary, id)["status"], "passed", "{summary:#}");
    }
    let work = builds_of(&sb, "work");
    assert_eq!(work.len(), 3, "{work:#?}");
    assert_one_after_another(work);

    // Without the cap the same group runs side by side.
    let sb = sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: work\n    kind: pipeline\n    \
         builds: [{duration: 5s}]\n",
    );
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - parallel:\n      - {id: one, job: work}\n      - {id: two, job: work}\n      \
         - {id: three, job: work}\n",
    );
    assert_code(&run(&path, &[]), 0);
    let work = builds_of(&sb, "work");
    let last_start = work.iter().map(start).max().unwrap();
    let first_end = work.iter().map(end).min().unwrap();
    assert!(
        last_start < first_end,
        "uncapped, they did not overlap: {work:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Retry

/// A sandbox whose `flaky` job fails its first build and passes the next.
fn flaky_sandbox() -> Sandbox {
    sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: flaky\n    \
         builds: [{duration: 1s, result: FAILURE}, {duration: 1s}]\n",
    )
}

fn retry_pipeline(sb: &Sandbox, retry: &str) -> (tempfile::TempDir, PathBuf) {
    pipeline_for(
        sb,
        &format!("steps:\n  - id: flaky\n    job: flaky\n    retry: {retry}\n"),
    )
}

#[test]
fn a_failed_build_is_retried_and_the_step_passes_on_its_second_attempt() {
    let sb = flaky_sandbox();
    let (_dir, path) = retry_pipeline(&sb, "{max: 1, on: [FAILURE], delay: 100ms}");
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    let s = step(&summary, "flaky");
    assert_eq!(s["status"], "passed", "{s:#}");
    assert_eq!(s["result"], "SUCCESS", "{s:#}");
    assert_eq!(s["attempts"], 2, "{s:#}");
    assert_eq!(s["number"], 2, "{s:#}");
    let built = builds_of(&sb, "flaky");
    let results: Vec<&Value> = built.iter().map(|b| &b["result"]).collect();
    assert_eq!(results, ["FAILURE", "SUCCESS"], "{built:#?}");
    assert_eq!(triggered_jobs(&sb), ["flaky", "flaky"]);
    // The second trigger came after the first build had ended.
    assert!(start(&built[1]) >= end(&built[0]), "{built:#?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("flaky: attempt 1 ended FAILURE #1; retrying in 100ms (attempt 2 of 2)"),
        "{stderr}"
    );
}

#[test]
fn a_result_not_listed_in_retry_on_is_not_retried() {
    let sb = flaky_sandbox();
    let (_dir, path) = retry_pipeline(&sb, "{max: 1, on: [UNSTABLE], delay: 100ms}");
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 1);
    let summary = summary_json(&output);
    let s = step(&summary, "flaky");
    assert_eq!(s["status"], "failed", "{s:#}");
    assert_eq!(s["result"], "FAILURE", "{s:#}");
    assert_eq!(s["attempts"], 1, "{s:#}");
    assert_eq!(s["number"], 1, "{s:#}");
    assert_eq!(builds_of(&sb, "flaky").len(), 1);
    assert_eq!(triggered_jobs(&sb), ["flaky"]);
}

/// Runs a step on a job whose first build is long, deletes that build while jrun follows it,
/// and returns jrun's output.
fn lose_the_first_build(retry: &str) -> (Sandbox, Output) {
    let sb = sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: flaky\n    \
         builds: [{duration: 1h}, {duration: 1s}]\n",
    );
    let (_dir, path) = retry_pipeline(&sb, retry);
    let running = Running::start(&path, &["--output", "json"]);
    wait_for(Duration::from_secs(15), "the first build", || {
        builds_of(&sb, "flaky")
            .iter()
            .any(|b| b["number"] == 1)
            .then_some(())
    });
    let deleted = control(
        &sb,
        "POST",
        "delete-build",
        json!({"job": "flaky", "number": 1}),
    );
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let output = running.finish(Duration::from_secs(30));
    (sb, output)
}

#[test]
fn a_build_lost_while_followed_is_retried_when_retry_on_has_lost() {
    let (sb, output) = lose_the_first_build("{max: 1, on: [lost], delay: 100ms}");
    assert_code(&output, 0);
    let summary = summary_json(&output);
    let s = step(&summary, "flaky");
    assert_eq!(s["status"], "passed", "{s:#}");
    assert_eq!(s["attempts"], 2, "{s:#}");
    assert_eq!(s["number"], 2, "{s:#}");
    assert_eq!(triggered_jobs(&sb), ["flaky", "flaky"]);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("flaky: attempt 1 was lost; retrying"),
        "{stderr}"
    );
}

#[test]
fn a_lost_build_is_not_retried_when_retry_on_leaves_lost_out() {
    let (sb, output) = lose_the_first_build("{max: 1, on: [FAILURE], delay: 100ms}");
    assert_code(&output, 1);
    let summary = summary_json(&output);
    let s = step(&summary, "flaky");
    assert_eq!(s["status"], "failed", "{s:#}");
    assert_eq!(s["attempts"], 1, "{s:#}");
    assert!(
        s["message"]
            .as_str()
            .unwrap_or("")
            .contains("lost: build #1 of `flaky` was deleted"),
        "{s:#}"
    );
    assert_eq!(triggered_jobs(&sb), ["flaky"]);
}

// ---------------------------------------------------------------------------------------------
// `if:` expressions

/// A sandbox whose `build` ends with `result`, and a `triage` job.
fn triage_sandbox(result: &str) -> Sandbox {
    sandbox(&format!(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: build\n    builds: [{{result: {result}}}]\n  \
         - path: triage\n"
    ))
}

const TRIAGE_IF: &str = "    if: \"{{eq steps.build.result 'UNSTABLE'}}\"\n";

fn triage_pipeline(
    sb: &Sandbox,
    build_extra: &str,
    condition: &str,
) -> (tempfile::TempDir, PathBuf) {
    pipeline_for(
        sb,
        &format!(
            "steps:\n  - id: build\n    job: build\n{build_extra}  \
             - id: triage\n    job: triage\n{condition}"
        ),
    )
}

#[test]
fn an_if_expression_runs_its_step_after_an_unstable_build_that_passed() {
    let sb = triage_sandbox("UNSTABLE");
    let (_dir, path) = triage_pipeline(&sb, "    expect: [SUCCESS, UNSTABLE]\n", TRIAGE_IF);
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    assert_eq!(step(&summary, "build")["result"], "UNSTABLE");
    assert_eq!(step(&summary, "triage")["status"], "passed", "{summary:#}");
    assert_eq!(builds_of(&sb, "triage").len(), 1);
}

#[test]
fn an_if_expression_runs_its_step_after_an_unstable_build_that_may_fail() {
    let sb = triage_sandbox("UNSTABLE");
    let (_dir, path) = triage_pipeline(&sb, "    continue_on_failure: true\n", TRIAGE_IF);
    let output = run(&path, &["--output", "json"]);
    // The build's failure is reported but, with continue_on_failure, does not fail the run.
    assert_code(&output, 0);
    let summary = summary_json(&output);
    assert_eq!(step(&summary, "build")["status"], "failed", "{summary:#}");
    assert_eq!(step(&summary, "build")["result"], "UNSTABLE");
    assert_eq!(step(&summary, "triage")["status"], "passed", "{summary:#}");
    assert_eq!(triggered_jobs(&sb), ["build", "triage"]);
}

#[test]
fn an_if_expression_that_is_false_skips_its_step_after_a_successful_build() {
    let sb = triage_sandbox("SUCCESS");
    let (_dir, path) = triage_pipeline(&sb, "", TRIAGE_IF);
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    let triage = step(&summary, "triage");
    assert_eq!(triage["status"], "skipped", "{triage:#}");
    assert_eq!(
        triage["message"], "its `if` expression is false",
        "{triage:#}"
    );
    assert!(builds_of(&sb, "triage").is_empty());
    assert_eq!(triggered_jobs(&sb), ["build"]);
}

#[test]
fn an_if_expression_that_is_neither_true_nor_false_fails_its_step_with_exit_2() {
    let sb = triage_sandbox("SUCCESS");
    let (_dir, path) = triage_pipeline(&sb, "", "    if: \"{{steps.build.result}}\"\n");
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 2);
    let summary = summary_json(&output);
    assert_eq!(step(&summary, "build")["status"], "passed", "{summary:#}");
    let triage = step(&summary, "triage");
    assert_eq!(triage["status"], "failed", "{triage:#}");
    let message = triage["message"].as_str().unwrap_or("");
    assert!(
        message.contains("rendered `SUCCESS`, which is neither true nor false"),
        "{triage:#}"
    );
    assert!(builds_of(&sb, "triage").is_empty());
    assert_eq!(triggered_jobs(&sb), ["build"]);
}

// ---------------------------------------------------------------------------------------------
// `await:` gates

/// A gate on `qa/nightly` (with `gate` as its extra keys) followed by a `release` step.
fn gate_pipeline(sb: &Sandbox, gate: &str) -> (tempfile::TempDir, PathBuf) {
    pipeline_for(
        sb,
        &format!(
            "steps:\n  - id: nightly\n    await: {{job: qa/nightly{gate}}}\n  \
             - id: release\n    job: release\n"
        ),
    )
}

#[test]
fn an_await_gate_opens_once_the_other_jobs_last_build_turns_success() {
    let sb = sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: qa/nightly\n    \
         history: [{result: FAILURE}]\n    builds: [{duration: 5s}]\n  - path: release\n",
    );
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: nightly\n    await: {job: qa/nightly}\n    timeout: 30s\n  \
         - id: release\n    job: release\n",
    );
    let running = Running::start(&path, &["--output", "json"]);
    // jrun reads the job once at the preflight and again when the gate starts, then polls.
    let before = request_count(&sb);
    wait_for(Duration::from_secs(15), "jrun to poll the gate", || {
        (request_count(&sb) >= before + 4).then_some(())
    });
    assert!(triggers(&sb).is_empty(), "{:#?}", triggers(&sb));
    let triggered = control(&sb, "POST", "trigger", json!({"job": "qa/nightly"}));
    assert_eq!(triggered["created"], true, "{triggered}");
    let output = running.finish(Duration::from_secs(30));
    assert_code(&output, 0);
    let summary = summary_json(&output);
    let gate = step(&summary, "nightly");
    assert_eq!(gate["status"], "passed", "{gate:#}");
    assert_eq!(gate["result"], "SUCCESS", "{gate:#}");
    assert_eq!(gate["number"], 2, "{gate:#}");
    assert_eq!(gate["attempts"], 0, "a gate triggers nothing: {gate:#}");
    // The gate triggered nothing; the release came after the nightly build ended.
    assert_eq!(triggered_jobs(&sb), ["release"]);
    let nightly = build_of(&sb, "qa/nightly", &json!(2));
    let release = builds_of(&sb, "release");
    assert!(
        start(&release[0]) >= end(&nightly),
        "{nightly:#} {release:#?}"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("lastBuild #1 of `qa/nightly` is FAILURE; waiting for SUCCESS"),
        "{stderr}"
    );
}

#[test]
fn an_await_gate_on_a_build_that_is_already_success_opens_at_once() {
    let sb = sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: qa/nightly\n    \
         history: [{result: FAILURE}, {result: SUCCESS}]\n  - path: release\n",
    );
    let (_dir, path) = gate_pipeline(&sb, "");
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    let gate = step(&summary, "nightly");
    assert_eq!(gate["status"], "passed", "{gate:#}");
    assert_eq!(gate["number"], 2, "{gate:#}");
    assert_eq!(gate["job"], "qa/nightly", "{gate:#}");
    assert_eq!(triggered_jobs(&sb), ["release"]);
    assert_eq!(builds_of(&sb, "qa/nightly").len(), 2);
}

#[test]
fn an_await_gate_that_never_opens_times_out_with_exit_4() {
    let sb = sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: qa/nightly\n    \
         history: [{result: FAILURE}]\n  - path: release\n",
    );
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: nightly\n    await: {job: qa/nightly}\n    timeout: 1s\n  \
         - id: release\n    job: release\n",
    );
    let output = Running::start(&path, &["--output", "json"]).finish(Duration::from_secs(20));
    assert_code(&output, 4);
    let summary = summary_json(&output);
    let gate = step(&summary, "nightly");
    assert_eq!(gate["status"], "timed_out", "{gate:#}");
    assert_eq!(
        gate["message"],
        "gave up after 1s: lastBuild #1 of `qa/nightly` is FAILURE; waiting for SUCCESS",
        "{gate:#}"
    );
    assert_eq!(step(&summary, "release")["status"], "skipped");
    assert!(triggers(&sb).is_empty(), "{:#?}", triggers(&sb));
}

/// `qa/nightly` has a SUCCESS #1 that ended about an hour before the sandbox started, then a
/// FAILURE #2 (an hour long) that ended a second before.
fn old_success_sandbox() -> Sandbox {
    sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: qa/nightly\n    \
         history: [{duration: 1s}, {duration: 1h, result: FAILURE}]\n  - path: release\n",
    )
}

#[test]
fn newer_than_rejects_a_build_that_ended_too_long_ago() {
    let sb = old_success_sandbox();
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: nightly\n    await: {job: qa/nightly, build: 1, newer_than: 30m}\n    \
         timeout: 1s\n  - id: release\n    job: release\n",
    );
    let output = Running::start(&path, &["--output", "json"]).finish(Duration::from_secs(20));
    assert_code(&output, 4);
    let summary = summary_json(&output);
    let gate = step(&summary, "nightly");
    assert_eq!(gate["status"], "timed_out", "{gate:#}");
    assert!(
        gate["message"]
            .as_str()
            .unwrap_or("")
            .ends_with("build #1 of `qa/nightly` is SUCCESS but older than 30m"),
        "{gate:#}"
    );
    assert!(triggers(&sb).is_empty());

    // The same build is recent enough for a wider window.
    let (_dir, path) = gate_pipeline(&sb, ", build: 1, newer_than: 2h");
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let gate = step(&summary_json(&output), "nightly").clone();
    assert_eq!(gate["status"], "passed", "{gate:#}");
    assert_eq!(gate["number"], 1, "{gate:#}");

    // The age counts from the end of the build: #2 started an hour ago but ended just now.
    let (_dir, path) = gate_pipeline(&sb, ", result: [FAILURE], newer_than: 30m");
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let gate = step(&summary_json(&output), "nightly").clone();
    assert_eq!(gate["status"], "passed", "{gate:#}");
    assert_eq!(gate["result"], "FAILURE", "{gate:#}");
    assert_eq!(gate["number"], 2, "{gate:#}");
}

#[test]
fn an_await_gate_on_last_successful_build_reads_that_permalink() {
    let sb = old_success_sandbox();
    let (_dir, path) = gate_pipeline(&sb, ", build: lastSuccessfulBuild");
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let gate = step(&summary_json(&output), "nightly").clone();
    assert_eq!(gate["status"], "passed", "{gate:#}");
    assert_eq!(gate["number"], 1, "{gate:#}");
    assert_eq!(
        gate["url"],
        format!("{}/job/qa/job/nightly/1/", sb.url()),
        "{gate:#}"
    );

    // Its last build, the default, is the FAILURE.
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: nightly\n    await: {job: qa/nightly}\n    timeout: 1s\n  \
         - id: release\n    job: release\n",
    );
    let output = Running::start(&path, &["--output", "json"]).finish(Duration::from_secs(20));
    assert_code(&output, 4);
    let gate = step(&summary_json(&output), "nightly").clone();
    assert!(
        gate["message"]
            .as_str()
            .unwrap_or("")
            .ends_with("lastBuild #2 of `qa/nightly` is FAILURE; waiting for SUCCESS"),
        "{gate:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// Named servers

#[test]
fn one_pipeline_drives_two_servers_each_seeing_only_its_own_triggers() {
    // The same job on both, so a step sent to the wrong server would still find it.
    let here = sandbox("speed: 10\nquiet_period: 0s\njobs:\n  - path: app\n");
    let there = sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: app\n    \
         history: [{duration: 1s}, {duration: 1s}]\n",
    );
    let (_dir, path) = pipeline_for(
        &here,
        &format!(
            "servers:\n  other:\n    url: {}\n    user: {}\n    token: {}\n    \
             unreachable_timeout: 5s\n\
             steps:\n  - id: local\n    job: app\n  \
             - id: remote\n    job: app\n    server: other\n  \
             - id: local-again\n    job: app\n",
            there.url(),
            common::USER,
            common::TOKEN
        ),
    );
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    for (id, server, sb, number) in [
        ("local", "default", &here, 1),
        ("remote", "other", &there, 3),
        ("local-again", "default", &here, 2),
    ] {
        let s = step(&summary, id);
        assert_eq!(s["status"], "passed", "{s:#}");
        assert_eq!(s["server"], server, "{s:#}");
        assert_eq!(s["number"], number, "{s:#}");
        assert_eq!(s["url"], format!("{}/job/app/{number}/", sb.url()), "{s:#}");
    }
    assert_eq!(triggered_jobs(&here), ["app", "app"]);
    assert_eq!(triggered_jobs(&there), ["app"]);
    assert_eq!(builds_of(&there, "app").len(), 3);
}

// ---------------------------------------------------------------------------------------------
// `jrun check` and the preflight

const CHECK_SANDBOX: &str = "\
speed: 10
quiet_period: 0s
jobs:
  - path: build
  - path: deploy
    parameters: [{name: REGION}, {name: VERSION, default: \"1.0\"}]
  - path: frozen
    disabled: true
";

const BAD_STEPS: &str = "\
steps:
  - id: build
    job: build
  - id: deploy
    job: deploy
    params: {REGION: eu, VERSOIN: \"2.0\"}
  - id: freeze
    job: frozen
";

#[test]
fn check_exits_2_naming_a_misspelt_parameter_and_a_disabled_job_at_their_places() {
    let sb = sandbox(CHECK_SANDBOX);
    let (_dir, path) = pipeline_for(&sb, BAD_STEPS);
    let output = jrun().arg("check").arg(&path).output().expect("jrun runs");
    assert_code(&output, 2);
    let stderr = text(&output.stderr);
    let misspelt = format!(
        "{}job `deploy` has no parameter `VERSOIN` (did you mean `VERSION`?)",
        place_of(&path, "\"2.0\"")
    );
    assert!(stderr.contains(&misspelt), "no `{misspelt}` in:\n{stderr}");
    let disabled = format!(
        "{}job `frozen` is disabled in Jenkins, so it cannot be triggered",
        place_of(&path, "frozen")
    );
    assert!(stderr.contains(&disabled), "no `{disabled}` in:\n{stderr}");
    assert!(stderr.contains("2 problems"), "{stderr}");
    assert!(sb.triggers().is_empty(), "{:#?}", sb.triggers());
}

#[test]
fn check_of_a_good_pipeline_exits_0_and_triggers_nothing() {
    let sb = sandbox(CHECK_SANDBOX);
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: build\n    job: build\n  - id: deploy\n    job: deploy\n    \
         params: {REGION: eu, VERSION: \"2.0\"}\n",
    );
    let output = jrun().arg("check").arg(&path).output().expect("jrun runs");
    assert_code(&output, 0);
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout,
        format!(
            "server default: {}/\n  auth: basic; user from the pipeline file, token from the \
             pipeline file\n  answered by Jenkins 2.528.3\n{}: ok (2 jobs checked, nothing \
             triggered)\n",
            sb.url().trim_end_matches('/'),
            path.display()
        )
    );
    assert!(sb.triggers().is_empty(), "{:#?}", sb.triggers());
    assert!(builds(&sb).is_empty());
}

#[test]
fn a_run_with_preflight_problems_exits_2_before_any_trigger() {
    let sb = sandbox(CHECK_SANDBOX);
    let (_dir, path) = pipeline_for(&sb, BAD_STEPS);
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 2);
    let summary = summary_json(&output);
    assert_eq!(summary["exit_code"], 2);
    let build = step(&summary, "build");
    assert_eq!(build["status"], "skipped", "{build:#}");
    assert_eq!(
        build["message"],
        "not run: problems were found before anything was triggered"
    );
    let deploy = step(&summary, "deploy");
    assert_eq!(deploy["status"], "failed", "{deploy:#}");
    assert!(
        deploy["message"]
            .as_str()
            .unwrap_or("")
            .contains("has no parameter `VERSOIN` (did you mean `VERSION`?)"),
        "{deploy:#}"
    );
    let freeze = step(&summary, "freeze");
    assert_eq!(freeze["status"], "failed", "{freeze:#}");
    assert!(
        freeze["message"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!(
                "{}job `frozen` is disabled",
                place_of(&path, "frozen")
            )),
        "{freeze:#}"
    );
    assert!(sb.triggers().is_empty(), "{:#?}", sb.triggers());
    assert!(builds(&sb).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Partial runs

const CHAIN_SANDBOX: &str = "\
speed: 10
quiet_period: 0s
jobs:
  - path: build
  - path: test
  - path: deploy
";

const CHAIN: &str = "\
steps:
  - id: build
    job: build
  - id: test
    job: test
  - id: deploy
    job: deploy
";

#[test]
fn only_runs_just_that_step_and_reports_the_others_skipped() {
    let sb = sandbox(CHAIN_SANDBOX);
    let (_dir, path) = pipeline_for(&sb, CHAIN);
    let output = run(&path, &["--output", "json", "--only", "test"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    assert_eq!(step(&summary, "test")["status"], "passed", "{summary:#}");
    for id in ["build", "deploy"] {
        let s = step(&summary, id);
        assert_eq!(s["status"], "skipped", "{s:#}");
        assert_eq!(s["message"], "not selected (--only / --from)", "{s:#}");
    }
    assert_eq!(triggered_jobs(&sb), ["test"]);
}

#[test]
fn from_runs_that_step_and_its_dependents() {
    let sb = sandbox(CHAIN_SANDBOX);
    let (_dir, path) = pipeline_for(&sb, CHAIN);
    let output = run(&path, &["--output", "json", "--from", "test"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    assert_eq!(step(&summary, "build")["status"], "skipped", "{summary:#}");
    assert_eq!(step(&summary, "test")["status"], "passed", "{summary:#}");
    assert_eq!(step(&summary, "deploy")["status"], "passed", "{summary:#}");
    assert_eq!(triggered_jobs(&sb), ["test", "deploy"]);
}

#[test]
fn an_unknown_step_id_in_only_or_from_exits_2_naming_the_nearest() {
    let sb = sandbox(CHAIN_SANDBOX);
    let (_dir, path) = pipeline_for(&sb, CHAIN);
    for option in ["--only", "--from"] {
        let output = run(&path, &[option, "tset"]);
        assert_code(&output, 2);
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "`{option} tset`: the pipeline has no step `tset`; did you mean `test`?"
            )),
            "{stderr}"
        );
    }
    assert_eq!(request_count(&sb), 0);
    assert!(sb.triggers().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Steps not waited for

#[test]
fn a_step_with_wait_false_gives_its_number_to_later_steps_without_waiting_for_its_build() {
    let sb = sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: long\n    \
         history: [{duration: 1s}, {duration: 1s}]\n    builds: [{duration: 1h}]\n  \
         - path: report\n    parameters: [{name: UPSTREAM}]\n",
    );
    let (_dir, path) = pipeline_for(
        &sb,
        "steps:\n  - id: kick\n    job: long\n    wait: false\n  \
         - id: report\n    job: report\n    params: {UPSTREAM: \"{{steps.kick.number}}\"}\n",
    );
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let summary = summary_json(&output);
    let kick = step(&summary, "kick");
    assert_eq!(kick["status"], "passed", "{kick:#}");
    assert_eq!(kick["number"], 3, "{kick:#}");
    assert_eq!(kick["result"], Value::Null, "{kick:#}");
    assert_eq!(kick["message"], "not waited for (wait: false)", "{kick:#}");
    let long = build_of(&sb, "long", &json!(3));
    // jrun has exited; the build it did not wait for goes on.
    assert_eq!(long["building"], true, "{long:#}");
    let report = builds_of(&sb, "report");
    assert_eq!(report.len(), 1, "{report:#?}");
    assert_eq!(report[0]["params"]["UPSTREAM"], "3", "{report:#?}");
    assert!(start(&report[0]) >= start(&long), "{report:#?} {long:#}");
    assert_eq!(triggered_jobs(&sb), ["long", "report"]);
}

// ---------------------------------------------------------------------------------------------
// Pacing of triggers

/// A matrix of `cells` cells of `work`, on a sandbox whose clock runs at `speed`, with
/// `extra` added to the `jenkins:` block; returns the trigger times in real milliseconds.
fn trigger_times(cells: usize, speed: u32, extra: &str) -> Vec<i64> {
    let sb = sandbox(&format!(
        "speed: {speed}\nquiet_period: 0s\njobs:\n  - path: work\n    kind: pipeline\n    \
         parameters: [{{name: CELL}}]\n    builds: [{{duration: 1s}}]\n"
    ));
    let values: Vec<String> = (0..cells).map(|i| format!("c{i}")).collect();
    let (_dir, path) = pipeline_file(&format!(
        "name: paced\n{}{extra}{FAST_POLL}steps:\n  - id: work\n    job: work\n    \
         matrix: {{CELL: [{}]}}\n    params: {{CELL: \"{{{{matrix.CELL}}}}\"}}\n",
        jenkins_block(&sb),
        values.join(", ")
    ));
    let output = run(&path, &["--output", "json"]);
    assert_code(&output, 0);
    let mut times: Vec<i64> = triggers(&sb)
        .iter()
        .map(|t| t.at_ms / i64::from(speed))
        .collect();
    times.sort_unstable();
    assert_eq!(times.len(), cells, "{times:?}");
    times
}

#[test]
fn triggers_past_a_quarter_seconds_worth_go_out_at_the_servers_triggers_per_second() {
    // Two at once (a quarter of a second's worth), then one every 125 ms: the twelfth
    // about 1.25 s after the first.
    let times = trigger_times(12, 10, "  triggers_per_second: 8\n");
    let spread = times[11] - times[0];
    assert!(
        spread >= 1_050,
        "12 triggers at 8 a second within {spread} ms: {times:?}"
    );
    for pair in times[2..].windows(2) {
        assert!(
            pair[1] - pair[0] >= 75,
            "triggers past the first two less than an interval apart: {times:?}"
        );
    }
}

#[test]
fn a_few_dozen_steps_all_trigger_within_a_second_at_the_default_pace() {
    let times = trigger_times(30, 10, "");
    let spread = times[29] - times[0];
    assert!(
        spread < 1_000,
        "30 triggers spread over {spread} ms: {times:?}"
    );
}

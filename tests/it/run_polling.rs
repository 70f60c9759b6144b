//! How lightly jrun treats the Jenkins it talks to: counts of requests, never timings.

use crate::common;

use serde_json::Value;

use common::{jenkins_block, jrun, pipeline_file, stats};

fn count(stats: &Value, key: &str) -> u64 {
    stats["routes"][key]["count"].as_u64().unwrap_or(0)
}

#[test]
fn every_read_jrun_sends_carries_a_tree_filter() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 1s\njobs:\n  - {path: app, kind: pipeline, parameters: [{name: V}], builds: [{duration: 3s}], history: [{duration: 3s}]}\n  \
         - {path: gate, kind: pipeline, history: [{duration: 1s}]}\n",
    );
    let stats = stats_after_run(
        &sb,
        "treed",
        "defaults:\n  poll: {initial: 50ms, max: 200ms}\nsteps:\n  - {id: build, job: app, params: {V: \"1\"}}\n  - {id: gate, await: {job: gate, result: [SUCCESS]}}\n",
    );
    assert!(stats["requests"].as_u64().unwrap() > 3, "{stats}");
    assert_eq!(stats["reads_without_tree"], 0, "{}", stats["routes"]);
}

#[test]
fn with_an_estimate_known_a_three_second_build_is_read_at_most_three_times() {
    // Real time (speed 1) so jrun's waits and the build's duration agree; the history build
    // gives Jenkins its estimate.
    let sb = common::sandbox(
        "speed: 1\nquiet_period: 0s\njobs:\n  - {path: app, kind: pipeline, builds: [{duration: 3s}], history: [{duration: 3s}]}\n",
    );
    let stats = stats_after_run(&sb, "estimated", "steps:\n  - {id: build, job: app}\n");
    let build_reads = count(&stats, "GET build");
    assert!(
        (1..=3).contains(&build_reads),
        "{build_reads} build reads: {}",
        stats["routes"]
    );
    // One trigger, one job read, and few queue reads: the item left at once.
    assert_eq!(
        count(&stats, "POST trigger:build"),
        1,
        "{}",
        stats["routes"]
    );
    assert!(count(&stats, "GET queue_item") <= 2, "{}", stats["routes"]);
}

#[test]
fn an_item_in_its_quiet_period_is_read_again_when_the_period_ends() {
    // Jenkins' default quiet period of 5 s, at 10x: backing off from 250 ms would read the
    // item about eight times; waiting for its due time needs two or three reads.
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 5s\njobs:\n  - {path: app, kind: pipeline, builds: [{duration: 1s}]}\n",
    );
    let stats = stats_after_run(&sb, "quiet", "steps:\n  - {id: build, job: app}\n");
    assert!(count(&stats, "GET queue_item") <= 3, "{}", stats["routes"]);
}

/// Ten jobs, each with a build of 1 s behind it, in a sandbox that answers every read
/// `latency_ms` late; `steps` lists the pipeline's steps.
fn ten_slow_jobs(latency_ms: u64, scope: &str) -> jrun::sandbox::Sandbox {
    let mut config = format!(
        "speed: 10\nquiet_period: 0s\nfaults: {{latency: {latency_ms}ms, scope: {scope}}}\njobs:\n"
    );
    for i in 0..10 {
        config.push_str(&format!(
            "  - {{path: job-{i}, kind: pipeline, builds: [{{duration: 1s}}], history: [{{duration: 1s}}]}}\n"
        ));
    }
    common::sandbox(&config)
}

#[test]
fn the_preflight_reads_its_jobs_at_once_so_the_first_trigger_comes_one_round_trip_after_the_start()
{
    // Reads only are slowed: a trigger is recorded when it is handled, so its own delay
    // would blur when jrun sent it.
    const LATENCY_MS: i64 = 200;
    let sb = ten_slow_jobs(LATENCY_MS as u64, "reads");
    // The first step runs; the nine others only after a failure, so they are never
    // triggered, but the preflight reads their jobs all the same.
    let mut steps = String::from("  - {id: s0, job: job-0}\n");
    for i in 1..10 {
        steps.push_str(&format!("  - {{id: s{i}, job: job-{i}, if: on_failure}}\n"));
    }
    let yaml = format!(
        "name: overlap\n{}  max_in_flight: 10\nsteps:\n{steps}",
        jenkins_block(&sb)
    );
    let (_dir, path) = pipeline_file(&yaml);
    let speed = 10;
    let started_ms = common::control(&sb, "GET", "time", Value::Null)["now_ms"]
        .as_i64()
        .unwrap();
    jrun()
        .arg(&path)
        .args(["--progress", "never"])
        .assert()
        .success();
    let stats = stats(&sb);
    // The preflight's job reads all come before the trigger (the build, short, is then looked
    // for among its job's builds, which is a read of the job too).
    let log = common::control(&sb, "GET", "requests", Value::Null);
    let log = log.as_array().cloned().unwrap_or_default();
    let before_trigger = log
        .iter()
        .take_while(|r| r["method"] != "POST")
        .filter(|r| r["route"] == "job")
        .count();
    assert_eq!(before_trigger, 10, "{log:?}");
    // After the preflight, one build is followed alone: only the job reads can overlap.
    assert_eq!(stats["max_in_flight"], 10, "{stats}");
    let triggers = common::triggers(&sb);
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    // Read one after another the jobs would take ten latencies before the trigger; at once,
    // one, plus jrun's own start.
    let real_ms = (triggers[0].at_ms - started_ms) / speed;
    assert!(
        real_ms < 3 * LATENCY_MS,
        "the trigger came {real_ms} ms after the start"
    );
}

#[test]
fn check_reads_jobs_at_most_max_in_flight_at_once_and_lists_problems_in_step_order() {
    let sb = ten_slow_jobs(200, "all");
    let mut steps = String::new();
    for i in 0..10 {
        // Steps 3 and 7 give a parameter their job does not take.
        let params = if i == 3 || i == 7 {
            ", params: {X: \"1\"}"
        } else {
            ""
        };
        steps.push_str(&format!("  - {{id: s{i}, job: job-{i}{params}}}\n"));
    }
    let yaml = format!(
        "name: overlap\n{}  max_in_flight: 4\nsteps:\n{steps}",
        jenkins_block(&sb)
    );
    let (_dir, path) = pipeline_file(&yaml);
    let output = jrun()
        .arg("check")
        .arg(&path)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let third = stderr.find("job `job-3` takes no parameters");
    let seventh = stderr.find("job `job-7` takes no parameters");
    assert!(
        third.is_some() && seventh.is_some() && third < seventh,
        "{stderr}"
    );
    let stats = stats(&sb);
    assert_eq!(count(&stats, "GET job"), 10, "{}", stats["routes"]);
    assert_eq!(stats["max_in_flight"], 4, "{stats}");
}

#[test]
fn a_folded_read_that_shows_sibling_builds_ended_ends_their_waits_without_reads_of_their_own() {
    // Six builds of one job, 100 ms of real time each, with no history to aim at: each step
    // would read its build 1-2 s (jittered) after it started, most of them alone.
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - {path: cell, kind: pipeline, concurrent: true, parameters: [{name: N}], builds: [{duration: 1s}]}\n",
    );
    let stats = stats_after_run(
        &sb,
        "siblings",
        "defaults:\n  poll: {initial: 1s, max: 2s}\nsteps:\n  - id: cells\n    job: cell\n    matrix: { N: [a, b, c, d, e, f] }\n    params: { N: \"{{matrix.N}}\" }\n",
    );
    assert_eq!(
        count(&stats, "POST trigger:buildWithParameters"),
        6,
        "{}",
        stats["routes"]
    );
    // One read of the job before the run; then the first build read, folded over all six,
    // shows every build ended.
    let build_reads = count(&stats, "GET build") + count(&stats, "GET job") - 1;
    assert!(
        build_reads <= 2,
        "{build_reads} build reads: {}",
        stats["routes"]
    );
}

#[test]
fn builds_of_one_job_that_run_over_together_are_read_together() {
    // Builds that usually take 0.3 s run 2.4 s (real time): each is read in steps past its
    // estimate, growing to most of a second, with a tenth of jitter each. Eight of them,
    // started together, are read in about as many requests as one alone: a folded read that
    // shows them all still running is each one's next read, so their steps do not drift apart.
    let config = |cells: &str| {
        format!(
            "speed: 1\nquiet_period: 0s\njobs:\n  - {{path: cell, kind: pipeline, concurrent: true, parameters: [{{name: N}}], history: [{{duration: 300ms}}, {{duration: 300ms}}, {{duration: 300ms}}], builds: [{cells}]}}\n"
        )
    };
    let reads = |cells: &[&str]| {
        let long = vec!["{duration: 2400ms}"; cells.len()].join(", ");
        let sb = common::sandbox(&config(&long));
        let stats = stats_after_run(
            &sb,
            "over",
            &format!(
                "defaults:\n  poll: {{initial: 1s, max: 2s}}\nsteps:\n  - id: cells\n    job: cell\n    matrix: {{ N: [{}] }}\n    params: {{ N: \"{{{{matrix.N}}}}\" }}\n",
                cells.join(", ")
            ),
        );
        // Less the one read of the job before the run.
        (
            count(&stats, "GET build") + count(&stats, "GET job") - 1,
            stats["routes"].clone(),
        )
    };
    let (alone, alone_routes) = reads(&["a"]);
    let (eight, eight_routes) = reads(&["a", "b", "c", "d", "e", "f", "g", "h"]);
    assert!(alone >= 5, "one build: {alone} reads: {alone_routes}");
    assert!(
        eight <= alone + 6,
        "eight builds: {eight} reads ({eight_routes}); one alone: {alone} ({alone_routes})"
    );
}

/// jrun's summary of a run of `yaml`, which must pass.
fn passing_run(yaml: &str) -> Value {
    let (_dir, path) = pipeline_file(yaml);
    let output = jrun()
        .arg(&path)
        .args(["--progress", "never", "--output", "json"])
        .output()
        .expect("jrun runs");
    let outcome = common::Outcome::from(output);
    outcome.assert_code(0);
    outcome.json()
}

/// The number of the build that jrun's own trigger of `job` became.
fn own_build_number(sb: &jrun::sandbox::Sandbox, job: &str) -> Value {
    let ours: Vec<u64> = common::triggers(sb)
        .iter()
        .filter(|t| t.job == job && t.created)
        .filter_map(|t| t.queue_id)
        .collect();
    assert_eq!(ours.len(), 1, "jrun's triggers of {job}: {ours:?}");
    common::builds(sb)
        .into_iter()
        .find(|b| b["job"] == job && b["queue_id"] == ours[0])
        .map(|b| b["number"].clone())
        .unwrap_or_else(|| panic!("no build of {job} has queue id {}", ours[0]))
}

#[test]
fn a_short_build_that_ended_is_followed_with_its_trigger_and_one_read_of_its_jobs_builds() {
    // Its job usually takes 3 s; this build takes 2 s, and someone else's build of the same
    // job, queued right after it, fails in 1 s: both have ended when jrun first looks.
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\nfaults: {shadow_triggers: true}\njobs:\n  - path: deploy\n    kind: pipeline\n    concurrent: true\n    parameters: [{name: VERSION}]\n    history: [{duration: 3s}, {duration: 3s}]\n    builds: [{duration: 2s, result: SUCCESS}, {duration: 1s, result: FAILURE}]\n",
    );
    let summary = passing_run(&format!(
        "name: short\n{}steps:\n  - {{id: deploy, job: deploy, params: {{VERSION: \"1.2\"}}}}\n",
        jenkins_block(&sb)
    ));
    let step = common::step(&summary, "deploy");
    assert_eq!(step["result"], "SUCCESS", "{summary:#}");
    assert_eq!(
        step["number"],
        own_build_number(&sb, "deploy"),
        "{summary:#}"
    );
    assert!(
        sb.triggers().iter().any(|t| t.external),
        "a shadow trigger happened"
    );
    let stats = stats(&sb);
    // The preflight's read of the job, then the one read that found the build ended.
    assert_eq!(count(&stats, "GET job"), 2, "{}", stats["routes"]);
    assert_eq!(count(&stats, "GET queue_item"), 0, "{}", stats["routes"]);
    assert_eq!(count(&stats, "GET build"), 0, "{}", stats["routes"]);
}

#[test]
fn a_short_build_still_queued_when_first_looked_for_is_followed_through_its_queue_item() {
    // A quiet period of 2 s holds the item in the queue past the 1 s the job usually takes
    // (real time, so that jrun's waits and the sandbox's durations agree).
    let sb = common::sandbox(
        "speed: 1\nquiet_period: 2s\njobs:\n  - {path: app, kind: pipeline, history: [{duration: 1s}, {duration: 1s}], builds: [{duration: 1s}]}\n",
    );
    let summary = passing_run(&format!(
        "name: queued\n{}steps:\n  - {{id: app, job: app}}\n",
        jenkins_block(&sb)
    ));
    let step = common::step(&summary, "app");
    assert_eq!(step["number"], own_build_number(&sb, "app"), "{summary:#}");
    assert_eq!(step["result"], "SUCCESS", "{summary:#}");
    let log = common::control(&sb, "GET", "requests", Value::Null);
    let routes: Vec<String> = log
        .as_array()
        .expect("a request log")
        .iter()
        .skip_while(|r| r["method"] != "POST")
        .skip(1)
        .filter_map(|r| r["route"].as_str().map(str::to_string))
        .collect();
    // Looked for among the job's builds, not there yet, then its queue item.
    assert_eq!(
        routes.first().map(String::as_str),
        Some("job"),
        "{routes:?}"
    );
    assert_eq!(
        routes.get(1).map(String::as_str),
        Some("queue_item"),
        "{routes:?}"
    );
}

#[test]
fn an_early_look_finds_a_build_that_ended_well_before_its_estimate() {
    // The job usually takes 1 s; this build takes 0.7 s. Read only at the estimate, it would
    // be seen ended there; the look at nine tenths of its usual time sees it first (real
    // time, so that jrun's waits and the sandbox's durations agree).
    let sb = common::sandbox(
        "speed: 1\nquiet_period: 0s\njobs:\n  - {path: app, kind: pipeline, history: [{duration: 1s}, {duration: 1s}, {duration: 1s}], builds: [{duration: 700ms}]}\n",
    );
    passing_run(&format!(
        "name: early\n{}steps:\n  - {{id: app, job: app}}\n",
        jenkins_block(&sb)
    ));
    let ours = own_build_number(&sb, "app");
    let build = common::builds(&sb)
        .into_iter()
        .find(|b| b["job"] == "app" && b["number"] == ours)
        .expect("jrun's build");
    let stats = stats(&sb);
    assert_eq!(count(&stats, "GET build"), 0, "{}", stats["routes"]);
    assert_eq!(count(&stats, "GET queue_item"), 0, "{}", stats["routes"]);
    assert_eq!(count(&stats, "GET job"), 2, "{}", stats["routes"]);
    // Seen ended, by the sandbox's clock, before the estimate of 1 s was up.
    let seen_after = build["observed_done_ms"].as_i64().expect("seen ended")
        - build["start_ms"].as_i64().expect("started");
    assert!(
        seen_after < 1_000,
        "seen ended {seen_after} ms after its start: {build}"
    );
}

/// Runs a pipeline named `name` with `rest` (its keys after the server block) against `sb`,
/// expects it to pass, and gives the sandbox's request statistics.
fn stats_after_run(sb: &jrun::sandbox::Sandbox, name: &str, rest: &str) -> Value {
    let yaml = format!("name: {name}\n{}{rest}", jenkins_block(sb));
    let (_dir, path) = pipeline_file(&yaml);
    jrun()
        .arg(&path)
        .args(["--progress", "never"])
        .assert()
        .success();
    stats(sb)
}

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
    let yaml = format!(
        "name: treed\n{}defaults:\n  poll: {{initial: 50ms, max: 200ms}}\nsteps:\n  - {{id: build, job: app, params: {{V: \"1\"}}}}\n  - {{id: gate, await: {{job: gate, result: [SUCCESS]}}}}\n",
        jenkins_block(&sb)
    );
    let (_dir, path) = pipeline_file(&yaml);
    jrun()
        .arg(&path)
        .args(["--progress", "never"])
        .assert()
        .success();
    let stats = stats(&sb);
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
    let yaml = format!(
        "name: estimated\n{}steps:\n  - {{id: build, job: app}}\n",
        jenkins_block(&sb)
    );
    let (_dir, path) = pipeline_file(&yaml);
    jrun()
        .arg(&path)
        .args(["--progress", "never"])
        .assert()
        .success();
    let stats = stats(&sb);
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
    let yaml = format!(
        "name: quiet\n{}steps:\n  - {{id: build, job: app}}\n",
        jenkins_block(&sb)
    );
    let (_dir, path) = pipeline_file(&yaml);
    jrun()
        .arg(&path)
        .args(["--progress", "never"])
        .assert()
        .success();
    let stats = stats(&sb);
    assert!(count(&stats, "GET queue_item") <= 3, "{}", stats["routes"]);
}

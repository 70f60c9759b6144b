//! What the sandbox records of what a client has seen, for the benchmark's detection lag:
//! the first read showing a build finished, the first read of a queue item showing its
//! build, and requests per second.

use crate::common;

use std::time::Duration;

use common::{build_number_of, client, control, get_json, post, queue_id, sandbox, wait_for};
use serde_json::{Value, json};

fn build_record(sb: &jrun::sandbox::Sandbox, job: &str, number: u64) -> Value {
    let builds = control(sb, "GET", "builds", json!({}));
    builds
        .as_array()
        .expect("builds array")
        .iter()
        .find(|b| b["job"] == job && b["number"] == number)
        .cloned()
        .unwrap_or_else(|| panic!("no build {job} #{number} in {builds}"))
}

fn wait_until_ended(sb: &jrun::sandbox::Sandbox, job: &str, number: u64) -> Value {
    // The control route shows the build without counting as a client's read of it.
    wait_for(Duration::from_secs(10), "the build to end", || {
        let record = build_record(sb, job, number);
        (record["building"] == false).then_some(record)
    })
}

#[test]
fn the_first_read_showing_a_build_finished_is_recorded_once() {
    let sb =
        sandbox("speed: 10\nquiet_period: 0s\njobs:\n  - {path: a, builds: [{duration: 5s}]}\n");
    let c = client();
    let id = queue_id(&post(&c, &sb, "/job/a/build"));
    let fresh = build_record(&sb, "a", 1);
    assert!(fresh["observed_started_ms"].is_null(), "{fresh}");
    assert!(fresh["observed_done_ms"].is_null(), "{fresh}");

    let number = build_number_of(&c, &sb, id);
    let started = build_record(&sb, "a", number);
    let seen_start = started["observed_started_ms"].as_i64().expect("start seen");
    assert!(
        seen_start >= started["start_ms"].as_i64().unwrap(),
        "{started}"
    );

    // Reads while it runs, or that leave `building` out, do not say it finished.
    let running = get_json(&c, &sb, "/job/a/1/api/json?tree=building");
    assert_eq!(running["building"], true);
    let ended = wait_until_ended(&sb, "a", number);
    assert!(ended["observed_done_ms"].is_null(), "{ended}");
    get_json(&c, &sb, "/job/a/1/api/json?tree=number,result");
    assert!(build_record(&sb, "a", number)["observed_done_ms"].is_null());

    let shown = get_json(&c, &sb, "/job/a/1/api/json?tree=building,result");
    assert_eq!(shown["building"], false);
    let first = build_record(&sb, "a", number);
    let seen_done = first["observed_done_ms"].as_i64().expect("done seen");
    assert!(seen_done >= first["end_ms"].as_i64().unwrap(), "{first}");

    std::thread::sleep(Duration::from_millis(50));
    get_json(&c, &sb, "/job/a/lastBuild/api/json");
    get_json(&c, &sb, "/queue/item/1/api/json");
    let later = build_record(&sb, "a", number);
    assert_eq!(later["observed_done_ms"], first["observed_done_ms"]);
    assert_eq!(later["observed_started_ms"], started["observed_started_ms"]);
}

#[test]
fn permalinks_and_build_lists_of_a_job_count_as_reads_of_the_build() {
    let sb = sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - {path: f/p, kind: pipeline, builds: [{duration: 5s}]}\n",
    );
    let c = client();
    for _ in 0..2 {
        post(&c, &sb, "/job/f/job/p/build");
    }
    wait_until_ended(&sb, "f/p", 1);
    wait_until_ended(&sb, "f/p", 2);

    // A queue read without `executable` in its tree has not shown the build.
    get_json(&c, &sb, "/queue/item/1/api/json?tree=id,why");
    assert!(build_record(&sb, "f/p", 1)["observed_started_ms"].is_null());

    get_json(
        &c,
        &sb,
        "/job/f/job/p/lastBuild/api/json?tree=number,building",
    );
    assert!(build_record(&sb, "f/p", 2)["observed_done_ms"].is_i64());
    assert!(build_record(&sb, "f/p", 1)["observed_done_ms"].is_null());

    // Build stubs without `building` show nothing; a tree that asks for it does.
    get_json(&c, &sb, "/job/f/job/p/api/json");
    assert!(build_record(&sb, "f/p", 1)["observed_done_ms"].is_null());
    get_json(
        &c,
        &sb,
        "/job/f/job/p/api/json?tree=builds[number,building]",
    );
    assert!(build_record(&sb, "f/p", 1)["observed_done_ms"].is_i64());
}

#[test]
fn stats_count_requests_per_second_and_reset() {
    let sb = sandbox("quiet_period: 0s\njobs:\n  - {path: a}\n");
    let c = client();
    for _ in 0..5 {
        get_json(&c, &sb, "/job/a/api/json?tree=name");
    }
    let stats = control(&sb, "GET", "stats", json!({}));
    let buckets = stats["requests_per_second"].as_array().expect("buckets");
    let total: u64 = buckets.iter().map(|b| b[1].as_u64().unwrap()).sum();
    assert_eq!(total, stats["requests"].as_u64().unwrap());
    assert_eq!(total, 5);
    let now_s = control(&sb, "GET", "time", json!({}))["now_ms"]
        .as_i64()
        .unwrap()
        / 1000;
    assert!(buckets.iter().all(|b| b[0].as_i64().unwrap() <= now_s));

    control(&sb, "POST", "stats/reset", json!({}));
    let reset = control(&sb, "GET", "stats", json!({}));
    assert_eq!(reset["requests_per_second"], json!([]));
}

//! What the sandbox's builds leave behind, pinned to what a controller with the usual plugins
//! answers (research `jenkins-rest-plugins.md` §3 artifacts, §4 description and display name,
//! §5 wfapi, §7 junit): archived artifacts and their downloads, descriptions, Pipeline stages
//! and test reports, and the external artifact store.

use crate::common;

use std::io::{Read, Write};

use common::{PASSWORD, TOKEN, USER, client, control, get, get_json, post};
use reqwest::blocking::Response;
use serde_json::{Value, json};

use jrun::sandbox::Sandbox;

/// A finished freestyle build with a few artifacts, a description-less build after it, and a
/// pipeline build with everything.
const OUTPUTS: &str = r#"speed: 100
quiet_period: 0s
jobs:
  - path: app
    history:
      - duration: 2s
        artifacts:
          - { path: out/build-info.json, content: '{"version": "1.2.3"}' }
          - { path: dist/app.tar.gz, size: 1000000 }
          - { path: a.txt, content: hello }
          - { path: other/build-info.json, content: '{}' }
          - { path: 'my dir/ü #1.txt', content: 'spaced' }
      - duration: 1s
"#;

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Sends a request line as given, without a client normalising `..` away, and returns the
/// status code.
fn raw_status(sb: &Sandbox, path: &str) -> u16 {
    use base64::Engine as _;
    let mut stream = std::net::TcpStream::connect(sb.addr()).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{TOKEN}"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n",
        sb.addr()
    )
    .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

fn generated(range: std::ops::Range<u64>) -> Vec<u8> {
    range.map(|i| (i % 251) as u8).collect()
}

#[test]
fn build_json_lists_artifacts_sorted_per_directory_without_class() {
    let sb = common::sandbox(OUTPUTS);
    let build = get_json(&client(), &sb, "/job/app/1/api/json");
    let artifacts = build["artifacts"].as_array().expect("artifacts");
    let paths: Vec<&str> = artifacts
        .iter()
        .map(|a| a["relativePath"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "a.txt",
            "dist/app.tar.gz",
            "my dir/ü #1.txt",
            "other/build-info.json",
            "out/build-info.json"
        ]
    );
    assert_eq!(
        artifacts[4],
        json!({"displayPath": "out/build-info.json", "fileName": "build-info.json", "relativePath": "out/build-info.json"})
    );
    assert_eq!(artifacts[0]["displayPath"], "a.txt");
    assert!(artifacts.iter().all(|a| a.get("_class").is_none()));
    let none = get_json(&client(), &sb, "/job/app/2/api/json?tree=artifacts[*]");
    assert_eq!(
        none,
        json!({"_class": "hudson.model.FreeStyleBuild", "artifacts": []})
    );
    let cheap = get_json(
        &client(),
        &sb,
        "/job/app/1/api/json?tree=artifacts[relativePath]{0,1}",
    );
    assert_eq!(cheap["artifacts"], json!([{"relativePath": "a.txt"}]));
}

#[test]
fn display_paths_are_null_past_twenty_artifacts() {
    let files: Vec<String> = (0..21)
        .map(|i| format!("          - {{ path: f{i:02}.txt, content: x }}\n"))
        .collect();
    let sb = common::sandbox(&format!(
        "jobs:\n  - path: many\n    history:\n      - artifacts:\n{}",
        files.concat()
    ));
    let build = get_json(
        &client(),
        &sb,
        "/job/many/1/api/json?tree=artifacts[displayPath,fileName]",
    );
    let artifacts = build["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 21);
    assert!(artifacts.iter().all(|a| a["displayPath"].is_null()));
    assert_eq!(artifacts[20]["fileName"], "f20.txt");
}

#[test]
fn description_and_display_name_show_in_the_build_json() {
    let sb = common::sandbox(
        "jobs:\n  - path: team/app\n    history:\n      - { description: nightly, display_name: release-1.2.3 }\n      - {}\n",
    );
    let tree = "?tree=description,displayName,fullDisplayName";
    let custom = get_json(
        &client(),
        &sb,
        &format!("/job/team/job/app/1/api/json{tree}"),
    );
    assert_eq!(custom["description"], "nightly");
    assert_eq!(custom["displayName"], "release-1.2.3");
    assert_eq!(custom["fullDisplayName"], "team » app release-1.2.3");
    let plain = get_json(&client(), &sb, "/job/team/job/app/2/api/json");
    assert_eq!(plain["description"], Value::Null);
    assert_eq!(plain["displayName"], "#2");
    assert_eq!(plain["fullDisplayName"], "team » app #2");
}

#[test]
fn artifacts_download_with_length_type_and_range_support() {
    let sb = common::sandbox(OUTPUTS);
    let c = client();
    let file = get(&c, &sb, "/job/app/1/artifact/out/build-info.json");
    assert_eq!(file.status(), 200);
    assert_eq!(header(&file, "content-type"), Some("application/json"));
    assert_eq!(header(&file, "content-length"), Some("20"));
    assert_eq!(header(&file, "accept-ranges"), Some("bytes"));
    assert!(header(&file, "last-modified").is_some());
    assert!(header(&file, "content-disposition").is_none());
    assert_eq!(file.text().unwrap(), "{\"version\": \"1.2.3\"}");

    let text = get(&c, &sb, "/job/app/1/artifact/a.txt");
    assert_eq!(
        header(&text, "content-type"),
        Some("text/plain;charset=UTF-8")
    );

    let spaced = get(&c, &sb, "/job/app/1/artifact/my%20dir/%C3%BC%20%231.txt");
    assert_eq!(spaced.status(), 200);
    assert_eq!(spaced.text().unwrap(), "spaced");

    let part = c
        .get(format!("{}/job/app/1/artifact/dist/app.tar.gz", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .header("Range", "bytes=1000-1999")
        .send()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        header(&part, "content-range"),
        Some("bytes 1000-1999/1000000")
    );
    assert_eq!(header(&part, "content-length"), Some("1000"));
    assert_eq!(part.bytes().unwrap().to_vec(), generated(1000..2000));

    // A suffix range is not one Stapler understands: the whole file.
    let suffix = c
        .get(format!("{}/job/app/1/artifact/a.txt", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .header("Range", "bytes=-2")
        .send()
        .unwrap();
    assert_eq!(suffix.status(), 200);
    assert_eq!(suffix.text().unwrap(), "hello");
}

#[test]
fn generated_artifacts_stream_their_bytes() {
    let sb = common::sandbox(
        "jobs:\n  - path: big\n    history:\n      - artifacts: [{ path: dist/app.bin, size: 52428800 }]\n",
    );
    let mut response = get(&client(), &sb, "/job/big/1/artifact/dist/app.bin");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-length"), Some("52428800"));
    assert_eq!(
        header(&response, "content-type"),
        Some("application/octet-stream")
    );
    let mut buf = vec![0u8; 1 << 16];
    let mut offset = 0u64;
    loop {
        let n = response.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        assert!(
            buf[..n]
                .iter()
                .enumerate()
                .all(|(i, b)| *b == ((offset + i as u64) % 251) as u8),
            "wrong byte near offset {offset}"
        );
        offset += n as u64;
    }
    assert_eq!(offset, 52_428_800);
}

#[test]
fn artifact_paths_answer_like_directory_browser_support() {
    let sb = common::sandbox(OUTPUTS);
    let c = client();
    let missing = get(&c, &sb, "/job/app/1/artifact/out/nope.json");
    assert_eq!(missing.status(), 404);
    let dir = get(&c, &sb, "/job/app/1/artifact/out");
    assert_eq!(dir.status(), 302);
    assert_eq!(
        header(&dir, "location"),
        Some(format!("{}/job/app/1/artifact/out/", sb.url()).as_str())
    );
    let listing = get(&c, &sb, "/job/app/1/artifact/out/");
    assert_eq!(listing.status(), 200);
    assert!(
        header(&listing, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(listing.text().unwrap().contains("href=\"build-info.json\""));
    let root = get(&c, &sb, "/job/app/1/artifact/");
    assert!(root.text().unwrap().contains("href=\"dist/\""));
    // A build that archived nothing has no artifact root at all.
    assert_eq!(get(&c, &sb, "/job/app/2/artifact/").status(), 404);
    assert_eq!(get(&c, &sb, "/job/app/2/artifact/a.txt").status(), 404);
    // `/../` is refused before any lookup, however it is spelt.
    assert_eq!(raw_status(&sb, "/job/app/1/artifact/out/../a.txt"), 400);
    assert_eq!(raw_status(&sb, "/job/app/1/artifact/out/%2E%2E/a.txt"), 400);
    assert_eq!(raw_status(&sb, "/job/app/1/artifact/out%2F..%2Fa.txt"), 400);
    assert_eq!(
        raw_status(&sb, "/job/app/1/artifact/../../../etc/passwd"),
        400
    );
}

#[test]
fn artifacts_appear_when_the_build_ends() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: slow\n    builds: [{ duration: 5s, artifacts: [{ path: r.txt, content: done }] }]\n",
    );
    let c = client();
    let id = common::queue_id(&post(&c, &sb, "/job/slow/build"));
    let number = common::build_number_of(&c, &sb, id);
    let running = get_json(
        &c,
        &sb,
        &format!("/job/slow/{number}/api/json?tree=artifacts[*]"),
    );
    assert_eq!(running["artifacts"], json!([]));
    assert_eq!(
        get(&c, &sb, &format!("/job/slow/{number}/artifact/r.txt")).status(),
        404
    );
    common::finished_build(&c, &sb, "/job/slow/", number);
    let done = get(&c, &sb, &format!("/job/slow/{number}/artifact/r.txt"));
    assert_eq!(done.text().unwrap(), "done");
}

#[test]
fn submit_description_sets_it_and_redirects_to_the_build() {
    let sb = common::sandbox("jobs:\n  - path: app\n    history: [{}]\n");
    let c = client();
    let response = c
        .post(format!("{}/job/app/1/submitDescription", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .form(&[("description", "release 1.2 (jrun run 7)")])
        .send()
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(header(&response, "location"), Some("/job/app/1/"));
    let build = get_json(&c, &sb, "/job/app/1/api/json?tree=description");
    assert_eq!(build["description"], "release 1.2 (jrun run 7)");
    let builds = control(&sb, "GET", "builds", json!({}));
    assert_eq!(builds[0]["description"], "release 1.2 (jrun run 7)");
    // Without the field the description is cleared.
    assert_eq!(post(&c, &sb, "/job/app/1/submitDescription").status(), 302);
    let build = get_json(&c, &sb, "/job/app/1/api/json?tree=description");
    assert_eq!(build["description"], Value::Null);
}

#[test]
fn submit_description_follows_post_crumb_and_permission_rules() {
    let sb = common::sandbox("anonymous: read\njobs:\n  - path: app\n    history: [{}]\n");
    let c = client();
    assert_eq!(get(&c, &sb, "/job/app/1/submitDescription").status(), 405);
    let anonymous = c
        .post(format!("{}/job/app/1/submitDescription", sb.url()))
        .form(&[("description", "x")])
        .send()
        .unwrap();
    // Without a crumb the CSRF filter answers first; with one, Run.UPDATE is missing.
    assert_eq!(anonymous.status(), 403);
    let crumb = common::json(
        c.get(format!("{}/crumbIssuer/api/json", sb.url()))
            .send()
            .unwrap(),
    );
    let with_crumb = c
        .post(format!("{}/job/app/1/submitDescription", sb.url()))
        .header("Jenkins-Crumb", crumb["crumb"].as_str().unwrap())
        .form(&[("description", "x")])
        .send()
        .unwrap();
    assert_eq!(with_crumb.status(), 403);
    assert_eq!(
        header(&with_crumb, "x-required-permission"),
        Some("hudson.model.Run.Update")
    );
    let password_without_crumb = client()
        .post(format!("{}/job/app/1/submitDescription", sb.url()))
        .basic_auth(USER, Some(PASSWORD))
        .form(&[("description", "x")])
        .send()
        .unwrap();
    assert_eq!(password_without_crumb.status(), 403);
    let build = get_json(&c, &sb, "/job/app/1/api/json?tree=description");
    assert_eq!(build["description"], Value::Null);
}

#[test]
fn config_submit_sets_display_name_and_description() {
    let sb = common::sandbox("jobs:\n  - path: app\n    history: [{}]\n");
    let c = client();
    let send = |json: &str| {
        c.post(format!("{}/job/app/1/configSubmit", sb.url()))
            .basic_auth(USER, Some(TOKEN))
            .form(&[("json", json)])
            .send()
            .unwrap()
    };
    let response = send(r#"{"displayName": "release-2", "description": "d"}"#);
    assert_eq!(response.status(), 302);
    let build = get_json(&c, &sb, "/job/app/1/api/json?tree=displayName,description");
    assert_eq!(
        build,
        json!({"_class": "hudson.model.FreeStyleBuild", "description": "d", "displayName": "release-2"})
    );
    assert_eq!(send(r#"{"displayName": "x"}"#).status(), 500);
    assert_eq!(
        send(r#"{"displayName": " ", "description": null}"#).status(),
        302
    );
    let build = get_json(&c, &sb, "/job/app/1/api/json?tree=displayName,description");
    assert_eq!(build["displayName"], "#1");
    assert_eq!(build["description"], Value::Null);
    let empty = c
        .post(format!("{}/job/app/1/configSubmit", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .send()
        .unwrap();
    assert_eq!(empty.status(), 400);
}

#[test]
fn test_result_action_shows_counts_at_depth_zero() {
    let sb = common::sandbox(
        "jobs:\n  - path: app\n    history:\n      - tests:\n          passed: 117\n          cases:\n            - { class: com.ex.FooTest, name: bar, status: FAILED, error: 'expected:<1> but was:<2>' }\n            - { class: com.ex.FooTest, name: baz, status: SKIPPED }\n      - {}\n",
    );
    let build = get_json(&client(), &sb, "/job/app/1/api/json");
    let action = build["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["_class"] == "hudson.tasks.junit.TestResultAction")
        .expect("TestResultAction");
    assert_eq!(
        action,
        &json!({"_class": "hudson.tasks.junit.TestResultAction", "failCount": 1, "skipCount": 1, "totalCount": 119, "urlName": "testReport"})
    );
    let without = get_json(&client(), &sb, "/job/app/2/api/json?tree=actions[_class]");
    assert!(
        !without["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["_class"] == "hudson.tasks.junit.TestResultAction")
    );
}

#[test]
fn bad_build_specs_are_refused_with_what_to_fix() {
    for (spec, expected) in [
        (
            "artifacts: [{path: /etc/x, content: a}]",
            "must be relative",
        ),
        ("artifacts: [{path: a/../b, content: a}]", "`..` segment"),
        ("artifacts: [{path: a//b, content: a}]", "empty"),
        (
            "artifacts: [{path: a, content: a, size: 3}]",
            "both `content` and `size`",
        ),
        ("artifacts: [{path: a}]", "needs `content` or `size`"),
        ("artifacts: [{path: a, size: 1073741825}]", "at most"),
        (
            "artifacts: [{path: a, size: 1}, {path: a, size: 2}]",
            "declared twice",
        ),
        (
            "artifacts: [{path: a, size: 1}, {path: a/b, size: 2}]",
            "cannot be inside",
        ),
        (
            "stages: [{name: B, status: DONE}]",
            "unknown variant `DONE`",
        ),
        (
            "{duration: 1s, stages: [{name: B, duration: 2s}]}",
            "more than the build's duration",
        ),
    ] {
        let item = if spec.starts_with('{') {
            spec.to_string()
        } else {
            format!("{{{spec}}}")
        };
        let yaml = format!("jobs:\n  - path: app\n    builds:\n      - {item}\n");
        let err = jrun::sandbox::SandboxConfig::parse(&yaml, "s.yaml")
            .err()
            .unwrap_or_else(|| panic!("accepted {spec}"))
            .to_string();
        assert!(err.contains(expected), "{spec}: {err}");
        assert!(err.contains("s.yaml"), "{err}");
    }
}

// Pipeline stages (`wfapi`).

const PIPELINE: &str = r#"speed: 100
quiet_period: 0s
jobs:
  - path: app
    kind: pipeline
    history:
      - duration: 30s
        result: FAILURE
        display_name: release-1.2.3
        log: ["compiling"]
        stages:
          - { name: Build, status: SUCCESS, duration: 10s, log: ["built"] }
          - { name: Test, status: FAILED, duration: 20s, error: "script returned exit code 1", script: make test, log: ["running tests", "FooTest > bar FAILED <x>"] }
          - { name: Deploy, status: NOT_EXECUTED }
  - path: free
    history: [{ stages: [{ name: Build }] }]
"#;

#[test]
fn wfapi_describes_a_finished_run_and_its_stages() {
    let sb = common::sandbox(PIPELINE);
    let response = get(&client(), &sb, "/job/app/1/wfapi/describe");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        Some("application/json; charset=UTF-8")
    );
    let run = common::json(response);
    assert_eq!(
        run["_links"],
        json!({"self": {"href": "/job/app/1/wfapi/describe"}})
    );
    assert_eq!(run["id"], "1");
    assert_eq!(run["name"], "release-1.2.3");
    assert_eq!(run["status"], "FAILED");
    assert_eq!(run["pauseDurationMillis"], 0);
    assert_eq!(run["durationMillis"], 30_000);
    let start = run["startTimeMillis"].as_i64().unwrap();
    assert_eq!(run["endTimeMillis"].as_i64().unwrap(), start + 30_000);
    let stages = run["stages"].as_array().unwrap();
    let names: Vec<(&str, &str)> = stages
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("Build", "SUCCESS"),
            ("Test", "FAILED"),
            ("Deploy", "NOT_EXECUTED")
        ]
    );
    let test = &stages[1];
    assert_eq!(test["execNode"], "");
    assert_eq!(
        test["error"],
        json!({"message": "script returned exit code 1", "type": "hudson.AbortException"})
    );
    assert_eq!(test["startTimeMillis"].as_i64().unwrap(), start + 10_000);
    assert_eq!(test["durationMillis"], 20_000);
    assert!(test.get("stageFlowNodes").is_none());
    assert!(stages[2].get("error").is_none());
    assert_eq!(stages[2]["durationMillis"], 0);
    assert!(!run.to_string().contains("_class"));
    // `wfapi/` answers the same as `wfapi/describe`; fullStages adds the step nodes.
    assert_eq!(
        get_json(&client(), &sb, "/job/app/1/wfapi/")["stages"],
        run["stages"]
    );
    let full = get_json(&client(), &sb, "/job/app/1/wfapi/describe?fullStages=true");
    assert_eq!(
        full["stages"][1]["stageFlowNodes"][0]["name"],
        "Shell Script"
    );
}

#[test]
fn wfapi_nodes_give_the_failing_step_its_error_and_log_tail() {
    let sb = common::sandbox(PIPELINE);
    let c = client();
    let run = get_json(&c, &sb, "/job/app/1/wfapi/describe");
    let stage_href = run["stages"][1]["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let stage = get_json(&c, &sb, &stage_href);
    assert_eq!(stage["name"], "Test");
    let step = &stage["stageFlowNodes"][0];
    assert_eq!(step["status"], "FAILED");
    assert_eq!(step["error"]["message"], "script returned exit code 1");
    assert_eq!(step["parameterDescription"], "make test");
    let step_id = step["id"].as_str().unwrap();
    assert_eq!(
        get_json(
            &c,
            &sb,
            &format!("/job/app/1/execution/node/{step_id}/wfapi/describe")
        )["id"],
        step_id
    );
    let log_href = step["_links"]["log"]["href"].as_str().unwrap();
    let log = get_json(&c, &sb, log_href);
    assert_eq!(log["nodeId"], step_id);
    assert_eq!(log["nodeStatus"], "FAILED");
    assert_eq!(log["hasMore"], false);
    assert_eq!(
        log["text"],
        "+ make test\nrunning tests\nFooTest &gt; bar FAILED &lt;x&gt;\n"
    );
    assert_eq!(log["length"], log["text"].as_str().unwrap().chars().count());
    assert_eq!(
        log["consoleUrl"],
        format!("/job/app/1/execution/node/{step_id}/log")
    );
    assert_eq!(
        get(&c, &sb, "/job/app/1/execution/node/999/wfapi/describe").status(),
        404
    );
    assert_eq!(
        get(&c, &sb, "/job/app/1/execution/node/999/wfapi/log").status(),
        404
    );
}

#[test]
fn wfapi_is_not_there_for_freestyle_builds() {
    let sb = common::sandbox(PIPELINE);
    let c = client();
    for path in [
        "/job/free/1/wfapi/",
        "/job/free/1/wfapi/describe",
        "/job/free/1/execution/node/6/wfapi/describe",
        "/job/free/1/execution/node/8/wfapi/log",
    ] {
        assert_eq!(get(&c, &sb, path).status(), 404, "{path}");
    }
}

#[test]
fn stage_logs_appear_in_the_console_in_order() {
    let sb = common::sandbox(PIPELINE);
    let text = get(&client(), &sb, "/job/app/1/consoleText")
        .text()
        .unwrap();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {text}"))
    };
    assert!(at("[Pipeline] { (Build)") < at("built"));
    assert!(at("built") < at("[Pipeline] { (Test)"));
    assert!(at("[Pipeline] { (Test)") < at("+ make test"));
    assert!(at("running tests") < at("FooTest > bar FAILED"));
    assert!(at("FooTest > bar FAILED") < at("[Pipeline] { (Deploy)"));
    assert!(at("Stage \"Deploy\" skipped") < at("[Pipeline] End of Pipeline"));
    assert!(
        text.ends_with("ERROR: script returned exit code 1\nFinished: FAILURE\n"),
        "{text}"
    );
}

#[test]
fn a_running_build_shows_its_current_stage_in_progress() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: slow\n    kind: pipeline\n    builds:\n      - duration: 40s\n        stages: [{ name: Build, duration: 30s }, { name: Test }]\n",
    );
    let c = client();
    let id = common::queue_id(&post(&c, &sb, "/job/slow/build"));
    let number = common::build_number_of(&c, &sb, id);
    let run = get_json(&c, &sb, &format!("/job/slow/{number}/wfapi/describe"));
    assert_eq!(run["status"], "IN_PROGRESS");
    let stages = run["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 1, "{run}");
    assert_eq!(stages[0]["status"], "IN_PROGRESS");
    let done = common::wait_for(std::time::Duration::from_secs(10), "the run to end", || {
        let run = get_json(&c, &sb, &format!("/job/slow/{number}/wfapi/describe"));
        (run["status"] != "IN_PROGRESS").then_some(run)
    });
    assert_eq!(done["status"], "SUCCESS");
    assert_eq!(done["stages"][1]["status"], "SUCCESS");
    assert_eq!(done["stages"][1]["durationMillis"], 10_000);
}

// JUnit reports (`testReport`).

const TESTS: &str = r#"jobs:
  - path: app
    history:
      - tests:
          passed: 2
          cases:
            - { class: com.ex.FooTest, name: bar, status: FAILED, error: "expected:<1> but was:<2>", stdout: "out text", duration: 12ms }
            - { class: com.ex.FooTest, name: baz, status: SKIPPED, error: "not today" }
            - { class: com.ex.BarTest, name: ok }
      - {}
"#;

#[test]
fn test_report_lists_suites_by_class_with_case_details_at_depth_zero() {
    let sb = common::sandbox(TESTS);
    let report = get_json(&client(), &sb, "/job/app/1/testReport/api/json");
    assert_eq!(report["_class"], "hudson.tasks.junit.TestResult");
    assert_eq!(
        (
            &report["failCount"],
            &report["passCount"],
            &report["skipCount"]
        ),
        (&json!(1), &json!(3), &json!(1))
    );
    let suites = report["suites"].as_array().unwrap();
    let names: Vec<&str> = suites.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["com.ex.FooTest", "com.ex.BarTest", "sandbox.GeneratedTest"]
    );
    let bar = &suites[0]["cases"][0];
    assert!(bar.get("_class").is_none() && suites[0].get("_class").is_none());
    assert_eq!(bar["status"], "FAILED");
    assert_eq!(bar["errorDetails"], "expected:<1> but was:<2>");
    assert_eq!(bar["stdout"], "out text");
    assert_eq!(bar["duration"], 0.012);
    assert!(
        bar["errorStackTrace"]
            .as_str()
            .unwrap()
            .contains("expected:<1>")
    );
    let baz = &suites[0]["cases"][1];
    assert_eq!(
        (&baz["status"], &baz["skipped"]),
        (&json!("SKIPPED"), &json!(true))
    );
    assert_eq!(baz["skippedMessage"], "not today");
    assert_eq!(suites[2]["cases"].as_array().unwrap().len(), 2);
}

#[test]
fn test_report_follows_tree_and_is_missing_without_tests() {
    let sb = common::sandbox(TESTS);
    let c = client();
    let tree = "failCount,suites[name,cases[className,name,status,errorDetails]{0,1}]";
    let report = get_json(
        &c,
        &sb,
        &format!("/job/app/1/testReport/api/json?tree={tree}"),
    );
    assert_eq!(
        report,
        json!({"_class": "hudson.tasks.junit.TestResult", "failCount": 1, "suites": [
            {"cases": [{"className": "com.ex.FooTest", "errorDetails": "expected:<1> but was:<2>", "name": "bar", "status": "FAILED"}], "name": "com.ex.FooTest"},
            {"cases": [{"className": "com.ex.BarTest", "errorDetails": null, "name": "ok", "status": "PASSED"}], "name": "com.ex.BarTest"},
            {"cases": [{"className": "sandbox.GeneratedTest", "errorDetails": null, "name": "passes_1", "status": "PASSED"}], "name": "sandbox.GeneratedTest"}
        ]})
    );
    assert_eq!(get(&c, &sb, "/job/app/2/testReport/api/json").status(), 404);
}

// The external artifact store (`artifact_store: true`).

const STORE: &str = r#"artifact_store: true
jobs:
  - path: app
    history:
      - artifacts:
          - { path: dist/app.bin, size: 300000 }
          - { path: 'out/info file.json', content: '{"v": 1}' }
"#;

/// The presigned URL Jenkins redirects an artifact download to.
fn presigned(sb: &Sandbox, path: &str) -> String {
    let response = get(&client(), sb, path);
    assert_eq!(response.status(), 302, "{path}");
    let location = header(&response, "location").expect("Location").to_string();
    assert!(
        !location.starts_with(&sb.url()),
        "{location} is on the controller"
    );
    location
}

#[test]
fn the_store_serves_signed_urls_without_credentials() {
    let sb = common::sandbox(STORE);
    let url = presigned(&sb, "/job/app/1/artifact/out/info%20file.json");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let plain = reqwest::blocking::Client::new();
    let file = plain.get(&url).send().unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(header(&file, "content-type"), Some("application/json"));
    assert_eq!(file.text().unwrap(), "{\"v\": 1}");
    let big = presigned(&sb, "/job/app/1/artifact/dist/app.bin");
    let part = plain
        .get(&big)
        .header("Range", "bytes=299990-")
        .send()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().unwrap().to_vec(), generated(299_990..300_000));
    // The build JSON does not change: the store only answers downloads.
    let build = get_json(
        &client(),
        &sb,
        "/job/app/1/api/json?tree=artifacts[relativePath]",
    );
    assert_eq!(build["artifacts"].as_array().unwrap().len(), 2);
}

#[test]
fn the_store_refuses_credentials_and_bad_signatures() {
    let sb = common::sandbox(STORE);
    let url = presigned(&sb, "/job/app/1/artifact/dist/app.bin");
    let plain = reqwest::blocking::Client::new();
    let with_basic = plain
        .get(&url)
        .basic_auth(USER, Some(TOKEN))
        .send()
        .unwrap();
    assert_eq!(with_basic.status(), 400);
    assert!(
        with_basic
            .text()
            .unwrap()
            .contains("Only one auth mechanism allowed")
    );
    let with_cookie = plain
        .get(&url)
        .header("Cookie", "JSESSIONID.abcd1234=node0xyz")
        .send()
        .unwrap();
    assert_eq!(with_cookie.status(), 400);
    let tampered = url.replace("dist/app.bin", "dist/app.bim");
    assert_eq!(plain.get(&tampered).send().unwrap().status(), 403);
    let unsigned = url.split('?').next().unwrap();
    assert_eq!(plain.get(unsigned).send().unwrap().status(), 403);
    let mut forged = url.clone();
    forged.truncate(url.len() - 4);
    forged.push_str("0000");
    let forged = plain.get(&forged).send().unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.text().unwrap().contains("SignatureDoesNotMatch"));
}

#[test]
fn presigned_urls_expire_after_an_hour() {
    let sb = common::sandbox(STORE);
    let url = presigned(&sb, "/job/app/1/artifact/dist/app.bin");
    control(&sb, "POST", "clock", json!({"speed": 1_000_000.0}));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let expired = reqwest::blocking::Client::new().get(&url).send().unwrap();
    assert_eq!(expired.status(), 403);
    assert!(expired.text().unwrap().contains("Request has expired"));
}

#[test]
fn the_store_stops_with_the_sandbox() {
    let sb = common::sandbox(STORE);
    let url = presigned(&sb, "/job/app/1/artifact/dist/app.bin");
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(std::net::TcpStream::connect(&authority).is_ok());
    drop(sb);
    assert!(std::net::TcpStream::connect(&authority).is_err());
}

#[test]
fn wfapi_lists_a_pipeline_jobs_last_ten_runs_newest_first() {
    let history: String = (1..=12)
        .map(|i| format!("      - {{ display_name: 'build {i}', stages: [{{ name: S }}] }}\n"))
        .collect();
    let sb = common::sandbox(&format!(
        "jobs:\n  - path: p\n    kind: pipeline\n    history:\n{history}  - path: f\n"
    ));
    let c = client();
    let job = get_json(&c, &sb, "/job/p/wfapi/describe");
    assert_eq!(
        job,
        json!({"_links": {"self": {"href": "/job/p/wfapi/describe"}, "runs": {"href": "/job/p/wfapi/runs"}}, "name": "p", "runCount": 10})
    );
    let runs = get_json(&c, &sb, "/job/p/wfapi/runs");
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["12", "11", "10", "9", "8", "7", "6", "5", "4", "3"]);
    let since = get_json(&c, &sb, "/job/p/wfapi/runs?since=build%2010");
    assert_eq!(since.as_array().unwrap().len(), 3);
    // `since` matches display names, so a number matches nothing and changes nothing.
    assert_eq!(
        get_json(&c, &sb, "/job/p/wfapi/runs?since=10")
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(get(&c, &sb, "/job/f/wfapi/describe").status(), 404);
    assert_eq!(get(&c, &sb, "/job/f/wfapi/runs").status(), 404);
}

#[test]
fn wfapi_lists_artifacts_with_encoded_paths() {
    let sb = common::sandbox(
        "jobs:\n  - path: p\n    kind: pipeline\n    history:\n      - artifacts: [{ path: 'a b/c.txt', content: xyz }]\n",
    );
    let c = client();
    let run = get_json(&c, &sb, "/job/p/1/wfapi/describe");
    assert_eq!(
        run["_links"]["artifacts"]["href"],
        "/job/p/1/wfapi/artifacts"
    );
    let artifacts = get_json(&c, &sb, "/job/p/1/wfapi/artifacts");
    assert_eq!(
        artifacts,
        json!([{"id": "n1", "name": "c.txt", "path": "a%20b/c.txt", "url": "/job/p/1/artifact/a%20b/c.txt", "size": 3}])
    );
}

#[test]
fn plain_lists_a_directory_and_view_shows_a_file_as_text() {
    let sb = common::sandbox(OUTPUTS);
    let c = client();
    let plain = get(&c, &sb, "/job/app/1/artifact/*plain*");
    assert_eq!(plain.status(), 200);
    assert_eq!(
        header(&plain, "content-type"),
        Some("text/plain;charset=UTF-8")
    );
    assert_eq!(
        plain.text().unwrap(),
        "a.txt\ndist/\nmy dir/\nother/\nout/\n"
    );
    assert_eq!(
        get(&c, &sb, "/job/app/1/artifact/out/*plain*")
            .text()
            .unwrap(),
        "build-info.json\n"
    );
    let view = get(&c, &sb, "/job/app/1/artifact/out/build-info.json/*view*/");
    assert_eq!(view.status(), 200);
    assert_eq!(
        header(&view, "content-type"),
        Some("text/plain;charset=UTF-8")
    );
    assert_eq!(
        header(&view, "content-disposition"),
        Some("inline; filename=build-info.json")
    );
    assert_eq!(view.text().unwrap(), "{\"version\": \"1.2.3\"}");
    assert_eq!(
        get(&c, &sb, "/job/app/1/artifact/a.txt/*plain*").status(),
        404
    );
    assert_eq!(
        get(&c, &sb, "/job/app/1/artifact/nope/*plain*").status(),
        404
    );
}

#[test]
fn missing_plugins_answer_404_and_leave_no_action_behind() {
    let tests =
        "\n        tests: { passed: 3, cases: [{ class: a.B, name: c, status: FAILED }] }\n";
    let with_tests = PIPELINE.replace(
        "        log: [\"compiling\"]\n",
        &format!("        log: [\"compiling\"]{tests}"),
    );
    let installed = common::sandbox(&with_tests);
    let missing = common::sandbox(&format!(
        "missing_plugins: [pipeline-rest-api, junit]\n{with_tests}"
    ));
    let c = client();
    for path in [
        "/job/app/wfapi/runs",
        "/job/app/1/wfapi/describe",
        "/job/app/1/execution/node/6/wfapi/describe",
        "/job/app/1/testReport/api/json",
    ] {
        assert_eq!(get(&c, &installed, path).status(), 200, "{path}");
        assert_eq!(get(&c, &missing, path).status(), 404, "{path}");
    }
    let classes = |sb: &Sandbox| -> Vec<String> {
        get_json(&c, sb, "/job/app/1/api/json?tree=actions[_class]")["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["_class"].as_str().map(str::to_string))
            .collect()
    };
    let junit = "hudson.tasks.junit.TestResultAction".to_string();
    assert!(classes(&installed).contains(&junit));
    assert!(!classes(&missing).contains(&junit));
    // The console still tells the stages, as Jenkins' own log does without the stage view.
    let text = get(&c, &missing, "/job/app/1/consoleText").text().unwrap();
    assert!(text.contains("FooTest > bar FAILED"), "{text}");
}

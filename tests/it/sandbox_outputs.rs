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

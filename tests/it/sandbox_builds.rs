//! The sandbox's runs, jobs, `tree=`/`depth=` filtering, stop/term/kill and console logs,
//! pinned to what a real Jenkins controller answers (research doc §4 and §5.4).

use crate::common;

use std::time::Duration;

use common::{
    build_number_of, client, control, finished_build, get, get_json, json, post, queue_id, wait_for,
};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use jrun::sandbox::Sandbox;

/// `Run`'s exported properties, then `AbstractBuild`'s (superclass first, alphabetical).
const FREESTYLE_BUILD_KEYS: [&str; 21] = [
    "_class",
    "actions",
    "artifacts",
    "building",
    "description",
    "displayName",
    "duration",
    "estimatedDuration",
    "executor",
    "fullDisplayName",
    "id",
    "inProgress",
    "keepLog",
    "number",
    "queueId",
    "result",
    "timestamp",
    "url",
    "builtOn",
    "changeSet",
    "culprits",
];

const PIPELINE_RUN_KEYS: [&str; 22] = [
    "_class",
    "actions",
    "artifacts",
    "building",
    "description",
    "displayName",
    "duration",
    "estimatedDuration",
    "executor",
    "fullDisplayName",
    "id",
    "inProgress",
    "keepLog",
    "number",
    "queueId",
    "result",
    "timestamp",
    "url",
    "changeSets",
    "culprits",
    "nextBuild",
    "previousBuild",
];

/// `Actionable`, `AbstractItem`, `Job`, then `AbstractProject`'s properties.
const FREESTYLE_JOB_KEYS: [&str; 32] = [
    "_class",
    "actions",
    "description",
    "displayName",
    "displayNameOrNull",
    "fullDisplayName",
    "fullName",
    "name",
    "url",
    "buildable",
    "builds",
    "color",
    "firstBuild",
    "healthReport",
    "inQueue",
    "keepDependencies",
    "lastBuild",
    "lastCompletedBuild",
    "lastFailedBuild",
    "lastStableBuild",
    "lastSuccessfulBuild",
    "lastUnstableBuild",
    "lastUnsuccessfulBuild",
    "nextBuildNumber",
    "property",
    "queueItem",
    "concurrentBuild",
    "disabled",
    "downstreamProjects",
    "labelExpression",
    "scm",
    "upstreamProjects",
];

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}

/// Triggers `POST {job}build` and waits for the build it became.
fn start(c: &Client, sb: &Sandbox, job: &str) -> u64 {
    let response = post(c, sb, &format!("{job}build"));
    assert_eq!(response.status(), 201, "POST {job}build");
    build_number_of(c, sb, queue_id(&response))
}

/// Starts a build and waits for it to finish, returning its JSON.
fn run_to_end(c: &Client, sb: &Sandbox, job: &str) -> Value {
    let number = start(c, sb, job);
    finished_build(c, sb, job, number)
}

/// Makes sandbox time fly so that long builds end within milliseconds.
fn fast_forward(sb: &Sandbox) {
    let answer = control(sb, "POST", "clock", json!({"speed": 1_000_000.0}));
    assert_eq!(answer["speed"], 1_000_000.0);
}

fn status_of(c: &Client, sb: &Sandbox, path: &str) -> u16 {
    get(c, sb, path).status().as_u16()
}

/// Reads `progressiveText` from `start`: (X-Text-Size, X-More-Data, body).
fn progressive(c: &Client, sb: &Sandbox, build: &str, start: &str) -> (usize, bool, String) {
    let response = get(
        c,
        sb,
        &format!("{build}logText/progressiveText?start={start}"),
    );
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/plain;charset=utf-8")
    );
    let size = header(&response, "x-text-size")
        .expect("X-Text-Size")
        .parse()
        .expect("numeric X-Text-Size");
    let more = match header(&response, "x-more-data").as_deref() {
        None => false,
        Some("true") => true,
        Some(other) => panic!("X-More-Data: {other}"),
    };
    (size, more, response.text().expect("body"))
}

fn console_text(c: &Client, sb: &Sandbox, build: &str) -> String {
    let response = get(c, sb, &format!("{build}consoleText"));
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/plain;charset=utf-8")
    );
    response.text().expect("body")
}

/// True when every line break is CRLF.
fn only_crlf(text: &str) -> bool {
    !text.replace("\r\n", "").contains('\n')
}

// ---- run JSON ----

#[test]
fn a_running_freestyle_build_has_jenkins_keys_no_result_and_no_duration() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: app\n    parameters: [{name: TARGET, default: dev}]\n    builds: [{duration: 1h, result: UNSTABLE}]\n",
    );
    let c = client();
    let response = post(&c, &sb, "/job/app/buildWithParameters?TARGET=prod");
    assert_eq!(response.status(), 201);
    let qid = queue_id(&response);
    assert_eq!(build_number_of(&c, &sb, qid), 1);

    let b = get_json(&c, &sb, "/job/app/1/api/json");
    assert_eq!(keys(&b), FREESTYLE_BUILD_KEYS);
    assert_eq!(b["_class"], "hudson.model.FreeStyleBuild");
    assert_eq!(b["building"], true);
    assert_eq!(b["inProgress"], true);
    assert_eq!(b["result"], Value::Null);
    assert_eq!(b["duration"], 0);
    assert_eq!(b["estimatedDuration"], -1);
    assert_eq!(b["executor"], json!({"_class": "hudson.model.Executor"}));
    assert_eq!(b["number"], 1);
    assert_eq!(b["id"], "1");
    assert_eq!(b["displayName"], "#1");
    assert_eq!(b["fullDisplayName"], "app #1");
    assert_eq!(b["queueId"], qid);
    assert_eq!(b["url"], format!("{}/job/app/1/", sb.url()));
    assert_eq!(b["keepLog"], false);
    assert_eq!(b["description"], Value::Null);
    assert_eq!(b["artifacts"], json!([]));
    assert_eq!(b["builtOn"], "");
    assert_eq!(
        b["changeSet"],
        json!({"_class": "hudson.scm.EmptyChangeLogSet", "items": [], "kind": null})
    );
    assert_eq!(b["culprits"], json!([]));

    let actions = b["actions"].as_array().expect("actions");
    assert_eq!(
        actions[0],
        json!({"_class": "hudson.model.ParametersAction", "parameters": [
            {"_class": "hudson.model.StringParameterValue", "name": "TARGET", "value": "prod"}
        ]})
    );
    assert_eq!(
        actions[1],
        json!({"_class": "hudson.model.CauseAction", "causes": [{
            "_class": "hudson.model.Cause$UserIdCause",
            "shortDescription": "Started by user alice",
            "userId": "alice",
            "userName": "alice",
        }]})
    );
    // Actions the caller cannot see are empty objects, never left out.
    assert!(actions.len() >= 3, "{actions:?}");
    assert!(actions[2..].iter().all(|a| *a == json!({})), "{actions:?}");
}

#[test]
fn a_finished_freestyle_build_shows_its_scripted_result_and_exact_duration() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: app\n    builds: [{duration: 1h, result: UNSTABLE}]\n",
    );
    let c = client();
    let number = start(&c, &sb, "/job/app/");
    let running = get_json(&c, &sb, "/job/app/1/api/json");
    assert_eq!(running["building"], true);
    fast_forward(&sb);

    let done = finished_build(&c, &sb, "/job/app/", number);
    assert_eq!(keys(&done), FREESTYLE_BUILD_KEYS);
    assert_eq!(done["_class"], "hudson.model.FreeStyleBuild");
    assert_eq!(done["building"], false);
    assert_eq!(done["inProgress"], false);
    assert_eq!(done["result"], "UNSTABLE");
    assert_eq!(done["duration"], 3_600_000);
    assert_eq!(done["executor"], Value::Null);
    // Its own finished build is now the job's only estimate candidate.
    assert_eq!(done["estimatedDuration"], 3_600_000);
    assert_eq!(done["timestamp"], running["timestamp"]);
    assert_eq!(done["url"], format!("{}/job/app/1/", sb.url()));
}

#[test]
fn a_build_timestamp_is_when_it_left_the_queue_not_when_it_was_triggered() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: late\n    quiet_period: 20s\n    builds: [{duration: 5s}]\n",
    );
    let c = client();
    let response = post(&c, &sb, "/job/late/build");
    assert_eq!(response.status(), 201);
    let qid = queue_id(&response);
    let waiting = get_json(&c, &sb, &format!("/queue/item/{qid}/api/json"));
    assert_eq!(waiting["_class"], "hudson.model.Queue$WaitingItem");
    let since = waiting["inQueueSince"].as_i64().expect("inQueueSince");

    let number = build_number_of(&c, &sb, qid);
    let build = finished_build(&c, &sb, "/job/late/", number);
    let timestamp = build["timestamp"].as_i64().expect("timestamp");
    assert!(
        (since + 20_000..since + 21_000).contains(&timestamp),
        "timestamp {timestamp} should be the end of the 20 s quiet period after {since}"
    );
    assert_eq!(build["duration"], 5_000);
    assert_eq!(build["queueId"], qid);
}

#[test]
fn a_running_pipeline_has_a_one_off_executor_and_links_to_its_neighbours() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: pipe\n    kind: pipeline\n    history: [{duration: 2s}]\n    builds: [{duration: 1h}]\n",
    );
    let c = client();
    let job = get_json(&c, &sb, "/job/pipe/api/json");
    assert_eq!(
        job["_class"],
        "org.jenkinsci.plugins.workflow.job.WorkflowJob"
    );
    assert_eq!(job["concurrentBuild"], true);
    assert_eq!(job["resumeBlocked"], false);

    assert_eq!(start(&c, &sb, "/job/pipe/"), 2);
    let run = get_json(&c, &sb, "/job/pipe/2/api/json");
    assert_eq!(keys(&run), PIPELINE_RUN_KEYS);
    assert_eq!(
        run["_class"],
        "org.jenkinsci.plugins.workflow.job.WorkflowRun"
    );
    assert_eq!(run["building"], true);
    assert_eq!(run["result"], Value::Null);
    assert_eq!(
        run["executor"],
        json!({"_class": "hudson.model.OneOffExecutor"})
    );
    assert_eq!(run["estimatedDuration"], 2_000);
    assert_eq!(run["changeSets"], json!([]));
    assert_eq!(run["nextBuild"], Value::Null);
    assert_eq!(
        run["previousBuild"],
        json!({"number": 1, "url": format!("{}/job/pipe/1/", sb.url())})
    );
    let first = get_json(&c, &sb, "/job/pipe/1/api/json");
    assert_eq!(first["executor"], Value::Null);
    assert_eq!(first["previousBuild"], Value::Null);
    assert_eq!(
        first["nextBuild"],
        json!({"number": 2, "url": format!("{}/job/pipe/2/", sb.url())})
    );

    fast_forward(&sb);
    let done = finished_build(&c, &sb, "/job/pipe/", 2);
    assert_eq!(done["executor"], Value::Null);
    assert_eq!(done["result"], "SUCCESS");
    assert_eq!(done["duration"], 3_600_000);
}

#[test]
fn post_build_shows_the_result_while_still_building_then_finishes() {
    // 20 s at speed 20 is one real second, half of it in post-build.
    let sb = common::sandbox(
        "speed: 20\nquiet_period: 0s\njobs:\n  - path: pb\n    builds: [{duration: 20s, post_build: 10s, result: UNSTABLE}]\n",
    );
    let c = client();
    let number = start(&c, &sb, "/job/pb/");
    let early = get_json(&c, &sb, "/job/pb/1/api/json");
    assert_eq!(
        (early["building"].clone(), early["result"].clone()),
        (json!(true), Value::Null)
    );

    let post_build = wait_for(Duration::from_secs(5), "the post-build window", || {
        let b = get_json(&c, &sb, "/job/pb/1/api/json");
        (!b["result"].is_null()).then_some(b)
    });
    assert_eq!(post_build["building"], true);
    assert_eq!(post_build["inProgress"], true);
    assert_eq!(post_build["result"], "UNSTABLE");
    assert_eq!(post_build["duration"], 0);
    let (_, more, _) = progressive(&c, &sb, "/job/pb/1/", "0");
    assert!(more, "the log is still open during post-build");

    let done = finished_build(&c, &sb, "/job/pb/", number);
    assert_eq!(done["building"], false);
    assert_eq!(done["result"], "UNSTABLE");
    assert_eq!(done["duration"], 20_000);
}

#[test]
fn a_build_script_plays_in_order_and_its_last_entry_repeats() {
    let sb = common::sandbox(
        "speed: 1000\nquiet_period: 0s\njobs:\n  - path: flaky\n    builds: [{result: FAILURE, duration: 3s}, {result: SUCCESS, duration: 4s}]\n",
    );
    let c = client();
    let played: Vec<(Value, Value)> = (0..4)
        .map(|_| {
            let b = run_to_end(&c, &sb, "/job/flaky/");
            (b["result"].clone(), b["duration"].clone())
        })
        .collect();
    assert_eq!(
        played,
        vec![
            (json!("FAILURE"), json!(3_000)),
            (json!("SUCCESS"), json!(4_000)),
            (json!("SUCCESS"), json!(4_000)),
            (json!("SUCCESS"), json!(4_000)),
        ]
    );
    let job = get_json(&c, &sb, "/job/flaky/api/json");
    assert_eq!(job["nextBuildNumber"], 5);
}

#[test]
fn estimated_duration_is_minus_one_until_a_build_finishes_unless_configured() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: fresh\n    builds: [{duration: 30s}]\n  - path: guessed\n    estimated_duration: 45s\n    builds: [{duration: 10s}]\n",
    );
    let c = client();
    start(&c, &sb, "/job/fresh/");
    assert_eq!(
        get_json(&c, &sb, "/job/fresh/1/api/json")["estimatedDuration"],
        -1
    );
    let done = finished_build(&c, &sb, "/job/fresh/", 1);
    assert_eq!(done["estimatedDuration"], 30_000);

    start(&c, &sb, "/job/guessed/");
    assert_eq!(
        get_json(&c, &sb, "/job/guessed/1/api/json")["estimatedDuration"],
        45_000
    );
    // Once there is a real build, the configured guess gives way to it.
    let done = finished_build(&c, &sb, "/job/guessed/", 1);
    assert_eq!(done["estimatedDuration"], 10_000);
}

#[test]
fn estimated_duration_is_the_rounded_mean_of_recent_successful_builds() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: mixed\n    history: [{duration: 1s}, {duration: 2s}, {duration: 2s}, {duration: 9s, result: FAILURE}]\n  - path: failing\n    history: [{duration: 3s, result: FAILURE}, {duration: 7s, result: ABORTED}]\n  - path: instant\n    history: [{duration: 0s}]\n",
    );
    let c = client();
    // The newest failure is passed over for the three successes: 5000 / 3 rounds to 1667.
    let mixed = get_json(&c, &sb, "/job/mixed/lastBuild/api/json");
    assert_eq!(mixed["number"], 4);
    assert_eq!(mixed["result"], "FAILURE");
    assert_eq!(mixed["estimatedDuration"], 1_667);
    // Failures fill in when there is no success; aborted builds never count.
    let failing = get_json(&c, &sb, "/job/failing/lastBuild/api/json");
    assert_eq!(failing["estimatedDuration"], 3_000);
    // Builds that took no time give no estimate at all.
    let instant = get_json(&c, &sb, "/job/instant/lastBuild/api/json");
    assert_eq!(instant["estimatedDuration"], -1);
}

#[test]
fn history_seeds_finished_builds_before_the_first_trigger() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: old\n    history: [{duration: 5s, result: FAILURE}, {duration: 6s}]\n",
    );
    let c = client();
    let job = get_json(&c, &sb, "/job/old/api/json");
    assert_eq!(job["nextBuildNumber"], 3);
    let numbers: Vec<&Value> = job["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["number"])
        .collect();
    assert_eq!(numbers, [&json!(2), &json!(1)]);
    let first = get_json(&c, &sb, "/job/old/1/api/json");
    let second = get_json(&c, &sb, "/job/old/2/api/json");
    assert_eq!(
        (&first["result"], &first["duration"], &first["building"]),
        (&json!("FAILURE"), &json!(5_000), &json!(false))
    );
    assert_eq!(
        (&second["result"], &second["duration"], &second["building"]),
        (&json!("SUCCESS"), &json!(6_000), &json!(false))
    );
    assert!(first["timestamp"].as_i64() < second["timestamp"].as_i64());
    // The next trigger continues the numbering.
    assert_eq!(start(&c, &sb, "/job/old/"), 3);
}

// ---- permalinks ----

#[test]
fn permalinks_are_404_before_the_first_build_while_the_job_shows_null() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: fresh\n    builds: [{duration: 1h}]\n",
    );
    let c = client();
    for link in [
        "lastBuild",
        "lastCompletedBuild",
        "lastSuccessfulBuild",
        "lastFailedBuild",
        "lastStableBuild",
        "lastUnstableBuild",
        "lastUnsuccessfulBuild",
    ] {
        assert_eq!(
            status_of(&c, &sb, &format!("/job/fresh/{link}/api/json")),
            404,
            "{link}"
        );
    }
    let job = get_json(&c, &sb, "/job/fresh/api/json");
    assert_eq!(job["lastBuild"], Value::Null);
    assert_eq!(job["firstBuild"], Value::Null);
    assert_eq!(job["lastCompletedBuild"], Value::Null);
    assert_eq!(job["builds"], json!([]));
    assert_eq!(job["nextBuildNumber"], 1);
    assert_eq!(status_of(&c, &sb, "/job/fresh/1/api/json"), 404);

    start(&c, &sb, "/job/fresh/");
    let last = get_json(&c, &sb, "/job/fresh/lastBuild/api/json");
    assert_eq!(
        (&last["number"], &last["building"]),
        (&json!(1), &json!(true))
    );
    // A running build is not completed.
    assert_eq!(
        status_of(&c, &sb, "/job/fresh/lastCompletedBuild/api/json"),
        404
    );
}

#[test]
fn permalinks_resolve_to_the_newest_matching_build() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: p\n    history: [{result: SUCCESS}, {result: FAILURE}, {result: UNSTABLE}]\n    builds: [{duration: 1h}]\n",
    );
    let c = client();
    assert_eq!(start(&c, &sb, "/job/p/"), 4);
    let expected = [
        ("lastBuild", 4),
        ("lastCompletedBuild", 3),
        // UNSTABLE counts as successful but not as stable.
        ("lastSuccessfulBuild", 3),
        ("lastStableBuild", 1),
        ("lastFailedBuild", 2),
        ("lastUnstableBuild", 3),
        ("lastUnsuccessfulBuild", 3),
    ];
    for (link, number) in expected {
        let b = get_json(&c, &sb, &format!("/job/p/{link}/api/json"));
        assert_eq!(b["number"], number, "{link}");
        assert_eq!(b["url"], format!("{}/job/p/{number}/", sb.url()), "{link}");
    }
    let job = get_json(&c, &sb, "/job/p/api/json");
    for (link, number) in expected {
        assert_eq!(
            job[link],
            json!({"_class": "hudson.model.FreeStyleBuild", "number": number, "url": format!("{}/job/p/{number}/", sb.url())}),
            "{link}"
        );
    }
    assert_eq!(status_of(&c, &sb, "/job/p/5/api/json"), 404);
    assert_eq!(status_of(&c, &sb, "/job/p/0/api/json"), 404);
    assert_eq!(status_of(&c, &sb, "/job/p/lastGreatBuild/api/json"), 404);
    assert_eq!(status_of(&c, &sb, "/job/nope/1/api/json"), 404);
}

// ---- job, folder and root JSON ----

#[test]
fn job_json_lists_parameter_definitions_under_property() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: params\n    parameters:\n      - {name: S, default: def, description: a string}\n      - {name: B, type: boolean, default: true}\n      - {name: C, type: choice, choices: [EU, CL, CO]}\n",
    );
    let c = client();
    let job = get_json(&c, &sb, "/job/params/api/json");
    assert_eq!(keys(&job), FREESTYLE_JOB_KEYS);
    assert_eq!(job["_class"], "hudson.model.FreeStyleProject");
    assert_eq!(
        job["property"],
        json!([{
            "_class": "hudson.model.ParametersDefinitionProperty",
            "parameterDefinitions": [
                {
                    "_class": "hudson.model.StringParameterDefinition",
                    "defaultParameterValue": {"_class": "hudson.model.StringParameterValue", "name": "S", "value": "def"},
                    "description": "a string",
                    "name": "S",
                    "type": "StringParameterDefinition",
                },
                {
                    "_class": "hudson.model.BooleanParameterDefinition",
                    "defaultParameterValue": {"_class": "hudson.model.BooleanParameterValue", "name": "B", "value": true},
                    "description": "",
                    "name": "B",
                    "type": "BooleanParameterDefinition",
                },
                {
                    "_class": "hudson.model.ChoiceParameterDefinition",
                    "defaultParameterValue": {"_class": "hudson.model.StringParameterValue", "name": "C", "value": "EU"},
                    "description": "",
                    "name": "C",
                    "type": "ChoiceParameterDefinition",
                    "choices": ["EU", "CL", "CO"],
                },
            ],
        }])
    );
    let plain = common::sandbox("jobs: [{path: plain}]\n");
    assert_eq!(
        get_json(&c, &plain, "/job/plain/api/json")["property"],
        json!([])
    );
}

#[test]
fn job_json_shows_its_queue_item_while_one_waits() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: slow\n    quiet_period: 1h\n",
    );
    let c = client();
    let job = get_json(&c, &sb, "/job/slow/api/json");
    assert_eq!(
        (&job["inQueue"], &job["queueItem"]),
        (&json!(false), &Value::Null)
    );

    let response = post(&c, &sb, "/job/slow/build");
    assert_eq!(response.status(), 201);
    let qid = queue_id(&response);
    let job = get_json(&c, &sb, "/job/slow/api/json");
    assert_eq!(job["inQueue"], true);
    assert_eq!(job["queueItem"]["_class"], "hudson.model.Queue$WaitingItem");
    assert_eq!(job["queueItem"]["id"], qid);
    assert_eq!(job["queueItem"]["url"], format!("queue/item/{qid}/"));
    // Queueing uses up no build number.
    assert_eq!(job["nextBuildNumber"], 1);
    assert_eq!(job["builds"], json!([]));

    let cancel = post(&c, &sb, &format!("/queue/cancelItem?id={qid}"));
    assert_eq!(cancel.status(), 204);
    let job = get_json(&c, &sb, "/job/slow/api/json");
    assert_eq!(
        (&job["inQueue"], &job["queueItem"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(job["nextBuildNumber"], 1);
}

#[test]
fn job_builds_are_newest_first_stubs_at_depth_0_and_whole_at_depth_1() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: h\n    history: [{result: FAILURE}, {}, {result: UNSTABLE}]\n",
    );
    let c = client();
    let url = |n: u32| format!("{}/job/h/{n}/", sb.url());
    let job = get_json(&c, &sb, "/job/h/api/json");
    assert_eq!(
        job["builds"],
        json!([
            {"_class": "hudson.model.FreeStyleBuild", "number": 3, "url": url(3)},
            {"_class": "hudson.model.FreeStyleBuild", "number": 2, "url": url(2)},
            {"_class": "hudson.model.FreeStyleBuild", "number": 1, "url": url(1)},
        ])
    );
    assert_eq!(
        job["firstBuild"],
        json!({"_class": "hudson.model.FreeStyleBuild", "number": 1, "url": url(1)})
    );
    assert!(job.get("allBuilds").is_none(), "allBuilds only when asked");

    let deep = get_json(&c, &sb, "/job/h/api/json?depth=1");
    let builds = deep["builds"].as_array().expect("builds");
    assert_eq!(builds.len(), 3);
    for (b, (number, result)) in
        builds
            .iter()
            .zip([(3, "UNSTABLE"), (2, "SUCCESS"), (1, "FAILURE")])
    {
        assert_eq!(keys(b), FREESTYLE_BUILD_KEYS);
        assert_eq!(
            (&b["number"], &b["result"]),
            (&json!(number), &json!(result))
        );
    }
    assert_eq!(deep["lastBuild"]["result"], "UNSTABLE");
    assert!(deep.get("allBuilds").is_none());
}

#[test]
fn builds_holds_the_newest_100_while_all_builds_holds_every_one_when_asked() {
    let history = vec!["{duration: 1s}"; 102].join(", ");
    let sb = common::sandbox(&format!(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: long\n    history: [{history}]\n"
    ));
    let c = client();
    let job = get_json(&c, &sb, "/job/long/api/json");
    let builds = job["builds"].as_array().expect("builds");
    assert_eq!(builds.len(), 100);
    assert_eq!(
        (&builds[0]["number"], &builds[99]["number"]),
        (&json!(102), &json!(3))
    );

    let all = get_json(&c, &sb, "/job/long/api/json?tree=allBuilds[number]");
    assert_eq!(keys(&all), ["_class", "allBuilds"]);
    let numbers: Vec<u64> = all["allBuilds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=102).rev().collect::<Vec<u64>>());
    assert_eq!(all["allBuilds"][0]["_class"], "hudson.model.FreeStyleBuild");
}

#[test]
fn job_color_follows_the_last_finished_result_and_animates_while_building() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: never\n  - path: first\n    builds: [{duration: 1h}]\n  - path: fails\n    history: [{result: FAILURE}]\n    builds: [{duration: 1h}]\n  - path: passes\n    history: [{}]\n  - path: wobbly\n    history: [{result: UNSTABLE}]\n  - path: stopped\n    history: [{result: ABORTED}]\n  - path: off\n    disabled: true\n    history: [{}]\n",
    );
    let c = client();
    let color = |name: &str| get_json(&c, &sb, &format!("/job/{name}/api/json"))["color"].clone();
    assert_eq!(color("never"), "notbuilt");
    assert_eq!(color("fails"), "red");
    assert_eq!(color("passes"), "blue");
    assert_eq!(color("wobbly"), "yellow");
    assert_eq!(color("stopped"), "aborted");
    assert_eq!(color("off"), "disabled");

    start(&c, &sb, "/job/first/");
    start(&c, &sb, "/job/fails/");
    assert_eq!(color("first"), "notbuilt_anime");
    assert_eq!(color("fails"), "red_anime");
    fast_forward(&sb);
    finished_build(&c, &sb, "/job/fails/", 2);
    assert_eq!(color("fails"), "blue");

    let off = get_json(&c, &sb, "/job/off/api/json");
    assert_eq!(
        (&off["disabled"], &off["buildable"]),
        (&json!(true), &json!(false))
    );
    let on = get_json(&c, &sb, "/job/passes/api/json");
    assert_eq!(
        (&on["disabled"], &on["buildable"]),
        (&json!(false), &json!(true))
    );
}

#[test]
fn concurrent_build_defaults_to_false_for_freestyle_and_follows_the_config() {
    let sb = common::sandbox(
        "jobs:\n  - path: serial\n  - path: parallel\n    concurrent: true\n  - path: pipe\n    kind: pipeline\n  - path: serial pipe\n    kind: pipeline\n    concurrent: false\n",
    );
    let c = client();
    let concurrent =
        |path: &str| get_json(&c, &sb, &format!("/job/{path}/api/json"))["concurrentBuild"].clone();
    assert_eq!(concurrent("serial"), false);
    assert_eq!(concurrent("parallel"), true);
    assert_eq!(concurrent("pipe"), true);
    assert_eq!(concurrent("serial%20pipe"), false);
}

#[test]
fn folders_list_their_jobs_and_the_root_lists_top_level_items() {
    let sb = common::sandbox(
        "jobs:\n  - path: Zeta\n  - path: alpha\n    history: [{}]\n  - path: team a/svc é\n    kind: pipeline\n  - path: team a/inner/deep\n",
    );
    let c = client();
    let base = sb.url();
    let root = get_json(&c, &sb, "/api/json");
    assert_eq!(root["_class"], "hudson.model.Hudson");
    assert_eq!(root["url"], format!("{base}/"));
    // Items sort case-insensitively, folders among jobs.
    assert_eq!(
        root["jobs"],
        json!([
            {"_class": "hudson.model.FreeStyleProject", "name": "alpha", "url": format!("{base}/job/alpha/"), "color": "blue"},
            {"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "team a", "url": format!("{base}/job/team%20a/")},
            {"_class": "hudson.model.FreeStyleProject", "name": "Zeta", "url": format!("{base}/job/Zeta/"), "color": "notbuilt"},
        ])
    );

    let folder = get_json(&c, &sb, "/job/team%20a/api/json");
    assert_eq!(
        folder["_class"],
        "com.cloudbees.hudson.plugins.folder.Folder"
    );
    assert_eq!(folder["name"], "team a");
    assert_eq!(folder["fullName"], "team a");
    assert_eq!(folder["url"], format!("{base}/job/team%20a/"));
    assert_eq!(
        folder["jobs"],
        json!([
            {"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "inner", "url": format!("{base}/job/team%20a/job/inner/")},
            {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "svc é", "url": format!("{base}/job/team%20a/job/svc%20%C3%A9/"), "color": "notbuilt"},
        ])
    );
    let inner = get_json(&c, &sb, "/job/team%20a/job/inner/api/json");
    assert_eq!(inner["fullName"], "team a/inner");
    assert_eq!(inner["jobs"][0]["name"], "deep");
}

// ---- tree= and depth= ----

#[test]
fn a_tree_range_returns_exactly_the_newest_builds_with_only_the_named_fields() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: r\n    history: [{}, {result: FAILURE}, {}, {result: UNSTABLE}]\n",
    );
    let c = client();
    let queue_ids: Vec<Value> = (1..=4)
        .map(|n| get_json(&c, &sb, &format!("/job/r/{n}/api/json"))["queueId"].clone())
        .collect();
    let pruned = get_json(
        &c,
        &sb,
        "/job/r/api/json?tree=builds[number,queueId,result]{0,2}",
    );
    assert_eq!(
        pruned,
        json!({
            "_class": "hudson.model.FreeStyleProject",
            "builds": [
                {"_class": "hudson.model.FreeStyleBuild", "number": 4, "queueId": queue_ids[3], "result": "UNSTABLE"},
                {"_class": "hudson.model.FreeStyleBuild", "number": 3, "queueId": queue_ids[2], "result": "SUCCESS"},
            ],
        })
    );
    let skipped = get_json(&c, &sb, "/job/r/api/json?tree=builds[number]{1,}");
    let numbers: Vec<&Value> = skipped["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["number"])
        .collect();
    assert_eq!(numbers, [&json!(3), &json!(2), &json!(1)]);
}

#[test]
fn a_nested_tree_reaches_build_parameters_through_actions() {
    let sb = common::sandbox(
        "speed: 1000\nquiet_period: 0s\njobs:\n  - path: pp\n    parameters: [{name: ENV}, {name: DRY, type: boolean}]\n",
    );
    let c = client();
    let response = post(&c, &sb, "/job/pp/buildWithParameters?ENV=prod&DRY=true");
    assert_eq!(response.status(), 201);
    let number = build_number_of(&c, &sb, queue_id(&response));
    finished_build(&c, &sb, "/job/pp/", number);

    let pruned = get_json(
        &c,
        &sb,
        "/job/pp/api/json?tree=builds[actions[parameters[name,value]]]",
    );
    let actions = pruned["builds"][0]["actions"].as_array().expect("actions");
    assert_eq!(
        actions[0],
        json!({"_class": "hudson.model.ParametersAction", "parameters": [
            {"_class": "hudson.model.StringParameterValue", "name": "ENV", "value": "prod"},
            {"_class": "hudson.model.BooleanParameterValue", "name": "DRY", "value": true},
        ]})
    );
    // Other actions keep nothing but their class.
    assert_eq!(actions[1], json!({"_class": "hudson.model.CauseAction"}));
    assert!(actions[2..].iter().all(|a| *a == json!({})), "{actions:?}");
    assert_eq!(keys(&pruned["builds"][0]), ["_class", "actions"]);
}

#[test]
fn a_tree_keeps_class_and_silently_omits_unknown_names() {
    let sb =
        common::sandbox("speed: 1000\nquiet_period: 0s\njobs:\n  - path: t\n    history: [{}]\n");
    let c = client();
    let job = get_json(
        &c,
        &sb,
        "/job/t/api/json?tree=name,noSuchField,builds[nope],lastBuild[number,bogus]",
    );
    assert_eq!(
        job,
        json!({
            "_class": "hudson.model.FreeStyleProject",
            "name": "t",
            "builds": [{"_class": "hudson.model.FreeStyleBuild"}],
            "lastBuild": {"_class": "hudson.model.FreeStyleBuild", "number": 1},
        })
    );
    let build = get_json(&c, &sb, "/job/t/1/api/json?tree=unknown");
    assert_eq!(build, json!({"_class": "hudson.model.FreeStyleBuild"}));
}

#[test]
fn a_malformed_tree_or_depth_is_a_500_page_not_a_crash() {
    let sb =
        common::sandbox("speed: 1000\nquiet_period: 0s\njobs:\n  - path: m\n    history: [{}]\n");
    let c = client();
    for path in [
        "/job/m/api/json?tree=builds[number",
        "/job/m/api/json?tree=builds{x}",
        "/job/m/api/json?tree=,",
        "/job/m/1/api/json?tree=result]",
        "/job/m/api/json?depth=x",
        "/job/m/1/api/json?depth=x",
        "/api/json?depth=deep",
        "/job/m/1/api/python?depth=x",
    ] {
        let response = get(&c, &sb, path);
        assert_eq!(response.status(), 500, "{path}");
        assert!(
            header(&response, "content-type")
                .unwrap_or_default()
                .starts_with("text/html"),
            "{path}: an error page, not JSON"
        );
    }
    // Stapler only reads depth when there is no tree; a negative depth is a number.
    assert_eq!(
        get_json(&c, &sb, "/job/m/api/json?depth=x&tree=name"),
        json!({"_class": "hudson.model.FreeStyleProject", "name": "m"})
    );
    assert_eq!(status_of(&c, &sb, "/job/m/api/json?depth=-1"), 200);
    // And the sandbox is still there.
    assert_eq!(get_json(&c, &sb, "/job/m/1/api/json")["result"], "SUCCESS");
}

/// What jenkinsflow polls the root with: every job's last build and queue item, the same one
/// folder down.
const JOBS_STATUS_TREE: &str = "jobs[name,lastBuild[number,result,building],queueItem[why],jobs[name,lastBuild[number,result,building],queueItem[why]]]";

#[test]
fn a_root_tree_reaches_each_jobs_last_build_and_queue_item_and_the_jobs_of_folders() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: broken\n    history: [{result: FAILURE}]\n  - path: waits\n    quiet_period: 1h\n  - path: team/svc\n    kind: pipeline\n    history: [{}, {result: UNSTABLE}]\n",
    );
    let c = client();
    assert_eq!(post(&c, &sb, "/job/waits/build").status(), 201);
    let mut root = get_json(&c, &sb, &format!("/api/json?tree={JOBS_STATUS_TREE}"));
    let why = root["jobs"][2]["queueItem"]["why"].take();
    assert!(
        why.as_str()
            .is_some_and(|w| w.starts_with("In the quiet period. Expires in ")),
        "{why}"
    );
    assert_eq!(
        root,
        json!({
            "_class": "hudson.model.Hudson",
            "jobs": [
                {
                    "_class": "hudson.model.FreeStyleProject",
                    "name": "broken",
                    "lastBuild": {"_class": "hudson.model.FreeStyleBuild", "number": 1, "result": "FAILURE", "building": false},
                    "queueItem": null,
                },
                {
                    "_class": "com.cloudbees.hudson.plugins.folder.Folder",
                    "name": "team",
                    "jobs": [{
                        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                        "name": "svc",
                        "lastBuild": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": 2, "result": "UNSTABLE", "building": false},
                        "queueItem": null,
                    }],
                },
                {
                    "_class": "hudson.model.FreeStyleProject",
                    "name": "waits",
                    "lastBuild": null,
                    "queueItem": {"_class": "hudson.model.Queue$WaitingItem", "why": null},
                },
            ],
        })
    );
    // A folder answers the same tree one level down.
    let folder = get_json(
        &c,
        &sb,
        "/job/team/api/json?tree=jobs[name,lastBuild[result]]",
    );
    assert_eq!(
        folder["jobs"],
        json!([{
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
            "name": "svc",
            "lastBuild": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "result": "UNSTABLE"},
        }])
    );
}

#[test]
fn the_root_at_depth_1_writes_each_job_whole_with_its_builds_as_number_and_url() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: alpha\n    history: [{}]\n  - path: team/inner\n",
    );
    let c = client();
    let base = sb.url();
    let shallow = get_json(&c, &sb, "/api/json");
    let all_view =
        json!({"_class": "hudson.model.AllView", "name": "all", "url": format!("{base}/")});
    assert_eq!(shallow["views"], json!([all_view]));
    assert_eq!(shallow["primaryView"], all_view);

    let deep = get_json(&c, &sb, "/api/json?depth=1");
    let alpha = &deep["jobs"][0];
    assert_eq!(keys(alpha), FREESTYLE_JOB_KEYS);
    let build = json!({"_class": "hudson.model.FreeStyleBuild", "number": 1, "url": format!("{base}/job/alpha/1/")});
    assert_eq!(alpha["builds"], json!([build]));
    assert_eq!(alpha["lastBuild"], build);
    assert_eq!(alpha["lastFailedBuild"], Value::Null);
    let team = &deep["jobs"][1];
    assert_eq!(team["fullName"], "team");
    assert_eq!(
        team["jobs"],
        json!([{"_class": "hudson.model.FreeStyleProject", "name": "inner", "url": format!("{base}/job/team/job/inner/"), "color": "notbuilt"}])
    );
    // Views list their jobs as the root does at depth 0.
    let view = &deep["views"][0];
    assert_eq!(
        keys(view),
        ["_class", "description", "jobs", "name", "property", "url"]
    );
    assert_eq!(view["jobs"], shallow["jobs"]);
    assert_eq!(deep["primaryView"], *view);
}

#[test]
fn a_negative_depth_shows_only_the_most_visible_properties() {
    let sb =
        common::sandbox("speed: 1000\nquiet_period: 0s\njobs:\n  - path: n\n    history: [{}]\n");
    let c = client();
    assert_eq!(
        get_json(&c, &sb, "/job/n/api/json?depth=-1"),
        json!({"_class": "hudson.model.FreeStyleProject", "name": "n", "url": format!("{}/job/n/", sb.url()), "color": "blue"})
    );
    assert_eq!(
        get_json(&c, &sb, "/job/n/1/api/json?depth=-1"),
        json!({"_class": "hudson.model.FreeStyleBuild", "number": 1, "url": format!("{}/job/n/1/", sb.url())})
    );
    assert_eq!(
        get_json(&c, &sb, "/api/json?depth=-5"),
        json!({"_class": "hudson.model.Hudson", "nodeName": ""})
    );
}

#[test]
fn a_tree_reaches_into_a_pipeline_runs_neighbours_and_its_executor() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: pipe\n    kind: pipeline\n    history: [{result: FAILURE, duration: 1h}]\n    builds: [{duration: 1h}]\n",
    );
    let c = client();
    assert_eq!(start(&c, &sb, "/job/pipe/"), 2);
    let run = get_json(
        &c,
        &sb,
        "/job/pipe/2/api/json?tree=previousBuild[number,result,nextBuild[number]],executor[currentExecutable[number],idle,progress]",
    );
    // `nextBuild` and `previousBuild` are declared as `WorkflowRun`: no `_class` on them.
    assert_eq!(
        run["previousBuild"],
        json!({"number": 1, "result": "FAILURE", "nextBuild": {"number": 2}})
    );
    let executor = &run["executor"];
    assert_eq!(
        (
            &executor["_class"],
            &executor["currentExecutable"],
            &executor["idle"]
        ),
        (
            &json!("hudson.model.OneOffExecutor"),
            &json!({"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": 2}),
            &json!(false)
        )
    );
    let progress = executor["progress"].as_i64().expect("progress");
    assert!((0..=99).contains(&progress), "{executor}");
    // At depth 0 nothing of the executor is visible but its class.
    assert_eq!(
        get_json(&c, &sb, "/job/pipe/2/api/json")["executor"],
        json!({"_class": "hudson.model.OneOffExecutor"})
    );
}

#[test]
fn a_tree_that_would_double_at_every_level_is_an_error_page_not_a_hang() {
    let sb = common::sandbox(
        "speed: 1000\nquiet_period: 0s\njobs:\n  - path: p\n    kind: pipeline\n    history: [{}, {}, {}]\n",
    );
    let c = client();
    // Each run's `*` takes both `previousBuild` and `nextBuild`, and so on, 48 levels down.
    let levels = 48;
    let tree = format!("builds[{}*{}]", "*[".repeat(levels), "]".repeat(levels));
    let started = std::time::Instant::now();
    let response = get(&c, &sb, &format!("/job/p/api/json?tree={tree}"));
    assert_eq!(response.status(), 500);
    assert!(
        header(&response, "content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // And the sandbox is still there.
    assert_eq!(get_json(&c, &sb, "/job/p/3/api/json")["result"], "SUCCESS");
}

#[test]
fn a_narrow_tree_keeps_a_build_poll_well_under_200_bytes() {
    let sb = common::sandbox(
        "speed: 1000\nquiet_period: 0s\njobs:\n  - path: small\n    parameters: [{name: A}, {name: B}, {name: C}]\n    history: [{}]\n",
    );
    let c = client();
    let response = get(&c, &sb, "/job/small/1/api/json?tree=building,result");
    assert_eq!(response.status(), 200);
    let body = response.text().expect("body");
    assert!(body.len() < 200, "{} bytes: {body}", body.len());
    assert_eq!(
        body,
        r#"{"_class":"hudson.model.FreeStyleBuild","building":false,"result":"SUCCESS"}"#
    );
}

#[test]
fn api_json_headers_pretty_and_jsonp() {
    let sb =
        common::sandbox("speed: 1000\nquiet_period: 0s\njobs:\n  - path: fmt\n    history: [{}]\n");
    let c = client();
    let response = get(&c, &sb, "/job/fmt/1/api/json");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(header(&response, "x-jenkins").as_deref(), Some("2.528.3"));
    assert!(header(&response, "x-jenkins-session").is_some_and(|s| s.len() == 8));
    let compact = response.text().expect("body");
    assert!(!compact.contains('\n'), "compact by default");

    for flag in ["pretty", "pretty=true", "pretty=false"] {
        let pretty = get(&c, &sb, &format!("/job/fmt/1/api/json?{flag}"))
            .text()
            .expect("body");
        assert!(pretty.lines().count() > 10, "{flag}: {pretty}");
        assert_eq!(
            serde_json::from_str::<Value>(&pretty).unwrap(),
            serde_json::from_str::<Value>(&compact).unwrap(),
            "{flag}"
        );
    }

    let jsonp = get(&c, &sb, "/job/fmt/1/api/json?jsonp=cb");
    assert_eq!(jsonp.status(), 403);
    assert!(
        jsonp
            .text()
            .unwrap()
            .contains("jsonp forbidden; implement jenkins.security.SecureRequester")
    );
}

#[test]
fn api_python_is_the_same_data_as_a_python_literal() {
    let sb =
        common::sandbox("speed: 1000\nquiet_period: 0s\njobs:\n  - path: py\n    history: [{}]\n");
    let c = client();
    for path in ["/job/py/1/api", "/job/py/api"] {
        let from_json = get_json(&c, &sb, &format!("{path}/json"));
        let response = get(&c, &sb, &format!("{path}/python"));
        assert_eq!(response.status(), 200);
        let python = response.text().expect("body");
        assert!(
            !python.contains("true") && !python.contains("null"),
            "{python}"
        );
        let as_json = python
            .replace("True", "true")
            .replace("False", "false")
            .replace("None", "null");
        assert_eq!(
            serde_json::from_str::<Value>(&as_json).expect("python literal"),
            from_json
        );
    }
    let python = get(&c, &sb, "/job/py/1/api/python").text().unwrap();
    assert!(python.contains(r#""building":False"#), "{python}");
    assert!(python.contains(r#""description":None"#), "{python}");
    let job = get(&c, &sb, "/job/py/api/python").text().unwrap();
    assert!(job.contains(r#""buildable":True"#), "{job}");
}

// ---- stop, term, kill ----

#[test]
fn stop_redirects_and_the_running_build_ends_aborted_after_the_abort_delay() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\nabort_delay: 60s\njobs:\n  - path: s\n    builds: [{duration: 1h, log: [working]}]\n",
    );
    let c = client();
    start(&c, &sb, "/job/s/");
    let response = post(&c, &sb, "/job/s/1/stop");
    assert_eq!(response.status(), 302);
    assert_eq!(
        header(&response, "location"),
        Some(format!("{}/job/s/1/", sb.url()))
    );
    // Aborting takes a moment: still building, no result yet.
    let stopping = get_json(&c, &sb, "/job/s/1/api/json");
    assert_eq!(
        (&stopping["building"], &stopping["result"]),
        (&json!(true), &Value::Null)
    );

    let done = finished_build(&c, &sb, "/job/s/", 1);
    assert_eq!(done["result"], "ABORTED");
    let duration = done["duration"].as_i64().unwrap();
    assert!(
        (60_000..3_600_000).contains(&duration),
        "stopped after the abort delay, long before the hour: {duration}"
    );
    let console = console_text(&c, &sb, "/job/s/1/");
    assert!(console.ends_with("Finished: ABORTED\n"), "{console}");
    assert!(
        !console.contains("working"),
        "the script never got that far"
    );
    let (_, more, body) = progressive(&c, &sb, "/job/s/1/", "0");
    assert!(!more);
    assert!(body.ends_with("Finished: ABORTED\r\n"), "{body:?}");
    assert_eq!(get_json(&c, &sb, "/job/s/api/json")["color"], "aborted");
}

#[test]
fn stop_of_a_finished_build_still_redirects_and_changes_nothing() {
    let sb = common::sandbox(
        "speed: 1000\nquiet_period: 0s\njobs:\n  - path: done\n    history: [{}]\n",
    );
    let c = client();
    let response = post(&c, &sb, "/job/done/1/stop");
    assert_eq!(response.status(), 302);
    assert_eq!(
        header(&response, "location"),
        Some(format!("{}/job/done/1/", sb.url()))
    );
    // forwardToPreviousPage goes back where the caller came from.
    let referred = c
        .post(format!("{}/job/done/1/stop", sb.url()))
        .basic_auth(common::USER, Some(common::TOKEN))
        .header("Referer", "http://elsewhere.example/page")
        .send()
        .unwrap();
    assert_eq!(referred.status(), 302);
    assert_eq!(
        header(&referred, "location").as_deref(),
        Some("http://elsewhere.example/page")
    );
    let build = get_json(&c, &sb, "/job/done/1/api/json");
    assert_eq!(
        (&build["result"], &build["building"]),
        (&json!("SUCCESS"), &json!(false))
    );
    assert!(console_text(&c, &sb, "/job/done/1/").ends_with("Finished: SUCCESS\n"));
    assert_eq!(post(&c, &sb, "/job/done/2/stop").status(), 404);
}

#[test]
fn stop_term_and_kill_require_post() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: pipe\n    kind: pipeline\n    builds: [{duration: 1h}]\n",
    );
    let c = client();
    start(&c, &sb, "/job/pipe/");
    for action in ["stop", "term", "kill"] {
        let response = get(&c, &sb, &format!("/job/pipe/1/{action}"));
        assert_eq!(response.status(), 405, "{action}");
        assert_eq!(
            header(&response, "allow").as_deref(),
            Some("POST"),
            "{action}"
        );
    }
    let build = get_json(&c, &sb, "/job/pipe/1/api/json");
    assert_eq!(
        (&build["building"], &build["result"]),
        (&json!(true), &Value::Null)
    );
}

#[test]
fn term_and_kill_abort_a_pipeline_and_do_not_exist_on_freestyle_builds() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\nabort_delay: 1s\njobs:\n  - path: pipe\n    kind: pipeline\n    builds: [{duration: 1h}]\n  - path: free\n    builds: [{duration: 1h}]\n",
    );
    let c = client();
    for action in ["term", "kill"] {
        let number = start(&c, &sb, "/job/pipe/");
        let response = post(&c, &sb, &format!("/job/pipe/{number}/{action}"));
        assert_eq!(response.status(), 302, "{action}");
        assert_eq!(
            header(&response, "location"),
            Some(format!("{}/job/pipe/{number}/", sb.url()))
        );
        let done = finished_build(&c, &sb, "/job/pipe/", number);
        assert_eq!(done["result"], "ABORTED", "{action}");
        let console = console_text(&c, &sb, &format!("/job/pipe/{number}/"));
        assert!(console.ends_with("Finished: ABORTED\n"), "{console}");
    }
    start(&c, &sb, "/job/free/");
    assert_eq!(post(&c, &sb, "/job/free/1/term").status(), 404);
    assert_eq!(post(&c, &sb, "/job/free/1/kill").status(), 404);
    assert_eq!(get_json(&c, &sb, "/job/free/1/api/json")["building"], true);
}

// ---- console logs ----

#[test]
fn progressive_text_streams_a_running_build_by_raw_byte_offsets() {
    // Four lines over 40 s at speed 50: one every 160 ms of real time.
    let sb = common::sandbox(
        "speed: 50\nquiet_period: 0s\njobs:\n  - path: logs\n    builds: [{duration: 40s, log: [compiling, testing, packaging, done here]}]\n",
    );
    let c = client();
    start(&c, &sb, "/job/logs/");
    let mut offset = 0usize;
    let mut streamed = String::new();
    let mut running_chunks = 0;
    let mut reads = 0;
    wait_for(Duration::from_secs(10), "the end of the log", || {
        reads += 1;
        let (size, more, body) = progressive(&c, &sb, "/job/logs/1/", &offset.to_string());
        assert!(only_crlf(&body), "{body:?}");
        // Since 2.509 the body is the raw bytes from `start`, LF turned into CRLF.
        assert_eq!(body.replace("\r\n", "\n").len(), size - offset, "{body:?}");
        if !body.is_empty() {
            assert!(body.ends_with("\r\n"), "whole lines only: {body:?}");
            if more {
                running_chunks += 1;
            }
        }
        streamed.push_str(&body);
        offset = size;
        (!more).then_some(())
    });
    assert!(
        running_chunks >= 2,
        "the log grew in several steps while running ({running_chunks} chunks in {reads} reads)"
    );

    let (size, more, whole) = progressive(&c, &sb, "/job/logs/1/", "0");
    assert!(!more);
    assert_eq!(size, offset);
    assert_eq!(whole, streamed, "the pieces add up to the whole log");
    let lines: Vec<&str> = whole.split("\r\n").collect();
    assert_eq!(lines.last(), Some(&""), "ends with a line break");
    assert_eq!(lines[lines.len() - 2], "Finished: SUCCESS");
    let script: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| ["compiling", "testing", "packaging", "done here"].contains(l))
        .collect();
    assert_eq!(script, ["compiling", "testing", "packaging", "done here"]);

    // Reading on from the end gives nothing new.
    let (again, more, empty) = progressive(&c, &sb, "/job/logs/1/", &size.to_string());
    assert_eq!((again, more, empty.as_str()), (size, false, ""));
}

#[test]
fn an_offset_past_the_end_reads_the_whole_log_again_and_a_bad_one_is_a_500() {
    let sb = common::sandbox(
        "speed: 1000\nquiet_period: 0s\njobs:\n  - path: l\n    history: [{log: [one, two]}]\n",
    );
    let c = client();
    let (size, more, whole) = progressive(&c, &sb, "/job/l/1/", "0");
    assert!(!more);
    assert!(whole.contains("one\r\ntwo\r\n"), "{whole:?}");
    let (past_size, _, past) = progressive(&c, &sb, "/job/l/1/", &(size + 1).to_string());
    assert_eq!((past_size, past.as_str()), (size, whole.as_str()));
    let (_, _, huge) = progressive(&c, &sb, "/job/l/1/", "99999999");
    assert_eq!(huge, whole);
    // No `start` at all reads from the beginning.
    let plain = get(&c, &sb, "/job/l/1/logText/progressiveText");
    assert_eq!(plain.text().unwrap(), whole);

    assert_eq!(
        status_of(&c, &sb, "/job/l/1/logText/progressiveText?start=abc"),
        500
    );
    assert_eq!(
        status_of(&c, &sb, "/job/l/2/logText/progressiveText?start=0"),
        404
    );
    assert_eq!(status_of(&c, &sb, "/job/l/2/consoleText"), 404);
}

#[test]
fn since_2_509_progressive_text_carries_the_console_note_and_console_text_does_not() {
    let sb = common::sandbox(
        "speed: 1000\nquiet_period: 0s\njobs:\n  - path: notes\n    builds: [{duration: 1s, log: [hello]}]\n",
    );
    let c = client();
    run_to_end(&c, &sb, "/job/notes/");
    let (size, _, raw) = progressive(&c, &sb, "/job/notes/1/", "0");
    let first = raw.split("\r\n").next().unwrap();
    assert!(
        first.starts_with("Started by user \u{1b}[8mha:") && first.ends_with("\u{1b}[0malice"),
        "{first:?}"
    );
    // The offset counts the hidden annotation's bytes too.
    assert_eq!(size, raw.replace("\r\n", "\n").len());

    let console = console_text(&c, &sb, "/job/notes/1/");
    assert!(
        !console.contains('\u{1b}') && !console.contains('\r'),
        "{console:?}"
    );
    assert!(
        console.starts_with("Started by user alice\n"),
        "{console:?}"
    );
    assert!(console.contains("\nhello\n"));
    assert!(console.ends_with("Finished: SUCCESS\n"));
    assert!(size > console.len());
}

#[test]
fn before_2_509_progressive_text_hides_console_notes_but_offsets_still_count_them() {
    let sb = common::sandbox(
        "version: \"2.500\"\nspeed: 1000\nquiet_period: 0s\njobs:\n  - path: notes\n    builds: [{duration: 1s, log: [hello]}]\n",
    );
    let c = client();
    run_to_end(&c, &sb, "/job/notes/");
    let (size, _, text) = progressive(&c, &sb, "/job/notes/1/", "0");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(only_crlf(&text));
    assert!(text.starts_with("Started by user alice\r\n"), "{text:?}");
    assert!(text.ends_with("Finished: SUCCESS\r\n"), "{text:?}");
    let console = console_text(&c, &sb, "/job/notes/1/");
    assert_eq!(text.replace("\r\n", "\n"), console);
    // X-Text-Size is an offset into the raw file, annotations included.
    assert!(size > console.len(), "{size} vs {}", console.len());
    let (again, _, rest) = progressive(&c, &sb, "/job/notes/1/", &size.to_string());
    assert_eq!((again, rest.as_str()), (size, ""));
}

#[test]
fn console_text_of_a_running_build_is_the_plain_log_so_far() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: run\n    builds: [{duration: 1h, log: [late line]}]\n",
    );
    let c = client();
    start(&c, &sb, "/job/run/");
    let console = console_text(&c, &sb, "/job/run/1/");
    assert_eq!(
        console,
        "Started by user alice\nRunning as SYSTEM\nBuilding in workspace /var/jenkins_home/workspace/run\n"
    );
    let (size, more, _) = progressive(&c, &sb, "/job/run/1/", "0");
    assert!(more);
    assert!(size > console.len());
}

// ---- names that need encoding ----

#[test]
fn names_with_spaces_and_non_ascii_work_on_every_route() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\nabort_delay: 1s\njobs:\n  - path: \"my folder/sub dir/déploy app\"\n    parameters: [{name: WHO}]\n    builds: [{duration: 2s, log: [ça marche]}, {duration: 1h}]\n",
    );
    let c = client();
    let job = "/job/my%20folder/job/sub%20dir/job/d%C3%A9ploy%20app/";
    let job_url = format!("{}{job}", sb.url());

    let response = post(&c, &sb, &format!("{job}buildWithParameters?WHO=Zoë"));
    assert_eq!(response.status(), 201);
    let number = build_number_of(&c, &sb, queue_id(&response));
    assert_eq!(number, 1);

    let build = get_json(&c, &sb, &format!("{job}1/api/json"));
    assert_eq!(build["url"], format!("{job_url}1/"));
    assert_eq!(
        build["fullDisplayName"],
        "my folder » sub dir » déploy app #1"
    );
    assert_eq!(build["actions"][0]["parameters"][0]["value"], "Zoë");
    // Stapler decodes each segment, so lower-case escapes find the same build.
    let lower = get_json(
        &c,
        &sb,
        "/job/my%20folder/job/sub%20dir/job/d%c3%a9ploy%20app/1/api/json",
    );
    assert_eq!(lower["url"], build["url"]);
    let last = get_json(&c, &sb, &format!("{job}lastBuild/api/json"));
    assert_eq!(last["number"], 1);

    let job_json = get_json(&c, &sb, &format!("{job}api/json"));
    assert_eq!(job_json["name"], "déploy app");
    assert_eq!(job_json["fullName"], "my folder/sub dir/déploy app");
    assert_eq!(job_json["url"], job_url);
    assert_eq!(job_json["builds"][0]["url"], format!("{job_url}1/"));
    let folder = get_json(&c, &sb, "/job/my%20folder/job/sub%20dir/api/json");
    assert_eq!(folder["jobs"][0]["url"], job_url);

    finished_build(&c, &sb, job, 1);
    let log = console_text(&c, &sb, &format!("{job}1/"));
    assert!(log.contains("\nça marche\n"), "{log}");
    assert!(
        log.contains(
            "Building in workspace /var/jenkins_home/workspace/my folder/sub dir/déploy app\n"
        ),
        "{log}"
    );
    let (size, more, raw) = progressive(&c, &sb, &format!("{job}1/"), "0");
    assert!(!more);
    assert!(raw.contains("\r\nça marche\r\n"), "{raw:?}");
    assert_eq!(
        size,
        raw.replace("\r\n", "\n").len(),
        "bytes, not characters"
    );

    let response = post(&c, &sb, &format!("{job}buildWithParameters?WHO=Zoë"));
    assert_eq!(build_number_of(&c, &sb, queue_id(&response)), 2);
    let stop = post(&c, &sb, &format!("{job}2/stop"));
    assert_eq!(stop.status(), 302);
    assert_eq!(header(&stop, "location"), Some(format!("{job_url}2/")));
    let done = finished_build(&c, &sb, job, 2);
    assert_eq!(done["result"], "ABORTED");
}

#[test]
fn a_build_in_a_folder_reports_the_folder_in_its_names() {
    let sb = common::sandbox(
        "speed: 1000\nquiet_period: 0s\njobs:\n  - path: team/app\n    kind: pipeline\n",
    );
    let c = client();
    let build = run_to_end(&c, &sb, "/job/team/job/app/");
    assert_eq!(build["fullDisplayName"], "team » app #1");
    assert_eq!(build["url"], format!("{}/job/team/job/app/1/", sb.url()));
    let job = get_json(&c, &sb, "/job/team/job/app/api/json");
    assert_eq!(job["fullName"], "team/app");
    assert_eq!(job["fullDisplayName"], "team » app");
    // The folder itself has no builds.
    assert_eq!(status_of(&c, &sb, "/job/team/1/api/json"), 404);
    let folder = json(get(&c, &sb, "/job/team/api/json"));
    assert_eq!(folder["jobs"][0]["color"], "blue");
    assert_eq!(
        folder["jobs"][0]["_class"],
        "org.jenkinsci.plugins.workflow.job.WorkflowJob"
    );
}

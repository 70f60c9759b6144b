//! The sandbox's switchable faults (5xx, connection resets, latency), restart windows, the
//! control routes under `/__sandbox/`, and its behaviour with a thousand builds
//! (research doc §3.2, §5.3, §5.4; DESIGN §6).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Barrier, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use common::{
    PASSWORD, TOKEN, USER, build_number_of, client, control, finished_build, get, get_json, json,
    post, queue_id, sandbox, wait_for,
};
use jrun::sandbox::Sandbox;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

/// The idle-CPU test measures the whole process, so it must run alone: every other test holds
/// this lock shared, that one holds it exclusively.
static SERIAL: RwLock<()> = RwLock::new(());

fn shared_slot() -> RwLockReadGuard<'static, ()> {
    SERIAL.read().unwrap_or_else(|e| e.into_inner())
}

/// One client for control calls: `common::control` builds a client (and its thread) per call,
/// which is too slow for polls that race a restart window.
fn control_client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("control client")
    })
}

/// A control call with a raw body, returning the status as well.
fn control_raw(sb: &Sandbox, method: &str, route: &str, body: Option<&str>) -> (u16, Value) {
    let url = format!("{}/__sandbox/{route}", sb.url());
    let client = control_client();
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url).header("content-type", "application/json"),
    };
    let request = match body {
        Some(text) => request.body(text.to_string()),
        None => request,
    };
    let response = request.send().expect("control request");
    let status = response.status().as_u16();
    (status, json(response))
}

fn sandbox_now(sb: &Sandbox) -> i64 {
    let (status, time) = control_raw(sb, "GET", "time", None);
    assert_eq!(status, 200);
    time["now_ms"].as_i64().expect("now_ms")
}

fn set_faults(sb: &Sandbox, faults: Value) {
    let (status, answer) = control_raw(sb, "POST", "faults", Some(&faults.to_string()));
    assert_eq!(status, 200, "{answer}");
}

fn sandbox_builds(sb: &Sandbox) -> Vec<Value> {
    let (status, builds) = control_raw(sb, "GET", "builds", None);
    assert_eq!(status, 200);
    builds.as_array().expect("builds array").clone()
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ascii header")
        .to_string()
}

/// Asserts the servlet container's HTML error page for `status`.
fn assert_error_page(response: Response, status: u16, reason: &str) {
    assert_eq!(response.status(), status);
    let content_type = header(&response, "content-type");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let body = response.text().expect("body");
    assert!(body.contains("<html>"), "{body}");
    assert!(
        body.contains(&format!("HTTP ERROR {status} {reason}")),
        "{body}"
    );
}

/// The name of the cookie a response sets, e.g. `JSESSIONID.1a2b3c4d`.
fn set_cookie_name(response: &Response) -> String {
    let cookie = header(response, "set-cookie");
    cookie
        .split_once('=')
        .map(|(name, _)| name.to_string())
        .expect("name=value cookie")
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.chars().all(|c| c.is_ascii_hexdigit())
}

const FAST: &str = "speed: 1000\nquiet_period: 0s\n";

// ---- 5xx ----

#[test]
fn an_error_burst_from_the_config_answers_the_next_three_requests_with_503_html() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}faults: {{error_burst: 3}}\njobs: [{{path: app}}]\n"
    ));
    let c = client();
    for _ in 0..3 {
        assert_error_page(get(&c, &sb, "/api/json"), 503, "Service Unavailable");
    }
    let fourth = get(&c, &sb, "/api/json");
    assert_eq!(fourth.status(), 200);
    assert_eq!(json(fourth)["_class"], "hudson.model.Hudson");
}

#[test]
fn an_error_burst_set_at_run_time_uses_its_status_and_spares_control_routes() {
    let _slot = shared_slot();
    let sb = sandbox(&format!("{FAST}jobs: [{{path: app}}]\n"));
    let c = client();
    set_faults(&sb, json!({"error_burst": 3, "error_status": 502}));
    assert_error_page(get(&c, &sb, "/job/app/api/json"), 502, "Bad Gateway");
    // Control calls in the middle of the burst neither fail nor use it up.
    let (status, faults) = control_raw(&sb, "GET", "faults", None);
    assert_eq!(status, 200);
    assert_eq!(faults["error_burst"], 2);
    assert_eq!(control_raw(&sb, "GET", "time", None).0, 200);
    assert_eq!(control(&sb, "GET", "faults", json!({}))["error_burst"], 2);
    assert_error_page(post(&c, &sb, "/job/app/build"), 502, "Bad Gateway");
    assert_error_page(get(&c, &sb, "/queue/api/json"), 502, "Bad Gateway");
    assert_eq!(get(&c, &sb, "/job/app/api/json").status(), 200);
    assert_eq!(get(&c, &sb, "/queue/api/json").status(), 200);

    let stats = control(&sb, "GET", "stats", json!({}));
    assert_eq!(stats["faults_injected"], 3);
    assert_eq!(stats["routes"]["GET fault"]["count"], 2);
    assert_eq!(stats["routes"]["POST fault"]["count"], 1);
    // The faulted trigger never reached Jenkins.
    assert_eq!(stats["triggers"], json!([]));
    assert_eq!(get_json(&c, &sb, "/job/app/api/json")["nextBuildNumber"], 1);
}

#[test]
fn an_error_rate_of_one_faults_every_request_and_zero_none() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}faults: {{error_rate: 1.0, error_status: 500}}\njobs: [{{path: app}}]\n"
    ));
    let c = client();
    for path in [
        "/api/json",
        "/job/app/api/json",
        "/queue/api/json",
        "/nowhere",
    ] {
        for _ in 0..5 {
            assert_error_page(get(&c, &sb, path), 500, "Internal Server Error");
        }
    }
    assert_error_page(
        post(&c, &sb, "/job/app/build"),
        500,
        "Internal Server Error",
    );
    set_faults(&sb, json!({"error_rate": 0.0}));
    for _ in 0..20 {
        assert_eq!(get(&c, &sb, "/api/json").status(), 200);
    }
    assert_eq!(post(&c, &sb, "/job/app/build").status(), 201);
    assert_eq!(
        control(&sb, "GET", "stats", json!({}))["faults_injected"],
        21
    );
}

#[test]
fn fault_scope_reads_hits_only_gets() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}faults: {{error_rate: 1.0, scope: reads}}\njobs: [{{path: app}}]\n"
    ));
    let c = client();
    assert_error_page(get(&c, &sb, "/api/json"), 503, "Service Unavailable");
    assert_error_page(
        get(&c, &sb, "/job/app/api/json"),
        503,
        "Service Unavailable",
    );
    assert_eq!(post(&c, &sb, "/job/app/build").status(), 201);
    // A POST that is not a trigger is not a read either.
    assert_eq!(post(&c, &sb, "/queue/cancelItem?id=999").status(), 404);
}

#[test]
fn fault_scope_posts_hits_only_posts() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}faults: {{error_rate: 1.0, scope: posts}}\njobs: [{{path: app}}]\n"
    ));
    let c = client();
    assert_eq!(get(&c, &sb, "/api/json").status(), 200);
    assert_eq!(get(&c, &sb, "/job/app/api/json").status(), 200);
    assert_error_page(post(&c, &sb, "/job/app/build"), 503, "Service Unavailable");
    assert_error_page(
        post(&c, &sb, "/queue/cancelItem?id=1"),
        503,
        "Service Unavailable",
    );
    assert_eq!(sb.triggers().len(), 0);
}

#[test]
fn fault_scope_triggers_hits_only_trigger_requests() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}faults: {{error_rate: 1.0, error_status: 504, scope: triggers}}\n\
         jobs:\n  - {{path: app}}\n  - {{path: params, parameters: [{{name: X}}]}}\n"
    ));
    let c = client();
    assert_error_page(post(&c, &sb, "/job/app/build"), 504, "Gateway Timeout");
    assert_error_page(
        post(&c, &sb, "/job/params/buildWithParameters?X=1"),
        504,
        "Gateway Timeout",
    );
    assert_eq!(get(&c, &sb, "/job/app/api/json").status(), 200);
    assert_eq!(get(&c, &sb, "/queue/api/json").status(), 200);
    assert_eq!(post(&c, &sb, "/queue/cancelItem?id=999").status(), 404);
    assert_eq!(post(&c, &sb, "/job/app/1/stop").status(), 404);
    assert_eq!(sb.triggers().len(), 0);
    assert_eq!(get_json(&c, &sb, "/queue/api/json")["items"], json!([]));
}

// ---- connection resets ----

#[test]
fn a_reset_burst_drops_the_next_two_connections_without_an_answer() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}faults: {{reset_burst: 2}}\njobs: [{{path: app, quiet_period: 1h}}]\n"
    ));
    let c = client();
    let url = format!("{}/job/app/build", sb.url());
    for attempt in 0..2 {
        // A control call between the resets does not use the burst up.
        assert_eq!(control_raw(&sb, "GET", "time", None).0, 200);
        let err = c
            .post(&url)
            .basic_auth(USER, Some(TOKEN))
            .send()
            .expect_err("the connection is dropped");
        assert_eq!(err.status(), None, "attempt {attempt}: {err}");
        assert!(!err.is_timeout(), "attempt {attempt}: {err}");
    }
    // Dropped before processing: neither request queued anything.
    assert_eq!(get_json(&c, &sb, "/queue/api/json")["items"], json!([]));
    let third = post(&c, &sb, "/job/app/build");
    assert_eq!(third.status(), 201);
    let id = queue_id(&third);
    let items = get_json(&c, &sb, "/queue/api/json")["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1));
    assert_eq!(items[0]["id"], id);
    let stats = control(&sb, "GET", "stats", json!({}));
    assert_eq!(stats["faults_injected"], 2);
}

#[test]
fn a_reset_after_processing_drops_the_trigger_answer_but_queues_the_build() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}faults: {{reset_burst: 1, reset_after_processing: true, scope: triggers}}\n\
         jobs: [{{path: app, quiet_period: 1h}}]\n"
    ));
    let c = client();
    // Reads are out of scope, so the burst waits for the trigger.
    assert_eq!(get_json(&c, &sb, "/queue/api/json")["items"], json!([]));
    let err = c
        .post(format!("{}/job/app/build", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .send()
        .expect_err("the trigger's connection is dropped");
    assert_eq!(err.status(), None, "{err}");

    // The unknown-outcome POST: no answer, yet the build is queued.
    let items = get_json(&c, &sb, "/queue/api/json")["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["task"]["name"], "app");
    let queued = items[0]["id"].as_u64().expect("id");
    let stats = control(&sb, "GET", "stats", json!({}));
    assert_eq!(stats["routes"]["POST trigger:build"]["count"], 1);
    assert_eq!(stats["triggers"][0]["status"], 201);
    assert_eq!(stats["triggers"][0]["queue_id"], queued);
    assert_eq!(stats["triggers"][0]["created"], true);

    // A retry folds into the item the lost answer would have named.
    let retry = post(&c, &sb, "/job/app/build");
    assert_eq!(retry.status(), 201);
    assert_eq!(queue_id(&retry), queued);
    let items = get_json(&c, &sb, "/queue/api/json")["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1));
}

// ---- latency ----

#[test]
fn latency_delays_every_answer_by_at_least_its_value() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}faults: {{latency: 200ms}}\njobs: [{{path: app}}]\n"
    ));
    let c = client();
    for path in ["/api/json", "/job/app/api/json", "/nowhere"] {
        let started = Instant::now();
        let response = get(&c, &sb, path);
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{path} answered after {:?}",
            started.elapsed()
        );
        assert!(response.status() == 200 || response.status() == 404);
    }
    let started = Instant::now();
    assert_eq!(post(&c, &sb, "/job/app/build").status(), 201);
    assert!(started.elapsed() >= Duration::from_millis(200));
    set_faults(&sb, json!({"latency": "300ms"}));
    let started = Instant::now();
    assert_eq!(get(&c, &sb, "/api/json").status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

// ---- restarts ----

/// Speed 10: a 5 s restart window lasts 500 ms of real time.
const RESTART: &str = "speed: 10\nquiet_period: 0s\n";

fn restart(sb: &Sandbox, duration: &str) -> i64 {
    let (status, answer) = control_raw(
        sb,
        "POST",
        "restart",
        Some(&json!({"duration": duration}).to_string()),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(is_hex(answer["session"].as_str().expect("session"), 8));
    answer["until_ms"].as_i64().expect("until_ms")
}

/// Waits for the restart window to end and checks it ended no earlier than `until_ms`.
fn wait_until_ready(sb: &Sandbox, c: &Client, until_ms: i64) {
    wait_for(Duration::from_secs(5), "Jenkins to be ready", || {
        (get(c, sb, "/api/json").status() == 200).then_some(())
    });
    assert!(sandbox_now(sb) >= until_ms);
}

fn assert_getting_ready(response: Response, what: &str) {
    assert_eq!(response.status(), 503, "{what}");
    assert_eq!(header(&response, "expires"), "0", "{what}");
    assert_eq!(
        header(&response, "cache-control"),
        "no-cache,no-store,must-revalidate",
        "{what}"
    );
    assert!(header(&response, "content-type").starts_with("text/html"));
    let body = response.text().expect("body");
    assert!(
        body.contains("Jenkins is getting ready to work"),
        "{what}: {body}"
    );
}

#[test]
fn a_restart_answers_503_getting_ready_on_every_route_until_the_window_ends() {
    let _slot = shared_slot();
    let sb = sandbox(&format!("{RESTART}jobs: [{{path: app}}]\n"));
    let c = client();
    assert_eq!(get(&c, &sb, "/api/json").status(), 200);
    let until = restart(&sb, "5s");
    for path in [
        "/",
        "/api/json",
        "/login",
        "/crumbIssuer/api/json",
        "/queue/api/json",
        "/queue/item/1/api/json",
        "/job/app/api/json",
        "/job/app/lastBuild/api/json",
        "/job/nowhere/api/json",
    ] {
        assert_getting_ready(get(&c, &sb, path), path);
    }
    assert_getting_ready(post(&c, &sb, "/job/app/build"), "POST build");
    // Neither anonymous callers nor bad credentials get past the loading page.
    let anonymous = c
        .get(format!("{}/api/json", sb.url()))
        .send()
        .expect("request");
    assert_getting_ready(anonymous, "anonymous");
    let bad = c
        .get(format!("{}/api/json", sb.url()))
        .basic_auth(USER, Some("wrong"))
        .send()
        .expect("request");
    assert_getting_ready(bad, "bad credentials");
    assert!(
        sandbox_now(&sb) < until,
        "the checks outlasted the window, so they prove nothing"
    );

    wait_until_ready(&sb, &c, until);
    // The trigger answered 503 queued nothing.
    assert_eq!(get_json(&c, &sb, "/queue/api/json")["items"], json!([]));
    assert_eq!(get_json(&c, &sb, "/job/app/api/json")["nextBuildNumber"], 1);
    assert_eq!(sb.triggers().len(), 0);
}

#[test]
fn after_a_restart_the_session_hash_and_cookie_name_change_and_old_crumbs_are_rejected() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{RESTART}jobs: [{{path: app, quiet_period: 1h}}]\n"
    ));
    let c = client();
    let before = get(&c, &sb, "/api/json");
    let session_before = header(&before, "x-jenkins-session");
    assert!(is_hex(&session_before, 8), "{session_before}");

    let crumb_url = format!("{}/crumbIssuer/api/json", sb.url());
    let issued = c
        .get(&crumb_url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .expect("crumb");
    assert_eq!(issued.status(), 200);
    let cookie_before = set_cookie_name(&issued);
    assert!(cookie_before.starts_with("JSESSIONID."), "{cookie_before}");
    let crumb = json(issued)["crumb"].as_str().expect("crumb").to_string();
    let build_url = format!("{}/job/app/build", sb.url());
    let with_crumb = |crumb: &str| {
        c.post(&build_url)
            .basic_auth(USER, Some(PASSWORD))
            .header("Jenkins-Crumb", crumb)
            .send()
            .expect("trigger")
    };
    assert_eq!(with_crumb(&crumb).status(), 201);

    let until = restart(&sb, "5s");
    wait_until_ready(&sb, &c, until);

    // The cookie store still sends the old session cookie; it names no session any more, so
    // the check runs against a brand-new session, whose cookie has the new name.
    let rejected = with_crumb(&crumb);
    let cookie_after = set_cookie_name(&rejected);
    assert!(cookie_after.starts_with("JSESSIONID."), "{cookie_after}");
    assert!(is_hex(&cookie_after["JSESSIONID.".len()..], 8));
    assert_ne!(cookie_after, cookie_before);
    assert_error_page(rejected, 403, "No valid crumb was included in the request");
    let after = get(&c, &sb, "/api/json");
    let session_after = header(&after, "x-jenkins-session");
    assert!(is_hex(&session_after, 8), "{session_after}");
    assert_ne!(session_after, session_before);

    // A newcomer gets a cookie of the same new name.
    let newcomer = client()
        .get(&crumb_url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .expect("crumb");
    assert_eq!(set_cookie_name(&newcomer), cookie_after);
    let reissued = c
        .get(&crumb_url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .expect("crumb");
    assert_eq!(reissued.status(), 200);
    let fresh = json(reissued)["crumb"].as_str().expect("crumb").to_string();
    assert_eq!(with_crumb(&fresh).status(), 201);
}

#[test]
fn after_a_restart_left_items_are_gone_waiting_items_keep_their_ids_and_running_builds_finish() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{RESTART}jobs:\n  - {{path: runner, kind: pipeline, builds: [{{duration: 15s}}]}}\n  \
         - {{path: waiter, quiet_period: 1h}}\n"
    ));
    let c = client();
    let started = post(&c, &sb, "/job/runner/build");
    assert_eq!(started.status(), 201);
    let left_id = queue_id(&started);
    assert_eq!(build_number_of(&c, &sb, left_id), 1);
    let waiting = post(&c, &sb, "/job/waiter/build");
    assert_eq!(waiting.status(), 201);
    let waiting_id = queue_id(&waiting);

    let until = restart(&sb, "5s");
    wait_until_ready(&sb, &c, until);

    let gone = get(&c, &sb, &format!("/queue/item/{left_id}/api/json"));
    assert_eq!(gone.status(), 404);
    let item = get_json(&c, &sb, &format!("/queue/item/{waiting_id}/api/json"));
    assert_eq!(item["id"], waiting_id);
    assert_eq!(item["_class"], "hudson.model.Queue$WaitingItem");
    let items = get_json(&c, &sb, "/queue/api/json")["items"].clone();
    let ids: Vec<&Value> = items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(ids, vec![&json!(waiting_id)]);

    // The build outlived the restart and plays to its end.
    let running = get_json(&c, &sb, "/job/runner/1/api/json");
    assert_eq!(running["building"], true, "{running}");
    assert_eq!(running["queueId"], left_id);
    let done = finished_build(&c, &sb, "/job/runner/", 1);
    assert_eq!(done["result"], "SUCCESS");
    assert_eq!(done["duration"], 15_000);
}

#[test]
fn a_restart_aborts_running_freestyle_builds_while_pipelines_resume() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{RESTART}executors: 4
jobs:
  - {{path: free, builds: [{{duration: 1h}}]}}
  \
         - {{path: flow, kind: pipeline, builds: [{{duration: 1h}}]}}
"
    ));
    let c = client();
    for job in ["free", "flow"] {
        let id = queue_id(&post(&c, &sb, &format!("/job/{job}/build")));
        assert_eq!(build_number_of(&c, &sb, id), 1);
    }
    let until = restart(&sb, "5s");
    wait_until_ready(&sb, &c, until);
    let free = get_json(&c, &sb, "/job/free/1/api/json");
    assert_eq!(free["building"], false, "{free}");
    assert_eq!(free["result"], "ABORTED");
    let flow = get_json(&c, &sb, "/job/flow/1/api/json");
    assert_eq!(flow["building"], true, "{flow}");
    assert_eq!(flow["result"], Value::Null);
}

#[test]
fn nothing_leaves_the_queue_while_jenkins_is_getting_ready() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{RESTART}jobs: [{{path: waiter, quiet_period: 1s}}]\n"
    ));
    let c = client();
    let id = queue_id(&post(&c, &sb, "/job/waiter/build"));
    let until = restart(&sb, "5s");
    wait_until_ready(&sb, &c, until);
    let number = build_number_of(&c, &sb, id);
    let build = get_json(&c, &sb, &format!("/job/waiter/{number}/api/json"));
    // Its quiet period ended during the restart, yet it only started once Jenkins was ready.
    assert!(build["timestamp"].as_i64().unwrap() >= until, "{build}");
}

#[test]
fn a_restart_that_forgets_the_queue_drops_waiting_items_too() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{RESTART}restart_forgets_queue: true\njobs: [{{path: waiter, quiet_period: 1h}}]\n"
    ));
    let c = client();
    let waiting = post(&c, &sb, "/job/waiter/build");
    assert_eq!(waiting.status(), 201);
    let id = queue_id(&waiting);
    assert_eq!(
        get(&c, &sb, &format!("/queue/item/{id}/api/json")).status(),
        200
    );
    let until = restart(&sb, "5s");
    wait_until_ready(&sb, &c, until);
    assert_eq!(
        get(&c, &sb, &format!("/queue/item/{id}/api/json")).status(),
        404
    );
    assert_eq!(get_json(&c, &sb, "/queue/api/json")["items"], json!([]));
    assert_eq!(get_json(&c, &sb, "/job/waiter/api/json")["inQueue"], false);
}

#[test]
fn scheduled_restarts_happen_at_their_configured_sandbox_time() {
    let _slot = shared_slot();
    // Speed 5: the restart starts 800 ms of real time after start and lasts 600 ms.
    let sb = sandbox("speed: 5\nquiet_period: 0s\nrestarts: [{at: 4s, duration: 3s}]\n");
    let c = client();
    // The model's start time lies in [t0 - SLACK, t0]: the sandbox was created just before.
    let t0 = sandbox_now(&sb);
    const SLACK: i64 = 1_000;
    let session_before = header(&get(&c, &sb, "/api/json"), "x-jenkins-session");
    let (mut before, mut during, mut after) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let asked = sandbox_now(&sb);
        if asked >= t0 + 8_000 {
            break;
        }
        assert!(Instant::now() < deadline, "sandbox time stopped at {asked}");
        let response = get(&c, &sb, "/api/json");
        let answered = sandbox_now(&sb);
        let status = response.status().as_u16();
        if answered < t0 + 4_000 - SLACK {
            assert_eq!(status, 200, "before the restart, at {}", answered - t0);
            before += 1;
        } else if asked >= t0 + 4_000 && answered < t0 + 7_000 - SLACK {
            assert_getting_ready(response, "during the restart");
            during += 1;
        } else if asked >= t0 + 7_000 {
            assert_eq!(status, 200, "after the restart, at {}", asked - t0);
            let session = header(&response, "x-jenkins-session");
            assert!(is_hex(&session, 8));
            assert_ne!(session, session_before);
            after += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        before > 0 && during > 0 && after > 0,
        "{before} polls before, {during} during, {after} after"
    );
}

// ---- outside triggers and build rotation ----

#[test]
fn an_external_trigger_makes_last_build_someone_elses_build() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - {{path: app, kind: pipeline, builds: [{{duration: 5s}}]}}\n  \
         - {{path: params, kind: pipeline, parameters: [{{name: X, default: d}}]}}\n"
    ));
    let c = client();
    let ours = post(&c, &sb, "/job/app/build");
    assert_eq!(ours.status(), 201);
    let our_id = queue_id(&ours);
    assert_eq!(build_number_of(&c, &sb, our_id), 1);

    let (status, answer) = control_raw(&sb, "POST", "trigger", Some(r#"{"job": "app"}"#));
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["created"], true);
    let their_id = answer["queue_id"].as_u64().expect("queue_id");
    assert_ne!(their_id, our_id);
    let last = wait_for(Duration::from_secs(5), "the other build", || {
        let last = get_json(&c, &sb, "/job/app/lastBuild/api/json");
        (last["number"] == 2).then_some(last)
    });
    assert_eq!(last["queueId"], their_id);
    let causes = &last["actions"][0]["causes"];
    assert_eq!(causes[0]["userId"], "someone-else");
    assert_eq!(
        causes[0]["shortDescription"],
        "Started by user someone-else"
    );
    assert_eq!(get_json(&c, &sb, "/job/app/1/api/json")["queueId"], our_id);

    let (status, answer) = control_raw(
        &sb,
        "POST",
        "trigger",
        Some(r#"{"job": "params", "params": {"X": "theirs"}, "user": "bob"}"#),
    );
    assert_eq!(status, 201, "{answer}");
    let id = answer["queue_id"].as_u64().expect("queue_id");
    let number = build_number_of(&c, &sb, id);
    let build = get_json(&c, &sb, &format!("/job/params/{number}/api/json"));
    assert_eq!(build["actions"][0]["parameters"][0]["value"], "theirs");
    assert_eq!(build["actions"][1]["causes"][0]["userId"], "bob");
    let records = sb.triggers();
    assert_eq!(records.len(), 3);
    assert!(!records[0].external && records[1].external && records[2].external);
}

#[test]
fn a_deleted_build_is_404_and_gone_from_the_job_builds() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}jobs: [{{path: app, history: [{{}}, {{result: FAILURE}}, {{}}]}}]\n"
    ));
    let c = client();
    assert_eq!(get(&c, &sb, "/job/app/2/api/json").status(), 200);
    let (status, answer) = control_raw(
        &sb,
        "POST",
        "delete-build",
        Some(r#"{"job": "app", "number": 2}"#),
    );
    assert_eq!((status, answer), (200, json!({"deleted": true})));
    assert_eq!(get(&c, &sb, "/job/app/2/api/json").status(), 404);
    let job = get_json(&c, &sb, "/job/app/api/json");
    let numbers: Vec<&Value> = job["builds"]
        .as_array()
        .expect("builds")
        .iter()
        .map(|b| &b["number"])
        .collect();
    assert_eq!(numbers, vec![&json!(3), &json!(1)]);
    assert_eq!(job["lastFailedBuild"], Value::Null);
    assert_eq!(job["nextBuildNumber"], 4);
    let (status, answer) = control_raw(
        &sb,
        "POST",
        "delete-build",
        Some(r#"{"job": "app", "number": 2}"#),
    );
    assert_eq!((status, answer), (404, json!({"deleted": false})));
}

// ---- control routes ----

#[test]
fn stats_count_requests_and_bytes_per_route_and_reset_clears_them() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}jobs: [{{path: app, kind: pipeline, parameters: [{{name: X}}]}}]\n"
    ));
    let c = client();
    let trigger = post(&c, &sb, "/job/app/buildWithParameters?X=1");
    assert_eq!(trigger.status(), 201);
    let id = queue_id(&trigger);
    let trigger_bytes = trigger.bytes().expect("body").len() as u64;
    // Waiting through the control route keeps the counts exact.
    wait_for(Duration::from_secs(5), "the build to finish", || {
        let builds = sandbox_builds(&sb);
        (builds.len() == 1 && builds[0]["building"] == false).then_some(())
    });
    let mut build_bytes = 0;
    for _ in 0..2 {
        let response = get(&c, &sb, "/job/app/1/api/json");
        assert_eq!(response.status(), 200);
        build_bytes += response.bytes().expect("body").len() as u64;
    }

    let stats = control(&sb, "GET", "stats", json!({}));
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["bytes"], trigger_bytes + build_bytes);
    assert_eq!(
        stats["routes"],
        json!({
            "GET build": {"count": 2, "bytes": build_bytes},
            "POST trigger:buildWithParameters": {"count": 1, "bytes": trigger_bytes},
        })
    );
    let record = &stats["triggers"][0];
    assert_eq!(record["job"], "app");
    assert_eq!(record["endpoint"], "buildWithParameters");
    assert_eq!(record["user"], USER);
    assert_eq!(record["params"], json!([["X", "1"]]));
    assert_eq!(record["status"], 201);
    assert_eq!(record["queue_id"], id);
    assert_eq!(record["external"], false);
    assert_eq!(stats["triggers"].as_array().map(Vec::len), Some(1));

    let (status, answer) = control_raw(&sb, "POST", "stats/reset", None);
    assert_eq!((status, answer), (200, json!({"reset": true})));
    let stats = control(&sb, "GET", "stats", json!({}));
    assert_eq!(stats["requests"], 0);
    assert_eq!(stats["bytes"], 0);
    assert_eq!(stats["routes"], json!({}));
    assert_eq!(stats["triggers"], json!([]));
    assert_eq!(stats["faults_injected"], 0);
}

#[test]
fn max_in_flight_records_concurrent_requests_and_ignores_control_routes() {
    let _slot = shared_slot();
    const CLIENTS: usize = 5;
    let sb = sandbox(&format!("{FAST}faults: {{latency: 200ms}}\n"));
    control(&sb, "POST", "stats/reset", json!({}));
    let stats = control(&sb, "GET", "stats", json!({}));
    assert_eq!(
        (&stats["in_flight"], &stats["max_in_flight"]),
        (&json!(0), &json!(0))
    );

    let barrier = Barrier::new(CLIENTS);
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                let c = client();
                barrier.wait();
                assert_eq!(get(&c, &sb, "/api/json").status(), 200);
            });
        }
    });
    let stats = control(&sb, "GET", "stats", json!({}));
    let max = stats["max_in_flight"].as_u64().expect("max_in_flight");
    assert!((2..=CLIENTS as u64).contains(&max), "max_in_flight {max}");
    assert_eq!(stats["in_flight"], 0);
    assert_eq!(stats["requests"], CLIENTS);
    control(&sb, "POST", "stats/reset", json!({}));
    assert_eq!(control(&sb, "GET", "stats", json!({}))["max_in_flight"], 0);
}

#[test]
fn the_builds_route_lists_builds_with_their_start_and_end() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: team/app\n    parameters: [{{name: X}}]\n    \
         builds: [{{duration: 7s, result: FAILURE}}, {{duration: 3s}}]\n"
    ));
    let c = client();
    let mut ids = Vec::new();
    for value in ["one", "two"] {
        let response = post(
            &c,
            &sb,
            &format!("/job/team/job/app/buildWithParameters?X={value}"),
        );
        assert_eq!(response.status(), 201);
        ids.push(queue_id(&response));
    }
    let builds = wait_for(Duration::from_secs(5), "both builds to finish", || {
        let builds = sandbox_builds(&sb);
        (builds.len() == 2 && builds.iter().all(|b| b["building"] == false)).then_some(builds)
    });
    let expect = [
        (1, ids[0], "one", 7_000, "FAILURE"),
        (2, ids[1], "two", 3_000, "SUCCESS"),
    ];
    for (build, (number, id, value, duration, result)) in builds.iter().zip(expect) {
        assert_eq!(build["job"], "team/app");
        assert_eq!(build["number"], number);
        assert_eq!(build["queue_id"], id);
        assert_eq!(build["params"], json!({"X": value}));
        assert_eq!(build["result"], result);
        assert_eq!(build["aborted"], false);
        let start = build["start_ms"].as_i64().expect("start_ms");
        let end = build["end_ms"].as_i64().expect("end_ms");
        assert_eq!(end - start, duration, "{build}");
        // The freestyle job runs one build at a time.
        if number == 2 {
            assert!(start >= builds[0]["end_ms"].as_i64().expect("end_ms"));
        }
        let api = get_json(&c, &sb, &format!("/job/team/job/app/{number}/api/json"));
        assert_eq!(api["timestamp"], start);
        assert_eq!(api["duration"], duration);
    }
}

#[test]
fn changing_the_clock_speed_keeps_sandbox_time_continuous() {
    let _slot = shared_slot();
    let sb = sandbox(FAST);
    std::thread::sleep(Duration::from_millis(100));
    let before = sandbox_now(&sb);
    let (status, answer) = control_raw(&sb, "POST", "clock", Some(r#"{"speed": 1}"#));
    assert_eq!((status, answer), (200, json!({"speed": 1.0})));
    let after = sandbox_now(&sb);
    // A clock that re-based on its start would now be about 100 s behind.
    assert!(after >= before, "time went back from {before} to {after}");
    assert!(
        after - before < 20_000,
        "time jumped by {} ms",
        after - before
    );
    let (_, time) = control_raw(&sb, "GET", "time", None);
    assert_eq!(time["speed"], 1.0);

    let (status, _) = control_raw(&sb, "POST", "clock", Some(r#"{"speed": 1000}"#));
    assert_eq!(status, 200);
    let fast_from = sandbox_now(&sb);
    std::thread::sleep(Duration::from_millis(50));
    assert!(sandbox_now(&sb) - fast_from >= 50_000);
    for bad in [r#"{"speed": 0}"#, r#"{"speed": -2}"#, r#"{"pace": 2}"#] {
        let (status, answer) = control_raw(&sb, "POST", "clock", Some(bad));
        assert_eq!(status, 400, "{bad}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert_eq!(control_raw(&sb, "GET", "time", None).1["speed"], 1000.0);
}

#[test]
fn a_job_added_at_run_time_can_be_triggered() {
    let _slot = shared_slot();
    let sb = sandbox(FAST);
    let c = client();
    assert_eq!(get(&c, &sb, "/job/team/job/late/api/json").status(), 404);
    let job = json!({
        "path": "team/late",
        "kind": "pipeline",
        "parameters": [{"name": "X", "default": "d"}],
        "builds": [{"duration": "3s", "result": "FAILURE"}],
    });
    let (status, answer) = control_raw(&sb, "POST", "jobs", Some(&job.to_string()));
    assert_eq!((status, answer), (200, json!({"job": "team/late"})));
    let folder = get_json(&c, &sb, "/job/team/api/json");
    assert_eq!(folder["jobs"][0]["name"], "late");
    let api = get_json(&c, &sb, "/job/team/job/late/api/json");
    assert_eq!(
        api["_class"],
        "org.jenkinsci.plugins.workflow.job.WorkflowJob"
    );
    assert_eq!(api["fullName"], "team/late");

    let response = post(&c, &sb, "/job/team/job/late/buildWithParameters");
    assert_eq!(response.status(), 201);
    let number = build_number_of(&c, &sb, queue_id(&response));
    let build = finished_build(&c, &sb, "/job/team/job/late/", number);
    assert_eq!(build["result"], "FAILURE");
    assert_eq!(build["duration"], 3_000);
    assert_eq!(build["actions"][0]["parameters"][0]["value"], "d");

    for bad in [
        r#"{"path": "a//b"}"#,
        r#"{"path": "x", "colour": "red"}"#,
        r#"{"kind": "pipeline"}"#,
    ] {
        let (status, answer) = control_raw(&sb, "POST", "jobs", Some(bad));
        assert_eq!(status, 400, "{bad}");
        assert!(answer["error"].is_string(), "{answer}");
    }
}

#[test]
fn a_disabled_job_answers_triggers_with_409() {
    let _slot = shared_slot();
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - {{path: app}}\n  - {{path: params, parameters: [{{name: X}}]}}\n"
    ));
    let c = client();
    for job in ["app", "params"] {
        let (status, answer) = control_raw(
            &sb,
            "POST",
            "job-state",
            Some(&json!({"job": job, "disabled": true}).to_string()),
        );
        assert_eq!(
            (status, answer),
            (200, json!({"job": job, "disabled": true}))
        );
    }
    assert_error_page(post(&c, &sb, "/job/app/build"), 409, "app is not buildable");
    assert_error_page(
        post(&c, &sb, "/job/params/buildWithParameters?X=1"),
        409,
        "params is not buildable",
    );
    let job = get_json(&c, &sb, "/job/app/api/json");
    assert_eq!(
        (&job["buildable"], &job["color"]),
        (&json!(false), &json!("disabled"))
    );
    assert_eq!(get_json(&c, &sb, "/queue/api/json")["items"], json!([]));

    let (status, _) = control_raw(
        &sb,
        "POST",
        "job-state",
        Some(r#"{"job": "app", "disabled": false}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(post(&c, &sb, "/job/app/build").status(), 201);
    let (status, answer) = control_raw(
        &sb,
        "POST",
        "job-state",
        Some(r#"{"job": "nope", "disabled": true}"#),
    );
    assert_eq!(status, 404);
    assert!(answer["error"].is_string());
}

#[test]
fn unknown_control_routes_are_404_json_and_bad_bodies_400() {
    let _slot = shared_slot();
    let sb = sandbox(&format!("{FAST}jobs: [{{path: app}}]\n"));
    for (method, route) in [("GET", "nothing"), ("POST", "nothing"), ("GET", "restart")] {
        let (status, answer) = control_raw(&sb, method, route, None);
        assert_eq!(status, 404, "{method} {route}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    for (route, body) in [
        ("faults", "{not json"),
        ("faults", r#"{"error_brust": 3}"#),
        ("faults", r#"{"error_rate": 1.5}"#),
        ("faults", r#"{"error_status": 404}"#),
        ("restart", r#"{"duration": "soon"}"#),
        ("trigger", r#"{"params": {}}"#),
        ("delete-build", r#"{"job": "app"}"#),
        ("job-state", r#"{"job": "app"}"#),
    ] {
        let (status, answer) = control_raw(&sb, "POST", route, Some(body));
        assert_eq!(status, 400, "{route} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // Nothing above took effect.
    assert_eq!(control(&sb, "GET", "faults", json!({}))["error_burst"], 0);
    let c = client();
    assert_eq!(get(&c, &sb, "/api/json").status(), 200);
    let (status, _) = control_raw(&sb, "POST", "trigger", Some(r#"{"job": "nope"}"#));
    assert_eq!(status, 404);
}

// ---- auto_create ----

#[test]
fn auto_create_makes_an_unknown_job_on_first_use() {
    let _slot = shared_slot();
    let sb = sandbox(&format!("{FAST}auto_create: true\n"));
    let c = client();
    let job = get_json(&c, &sb, "/job/fresh/api/json");
    assert_eq!(job["name"], "fresh");
    assert_eq!(job["nextBuildNumber"], 1);
    let response = post(&c, &sb, "/job/other/build");
    assert_eq!(response.status(), 201);
    let number = build_number_of(&c, &sb, queue_id(&response));
    assert_eq!(number, 1);
    assert_eq!(
        finished_build(&c, &sb, "/job/other/", 1)["result"],
        "SUCCESS"
    );
}

#[test]
fn auto_create_gives_build_with_parameters_the_submitted_string_parameters() {
    let _slot = shared_slot();
    let sb = sandbox(&format!("{FAST}auto_create: true\n"));
    let c = client();
    let response = post(&c, &sb, "/job/made/buildWithParameters?A=1&B=x");
    assert_eq!(response.status(), 201);
    let number = build_number_of(&c, &sb, queue_id(&response));
    let build = finished_build(&c, &sb, "/job/made/", number);
    let parameters = &build["actions"][0]["parameters"];
    assert_eq!(
        parameters,
        &json!([
            {"_class": "hudson.model.StringParameterValue", "name": "A", "value": "1"},
            {"_class": "hudson.model.StringParameterValue", "name": "B", "value": "x"},
        ])
    );
    let job = get_json(&c, &sb, "/job/made/api/json");
    let definitions = &job["property"][0]["parameterDefinitions"];
    let names: Vec<(&Value, &Value)> = definitions
        .as_array()
        .expect("definitions")
        .iter()
        .map(|d| (&d["name"], &d["type"]))
        .collect();
    assert_eq!(
        names,
        vec![
            (&json!("A"), &json!("StringParameterDefinition")),
            (&json!("B"), &json!("StringParameterDefinition")),
        ]
    );
}

#[test]
fn without_auto_create_an_unknown_job_is_404() {
    let _slot = shared_slot();
    let sb = sandbox(FAST);
    let c = client();
    assert_eq!(get(&c, &sb, "/job/fresh/api/json").status(), 404);
    assert_eq!(post(&c, &sb, "/job/fresh/build").status(), 404);
    assert_eq!(
        post(&c, &sb, "/job/made/buildWithParameters?A=1").status(),
        404
    );
    assert_eq!(get(&c, &sb, "/job/fresh/api/json").status(), 404);
    assert!(sb.triggers().iter().all(|t| t.queue_id.is_none()));
    assert_eq!(get_json(&c, &sb, "/queue/api/json")["items"], json!([]));
}

// ---- load ----

const THREADS: usize = 8;
const BUILDS: usize = 1_000;

/// Triggers `BUILDS` builds of `load` with distinct values of X from `THREADS` clients, and
/// returns queue id -> value.
fn trigger_thousand(sb: &Sandbox) -> BTreeMap<u64, String> {
    let per_thread = BUILDS / THREADS;
    let results: Vec<Vec<(u64, String)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let c = client();
                    (0..per_thread)
                        .map(|i| {
                            let value = format!("v{t}-{i}");
                            let response =
                                post(&c, sb, &format!("/job/load/buildWithParameters?X={value}"));
                            assert_eq!(response.status(), 201, "{value}");
                            (queue_id(&response), value)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let pairs: Vec<(u64, String)> = results.into_iter().flatten().collect();
    assert_eq!(pairs.len(), BUILDS);
    let by_id: BTreeMap<u64, String> = pairs.into_iter().collect();
    assert_eq!(by_id.len(), BUILDS, "queue ids are not unique");
    by_id
}

#[test]
fn a_thousand_builds_from_concurrent_clients_all_finish_with_their_scripted_result() {
    let _slot = shared_slot();
    let started = Instant::now();
    let sb = sandbox(
        "speed: 1000\nquiet_period: 0s\njobs:\n  - path: load\n    kind: pipeline\n    \
         parameters: [{name: X}]\n    builds: [{duration: 20s, result: UNSTABLE}]\n",
    );
    let by_id = trigger_thousand(&sb);
    let builds = wait_for(
        Duration::from_secs(20),
        "a thousand builds to finish",
        || {
            let builds = sandbox_builds(&sb);
            (builds.len() == BUILDS && builds.iter().all(|b| b["building"] == false))
                .then_some(builds)
        },
    );
    let mut numbers = BTreeSet::new();
    for build in &builds {
        assert_eq!(build["result"], "UNSTABLE", "{build}");
        let id = build["queue_id"].as_u64().expect("queue_id");
        let value = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("unknown queue id {id}"));
        assert_eq!(build["params"], json!({"X": value}));
        assert_eq!(
            build["end_ms"].as_i64().unwrap() - build["start_ms"].as_i64().unwrap(),
            20_000
        );
        numbers.insert(build["number"].as_u64().expect("number"));
    }
    assert_eq!(numbers, (1..=BUILDS as u64).collect::<BTreeSet<_>>());
    let records = sb.triggers();
    assert_eq!(records.len(), BUILDS);
    assert!(records.iter().all(|r| r.status == 201 && r.created));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

/// User plus system CPU time of this whole process, from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name, starting at field 3 (state).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .collect();
    let ticks = |field: usize| fields[field - 3].parse::<u64>().expect("clock ticks");
    // USER_HZ is 100 on every Linux the tests run on.
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

#[test]
fn a_thousand_builds_in_flight_cost_no_cpu_while_nobody_asks() {
    // Alone in the process, so the CPU counted is the sandbox's.
    let _alone = SERIAL.write().unwrap_or_else(|e| e.into_inner());
    let sb = sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: load\n    kind: pipeline\n    \
         parameters: [{name: X}]\n    builds: [{duration: 1h}]\n",
    );
    trigger_thousand(&sb);
    let running = sandbox_builds(&sb);
    assert_eq!(running.len(), BUILDS);
    assert!(running.iter().all(|b| b["building"] == true));

    let cpu_before = process_cpu();
    std::thread::sleep(Duration::from_millis(300));
    let used = process_cpu().saturating_sub(cpu_before);
    assert!(
        used < Duration::from_millis(100),
        "{used:?} of CPU in 300 ms with nobody asking"
    );

    let still = sandbox_builds(&sb);
    assert!(still.iter().all(|b| b["building"] == true));
}

#[test]
fn shadow_triggers_make_someone_elses_build_the_last_one() {
    let _slot = shared_slot();
    let sb = sandbox(
        "speed: 100\nquiet_period: 0s\nfaults: {shadow_triggers: true}\njobs:\n  \
         - {path: app, kind: pipeline, parameters: [{name: V}], builds: [{duration: 10s}]}\n",
    );
    let c = client();
    let ours = queue_id(&post(&c, &sb, "/job/app/buildWithParameters?V=1"));
    let number = build_number_of(&c, &sb, ours);
    let last = wait_for(Duration::from_secs(5), "someone else's build", || {
        let last = get(&c, &sb, "/job/app/lastBuild/api/json");
        (last.status() == 200)
            .then(|| json(last))
            .filter(|b| b["number"].as_u64() != Some(number))
    });
    assert_eq!(last["number"], number + 1);
    assert_ne!(last["queueId"], ours);
    let cause = &last["actions"][1]["causes"][0];
    assert_eq!(cause["userId"], "someone-else", "{last}");
    assert_eq!(last["actions"][0]["parameters"][0]["value"], "1");
    // The shadow build does not shadow itself: two builds, not a cascade.
    std::thread::sleep(Duration::from_millis(50));
    let job = get_json(&c, &sb, "/job/app/api/json?tree=builds[number]");
    assert_eq!(job["builds"].as_array().map(Vec::len), Some(2), "{job}");
}

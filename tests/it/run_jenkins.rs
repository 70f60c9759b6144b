//! The real `jrun` binary against Jenkins' hard parts: API tokens versus passwords and crumbs,
//! where credentials come from, wrong and unreachable servers, following its own build when
//! others trigger the same job or the queue forgets the item, restarts, 5xx bursts, lost
//! answers, deleted builds, `tree=` filtering, the cap on requests in flight, and remote
//! trigger tokens (DESIGN §3 "Credentials", §5; research/jenkins-rest.md §7).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    Outcome, PASSWORD, Running, TOKEN, USER, client, control, get, jenkins_block, jrun,
    jrun_command, pipeline_file, stats,
};
use jrun::sandbox::Sandbox;
use serde_json::{Value, json};

/// Real-time polling, because jrun polls an external server on the wall clock.
const POLL: &str = "defaults:\n  poll: {initial: 20ms, max: 100ms}\n";

fn pipeline(jenkins: &str, steps: &str) -> String {
    format!("name: hard-parts\n{jenkins}{POLL}steps:\n{steps}")
}

fn password_block(sb: &Sandbox, password: &str) -> String {
    format!(
        "jenkins:\n  url: {}\n  user: {USER}\n  password: {password}\n  unreachable_timeout: 5s\n",
        sb.url()
    )
}

/// Runs jrun on `path` to the end, with the JSON summary on stdout.
fn run_json(path: &Path, env: &[(&str, &str)]) -> Outcome {
    let mut cmd = jrun();
    cmd.arg(path)
        .args(["--progress", "never", "--output", "json"]);
    for (name, value) in env {
        cmd.env(name, value);
    }
    Outcome::from(cmd.output().expect("jrun runs"))
}

/// `jrun PATH --output json` in the background, with `env` set on it.
fn start_json(path: &Path, env: &[(&str, &str)]) -> Running {
    Running::spawn(
        jrun_command()
            .arg(path)
            .args(["--progress", "never", "--output", "json"])
            .envs(env.iter().copied()),
    )
}

/// How many requests the sandbox routed as `key` ("GET crumb", "POST trigger:build", ...).
fn route_count(stats: &Value, key: &str) -> u64 {
    stats["routes"][key]["count"].as_u64().unwrap_or(0)
}

fn sandbox_builds(sb: &Sandbox, job: &str) -> Vec<Value> {
    control(sb, "GET", "builds", Value::Null)
        .as_array()
        .expect("builds array")
        .iter()
        .filter(|b| b["job"] == job)
        .cloned()
        .collect()
}

/// Triggers jrun sent (not the sandbox's own "someone else" ones) that created a queue item.
fn created_triggers(sb: &Sandbox, job: &str) -> usize {
    sb.triggers()
        .iter()
        .filter(|t| t.job == job && !t.external && t.created)
        .count()
}

fn jrun_triggered(sb: &Sandbox, job: &str) -> bool {
    sb.triggers().iter().any(|t| t.job == job && !t.external)
}

/// Waits until the sandbox shows a running build of `job`, and returns its number.
fn running_build(sb: &Sandbox, job: &str) -> u64 {
    common::wait_for(Duration::from_secs(20), "a running build", || {
        sandbox_builds(sb, job)
            .iter()
            .find(|b| b["building"] == true)
            .and_then(|b| b["number"].as_u64())
    })
}

/// Every step passed, and each of `jobs` got exactly one build, created by one trigger.
fn assert_one_build_each(sb: &Sandbox, outcome: &Outcome, jobs: &[&str]) {
    outcome.assert_code(0);
    for job in jobs {
        let builds = sandbox_builds(sb, job);
        assert_eq!(builds.len(), 1, "builds of {job}: {builds:?}\n{outcome}");
        assert_eq!(builds[0]["result"], "SUCCESS", "{job}");
        assert_eq!(created_triggers(sb, job), 1, "triggers of {job}");
        let step = outcome.step(job);
        assert_eq!(step["number"], builds[0]["number"], "{job}\n{outcome}");
        assert_eq!(step["queue_id"], builds[0]["queue_id"], "{job}\n{outcome}");
    }
}

// ---- authentication ----

#[test]
fn api_token_auth_never_asks_for_a_crumb() {
    let sb =
        common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: compile}, {path: package}]\n");
    let text = pipeline(&jenkins_block(&sb), "  - job: compile\n  - job: package\n");
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["compile", "package"]);
    let stats = stats(&sb);
    let crumb_routes: Vec<&String> = stats["routes"]
        .as_object()
        .expect("routes")
        .keys()
        .filter(|k| k.contains("crumb"))
        .collect();
    assert!(crumb_routes.is_empty(), "{crumb_routes:?}");
    let triggers = sb.triggers();
    assert_eq!(triggers.len(), 2);
    assert!(
        triggers
            .iter()
            .all(|t| t.status == 201 && t.user.as_deref() == Some(USER)),
        "{triggers:?}"
    );
}

#[test]
fn password_auth_fetches_one_crumb_and_keeps_its_session_cookie() {
    let sb = common::sandbox(
        "speed: 20\nquiet_period: 0s\njobs: [{path: a, kind: pipeline}, {path: b, kind: pipeline}, {path: c, kind: pipeline}, {path: d, kind: pipeline}]\n",
    );
    let text = pipeline(
        &password_block(&sb, PASSWORD),
        "  - job: a\n  - parallel:\n      - job: b\n      - job: c\n  - job: d\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a", "b", "c", "d"]);
    let stats = stats(&sb);
    assert_eq!(route_count(&stats, "GET crumb"), 1, "{}", stats["routes"]);
    // A POST without the cookie the crumb is bound to would have been refused for its crumb.
    assert_eq!(
        route_count(&stats, "POST crumb_rejected"),
        0,
        "{}",
        stats["routes"]
    );
    let triggers = sb.triggers();
    assert_eq!(triggers.len(), 4, "{triggers:?}");
    assert!(triggers.iter().all(|t| t.status == 201), "{triggers:?}");
    outcome.assert_hides(PASSWORD);
}

#[test]
fn a_password_from_the_environment_is_sent_with_a_crumb() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}, {path: b}]\n");
    let text = pipeline("", "  - job: a\n  - job: b\n");
    let (_dir, path) = pipeline_file(&text);
    let url = sb.url();
    let outcome = run_json(
        &path,
        &[
            ("JENKINS_URL", &url),
            ("JENKINS_USER_ID", USER),
            ("JENKINS_PASSWORD", PASSWORD),
        ],
    );
    assert_one_build_each(&sb, &outcome, &["a", "b"]);
    let stats = stats(&sb);
    assert_eq!(route_count(&stats, "GET crumb"), 1, "{}", stats["routes"]);
    assert_eq!(route_count(&stats, "POST crumb_rejected"), 0);
    assert!(
        sb.triggers()
            .iter()
            .all(|t| t.user.as_deref() == Some(USER))
    );
    outcome.assert_hides(PASSWORD);
}

#[test]
fn a_crumb_invalidated_mid_run_is_fetched_again_and_the_run_passes() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - {path: first, kind: pipeline, builds: [{duration: 10s}]}\n  - {path: second, kind: pipeline}\n",
    );
    let text = pipeline(
        &password_block(&sb, PASSWORD),
        "  - job: first\n  - job: second\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let running = start_json(&path, &[]);
    common::wait_for(Duration::from_secs(20), "the first trigger", || {
        jrun_triggered(&sb, "first").then_some(())
    });
    let answer = control(&sb, "POST", "sessions/invalidate", json!({}));
    assert!(answer["invalidated"].as_u64() >= Some(1), "{answer}");
    let outcome = running.outcome(Duration::from_secs(30));
    assert_one_build_each(&sb, &outcome, &["first", "second"]);
    let stats = stats(&sb);
    assert_eq!(
        route_count(&stats, "POST crumb_rejected"),
        1,
        "{}",
        stats["routes"]
    );
    assert_eq!(route_count(&stats, "GET crumb"), 2, "{}", stats["routes"]);
}

#[test]
fn a_password_given_as_a_token_gets_a_crumb_after_its_first_refusal() {
    // People put passwords where tokens belong; Jenkins then wants a crumb for every POST.
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}, {path: b}]\n");
    let block = jenkins_block(&sb).replace(TOKEN, PASSWORD);
    let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: a\n  - job: b\n"));
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a", "b"]);
    let stats = stats(&sb);
    // Refused once, then the crumb is sent up front for the rest of the run.
    assert_eq!(
        route_count(&stats, "POST crumb_rejected"),
        1,
        "{}",
        stats["routes"]
    );
    assert_eq!(route_count(&stats, "GET crumb"), 1, "{}", stats["routes"]);
    outcome.assert_hides(PASSWORD);
}

#[test]
fn a_restart_forgets_the_session_and_password_auth_gets_a_new_crumb() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - {path: first, kind: pipeline, builds: [{duration: 20s}]}\n  - {path: second, kind: pipeline}\n",
    );
    let text = pipeline(
        &password_block(&sb, PASSWORD),
        "  - job: first\n  - job: second\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let running = start_json(&path, &[]);
    running_build(&sb, "first");
    control(&sb, "POST", "restart", json!({"duration": "3s"}));
    let outcome = running.outcome(Duration::from_secs(30));
    assert_one_build_each(&sb, &outcome, &["first", "second"]);
    let stats = stats(&sb);
    assert!(
        route_count(&stats, "GET restarting") >= 1,
        "{}",
        stats["routes"]
    );
    assert_eq!(route_count(&stats, "GET crumb"), 2, "{}", stats["routes"]);
}

#[test]
fn password_auth_without_csrf_protection_asks_for_a_crumb_once_and_posts_without_one() {
    let sb =
        common::sandbox("speed: 20\ncsrf: false\nquiet_period: 0s\njobs: [{path: a}, {path: b}]\n");
    let text = pipeline(&password_block(&sb, PASSWORD), "  - job: a\n  - job: b\n");
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a", "b"]);
    // The crumb issuer's 404 says CSRF protection is off; that is remembered for the run.
    assert_eq!(
        route_count(&stats(&sb), "GET not_found"),
        1,
        "{}",
        stats(&sb)["routes"]
    );
}

#[test]
fn anonymous_access_fetches_a_crumb_like_a_password_does() {
    let sb = common::sandbox(
        "speed: 20\nanonymous: build\nquiet_period: 0s\njobs: [{path: a}, {path: b}]\n",
    );
    let (_dir, path) = pipeline_file(&pipeline(&url_only_block(&sb), "  - job: a\n  - job: b\n"));
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a", "b"]);
    let stats = stats(&sb);
    assert_eq!(route_count(&stats, "GET crumb"), 1, "{}", stats["routes"]);
    assert_eq!(
        route_count(&stats, "POST crumb_rejected"),
        0,
        "{}",
        stats["routes"]
    );
    assert!(
        sb.triggers().iter().all(|t| t.user.is_none()),
        "{:?}",
        sb.triggers()
    );
}

// ---- where credentials come from ----

#[test]
fn credentials_from_the_environment_need_no_jenkins_block() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let text = pipeline("", "  - job: a\n");
    let (_dir, path) = pipeline_file(&text);
    let url = sb.url();
    let outcome = run_json(
        &path,
        &[
            ("JENKINS_URL", &url),
            ("JENKINS_USER_ID", USER),
            ("JENKINS_API_TOKEN", TOKEN),
        ],
    );
    assert_one_build_each(&sb, &outcome, &["a"]);
    assert_eq!(sb.triggers()[0].user.as_deref(), Some(USER));
    assert_eq!(route_count(&stats(&sb), "GET crumb"), 0);
    outcome.assert_hides(TOKEN);
}

#[test]
fn a_token_file_is_read_and_its_newline_ignored() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let block = format!(
        "jenkins:\n  url: {}\n  user: {USER}\n  token_file: {}\n  unreachable_timeout: 5s\n",
        sb.url(),
        token_file.display()
    );
    let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: a\n"));
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a"]);
    assert_eq!(sb.triggers()[0].user.as_deref(), Some(USER));
    assert_eq!(route_count(&stats(&sb), "GET crumb"), 0);
}

/// A netrc whose first entry is for another host, so only a lookup by host finds alice.
fn netrc_text() -> String {
    format!(
        "machine ci.example.com login bob password bobs-secret\nmachine 127.0.0.1\n  login {USER}\n  password {TOKEN}\n"
    )
}

fn url_only_block(sb: &Sandbox) -> String {
    format!("jenkins:\n  url: {}\n  unreachable_timeout: 5s\n", sb.url())
}

#[test]
fn a_netrc_file_named_by_netrc_supplies_user_and_token() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let secrets = tempfile::tempdir().unwrap();
    let netrc = secrets.path().join("netrc");
    std::fs::write(&netrc, netrc_text()).unwrap();
    let (_dir, path) = pipeline_file(&pipeline(&url_only_block(&sb), "  - job: a\n"));
    let outcome = run_json(&path, &[("NETRC", netrc.to_str().unwrap())]);
    assert_one_build_each(&sb, &outcome, &["a"]);
    assert_eq!(sb.triggers()[0].user.as_deref(), Some(USER));
}

#[test]
fn a_netrc_in_home_supplies_user_and_token() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".netrc"), netrc_text()).unwrap();
    let (_dir, path) = pipeline_file(&pipeline(&url_only_block(&sb), "  - job: a\n"));
    let outcome = run_json(&path, &[("HOME", home.path().to_str().unwrap())]);
    assert_one_build_each(&sb, &outcome, &["a"]);
    assert_eq!(sb.triggers()[0].user.as_deref(), Some(USER));
}

// ---- wrong or missing server ----

#[test]
fn a_wrong_api_token_exits_3_without_printing_it() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let wrong = "11bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let block = jenkins_block(&sb).replace(TOKEN, wrong);
    let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: a\n"));
    let outcome = Outcome::from(
        jrun()
            .arg(&path)
            .args(["--progress", "never"])
            .output()
            .expect("jrun runs"),
    );
    outcome.assert_code(3);
    outcome.assert_hides(wrong);
    assert!(outcome.stderr.contains("refused"), "{outcome}");
    assert!(sb.triggers().is_empty(), "{:?}", sb.triggers());
}

#[test]
fn a_wrong_password_exits_3_without_printing_it() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let wrong = "not-alices-password-93";
    let (_dir, path) = pipeline_file(&pipeline(&password_block(&sb, wrong), "  - job: a\n"));
    let outcome = run_json(&path, &[]);
    outcome.assert_code(3);
    outcome.assert_hides(wrong);
    assert_eq!(outcome.step("a")["status"], "failed", "{outcome}");
    assert!(sb.triggers().is_empty(), "{:?}", sb.triggers());
}

#[test]
fn an_unreachable_jenkins_exits_3_after_bounded_retries() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let block = format!(
        "jenkins:\n  url: http://127.0.0.1:{port}\n  user: {USER}\n  token: {TOKEN}\n  unreachable_timeout: 2s\n"
    );
    let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: a\n  - job: b\n"));
    let started = Instant::now();
    let running = start_json(&path, &[]);
    // Generous: catches a hang, never a slow machine.
    let outcome = running.outcome(Duration::from_secs(30));
    let took = started.elapsed();
    outcome.assert_code(3);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(outcome.stderr.contains("unreachable"), "{outcome}");
    assert_eq!(outcome.step("a")["status"], "failed", "{outcome}");
    assert_eq!(outcome.step("b")["status"], "skipped", "{outcome}");
    outcome.assert_hides(TOKEN);
}

/// Accepts connections on 127.0.0.1 and never answers, until dropped.
struct SilentServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SilentServer {
    fn start() -> SilentServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            // Bounded: a minute of 10 ms looks, and at most 100 connections kept open.
            for _ in 0..6_000 {
                if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if let Ok((stream, _)) = listener.accept()
                    && held.len() < 100
                {
                    held.push(stream);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        SilentServer { port, stop }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_jenkins_that_never_answers_is_given_up_on_after_its_unreachable_timeout() {
    let silent = SilentServer::start();
    let block = format!(
        "jenkins:\n  url: http://127.0.0.1:{}\n  user: {USER}\n  token: {TOKEN}\n  unreachable_timeout: 1s\n",
        silent.port
    );
    let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: a\n"));
    let running = start_json(&path, &[]);
    let outcome = running.outcome(Duration::from_secs(60));
    outcome.assert_code(3);
    // Each request waited as long as the server may be unreachable, not the 30 s a request
    // may otherwise take.
    assert!(
        outcome.stderr.contains("no answer within 1.0s"),
        "{outcome}"
    );
    assert!(outcome.stderr.contains("unreachable"), "{outcome}");
    outcome.assert_hides(TOKEN);
}

#[test]
fn a_jenkins_that_goes_away_mid_build_ends_the_run_with_exit_3() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs: [{path: long, kind: pipeline, builds: [{duration: 600s}]}]\n",
    );
    let block = jenkins_block(&sb).replace("unreachable_timeout: 5s", "unreachable_timeout: 2s");
    let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: long\n"));
    let running = start_json(&path, &[]);
    running_build(&sb, "long");
    // Jenkins goes away once jrun knows its build: it has read the queue item since the
    // build started.
    common::wait_for(Duration::from_secs(20), "jrun to see its build", || {
        let stats = common::control(&sb, "GET", "stats", Value::Null);
        (route_count(&stats, "GET queue_item") >= 1).then_some(())
    });
    drop(sb);
    let outcome = running.outcome(Duration::from_secs(30));
    outcome.assert_code(3);
    let step = outcome.step("long");
    assert_eq!(step["status"], "failed", "{outcome}");
    assert_eq!(step["number"], 1, "{outcome}");
    assert!(
        step["message"]
            .as_str()
            .unwrap_or("")
            .contains("unreachable"),
        "{outcome}"
    );
}

// ---- following its own build ----

/// A job whose first build passes slowly and whose next ones fail fast: a client that reports
/// `lastBuild` instead of its own build reports the wrong number and FAILURE.
const SHADOWED_JOB: &str = "  - path: deploy\n    kind: pipeline\n    parameters: [{name: VERSION}]\n    builds: [{duration: 3s, result: SUCCESS}, {duration: 1s, result: FAILURE}]\n";

fn own_build(sb: &Sandbox, job: &str) -> Value {
    let ours: Vec<u64> = sb
        .triggers()
        .iter()
        .filter(|t| t.job == job && !t.external && t.created)
        .filter_map(|t| t.queue_id)
        .collect();
    assert_eq!(ours.len(), 1, "jrun's triggers of {job}: {ours:?}");
    sandbox_builds(sb, job)
        .into_iter()
        .find(|b| b["queue_id"] == ours[0])
        .unwrap_or_else(|| panic!("no build of {job} has queue id {}", ours[0]))
}

#[test]
fn someone_else_triggering_the_same_job_does_not_change_which_build_jrun_reports() {
    let sb = common::sandbox(&format!(
        "speed: 10\nquiet_period: 0s\nfaults: {{shadow_triggers: true}}\njobs:\n{SHADOWED_JOB}"
    ));
    let text = pipeline(
        &jenkins_block(&sb),
        "  - job: deploy\n    params: {VERSION: \"1.2\"}\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    let ours = own_build(&sb, "deploy");
    let step = outcome.step("deploy");
    assert_eq!(step["number"], ours["number"], "{outcome}");
    assert_eq!(step["queue_id"], ours["queue_id"], "{outcome}");
    assert_eq!(step["result"], "SUCCESS", "{outcome}");
    let last = sandbox_builds(&sb, "deploy")
        .iter()
        .filter_map(|b| b["number"].as_u64())
        .max();
    assert!(
        last > ours["number"].as_u64(),
        "the shadow build came after jrun's"
    );
    assert!(
        sb.triggers().iter().any(|t| t.external),
        "a shadow trigger happened"
    );
}

#[test]
fn an_expired_queue_item_is_recovered_by_its_queue_id() {
    // The item 404s the moment it leaves the queue, and a shadow build makes `lastBuild` wrong.
    let sb = common::sandbox(&format!(
        "speed: 10\nquiet_period: 1s\nleft_item_ttl: 0s\nfaults: {{shadow_triggers: true}}\njobs:\n{SHADOWED_JOB}"
    ));
    let text = pipeline(
        &jenkins_block(&sb),
        "  - job: deploy\n    params: {VERSION: \"1.2\"}\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    let ours = own_build(&sb, "deploy");
    let step = outcome.step("deploy");
    assert_eq!(step["number"], ours["number"], "{outcome}");
    assert_eq!(step["result"], "SUCCESS", "{outcome}");
    // Once to check the job, and at least once more to search its builds by queue id.
    assert!(
        route_count(&stats(&sb), "GET job") >= 2,
        "{}",
        stats(&sb)["routes"]
    );
}

// ---- restarts and 5xx ----

#[test]
fn a_restart_while_a_build_runs_does_not_change_the_outcome() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - {path: build, kind: pipeline, builds: [{duration: 20s}]}\n  - {path: deploy, kind: pipeline}\n",
    );
    let text = pipeline(&jenkins_block(&sb), "  - job: build\n  - job: deploy\n");
    let (_dir, path) = pipeline_file(&text);
    let running = start_json(&path, &[]);
    running_build(&sb, "build");
    control(&sb, "POST", "restart", json!({"duration": "3s"}));
    let outcome = running.outcome(Duration::from_secs(30));
    assert_one_build_each(&sb, &outcome, &["build", "deploy"]);
    let stats = stats(&sb);
    assert!(
        route_count(&stats, "GET restarting") >= 1,
        "jrun never saw the restart: {}",
        stats["routes"]
    );
}

#[test]
fn a_scheduled_restart_at_startup_is_waited_out() {
    // Jenkins is "getting ready to work" for the first 2 real seconds.
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\nrestarts: [{at: 0s, duration: 20s}]\njobs: [{path: a}, {path: b}]\n",
    );
    let block = jenkins_block(&sb).replace("unreachable_timeout: 5s", "unreachable_timeout: 20s");
    let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: a\n  - job: b\n"));
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a", "b"]);
    assert!(route_count(&stats(&sb), "GET restarting") >= 1);
}

#[test]
fn a_burst_of_503s_on_every_route_is_waited_out() {
    // Three failures fit well inside the 5 s of patience however the backoff jitters.
    let sb = common::sandbox(
        "speed: 20\nquiet_period: 0s\nfaults: {error_burst: 3}\njobs: [{path: a}, {path: b}]\n",
    );
    let text = pipeline(&jenkins_block(&sb), "  - job: a\n  - job: b\n");
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a", "b"]);
    assert_eq!(stats(&sb)["faults_injected"], 3);
}

#[test]
fn a_trigger_answered_503_is_looked_for_then_repeated_without_a_second_build() {
    let sb = common::sandbox(
        "speed: 20\nquiet_period: 0s\nfaults: {error_burst: 2, scope: triggers}\njobs: [{path: a}, {path: b}]\n",
    );
    let text = pipeline(&jenkins_block(&sb), "  - job: a\n  - job: b\n");
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a", "b"]);
    let stats = stats(&sb);
    assert_eq!(route_count(&stats, "POST fault"), 2, "{}", stats["routes"]);
    assert_eq!(stats["faults_injected"], 2);
}

#[test]
fn a_trigger_whose_answer_was_lost_after_it_took_effect_is_not_repeated() {
    // Both steps trigger the same job; each one's first POST queues a build and loses the answer.
    let sb = common::sandbox(
        "speed: 20\nquiet_period: 0s\nfaults: {reset_burst: 2, reset_after_processing: true, scope: triggers}\njobs:\n  - {path: deploy, kind: pipeline, parameters: [{name: REGION}]}\n",
    );
    let text = pipeline(
        &jenkins_block(&sb),
        "  - id: eu\n    job: deploy\n    params: {REGION: eu}\n  - id: us\n    job: deploy\n    params: {REGION: us}\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    assert_eq!(stats(&sb)["faults_injected"], 2);
    let builds = sandbox_builds(&sb, "deploy");
    assert_eq!(builds.len(), 2, "{builds:?}");
    for region in ["eu", "us"] {
        let mine: Vec<&Value> = builds
            .iter()
            .filter(|b| b["params"]["REGION"] == region)
            .collect();
        assert_eq!(mine.len(), 1, "builds for {region}: {builds:?}");
        let created = sb
            .triggers()
            .iter()
            .filter(|t| {
                t.created
                    && t.params
                        .contains(&("REGION".to_string(), region.to_string()))
            })
            .count();
        assert_eq!(created, 1, "{region}: {:?}", sb.triggers());
        let step = outcome.step(region);
        assert_eq!(step["number"], mine[0]["number"], "{outcome}");
        assert_eq!(step["queue_id"], mine[0]["queue_id"], "{outcome}");
    }
}

#[test]
fn a_trigger_refused_by_a_restarting_jenkins_is_sent_again_once_it_is_up() {
    // Trigger POSTs are slow, so the restart can begin while the first one is on its way.
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\nfaults: {latency: 500ms, scope: triggers}\njobs: [{path: a, kind: pipeline}]\n",
    );
    let (_dir, path) = pipeline_file(&pipeline(&jenkins_block(&sb), "  - job: a\n"));
    let running = start_json(&path, &[]);
    common::wait_for(
        Duration::from_secs(20),
        "the trigger POST in flight",
        || {
            let stats = stats(&sb);
            (route_count(&stats, "GET job") >= 1 && stats["in_flight"] == 1).then_some(())
        },
    );
    control(&sb, "POST", "restart", json!({"duration": "10s"}));
    let outcome = running.outcome(Duration::from_secs(30));
    assert_one_build_each(&sb, &outcome, &["a"]);
    let stats = stats(&sb);
    assert!(
        route_count(&stats, "POST restarting") >= 1,
        "the trigger never met the restart: {}",
        stats["routes"]
    );
}

#[test]
fn a_trigger_dropped_before_it_took_effect_is_sent_again_once() {
    let sb = common::sandbox(
        "speed: 20\nquiet_period: 0s\nfaults: {reset_burst: 1, scope: triggers}\njobs: [{path: a}]\n",
    );
    let (_dir, path) = pipeline_file(&pipeline(&jenkins_block(&sb), "  - job: a\n"));
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a"]);
    assert_eq!(stats(&sb)["faults_injected"], 1);
}

#[test]
fn a_lost_trigger_answer_is_not_confused_with_someone_elses_identical_item() {
    // When the second step's build starts, someone else queues an identical build, which is
    // newer than jrun's when jrun searches the queue and the builds for its lost trigger.
    let sb = common::sandbox(&format!(
        "speed: 10\nquiet_period: 0s\nfaults: {{shadow_triggers: true}}\njobs:\n{SHADOWED_JOB}"
    ));
    let text = pipeline(
        &jenkins_block(&sb),
        "  - id: one\n    job: deploy\n    params: {VERSION: \"1.2\"}\n  - id: two\n    job: deploy\n    params: {VERSION: \"1.2\"}\n    expect: [SUCCESS, FAILURE]\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let running = start_json(&path, &[]);
    common::wait_for(Duration::from_secs(20), "the first build", || {
        (!sandbox_builds(&sb, "deploy").is_empty()).then_some(())
    });
    control(
        &sb,
        "POST",
        "faults",
        json!({"shadow_triggers": true, "reset_burst": 1, "reset_after_processing": true, "scope": "triggers"}),
    );
    let outcome = running.outcome(Duration::from_secs(30));
    outcome.assert_code(0);
    assert_eq!(stats(&sb)["faults_injected"], 1);
    let ours: Vec<u64> = sb
        .triggers()
        .iter()
        .filter(|t| !t.external && t.created)
        .filter_map(|t| t.queue_id)
        .collect();
    assert_eq!(ours.len(), 2, "{:?}", sb.triggers());
    let builds = sandbox_builds(&sb, "deploy");
    for (id, queue_id) in ["one", "two"].iter().zip(&ours) {
        let step = outcome.step(id);
        assert_eq!(step["queue_id"], *queue_id, "{outcome}");
        let build = builds
            .iter()
            .find(|b| b["queue_id"] == *queue_id)
            .unwrap_or_else(|| panic!("no build for queue item {queue_id}: {builds:?}"));
        assert_eq!(step["number"], build["number"], "{outcome}");
    }
}

/// A job whose builds are started, at the moment each of jrun's starts, by jrun's own user
/// with the same parameters: someone sharing the release bot's account.
fn same_user_shadow_sandbox(extra_param: &str) -> Sandbox {
    common::sandbox(&format!(
        "speed: 10\nquiet_period: 0s\nfaults: {{shadow_triggers: true, shadow_user: {USER}, \
         reset_burst: 1, reset_after_processing: true, scope: triggers}}\njobs:\n  - path: deploy\n    \
         kind: pipeline\n    parameters: [{{name: VERSION}}{extra_param}]\n    \
         builds: [{{duration: 2s, result: FAILURE}}, {{duration: 1s, result: SUCCESS}}]\n"
    ))
}

#[test]
fn a_lost_trigger_answer_with_a_same_user_lookalike_fails_as_ambiguous_listing_both() {
    // jrun's POST takes effect but its answer is lost; by the time jrun looks, the same user
    // has queued an identical build. Either could be jrun's: it must not pick one.
    let sb = same_user_shadow_sandbox("");
    let text = pipeline(
        &jenkins_block(&sb),
        "  - id: deploy\n    job: deploy\n    params: {VERSION: \"1.2\"}\n    retry: {max: 2, on: [FAILURE, lost], delay: 10ms}\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(1);
    let step = outcome.step("deploy");
    assert_eq!(step["status"], "failed", "{outcome}");
    assert_eq!(step["failure"]["kind"], "ambiguous", "{outcome}");
    let candidates = step["candidates"].as_array().cloned().unwrap_or_default();
    assert_eq!(candidates.len(), 2, "{outcome}");
    assert!(
        step["number"].is_null(),
        "no build is reported as its own\n{outcome}"
    );
    // Not retried: another trigger could build twice.
    assert_eq!(step["attempts"], 1, "{outcome}");
    let posts = sb.triggers().iter().filter(|t| !t.external).count();
    assert_eq!(posts, 1, "{:?}", sb.triggers());
    assert!(
        outcome.stderr.contains("cannot tell which"),
        "the log says why\n{outcome}"
    );
}

#[test]
fn with_trigger_id_a_lost_trigger_answer_is_recovered_exactly_despite_a_same_user_lookalike() {
    // The same user queued an identical build a moment before jrun's trigger, whose answer is
    // then lost: by user, parameters and time both are jrun's, by the trigger id only one.
    let sb = common::sandbox(
        "speed: 1\nquiet_period: 0s\nfaults: {reset_burst: 1, reset_after_processing: true, \
         scope: triggers}\njobs:\n  - path: deploy\n    kind: pipeline\n    \
         parameters: [{name: VERSION}, {name: JRUN_TRIGGER}]\n    \
         builds: [{duration: 300ms, result: FAILURE}, {duration: 300ms, result: SUCCESS}]\n",
    );
    let lookalike = control(
        &sb,
        "POST",
        "trigger",
        json!({"job": "deploy", "params": {"VERSION": "1.2"}, "user": USER}),
    );
    let text = pipeline(
        &jenkins_block(&sb),
        "  - id: deploy\n    job: deploy\n    params: {VERSION: \"1.2\"}\n    trigger_id: JRUN_TRIGGER\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    let ours: Vec<_> = sb.triggers().into_iter().filter(|t| !t.external).collect();
    assert_eq!(ours.len(), 1, "one POST: {ours:?}");
    let id = ours[0]
        .params
        .iter()
        .find(|(n, _)| n == "JRUN_TRIGGER")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        id.starts_with("jrun-"),
        "jrun filled the trigger id: {ours:?}"
    );
    let step = outcome.step("deploy");
    assert_eq!(step["queue_id"], ours[0].queue_id.unwrap_or(0), "{outcome}");
    assert_ne!(step["queue_id"], lookalike["queue_id"], "{outcome}");
    assert_eq!(step["number"], 2, "{outcome}");
    assert_eq!(step["result"], "SUCCESS", "{outcome}");
}

#[test]
fn resume_after_a_kill_mid_trigger_never_adopts_a_same_user_build_that_came_later() {
    // jrun is killed after its POST took effect and before it learnt the queue item; its build
    // fails; then the same user builds the job alike and that build passes. Resuming must not
    // report the later build as jrun's: without a trigger id it cannot tell them apart and
    // says so, with one it finds its own.
    for trigger_id in [false, true] {
        let sb = common::sandbox(
            "speed: 10\nquiet_period: 0s\njobs:\n  - path: deploy\n    kind: pipeline\n    \
             parameters: [{name: VERSION}, {name: JRUN_TRIGGER}]\n    \
             builds: [{duration: 1s, result: FAILURE}, {duration: 1s, result: SUCCESS}]\n",
        );
        let extra = if trigger_id {
            "    trigger_id: JRUN_TRIGGER\n"
        } else {
            ""
        };
        let text = pipeline(
            &jenkins_block(&sb),
            &format!("  - id: deploy\n    job: deploy\n    params: {{VERSION: \"1.2\"}}\n{extra}"),
        );
        let (dir, path) = pipeline_file(&text);
        let journal = dir.path().join("run.journal");
        let killed = jrun()
            .arg(&path)
            .args(["--progress", "never", "--journal"])
            .arg(&journal)
            .env("JRUN_TEST_CRASH_AFTER", "trigger_answered")
            .output()
            .expect("jrun runs");
        assert_eq!(killed.status.code(), Some(137), "{killed:?}");
        control(
            &sb,
            "POST",
            "trigger",
            json!({"job": "deploy", "params": {"VERSION": "1.2"}, "user": USER}),
        );
        let resumed = Outcome::from(
            jrun()
                .arg("resume")
                .arg(&journal)
                .args(["--progress", "never", "--output", "json"])
                .output()
                .expect("jrun runs"),
        );
        resumed.assert_code(1);
        let step = resumed.step("deploy");
        let own: Vec<_> = sb.triggers().into_iter().filter(|t| !t.external).collect();
        assert_eq!(own.len(), 1, "nothing triggered twice: {own:?}");
        if trigger_id {
            assert_eq!(step["number"], 1, "{resumed}");
            assert_eq!(step["result"], "FAILURE", "{resumed}");
            assert_eq!(step["queue_id"], own[0].queue_id.unwrap_or(0), "{resumed}");
        } else {
            assert_eq!(step["failure"]["kind"], "ambiguous", "{resumed}");
            assert_eq!(
                step["candidates"].as_array().map(Vec::len),
                Some(2),
                "{resumed}"
            );
            assert!(step["number"].is_null(), "{resumed}");
        }
    }
}

#[test]
fn a_trigger_id_the_job_does_not_define_is_refused_before_anything_is_triggered() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - {path: deploy, parameters: [{name: VERSION}, {name: REGION, type: choice, choices: [eu]}]}\n",
    );
    for name in ["JRUN_TRIGGER", "REGION"] {
        let text = pipeline(
            &jenkins_block(&sb),
            &format!("  - job: deploy\n    params: {{VERSION: \"1\"}}\n    trigger_id: {name}\n"),
        );
        let (_dir, path) = pipeline_file(&text);
        let outcome = run_json(&path, &[]);
        outcome.assert_code(2);
        assert!(
            outcome.stderr.contains(&format!("`{name}`")) && outcome.stderr.contains("trigger_id"),
            "{outcome}"
        );
    }
    assert!(sb.triggers().is_empty(), "{:?}", sb.triggers());
}

#[test]
fn a_build_deleted_while_followed_ends_its_step_as_lost() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs: [{path: long, kind: pipeline, builds: [{duration: 60s}]}, {path: after}]\n",
    );
    let text = pipeline(&jenkins_block(&sb), "  - job: long\n  - job: after\n");
    let (_dir, path) = pipeline_file(&text);
    let running = start_json(&path, &[]);
    let number = running_build(&sb, "long");
    let answer = control(
        &sb,
        "POST",
        "delete-build",
        json!({"job": "long", "number": number}),
    );
    assert_eq!(answer["deleted"], true, "{answer}");
    let outcome = running.outcome(Duration::from_secs(20));
    outcome.assert_code(1);
    let step = outcome.step("long");
    assert_eq!(step["status"], "failed", "{outcome}");
    assert_eq!(step["number"], number, "{outcome}");
    assert!(
        step["message"].as_str().unwrap_or("").contains("lost"),
        "{outcome}"
    );
    assert_eq!(outcome.step("after")["status"], "skipped", "{outcome}");
    assert!(!jrun_triggered(&sb, "after"));
}

#[test]
fn a_queue_item_forgotten_before_its_build_exists_is_followed_to_that_build() {
    // The item leaves the queue, is forgotten at once, and its build is created 3 s (sandbox
    // time) later: between the two, the item answers 404 and no build has its queue id yet.
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\nleft_item_ttl: 0s\nbuild_creation_delay: 3s\njobs: [{path: slow-start, builds: [{duration: 1s}]}]\n",
    );
    let text = pipeline(&jenkins_block(&sb), "  - job: slow-start\n");
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    let step = outcome.step("slow-start");
    assert_eq!(step["status"], "passed", "{outcome}");
    assert_eq!(step["number"], 1, "{outcome}");
    assert_eq!(step["result"], "SUCCESS", "{outcome}");
    assert_eq!(sb.triggers().len(), 1, "{:?}", sb.triggers());
}

#[test]
fn a_queue_item_that_never_gets_a_build_ends_lost_only_after_the_search_bound() {
    // Its build would be created an hour after the item left, long after jrun gives up:
    // jrun keeps looking for 30 s of pipeline time (0.3 s at this speed), then says `lost`.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("sandbox.yaml");
    std::fs::write(
        &config,
        "speed: 100\nquiet_period: 0s\nleft_item_ttl: 0s\nbuild_creation_delay: 1h\n",
    )
    .expect("config written");
    let (_pdir, path) = pipeline_file(
        "name: never-built\ndefaults:\n  poll: {initial: 1s, max: 5s}\nsteps:\n  - job: limbo\n  - job: after\n",
    );
    let output = jrun()
        .arg(&path)
        .arg("--sandbox")
        .arg("--sandbox-config")
        .arg(&config)
        .args(["--progress", "never", "--output", "json"])
        .timeout(Duration::from_secs(30))
        .output()
        .expect("jrun runs");
    let outcome = Outcome::from(output);
    outcome.assert_code(1);
    let step = outcome.step("limbo");
    assert_eq!(step["status"], "failed", "{outcome}");
    assert_eq!(step["failure"]["kind"], "lost", "{outcome}");
    assert!(
        step["message"]
            .as_str()
            .unwrap_or("")
            .contains("lost: queue item"),
        "{outcome}"
    );
    let waited = step["duration_ms"].as_u64().expect("duration_ms");
    assert!(waited >= 30_000, "lost after {waited} ms\n{outcome}");
    assert!(waited < 60_000, "lost after {waited} ms\n{outcome}");
    assert_eq!(outcome.step("after")["status"], "skipped", "{outcome}");
}

// ---- what jrun asks for, and how much at once ----

#[test]
fn build_reads_are_tree_filtered_and_small() {
    // The sandbox's stats show no query strings, so the size of the answers stands in for
    // `tree=`: this build's unfiltered JSON is several times the bound.
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - path: app\n    kind: pipeline\n    parameters: [{name: VERSION}, {name: REGION}, {name: NOTES, type: text}]\n    builds: [{duration: 3s, log: [compiling, testing, packaging]}]\n",
    );
    let text = pipeline(
        &jenkins_block(&sb),
        "  - job: app\n    params: {VERSION: \"2.4.0\", REGION: eu-west-1, NOTES: a longer release note}\n",
    );
    let (_dir, path) = pipeline_file(&text);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    let stats = stats(&sb);
    let build = &stats["routes"]["GET build"];
    let count = build["count"].as_u64().unwrap_or(0);
    let bytes = build["bytes"].as_u64().unwrap_or(0);
    assert!(count >= 2, "jrun polled the build: {build}");
    assert!(bytes / count < 300, "{bytes} bytes in {count} build reads");
    let queue = &stats["routes"]["GET queue_item"];
    let (count, bytes) = (
        queue["count"].as_u64().unwrap_or(0),
        queue["bytes"].as_u64().unwrap_or(0),
    );
    assert!(count >= 1 && bytes / count < 300, "queue reads: {queue}");
    let number = outcome.step("app")["number"].as_u64().unwrap();
    let full = get(&client(), &sb, &format!("/job/app/{number}/api/json"))
        .text()
        .unwrap();
    assert!(
        full.len() > 600,
        "the unfiltered build is {} bytes",
        full.len()
    );
}

#[test]
fn max_in_flight_caps_the_requests_of_a_wide_parallel_group() {
    let jobs: Vec<String> = (1..=6).map(|i| format!("j{i}")).collect();
    let config = format!(
        "speed: 20\nquiet_period: 0s\nfaults: {{latency: 50ms}}\njobs: [{}]\n",
        jobs.iter()
            .map(|j| format!("{{path: {j}, kind: pipeline}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sb = common::sandbox(&config);
    let block = format!("{}  max_in_flight: 2\n", jenkins_block(&sb));
    let members: String = jobs.iter().map(|j| format!("      - job: {j}\n")).collect();
    let (_dir, path) = pipeline_file(&pipeline(&block, &format!("  - parallel:\n{members}")));
    let outcome = run_json(&path, &[]);
    let names: Vec<&str> = jobs.iter().map(String::as_str).collect();
    assert_one_build_each(&sb, &outcome, &names);
    let stats = stats(&sb);
    // Six steps sharing two permits do overlap, so the cap is reached, and never exceeded.
    assert_eq!(stats["max_in_flight"], 2, "{stats}");
}

// ---- remote trigger tokens ----

/// The token has characters that must be percent-encoded in a query string.
const TRIGGER_TOKEN: &str = "r3mote&secret=+42";
const TOKEN_JOB: &str =
    "speed: 20\nquiet_period: 0s\njobs: [{path: release, token: \"r3mote&secret=+42\"}]\n";
const TOKEN_STEP: &str = "  - job: release\n    token: \"{{env.TRIGGER_TOKEN}}\"\n";

#[test]
fn a_remote_trigger_token_from_the_environment_is_sent() {
    let sb = common::sandbox(TOKEN_JOB);
    let (_dir, path) = pipeline_file(&pipeline(&jenkins_block(&sb), TOKEN_STEP));
    let outcome = run_json(&path, &[("TRIGGER_TOKEN", TRIGGER_TOKEN)]);
    assert_one_build_each(&sb, &outcome, &["release"]);
    let sent: BTreeMap<String, String> = sb.triggers()[0].params.iter().cloned().collect();
    assert_eq!(sent.get("token").map(String::as_str), Some(TRIGGER_TOKEN));
    outcome.assert_hides(TRIGGER_TOKEN);
}

#[test]
fn verbose_logs_every_request_with_its_tree_and_no_secret() {
    let sb = common::sandbox(TOKEN_JOB);
    let (_dir, path) = pipeline_file(&pipeline(&jenkins_block(&sb), TOKEN_STEP));
    let output = jrun()
        .arg(&path)
        .args(["--progress", "never", "-v"])
        .env("TRIGGER_TOKEN", TRIGGER_TOKEN)
        .output()
        .expect("jrun runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let logged: Vec<&str> = stderr.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(
        logged.len() as u64,
        stats(&sb)["requests"].as_u64().unwrap(),
        "one line per request:\n{stderr}"
    );
    assert!(
        logged
            .iter()
            .any(|l| l.contains("POST ") && l.contains("/job/release/build?token=**** -> 201")),
        "{stderr}"
    );
    for line in logged.iter().filter(|l| l.contains(" GET ")) {
        assert!(line.contains("?tree="), "{line}");
    }
    for secret in [TRIGGER_TOKEN, "r3mote", common::TOKEN] {
        assert!(!stderr.contains(secret), "{secret} shown:\n{stderr}");
    }
}

#[test]
fn verbose_says_a_build_without_estimate_is_read_by_backoff_instead_of_an_empty_list() {
    // A job that never built has no estimate, so there is no instant to read its build at.
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs: [{path: fresh, builds: [{duration: 1s}]}]\n",
    );
    let (_dir, path) = pipeline_file(&pipeline(&jenkins_block(&sb), "  - job: fresh\n"));
    let output = jrun()
        .arg(&path)
        .args(["--progress", "never", "-v"])
        .timeout(Duration::from_secs(30))
        .output()
        .expect("jrun runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("#1 of fresh started within"))
        .unwrap_or_else(|| panic!("no line about when to read the build:\n{stderr}"));
    assert!(
        line.contains("no estimate yet: reads back off from poll.initial"),
        "{line}"
    );
    assert!(!line.contains("read it  ms"), "{line}");
}

#[test]
fn a_wrong_remote_trigger_token_fails_without_printing_it() {
    let sb = common::sandbox(TOKEN_JOB);
    let (_dir, path) = pipeline_file(&pipeline(&jenkins_block(&sb), TOKEN_STEP));
    let wrong = "not-the-secret-17";
    let outcome = run_json(&path, &[("TRIGGER_TOKEN", wrong)]);
    outcome.assert_code(3);
    outcome.assert_hides(wrong);
    let step = outcome.step("release");
    assert_eq!(step["status"], "failed", "{outcome}");
    assert!(
        step["message"].as_str().unwrap_or("").contains("token"),
        "{outcome}"
    );
    let triggers = sb.triggers();
    assert_eq!(triggers.len(), 1, "refused once, not retried: {triggers:?}");
    assert_eq!(triggers[0].status, 403);
    assert!(sandbox_builds(&sb, "release").is_empty());
}

// ---- answers that contradict the question, or are not Jenkins' ----

/// A `jenkins:` block that talks to `url` (a proxy in front of a sandbox) with alice's API
/// token, giving up on a Jenkins that keeps answering wrongly after one second.
fn impatient_block(url: &str) -> String {
    format!("jenkins:\n  url: {url}\n  user: {USER}\n  token: {TOKEN}\n  unreachable_timeout: 1s\n")
}

/// Runs one `job: a` step through a proxy whose `rewrite` changes the sandbox's answers.
fn run_through(
    sb: &Sandbox,
    rewrite: impl Fn(&common::Asked, common::Answer) -> common::Answer + Send + Sync + 'static,
) -> Outcome {
    let proxy = common::Hostile::proxy(&sb.url(), rewrite);
    let (_dir, path) = pipeline_file(&pipeline(&impatient_block(&proxy.url()), "  - job: a\n"));
    run_json(&path, &[])
}

fn assert_unexpected_answer(outcome: &Outcome) {
    outcome.assert_code(3);
    assert!(
        outcome.stdout.contains("unexpected answer")
            || outcome.stderr.contains("unexpected answer"),
        "{outcome}"
    );
}

#[test]
fn a_build_answer_with_another_number_is_retried_then_an_unexpected_answer() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = reads.clone();
    let outcome = run_through(&sb, move |asked, answer| {
        if asked.method == "GET" && asked.path() == "/job/a/1/api/json" {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return answer.edit_json(|build| build["number"] = json!(7));
        }
        answer
    });
    assert_unexpected_answer(&outcome);
    assert!(outcome.stdout.contains("#7"), "{outcome}");
    assert!(
        reads.load(std::sync::atomic::Ordering::Relaxed) >= 2,
        "retried before giving up\n{outcome}"
    );
}

#[test]
fn a_queue_item_answer_with_another_id_is_an_unexpected_answer() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let outcome = run_through(&sb, |asked, answer| {
        if asked.method == "GET" && asked.path().starts_with("/queue/item/") {
            return answer.edit_json(|item| {
                let id = item["id"].as_u64().unwrap_or(0);
                item["id"] = json!(id + 100);
            });
        }
        answer
    });
    assert_unexpected_answer(&outcome);
    assert!(
        sandbox_builds(&sb, "a").len() <= 1,
        "{:?}",
        sandbox_builds(&sb, "a")
    );
}

#[test]
fn a_job_answer_that_is_not_a_job_is_an_unexpected_answer_not_a_disabled_job() {
    for body in [json!({}), json!({"_class": "com.example.Weird"})] {
        let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
        let sent = body.clone();
        let proxy = common::Hostile::proxy(&sb.url(), move |asked, answer| {
            if asked.method == "GET" && asked.path() == "/job/a/api/json" {
                return common::Answer::json(200, &sent);
            }
            answer
        });
        let (_dir, path) = pipeline_file(&pipeline(&impatient_block(&proxy.url()), "  - job: a\n"));
        let run = ["run", "--progress", "never", "--output", "json"];
        for command in [&run[..], &["check"][..]] {
            let mut cmd = jrun();
            cmd.arg(command[0]).arg(&path).args(&command[1..]);
            let outcome = Outcome::from(cmd.output().expect("jrun runs"));
            assert_unexpected_answer(&outcome);
            assert!(
                !outcome.stdout.contains("disabled") && !outcome.stderr.contains("disabled"),
                "{body} {command:?}\n{outcome}"
            );
        }
        assert!(!jrun_triggered(&sb, "a"), "{body}");
    }
}

#[test]
fn a_result_jenkins_never_sends_is_an_unexpected_answer_not_a_failed_build() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let outcome = run_through(&sb, |asked, answer| {
        if asked.method == "GET" && asked.path().starts_with("/job/a/") {
            return answer.edit_json(|build| {
                if build["building"] == json!(false) && build["result"].is_string() {
                    build["result"] = json!("WEIRD");
                }
            });
        }
        answer
    });
    assert_unexpected_answer(&outcome);
    assert!(outcome.stdout.contains("WEIRD"), "{outcome}");
}

#[test]
fn parallel_posts_refused_for_a_dropped_session_all_retry_with_one_fresh_crumb_and_its_cookie() {
    let jobs: Vec<String> = (1..=6).map(|i| format!("p{i}")).collect();
    let mut config = "speed: 10\nquiet_period: 0s\njobs:\n  - {path: first, kind: pipeline, builds: [{duration: 10s}]}\n".to_string();
    for job in &jobs {
        config.push_str(&format!("  - {{path: {job}, kind: pipeline}}\n"));
    }
    let sb = common::sandbox(&config);
    // Every crumb refusal but the first comes back late, after the first POST's fresh crumb
    // was fetched: each carries a Set-Cookie of a session of its own.
    let refusals = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let proxy = common::Hostile::proxy(&sb.url(), move |asked, answer| {
        if asked.method == "POST"
            && answer.status == 403
            && refusals.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0
        {
            std::thread::sleep(Duration::from_millis(300));
        }
        answer
    });
    let block = format!(
        "jenkins:\n  url: {}\n  user: {USER}\n  password: {PASSWORD}\n  unreachable_timeout: 5s\n",
        proxy.url()
    );
    let mut steps = "  - job: first\n  - parallel:\n".to_string();
    for job in &jobs {
        steps.push_str(&format!("      - job: {job}\n"));
    }
    let (_dir, path) = pipeline_file(&pipeline(&block, &steps));
    let running = start_json(&path, &[]);
    common::wait_for(Duration::from_secs(20), "the first trigger", || {
        jrun_triggered(&sb, "first").then_some(())
    });
    let answer = control(&sb, "POST", "sessions/invalidate", json!({}));
    assert!(answer["invalidated"].as_u64() >= Some(1), "{answer}");
    let outcome = running.outcome(Duration::from_secs(60));
    let mut all: Vec<&str> = vec!["first"];
    all.extend(jobs.iter().map(String::as_str));
    assert_one_build_each(&sb, &outcome, &all);
    let stats = stats(&sb);
    // At most one refusal per parallel trigger (those sent before the new crumb was fetched),
    // none of the new crumb.
    let refused = route_count(&stats, "POST crumb_rejected");
    assert!((2..=6).contains(&refused), "{}", stats["routes"]);
    assert_eq!(route_count(&stats, "GET crumb"), 2, "{}", stats["routes"]);
}

#[test]
fn a_permalink_answered_with_a_build_it_cannot_point_at_is_an_unexpected_answer() {
    let sb = common::sandbox(
        "speed: 20\nquiet_period: 0s\njobs:\n  - path: a\n    history: [{result: SUCCESS}]\n",
    );
    // lastSuccessfulBuild never points at a failed build.
    let proxy = common::Hostile::proxy(&sb.url(), |asked, answer| {
        if asked.path() == "/job/a/lastSuccessfulBuild/api/json" {
            return answer.edit_json(|build| build["result"] = json!("FAILURE"));
        }
        answer
    });
    let steps = "  - id: gate\n    await: {job: a, build: lastSuccessfulBuild, result: [FAILURE]}\n    timeout: 20s\n";
    let (_dir, path) = pipeline_file(&pipeline(&impatient_block(&proxy.url()), steps));
    let outcome = run_json(&path, &[]);
    assert_unexpected_answer(&outcome);
    assert!(outcome.stdout.contains("lastSuccessfulBuild"), "{outcome}");
}

#[test]
fn a_folder_named_as_the_job_is_refused_as_a_folder_before_anything_is_triggered() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: team/app}]\n");
    let (_dir, path) = pipeline_file(&pipeline(&jenkins_block(&sb), "  - job: team\n"));
    let outcome = run_json(&path, &[]);
    outcome.assert_code(2);
    assert!(
        outcome
            .stderr
            .contains("`team` is a folder in Jenkins, not a job"),
        "{outcome}"
    );
    assert!(!outcome.stderr.contains("disabled"), "{outcome}");
}

#[test]
fn resume_does_not_trust_a_recorded_build_that_jenkins_shows_as_another_items() {
    // jrun is killed once it has recorded its build; on resume, Jenkins' answer for that
    // build names another queue item: it is not the build this run started.
    let sb = common::sandbox(
        "speed: 20\nquiet_period: 0s\njobs: [{path: a, kind: pipeline, builds: [{duration: 2s}]}]\n",
    );
    let lie = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lying = lie.clone();
    let proxy = common::Hostile::proxy(&sb.url(), move |asked, answer| {
        if lying.load(std::sync::atomic::Ordering::SeqCst)
            && asked.method == "GET"
            && asked.path() == "/job/a/1/api/json"
        {
            return answer.edit_json(|build| build["queueId"] = json!(999));
        }
        answer
    });
    let (dir, path) = pipeline_file(&pipeline(&impatient_block(&proxy.url()), "  - job: a\n"));
    let journal = dir.path().join("run.journal");
    let killed = jrun()
        .arg(&path)
        .args(["--progress", "never", "--journal"])
        .arg(&journal)
        .env("JRUN_TEST_CRASH_AFTER", "started")
        .output()
        .expect("jrun runs");
    assert_eq!(killed.status.code(), Some(137), "{killed:?}");
    lie.store(true, std::sync::atomic::Ordering::SeqCst);
    let resumed = Outcome::from(
        jrun()
            .arg("resume")
            .arg(&journal)
            .args(["--progress", "never", "--output", "json"])
            .output()
            .expect("jrun runs"),
    );
    assert_unexpected_answer(&resumed);
    assert!(resumed.stderr.contains("999"), "{resumed}");
}

// ---- secret and CA files ----

/// What a secret or CA file must not be, with what the refusal says: /dev/zero, a FIFO
/// nobody writes to, a folder, and a regular file one byte over `limit`.
fn unusable_files(dir: &Path, limit: usize) -> Vec<(std::path::PathBuf, String)> {
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let big = dir.join("big");
    std::fs::write(&big, "a".repeat(limit + 1)).unwrap();
    let limit_text = if limit >= 1024 * 1024 {
        format!("{} MiB", limit / (1024 * 1024))
    } else {
        format!("{} KiB", limit / 1024)
    };
    vec![
        ("/dev/zero".into(), "is not a regular file".to_string()),
        (fifo, "is not a regular file".to_string()),
        (dir.join("folder"), "is not a regular file".to_string()),
        (big, format!("is larger than {limit_text}")),
    ]
}

/// Runs a one-step pipeline whose `jenkins:` block ends with `field: <file>` for each unusable
/// file: each is refused with exit 2 naming the field and the file, and nothing is triggered.
fn secret_files_are_refused(field: &str, extra: &str, limit: usize) {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    for (file, why) in unusable_files(dir.path(), limit) {
        let block = format!(
            "jenkins:\n  url: {}\n  user: {USER}\n{extra}  {field}: {}\n  unreachable_timeout: 5s\n",
            sb.url(),
            file.display()
        );
        let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: a\n"));
        let output = jrun()
            .arg(&path)
            .args(["--progress", "never"])
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let outcome = Outcome::from(output);
        outcome.assert_code(2);
        for part in [
            format!("jenkins.{field}"),
            file.display().to_string(),
            why.clone(),
        ] {
            assert!(outcome.stderr.contains(&part), "{part}\n{outcome}");
        }
        assert!(sb.triggers().is_empty(), "{:?}", sb.triggers());
    }
}

#[test]
fn a_token_file_that_is_not_a_small_regular_file_is_refused_with_exit_2() {
    secret_files_are_refused("token_file", "", 64 * 1024);
}

#[test]
fn a_password_file_that_is_not_a_small_regular_file_is_refused_with_exit_2() {
    secret_files_are_refused("password_file", "", 64 * 1024);
}

#[test]
fn a_ca_file_that_is_not_a_regular_file_under_1_mib_is_refused_with_exit_2() {
    secret_files_are_refused("ca_file", &format!("  token: {TOKEN}\n"), 1024 * 1024);
}

#[test]
fn a_netrc_that_is_not_a_small_regular_file_is_refused_and_dev_null_turns_it_off() {
    let sb = common::sandbox("speed: 20\nanonymous: build\nquiet_period: 0s\njobs: [{path: a}]\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    let (_dir, path) = pipeline_file(&pipeline(&url_only_block(&sb), "  - job: a\n"));
    for (file, why) in unusable_files(dir.path(), 64 * 1024) {
        let outcome = run_json(&path, &[("NETRC", file.to_str().unwrap())]);
        outcome.assert_code(2);
        assert!(
            outcome.stderr.contains(&file.display().to_string()) && outcome.stderr.contains(&why),
            "{why}\n{outcome}"
        );
        assert!(sb.triggers().is_empty(), "{:?}", sb.triggers());
    }
    // No netrc: jrun is anonymous, which this sandbox lets build.
    let outcome = run_json(&path, &[("NETRC", "/dev/null")]);
    assert_one_build_each(&sb, &outcome, &["a"]);
    assert_eq!(sb.triggers()[0].user, None);
}

// ---- hostile answers ----

/// Well under the 128 MiB a host running jrun from cron can be expected to spare.
const PEAK_RSS_LIMIT_KIB: u64 = 64 * 1024;

/// Runs one `job: a` step against `hostile`, standing in for Jenkins, with `-v` so that every
/// request jrun sent shows on stderr.
fn run_against(hostile: &common::Hostile) -> Outcome {
    let (_dir, path) = pipeline_file(&pipeline(&impatient_block(&hostile.url()), "  - job: a\n"));
    let output = jrun()
        .arg(&path)
        .args(["--progress", "never", "--output", "json", "-v"])
        .output()
        .expect("jrun runs");
    Outcome::from(output)
}

/// The same, measuring jrun's peak memory.
fn run_measured_against(hostile: &common::Hostile) -> common::Measured {
    let (_dir, path) = pipeline_file(&pipeline(&impatient_block(&hostile.url()), "  - job: a\n"));
    let path = path.to_str().expect("a UTF-8 temporary path");
    let args = [path, "--progress", "never", "-v"];
    common::run_measured(
        "run_jenkins::measured_child",
        &args,
        Duration::from_secs(60),
    )
}

/// Not a test: the fresh process that `common::run_measured` starts jrun from.
#[test]
#[ignore = "started by common::run_measured"]
fn measured_child() {
    common::measured_child();
}

/// How many answers to the job read `-v` logged.
fn job_reads(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("GET ") && l.contains("/job/a/api/json") && l.contains(" -> "))
        .count()
}

#[track_caller]
fn assert_too_large(measured: &common::Measured) {
    assert_eq!(measured.code, 3, "{measured:#?}");
    assert!(
        measured.stderr.contains("unexpected answer")
            && measured.stderr.contains("larger than 8 MiB"),
        "{measured:#?}"
    );
    assert!(!measured.stderr.contains("disabled"), "{measured:#?}");
    assert!(
        measured.peak_rss_kib < PEAK_RSS_LIMIT_KIB,
        "peak RSS {} KiB\n{measured:#?}",
        measured.peak_rss_kib
    );
    assert_eq!(
        job_reads(&measured.stderr),
        1,
        "not asked again\n{measured:#?}"
    );
}

#[test]
fn a_2_gib_job_answer_is_an_unexpected_answer_read_once_in_bounded_memory() {
    let hostile = common::Hostile::huge(2 << 30);
    assert_too_large(&run_measured_against(&hostile));
}

#[test]
fn a_gzip_bomb_is_an_unexpected_answer_not_a_disabled_job_in_bounded_memory() {
    let hostile = common::Hostile::gzip_bomb();
    assert!(common::gzip_bomb().len() < 2 << 20);
    assert_too_large(&run_measured_against(&hostile));
}

#[test]
fn a_never_ending_chunked_answer_is_cut_off_as_too_large() {
    let hostile = common::Hostile::endless_chunks();
    let started = Instant::now();
    let outcome = run_against(&hostile);
    assert_unexpected_answer(&outcome);
    assert!(outcome.stderr.contains("larger than 8 MiB"), "{outcome}");
    assert_eq!(job_reads(&outcome.stderr), 1, "{outcome}");
    assert!(started.elapsed() < Duration::from_secs(30), "{outcome}");
}

#[test]
fn a_login_page_where_json_was_asked_is_a_front_door_not_an_unexpected_answer() {
    let hostile = common::Hostile::start(|_| common::Answer::login_page());
    let outcome = run_against(&hostile);
    outcome.assert_code(3);
    assert!(
        outcome
            .stderr
            .contains("a login page or SSO proxy answered instead of Jenkins")
            && outcome.stderr.contains("text/html")
            && outcome.stderr.contains("Sign in")
            && !outcome.stderr.contains("unexpected answer"),
        "{outcome}"
    );
}

#[test]
fn wrongly_typed_truncated_non_utf8_or_doubled_json_is_an_unexpected_answer() {
    let cases = [
        ("wrong types", common::Answer::wrong_types()),
        ("truncated", common::Answer::truncated_json()),
        ("invalid UTF-8", common::Answer::invalid_utf8()),
        ("duplicate keys", common::Answer::duplicate_keys()),
    ];
    for (what, answer) in cases {
        let hostile = common::Hostile::start(move |_| answer.clone());
        let outcome = run_against(&hostile);
        assert_eq!(outcome.code, 3, "{what}\n{outcome}");
        assert!(
            outcome.stderr.contains("unexpected answer"),
            "{what}\n{outcome}"
        );
        assert!(
            !outcome.stderr.contains("panicked") && !outcome.stderr.contains("disabled"),
            "{what}\n{outcome}"
        );
    }
}

#[test]
fn a_redirect_to_another_host_is_not_followed_and_that_host_is_never_asked() {
    let (elsewhere, asked) = common::Hostile::counting();
    let target = format!("{}/job/a/api/json", elsewhere.url());
    let hostile = common::Hostile::start(move |_| common::Answer::redirect(&target));
    let outcome = run_against(&hostile);
    outcome.assert_code(3);
    assert!(
        outcome.stderr.contains("HTTP 302 redirecting to")
            && outcome.stderr.contains(&elsewhere.url())
            && outcome.stderr.contains("instead of Jenkins"),
        "{outcome}"
    );
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "{outcome}"
    );
}

#[test]
fn a_server_that_never_answers_is_given_up_on_within_its_unreachable_timeout() {
    let hostile = common::Hostile::silent();
    let started = Instant::now();
    let outcome = run_against(&hostile);
    outcome.assert_code(3);
    assert!(outcome.stderr.contains("no answer within"), "{outcome}");
    assert!(started.elapsed() < Duration::from_secs(20), "{outcome}");
}

#[test]
fn a_slowloris_sending_headers_a_byte_at_a_time_is_given_up_on_in_bounded_time() {
    let hostile = common::Hostile::slow_headers();
    let started = Instant::now();
    let outcome = run_against(&hostile);
    outcome.assert_code(3);
    assert!(outcome.stderr.contains("unreachable"), "{outcome}");
    assert!(started.elapsed() < Duration::from_secs(20), "{outcome}");
}

#[test]
fn an_http_1_0_answer_is_read_to_the_end_of_its_connection() {
    // A disabled job, so that a run stops at its check: the answer was read and understood.
    let job =
        json!({"_class": "hudson.model.FreeStyleProject", "fullName": "a", "buildable": false});
    let hostile = common::Hostile::http10(common::Answer::json(200, &job));
    let outcome = run_against(&hostile);
    outcome.assert_code(2);
    assert!(outcome.stderr.contains("job `a` is disabled"), "{outcome}");
}

#[test]
fn a_log_read_of_more_than_8_mib_is_shown_in_part_and_following_goes_on_from_jenkins_offset() {
    let sb = common::sandbox(
        "quiet_period: 0s\njobs:\n  - path: a\n    builds: [{duration: 3s, log: [\"first line\", \"second line\", \"third line\"]}]\n",
    );
    let flooded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooding = flooded.clone();
    let proxy = common::Hostile::proxy(&sb.url(), move |asked, mut answer| {
        if asked.path().ends_with("/logText/progressiveText")
            && answer.body.windows(10).any(|w| w == b"first line")
            && !flooding.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            // X-Text-Size stays the sandbox's: the flood is not in the log's offsets.
            answer.body.extend(std::iter::repeat_n(b'x', 12 << 20));
            answer.body.extend_from_slice(b"\r\n");
        }
        answer
    });
    // The flood is what is tested, not impatience: on a loaded machine 12 MiB through the
    // proxy can take longer than an impatient block's one second.
    let block = format!(
        "jenkins:\n  url: {}\n  user: {USER}\n  token: {TOKEN}\n",
        proxy.url()
    );
    let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: a\n"));
    let output = jrun()
        .arg(&path)
        .args(["--progress", "never", "--follow"])
        .output()
        .expect("jrun runs");
    let outcome = Outcome::from(output);
    outcome.assert_code(0);
    assert!(
        flooded.load(std::sync::atomic::Ordering::SeqCst),
        "{outcome}"
    );
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    for wanted in ["a | first line", "a | second line", "a | third line"] {
        assert_eq!(
            lines.iter().filter(|l| **l == wanted).count(),
            1,
            "{wanted}\n{}",
            outcome
                .stderr
                .lines()
                .filter(|l| l.len() < 200)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(
        outcome
            .stderr
            .contains("more than 8 MiB arrived in one read")
    );
    assert!(
        outcome.stderr.len() < 9 << 20,
        "{} bytes",
        outcome.stderr.len()
    );
}

#[test]
fn a_build_answer_padded_past_8_mib_is_refused_at_once_though_it_is_valid_json() {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = reads.clone();
    let outcome = run_through(&sb, move |asked, mut answer| {
        if asked.method == "GET" && asked.path() == "/job/a/1/api/json" {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Whitespace after the value: still the build's JSON, only too big.
            answer.body.extend(std::iter::repeat_n(b' ', 9 << 20));
        }
        answer
    });
    assert_unexpected_answer(&outcome);
    assert!(outcome.stdout.contains("larger than 8 MiB"), "{outcome}");
    assert_eq!(
        reads.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "not asked again\n{outcome}"
    );
}

#[test]
fn a_trigger_answered_201_with_a_body_past_the_cap_is_still_followed_to_its_build() {
    // The status and Location say a build was queued; the body cannot unsay it.
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let proxy = common::Hostile::proxy(&sb.url(), |asked, mut answer| {
        if asked.method == "POST" && asked.path().ends_with("/build") {
            answer.body = vec![b' '; 9 << 20];
        }
        answer
    });
    let (_dir, path) = pipeline_file(&pipeline(&impatient_block(&proxy.url()), "  - job: a\n"));
    let outcome = run_json(&path, &[]);
    assert_one_build_each(&sb, &outcome, &["a"]);
}

#[test]
fn control_characters_from_a_server_never_reach_the_terminal() {
    // A queue item's `why` and an error page that try to clear the screen, ring the bell and
    // break a line in two.
    let evil = "\u{1b}[2J\u{1b}[31mEVIL\u{7}\r\nforged line\u{1b}]0;title\u{7}";
    let sb = common::sandbox("speed: 1\nquiet_period: 1s\njobs: [{path: a}, {path: b}]\n");
    let why = evil.to_string();
    let proxy = common::Hostile::proxy(&sb.url(), move |asked, answer| {
        if asked.method == "GET" && asked.path().starts_with("/queue/item/") {
            return answer.edit_json(|item| {
                if item["why"].is_string() {
                    item["why"] = json!(why.clone());
                }
            });
        }
        if asked.method == "POST" && asked.path().starts_with("/job/b/") {
            return common::Answer {
                status: 409,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: format!("refused: {why}").into_bytes(),
            };
        }
        answer
    });
    let (_dir, path) = pipeline_file(&pipeline(
        &impatient_block(&proxy.url()),
        "  - job: a\n  - job: b\n",
    ));
    let outcome = run_json(&path, &[]);
    assert_ne!(outcome.code, 0, "{outcome}");
    for text in [&outcome.stdout, &outcome.stderr] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'),
            "{:?} {:?}",
            outcome.stdout,
            outcome.stderr
        );
        assert!(
            !text.lines().any(|l| l.starts_with("forged line")),
            "a server's text broke a line in two\n{outcome}"
        );
    }
    // Both texts were shown, cleaned: the test saw what it means to check.
    assert!(outcome.stderr.contains("EVIL"), "{outcome}");
    assert!(outcome.stderr.contains("refused"), "{outcome}");
}

// ---- secrets echoed by servers ----

/// Which requests an echoing proxy answers with an echo of themselves.
type Echoed = fn(&common::Asked) -> bool;

/// One case: the answer's status, the message it starts with, its form, and which requests
/// get it.
struct EchoCase {
    status: u16,
    message: &'static str,
    form: common::Echo,
    answers: Echoed,
}

/// What a run through an echoing proxy left behind: its streams, the files it wrote, the
/// secrets it held (crumbs and session cookies as the proxy saw them go by) and how many
/// answers echoed a request.
struct Echoes {
    outcome: Outcome,
    files: Vec<(String, String)>,
    seen: Vec<String>,
    echoed: usize,
}

/// Runs `job: a` with the `jenkins:` block `jenkins` makes for the proxy's URL, through a proxy
/// in front of a sandbox that answers `case` with an echo, with every output jrun has: the JSON
/// summary, `-v`, `--report`, `--junit` and `--journal`.
fn run_echoing(jenkins: impl Fn(&str) -> String, case: EchoCase) -> Echoes {
    run_echoing_job(jenkins, "{path: a}", "  - job: a\n", &[], case)
}

/// [`run_echoing`] with the sandbox's job `a` declared as `job`, the pipeline's `steps` and
/// jrun's environment `env`.
fn run_echoing_job(
    jenkins: impl Fn(&str) -> String,
    job: &str,
    steps: &str,
    env: &[(&str, &str)],
    case: EchoCase,
) -> Echoes {
    use std::sync::{Arc, Mutex};
    let sb = common::sandbox(&format!("speed: 20\nquiet_period: 0s\njobs: [{job}]\n"));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let echoed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (seeing, echoing) = (seen.clone(), echoed.clone());
    let proxy = common::Hostile::proxy(&sb.url(), move |asked, answer| {
        let mut held = seeing.lock().unwrap();
        if let Some(crumb) = asked.header("jenkins-crumb") {
            held.push(crumb.to_string());
        }
        if let Some(cookies) = asked.header("cookie") {
            for pair in cookies.split(';') {
                if let Some((_, value)) = pair.split_once('=') {
                    held.push(value.trim().to_string());
                }
            }
        }
        if (case.answers)(asked) {
            echoing.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return common::Answer::echoing(case.status, case.message, asked, case.form);
        }
        answer
    });
    let (dir, path) = pipeline_file(&pipeline(&jenkins(&proxy.url()), steps));
    let files = ["report.json", "junit.xml", "run.journal"].map(|name| dir.path().join(name));
    let mut cmd = jrun();
    for (name, value) in env {
        cmd.env(name, value);
    }
    let output = cmd
        .arg(&path)
        .args(["--progress", "never", "--output", "json", "-v", "--report"])
        .arg(&files[0])
        .arg("--junit")
        .arg(&files[1])
        .arg("--journal")
        .arg(&files[2])
        .output()
        .expect("jrun runs");
    let files = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("{} was not written: {e}", file.display()));
            (file.display().to_string(), text)
        })
        .collect();
    let seen = seen.lock().unwrap().clone();
    Echoes {
        outcome: Outcome::from(output),
        files,
        seen,
        echoed: echoed.load(std::sync::atomic::Ordering::Relaxed),
    }
}

impl Echoes {
    /// No stream and no file holds `secret`, the base64 of `user:secret` (bare or as the
    /// `Authorization` value), or any crumb or cookie value the run sent.
    fn assert_hides(&self, secret: &str) {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{secret}"));
        let mut secrets = vec![
            secret.to_string(),
            format!("{USER}:{secret}"),
            format!("Basic {pair}"),
            pair.trim_end_matches('=').to_string(),
        ];
        secrets.extend(self.seen.iter().cloned());
        // A message cut in the middle of a secret must not show its start either.
        let starts: Vec<String> = secrets
            .iter()
            .filter(|s| s.chars().count() > 12)
            .map(|s| s.chars().take(12).collect())
            .collect();
        secrets.extend(starts);
        let mut texts = vec![
            ("stdout".to_string(), self.outcome.stdout.clone()),
            ("stderr".to_string(), self.outcome.stderr.clone()),
        ];
        texts.extend(self.files.iter().cloned());
        for secret in &secrets {
            for (name, text) in &texts {
                assert!(
                    !text.contains(secret.as_str()),
                    "`{secret}` is in {name}:\n{text}\n{}",
                    self.outcome
                );
            }
        }
    }

    /// The echo reached jrun's messages, masked: without this, a run that never quoted the
    /// answer would prove nothing.
    fn assert_masked_echo(&self) {
        assert!(
            self.echoed > 0,
            "no answer echoed a request\n{}",
            self.outcome
        );
        let mut texts = vec![
            ("stdout", &self.outcome.stdout),
            ("stderr", &self.outcome.stderr),
        ];
        texts.extend(self.files.iter().map(|(name, text)| (name.as_str(), text)));
        for (name, text) in texts {
            assert!(
                text.contains("you sent") && text.contains("****"),
                "{name} does not show the masked echo:\n{text}\n{}",
                self.outcome
            );
        }
    }
}

fn is_trigger(asked: &common::Asked) -> bool {
    asked.method == "POST" && asked.path() == "/job/a/build"
}

#[test]
fn api_tokens_echoed_in_401_409_and_500_answers_are_masked_in_every_stream_and_file() {
    let cases = [
        // jrun quotes no 401 answer; it must stay so.
        EchoCase {
            status: 401,
            message: "unauthorized",
            form: common::Echo::Text,
            answers: |asked| asked.method == "GET",
        },
        EchoCase {
            status: 409,
            message: "conflict",
            form: common::Echo::Json,
            answers: is_trigger,
        },
        EchoCase {
            status: 409,
            message: "conflict",
            form: common::Echo::Text,
            answers: is_trigger,
        },
        EchoCase {
            status: 500,
            message: "server error",
            form: common::Echo::Json,
            answers: |asked| asked.path() == "/job/a/1/api/json",
        },
        EchoCase {
            status: 500,
            message: "server error",
            form: common::Echo::Html,
            answers: |asked| asked.path().starts_with("/queue/item/"),
        },
    ];
    for case in cases {
        let (status, what) = (case.status, format!("{} {:?}", case.status, case.form));
        let echoes = run_echoing(impatient_block, case);
        assert_eq!(echoes.outcome.code, 3, "{what}\n{}", echoes.outcome);
        echoes.assert_hides(TOKEN);
        if status == 401 {
            assert!(echoes.echoed > 0, "{what}\n{}", echoes.outcome);
        } else {
            echoes.assert_masked_echo();
        }
    }
}

#[test]
fn a_password_and_its_crumb_echoed_in_a_403_crumb_page_are_masked_in_every_stream_and_file() {
    let echoes = run_echoing(
        |url| {
            format!(
                "jenkins:\n  url: {url}\n  user: {USER}\n  password: {PASSWORD}\n  unreachable_timeout: 1s\n"
            )
        },
        EchoCase {
            status: 403,
            message: "No valid crumb was included in the request",
            form: common::Echo::Html,
            answers: is_trigger,
        },
    );
    echoes.outcome.assert_code(3);
    assert!(
        echoes.seen.len() >= 2,
        "a crumb and its cookie went by: {:?}",
        echoes.seen
    );
    echoes.assert_hides(PASSWORD);
    echoes.assert_masked_echo();
}

#[test]
fn a_remote_trigger_token_echoed_in_a_409_answer_is_masked_in_every_stream_and_file() {
    let echoes = run_echoing_job(
        impatient_block,
        "{path: a, token: \"r3mote&secret=+42\"}",
        "  - job: a\n    token: \"{{env.TRIGGER_TOKEN}}\"\n",
        &[("TRIGGER_TOKEN", TRIGGER_TOKEN)],
        EchoCase {
            status: 409,
            message: "conflict",
            form: common::Echo::Html,
            answers: is_trigger,
        },
    );
    echoes.outcome.assert_code(3);
    echoes.assert_hides(TOKEN);
    echoes.assert_masked_echo();
    let encoded: String = form_urlencoded::byte_serialize(TRIGGER_TOKEN.as_bytes()).collect();
    for secret in [TRIGGER_TOKEN, encoded.as_str(), "r3mote"] {
        for (name, text) in [
            ("stdout", &echoes.outcome.stdout),
            ("stderr", &echoes.outcome.stderr),
        ]
        .into_iter()
        .chain(echoes.files.iter().map(|(n, t)| (n.as_str(), t)))
        {
            assert!(!text.contains(secret), "`{secret}` is in {name}:\n{text}");
        }
    }
}

// proxies

/// What a run through a forward proxy saw: the run, and the targets the proxy passed on.
struct Proxied {
    outcome: Outcome,
    seen: Vec<String>,
}

/// Runs a one-step pipeline against a fresh sandbox, with `proxy` (the proxy's URL in its
/// place) in the `jenkins:` block and `env` (likewise) set on jrun, with a forward proxy
/// listening. The machine's own proxy variables are not passed on (`jrun_command`).
fn run_proxied(proxy_line: &str, env: &[(&str, &str)]) -> Proxied {
    let sb = common::sandbox("speed: 20\nquiet_period: 0s\njobs: [{path: a}]\n");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let proxy = common::Hostile::forward_proxy(seen.clone(), 500);
    let url = proxy.url();
    let host = url.trim_start_matches("http://").to_string();
    let fill = |text: &str| text.replace("PROXY_HOST", &host).replace("PROXY", &url);
    let block = format!("{}{}", jenkins_block(&sb), fill(proxy_line));
    let (_dir, path) = pipeline_file(&pipeline(&block, "  - job: a\n"));
    let mut cmd = jrun();
    cmd.arg(&path)
        .args(["--progress", "never", "--output", "json"]);
    for (name, value) in env {
        cmd.env(name, fill(value));
    }
    let outcome = Outcome::from(cmd.output().expect("jrun runs"));
    drop(proxy);
    let seen = seen.lock().expect("seen").clone();
    Proxied { outcome, seen }
}

impl Proxied {
    fn assert_all_proxied(&self) {
        self.outcome.assert_code(0);
        assert!(
            self.seen.iter().any(|t| t.contains("/job/a/")),
            "the trigger went through the proxy: {:?}\n{}",
            self.seen,
            self.outcome
        );
    }
}

#[test]
fn a_server_with_proxy_sends_every_request_through_it() {
    let run = run_proxied("  proxy: PROXY\n", &[("NO_PROXY", "127.0.0.1,localhost")]);
    run.assert_all_proxied();
}

#[test]
fn proxy_credentials_are_kept_out_of_the_output() {
    let run = run_proxied("  proxy: http://squid:pr0xy-s3cret@PROXY_HOST\n", &[]);
    run.assert_all_proxied();
    for text in [&run.outcome.stdout, &run.outcome.stderr] {
        assert!(!text.contains("pr0xy-s3cret"), "{text}");
    }
}

#[test]
fn http_proxy_from_the_environment_carries_the_requests_to_localhost_too() {
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY"] {
        let run = run_proxied("", &[(var, "PROXY")]);
        run.assert_all_proxied();
    }
}

#[test]
fn https_proxy_alone_leaves_a_plain_http_server_alone() {
    let run = run_proxied("", &[("HTTPS_PROXY", "PROXY")]);
    run.outcome.assert_code(0);
    assert!(run.seen.is_empty(), "{:?}", run.seen);
}

#[test]
fn no_proxy_listing_the_host_bypasses_the_proxy_of_the_environment() {
    for list in ["127.0.0.1", "localhost,127.0.0.1", "*"] {
        let run = run_proxied("", &[("HTTP_PROXY", "PROXY"), ("NO_PROXY", list)]);
        run.outcome.assert_code(0);
        assert!(run.seen.is_empty(), "NO_PROXY={list}: {:?}", run.seen);
    }
}

#[test]
fn a_proxy_that_is_not_a_url_is_a_usage_error_at_its_line() {
    let run = run_proxied("  proxy: not a url\n", &[]);
    run.outcome.assert_code(2);
    let err = &run.outcome.stderr;
    assert!(err.contains("pipeline.yaml:7:"), "{err}");
    assert!(err.contains("jenkins.proxy"), "{err}");
    assert!(run.seen.is_empty(), "{:?}", run.seen);
}

#[test]
fn the_sandbox_ignores_proxies() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let proxy = common::Hostile::forward_proxy(seen.clone(), 500);
    let yaml = format!(
        "name: p\njenkins:\n  url: https://ci.example.com\n  proxy: {}\nsteps:\n  - job: a\n",
        proxy.url()
    );
    let (_dir, path) = pipeline_file(&yaml);
    let mut cmd = jrun();
    cmd.arg(&path).args(["--progress", "never", "--sandbox"]);
    cmd.env("HTTP_PROXY", proxy.url());
    let outcome = Outcome::from(cmd.output().expect("jrun runs"));
    outcome.assert_code(0);
    assert!(seen.lock().expect("seen").is_empty());
}

//! The real jrun against a Jenkins under a context path, with a root URL naming another host,
//! and behind front doors that answer instead of Jenkins.

use crate::common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Answer, FAST_POLL, Hostile, Outcome, Running, TOKEN, USER, jrun_command, sandbox, triggers,
};
use jrun::sandbox::Sandbox;
use serde_json::Value;

/// Runs `steps` in a fresh folder against `url` to their end, with a report file.
fn run_at(url: &str, steps: &str) -> (tempfile::TempDir, Outcome, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipeline.yaml");
    let report = dir.path().join("report.json");
    let jenkins = format!(
        "jenkins:\n  url: {url}\n  user: {USER}\n  token: {TOKEN}\n  unreachable_timeout: 3s\n"
    );
    std::fs::write(
        &file,
        format!("name: doors\n{jenkins}{FAST_POLL}steps:\n{steps}"),
    )
    .expect("write");
    let mut cmd = jrun_command();
    cmd.current_dir(dir.path())
        .arg(&file)
        .args(["--progress", "never", "--report"])
        .arg(&report);
    let outcome = Running::spawn(&mut cmd).outcome(Duration::from_secs(60));
    let report = std::fs::read_to_string(&report)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (dir, outcome, report)
}

fn check_at(url: &str, steps: &str) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipeline.yaml");
    let jenkins = format!(
        "jenkins:\n  url: {url}\n  user: {USER}\n  token: {TOKEN}\n  unreachable_timeout: 3s\n"
    );
    std::fs::write(&file, format!("name: doors\n{jenkins}steps:\n{steps}")).expect("write");
    let mut cmd = jrun_command();
    cmd.arg("check").arg(&file);
    Running::spawn(&mut cmd).outcome(Duration::from_secs(30))
}

/// What the sandbox's request log says it served.
fn requests(sb: &Sandbox) -> Vec<Value> {
    common::control(sb, "GET", "requests", Value::Null)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

const JOBS: &str = r#"speed: 50
quiet_period: 0s
context_path: /jenkins
jobs:
  - path: app/build
    builds:
      - duration: 1s
        artifacts:
          - { path: out/info.json, content: '{"version": "1.2.3"}' }
  - path: app/test
    kind: pipeline
    builds:
      - duration: 2s
        result: FAILURE
        log: ["compiling"]
        stages:
          - { name: Build, status: SUCCESS, duration: 1s }
          - { name: Test, status: FAILED, error: "script returned exit code 1", log: ["running tests"] }
"#;

const STEPS: &str = "  - id: build\n    job: app/build\n    artifacts: {get: [\"out/*\"]}\n  - id: test\n    job: app/test\n    needs: [build]\n";

#[test]
fn a_pipeline_under_a_context_path_triggers_follows_diagnoses_and_downloads() {
    let sb = sandbox(JOBS);
    let (dir, outcome, report) = run_at(&format!("{}/jenkins/", sb.url()), STEPS);
    outcome.assert_code(1);
    let steps = report["steps"].as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 2, "{outcome}\n{report}");
    assert_eq!(steps[0]["status"], "passed", "{report}");
    assert!(
        steps[0]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&format!("{}/jenkins/job/app/job/build/", sb.url()))),
        "{report}"
    );
    let failure = &steps[1]["failure"];
    assert_eq!(failure["stage"], "Test", "{report}");
    assert_eq!(failure["error"], "script returned exit code 1", "{report}");
    let downloaded = walk(dir.path());
    assert!(
        downloaded.iter().any(|f| f.ends_with("out/info.json")),
        "{downloaded:?}\n{outcome}"
    );
    let outside: Vec<Value> = requests(&sb)
        .into_iter()
        .filter(|r| r["route"] == "outside_context" || r["status"] == 404)
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(triggers(&sb).len(), 2);
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

#[test]
fn a_root_url_naming_another_host_is_warned_about_once_and_that_host_never_asked() {
    let (elsewhere, asked) = Hostile::counting();
    let root = format!("{}/ci/", elsewhere.url());
    let sb = sandbox(&format!(
        "speed: 50\nquiet_period: 0s\ncontext_path: /jenkins\nroot_url: {root}\njobs:\n  - path: one\n    builds: [{{duration: 1s}}]\n  - path: two\n    builds: [{{duration: 1s}}]\n"
    ));
    let base = format!("{}/jenkins/", sb.url());
    let (_dir, outcome, report) = run_at(
        &base,
        "  - id: one\n    job: one\n  - id: two\n    job: two\n    needs: [one]\n",
    );
    outcome.assert_code(0);
    let warning = format!("Jenkins' root URL is {root} but jrun reaches it at {base}");
    assert_eq!(
        outcome.stderr.matches(&warning).count() + outcome.stdout.matches(&warning).count(),
        1,
        "{outcome}"
    );
    assert!(outcome.stderr.contains("Jenkins URL"), "{outcome}");
    assert_eq!(asked.load(Ordering::SeqCst), 0, "{outcome}");
    for step in report["steps"].as_array().into_iter().flatten() {
        assert!(
            step["url"].as_str().is_some_and(|u| u.starts_with(&base)),
            "{report}"
        );
    }
}

fn door(otherwise: &str, redirect_to: &str) -> Sandbox {
    sandbox(&format!(
        "speed: 50\nquiet_period: 0s\njobs:\n  - path: app\nfront_door:\n  headers: {{ X-Forwarded-User: release-bot }}\n  otherwise: {otherwise}\n  redirect_to: {redirect_to}\n"
    ))
}

const FRONT_DOOR: &str = "a login page or SSO proxy answered instead of Jenkins";

fn assert_front_door(outcome: &Outcome, what: &str) {
    outcome.assert_code(3);
    let text = format!("{}{}", outcome.stdout, outcome.stderr);
    assert!(text.contains(FRONT_DOOR), "{outcome}");
    assert!(text.contains(what), "{what}\n{outcome}");
    for setting in [
        "`headers:`",
        "`auth: bearer`",
        "`token_command`",
        "`proxy:`",
    ] {
        assert!(text.contains(setting), "{setting}\n{outcome}");
    }
    assert!(!text.contains("unexpected answer"), "{outcome}");
}

#[test]
fn a_login_page_in_front_of_jenkins_exits_3_naming_the_url_and_the_settings() {
    let sb = door("login_page", "http://127.0.0.1:9/sso");
    let (_dir, outcome, _) = run_at(&sb.url(), "  - job: app\n");
    assert_front_door(&outcome, "HTTP 200 text/html");
    assert!(
        outcome
            .stderr
            .contains(&format!("{}/job/app/api/json", sb.url())),
        "{outcome}"
    );
    assert!(triggers(&sb).is_empty());
}

#[test]
fn a_redirect_to_another_host_exits_3_and_that_host_gets_no_request() {
    let (sso, asked) = Hostile::counting();
    let sb = door("redirect", &format!("{}/sso/login", sso.url()));
    let (_dir, outcome, _) = run_at(&sb.url(), "  - job: app\n");
    assert_front_door(
        &outcome,
        &format!("HTTP 302 redirecting to {}/sso/login", sso.url()),
    );
    assert_eq!(asked.load(Ordering::SeqCst), 0, "{outcome}");
}

#[test]
fn an_oauth2_proxy_401_without_x_jenkins_exits_3() {
    let sb = door("unauthorized", "http://127.0.0.1:9/sso");
    let (_dir, outcome, _) = run_at(&sb.url(), "  - job: app\n");
    assert_front_door(&outcome, "HTTP 401 (application/json, `{}`)");
}

#[test]
fn jrun_check_says_a_front_door_answered() {
    let sb = door("forbidden", "http://127.0.0.1:9/sso");
    let outcome = check_at(&sb.url(), "  - job: app\n");
    assert_front_door(&outcome, "HTTP 403");
}

#[test]
fn a_jenkins_403_keeps_its_own_message() {
    // Anonymous without Overall/Read: Jenkins' own 403, with X-Jenkins.
    let sb = sandbox("speed: 50\nquiet_period: 0s\njobs:\n  - path: app\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(
        &file,
        format!(
            "name: doors\njenkins:\n  url: {}\n  unreachable_timeout: 3s\nsteps:\n  - job: app\n",
            sb.url()
        ),
    )
    .expect("write");
    let mut cmd = jrun_command();
    cmd.arg(&file).args(["--progress", "never"]);
    let outcome = Running::spawn(&mut cmd).outcome(Duration::from_secs(30));
    outcome.assert_code(3);
    assert!(outcome.stderr.contains("lacks permission"), "{outcome}");
    assert!(!outcome.stderr.contains(FRONT_DOOR), "{outcome}");
}

#[test]
fn cookies_a_front_door_sets_are_sent_back_to_it_and_never_printed() {
    let sb = sandbox(
        "speed: 50\nquiet_period: 0s\njobs:\n  - path: app\n    builds: [{duration: 1s}]\n",
    );
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let lb = Hostile::proxy(&sb.url(), move |asked, mut answer: Answer| {
        record
            .lock()
            .expect("seen")
            .push(asked.header("cookie").map(str::to_string));
        answer.headers.push((
            "set-cookie".to_string(),
            "LBSTICKY=node-7f3a9; Path=/".to_string(),
        ));
        answer
    });
    let (_dir, outcome, _) = run_at(&lb.url(), "  - job: app\n");
    outcome.assert_code(0);
    let seen = seen.lock().expect("seen").clone();
    assert!(seen.len() > 2, "{seen:?}");
    assert_eq!(seen[0], None, "nothing to send before the first answer");
    assert!(
        seen[1..].iter().all(|c| c
            .as_deref()
            .is_some_and(|c| c.contains("LBSTICKY=node-7f3a9"))),
        "{seen:?}"
    );
    outcome.assert_hides("node-7f3a9");
}

#[test]
fn a_front_door_that_starts_answering_mid_run_ends_the_step_with_exit_3_without_retries() {
    let sb = sandbox(
        "speed: 20\nquiet_period: 0s\njobs:\n  - path: app\n    builds: [{duration: 20s}]\n",
    );
    let triggered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (seen_trigger, count) = (triggered.clone(), refused.clone());
    // Once the build is queued, the session at the proxy "expires": oauth2-proxy's 401.
    let door = Hostile::proxy(&sb.url(), move |asked, answer: Answer| {
        if asked.method == "POST" && asked.path().ends_with("/build") {
            seen_trigger.store(true, Ordering::SeqCst);
            return answer;
        }
        if seen_trigger.load(Ordering::SeqCst) {
            count.fetch_add(1, Ordering::SeqCst);
            return Answer {
                status: 401,
                headers: vec![("content-type".to_string(), "application/json".to_string())],
                body: b"{}".to_vec(),
            };
        }
        answer
    });
    let started = std::time::Instant::now();
    let (_dir, outcome, _) = run_at(&door.url(), "  - job: app\n");
    assert_front_door(&outcome, "HTTP 401 (application/json, `{}`)");
    assert_eq!(triggers(&sb).len(), 1);
    // Not waited out like a 5xx: the first refusal of each reader ends it.
    assert!(refused.load(Ordering::SeqCst) <= 3, "{outcome}");
    assert!(started.elapsed() < Duration::from_secs(3), "{outcome}");
}

#[test]
fn a_url_without_jenkins_context_path_says_the_404_did_not_come_from_jenkins() {
    let sb = common::sandbox(JOBS);
    let outcome = check_at(&sb.url(), "  - job: app/build\n");
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains("job `app/build` does not exist"),
        "{outcome}"
    );
    assert!(
        outcome
            .stderr
            .contains("if Jenkins runs under a context path, put it in the server's url"),
        "{outcome}"
    );
    // Under the right URL, a job Jenkins itself says it lacks gets no such hint.
    let outcome = check_at(&sb.jenkins_url(), "  - job: app/nope\n");
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains("job `app/nope` does not exist"),
        "{outcome}"
    );
    assert!(!outcome.stderr.contains("context path"), "{outcome}");
}

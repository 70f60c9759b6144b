//! Unattended runs: the lock that keeps cron runs from overlapping.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Outcome, Running, builds, jrun, jrun_command, pipeline_file, wait_for};
use predicates::prelude::PredicateBooleanExt;

const SLOW: &str = "name: slow\nsteps:\n  - id: wait\n    job: long\n";
const SLOW_SANDBOX: &str = "speed: 1\nquiet_period: 0s\njobs:\n  - {path: long, kind: pipeline, builds: [{duration: 1h}]}\n";

#[test]
fn a_second_run_with_the_same_lock_exits_5_at_once_and_triggers_nothing() {
    let (dir, pipeline) = pipeline_file(SLOW);
    let sandbox = dir.path().join("sandbox.yaml");
    std::fs::write(&sandbox, SLOW_SANDBOX).unwrap();
    let lock = dir.path().join("run.lock");
    let _first = Running::spawn(
        jrun_command()
            .arg(&pipeline)
            .args(["--progress", "never", "--sandbox-config"])
            .arg(&sandbox)
            .arg("--lock")
            .arg(&lock),
    );
    wait_for(
        Duration::from_secs(10),
        "the first run to take the lock",
        || {
            std::fs::read_to_string(&lock)
                .ok()
                .filter(|t| t.starts_with("pid "))
        },
    );
    // The second run would start its own sandbox and trigger there; exiting first proves it
    // triggered nothing.
    jrun()
        .arg(&pipeline)
        .args(["--progress", "never", "--sandbox-config"])
        .arg(&sandbox)
        .arg("--lock")
        .arg(&lock)
        .timeout(Duration::from_secs(10))
        .assert()
        .code(5)
        .stderr(predicates::str::contains("another run holds the lock"))
        .stderr(predicates::str::contains("triggered").not());
}

#[test]
fn lock_wait_gives_up_with_exit_5_when_the_holder_stays() {
    let (dir, pipeline) = pipeline_file(SLOW);
    let lock = dir.path().join("run.lock");
    let holder = jrun::lock::acquire(&lock, None).unwrap();
    jrun()
        .arg(&pipeline)
        .args(["--sandbox", "--progress", "never", "--lock"])
        .arg(&lock)
        .args(["--lock-wait", "300ms"])
        .assert()
        .code(5);
    drop(holder);
}

#[test]
fn sigterm_cancels_the_queued_item_and_aborts_the_running_build_and_nothing_else() {
    let sb = common::sandbox(
        "speed: 10\nquiet_period: 0s\njobs:\n  - {path: running, kind: pipeline, builds: [{duration: 1h}]}\n  \
         - {path: waiting, kind: pipeline, quiet_period: 1h}\n  - {path: theirs, kind: pipeline, builds: [{duration: 1h}]}\n",
    );
    // Someone else's build of another job must not be touched.
    common::control(&sb, "POST", "trigger", serde_json::json!({"job": "theirs"}));
    let yaml = format!(
        "name: term\n{}defaults:\n  poll: {{initial: 20ms, max: 100ms}}\nsteps:\n  - parallel:\n      - {{id: run, job: running}}\n      - {{id: wait, job: waiting}}\n",
        common::jenkins_block(&sb)
    );
    let (_dir, path) = pipeline_file(&yaml);
    let child = Running::spawn(jrun_command().args([
        path.as_os_str(),
        "--progress".as_ref(),
        "never".as_ref(),
        "--output".as_ref(),
        "json".as_ref(),
    ]));
    wait_for(
        Duration::from_secs(10),
        "one running build and one queued item",
        || {
            let running = builds(&sb)
                .iter()
                .any(|b| b["job"] == "running" && b["building"] == true);
            let queued = sb.with_model(|m| m.queue.values().any(|i| i.job == "waiting"));
            (running && queued).then_some(())
        },
    );
    child.signal("TERM");
    let Outcome {
        code,
        stdout,
        stderr,
    } = child.outcome(Duration::from_secs(30));
    assert_eq!(code, 143, "{stdout}\n{stderr}");
    let all = builds(&sb);
    let ours = all.iter().find(|b| b["job"] == "running").unwrap();
    assert_eq!(ours["result"], "ABORTED", "{all:?}");
    let theirs = all.iter().find(|b| b["job"] == "theirs").unwrap();
    assert_eq!(
        theirs["building"], true,
        "someone else's build was touched: {all:?}"
    );
    let cancelled = sb.with_model(|m| {
        m.left
            .values()
            .any(|l| l.item.job == "waiting" && l.cancelled)
    });
    assert!(cancelled, "the queued item was not cancelled");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["exit_code"], 143);
    assert!(stderr.contains("cancelled queue item"), "{stderr}");
    assert!(stderr.contains("stopping build #1"), "{stderr}");
}

const TWO_STEPS_SANDBOX: &str = "speed: 10\nquiet_period: 0s\njobs:\n  - {path: first, kind: pipeline, parameters: [{name: V}], builds: [{duration: 2s, result: SUCCESS}]}\n  - {path: second, kind: pipeline, builds: [{duration: 2s, result: UNSTABLE}]}\n";

/// Kills jrun (as SIGKILL would) right after `point`, then resumes the run: every step was
/// triggered exactly once and the summary reports the builds' real results.
fn crash_then_resume(point: &str) {
    let sb = common::sandbox(TWO_STEPS_SANDBOX);
    let yaml = format!(
        "name: resumable\n{}defaults:\n  poll: {{initial: 20ms, max: 100ms}}\nsteps:\n  - {{id: one, job: first, params: {{V: \"x y\"}}}}\n  - {{id: two, job: second, expect: [UNSTABLE]}}\n",
        common::jenkins_block(&sb)
    );
    let (dir, path) = pipeline_file(&yaml);
    let journal = dir.path().join("run.journal");
    let crashed = Running::spawn(
        jrun_command()
            .args([
                path.as_os_str(),
                "--progress".as_ref(),
                "never".as_ref(),
                "--journal".as_ref(),
                journal.as_os_str(),
            ])
            .env("JRUN_TEST_CRASH_AFTER", point),
    );
    let Outcome { code, stderr, .. } = crashed.outcome(Duration::from_secs(30));
    assert_eq!(code, 137, "{point}: the run did not stop there: {stderr}");
    let resumed = Running::spawn(jrun_command().args([
        "resume".as_ref(),
        journal.as_os_str(),
        "--progress".as_ref(),
        "never".as_ref(),
        "--output".as_ref(),
        "json".as_ref(),
    ]));
    let Outcome {
        code,
        stdout,
        stderr,
    } = resumed.outcome(Duration::from_secs(30));
    assert_eq!(code, 0, "{point}: {stdout}\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let all = builds(&sb);
    for (id, job, result) in [("one", "first", "SUCCESS"), ("two", "second", "UNSTABLE")] {
        let made: Vec<&serde_json::Value> = all.iter().filter(|b| b["job"] == job).collect();
        assert_eq!(
            made.len(),
            1,
            "{point}: {job} built {} times: {all:?}",
            made.len()
        );
        let step = summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap();
        assert_eq!(step["number"], made[0]["number"], "{point}: {step}");
        assert_eq!(step["result"], result, "{point}: {step}");
    }
    let created = sb.triggers().iter().filter(|t| t.created).count();
    assert_eq!(created, 2, "{point}: {:?}", sb.triggers());
    // The journal now records a finished run: resuming again does nothing.
    jrun()
        .arg("resume")
        .arg(&journal)
        .assert()
        .success()
        .stdout(predicates::str::contains("already finished"));
}

#[test]
fn a_run_killed_after_a_step_started_is_resumed_with_one_trigger_per_step() {
    crash_then_resume("step_started");
}

#[test]
fn a_run_killed_just_before_its_trigger_is_resumed_with_one_trigger_per_step() {
    crash_then_resume("trigger_sent");
}

#[test]
fn a_run_killed_after_its_trigger_took_effect_finds_the_build_instead_of_triggering_again() {
    crash_then_resume("trigger_answered");
}

#[test]
fn a_run_killed_once_its_queue_item_was_known_re_attaches_to_it() {
    crash_then_resume("queued");
}

#[test]
fn a_run_killed_once_its_build_was_known_re_attaches_to_the_build() {
    crash_then_resume("started");
}

#[test]
fn a_run_killed_after_its_first_step_finished_only_runs_the_rest() {
    crash_then_resume("finished");
}

#[test]
fn a_journal_of_another_pipeline_is_refused() {
    let (dir, path) = pipeline_file(SLOW);
    let journal = dir.path().join("run.journal");
    std::fs::write(
        &journal,
        "{\"event\":\"run_started\",\"pipeline\":\"x\",\"file\":\"/elsewhere/x.yaml\",\"set\":[],\"run_id\":\"r\",\"started_at\":\"t\"}\n",
    )
    .unwrap();
    jrun()
        .arg(&path)
        .args(["--sandbox", "--progress", "never", "--journal"])
        .arg(&journal)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("jrun resume"));
}

#[test]
fn a_second_interrupt_exits_at_once_while_the_first_waits_for_jenkins() {
    // Jenkins never confirms the abort, so the first SIGINT would wait its full bound.
    let sb = common::sandbox(
        "speed: 1\nquiet_period: 0s\nabort_delay: 1h\njobs:\n  - {path: long, kind: pipeline, builds: [{duration: 1h}]}\n",
    );
    let yaml = format!(
        "name: twice\n{}defaults:\n  poll: {{initial: 20ms, max: 100ms}}\nsteps:\n  - {{id: run, job: long}}\n",
        common::jenkins_block(&sb)
    );
    let (_dir, path) = pipeline_file(&yaml);
    let child = Running::spawn(jrun_command().args([
        path.as_os_str(),
        "--progress".as_ref(),
        "never".as_ref(),
    ]));
    wait_for(Duration::from_secs(10), "the build to run", || {
        builds(&sb)
            .iter()
            .any(|b| b["job"] == "long" && b["building"] == true)
            .then_some(())
    });
    child.signal("INT");
    wait_for(
        Duration::from_secs(10),
        "jrun to ask Jenkins to stop the build",
        || {
            let stats = common::control(&sb, "GET", "stats", serde_json::Value::Null);
            stats["routes"]["POST stop"]["count"]
                .as_u64()
                .filter(|n| *n >= 1)
        },
    );
    let second = std::time::Instant::now();
    child.signal("INT");
    // Bounded well below the 30 s the first interrupt would wait for Jenkins.
    let Outcome { code, stderr, .. } = child.outcome(Duration::from_secs(20));
    assert_eq!(code, 130, "{stderr}");
    assert!(second.elapsed() < Duration::from_secs(20));
    assert!(stderr.contains("interrupted again"), "{stderr}");
}

const EDITABLE_SANDBOX: &str = "speed: 10\nquiet_period: 0s\njobs:\n  - {path: first, kind: pipeline, parameters: [{name: V}], builds: [{duration: 2s, result: SUCCESS}]}\n  - {path: second, kind: pipeline, parameters: [{name: W}], builds: [{duration: 2s, result: SUCCESS}]}\n";

/// Two steps of pipeline `resumable`: `one` triggers `first` with V, then `two` triggers
/// `second` with W.
fn editable(sb: &jrun::sandbox::Sandbox) -> String {
    format!(
        "name: resumable\n{}defaults:\n  poll: {{initial: 20ms, max: 100ms}}\nsteps:\n  - {{id: one, job: first, params: {{V: \"x y\"}}}}\n  - {{id: two, job: second, params: {{W: a}}}}\n",
        common::jenkins_block(sb)
    )
}

/// Runs `yaml` with a journal and kills jrun (as SIGKILL would) right after `point`.
fn crashed_run(yaml: &str, point: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, path) = pipeline_file(yaml);
    let journal = dir.path().join("run.journal");
    let crashed = Running::spawn(
        jrun_command()
            .args([
                path.as_os_str(),
                "--progress".as_ref(),
                "never".as_ref(),
                "--journal".as_ref(),
                journal.as_os_str(),
            ])
            .env("JRUN_TEST_CRASH_AFTER", point),
    );
    let Outcome { code, stderr, .. } = crashed.outcome(Duration::from_secs(30));
    assert_eq!(code, 137, "{point}: the run did not stop there: {stderr}");
    (dir, path, journal)
}

fn resume(journal: &Path) -> Outcome {
    let resumed = Running::spawn(jrun_command().args([
        "resume".as_ref(),
        journal.as_os_str(),
        "--progress".as_ref(),
        "never".as_ref(),
        "--output".as_ref(),
        "json".as_ref(),
    ]));
    resumed.outcome(Duration::from_secs(30))
}

/// The jobs the sandbox created a queue item for, in order.
fn triggered_jobs(sb: &jrun::sandbox::Sandbox) -> Vec<String> {
    sb.triggers()
        .iter()
        .filter(|t| t.created)
        .map(|t| t.job.clone())
        .collect()
}

#[test]
fn resume_refuses_a_journal_whose_finished_step_was_renamed_and_triggers_nothing() {
    let sb = common::sandbox(EDITABLE_SANDBOX);
    let yaml = editable(&sb);
    let (_dir, path, journal) = crashed_run(&yaml, "finished");
    assert_eq!(triggered_jobs(&sb), ["first"]);
    std::fs::write(&path, yaml.replace("id: one", "id: uno")).unwrap();
    let Outcome {
        code,
        stdout,
        stderr,
    } = resume(&journal);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("step `one` of the journal is not in")
            && stderr.contains("renamed or removed"),
        "{stderr}"
    );
    assert!(stderr.contains("start a fresh run"), "{stderr}");
    assert_eq!(triggered_jobs(&sb), ["first"], "{:?}", sb.triggers());
}

#[test]
fn resume_refuses_a_journal_whose_file_now_holds_another_pipeline() {
    let sb = common::sandbox(EDITABLE_SANDBOX);
    let yaml = editable(&sb);
    let (_dir, path, journal) = crashed_run(&yaml, "finished");
    std::fs::write(&path, yaml.replace("name: resumable", "name: other")).unwrap();
    let Outcome {
        code,
        stdout,
        stderr,
    } = resume(&journal);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("pipeline `resumable`") && stderr.contains("pipeline `other`"),
        "{stderr}"
    );
    assert_eq!(triggered_jobs(&sb), ["first"], "{:?}", sb.triggers());
}

#[test]
fn resume_refuses_a_changed_parameter_of_a_triggered_step_naming_it() {
    let sb = common::sandbox(EDITABLE_SANDBOX);
    let yaml = editable(&sb);
    let (_dir, path, journal) = crashed_run(&yaml, "queued");
    std::fs::write(&path, yaml.replace("V: \"x y\"", "V: z")).unwrap();
    let Outcome {
        code,
        stdout,
        stderr,
    } = resume(&journal);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("step `one`") && stderr.contains("parameter V \"x y\" -> \"z\""),
        "{stderr}"
    );
    assert_eq!(triggered_jobs(&sb), ["first"], "{:?}", sb.triggers());
}

#[test]
fn resume_proceeds_when_the_edit_only_touches_a_step_that_never_started() {
    let sb = common::sandbox(EDITABLE_SANDBOX);
    let yaml = editable(&sb);
    let (_dir, path, journal) = crashed_run(&yaml, "finished");
    let edited = format!("# reviewed\n{}", yaml.replace("W: a", "W: b"));
    std::fs::write(&path, edited).unwrap();
    let Outcome {
        code,
        stdout,
        stderr,
    } = resume(&journal);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("changed since the run started"),
        "the edit went unmentioned: {stderr}"
    );
    assert_eq!(triggered_jobs(&sb), ["first", "second"]);
    let second = sb
        .triggers()
        .into_iter()
        .find(|t| t.job == "second")
        .unwrap();
    assert_eq!(second.params, [("W".to_string(), "b".to_string())]);
}

#[test]
fn a_journal_of_the_earlier_format_is_checked_on_what_it_recorded_and_still_resumes() {
    let sb = common::sandbox(EDITABLE_SANDBOX);
    let yaml = editable(&sb);
    let (_dir, path, journal) = crashed_run(&yaml, "queued");
    // Journals written before the format, the file's digest and the steps' servers were
    // recorded have none of them.
    let old: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
            let fields = record.as_object_mut().unwrap();
            for new in ["format", "digest", "server", "url"] {
                fields.remove(new);
            }
            record.to_string()
        })
        .collect();
    assert!(
        old.iter().any(|l| l.contains("\"trigger_sent\"")),
        "{old:?}"
    );
    std::fs::write(&journal, old.join("\n") + "\n").unwrap();
    std::fs::write(&path, yaml.replace("id: one", "id: uno")).unwrap();
    let Outcome { code, stderr, .. } = resume(&journal);
    assert_eq!(code, 2, "a renamed step was not noticed: {stderr}");
    std::fs::write(&path, &yaml).unwrap();
    let Outcome {
        code,
        stdout,
        stderr,
    } = resume(&journal);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        triggered_jobs(&sb),
        ["first", "second"],
        "{:?}",
        sb.triggers()
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["steps"][0]["result"], "SUCCESS", "{summary}");
}

// ---- interrupts and deadlines, with a Jenkins that stops answering ----

/// A job step and a job that stays queued, against `url`, with a short unreachable_timeout so
/// that the stop budget (at most 30 s, less for such a server) is short.
fn running_and_queued(url: &str, unreachable: &str) -> String {
    format!(
        "name: stops\njenkins:\n  url: {url}\n  user: {}\n  token: {}\n  unreachable_timeout: {unreachable}\n\
         defaults:\n  poll: {{initial: 20ms, max: 100ms}}\nsteps:\n  - parallel:\n      - {{id: run, job: running}}\n      - {{id: wait, job: waiting}}\n",
        common::USER,
        common::TOKEN
    )
}

const STOPS_SANDBOX: &str = "speed: 10\nquiet_period: 0s\njobs:\n  - {path: running, kind: pipeline, builds: [{duration: 1h}]}\n  - {path: waiting, kind: pipeline, quiet_period: 1h}\n";

fn started_and_queued(sb: &jrun::sandbox::Sandbox) {
    wait_for(
        Duration::from_secs(10),
        "one running build and one queued item",
        || {
            let running = builds(sb)
                .iter()
                .any(|b| b["job"] == "running" && b["building"] == true);
            let queued = sb.with_model(|m| m.queue.values().any(|i| i.job == "waiting"));
            (running && queued).then_some(())
        },
    );
}

fn report_steps(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("the report was written");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    report["steps"].as_array().cloned().unwrap_or_default()
}

#[test]
fn sigterm_when_jenkins_has_gone_away_exits_within_the_stop_budget_and_claims_no_cancel() {
    let sb = common::sandbox(STOPS_SANDBOX);
    let (dir, path) = pipeline_file(&running_and_queued(&sb.url(), "2s"));
    let report = dir.path().join("report.json");
    let run = common::Running::start(&path, &["--report", report.to_str().unwrap()]);
    started_and_queued(&sb);
    // Jenkins goes away: nothing it was asked to cancel or stop can be confirmed.
    drop(sb);
    let began = std::time::Instant::now();
    run.signal("TERM");
    let output = run.finish(Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    // The budget here is the server's unreachable_timeout of 2 s; 30 s is only a hang guard.
    assert!(began.elapsed() < Duration::from_secs(20), "{stderr}");
    for step in report_steps(&report) {
        assert_eq!(step["status"], "interrupted", "{step}\n{stderr}");
        assert!(
            step["message"]
                .as_str()
                .is_some_and(|m| m.contains("did not confirm")),
            "{step}"
        );
    }
    assert!(!stderr.contains("cancelled queue item"), "{stderr}");
}

#[test]
fn a_second_sigterm_exits_at_once_and_still_writes_the_report_and_junit() {
    let sb = common::sandbox(STOPS_SANDBOX);
    // A long budget: only the second signal can end this run soon.
    let (dir, path) = pipeline_file(&running_and_queued(&sb.url(), "60s"));
    let report = dir.path().join("report.json");
    let junit = dir.path().join("junit.xml");
    let run = common::Running::start(
        &path,
        &[
            "--report",
            report.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    started_and_queued(&sb);
    // Once jrun has seen its build start, it knows the number.
    let number = wait_for(Duration::from_secs(10), "jrun to see its build", || {
        builds(&sb)
            .iter()
            .find(|b| b["job"] == "running" && !b["observed_started_ms"].is_null())
            .and_then(|b| b["number"].as_u64())
    });
    std::thread::sleep(Duration::from_millis(200));
    drop(sb);
    run.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    let began = std::time::Instant::now();
    run.signal("TERM");
    let output = run.finish(Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(began.elapsed() < Duration::from_secs(10), "{stderr}");
    let steps = report_steps(&report);
    let run_step = steps.iter().find(|s| s["id"] == "run").unwrap();
    assert_eq!(run_step["status"], "interrupted", "{run_step}");
    assert_eq!(
        run_step["number"], number,
        "what it knew is kept: {run_step}"
    );
    assert!(std::fs::read_to_string(&junit).is_ok_and(|x| x.contains("<testsuite")));
}

#[test]
fn the_run_timeout_bounds_the_job_reads_of_a_silent_server() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (_dir, path) = pipeline_file(&running_and_queued(&url, "60s"));
    let began = std::time::Instant::now();
    jrun()
        .arg(&path)
        .args(["--progress", "never", "--timeout", "1s"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(4)
        .stderr(predicates::str::contains("--timeout was reached"));
    assert!(began.elapsed() < Duration::from_secs(15));
    drop(listener);
}

#[test]
fn the_run_timeout_bounds_a_build_read_that_jenkins_stops_answering() {
    let sb = common::sandbox(STOPS_SANDBOX);
    let silent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hush = silent.clone();
    // Only reads go unanswered: the queued item can show in the sandbox a moment before the
    // answer to its trigger leaves the proxy, and a trigger whose answer never comes is
    // waited for up to `unreachable_timeout`, which is not what this pins.
    let proxy = common::Hostile::proxy(&sb.url(), move |asked, answer| {
        if asked.method == "GET" && hush.load(std::sync::atomic::Ordering::SeqCst) {
            // Bounded: the proxy thread gives up on its own after a while.
            std::thread::sleep(Duration::from_secs(20));
        }
        answer
    });
    // Jenkins is given up on only after 6 s, so the run's deadline comes first.
    let (_dir, path) = pipeline_file(&running_and_queued(&proxy.url(), "6s"));
    let run = common::Running::start(&path, &["--timeout", "2s", "--output", "json"]);
    started_and_queued(&sb);
    silent.store(true, std::sync::atomic::Ordering::SeqCst);
    let began = std::time::Instant::now();
    let output = run.finish(Duration::from_secs(40));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    // The deadline, then at most the stop budget (6 s here); 40 s is a hang guard.
    assert!(began.elapsed() < Duration::from_secs(15), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for step in summary["steps"].as_array().unwrap() {
        assert_eq!(step["status"], "timed_out", "{step}");
    }
}

// ---- the files jrun writes: never through a link, owner-only ----

const QUICK_SANDBOX: &str = "speed: 20\nquiet_period: 0s\njobs: [{path: quick, builds: [{duration: 1s, result: SUCCESS}]}]\n";

/// A one-step pipeline that passes in a fraction of a second against `sb`.
fn quick_pipeline(sb: &jrun::sandbox::Sandbox) -> (tempfile::TempDir, PathBuf) {
    pipeline_file(&format!(
        "name: quick\n{}defaults:\n  poll: {{initial: 20ms, max: 100ms}}\nsteps:\n  - {{id: q, job: quick}}\n",
        common::jenkins_block(sb)
    ))
}

/// `jrun <pipeline> <flag> <state>` is refused with exit 2 naming `state`, before anything
/// is triggered.
fn assert_refused(
    sb: &jrun::sandbox::Sandbox,
    pipeline: &Path,
    flag: &str,
    state: &Path,
    why: &str,
) {
    let out = jrun()
        .arg(pipeline)
        .args(["--progress", "never", flag])
        .arg(state)
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{flag} {}: {stderr}",
        state.display()
    );
    assert!(
        stderr.contains(&state.display().to_string()) && stderr.contains(why),
        "{flag}: {stderr}"
    );
    assert!(stderr.contains("use a plain file"), "{stderr}");
    assert!(sb.triggers().is_empty(), "{flag}: {:?}", sb.triggers());
}

/// A link to a victim file, a dangling link, and a hard link to the victim: none is written
/// through, and the dangling link's target is never created.
fn links_are_refused(flag: &str) {
    let sb = common::sandbox(QUICK_SANDBOX);
    let (dir, pipeline) = quick_pipeline(&sb);
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let to_victim = dir.path().join("to-victim");
    std::os::unix::fs::symlink(&victim, &to_victim).unwrap();
    assert_refused(&sb, &pipeline, flag, &to_victim, "is a symbolic link");
    let nowhere = dir.path().join("nowhere");
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    assert_refused(&sb, &pipeline, flag, &dangling, "is a symbolic link");
    let hard = dir.path().join("hard");
    std::fs::hard_link(&victim, &hard).unwrap();
    assert_refused(&sb, &pipeline, flag, &hard, "has other hard links");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        std::fs::symlink_metadata(&nowhere).is_err(),
        "{flag} created the target of a dangling link"
    );
}

#[test]
fn a_lock_file_that_is_a_link_is_refused_and_its_target_never_written() {
    links_are_refused("--lock");
}

#[test]
fn a_journal_that_is_a_link_is_refused_and_its_target_never_written() {
    links_are_refused("--journal");
}

#[test]
fn resume_refuses_a_journal_that_is_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("run.journal");
    std::fs::write(
        &real,
        "{\"event\":\"run_started\",\"pipeline\":\"x\",\"file\":\"/elsewhere/x.yaml\",\"set\":[],\"run_id\":\"r\",\"started_at\":\"t\"}\n",
    )
    .unwrap();
    let link = dir.path().join("link.journal");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    jrun()
        .arg("resume")
        .arg(&link)
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicates::str::contains(link.display().to_string()))
        .stderr(predicates::str::contains("is a symbolic link"));
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_lock_journal_report_and_junit_are_readable_by_their_owner_only() {
    let sb = common::sandbox(QUICK_SANDBOX);
    let (dir, pipeline) = quick_pipeline(&sb);
    let file = |name: &str| dir.path().join(name);
    // A report left by an earlier run readable by all is replaced by an owner-only one.
    std::fs::write(file("run.json"), "{}").unwrap();
    std::fs::set_permissions(
        file("run.json"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    jrun()
        .arg(&pipeline)
        .args(["--progress", "never", "--lock"])
        .arg(file("run.lock"))
        .arg("--journal")
        .arg(file("run.journal"))
        .arg("--report")
        .arg(file("run.json"))
        .arg("--junit")
        .arg(file("run.xml"))
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
    for name in ["run.lock", "run.journal", "run.json", "run.xml"] {
        assert_eq!(mode(&file(name)), 0o600, "{name}");
    }
    let journal = std::fs::read_to_string(file("run.journal")).unwrap();
    assert!(journal.contains("\"run_finished\""), "{journal}");
}

#[test]
fn a_trigger_in_flight_at_sigterm_is_waited_for_and_what_it_queued_is_cancelled() {
    let sb = common::sandbox(STOPS_SANDBOX);
    // Jenkins queues the item at once but its answer is slow to arrive.
    let proxy = common::Hostile::proxy(&sb.url(), |asked, answer| {
        if asked.method == "POST" && asked.path() == "/job/waiting/build" {
            std::thread::sleep(Duration::from_millis(1500));
        }
        answer
    });
    let (_dir, path) = pipeline_file(&running_and_queued(&proxy.url(), "5s"));
    let run = common::Running::start(&path, &["--output", "json"]);
    wait_for(Duration::from_secs(10), "the item queued by jrun", || {
        sb.with_model(|m| m.queue.values().any(|i| i.job == "waiting"))
            .then_some(())
    });
    run.signal("TERM");
    let outcome = run.outcome(Duration::from_secs(30));
    assert_eq!(outcome.code, 143, "{outcome}");
    let cancelled = sb.with_model(|m| {
        m.left
            .values()
            .any(|l| l.item.job == "waiting" && l.cancelled)
    });
    assert!(
        cancelled,
        "the item its answer named was not cancelled\n{outcome}"
    );
    let summary: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    let wait = summary["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "wait"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(wait["status"], "cancelled", "{outcome}");
    assert!(wait["queue_id"].is_u64(), "{outcome}");
}

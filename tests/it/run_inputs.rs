//! Pipeline `input` steps: a paused build is shown with the page to answer it at, and is
//! answered from the step's `input:`, `--approve` or `input_default`, each answer journaled.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// A release Pipeline that pauses 5 s into its 20 s at an input only alice or the release
/// team may answer; bob is a user too.
const RELEASE: &str = r#"speed: 100
quiet_period: 0s
users:
  - { name: alice, password: alice-password, tokens: ["11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] }
  - { name: bob, password: bob-password, tokens: ["11bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"] }
jobs:
  - path: app/release
    kind: pipeline
    builds:
      - duration: 20s
        inputs:
          - id: deploy
            message: "Deploy to production?"
            at: 5s
            ok: Deploy
            submitter: "release-team,alice"
            parameters:
              - { name: TARGET, type: choice, choices: [eu, us] }
              - { name: FORCE, type: boolean, default: false }
"#;

/// The outcome of the first input of build #1 of app/release as the sandbox recorded it.
fn input_outcome(sb: &jrun::sandbox::Sandbox) -> Value {
    builds(sb)
        .into_iter()
        .find(|b| b["job"] == "app/release" && b["number"] == 1)
        .map(|b| b["inputs"][0].clone())
        .unwrap_or(Value::Null)
}

fn release_pipeline(sb: &jrun::sandbox::Sandbox, step: &str) -> String {
    format!(
        "name: release\n{}steps:\n  - id: release\n    job: app/release\n    timeout: 1m\n{step}",
        jenkins_block(sb)
    )
}

fn run_json(path: &std::path::Path, args: &[&str]) -> Outcome {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    Outcome::from(run(path, &all))
}

#[test]
fn a_paused_release_answered_with_parameters_passes_and_jenkins_gets_the_values() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(
        &sb,
        "    input: { id: deploy, action: proceed, params: { TARGET: us } }\n",
    );
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    let input = input_outcome(&sb);
    assert_eq!(input["outcome"], "proceeded", "{input}");
    assert_eq!(input["by"], "alice");
    assert_eq!(input["params"], json!({"TARGET": "us", "FORCE": "false"}));
    let step = outcome.step("release");
    assert_eq!(step["result"], "SUCCESS");
    assert_eq!(step["inputs"][0]["id"], "Deploy");
    assert_eq!(step["inputs"][0]["message"], "Deploy to production?");
    assert_eq!(step["inputs"][0]["answer"], "proceed");
    let url = format!("{}/job/app/job/release/1/input/", sb.url());
    assert!(
        outcome
            .stderr
            .lines()
            .any(|l| l.contains("waiting for input Deploy") && l.contains(&url)),
        "no plain line with {url}\n{outcome}"
    );
}

#[test]
fn an_abort_answer_ends_the_step_aborted() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input: { id: Deploy, action: abort }\n");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(1);
    assert_eq!(outcome.step("release")["result"], "ABORTED");
    assert_eq!(input_outcome(&sb)["outcome"], "aborted");
}

#[test]
fn an_unanswered_input_past_input_timeout_times_out_and_leaves_no_build_running() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input_timeout: 10s\n");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(4);
    let step = outcome.step("release");
    assert_eq!(step["status"], "timed_out", "{outcome}");
    assert!(
        step["message"]
            .as_str()
            .unwrap_or("")
            .contains("input_timeout"),
        "{outcome}"
    );
    assert!(
        builds(&sb).iter().all(|b| b["building"] != true),
        "{:?}",
        builds(&sb)
    );
}

#[test]
fn input_default_proceed_is_sent_when_input_timeout_passes() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(
        &sb,
        "    input: { id: Deploy, action: prompt, params: { TARGET: eu } }\n    input_timeout: 5s\n    input_default: proceed\n",
    );
    let (_dir, path) = pipeline_file(&yaml);
    // A prompt needs a terminal; this run has none, so it is refused before triggering.
    let outcome = run_json(&path, &[]);
    outcome.assert_code(2);
    assert!(outcome.stderr.contains("action: prompt"), "{outcome}");
    assert!(triggers(&sb).is_empty());
    let yaml = yaml.replace(
        "action: prompt",
        "action: proceed, if: \"{{eq run.id 'never'}}\"",
    );
    std::fs::write(&path, yaml).unwrap();
    let outcome = run_json(&path, &[]);
    outcome.assert_code(0);
    assert_eq!(outcome.step("release")["inputs"][0]["by"], "input_default");
    assert_eq!(
        input_outcome(&sb)["params"],
        json!({"TARGET": "eu", "FORCE": "false"})
    );
}

#[test]
fn a_submitter_restriction_names_the_input_and_who_may_answer() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input: { params: { TARGET: us } }\n")
        .replace("user: alice", "user: bob")
        .replace(TOKEN, "11bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(3);
    let message = outcome.message("release");
    assert!(
        message.contains("input Deploy") && message.contains("release-team,alice"),
        "{outcome}"
    );
    assert_ne!(input_outcome(&sb)["outcome"], "proceeded");
}

#[test]
fn a_missing_input_parameter_is_refused_before_answering() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input: { id: Deploy, params: { FORCE: true } }\n");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &[]);
    outcome.assert_code(2);
    let message = outcome.message("release");
    assert!(message.contains("needs parameter `TARGET`"), "{outcome}");
    assert!(
        input_outcome(&sb)["outcome"].is_null() || input_outcome(&sb)["outcome"] != "proceeded"
    );
}

const GO: &str = "speed: 100\nquiet_period: 0s\njobs:\n  - path: app/release\n    kind: pipeline\n    builds: [{duration: 10s, inputs: [{id: go, message: Go?}]}]\n";

#[test]
fn approve_on_the_command_line_answers_proceed() {
    let sb = sandbox(GO);
    let yaml = release_pipeline(&sb, "");
    let (_dir, path) = pipeline_file(&yaml);
    let outcome = run_json(&path, &["--approve", "release:go"]);
    outcome.assert_code(0);
    assert_eq!(outcome.step("release")["inputs"][0]["by"], "--approve");
    assert_eq!(input_outcome(&sb)["outcome"], "proceeded");
    let bad = run_json(&path, &["--approve", "nosuchstep"]);
    bad.assert_code(2);
}

#[test]
fn a_resume_after_a_crash_between_the_answer_and_the_end_answers_nothing_twice() {
    let sb = sandbox(GO);
    let yaml = release_pipeline(&sb, "    input: { id: go }\n");
    let (dir, path) = pipeline_file(&yaml);
    let journal = dir.path().join("journal.jsonl");
    let crashed = Running::spawn(
        jrun_command()
            .arg(&path)
            .args(["--progress", "never", "--journal"])
            .arg(&journal)
            .env("JRUN_TEST_CRASH_AFTER", "input_answered"),
    );
    let Outcome { code, stderr, .. } = crashed.outcome(Duration::from_secs(30));
    assert_eq!(
        code, 137,
        "the run did not stop at input_answered: {stderr}"
    );
    let resumed = resume_to_end(&journal);
    assert_eq!(resumed.step("release")["result"], "SUCCESS");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(
        text.matches("\"event\":\"input_answering\"").count(),
        1,
        "{text}"
    );
    assert_eq!(input_outcome(&sb)["outcome"], "proceeded");
    assert_eq!(triggers(&sb).len(), 1);
}

/// A pseudo-terminal: jrun gets its slave side as stdin and stderr, the test types on the
/// master side and reads all that jrun shows there.
#[cfg(unix)]
struct Pty {
    master: std::fs::File,
    slave: std::os::fd::OwnedFd,
}

#[cfg(unix)]
fn pty() -> Pty {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: two out-parameters for the descriptors, no name, default attributes, a size.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here alone.
    unsafe {
        Pty {
            master: std::fs::File::from_raw_fd(master),
            slave: std::os::fd::OwnedFd::from_raw_fd(slave),
        }
    }
}

/// jrun run on a pseudo-terminal: what it shows there so far, and typing on it.
#[cfg(unix)]
struct OnTerminal {
    child: std::process::Child,
    master: std::fs::File,
    shown: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// How far `expect` has read.
    seen: usize,
    deadline: std::time::Instant,
}

#[cfg(unix)]
impl OnTerminal {
    fn start(path: &std::path::Path) -> OnTerminal {
        use std::io::Read;
        let Pty { master, slave } = pty();
        let child = jrun_command()
            .arg(path)
            .args(["--output", "json"])
            .env("TERM", "xterm")
            .stdin(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(slave);
        let shown = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let (shown, mut master) = (shown.clone(), master.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // Ends with an error (EIO) once jrun, the last holder of the slave side, exits.
                while let Ok(n) = master.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    shown.lock().unwrap().push_str(&text);
                }
            })
        };
        OnTerminal {
            child,
            master,
            shown,
            reader: Some(reader),
            seen: 0,
            deadline: std::time::Instant::now() + Duration::from_secs(30),
        }
    }

    fn shown(&self) -> String {
        self.shown.lock().unwrap().clone()
    }

    /// Waits until jrun shows `wanted` after what was seen so far.
    fn expect(&mut self, wanted: &str) {
        loop {
            let text = self.shown();
            if let Some(at) = text[self.seen..].find(wanted) {
                self.seen += at + wanted.len();
                return;
            }
            if std::time::Instant::now() > self.deadline {
                let _ = self.child.kill();
                panic!("jrun never showed `{wanted}`; it showed:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answer(&mut self, wanted: &str, typed: &str) {
        use std::io::Write;
        self.expect(wanted);
        self.master.write_all(typed.as_bytes()).unwrap();
    }

    /// Waits for jrun to end; what it showed on the terminal comes with its outcome.
    fn end(mut self) -> (Outcome, String) {
        while self.child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > self.deadline {
                let _ = self.child.kill();
                panic!("jrun did not end:\n{}", self.shown());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let text = self.shown();
        let OnTerminal { child, .. } = self;
        (Outcome::from(child.wait_with_output().unwrap()), text)
    }
}

#[cfg(unix)]
#[test]
fn a_prompt_on_a_terminal_asks_and_sends_the_values_typed() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input: { id: deploy, action: prompt }\n");
    let (_dir, path) = pipeline_file(&yaml);
    let mut term = OnTerminal::start(&path);
    term.answer("[p]roceed/[a]bort: ", "maybe\n");
    term.expect("type p (proceed) or a (abort)");
    term.answer("[p]roceed/[a]bort: ", "p\n");
    term.answer("TARGET (one of eu, us) [eu]: ", "2\n");
    term.answer("FORCE (yes or no) [false]: ", "yes\n");
    let (outcome, text) = term.end();
    outcome.assert_code(0);
    assert!(text.contains("Deploy to production?"), "{text}");
    assert!(
        text.contains(&format!("{}/job/app/job/release/1/input/", sb.url())),
        "{text}"
    );
    let input = input_outcome(&sb);
    assert_eq!(input["outcome"], "proceeded", "{input}");
    assert_eq!(input["params"], json!({"TARGET": "us", "FORCE": "true"}));
    let step = outcome.step("release");
    assert_eq!(step["inputs"][0]["answer"], "proceed", "{outcome}");
    assert_eq!(step["inputs"][0]["by"], "terminal", "{outcome}");
}

#[cfg(unix)]
#[test]
fn a_question_on_the_terminal_is_withdrawn_when_the_input_is_answered_in_jenkins() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(&sb, "    input: { id: deploy, action: prompt }\n");
    let (_dir, path) = pipeline_file(&yaml);
    let mut term = OnTerminal::start(&path);
    term.expect("[p]roceed/[a]bort: ");
    let response = client()
        .post(format!(
            "{}/job/app/job/release/1/input/Deploy/proceed",
            sb.url()
        ))
        .basic_auth(USER, Some(TOKEN))
        .form(&[(
            "json",
            r#"{"parameter":[{"name":"TARGET","value":"eu"},{"name":"FORCE","value":true}]}"#,
        )])
        .send()
        .unwrap();
    assert!(response.status().is_success() || response.status().is_redirection());
    term.expect("no longer asking");
    let (outcome, _) = term.end();
    outcome.assert_code(0);
    let input = input_outcome(&sb);
    assert_eq!(input["params"], json!({"TARGET": "eu", "FORCE": "true"}));
    let step = outcome.step("release");
    assert_eq!(step["result"], "SUCCESS", "{outcome}");
    assert_eq!(step["inputs"][0]["answer"], Value::Null, "{outcome}");
}

#[cfg(unix)]
#[test]
fn a_question_left_unanswered_gives_way_to_input_default_at_input_timeout() {
    let sb = sandbox(RELEASE);
    let yaml = release_pipeline(
        &sb,
        "    input: { id: deploy, action: prompt, params: { TARGET: us } }\n    input_timeout: 3s\n    input_default: proceed\n",
    );
    let (_dir, path) = pipeline_file(&yaml);
    let mut term = OnTerminal::start(&path);
    term.expect("[p]roceed/[a]bort: ");
    term.expect("no longer asking");
    let (outcome, _) = term.end();
    outcome.assert_code(0);
    let input = input_outcome(&sb);
    assert_eq!(input["params"], json!({"TARGET": "us", "FORCE": "false"}));
    let step = outcome.step("release");
    assert_eq!(step["inputs"][0]["by"], "input_default", "{outcome}");
}

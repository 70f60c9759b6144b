//! `jrun sandbox` as a user runs it: the real binary, its first line, its exit codes.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use predicates::prelude::*;

use crate::common::{jrun, jrun_command};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sandbox_command_prints_its_url_first_and_serves_jenkins() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sandbox.yaml");
    std::fs::write(
        &config,
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: hello\n",
    )
    .unwrap();
    let child = jrun_command()
        .args(["sandbox", "--port", "0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("jrun sandbox listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let second = lines.next().unwrap().unwrap();
    assert!(second.contains("admin"), "credentials line: {second}");

    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let job: serde_json::Value = client
        .get(format!("{url}/job/hello/api/json"))
        .basic_auth("admin", Some("admin"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(job["_class"], "hudson.model.FreeStyleProject");
    assert_eq!(job["nextBuildNumber"], 1);
}

#[test]
fn a_bad_sandbox_config_exits_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "jobs:\n  - path: a\n    colour: red\n").unwrap();
    jrun()
        .args(["sandbox", "--port", "0", "--config"])
        .arg(&config)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("bad.yaml")
                .and(predicate::str::contains("colour"))
                .and(predicate::str::contains("line 3")),
        );
}

#[test]
fn a_missing_sandbox_config_exits_2() {
    jrun()
        .args([
            "sandbox",
            "--port",
            "0",
            "--config",
            "/nonexistent/sandbox.yaml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/sandbox.yaml"));
}

#[test]
fn a_busy_port_exits_2_naming_the_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    jrun()
        .args(["sandbox", "--port", &port])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(port.as_str()));
}

#[test]
fn help_lists_the_exit_codes() {
    jrun().arg("--help").assert().success().stdout(
        predicate::str::contains("Exit codes:")
            .and(predicate::str::contains("another run holds the lock"))
            .and(predicate::str::contains("143")),
    );
}

#[test]
fn an_unknown_subcommand_exits_2() {
    jrun().arg("frobnicate").assert().code(2);
}

#[test]
fn completions_cover_the_subcommands_and_their_options() {
    let output = jrun().args(["completions", "bash"]).assert().success();
    let script = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    assert!(script.contains("complete -F _jrun"), "{script}");
    for word in [
        "validate",
        "resume",
        "--max-parallel",
        "--junit",
        "--sandbox-config",
    ] {
        assert!(script.contains(word), "no {word} in the bash completions");
    }
    jrun()
        .args(["completions", "zsh"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("#compdef jrun"));
}

#[test]
fn completions_for_an_unknown_shell_exit_2_listing_the_known_ones() {
    jrun()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bash").and(predicate::str::contains("zsh")));
}

#[test]
fn verbose_and_quiet_together_exit_2() {
    jrun()
        .args(["pipeline.yaml", "-v", "-q"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--quiet"));
}

#[test]
fn a_rehearsal_job_takes_the_parameters_of_every_step_that_calls_it() {
    // Two steps call `deploy` with different parameters, the second also with a trigger id:
    // the job the sandbox creates must accept all of them, or the second trigger is refused.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("two-calls.yaml");
    std::fs::write(
        &pipeline,
        "name: two-calls\nsteps:\n  - id: eu\n    job: deploy\n    params: {REGION: eu}\n  - id: canary\n    job: deploy\n    params: {REGION: us, CANARY: \"true\"}\n    trigger_id: JRUN_ID\n",
    )
    .unwrap();
    let config = dir.path().join("sandbox.yaml");
    std::fs::write(&config, "speed: 100\nquiet_period: 0s\n").unwrap();
    let output = jrun()
        .arg("--sandbox")
        .arg("--sandbox-config")
        .arg(&config)
        .arg(&pipeline)
        .args(["--progress", "never", "--output", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for id in ["eu", "canary"] {
        let step = summary["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == id))
            .unwrap_or_else(|| panic!("no step {id}:\n{stdout}"));
        assert_eq!(step["status"], "passed", "{stdout}");
    }
}

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
    let summary = rehearse(
        dir.path(),
        "name: two-calls\nsteps:\n  - id: eu\n    job: deploy\n    params: {REGION: eu}\n  - id: canary\n    job: deploy\n    params: {REGION: us, CANARY: \"true\"}\n    trigger_id: JRUN_ID\n",
    );
    let stdout = summary.to_string();
    for id in ["eu", "canary"] {
        let step = summary["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == id))
            .unwrap_or_else(|| panic!("no step {id}:\n{stdout}"));
        assert_eq!(step["status"], "passed", "{stdout}");
    }
}

#[test]
fn a_rehearsal_produces_the_outputs_and_artifacts_a_pipeline_reads() {
    // The build step reads a JSON artifact, a properties key, a log line, its description and
    // display name, and downloads archived files; the rehearsal jobs must provide all of it, so
    // the rehearsal runs to the end and the later step gets the placeholder values.
    let dir = tempfile::tempdir().unwrap();
    let summary = rehearse(
        dir.path(),
        r#"name: reads
steps:
  - id: build
    job: app/build
    outputs:
      from_artifact: out/build-info.json
      SHA: { artifact: meta.properties, key: git.sha }
      IMAGE: { log: 'pushed image (\S+) digest=(sha256:[0-9a-f]{8})' }
      NOTE: { description: true }
      TITLE: { display_name: true }
      BRANCH: { param: GIT_BRANCH }
    artifacts: { get: ["dist/*.tar.gz", "reports/**"], to: "got/{{step.id}}" }
  - id: deploy
    job: deploy
    params:
      VERSION: "{{steps.build.outputs.version}}"
      IMAGE: "{{steps.build.outputs.IMAGE}}"
      SHA: "{{steps.build.outputs.SHA}}"
      BRANCH: "{{steps.build.outputs.BRANCH}}"
"#,
    );
    let stdout = summary.to_string();
    let build = &summary["steps"][0];
    assert_eq!(build["outputs"]["version"], "rehearsal-version", "{stdout}");
    assert_eq!(build["outputs"]["SHA"], "rehearsal-git.sha", "{stdout}");
    assert_eq!(build["outputs"]["IMAGE"], "rehearsal", "{stdout}");
    assert_eq!(
        build["outputs"]["BRANCH"], "rehearsal-GIT_BRANCH",
        "{stdout}"
    );
    for key in ["NOTE", "TITLE"] {
        assert!(
            build["outputs"][key]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{stdout}"
        );
    }
    let files: Vec<&str> = build["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["dist/rehearsal.tar.gz", "reports/rehearsal.txt"],
        "{stdout}"
    );
    assert!(dir.path().join("got/build/dist/rehearsal.tar.gz").is_file());
    assert_eq!(summary["steps"][1]["status"], "passed", "{stdout}");
}

/// Rehearses the pipeline `yaml` with `jrun --sandbox` in `dir` (a fast sandbox without a quiet
/// period), which must pass: its JSON summary.
fn rehearse(dir: &std::path::Path, yaml: &str) -> serde_json::Value {
    let pipeline = dir.join("pipeline.yaml");
    std::fs::write(&pipeline, yaml).unwrap();
    let config = dir.join("sandbox.yaml");
    std::fs::write(&config, "speed: 100\nquiet_period: 0s\n").unwrap();
    let output = jrun()
        .current_dir(dir)
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
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn a_rehearsal_plays_the_multibranch_projects_of_branch_steps() {
    // A new release branch a scan must find (its first build adopted, then one of the step's
    // own for its parameters), and an older branch that exists and takes parameters.
    let dir = tempfile::tempdir().unwrap();
    let summary = rehearse(
        dir.path(),
        "name: branches\nsteps:\n  - id: cut\n    job: app\n    branch: release/2.4\n    branch_scan: auto\n  - id: old\n    job: app/release%2F2.3\n    params: { VERSION: '2.3.9' }\n",
    );
    let stdout = summary.to_string();
    for (i, id) in ["cut", "old"].into_iter().enumerate() {
        let step = &summary["steps"][i];
        assert_eq!(step["id"], id, "{stdout}");
        assert_eq!(step["status"], "passed", "{stdout}");
    }
    assert_eq!(summary["steps"][0]["adopted"], true, "{stdout}");
    assert_eq!(summary["steps"][0]["job"], "app/release%2F2.4", "{stdout}");
}

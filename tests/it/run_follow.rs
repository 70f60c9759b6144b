//! `--follow` with the real `jrun` binary against an in-process sandbox: the console logs of
//! running builds on stderr, every line whole and prefixed with its step id.

use crate::common;

use std::path::PathBuf;
use std::process::Output;

use jrun::sandbox::Sandbox;

use common::{FAST_POLL, jenkins_block, jrun, pipeline_file, run, sandbox, text};

const TWO_PARALLEL: &str = "\
steps:
  - parallel:
      - id: left
        job: left
      - id: right
        job: right
";

fn pipeline_for(sb: &Sandbox, rest: &str) -> (tempfile::TempDir, PathBuf) {
    pipeline_file(&format!(
        "name: test\n{}{FAST_POLL}{rest}",
        jenkins_block(sb)
    ))
}

#[track_caller]
fn assert_passed(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Lines a build of `job` writes: spaces inside and around, tabs, and non-ASCII text, so that
/// any reflowing, trimming or re-encoding shows.
fn script(job: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| match i % 4 {
            0 => format!("{job} line {i:03}: plain"),
            1 => format!("  {job} line {i:03}:\tindented,\ttabbed  twice  "),
            2 => format!("{job} line {i:03}: ünïcödé — ✓ 日本語 ß"),
            _ => format!("{job} line {i:03}: [INFO]   aligned   columns\t|"),
        })
        .collect()
}

/// A sandbox job whose one build writes `lines` over `duration` (sandbox time).
fn job_yaml(job: &str, duration: &str, lines: &[String]) -> String {
    let quoted: Vec<String> = lines
        .iter()
        .map(|l| serde_json::to_string(l).expect("a JSON string is a YAML string"))
        .collect();
    format!(
        "  - path: {job}\n    builds: [{{duration: {duration}, log: [{}]}}]\n",
        quoted.join(", ")
    )
}

/// The log lines stderr shows for `step`, in the order printed.
fn followed(stderr: &str, step: &str) -> Vec<String> {
    let prefix = format!("{step} | ");
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// The whole log of a finished build, as Jenkins' `consoleText` gives it.
fn console_text(sb: &Sandbox, job: &str, number: u64) -> Vec<String> {
    let response = common::get(
        &common::client(),
        sb,
        &format!("/job/{job}/{number}/consoleText"),
    );
    assert_eq!(response.status(), 200, "consoleText of {job} #{number}");
    let body = response.text().expect("body");
    body.lines().map(str::to_string).collect()
}

#[test]
fn two_parallel_builds_show_every_line_of_both_whole_and_in_order() {
    let left = script("left", 60);
    let right = script("right", 60);
    let sb = sandbox(&format!(
        "speed: 10\nquiet_period: 0s\nexecutors: 2\njobs:\n{}{}",
        job_yaml("left", "30s", &left),
        job_yaml("right", "30s", &right)
    ));
    let (_dir, path) = pipeline_for(&sb, TWO_PARALLEL);
    let output = run(&path, &["--follow"]);
    assert_passed(&output);
    let stderr = text(&output.stderr);

    for (step, script) in [("left", &left), ("right", &right)] {
        let shown = followed(&stderr, step);
        // Every line Jenkins wrote, its own framing included, exactly once and in order.
        assert_eq!(shown, console_text(&sb, step, 1), "{step}:\n{stderr}");
        let own: Vec<&String> = shown.iter().filter(|l| l.contains(" line ")).collect();
        assert_eq!(own, script.iter().collect::<Vec<_>>(), "{stderr}");
        assert_eq!(
            shown.first().map(String::as_str),
            Some("Started by user alice")
        );
        assert_eq!(shown.last().map(String::as_str), Some("Finished: SUCCESS"));
    }
    // Nothing else is on stderr but timestamped progress: no line holds pieces of two.
    for line in stderr.lines() {
        let log = line.starts_with("left | ") || line.starts_with("right | ");
        let progress = line.as_bytes().get(19) == Some(&b'Z') && line.get(..2) == Some("20");
        assert!(
            log || progress,
            "a line that is neither log nor progress: {line:?}"
        );
    }
    // Both builds really ran at once, so their lines had the chance to interleave.
    let first_right = stderr
        .find("right | right line 000")
        .expect("right's first line");
    let last_left = stderr
        .rfind("left | left line 059")
        .expect("left's last line");
    assert!(
        first_right < last_left,
        "the builds did not overlap:\n{stderr}"
    );
    // The summary stays alone on stdout.
    assert!(
        !text(&output.stdout).contains(" | "),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn console_notes_never_reach_the_output() {
    let sb = sandbox(&format!(
        "speed: 10\nquiet_period: 0s\nconsole_notes: true\njobs:\n{}",
        job_yaml("left", "4s", &script("left", 4))
    ));
    let (_dir, path) = pipeline_for(&sb, "steps:\n  - id: left\n    job: left\n");
    let output = run(&path, &["--follow"]);
    assert_passed(&output);
    // The raw log really carries a note: the default version sends them since 2.509.
    let raw = common::get(
        &common::client(),
        &sb,
        "/job/left/1/logText/progressiveText?start=0",
    )
    .text()
    .expect("body");
    assert!(raw.contains("\u{1b}[8mha:"), "{raw:?}");

    let stderr = text(&output.stderr);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(
        stderr.lines().any(|l| l == "left | Started by user alice"),
        "{stderr}"
    );
    assert!(!stderr.contains("ha:"), "{stderr}");
}

#[test]
fn without_follow_no_log_line_is_printed() {
    let sb = sandbox(&format!(
        "speed: 10\nquiet_period: 0s\njobs:\n{}",
        job_yaml("left", "4s", &script("left", 8))
    ));
    let (_dir, path) = pipeline_for(&sb, "steps:\n  - id: left\n    job: left\n");
    let output = run(&path, &[]);
    assert_passed(&output);
    let stderr = text(&output.stderr);
    assert!(followed(&stderr, "left").is_empty(), "{stderr}");
    assert!(!stderr.contains("left line"), "{stderr}");
}

#[test]
fn quiet_follow_prints_no_log_either() {
    let sb = sandbox(&format!(
        "speed: 10\nquiet_period: 0s\njobs:\n{}",
        job_yaml("left", "4s", &script("left", 8))
    ));
    let (_dir, path) = pipeline_for(&sb, "steps:\n  - id: left\n    job: left\n");
    let output = run(&path, &["--follow", "--quiet"]);
    assert_passed(&output);
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn run_and_resume_both_take_follow() {
    for args in [&["run", "--help"][..], &["resume", "--help"][..]] {
        let output = jrun().args(args).output().expect("jrun runs");
        assert!(
            text(&output.stdout).contains("--follow"),
            "{args:?}: {}",
            text(&output.stdout)
        );
    }
}

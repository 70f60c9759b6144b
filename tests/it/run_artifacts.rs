//! `artifacts:` end to end: the real jrun downloads what the sandbox's builds archived, over
//! HTTP, into a folder of its working directory, and the report says what it wrote.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{Answer, FAST_POLL, Hostile, Outcome, TOKEN, USER, jenkins_block, jrun, sandbox};
use jrun::sandbox::Sandbox;
use serde_json::Value;

/// A build that archives a JSON file, a generated tarball, nested reports, a file in a folder
/// with a space and non-ASCII letters, and one nobody asks for.
const BUILD: &str = r#"speed: 20
quiet_period: 0s
jobs:
  - path: app/build
    builds:
      - duration: 1s
        artifacts:
          - { path: out/build-info.json, content: '{"version": "1.2.3"}' }
          - { path: dist/app.tar.gz, size: 3000000 }
          - { path: reports/unit.xml, content: '<testsuite/>' }
          - { path: reports/deep/it.xml, content: '<testsuite name="it"/>' }
          - { path: 'my dir/ünï #1 code.txt', content: 'spaced' }
          - { path: other/skip.txt, content: 'not wanted' }
"#;

/// The byte at offset `i` of a generated sandbox artifact.
fn generated(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Runs jrun on `steps` in a fresh folder (its working directory) against `url`, with JSON
/// on stdout and plain progress on stderr.
fn run_in(url: &str, steps: &str) -> (tempfile::TempDir, Outcome) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipeline.yaml");
    let jenkins = format!(
        "jenkins:\n  url: {url}\n  user: {USER}\n  token: {TOKEN}\n  unreachable_timeout: 3s\n"
    );
    std::fs::write(&file, format!("name: t\n{jenkins}{FAST_POLL}{steps}")).expect("write");
    let output = jrun()
        .current_dir(dir.path())
        .arg(&file)
        .args(["--progress", "auto", "--output", "json"])
        .output()
        .expect("jrun runs");
    (dir, Outcome::from(output))
}

fn run(sb: &Sandbox, steps: &str) -> (tempfile::TempDir, Outcome) {
    assert!(jenkins_block(sb).contains(&sb.url()));
    run_in(&sb.url(), steps)
}

/// Every file under `root`, as relative paths with `/`.
fn files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, at: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(at) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn records(step: &Value) -> Vec<(String, String, u64)> {
    step["artifacts"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    (
                        a["path"].as_str().unwrap_or_default().to_string(),
                        a["file"].as_str().unwrap_or_default().to_string(),
                        a["size"].as_u64().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn matching_artifacts_are_downloaded_with_their_bytes_paths_and_sizes() {
    let sb = sandbox(BUILD);
    let (dir, out) = run(
        &sb,
        "steps:\n  - id: build\n    job: app/build\n    artifacts:\n      get: [\"dist/*.tar.gz\", \"reports/**\", \"my dir/*\", \"out/*.json\"]\n      to: \"downloads/{{step.id}}\"\n",
    );
    out.assert_code(0);
    let root = dir.path().join("downloads/build");
    assert_eq!(
        files(&root),
        [
            "dist/app.tar.gz",
            "my dir/ünï #1 code.txt",
            "out/build-info.json",
            "reports/deep/it.xml",
            "reports/unit.xml",
        ],
        "{out}"
    );
    assert_eq!(
        std::fs::read(root.join("dist/app.tar.gz")).unwrap(),
        generated(3_000_000)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("out/build-info.json")).unwrap(),
        r#"{"version": "1.2.3"}"#
    );
    assert_eq!(
        std::fs::read_to_string(root.join("my dir/ünï #1 code.txt")).unwrap(),
        "spaced"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("reports/deep/it.xml")).unwrap(),
        "<testsuite name=\"it\"/>"
    );
    let step = out.step("build");
    assert_eq!(
        records(&step),
        [
            (
                "dist/app.tar.gz".to_string(),
                "downloads/build/dist/app.tar.gz".to_string(),
                3_000_000
            ),
            (
                "my dir/ünï #1 code.txt".to_string(),
                "downloads/build/my dir/ünï #1 code.txt".to_string(),
                6
            ),
            (
                "out/build-info.json".to_string(),
                "downloads/build/out/build-info.json".to_string(),
                20
            ),
            (
                "reports/deep/it.xml".to_string(),
                "downloads/build/reports/deep/it.xml".to_string(),
                22
            ),
            (
                "reports/unit.xml".to_string(),
                "downloads/build/reports/unit.xml".to_string(),
                12
            ),
        ],
        "{out}"
    );
    // Plain progress: one line per finished file, none per chunk.
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("downloaded"))
        .collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines.iter().any(|l| l.ends_with(
            "build: downloaded dist/app.tar.gz (2.9 MiB) to downloads/build/dist/app.tar.gz"
        )),
        "{out}"
    );
}

#[test]
fn artifacts_go_to_a_folder_named_after_the_step_by_default() {
    let sb = sandbox(BUILD);
    let (dir, out) = run(
        &sb,
        "steps:\n  - id: pack\n    job: app/build\n    artifacts: {get: [\"out/*\"]}\n",
    );
    out.assert_code(0);
    assert_eq!(
        files(&dir.path().join("artifacts/pack")),
        ["out/build-info.json"],
        "{out}"
    );
}

#[test]
fn a_glob_that_matches_nothing_fails_a_passed_step_with_kind_output_unless_optional() {
    let sb = sandbox(BUILD);
    let (dir, out) = run(
        &sb,
        "steps:\n  - id: build\n    job: app/build\n    artifacts: {get: [\"out/*.json\", \"dist/*.zip\"]}\n",
    );
    let step = failed_for_output(&out);
    assert_eq!(step["result"], "SUCCESS", "{out}");
    let message = step["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("artifacts.get `dist/*.zip` matched nothing")
            && message.contains("build #1 archived 6 artifacts")
            && !message.contains("`out/*.json`"),
        "{out}"
    );
    assert!(
        files(dir.path()).iter().all(|f| f == "pipeline.yaml"),
        "{out}"
    );

    let sb = sandbox(BUILD);
    let (dir, out) = run(
        &sb,
        "steps:\n  - id: build\n    job: app/build\n    artifacts: {get: [\"out/*.json\", \"dist/*.zip\"], optional: true}\n",
    );
    out.assert_code(0);
    assert_eq!(
        files(&dir.path().join("artifacts/build")),
        ["out/build-info.json"]
    );
}

#[test]
fn a_missing_artifact_of_a_failed_build_is_only_noted() {
    let sb = sandbox(
        "speed: 20\nquiet_period: 0s\njobs:\n  - path: app\n    builds: [{duration: 1s, result: FAILURE, artifacts: [{path: log.txt, content: x}]}]\n",
    );
    let (dir, out) = run(
        &sb,
        "steps:\n  - id: app\n    job: app\n    artifacts: {get: [\"log.txt\", \"nope/*\"]}\n",
    );
    out.assert_code(1);
    let step = out.step("app");
    assert_eq!(step["failure"]["kind"], "result", "{out}");
    assert!(
        out.stderr
            .contains("artifacts.get `nope/*` matched nothing"),
        "{out}"
    );
    assert!(
        files(dir.path()).iter().all(|f| f == "pipeline.yaml"),
        "{out}"
    );
}

#[test]
fn a_hostile_relative_path_is_refused_and_nothing_is_written_outside() {
    let sb = sandbox(BUILD);
    // Jenkins never lists such a path (and the sandbox refuses to archive one): a proxy makes
    // the build's listing say it.
    let proxy = Hostile::proxy(&sb.url(), |asked, answer| {
        if asked.target.contains("tree=artifacts") {
            answer.edit_json(|json| {
                json["artifacts"] = serde_json::json!([
                    {"relativePath": "out/build-info.json", "fileName": "build-info.json"},
                    {"relativePath": "../../x", "fileName": "x"},
                ]);
            })
        } else {
            answer
        }
    });
    let (dir, out) = run_in(
        &proxy.url(),
        "steps:\n  - id: build\n    job: app/build\n    artifacts: {get: [\"**\"], to: deep/down}\n",
    );
    let step = failed_for_output(&out);
    let message = step["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("artifact `../../x` of build #1 was not downloaded")
            && message.contains("`..` segment")
            && message.contains("would not stay inside the artifacts folder"),
        "{out}"
    );
    assert!(!dir.path().join("x").exists());
    assert!(!dir.path().join("deep/x").exists());
    assert!(
        files(dir.path()).iter().all(|f| f == "pipeline.yaml"),
        "{:?}\n{out}",
        files(dir.path())
    );
}

#[test]
fn an_artifact_store_redirect_is_followed_without_jenkins_credentials() {
    // The store answers 400 to any request with an Authorization header or a session cookie.
    let sb = sandbox(&format!("artifact_store: true\n{BUILD}"));
    let (dir, out) = run(
        &sb,
        "steps:\n  - id: build\n    job: app/build\n    artifacts: {get: [\"dist/*\", \"my dir/*\"]}\n",
    );
    out.assert_code(0);
    let root = dir.path().join("artifacts/build");
    assert_eq!(
        std::fs::read(root.join("dist/app.tar.gz")).unwrap(),
        generated(3_000_000),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("my dir/ünï #1 code.txt")).unwrap(),
        "spaced"
    );
    out.assert_hides(TOKEN);
}

/// A server that announces `announced` bytes, sends `sent` of them and hangs up, to every
/// request; counts the requests.
fn cut_short(
    announced: usize,
    sent: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    stalling(announced, sent, false)
}

/// [`cut_short`], or with `hold` a server that keeps the connection open after the bytes it
/// sent until the client hangs up (at most 10 s).
fn stalling(
    announced: usize,
    sent: usize,
    hold: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicU32, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let asked = std::sync::Arc::new(AtomicU32::new(0));
    let counter = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::Relaxed);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {announced}\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(&vec![7u8; sent]);
            let _ = stream.flush();
            if hold {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = stream.read(&mut byte);
            }
        }
    });
    (url, asked)
}

#[test]
fn a_download_cut_short_leaves_no_file_under_its_name() {
    let sb = sandbox(BUILD);
    let (store, asked) = cut_short(1_000_000, 100_000);
    let proxy = Hostile::proxy(&sb.url(), move |request, answer| {
        if request.path().ends_with("/artifact/dist/app.tar.gz") {
            Answer {
                status: 302,
                headers: vec![(
                    "location".to_string(),
                    format!("{store}/bucket/app.tar.gz?sig=1"),
                )],
                body: Vec::new(),
            }
        } else {
            answer
        }
    });
    let (dir, out) = run_in(
        &proxy.url(),
        "steps:\n  - id: build\n    job: app/build\n    artifacts: {get: [\"dist/*\"]}\n",
    );
    let step = failed_for_output(&out);
    assert!(
        step["message"]
            .as_str()
            .unwrap_or_default()
            .contains("artifact `dist/app.tar.gz` of build #1"),
        "{out}"
    );
    // Started again from the beginning a few times, then given up.
    assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 3, "{out}");
    let left: Vec<String> = files(dir.path());
    assert_eq!(left, ["pipeline.yaml"], "{out}");
}

/// A proxy in front of `sb` that redirects the download of `artifact` to `to`.
fn redirecting(sb: &Sandbox, artifact: &'static str, to: String) -> Hostile {
    Hostile::proxy(&sb.url(), move |request, answer| {
        if request.path().ends_with(artifact) {
            Answer {
                status: 302,
                headers: vec![("location".to_string(), to.clone())],
                body: Vec::new(),
            }
        } else {
            answer
        }
    })
}

#[test]
fn an_interrupted_download_leaves_no_file_under_its_name_nor_a_partial_one() {
    let sb = sandbox(BUILD);
    let (store, _) = stalling(1_000_000, 100_000, true);
    let proxy = redirecting(
        &sb,
        "/artifact/dist/app.tar.gz",
        format!("{store}/b/app?sig=1"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(
        &file,
        format!(
            "name: t\njenkins:\n  url: {}\n  user: {USER}\n  token: {TOKEN}\n{FAST_POLL}steps:\n  - id: build\n    job: app/build\n    artifacts: {{get: [\"dist/*\"]}}\n",
            proxy.url()
        ),
    )
    .expect("write");
    let running = common::Running::spawn(
        common::jrun_command()
            .current_dir(dir.path())
            .arg(&file)
            .args(["--progress", "never", "--output", "json"]),
    );
    let folder = dir.path().join("artifacts/build/dist");
    common::wait_for(Duration::from_secs(20), "the partial download", || {
        files(&folder)
            .iter()
            .any(|f| f.ends_with(".jrun-part"))
            .then_some(())
    });
    running.signal("INT");
    let out = running.outcome(Duration::from_secs(20));
    let step = out.step("build");
    assert_eq!(step["status"], "cancelled", "{out}");
    assert_eq!(step["failure"]["kind"], "interrupted", "{out}");
    assert!(
        step["message"]
            .as_str()
            .unwrap_or_default()
            .contains("while downloading artifacts"),
        "{out}"
    );
    assert_eq!(files(dir.path()), ["pipeline.yaml"], "{out}");
}

#[test]
fn a_same_origin_redirect_keeps_the_credentials_and_redirect_loops_are_cut() {
    let sb = sandbox(BUILD);
    // Jenkins' own redirect (to another URL of the same server): the next request needs the
    // credentials as much as the first.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let log = seen.clone();
    let proxy = Hostile::proxy(&sb.url(), move |request, answer| {
        if request.path().ends_with("/artifact/out/build-info.json") {
            log.lock()
                .unwrap()
                .push(request.header("authorization").map(str::to_string));
            if !request.target.contains("moved") {
                return Answer {
                    status: 302,
                    headers: vec![(
                        "location".to_string(),
                        format!("{}?moved=1", request.path()),
                    )],
                    body: Vec::new(),
                };
            }
        }
        answer
    });
    let (dir, out) = run_in(
        &proxy.url(),
        "steps:\n  - id: build\n    job: app/build\n    artifacts: {get: [\"out/*\"]}\n",
    );
    out.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("artifacts/build/out/build-info.json")).unwrap(),
        r#"{"version": "1.2.3"}"#
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter()
            .all(|h| h.as_deref().is_some_and(|h| h.starts_with("Basic "))),
        "{seen:?}"
    );

    let hops = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = hops.clone();
    let proxy = Hostile::proxy(&sb.url(), move |request, answer| {
        if request.path().ends_with("/artifact/out/build-info.json") {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Answer {
                status: 302,
                headers: vec![(
                    "location".to_string(),
                    format!("{}?again={n}", request.path()),
                )],
                body: Vec::new(),
            };
        }
        answer
    });
    let (dir, out) = run_in(
        &proxy.url(),
        "steps:\n  - id: build\n    job: app/build\n    artifacts: {get: [\"out/*\"]}\n",
    );
    let step = failed_for_output(&out);
    assert!(
        step["message"]
            .as_str()
            .unwrap_or_default()
            .contains("more than 5 redirects"),
        "{out}"
    );
    assert_eq!(hops.load(std::sync::atomic::Ordering::Relaxed), 6, "{out}");
    assert_eq!(files(dir.path()), ["pipeline.yaml"], "{out}");
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_in_the_target_folder_is_not_written_through() {
    let sb = sandbox(BUILD);
    let outside = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("artifacts/build")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("artifacts/build/out")).unwrap();
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(
        &file,
        format!(
            "name: t\n{}{FAST_POLL}steps:\n  - id: build\n    job: app/build\n    artifacts: {{get: [\"out/*\"]}}\n",
            jenkins_block(&sb)
        ),
    )
    .expect("write");
    let out = Outcome::from(
        jrun()
            .current_dir(dir.path())
            .arg(&file)
            .args(["--progress", "never", "--output", "json"])
            .output()
            .expect("jrun runs"),
    );
    let step = failed_for_output(&out);
    assert!(
        step["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is a symbolic link, which jrun does not write through"),
        "{out}"
    );
    assert_eq!(files(outside.path()), Vec::<String>::new());
}

#[test]
fn a_step_whose_artifacts_are_missing_is_retried_with_on_output() {
    let sb = sandbox(
        "speed: 20\nquiet_period: 0s\njobs:\n  - path: app\n    builds:\n      - {duration: 1s}\n      - {duration: 1s, artifacts: [{path: dist/app.zip, content: zip}]}\n",
    );
    let (dir, out) = run(
        &sb,
        "steps:\n  - id: app\n    job: app\n    retry: {max: 2, on: [output], delay: 10ms}\n    artifacts: {get: [\"dist/*.zip\"]}\n",
    );
    out.assert_code(0);
    let step = out.step("app");
    assert_eq!(step["attempts"], 2, "{out}");
    assert_eq!(step["number"], 2, "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("artifacts/app/dist/app.zip")).unwrap(),
        "zip"
    );
    assert_eq!(common::triggers(&sb).len(), 2);
}

#[test]
fn validate_exits_2_naming_the_line_and_column_of_a_bad_artifact_glob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipeline.yaml");
    let validate = |artifacts: &str| {
        std::fs::write(
            &file,
            format!("name: t\njenkins: {{url: \"http://127.0.0.1:9\"}}\nsteps:\n  - job: app\n    artifacts:\n{artifacts}"),
        )
        .expect("write");
        Outcome::from(
            jrun()
                .arg("validate")
                .arg(&file)
                .output()
                .expect("jrun runs"),
        )
    };
    let at = file.display().to_string();
    let out = validate("      get: [\"dist/*.tgz\", \"dist/{a,b\"]\n");
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!(
            "{at}:6:27: artifact glob `dist/{{a,b` is not valid"
        )),
        "{out}"
    );
    let out = validate("      get: [\"dist/*.tgz\"]\n      to: \"out/{{step.idd}}\"\n");
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!("{at}:7:11:"))
            && out
                .stderr
                .contains("the step a template belongs to has `step.id`"),
        "{out}"
    );
    validate("      get: [\"dist/*.tgz\"]\n      to: \"out/{{step.id}}\"\n").assert_code(0);
}

/// Step `build` of a run that exited 1, having failed with kind `output`.
fn failed_for_output(out: &Outcome) -> Value {
    out.assert_code(1);
    let step = out.step("build");
    assert_eq!(step["status"], "failed", "{out}");
    assert_eq!(step["failure"]["kind"], "output", "{out}");
    step
}

//! The run as a timeline page (`--html`, `jrun report --html`): one row per step, widths in
//! proportion to the recorded times, links to the builds, the diagnosis, nothing a
//! Content-Security-Policy for artifacts would block, and the same bytes from the JSON report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{Outcome, jrun, root};

/// The demo release: parallel steps waiting for one executor, a retried flaky job, a
/// matrix, a failing smoke test and the step its failure skips.
struct Demo {
    dir: tempfile::TempDir,
    outcome: Outcome,
}

impl Demo {
    fn run() -> Demo {
        let dir = tempfile::tempdir().expect("tempdir");
        let demo = root().join("scripts/timeline-demo");
        let output = jrun()
            .arg("--sandbox-config")
            .arg(demo.join("sandbox.yaml"))
            .arg(demo.join("pipeline.yaml"))
            .args(["--progress", "never", "--report"])
            .arg(dir.path().join("report.json"))
            .arg("--html")
            .arg(dir.path().join("timeline.html"))
            .output()
            .expect("jrun runs");
        let outcome = Outcome::from(output);
        outcome.assert_code(1);
        Demo { dir, outcome }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn report(&self) -> Value {
        let text = std::fs::read_to_string(self.path("report.json"))
            .unwrap_or_else(|e| panic!("no report ({e})\n{}", self.outcome));
        serde_json::from_str(&text).expect("the report is JSON")
    }

    fn page(&self) -> String {
        std::fs::read_to_string(self.path("timeline.html"))
            .unwrap_or_else(|e| panic!("no page ({e})\n{}", self.outcome))
    }
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let re = regex::Regex::new(&format!(r#"\s{name}="([^"]*)""#)).ok()?;
    re.captures(tag).map(|c| c[1].to_string())
}

#[test]
fn the_page_has_a_row_per_step_with_widths_in_proportion_to_the_recorded_times() {
    let demo = Demo::run();
    let (report, page) = (demo.report(), demo.page());
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 8, "{report:#}");
    let rows = regex::Regex::new(r#"<g class="step" id="step-(\d+)">"#).unwrap();
    let mut seen: Vec<usize> = rows
        .captures_iter(&page)
        .map(|c| c[1].parse().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, (0..steps.len()).collect::<Vec<_>>(), "{page}");
    assert_eq!(
        page.matches("<g class=\"group\"").count(),
        1,
        "the matrix heading"
    );

    // Every queue and build part, by (step, attempt), with its width in the page.
    let rect = regex::Regex::new(r#"<rect class="(queue|build)"[^>]*>"#).unwrap();
    let mut widths: HashMap<(String, usize, u64), f64> = HashMap::new();
    for tag in rect.find_iter(&page).map(|m| m.as_str()) {
        let id = attribute(tag, "id").expect("id");
        let mut parts = id.split('-');
        let kind = parts.next().unwrap().to_string();
        let step: usize = parts.next().unwrap().parse().unwrap();
        let attempt: u64 = parts.next().unwrap().parse().unwrap();
        let width: f64 = attribute(tag, "width").unwrap().parse().unwrap();
        widths.insert((kind, step, attempt), width);
    }
    let mut expected: Vec<(f64, f64)> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let attempts = step["times"]["attempts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if step["status"] == "skipped" {
            assert!(attempts.is_empty(), "{step:#}");
            continue;
        }
        assert_eq!(attempts.len() as u64, step["attempts"], "{step:#}");
        for a in &attempts {
            let n = a["attempt"].as_u64().unwrap();
            let triggered = a["triggered_ms"].as_u64().unwrap();
            let started = a["started_ms"].as_u64().expect("every demo build started");
            let ended = a["ended_ms"].as_u64().unwrap();
            let build = widths
                .get(&("b".to_string(), index, n))
                .unwrap_or_else(|| panic!("no build part for {index}/{n}"));
            expected.push((*build, (ended - started) as f64));
            if started > triggered {
                let queue = widths
                    .get(&("q".to_string(), index, n))
                    .unwrap_or_else(|| panic!("no queue part for {index}/{n}"));
                expected.push((*queue, (started - triggered) as f64));
            }
        }
    }
    // The flaky job's retry is a segment of its own.
    assert!(widths.contains_key(&("b".to_string(), 1, 2)), "{widths:?}");
    let (longest_px, longest_ms) = expected
        .iter()
        .copied()
        .fold((0.0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
    let scale = longest_px / longest_ms;
    for (px, ms) in expected {
        assert!(
            (px - ms * scale).abs() <= 0.02,
            "{px}px for {ms}ms, {scale}px/ms elsewhere"
        );
    }
}

#[test]
fn the_page_links_the_builds_and_shows_the_diagnosis_and_the_skip() {
    let demo = Demo::run();
    let (report, page) = (demo.report(), demo.page());
    for step in report["steps"].as_array().unwrap() {
        if let Some(url) = step["url"].as_str() {
            assert!(page.contains(&format!("href=\"{url}\"")), "{url}");
        }
    }
    let smoke = &report["steps"][6];
    assert_eq!(smoke["id"], "smoke");
    let base = smoke["url"]
        .as_str()
        .unwrap()
        .split("/job/")
        .next()
        .unwrap();
    let href = regex::Regex::new(r#"href="([^"]*)""#).unwrap();
    for link in href.captures_iter(&page) {
        assert!(
            link[1].starts_with(base),
            "a link off Jenkins: {}",
            &link[1]
        );
    }
    for shown in [
        "<th>stage</th><td>Test</td>",
        "<th>error</th><td>script returned exit code 1</td>",
        "GET /health: 503 Service Unavailable",
        "failed FAILURE",
        "skipped: `smoke` did not succeed",
        "passed SUCCESS ×2",
        "deploy (matrix, 3 cells)",
    ] {
        assert!(page.contains(shown), "{shown} not in\n{page}");
    }
    for banned in ["<script", "<style", "style=", "<link", "@import", "<img"] {
        assert!(!page.contains(banned), "{banned} in the page");
    }
}

#[test]
fn jrun_report_draws_the_same_page_from_the_json_report() {
    let demo = Demo::run();
    let again = demo.path("again.html");
    jrun()
        .arg("report")
        .arg(demo.path("report.json"))
        .arg("--html")
        .arg(&again)
        .assert()
        .code(0);
    let page = std::fs::read(demo.path("timeline.html")).unwrap();
    assert!(!page.is_empty());
    assert_eq!(std::fs::read(&again).unwrap(), page);
}

fn report_of(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("saved.json");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn draw(path: &Path) -> std::process::Output {
    jrun()
        .arg("report")
        .arg(path)
        .arg("--html")
        .arg(path.with_file_name("page.html"))
        .output()
        .expect("jrun runs")
}

#[test]
fn jrun_report_on_a_file_that_is_not_a_report_exits_2_naming_it() {
    for text in ["{\"pipeline\": \"x\",", "[1, 2]", "not json"] {
        let (_dir, path) = report_of(text);
        let output = draw(&path);
        let outcome = Outcome::from(output);
        outcome.assert_code(2);
        assert!(
            outcome.stderr.contains(&path.display().to_string())
                && outcome.stderr.contains("not a jrun report"),
            "{outcome}"
        );
        assert!(!path.with_file_name("page.html").exists());
    }
    let output = draw(Path::new("/nonexistent/saved.json"));
    let outcome = Outcome::from(output);
    outcome.assert_code(2);
    assert!(
        outcome.stderr.contains("/nonexistent/saved.json"),
        "{outcome}"
    );
}

/// Runs the demo with its summary going to a terminal `columns` wide and `--output text`.
#[cfg(unix)]
fn demo_on_terminal(columns: u16) -> String {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 50,
        ws_col: columns,
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
    let (mut master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    };
    let demo = root().join("scripts/timeline-demo");
    let mut child = crate::common::jrun_command()
        .arg("--sandbox-config")
        .arg(demo.join("sandbox.yaml"))
        .arg(demo.join("pipeline.yaml"))
        .args(["--progress", "never"])
        .env("TERM", "xterm")
        .stdout(slave)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("jrun runs");
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buf = [0u8; 4096];
        // The terminal reads as ended (EIO) once jrun, its only writer, has exited.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            shown.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&shown).into_owned()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("jrun did not end within 60s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    reader.join().expect("reader")
}

#[cfg(unix)]
#[test]
fn on_a_terminal_the_summary_gains_a_timeline_column_of_queue_and_build() {
    let shown = demo_on_terminal(200);
    let table: Vec<&str> = shown.lines().skip_while(|l| !l.contains("STEP")).collect();
    assert!(
        table.first().is_some_and(|h| h.contains("TIMELINE")),
        "{shown}"
    );
    let row = |id: &str| {
        table
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("{id} ")))
            .copied()
            .unwrap_or_else(|| panic!("no {id} row in\n{shown}"))
    };
    // With one executor, two of the three matrix cells wait in the queue for it.
    let waited = ["eu", "us", "ap"]
        .iter()
        .filter(|r| row(&format!("deploy[REGION={r}]")).contains("░░░"))
        .count();
    assert!(waited >= 1, "{shown}");
    assert!(row("build").contains("█"), "{shown}");
    let start = |id: &str| row(id).find(['░', '█']).unwrap_or(usize::MAX);
    assert!(
        start("build") < start("unit") && start("unit") < start("smoke"),
        "{shown}"
    );
    assert!(
        !row("announce").contains('█') && !row("announce").contains('░'),
        "{shown}"
    );
}

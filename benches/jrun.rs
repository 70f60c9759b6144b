//! The benchmark of jrun against its sandbox over real HTTP (DESIGN §8, performance targets).
//!
//! ```sh
//! cargo bench --bench jrun                        # full sizes, a few minutes
//! cargo bench --bench jrun -- --quick             # small sizes for CI (or JRUN_BENCH_QUICK=1)
//! cargo bench --bench jrun -- --only release      # one scenario: release, fleet, scale, validate or artifact
//! JRUN_BENCH_BIN=/path/to/jrun cargo bench --bench jrun   # measure another jrun binary
//! ```
//!
//! Scenarios, each against sandboxes started in this process on 127.0.0.1 that answer every
//! request of the Jenkins API [`LATENCY_MS`] late (a controller that far away; the release runs
//! once more at [`FAR_LATENCY_MS`]), with the jrun binary of the bench profile run as a child
//! process (`--progress never --output json`):
//! - `release`: 19 builds of 1-5 s in a release-like graph (build, parallel tests, package,
//!   staging, a deploy matrix over six regions through one `deploy` job, smoke tests, an
//!   announcement) on a controller with 300 other jobs; every job has history, so Jenkins knows
//!   its `estimatedDuration`. The sandbox clock runs at real speed, so sandbox and real time
//!   agree. Run with exact durations (each build lasts as long as its job's history) and with
//!   varied ones (seeded: most within ±20% of the history, two 1.6x as long, one job whose
//!   history has no successful build). Next to the varied run, a loop that polls every build
//!   once a second (what a script around python-jenkins does) is modelled from the recorded
//!   builds: its lag and requests are worked out, not run.
//! - `fleet`: 1,000 builds released at once from one pipeline (four matrices of 250 cells),
//!   exact and varied, started at jrun's default `triggers_per_second`.
//! - `scale`: 10,000 builds released at once across 10 sandboxes from one jrun process; the
//!   busiest second of requests is held to 3 times the mean rate.
//! - `validate`: `jrun validate` of a generated 1,000-step pipeline, median of several runs.
//! - `artifact`: one build that archived a 50 MB file (5 MB with `--quick`), downloaded by
//!   `artifacts:`; jrun's peak RSS is shown next to the file's size, since the download is
//!   streamed to disk and never held whole.
//!
//! Figures come from the sandboxes (`/__sandbox/stats`: requests, response body bytes, requests
//! per second; `/__sandbox/builds`: start, end and the first read that showed each build
//! finished) and from `/proc` for the child (CPU from this process's `cutime`/`cstime` after
//! the child is reaped, exact; peak RSS from `VmHWM`, sampled every 20 ms while it runs). The
//! table marks each figure against its target (PASS or FAIL), but a missed target never fails
//! the run: CI machines are too noisy for timed assertions. Only a run that cannot measure at
//! all (a sandbox does not start, jrun cannot be spawned) exits non-zero.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jrun::sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

const USER: &str = "alice";
const TOKEN: &str = "11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const USERS: &str = "users:\n  - name: alice\n    password: alice-password\n    tokens: [\"11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]\n";

/// Linux's USER_HZ, the unit of `/proc/*/stat` times; fixed at 100 on every architecture
/// Rust targets, so there is no need for `sysconf` (and a `libc` dependency) to ask.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// How often a running child's `/proc/<pid>/status` is read for its memory high-water mark.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// How often the child is checked for exit: the resolution of every wall time measured.
const EXIT_CHECK_EVERY: Duration = Duration::from_millis(1);

/// How far away the controller is: every Jenkins request is answered this much later.
const LATENCY_MS: u64 = 40;
/// A controller on another continent, for a second run of the release.
const FAR_LATENCY_MS: u64 = 150;

/// Release-pipeline targets (DESIGN §8 and the issue), for 19 builds.
const RELEASE_BUILDS: usize = 19;
const RELEASE_REQUESTS: f64 = 80.0;
const BYTES_FOR_RELEASE: f64 = 40_000.0;
const OVER_CRITICAL_PATH_S: f64 = 0.5;
const OVER_CRITICAL_PATH_VARIED_S: f64 = 1.0;
const OVER_CRITICAL_PATH_FAR_S: f64 = 1.2;
const MEDIAN_LAG_S: f64 = 1.0;
/// jrun's default `poll.max`: DESIGN §8 says a lag never goes above it.
const MAX_LAG_S: f64 = 15.0;
const FLEET_MEDIAN_LAG_S: f64 = 0.3;
/// The fleet's requests may be this much over their floor (a trigger, a queue read and a
/// build read per build).
const FLEET_OVER_FLOOR: f64 = 0.10;
const FLEET_RSS_MIB: f64 = 64.0;
const FLEET_CORES: f64 = 0.05;
const SCALE_RSS_MIB: f64 = 256.0;
/// No request storm: the busiest second has at most this many times the mean rate.
const SCALE_BUSIEST_RATIO: f64 = 3.0;
const VALIDATE_MS: f64 = 50.0;
/// The polling loop the release's varied run is compared with reads every build this often.
const LOOP_EVERY_S: f64 = 1.0;
/// Seeds of the varied durations, one per scenario, so that runs compare.
const RELEASE_SEED: u64 = 16;
const FLEET_SEED: u64 = 1_000;
const SCALE_SEED: u64 = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var("JRUN_BENCH_QUICK").is_ok_and(|v| v == "1");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let bin = std::env::var_os("JRUN_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_jrun")));
    let sizes = if quick { Sizes::QUICK } else { Sizes::FULL };
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);

    println!(
        "jrun benchmark ({} sizes) of {}",
        if quick { "quick" } else { "full" },
        bin.display()
    );
    let mut table = Table::default();
    let mut notes = Vec::new();
    let mut broken = false;
    let scenarios: [(&str, Scenario); 5] = [
        ("release", release),
        ("fleet", fleet),
        ("scale", scale),
        ("validate", validate),
        ("artifact", artifact),
    ];
    for (name, scenario) in scenarios {
        if !wanted(name) {
            continue;
        }
        eprintln!("bench: running {name} ...");
        match scenario(&bin, &sizes, &mut table, &mut notes) {
            Ok(()) => {}
            Err(message) => {
                broken = true;
                table.push(name, "measured", Measured::Missing, Target::None);
                notes.push(format!("{name}: could not measure: {message}"));
            }
        }
    }
    print!("{}", table.render());
    for note in &notes {
        println!("{note}");
    }
    if broken {
        std::process::exit(1);
    }
}

type Scenario = fn(&Path, &Sizes, &mut Table, &mut Vec<String>) -> Result<(), String>;

struct Sizes {
    quick: bool,
    /// Cells of each matrix of the fleet, and how many matrices.
    fleet_cells: usize,
    fleet_matrices: usize,
    /// How long the fleet's builds usually take, and their jobs' history says.
    fleet_build_ms: u64,
    /// Sandboxes of the scale scenario, and the cells and matrices each runs.
    scale_servers: usize,
    scale_cells: usize,
    scale_matrices: usize,
    scale_build_ms: u64,
    validate_steps: usize,
    validate_runs: usize,
    /// Bytes of the artifact the `artifact` scenario downloads.
    artifact_bytes: u64,
    /// Real time a jrun run may take before the benchmark stops it.
    run_limit: Duration,
}

impl Sizes {
    const FULL: Sizes = Sizes {
        quick: false,
        fleet_cells: 250,
        fleet_matrices: 4,
        fleet_build_ms: 10_000,
        scale_servers: 10,
        scale_cells: 250,
        scale_matrices: 4,
        scale_build_ms: 20_000,
        validate_steps: 1_000,
        validate_runs: 11,
        artifact_bytes: 50 * 1024 * 1024,
        run_limit: Duration::from_secs(240),
    };
    const QUICK: Sizes = Sizes {
        quick: true,
        fleet_cells: 25,
        fleet_matrices: 2,
        fleet_build_ms: 2_000,
        scale_servers: 3,
        scale_cells: 20,
        scale_matrices: 2,
        scale_build_ms: 2_000,
        validate_steps: 100,
        validate_runs: 5,
        artifact_bytes: 5 * 1024 * 1024,
        run_limit: Duration::from_secs(60),
    };
}

/// SplitMix64: a small deterministic generator, so that the varied durations are the same
/// on every run and runs compare.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Durations that vary around the history, seeded: every build of `jobs` runs within ±20% of
/// the duration it was given, but two (chosen by the seed) run 1.6x as long, and the job
/// `no_success` has only failed builds in its history. Returns what was changed, for the notes.
fn vary(jobs: &mut [JobDef], seed: u64, no_success: &str) -> String {
    let mut rng = Prng(seed);
    let mut all: Vec<(usize, usize)> = Vec::new();
    for (j, job) in jobs.iter_mut().enumerate() {
        for (b, ms) in job.builds_ms.iter_mut().enumerate() {
            *ms = (*ms as f64 * (0.8 + 0.4 * rng.unit())).round() as u64;
            all.push((j, b));
        }
        if job.path == no_success {
            job.history_failed = true;
        }
    }
    let mut long = Vec::new();
    for _ in 0..2.min(all.len()) {
        let (j, b) = all.swap_remove(rng.below(all.len()));
        let usual = jobs[j].history_ms.first().copied().unwrap_or(1_000);
        jobs[j].builds_ms[b] = usual * 8 / 5;
        long.push(format!("{} build {} of the run", jobs[j].path, b + 1));
    }
    format!(
        "seed {seed}: 1.6x as long: {}; no successful build in its history: {no_success}",
        long.join(", ")
    )
}

// ---- the table ----

#[derive(Clone, Copy)]
enum Measured {
    Count(f64),
    Bytes(f64),
    Seconds(f64),
    Millis(f64),
    MiB(f64),
    Cores(f64),
    Missing,
}

impl Measured {
    fn value(self) -> Option<f64> {
        match self {
            Measured::Count(v)
            | Measured::Bytes(v)
            | Measured::Seconds(v)
            | Measured::Millis(v)
            | Measured::MiB(v)
            | Measured::Cores(v) => Some(v),
            Measured::Missing => None,
        }
    }

    fn show(self, v: f64) -> String {
        match self {
            Measured::Count(_) if v.fract() == 0.0 => format!("{v:.0}"),
            Measured::Count(_) => format!("{v:.1}"),
            Measured::Bytes(_) if v >= 10_000.0 => format!("{:.1} KB", v / 1000.0),
            Measured::Bytes(_) => format!("{v:.0} B"),
            Measured::Seconds(_) => format!("{v:.3} s"),
            Measured::Millis(_) => format!("{v:.1} ms"),
            Measured::MiB(_) => format!("{v:.1} MiB"),
            Measured::Cores(_) => format!("{v:.3} cores"),
            Measured::Missing => "-".to_string(),
        }
    }
}

#[derive(Clone, Copy)]
enum Target {
    AtMost(f64),
    Below(f64),
    /// Reported for the record, with nothing to compare against.
    None,
}

struct Row {
    scenario: String,
    figure: String,
    measured: Measured,
    target: Target,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn push(&mut self, scenario: &str, figure: &str, measured: Measured, target: Target) {
        self.rows.push(Row {
            scenario: scenario.to_string(),
            figure: figure.to_string(),
            measured,
            target,
        });
    }

    fn render(&self) -> String {
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|row| {
                let measured = row
                    .measured
                    .value()
                    .map_or("-".to_string(), |v| row.measured.show(v));
                let (target, verdict) = match (row.target, row.measured.value()) {
                    (Target::None, _) => (String::new(), String::new()),
                    (Target::AtMost(t), v) => (
                        format!("<= {}", row.measured.show(t)),
                        verdict(v.map(|v| v <= t)),
                    ),
                    (Target::Below(t), v) => (
                        format!("< {}", row.measured.show(t)),
                        verdict(v.map(|v| v < t)),
                    ),
                };
                [
                    row.scenario.clone(),
                    row.figure.clone(),
                    measured,
                    target,
                    verdict,
                ]
            })
            .collect();
        let header = ["scenario", "figure", "measured", "target", "result"].map(String::from);
        let mut widths = [0usize; 5];
        for line in std::iter::once(&header).chain(&cells) {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&header).chain(&cells) {
            let mut text = String::new();
            for (i, (cell, w)) in line.iter().zip(widths).enumerate() {
                // Numbers read best right-aligned, words left-aligned.
                if i == 2 {
                    let _ = write!(text, "{cell:>w$}  ");
                } else {
                    let _ = write!(text, "{cell:<w$}  ");
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

fn verdict(ok: Option<bool>) -> String {
    match ok {
        Some(true) => "PASS".to_string(),
        Some(false) => "FAIL".to_string(),
        None => "n/a".to_string(),
    }
}

// ---- statistics ----

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

// ---- the child process ----

struct ChildRun {
    code: Option<i32>,
    wall: Duration,
    cpu_s: Option<f64>,
    peak_rss_kib: Option<u64>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

/// User plus system CPU of this process's reaped children, in clock ticks (`cutime` and
/// `cstime` of `/proc/self/stat`): the difference around one child is that child's CPU,
/// counted to its last instruction, which sampling its own `/proc/<pid>/stat` could not do.
fn reaped_children_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses; the fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 16 and 17 of proc(5), counted from 1 with pid and comm first.
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some(cutime + cstime)
}

/// `VmHWM` of a live process, in KiB. A zombie has no memory left and no such line.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs jrun with `args` to its end or to `limit`, with stdout and stderr in files of `dir`
/// (a pipe would fill up and stall a child printing a thousand steps while nobody reads).
fn run_jrun(
    bin: &Path,
    args: &[OsString],
    dir: &Path,
    limit: Duration,
) -> Result<ChildRun, String> {
    let out_path = dir.join("jrun.stdout");
    let err_path = dir.join("jrun.stderr");
    let stdout = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let stderr = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // Nothing from the developer's environment may point jrun at another Jenkins, or send
    // its requests to 127.0.0.1 through a proxy.
    for var in [
        "JENKINS_URL",
        "JENKINS_USER_ID",
        "JENKINS_API_TOKEN",
        "JENKINS_PASSWORD",
        "NETRC",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").env("HOME", dir);

    let ticks_before = reaped_children_ticks();
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let pid = child.id();
    let mut peak: Option<u64> = None;
    let mut last_sample: Option<Instant> = None;
    let mut timed_out = false;
    // Bounded twice over: by the real-time limit and by the number of checks it allows.
    let max_checks = (limit.as_micros() / EXIT_CHECK_EVERY.as_micros()).max(1) as u64 * 2;
    let mut status = None;
    for _ in 0..max_checks {
        match child.try_wait() {
            Ok(Some(s)) => {
                status = Some(s);
                break;
            }
            Ok(None) => {}
            Err(e) => return Err(format!("cannot wait for jrun: {e}")),
        }
        // Until it is reaped the pid is ours, so this reads no other process.
        if last_sample.is_none_or(|t| t.elapsed() >= RSS_SAMPLE_EVERY) {
            if let Some(kib) = peak_rss_kib(pid) {
                peak = Some(peak.map_or(kib, |p| p.max(kib)));
            }
            last_sample = Some(Instant::now());
        }
        if started.elapsed() >= limit {
            timed_out = true;
            break;
        }
        std::thread::sleep(EXIT_CHECK_EVERY);
    }
    let status = match status {
        Some(s) => s,
        None => {
            timed_out = true;
            let _ = child.kill();
            child.wait().map_err(|e| format!("cannot reap jrun: {e}"))?
        }
    };
    let wall = started.elapsed();
    let cpu_s = match (ticks_before, reaped_children_ticks()) {
        (Some(before), Some(after)) => {
            Some(after.saturating_sub(before) as f64 / CLOCK_TICKS_PER_SEC)
        }
        _ => None,
    };
    Ok(ChildRun {
        code: status.code(),
        wall,
        cpu_s,
        peak_rss_kib: peak,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        timed_out,
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---- the sandbox ----

/// A job of the sandbox config: its builds' durations play in order, the last repeating;
/// its history gives Jenkins an `estimatedDuration` from the start.
struct JobDef {
    path: String,
    pipeline: bool,
    concurrent: bool,
    params: Vec<&'static str>,
    history_ms: Vec<u64>,
    /// Whether the history's builds all failed (Jenkins still estimates from them).
    history_failed: bool,
    builds_ms: Vec<u64>,
}

impl JobDef {
    fn freestyle(
        path: &str,
        params: &[&'static str],
        history_ms: &[u64],
        builds_ms: &[u64],
    ) -> Self {
        JobDef {
            path: path.to_string(),
            pipeline: false,
            concurrent: false,
            params: params.to_vec(),
            history_ms: history_ms.to_vec(),
            history_failed: false,
            builds_ms: builds_ms.to_vec(),
        }
    }

    fn yaml(&self) -> String {
        let durations = |list: &[u64], result: &str| {
            let items: Vec<String> = list
                .iter()
                .map(|ms| format!("{{duration: {ms}ms{result}}}"))
                .collect();
            format!("[{}]", items.join(", "))
        };
        let mut text = format!("  - path: {}\n", self.path);
        if self.pipeline {
            text.push_str("    kind: pipeline\n");
        }
        if self.concurrent {
            text.push_str("    concurrent: true\n");
        }
        if !self.params.is_empty() {
            let params: Vec<String> = self
                .params
                .iter()
                .map(|p| format!("{{name: {p}}}"))
                .collect();
            let _ = writeln!(text, "    parameters: [{}]", params.join(", "));
        }
        if !self.history_ms.is_empty() {
            let result = if self.history_failed {
                ", result: FAILURE"
            } else {
                ""
            };
            let _ = writeln!(text, "    history: {}", durations(&self.history_ms, result));
        }
        if !self.builds_ms.is_empty() {
            let _ = writeln!(text, "    builds: {}", durations(&self.builds_ms, ""));
        }
        text
    }
}

/// The controller's other 300 jobs, in team folders, each with a build in its history: what
/// a real controller holds besides the jobs of one pipeline.
fn idle_jobs() -> Vec<JobDef> {
    (0..300)
        .map(|i| {
            JobDef::freestyle(
                &format!("teams/team-{:02}/service-{:02}", i / 30, i % 30),
                &[],
                &[60_000],
                &[],
            )
        })
        .collect()
}

/// A sandbox of `jobs` whose every Jenkins request is answered `latency_ms` late.
fn sandbox_config(jobs: &[JobDef], speed: f64, latency_ms: u64) -> String {
    let mut text = format!(
        "{USERS}speed: {speed}\nquiet_period: 0s\nexecutors: 64\nseed: 7\nfaults: {{latency: {latency_ms}ms}}\njobs:\n"
    );
    for job in jobs {
        text.push_str(&job.yaml());
    }
    text
}

fn start_sandbox(config: &str) -> Result<Sandbox, String> {
    let config = SandboxConfig::parse(config, "benchmark sandbox").map_err(|e| e.to_string())?;
    Sandbox::start(config).map_err(|e| format!("the sandbox does not start: {e}"))
}

fn control_client() -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())
}

/// A control route of the sandbox; these are never counted in its stats.
fn control(
    client: &reqwest::blocking::Client,
    sb: &Sandbox,
    method: &str,
    route: &str,
) -> Result<Value, String> {
    let url = format!("{}/__sandbox/{route}", sb.url());
    let request = match method {
        "GET" => client.get(url),
        _ => client
            .post(url)
            .header("content-type", "application/json")
            .body("{}"),
    };
    let response = request
        .send()
        .map_err(|e| format!("{method} {route}: {e}"))?;
    response
        .json()
        .map_err(|e| format!("{method} {route}: not JSON: {e}"))
}

fn jenkins_block(sb: &Sandbox) -> String {
    format!(
        "jenkins:\n  url: {}\n  user: {USER}\n  token: {TOKEN}\n",
        sb.url()
    )
}

// ---- pipelines and what a run of one shows ----

/// A pipeline as barriers: every stage starts when the whole stage before it has ended, so
/// the critical path is the sum of each stage's longest build. A stage lists step ids, or for
/// a matrix the id written in the file (its cells are `id[KEY=value]`).
struct PipelineRun {
    /// The scenario and its case, as the table's first column shows it.
    label: String,
    yaml: String,
    stages: Vec<Vec<String>>,
    builds: usize,
    /// Jobs the pipeline names: each is read once, so they count towards the floor.
    jobs: usize,
    latency_ms: u64,
    targets: Targets,
    /// Whether the run also reports load over time (the fleet and the scale).
    fleet: bool,
    /// Whether the run is compared with a loop that polls every build once a second.
    versus_loop: bool,
}

/// What a run's figures are held to; `None` is reported without a target.
#[derive(Default, Clone, Copy)]
struct Targets {
    requests: Option<f64>,
    bytes: Option<f64>,
    over_critical_s: Option<f64>,
    median_lag_s: Option<f64>,
    rss_mib: Option<f64>,
    cores: Option<f64>,
    busiest_ratio: Option<f64>,
}

fn at_most(target: Option<f64>) -> Target {
    target.map_or(Target::None, Target::AtMost)
}

fn below(target: Option<f64>) -> Target {
    target.map_or(Target::None, Target::Below)
}

struct BuildSeen {
    stage: usize,
    start_ms: i64,
    end_ms: i64,
    observed_started_ms: Option<i64>,
    observed_done_ms: Option<i64>,
}

fn stage_of(stages: &[Vec<String>], step_id: &str) -> Option<usize> {
    stages.iter().position(|ids| {
        ids.iter().any(|id| {
            step_id == id
                || step_id
                    .strip_prefix(id.as_str())
                    .is_some_and(|rest| rest.starts_with('['))
        })
    })
}

/// The load of a run on every sandbox it used, added up.
#[derive(Default)]
struct Load {
    requests: f64,
    bytes: f64,
    /// The most requests one sandbox had in flight at once.
    max_in_flight: f64,
    /// Requests by the sandboxes' epoch second (their clocks run at real speed, so they agree).
    per_second: BTreeMap<i64, u64>,
    /// Count and bytes by route.
    routes: BTreeMap<String, (u64, u64)>,
}

fn gather(
    client: &reqwest::blocking::Client,
    sbs: &[Sandbox],
) -> Result<(Load, Vec<Value>), String> {
    let mut load = Load::default();
    let mut builds = Vec::new();
    for sb in sbs {
        let stats = control(client, sb, "GET", "stats")?;
        load.requests += stats["requests"].as_f64().unwrap_or(f64::NAN);
        load.bytes += stats["bytes"].as_f64().unwrap_or(f64::NAN);
        load.max_in_flight = load
            .max_in_flight
            .max(stats["max_in_flight"].as_f64().unwrap_or(f64::NAN));
        for pair in stats["requests_per_second"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let (Some(sec), Some(count)) = (pair[0].as_i64(), pair[1].as_u64()) {
                *load.per_second.entry(sec).or_default() += count;
            }
        }
        for (route, r) in stats["routes"].as_object().into_iter().flatten() {
            let entry = load.routes.entry(route.clone()).or_default();
            entry.0 += r["count"].as_u64().unwrap_or(0);
            entry.1 += r["bytes"].as_u64().unwrap_or(0);
        }
        let list = control(client, sb, "GET", "builds")?;
        builds.extend(list.as_array().into_iter().flatten().cloned());
    }
    Ok((load, builds))
}

fn run_pipeline(
    bin: &Path,
    sizes: &Sizes,
    sbs: &[Sandbox],
    run: &PipelineRun,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let name = run.label.as_str();
    let targets = run.targets;
    let client = control_client()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, &run.yaml).map_err(|e| e.to_string())?;
    for sb in sbs {
        control(&client, sb, "POST", "stats/reset")?;
    }
    let first = sbs.first().ok_or("no sandbox")?;
    let t0_ms = control(&client, first, "GET", "time")?["now_ms"]
        .as_i64()
        .ok_or("the sandbox's time has no now_ms")?;
    // jrun's own deadline comes first, so that it stops its builds and reports.
    let jrun_timeout = sizes.run_limit.saturating_sub(Duration::from_secs(10));
    let args: Vec<OsString> = vec![
        file.clone().into(),
        "--progress".into(),
        "never".into(),
        "--output".into(),
        "json".into(),
        "--timeout".into(),
        format!("{}s", jrun_timeout.as_secs()).into(),
    ];
    let child = run_jrun(bin, &args, dir.path(), sizes.run_limit)?;
    let (load, builds) = gather(&client, sbs)?;

    if child.code != Some(0) || child.timed_out {
        notes.push(format!(
            "{name}: jrun exited {:?}{}; last lines of its stderr:\n{}",
            child.code,
            if child.timed_out {
                " (stopped at the benchmark's limit)"
            } else {
                ""
            },
            tail(&child.stderr, 10)
        ));
    }
    table.push(
        name,
        "jrun exit code",
        Measured::Count(f64::from(child.code.unwrap_or(-1))),
        Target::AtMost(0.0),
    );

    // The builds of this run, by the build numbers jrun reported for its steps; job names
    // differ between sandboxes, so job and number name one build.
    let summary: Value = serde_json::from_str(&child.stdout).unwrap_or(Value::Null);
    let mut wanted: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for step in summary["steps"].as_array().into_iter().flatten() {
        let (Some(id), Some(job), Some(number)) = (
            step["id"].as_str(),
            step["job"].as_str(),
            step["number"].as_i64(),
        ) else {
            continue;
        };
        if let Some(stage) = stage_of(&run.stages, id) {
            wanted.insert((job.to_string(), number), stage);
        }
    }
    let seen: Vec<BuildSeen> = builds
        .iter()
        .filter_map(|b| {
            let key = (b["job"].as_str()?.to_string(), b["number"].as_i64()?);
            Some(BuildSeen {
                stage: *wanted.get(&key)?,
                start_ms: b["start_ms"].as_i64()?,
                end_ms: b["end_ms"].as_i64()?,
                observed_started_ms: b["observed_started_ms"].as_i64(),
                observed_done_ms: b["observed_done_ms"].as_i64(),
            })
        })
        .collect();
    if seen.len() != run.builds {
        notes.push(format!(
            "{name}: expected {} builds of this run, found {} in the sandbox",
            run.builds,
            seen.len()
        ));
    }
    table.push(
        name,
        "builds of the run",
        Measured::Count(seen.len() as f64),
        Target::None,
    );
    table.push(
        name,
        "latency of every Jenkins answer",
        Measured::Millis(run.latency_ms as f64),
        Target::None,
    );

    // Sandbox milliseconds to real seconds: every sandbox of the benchmark runs at real speed.
    let real_s = |ms: f64| ms / 1000.0;
    let floor = run.jobs + 3 * run.builds;
    table.push(
        name,
        &format!("requests (jobs + 3 per build: {floor})"),
        Measured::Count(load.requests),
        at_most(targets.requests),
    );
    table.push(
        name,
        "requests per build",
        Measured::Count((load.requests / run.builds as f64 * 10.0).round() / 10.0),
        Target::None,
    );
    table.push(
        name,
        "bytes received (bodies)",
        Measured::Bytes(load.bytes),
        at_most(targets.bytes),
    );

    let mut critical_ms = 0.0;
    for stage in 0..run.stages.len() {
        let longest = seen
            .iter()
            .filter(|b| b.stage == stage)
            .map(|b| (b.end_ms - b.start_ms) as f64)
            .fold(0.0, f64::max);
        critical_ms += longest;
    }
    let critical_s = real_s(critical_ms);
    if !run.fleet {
        notes.push(format!(
            "{name}: time over the critical path, by gap: {}",
            stage_gaps(&seen, run.stages.len(), t0_ms, child.wall, real_s)
        ));
    }
    let wall_s = child.wall.as_secs_f64();
    let over_s = wall_s - critical_s;
    table.push(name, "wall time", Measured::Seconds(wall_s), Target::None);
    table.push(
        name,
        "critical path of its builds",
        Measured::Seconds(critical_s),
        Target::None,
    );
    table.push(
        name,
        "wall time over critical path",
        Measured::Seconds(over_s),
        at_most(targets.over_critical_s),
    );
    if !run.fleet {
        // Any client that reads its jobs before its first trigger and learns of an end by
        // asking spends a round trip on those reads, and one per stage: its trigger reaches
        // Jenkins half a trip after it is sent, and it learns of the stage's end half a trip
        // after the end at best.
        let trips = run.stages.len() + 1;
        table.push(
            name,
            &format!("floor of any client: {trips} round trips"),
            Measured::Seconds(trips as f64 * run.latency_ms as f64 / 1000.0),
            Target::None,
        );
    }

    let done_lags: Vec<f64> = seen
        .iter()
        .filter_map(|b| Some(real_s((b.observed_done_ms? - b.end_ms) as f64)))
        .collect();
    let start_lags: Vec<f64> = seen
        .iter()
        .filter_map(|b| Some(real_s((b.observed_started_ms? - b.start_ms) as f64)))
        .collect();
    let unseen = seen.len() - done_lags.len();
    if unseen > 0 {
        notes.push(format!(
            "{name}: {unseen} builds never read as finished (no observed_done_ms)"
        ));
    }
    let opt = |v: Option<f64>, wrap: fn(f64) -> Measured| v.map_or(Measured::Missing, wrap);
    table.push(
        name,
        "detection lag, median",
        opt(median(&done_lags), Measured::Seconds),
        below(targets.median_lag_s),
    );
    table.push(
        name,
        "detection lag, max",
        opt(max(&done_lags), Measured::Seconds),
        Target::AtMost(MAX_LAG_S),
    );
    table.push(
        name,
        "start lag (build starts -> jrun knows), median",
        opt(median(&start_lags), Measured::Seconds),
        Target::None,
    );
    table.push(
        name,
        "requests in flight at once, max (one sandbox)",
        Measured::Count(load.max_in_flight),
        Target::None,
    );
    if run.versus_loop {
        let (loop_over, loop_requests) =
            polling_loop(&seen, run.stages.len(), run.latency_ms as f64 / 1000.0);
        table.push(
            name,
            "1 s polling loop (modelled): over critical path",
            Measured::Seconds(loop_over),
            Target::None,
        );
        table.push(
            name,
            "1 s polling loop (modelled): requests",
            Measured::Count(loop_requests),
            Target::None,
        );
        table.push(
            name,
            "jrun over critical path, ahead of the loop",
            Measured::Seconds(over_s),
            Target::Below(loop_over),
        );
        table.push(
            name,
            "jrun requests, ahead of the loop",
            Measured::Count(load.requests),
            Target::Below(loop_requests),
        );
    }

    let cpu = opt(child.cpu_s, Measured::Seconds);
    let rss_mib = child.peak_rss_kib.map(|k| k as f64 / 1024.0);
    table.push(name, "jrun CPU time", cpu, Target::None);
    if run.fleet {
        table.push(
            name,
            "jrun CPU / wall time",
            opt(child.cpu_s.map(|c| c / wall_s), Measured::Cores),
            below(targets.cores),
        );
    }
    table.push(
        name,
        "jrun peak RSS",
        opt(rss_mib, Measured::MiB),
        at_most(targets.rss_mib),
    );

    if run.fleet {
        let in_flight = most_builds_at_once(&seen);
        table.push(
            name,
            "builds running at once, max",
            Measured::Count(in_flight as f64),
            Target::None,
        );
        fleet_load(name, &load, t0_ms, child.wall, targets, table, notes);
    }
    notes.push(format!("{name}: requests by route: {}", routes(&load)));
    Ok(())
}

/// A loop that polls every build once a second, worked out from the builds as they ran
/// rather than run: it triggers a stage's builds once it saw the stage before done; after each
/// trigger it sleeps a second and reads the queue item (the build has started by then: the
/// sandboxes have no quiet period), then reads the build a second after each answer until one
/// shows it finished. Each request is answered `latency_s` later, with the state at that
/// moment, as the sandbox does. It reads no job first. Returns its time over the critical
/// path and its requests.
fn polling_loop(seen: &[BuildSeen], stages: usize, latency_s: f64) -> (f64, f64) {
    let mut over = 0.0;
    let mut requests = 0.0;
    for stage in 0..stages {
        let mut stage_done: f64 = 0.0;
        let mut longest: f64 = 0.0;
        for build in seen.iter().filter(|b| b.stage == stage) {
            let duration = (build.end_ms - build.start_ms) as f64 / 1000.0;
            longest = longest.max(duration);
            // The build starts when its trigger is handled.
            let ends = latency_s + duration;
            // The trigger and the queue read.
            let mut t = latency_s + LOOP_EVERY_S + latency_s;
            requests += 2.0;
            // Bounded by the build's length: one read per second of it, and one more.
            let most = (duration / LOOP_EVERY_S).ceil() as usize + 2;
            for _ in 0..most {
                t += LOOP_EVERY_S + latency_s;
                requests += 1.0;
                if t >= ends {
                    break;
                }
            }
            stage_done = stage_done.max(t);
        }
        over += stage_done - longest;
    }
    (over, requests)
}

/// Where the wall time beyond the builds goes: from jrun's start to the first build, from
/// each stage's last end to the next stage's first start, and from the last end to jrun's exit.
fn stage_gaps(
    seen: &[BuildSeen],
    stages: usize,
    t0_ms: i64,
    wall: Duration,
    real_s: impl Fn(f64) -> f64,
) -> String {
    let mut parts = Vec::new();
    let mut previous_end = t0_ms;
    let mut label = "start".to_string();
    for stage in 0..stages {
        let of_stage = || seen.iter().filter(|b| b.stage == stage);
        let (Some(first_start), Some(last_end)) = (
            of_stage().map(|b| b.start_ms).min(),
            of_stage().map(|b| b.end_ms).max(),
        ) else {
            continue;
        };
        parts.push(format!(
            "{label}->{stage} {:.3}s",
            real_s((first_start - previous_end) as f64)
        ));
        previous_end = last_end;
        label = stage.to_string();
    }
    // The end of the run in sandbox time; at the benchmark's speed of 1 the clocks agree.
    let exit_ms = t0_ms as f64 + wall.as_secs_f64() * 1000.0;
    parts.push(format!(
        "{label}->exit {:.3}s",
        real_s(exit_ms - previous_end as f64)
    ));
    parts.join(", ")
}

fn most_builds_at_once(seen: &[BuildSeen]) -> usize {
    let mut events: Vec<(i64, i32)> = seen
        .iter()
        .flat_map(|b| [(b.start_ms, 1), (b.end_ms, -1)])
        .collect();
    // An end and a start at the same instant are not both running.
    events.sort();
    let mut running = 0i32;
    let mut most = 0i32;
    for (_, delta) in events {
        running += delta;
        most = most.max(running);
    }
    most.max(0) as usize
}

/// Requests per second over the run, from the sandboxes' per-second counts.
fn fleet_load(
    name: &str,
    load: &Load,
    t0_ms: i64,
    wall: Duration,
    targets: Targets,
    table: &mut Table,
    notes: &mut Vec<String>,
) {
    let first = t0_ms.div_euclid(1000);
    let seconds = wall.as_secs() as i64 + 1;
    let mut per_second = vec![0u64; seconds as usize];
    for (sec, count) in &load.per_second {
        if let Some(slot) = usize::try_from(sec - first)
            .ok()
            .and_then(|i| per_second.get_mut(i))
        {
            *slot += count;
        }
    }
    let values: Vec<f64> = per_second.iter().map(|&n| n as f64).collect();
    let total: f64 = values.iter().sum();
    let mean = total / wall.as_secs_f64().max(0.001);
    table.push(
        name,
        "requests/s, mean over the run",
        Measured::Count(mean.round()),
        Target::None,
    );
    table.push(
        name,
        "seconds without a request",
        Measured::Count(values.iter().filter(|&&n| n == 0.0).count() as f64),
        Target::None,
    );
    let busiest = max(&values);
    table.push(
        name,
        "requests/s, busiest second",
        busiest.map_or(Measured::Missing, Measured::Count),
        Target::None,
    );
    table.push(
        name,
        "busiest second / mean rate",
        busiest.map_or(Measured::Missing, |b| {
            Measured::Count((b / mean.max(f64::MIN_POSITIVE) * 100.0).round() / 100.0)
        }),
        at_most(targets.busiest_ratio),
    );
    let series: Vec<String> = per_second.iter().map(u64::to_string).collect();
    // Buckets are the sandbox's epoch seconds, so the first one is a partial second.
    notes.push(format!(
        "{name}: requests per second, from the start: {}",
        series.join(" ")
    ));
}

fn routes(load: &Load) -> String {
    let mut list: Vec<(u64, String)> = load
        .routes
        .iter()
        .map(|(route, (count, bytes))| (*count, format!("{route} {count} ({bytes} B)")))
        .collect();
    list.sort_by_key(|(count, _)| std::cmp::Reverse(*count));
    list.into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- scenario 1: the release ----

/// The release three times: exact durations and varied ones at [`LATENCY_MS`], and exact
/// durations at [`FAR_LATENCY_MS`].
fn release(
    bin: &Path,
    sizes: &Sizes,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let cases = [
        ("exact", LATENCY_MS, OVER_CRITICAL_PATH_S, false),
        ("varied", LATENCY_MS, OVER_CRITICAL_PATH_VARIED_S, true),
        ("exact", FAR_LATENCY_MS, OVER_CRITICAL_PATH_FAR_S, false),
    ];
    for (case, latency_ms, over_s, varied) in cases {
        let (mut jobs, steps, stages) = if sizes.quick {
            release_quick()
        } else {
            release_full()
        };
        let label = format!("release {latency_ms}ms {case}");
        if varied {
            let changed = vary(&mut jobs, RELEASE_SEED, "notify");
            notes.push(format!("{label}: {changed}"));
        }
        let job_count = jobs.len();
        let mut all_jobs = jobs;
        all_jobs.extend(idle_jobs());
        let sb = start_sandbox(&sandbox_config(&all_jobs, 1.0, latency_ms))?;
        let builds = count_builds(&steps);
        let per_build = builds as f64 / RELEASE_BUILDS as f64;
        let yaml = format!(
            "name: bench-release\n{}vars:\n  version: \"2.4.0\"\nsteps:\n{}",
            jenkins_block(&sb),
            steps.iter().map(StepDef::yaml).collect::<String>()
        );
        let far = latency_ms != LATENCY_MS;
        let run = PipelineRun {
            label,
            yaml,
            stages,
            builds,
            jobs: job_count,
            latency_ms,
            targets: Targets {
                requests: (!far).then_some((RELEASE_REQUESTS * per_build).round()),
                bytes: (!far && !varied).then_some((BYTES_FOR_RELEASE * per_build).round()),
                over_critical_s: Some(over_s),
                median_lag_s: Some(MEDIAN_LAG_S),
                ..Targets::default()
            },
            fleet: false,
            versus_loop: varied,
        };
        run_pipeline(bin, sizes, std::slice::from_ref(&sb), &run, table, notes)?;
    }
    Ok(())
}

/// A step of a generated pipeline, or a parallel group of them.
enum StepDef {
    Job {
        id: String,
        job: String,
        params: Vec<(&'static str, String)>,
        matrix: Option<(&'static str, Vec<String>)>,
        /// A server of the pipeline's `servers:`, or the default `jenkins:`.
        server: Option<String>,
    },
    Parallel(Vec<StepDef>),
}

impl StepDef {
    fn job(id: &str, job: &str, params: &[(&'static str, &str)]) -> StepDef {
        StepDef::Job {
            id: id.to_string(),
            job: job.to_string(),
            params: params.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            matrix: None,
            server: None,
        }
    }

    fn matrix(
        id: &str,
        job: &str,
        key: &'static str,
        values: &[String],
        params: &[(&'static str, &str)],
    ) -> StepDef {
        StepDef::Job {
            id: id.to_string(),
            job: job.to_string(),
            params: params.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            matrix: Some((key, values.to_vec())),
            server: None,
        }
    }

    /// The step, run on the pipeline's server `name`.
    fn on(mut self, name: &str) -> StepDef {
        if let StepDef::Job { server, .. } = &mut self {
            *server = Some(name.to_string());
        }
        self
    }

    fn builds(&self) -> usize {
        match self {
            StepDef::Job {
                matrix: Some((_, values)),
                ..
            } => values.len(),
            StepDef::Job { .. } => 1,
            StepDef::Parallel(members) => members.iter().map(StepDef::builds).sum(),
        }
    }

    fn yaml(&self) -> String {
        self.yaml_at("  ")
    }

    fn yaml_at(&self, indent: &str) -> String {
        match self {
            StepDef::Job {
                id,
                job,
                params,
                matrix,
                server,
            } => {
                let mut text = format!("{indent}- id: {id}\n{indent}  job: {job}\n");
                if let Some(server) = server {
                    let _ = writeln!(text, "{indent}  server: {server}");
                }
                if let Some((key, values)) = matrix {
                    let _ = writeln!(
                        text,
                        "{indent}  matrix: {{ {key}: [{}] }}",
                        values.join(", ")
                    );
                }
                if !params.is_empty() {
                    let list: Vec<String> = params
                        .iter()
                        .map(|(k, v)| format!("{k}: \"{v}\""))
                        .collect();
                    let _ = writeln!(text, "{indent}  params: {{ {} }}", list.join(", "));
                }
                text
            }
            StepDef::Parallel(members) => {
                let inner = format!("{indent}    ");
                let mut text = format!("{indent}- parallel:\n");
                for member in members {
                    text.push_str(&member.yaml_at(&inner));
                }
                text
            }
        }
    }
}

fn count_builds(steps: &[StepDef]) -> usize {
    steps.iter().map(StepDef::builds).sum()
}

type Release = (Vec<JobDef>, Vec<StepDef>, Vec<Vec<String>>);

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// 19 builds: build; unit and integration tests in parallel; package; deploy to staging and
/// smoke-test it; deploy to six regions (one `deploy` job, a matrix) and smoke-test each;
/// announce. Critical path 3 + 4 + 2 + 3 + 1 + 4 + 1 + 1 = 19 s.
fn release_full() -> Release {
    let regions: Vec<String> = [
        "eu-west",
        "eu-central",
        "us-east",
        "us-west",
        "ap-south",
        "ap-east",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut deploy = JobDef::freestyle(
        "deploy",
        &["REGION", "VERSION"],
        &[3_000, 3_000, 4_000],
        // Staging first, then the regions as they start.
        &[3_000, 3_000, 3_000, 3_000, 4_000, 4_000, 4_000],
    );
    deploy.concurrent = true;
    let mut smoke = JobDef::freestyle("smoke", &["REGION"], &[1_000; 3], &[1_000]);
    smoke.concurrent = true;
    let jobs = vec![
        JobDef::freestyle("platform/app/build", &["VERSION"], &[3_000; 3], &[3_000]),
        JobDef::freestyle("platform/app/test-unit", &["BUILD"], &[2_000; 3], &[2_000]),
        JobDef::freestyle(
            "platform/app/test-integration",
            &["BUILD"],
            &[4_000; 3],
            &[4_000],
        ),
        JobDef::freestyle("platform/app/package", &["VERSION"], &[2_000; 3], &[2_000]),
        deploy,
        smoke,
        JobDef::freestyle("notify", &["MESSAGE"], &[1_000; 3], &[1_000]),
    ];
    let version = "{{vars.version}}";
    let steps = vec![
        StepDef::job("build", "platform/app/build", &[("VERSION", version)]),
        StepDef::Parallel(vec![
            StepDef::job(
                "unit-tests",
                "platform/app/test-unit",
                &[("BUILD", "{{steps.build.number}}")],
            ),
            StepDef::job(
                "integration-tests",
                "platform/app/test-integration",
                &[("BUILD", "{{steps.build.number}}")],
            ),
        ]),
        StepDef::job("package", "platform/app/package", &[("VERSION", version)]),
        StepDef::job(
            "deploy-staging",
            "deploy",
            &[("REGION", "staging"), ("VERSION", version)],
        ),
        StepDef::job("smoke-staging", "smoke", &[("REGION", "staging")]),
        StepDef::matrix(
            "deploy",
            "deploy",
            "REGION",
            &regions,
            &[("REGION", "{{matrix.REGION}}"), ("VERSION", version)],
        ),
        StepDef::matrix(
            "smoke",
            "smoke",
            "REGION",
            &regions,
            &[("REGION", "{{matrix.REGION}}")],
        ),
        StepDef::job(
            "announce",
            "notify",
            &[("MESSAGE", "release {{vars.version}} is out")],
        ),
    ];
    let stages = vec![
        ids(&["build"]),
        ids(&["unit-tests", "integration-tests"]),
        ids(&["package"]),
        ids(&["deploy-staging"]),
        ids(&["smoke-staging"]),
        ids(&["deploy"]),
        ids(&["smoke"]),
        ids(&["announce"]),
    ];
    (jobs, steps, stages)
}

/// 5 builds: build; two tests in parallel; deploy to two regions. Critical path 1 + 2 + 1 s.
fn release_quick() -> Release {
    let regions = vec!["eu".to_string(), "us".to_string()];
    let mut deploy = JobDef::freestyle("deploy", &["REGION"], &[1_000; 3], &[1_000]);
    deploy.concurrent = true;
    let jobs = vec![
        JobDef::freestyle("platform/app/build", &["VERSION"], &[1_000; 3], &[1_000]),
        JobDef::freestyle("platform/app/test-unit", &[], &[1_000; 3], &[1_000]),
        JobDef::freestyle("platform/app/test-integration", &[], &[2_000; 3], &[2_000]),
        deploy,
    ];
    let steps = vec![
        StepDef::job(
            "build",
            "platform/app/build",
            &[("VERSION", "{{vars.version}}")],
        ),
        StepDef::Parallel(vec![
            StepDef::job("unit-tests", "platform/app/test-unit", &[]),
            StepDef::job("integration-tests", "platform/app/test-integration", &[]),
        ]),
        StepDef::matrix(
            "deploy",
            "deploy",
            "REGION",
            &regions,
            &[("REGION", "{{matrix.REGION}}")],
        ),
    ];
    let stages = vec![
        ids(&["build"]),
        ids(&["unit-tests", "integration-tests"]),
        ids(&["deploy"]),
    ];
    (jobs, steps, stages)
}

// ---- scenario 2: a thousand builds in flight ----

/// A load of `matrices` matrices of `cells` builds each, of one job per matrix (paths start
/// with `prefix`), on `server` (the default one if `None`): its jobs, its matrix steps (to be
/// run in parallel) and their ids. Every build lasts `typical_ms`, like the three builds of its
/// job's history; [`vary`] makes them vary.
fn load_of(
    prefix: &str,
    cells: usize,
    matrices: usize,
    typical_ms: u64,
    server: Option<&str>,
) -> (Vec<JobDef>, Vec<StepDef>, Vec<String>) {
    let shards: Vec<String> = (0..cells).map(|i| format!("s{i:03}")).collect();
    let mut jobs = Vec::new();
    let mut members = Vec::new();
    let mut ids = Vec::new();
    for m in 0..matrices {
        let path = format!("{prefix}worker-{m}");
        jobs.push(JobDef {
            path: path.clone(),
            pipeline: true,
            concurrent: true,
            params: vec!["SHARD"],
            history_ms: vec![typical_ms; 3],
            history_failed: false,
            builds_ms: vec![typical_ms; cells],
        });
        let id = format!("wave-{}{m}", prefix.replace('/', "-"));
        let step = StepDef::matrix(
            &id,
            &path,
            "SHARD",
            &shards,
            &[("SHARD", "{{matrix.SHARD}}")],
        );
        members.push(match server {
            Some(name) => step.on(name),
            None => step,
        });
        ids.push(id);
    }
    (jobs, members, ids)
}

/// 1,000 builds released at once, with exact durations and with varied ones.
fn fleet(
    bin: &Path,
    sizes: &Sizes,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    for varied in [false, true] {
        let (mut jobs, members, ids) = load_of(
            "load/",
            sizes.fleet_cells,
            sizes.fleet_matrices,
            sizes.fleet_build_ms,
            None,
        );
        let label = format!(
            "fleet {LATENCY_MS}ms {}",
            if varied { "varied" } else { "exact" }
        );
        if varied {
            let last = jobs.last().map(|j| j.path.clone()).unwrap_or_default();
            let changed = vary(&mut jobs, FLEET_SEED, &last);
            notes.push(format!("{label}: {changed}"));
        }
        let job_count = jobs.len();
        jobs.extend(idle_jobs());
        // Real speed, like the release: jrun waits in real time against a remote Jenkins, and
        // a faster sandbox clock would make every `estimatedDuration` and lag mean something
        // else.
        let sb = start_sandbox(&sandbox_config(&jobs, 1.0, LATENCY_MS))?;
        let steps = vec![StepDef::Parallel(members)];
        let builds = count_builds(&steps);
        let yaml = format!(
            "name: bench-fleet\n{}steps:\n{}",
            jenkins_block(&sb),
            steps.iter().map(StepDef::yaml).collect::<String>()
        );
        let floor = (job_count + 3 * builds) as f64;
        let run = PipelineRun {
            label,
            yaml,
            stages: vec![ids],
            builds,
            jobs: job_count,
            latency_ms: LATENCY_MS,
            targets: Targets {
                requests: Some((floor * (1.0 + FLEET_OVER_FLOOR)).floor()),
                median_lag_s: Some(FLEET_MEDIAN_LAG_S),
                rss_mib: Some(FLEET_RSS_MIB),
                cores: Some(FLEET_CORES),
                ..Targets::default()
            },
            fleet: true,
            versus_loop: false,
        };
        run_pipeline(bin, sizes, std::slice::from_ref(&sb), &run, table, notes)?;
    }
    Ok(())
}

// ---- scenario 3: ten thousand builds across ten controllers ----

/// 10,000 builds released at once across 10 sandboxes, from one jrun process: its memory,
/// and whether its requests come evenly or in storms. Durations vary.
fn scale(
    bin: &Path,
    sizes: &Sizes,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let mut sandboxes = Vec::new();
    let mut members = Vec::new();
    let mut ids = Vec::new();
    let mut job_count = 0;
    for k in 0..sizes.scale_servers {
        let server = (k > 0).then(|| format!("c{k}"));
        let (mut jobs, steps, wave_ids) = load_of(
            &format!("c{k}/"),
            sizes.scale_cells,
            sizes.scale_matrices,
            sizes.scale_build_ms,
            server.as_deref(),
        );
        let last = jobs.last().map(|j| j.path.clone()).unwrap_or_default();
        let changed = vary(&mut jobs, SCALE_SEED + k as u64, &last);
        if k == 0 {
            notes.push(format!("scale: controller 0: {changed}"));
        }
        job_count += jobs.len();
        sandboxes.push(start_sandbox(&sandbox_config(&jobs, 1.0, LATENCY_MS))?);
        members.extend(steps);
        ids.extend(wave_ids);
    }
    let mut servers = String::from("servers:\n");
    for (k, sb) in sandboxes.iter().enumerate().skip(1) {
        let _ = writeln!(
            servers,
            "  c{k}: {{ url: \"{}\", user: {USER}, token: {TOKEN} }}",
            sb.url()
        );
    }
    let steps = vec![StepDef::Parallel(members)];
    let builds = count_builds(&steps);
    let yaml = format!(
        "name: bench-scale\n{}{servers}steps:\n{}",
        jenkins_block(&sandboxes[0]),
        steps.iter().map(StepDef::yaml).collect::<String>()
    );
    let run = PipelineRun {
        label: format!("scale {LATENCY_MS}ms varied"),
        yaml,
        stages: vec![ids],
        builds,
        jobs: job_count,
        latency_ms: LATENCY_MS,
        targets: Targets {
            rss_mib: Some(SCALE_RSS_MIB),
            busiest_ratio: Some(SCALE_BUSIEST_RATIO),
            ..Targets::default()
        },
        fleet: true,
        versus_loop: false,
    };
    run_pipeline(bin, sizes, &sandboxes, &run, table, notes)
}

// ---- scenario 4: validate ----

/// `n` steps in stages of ten parallel members; every member after the first stage reads the
/// build number of a step two stages back (transitive), so template checking has to work out
/// ancestor sets, and every tenth stage ends in a step that runs `if: always`.
fn validation_pipeline(n: usize) -> String {
    let mut text = String::from(
        "name: bench-validate\njenkins:\n  url: http://127.0.0.1:9\n  user: alice\n  token: t\nvars:\n  version: \"2.4.0\"\n  channel: \"#releases\"\nsteps:\n",
    );
    let width = 10;
    let stages = n.div_ceil(width);
    let mut made = 0;
    for stage in 0..stages {
        let _ = writeln!(text, "  - parallel:");
        for member in 0..width.min(n - made) {
            let id = format!("s{stage}-m{member}");
            let _ = writeln!(text, "      - id: {id}");
            let _ = writeln!(
                text,
                "        job: teams/team-{:02}/service-{:02}",
                member,
                stage % 30
            );
            let _ = writeln!(text, "        params:");
            let _ = writeln!(text, "          VERSION: \"{{{{vars.version}}}}\"");
            if stage >= 2 {
                let _ = writeln!(
                    text,
                    "          UPSTREAM: \"{{{{steps.s{}-m{member}.number}}}}\"",
                    stage - 2
                );
            }
            if stage % 10 == 9 && member == 0 {
                let _ = writeln!(text, "        if: always");
            }
            made += 1;
        }
    }
    text
}

fn validate(
    bin: &Path,
    sizes: &Sizes,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, validation_pipeline(sizes.validate_steps)).map_err(|e| e.to_string())?;
    let args: Vec<OsString> = vec!["validate".into(), file.clone().into()];
    let mut times_ms = Vec::new();
    // One run first to warm the page cache: the benchmark is of jrun, not of the disk.
    let warm = run_jrun(bin, &args, dir.path(), Duration::from_secs(30))?;
    if warm.code != Some(0) {
        notes.push(format!(
            "validate: jrun exited {:?}: {}",
            warm.code,
            tail(&warm.stderr, 10)
        ));
    }
    for _ in 0..sizes.validate_runs {
        let run = run_jrun(bin, &args, dir.path(), Duration::from_secs(30))?;
        times_ms.push(run.wall.as_secs_f64() * 1000.0);
    }
    let label = format!("validate {} steps", sizes.validate_steps);
    table.push(
        "validate",
        &format!("{label}, exit code"),
        Measured::Count(f64::from(warm.code.unwrap_or(-1))),
        Target::AtMost(0.0),
    );
    table.push(
        "validate",
        &format!("{label}, median of {}", sizes.validate_runs),
        median(&times_ms).map_or(Measured::Missing, Measured::Millis),
        Target::Below(VALIDATE_MS),
    );
    table.push(
        "validate",
        &format!("{label}, slowest"),
        max(&times_ms).map_or(Measured::Missing, Measured::Millis),
        Target::None,
    );
    if !warm
        .stdout
        .contains(&format!("ok ({} steps)", sizes.validate_steps))
    {
        notes.push(format!(
            "validate: unexpected output: {}",
            tail(&warm.stdout, 3)
        ));
    }
    Ok(())
}

/// One build that archived one large generated file, downloaded by `artifacts:`: jrun's peak
/// RSS next to the file's size. The full size is the issue's 50 MB; a peak well under it
/// shows the download streamed, which the table marks against half the size.
fn artifact(
    bin: &Path,
    sizes: &Sizes,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let size = sizes.artifact_bytes;
    let config = format!(
        "{USERS}speed: 10\nquiet_period: 0s\njobs:\n  - path: app/build\n    builds:\n      - duration: 1s\n        artifacts: [{{ path: dist/app.bin, size: {size} }}]\n"
    );
    let sb = start_sandbox(&config)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("pipeline.yaml");
    let yaml = format!(
        "name: bench-artifact\n{}defaults:\n  poll: {{initial: 50ms, max: 200ms}}\nsteps:\n  - id: build\n    job: app/build\n    artifacts: {{get: [\"dist/*\"], to: out}}\n",
        jenkins_block(&sb)
    );
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    let args: Vec<OsString> = vec![
        file.into(),
        "--progress".into(),
        "never".into(),
        "--output".into(),
        "json".into(),
    ];
    let run = run_jrun(bin, &args, dir.path(), sizes.run_limit)?;
    if run.code != Some(0) || run.timed_out {
        notes.push(format!(
            "artifact: jrun exited {:?}{}: {}",
            run.code,
            if run.timed_out { " (stopped)" } else { "" },
            tail(&run.stderr, 10)
        ));
    }
    let written = std::fs::metadata(dir.path().join("out/dist/app.bin"))
        .map(|m| m.len())
        .ok();
    if written != Some(size) {
        notes.push(format!(
            "artifact: the downloaded file has {written:?} bytes, not {size}"
        ));
    }
    let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
    let size_mib = mib(size as f64);
    table.push(
        "artifact",
        "artifact size",
        Measured::MiB(size_mib),
        Target::None,
    );
    table.push(
        "artifact",
        "jrun peak RSS while downloading it",
        run.peak_rss_kib
            .map_or(Measured::Missing, |k| Measured::MiB(k as f64 / 1024.0)),
        if sizes.quick {
            Target::None
        } else {
            Target::Below(size_mib / 2.0)
        },
    );
    table.push(
        "artifact",
        "run wall time",
        Measured::Seconds(run.wall.as_secs_f64()),
        Target::None,
    );
    Ok(())
}

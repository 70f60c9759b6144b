//! The Pipeline stage view API (`pipeline-rest-api`, URL name `wfapi`) of Pipeline builds: the
//! run with its stages, a stage or step node with its error, and a step's log tail. Stages play
//! in order over the build's time; only those the build has reached are shown, the running one
//! `IN_PROGRESS`. Serialised by Jackson: no `_class`, hrefs relative to the context path.

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::config::{BuildResult, StageSpec, StageStatus};
use super::json::item_path;
use super::model::{Build, Job};
use super::pages::html_escape;
use super::wire::{Reply, response};

/// `FlowNodeLogExt`'s limit on the returned tail.
const MAX_LOG_CHARS: usize = 10_240;

/// One stage on the build's timeline.
pub(super) struct Planned<'a> {
    pub spec: &'a StageSpec,
    /// The id of the stage's start node; its body is `id + 1` and its one step `id + 2`.
    pub id: u32,
    pub begin: i64,
    pub end: i64,
}

impl Planned<'_> {
    fn step_id(&self) -> u32 {
        self.id + 2
    }

    fn executed(&self) -> bool {
        self.spec.status != StageStatus::NotExecuted
    }

    /// When each of the stage's log lines is written: evenly over its time.
    pub(super) fn line_times(&self) -> impl Iterator<Item = (i64, &str)> {
        let n = self.spec.log.len() as i64;
        let span = self.end - self.begin;
        self.spec
            .log
            .iter()
            .enumerate()
            .map(move |(i, line)| (self.begin + span * (i as i64 + 1) / (n + 1), line.as_str()))
    }
}

/// The stages one after another from the build's start: each takes its own duration, those
/// without one share what is left of the build's running time; stages never executed take none.
pub(super) fn plan(build: &Build) -> Vec<Planned<'_>> {
    let stages = &build.outputs.stages;
    let ran = |s: &&StageSpec| s.status != StageStatus::NotExecuted;
    let explicit: i64 = stages
        .iter()
        .filter(ran)
        .filter_map(|s| s.duration)
        .map(|d| d.as_millis() as i64)
        .sum();
    let shared = stages
        .iter()
        .filter(ran)
        .filter(|s| s.duration.is_none())
        .count() as i64;
    let mut left = (build.outputs.active_ms - explicit).max(0);
    let mut sharing = shared;
    // In running time: pauses at inputs stretch the stage they fall in.
    let mut cursor = 0;
    let mut planned = Vec::new();
    for (i, spec) in stages.iter().enumerate() {
        let length = if spec.status == StageStatus::NotExecuted {
            0
        } else if let Some(d) = spec.duration {
            d.as_millis() as i64
        } else {
            let share = left / sharing.max(1);
            left -= share;
            sharing -= 1;
            share
        };
        planned.push(Planned {
            spec,
            id: 6 + 5 * i as u32,
            begin: build.wall(cursor),
            end: build.wall(cursor + length),
        });
        cursor += length;
    }
    planned
}

/// How far the build got: now, or the moment it was stopped.
fn cut(build: &Build, t: i64) -> i64 {
    build.aborted.as_ref().map_or(t, |(at, _)| t.min(*at))
}

/// A stage as shown at `t`: `None` while the build has not reached it, or if it was stopped
/// before it.
fn status_at(build: &Build, stage: &Planned, t: i64) -> Option<&'static str> {
    let cut = cut(build, t);
    if stage.begin > cut || (stage.begin == cut && build.aborted.is_some() && stage.executed()) {
        return None;
    }
    if cut < stage.end {
        let paused = build
            .waiting_input(t)
            .and_then(|i| build.paused_at(i, t))
            .is_some_and(|at| at >= stage.begin);
        return Some(if build.is_complete(t) {
            // Stopped in the middle of it.
            "ABORTED"
        } else if paused {
            "PAUSED_PENDING_INPUT"
        } else {
            "IN_PROGRESS"
        });
    }
    Some(stage.spec.status.name())
}

fn error_of(stage: &Planned, status: &str) -> Option<Value> {
    let (message, class) = match (status, &stage.spec.error) {
        ("FAILED", Some(message)) => (message.clone(), "hudson.AbortException"),
        // A step that failed without an ErrorAction gets ChunkVisitor's synthetic error.
        ("FAILED", None) => (
            "Build marked as a failure, final stage will fail.".to_string(),
            "java.lang.Throwable",
        ),
        ("ABORTED", message) => (
            message.clone().unwrap_or_default(),
            "org.jenkinsci.plugins.workflow.steps.FlowInterruptedException",
        ),
        ("UNSTABLE", Some(message)) => (message.clone(), "hudson.AbortException"),
        _ => return None,
    };
    Some(json!({"message": message, "type": class}))
}

fn link(href: String) -> Value {
    json!({"href": href})
}

/// The build's URL path, context-relative: `/job/a/job/b/7/`.
fn build_path(job: &Job, build: &Build) -> String {
    format!("/{}{}/", item_path(&job.full_name), build.number)
}

fn node_fields(map: &mut Map<String, Value>, id: u32, name: &str, status: &str) {
    map.insert("id".to_string(), json!(id.to_string()));
    map.insert("name".to_string(), json!(name));
    map.insert("execNode".to_string(), json!(""));
    map.insert("status".to_string(), json!(status));
}

fn timing(map: &mut Map<String, Value>, start: i64, duration: i64) {
    map.insert("startTimeMillis".to_string(), json!(start));
    map.insert("durationMillis".to_string(), json!(duration.max(0)));
    map.insert("pauseDurationMillis".to_string(), json!(0));
}

/// A stage's one step (`sh`), as `stageFlowNodes` and its own describe show it.
fn step_node(job: &Job, build: &Build, stage: &Planned, status: &str, t: i64) -> Value {
    let base = build_path(job, build);
    let id = stage.step_id();
    let mut map = Map::new();
    map.insert(
        "_links".to_string(),
        json!({
            "self": link(format!("{base}execution/node/{id}/wfapi/describe")),
            "log": link(format!("{base}execution/node/{id}/wfapi/log")),
            "console": link(format!("{base}execution/node/{id}/log")),
        }),
    );
    node_fields(&mut map, id, "Shell Script", status);
    if let Some(error) = error_of(stage, status) {
        map.insert("error".to_string(), error);
    }
    if let Some(script) = &stage.spec.script {
        map.insert("parameterDescription".to_string(), json!(script));
    }
    let end = stage.end.min(cut(build, t));
    timing(&mut map, stage.begin, end - stage.begin);
    map.insert(
        "parentNodes".to_string(),
        json!([(stage.id + 1).to_string()]),
    );
    Value::Object(map)
}

/// `StageNodeExt`; `full` adds its `stageFlowNodes`.
fn stage_node(
    job: &Job,
    build: &Build,
    stage: &Planned,
    status: &str,
    t: i64,
    full: bool,
) -> Value {
    let base = build_path(job, build);
    let mut map = Map::new();
    map.insert(
        "_links".to_string(),
        json!({"self": link(format!("{base}execution/node/{}/wfapi/describe", stage.id))}),
    );
    node_fields(&mut map, stage.id, &stage.spec.name, status);
    if let Some(error) = error_of(stage, status) {
        map.insert("error".to_string(), error);
    }
    if stage.executed() {
        let end = stage.end.min(cut(build, t));
        timing(&mut map, stage.begin, end - stage.begin);
    } else {
        // A stage that never ran: the run's start and no time at all.
        timing(&mut map, build.start, 0);
    }
    if full {
        let steps: Vec<Value> = if stage.executed() {
            vec![step_node(job, build, stage, status, t)]
        } else {
            Vec::new()
        };
        map.insert("stageFlowNodes".to_string(), Value::Array(steps));
    }
    Value::Object(map)
}

/// `RunExt.initStatus`, for a build that has an execution.
fn run_status(build: &Build, t: i64) -> &'static str {
    if !build.is_complete(t) {
        return if build.waiting_input(t).is_some() {
            "PAUSED_PENDING_INPUT"
        } else {
            "IN_PROGRESS"
        };
    }
    match build.final_result() {
        BuildResult::Success => "SUCCESS",
        BuildResult::Unstable => "UNSTABLE",
        BuildResult::Failure => "FAILED",
        BuildResult::Aborted => "ABORTED",
        BuildResult::NotBuilt => "NOT_EXECUTED",
    }
}

/// `JobExt.maxRunsPerJob`: `runs` and `runCount` stop at this many.
const MAX_RUNS: usize = 10;

/// `/job/J/wfapi/describe`: `runCount` is capped like the list.
pub(super) fn job(job: &Job) -> Value {
    let base = format!("/{}", item_path(&job.full_name));
    json!({
        "_links": {
            "self": link(format!("{base}wfapi/describe")),
            "runs": link(format!("{base}wfapi/runs")),
        },
        "name": job.name,
        "runCount": job.builds.len().min(MAX_RUNS),
    })
}

/// `/job/J/wfapi/runs`: newest first, at most ten; `since` stops at the run whose display name
/// it is (`#7`, not `7`), that run included.
pub(super) fn runs(job: &Job, since: Option<&str>, t: i64, full: bool, store: bool) -> Value {
    let mut out = Vec::new();
    for build in job.builds.values().rev().take(MAX_RUNS) {
        out.push(run(job, build, t, full, store));
        if since == Some(build.display_name().as_str()) {
            break;
        }
    }
    Value::Array(out)
}

/// `RunExt` of `/job/J/N/wfapi/describe`. An external artifact manager (`store`) always gets
/// the artifacts link.
pub(super) fn run(job: &Job, build: &Build, t: i64, full: bool, store: bool) -> Value {
    let base = build_path(job, build);
    let mut links = Map::new();
    links.insert("self".to_string(), link(format!("{base}wfapi/describe")));
    if store || !build.artifacts(t).is_empty() {
        links.insert(
            "artifacts".to_string(),
            link(format!("{base}wfapi/artifacts")),
        );
    }
    if build.waiting_input(t).is_some() {
        links.insert(
            "pendingInputActions".to_string(),
            link(format!("{base}wfapi/pendingInputActions")),
        );
        links.insert(
            "nextPendingInputAction".to_string(),
            link(format!("{base}wfapi/nextPendingInputAction")),
        );
    }
    let end = if build.is_complete(t) { build.end } else { t };
    let stages: Vec<Value> = plan(build)
        .iter()
        .filter_map(|stage| {
            status_at(build, stage, t).map(|status| stage_node(job, build, stage, status, t, full))
        })
        .collect();
    json!({
        "_links": links,
        "id": build.number.to_string(),
        "name": build.display_name(),
        "status": run_status(build, t),
        "startTimeMillis": build.start,
        "endTimeMillis": end,
        "durationMillis": end - build.start,
        "queueDurationMillis": (build.start - build.scheduled).max(0),
        "pauseDurationMillis": 0,
        "stages": stages,
    })
}

/// `/job/J/N/wfapi/artifacts`: `path` is the encoded href, `name` the display path.
pub(super) fn artifacts(job: &Job, build: &Build, t: i64) -> Value {
    let base = build_path(job, build);
    let listed = super::artifacts::listing(build.artifacts(t));
    Value::Array(
        listed
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let href = super::artifacts::href(&a.spec.path);
                json!({
                    "id": format!("n{}", i + 1),
                    "name": a.display_path.clone().unwrap_or_else(|| a.spec.path.clone()),
                    "path": href,
                    "url": format!("{base}artifact/{href}"),
                    "size": a.spec.len(),
                })
            })
            .collect(),
    )
}

/// A node the build has reached: a stage, or the step inside one.
enum NodeRef<'a> {
    Stage(&'a Planned<'a>, &'static str),
    Step(&'a Planned<'a>, &'static str),
}

fn find<'a>(build: &Build, plan: &'a [Planned<'a>], id: u32, t: i64) -> Option<NodeRef<'a>> {
    plan.iter().find_map(|stage| {
        let status = status_at(build, stage, t)?;
        if stage.id == id {
            Some(NodeRef::Stage(stage, status))
        } else if stage.step_id() == id && stage.executed() {
            Some(NodeRef::Step(stage, status))
        } else {
            None
        }
    })
}

/// `/execution/node/ID/wfapi/describe`: `None` for a node the build does not have.
pub(super) fn describe_node(job: &Job, build: &Build, id: u32, t: i64) -> Option<Value> {
    let plan = plan(build);
    Some(match find(build, &plan, id, t)? {
        NodeRef::Stage(stage, status) => stage_node(job, build, stage, status, t, true),
        NodeRef::Step(stage, status) => step_node(job, build, stage, status, t),
    })
}

/// `/execution/node/ID/wfapi/log`: the HTML-escaped tail of a step's log. Its status comes from
/// the node's error only, so a running step shows SUCCESS.
pub(super) fn node_log(job: &Job, build: &Build, id: u32, t: i64) -> Option<Value> {
    let plan = plan(build);
    let node = find(build, &plan, id, t)?;
    let NodeRef::Step(stage, status) = node else {
        let NodeRef::Stage(_, status) = node else {
            return None;
        };
        return Some(json!({
            "nodeId": id.to_string(),
            "nodeStatus": node_status(status),
            "length": 0,
            "hasMore": false,
            "consoleUrl": null,
        }));
    };
    let text: String = step_log(stage, cut(build, t));
    let total = text.chars().count();
    let tail: String = text
        .chars()
        .skip(total.saturating_sub(MAX_LOG_CHARS))
        .collect();
    let html = html_escape(&tail);
    Some(json!({
        "nodeId": id.to_string(),
        "nodeStatus": node_status(status),
        "length": html.chars().count(),
        "hasMore": total > MAX_LOG_CHARS,
        "text": html,
        "consoleUrl": format!("{}execution/node/{id}/log", build_path(job, build)),
    }))
}

fn node_status(status: &str) -> &'static str {
    match status {
        "FAILED" => "FAILED",
        "ABORTED" => "ABORTED",
        _ => "SUCCESS",
    }
}

/// What the stage's step has written by `cut`.
pub(super) fn step_log(stage: &Planned, cut: i64) -> String {
    let mut text = String::new();
    if let Some(script) = &stage.spec.script {
        text.push_str(&format!("+ {script}\n"));
    }
    for (due, line) in stage.line_times() {
        if due > cut {
            break;
        }
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Jackson's content type. The hrefs are built from the job's own path; `context` is the
/// request's context path, which every one of them starts with in Jenkins.
pub(super) fn reply(value: &Value, context: &str) -> Reply {
    let body = if context.is_empty() {
        serde_json::to_string(value)
    } else {
        let mut value = value.clone();
        under_context(&mut value, context);
        serde_json::to_string(&value)
    };
    response(
        StatusCode::OK,
        "application/json; charset=UTF-8",
        body.unwrap_or_default(),
    )
}

/// The keys whose path-only values are relative to the context path.
const LINKS: [&str; 5] = ["href", "url", "consoleUrl", "proceedUrl", "abortUrl"];

fn under_context(value: &mut Value, context: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if LINKS.contains(&key.as_str()) && s.starts_with('/') => {
                        *s = format!("{context}{s}");
                    }
                    _ => under_context(v, context),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| under_context(v, context)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::config::BuildSpec;
    use crate::sandbox::model::Outputs;

    fn build(yaml: &str) -> Build {
        let spec: BuildSpec = yaml_serde::from_str(yaml).unwrap();
        Build {
            number: 3,
            queue_id: 1,
            start: 1_000,
            end: 1_000 + spec.duration.as_millis() as i64,
            post_build_ms: 0,
            planned: spec.result,
            aborted: None,
            params: None,
            causes: vec![],
            log: vec![],
            observed_start: None,
            observed_done: None,
            scheduled: 900,
            description: None,
            display_name: None,
            outputs: Outputs::of(&spec),
            inputs: vec![],
        }
    }

    const THREE: &str = "duration: 30s\nresult: FAILURE\nstages:\n  - {name: Build, duration: 10s}\n  - {name: Test, status: FAILED, error: boom}\n  - {name: Deploy, status: NOT_EXECUTED}\n";

    #[test]
    fn stages_without_a_duration_share_what_is_left() {
        let b = build(
            "duration: 30s\nstages: [{name: A, duration: 6s}, {name: B}, {name: C}, {name: D, status: NOT_EXECUTED}]\n",
        );
        let spans: Vec<(i64, i64)> = plan(&b).iter().map(|s| (s.begin, s.end)).collect();
        assert_eq!(
            spans,
            [
                (1_000, 7_000),
                (7_000, 19_000),
                (19_000, 31_000),
                (31_000, 31_000)
            ]
        );
    }

    #[test]
    fn stages_appear_as_the_build_reaches_them() {
        let b = build(THREE);
        let shown = |t: i64| -> Vec<(String, String)> {
            let run = run(&Job::test("app"), &b, t, false, false);
            run["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap().to_string(),
                        s["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        };
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(shown(5_000), [pair("Build", "IN_PROGRESS")]);
        assert_eq!(
            shown(12_000),
            [pair("Build", "SUCCESS"), pair("Test", "IN_PROGRESS")]
        );
        assert_eq!(
            shown(31_000),
            [
                pair("Build", "SUCCESS"),
                pair("Test", "FAILED"),
                pair("Deploy", "NOT_EXECUTED")
            ]
        );
    }

    #[test]
    fn a_stopped_build_shows_the_running_stage_aborted_and_no_later_ones() {
        let mut b = build(THREE);
        b.aborted = Some((5_000, None));
        b.end = 5_200;
        let run = run(&Job::test("app"), &b, 6_000, false, false);
        assert_eq!(run["status"], "ABORTED");
        let stages = run["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 1);
        assert_eq!(stages[0]["status"], "ABORTED");
        assert_eq!(stages[0]["durationMillis"], 4_000);
    }

    #[test]
    fn the_failing_step_carries_the_error_and_a_tail_of_its_log() {
        let b = build(
            "duration: 20s\nstages:\n  - {name: T, status: FAILED, error: 'exit 1', script: make test, log: ['a <b>', 'c']}\n",
        );
        let job = Job::test("app");
        let stage = describe_node(&job, &b, 6, 30_000).unwrap();
        assert_eq!(
            stage["error"],
            json!({"message": "exit 1", "type": "hudson.AbortException"})
        );
        let step = &stage["stageFlowNodes"][0];
        assert_eq!(step["id"], "8");
        assert_eq!(step["parameterDescription"], "make test");
        assert_eq!(
            step["_links"]["log"]["href"],
            "/job/app/3/execution/node/8/wfapi/log"
        );
        let log = node_log(&job, &b, 8, 30_000).unwrap();
        assert_eq!(log["text"], "+ make test\na &lt;b&gt;\nc\n");
        assert_eq!(log["nodeStatus"], "FAILED");
        assert_eq!(log["hasMore"], false);
        assert!(describe_node(&job, &b, 99, 30_000).is_none());
        assert_eq!(
            node_log(&job, &b, 6, 30_000).unwrap()["consoleUrl"],
            Value::Null
        );
    }

    #[test]
    fn long_step_logs_return_their_last_ten_kibibytes() {
        let lines: Vec<String> = (0..2_000).map(|i| format!("'line {i:05}'")).collect();
        let b = build(&format!(
            "duration: 20s\nstages:\n  - {{name: T, log: [{}]}}\n",
            lines.join(", ")
        ));
        let log = node_log(&Job::test("app"), &b, 8, 30_000).unwrap();
        assert_eq!(log["hasMore"], true);
        assert_eq!(log["length"], 10_240);
        assert!(log["text"].as_str().unwrap().ends_with("line 01999\n"));
    }
}

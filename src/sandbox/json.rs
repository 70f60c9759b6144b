//! Jenkins' JSON shapes for the objects of the model, with `_class` and Stapler's property
//! order (superclass first, then alphabetical). `url` fields are absolute on the root URL.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::config::{BuildResult, JobKind, ParamType};
use super::model::{
    Build, Cause, Folder, Job, LeftItem, Model, Node, ParamValue, QueueItem, Stage,
};

/// What `Util.rawEncode` leaves as is in a name segment.
const RAW_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b'-')
    .remove(b'.')
    .remove(b'=')
    .remove(b'@')
    .remove(b'_');

/// `job/a/job/b%20c/` for the full name `a/b c`.
pub fn item_path(full_name: &str) -> String {
    full_name
        .split('/')
        .map(|s| format!("job/{}/", utf8_percent_encode(s, RAW_ENCODE)))
        .collect()
}

pub fn item_url(base: &str, full_name: &str) -> String {
    format!("{base}{}", item_path(full_name))
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        map.insert(k.to_string(), v);
    }
    Value::Object(map)
}

fn job_class(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Freestyle => "hudson.model.FreeStyleProject",
        JobKind::Pipeline => "org.jenkinsci.plugins.workflow.job.WorkflowJob",
    }
}

fn build_class(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Freestyle => "hudson.model.FreeStyleBuild",
        JobKind::Pipeline => "org.jenkinsci.plugins.workflow.job.WorkflowRun",
    }
}

const FOLDER_CLASS: &str = "com.cloudbees.hudson.plugins.folder.Folder";

fn color(job: &Job, t: i64) -> String {
    if job.disabled {
        return "disabled".to_string();
    }
    let last_done = job.builds.values().rev().find(|b| b.is_complete(t));
    let base = match last_done.map(|b| b.final_result()) {
        None => "notbuilt",
        Some(BuildResult::Success) => "blue",
        Some(BuildResult::Unstable) => "yellow",
        Some(BuildResult::Failure) => "red",
        Some(BuildResult::Aborted) => "aborted",
        Some(BuildResult::NotBuilt) => "notbuilt",
    };
    if job.running_build(t).is_some() {
        format!("{base}_anime")
    } else {
        base.to_string()
    }
}

/// `{_class, name, url, color}` as items appear in `jobs` lists and queue `task`s.
pub fn item_stub(model: &Model, node: &Node, base: &str, t: i64) -> Value {
    match node {
        Node::Job(job) => obj(vec![
            ("_class", json!(job_class(job.kind))),
            ("name", json!(job.name)),
            ("url", json!(item_url(base, &job.full_name))),
            ("color", json!(color(job, t))),
        ]),
        Node::Folder(folder) => {
            let _ = model;
            obj(vec![
                ("_class", json!(FOLDER_CLASS)),
                ("name", json!(folder.name)),
                ("url", json!(item_url(base, &folder.full_name))),
            ])
        }
    }
}

pub fn root(model: &Model, base: &str, t: i64) -> Value {
    let jobs: Vec<Value> = model
        .children("")
        .into_iter()
        .map(|n| item_stub(model, n, base, t))
        .collect();
    obj(vec![
        ("_class", json!("hudson.model.Hudson")),
        ("assignedLabels", json!([{"name": "built-in"}])),
        ("mode", json!("NORMAL")),
        (
            "nodeDescription",
            json!("the Jenkins controller's built-in node"),
        ),
        ("nodeName", json!("")),
        ("numExecutors", json!(model.executors)),
        ("description", Value::Null),
        ("jobs", Value::Array(jobs)),
        ("overallLoad", json!({})),
        (
            "primaryView",
            json!({"_class": "hudson.model.AllView", "name": "all", "url": base}),
        ),
        ("quietDownReason", Value::Null),
        ("quietingDown", json!(false)),
        ("slaveAgentPort", json!(-1)),
        (
            "unlabeledLoad",
            json!({"_class": "jenkins.model.UnlabeledLoadStatistics"}),
        ),
        ("url", json!(base)),
        ("useCrumbs", json!(model.csrf)),
        ("useSecurity", json!(true)),
        (
            "views",
            json!([{"_class": "hudson.model.AllView", "name": "all", "url": base}]),
        ),
    ])
}

pub fn folder(model: &Model, folder: &Folder, base: &str, t: i64) -> Value {
    let jobs: Vec<Value> = model
        .children(&folder.full_name)
        .into_iter()
        .map(|n| item_stub(model, n, base, t))
        .collect();
    obj(vec![
        ("_class", json!(FOLDER_CLASS)),
        ("actions", json!([{}, {}])),
        ("description", Value::Null),
        ("displayName", json!(folder.name)),
        ("displayNameOrNull", Value::Null),
        ("fullDisplayName", json!(display_path(&folder.full_name))),
        ("fullName", json!(folder.full_name)),
        ("name", json!(folder.name)),
        ("url", json!(item_url(base, &folder.full_name))),
        ("healthReport", json!([])),
        ("jobs", Value::Array(jobs)),
        (
            "primaryView",
            json!({"_class": "hudson.model.AllView", "name": "All", "url": item_url(base, &folder.full_name)}),
        ),
        (
            "views",
            json!([{"_class": "hudson.model.AllView", "name": "All", "url": item_url(base, &folder.full_name)}]),
        ),
    ])
}

fn display_path(full_name: &str) -> String {
    full_name.split('/').collect::<Vec<_>>().join(" » ")
}

fn param_value_json(name: &str, value: &ParamValue) -> Value {
    match value {
        ParamValue::Bool(b) => obj(vec![
            ("_class", json!("hudson.model.BooleanParameterValue")),
            ("name", json!(name)),
            ("value", json!(b)),
        ]),
        ParamValue::Text {
            kind: ParamType::Password,
            ..
        } => obj(vec![
            ("_class", json!("hudson.model.PasswordParameterValue")),
            ("name", json!(name)),
        ]),
        ParamValue::Text {
            kind: ParamType::Text,
            value,
        } => obj(vec![
            ("_class", json!("hudson.model.TextParameterValue")),
            ("name", json!(name)),
            ("value", json!(value)),
        ]),
        ParamValue::Text { value, .. } => obj(vec![
            ("_class", json!("hudson.model.StringParameterValue")),
            ("name", json!(name)),
            ("value", json!(value)),
        ]),
    }
}

fn cause_json(cause: &Cause) -> Value {
    match cause {
        Cause::User(user) => obj(vec![
            ("_class", json!("hudson.model.Cause$UserIdCause")),
            ("shortDescription", json!(cause.short_description())),
            ("userId", json!(user)),
            ("userName", json!(user.as_deref().unwrap_or("anonymous"))),
        ]),
        Cause::Remote { addr, note } => obj(vec![
            ("_class", json!("hudson.model.Cause$RemoteCause")),
            ("shortDescription", json!(cause.short_description())),
            ("addr", json!(addr)),
            ("note", json!(note)),
        ]),
    }
}

/// Folds repeated causes the way `CauseAction` counts them.
fn causes_json(causes: &[Cause]) -> Vec<Value> {
    let mut seen: Vec<&Cause> = Vec::new();
    for cause in causes {
        if !seen.contains(&cause) {
            seen.push(cause);
        }
    }
    seen.into_iter().map(cause_json).collect()
}

fn actions(params: &Option<Vec<(String, ParamValue)>>, causes: &[Cause]) -> Vec<Value> {
    let mut actions = Vec::new();
    if let Some(params) = params {
        actions.push(obj(vec![
            ("_class", json!("hudson.model.ParametersAction")),
            (
                "parameters",
                Value::Array(params.iter().map(|(n, v)| param_value_json(n, v)).collect()),
            ),
        ]));
    }
    actions.push(obj(vec![
        ("_class", json!("hudson.model.CauseAction")),
        ("causes", Value::Array(causes_json(causes))),
    ]));
    actions
}

fn build_stub(job: &Job, build: &Build, base: &str) -> Value {
    obj(vec![
        ("_class", json!(build_class(job.kind))),
        ("number", json!(build.number)),
        ("url", json!(build_url(base, job, build.number))),
    ])
}

pub fn build_url(base: &str, job: &Job, number: u32) -> String {
    format!("{}{}/", item_url(base, &job.full_name), number)
}

pub fn build(model: &Model, job: &Job, build: &Build, base: &str, t: i64) -> Value {
    let status = build.status(t);
    let mut actions = actions(&build.params, &build.causes);
    // Actions the caller may not see serialise as empty objects.
    actions.push(json!({}));
    actions.push(json!({}));
    let mut pairs = vec![
        ("_class", json!(build_class(job.kind))),
        ("actions", Value::Array(actions)),
        ("artifacts", json!([])),
        ("building", json!(status.building)),
        ("description", Value::Null),
        ("displayName", json!(format!("#{}", build.number))),
        ("duration", json!(status.duration_ms)),
        ("estimatedDuration", json!(job.estimated_duration(t))),
        (
            "executor",
            if status.building {
                match job.kind {
                    JobKind::Pipeline => json!({"_class": "hudson.model.OneOffExecutor"}),
                    JobKind::Freestyle => json!({"_class": "hudson.model.Executor"}),
                }
            } else {
                Value::Null
            },
        ),
        (
            "fullDisplayName",
            json!(format!(
                "{} #{}",
                display_path(&job.full_name),
                build.number
            )),
        ),
        ("id", json!(build.number.to_string())),
        ("inProgress", json!(status.in_progress)),
        ("keepLog", json!(false)),
        ("number", json!(build.number)),
        ("queueId", json!(build.queue_id)),
        ("result", json!(status.result.map(|r| r.name()))),
        ("timestamp", json!(build.start)),
        ("url", json!(build_url(base, job, build.number))),
    ];
    match job.kind {
        JobKind::Freestyle => {
            pairs.push(("builtOn", json!("")));
            pairs.push((
                "changeSet",
                json!({"_class": "hudson.scm.EmptyChangeLogSet", "items": [], "kind": null}),
            ));
            pairs.push(("culprits", json!([])));
        }
        JobKind::Pipeline => {
            let next = job.builds.range(build.number + 1..).next();
            let prev = job.builds.range(..build.number).next_back();
            pairs.push(("changeSets", json!([])));
            pairs.push(("culprits", json!([])));
            pairs.push((
                "nextBuild",
                next.map_or(
                    Value::Null,
                    |(n, _)| json!({"number": n, "url": build_url(base, job, *n)}),
                ),
            ));
            pairs.push((
                "previousBuild",
                prev.map_or(
                    Value::Null,
                    |(n, _)| json!({"number": n, "url": build_url(base, job, *n)}),
                ),
            ));
        }
    }
    let _ = model;
    obj(pairs)
}

/// The permalinks of `Job.getDynamic`, newest matching build.
pub fn permalink<'a>(job: &'a Job, name: &str, t: i64) -> Option<Option<&'a Build>> {
    let mut builds = job.builds.values().rev();
    let done = |b: &&Build| b.is_complete(t);
    let result = |b: &Build| b.final_result();
    Some(match name {
        "lastBuild" => builds.next(),
        "lastCompletedBuild" => builds.find(done),
        "lastSuccessfulBuild" => builds
            .find(|b| done(b) && matches!(result(b), BuildResult::Success | BuildResult::Unstable)),
        "lastStableBuild" => builds.find(|b| done(b) && result(b) == BuildResult::Success),
        "lastFailedBuild" => builds.find(|b| done(b) && result(b) == BuildResult::Failure),
        "lastUnstableBuild" => builds.find(|b| done(b) && result(b) == BuildResult::Unstable),
        "lastUnsuccessfulBuild" => builds.find(|b| done(b) && result(b) != BuildResult::Success),
        _ => return None,
    })
}

const PERMALINKS: [&str; 7] = [
    "lastBuild",
    "lastCompletedBuild",
    "lastFailedBuild",
    "lastStableBuild",
    "lastSuccessfulBuild",
    "lastUnstableBuild",
    "lastUnsuccessfulBuild",
];

fn param_definition(def: &super::model::ParamDef) -> Value {
    let (class, ty) = match def.kind {
        ParamType::String => (
            "hudson.model.StringParameterDefinition",
            "StringParameterDefinition",
        ),
        ParamType::Text => (
            "hudson.model.TextParameterDefinition",
            "TextParameterDefinition",
        ),
        ParamType::Boolean => (
            "hudson.model.BooleanParameterDefinition",
            "BooleanParameterDefinition",
        ),
        ParamType::Choice => (
            "hudson.model.ChoiceParameterDefinition",
            "ChoiceParameterDefinition",
        ),
        ParamType::Password => (
            "hudson.model.PasswordParameterDefinition",
            "PasswordParameterDefinition",
        ),
    };
    let mut pairs = vec![
        ("_class", json!(class)),
        (
            "defaultParameterValue",
            param_value_json(&def.name, &def.default),
        ),
        ("description", json!(def.description)),
        ("name", json!(def.name)),
        ("type", json!(ty)),
    ];
    if def.kind == ParamType::Choice {
        pairs.push(("choices", json!(def.choices)));
    }
    obj(pairs)
}

/// Job JSON. `depth` 0 shows nested builds as `{number, url}` stubs; 1 shows them whole.
/// `builds` is only rendered when `want_builds` (the tree selects it, or there is no tree).
pub fn job(model: &Model, job: &Job, base: &str, t: i64, depth: u32, want_builds: bool) -> Value {
    let nested = |b: &Build| {
        if depth >= 1 {
            build(model, job, b, base, t)
        } else {
            build_stub(job, b, base)
        }
    };
    let builds: Vec<Value> = if want_builds {
        job.builds.values().rev().take(100).map(nested).collect()
    } else {
        Vec::new()
    };
    let first = job.builds.values().next();
    let property = if job.is_parameterized() {
        json!([{
            "_class": "hudson.model.ParametersDefinitionProperty",
            "parameterDefinitions": job.params.iter().map(param_definition).collect::<Vec<_>>(),
        }])
    } else {
        json!([])
    };
    let queue_item = model
        .queue
        .values()
        .find(|i| i.job == job.full_name)
        .map_or(Value::Null, |i| queue_item(model, i, base, t));
    let mut pairs = vec![
        ("_class", json!(job_class(job.kind))),
        ("actions", json!([{}, {}])),
        ("description", json!(job.description)),
        ("displayName", json!(job.name)),
        ("displayNameOrNull", Value::Null),
        ("fullDisplayName", json!(display_path(&job.full_name))),
        ("fullName", json!(job.full_name)),
        ("name", json!(job.name)),
        ("url", json!(item_url(base, &job.full_name))),
        ("buildable", json!(!job.disabled)),
        ("builds", Value::Array(builds)),
        ("color", json!(color(job, t))),
        ("firstBuild", first.map_or(Value::Null, nested)),
        ("healthReport", json!([])),
        ("inQueue", json!(!queue_item.is_null())),
        ("keepDependencies", json!(false)),
    ];
    for name in PERMALINKS {
        let value = permalink(job, name, t)
            .flatten()
            .map_or(Value::Null, nested);
        pairs.push((name, value));
    }
    pairs.push(("nextBuildNumber", json!(job.next_build_number)));
    pairs.push(("property", property));
    pairs.push(("queueItem", queue_item));
    pairs.push(("concurrentBuild", json!(job.concurrent)));
    pairs.push(("disabled", json!(job.disabled)));
    match job.kind {
        JobKind::Freestyle => {
            pairs.push(("downstreamProjects", json!([])));
            pairs.push(("labelExpression", Value::Null));
            pairs.push(("scm", json!({"_class": "hudson.scm.NullSCM"})));
            pairs.push(("upstreamProjects", json!([])));
        }
        JobKind::Pipeline => pairs.push(("resumeBlocked", json!(false))),
    }
    obj(pairs)
}

/// Renders `allBuilds`, which Jenkins only shows when a tree asks for it.
pub fn all_builds(model: &Model, job: &Job, base: &str, t: i64) -> Value {
    Value::Array(
        job.builds
            .values()
            .rev()
            .map(|b| build(model, job, b, base, t))
            .collect(),
    )
}

fn params_text(params: &Option<Vec<(String, ParamValue)>>) -> String {
    params
        .iter()
        .flatten()
        .map(|(n, v)| format!("\n{n}={}", v.display()))
        .collect()
}

fn task(model: &Model, name: &str, base: &str, t: i64) -> Value {
    model
        .nodes
        .get(name)
        .map_or(Value::Null, |node| item_stub(model, node, base, t))
}

/// What distinguishes the stages of a queue item in its JSON.
struct ItemShape {
    class: &'static str,
    blocked: bool,
    buildable: bool,
    why: Value,
}

fn common_item_fields(
    model: &Model,
    item: &QueueItem,
    shape: ItemShape,
    base: &str,
    t: i64,
) -> Vec<(&'static str, Value)> {
    vec![
        ("_class", json!(shape.class)),
        ("actions", Value::Array(actions(&item.params, &item.causes))),
        ("blocked", json!(shape.blocked)),
        ("buildable", json!(shape.buildable)),
        ("id", json!(item.id)),
        ("inQueueSince", json!(item.in_queue_since)),
        ("params", json!(params_text(&item.params))),
        ("stuck", json!(false)),
        ("task", task(model, &item.job, base, t)),
        ("url", json!(format!("queue/item/{}/", item.id))),
        ("why", shape.why),
    ]
}

/// A live queue item in its current stage.
pub fn queue_item(model: &Model, item: &QueueItem, base: &str, t: i64) -> Value {
    let mut pairs = match model.stage(item, t) {
        Stage::Waiting => {
            let left = (item.due - t).max(0);
            let mut p = common_item_fields(
                model,
                item,
                ItemShape {
                    class: "hudson.model.Queue$WaitingItem",
                    blocked: false,
                    buildable: false,
                    why: json!(format!(
                        "In the quiet period. Expires in {}",
                        time_span(left)
                    )),
                },
                base,
                t,
            );
            p.push(("timestamp", json!(item.due)));
            p
        }
        Stage::Blocked { running, eta } => {
            let eta = match eta {
                Some(ms) => format!(" (ETA: {})", time_span(ms)),
                // `Executor.getEstimatedRemainingTime` gives "N/A" through the same message.
                None => " (ETA: N/A)".to_string(),
            };
            let mut p = common_item_fields(
                model,
                item,
                ItemShape {
                    class: "hudson.model.Queue$BlockedItem",
                    blocked: true,
                    buildable: false,
                    why: json!(format!(
                        "Build #{} is already in progress{eta}",
                        group_thousands(running)
                    )),
                },
                base,
                t,
            );
            p.push(("buildableStartMilliseconds", json!(item.due)));
            p
        }
        Stage::Buildable => {
            let mut p = common_item_fields(
                model,
                item,
                ItemShape {
                    class: "hudson.model.Queue$BuildableItem",
                    blocked: false,
                    buildable: true,
                    why: json!("Waiting for next available executor"),
                },
                base,
                t,
            );
            p.push(("buildableStartMilliseconds", json!(item.due)));
            p.push(("pending", json!(false)));
            p
        }
    };
    pairs.shrink_to_fit();
    obj(pairs)
}

/// A left item. Its `executable` is a stub of the build, unless `whole`: Stapler writes the
/// build with its own model, so a `tree=` (or a depth) reaches any of the build's fields.
pub fn left_item(model: &Model, left: &LeftItem, base: &str, t: i64, whole: bool) -> Value {
    let mut pairs = common_item_fields(
        model,
        &left.item,
        ItemShape {
            class: "hudson.model.Queue$LeftItem",
            blocked: false,
            buildable: false,
            why: Value::Null,
        },
        base,
        t,
    );
    pairs.push(("cancelled", json!(left.cancelled)));
    let executable = match (left.executable, model.job(&left.item.job)) {
        (Some(number), Some(job)) if t >= left.executable_visible_at => {
            match job.builds.get(&number) {
                Some(b) if whole => build(model, job, b, base, t),
                _ => {
                    let class = build_class(job.kind);
                    json!({"_class": class, "number": number, "url": build_url(base, job, number)})
                }
            }
        }
        _ => Value::Null,
    };
    pairs.push(("executable", executable));
    obj(pairs)
}

pub fn queue(model: &Model, base: &str, t: i64) -> Value {
    let mut staged: Vec<(u8, &QueueItem)> = model
        .queue
        .values()
        .map(|i| {
            let rank = match model.stage(i, t) {
                Stage::Waiting => 0,
                Stage::Blocked { .. } => 1,
                Stage::Buildable => 2,
            };
            (rank, i)
        })
        .collect();
    // Waiting first, then blocked, then buildable newest first, as `Queue.getItems` lists them.
    staged.sort_by(|(ra, a), (rb, b)| {
        ra.cmp(rb).then_with(|| {
            if *ra == 2 {
                b.id.cmp(&a.id)
            } else {
                a.id.cmp(&b.id)
            }
        })
    });
    let items: Vec<Value> = staged
        .into_iter()
        .map(|(_, i)| queue_item(model, i, base, t))
        .collect();
    obj(vec![
        ("_class", json!("hudson.model.Queue")),
        ("discoverableItems", json!([])),
        ("items", Value::Array(items)),
    ])
}

/// `Util.getTimeSpanString`: the biggest unit, plus the next one while the biggest is below 10;
/// seconds get tenths below 10 s and hundredths below 1 s, truncated, never rounded.
fn time_span(ms: i64) -> String {
    let ms = ms.max(0);
    let units = [
        (31_536_000_000, "yr"),
        (2_592_000_000, "mo"),
        (86_400_000, "day"),
        (3_600_000, "hr"),
        (60_000, "min"),
    ];
    for (i, (size, label)) in units.iter().enumerate() {
        let big = ms / size;
        if big == 0 {
            continue;
        }
        let label_of = |n: i64, label: &str| match label {
            "day" if n == 1 => "1 day".to_string(),
            "day" => format!("{n} days"),
            _ => format!("{n} {label}"),
        };
        let mut text = label_of(big, label);
        if big < 10 {
            let rest = ms % size;
            let small = match units.get(i + 1) {
                Some((next, next_label)) => label_of(rest / next, next_label),
                None => format!("{} sec", rest / 1000),
            };
            text = format!("{text} {small}");
        }
        return text;
    }
    let (secs, millis) = (ms / 1000, ms % 1000);
    if secs >= 10 {
        format!("{secs} sec")
    } else if secs >= 1 {
        match millis / 100 {
            0 => format!("{secs} sec"),
            tenths => format!("{secs}.{tenths} sec"),
        }
    } else if millis >= 100 {
        let hundredths = format!("{:02}", millis / 10);
        format!("0.{} sec", hundredths.trim_end_matches('0'))
    } else {
        format!("{millis} ms")
    }
}

/// Java's locale formatting of build numbers in messages: `2,532`.
fn group_thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_per_segment_like_raw_encode() {
        assert_eq!(item_path("a/b c"), "job/a/job/b%20c/");
        assert_eq!(item_path("feature%2Ffoo"), "job/feature%252Ffoo/");
        assert_eq!(item_path("x&y=z(1)"), "job/x&y=z(1)/");
        assert_eq!(item_path("é"), "job/%C3%A9/");
    }

    #[test]
    fn time_spans_read_like_util_get_time_span_string() {
        assert_eq!(time_span(4_990), "4.9 sec");
        assert_eq!(time_span(4_000), "4 sec");
        assert_eq!(time_span(12_700), "12 sec");
        assert_eq!(time_span(450), "0.45 sec");
        assert_eq!(time_span(400), "0.4 sec");
        assert_eq!(time_span(45), "45 ms");
        assert_eq!(time_span(299_000), "4 min 59 sec");
        assert_eq!(time_span(23 * 60_000 + 5_000), "23 min");
        assert_eq!(time_span(3_600_000 + 60_000), "1 hr 1 min");
        assert_eq!(time_span(86_400_000), "1 day 0 hr");
    }

    #[test]
    fn build_numbers_in_messages_are_grouped() {
        assert_eq!(group_thousands(2532), "2,532");
        assert_eq!(group_thousands(168), "168");
        assert_eq!(group_thousands(1_000_000), "1,000,000");
    }
}

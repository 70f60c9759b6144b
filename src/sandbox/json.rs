//! Jenkins' JSON shapes for the objects of the model, with `_class` and Stapler's property
//! order (superclass first, then alphabetical). `url` fields are absolute on the root URL.
//!
//! Every object is written property by property through a [`Pruner`], each property with the
//! visibility its getter has in Jenkins (`@Exported(visibility = …)`, else the
//! `defaultVisibility` of the declaring class's `@ExportedBean`, 1 unless noted). So `depth=`
//! shows what Jenkins shows at that depth (the root lists its jobs as `name, url, color`
//! because only those have a visibility of 2 or more), while `tree=` reaches every named
//! property of every nested object, whatever its visibility.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::artifacts::{Listed, listing};
use super::config::{BuildResult, JobKind, ParamType, Plugin, TestsSpec};
use super::model::{
    Build, Cause, Folder, Input, Job, LeftItem, Model, Node, ParamDef, ParamValue, QueueItem, Stage,
};
use super::tree::Pruner;

/// What `Util.rawEncode` leaves as is in a name segment.
pub(super) const RAW_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
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

/// What every rendering reads: the model, the root URL and the instant.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub model: &'a Model,
    pub base: &'a str,
    pub t: i64,
}

/// The visibility of a property without one of its own in an `@ExportedBean` without a
/// `defaultVisibility`.
const DEFAULT: i32 = 1;

/// One object being written: each property is offered to the pruner with its visibility and
/// only computed when the pruner takes it, which also keeps objects that refer to each other
/// (a build and its neighbours, a job and its queue item's task) from being written forever.
struct Bean<'t> {
    p: Pruner<'t>,
    map: Map<String, Value>,
}

impl<'t> Bean<'t> {
    /// `_class` is written whatever the pruner says; `None` where Stapler leaves it out because
    /// the object's class is the property's declared type.
    fn new(p: Pruner<'t>, class: Option<&str>) -> Bean<'t> {
        let mut map = Map::new();
        if let Some(class) = class {
            map.insert("_class".to_string(), json!(class));
        }
        Bean { p, map }
    }

    /// A property whose value the sandbox holds as plain JSON.
    fn put(mut self, name: &str, visibility: i32, value: impl FnOnce() -> Value) -> Self {
        if let Some(child) = self.p.accept(name, visibility, false) {
            self.map.insert(name.to_string(), child.plain(value()));
        }
        self
    }

    /// A property holding an object or a list of them, written with the pruner it gets.
    fn nested(
        mut self,
        name: &str,
        visibility: i32,
        render: impl FnOnce(Pruner<'t>) -> Value,
    ) -> Self {
        if let Some(child) = self.p.accept(name, visibility, false) {
            self.map.insert(name.to_string(), render(child));
        }
        self
    }

    /// `@Exported(inline = true)`: the objects in it count as being at this object's level.
    fn inline(
        mut self,
        name: &str,
        visibility: i32,
        render: impl FnOnce(Pruner<'t>) -> Value,
    ) -> Self {
        if let Some(child) = self.p.accept(name, visibility, true) {
            self.map.insert(name.to_string(), render(child));
        }
        self
    }

    fn done(self) -> Value {
        Value::Object(self.map)
    }
}

/// A list property: the tree's range picks the elements, each written with the same pruner.
fn list<'t, T>(p: Pruner<'t>, items: &[T], each: impl Fn(Pruner<'t>, &T) -> Value) -> Value {
    Value::Array(p.slice(items).iter().map(|item| each(p, item)).collect())
}

fn optional<'t, T>(
    p: Pruner<'t>,
    item: Option<T>,
    render: impl FnOnce(Pruner<'t>, T) -> Value,
) -> Value {
    item.map_or(Value::Null, |item| render(p, item))
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

/// A job or a folder, as `jobs` lists and queue items' `task` hold them.
pub fn item(cx: Ctx, node: &Node, p: Pruner) -> Value {
    match node {
        Node::Job(j) => job(cx, j, p),
        Node::Folder(f) => folder(cx, f, p),
    }
}

fn items(cx: Ctx, folder: &str, p: Pruner) -> Value {
    list(p, &cx.model.children(folder), |p, node| item(cx, node, p))
}

/// The `AllView` of the root (`owner` empty) or of a folder.
fn all_view(cx: Ctx, owner: &str, p: Pruner) -> Value {
    let (name, url) = if owner.is_empty() {
        ("all", cx.base.to_string())
    } else {
        ("All", item_url(cx.base, owner))
    };
    Bean::new(p, Some("hudson.model.AllView"))
        .put("description", DEFAULT, || Value::Null)
        .nested("jobs", DEFAULT, |p| items(cx, owner, p))
        .put("name", 2, || json!(name))
        .inline("property", DEFAULT, |_| json!([]))
        .put("url", 2, || json!(url))
        .done()
}

pub fn root(cx: Ctx, p: Pruner) -> Value {
    let model = cx.model;
    Bean::new(p, Some("hudson.model.Hudson"))
        .put("assignedLabels", DEFAULT, || json!([{"name": "built-in"}]))
        .put("mode", DEFAULT, || json!("NORMAL"))
        .put("nodeDescription", DEFAULT, || {
            json!("the Jenkins controller's built-in node")
        })
        .put("nodeName", 999, || json!(""))
        .put("numExecutors", DEFAULT, || json!(model.executors))
        .put("description", DEFAULT, || Value::Null)
        .nested("jobs", DEFAULT, |p| items(cx, "", p))
        .put("overallLoad", DEFAULT, || json!({}))
        .nested("primaryView", DEFAULT, |p| all_view(cx, "", p))
        .put("quietDownReason", DEFAULT, || Value::Null)
        .put("quietingDown", DEFAULT, || json!(false))
        .put("slaveAgentPort", DEFAULT, || json!(-1))
        .put(
            "unlabeledLoad",
            DEFAULT,
            || json!({"_class": "jenkins.model.UnlabeledLoadStatistics"}),
        )
        .put("url", DEFAULT, || json!(cx.base))
        .put("useCrumbs", DEFAULT, || json!(model.csrf))
        .put("useSecurity", DEFAULT, || json!(true))
        .nested("views", DEFAULT, |p| {
            list(p, &[()], |p, _| all_view(cx, "", p))
        })
        .done()
}

pub fn folder(cx: Ctx, folder: &Folder, p: Pruner) -> Value {
    let full_name = folder.full_name.as_str();
    Bean::new(p, Some(FOLDER_CLASS))
        .put("actions", DEFAULT, || json!([{}, {}]))
        .put("description", DEFAULT, || Value::Null)
        .put("displayName", DEFAULT, || json!(folder.name))
        .put("displayNameOrNull", DEFAULT, || Value::Null)
        .put("fullDisplayName", DEFAULT, || {
            json!(display_path(full_name))
        })
        .put("fullName", DEFAULT, || json!(full_name))
        .put("name", 999, || json!(folder.name))
        .put("url", 999, || json!(item_url(cx.base, full_name)))
        .put("healthReport", DEFAULT, || json!([]))
        .nested("jobs", DEFAULT, |p| items(cx, full_name, p))
        .nested("primaryView", DEFAULT, |p| all_view(cx, full_name, p))
        .nested("views", DEFAULT, |p| {
            list(p, &[()], |p, _| all_view(cx, full_name, p))
        })
        .done()
}

fn display_path(full_name: &str) -> String {
    full_name.split('/').collect::<Vec<_>>().join(" » ")
}

/// `ParameterValue` is an `@ExportedBean(defaultVisibility = 3)`; the values themselves have 4.
fn param_value(name: &str, value: &ParamValue, p: Pruner) -> Value {
    let (class, value) = match value {
        ParamValue::Bool(b) => ("hudson.model.BooleanParameterValue", Some(json!(b))),
        ParamValue::Text {
            kind: ParamType::Password,
            ..
        } => ("hudson.model.PasswordParameterValue", None),
        ParamValue::Text {
            kind: ParamType::Text,
            value,
        } => ("hudson.model.TextParameterValue", Some(json!(value))),
        ParamValue::Text { value, .. } => ("hudson.model.StringParameterValue", Some(json!(value))),
    };
    let bean = Bean::new(p, Some(class)).put("name", 3, || json!(name));
    match value {
        Some(value) => bean.put("value", 4, || value),
        None => bean,
    }
    .done()
}

/// Causes export everything with visibility 3.
fn cause(cause: &Cause, p: Pruner) -> Value {
    match cause {
        Cause::User(user) => Bean::new(p, Some("hudson.model.Cause$UserIdCause"))
            .put("shortDescription", 3, || json!(cause.short_description()))
            .put("userId", 3, || json!(user))
            .put("userName", 3, || {
                json!(user.as_deref().unwrap_or("anonymous"))
            })
            .done(),
        Cause::Remote { addr, note } => Bean::new(p, Some("hudson.model.Cause$RemoteCause"))
            .put("shortDescription", 3, || json!(cause.short_description()))
            .put("addr", 3, || json!(addr))
            .put("note", 3, || json!(note))
            .done(),
    }
}

/// Folds repeated causes the way `CauseAction` counts them.
fn distinct_causes(causes: &[Cause]) -> Vec<&Cause> {
    let mut seen: Vec<&Cause> = Vec::new();
    for cause in causes {
        if !seen.contains(&cause) {
            seen.push(cause);
        }
    }
    seen
}

enum Action<'a> {
    Parameters(&'a [(String, ParamValue)]),
    Causes(&'a [Cause]),
    /// `hudson.tasks.junit.TestResultAction`: its counts at visibility 2.
    Tests(&'a TestsSpec),
    /// `InputAction`: the build's inputs that wait now (none once answered, when the action
    /// stays with `waitingForInput: false`).
    Input(Vec<&'a Input>),
    /// `ApproverAction` of an input that was proceeded, with who did it.
    Approver(Option<&'a str>),
    /// An action the caller may not see, which serialises as an empty object.
    Hidden,
}

/// `InputStepExecution` (`defaultVisibility = 2`) with its `InputStep`.
fn input_execution(input: &Input, p: Pruner) -> Value {
    Bean::new(p, None)
        .put("id", 2, || json!(input.id))
        .nested("input", 2, |p| {
            Bean::new(p, None)
                .put("cancel", 2, || json!("Abort"))
                .put("id", 2, || json!(input.id))
                .put("message", 2, || json!(input.message))
                .put("ok", 2, || json!(input.ok))
                .nested("parameters", 2, |p| {
                    list(p, &input.params, |p, def| param_definition(def, p))
                })
                .put("submitter", 2, || json!(input.submitter))
                .put("submitterParameter", 2, || Value::Null)
                .done()
        })
        .put("settled", 2, || json!(input.outcome.is_some()))
        .done()
}

fn action(action: &Action, p: Pruner) -> Value {
    match action {
        Action::Parameters(params) => Bean::new(p, Some("hudson.model.ParametersAction"))
            .nested("parameters", 2, |p| {
                list(p, params, |p, (name, value)| param_value(name, value, p))
            })
            .done(),
        Action::Causes(causes) => Bean::new(p, Some("hudson.model.CauseAction"))
            .nested("causes", 2, |p| {
                list(p, &distinct_causes(causes), |p, c| cause(c, p))
            })
            .done(),
        Action::Tests(tests) => {
            let counts = super::junit::counts(tests);
            Bean::new(p, Some("hudson.tasks.junit.TestResultAction"))
                .put("failCount", 2, || json!(counts.failed))
                .put("skipCount", 2, || json!(counts.skipped))
                .put("totalCount", 2, || json!(counts.total))
                .put("urlName", 2, || json!("testReport"))
                .done()
        }
        Action::Input(waiting) => Bean::new(
            p,
            Some("org.jenkinsci.plugins.workflow.support.steps.input.InputAction"),
        )
        .put("displayName", DEFAULT, || json!("Paused for Input"))
        .nested("executions", DEFAULT, |p| {
            list(p, waiting, |p, input| input_execution(input, p))
        })
        .put("waitingForInput", DEFAULT, || json!(!waiting.is_empty()))
        .done(),
        Action::Approver(user) => Bean::new(
            p,
            Some("org.jenkinsci.plugins.workflow.support.steps.input.ApproverAction"),
        )
        .put("userId", DEFAULT, || json!(user))
        .done(),
        Action::Hidden => json!({}),
    }
}

fn actions<'a>(
    params: &'a Option<Vec<(String, ParamValue)>>,
    causes: &'a [Cause],
) -> Vec<Action<'a>> {
    let mut actions = Vec::new();
    if let Some(params) = params {
        actions.push(Action::Parameters(params));
    }
    actions.push(Action::Causes(causes));
    actions
}

/// `Run.Artifact`: declared as such, so no `_class`; every field has visibility 3.
fn artifact(a: &Listed, p: Pruner) -> Value {
    Bean::new(p, None)
        .put("displayPath", 3, || json!(a.display_path))
        .put("fileName", 3, || json!(a.file_name))
        .put("relativePath", 3, || json!(a.spec.path))
        .done()
}

pub fn build_url(base: &str, job: &Job, number: u32) -> String {
    format!("{}{}/", item_url(base, &job.full_name), number)
}

pub fn build(cx: Ctx, job: &Job, build: &Build, p: Pruner) -> Value {
    build_as(cx, job, build, p, true)
}

/// `with_class` is false where the property's declared type is the build's own class
/// (`WorkflowRun.nextBuild`), so Stapler writes no `_class`.
fn build_as(cx: Ctx, job: &Job, b: &Build, p: Pruner, with_class: bool) -> Value {
    let t = cx.t;
    let status = b.status(t);
    let class = with_class.then(|| build_class(job.kind));
    let bean = Bean::new(p, class)
        .nested("actions", DEFAULT, |p| {
            let mut all = actions(&b.params, &b.causes);
            if let Some(tests) = b.tests(t).filter(|_| cx.model.has_plugin(Plugin::Junit)) {
                all.push(Action::Tests(tests));
            }
            if b.has_input_action(t) {
                let waiting = b.waiting_input(t).map(|i| &b.inputs[i]);
                all.push(Action::Input(waiting.into_iter().collect()));
                for input in &b.inputs {
                    if let Some(o) = input.outcome.as_ref().filter(|o| o.proceeded && o.at <= t) {
                        all.push(Action::Approver(o.by.as_deref()));
                    }
                }
            }
            all.push(Action::Hidden);
            all.push(Action::Hidden);
            list(p, &all, |p, a| action(a, p))
        })
        .nested("artifacts", DEFAULT, |p| {
            list(p, &listing(b.artifacts(t)), |p, a| artifact(a, p))
        })
        .put("building", DEFAULT, || json!(status.building))
        .put("description", DEFAULT, || json!(b.description))
        .put("displayName", DEFAULT, || json!(b.display_name()))
        .put("duration", DEFAULT, || json!(status.duration_ms))
        .put("estimatedDuration", DEFAULT, || {
            json!(job.estimated_duration(t))
        })
        .nested("executor", DEFAULT, |p| {
            if status.building {
                executor(cx, job, b, p)
            } else {
                Value::Null
            }
        })
        .put("fullDisplayName", DEFAULT, || {
            json!(format!(
                "{} {}",
                display_path(&job.full_name),
                b.display_name()
            ))
        })
        .put("id", DEFAULT, || json!(b.number.to_string()))
        .put("inProgress", DEFAULT, || json!(status.in_progress))
        .put("keepLog", DEFAULT, || json!(false))
        .put("number", 2, || json!(b.number))
        .put("queueId", DEFAULT, || json!(b.queue_id))
        .put("result", DEFAULT, || json!(status.result.map(|r| r.name())))
        .put("timestamp", DEFAULT, || json!(b.start))
        .put("url", 2, || json!(build_url(cx.base, job, b.number)));
    match job.kind {
        JobKind::Freestyle => bean
            .put("builtOn", DEFAULT, || json!(""))
            .put(
                "changeSet",
                DEFAULT,
                || json!({"_class": "hudson.scm.EmptyChangeLogSet", "items": [], "kind": null}),
            )
            .put("culprits", DEFAULT, || json!([])),
        JobKind::Pipeline => {
            let next = job.builds.range(b.number + 1..).next().map(|(_, b)| b);
            let prev = job.builds.range(..b.number).next_back().map(|(_, b)| b);
            bean.put("changeSets", DEFAULT, || json!([]))
                .put("culprits", DEFAULT, || json!([]))
                .nested("nextBuild", DEFAULT, |p| {
                    optional(p, next, |p, n| build_as(cx, job, n, p, false))
                })
                .nested("previousBuild", DEFAULT, |p| {
                    optional(p, prev, |p, n| build_as(cx, job, n, p, false))
                })
        }
    }
    .done()
}

/// The executor of a running build. `Executor.getProgress`: -1 without an estimate, else the
/// elapsed share of it in percent, never above 99.
fn executor(cx: Ctx, job: &Job, b: &Build, p: Pruner) -> Value {
    let class = match job.kind {
        JobKind::Pipeline => "hudson.model.OneOffExecutor",
        JobKind::Freestyle => "hudson.model.Executor",
    };
    Bean::new(p, Some(class))
        .nested("currentExecutable", DEFAULT, |p| build(cx, job, b, p))
        .put("idle", DEFAULT, || json!(false))
        .put("likelyStuck", DEFAULT, || json!(false))
        .put("number", DEFAULT, || json!(0))
        .put("progress", DEFAULT, || {
            let estimate = job.estimated_duration(cx.t);
            if estimate <= 0 {
                json!(-1)
            } else {
                json!(((cx.t - b.start).max(0) * 100 / estimate).min(99))
            }
        })
        .done()
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

/// `ParameterDefinition` is an `@ExportedBean(defaultVisibility = 3)`.
fn param_definition(def: &ParamDef, p: Pruner) -> Value {
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
    let bean = Bean::new(p, Some(class))
        .nested("defaultParameterValue", 3, |p| {
            param_value(&def.name, &def.default, p)
        })
        .put("description", 3, || json!(def.description))
        .put("name", 3, || json!(def.name))
        .put("type", 3, || json!(ty));
    if def.kind == ParamType::Choice {
        bean.put("choices", 3, || json!(def.choices))
    } else {
        bean
    }
    .done()
}

/// `ParametersDefinitionProperty` is an `@ExportedBean(defaultVisibility = 2)`.
fn parameters_property(job: &Job, p: Pruner) -> Value {
    Bean::new(p, Some("hudson.model.ParametersDefinitionProperty"))
        .nested("parameterDefinitions", 2, |p| {
            list(p, &job.params, |p, def| param_definition(def, p))
        })
        .done()
}

/// Job JSON. `builds` holds the newest 100; `allBuilds` (visibility -2) every build, which only
/// a tree or a depth of 3 or more shows.
pub fn job(cx: Ctx, job: &Job, p: Pruner) -> Value {
    let (model, base, t) = (cx.model, cx.base, cx.t);
    let nested = |p: Pruner, b: &Build| build(cx, job, b, p);
    let queue_item_of = model.queue.values().find(|i| i.job == job.full_name);
    let mut bean = Bean::new(p, Some(job_class(job.kind)))
        .put("actions", DEFAULT, || json!([{}, {}]))
        .put("description", DEFAULT, || json!(job.description))
        .put("displayName", DEFAULT, || json!(job.name))
        .put("displayNameOrNull", DEFAULT, || Value::Null)
        .put("fullDisplayName", DEFAULT, || {
            json!(display_path(&job.full_name))
        })
        .put("fullName", DEFAULT, || json!(job.full_name))
        .put("name", 999, || json!(job.name))
        .put("url", 999, || json!(item_url(base, &job.full_name)))
        .nested("allBuilds", -2, |p| {
            let all: Vec<&Build> = job.builds.values().rev().collect();
            list(p, &all, |p, b| nested(p, b))
        })
        .put("buildable", DEFAULT, || json!(!job.disabled))
        .nested("builds", DEFAULT, |p| {
            let newest: Vec<&Build> = job.builds.values().rev().take(100).collect();
            list(p, &newest, |p, b| nested(p, b))
        })
        .put("color", 2, || json!(color(job, t)))
        .nested("firstBuild", DEFAULT, |p| {
            optional(p, job.builds.values().next(), nested)
        })
        .put("healthReport", DEFAULT, || json!([]))
        .put("inQueue", DEFAULT, || json!(queue_item_of.is_some()))
        .put("keepDependencies", DEFAULT, || json!(false));
    for name in PERMALINKS {
        bean = bean.nested(name, DEFAULT, |p| {
            optional(p, permalink(job, name, t).flatten(), nested)
        });
    }
    let bean = bean
        .put("nextBuildNumber", DEFAULT, || json!(job.next_build_number))
        .inline("property", DEFAULT, |p| {
            if job.is_parameterized() {
                list(p, &[()], |p, _| parameters_property(job, p))
            } else {
                json!([])
            }
        })
        .nested("queueItem", DEFAULT, |p| {
            optional(p, queue_item_of, |p, i| queue_item(cx, i, p))
        })
        .put("concurrentBuild", DEFAULT, || json!(job.concurrent))
        .put("disabled", DEFAULT, || json!(job.disabled));
    match job.kind {
        JobKind::Freestyle => bean
            .put("downstreamProjects", DEFAULT, || json!([]))
            .put("labelExpression", DEFAULT, || Value::Null)
            .put("scm", DEFAULT, || json!({"_class": "hudson.scm.NullSCM"}))
            .put("upstreamProjects", DEFAULT, || json!([])),
        JobKind::Pipeline => bean.put("resumeBlocked", DEFAULT, || json!(false)),
    }
    .done()
}

fn params_text(params: &Option<Vec<(String, ParamValue)>>) -> String {
    params
        .iter()
        .flatten()
        .map(|(n, v)| format!("\n{n}={}", v.display()))
        .collect()
}

/// What distinguishes the stages of a queue item in its JSON.
struct ItemShape {
    class: &'static str,
    blocked: bool,
    buildable: bool,
    why: Value,
}

/// `Queue.Item` is an `@ExportedBean(defaultVisibility = 999)`, so its own properties show at
/// every depth; `actions` comes from `Actionable`, with the default visibility.
fn item_bean<'t>(cx: Ctx, item: &QueueItem, shape: ItemShape, p: Pruner<'t>) -> Bean<'t> {
    Bean::new(p, Some(shape.class))
        .nested("actions", DEFAULT, |p| {
            list(p, &actions(&item.params, &item.causes), |p, a| action(a, p))
        })
        .put("blocked", 999, || json!(shape.blocked))
        .put("buildable", 999, || json!(shape.buildable))
        .put("id", 999, || json!(item.id))
        .put("inQueueSince", 999, || json!(item.in_queue_since))
        .put("params", 999, || json!(params_text(&item.params)))
        .put("stuck", 999, || json!(false))
        .nested("task", 999, |p| {
            optional(p, cx.model.nodes.get(&item.job), |p, node| {
                self::item(cx, node, p)
            })
        })
        .put("url", 999, || json!(format!("queue/item/{}/", item.id)))
        .put("why", 999, || shape.why)
}

/// A live queue item in its current stage.
pub fn queue_item(cx: Ctx, item: &QueueItem, p: Pruner) -> Value {
    let t = cx.t;
    match cx.model.stage(item, t) {
        Stage::Waiting => {
            let left = (item.due - t).max(0);
            let shape = ItemShape {
                class: "hudson.model.Queue$WaitingItem",
                blocked: false,
                buildable: false,
                why: json!(format!(
                    "In the quiet period. Expires in {}",
                    time_span(left)
                )),
            };
            item_bean(cx, item, shape, p).put("timestamp", 999, || json!(item.due))
        }
        Stage::Blocked { running, eta } => {
            let eta = match eta {
                Some(ms) => format!(" (ETA: {})", time_span(ms)),
                // `Executor.getEstimatedRemainingTime` gives "N/A" through the same message.
                None => " (ETA: N/A)".to_string(),
            };
            let shape = ItemShape {
                class: "hudson.model.Queue$BlockedItem",
                blocked: true,
                buildable: false,
                why: json!(format!(
                    "Build #{} is already in progress{eta}",
                    group_thousands(running)
                )),
            };
            item_bean(cx, item, shape, p).put("buildableStartMilliseconds", 999, || json!(item.due))
        }
        Stage::Buildable => {
            let shape = ItemShape {
                class: "hudson.model.Queue$BuildableItem",
                blocked: false,
                buildable: true,
                why: json!("Waiting for next available executor"),
            };
            item_bean(cx, item, shape, p)
                .put("buildableStartMilliseconds", 999, || json!(item.due))
                .put("pending", 999, || json!(false))
        }
    }
    .done()
}

/// A left item. Its `executable` is the build, which at depth 0 shows its `number` and `url`
/// only (visibility 2 one level down), while a tree or a depth reaches any of its fields.
pub fn left_item(cx: Ctx, left: &LeftItem, p: Pruner) -> Value {
    let shape = ItemShape {
        class: "hudson.model.Queue$LeftItem",
        blocked: false,
        buildable: false,
        why: Value::Null,
    };
    let visible = cx.t >= left.executable_visible_at;
    let executable = left
        .executable
        .filter(|_| visible)
        .and_then(|number| cx.model.job(&left.item.job).map(|job| (job, number)));
    item_bean(cx, &left.item, shape, p)
        .put("cancelled", 999, || json!(left.cancelled))
        .nested("executable", 999, |p| {
            optional(p, executable, |p, (job, number)| {
                match job.builds.get(&number) {
                    Some(b) => build(cx, job, b, p),
                    // A build deleted since is still named by the item.
                    None => Bean::new(p, Some(build_class(job.kind)))
                        .put("number", 2, || json!(number))
                        .put("url", 2, || json!(build_url(cx.base, job, number)))
                        .done(),
                }
            })
        })
        .done()
}

pub fn queue(cx: Ctx, p: Pruner) -> Value {
    let model = cx.model;
    let t = cx.t;
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
    Bean::new(p, Some("hudson.model.Queue"))
        .inline("discoverableItems", DEFAULT, |_| json!([]))
        .inline("items", DEFAULT, |p| {
            list(p, &staged, |p, (_, i)| queue_item(cx, i, p))
        })
        .done()
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

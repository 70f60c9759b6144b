//! The preflight: every job a pipeline names is read once (`tree=`-filtered) before anything
//! is triggered, so a misspelt job or parameter, a disabled job or a wrong choice fails the run
//! at once with every problem listed, instead of after the first builds have run. `jrun check`
//! is this and nothing more. The definitions read are kept for the steps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use tokio::task::JoinSet;

use super::outcome::{JobCache, missing_job};
use crate::jenkins::{self, Client};
use crate::pipeline::{DEFAULT_SERVER, JobStep, Pipeline, RenderContext, StepKind, Template};

/// `file:line:column: ` of a value in the pipeline file.
pub fn place(file: &Path, template: &Template) -> String {
    let mut text = file.display().to_string();
    if let Some(line) = template.line() {
        text.push_str(&format!(":{line}"));
        if let Some(column) = template.column() {
            text.push_str(&format!(":{column}"));
        }
    }
    text.push_str(": ");
    text
}

/// Problems with the parameters a step gives a job: names it does not define (with the
/// nearest one it does), values outside its choices (when the value is known yet), and
/// parameters without a default that the step does not give. Each names the index of the
/// parameter, or `None` for one that is missing.
pub fn param_problems(
    job: &str,
    info: &jenkins::Job,
    params: &[(&str, Option<&str>)],
    trigger_id: Option<&str>,
) -> Vec<(Option<usize>, String)> {
    let mut problems = Vec::new();
    let known: Vec<&str> = info.parameters.iter().map(|p| p.name.as_str()).collect();
    for (index, (name, value)) in params.iter().enumerate() {
        let Some(def) = info.parameters.iter().find(|p| p.name == *name) else {
            let message = if known.is_empty() {
                format!("job `{job}` takes no parameters, but the step gives `{name}`")
            } else {
                let hint = crate::pipeline::suggest::nearest(name, known.iter().copied())
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                format!(
                    "job `{job}` has no parameter `{name}`{hint}; it defines: {}",
                    known.join(", ")
                )
            };
            problems.push((Some(index), message));
            continue;
        };
        if let Some(value) = value
            && !def.choices.is_empty()
            && !def.choices.iter().any(|c| c == value)
        {
            problems.push((
                Some(index),
                format!(
                    "parameter `{name}` of job `{job}` is a choice of {}, not `{value}`",
                    def.choices.join(", ")
                ),
            ));
        }
    }
    if let Some(name) = trigger_id
        && let Some(message) = trigger_id_problem(job, info, name)
    {
        problems.push((None, message));
    }
    for def in &info.parameters {
        if def.default.is_none()
            && Some(def.name.as_str()) != trigger_id
            && !params.iter().any(|(name, _)| *name == def.name)
        {
            problems.push((
                None,
                format!(
                    "parameter `{}` of job `{job}` has no default, and the step does not give it",
                    def.name
                ),
            ));
        }
    }
    problems
}

/// Jenkins drops a value for a parameter the job does not define, and a choice or boolean
/// cannot hold an id: then the id would not be recorded on the build and could not find it.
fn trigger_id_problem(job: &str, info: &jenkins::Job, name: &str) -> Option<String> {
    let fix = "add a String parameter of that name to the job, or remove `trigger_id`";
    match info.parameters.iter().find(|p| p.name == name) {
        None => Some(format!(
            "job `{job}` has no parameter `{name}`, which `trigger_id` names ({fix})"
        )),
        Some(def)
            if !def.choices.is_empty()
                || !matches!(
                    def.kind.as_str(),
                    "StringParameterDefinition" | "TextParameterDefinition" | ""
                ) =>
        {
            Some(format!(
                "parameter `{name}` of job `{job}`, which `trigger_id` names, is a {} and cannot \
                 hold an id ({fix})",
                if def.kind.is_empty() {
                    "choice"
                } else {
                    def.kind.as_str()
                }
            ))
        }
        Some(_) => None,
    }
}

/// A problem the preflight found with one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub step: usize,
    /// What is wrong, with its place in the file.
    pub message: String,
}

/// Reads every job the selected steps name and returns the problems found, each with its
/// step and place in the file. Jenkins being unusable is an error (with the step whose job
/// could not be read), not a problem.
pub async fn check(
    pipeline: &Pipeline,
    clients: &BTreeMap<String, Client>,
    ctx: &RenderContext,
    selected: Option<&[bool]>,
    jobs: &JobCache,
) -> Result<Vec<Problem>, (usize, jenkins::Error)> {
    check_with_notes(pipeline, clients, ctx, selected, jobs)
        .await
        .map(|(problems, _)| problems)
}

/// [`check`], and what it found that is not a problem but worth saying: branch jobs that do
/// not exist yet, which a scan may create when the step runs.
pub async fn check_with_notes(
    pipeline: &Pipeline,
    clients: &BTreeMap<String, Client>,
    ctx: &RenderContext,
    selected: Option<&[bool]>,
    jobs: &JobCache,
) -> Result<(Vec<Problem>, Vec<Problem>), (usize, jenkins::Error)> {
    let mut notes: Vec<Problem> = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut problem = |step: usize, message: String| {
        let entry = Problem { step, message };
        if !problems.contains(&entry) {
            problems.push(entry);
        }
    };
    let mut missing: HashSet<(String, String)> = HashSet::new();
    let mut read = read_all(pipeline, clients, ctx, selected, jobs).await;
    for (index, step) in pipeline.steps.iter().enumerate() {
        if selected.is_some_and(|s| !s[index]) {
            continue;
        }
        let template = step.job();
        // A name built from earlier results is checked when its step runs.
        if !template.step_refs().is_empty() {
            continue;
        }
        let step_ctx = ctx.clone().for_step(step);
        let job = match template.render(&step_ctx) {
            Ok(job) => job,
            Err(e) => {
                problem(index, format!("{}{e}", place(&pipeline.file, template)));
                continue;
            }
        };
        let server = step
            .server
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        let Some(client) = clients.get(&server) else {
            continue;
        };
        let key = (server.clone(), job.clone());
        if missing.contains(&key) {
            continue;
        }
        let info = match jobs.get(&server, &job) {
            Some(info) => info,
            None => match answer_for(&mut read, &key, client).await {
                Ok(info) => {
                    jobs.insert(&server, &job, info.clone());
                    info
                }
                Err(jenkins::Error::NotFound { .. }) => {
                    missing.insert(key);
                    let at = place(&pipeline.file, template);
                    let missing = missing_job(&at, &job, client);
                    let StepKind::Job(job_step) = &step.kind else {
                        problem(index, missing);
                        continue;
                    };
                    match super::branch::missing_branch(client, job_step, &job, &at, missing).await
                    {
                        Ok(super::branch::Missing::Problem(message)) => problem(index, message),
                        Ok(super::branch::Missing::Scanned(message)) => notes.push(Problem {
                            step: index,
                            message,
                        }),
                        Err(e) => return Err((index, e)),
                    }
                    continue;
                }
                Err(e) => return Err((index, e)),
            },
        };
        let StepKind::Job(job_step) = &step.kind else {
            continue;
        };
        if info.is_folder() {
            problem(
                index,
                format!(
                    "{}`{job}` is a folder in Jenkins, not a job: name a job inside it (folders are separated by /)",
                    place(&pipeline.file, template)
                ),
            );
            continue;
        }
        if !info.buildable {
            problem(
                index,
                format!(
                    "{}job `{job}` is disabled in Jenkins, so it cannot be triggered",
                    place(&pipeline.file, template)
                ),
            );
        }
        let values = known_values(job_step, &step_ctx);
        let params: Vec<(&str, Option<&str>)> = job_step
            .params
            .iter()
            .zip(&values)
            .map(|((name, _), value)| (name.as_str(), value.as_deref()))
            .collect();
        let trigger_id = job_step.trigger_id.as_deref();
        for (at, message) in param_problems(&job, &info, &params, trigger_id) {
            let where_ = match at {
                Some(i) => place(&pipeline.file, &job_step.params[i].1),
                None => place(&pipeline.file, template),
            };
            problem(index, format!("{where_}{message}"));
        }
    }
    Ok((problems, notes))
}

/// The server and job a step names, when it can be known before the run and its server is
/// configured.
fn job_of(
    pipeline: &Pipeline,
    clients: &BTreeMap<String, Client>,
    ctx: &RenderContext,
    index: usize,
) -> Option<(String, String)> {
    let step = &pipeline.steps[index];
    let template = step.job();
    if !template.step_refs().is_empty() {
        return None;
    }
    let job = template.render(&ctx.clone().for_step(step)).ok()?;
    let server = step
        .server
        .clone()
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    clients.contains_key(&server).then_some((server, job))
}

/// Reads every job the selected steps name that is not known yet, all at once: each read
/// waits on nothing but the network, and the client's `max_in_flight` bounds how many are
/// sent together. The answers are then looked at in step order, so which problem or error is
/// reported does not depend on which answer came first.
async fn read_all(
    pipeline: &Pipeline,
    clients: &BTreeMap<String, Client>,
    ctx: &RenderContext,
    selected: Option<&[bool]>,
    jobs: &JobCache,
) -> HashMap<(String, String), Result<jenkins::Job, jenkins::Error>> {
    let mut wanted: HashSet<(String, String)> = HashSet::new();
    let mut reads = JoinSet::new();
    for index in 0..pipeline.steps.len() {
        if selected.is_some_and(|s| !s[index]) {
            continue;
        }
        let Some(key) = job_of(pipeline, clients, ctx, index) else {
            continue;
        };
        if jobs.get(&key.0, &key.1).is_some() || !wanted.insert(key.clone()) {
            continue;
        }
        let Some(client) = clients.get(&key.0).cloned() else {
            continue;
        };
        reads.spawn(async move {
            let answer = client.job(&key.1).await;
            (key, answer)
        });
    }
    let mut answers = HashMap::with_capacity(wanted.len());
    while let Some(joined) = reads.join_next().await {
        // A read task that was lost is read again in step order.
        if let Ok((key, answer)) = joined {
            answers.insert(key, answer);
        }
    }
    answers
}

/// The answer [`read_all`] got for `key`, taken out of it, or read now if its read was lost.
async fn answer_for(
    read: &mut HashMap<(String, String), Result<jenkins::Job, jenkins::Error>>,
    key: &(String, String),
    client: &Client,
) -> Result<jenkins::Job, jenkins::Error> {
    match read.remove(key) {
        Some(answer) => answer,
        None => client.job(&key.1).await,
    }
}

/// The values of a job step's parameters known before the run: those that read no step's
/// result and render.
fn known_values(step: &JobStep, ctx: &RenderContext) -> Vec<Option<String>> {
    step.params
        .iter()
        .map(|(_, t)| {
            if t.step_refs().is_empty() {
                t.render(ctx).ok()
            } else {
                None
            }
        })
        .collect()
}

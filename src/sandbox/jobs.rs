//! Job and folder routes: nested `job/NAME` paths, jobs created on first use, and the hand-off
//! to triggers and builds.

use http::StatusCode;

use super::api::{api, api_shown, finished_builds_shown, format_of};
use super::builds::build_route;
use super::config::{JobConfig, JobKind, ParamConfig, Plugin, check_job_path};
use super::json::{self, Ctx};
use super::model::{Model, Node, Principal};
use super::multibranch::{project_route, resolve_child};
use super::pages::{html_page, not_found};
use super::triggers::trigger;
use super::wfapi;
use super::wire::{Reply, Req, base_url};

/// Servlet parameters that are not build parameters.
const RESERVED_PARAMS: [&str; 5] = ["token", "delay", "cause", "Jenkins-Crumb", "json"];

pub(super) fn job_route(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    segs: &[&str],
    now: i64,
) -> (&'static str, Reply) {
    let mut names: Vec<String> = Vec::new();
    let mut full_name = String::new();
    let mut i = 0;
    while i < segs.len() && segs[i] == "job" {
        let Some(name) = segs.get(i + 1) else {
            return not_found(model);
        };
        // Inside a multibranch project a name may also match decoded or encoded.
        full_name = resolve_child(model, &full_name, name);
        names.push(full_name.rsplit('/').next().unwrap_or_default().to_string());
        i += 2;
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let rest = &segs[i..];
    if !model.nodes.contains_key(&full_name) {
        if model.auto_create && check_job_path(&full_name).is_ok() && !is_under_job(model, &names) {
            auto_create(model, req, &full_name, rest);
        } else {
            return not_found(model);
        }
    }
    let base = base_url(model, req);
    if let Some(answer) = project_route(model, req, principal, &full_name, rest, now) {
        return answer;
    }
    if let Some(Node::Folder(folder)) = model.nodes.get(&full_name) {
        return match rest {
            [] => ("folder", html_page(model, StatusCode::OK, &folder.name, "")),
            ["api", fmt] => match format_of(fmt) {
                Some(f) => {
                    let cx = Ctx {
                        model,
                        base: &base,
                        t: now,
                    };
                    (
                        "folder",
                        api(model, req, |p| json::folder(cx, folder, p), f),
                    )
                }
                None => not_found(model),
            },
            _ => not_found(model),
        };
    }
    let Some(job) = model.job(&full_name) else {
        return not_found(model);
    };
    match rest {
        [] => ("job_page", html_page(model, StatusCode::OK, &job.name, "")),
        ["api", fmt] => match format_of(fmt) {
            Some(f) => {
                let cx = Ctx {
                    model,
                    base: &base,
                    t: now,
                };
                let (reply, shown) = api_shown(model, req, |p| json::job(cx, job, p), f);
                if let Some(shown) = shown {
                    model.observe_done(&full_name, finished_builds_shown(&shown), now);
                }
                ("job", reply)
            }
            None => not_found(model),
        },
        ["wfapi"] | ["wfapi", "describe"] | ["wfapi", "runs"] => {
            if job.kind != JobKind::Pipeline || !model.has_plugin(Plugin::PipelineRestApi) {
                // Only a WorkflowJob has the `wfapi` action, and only with the plugin.
                return not_found(model);
            }
            let value = if rest.last() == Some(&"runs") {
                let full = req.param("fullStages") == Some("true");
                wfapi::runs(job, req.param("since"), now, full, model.store.is_some())
            } else {
                wfapi::job(job)
            };
            ("wfapi", wfapi::reply(&value, &req.context))
        }
        ["build"] => trigger(model, req, principal, &full_name, false),
        ["buildWithParameters"] => trigger(model, req, principal, &full_name, true),
        [which, tail @ ..] => {
            let number = match which.parse::<u32>() {
                Ok(n) => job.builds.get(&n).map(|b| b.number),
                Err(_) => match json::permalink(job, which, now) {
                    Some(found) => found.map(|b| b.number),
                    None => return not_found(model),
                },
            };
            let Some(number) = number else {
                return ("build", not_found(model).1);
            };
            build_route(model, req, principal, &full_name, number, tail, now)
        }
    }
}

/// A path like `a/b` where `a` is a job is not a place a job can be created.
fn is_under_job(model: &Model, names: &[&str]) -> bool {
    (1..names.len()).any(|depth| model.job(&names[..depth].join("/")).is_some())
}

fn auto_create(model: &mut Model, req: &Req, full_name: &str, rest: &[&str]) {
    let mut config = JobConfig::new(full_name);
    config.kind = JobKind::Pipeline;
    if rest == ["buildWithParameters"] {
        for (name, _) in &req.params {
            let reserved = RESERVED_PARAMS.contains(&name.as_str());
            if !reserved && !config.parameters.iter().any(|p| &p.name == name) {
                config.parameters.push(ParamConfig {
                    name: name.clone(),
                    kind: Default::default(),
                    default: None,
                    choices: Vec::new(),
                    description: String::new(),
                });
            }
        }
    }
    model.put_job(&config);
}

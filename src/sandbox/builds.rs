//! A build's routes: its page and API, `stop`/`term`/`kill`, and the hand-off to its console.

use http::StatusCode;

use super::api::{api, api_shown, format_of, shows_finished};
use super::artifacts;
use super::config::{Anonymous, JobKind, Plugin};
use super::console::{console_text, progressive_text};
use super::inputs;
use super::json::{self, Ctx};
use super::junit;
use super::model::{Model, Principal};
use super::pages::{
    error_page, html_page, login_required, not_found, oops, redirect, requires_post,
};
use super::wfapi;
use super::wire::{Reply, Req, base_url, context_url, request_url};

pub(super) fn build_route(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    full_name: &str,
    number: u32,
    rest: &[&str],
    now: i64,
) -> (&'static str, Reply) {
    let base = base_url(model, req);
    match rest {
        [] => (
            "build_page",
            html_page(model, StatusCode::OK, &format!("#{number}"), ""),
        ),
        ["api", fmt] => match (format_of(fmt), model.job(full_name)) {
            (Some(f), Some(job)) => {
                let Some(build) = job.builds.get(&number) else {
                    return not_found(model);
                };
                let cx = Ctx {
                    model,
                    base: &base,
                    t: now,
                };
                let (reply, shown) = api_shown(model, req, |p| json::build(cx, job, build, p), f);
                if shown.as_ref().is_some_and(shows_finished) {
                    model.observe_done(full_name, [number], now);
                }
                ("build", reply)
            }
            _ => not_found(model),
        },
        // `doTerm` and `doKill` exist on `WorkflowRun` only; a freestyle build has no such URL.
        ["term" | "kill"]
            if model
                .job(full_name)
                .is_some_and(|j| j.kind == JobKind::Freestyle) =>
        {
            not_found(model)
        }
        ["stop" | "term" | "kill"] => {
            if !req.is_post() {
                return ("stop", requires_post(model));
            }
            if *principal == Principal::Anonymous && model.anonymous != Anonymous::Build {
                return (
                    "stop",
                    login_required(model, req, "hudson.model.Item.Cancel"),
                );
            }
            model.stop(full_name, number, principal.name().map(str::to_string));
            let target = req
                .header("referer")
                .map(str::to_string)
                .unwrap_or_else(|| {
                    request_url(req, &format!("{}{number}/", json::item_path(full_name)))
                });
            ("stop", redirect(StatusCode::FOUND, &target))
        }
        ["artifact", rest @ ..] => {
            let Some(build) = model.job(full_name).and_then(|j| j.builds.get(&number)) else {
                return not_found(model);
            };
            let build_path = format!("{}{number}/", json::item_path(full_name));
            artifacts::serve(model, req, build, &build_path, rest, now)
        }
        ["submitDescription"] | ["configSubmit"] => update_build(
            model,
            req,
            principal,
            full_name,
            number,
            rest[0] == "configSubmit",
        ),
        ["testReport", "api", fmt] => {
            let tests = model
                .job(full_name)
                .and_then(|j| j.builds.get(&number))
                .and_then(|b| b.tests(now))
                .filter(|_| model.has_plugin(Plugin::Junit));
            match (tests, format_of(fmt)) {
                (Some(tests), Some(f)) => (
                    "test_report",
                    api(model, req, |p| junit::report(tests, number, p), f),
                ),
                _ => not_found(model),
            }
        }
        ["input", rest @ ..]
            if model
                .job(full_name)
                .is_some_and(|j| j.kind == JobKind::Pipeline) =>
        {
            inputs::input_route(model, req, principal, full_name, number, rest, now)
        }
        ["wfapi", "inputSubmit"]
            if model
                .job(full_name)
                .is_some_and(|j| j.kind == JobKind::Pipeline)
                && model.has_plugin(Plugin::PipelineRestApi) =>
        {
            (
                "input_submit",
                inputs::input_submit(model, req, principal, full_name, number, now),
            )
        }
        ["wfapi", ..] | ["execution", "node", _, "wfapi", _] => {
            let Some(job) = model.job(full_name).filter(|j| j.kind == JobKind::Pipeline) else {
                // A freestyle build has no `wfapi` action.
                return not_found(model);
            };
            if !model.has_plugin(Plugin::PipelineRestApi) {
                return not_found(model);
            }
            let Some(build) = job.builds.get(&number) else {
                return not_found(model);
            };
            let full = req.param("fullStages") == Some("true");
            let value = match rest {
                ["wfapi"] | ["wfapi", "describe"] => {
                    Some(wfapi::run(job, build, now, full, model.store.is_some()))
                }
                ["wfapi", "artifacts"] => Some(wfapi::artifacts(job, build, now)),
                ["wfapi", "pendingInputActions"] => Some(inputs::pending(job, build, now)),
                ["wfapi", "nextPendingInputAction"] => Some(inputs::next_pending(job, build, now)),
                ["execution", "node", id, "wfapi", what] => match (id.parse::<u32>(), *what) {
                    (Ok(id), "describe") => wfapi::describe_node(job, build, id, now),
                    (Ok(id), "log") => wfapi::node_log(job, build, id, now),
                    _ => None,
                },
                _ => None,
            };
            match value {
                Some(value) => ("wfapi", wfapi::reply(&value, &req.context)),
                None => not_found(model),
            }
        }
        ["logText", "progressiveText"] => progressive_text(model, req, full_name, number, now),
        ["consoleText"] => console_text(model, full_name, number, now),
        _ => not_found(model),
    }
}

/// `submitDescription` (form `description`; missing clears it) and `configSubmit` (form `json`
/// with both `displayName` and `description`): Run.UPDATE, then a 302 to the build.
fn update_build(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    full_name: &str,
    number: u32,
    configure: bool,
) -> (&'static str, Reply) {
    let route = if configure {
        "config_submit"
    } else {
        "submit_description"
    };
    if !req.is_post() {
        return (route, requires_post(model));
    }
    if *principal == Principal::Anonymous && model.anonymous != Anonymous::Build {
        return (route, login_required(model, req, "hudson.model.Run.Update"));
    }
    let (description, display_name) = if configure {
        let Some(form) = req.param("json") else {
            return (
                route,
                error_page(StatusCode::BAD_REQUEST, "Nothing is submitted"),
            );
        };
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(form);
        let fields = parsed.ok().and_then(|v| {
            let text = |key: &str| v.get(key).map(|x| x.as_str().map(str::to_string));
            Some((text("description")?, text("displayName")?))
        });
        let Some((description, display_name)) = fields else {
            // `JSONObject.getString` throws on a missing key: an exception, so a 500.
            return (
                route,
                oops(
                    model,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "net.sf.json.JSONException: JSONObject[\"displayName\"] not found.",
                ),
            );
        };
        // `Util.fixEmptyAndTrim`: an empty name goes back to `#N`.
        let display_name = display_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        (description, Some(display_name))
    } else {
        (req.param("description").map(str::to_string), None)
    };
    let Some(build) = model
        .job_mut(full_name)
        .and_then(|j| j.builds.get_mut(&number))
    else {
        return not_found(model);
    };
    build.description = description;
    if let Some(display_name) = display_name {
        build.display_name = display_name;
    }
    let path = format!("/{}{number}/", json::item_path(full_name));
    // Jetty 12 (Jenkins 2.472 and later) sends path-only redirects.
    let target = if model.at_least(2, 472) {
        context_url(req, &path)
    } else {
        request_url(req, path.trim_start_matches('/'))
    };
    (route, redirect(StatusCode::FOUND, &target))
}

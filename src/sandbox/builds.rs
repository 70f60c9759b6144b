//! A build's routes: its page and API, `stop`/`term`/`kill`, and the hand-off to its console.

use http::StatusCode;

use super::api::{api_shown, format_of, shows_finished};
use super::config::{Anonymous, JobKind};
use super::console::{console_text, progressive_text};
use super::json::{self, Ctx};
use super::model::{Model, Principal};
use super::pages::{html_page, login_required, not_found, redirect, requires_post};
use super::wire::{Reply, Req, base_url, request_url};

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
        ["logText", "progressiveText"] => progressive_text(model, req, full_name, number, now),
        ["consoleText"] => console_text(model, full_name, number, now),
        _ => not_found(model),
    }
}

//! The queue's routes: a queue item's page and API, and `cancelItem`.

use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;

use super::api::{api_shown, format_of};
use super::json::{self, Ctx};
use super::model::Model;
use super::pages::{not_found, oops, redirect, requires_post};
use super::tree::Pruner;
use super::wire::{Reply, Req, base_url, request_url, response};

pub(super) fn queue_item(
    model: &mut Model,
    req: &Req,
    id: &str,
    rest: &[&str],
    now: i64,
) -> (&'static str, Reply) {
    let Ok(id) = id.parse::<u64>() else {
        return not_found(model);
    };
    if !model.queue.contains_key(&id) && !model.left.contains_key(&id) {
        return ("queue_item", not_found(model).1);
    }
    let base = base_url(model, req);
    match rest {
        [] if model.at_least(2, 469) => (
            "queue_item",
            response(
                StatusCode::OK,
                "text/plain;charset=utf-8",
                format!(
                    "Queue item exists. For details check, for example, /queue/item/{id}/api/json?tree=cancelled,executable[url]"
                ),
            ),
        ),
        ["api", fmt] => match format_of(fmt) {
            Some(f) => {
                let cx = Ctx {
                    model,
                    base: &base,
                    t: now,
                };
                let render = |p: Pruner| match (model.queue.get(&id), model.left.get(&id)) {
                    (Some(item), _) => json::queue_item(cx, item, p),
                    (None, Some(left)) => json::left_item(cx, left, p),
                    (None, None) => Value::Null,
                };
                let (reply, shown) = api_shown(model, req, render, f);
                if shown
                    .as_ref()
                    .and_then(|v| v.get("executable"))
                    .is_some_and(Value::is_object)
                {
                    model.observe_started(id, now);
                }
                ("queue_item", reply)
            }
            None => not_found(model),
        },
        _ => not_found(model),
    }
}

pub(super) fn cancel_item(model: &mut Model, req: &Req) -> (&'static str, Reply) {
    if !req.is_post() {
        return ("cancel", requires_post(model));
    }
    let id = req.param("id").and_then(|v| v.parse::<u64>().ok());
    if !model.at_least(2, 211) {
        // Before JENKINS-21311 every outcome, even an unknown id, was `forwardToPreviousPage`.
        if let Some(id) = id {
            let _ = model.cancel(id);
        }
        let target = req
            .header("referer")
            .map(str::to_string)
            .unwrap_or_else(|| request_url(req, "queue/"));
        return ("cancel", redirect(StatusCode::FOUND, &target));
    }
    let reply = match id.map(|id| (id, model.cancel(id))) {
        Some((_, Ok(()))) => response(StatusCode::NO_CONTENT, "text/plain", Bytes::new()),
        Some((id, Err(500))) => oops(
            model,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("Could not cancel run for id {id}"),
        ),
        Some((id, Err(_))) => oops(
            model,
            StatusCode::NOT_FOUND,
            &format!("Provided id ({id}) not found"),
        ),
        None => oops(
            model,
            StatusCode::NOT_FOUND,
            &format!("Provided id ({}) not found", req.param("id").unwrap_or("")),
        ),
    };
    ("cancel", reply)
}

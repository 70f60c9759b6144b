//! Triggers: `build` and `buildWithParameters`, with their tokens, permissions, delays,
//! parameters and answers, each recorded.

use http::StatusCode;
use http::header;
use serde_json::Value;

use super::config::Anonymous;
use super::json;
use super::model::{Cause, Model, Principal, TriggerRecord};
use super::pages::{
    error_page, html_page, login_required, not_found, oops, redirect, requires_post,
};
use super::wire::{Reply, Req, request_url};

/// `delay`: a bare number is milliseconds; `sec`/`secs` means seconds (`TimeDuration`).
pub(super) fn parse_delay(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let invalid = || format!("Invalid time duration value: {text}");
    let (number, factor) = if let Some(n) = text.strip_suffix("secs") {
        (n, 1000)
    } else if let Some(n) = text.strip_suffix("sec") {
        (n, 1000)
    } else {
        (text, 1)
    };
    number
        .trim()
        .parse::<i64>()
        .map(|n| n.max(0) * factor)
        .map_err(|_| invalid())
}

pub(super) fn trigger(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    full_name: &str,
    with_parameters: bool,
) -> (&'static str, Reply) {
    let route = if with_parameters {
        "trigger:buildWithParameters"
    } else {
        "trigger:build"
    };
    let reply = trigger_reply(model, req, principal, full_name, with_parameters);
    let queue_id = reply
        .0
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
        .and_then(|id| id.parse().ok());
    let record = TriggerRecord {
        at_ms: model.now(),
        job: full_name.to_string(),
        endpoint: if with_parameters {
            "buildWithParameters".to_string()
        } else {
            "build".to_string()
        },
        user: principal.name().map(str::to_string),
        params: req
            .params
            .iter()
            .filter(|(k, _)| k != "Jenkins-Crumb")
            .cloned()
            .collect(),
        status: reply.0.status().as_u16(),
        queue_id: if reply.1 { queue_id } else { None },
        created: reply.2,
        external: false,
        cause: trigger_cause(model, req, principal, full_name),
    };
    model.record_trigger(record);
    (route, reply.0)
}

/// The cause a trigger's build gets: the remote host with a good token, else the user.
fn trigger_cause(model: &Model, req: &Req, principal: &Principal, full_name: &str) -> String {
    let by_token = model
        .job(full_name)
        .and_then(|j| j.token.as_deref())
        .is_some_and(|token| req.param("token") == Some(token));
    let cause = if by_token {
        Cause::Remote {
            addr: req.peer.to_string(),
            note: req.param("cause").map(str::to_string),
        }
    } else {
        Cause::User(principal.name().map(str::to_string))
    };
    cause.short_description()
}

/// The answer to a trigger, whether it produced a queue item, and whether that item is new.
fn trigger_reply(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    full_name: &str,
    with_parameters: bool,
) -> (Reply, bool, bool) {
    let Some(job) = model.job(full_name) else {
        return (not_found(model).1, false, false);
    };
    let not_buildable = || {
        error_page(
            StatusCode::CONFLICT,
            &format!("{full_name} is not buildable"),
        )
    };
    if !with_parameters {
        if job.disabled {
            return (not_buildable(), false, false);
        }
        if job.is_parameterized() && !req.is_post() {
            let reply = html_page(
                model,
                StatusCode::METHOD_NOT_ALLOWED,
                &job.name,
                "<form method=\"post\" action=\"build?delay=0sec\"><p>This build requires parameters:</p></form>",
            );
            return (reply, false, false);
        }
    }
    let mut by_token = false;
    if let (Some(expected), Some(given)) = (&job.token, req.param("token")) {
        if expected == given {
            by_token = true;
        } else {
            return (
                error_page(StatusCode::FORBIDDEN, "Invalid token provided."),
                false,
                false,
            );
        }
    }
    if !by_token {
        if *principal == Principal::Anonymous && model.anonymous != Anonymous::Build {
            return (
                login_required(model, req, "hudson.model.Item.Build"),
                false,
                false,
            );
        }
        if !req.is_post() {
            return (requires_post(model), false, false);
        }
    }
    if with_parameters && job.disabled {
        return (not_buildable(), false, false);
    }
    let delay = match req.param("delay").map(parse_delay).transpose() {
        // `Queue.schedule2` takes whole seconds (`TimeDuration.getTimeInSeconds` truncates).
        Ok(d) => d.map(|ms| ms / 1000 * 1000),
        Err(msg) => {
            return (
                oops(model, StatusCode::INTERNAL_SERVER_ERROR, &msg),
                false,
                false,
            );
        }
    };
    let cause = if by_token {
        Cause::Remote {
            addr: req.peer.to_string(),
            note: req.param("cause").map(str::to_string),
        }
    } else {
        Cause::User(principal.name().map(str::to_string))
    };
    let job_path = json::item_path(full_name);
    if with_parameters {
        return build_with_parameters(model, req, full_name, cause, delay);
    }
    if job.is_parameterized() {
        return build_with_json_form(model, req, full_name, cause, delay, &job_path);
    }
    let (id, created) = model.schedule(full_name, None, cause, delay);
    let location = request_url(req, &format!("queue/item/{id}/"));
    (redirect(StatusCode::CREATED, &location), true, created)
}

/// `buildWithParameters`: the parameters from the query or the form, and the answer points at
/// the queue item.
fn build_with_parameters(
    model: &mut Model,
    req: &Req,
    full_name: &str,
    cause: Cause,
    delay: Option<i64>,
) -> (Reply, bool, bool) {
    let Some(job) = model.job(full_name) else {
        return (not_found(model).1, false, false);
    };
    if !job.is_parameterized() {
        let reply = if model.at_least(2, 524) {
            error_page(
                StatusCode::BAD_REQUEST,
                &format!("{full_name} is not parameterized"),
            )
        } else {
            oops(
                model,
                StatusCode::INTERNAL_SERVER_ERROR,
                "java.lang.IllegalStateException: This build is not parameterized!",
            )
        };
        return (reply, false, false);
    }
    let values = match Model::values_from_request(job, &req.params) {
        Ok(v) => v,
        Err(msg) => {
            return (
                oops(
                    model,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("java.lang.IllegalArgumentException: {msg}"),
                ),
                false,
                false,
            );
        }
    };
    let (id, created) = model.schedule(full_name, Some(values), cause, delay);
    let status = if created || !model.at_least(2, 308) {
        StatusCode::CREATED
    } else {
        StatusCode::SEE_OTHER
    };
    let location = request_url(req, &format!("queue/item/{id}/"));
    (redirect(status, &location), true, created)
}

/// `POST /build` of a parameterized job: parameters only through the `json` form field, and the
/// answer points at the job page, not at the queue item.
fn build_with_json_form(
    model: &mut Model,
    req: &Req,
    full_name: &str,
    cause: Cause,
    delay: Option<i64>,
    job_path: &str,
) -> (Reply, bool, bool) {
    let Some(form) = req.param("json") else {
        let message = if req.params.is_empty() {
            "Nothing is submitted"
        } else {
            "This page expects a form submission"
        };
        return (error_page(StatusCode::BAD_REQUEST, message), false, false);
    };
    let parsed: Option<Value> = serde_json::from_str(form).ok();
    let entries: Vec<Value> = match parsed.as_ref().and_then(|v| v.get("parameter")) {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let Some(job) = model.job(full_name) else {
        return (not_found(model).1, false, false);
    };
    let mut values = Vec::new();
    for entry in &entries {
        let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
        let Some(def) = job.params.iter().find(|d| d.name == name) else {
            return (
                oops(
                    model,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!(
                        "java.lang.IllegalArgumentException: No such parameter definition: {name}"
                    ),
                ),
                false,
                false,
            );
        };
        let raw = match entry.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        match def.value_from(&raw) {
            Ok(v) => values.push((name.to_string(), v)),
            Err(msg) => {
                return (
                    oops(
                        model,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("java.lang.IllegalArgumentException: {msg}"),
                    ),
                    false,
                    false,
                );
            }
        }
    }
    let (_, created) = model.schedule(full_name, Some(values), cause, delay);
    let job_url = request_url(req, job_path);
    if !created {
        return (redirect(StatusCode::FOUND, &job_url), true, false);
    }
    let parsed = parsed.unwrap_or(Value::Null);
    let status = parsed
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|c| StatusCode::from_u16(c as u16).ok())
        .unwrap_or(StatusCode::CREATED);
    let target = parsed
        .get("redirectTo")
        .and_then(Value::as_str)
        .unwrap_or("");
    let location = if target.is_empty() || target == "." {
        job_url
    } else {
        format!("{job_url}{target}")
    };
    (redirect(status, &location), false, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_is_milliseconds_unless_it_says_sec() {
        assert_eq!(parse_delay("10"), Ok(10));
        assert_eq!(parse_delay("10sec"), Ok(10_000));
        assert_eq!(parse_delay("2secs"), Ok(2_000));
        assert_eq!(parse_delay("0sec"), Ok(0));
        assert!(parse_delay("soon").is_err());
    }
}

//! The answers to a Pipeline `input` step: `input/ID/proceed`, `proceedEmpty`, `submit` and
//! `abort`, the stage view's `wfapi/inputSubmit`, and its `pendingInputActions` view. Denials
//! are `hudson.model.Failure`s (400 with `X-Error`), a settled or unknown id is a 404, and the
//! server fills in no parameter defaults.

use http::StatusCode;
use http::header::HeaderName;
use serde_json::{Map, Value, json};

use super::config::{Anonymous, ParamType};
use super::json::item_path;
use super::model::{Build, Input, Job, Model, ParamDef, ParamValue, Principal};
use super::pages::{error_page, html_escape, html_page, not_found, oops, redirect, requires_post};
use super::wire::{Reply, Req, context_url, request_url, response, set};

/// Whether the caller has Job/Build (and Job/Cancel): every user, and anonymous where it may
/// build.
fn can_build(model: &Model, principal: &Principal) -> bool {
    *principal != Principal::Anonymous || model.anonymous == Anonymous::Build
}

/// `preSubmissionCheck`: who may proceed.
fn check_submit(model: &Model, principal: &Principal, input: &Input) -> Result<(), String> {
    match &input.submitter {
        None if can_build(model, principal) => Ok(()),
        None => Err("You need to have Job/Build permissions to submit this.".to_string()),
        Some(list) => match principal.name() {
            Some(user) if input.may_submit(user) => Ok(()),
            _ => Err(format!("You need to be {list} to submit this.")),
        },
    }
}

/// `preAbortCheck`: Job/Cancel, or whoever may proceed.
fn check_abort(model: &Model, principal: &Principal, input: &Input) -> Result<(), String> {
    if can_build(model, principal) || check_submit(model, principal, input).is_ok() {
        return Ok(());
    }
    Err(match &input.submitter {
        Some(list) => {
            format!("You need to be {list} (or have Job/Cancel permissions) to cancel this.")
        }
        None => "You need to have Job/Cancel permissions to cancel this.".to_string(),
    })
}

/// A `hudson.model.Failure`: 400, its message in `X-Error` and on the page.
fn failure(message: &str) -> Reply {
    let mut reply = error_page(StatusCode::BAD_REQUEST, message);
    set(&mut reply, HeaderName::from_static("x-error"), message);
    reply
}

/// The values of a proceed: only the submitted entries, in their order, no defaults.
fn parse_values(
    input: &Input,
    form: Option<&str>,
) -> Result<Vec<(String, ParamValue)>, (StatusCode, String)> {
    let Some(form) = form else {
        return Err((StatusCode::BAD_REQUEST, "Nothing is submitted".to_string()));
    };
    let parsed: Value = serde_json::from_str(form).map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("net.sf.json.JSONException: {e}"),
        )
    })?;
    let entries = match parsed.get("parameter") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let mut values = Vec::new();
    for entry in &entries {
        let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
        let Some(def) = input.params.iter().find(|d| d.name == name) else {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("java.lang.IllegalArgumentException: No such parameter definition: {name}"),
            ));
        };
        let raw = match entry.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let value = def.value_from(&raw).map_err(|msg| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("java.lang.IllegalArgumentException: {msg}"),
            )
        })?;
        values.push((def.name.clone(), value));
    }
    Ok(values)
}

/// The waiting input named `id` (exactly: ids are case-sensitive), by its index.
fn waiting(build: &Build, id: &str, t: i64) -> Option<usize> {
    build.waiting_input(t).filter(|i| build.inputs[*i].id == id)
}

enum Answer {
    Proceed { empty: bool },
    Abort,
}

/// Settles input `i` as `answer` asks, after its permission check.
fn settle(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    (full_name, number, i): (&str, u32, usize),
    answer: Answer,
) -> Result<(), Box<Reply>> {
    let Some(input) = model
        .job(full_name)
        .and_then(|j| j.builds.get(&number))
        .and_then(|b| b.inputs.get(i))
    else {
        return Err(Box::new(not_found(model).1));
    };
    let user = principal.name().map(str::to_string);
    match answer {
        Answer::Abort => {
            check_abort(model, principal, input).map_err(|m| Box::new(failure(&m)))?;
            let now = model.now();
            model.abort_input((full_name, number, i), user, now);
        }
        Answer::Proceed { empty } => {
            check_submit(model, principal, input).map_err(|m| Box::new(failure(&m)))?;
            let values = if empty {
                Vec::new()
            } else {
                parse_values(input, req.param("json")).map_err(|(status, message)| {
                    Box::new(if status == StatusCode::BAD_REQUEST {
                        error_page(status, &message)
                    } else {
                        oops(model, status, &message)
                    })
                })?
            };
            let now = model.now();
            model.proceed_input((full_name, number, i), user, values, now);
        }
    }
    Ok(())
}

/// `/job/J/N/input/…`.
pub(super) fn input_route(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    full_name: &str,
    number: u32,
    rest: &[&str],
    now: i64,
) -> (&'static str, Reply) {
    let Some(build) = model.job(full_name).and_then(|j| j.builds.get(&number)) else {
        return not_found(model);
    };
    if !build.has_input_action(now) {
        return not_found(model);
    }
    let (id, action) = match rest {
        [] => {
            let page = build.waiting_input(now).map_or(String::new(), |i| {
                let input = &build.inputs[i];
                format!(
                    "<p>{}</p><a href=\"{}/\">{}</a>",
                    html_escape(&input.message),
                    html_escape(&input.id),
                    html_escape(&input.ok)
                )
            });
            return ("input", html_page(model, StatusCode::OK, "Input", &page));
        }
        [id] => (*id, None),
        [id, action] => (*id, Some(*action)),
        _ => return not_found(model),
    };
    let Some(i) = waiting(build, id, now) else {
        return not_found(model);
    };
    let Some(action) = action else {
        let input = &build.inputs[i];
        let fields: String = input
            .params
            .iter()
            .map(|p| format!("<input name=\"{}\"/>", html_escape(&p.name)))
            .collect();
        let page = format!(
            "<form method=\"post\" action=\"submit\"><p>{}</p>{fields}<input type=\"submit\" name=\"proceed\" value=\"{}\"/><input type=\"submit\" name=\"abort\" value=\"Abort\"/></form>",
            html_escape(&input.message),
            html_escape(&input.ok)
        );
        return ("input", html_page(model, StatusCode::OK, "Input", &page));
    };
    let answer = match action {
        "proceed" => Answer::Proceed { empty: false },
        "proceedEmpty" => Answer::Proceed { empty: true },
        "abort" => Answer::Abort,
        // `doSubmit`: without a `proceed` field the submission is an abort.
        "submit" if req.param("proceed").is_some() => Answer::Proceed { empty: false },
        "submit" => Answer::Abort,
        _ => return not_found(model),
    };
    if !req.is_post() {
        return ("input_answer", requires_post(model));
    }
    if let Err(reply) = settle(model, req, principal, (full_name, number, i), answer) {
        return ("input_answer", *reply);
    }
    if action == "submit" {
        // `ConsoleUrlProvider.getRedirectUrl`: the build's console page.
        let path = format!("/{}{number}/console", item_path(full_name));
        let target = if model.at_least(2, 472) {
            context_url(req, &path)
        } else {
            request_url(req, path.trim_start_matches('/'))
        };
        return ("input_answer", redirect(StatusCode::FOUND, &target));
    }
    (
        "input_answer",
        response(StatusCode::OK, "text/html;charset=utf-8", ""),
    )
}

/// `wfapi/inputSubmit?inputId=ID`: `doProceed` behind `@ServeJson`, so success is the literal
/// `null` and every failure a 500.
pub(super) fn input_submit(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    full_name: &str,
    number: u32,
    now: i64,
) -> Reply {
    if !req.is_post() {
        return requires_post(model);
    }
    let fail = |model: &Model, message: &str| {
        oops(
            model,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "java.lang.RuntimeException: Unexpected exception while serving JSON: {message}"
            ),
        )
    };
    let found = model
        .job(full_name)
        .and_then(|j| j.builds.get(&number))
        .and_then(|b| waiting(b, req.param("inputId").unwrap_or(""), now));
    let Some(i) = found else {
        return fail(model, "no such input");
    };
    match settle(
        model,
        req,
        principal,
        (full_name, number, i),
        Answer::Proceed { empty: false },
    ) {
        Ok(()) => super::wfapi::reply(&Value::Null, &req.context),
        Err(_) => fail(model, "the input could not be submitted"),
    }
}

/// `InputParameterDefExt`: `definition` has `defaultVal` (the plain text of a password, as
/// Jenkins exposes it) and, for a choice, `choices`; a text parameter gets `{}`.
fn parameter_ext(def: &ParamDef) -> Value {
    let ty = match def.kind {
        ParamType::String => "StringParameterDefinition",
        ParamType::Text => "TextParameterDefinition",
        ParamType::Boolean => "BooleanParameterDefinition",
        ParamType::Choice => "ChoiceParameterDefinition",
        ParamType::Password => "PasswordParameterDefinition",
    };
    let default = match &def.default {
        ParamValue::Bool(b) => json!(b),
        ParamValue::Text { value, .. } => json!(value),
    };
    let definition = match def.kind {
        ParamType::Text => json!({}),
        ParamType::Choice => json!({"defaultVal": default, "choices": def.choices}),
        _ => json!({"defaultVal": default}),
    };
    let mut map = Map::new();
    map.insert("type".to_string(), json!(ty));
    map.insert("name".to_string(), json!(def.name));
    if !def.description.is_empty() {
        map.insert("description".to_string(), json!(def.description));
    }
    map.insert("definition".to_string(), definition);
    Value::Object(map)
}

/// `PendingInputActionsExt` of one waiting input; hrefs relative to the context path.
fn pending_ext(job: &Job, build: &Build, input: &Input) -> Value {
    let base = format!("/{}{}/", item_path(&job.full_name), build.number);
    json!({
        "id": input.id,
        "proceedText": input.ok,
        "message": input.message,
        "inputs": input.params.iter().map(parameter_ext).collect::<Vec<_>>(),
        "proceedUrl": format!("{base}wfapi/inputSubmit?inputId={}", input.id),
        "abortUrl": format!("{base}input/{}/abort", input.id),
        "redirectApprovalUrl": format!("{base}input/"),
    })
}

/// `wfapi/pendingInputActions`.
pub(super) fn pending(job: &Job, build: &Build, t: i64) -> Value {
    let waiting = build.waiting_input(t).map(|i| &build.inputs[i]);
    Value::Array(
        waiting
            .into_iter()
            .map(|input| pending_ext(job, build, input))
            .collect(),
    )
}

/// `wfapi/nextPendingInputAction`: the first waiting input, or `null`.
pub(super) fn next_pending(job: &Job, build: &Build, t: i64) -> Value {
    build
        .waiting_input(t)
        .map_or(Value::Null, |i| pending_ext(job, build, &build.inputs[i]))
}

//! The control routes under `/__sandbox/`: what tests and benchmarks use to switch faults, play
//! restarts and outside triggers, and read what the sandbox saw. They are never faulted, never
//! authenticated and never counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::{Faults, JobConfig, check_build_spec, check_job_path};
use super::model::{Build, Cause, Model, NEVER, ParamValue, TriggerRecord};
use super::shared::Shared;
use super::wire::{Reply, Req, response};

pub const PREFIX: &str = "/__sandbox/";

fn reply_json(status: StatusCode, value: &Value) -> Reply {
    response(
        status,
        "application/json",
        serde_json::to_string(value).unwrap_or_default(),
    )
}

fn bad(message: impl Into<String>) -> Reply {
    reply_json(StatusCode::BAD_REQUEST, &json!({"error": message.into()}))
}

fn body<'a, T: Deserialize<'a>>(req: &'a Req) -> Result<T, String> {
    let text = if req.body.is_empty() {
        &b"{}"[..]
    } else {
        &req.body[..]
    };
    serde_json::from_slice(text).map_err(|e| format!("invalid JSON body: {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartBody {
    #[serde(default)]
    duration: Option<crate::duration::Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    job: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildRef {
    job: String,
    number: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    speed: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobState {
    job: String,
    disabled: bool,
}

pub fn handle(shared: &Arc<Shared>, req: &Req) -> Reply {
    let route = req.path.trim_start_matches(PREFIX).trim_end_matches('/');
    let mut model = shared.lock();
    let now = model.now();
    model.advance(now);
    match (&req.method, route) {
        (&Method::GET, "stats") => {
            let in_flight = shared.in_flight.load(Ordering::SeqCst);
            let max_in_flight = shared.max_in_flight.load(Ordering::SeqCst);
            reply_json(StatusCode::OK, &stats(&model, in_flight, max_in_flight))
        }
        (&Method::POST, "stats/reset") => {
            model.stats = Default::default();
            // Jenkins requests still in flight keep counting; control requests never count.
            shared
                .max_in_flight
                .store(shared.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
            reply_json(StatusCode::OK, &json!({"reset": true}))
        }
        (&Method::GET, "requests") => reply_json(
            StatusCode::OK,
            &serde_json::to_value(&model.stats.log).unwrap_or_default(),
        ),
        (&Method::GET, "builds") => reply_json(StatusCode::OK, &builds(&model, now)),
        (&Method::GET, "time") => reply_json(
            StatusCode::OK,
            &json!({"now_ms": now, "speed": model.clock.speed()}),
        ),
        (&Method::POST, "clock") => match body::<ClockBody>(req) {
            Ok(b) if b.speed.is_finite() && b.speed > 0.0 => {
                model.clock.set_speed(b.speed);
                reply_json(StatusCode::OK, &json!({"speed": b.speed}))
            }
            Ok(_) => bad("speed must be above 0"),
            Err(message) => bad(message),
        },
        (&Method::GET, "faults") => reply_json(
            StatusCode::OK,
            &serde_json::to_value(&model.faults).unwrap_or_default(),
        ),
        (&Method::POST | &Method::PUT, "faults") => match body::<Faults>(req) {
            Ok(faults) => {
                if !(0.0..=1.0).contains(&faults.error_rate)
                    || !(0.0..=1.0).contains(&faults.reset_rate)
                {
                    return bad("rates must be between 0.0 and 1.0");
                }
                if faults
                    .error_status
                    .is_some_and(|s| !(500..=599).contains(&s))
                {
                    return bad("error_status must be a 5xx status");
                }
                model.faults = faults;
                reply_json(
                    StatusCode::OK,
                    &serde_json::to_value(&model.faults).unwrap_or_default(),
                )
            }
            Err(message) => bad(message),
        },
        (&Method::POST, "restart") => match body::<RestartBody>(req) {
            Ok(b) => {
                let duration = b.duration.map_or(5_000, |d| d.as_millis() as i64);
                model.restart(now, duration);
                reply_json(
                    StatusCode::OK,
                    &json!({"until_ms": now + duration, "session": model.session_hash}),
                )
            }
            Err(message) => bad(message),
        },
        (&Method::POST, "sessions/invalidate") => {
            let count = model.sessions.len();
            model.sessions.clear();
            reply_json(StatusCode::OK, &json!({"invalidated": count}))
        }
        (&Method::POST, "trigger") => match body::<TriggerBody>(req) {
            Ok(b) => external_trigger(&mut model, b),
            Err(message) => bad(message),
        },
        (&Method::POST, "delete-build") => match body::<BuildRef>(req) {
            Ok(b) => {
                let deleted = model.delete_build(&b.job, b.number);
                let status = if deleted {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                };
                reply_json(status, &json!({"deleted": deleted}))
            }
            Err(message) => bad(message),
        },
        (&Method::POST, "jobs") => match body::<JobConfig>(req) {
            Ok(job) => {
                if let Err(message) = check_job_path(&job.path) {
                    return bad(message);
                }
                for spec in job.history.iter().chain(&job.builds) {
                    if let Err(message) = check_build_spec(spec) {
                        return bad(format!("job `{}`: {message}", job.path));
                    }
                }
                model.put_job(&job);
                reply_json(StatusCode::OK, &json!({"job": job.path}))
            }
            Err(message) => bad(message),
        },
        (&Method::POST, "job-state") => match body::<JobState>(req) {
            Ok(b) => match model.job_mut(&b.job) {
                Some(job) => {
                    job.disabled = b.disabled;
                    reply_json(
                        StatusCode::OK,
                        &json!({"job": b.job, "disabled": b.disabled}),
                    )
                }
                None => reply_json(StatusCode::NOT_FOUND, &json!({"error": "no such job"})),
            },
            Err(message) => bad(message),
        },
        _ => reply_json(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no control route {} {route}", req.method)}),
        ),
    }
}

/// Someone else triggers a job now, so that `lastBuild` is not the build a client started.
fn external_trigger(model: &mut Model, body: TriggerBody) -> Reply {
    let Some(job) = model.job(&body.job) else {
        return reply_json(StatusCode::NOT_FOUND, &json!({"error": "no such job"}));
    };
    let params = if job.is_parameterized() {
        let submitted: Vec<(String, String)> = body.params.clone().into_iter().collect();
        match Model::values_from_request(job, &submitted) {
            Ok(v) => Some(v),
            Err(message) => return bad(message),
        }
    } else {
        None
    };
    let user = body.user.unwrap_or_else(|| "someone-else".to_string());
    let body_user = user.clone();
    let (id, created) = model.schedule(&body.job, params, Cause::User(Some(user.clone())), None);
    let record = TriggerRecord {
        at_ms: model.now(),
        job: body.job.clone(),
        endpoint: "control".to_string(),
        user: Some(user),
        params: body.params.into_iter().collect(),
        status: 201,
        queue_id: Some(id),
        created,
        external: true,
        cause: format!("Started by user {}", body_user),
    };
    model.record_trigger(record);
    reply_json(
        StatusCode::CREATED,
        &json!({"queue_id": id, "created": created}),
    )
}

fn stats(model: &Model, in_flight: usize, max_in_flight: usize) -> Value {
    json!({
        "requests": model.stats.requests,
        "bytes": model.stats.bytes,
        "in_flight": in_flight,
        "max_in_flight": max_in_flight,
        "faults_injected": model.stats.faults_injected,
        "reads_without_tree": model.stats.reads_without_tree,
        "routes": model.stats.routes,
        "triggers": model.stats.triggers,
        // `[sandbox epoch second, requests]`, in time order, seconds without requests left out.
        "requests_per_second": model.stats.per_second.iter().collect::<Vec<_>>(),
    })
}

fn builds(model: &Model, now: i64) -> Value {
    let mut out = Vec::new();
    let mut names: Vec<&String> = model.nodes.keys().collect();
    names.sort();
    for name in names {
        let Some(job) = model.job(name) else {
            continue;
        };
        for build in job.builds.values() {
            let status = build.status(now);
            let params: BTreeMap<String, String> = build
                .params
                .iter()
                .flatten()
                .map(|(n, v): &(String, ParamValue)| (n.clone(), v.display()))
                .collect();
            out.push(json!({
                "job": job.full_name,
                "number": build.number,
                "queue_id": build.queue_id,
                "start_ms": build.start,
                "end_ms": (build.end != NEVER).then_some(build.end),
                "observed_started_ms": build.observed_start,
                "observed_done_ms": build.observed_done,
                "building": status.building,
                "result": status.result.map(|r| r.name()),
                "params": params,
                "aborted": build.aborted.is_some(),
                "description": build.description,
                "display_name": build.display_name(),
                "causes": build.causes.iter().map(|c| c.short_description()).collect::<Vec<_>>(),
                "inputs": inputs(build, now),
            }));
        }
    }
    Value::Array(out)
}

/// Each input of a build: `pending` before the build reaches it, `waiting`, then `proceeded`
/// (by whom, with which values) or `aborted`.
fn inputs(build: &Build, now: i64) -> Value {
    let waiting = build.waiting_input(now);
    Value::Array(
        build
            .inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let (outcome, by, at, values) = match &input.outcome {
                    Some(o) => (
                        if o.proceeded { "proceeded" } else { "aborted" },
                        o.by.clone(),
                        Some(o.at),
                        o.values
                            .iter()
                            .map(|(n, v)| (n.clone(), v.display()))
                            .collect::<BTreeMap<_, _>>(),
                    ),
                    None if waiting == Some(i) => ("waiting", None, None, BTreeMap::new()),
                    None => ("pending", None, None, BTreeMap::new()),
                };
                json!({
                    "id": input.id,
                    "message": input.message,
                    "paused_at_ms": build.paused_at(i, now),
                    "outcome": outcome,
                    "by": by,
                    "answered_at_ms": at,
                    "params": values,
                })
            })
            .collect(),
    )
}

//! A build's console as served: `logText/progressiveText` in chunks, and `consoleText`.

use http::StatusCode;
use http::header::HeaderName;

use super::log::{self, Log};
use super::model::Model;
use super::pages::{not_found, oops};
use super::wire::{Reply, Req, response, set};

fn log_of(model: &Model, full_name: &str, number: u32, now: i64) -> Option<Log> {
    let job = model.job(full_name)?;
    let build = job.builds.get(&number)?;
    Some(log::render(job, build, now, model.console_notes))
}

pub(super) fn progressive_text(
    model: &Model,
    req: &Req,
    full_name: &str,
    number: u32,
    now: i64,
) -> (&'static str, Reply) {
    let Some(log) = log_of(model, full_name, number, now) else {
        return not_found(model);
    };
    let start = match req.param("start").map(|s| s.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return (
                "log",
                oops(
                    model,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "java.lang.NumberFormatException",
                ),
            );
        }
    };
    let raw = log.text.as_bytes();
    // An offset past the end reads the whole log again, as LargeText does.
    let start = if start > raw.len() { 0 } else { start };
    let chunk = String::from_utf8_lossy(&raw[start..]).into_owned();
    // Up to 2.508 the plain text had annotations stripped; since 2.509 the raw bytes are sent.
    let chunk = if model.at_least(2, 509) {
        chunk
    } else {
        log::strip_notes(&chunk)
    };
    let body = chunk.replace('\n', "\r\n");
    let mut reply = response(StatusCode::OK, "text/plain;charset=utf-8", body);
    set(
        &mut reply,
        HeaderName::from_static("x-text-size"),
        &raw.len().to_string(),
    );
    if log.more {
        set(&mut reply, HeaderName::from_static("x-more-data"), "true");
    }
    ("log", reply)
}

/// The whole log as plain text, console notes stripped.
pub(super) fn console_text(
    model: &Model,
    full_name: &str,
    number: u32,
    now: i64,
) -> (&'static str, Reply) {
    let Some(log) = log_of(model, full_name, number, now) else {
        return not_found(model);
    };
    let text = log::strip_notes(&log.text);
    (
        "console",
        response(StatusCode::OK, "text/plain;charset=utf-8", text),
    )
}

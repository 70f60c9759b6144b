//! The exported-bean API (`api/json`, `api/python`): `tree=`, `depth=`, `pretty`, `jsonp`, and
//! what a client was shown.

use http::StatusCode;
use serde_json::Value;

use super::model::Model;
use super::pages::{advertise, error_page, oops};
use super::pyapi;
use super::tree::{Budget, Pruner, Tree};
use super::wire::{Reply, Req, response};

pub(super) enum Format {
    Json,
    Python,
    Xml,
}

pub(super) fn format_of(name: &str) -> Option<Format> {
    match name {
        "json" => Some(Format::Json),
        "python" => Some(Format::Python),
        "xml" => Some(Format::Xml),
        _ => None,
    }
}

/// Serves an exported bean: `tree=`, `depth=`, `pretty`, `jsonp`, and Jenkins' API headers.
/// `render` writes the bean through the pruner that `tree` or `depth` make.
pub(super) fn api(
    model: &Model,
    req: &Req,
    render: impl FnOnce(Pruner) -> Value,
    format: Format,
) -> Reply {
    api_shown(model, req, render, format).0
}

/// `api`, also handing back what the caller was shown, or `None` when the answer was an error,
/// so that routes can record what a client has seen.
pub(super) fn api_shown(
    model: &Model,
    req: &Req,
    render: impl FnOnce(Pruner) -> Value,
    format: Format,
) -> (Reply, Option<Value>) {
    if req.param("jsonp").is_some() {
        let reply = error_page(
            StatusCode::FORBIDDEN,
            "jsonp forbidden; implement jenkins.security.SecureRequester",
        );
        return (reply, None);
    }
    let (depth, tree) = match depth_and_tree(req) {
        Ok(v) => v,
        Err(msg) => {
            let reply = oops(model, StatusCode::INTERNAL_SERVER_ERROR, &msg);
            return (reply, None);
        }
    };
    let budget = Budget::new(Budget::PROPERTIES);
    let pruner = match &tree {
        Some(tree) => Pruner::named(tree, &budget),
        None => Pruner::depth(depth, &budget),
    };
    let value = render(pruner);
    if budget.exhausted() {
        let reply = oops(
            model,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The sandbox does not write answers this large: ask for a narrower tree or depth",
        );
        return (reply, None);
    }
    let mut reply = match format {
        Format::Json => {
            let body = if req.param("pretty").is_some() {
                serde_json::to_string_pretty(&value)
            } else {
                serde_json::to_string(&value)
            };
            response(
                StatusCode::OK,
                "application/json;charset=utf-8",
                body.unwrap_or_default(),
            )
        }
        Format::Python => response(
            StatusCode::OK,
            "text/x-python;charset=utf-8",
            pyapi::to_python(&value),
        ),
        Format::Xml => {
            let reply = error_page(
                StatusCode::NOT_FOUND,
                "The XML API of the sandbox is limited to the crumb issuer",
            );
            return (reply, None);
        }
    };
    advertise(model, &mut reply, false);
    (reply, Some(value))
}

/// Whether a build as a client was shown it says it has finished: `building: false` is what
/// clients wait for (`result` alone is already set during post-build steps).
pub(super) fn shows_finished(build: &Value) -> bool {
    build.get("building") == Some(&Value::Bool(false))
}

/// The builds a job's JSON showed finished, wherever they appear in it (`builds`, `allBuilds`,
/// permalinks, `firstBuild`); only the top level holds builds, so that is all it looks at.
pub(super) fn finished_builds_shown(job: &Value) -> Vec<u32> {
    let Value::Object(map) = job else {
        return Vec::new();
    };
    let mut numbers = Vec::new();
    for value in map.values() {
        let items = match value {
            Value::Array(items) => items.as_slice(),
            Value::Object(_) => std::slice::from_ref(value),
            _ => continue,
        };
        numbers.extend(
            items
                .iter()
                .filter(|b| shows_finished(b))
                .filter_map(|b| b.get("number").and_then(Value::as_u64))
                .filter_map(|n| u32::try_from(n).ok()),
        );
    }
    numbers
}

fn depth_and_tree(req: &Req) -> Result<(i32, Option<Tree>), String> {
    let tree = match req.param("tree") {
        None => None,
        Some(t) => Some(Tree::parse(t).map_err(|e| e.to_string())?),
    };
    // A `tree` makes Stapler ignore `depth` entirely, even a malformed one.
    let depth = match (req.param("depth"), &tree) {
        (Some(d), None) => d.parse::<i32>().map_err(|_| {
            "javax.servlet.ServletException: Depth parameter must be a number".to_string()
        })?,
        _ => 0,
    };
    Ok((depth, tree))
}

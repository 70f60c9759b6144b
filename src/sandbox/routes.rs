//! Stapler-like dispatch of a URL onto the model: restarts, authentication, CSRF and
//! Overall/Read first, then the root, user, queue and job routes.

use http::StatusCode;

use super::api::{api, format_of};
use super::auth::{authenticate, check_crumb, crumb, refused, set_session_cookie};
use super::config::Anonymous;
use super::jobs::job_route;
use super::json::{self, Ctx};
use super::model::{Model, Principal};
use super::pages::{html_page, login_required, not_found, restarting};
use super::queue::{cancel_item, queue_item};
use super::wire::{Reply, Req, base_url};

pub(super) fn route(model: &mut Model, req: &Req) -> (&'static str, Reply) {
    let now = model.now();
    model.advance(now);
    if model.is_restarting(now) {
        return ("restarting", restarting(model));
    }
    let principal = match authenticate(model, req) {
        Ok(p) => p,
        Err(()) => return ("unauthorized", refused(model, req)),
    };
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();

    let (mut session, mut new_session) = match check_crumb(model, req, &principal) {
        Ok(sessions) => (sessions.current, sessions.created),
        Err(reply) => return ("crumb_rejected", *reply),
    };

    // Overall/Read is checked by Stapler dispatch, after the CSRF filter.
    if principal == Principal::Anonymous
        && model.anonymous == Anonymous::None
        && !matches!(segs.first(), Some(&"login"))
    {
        return (
            "forbidden",
            login_required(model, req, "hudson.model.Hudson.Read"),
        );
    }

    let (route, mut reply) = match segs.as_slice() {
        [] => (
            "dashboard",
            html_page(model, StatusCode::OK, "Dashboard", ""),
        ),
        ["login"] => ("login", html_page(model, StatusCode::OK, "Sign in", "")),
        ["api", fmt] => match format_of(fmt) {
            Some(f) => {
                let base = base_url(model, req);
                let cx = Ctx {
                    model,
                    base: &base,
                    t: now,
                };
                ("root", api(model, req, |p| json::root(cx, p), f))
            }
            None => not_found(model),
        },
        ["whoAmI", "api", fmt] => match format_of(fmt) {
            Some(f) => {
                let name = principal.crumb_name().to_string();
                let anonymous = principal == Principal::Anonymous;
                let value = serde_json::json!({
                    "_class": "hudson.security.WhoAmI",
                    "anonymous": anonymous,
                    "authenticated": !anonymous,
                    "authorities": if anonymous { vec![] } else { vec!["authenticated"] },
                    "details": null,
                    "name": name,
                    "toString": format!("{name}"),
                });
                ("whoami", api(model, req, |p| p.plain(value), f))
            }
            None => not_found(model),
        },
        ["me", "api", fmt] => user_route(model, req, principal.name(), fmt),
        ["user", name, "api", fmt] => {
            let known = model.users.iter().any(|u| u.name == *name);
            user_route(model, req, known.then_some(*name), fmt)
        }
        ["crumbIssuer", "api", fmt] => {
            let (route, reply) = crumb(model, req, &principal, &mut session, fmt);
            if session.is_some()
                && new_session.is_none()
                && req.cookie(&model.cookie_name) != session
            {
                new_session = session.clone();
            }
            (route, reply)
        }
        ["queue", "api", fmt] => match format_of(fmt) {
            Some(f) => {
                let base = base_url(model, req);
                let cx = Ctx {
                    model,
                    base: &base,
                    t: now,
                };
                ("queue", api(model, req, |p| json::queue(cx, p), f))
            }
            None => not_found(model),
        },
        ["queue", "item", id, rest @ ..] => queue_item(model, req, id, rest, now),
        ["queue", "cancelItem"] => cancel_item(model, req),
        ["job", ..] => job_route(model, req, &principal, &segs, now),
        _ => not_found(model),
    };
    set_session_cookie(model, &mut reply, new_session.as_deref());
    (route, reply)
}

/// `hudson.model.User`, for `/me` and `/user/NAME`; anonymous has no user page.
fn user_route(model: &Model, req: &Req, name: Option<&str>, fmt: &str) -> (&'static str, Reply) {
    let (Some(name), Some(format)) = (name, format_of(fmt)) else {
        return not_found(model);
    };
    let base = base_url(model, req);
    let value = serde_json::json!({
        "_class": "hudson.model.User",
        "absoluteUrl": format!("{base}user/{}", name.to_lowercase()),
        "description": null,
        "fullName": name,
        "id": name,
        "property": [],
    });
    ("user", api(model, req, |p| p.plain(value), format))
}

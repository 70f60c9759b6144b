//! The HTTP face of the sandbox: Jenkins' filter chain (faults and restarts, authentication,
//! CSRF) in front of Stapler-like URL dispatch onto the model.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use super::Shared;
use super::config::{Anonymous, FaultScope, JobConfig, JobKind, ParamConfig, check_job_path};
use super::json::{self, Ctx};
use super::model::{Cause, Model, Principal, TriggerRecord};
use super::tree::{Budget, Pruner, Tree};
use super::{control, pyapi};

/// The service's error: hyper closes the connection without an answer, which is how the
/// sandbox drops a request on purpose.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the sandbox")]
pub struct Dropped;

pub type Reply = Response<Full<Bytes>>;

/// What the routes need of a request, read once.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub segments: Vec<String>,
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub host: String,
    pub peer: IpAddr,
    pub body: Bytes,
}

impl Req {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    fn is_post(&self) -> bool {
        self.method == Method::POST
    }
}

const BODY_LIMIT: usize = 1 << 20;

pub async fn handle(
    shared: Arc<Shared>,
    request: Request<hyper::body::Incoming>,
    peer: IpAddr,
) -> Result<Reply, Dropped> {
    // Control routes are never counted, so `max_in_flight` measures the client under test alone.
    if request.uri().path().starts_with(control::PREFIX) {
        return serve(&shared, request, peer).await;
    }
    let in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    let result = serve(&shared, request, peer).await;
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    result
}

async fn serve(
    shared: &Arc<Shared>,
    request: Request<hyper::body::Incoming>,
    peer: IpAddr,
) -> Result<Reply, Dropped> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
            ));
        }
    };
    let raw_path = parts.uri.path().to_string();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let mut params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    let segments = decode_segments(&raw_path);
    let req = Req {
        method: parts.method,
        path: raw_path,
        segments: segments.clone().unwrap_or_default(),
        params,
        headers: parts.headers,
        host,
        peer,
        body,
    };
    if req.path.starts_with("/__sandbox/") {
        return Ok(control::handle(shared, &req));
    }

    let fault = decide_fault(shared, &req);
    if !fault.latency.is_zero() {
        tokio::time::sleep(fault.latency).await;
    }
    match fault.action {
        FaultAction::DropBefore => return Err(Dropped),
        FaultAction::Error(status) => {
            let reply = error_page(status, status.canonical_reason().unwrap_or("Server Error"));
            record(shared, &req, "fault", &reply);
            return Ok(reply);
        }
        FaultAction::None | FaultAction::DropAfter => {}
    }

    let (route, reply) = if req.path.contains(';') {
        (
            "rejected",
            error_page(
                StatusCode::BAD_REQUEST,
                "Semicolons are not allowed in the request URI",
            ),
        )
    } else if segments.is_none() {
        (
            "rejected",
            error_page(StatusCode::BAD_REQUEST, "Malformed URL encoding"),
        )
    } else {
        let mut model = shared.lock();
        route(&mut model, &req)
    };
    let mut reply = reply;
    // The controller's own clock, which runs at the sandbox's speed.
    let now = shared.lock().now();
    set(&mut reply, header::DATE, &http_date(now));
    record(shared, &req, route, &reply);
    if fault.action == FaultAction::DropAfter {
        return Err(Dropped);
    }
    Ok(reply)
}

/// An IMF-fixdate (`Tue, 01 Dec 2026 05:29:48 GMT`) for epoch milliseconds.
fn http_date(epoch_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn decode_segments(path: &str) -> Option<Vec<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect()
}

fn record(shared: &Shared, req: &Req, route: &str, reply: &Reply) {
    use hyper::body::Body as _;
    let bytes = reply.body().size_hint().exact().unwrap_or(0);
    let key = format!("{} {route}", req.method);
    let mut model = shared.lock();
    let second = model.now().div_euclid(1000);
    let stats = &mut model.stats;
    stats.requests += 1;
    stats.bytes += bytes;
    *stats.per_second.entry(second).or_default() += 1;
    // Reads of the JSON API that fetch whole objects instead of the fields they need.
    if req.path.ends_with("/api/json") && req.param("tree").is_none() {
        stats.reads_without_tree += 1;
    }
    let entry = stats.routes.entry(key).or_default();
    entry.count += 1;
    entry.bytes += bytes;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultAction {
    None,
    Error(StatusCode),
    DropBefore,
    DropAfter,
}

struct Fault {
    latency: std::time::Duration,
    action: FaultAction,
}

fn is_trigger_path(segments: &[String]) -> bool {
    matches!(
        segments.last().map(String::as_str),
        Some("build" | "buildWithParameters")
    )
}

fn decide_fault(shared: &Shared, req: &Req) -> Fault {
    let mut model = shared.lock();
    let faults = model.faults.clone();
    let in_scope = match faults.scope {
        FaultScope::All => true,
        FaultScope::Reads => matches!(req.method, Method::GET | Method::HEAD),
        FaultScope::Posts => req.is_post(),
        FaultScope::Triggers => is_trigger_path(&req.segments),
    };
    let latency = if in_scope {
        faults.latency.0
    } else {
        std::time::Duration::ZERO
    };
    if !in_scope {
        return Fault {
            latency,
            action: FaultAction::None,
        };
    }
    let status = StatusCode::from_u16(faults.error_status.unwrap_or(503))
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let drop = if faults.reset_after_processing {
        FaultAction::DropAfter
    } else {
        FaultAction::DropBefore
    };
    let action = if faults.error_burst > 0 {
        model.faults.error_burst -= 1;
        FaultAction::Error(status)
    } else if faults.reset_burst > 0 {
        model.faults.reset_burst -= 1;
        drop
    } else if faults.error_rate > 0.0 && model.rng.f64() < faults.error_rate {
        FaultAction::Error(status)
    } else if faults.reset_rate > 0.0 && model.rng.f64() < faults.reset_rate {
        drop
    } else {
        FaultAction::None
    };
    if action != FaultAction::None {
        model.stats.faults_injected += 1;
    }
    Fault { latency, action }
}

// ---- responses ----

pub fn response(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    set(&mut reply, header::CONTENT_TYPE, content_type);
    reply
}

fn set(reply: &mut Reply, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        reply.headers_mut().insert(name, value);
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The servlet container's error page for `sendError(status, message)`.
pub fn error_page(status: StatusCode, message: &str) -> Reply {
    let code = status.as_u16();
    let message = html_escape(message);
    let body = format!(
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n\
         <title>Error {code} {message}</title>\n</head>\n<body><h2>HTTP ERROR {code} {message}</h2>\n\
         <table>\n<tr><th>STATUS:</th><td>{code}</td></tr>\n<tr><th>MESSAGE:</th><td>{message}</td></tr>\n\
         <tr><th>SERVLET:</th><td>Stapler</td></tr>\n</table>\n<hr/><a href=\"https://jetty.org/\">Powered by Jetty:// 12.0.x</a><hr/>\n\n</body>\n</html>\n"
    );
    response(status, "text/html;charset=iso-8859-1", body)
}

fn advertise(model: &Model, reply: &mut Reply, html: bool) {
    set(
        reply,
        HeaderName::from_static("x-jenkins"),
        &model.version_text,
    );
    set(
        reply,
        HeaderName::from_static("x-jenkins-session"),
        &model.session_hash,
    );
    set(
        reply,
        HeaderName::from_static("x-content-type-options"),
        "nosniff",
    );
    if html {
        set(reply, HeaderName::from_static("x-hudson"), "1.395");
    } else {
        set(reply, HeaderName::from_static("x-frame-options"), "deny");
    }
}

fn html_page(model: &Model, status: StatusCode, title: &str, body: &str) -> Reply {
    let mut reply = response(
        status,
        "text/html;charset=utf-8",
        format!(
            "<!DOCTYPE html><html><head><title>{} [Jenkins]</title></head><body>{}</body></html>\n",
            html_escape(title),
            body
        ),
    );
    advertise(model, &mut reply, true);
    reply
}

fn not_found(model: &Model) -> (&'static str, Reply) {
    (
        "not_found",
        html_page(
            model,
            StatusCode::NOT_FOUND,
            "Not Found",
            "<h2>Not Found</h2>",
        ),
    )
}

/// `@RequirePOST`'s retry page for a GET.
fn requires_post(model: &Model) -> Reply {
    let mut reply = html_page(
        model,
        StatusCode::METHOD_NOT_ALLOWED,
        "This URL requires POST",
        "<p>This URL requires POST</p><form method=\"POST\"><input type=\"submit\" value=\"Try POSTing\"/></form>",
    );
    set(&mut reply, header::ALLOW, "POST");
    reply
}

/// The 403 that an anonymous caller without a permission gets: a page that sends it to login.
fn login_required(model: &Model, req: &Req, permission: &str) -> Reply {
    let mut reply = html_page(
        model,
        StatusCode::FORBIDDEN,
        "Authentication required",
        &format!(
            "<script>window.location.replace('/login?from={}');</script>Authentication required",
            html_escape(&req.path)
        ),
    );
    set(
        &mut reply,
        HeaderName::from_static("x-you-are-authenticated-as"),
        "anonymous",
    );
    set(
        &mut reply,
        HeaderName::from_static("x-you-are-in-group-disabled"),
        "JENKINS-39402: use -Dhudson.security.AccessDeniedException2.REPORT_GROUP_HEADERS=true or use /whoAmI to diagnose",
    );
    set(
        &mut reply,
        HeaderName::from_static("x-required-permission"),
        permission,
    );
    reply
}

fn unauthorized() -> Reply {
    let mut reply = error_page(StatusCode::UNAUTHORIZED, "Unauthorized");
    set(
        &mut reply,
        header::WWW_AUTHENTICATE,
        "Basic realm=\"Jenkins\"",
    );
    reply
}

/// A bare redirect: Jenkins sends these with an empty body and none of its API headers.
fn redirect(status: StatusCode, location: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = status;
    set(&mut reply, header::LOCATION, location);
    reply
}

enum Format {
    Json,
    Python,
    Xml,
}

fn format_of(name: &str) -> Option<Format> {
    match name {
        "json" => Some(Format::Json),
        "python" => Some(Format::Python),
        "xml" => Some(Format::Xml),
        _ => None,
    }
}

/// Serves an exported bean: `tree=`, `depth=`, `pretty`, `jsonp`, and Jenkins' API headers.
/// `render` writes the bean through the pruner that `tree` or `depth` make.
fn api(model: &Model, req: &Req, render: impl FnOnce(Pruner) -> Value, format: Format) -> Reply {
    api_shown(model, req, render, format).0
}

/// `api`, also handing back what the caller was shown, or `None` when the answer was an error,
/// so that routes can record what a client has seen.
fn api_shown(
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
fn shows_finished(build: &Value) -> bool {
    build.get("building") == Some(&Value::Bool(false))
}

/// The builds a job's JSON showed finished, wherever they appear in it (`builds`, `allBuilds`,
/// permalinks, `firstBuild`); only the top level holds builds, so that is all it looks at.
fn finished_builds_shown(job: &Value) -> Vec<u32> {
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

/// Jenkins' "Oops!" page for an exception, with the status preserved.
fn oops(model: &Model, status: StatusCode, message: &str) -> Reply {
    html_page(
        model,
        status,
        "Jenkins",
        &format!(
            "<h1>Oops!</h1><p>A problem occurred while processing the request.</p><pre>{}</pre>",
            html_escape(message)
        ),
    )
}

// ---- the filter chain and dispatch ----

/// Basic credentials: an API token, else the password; anything wrong is a 401.
fn authenticate(model: &Model, req: &Req) -> Result<Principal, ()> {
    use base64::Engine as _;
    // BasicHeaderProcessor matches the scheme case-insensitively and ignores other schemes.
    let Some(encoded) = req
        .header("authorization")
        .filter(|v| v.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("basic ")))
        .map(|v| &v[6..])
    else {
        return Ok(Principal::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let Some((name, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Err(());
    };
    let Some(user) = model.users.iter().find(|u| u.name == name) else {
        return Err(());
    };
    if user.tokens.iter().any(|t| t == secret) {
        Ok(Principal::Token(user.name.clone()))
    } else if user.password.as_deref() == Some(secret) {
        Ok(Principal::Password(user.name.clone()))
    } else {
        Err(())
    }
}

fn route(model: &mut Model, req: &Req) -> (&'static str, Reply) {
    let now = model.now();
    model.advance(now);
    if model.is_restarting(now) {
        let mut reply = html_page(
            model,
            StatusCode::SERVICE_UNAVAILABLE,
            "Starting Jenkins",
            "<h1>Please wait while Jenkins is getting ready to work...</h1><p>Your browser will reload automatically when Jenkins is ready.</p>",
        );
        set(&mut reply, header::EXPIRES, "0");
        set(
            &mut reply,
            header::CACHE_CONTROL,
            "no-cache,no-store,must-revalidate",
        );
        return ("restarting", reply);
    }
    let principal = match authenticate(model, req) {
        Ok(p) => p,
        Err(()) => return ("unauthorized", unauthorized()),
    };
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();

    let mut session = req
        .cookie(&model.cookie_name)
        .filter(|s| model.sessions.contains_key(s));
    let mut new_session = None;
    if req.is_post() && model.csrf && !matches!(principal, Principal::Token(_)) {
        let sid = match &session {
            Some(s) => s.clone(),
            None => {
                let s = model.new_session();
                new_session = Some(s.clone());
                s
            }
        };
        let given = req
            .header("jenkins-crumb")
            .or_else(|| req.param("Jenkins-Crumb"));
        if given != Some(model.crumb(&principal, &sid).as_str()) {
            let mut reply = error_page(
                StatusCode::FORBIDDEN,
                "No valid crumb was included in the request",
            );
            set_session_cookie(model, &mut reply, new_session.as_deref());
            return ("crumb_rejected", reply);
        }
        session = Some(sid);
    }

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

fn set_session_cookie(model: &Model, reply: &mut Reply, session: Option<&str>) {
    if let Some(sid) = session {
        let cookie = format!("{}={sid}; Path=/; HttpOnly", model.cookie_name);
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            reply.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// `url` fields use the configured root URL, else the address the request came in on.
fn base_url(model: &Model, req: &Req) -> String {
    model
        .root_url
        .clone()
        .unwrap_or_else(|| format!("http://{}/", req.host))
}

/// `Location` always reflects the Host of the request, never the root URL.
fn request_url(req: &Req, path: &str) -> String {
    format!("http://{}/{path}", req.host)
}

fn crumb(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    session: &mut Option<String>,
    fmt: &str,
) -> (&'static str, Reply) {
    if !model.csrf {
        return not_found(model);
    }
    let Some(format) = format_of(fmt) else {
        return not_found(model);
    };
    // Issuing a crumb creates the session it is bound to.
    let sid = match session {
        Some(s) => s.clone(),
        None => {
            let s = model.new_session();
            *session = Some(s.clone());
            s
        }
    };
    let crumb = model.crumb(principal, &sid);
    match format {
        Format::Xml => {
            let reply = match req.param("xpath") {
                None => response(
                    StatusCode::OK,
                    "application/xml;charset=utf-8",
                    format!(
                        "<defaultCrumbIssuer _class='hudson.security.csrf.DefaultCrumbIssuer'><crumb>{crumb}</crumb><crumbRequestField>Jenkins-Crumb</crumbRequestField></defaultCrumbIssuer>"
                    ),
                ),
                Some(xpath) => {
                    let text = match xpath {
                        "/*/crumbRequestField/text()" => Some("Jenkins-Crumb".to_string()),
                        "/*/crumb/text()" => Some(crumb.clone()),
                        "concat(//crumbRequestField,\":\",//crumb)" => {
                            Some(format!("Jenkins-Crumb:{crumb}"))
                        }
                        "concat(//crumbRequestField,'=',//crumb)" => {
                            Some(format!("Jenkins-Crumb={crumb}"))
                        }
                        _ => None,
                    };
                    match text {
                        Some(text) => response(StatusCode::OK, "text/plain;charset=utf-8", text),
                        None => error_page(
                            StatusCode::FORBIDDEN,
                            "primitive XPath result sets forbidden; implement jenkins.security.SecureRequester",
                        ),
                    }
                }
            };
            let mut reply = reply;
            advertise(model, &mut reply, false);
            ("crumb", reply)
        }
        format => {
            let value = serde_json::json!({
                "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                "crumb": crumb,
                "crumbRequestField": "Jenkins-Crumb",
            });
            ("crumb", api(model, req, |p| p.plain(value), format))
        }
    }
}

fn queue_item(
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

fn cancel_item(model: &mut Model, req: &Req) -> (&'static str, Reply) {
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

/// Servlet parameters that are not build parameters.
const RESERVED_PARAMS: [&str; 5] = ["token", "delay", "cause", "Jenkins-Crumb", "json"];

fn job_route(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    segs: &[&str],
    now: i64,
) -> (&'static str, Reply) {
    let mut names = Vec::new();
    let mut i = 0;
    while i < segs.len() && segs[i] == "job" {
        let Some(name) = segs.get(i + 1) else {
            return not_found(model);
        };
        names.push(*name);
        i += 2;
    }
    let full_name = names.join("/");
    let rest = &segs[i..];
    if !model.nodes.contains_key(&full_name) {
        if model.auto_create && check_job_path(&full_name).is_ok() && !is_under_job(model, &names) {
            auto_create(model, req, &full_name, rest);
        } else {
            return not_found(model);
        }
    }
    let base = base_url(model, req);
    if let Some(super::model::Node::Folder(folder)) = model.nodes.get(&full_name) {
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

/// `delay`: a bare number is milliseconds; `sec`/`secs` means seconds (`TimeDuration`).
fn parse_delay(text: &str) -> Result<i64, String> {
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

fn trigger(
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
    };
    model.record_trigger(record);
    (route, reply.0)
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
        return (redirect(status, &location), true, created);
    }
    if job.is_parameterized() {
        return build_with_json_form(model, req, full_name, cause, delay, &job_path);
    }
    let (id, created) = model.schedule(full_name, None, cause, delay);
    let location = request_url(req, &format!("queue/item/{id}/"));
    (redirect(StatusCode::CREATED, &location), true, created)
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

fn build_route(
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
        ["consoleText"] => {
            let Some(log) = log_of(model, full_name, number, now) else {
                return not_found(model);
            };
            let text = super::log::strip_notes(&log.text);
            (
                "console",
                response(StatusCode::OK, "text/plain;charset=utf-8", text),
            )
        }
        _ => not_found(model),
    }
}

fn log_of(model: &Model, full_name: &str, number: u32, now: i64) -> Option<super::log::Log> {
    let job = model.job(full_name)?;
    let build = job.builds.get(&number)?;
    Some(super::log::render(job, build, now, model.console_notes))
}

fn progressive_text(
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
        super::log::strip_notes(&chunk)
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

    #[test]
    fn dates_are_imf_fixdates() {
        assert_eq!(
            http_date(1_796_102_988_000),
            "Tue, 01 Dec 2026 05:29:48 GMT"
        );
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn segments_are_decoded_one_by_one() {
        assert_eq!(
            decode_segments("/job/a%2Fb/job/c%20d/").unwrap(),
            vec!["job", "a/b", "job", "c d"]
        );
        assert!(decode_segments("/job/%FF/").is_none());
    }
}

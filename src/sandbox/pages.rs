//! The pages Jenkins answers with besides its API: servlet errors, its own HTML pages with the
//! API headers, login and POST-only refusals, and bare redirects.

use http::header::{self, HeaderName};
use http::{Response, StatusCode};

use super::model::Model;
use super::wire::{Body, Reply, Req, response, set};

pub(super) fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The servlet container's error page for `sendError(status, message)`.
pub(super) fn error_page(status: StatusCode, message: &str) -> Reply {
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

pub(super) fn advertise(model: &Model, reply: &mut Reply, html: bool) {
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

pub(super) fn html_page(model: &Model, status: StatusCode, title: &str, body: &str) -> Reply {
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

pub(super) fn not_found(model: &Model) -> (&'static str, Reply) {
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
pub(super) fn requires_post(model: &Model) -> Reply {
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
pub(super) fn login_required(model: &Model, req: &Req, permission: &str) -> Reply {
    let mut reply = html_page(
        model,
        StatusCode::FORBIDDEN,
        "Authentication required",
        &format!(
            "<script>window.location.replace('{}/login?from={}');</script>Authentication required",
            req.context,
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

pub(super) fn unauthorized() -> Reply {
    let mut reply = error_page(StatusCode::UNAUTHORIZED, "Unauthorized");
    set(
        &mut reply,
        header::WWW_AUTHENTICATE,
        "Basic realm=\"Jenkins\"",
    );
    reply
}

/// A bare redirect: Jenkins sends these with an empty body and none of its API headers.
pub(super) fn redirect(status: StatusCode, location: &str) -> Reply {
    let mut reply = Response::new(Body::empty());
    *reply.status_mut() = status;
    set(&mut reply, header::LOCATION, location);
    reply
}

/// Jenkins' "Oops!" page for an exception, with the status preserved.
pub(super) fn oops(model: &Model, status: StatusCode, message: &str) -> Reply {
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

/// The page every request gets while Jenkins restarts.
pub(super) fn restarting(model: &Model) -> Reply {
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
    reply
}

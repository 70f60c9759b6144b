//! Who a request comes from (Basic credentials, API tokens), and CSRF: sessions, crumbs and the
//! crumb issuer.

use http::StatusCode;
use http::header::{self, HeaderValue};

use super::api::{Format, api, format_of};
use super::model::{Model, Principal};
use super::pages::{advertise, error_page, not_found, unauthorized};
use super::wire::{Reply, Req, response};

/// Basic credentials: an API token, else the password; or a bearer token, as the
/// openshift-login plugin accepts one; anything wrong is a 401.
pub(super) fn authenticate(model: &Model, req: &Req) -> Result<Principal, ()> {
    use base64::Engine as _;
    if let Some(token) = bearer(model, req) {
        let now = model.now();
        let valid = |(t, until): &(String, Option<i64>)| {
            t == token && until.is_none_or(|until| now < until)
        };
        // Like a password, a bearer token gets no crumb exemption.
        return model
            .users
            .iter()
            .find(|u| u.bearer.iter().any(valid))
            .map(|u| Principal::Password(u.name.clone()))
            .ok_or(());
    }
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

/// The token of an `Authorization: Bearer` header when some user has bearer tokens (the
/// plugin that accepts them is installed); Jenkins core alone ignores the scheme.
fn bearer<'r>(model: &Model, req: &'r Req) -> Option<&'r str> {
    if model.users.iter().all(|u| u.bearer.is_empty()) {
        return None;
    }
    req.header("authorization")
        .filter(|v| {
            v.get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
        })
        .map(|v| v[7..].trim())
}

/// The 401 for refused credentials: a refused bearer token is told so in the scheme it used,
/// and, like every answer from Jenkins itself, carries its headers.
pub(super) fn refused(model: &Model, req: &Req) -> Reply {
    let mut reply = unauthorized();
    if bearer(model, req).is_some() {
        reply.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"Jenkins\""),
        );
    }
    advertise(model, &mut reply, false);
    reply
}

/// The sessions a request goes on with after the CSRF filter.
pub(super) struct Sessions {
    /// The request's session, if it has a live one or the filter made one.
    pub(super) current: Option<String>,
    /// The session the filter created, whose cookie the reply must set.
    pub(super) created: Option<String>,
}

/// The CSRF filter: a POST not made with an API token needs the crumb of its session.
pub(super) fn check_crumb(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
) -> Result<Sessions, Box<Reply>> {
    let session = req
        .cookie(&model.cookie_name)
        .filter(|s| model.sessions.contains_key(s));
    if !req.is_post() || !model.csrf || matches!(principal, Principal::Token(_)) {
        return Ok(Sessions {
            current: session,
            created: None,
        });
    }
    let mut new_session = None;
    let sid = match session {
        Some(s) => s,
        None => {
            let s = model.new_session();
            new_session = Some(s.clone());
            s
        }
    };
    let given = req
        .header("jenkins-crumb")
        .or_else(|| req.param("Jenkins-Crumb"));
    if given != Some(model.crumb(principal, &sid).as_str()) {
        let mut reply = error_page(
            StatusCode::FORBIDDEN,
            "No valid crumb was included in the request",
        );
        set_session_cookie(model, &mut reply, new_session.as_deref());
        return Err(Box::new(reply));
    }
    Ok(Sessions {
        current: Some(sid),
        created: new_session,
    })
}

pub(super) fn set_session_cookie(model: &Model, reply: &mut Reply, session: Option<&str>) {
    if let Some(sid) = session {
        // The servlet container scopes the session to the context path.
        let path = if model.context_path.is_empty() {
            "/"
        } else {
            model.context_path.as_str()
        };
        let cookie = format!("{}={sid}; Path={path}; HttpOnly", model.cookie_name);
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            reply.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

pub(super) fn crumb(
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

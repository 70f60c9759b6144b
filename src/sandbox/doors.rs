//! What stands between a client and the controller: a front door (an SSO or identity-aware
//! proxy) that wants its own header or token before Jenkins sees the request, and the context
//! path (`--prefix`) outside which the servlet container answers instead of Jenkins.

use std::collections::BTreeMap;

use http::StatusCode;
use http::header;
use serde::Deserialize;

use super::pages::{error_page, html_escape};
use super::wire::{Reply, Req, response, set};

/// A proxy in front of Jenkins. It passes a request on unchanged when every header it wants is
/// there with its value and, when it has bearer tokens, `Proxy-Authorization: Bearer` names one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontDoorConfig {
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub bearer: Vec<String>,
    #[serde(default)]
    pub otherwise: Otherwise,
    /// Where `otherwise: redirect` sends the client: the identity provider, another host.
    #[serde(default)]
    pub redirect_to: Option<String>,
}

/// How the front door answers a request it does not let through; none of these is Jenkins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Otherwise {
    /// A 200 sign-in page.
    #[default]
    LoginPage,
    /// A 302 to `redirect_to`.
    Redirect,
    /// oauth2-proxy's answer to an API client: 401 with `{}`.
    Unauthorized,
    /// A 403 HTML page.
    Forbidden,
}

/// The checks `SandboxConfig::validate` makes of these keys.
pub(super) fn validate(
    context_path: Option<&str>,
    root_url: Option<&str>,
    front_door: Option<&FrontDoorConfig>,
) -> Result<(), String> {
    if let Some(path) = context_path {
        let trimmed = path.trim_end_matches('/');
        if !path.starts_with('/')
            || trimmed.is_empty()
            || trimmed.contains("//")
            || trimmed.contains(['?', '#', ' ', ';'])
        {
            return Err(format!(
                "context_path `{path}` must be a path like /jenkins (not / and without a query)"
            ));
        }
    }
    if let Some(url) = root_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(format!(
            "root_url `{url}` must be an http:// or https:// URL"
        ));
    }
    if let Some(door) = front_door {
        if door.otherwise == Otherwise::Redirect && door.redirect_to.is_none() {
            return Err("front_door: `otherwise: redirect` needs `redirect_to`".to_string());
        }
        for name in door.headers.keys() {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("front_door: `{name}` is not a header name"));
            }
        }
    }
    Ok(())
}

/// `/jenkins/` or `/jenkins` becomes `/jenkins`; none becomes the empty prefix.
pub(super) fn normalize_context(path: Option<&str>) -> String {
    path.map(|p| p.trim_end_matches('/').to_string())
        .unwrap_or_default()
}

/// The front door's answer to a request it does not let through, or `None` to pass it on.
pub(super) fn front_door(door: &FrontDoorConfig, req: &Req) -> Option<Reply> {
    let headers_ok = door
        .headers
        .iter()
        .all(|(name, value)| req.header(name) == Some(value.as_str()));
    let bearer_ok = door.bearer.is_empty()
        || req
            .header("proxy-authorization")
            .and_then(|v| {
                v.split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            })
            .is_some_and(|(_, token)| door.bearer.iter().any(|t| t == token.trim()));
    if headers_ok && bearer_ok {
        return None;
    }
    Some(match door.otherwise {
        Otherwise::LoginPage => sign_in(StatusCode::OK, req),
        Otherwise::Forbidden => sign_in(StatusCode::FORBIDDEN, req),
        Otherwise::Unauthorized => response(StatusCode::UNAUTHORIZED, "application/json", "{}"),
        Otherwise::Redirect => {
            let mut reply = response(StatusCode::FOUND, "text/html; charset=utf-8", "");
            if let Some(to) = &door.redirect_to {
                let sep = if to.contains('?') { '&' } else { '?' };
                let rd: String =
                    form_urlencoded::byte_serialize(req.path.as_bytes()).collect::<String>();
                set(&mut reply, header::LOCATION, &format!("{to}{sep}rd={rd}"));
            }
            reply
        }
    })
}

fn sign_in(status: StatusCode, req: &Req) -> Reply {
    let body = format!(
        "<!DOCTYPE html><html><head><title>Sign In</title></head><body>\
         <form method=\"GET\" action=\"/oauth2/start\"><input type=\"hidden\" name=\"rd\" value=\"{}\"/>\
         <button type=\"submit\">Sign in with your company account</button></form></body></html>\n",
        html_escape(&req.path)
    );
    response(status, "text/html; charset=utf-8", body)
}

/// The container's 404 for a path outside the context: Jetty, not Jenkins, so no `X-Jenkins`.
pub(super) fn outside_context() -> Reply {
    error_page(StatusCode::NOT_FOUND, "Not Found")
}

/// The path below the context, or `None` when the request is outside it.
pub(super) fn strip_context<'a>(context: &str, path: &'a str) -> Option<&'a str> {
    if context.is_empty() {
        return Some(path);
    }
    match path.strip_prefix(context) {
        Some("") => Some("/"),
        Some(rest) if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_the_context_are_inside_it() {
        assert_eq!(
            strip_context("/jenkins", "/jenkins/api/json"),
            Some("/api/json")
        );
        assert_eq!(strip_context("/jenkins", "/jenkins"), Some("/"));
        assert_eq!(strip_context("/jenkins", "/jenkinsx/api/json"), None);
        assert_eq!(strip_context("/jenkins", "/api/json"), None);
        assert_eq!(strip_context("", "/api/json"), Some("/api/json"));
    }

    #[test]
    fn context_paths_and_redirects_are_checked() {
        assert!(validate(Some("/jenkins/"), None, None).is_ok());
        assert!(validate(Some("jenkins"), None, None).is_err());
        assert!(validate(Some("/"), None, None).is_err());
        assert!(validate(None, Some("jenkins.example"), None).is_err());
        let door: FrontDoorConfig = yaml_serde::from_str("otherwise: redirect").unwrap();
        assert!(validate(None, None, Some(&door)).is_err());
    }
}

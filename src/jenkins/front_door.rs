//! Recognising an answer that did not come from Jenkins but from what stands in front of it:
//! an SSO proxy's sign-in page, an identity-aware proxy's 401, a redirect to an identity
//! provider. Such an answer is not something to decode or retry: jrun's request never reached
//! Jenkins, and only different settings get it through.
//!
//! Jenkins marks its own answers with `X-Jenkins` (`Functions.advertiseHeaders`), its 401 and
//! its anonymous 403 included; a front door does not.

use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, StatusCode, Url};

use super::error::page_message;
use super::paths::shown;

/// Path segments of sign-in pages: Jenkins' own (`login`, `securityRealm/commenceLogin`),
/// oauth2-proxy's (`oauth2/start`, `oauth2/sign_in`), SAML and common SSO gateways.
const LOGIN_SEGMENTS: [&str; 8] = [
    "login",
    "securityRealm",
    "commenceLogin",
    "oauth2",
    "sso",
    "saml2",
    "signin",
    "sign_in",
];

/// Whether a redirect to another host may be Jenkins' own: an artifact download answers with
/// one to the store that keeps the files (S3 and the like), any other URL never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offsite {
    Suspect,
    Store,
}

/// What answered instead of Jenkins, said for a message: the status, the content type, where
/// it redirects. `None` when the answer may well be Jenkins'.
pub(crate) fn recognise(
    home: &str,
    method: &Method,
    url: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    offsite: Offsite,
) -> Option<String> {
    let from_jenkins = from_jenkins(headers, body);
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_string();
    let shown_type = if content_type.is_empty() {
        "no content type".to_string()
    } else {
        content_type.clone()
    };
    let code = status.as_u16();
    if matches!(code, 401 | 403) && !from_jenkins {
        let body_text = if body.is_empty() {
            "an empty body".to_string()
        } else if is_json(&content_type) {
            format!(
                "`{}`",
                super::error::quoted(&String::from_utf8_lossy(body), body.len())
            )
        } else {
            format!("`{}`", page_message(body, code))
        };
        return Some(format!(
            "HTTP {code} ({shown_type}, {body_text}) without Jenkins' X-Jenkins header"
        ));
    }
    if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
        let location = headers.get(LOCATION).and_then(|v| v.to_str().ok())?;
        let target = Url::parse(url).ok()?.join(location).ok()?;
        let home = Url::parse(home).ok()?;
        let segments: Vec<&str> = target
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let to_login = segments.iter().enumerate().any(|(i, s)| {
            LOGIN_SEGMENTS.iter().any(|l| s.eq_ignore_ascii_case(l))
                && (i == 0 || segments[i - 1] != "job")
        });
        // Jenkins redirects a POST (a trigger folded into a queued item, a stop) to one of
        // its pages, which an older Jenkins names absolutely, by a host a proxy may have
        // rewritten: the caller maps that back. It redirects no read of its API, so anything
        // else elsewhere is a front door sending the client away.
        let jenkins_page =
            *method == Method::POST && (segments.contains(&"job") || segments.contains(&"queue"));
        let elsewhere =
            offsite == Offsite::Suspect && target.origin() != home.origin() && !jenkins_page;
        if to_login || elsewhere {
            return Some(format!(
                "HTTP {code} redirecting to {}",
                shown(target.as_str())
            ));
        }
        return None;
    }
    if status == StatusCode::OK && !is_json(&content_type) {
        let path = shown(url);
        let wants_json = path.ends_with("/api/json") || path.contains("/wfapi/");
        if wants_json {
            let what = if is_html(&content_type) {
                format!("an HTML page titled `{}`", page_message(body, code))
            } else {
                format!("{} bytes that are not JSON", body.len())
            };
            let marker = if from_jenkins {
                ""
            } else {
                ", no X-Jenkins header"
            };
            return Some(format!("HTTP 200 {shown_type}: {what}{marker}"));
        }
    }
    None
}

/// Whether an answer shows it came from Jenkins: its own headers, the realm of its Basic
/// 401, or the servlet container's error page naming Stapler (the crumb filter's 403, a
/// refused trigger token), none of which a front door sends.
fn from_jenkins(headers: &HeaderMap, body: &[u8]) -> bool {
    const MARKERS: [&str; 4] = [
        "x-jenkins",
        "x-jenkins-session",
        "x-you-are-authenticated-as",
        "x-required-permission",
    ];
    if MARKERS.iter().any(|h| headers.contains_key(*h)) {
        return true;
    }
    let realm = headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("realm=\"Jenkins\""));
    let head = &body[..body.len().min(4096)];
    realm || String::from_utf8_lossy(head).contains("<td>Stapler</td>")
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
}

fn is_html(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const HOME: &str = "http://127.0.0.1:8080/jenkins/";
    const JOB: &str = "http://127.0.0.1:8080/jenkins/job/a/api/json?tree=x";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn check(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Option<String> {
        recognise(
            HOME,
            &Method::GET,
            JOB,
            StatusCode::from_u16(status).unwrap(),
            &headers(pairs),
            body.as_bytes(),
            Offsite::Suspect,
        )
    }

    #[test]
    fn a_sign_in_page_where_json_was_asked_is_a_front_door() {
        let page = "<html><head><title>Sign In</title></head><body>…</body></html>";
        let found = check(200, &[("content-type", "text/html; charset=utf-8")], page).unwrap();
        assert!(
            found.contains("HTTP 200") && found.contains("Sign In"),
            "{found}"
        );
        assert!(check(200, &[("content-type", "application/json")], "{}").is_none());
        // An artifact or a log may well be HTML.
        let artifact = recognise(
            HOME,
            &Method::GET,
            "http://127.0.0.1:8080/jenkins/job/a/1/artifact/report.html",
            StatusCode::OK,
            &headers(&[("content-type", "text/html")]),
            page.as_bytes(),
            Offsite::Store,
        );
        assert!(artifact.is_none());
    }

    #[test]
    fn a_401_or_403_without_x_jenkins_is_a_front_door_and_jenkins_own_is_not() {
        let found = check(401, &[("content-type", "application/json")], "{}").unwrap();
        assert!(
            found.contains("HTTP 401") && found.contains("`{}`"),
            "{found}"
        );
        assert!(check(403, &[("content-type", "text/html")], "<title>No</title>").is_some());
        assert!(check(401, &[("x-jenkins", "2.528.3")], "").is_none());
        assert!(check(403, &[("x-jenkins", "2.528.3")], "").is_none());
        // Jenkins' Basic 401 and the crumb filter's 403 carry no X-Jenkins, but are its own.
        assert!(check(401, &[("www-authenticate", "Basic realm=\"Jenkins\"")], "").is_none());
        let crumb = "<title>Error 403 No valid crumb was included in the request</title>\
                     <tr><th>SERVLET:</th><td>Stapler</td></tr>";
        assert!(check(403, &[("content-type", "text/html")], crumb).is_none());
    }

    #[test]
    fn redirects_to_a_login_page_or_another_host_are_front_doors() {
        let sso = check(302, &[("location", "https://sso.example/auth?rd=%2Fx")], "").unwrap();
        assert!(
            sso.contains("https://sso.example/auth") && !sso.contains("rd="),
            "{sso}"
        );
        assert!(
            check(
                302,
                &[("location", "/jenkins/securityRealm/commenceLogin")],
                ""
            )
            .is_some()
        );
        assert!(check(302, &[("location", "/oauth2/start?rd=/jenkins/")], "").is_some());
        // Jenkins' own redirects: path-only, or a Jenkins page on the host its root URL names.
        assert!(check(302, &[("location", "/jenkins/job/a/5/")], "").is_none());
        assert!(check(302, &[("location", "/jenkins/job/login/5/")], "").is_none());
        let folded = recognise(
            HOME,
            &Method::POST,
            "http://127.0.0.1:8080/jenkins/job/a/build",
            StatusCode::SEE_OTHER,
            &headers(&[("location", "https://ci.corp/jenkins/queue/item/4/")]),
            b"",
            Offsite::Suspect,
        );
        assert!(folded.is_none());
        // No read of the API is redirected by Jenkins, not even to a Jenkins-like path.
        assert!(
            check(
                302,
                &[("location", "https://ci.corp/jenkins/job/a/api/json")],
                ""
            )
            .is_some()
        );
        // An artifact store elsewhere is where downloads go; its sign-in page is not.
        let store = |to: &str| {
            recognise(
                HOME,
                &Method::GET,
                "http://127.0.0.1:8080/jenkins/job/a/1/artifact/x.txt",
                StatusCode::FOUND,
                &headers(&[("location", to)]),
                b"",
                Offsite::Store,
            )
        };
        assert!(store("https://bucket.s3.example/a/1/artifacts/x.txt?sig=1").is_none());
        assert!(store("https://sso.example/oauth2/start").is_some());
    }
}

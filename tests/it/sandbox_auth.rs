//! Authentication, crumbs and sessions of the sandbox, pinned to what a real Jenkins controller
//! answers (research doc `jenkins-rest.md`, sections 0, 1, 5.1 and 5.2).

use crate::common;

use std::time::Duration;

use common::{PASSWORD, TOKEN, USER};
use jrun::sandbox::Sandbox;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

const JOB: &str = "speed: 1000\nquiet_period: 0s\njobs:\n  - path: app\n";
const CRUMB_MISSING: &str = "No valid crumb was included in the request";

/// A client that keeps no cookies, like a script that fetches a crumb and forgets the session.
fn plain_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header"))
}

fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii cookie").to_string())
        .collect()
}

/// The `name=value` pair of the one session cookie a response sets, checked for Jenkins' shape.
fn session_cookie(response: &Response) -> String {
    let cookies = set_cookies(response);
    assert_eq!(cookies.len(), 1, "exactly one Set-Cookie: {cookies:?}");
    let cookie = &cookies[0];
    let mut attributes = cookie.split(';').map(str::trim);
    let pair = attributes.next().expect("name=value").to_string();
    let (name, value) = pair.split_once('=').expect("name=value");
    let suffix = name
        .strip_prefix("JSESSIONID.")
        .unwrap_or_else(|| panic!("cookie name {name} is not JSESSIONID.<8 hex>"));
    assert!(
        is_hex(suffix, 8),
        "cookie name {name} is not JSESSIONID.<8 hex>"
    );
    assert!(!value.is_empty(), "empty session id in {cookie}");
    let attributes: Vec<&str> = attributes.collect();
    assert!(attributes.contains(&"Path=/"), "no Path=/ in {cookie}");
    assert!(
        attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case("HttpOnly")),
        "no HttpOnly in {cookie}"
    );
    pair
}

fn url(sb: &Sandbox, path: &str) -> String {
    format!("{}{path}", sb.url())
}

fn with_password(request: RequestBuilder) -> RequestBuilder {
    request.basic_auth(USER, Some(PASSWORD))
}

/// Fetches a crumb as `user:secret` on `client`, returning the crumb and the response's
/// session cookie (`name=value`), if it set one.
fn crumb_as(client: &Client, sb: &Sandbox, user: &str, secret: &str) -> (String, Option<String>) {
    let response = client
        .get(url(sb, "/crumbIssuer/api/json"))
        .basic_auth(user, Some(secret))
        .send()
        .expect("crumb request");
    assert_eq!(response.status(), 200, "crumb issuer");
    let cookie = (!set_cookies(&response).is_empty()).then(|| session_cookie(&response));
    let body = common::json(response);
    assert_eq!(body["crumbRequestField"], "Jenkins-Crumb");
    let crumb = body["crumb"].as_str().expect("crumb").to_string();
    (crumb, cookie)
}

fn assert_crumb_rejected(response: Response, what: &str) {
    assert_eq!(response.status(), 403, "{what}");
    let body = response.text().expect("body");
    assert!(body.contains(CRUMB_MISSING), "{what}: {body}");
}

fn assert_unauthorized(response: Response, what: &str) -> String {
    assert_eq!(response.status(), 401, "{what}");
    assert_eq!(
        header(&response, "www-authenticate"),
        Some("Basic realm=\"Jenkins\""),
        "{what}"
    );
    response.text().expect("body")
}

fn assert_login_required(response: &Response, permission: &str, what: &str) {
    assert_eq!(response.status(), 403, "{what}");
    assert_eq!(
        header(response, "x-you-are-authenticated-as"),
        Some("anonymous"),
        "{what}"
    );
    assert_eq!(
        header(response, "x-required-permission"),
        Some(permission),
        "{what}"
    );
}

fn builds_of(sb: &Sandbox) -> usize {
    common::control(sb, "GET", "builds", Value::Null)
        .as_array()
        .expect("builds list")
        .len()
}

// ---- the crumb issuer ----

#[test]
fn crumb_issuer_json_has_jenkins_shape_and_key_order() {
    let sb = common::sandbox(JOB);
    let response = with_password(plain_client().get(url(&sb, "/crumbIssuer/api/json")))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("application/json"),
    );
    let _ = session_cookie(&response);
    let text = response.text().unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["_class", "crumb", "crumbRequestField"], "{text}");
    assert_eq!(body["_class"], "hudson.security.csrf.DefaultCrumbIssuer");
    assert_eq!(body["crumbRequestField"], "Jenkins-Crumb");
    let crumb = body["crumb"].as_str().unwrap();
    assert!(is_hex(crumb, 64), "crumb {crumb} is not 64 lowercase hex");
    assert_eq!(
        text,
        format!(
            "{{\"_class\":\"hudson.security.csrf.DefaultCrumbIssuer\",\"crumb\":\"{crumb}\",\"crumbRequestField\":\"Jenkins-Crumb\"}}"
        )
    );
}

#[test]
fn crumb_request_with_the_session_cookie_gets_the_same_crumb_and_no_new_cookie() {
    let sb = common::sandbox(JOB);
    let client = plain_client();
    let (first, cookie) = crumb_as(&client, &sb, USER, PASSWORD);
    let cookie = cookie.expect("the first crumb request creates a session");

    let again = with_password(client.get(url(&sb, "/crumbIssuer/api/json")))
        .header("Cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(again.status(), 200);
    assert!(set_cookies(&again).is_empty(), "{:?}", set_cookies(&again));
    assert_eq!(common::json(again)["crumb"], first.as_str());

    // Without the cookie every request is a new session, hence a new crumb.
    let (other, other_cookie) = crumb_as(&client, &sb, USER, PASSWORD);
    assert_ne!(other, first);
    assert_ne!(other_cookie.expect("new session"), cookie);
}

#[test]
fn crumb_issuer_tree_keeps_class_and_prunes_the_rest() {
    let sb = common::sandbox(JOB);
    let response = with_password(plain_client().get(url(&sb, "/crumbIssuer/api/json?tree=crumb")))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = common::json(response);
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["_class", "crumb"]);
    assert!(is_hex(body["crumb"].as_str().unwrap(), 64));
}

#[test]
fn crumb_issuer_xml_is_the_decapitalised_bean_with_single_quoted_class() {
    let sb = common::sandbox(JOB);
    let client = common::client();
    let (crumb, _) = crumb_as(&client, &sb, USER, PASSWORD);
    let response = with_password(client.get(url(&sb, "/crumbIssuer/api/xml")))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        set_cookies(&response).is_empty(),
        "same session, no new cookie"
    );
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("application/xml"),
    );
    assert_eq!(
        response.text().unwrap(),
        format!(
            "<defaultCrumbIssuer _class='hudson.security.csrf.DefaultCrumbIssuer'><crumb>{crumb}</crumb><crumbRequestField>Jenkins-Crumb</crumbRequestField></defaultCrumbIssuer>"
        )
    );
}

#[test]
fn crumb_issuer_xpath_concat_gives_field_colon_crumb_as_plain_text() {
    let sb = common::sandbox(JOB);
    let client = common::client();
    let (crumb, _) = crumb_as(&client, &sb, USER, PASSWORD);
    let response = with_password(client.get(url(&sb, "/crumbIssuer/api/xml")))
        .query(&[("xpath", "concat(//crumbRequestField,\":\",//crumb)")])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("text/plain"),
    );
    assert_eq!(response.text().unwrap(), format!("Jenkins-Crumb:{crumb}"));
}

#[test]
fn crumb_issuer_xpath_with_a_primitive_result_outside_the_whitelist_is_forbidden() {
    let sb = common::sandbox(JOB);
    let response = with_password(plain_client().get(url(&sb, "/crumbIssuer/api/xml")))
        .query(&[("xpath", "count(//crumb)")])
        .send()
        .unwrap();
    assert_eq!(response.status(), 403);
    let body = response.text().unwrap();
    assert!(
        body.contains("primitive XPath result sets forbidden"),
        "{body}"
    );
}

#[test]
fn crumb_issuer_answers_404_when_csrf_protection_is_off() {
    let sb = common::sandbox(&format!("csrf: false\n{JOB}"));
    let client = plain_client();
    for path in ["/crumbIssuer/api/json", "/crumbIssuer/api/xml"] {
        let response = with_password(client.get(url(&sb, path))).send().unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

// ---- CSRF on POSTs ----

#[test]
fn password_post_without_crumb_is_rejected() {
    let sb = common::sandbox(JOB);
    let response = with_password(common::client().post(url(&sb, "/job/app/build")))
        .send()
        .unwrap();
    assert_crumb_rejected(response, "password POST without crumb");
    assert_eq!(builds_of(&sb), 0);
}

#[test]
fn crumb_fetched_without_the_cookie_is_rejected() {
    let sb = common::sandbox(JOB);
    let client = plain_client();
    let (crumb, cookie) = crumb_as(&client, &sb, USER, PASSWORD);
    assert!(cookie.is_some(), "the crumb request offered a session");
    let response = with_password(client.post(url(&sb, "/job/app/build")))
        .header("Jenkins-Crumb", &crumb)
        .send()
        .unwrap();
    // The validator creates a fresh session for the cookie-less POST, and says so.
    let _ = session_cookie(&response);
    assert_crumb_rejected(response, "crumb without its session");
    assert_eq!(builds_of(&sb), 0);
}

#[test]
fn password_post_with_crumb_and_session_cookie_is_accepted() {
    let sb = common::sandbox(JOB);
    let client = common::client();
    let (crumb, _) = crumb_as(&client, &sb, USER, PASSWORD);
    let response = with_password(client.post(url(&sb, "/job/app/build")))
        .header("Jenkins-Crumb", &crumb)
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(set_cookies(&response).is_empty(), "the session is kept");
    let id = common::queue_id(&response);
    let number = common::build_number_of(&client, &sb, id);
    assert_eq!(number, 1);
}

#[test]
fn crumb_is_also_read_from_a_form_field_or_the_query_string() {
    let sb = common::sandbox(JOB);
    let client = common::client();
    let (crumb, _) = crumb_as(&client, &sb, USER, PASSWORD);
    let form = with_password(client.post(url(&sb, "/job/app/build")))
        .form(&[("Jenkins-Crumb", crumb.as_str())])
        .send()
        .unwrap();
    assert_eq!(form.status(), 201, "crumb as form field");
    let query = with_password(client.post(url(&sb, "/job/app/build")))
        .query(&[("Jenkins-Crumb", crumb.as_str())])
        .send()
        .unwrap();
    assert_eq!(query.status(), 201, "crumb as query parameter");
}

#[test]
fn crumb_under_the_legacy_dot_crumb_name_is_not_accepted() {
    let sb = common::sandbox(JOB);
    let client = common::client();
    let (crumb, _) = crumb_as(&client, &sb, USER, PASSWORD);
    let response = with_password(client.post(url(&sb, "/job/app/build")))
        .header(".crumb", &crumb)
        .send()
        .unwrap();
    assert_crumb_rejected(response, ".crumb header");
}

#[test]
fn api_token_post_needs_no_crumb() {
    let sb = common::sandbox(JOB);
    let client = plain_client();
    let response = common::post(&client, &sb, "/job/app/build");
    assert_eq!(response.status(), 201);
    assert!(set_cookies(&response).is_empty(), "no session for a token");
}

#[test]
fn api_token_post_with_a_wrong_crumb_is_still_accepted() {
    let sb = common::sandbox(JOB);
    let response = plain_client()
        .post(url(&sb, "/job/app/build"))
        .basic_auth(USER, Some(TOKEN))
        .header("Jenkins-Crumb", "0".repeat(64))
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[test]
fn crumb_fetched_by_one_user_is_not_valid_for_another_user_in_the_same_session() {
    let yaml = format!(
        "users:\n  - name: alice\n    password: alice-password\n  - name: bob\n    password: bob-password\n{JOB}"
    );
    let sb = common::sandbox(&yaml);
    let client = plain_client();
    let (alice_crumb, cookie) = crumb_as(&client, &sb, "alice", "alice-password");
    let cookie = cookie.expect("session");

    let post_as = |user: &str, secret: &str, crumb: &str| {
        client
            .post(url(&sb, "/job/app/build"))
            .basic_auth(user, Some(secret))
            .header("Cookie", &cookie)
            .header("Jenkins-Crumb", crumb)
            .send()
            .unwrap()
    };
    assert_crumb_rejected(
        post_as("bob", "bob-password", &alice_crumb),
        "bob with alice's crumb",
    );

    let bob = client
        .get(url(&sb, "/crumbIssuer/api/json"))
        .basic_auth("bob", Some("bob-password"))
        .header("Cookie", &cookie)
        .send()
        .unwrap();
    assert!(set_cookies(&bob).is_empty(), "bob reuses the session");
    let bob_crumb = common::json(bob)["crumb"].as_str().unwrap().to_string();
    assert_ne!(bob_crumb, alice_crumb, "the crumb hashes the user name");

    assert_eq!(post_as("bob", "bob-password", &bob_crumb).status(), 201);
    assert_eq!(
        post_as("alice", "alice-password", &alice_crumb).status(),
        201
    );
    assert_crumb_rejected(
        post_as("alice", "alice-password", &bob_crumb),
        "alice with bob's crumb",
    );
}

#[test]
fn invalidated_session_makes_the_old_crumb_fail_until_a_new_one_is_fetched() {
    let sb = common::sandbox(JOB);
    let client = common::client();
    let (old, _) = crumb_as(&client, &sb, USER, PASSWORD);
    let trigger = |crumb: &str| {
        with_password(client.post(url(&sb, "/job/app/build")))
            .header("Jenkins-Crumb", crumb)
            .send()
            .unwrap()
    };
    assert_eq!(trigger(&old).status(), 201);

    let answer = common::control(&sb, "POST", "sessions/invalidate", json!({}));
    assert!(answer["invalidated"].as_u64().unwrap() >= 1, "{answer}");
    let rejected = trigger(&old);
    // The stale cookie names no session, so the validator made a new one and sent its cookie.
    let _ = session_cookie(&rejected);
    assert_crumb_rejected(rejected, "crumb of an invalidated session");

    let (new, cookie) = crumb_as(&client, &sb, USER, PASSWORD);
    assert_eq!(
        cookie, None,
        "the crumb is bound to the session the 403 created"
    );
    assert_ne!(new, old);
    assert_eq!(trigger(&new).status(), 201);
}

#[test]
fn crumbless_post_to_a_missing_job_is_403_before_the_url_is_resolved() {
    let sb = common::sandbox(JOB);
    let response = with_password(plain_client().post(url(&sb, "/job/nope/build")))
        .send()
        .unwrap();
    assert_crumb_rejected(response, "password POST to a missing job");
    let response = common::post(&plain_client(), &sb, "/job/nope/build");
    assert_eq!(response.status(), 404, "token POST to a missing job");
}

#[test]
fn password_posts_need_no_crumb_when_csrf_protection_is_off() {
    let sb = common::sandbox(&format!("csrf: false\n{JOB}"));
    let response = with_password(plain_client().post(url(&sb, "/job/app/build")))
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(set_cookies(&response).is_empty());
}

// ---- bad credentials ----

#[test]
fn bad_credentials_are_401_with_a_basic_challenge_even_where_anonymous_may_read() {
    let sb = common::sandbox(&format!("anonymous: read\n{JOB}"));
    let client = plain_client();
    assert_eq!(
        client.get(url(&sb, "/api/json")).send().unwrap().status(),
        200
    );
    let cases: [(&str, &str, &str); 4] = [
        ("wrong password", USER, "not-the-password"),
        ("wrong token", USER, "11bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("unknown user", "mallory", PASSWORD),
        ("empty secret", USER, ""),
    ];
    for path in ["/api/json", "/crumbIssuer/api/json", "/job/app/api/json"] {
        for (what, user, secret) in cases {
            let response = client
                .get(url(&sb, path))
                .basic_auth(user, Some(secret))
                .send()
                .unwrap();
            assert_unauthorized(response, &format!("{what} on {path}"));
        }
    }
    // A token POST with a bad secret fails authentication before anything else.
    let response = client
        .post(url(&sb, "/job/app/build"))
        .basic_auth(USER, Some("11bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
        .send()
        .unwrap();
    assert_unauthorized(response, "bad token POST");
    assert_eq!(builds_of(&sb), 0);
}

#[test]
fn malformed_basic_headers_are_401() {
    let sb = common::sandbox(&format!("anonymous: read\n{JOB}"));
    let client = plain_client();
    // "Basic " followed by something that does not decode to "user:secret".
    for value in ["Basic !!!not-base64!!!", "Basic YWxpY2U=", "Basic Og=="] {
        let response = client
            .get(url(&sb, "/api/json"))
            .header("Authorization", value)
            .send()
            .unwrap();
        assert_unauthorized(response, value);
    }
}

#[test]
fn basic_scheme_is_case_insensitive_and_other_schemes_are_ignored() {
    use base64::Engine as _;
    let sb = common::sandbox(&format!("anonymous: read\n{JOB}"));
    let client = plain_client();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{TOKEN}"));
    let response = client
        .get(url(&sb, "/whoAmI/api/json"))
        .header("Authorization", format!("basic {encoded}"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(common::json(response)["name"], USER);

    // BasicHeaderProcessor leaves any other scheme alone: the request is anonymous.
    let response = client
        .get(url(&sb, "/whoAmI/api/json"))
        .header("Authorization", "Bearer abc.def.ghi")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(common::json(response)["name"], "anonymous");
}

#[test]
fn unauthorized_page_does_not_echo_the_password_sent() {
    let sb = common::sandbox(JOB);
    let secret = "s3cr3t-Hunter2-do-not-echo";
    let response = plain_client()
        .get(url(&sb, "/api/json"))
        .basic_auth(USER, Some(secret))
        .send()
        .unwrap();
    let body = assert_unauthorized(response, "wrong password");
    assert!(!body.contains(secret), "{body}");
    assert!(body.contains("Unauthorized"), "{body}");
}

#[test]
fn password_containing_a_colon_is_split_at_the_first_colon() {
    let yaml = format!("users:\n  - name: carol\n    password: \"pa:ss:word\"\n{JOB}");
    let sb = common::sandbox(&yaml);
    let response = plain_client()
        .get(url(&sb, "/whoAmI/api/json"))
        .basic_auth("carol", Some("pa:ss:word"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(common::json(response)["name"], "carol");
}

// ---- anonymous access ----

#[test]
fn anonymous_without_read_gets_403_with_permission_headers() {
    let sb = common::sandbox(JOB);
    let client = plain_client();
    for path in ["/api/json", "/job/app/api/json", "/crumbIssuer/api/json"] {
        let response = client.get(url(&sb, path)).send().unwrap();
        assert_login_required(&response, "hudson.model.Hudson.Read", path);
        assert_eq!(header(&response, "x-jenkins"), Some("2.528.3"), "{path}");
        assert_eq!(header(&response, "x-hudson"), Some("1.395"), "{path}");
        // Refused before the crumb issuer runs, so no session is created.
        assert!(set_cookies(&response).is_empty(), "{path}");
        let body = response.text().unwrap();
        assert!(body.contains("/login?from="), "{path}: {body}");
    }
    // The login page is always readable.
    assert_eq!(client.get(url(&sb, "/login")).send().unwrap().status(), 200);
}

#[test]
fn anonymous_crumbless_post_without_read_fails_the_crumb_check_first() {
    let sb = common::sandbox(JOB);
    let response = plain_client()
        .post(url(&sb, "/job/app/build"))
        .send()
        .unwrap();
    // The CSRF filter runs before Stapler checks Overall/Read.
    assert_crumb_rejected(response, "anonymous POST, anonymous: none");
    assert_eq!(builds_of(&sb), 0);
}

#[test]
fn anonymous_with_read_can_read_but_not_trigger() {
    let sb = common::sandbox(&format!("anonymous: read\n{JOB}"));
    let client = common::client();
    for path in ["/api/json", "/job/app/api/json"] {
        let response = client.get(url(&sb, path)).send().unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let crumb = client
        .get(url(&sb, "/crumbIssuer/api/json"))
        .send()
        .unwrap();
    assert_eq!(crumb.status(), 200);
    let _ = session_cookie(&crumb);
    let crumb = common::json(crumb)["crumb"].as_str().unwrap().to_string();

    let response = client.post(url(&sb, "/job/app/build")).send().unwrap();
    assert_crumb_rejected(response, "anonymous POST without crumb");
    let response = client
        .post(url(&sb, "/job/app/build"))
        .header("Jenkins-Crumb", &crumb)
        .send()
        .unwrap();
    assert_login_required(&response, "hudson.model.Item.Build", "anonymous trigger");
    assert_eq!(builds_of(&sb), 0);
}

#[test]
fn anonymous_with_build_still_needs_crumb_and_cookie() {
    let sb = common::sandbox(&format!("anonymous: build\n{JOB}"));
    let response = plain_client()
        .post(url(&sb, "/job/app/build"))
        .send()
        .unwrap();
    assert_crumb_rejected(response, "anonymous POST without crumb");

    let client = common::client();
    let response = client
        .get(url(&sb, "/crumbIssuer/api/json"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let crumb = common::json(response)["crumb"]
        .as_str()
        .unwrap()
        .to_string();

    let forgetful = plain_client()
        .post(url(&sb, "/job/app/build"))
        .header("Jenkins-Crumb", &crumb)
        .send()
        .unwrap();
    assert_crumb_rejected(forgetful, "anonymous crumb without its cookie");

    let response = client
        .post(url(&sb, "/job/app/build"))
        .header("Jenkins-Crumb", &crumb)
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    let id = common::queue_id(&response);
    assert_eq!(common::build_number_of(&client, &sb, id), 1);
}

// ---- identification headers and request filtering ----

#[test]
fn api_responses_carry_version_session_and_nosniff_headers() {
    let sb = common::sandbox(&format!("version: 2.462.3\n{JOB}"));
    let client = plain_client();
    let mut sessions = Vec::new();
    for path in ["/api/json", "/job/app/api/json", "/crumbIssuer/api/json"] {
        let response = common::get(&client, &sb, path);
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "x-jenkins"), Some("2.462.3"), "{path}");
        let session = header(&response, "x-jenkins-session").expect("X-Jenkins-Session");
        assert!(is_hex(session, 8), "{path}: X-Jenkins-Session {session}");
        sessions.push(session.to_string());
        assert_eq!(
            header(&response, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), Some("deny"), "{path}");
        // X-Hudson is only advertised on HTML pages, not by Api.setHeaders.
        assert_eq!(header(&response, "x-hudson"), None, "{path}");
    }
    sessions.dedup();
    assert_eq!(sessions.len(), 1, "one X-Jenkins-Session per start");
}

#[test]
fn trigger_201_carries_no_identification_headers() {
    let sb = common::sandbox(JOB);
    let response = common::post(&plain_client(), &sb, "/job/app/build");
    assert_eq!(response.status(), 201);
    assert!(header(&response, "location").is_some());
    assert_eq!(header(&response, "x-jenkins"), None);
    assert_eq!(header(&response, "x-jenkins-session"), None);
    assert_eq!(header(&response, "x-hudson"), None);
}

#[test]
fn semicolon_in_the_path_is_rejected_with_400_before_authentication() {
    let sb = common::sandbox(JOB);
    let client = plain_client();
    let response = common::get(&client, &sb, "/job/app;jsessionid=abc/api/json");
    assert_eq!(response.status(), 400);
    let body = response.text().unwrap();
    assert!(
        body.contains("Semicolons are not allowed in the request URI"),
        "{body}"
    );
    // The suspicious-request filter comes before authentication.
    let response = client
        .get(url(&sb, "/api/json;x"))
        .basic_auth(USER, Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[test]
fn get_requests_with_a_password_need_no_crumb() {
    let sb = common::sandbox(JOB);
    let response = with_password(plain_client().get(url(&sb, "/job/app/api/json")))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(set_cookies(&response).is_empty(), "reads create no session");
    assert_eq!(common::json(response)["name"], "app");
}

#[test]
fn whoami_names_the_password_user_and_the_token_user_alike() {
    let sb = common::sandbox(JOB);
    let client = plain_client();
    let by_token = common::get_json(&client, &sb, "/whoAmI/api/json");
    assert_eq!(by_token["name"], USER);
    assert_eq!(by_token["anonymous"], false);
    let by_password = common::json(
        with_password(client.get(url(&sb, "/whoAmI/api/json")))
            .send()
            .unwrap(),
    );
    assert_eq!(by_password["name"], USER);
    assert_eq!(by_password["authenticated"], true);
}

#[test]
fn sessions_survive_many_posts_with_one_crumb() {
    let sb = common::sandbox(JOB);
    let client = common::client();
    let (crumb, _) = crumb_as(&client, &sb, USER, PASSWORD);
    for n in 0..5 {
        let response = with_password(client.post(url(&sb, "/job/app/build")))
            .header("Jenkins-Crumb", &crumb)
            .send()
            .unwrap();
        assert_eq!(response.status(), 201, "POST {n}");
        assert!(
            set_cookies(&response).is_empty(),
            "POST {n} kept the session"
        );
    }
    common::wait_for(
        Duration::from_secs(5),
        "the queued triggers to build",
        || (builds_of(&sb) >= 1).then_some(()),
    );
}

fn bearer_sandbox() -> Sandbox {
    common::sandbox(
        "speed: 1000\nquiet_period: 0s\ncsrf: true\nusers:\n  - name: bot\n    bearer_tokens:\n      - bearer-forever\n      - {token: bearer-brief, expires: 3s}\njobs:\n  - path: app\n",
    )
}

fn with_bearer(
    client: &Client,
    method: reqwest::Method,
    sb: &Sandbox,
    path: &str,
    token: &str,
) -> Response {
    client
        .request(method, format!("{}{path}", sb.url()))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .expect("request")
}

#[test]
fn a_bearer_token_authenticates_its_user() {
    let sb = bearer_sandbox();
    let who = with_bearer(
        &plain_client(),
        reqwest::Method::GET,
        &sb,
        "/whoAmI/api/json",
        "bearer-forever",
    );
    assert_eq!(who.status(), 200);
    let who: Value = who.json().expect("json");
    assert_eq!(who["name"], "bot");
    assert_eq!(who["authenticated"], true);
}

#[test]
fn a_wrong_or_expired_bearer_token_is_jenkins_401_in_the_bearer_scheme() {
    let sb = bearer_sandbox();
    let client = plain_client();
    // 3s of sandbox time at speed 1000 is 3ms.
    std::thread::sleep(Duration::from_millis(20));
    for token in ["bearer-brief", "no-such-token"] {
        let refused = with_bearer(&client, reqwest::Method::GET, &sb, "/api/json", token);
        assert_eq!(refused.status(), 401, "{token}");
        assert!(header(&refused, "x-jenkins").is_some(), "{token}");
        let scheme = header(&refused, "www-authenticate").expect("WWW-Authenticate");
        assert!(scheme.starts_with("Bearer"), "{scheme}");
    }
}

#[test]
fn a_bearer_token_gets_no_crumb_exemption() {
    let sb = bearer_sandbox();
    let client = common::client();
    let post = with_bearer(
        &client,
        reqwest::Method::POST,
        &sb,
        "/job/app/build",
        "bearer-forever",
    );
    assert_eq!(post.status(), 403);
    assert!(post.text().expect("body").contains(CRUMB_MISSING));
    let crumb = with_bearer(
        &client,
        reqwest::Method::GET,
        &sb,
        "/crumbIssuer/api/json",
        "bearer-forever",
    );
    let crumb: Value = crumb.json().expect("json");
    let post = client
        .post(format!("{}/job/app/build", sb.url()))
        .header("Authorization", "Bearer bearer-forever")
        .header("Jenkins-Crumb", crumb["crumb"].as_str().expect("crumb"))
        .send()
        .expect("request");
    assert_eq!(post.status(), 201);
    let triggers = common::triggers(&sb);
    assert_eq!(
        triggers.last().and_then(|t| t.user.clone()).as_deref(),
        Some("bot")
    );
}

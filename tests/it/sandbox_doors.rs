//! The sandbox behind a context path, with a root URL naming another host, and behind a front
//! door (research `jenkins-rest-plugins.md` §9): raw HTTP, no jrun.

use crate::common;

use std::time::Duration;

use common::{TOKEN, USER, client, control, queue_id, wait_for};
use jrun::sandbox::Sandbox;
use reqwest::blocking::{Client, Response};
use serde_json::Value;

fn at(c: &Client, sb: &Sandbox, path: &str) -> Response {
    c.get(format!("{}{path}", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .send()
        .expect("request")
}

fn post_at(c: &Client, sb: &Sandbox, path: &str) -> Response {
    c.post(format!("{}{path}", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .send()
        .expect("request")
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn body_json(response: Response) -> Value {
    let text = response.text().expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

const CONTEXT: &str = "speed: 100\nquiet_period: 0s\ncontext_path: /jenkins\njobs:\n  - path: app\n  - path: flow\n    kind: pipeline\n    builds:\n      - duration: 2s\n        stages: [{name: Build, duration: 1s}, {name: Test}]\n        artifacts: [{path: out/report.txt, content: ok}]\n";

#[test]
fn under_a_context_path_every_route_lives_below_it_and_nothing_outside() {
    let sb = common::sandbox(CONTEXT);
    let c = client();
    let base = format!("{}/jenkins/", sb.url());

    let outside = at(&c, &sb, "/api/json");
    assert_eq!(outside.status(), 404);
    assert_eq!(
        header(&outside, "x-jenkins"),
        None,
        "the container, not Jenkins"
    );
    assert_eq!(at(&c, &sb, "/jenkinsx/api/json").status(), 404);
    assert_eq!(post_at(&c, &sb, "/job/app/build").status(), 404);

    let root = at(&c, &sb, "/jenkins/api/json");
    assert_eq!(root.status(), 200);
    assert!(header(&root, "x-jenkins").is_some());
    let root = body_json(root);
    assert_eq!(root["url"], base.as_str());
    assert_eq!(root["jobs"][0]["url"], format!("{base}job/app/").as_str());

    // 201 Location: the request's scheme, host and port, then the context path.
    let created = post_at(&c, &sb, "/jenkins/job/app/build?delay=0");
    assert_eq!(created.status(), 201);
    let location = header(&created, "location").expect("Location");
    let id = queue_id(&created);
    assert_eq!(location, format!("{base}queue/item/{id}/"));
    let item = body_json(at(&c, &sb, &format!("/jenkins/queue/item/{id}/api/json")));
    assert_eq!(item["url"], format!("queue/item/{id}/").as_str());
    let number = wait_for(Duration::from_secs(10), "the build", || {
        let item = body_json(at(&c, &sb, &format!("/jenkins/queue/item/{id}/api/json")));
        item["executable"]["number"].as_u64()
    });
    let executable = body_json(at(&c, &sb, &format!("/jenkins/queue/item/{id}/api/json")));
    assert_eq!(
        executable["executable"]["url"],
        format!("{base}job/app/{number}/").as_str()
    );
    let queue = body_json(at(&c, &sb, "/jenkins/queue/api/json"));
    assert!(queue["items"].is_array());

    // 302 from a form post: path-only, below the context path.
    let described = c
        .post(format!(
            "{}/jenkins/job/app/{number}/submitDescription",
            sb.url()
        ))
        .basic_auth(USER, Some(TOKEN))
        .form(&[("description", "hello")])
        .send()
        .expect("request");
    assert_eq!(described.status(), 302);
    assert_eq!(
        header(&described, "location").as_deref(),
        Some(format!("/jenkins/job/app/{number}/").as_str())
    );

    // The crumb's session is scoped to the context path, as the container scopes it.
    let crumb = c
        .get(format!("{}/jenkins/crumbIssuer/api/json", sb.url()))
        .basic_auth(USER, Some(common::PASSWORD))
        .send()
        .expect("request");
    assert_eq!(crumb.status(), 200);
    let cookie = header(&crumb, "set-cookie").expect("session cookie");
    assert!(cookie.contains("Path=/jenkins;"), "{cookie}");
    assert_eq!(at(&c, &sb, "/crumbIssuer/api/json").status(), 404);

    // Control routes stay where they were.
    let stats = control(&sb, "GET", "stats", Value::Null);
    assert!(stats["requests"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn under_a_context_path_wfapi_hrefs_start_with_it() {
    let sb = common::sandbox(CONTEXT);
    let c = client();
    let created = post_at(&c, &sb, "/jenkins/job/flow/build?delay=0");
    let id = queue_id(&created);
    let number = wait_for(Duration::from_secs(10), "the build", || {
        let item = body_json(at(&c, &sb, &format!("/jenkins/queue/item/{id}/api/json")));
        item["executable"]["number"].as_u64()
    });
    let run = wait_for(Duration::from_secs(10), "the finished run", || {
        let run = body_json(at(
            &c,
            &sb,
            &format!("/jenkins/job/flow/{number}/wfapi/describe"),
        ));
        (run["status"] == "SUCCESS").then_some(run)
    });
    let own = format!("/jenkins/job/flow/{number}/");
    assert_eq!(
        run["_links"]["self"]["href"],
        format!("{own}wfapi/describe").as_str()
    );
    assert_eq!(
        run["_links"]["artifacts"]["href"],
        format!("{own}wfapi/artifacts").as_str()
    );
    let stage = &run["stages"][0]["_links"]["self"]["href"];
    assert!(
        stage.as_str().is_some_and(|h| h.starts_with(&own)),
        "{stage}"
    );
    let artifacts = body_json(at(&c, &sb, &format!("{own}wfapi/artifacts")));
    assert_eq!(
        artifacts[0]["url"],
        format!("{own}artifact/out/report.txt").as_str()
    );
    let file = at(&c, &sb, &format!("{own}artifact/out/report.txt"));
    assert_eq!(file.status(), 200);
    assert_eq!(file.text().expect("body"), "ok");
    let job = body_json(at(&c, &sb, "/jenkins/job/flow/wfapi/describe"));
    assert_eq!(
        job["_links"]["runs"]["href"],
        "/jenkins/job/flow/wfapi/runs"
    );
}

#[test]
fn a_root_url_naming_another_host_fills_url_fields_while_locations_keep_the_request_host() {
    let sb = common::sandbox(
        "speed: 100\nquiet_period: 0s\ncontext_path: /jenkins\nroot_url: https://jenkins.corp.example/jenkins/\njobs:\n  - path: app\n",
    );
    let c = client();
    let root = body_json(at(&c, &sb, "/jenkins/api/json"));
    assert_eq!(root["url"], "https://jenkins.corp.example/jenkins/");
    let created = post_at(&c, &sb, "/jenkins/job/app/build?delay=0");
    let id = queue_id(&created);
    assert_eq!(
        header(&created, "location"),
        Some(format!("{}/jenkins/queue/item/{id}/", sb.url()))
    );
    let number = wait_for(Duration::from_secs(10), "the build", || {
        let item = body_json(at(&c, &sb, &format!("/jenkins/queue/item/{id}/api/json")));
        item["executable"]["number"].as_u64()
    });
    let build = body_json(at(&c, &sb, &format!("/jenkins/job/app/{number}/api/json")));
    assert_eq!(
        build["url"],
        format!("https://jenkins.corp.example/jenkins/job/app/{number}/").as_str()
    );
}

fn door(otherwise: &str) -> Sandbox {
    common::sandbox(&format!(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: app\nfront_door:\n  headers: {{ X-Forwarded-User: release-bot }}\n  bearer: [iap-token-1]\n  otherwise: {otherwise}\n  redirect_to: http://127.0.0.1:9/sso/login\n"
    ))
}

fn through_door(c: &Client, sb: &Sandbox, user: Option<&str>, bearer: Option<&str>) -> Response {
    let mut request = c
        .get(format!("{}/api/json", sb.url()))
        .basic_auth(USER, Some(TOKEN));
    if let Some(user) = user {
        request = request.header("X-Forwarded-User", user);
    }
    if let Some(token) = bearer {
        request = request.header("Proxy-Authorization", format!("Bearer {token}"));
    }
    request.send().expect("request")
}

#[test]
fn a_front_door_lets_through_only_requests_with_its_header_and_token() {
    let sb = door("login_page");
    let c = client();
    let passed = through_door(&c, &sb, Some("release-bot"), Some("iap-token-1"));
    assert_eq!(passed.status(), 200);
    assert!(header(&passed, "x-jenkins").is_some());

    for (user, bearer) in [
        (None, Some("iap-token-1")),
        (Some("someone-else"), Some("iap-token-1")),
        (Some("release-bot"), None),
        (Some("release-bot"), Some("wrong")),
    ] {
        let page = through_door(&c, &sb, user, bearer);
        assert_eq!(page.status(), 200, "{user:?} {bearer:?}");
        assert_eq!(header(&page, "x-jenkins"), None);
        assert!(
            header(&page, "content-type").is_some_and(|t| t.starts_with("text/html")),
            "a sign-in page"
        );
        assert!(page.text().expect("body").contains("Sign in"));
    }
    // The control routes need no pass.
    assert!(control(&sb, "GET", "stats", Value::Null)["routes"].is_object());
}

#[test]
fn a_front_door_answers_with_a_redirect_a_401_or_a_403_that_are_not_jenkins() {
    let c = client();
    let redirect = through_door(&c, &door("redirect"), None, None);
    assert_eq!(redirect.status(), 302);
    assert_eq!(header(&redirect, "x-jenkins"), None);
    let location = header(&redirect, "location").expect("Location");
    assert!(
        location.starts_with("http://127.0.0.1:9/sso/login?rd="),
        "{location}"
    );

    let unauthorized = through_door(&c, &door("unauthorized"), None, None);
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(header(&unauthorized, "x-jenkins"), None);
    assert_eq!(
        header(&unauthorized, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(unauthorized.text().expect("body"), "{}");

    let forbidden = through_door(&c, &door("forbidden"), None, None);
    assert_eq!(forbidden.status(), 403);
    assert_eq!(header(&forbidden, "x-jenkins"), None);
    assert!(header(&forbidden, "content-type").is_some_and(|t| t.starts_with("text/html")));
}

#[test]
fn the_request_log_records_header_names_but_never_their_values() {
    let sb = door("login_page");
    let c = client();
    through_door(&c, &sb, Some("release-bot"), Some("iap-token-1"));
    through_door(&c, &sb, None, None);
    let log = control(&sb, "GET", "requests", Value::Null);
    let entries = log.as_array().expect("a list");
    assert_eq!(entries.len(), 2, "{log}");
    let names = |i: usize| -> Vec<String> {
        entries[i]["headers"]
            .as_array()
            .expect("header names")
            .iter()
            .filter_map(|h| h.as_str().map(str::to_string))
            .collect()
    };
    assert!(names(0).contains(&"x-forwarded-user".to_string()));
    assert!(names(0).contains(&"proxy-authorization".to_string()));
    assert!(names(0).contains(&"authorization".to_string()));
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[0]["path"], "/api/json");
    assert_eq!(entries[1]["route"], "front_door");
    assert!(!names(1).contains(&"x-forwarded-user".to_string()));
    let text = log.to_string();
    assert!(!text.contains("release-bot") && !text.contains("iap-token-1"));
}

#[test]
fn context_paths_front_doors_and_root_urls_are_checked_when_the_config_loads() {
    for (yaml, expected) in [
        ("context_path: jenkins\n", "context_path"),
        ("root_url: jenkins.example\n", "root_url"),
        ("front_door:\n  otherwise: redirect\n", "redirect_to"),
        ("front_door:\n  otherwise: maybe\n", "otherwise"),
    ] {
        let err = jrun::sandbox::SandboxConfig::parse(yaml, "c.yaml")
            .expect_err(yaml)
            .to_string();
        assert!(err.contains(expected), "{yaml}: {err}");
    }
}

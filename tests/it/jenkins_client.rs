//! The Jenkins client against the sandbox over real HTTP: authentication and crumbs, URL
//! encoding, triggering exactly once, following queue items and builds, retries, and keeping
//! secrets out of every message (research doc §1, §2, §3, §4, §5, §7; DESIGN §3, §5).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use jrun::jenkins::{
    Auth, Build, Client, Error, QueueState, Secret, ServerSettings, Triggered, job_path,
};
use jrun::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

const USER: &str = "alice";
const PASSWORD: &str = "alice-password-S3cr3t";
const TOKEN: &str = "11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Starts a sandbox on a fast clock with alice (password and token) as its user, unless the
/// YAML names its own settings.
fn sandbox(yaml: &str) -> Sandbox {
    let mut text =
        format!("users:\n  - name: {USER}\n    password: {PASSWORD}\n    tokens: [\"{TOKEN}\"]\n");
    if !yaml.contains("speed:") {
        text.push_str("speed: 100\n");
    }
    if !yaml.contains("quiet_period:") {
        text.push_str("quiet_period: 0s\n");
    }
    text.push_str(yaml);
    Sandbox::start(SandboxConfig::parse(&text, "test config").expect("valid config"))
        .expect("sandbox starts")
}

fn token() -> Auth {
    Auth::Token {
        user: USER.to_string(),
        token: Secret::new(TOKEN),
    }
}

fn password() -> Auth {
    Auth::Password {
        user: USER.to_string(),
        password: Secret::new(PASSWORD),
    }
}

fn settings_for(url: &str, auth: Auth) -> ServerSettings {
    let mut settings = ServerSettings::new("default", url, auth);
    settings.request_timeout = Duration::from_secs(5);
    settings.unreachable_timeout = Duration::from_secs(10);
    settings
}

fn client(sb: &Sandbox, auth: Auth) -> Client {
    Client::new(settings_for(&sb.url(), auth)).expect("client")
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn control(sb: &Sandbox, route: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/__sandbox/{route}", sb.url()))
        .json(&body)
        .send()
        .await
        .expect("control request");
    assert!(response.status().is_success(), "control {route}");
    response.json().await.expect("control JSON")
}

async fn sandbox_stats(sb: &Sandbox) -> Value {
    reqwest::get(format!("{}/__sandbox/stats", sb.url()))
        .await
        .expect("stats request")
        .json()
        .await
        .expect("stats JSON")
}

async fn set_faults(sb: &Sandbox, faults: Value) {
    control(sb, "faults", faults).await;
}

/// How often the sandbox saw a route, e.g. `GET crumb` or `POST crumb_rejected`.
fn hits(sb: &Sandbox, route: &str) -> u64 {
    sb.with_model(|m| m.stats.routes.get(route).map_or(0, |r| r.count))
}

/// The builds of a job as the sandbox holds them: (number, queue id, parameters as shown).
fn sandbox_builds(sb: &Sandbox, job: &str) -> Vec<(u32, u64, BTreeMap<String, String>)> {
    sb.with_model(|m| {
        m.job(job)
            .map(|j| {
                j.builds
                    .values()
                    .map(|b| {
                        let params = b
                            .params
                            .iter()
                            .flatten()
                            .map(|(n, v)| (n.clone(), v.display()))
                            .collect();
                        (b.number, b.queue_id, params)
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Waits until the sandbox holds `count` builds of `job` (queued triggers of a job that runs
/// one build at a time start one after the other).
async fn expect_builds(sb: &Sandbox, job: &str, count: usize) {
    eventually(&format!("{count} builds of {job}"), || async {
        (sandbox_builds(sb, job).len() >= count).then_some(())
    })
    .await;
    assert_eq!(sandbox_builds(sb, job).len(), count);
}

/// Polls `check` every 20 ms until it gives Some, failing after 15 s of real time.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn started(c: &Client, queue_id: u64) -> u64 {
    eventually("the queue item to start", || async move {
        match c.queue_item(queue_id).await.expect("queue item").state {
            QueueState::Started { number, .. } => Some(number),
            QueueState::Cancelled => panic!("queue item {queue_id} was cancelled"),
            _ => None,
        }
    })
    .await
}

async fn finished(c: &Client, job: &str, number: u64) -> Build {
    eventually("the build to finish", || async move {
        let build = c.build(job, number).await.expect("build");
        (!build.building).then_some(build)
    })
    .await
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

const APP: &str = "jobs:\n  - path: app\n    parameters: [{name: VERSION}]\n";

/// A one-connection-per-request HTTP server that records what arrives on the wire and plays
/// back canned answers, for the details the sandbox cannot show (it decodes before it looks).
async fn wire(answers: Vec<String>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for answer in answers {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut raw = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = socket.read(&mut chunk).await.expect("read");
                assert!(n > 0, "connection closed mid-request");
                raw.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&raw).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())
                                .flatten()
                        })
                        .unwrap_or(0);
                    if raw.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            socket.write_all(answer.as_bytes()).await.expect("write");
            seen.push(String::from_utf8_lossy(&raw).into_owned());
        }
        seen
    });
    (url, server)
}

fn answer(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

// ---- authentication and crumbs ----

#[tokio::test]
async fn token_auth_triggers_without_ever_asking_for_a_crumb() {
    let sb = sandbox(APP);
    let c = client(&sb, token());
    let job = c.job("app").await.expect("job");
    assert_eq!(job.parameters.len(), 1);
    let triggered = c
        .trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("trigger");
    assert!(!triggered.folded && !triggered.recovered);
    started(&c, triggered.queue_id).await;
    c.trigger("app", &params(&[("VERSION", "2")]), true, None)
        .await
        .expect("second trigger");
    assert_eq!(hits(&sb, "GET crumb"), 0);
    assert_eq!(hits(&sb, "POST crumb_rejected"), 0);
    assert_eq!(hits(&sb, "POST trigger:buildWithParameters"), 2);
}

#[tokio::test]
async fn password_auth_fetches_one_crumb_and_sends_it_with_the_session_cookie() {
    let sb = sandbox(APP);
    let c = client(&sb, password());
    for version in ["1", "2", "3"] {
        c.trigger("app", &params(&[("VERSION", version)]), true, None)
            .await
            .expect("trigger");
    }
    assert_eq!(hits(&sb, "GET crumb"), 1);
    // A crumb sent without its session cookie would have been rejected.
    assert_eq!(hits(&sb, "POST crumb_rejected"), 0);
    assert_eq!(sb.with_model(|m| m.sessions.len()), 1);
    expect_builds(&sb, "app", 3).await;
}

#[tokio::test]
async fn concurrent_first_posts_share_one_crumb() {
    let sb = sandbox(APP);
    let c = client(&sb, password());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..5 {
        let c = c.clone();
        tasks.spawn(async move {
            c.trigger("app", &params(&[("VERSION", &i.to_string())]), true, None)
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("trigger");
    }
    assert_eq!(hits(&sb, "GET crumb"), 1);
}

#[tokio::test]
async fn a_crumb_whose_session_was_invalidated_is_refetched_once_and_the_post_succeeds() {
    let sb = sandbox(APP);
    let c = client(&sb, password());
    c.trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("first trigger");
    control(&sb, "sessions/invalidate", json!({})).await;
    let second = c
        .trigger("app", &params(&[("VERSION", "2")]), true, None)
        .await
        .expect("trigger after the session was dropped");
    assert!(!second.recovered);
    assert_eq!(hits(&sb, "POST crumb_rejected"), 1);
    assert_eq!(hits(&sb, "GET crumb"), 2);
    expect_builds(&sb, "app", 2).await;
}

#[tokio::test]
async fn a_token_that_is_really_a_password_gets_a_crumb_after_one_refusal() {
    let sb = sandbox(APP);
    let c = client(
        &sb,
        Auth::Token {
            user: USER.to_string(),
            token: Secret::new(PASSWORD),
        },
    );
    c.trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("trigger");
    c.trigger("app", &params(&[("VERSION", "2")]), true, None)
        .await
        .expect("second trigger");
    // The first refusal teaches the client to send the crumb from then on.
    assert_eq!(hits(&sb, "POST crumb_rejected"), 1);
    assert_eq!(hits(&sb, "GET crumb"), 1);
    expect_builds(&sb, "app", 2).await;
}

#[tokio::test]
async fn with_csrf_off_password_posts_go_without_a_crumb() {
    let sb = sandbox(&format!("csrf: false\n{APP}"));
    let c = client(&sb, password());
    for version in ["1", "2"] {
        c.trigger("app", &params(&[("VERSION", version)]), true, None)
            .await
            .expect("trigger");
    }
    // One 404 from the crumb issuer, remembered.
    assert_eq!(hits(&sb, "GET not_found"), 1);
    assert_eq!(hits(&sb, "GET crumb"), 0);
    expect_builds(&sb, "app", 2).await;
}

#[tokio::test]
async fn anonymous_triggers_fetch_a_crumb_like_passwords_do() {
    let sb = sandbox(&format!("anonymous: build\n{APP}"));
    let c = client(&sb, Auth::Anonymous);
    let triggered = c
        .trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("anonymous trigger");
    started(&c, triggered.queue_id).await;
    assert_eq!(hits(&sb, "GET crumb"), 1);
    assert_eq!(hits(&sb, "POST crumb_rejected"), 0);
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error_naming_the_user_but_not_the_token() {
    let sb = sandbox(APP);
    let wrong = "wrong-token-0123456789";
    let c = client(
        &sb,
        Auth::Token {
            user: USER.to_string(),
            token: Secret::new(wrong),
        },
    );
    for err in [
        c.job("app").await.expect_err("read with a wrong token"),
        c.trigger("app", &params(&[("VERSION", "1")]), true, None)
            .await
            .expect_err("trigger with a wrong token"),
    ] {
        assert!(matches!(err, Error::Auth { status: 401, .. }), "{err:?}");
        let text = format!("{err} {err:?}");
        assert!(text.contains(USER) && text.contains("token"), "{text}");
        assert!(!text.contains(wrong), "{text}");
        assert!(!err.is_transient());
    }
    assert!(sandbox_builds(&sb, "app").is_empty());
}

#[tokio::test]
async fn missing_permission_is_an_auth_error_that_says_which() {
    let sb = sandbox(APP);
    let c = client(&sb, Auth::Anonymous);
    let err = c.job("app").await.expect_err("anonymous read");
    assert!(matches!(err, Error::Auth { status: 403, .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("anonymous") && text.contains("hudson.model.Hudson.Read"),
        "{text}"
    );
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output_or_error_messages() {
    let job_token = "job-trigger-token-4711";
    let sb = sandbox(&format!(
        "{APP}  - path: guarded\n    token: right-job-token\n"
    ));
    let mut texts = Vec::new();
    let mut record = |e: &Error| texts.push(format!("{e} | {e:?}"));

    let settings = settings_for(&sb.url(), token());
    let pw_settings = settings_for(&sb.url(), password());
    let good = client(&sb, token());
    let pw = client(&sb, password());
    let debug = vec![
        format!("{settings:?}"),
        format!("{pw_settings:?}"),
        format!("{good:?}"),
        format!("{pw:?}"),
        format!("{:?} {}", Secret::new(TOKEN), Secret::new(TOKEN)),
    ];

    let bad_token = client(
        &sb,
        Auth::Token {
            user: USER.to_string(),
            token: Secret::new("not-the-token-xyz"),
        },
    );
    record(&bad_token.job("app").await.expect_err("401"));
    let bad_password = client(
        &sb,
        Auth::Password {
            user: USER.to_string(),
            password: Secret::new("not-the-password-xyz"),
        },
    );
    record(
        &bad_password
            .trigger("app", &params(&[("VERSION", "1")]), true, None)
            .await
            .expect_err("401 on the crumb"),
    );
    record(
        &good
            .trigger("guarded", &[], false, Some(job_token))
            .await
            .expect_err("wrong job token"),
    );
    record(
        &good
            .trigger("no-such-job", &[], false, Some(job_token))
            .await
            .expect_err("404 with a token in the query"),
    );
    let mut dead = settings_for(&format!("http://127.0.0.1:{}", closed_port()), password());
    dead.unreachable_timeout = Duration::from_millis(300);
    let dead = Client::new(dead).expect("client");
    record(
        &dead
            .trigger("app", &params(&[("VERSION", "1")]), true, Some(job_token))
            .await
            .expect_err("unreachable"),
    );
    record(
        &Client::new(settings_for(
            &format!("http://{USER}:{PASSWORD}@127.0.0.1:1/"),
            token(),
        ))
        .expect_err("credentials in the URL"),
    );

    assert_eq!(texts.len(), 6);
    for text in texts.iter().chain(&debug) {
        for secret in [
            TOKEN,
            PASSWORD,
            "not-the-token-xyz",
            "not-the-password-xyz",
            job_token,
        ] {
            assert!(!text.contains(secret), "`{secret}` leaked into: {text}");
        }
    }
    assert!(
        debug[0].contains("****") && debug[0].contains(USER),
        "{}",
        debug[0]
    );
}

// ---- names and URLs ----

#[test]
fn job_paths_are_encoded_per_segment_like_jenkins_raw_encode() {
    assert_eq!(job_path("a/b c").unwrap(), "job/a/job/b%20c/");
    assert_eq!(job_path("feature%2Ffoo").unwrap(), "job/feature%252Ffoo/");
    assert_eq!(
        job_path("repo/feature%2Ffoo").unwrap(),
        "job/repo/job/feature%252Ffoo/"
    );
    assert_eq!(job_path("x&y=z(1)+!").unwrap(), "job/x&y=z(1)+!/");
    assert_eq!(job_path("é").unwrap(), "job/%C3%A9/");
    assert_eq!(job_path("a?b#c;d").unwrap(), "job/a%3Fb%23c%3Bd/");
    for bad in ["", "a//b", "a/", "/a", "a/../b"] {
        assert!(
            matches!(job_path(bad), Err(Error::Config { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn the_base_url_keeps_its_path_prefix() {
    let c = Client::new(settings_for("https://ci.example.com/jenkins", token())).unwrap();
    assert_eq!(c.base_url(), "https://ci.example.com/jenkins/");
    assert_eq!(
        c.job_url("platform/app build").unwrap(),
        "https://ci.example.com/jenkins/job/platform/job/app%20build/"
    );
    for bad in ["ci.example.com", "ftp://ci.example.com", "https://ci/?x=1"] {
        assert!(
            matches!(
                Client::new(settings_for(bad, token())),
                Err(Error::Config { .. })
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn on_the_wire_requests_carry_encoded_segments_a_tree_filter_user_agent_and_basic_auth() {
    let job = r#"{"_class":"org.jenkinsci.plugins.workflow.job.WorkflowJob","fullName":"repo/feature%2Ffoo","buildable":true,"property":[]}"#;
    let (url, server) = wire(vec![
        answer("200 OK", "content-type: application/json\r\n", job),
        answer(
            "201 Created",
            "location: http://internal-host:8080/queue/item/77/\r\n",
            "",
        ),
    ])
    .await;
    let c = Client::new(settings_for(&format!("{url}/jenkins"), token())).expect("client");
    let found = c.job("repo/feature%2Ffoo").await.expect("job");
    assert_eq!(found.full_name, "repo/feature%2Ffoo");
    let triggered = c
        .trigger(
            "repo/feature%2Ffoo",
            &params(&[("V", "a b&c=d+%")]),
            true,
            None,
        )
        .await
        .expect("trigger");
    // Only the id is taken from Location; its host is never contacted.
    assert_eq!(triggered.queue_id, 77);
    let seen = server.await.expect("server");
    let lower: Vec<String> = seen.iter().map(|r| r.to_ascii_lowercase()).collect();
    assert!(
        seen[0].starts_with(
            "GET /jenkins/job/repo/job/feature%252Ffoo/api/json?tree=_class%2CfullName%2Cbuildable%2Cproperty%5BparameterDefinitions%5B"
        ),
        "{}",
        seen[0]
    );
    assert!(
        seen[1]
            .starts_with("POST /jenkins/job/repo/job/feature%252Ffoo/buildWithParameters HTTP/1.1"),
        "{}",
        seen[1]
    );
    assert!(
        seen[1].ends_with("\r\n\r\nV=a+b%26c%3Dd%2B%25"),
        "{}",
        seen[1]
    );
    assert!(lower[1].contains("content-type: application/x-www-form-urlencoded"));
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{TOKEN}"));
    for request in &lower {
        assert!(request.contains("user-agent: jrun/"), "{request}");
        assert!(request.contains(&format!(
            "authorization: basic {}",
            basic.to_ascii_lowercase()
        )));
        assert!(request.contains("accept-encoding: gzip"), "{request}");
        assert!(!request.contains("jenkins-crumb"), "{request}");
    }
}

#[tokio::test]
async fn folder_jobs_with_spaces_and_unicode_are_found_and_triggered() {
    let name = "team folder/sub job é";
    let sb = sandbox(&format!(
        "jobs:\n  - path: \"{name}\"\n    parameters: [{{name: P}}]\n"
    ));
    let c = client(&sb, token());
    let job = c.job(name).await.expect("folder job");
    assert_eq!(job.full_name, name);
    assert!(job.buildable);
    let folder = c.job("team folder").await.expect("the folder itself");
    assert!(
        !folder.buildable && folder.class.contains("Folder"),
        "{folder:?}"
    );
    let triggered = c
        .trigger(name, &params(&[("P", "x")]), true, None)
        .await
        .expect("trigger");
    let number = started(&c, triggered.queue_id).await;
    let build = finished(&c, name, number).await;
    assert_eq!(build.result.as_deref(), Some("SUCCESS"));
    assert_eq!(sandbox_builds(&sb, name).len(), 1);
    assert!(matches!(
        c.job("team folder/other").await,
        Err(Error::NotFound { .. })
    ));
}

// ---- triggering ----

#[tokio::test]
async fn parameters_arrive_byte_for_byte() {
    let sb = sandbox(concat!(
        "jobs:\n  - path: params\n    parameters:\n",
        "      - {name: S}\n",
        "      - {name: T, type: text}\n",
        "      - {name: B, type: boolean}\n",
        "      - {name: C, type: choice, choices: [\"plain\", \"x y+z&w=%\"]}\n",
        "      - {name: E}\n",
        "      - {name: D, default: \"the default\"}\n",
    ));
    let c = client(&sb, password());
    let sent = params(&[
        ("S", "a b&c=d +plus %41 100% \"dq\" 'sq' é ü 日本 🚀"),
        ("T", "line one\nline two\r\n\ttabbed; semi?q#h"),
        ("B", "true"),
        ("C", "x y+z&w=%"),
        ("E", ""),
    ]);
    let triggered = c
        .trigger("params", &sent, true, None)
        .await
        .expect("trigger");
    started(&c, triggered.queue_id).await;
    let builds = sandbox_builds(&sb, "params");
    assert_eq!(builds.len(), 1);
    let got = &builds[0].2;
    for (name, value) in &sent {
        assert_eq!(got.get(name), Some(value), "parameter {name}");
    }
    assert_eq!(got.get("D").map(String::as_str), Some("the default"));
}

#[tokio::test]
async fn job_definitions_report_parameters_defaults_and_choices() {
    let sb = sandbox(concat!(
        "jobs:\n  - path: defs\n    parameters:\n",
        "      - {name: S, default: hello}\n",
        "      - {name: B, type: boolean, default: true}\n",
        "      - {name: C, type: choice, choices: [eu, us]}\n",
        "      - {name: P, type: password, default: hidden}\n",
        "  - path: off\n    disabled: true\n",
    ));
    let c = client(&sb, token());
    let job = c.job("defs").await.expect("job");
    assert!(job.buildable);
    let by_name = |n: &str| job.parameters.iter().find(|p| p.name == n).unwrap().clone();
    assert_eq!(by_name("S").kind, "StringParameterDefinition");
    assert_eq!(by_name("S").default.as_deref(), Some("hello"));
    assert_eq!(by_name("B").kind, "BooleanParameterDefinition");
    assert_eq!(by_name("B").default.as_deref(), Some("true"));
    assert_eq!(by_name("C").choices, vec!["eu", "us"]);
    assert_eq!(by_name("C").default.as_deref(), Some("eu"));
    assert_eq!(by_name("P").kind, "PasswordParameterDefinition");
    assert_eq!(by_name("P").default, None);
    assert!(!c.job("off").await.expect("disabled job").buildable);
    assert!(matches!(c.job("nope").await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn a_trigger_token_goes_in_the_query_only_when_given() {
    let sb = sandbox("jobs:\n  - path: remote\n    token: tok-1\n  - path: plain\n");
    let c = client(&sb, token());
    c.trigger("remote", &[], false, Some("tok-1"))
        .await
        .expect("trigger with token");
    c.trigger("plain", &[], false, None)
        .await
        .expect("trigger without token");
    let triggers = sb.triggers();
    let of = |job: &str| triggers.iter().find(|t| t.job == job).unwrap();
    assert!(
        of("remote")
            .params
            .contains(&("token".into(), "tok-1".into()))
    );
    assert!(of("plain").params.iter().all(|(k, _)| k != "token"));
    assert_eq!(of("plain").endpoint, "build");
}

#[tokio::test]
async fn an_identical_trigger_while_queued_is_folded_with_303() {
    let sb = sandbox("jobs:\n  - path: slow\n    quiet_period: 1h\n    parameters: [{name: V}]\n");
    let c = client(&sb, token());
    let first = c
        .trigger("slow", &params(&[("V", "a")]), true, None)
        .await
        .expect("first");
    let again = c
        .trigger("slow", &params(&[("V", "a")]), true, None)
        .await
        .expect("identical");
    let other = c
        .trigger("slow", &params(&[("V", "b")]), true, None)
        .await
        .expect("different");
    assert_eq!(
        again,
        Triggered {
            queue_id: first.queue_id,
            folded: true,
            recovered: false
        }
    );
    assert!(!first.folded && !other.folded);
    assert_ne!(other.queue_id, first.queue_id);
    assert_eq!(sb.with_model(|m| m.queue.len()), 2);
}

#[tokio::test]
async fn trigger_errors_carry_jenkins_message_not_its_html() {
    let sb = sandbox(concat!(
        "jobs:\n",
        "  - path: withparams\n    parameters: [{name: C, type: choice, choices: [a, b]}]\n",
        "  - path: noparams\n",
        "  - path: off\n    disabled: true\n",
    ));
    let c = client(&sb, token());
    let cases: Vec<(Result<Triggered, Error>, u16, &str)> = vec![
        (
            c.trigger("withparams", &[], false, None).await,
            400,
            "Nothing is submitted",
        ),
        (
            c.trigger("noparams", &[], true, None).await,
            400,
            "noparams is not parameterized",
        ),
        (
            c.trigger("off", &[], false, None).await,
            409,
            "off is not buildable",
        ),
        (
            c.trigger("missing", &[], false, None).await,
            404,
            "Not Found",
        ),
        (
            c.trigger("withparams", &params(&[("C", "zz")]), true, None)
                .await,
            500,
            "Illegal choice for parameter C: zz",
        ),
    ];
    for (result, status, message) in cases {
        match result {
            Err(Error::Http {
                status: got,
                message: text,
                ..
            }) => {
                assert_eq!(got, status, "{text}");
                assert!(text.contains(message), "{text}");
                assert!(!text.contains('<'), "{text}");
            }
            other => panic!("expected HTTP {status}, got {other:?}"),
        }
    }
    // A definite refusal is never retried (the unknown job's 404 comes before the trigger
    // route, so it is not in the log).
    assert_eq!(sb.triggers().len(), 4);
}

#[tokio::test]
async fn a_trigger_whose_answer_was_lost_finds_the_build_instead_of_building_twice() {
    let sb = sandbox(APP);
    let c = client(&sb, token());
    set_faults(
        &sb,
        json!({"reset_burst": 1, "reset_after_processing": true, "scope": "triggers"}),
    )
    .await;
    let triggered = c
        .trigger("app", &params(&[("VERSION", "7")]), true, None)
        .await
        .expect("trigger");
    assert!(triggered.recovered, "{triggered:?}");
    let builds = eventually("the build", || async {
        let builds = sandbox_builds(&sb, "app");
        (!builds.is_empty()).then_some(builds)
    })
    .await;
    assert_eq!(builds.len(), 1, "{builds:?}");
    assert_eq!(builds[0].1, triggered.queue_id);
    assert!(sb.with_model(|m| m.queue.is_empty()));
    assert!(sb.triggers().len() <= 2);
}

#[tokio::test]
async fn a_trigger_whose_answer_was_lost_finds_its_queue_item() {
    let sb = sandbox("jobs:\n  - path: slow\n    quiet_period: 1h\n    parameters: [{name: V}]\n");
    let c = client(&sb, password());
    set_faults(
        &sb,
        json!({"reset_burst": 1, "reset_after_processing": true, "scope": "triggers"}),
    )
    .await;
    let triggered = c
        .trigger("slow", &params(&[("V", "x")]), true, None)
        .await
        .expect("trigger");
    assert!(triggered.recovered, "{triggered:?}");
    let ids: Vec<u64> = sb.with_model(|m| m.queue.keys().copied().collect());
    assert_eq!(ids, vec![triggered.queue_id]);
    assert!(matches!(
        c.queue_item(triggered.queue_id).await.expect("item").state,
        QueueState::Waiting { .. }
    ));
}

#[tokio::test]
async fn a_trigger_refused_with_503_before_processing_is_sent_again_and_builds_once() {
    let sb = sandbox(APP);
    let c = client(&sb, token());
    set_faults(&sb, json!({"error_burst": 1, "scope": "triggers"})).await;
    let triggered = c
        .trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("trigger");
    assert!(!triggered.recovered);
    started(&c, triggered.queue_id).await;
    assert_eq!(hits(&sb, "POST fault"), 1);
    expect_builds(&sb, "app", 1).await;
    // The check before the second POST looked in the queue and the job's builds.
    assert!(hits(&sb, "GET queue") >= 1);
}

#[tokio::test]
async fn an_older_identical_build_is_not_taken_for_the_one_a_failed_post_should_have_made() {
    // Real-time clock, so that the sandbox's timestamps and its Date header agree.
    let sb = sandbox(
        "speed: 1\njobs:\n  - path: app\n    parameters: [{name: VERSION}]\n    builds: [{duration: 100ms}]\n",
    );
    let c = client(&sb, token());
    let first = c
        .trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("first trigger");
    let number = started(&c, first.queue_id).await;
    finished(&c, "app", number).await;
    // Older than the Date header's whole seconds and the client's slack can blur.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    set_faults(
        &sb,
        json!({"error_burst": 1, "error_status": 502, "scope": "triggers"}),
    )
    .await;
    let second = c
        .trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("second trigger");
    assert!(!second.recovered, "{second:?}");
    assert_ne!(second.queue_id, first.queue_id);
    started(&c, second.queue_id).await;
    expect_builds(&sb, "app", 2).await;
}

#[tokio::test]
async fn a_trigger_during_a_restart_waits_for_jenkins_and_queues_once() {
    let sb = sandbox(APP);
    let c = client(&sb, token());
    c.job("app").await.expect("job");
    control(&sb, "restart", json!({"duration": "100s"})).await;
    let before = Instant::now();
    let triggered = c
        .trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("trigger");
    assert!(before.elapsed() >= Duration::from_millis(500));
    assert!(!triggered.recovered);
    started(&c, triggered.queue_id).await;
    expect_builds(&sb, "app", 1).await;
    assert_eq!(c.restarts(), 1);
}

// ---- following the queue ----

#[tokio::test]
async fn a_cancelled_queue_item_reads_as_cancelled_and_cancelling_again_is_fine() {
    let sb = sandbox("jobs:\n  - path: slow\n    quiet_period: 1h\n");
    let c = client(&sb, password());
    let triggered = c.trigger("slow", &[], false, None).await.expect("trigger");
    match c.queue_item(triggered.queue_id).await.expect("item").state {
        QueueState::Waiting {
            why: Some(why),
            blocked: false,
            ..
        } => assert!(why.contains("quiet period"), "{why}"),
        other => panic!("expected waiting, got {other:?}"),
    }
    c.cancel_queue_item(triggered.queue_id)
        .await
        .expect("cancel");
    assert_eq!(
        c.queue_item(triggered.queue_id).await.expect("item").state,
        QueueState::Cancelled
    );
    c.cancel_queue_item(triggered.queue_id)
        .await
        .expect("cancelling a left item");
    c.cancel_queue_item(987_654)
        .await
        .expect("cancelling an unknown item");
    assert!(sandbox_builds(&sb, "slow").is_empty());
}

#[tokio::test]
async fn queue_items_say_why_they_are_blocked_and_when_they_started() {
    let sb = sandbox(
        "jobs:\n  - path: serial\n    parameters: [{name: N}]\n    builds: [{duration: 1h}]\n",
    );
    let c = client(&sb, token());
    let first = c
        .trigger("serial", &params(&[("N", "1")]), true, None)
        .await
        .expect("first");
    let number = started(&c, first.queue_id).await;
    let second = c
        .trigger("serial", &params(&[("N", "2")]), true, None)
        .await
        .expect("second");
    let state = eventually("the second item to block", || async {
        match c.queue_item(second.queue_id).await.expect("item").state {
            s @ QueueState::Waiting { blocked: true, .. } => Some(s),
            _ => None,
        }
    })
    .await;
    let QueueState::Waiting { why: Some(why), .. } = state else {
        panic!("no reason given")
    };
    assert!(why.contains("already in progress"), "{why}");
    c.stop("serial", number).await.expect("stop");
    let next = started(&c, second.queue_id).await;
    assert_eq!(next, number + 1);
}

#[tokio::test]
async fn an_item_that_leaves_without_a_build_reads_as_left_without_build() {
    let sb = sandbox("jobs:\n  - path: flaky\n    quiet_period: 60s\n");
    let c = client(&sb, token());
    let triggered = c.trigger("flaky", &[], false, None).await.expect("trigger");
    control(&sb, "job-state", json!({"job": "flaky", "disabled": true})).await;
    eventually("the item to leave", || async {
        let state = c.queue_item(triggered.queue_id).await.expect("item").state;
        (state == QueueState::LeftWithoutBuild).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_expired_queue_item_is_not_found_and_its_build_is_found_by_queue_id() {
    let sb = sandbox(&format!("left_item_ttl: 2s\n{APP}"));
    let c = client(&sb, token());
    let ours = c
        .trigger("app", &params(&[("VERSION", "ours")]), true, None)
        .await
        .expect("trigger");
    eventually("the queue item to expire", || async {
        match c.queue_item(ours.queue_id).await {
            Err(Error::NotFound { what }) => Some(what),
            Ok(_) => None,
            Err(other) => panic!("{other:?}"),
        }
    })
    .await;
    // Someone else builds the job afterwards, so lastBuild is not ours.
    control(
        &sb,
        "trigger",
        json!({"job": "app", "params": {"VERSION": "theirs"}}),
    )
    .await;
    let last = eventually("their build", || async {
        c.permalink("app", "lastBuild")
            .await
            .expect("lastBuild")
            .filter(|b| b.number == 2)
    })
    .await;
    assert_ne!(last.queue_id, Some(ours.queue_id));
    let found = c
        .find_build_by_queue_id("app", ours.queue_id)
        .await
        .expect("search")
        .expect("our build");
    assert_eq!(found.number, 1);
    assert!(found.url.ends_with("/job/app/1/"), "{}", found.url);
    assert_eq!(
        c.find_build_by_queue_id("app", 999_999)
            .await
            .expect("search"),
        None
    );
}

#[tokio::test]
async fn finding_by_queue_id_looks_past_the_newest_hundred_builds() {
    let history: String = (0..105).map(|_| "      - {duration: 1s}\n").collect();
    let sb = sandbox(&format!("jobs:\n  - path: busy\n    history:\n{history}"));
    let oldest_queue_id = sandbox_builds(&sb, "busy")[0].1;
    let c = client(&sb, token());
    let found = c
        .find_build_by_queue_id("busy", oldest_queue_id)
        .await
        .expect("search")
        .expect("the oldest build");
    assert_eq!(found.number, 1);
    assert_eq!(hits(&sb, "GET job"), 2);
}

#[tokio::test]
async fn restarts_are_noticed_and_reads_ride_them_out() {
    // A Pipeline build survives the restart (a freestyle one would be aborted by it).
    let sb = sandbox("jobs:\n  - path: long\n    kind: pipeline\n    builds: [{duration: 1h}]\n");
    let c = client(&sb, token());
    let triggered = c.trigger("long", &[], false, None).await.expect("trigger");
    let number = started(&c, triggered.queue_id).await;
    assert!(!c.restarted());
    control(&sb, "restart", json!({"duration": "100s"})).await;
    let before = Instant::now();
    let build = c
        .build("long", number)
        .await
        .expect("read through the restart");
    assert!(before.elapsed() >= Duration::from_millis(500));
    assert!(build.building);
    assert!(c.restarted());
    assert_eq!(c.restarts(), 1);
    // A restart forgets left items; the build is found again by its queue id.
    assert!(matches!(
        c.queue_item(triggered.queue_id).await,
        Err(Error::NotFound { .. })
    ));
    let found = c
        .find_build_by_queue_id("long", triggered.queue_id)
        .await
        .expect("search");
    assert_eq!(found.map(|b| b.number), Some(number));
}

// ---- builds ----

#[tokio::test]
async fn stop_ends_a_running_build_aborted() {
    let sb = sandbox("jobs:\n  - path: long\n    builds: [{duration: 1h}]\n");
    let c = client(&sb, password());
    let triggered = c.trigger("long", &[], false, None).await.expect("trigger");
    let number = started(&c, triggered.queue_id).await;
    assert!(c.build("long", number).await.expect("build").building);
    c.stop("long", number).await.expect("stop");
    let build = finished(&c, "long", number).await;
    assert_eq!(build.result.as_deref(), Some("ABORTED"));
    c.stop("long", number)
        .await
        .expect("stopping a finished build");
    assert!(matches!(
        c.stop("long", 999).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_result_seen_while_still_building_does_not_mean_finished() {
    let sb = sandbox(
        "jobs:\n  - path: post\n    builds: [{duration: 200s, post_build: 150s, result: UNSTABLE}]\n",
    );
    let c = client(&sb, token());
    let triggered = c.trigger("post", &[], false, None).await.expect("trigger");
    let number = started(&c, triggered.queue_id).await;
    let saw_result_while_building = std::cell::Cell::new(false);
    let build = eventually("the build to finish", || {
        let (c, seen) = (&c, &saw_result_while_building);
        async move {
            let build = c.build("post", number).await.expect("build");
            if build.building && build.result.is_some() {
                seen.set(true);
            }
            (!build.building).then_some(build)
        }
    })
    .await;
    assert!(saw_result_while_building.get());
    assert_eq!(build.result.as_deref(), Some("UNSTABLE"));
    assert!(build.duration_ms >= 200_000, "{build:?}");
}

#[tokio::test]
async fn build_fields_come_through() {
    let sb = sandbox(APP);
    let c = client(&sb, token());
    let first = c
        .trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("trigger");
    let number = started(&c, first.queue_id).await;
    let build = c.build("app", number).await.expect("build");
    assert_eq!(build.number, 1);
    assert_eq!(build.queue_id, Some(first.queue_id));
    assert!(build.timestamp_ms > 0);
    assert!(build.url.ends_with("/job/app/1/"), "{}", build.url);
    let done = finished(&c, "app", number).await;
    assert_eq!(done.result.as_deref(), Some("SUCCESS"));
    let second = c
        .trigger("app", &params(&[("VERSION", "2")]), true, None)
        .await
        .expect("trigger");
    let number = started(&c, second.queue_id).await;
    let build = c.build("app", number).await.expect("build");
    assert_eq!(build.number, 2);
    assert_eq!(build.queue_id, Some(second.queue_id));
    assert!(matches!(
        c.build("app", 999).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_job_tells_how_long_its_recent_successful_builds_took_newest_first() {
    let sb = sandbox(
        "jobs:\n  - path: app\n    history: [{duration: 2s}, {duration: 3s, result: FAILURE}, {duration: 4s, result: UNSTABLE}]\n  - path: fresh\n",
    );
    let c = client(&sb, token());
    let job = c.job("app").await.expect("job");
    // The failed build is left out, as Jenkins leaves it out of its estimate.
    assert_eq!(job.recent_durations_ms, vec![4_000, 2_000]);
    assert_eq!(job.estimated_duration_ms, Some(3_000));
    let fresh = c.job("fresh").await.expect("job");
    assert!(fresh.recent_durations_ms.is_empty());
    assert_eq!(fresh.estimated_duration_ms, None);
}

#[tokio::test]
async fn a_started_item_tells_how_long_it_was_queued_by_jenkins_clock() {
    let sb = sandbox("speed: 20\nquiet_period: 2s\njobs:\n  - path: plain\n");
    let c = client(&sb, token());
    let triggered = c.trigger("plain", &[], false, None).await.expect("trigger");
    let queued_for = eventually("the queue item to start", || async {
        match c.queue_item(triggered.queue_id).await.expect("item").state {
            QueueState::Started { queued_for_ms, .. } => Some(queued_for_ms),
            _ => None,
        }
    })
    .await;
    // The quiet period, in Jenkins' milliseconds, however fast its clock runs.
    let queued_for = queued_for.expect("Jenkins shows inQueueSince and the build's timestamp");
    assert!((2_000..3_000).contains(&queued_for), "{queued_for}");
}

#[tokio::test]
async fn permalinks_of_a_job_without_such_builds_are_none() {
    let sb = sandbox("jobs:\n  - path: fresh\n");
    let c = client(&sb, token());
    assert_eq!(c.permalink("fresh", "lastBuild").await.expect("read"), None);
    let triggered = c.trigger("fresh", &[], false, None).await.expect("trigger");
    let number = started(&c, triggered.queue_id).await;
    finished(&c, "fresh", number).await;
    let last = c
        .permalink("fresh", "lastSuccessfulBuild")
        .await
        .expect("read")
        .expect("a successful build");
    assert_eq!(last.number, number);
    assert_eq!(
        c.permalink("fresh", "lastFailedBuild").await.expect("read"),
        None
    );
}

// ---- transient failures and politeness ----

#[tokio::test]
async fn reads_retry_5xx_bursts_and_connection_resets() {
    let sb = sandbox(APP);
    let c = client(&sb, token());
    set_faults(&sb, json!({"error_burst": 3, "scope": "reads"})).await;
    c.job("app").await.expect("read after 5xx");
    set_faults(&sb, json!({"reset_burst": 3, "scope": "reads"})).await;
    c.job("app").await.expect("read after resets");
    set_faults(
        &sb,
        json!({"error_burst": 2, "error_status": 500, "scope": "all"}),
    )
    .await;
    c.permalink("app", "lastBuild")
        .await
        .expect("read after 500s");
    assert_eq!(sandbox_stats(&sb).await["faults_injected"], 8);
    assert_eq!(hits(&sb, "GET job"), 2);
}

#[tokio::test]
async fn an_unreachable_server_gives_unreachable_after_the_timeout() {
    let mut settings = settings_for(&format!("http://127.0.0.1:{}", closed_port()), token());
    settings.unreachable_timeout = Duration::from_secs(1);
    let c = Client::new(settings).expect("client");
    let before = Instant::now();
    let err = c.job("app").await.expect_err("nothing listens");
    let took = before.elapsed();
    match &err {
        Error::Unreachable { server, after, .. } => {
            assert_eq!(server, "default");
            assert!(*after >= Duration::from_secs(1), "{after:?}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.is_transient());
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(c.stats().requests >= 3, "{:?}", c.stats());
    // A connection that was never made cannot have queued anything: no recovery reads.
    let before = Instant::now();
    let err = c
        .trigger("app", &[], false, None)
        .await
        .expect_err("trigger");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(before.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn at_most_max_in_flight_requests_reach_the_server_at_once() {
    let sb = sandbox(APP);
    set_faults(&sb, json!({"latency": "50ms", "scope": "reads"})).await;
    let run = |limit: usize| {
        let mut settings = settings_for(&sb.url(), token());
        settings.max_in_flight = limit;
        let c = Client::new(settings).expect("client");
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..12 {
                let c = c.clone();
                tasks.spawn(async move { c.job("app").await });
            }
            while let Some(done) = tasks.join_next().await {
                done.expect("task").expect("read");
            }
        }
    };
    run(2).await;
    assert_eq!(sandbox_stats(&sb).await["max_in_flight"], 2);
    control(&sb, "stats/reset", json!({})).await;
    // The same burst with a higher cap shows that the measurement can see more.
    run(6).await;
    assert!(sandbox_stats(&sb).await["max_in_flight"].as_u64().unwrap() > 2);
}

#[tokio::test]
async fn request_stats_count_what_was_sent_and_received() {
    let sb = sandbox(APP);
    let c = client(&sb, password());
    assert_eq!(c.stats().requests, 0);
    c.job("app").await.expect("job");
    let triggered = c
        .trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("trigger");
    let number = started(&c, triggered.queue_id).await;
    finished(&c, "app", number).await;
    let server = sandbox_stats(&sb).await;
    let mine = c.stats();
    assert_eq!(Some(mine.requests), server["requests"].as_u64());
    assert_eq!(Some(mine.bytes_received), server["bytes"].as_u64());
    // tree= keeps every answer small.
    assert!(mine.bytes_received / mine.requests < 1024, "{mine:?}");
}

// ---- answers that contradict the question ----

#[tokio::test]
async fn a_build_whose_queue_id_is_another_items_is_not_taken_for_it() {
    let sb = sandbox(APP);
    let mut settings = settings_for(&sb.url(), token());
    settings.unreachable_timeout = Duration::from_millis(500);
    let c = Client::new(settings).expect("client");
    let triggered = c
        .trigger("app", &params(&[("VERSION", "1")]), true, None)
        .await
        .expect("trigger");
    let number = started(&c, triggered.queue_id).await;
    let ours = c
        .build_of("app", number, triggered.queue_id)
        .await
        .expect("the build of our item");
    assert_eq!(ours.queue_id, Some(triggered.queue_id));
    let asked = Instant::now();
    match c.build_of("app", number, triggered.queue_id + 1).await {
        Err(Error::Decode { message, .. }) => {
            assert!(message.contains(&format!("queue item {}", triggered.queue_id)));
            assert!(message.contains(&format!("queue item {}", triggered.queue_id + 1)));
        }
        other => panic!("{other:?}"),
    }
    // Asked again within unreachable_timeout before giving up, and not for longer.
    let waited = asked.elapsed();
    assert!(
        (Duration::from_millis(400)..Duration::from_secs(5)).contains(&waited),
        "{waited:?}"
    );
}

#[tokio::test]
async fn builds_that_claim_one_queue_item_are_neither_taken() {
    let list = r#"{"_class":"hudson.model.FreeStyleProject","builds":[{"number":8,"queueId":41,"url":"u/8/"},{"number":7,"queueId":41,"url":"u/7/"}]}"#;
    let (url, server) = wire(vec![answer(
        "200 OK",
        "content-type: application/json\r\n",
        list,
    )])
    .await;
    let c = Client::new(settings_for(&url, token())).expect("client");
    match c.find_build_by_queue_id("app", 41).await {
        Err(e @ Error::Decode { .. }) => {
            let message = e.to_string();
            assert!(message.starts_with("unexpected answer"), "{message}");
            assert!(
                message.contains("#8") && message.contains("#7"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    server.await.expect("server");
}

#[tokio::test]
async fn a_folder_is_told_apart_from_a_job_and_an_unknown_class_is_an_unexpected_answer() {
    let sb = sandbox("jobs:\n  - path: team/app\n");
    let c = client(&sb, token());
    let folder = c.job("team").await.expect("the folder");
    assert!(folder.is_folder() && !folder.buildable, "{folder:?}");
    let job = c.job("team/app").await.expect("the job");
    assert!(!job.is_folder() && job.buildable, "{job:?}");
    let (url, server) = wire(vec![answer(
        "200 OK",
        "content-type: application/json\r\n",
        r#"{"_class":"com.example.Weird","fullName":"app"}"#,
    )])
    .await;
    let c = Client::new(settings_for(&url, token())).expect("client");
    match c.job("app").await {
        Err(e @ Error::Decode { .. }) => {
            let message = e.to_string();
            assert!(message.contains("/job/app/api/json"), "{message}");
            assert!(message.contains("com.example.Weird"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    server.await.expect("server");
}

#[tokio::test]
async fn a_list_of_recent_builds_out_of_order_or_too_long_is_an_unexpected_answer() {
    let sb = sandbox("jobs:\n  - path: app\n    history: [{}, {}, {}]\n");
    let c = client(&sb, token());
    let newest: Vec<u64> = c
        .recent_builds("app", 2)
        .await
        .expect("recent builds")
        .iter()
        .map(|b| b.number)
        .collect();
    assert_eq!(newest, vec![3, 2]);
    let build =
        |n: u32| format!(r#"{{"number":{n},"building":false,"result":"SUCCESS","queueId":{n}}}"#);
    let out_of_order = format!(r#"{{"allBuilds":[{},{}]}}"#, build(2), build(3));
    let too_long = format!(
        r#"{{"allBuilds":[{},{},{}]}}"#,
        build(3),
        build(2),
        build(1)
    );
    let json = "content-type: application/json\r\n";
    let (url, server) = wire(vec![
        answer("200 OK", json, &out_of_order),
        answer("200 OK", json, &too_long),
    ])
    .await;
    let c = Client::new(settings_for(&url, token())).expect("client");
    for wanted in ["#2 comes before #3", "newest 2 builds, got 3"] {
        match c.recent_builds("app", 2).await {
            Err(e @ Error::Decode { .. }) => {
                assert!(e.to_string().contains(wanted), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    server.await.expect("server");
}

// ---- artifacts ----

const ARTIFACTS: &str = "jobs:\n  - path: team/app build\n    history:\n      - artifacts:\n          - { path: out/build-info.json, content: '{\"version\": \"1.2.3\"}' }\n          - { path: 'my dir/ü #1+2.txt', content: spaced }\n          - { path: dist/app.bin, size: 100000 }\n      - {}\n";

#[tokio::test]
async fn a_builds_artifacts_are_listed_with_their_paths_and_names() {
    let sb = sandbox(ARTIFACTS);
    let c = client(&sb, token());
    let listed = c.artifacts("team/app build", 1).await.expect("listing");
    let paths: Vec<(&str, &str)> = listed
        .iter()
        .map(|a| (a.relative_path.as_str(), a.file_name.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("dist/app.bin", "app.bin"),
            ("my dir/ü #1+2.txt", "ü #1+2.txt"),
            ("out/build-info.json", "build-info.json"),
        ]
    );
    assert!(
        c.artifacts("team/app build", 2)
            .await
            .expect("none")
            .is_empty()
    );
    match c.artifacts("team/app build", 9).await {
        Err(Error::NotFound { what }) => assert!(what.contains("build #9"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn small_artifacts_are_read_whole_and_refused_past_their_cap() {
    let sb = sandbox(ARTIFACTS);
    let c = client(&sb, token());
    let job = "team/app build";
    assert_eq!(
        c.artifact_bytes(job, 1, "out/build-info.json", 1024)
            .await
            .expect("read"),
        br#"{"version": "1.2.3"}"#
    );
    assert_eq!(
        c.artifact_bytes(job, 1, "my dir/ü #1+2.txt", 1024)
            .await
            .expect("read"),
        b"spaced"
    );
    let url = c.artifact_url(job, 1, "my dir/ü #1+2.txt").expect("url");
    assert!(
        url.ends_with("/job/team/job/app%20build/1/artifact/my%20dir/%C3%BC%20%231+2.txt"),
        "{url}"
    );
    match c.artifact_bytes(job, 1, "dist/app.bin", 99_999).await {
        Err(e @ Error::Decode { .. }) => {
            assert!(e.to_string().contains("larger than 99999 bytes"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let whole = c
        .artifact_bytes(job, 1, "dist/app.bin", 100_000)
        .await
        .expect("read");
    assert_eq!(whole.len(), 100_000);
    assert!(whole.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    match c.artifact_bytes(job, 1, "out/missing.json", 1024).await {
        Err(Error::NotFound { what }) => assert!(what.contains("out/missing.json"), "{what}"),
        other => panic!("{other:?}"),
    }
}

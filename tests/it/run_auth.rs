//! How jrun authenticates to a server: `auth: bearer`, a `token_command` that prints the token
//! (cached for `token_ttl`, run again when Jenkins refuses its token), `headers` a front door
//! wants, `jrun check`'s account of where each credential came from, and the load errors for
//! combinations that contradict each other. The real binary against the sandbox; the trigger
//! records prove who triggered.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use common::{Answer, Hostile, Outcome, jrun, pipeline_file, stats, triggers};
use jrun::sandbox::Sandbox;
use serde_json::Value;

const POLL: &str = "defaults:\n  poll: {initial: 20ms, max: 100ms}\n";
const STEP: &str = "steps:\n  - id: build\n    job: app\n";

fn bot(tokens: &str, job: &str) -> Sandbox {
    common::sandbox(&format!(
        "users:\n  - name: bot\n    bearer_tokens: {tokens}\nquiet_period: 0s\n{job}"
    ))
}

fn pipeline(server: &str) -> String {
    format!("name: auth\n{server}{POLL}{STEP}")
}

fn run_json(path: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = jrun();
    cmd.arg(path)
        .args(["--progress", "never", "--output", "json"])
        .args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    Outcome::from(cmd.output().expect("jrun runs"))
}

/// A token command as `[sh, SCRIPT]`: the script appends a line to `runs` each time it runs
/// and then does `body` (with `$n`, the number of this run).
fn token_script(dir: &Path, body: &str) -> (PathBuf, PathBuf) {
    let runs = dir.join("runs");
    let script = dir.join("token.sh");
    std::fs::write(
        &script,
        format!(
            "echo run >> '{}'\nn=$(wc -l < '{}' | tr -d ' ')\n{body}\n",
            runs.display(),
            runs.display()
        ),
    )
    .expect("script");
    (script, runs)
}

/// A pipeline file whose server block has `auth` (`auth: bearer`, `user: NAME`), a
/// `token_script` doing `body` as its token command, and `extra` keys: the file, the
/// script's run count, and the directories that hold them.
fn command_pipeline(
    sb: &Sandbox,
    auth: &str,
    body: &str,
    extra: &str,
) -> (PathBuf, PathBuf, (tempfile::TempDir, tempfile::TempDir)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (script, count) = token_script(dir.path(), body);
    let server = format!(
        "jenkins:\n  url: {}\n  {auth}\n  token_command: [sh, \"{}\"]\n{extra}  unreachable_timeout: 5s\n",
        sb.url(),
        script.display()
    );
    let (pdir, path) = pipeline_file(&pipeline(&server));
    (path, count, (dir, pdir))
}

fn runs(file: &Path) -> usize {
    std::fs::read_to_string(file)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// How many requests the sandbox routed as `route`, whatever their method.
fn route_count(stats: &Value, route: &str) -> u64 {
    stats["routes"]
        .as_object()
        .map(|routes| {
            routes
                .iter()
                .filter(|(key, _)| key.rsplit(' ').next() == Some(route))
                .filter_map(|(_, v)| v["count"].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

fn triggered_by(sb: &Sandbox) -> Vec<Option<String>> {
    triggers(sb).into_iter().map(|t| t.user).collect()
}

#[test]
fn bearer_auth_triggers_as_the_tokens_user_and_posts_with_a_crumb() {
    let sb = bot("[bearer-token-a]", "jobs:\n  - path: app\n");
    let server = format!(
        "jenkins:\n  url: {}\n  auth: bearer\n  token: bearer-token-a\n  unreachable_timeout: 5s\n",
        sb.url()
    );
    let (_dir, path) = pipeline_file(&pipeline(&server));
    let out = run_json(&path, &[], &[]);
    out.assert_code(0);
    assert_eq!(triggered_by(&sb), vec![Some("bot".to_string())]);
    // A bearer token has no crumb exemption: the trigger went with one.
    assert!(route_count(&stats(&sb), "crumb") >= 1, "{}", stats(&sb));
    out.assert_hides("bearer-token-a");
}

#[test]
fn bearer_auth_takes_jenkins_api_token_from_the_environment() {
    let sb = bot("[bearer-from-env]", "jobs:\n  - path: app\n");
    let server = format!("jenkins:\n  url: {}\n  auth: bearer\n", sb.url());
    let (_dir, path) = pipeline_file(&pipeline(&server));
    let out = run_json(&path, &[], &[("JENKINS_API_TOKEN", "bearer-from-env")]);
    out.assert_code(0);
    assert_eq!(triggered_by(&sb), vec![Some("bot".to_string())]);
}

#[test]
fn a_token_command_prints_the_token_once_for_the_whole_run() {
    let sb = bot("[cmd-token-1]", "jobs:\n  - path: app\n");
    let (path, count, _dirs) = command_pipeline(&sb, "auth: bearer", "echo cmd-token-1", "");
    let out = run_json(&path, &["-v"], &[]);
    out.assert_code(0);
    assert_eq!(triggered_by(&sb), vec![Some("bot".to_string())]);
    assert_eq!(runs(&count), 1, "{out}");
    out.assert_hides("cmd-token-1");
}

#[test]
fn a_token_commands_output_is_an_api_token_of_the_user_with_basic_auth() {
    let sb = common::sandbox("quiet_period: 0s\njobs:\n  - path: app\n");
    let (path, count, _dirs) = command_pipeline(
        &sb,
        &format!("user: {}", common::USER),
        &format!("echo {}", common::TOKEN),
        "",
    );
    let out = run_json(&path, &[], &[]);
    out.assert_code(0);
    assert_eq!(triggered_by(&sb), vec![Some(common::USER.to_string())]);
    assert_eq!(runs(&count), 1);
    // An API token needs no crumb.
    assert_eq!(route_count(&stats(&sb), "crumb"), 0, "{}", stats(&sb));
}

#[test]
fn a_failing_token_command_exits_3_with_its_stderr_and_never_its_stdout() {
    let sb = bot("[never-used]", "jobs:\n  - path: app\n");
    let (path, _, _dirs) = command_pipeline(
        &sb,
        "auth: bearer",
        "echo half-printed-secret-xyz\necho 'session expired: run login first' >&2\nexit 7",
        "",
    );
    let out = run_json(&path, &["-v"], &[]);
    out.assert_code(3);
    assert!(out.stderr.contains("token command `sh`"), "{out}");
    assert!(out.stderr.contains("exited with status 7"), "{out}");
    assert!(
        out.stderr.contains("session expired: run login first"),
        "{out}"
    );
    out.assert_hides("half-printed-secret-xyz");
    assert!(triggers(&sb).is_empty());
}

#[test]
fn a_token_that_expires_mid_run_is_replaced_by_running_the_command_once_more() {
    // The first token lasts 4s of sandbox time (0.2s real); the build takes 2s real.
    let sb = bot(
        "[{token: short-lived-1, expires: 4s}, fresh-token-2]",
        "speed: 20\njobs:\n  - {path: app, builds: [{duration: 40s}]}\n",
    );
    let (path, count, _dirs) = command_pipeline(
        &sb,
        "auth: bearer",
        "if [ \"$n\" = 1 ]; then echo short-lived-1; else echo fresh-token-2; fi",
        "",
    );
    let out = run_json(&path, &[], &[]);
    out.assert_code(0);
    assert_eq!(out.step("build")["result"], "SUCCESS", "{out}");
    assert_eq!(runs(&count), 2, "{out}");
    assert!(
        route_count(&stats(&sb), "unauthorized") >= 1,
        "{}",
        stats(&sb)
    );
}

#[test]
fn a_token_refused_twice_fails_the_run_as_refused_credentials() {
    let sb = bot("[the-right-one]", "jobs:\n  - path: app\n");
    let (path, count, _dirs) = command_pipeline(&sb, "auth: bearer", "echo a-wrong-token", "");
    let out = run_json(&path, &[], &[]);
    out.assert_code(3);
    assert!(out.stderr.contains("HTTP 401"), "{out}");
    assert!(out.stderr.contains("token command `sh`"), "{out}");
    assert_eq!(runs(&count), 2, "{out}");
    out.assert_hides("a-wrong-token");
}

#[test]
fn token_ttl_runs_the_command_again_once_the_token_is_that_old() {
    let sb = bot(
        "[ttl-token]",
        "speed: 1\njobs:\n  - {path: app, builds: [{duration: 1s}]}\n",
    );
    let (path, count, _dirs) = command_pipeline(
        &sb,
        "auth: bearer",
        "echo ttl-token",
        "  token_ttl: 200ms\n",
    );
    let out = run_json(&path, &[], &[]);
    out.assert_code(0);
    assert!(runs(&count) >= 3, "ran {} times\n{out}", runs(&count));
}

/// A front door in front of `sb` that lets a request through only with both headers (else a
/// 401 `{}` without Jenkins' headers, as oauth2-proxy answers), recording every request's
/// header values. Addresses of the sandbox in its answers are made the front door's.
/// The headers of each request a front door saw, names in lower case.
type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

fn front_door(sb: &Sandbox, seen: Seen) -> Hostile {
    front_door_with_store(sb, seen, None)
}

/// [`front_door`] that sends artifact downloads to `store` with a 302, as Jenkins with an
/// external artifact manager does.
fn front_door_with_store(sb: &Sandbox, seen: Seen, store: Option<String>) -> Hostile {
    let own: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    let mine = own.clone();
    let upstream = sb.url().trim_end_matches('/').to_string();
    let door = Hostile::proxy(&sb.url(), move |asked, answer| {
        seen.lock().expect("seen").push(asked.headers.clone());
        let satisfied = asked.header("x-forwarded-user") == Some("release-bot")
            && asked.header("proxy-authorization") == Some("Bearer iap-secret-4711");
        if !satisfied {
            return Answer::json(401, &serde_json::json!({}));
        }
        if let Some(store) = &store
            && asked.path().contains("/artifact/")
        {
            return Answer {
                status: 302,
                headers: vec![("location".to_string(), format!("{store}{}", asked.target))],
                body: Vec::new(),
            };
        }
        let own = mine.get().cloned().unwrap_or_default();
        let mut answer = answer;
        for (_, value) in answer.headers.iter_mut() {
            *value = value.replace(&upstream, &own);
        }
        answer.body = String::from_utf8_lossy(&answer.body)
            .replace(&upstream, &own)
            .into_bytes();
        answer
    });
    own.set(door.url()).expect("once");
    door
}

#[test]
fn headers_reach_the_server_on_every_request_and_their_values_are_never_shown() {
    let sb = common::sandbox("quiet_period: 0s\njobs:\n  - path: app\n");
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let door = front_door(&sb, seen.clone());
    let server = format!(
        "jenkins:\n  url: {}\n  user: {}\n  token: {}\n  headers:\n    X-Forwarded-User: release-bot\n    \
         Proxy-Authorization: \"Bearer {{{{env.IAP_TOKEN}}}}\"\n  unreachable_timeout: 5s\n",
        door.url(),
        common::USER,
        common::TOKEN
    );
    let (dir, path) = pipeline_file(&pipeline(&server));
    let report = dir.path().join("report.json");
    let journal = dir.path().join("run.journal");
    let out = run_json(
        &path,
        &[
            "-v",
            "--report",
            report.to_str().expect("utf-8"),
            "--journal",
            journal.to_str().expect("utf-8"),
        ],
        &[("IAP_TOKEN", "iap-secret-4711")],
    );
    out.assert_code(0);
    assert_eq!(triggered_by(&sb), vec![Some(common::USER.to_string())]);
    let seen = seen.lock().expect("seen");
    assert!(seen.len() >= 3, "{seen:?}");
    for headers in seen.iter() {
        let has = |name: &str| headers.iter().any(|(n, _)| n == name);
        assert!(
            has("x-forwarded-user") && has("proxy-authorization"),
            "{headers:?}"
        );
    }
    for secret in ["iap-secret-4711", "release-bot"] {
        out.assert_hides(secret);
        for file in [&report, &journal] {
            let text = std::fs::read_to_string(file).expect("written");
            assert!(!text.contains(secret), "{secret} in {}", file.display());
        }
    }
}

#[test]
fn headers_are_not_sent_to_an_artifact_store_on_another_host() {
    let sb = common::sandbox(
        "quiet_period: 0s\njobs:\n  - path: app\n    builds:\n      - artifacts: [{path: out/info.txt, content: hello}]\n",
    );
    let at_store: Seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = at_store.clone();
    let store = Hostile::start(move |asked| {
        recorded.lock().expect("store").push(asked.headers.clone());
        Answer {
            status: 200,
            headers: vec![("content-type".to_string(), "text/plain".to_string())],
            body: b"hello".to_vec(),
        }
    });
    let door = front_door_with_store(&sb, Arc::new(Mutex::new(Vec::new())), Some(store.url()));
    let server = format!(
        "jenkins:\n  url: {}\n  user: {}\n  token: {}\n  headers:\n    X-Forwarded-User: release-bot\n    \
         Proxy-Authorization: Bearer iap-secret-4711\n  unreachable_timeout: 5s\n",
        door.url(),
        common::USER,
        common::TOKEN
    );
    let (dir, path) = pipeline_file(&format!(
        "name: auth\n{server}{POLL}steps:\n  - id: build\n    job: app\n    artifacts: {{get: [\"out/*\"]}}\n"
    ));
    let out = Outcome::from(
        jrun()
            .current_dir(dir.path())
            .arg(&path)
            .args(["--progress", "never", "--output", "json"])
            .output()
            .expect("jrun runs"),
    );
    out.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("artifacts/build/out/info.txt")).expect("saved"),
        "hello"
    );
    let at_store = at_store.lock().expect("store");
    assert!(
        !at_store.is_empty(),
        "the download never reached the store\n{out}"
    );
    for headers in at_store.iter() {
        for name in [
            "x-forwarded-user",
            "proxy-authorization",
            "authorization",
            "cookie",
        ] {
            assert!(
                headers.iter().all(|(n, _)| n != name),
                "{name} sent to the store: {headers:?}"
            );
        }
    }
}

#[test]
fn without_its_headers_a_front_door_refuses_and_the_run_exits_3() {
    let sb = common::sandbox("quiet_period: 0s\njobs:\n  - path: app\n");
    let door = front_door(&sb, Arc::new(Mutex::new(Vec::new())));
    let server = format!(
        "jenkins:\n  url: {}\n  user: {}\n  token: {}\n  unreachable_timeout: 5s\n",
        door.url(),
        common::USER,
        common::TOKEN
    );
    let (_dir, path) = pipeline_file(&pipeline(&server));
    let out = run_json(&path, &[], &[]);
    out.assert_code(3);
    assert!(triggers(&sb).is_empty());
}

#[test]
fn check_names_where_each_credential_came_from_and_the_jenkins_version_without_secrets() {
    let sb = bot("[check-token-9]", "jobs:\n  - path: app\n");
    let (path, count, _dirs) = command_pipeline(
        &sb,
        "auth: bearer",
        "echo check-token-9",
        "  headers: {X-Forwarded-User: check-header-secret}\n",
    );
    let out = Outcome::from(jrun().arg("check").arg(&path).output().expect("jrun runs"));
    out.assert_code(0);
    assert!(out.stdout.contains("auth: bearer"), "{out}");
    assert!(
        out.stdout.contains("token from token_command `sh`"),
        "{out}"
    );
    assert!(out.stdout.contains("headers: X-Forwarded-User"), "{out}");
    assert!(out.stdout.contains("answered by Jenkins 2.528.3"), "{out}");
    out.assert_hides("check-token-9");
    out.assert_hides("check-header-secret");
    assert_eq!(runs(&count), 1);
    assert!(triggers(&sb).is_empty());
}

#[test]
fn check_names_the_environment_and_netrc_as_sources() {
    let sb = common::sandbox("jobs:\n  - path: app\n");
    let (dir, path) = pipeline_file(&format!(
        "name: auth\njenkins:\n  url: {}\n{STEP}",
        sb.url()
    ));
    let env_out = Outcome::from(
        jrun()
            .arg("check")
            .arg(&path)
            .env("JENKINS_USER_ID", common::USER)
            .env("JENKINS_API_TOKEN", common::TOKEN)
            .output()
            .expect("jrun runs"),
    );
    env_out.assert_code(0);
    assert!(env_out.stdout.contains("auth: basic"), "{env_out}");
    assert!(
        env_out
            .stdout
            .contains("user from JENKINS_USER_ID, token from JENKINS_API_TOKEN"),
        "{env_out}"
    );
    env_out.assert_hides(common::TOKEN);
    let netrc = dir.path().join("netrc");
    std::fs::write(
        &netrc,
        format!(
            "machine 127.0.0.1 login {} password {}\n",
            common::USER,
            common::TOKEN
        ),
    )
    .expect("netrc");
    let netrc_out = Outcome::from(
        jrun()
            .arg("check")
            .arg(&path)
            .env("NETRC", &netrc)
            .output()
            .expect("jrun runs"),
    );
    netrc_out.assert_code(0);
    assert!(
        netrc_out.stdout.contains("token from ~/.netrc"),
        "{netrc_out}"
    );
    netrc_out.assert_hides(common::TOKEN);
}

fn validate(server: &str) -> Outcome {
    let (_dir, path) = pipeline_file(&pipeline(server));
    Outcome::from(
        jrun()
            .arg("validate")
            .arg(&path)
            .output()
            .expect("jrun runs"),
    )
}

#[test]
fn contradicting_auth_keys_are_load_errors_with_their_place() {
    let cases = [
        (
            "jenkins:\n  url: http://ci.example.com\n  auth: none\n  token: abcd\n",
            "pipeline.yaml:5:10: jenkins.token means nothing with `auth: none`",
        ),
        (
            "jenkins:\n  url: http://ci.example.com\n  user: bot\n  token: abcd\n  token_command: [op, read, \"op://ci/jenkins/token\"]\n",
            "give either `token_command` or `token`, not both",
        ),
        (
            "jenkins:\n  url: http://ci.example.com\n  auth: bearer\n  password: abcd\n",
            "jenkins.password means nothing with `auth: bearer`",
        ),
        (
            "jenkins:\n  url: http://ci.example.com\n  token_ttl: 1m\n",
            "there is no `token_command`",
        ),
        (
            "jenkins:\n  url: http://ci.example.com\n  headers: {\"X Bad\": v}\n",
            "`X Bad` is not an HTTP header name",
        ),
        (
            "jenkins:\n  url: http://ci.example.com\n  headers: {Authorization: Bearer x}\n",
            "there is only one Authorization header",
        ),
        (
            "jenkins:\n  url: http://ci.example.com\n  auth: basic-ish\n",
            "auth",
        ),
    ];
    for (server, expected) in cases {
        let out = validate(server);
        out.assert_code(2);
        assert!(out.stderr.contains(expected), "{expected}\n{out}");
    }
}

#[test]
fn validate_checks_a_token_command_without_running_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (script, count) = token_script(dir.path(), "echo never");
    let out = validate(&format!(
        "jenkins:\n  url: http://ci.example.com\n  auth: bearer\n  token_command: [sh, \"{}\"]\n  token_ttl: 10m\n  headers: {{X-Forwarded-User: bot}}\n",
        script.display()
    ));
    out.assert_code(0);
    assert_eq!(runs(&count), 0);
}

#[test]
fn auth_none_sends_only_the_headers_and_posts_with_a_crumb() {
    let sb = common::sandbox("anonymous: build\nquiet_period: 0s\njobs:\n  - path: app\n");
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let door = front_door(&sb, seen.clone());
    let server = format!(
        "jenkins:\n  url: {}\n  auth: none\n  headers:\n    X-Forwarded-User: release-bot\n    \
         Proxy-Authorization: Bearer iap-secret-4711\n  unreachable_timeout: 5s\n",
        door.url()
    );
    let (_dir, path) = pipeline_file(&pipeline(&server));
    // Credentials in the environment are not used with `auth: none`.
    let out = run_json(
        &path,
        &[],
        &[
            ("JENKINS_USER_ID", common::USER),
            ("JENKINS_API_TOKEN", common::TOKEN),
        ],
    );
    out.assert_code(0);
    assert_eq!(triggered_by(&sb), vec![None]);
    assert!(route_count(&stats(&sb), "crumb") >= 1, "{}", stats(&sb));
    let seen = seen.lock().expect("seen");
    assert!(
        seen.iter()
            .all(|headers| headers.iter().all(|(n, _)| n != "authorization")),
        "{seen:?}"
    );
}

//! Helpers shared by the integration tests: a sandbox started from YAML, and an HTTP client
//! that behaves like a careful Jenkins client (cookie store, no redirects).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use jrun::sandbox::{Sandbox, SandboxConfig};
use reqwest::blocking::{Client, Response};
use serde_json::Value;

pub const USER: &str = "alice";
pub const PASSWORD: &str = "alice-password";
pub const TOKEN: &str = "11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// The users block most tests start from: alice with a password and an API token.
pub const USERS: &str = "users:\n  - name: alice\n    password: alice-password\n    tokens: [\"11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]\n";

/// Starts a sandbox from a YAML config. `USERS` is prepended unless the YAML has `users:`.
pub fn sandbox(yaml: &str) -> Sandbox {
    let text = if yaml.contains("users:") {
        yaml.to_string()
    } else {
        format!("{USERS}{yaml}")
    };
    let config = SandboxConfig::parse(&text, "test config").expect("valid sandbox config");
    Sandbox::start(config).expect("sandbox starts")
}

/// A client with a cookie store that never follows redirects.
pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// GET with the API token.
pub fn get(client: &Client, sb: &Sandbox, path: &str) -> Response {
    client
        .get(format!("{}{path}", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .send()
        .expect("request")
}

/// POST with the API token (no crumb needed).
pub fn post(client: &Client, sb: &Sandbox, path: &str) -> Response {
    client
        .post(format!("{}{path}", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .send()
        .expect("request")
}

pub fn json(response: Response) -> Value {
    let status = response.status();
    let text = response.text().expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({status}): {e}: {text}"))
}

pub fn get_json(client: &Client, sb: &Sandbox, path: &str) -> Value {
    let response = get(client, sb, path);
    assert_eq!(response.status(), 200, "GET {path}");
    json(response)
}

/// Calls a control route of the sandbox.
pub fn control(sb: &Sandbox, method: &str, route: &str, body: Value) -> Value {
    let client = Client::new();
    let url = format!("{}/__sandbox/{route}", sb.url());
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url).json(&body),
    };
    let response = request.send().expect("control request");
    json(response)
}

/// The queue id at the end of a `Location` header.
pub fn queue_id(response: &Response) -> u64 {
    let location = response
        .headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .expect("ascii");
    location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no queue id in {location}"))
}

/// Polls `check` every 10 ms until it returns Some, failing after `limit` of real time.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until a queue item has a build, and returns its number.
pub fn build_number_of(client: &Client, sb: &Sandbox, id: u64) -> u64 {
    wait_for(Duration::from_secs(10), "the queue item's build", || {
        let item = get_json(client, sb, &format!("/queue/item/{id}/api/json"));
        item["executable"]["number"].as_u64()
    })
}

/// Waits until a build is no longer building, and returns its JSON.
pub fn finished_build(client: &Client, sb: &Sandbox, job_path: &str, number: u64) -> Value {
    wait_for(Duration::from_secs(10), "the build to finish", || {
        let build = get_json(client, sb, &format!("{job_path}{number}/api/json"));
        (build["building"] == false).then_some(build)
    })
}

/// The `jenkins:` block of a pipeline that talks to `sb` as alice with her API token.
pub fn jenkins_block(sb: &Sandbox) -> String {
    format!(
        "jenkins:\n  url: {}\n  user: {USER}\n  token: {TOKEN}\n  unreachable_timeout: 5s\n",
        sb.url()
    )
}

/// Writes a pipeline file into a fresh temporary folder (kept alive by the returned guard).
pub fn pipeline_file(yaml: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(&path, yaml).expect("write pipeline");
    (dir, path)
}

/// The jrun binary with a clean environment: no Jenkins credentials or colours leak in.
pub fn jrun() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_jrun"));
    for var in [
        "JENKINS_URL",
        "JENKINS_USER_ID",
        "JENKINS_API_TOKEN",
        "JENKINS_PASSWORD",
        "NETRC",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").env("HOME", std::env::temp_dir());
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// The jrun binary started in the background, killed if the test ends before it does.
pub struct Running(Option<std::process::Child>);

impl Running {
    pub fn start(path: &std::path::Path, args: &[&str]) -> Running {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jrun"));
        for var in [
            "JENKINS_URL",
            "JENKINS_USER_ID",
            "JENKINS_API_TOKEN",
            "JENKINS_PASSWORD",
            "NETRC",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("NO_COLOR", "1")
            .env("HOME", std::env::temp_dir())
            .arg(path)
            .args(["--progress", "never"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        Running(Some(cmd.spawn().expect("jrun starts")))
    }

    /// Waits for the exit, at most `limit`; a jrun that hangs fails the test.
    pub fn finish(mut self, limit: Duration) -> std::process::Output {
        let deadline = Instant::now() + limit;
        let mut child = self.0.take().expect("running");
        loop {
            if child.try_wait().expect("try_wait").is_some() {
                return child.wait_with_output().expect("output");
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("output");
                panic!(
                    "jrun did not exit within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

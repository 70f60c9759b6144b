//! Helpers shared by the integration tests: a sandbox started from YAML, and an HTTP client
//! that behaves like a careful Jenkins client (cookie store, no redirects).

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

/// True for the variables jrun reads from its environment (credentials, the netrc file, test
/// hooks, proxies), which must reach a jrun under test only when a test sets them itself: a
/// machine whose proxy variables reached it would route the sandbox's requests through them.
fn is_private(name: &str) -> bool {
    const PROXIES: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"];
    name.starts_with("JENKINS_")
        || name.starts_with("JRUN_")
        || name == "HOME"
        || name == "NETRC"
        || PROXIES.iter().any(|p| name.eq_ignore_ascii_case(p))
}

/// The jrun binary, without any variable of the machine jrun would read (see [`is_private`])
/// and without colours. Every jrun a test starts is built here.
pub fn jrun_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jrun"));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_private) {
            cmd.env_remove(name);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

#[test]
fn a_jrun_under_test_gets_no_credentials_home_netrc_or_hooks_of_this_machine() {
    let cmd = jrun_command();
    let set: Vec<(String, Option<String>)> = cmd
        .get_envs()
        .map(|(name, value)| {
            let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
            (text(name), value.map(text))
        })
        .collect();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if is_private(&name) {
            assert!(
                set.contains(&(name.clone(), None)),
                "{name} reaches jrun: {set:?}"
            );
        }
    }
    for name in ["HOME", "NETRC", "JENKINS_URL", "JRUN_TEST_CRASH_AFTER"] {
        assert!(is_private(name), "{name}");
        assert!(
            set.iter().all(|(n, v)| n != name || v.is_none()),
            "{name} is set on jrun: {set:?}"
        );
    }
    assert!(is_private("https_proxy") && is_private("NO_PROXY"));
    assert!(!is_private("PATH") && !is_private("JENKINSFILE"));
    assert!(set.contains(&("NO_COLOR".to_string(), Some("1".to_string()))));
}

/// [`jrun_command`] for assert_cmd, killed if it runs longer than a minute.
pub fn jrun() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(jrun_command());
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// Runs `jrun PIPELINE --progress never ARGS...` to the end.
pub fn run(path: &std::path::Path, args: &[&str]) -> std::process::Output {
    jrun()
        .arg(path)
        .args(["--progress", "never"])
        .args(args)
        .output()
        .expect("jrun runs")
}

/// How a jrun ended, its streams as text.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn from(output: std::process::Output) -> Outcome {
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{self}"))
    }

    /// The message of step `id` in the JSON summary, "" when it has none.
    pub fn message(&self, id: &str) -> String {
        self.step(id)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The JSON summary's entry for step `id`.
    pub fn step(&self, id: &str) -> Value {
        let summary = self.json();
        summary["steps"]
            .as_array()
            .and_then(|steps| steps.iter().find(|s| s["id"] == id).cloned())
            .unwrap_or_else(|| panic!("no step {id} in the summary\n{self}"))
    }

    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "exit code\n{self}");
    }

    pub fn assert_hides(&self, secret: &str) {
        assert!(
            !self.stdout.contains(secret) && !self.stderr.contains(secret),
            "the secret `{secret}` was printed\n{self}"
        );
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- exit {} ---\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A jrun running in the background while the test acts on the sandbox; killed if the test
/// ends before it does. Its output goes to files, so a chatty jrun never blocks on a full pipe.
pub struct Running {
    child: std::process::Child,
    out: tempfile::TempDir,
}

impl Running {
    /// Starts `jrun PIPELINE --progress never ARGS...`.
    pub fn start(path: &std::path::Path, args: &[&str]) -> Running {
        Running::spawn(
            jrun_command()
                .arg(path)
                .args(["--progress", "never"])
                .args(args),
        )
    }

    /// Starts `cmd`, made by [`jrun_command`].
    pub fn spawn(cmd: &mut std::process::Command) -> Running {
        let out = tempfile::tempdir().expect("tempdir");
        let stdout = std::fs::File::create(out.path().join("stdout")).expect("stdout file");
        let stderr = std::fs::File::create(out.path().join("stderr")).expect("stderr file");
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("jrun starts");
        Running { child, out }
    }

    /// Sends a signal (`TERM`, `INT`) to the running jrun.
    pub fn signal(&self, name: &str) {
        let sent = std::process::Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} failed");
    }

    /// Waits for the exit, at most `limit`; a jrun that hangs is killed and fails the test.
    pub fn finish(mut self, limit: Duration) -> std::process::Output {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "jrun did not exit within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    self.read("stdout"),
                    self.read("stderr")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |name: &str| std::fs::read(self.out.path().join(name)).expect("output file");
        std::process::Output {
            status,
            stdout: read("stdout"),
            stderr: read("stderr"),
        }
    }

    /// [`Running::finish`] as an [`Outcome`].
    pub fn outcome(self, limit: Duration) -> Outcome {
        Outcome::from(self.finish(limit))
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.path().join(name)).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- reading a run and the sandbox behind it ----

/// jrun polls an external server in real time: short, so tests stay fast.
pub const FAST_POLL: &str = "defaults:\n  poll: {initial: 20ms, max: 100ms}\n";

/// The repository's root, where the examples and schemas are.
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The exit code, with both streams in the message when it is not the expected one.
#[track_caller]
pub fn assert_code(output: &std::process::Output, expected: i32) {
    assert_eq!(
        output.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// The JSON summary jrun printed with `--output json`.
pub fn summary_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

/// The summary's entry for step `id`.
pub fn step<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {summary:#}"))
}

/// The sandbox's request counts (`/__sandbox/stats`).
pub fn stats(sb: &Sandbox) -> Value {
    control(sb, "GET", "stats", Value::Null)
}

/// How many requests the sandbox has answered.
pub fn request_count(sb: &Sandbox) -> u64 {
    stats(sb)["requests"].as_u64().expect("a request count")
}

/// Every build the sandbox holds (`/__sandbox/builds`).
pub fn builds(sb: &Sandbox) -> Vec<Value> {
    control(sb, "GET", "builds", Value::Null)
        .as_array()
        .expect("builds array")
        .clone()
}

/// The triggers jrun sent, without the sandbox's own "someone else" ones.
pub fn triggers(sb: &Sandbox) -> Vec<jrun::sandbox::model::TriggerRecord> {
    sb.triggers().into_iter().filter(|t| !t.external).collect()
}

/// A request as [`Hostile`] received it.
#[derive(Debug, Clone)]
pub struct Asked {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Asked {
    /// The path without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer [`Hostile`] sends: its own, or the one it got from upstream, changed or not.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Without Content-Length, Transfer-Encoding or Connection, which are the server's own.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(status: u16, value: &Value) -> Answer {
        Answer {
            status,
            headers: vec![(
                "content-type".to_string(),
                "application/json;charset=utf-8".to_string(),
            )],
            body: value.to_string().into_bytes(),
        }
    }

    /// The body as JSON, if it is.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The same answer with its JSON body changed by `edit`; other answers pass unchanged.
    pub fn edit_json(mut self, edit: impl FnOnce(&mut Value)) -> Answer {
        if let Some(mut value) = self.body_json() {
            edit(&mut value);
            self.body = value.to_string().into_bytes();
        }
        self
    }
}

type Respond = dyn Fn(&Asked) -> Answer + Send + Sync;

/// A small hostile HTTP/1.1 server on 127.0.0.1: every request is answered by a function,
/// which can make up an answer or pass the request on to a real server and change what comes
/// back ([`Hostile::proxy`]). One request per connection, every read bounded; it stops when
/// dropped.
pub struct Hostile {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accepting: Option<std::thread::JoinHandle<()>>,
}

impl Hostile {
    pub fn start(respond: impl Fn(&Asked) -> Answer + Send + Sync + 'static) -> Hostile {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let respond: Arc<Respond> = Arc::new(respond);
        let stopping = stop.clone();
        let accepting = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let respond = respond.clone();
                        std::thread::spawn(move || serve_one(stream, &*respond));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Hostile {
            addr,
            stop,
            accepting: Some(accepting),
        }
    }

    /// A proxy in front of `upstream` (e.g. a sandbox's URL): each request is forwarded as it
    /// came, and `rewrite` sees the answer before the client does.
    pub fn proxy(
        upstream: &str,
        rewrite: impl Fn(&Asked, Answer) -> Answer + Send + Sync + 'static,
    ) -> Hostile {
        let upstream = upstream.trim_end_matches('/').to_string();
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Hostile::start(move |asked| rewrite(asked, forward(&http, &upstream, asked)))
    }

    /// A forward proxy: requests in absolute form (`GET http://host/path`) are passed on to
    /// their target, and their targets are recorded in `seen`. After `limit` requests it
    /// answers 503, so a client that loops on it cannot keep a test busy.
    pub fn forward_proxy(
        seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
        limit: usize,
    ) -> Hostile {
        let http = Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Hostile::start(move |asked| {
            let refused = |status: u16, why: &str| Answer {
                status,
                headers: Vec::new(),
                body: why.as_bytes().to_vec(),
            };
            if !asked.target.starts_with("http://") {
                return refused(400, "a forward proxy takes absolute-form targets");
            }
            {
                let mut seen = seen.lock().expect("seen");
                if seen.len() >= limit {
                    return refused(503, "the proxy served its share");
                }
                seen.push(asked.target.clone());
            }
            forward(&http, "", asked)
        })
    }

    /// Its base URL, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
    }
}

fn forward(http: &Client, upstream: &str, asked: &Asked) -> Answer {
    let method = reqwest::Method::from_bytes(asked.method.as_bytes()).expect("method");
    let mut request = http.request(method, format!("{upstream}{}", asked.target));
    for (name, value) in &asked.headers {
        // Hop-by-hop, or worked out again by the client; no compression, so bodies can be
        // rewritten.
        if !matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "accept-encoding"
        ) {
            request = request.header(name.as_str(), value.as_str());
        }
    }
    let response = match request.body(asked.body.clone()).send() {
        Ok(response) => response,
        Err(e) => {
            return Answer {
                status: 502,
                headers: Vec::new(),
                body: format!("upstream: {e}").into_bytes(),
            };
        }
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "content-length" | "transfer-encoding" | "connection" | "content-encoding"
            )
        })
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.bytes().map(|b| b.to_vec()).unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

fn serve_one(mut stream: std::net::TcpStream, respond: &Respond) {
    use std::io::{Read, Write};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    let asked = Asked {
        method,
        target,
        headers,
        body: data[head_end..head_end + length].to_vec(),
    };
    let answer = respond(&asked);
    let reason = reqwest::StatusCode::from_u16(answer.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", answer.status);
    for (name, value) in &answer.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        answer.body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer.body);
    let _ = stream.write_all(&bytes);
    let _ = stream.flush();
}

// ---- hostile modes: answers no Jenkins gives, some of them too big to build in memory ----

/// The body of a job answer as Jenkins starts it, for modes that go wrong after a good start.
const JOB_START: &str =
    "{\"_class\":\"hudson.model.FreeStyleProject\",\"fullName\":\"a\",\"description\":\"";

impl Answer {
    /// An SSO proxy's or Jenkins' own login form, with 200, where JSON was asked for.
    pub fn login_page() -> Answer {
        Answer {
            status: 200,
            headers: vec![(
                "content-type".to_string(),
                "text/html;charset=utf-8".to_string(),
            )],
            body: b"<!DOCTYPE html><html><head><title>Sign in [Jenkins]</title></head><body>\
                    <form method=\"post\" action=\"j_spring_security_check\">\
                    <input name=\"j_username\"><input name=\"j_password\" type=\"password\">\
                    <button>Sign in</button></form></body></html>"
                .to_vec(),
        }
    }

    /// JSON of the right shape whose values have the wrong types.
    pub fn wrong_types() -> Answer {
        Answer::json_text(
            "{\"_class\":\"hudson.model.FreeStyleProject\",\"fullName\":\"a\",\"buildable\":\"yes\",\
             \"property\":{},\"builds\":\"none\"}",
        )
    }

    /// A job answer that stops in the middle, its length announced honestly.
    pub fn truncated_json() -> Answer {
        Answer::json_text("{\"_class\":\"hudson.model.FreeStyleProject\",\"fullName\":\"a\",\"buil")
    }

    /// A job answer whose name is not UTF-8.
    pub fn invalid_utf8() -> Answer {
        let mut answer = Answer::json_text(
            "{\"_class\":\"hudson.model.FreeStyleProject\",\"buildable\":true,\"fullName\":\"a",
        );
        answer.body.extend_from_slice(b"\xff\xfe\xc3\x28\"}");
        answer
            .body
            .extend_from_slice(b"\xff\xfe\xc3\x28\",\"buildable\":true}");
        answer
    }

    /// A job answer that says `buildable` twice, differently.
    pub fn duplicate_keys() -> Answer {
        Answer::json_text(
            "{\"_class\":\"hudson.model.FreeStyleProject\",\"fullName\":\"a\",\
             \"buildable\":true,\"buildable\":false,\"property\":[]}",
        )
    }

    /// A 302 to `to`, with an empty body.
    pub fn redirect(to: &str) -> Answer {
        Answer {
            status: 302,
            headers: vec![("location".to_string(), to.to_string())],
            body: Vec::new(),
        }
    }

    fn json_text(text: &str) -> Answer {
        Answer {
            status: 200,
            headers: vec![(
                "content-type".to_string(),
                "application/json;charset=utf-8".to_string(),
            )],
            body: text.as_bytes().to_vec(),
        }
    }
}

type Serve = dyn Fn(&mut std::net::TcpStream) + Send + Sync;

impl Hostile {
    /// A server that, once a request's head has arrived, writes whatever `serve` writes on the
    /// connection (or nothing), then closes it.
    pub fn raw(serve: impl Fn(&mut std::net::TcpStream) + Send + Sync + 'static) -> Hostile {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let serve: Arc<Serve> = Arc::new(serve);
        let stopping = stop.clone();
        let accepting = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let serve = serve.clone();
                        std::thread::spawn(move || {
                            if read_head(&mut stream) {
                                serve(&mut stream);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Hostile {
            addr,
            stop,
            accepting: Some(accepting),
        }
    }

    /// Answers every request with 200 and a JSON body of `size` bytes that starts like a job
    /// and goes on with spaces, made up as it is sent; it stops when the client hangs up.
    pub fn huge(size: u64) -> Hostile {
        Hostile::raw(move |stream| {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json;charset=utf-8\r\n\
                 content-length: {size}\r\nconnection: close\r\n\r\n{JOB_START}"
            );
            let mut left = size.saturating_sub(JOB_START.len() as u64);
            let block = [b' '; 64 * 1024];
            if write_all(stream, head.as_bytes()) {
                while left > 0 {
                    let n = left.min(block.len() as u64) as usize;
                    if !write_all(stream, &block[..n]) {
                        return;
                    }
                    left -= n as u64;
                }
            }
        })
    }

    /// Answers every request with 200 and about 1 MiB of gzip that inflates to 1 GiB.
    pub fn gzip_bomb() -> Hostile {
        Hostile::raw(|stream| {
            let bomb = gzip_bomb();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json;charset=utf-8\r\n\
                 content-encoding: gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                bomb.len()
            );
            let _ = write_all(stream, head.as_bytes()) && write_all(stream, bomb);
        })
    }

    /// Accepts connections and reads requests, and never answers; a connection is held for
    /// at most a minute.
    pub fn silent() -> Hostile {
        Hostile::raw(|_stream| std::thread::sleep(Duration::from_secs(60)))
    }

    /// A slowloris: sends an answer's head one byte every 100 ms, without ever ending it
    /// (for at most a minute).
    pub fn slow_headers() -> Hostile {
        Hostile::raw(|stream| {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..600 {
                head.extend_from_slice(format!("x-slow-{i}: {i}\r\n").as_bytes());
            }
            for byte in head {
                if !write_all(stream, &[byte]) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    }

    /// Answers 200 with a chunked body that starts like a job and never ends (until the
    /// client hangs up, or after a minute).
    pub fn endless_chunks() -> Hostile {
        Hostile::raw(|stream| {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json;charset=utf-8\r\n\
                 transfer-encoding: chunked\r\n\r\n{:x}\r\n{JOB_START}\r\n",
                JOB_START.len()
            );
            let chunk = format!("{:x}\r\n{}\r\n", 4096, " ".repeat(4096));
            let deadline = Instant::now() + Duration::from_secs(60);
            if write_all(stream, head.as_bytes()) {
                while Instant::now() < deadline && write_all(stream, chunk.as_bytes()) {}
            }
        })
    }

    /// Answers every request with `answer` the way an HTTP/1.0 server does: no length, the
    /// body ends where the connection does.
    pub fn http10(answer: Answer) -> Hostile {
        Hostile::raw(move |stream| {
            let mut out = format!("HTTP/1.0 {} Whatever\r\n", answer.status).into_bytes();
            for (name, value) in &answer.headers {
                out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&answer.body);
            let _ = write_all(stream, &out);
        })
    }

    /// A server that answers every request 404 and counts them.
    pub fn counting() -> (Hostile, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = count.clone();
        let hostile = Hostile::start(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Answer {
                status: 404,
                headers: Vec::new(),
                body: Vec::new(),
            }
        });
        (hostile, count)
    }
}

/// Reads a request up to the end of its head (GETs and jrun's POSTs have small bodies, left
/// unread); false if the client went away or took over 10 s.
fn read_head(stream: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    while !data.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
        if data.len() > 1 << 20 {
            return false;
        }
    }
    true
}

/// False once the client has gone.
fn write_all(stream: &mut std::net::TcpStream, bytes: &[u8]) -> bool {
    use std::io::Write;
    stream.write_all(bytes).is_ok()
}

/// gzip of 1 GiB of zeros (about 1 MiB), compressed once per test binary.
pub fn gzip_bomb() -> &'static [u8] {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            encoder.write_all(&zeros).expect("compress");
        }
        encoder.finish().expect("compress")
    })
}

/// How a child jrun ended, and the most memory it ever held.
#[derive(Debug)]
pub struct Measured {
    pub code: i32,
    /// Read only by the `Debug` a failed assertion prints.
    #[allow(dead_code)]
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set size (`ru_maxrss`), in KiB.
    pub peak_rss_kib: u64,
}

const MEASURED_ARGS: &str = "JRUN_TEST_MEASURED_ARGS";
const MEASURED_OUT: &str = "JRUN_TEST_MEASURED_OUT";

/// Runs jrun with `args` to its end, at most `limit`, and measures its peak RSS.
///
/// Linux charges a child with the peak RSS of the process it was spawned from (the memory
/// map it replaced at `exec` counts), and this test process holds whatever its parallel
/// tests hold. So jrun is started from a fresh copy of this test binary running only
/// `helper`, an ignored test that calls [`measured_child`]: that small process waits for
/// jrun with `wait4`, which reports jrun's own peak.
pub fn run_measured(helper: &str, args: &[&str], limit: Duration) -> Measured {
    let out = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            helper,
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env(MEASURED_ARGS, args.join("\u{1f}"))
        .env(MEASURED_OUT, out.path())
        .env("JRUN_TEST_MEASURED_LIMIT_MS", limit.as_millis().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the test binary starts");
    let deadline = Instant::now() + limit + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the measuring helper did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |name: &str| std::fs::read_to_string(out.path().join(name)).unwrap_or_default();
    let measured = Measured {
        code: read("code").trim().parse().unwrap_or(-1),
        stdout: read("stdout"),
        stderr: read("stderr"),
        peak_rss_kib: read("peak").trim().parse().unwrap_or(u64::MAX),
    };
    assert!(
        status.success(),
        "the measuring helper failed ({status}): {measured:#?}"
    );
    measured
}

/// The measuring side of [`run_measured`]; does nothing unless started by it.
pub fn measured_child() {
    let (Ok(args), Some(out)) = (std::env::var(MEASURED_ARGS), std::env::var_os(MEASURED_OUT))
    else {
        return;
    };
    let out = std::path::PathBuf::from(out);
    let limit = std::env::var("JRUN_TEST_MEASURED_LIMIT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis);
    let stdout = std::fs::File::create(out.join("stdout")).expect("stdout file");
    let stderr = std::fs::File::create(out.join("stderr")).expect("stderr file");
    let mut cmd = jrun_command();
    // Reaped by `wait4` below, which gives the rusage `Child::wait` does not.
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .args(args.split('\u{1f}'))
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("jrun starts");
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + limit;
    let mut status = 0;
    // SAFETY: all zeroes is a valid rusage, for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is this process's own child, not reaped yet; the pointers are valid.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(reaped >= 0, "wait4 failed");
        if reaped == pid {
            break;
        }
        // A jrun that hangs is killed, and its code (-1) tells the test.
        if Instant::now() >= deadline {
            // SAFETY: signals our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    std::fs::write(out.join("code"), code.to_string()).expect("code file");
    std::fs::write(out.join("peak"), usage.ru_maxrss.to_string()).expect("peak file");
}

// ---- answers that echo the request, credentials included ----

/// How [`Answer::echoing`] writes a request back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// One line of plain text.
    Text,
    /// A servlet container's error page, the echo in its title and heading.
    Html,
    /// A JSON object whose first field holds the echo.
    Json,
}

impl Asked {
    /// The request as a careless server or proxy quotes it back: its target, every header
    /// (Authorization, crumb and cookie included) and the Basic credentials decoded.
    pub fn echo(&self) -> String {
        use base64::Engine as _;
        let mut parts = vec![format!("{} {}", self.method, self.target)];
        // Decoded first, so that even a message cut short quotes the raw secret.
        if let Some(encoded) = self
            .header("authorization")
            .and_then(|v| v.strip_prefix("Basic "))
            && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded)
        {
            parts.push(format!("credentials {}", String::from_utf8_lossy(&decoded)));
        }
        for (name, value) in &self.headers {
            parts.push(format!("{name}: {value}"));
        }
        parts.join("; ")
    }
}

impl Answer {
    /// An error answer with `status` whose body starts with `message` and then quotes the
    /// request back ([`Asked::echo`]), in the form `echo` says.
    pub fn echoing(status: u16, message: &str, asked: &Asked, echo: Echo) -> Answer {
        let quoted = format!("{message}; you sent {}", asked.echo());
        let (content_type, body) = match echo {
            Echo::Text => ("text/plain;charset=utf-8", format!("{quoted}\n")),
            Echo::Html => (
                "text/html;charset=utf-8",
                format!(
                    "<html><head><title>Error {status} {quoted}</title></head><body>\
                     <h2>HTTP ERROR {status} {quoted}</h2></body></html>"
                ),
            ),
            Echo::Json => (
                "application/json;charset=utf-8",
                serde_json::json!({"message": quoted, "status": status}).to_string(),
            ),
        };
        Answer {
            status,
            headers: vec![("content-type".to_string(), content_type.to_string())],
            body: body.into_bytes(),
        }
    }
}

/// Resumes the run of `journal` to its end with a JSON summary, which must pass.
pub fn resume_to_end(journal: &std::path::Path) -> Outcome {
    let resumed = Running::spawn(jrun_command().arg("resume").arg(journal).args([
        "--progress",
        "never",
        "--output",
        "json",
    ]))
    .outcome(std::time::Duration::from_secs(30));
    resumed.assert_code(0);
    resumed
}

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

    /// Sends a signal (`TERM`, `INT`) to the running jrun.
    pub fn signal(&self, name: &str) {
        let child = self.0.as_ref().expect("running");
        let sent = std::process::Command::new("kill")
            .args([format!("-{name}"), child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} failed");
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

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
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

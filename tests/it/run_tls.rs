//! HTTPS: a Jenkins whose certificate a private CA signed is trusted through `ca_file:`,
//! refused without it, reached with `--insecure` only when asked, and reached through the
//! CONNECT proxy `HTTPS_PROXY` names. The sandbox sits behind a TLS terminator on 127.0.0.1
//! that serves the test certificate in tests/fixtures/tls.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use predicates::prelude::*;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};

use assert_cmd::assert::OutputAssertExt;

use common::{TOKEN, USER, pipeline_file, run};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// Serves TLS on a free port of 127.0.0.1 and forwards every connection to `backend`, for
/// as long as the returned runtime lives.
fn tls_in_front_of(backend: SocketAddr) -> (tokio::runtime::Runtime, u16) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .expect("server.pem")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).expect("server.key");
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (runtime, listener, port) = listening();
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to forward.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (runtime, port)
}

const JOBS: &str =
    "speed: 100\nquiet_period: 0s\njobs:\n  - {path: app, builds: [{duration: 1s}]}\n";

fn pipeline(port: u16, extra: &str) -> String {
    format!(
        "name: tls\njenkins:\n  url: https://localhost:{port}\n  user: {USER}\n  token: {TOKEN}\n{extra}steps:\n  - {{id: build, job: app}}\n"
    )
}

#[test]
fn a_jenkins_signed_by_the_ca_in_ca_file_is_trusted() {
    let sb = common::sandbox(JOBS);
    let (_tls, port) = tls_in_front_of(sb.addr());
    // Configured as Jenkins behind a TLS terminator should be: its root URL is the https one
    // clients use, so the answers name no other root to warn about.
    sb.with_model(|m| m.root_url = Some(format!("https://localhost:{port}/")));
    let ca = fixture("ca.pem");
    let yaml = pipeline(port, &format!("  ca_file: {}\n", ca.display()));
    let (_dir, path) = pipeline_file(&yaml);
    run(&path, &[])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning").not());
    assert_eq!(sb.triggers().len(), 1);
}

#[test]
fn without_its_ca_the_certificate_is_refused_with_exit_3_and_a_hint() {
    let sb = common::sandbox(JOBS);
    let (_tls, port) = tls_in_front_of(sb.addr());
    let (_dir, path) = pipeline_file(&pipeline(port, ""));
    run(&path, &[]).assert().code(3).stderr(
        predicate::str::contains("certificate")
            .and(predicate::str::contains("ca_file"))
            .and(predicate::str::contains(TOKEN).not()),
    );
    assert_eq!(sb.triggers().len(), 0);
}

#[test]
fn insecure_reaches_it_without_the_ca_and_says_so() {
    let sb = common::sandbox(JOBS);
    let (_tls, port) = tls_in_front_of(sb.addr());
    let (_dir, path) = pipeline_file(&pipeline(port, ""));
    run(&path, &["--insecure"])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: --insecure"));
    assert_eq!(sb.triggers().len(), 1);
}

#[test]
fn a_ca_file_that_is_not_pem_exits_2_naming_it() {
    let sb = common::sandbox(JOBS);
    let (_tls, port) = tls_in_front_of(sb.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let bogus = dir.path().join("ca.pem");
    std::fs::write(&bogus, "not a certificate\n").expect("write");
    let yaml = pipeline(port, &format!("  ca_file: {}\n", bogus.display()));
    let (_pdir, path) = pipeline_file(&yaml);
    run(&path, &[]).assert().code(2).stderr(
        predicate::str::contains(bogus.display().to_string())
            .and(predicate::str::contains("BEGIN CERTIFICATE")),
    );
    let missing = dir.path().join("missing.pem");
    let yaml = pipeline(port, &format!("  ca_file: {}\n", missing.display()));
    let (_mdir, path) = pipeline_file(&yaml);
    run(&path, &[])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("jenkins.ca_file"));
    assert_eq!(sb.triggers().len(), 0);
}

// proxies

/// A CONNECT proxy on a free port of 127.0.0.1: each tunnel's target goes into `seen`, at
/// most `limit` tunnels are opened, and it serves for as long as the returned runtime lives.
fn connect_proxy(
    seen: Arc<std::sync::Mutex<Vec<String>>>,
    limit: usize,
) -> (tokio::runtime::Runtime, u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (runtime, listener, port) = listening();
    runtime.spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    match client.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut words = head.split_whitespace();
                let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
                    let _ = client.write_all(b"HTTP/1.1 405 CONNECT only\r\n\r\n").await;
                    return;
                };
                {
                    let mut seen = seen.lock().expect("seen");
                    if seen.len() >= limit {
                        return;
                    }
                    seen.push(target.to_string());
                }
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (runtime, port)
}

#[test]
fn https_proxy_tunnels_the_requests_to_an_https_jenkins() {
    let sb = common::sandbox(JOBS);
    let (_tls, port) = tls_in_front_of(sb.addr());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (_proxy, proxy_port) = connect_proxy(seen.clone(), 200);
    let ca = fixture("ca.pem");
    let (_dir, path) = pipeline_file(&pipeline(port, &format!("  ca_file: {}\n", ca.display())));
    let mut cmd = common::jrun();
    cmd.arg(&path).args(["--progress", "never"]);
    cmd.env("HTTPS_PROXY", format!("http://127.0.0.1:{proxy_port}"))
        .env("NO_PROXY", "ci.example.com");
    cmd.assert().success();
    assert_eq!(sb.triggers().len(), 1);
    let seen = seen.lock().expect("seen").clone();
    assert!(!seen.is_empty(), "no tunnel was opened");
    let target = format!("localhost:{port}");
    assert!(seen.iter().all(|t| *t == target), "{seen:?}");
}

/// A one-thread runtime and a listener on a free port of 127.0.0.1 that it serves.
fn listening() -> (tokio::runtime::Runtime, TcpListener, u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    (runtime, listener, port)
}

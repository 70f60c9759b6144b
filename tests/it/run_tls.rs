//! HTTPS: a Jenkins whose certificate a private CA signed is trusted through `ca_file:`,
//! refused without it, and reached with `--insecure` only when asked. The sandbox sits behind a
//! TLS terminator on 127.0.0.1 that serves the test certificate in tests/fixtures/tls.

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
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

//! A faithful emulator of the Jenkins REST API, served on 127.0.0.1: crumbs bound to sessions,
//! the queue with quiet periods, folding and expiring left items, builds, logs, `tree=`, and
//! switchable faults. The test suite runs against it, and `jrun sandbox` lets anyone try jrun
//! without a Jenkins at hand.
//!
//! It shares no code with jrun's Jenkins client on purpose: a shared JSON type or URL helper
//! would let one misunderstanding of Jenkins pass both sides' tests.
//!
//! `http` reads a request once and applies the faults; `routes` dispatches it (credentials and
//! crumbs in `auth`, then `queue`, `jobs`, `triggers`, `builds` and `console`), answering
//! through `api` and `pages`; `control` serves `/__sandbox/`. `model` holds the state, `json`
//! writes its beans, `wire` and `shared` are the leaves everything else builds on, and
//! `rehearsal` makes the jobs a `jrun --sandbox` run needs.

mod api;
mod artifacts;
mod auth;
mod builds;
pub mod clock;
pub mod config;
mod console;
mod control;
mod doors;
mod faults;
mod http;
mod inputs;
mod jobs;
mod json;
mod junit;
mod log;
mod md5;
pub mod model;
mod multibranch;
mod pages;
mod pyapi;
mod queue;
mod rehearsal;
mod routes;
mod shared;
mod store;
mod tree;
mod triggers;
mod wfapi;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

pub use config::{Faults, JobConfig, SandboxConfig};
pub use doors::{FrontDoorConfig, Otherwise};
pub use model::{Model, TriggerRecord};
pub use rehearsal::{Rehearsal, rehearsal};
use shared::Shared;

/// A running sandbox. It serves on its own thread and runtime, so it works the same from
/// synchronous tests, async code and the command line; dropping it stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts on a free port of 127.0.0.1.
    pub fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        Self::start_on(config, 0)
    }

    pub fn start_on(config: SandboxConfig, port: u16) -> std::io::Result<Sandbox> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let mut model = Model::new(&config);
        // The store listens next to the controller, as S3 would be another host.
        let store_listener = if config.artifact_store {
            let store = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            store.set_nonblocking(true)?;
            let secret = model.salt.chars().rev().collect::<String>();
            model.store = Some(store::Store::new(
                format!("http://{}", store.local_addr()?),
                secret,
            ));
            Some(store)
        } else {
            None
        };
        let shared = Arc::new(Shared::new(model));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("jrun-sandbox")
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("jrun-sandbox".to_string())
            .spawn(move || {
                runtime.block_on(serve(listener, store_listener, serving, rx));
                runtime.shutdown_timeout(std::time::Duration::from_millis(200));
            })?;
        Ok(Sandbox {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where Jenkins itself answers: `url()` plus the context path, with a trailing slash.
    pub fn jenkins_url(&self) -> String {
        let context = self.shared.lock().context_path.clone();
        format!("{}{context}/", self.url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `f` on the model, for in-process callers that set it up or inspect it.
    pub fn with_model<R>(&self, f: impl FnOnce(&mut Model) -> R) -> R {
        let mut model = self.shared.lock();
        let now = model.now();
        model.advance(now);
        f(&mut model)
    }

    /// Adds the jobs the sandbox does not have yet; a job it has keeps its own config.
    pub fn add_missing_jobs(&self, jobs: &[JobConfig]) {
        self.with_model(|m| {
            for job in jobs {
                if m.job(&job.path).is_none() {
                    m.put_job(job);
                }
            }
        });
    }

    /// Adds what a rehearsal needs and the sandbox does not have yet.
    pub fn add_rehearsal(&self, rehearsal: &Rehearsal) {
        self.add_missing_jobs(&rehearsal.jobs);
        self.with_model(|m| {
            for project in &rehearsal.projects {
                if !m.nodes.contains_key(&project.path) {
                    m.put_multibranch(project);
                }
            }
        });
    }

    /// Every trigger request received so far.
    pub fn triggers(&self) -> Vec<TriggerRecord> {
        self.with_model(|m| m.stats.triggers.clone())
    }

    /// Blocks until the server stops (it only stops when the process ends or on drop).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    store: Option<std::net::TcpListener>,
    shared: Arc<Shared>,
    shutdown: oneshot::Receiver<()>,
) {
    // The store's task ends with the runtime, which the controller's loop ends on shutdown.
    if let Some(store) = store.and_then(|s| tokio::net::TcpListener::from_std(s).ok()) {
        tokio::spawn(serve_store(store, shared.clone()));
    }
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            // The sandbox shares nothing with the client, the printer included: inside a
            // server task that cannot listen, stderr is the one place left to say so.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("jrun sandbox: cannot listen: {e}");
            }
            return;
        }
    };
    let controller = shared.clone();
    let handle = move |req, ip| http::handle(controller.clone(), req, ip);
    accept(listener, handle, async move {
        let _ = shutdown.await;
    })
    .await;
}

/// Accepts connections until `shutdown` and serves each with `handle`, which is given the
/// request and the peer's address.
async fn accept<H, F, E>(
    listener: tokio::net::TcpListener,
    handle: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(hyper::Request<hyper::body::Incoming>, std::net::IpAddr) -> F + Clone + Send + 'static,
    F: Future<Output = Result<wire::Reply, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let handle = handle.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(req, peer.ip()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

async fn serve_store(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let handle = move |req, ip| store::handle(shared.clone(), req, ip);
    accept(listener, handle, std::future::pending()).await;
}

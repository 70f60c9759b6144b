//! The integration tests, one module per area, linked into one binary: the real `jrun` binary
//! and the library's public API against the sandbox over HTTP on 127.0.0.1. Helpers shared by
//! every module live in `common`.

mod common;

mod cli_sandbox;
mod jenkins_client;
mod pipeline_files;
mod report_files;
mod report_html;
mod run_artifacts;
mod run_auth;
mod run_batch;
mod run_branches;
mod run_diagnosis;
mod run_doors;
mod run_follow;
mod run_graphs;
mod run_inputs;
mod run_jenkins;
mod run_outputs;
mod run_pipelines;
mod run_polling;
mod run_tls;
mod sandbox_auth;
mod sandbox_builds;
mod sandbox_doors;
mod sandbox_faults;
mod sandbox_flow;
mod sandbox_observed;
mod sandbox_outputs;
mod sandbox_queue;

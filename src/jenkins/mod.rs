//! A client for one Jenkins controller: authentication and crumbs, triggering, following queue
//! items and builds, stopping them. It knows nothing of pipelines.
//!
//! It shares no code with `crate::sandbox` on purpose: the sandbox is what the tests check this
//! client against, and a shared type or URL helper would let one misunderstanding of Jenkins
//! pass both sides.

mod artifacts;
mod branch;
mod client;
mod cookies;
mod credentials;
mod date;
mod diagnose;
mod error;
mod front_door;
mod input;
mod log;
mod outputs;
mod paths;
mod settings;
mod trigger;
mod types;

pub use artifacts::{Artifact, ArtifactBody, MAX_REDIRECTS};
pub use branch::{
    BRANCH_INDEXING_CAUSE, BranchBuild, ScanLog, branch_item_name, branch_parent, is_multibranch,
};
pub use client::{Client, MAX_BODY_SHOWN};
pub use credentials::TOKEN_COMMAND_TIMEOUT;
pub use diagnose::{
    FailedCase, LOG_TAIL_BYTES, MAX_FAILED_CASES, NodeError, Stage, StepNode, TestCounts,
    TestReport,
};
pub use error::Error;
pub use input::{InputError, InputParam, InputReply, PendingInput};
pub use log::LogChunk;
pub use outputs::{BuildFacts, value_text};
pub use paths::job_path;
pub use settings::{
    Auth, DEFAULT_MAX_IN_FLIGHT, DEFAULT_TOKEN_TTL, DEFAULT_UNREACHABLE_TIMEOUT, Proxy, Secret,
    ServerSettings, Tls, TokenCommand, check_proxy_url,
};
pub use types::{Build, BuildRef, Job, ParamDef, QueueItem, QueueState, RequestStats, Triggered};

//! jrun runs pipelines of Jenkins jobs declared in YAML.

pub mod app;
pub mod cli;
pub mod duration;
pub mod engine;
pub mod exit;
pub mod files;
pub mod jenkins;
pub mod lock;
pub mod pipeline;
pub mod redact;
pub mod report;
pub mod sandbox;

pub use app::main_with_args;

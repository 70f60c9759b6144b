//! jrun runs pipelines of Jenkins jobs declared in YAML.

// Everything jrun prints goes through a printer that masks secrets: the report (src/report/)
// and the commands' (src/commands/common.rs). Neither needs these macros.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod app;
pub mod cli;
pub mod commands;
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

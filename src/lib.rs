//! jrun runs pipelines of Jenkins jobs declared in YAML.

pub mod app;
pub mod cli;
pub mod duration;
pub mod exit;
pub mod sandbox;

pub use app::main_with_args;

//! The body of each command, one file each; `common` and `connect` are what they share.

pub mod check;
pub mod common;
pub mod completions;
pub mod connect;
pub mod plan;
pub mod report;
pub mod resume;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod validate;

pub use common::CommandError;

//! Command-line types. They are resolved into typed settings before anything runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0    every step passed
  1    a step ended with a result it did not expect (the pipeline failed)
  2    invalid input: command line, pipeline file, template, unknown job or parameter
  3    Jenkins could not be used: unreachable after retries, authentication, unexpected answers
  4    a timeout was reached
  5    another run holds the lock
  130  interrupted by SIGINT (after cancelling what it started)
  143  stopped by SIGTERM (after cancelling what it started)";

#[derive(Debug, Parser)]
#[command(
    name = "jrun",
    version,
    about = "Run pipelines of Jenkins jobs declared in YAML",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the built-in Jenkins emulator on 127.0.0.1 until interrupted
    Sandbox(SandboxArgs),
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// YAML file with the sandbox's jobs, users and faults
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Clock speed factor, overriding the config (100 plays a 5-minute build in 3 seconds)
    #[arg(long)]
    pub speed: Option<f64>,
    /// Create unknown jobs on first use, overriding the config
    #[arg(long)]
    pub auto_create: bool,
}

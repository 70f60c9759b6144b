//! Command-line types only. They are resolved into typed settings before anything runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::duration::Dur;

const EXIT_CODES: &str = "\
Exit codes:
  0    every step passed
  1    a step ended with a result it did not expect, or its build was lost or
       ambiguous (the pipeline failed)
  2    invalid input: command line, pipeline file, template, unknown job or parameter
  3    Jenkins could not be used: unreachable after retries, authentication, a
       login page or proxy answering instead of Jenkins, unexpected answers
  4    a timeout was reached
  5    another run holds the lock
  130  interrupted by SIGINT (after cancelling what it started, at most 30 s)
  143  stopped by SIGTERM (after cancelling what it started, at most 30 s)
When several apply, the first in this order wins: 130/143, 2, 5, 3, 4, 1, 0.

Credentials come from the pipeline's `jenkins:` block, else JENKINS_URL, JENKINS_USER_ID and
JENKINS_API_TOKEN (or JENKINS_PASSWORD), else ~/.netrc.";

#[derive(Debug, Parser)]
#[command(
    name = "jrun",
    version,
    about = "Run pipelines of Jenkins jobs declared in YAML",
    after_help = EXIT_CODES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline (the same as `jrun <PIPELINE>`)
    Run(RunArgs),
    /// Check pipeline files offline: syntax, types, the step graph, templates
    Validate(ValidateArgs),
    /// Show the order of steps and their rendered parameters, offline
    Plan(PlanArgs),
    /// Check a pipeline against Jenkins without triggering anything: jobs exist and are
    /// enabled, parameters are defined, choices are valid
    Check(CheckArgs),
    /// Finish a run that was interrupted or killed, from its --journal, without triggering
    /// anything twice
    Resume(ResumeArgs),
    /// Print a JSON Schema: of pipeline files (the default) or of run reports
    Schema(SchemaArgs),
    /// Draw a saved JSON report (`--report`) again: its timeline as an HTML page
    ///
    /// The page is the same, byte for byte, as the one `--html` wrote at the end of the run.
    Report(ReportArgs),
    /// Serve the built-in Jenkins emulator on 127.0.0.1 until interrupted
    Sandbox(SandboxArgs),
    /// Print a completion script for a shell
    ///
    /// For bash: `jrun completions bash > ~/.local/share/bash-completion/completions/jrun`;
    /// for zsh, write it as `_jrun` into a directory of `$fpath`.
    Completions(CompletionsArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// Bars on a terminal, plain lines elsewhere
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file to run
    #[arg(value_name = "PIPELINE", required = true)]
    pub pipeline: Option<PathBuf>,
    /// Override a pipeline variable (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Run only this step (repeatable; a matrix step's id selects all its cells)
    #[arg(long, value_name = "ID")]
    pub only: Vec<String>,
    /// Run this step and everything that depends on it (repeatable)
    #[arg(long, value_name = "ID")]
    pub from: Vec<String>,
    /// On SIGINT or SIGTERM, leave the builds this run started running in Jenkins
    #[arg(long)]
    pub no_cancel_on_interrupt: bool,
    /// Run at most N steps at the same time
    #[arg(long, value_name = "N")]
    pub max_parallel: Option<usize>,
    /// Deadline for the whole run (e.g. 30m); what is still running is stopped and jrun exits 4
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<Dur>,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Format of the summary on stdout
    #[arg(long, value_enum, default_value_t = OutputArg::Text)]
    pub output: OutputArg,
    /// Hold an OS lock on FILE for the run; if another run holds it, exit 5
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// With --lock, wait up to DURATION for the other run to finish instead of exiting 5
    #[arg(long, value_name = "DURATION", requires = "lock")]
    pub lock_wait: Option<Dur>,
    /// Append every event of the run to FILE (JSON lines), so `jrun resume FILE` can finish it
    /// if it dies; an unfinished journal of the same pipeline is resumed
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Write the run summary as JSON to FILE, also when the run fails
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write JUnit XML (one test case per step) to FILE, also when the run fails
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the run's timeline as one self-contained HTML page to FILE, also when the run
    /// fails (no scripts or styles: it shows as archived by Jenkins)
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Stream the console log of each running build to stderr, every line prefixed with its
    /// step id
    #[arg(long)]
    pub follow: bool,
    /// Lines of a failed build's log to show in the summary, --report and --junit (the
    /// failing Pipeline step's, else the end of the console log); 0 reads no log
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(..=1000))]
    pub log_tail: u32,
    /// Answer `proceed` to the input of step STEP's build (only input INPUT, when given) that
    /// the pipeline does not answer itself; repeatable
    #[arg(long, value_name = "STEP[:INPUT]")]
    pub approve: Vec<String>,
    /// Run against an in-process Jenkins emulator instead of the pipeline's server
    #[arg(long)]
    pub sandbox: bool,
    /// Sandbox configuration scripting job durations and results (implies --sandbox)
    #[arg(long, value_name = "FILE")]
    pub sandbox_config: Option<PathBuf>,
    #[command(flatten)]
    pub talk: TalkArgs,
    /// Print only errors and the summary
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// How jrun talks to Jenkins, and how much it says about it.
#[derive(Debug, Clone, Copy, Args)]
pub struct TalkArgs {
    /// Accept any HTTPS certificate, for a test Jenkins with a self-signed one (prefer
    /// `ca_file:` in the pipeline's server block)
    #[arg(long)]
    pub insecure: bool,
    /// Also log every request to Jenkins, and when each build is due to be read, as plain
    /// lines on stderr (instead of bars)
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Pipeline files to check
    #[arg(value_name = "PIPELINE", required = true)]
    pub pipelines: Vec<PathBuf>,
    /// Override a pipeline variable (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The journal of the run to finish
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,
    #[arg(long, value_name = "FILE")]
    /// Hold an OS lock on FILE while resuming; if another run holds it, exit 5
    pub lock: Option<PathBuf>,
    /// How to show progress
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Format of the summary on stdout
    #[arg(long, value_enum, default_value_t = OutputArg::Text)]
    pub output: OutputArg,
    /// Write the run summary as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write JUnit XML to FILE
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the run's timeline as one self-contained HTML page to FILE
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// On SIGINT or SIGTERM, leave the builds running in Jenkins
    #[arg(long)]
    pub no_cancel_on_interrupt: bool,
    /// Stream the console log of each running build to stderr, every line prefixed with its
    /// step id
    #[arg(long)]
    pub follow: bool,
    /// Lines of a failed build's log to show in the summary, --report and --junit (the
    /// failing Pipeline step's, else the end of the console log); 0 reads no log
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(..=1000))]
    pub log_tail: u32,
    /// Answer `proceed` to the input of step STEP's build (only input INPUT, when given) that
    /// the pipeline does not answer itself; repeatable
    #[arg(long, value_name = "STEP[:INPUT]")]
    pub approve: Vec<String>,
    #[command(flatten)]
    pub talk: TalkArgs,
    /// Print only errors and the summary
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The pipeline file
    #[arg(value_name = "PIPELINE")]
    pub pipeline: PathBuf,
    /// Override a pipeline variable (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub talk: TalkArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The pipeline file
    #[arg(value_name = "PIPELINE")]
    pub pipeline: PathBuf,
    /// Override a pipeline variable (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// Pipeline files
    Pipeline,
    /// The JSON of `--output json` and `--report`
    Report,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema
    #[arg(value_enum, default_value_t = SchemaKind::Pipeline)]
    pub kind: SchemaKind,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A JSON report written by `--report` or printed by `--output json`
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// Write the run's timeline as one self-contained HTML page to FILE
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        // clap's own checks: unique names, conflicts and requirements naming real arguments.
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}

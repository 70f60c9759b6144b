//! `jrun completions`: the shell completion script, generated from the command line's definition.

use crate::cli::{Cli, CompletionsArgs};
use crate::exit::ExitStatus;

use super::common::CommandError;

pub fn completions(args: CompletionsArgs) -> Result<ExitStatus, CommandError> {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "jrun", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}

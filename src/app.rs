//! From arguments to an exit status: parse, hand the command its arguments, print any error
//! once. Each command's body is in `commands`.

use std::ffi::OsString;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::{
    self, CommandError, check, completions, plan, report, resume, run, sandbox, schema, validate,
};
use crate::exit::ExitStatus;

pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitStatus {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::InvalidInput
            } else {
                ExitStatus::Success
            };
        }
    };
    match dispatch(cli) {
        Ok(status) => status,
        Err(failure) => {
            commands::common::print_error(&failure.source);
            failure.status
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitStatus, CommandError> {
    match cli.command {
        None => run::run(cli.run),
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Validate(args)) => validate::validate(args),
        Some(Command::Plan(args)) => plan::plan(args),
        Some(Command::Check(args)) => check::check(args),
        // A journal whose run finished has nothing left to run.
        Some(Command::Resume(args)) => match resume::resume(args)? {
            Some(args) => run::run(args),
            None => Ok(ExitStatus::Success),
        },
        Some(Command::Schema(args)) => schema::schema(args),
        Some(Command::Report(args)) => report::report(args),
        Some(Command::Sandbox(args)) => sandbox::sandbox(args),
        Some(Command::Completions(args)) => completions::completions(args),
    }
}

//! `jrun validate`: loads each pipeline file and says whether it is valid, talking to no one.

use crate::cli::ValidateArgs;
use crate::exit::ExitStatus;

use super::common::{CommandError, load, print_error, to_stdout};

pub fn validate(args: ValidateArgs) -> Result<ExitStatus, CommandError> {
    let mut status = ExitStatus::Success;
    for path in &args.pipelines {
        match load(path, &args.set) {
            Ok(p) => to_stdout(&format!(
                "{}: ok ({})\n",
                path.display(),
                crate::report::count(p.steps.len(), "step")
            )),
            Err(failure) => {
                print_error(&failure.source);
                status = status.worst(failure.status);
            }
        }
    }
    Ok(status)
}

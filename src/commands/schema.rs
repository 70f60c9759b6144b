//! `jrun schema`: the JSON schema of the pipeline file or of the report.

use crate::cli::{SchemaArgs, SchemaKind};
use crate::exit::ExitStatus;

use super::common::{CommandError, to_stdout};

pub fn schema(args: SchemaArgs) -> Result<ExitStatus, CommandError> {
    let text = match args.kind {
        SchemaKind::Pipeline => crate::pipeline::schema_text(),
        SchemaKind::Report => crate::report::schema_text(),
    };
    to_stdout(&text);
    Ok(ExitStatus::Success)
}

//! `jrun report`: a saved JSON report drawn again, as the timeline page `--html` writes.

use anyhow::anyhow;

use crate::cli::ReportArgs;
use crate::exit::ExitStatus;
use crate::report;

use super::common::CommandError;

pub fn report(args: ReportArgs) -> Result<ExitStatus, CommandError> {
    let path = &args.report;
    let text = std::fs::read_to_string(path)
        .map_err(|e| CommandError::invalid(anyhow!("cannot read {}: {e}", path.display())))?;
    let summary = report::read_report(&text).map_err(|e| {
        CommandError::invalid(anyhow!(
            "{}:{}:{}: not a jrun report: {e} (give a file written by --report or --output json)",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    report::write_html(&summary, &args.html).map_err(CommandError::invalid)?;
    Ok(ExitStatus::Success)
}

//! `jrun resume`: the run a journal records, as the arguments that finish it.

use crate::cli::{ResumeArgs, RunArgs};
use crate::engine;

use super::common::{CommandError, to_stdout};

/// The run that finishes the journal's, or None when that run already finished (which is
/// said on stdout: there is nothing to do, and that is not an error).
pub fn resume(args: ResumeArgs) -> Result<Option<RunArgs>, CommandError> {
    let replay = engine::journal::read(&args.journal).map_err(CommandError::invalid)?;
    if let Some(code) = replay.finished {
        to_stdout(&format!(
            "{}: this run of {} already finished with exit {code}; nothing to resume\n",
            args.journal.display(),
            replay.pipeline
        ));
        return Ok(None);
    }
    Ok(Some(RunArgs {
        pipeline: Some(replay.file.clone()),
        set: replay.set.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        only: Vec::new(),
        from: Vec::new(),
        no_cancel_on_interrupt: args.no_cancel_on_interrupt,
        max_parallel: None,
        timeout: None,
        progress: args.progress,
        output: args.output,
        lock: args.lock,
        lock_wait: None,
        journal: Some(args.journal),
        report: args.report,
        junit: args.junit,
        html: args.html,
        follow: args.follow,
        log_tail: args.log_tail,
        approve: args.approve,
        sandbox: false,
        sandbox_config: None,
        talk: args.talk,
        quiet: args.quiet,
    }))
}

//! The scheduler's decisions as pure functions over plain data: when a step may start, why it
//! is skipped, how its end reaches its dependents and its matrix siblings, and the run's exit
//! status. Kept apart from the tasks and channels so each rule is tested on its own.

use super::outcome::{Signal, Stop};
use crate::exit::ExitStatus;
use crate::report::{FailureKind, StepStatus};

/// What the scheduler keeps of a step that is done, beside its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Whether dependents see this step as a success (a failure with `continue_on_failure`
    /// counts as one; a skip inherits its dependencies' state).
    pub ok: bool,
    /// Whether its failure, if any, counts towards the run's exit status.
    pub counts: bool,
}

impl Settled {
    /// A step that ran (or was seeded from a journal) and ended with `status`.
    pub fn ran(status: StepStatus, continue_on_failure: bool) -> Settled {
        Settled {
            ok: status == StepStatus::Passed || continue_on_failure,
            counts: !continue_on_failure,
        }
    }

    /// A step that failed before anything was sent to Jenkins for it.
    pub fn refused(continue_on_failure: bool) -> Settled {
        Settled {
            ok: continue_on_failure,
            counts: !continue_on_failure,
        }
    }

    /// A step that was skipped. One left out of a partial run stands in as a success for the
    /// rest; nothing stands in as one once the run is stopping.
    pub fn skipped(deps_ok: bool, selected: bool, stopping: bool) -> Settled {
        Settled {
            ok: (deps_ok || !selected) && !stopping,
            counts: false,
        }
    }

    /// A step the run gave up on, or one refused with the whole run: it is never a success.
    pub fn lost() -> Settled {
        Settled {
            ok: false,
            counts: true,
        }
    }
}

/// Whether every dependency of a step is done; `done` tells how a step settled, `None` for
/// one that is not done.
pub fn ready(needs: &[usize], done: impl Fn(usize) -> Option<Settled>) -> bool {
    needs.iter().all(|d| done(*d).is_some())
}

/// Whether every dependency of a ready step counts as a success, and the first that does not.
pub fn dependencies(
    needs: &[usize],
    done: impl Fn(usize) -> Option<Settled>,
) -> (bool, Option<usize>) {
    let failed = needs
        .iter()
        .copied()
        .find(|d| done(*d).is_some_and(|s| !s.ok));
    (failed.is_none(), failed)
}

/// How a step's `if:` reads once its dependencies are known; an expression is the caller's
/// to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    OnSuccess,
    OnFailure,
    Always,
    Expr,
}

/// What the run's own state says of a ready step, before its `if:` expression is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Skipped, for this reason.
    Skip(String),
    /// It runs, if its expression (when it has one) renders true.
    Run,
}

/// Why a ready step does not run; the first rule that applies wins.
pub fn verdict(
    stopped: Option<Stop>,
    selected: bool,
    sibling_failed: bool,
    gate: Gate,
    deps_ok: bool,
    failed_dep: Option<&str>,
) -> Verdict {
    let reason = if let Some(stop) = stopped {
        stop.skip_reason().to_string()
    } else if !selected {
        "not selected (--only / --from)".to_string()
    } else if sibling_failed {
        Stop::FailFast.skip_reason().to_string()
    } else {
        match gate {
            Gate::OnSuccess if !deps_ok => {
                format!("`{}` did not succeed", failed_dep.unwrap_or_default())
            }
            Gate::OnFailure if deps_ok => "nothing it needs failed (if: on_failure)".to_string(),
            _ => return Verdict::Run,
        }
    };
    Verdict::Skip(reason)
}

/// Whether a step that just ended stops its matrix siblings: it failed, its failure is not
/// forgiven, its matrix fails fast and the run is not already stopping everything.
pub fn fails_fast(
    status: StepStatus,
    continue_on_failure: bool,
    fail_fast: bool,
    stopping: bool,
) -> bool {
    status != StepStatus::Passed && !continue_on_failure && fail_fast && !stopping
}

/// Whether an ended step's build may still be queued or running (left so by an interrupt, or
/// Jenkins did not confirm its stop): it is re-attached on resume, so not journaled finished.
pub fn left_running(
    status: StepStatus,
    failure: Option<FailureKind>,
    cancel_on_interrupt: bool,
) -> bool {
    status == StepStatus::Interrupted
        || (failure == Some(FailureKind::Interrupted) && !cancel_on_interrupt)
}

/// The exit status a failure of this kind gives the run.
pub fn exit_of(failure: FailureKind) -> ExitStatus {
    match failure {
        FailureKind::Result => ExitStatus::Failed,
        FailureKind::Timeout => ExitStatus::Timeout,
        FailureKind::Jenkins => ExitStatus::Jenkins,
        FailureKind::Invalid => ExitStatus::InvalidInput,
        FailureKind::Interrupted => ExitStatus::Interrupted,
        // The build may have run, or cannot be found: the pipeline did not pass, and a person
        // must look.
        FailureKind::Ambiguous | FailureKind::Lost | FailureKind::Output => ExitStatus::Failed,
    }
}

/// The run's exit status from the failures that count and what stopped it: a signal decides
/// it outright, a run timeout is one more failure.
pub fn run_status(
    failures: impl IntoIterator<Item = FailureKind>,
    stopped: Option<Stop>,
) -> ExitStatus {
    let mut status = failures
        .into_iter()
        .fold(ExitStatus::Success, |s, f| s.worst(exit_of(f)));
    match stopped {
        Some(Stop::RunTimeout) => status = status.worst(ExitStatus::Timeout),
        Some(Stop::Interrupt(Signal::Int)) => status = ExitStatus::Interrupted,
        Some(Stop::Interrupt(Signal::Term)) => status = ExitStatus::Terminated,
        _ => {}
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Option<Settled> = Some(Settled {
        ok: true,
        counts: true,
    });
    const BAD: Option<Settled> = Some(Settled {
        ok: false,
        counts: true,
    });

    #[test]
    fn a_step_is_ready_only_once_everything_it_needs_is_done() {
        let done = |states: &'static [Option<Settled>]| move |i: usize| states[i];
        assert!(ready(&[], done(&[])));
        assert!(ready(&[0, 1], done(&[OK, BAD])));
        assert!(!ready(&[0, 1], done(&[OK, None])));
    }

    #[test]
    fn the_first_dependency_that_did_not_succeed_is_named() {
        let states = [OK, BAD, BAD];
        assert_eq!(dependencies(&[0, 1, 2], |i| states[i]), (false, Some(1)));
        assert_eq!(dependencies(&[0], |i| states[i]), (true, None));
    }

    #[test]
    fn a_stopped_run_skips_before_any_other_rule() {
        let skip = |stop| verdict(Some(stop), false, true, Gate::OnSuccess, false, None);
        assert_eq!(
            skip(Stop::RunTimeout),
            Verdict::Skip("the run's --timeout was reached".into())
        );
        assert_eq!(
            skip(Stop::Interrupt(Signal::Term)),
            Verdict::Skip("the run was interrupted".into())
        );
    }

    #[test]
    fn selection_then_fail_fast_then_the_condition_decide_a_skip() {
        assert_eq!(
            verdict(None, false, true, Gate::Always, true, None),
            Verdict::Skip("not selected (--only / --from)".into())
        );
        assert_eq!(
            verdict(None, true, true, Gate::Always, true, None),
            Verdict::Skip("a sibling cell failed (fail_fast)".into())
        );
        assert_eq!(
            verdict(None, true, false, Gate::OnSuccess, false, Some("build")),
            Verdict::Skip("`build` did not succeed".into())
        );
        assert_eq!(
            verdict(None, true, false, Gate::OnFailure, true, None),
            Verdict::Skip("nothing it needs failed (if: on_failure)".into())
        );
    }

    #[test]
    fn always_on_failure_and_expressions_run_after_a_failed_dependency() {
        for gate in [Gate::Always, Gate::OnFailure, Gate::Expr] {
            assert_eq!(
                verdict(None, true, false, gate, false, Some("a")),
                Verdict::Run
            );
        }
        assert_eq!(
            verdict(None, true, false, Gate::OnSuccess, true, None),
            Verdict::Run
        );
    }

    #[test]
    fn continue_on_failure_makes_a_failure_a_success_that_does_not_count() {
        assert_eq!(
            Settled::ran(StepStatus::Failed, true),
            Settled {
                ok: true,
                counts: false
            }
        );
        assert_eq!(
            Settled::ran(StepStatus::Failed, false),
            Settled {
                ok: false,
                counts: true
            }
        );
        assert!(Settled::ran(StepStatus::Passed, false).ok);
    }

    #[test]
    fn a_skip_passes_on_its_dependencies_state_unless_the_run_is_stopping() {
        assert!(Settled::skipped(true, true, false).ok);
        assert!(!Settled::skipped(false, true, false).ok);
        // Left out of a partial run: stands in as a success.
        assert!(Settled::skipped(false, false, false).ok);
        assert!(!Settled::skipped(true, false, true).ok);
        assert!(!Settled::skipped(true, true, false).counts);
    }

    #[test]
    fn only_an_unforgiven_failure_in_a_fail_fast_matrix_stops_its_siblings() {
        assert!(fails_fast(StepStatus::Failed, false, true, false));
        assert!(fails_fast(StepStatus::TimedOut, false, true, false));
        assert!(!fails_fast(StepStatus::Passed, false, true, false));
        assert!(!fails_fast(StepStatus::Failed, true, true, false));
        assert!(!fails_fast(StepStatus::Failed, false, false, false));
        assert!(!fails_fast(StepStatus::Failed, false, true, true));
    }

    #[test]
    fn a_build_left_behind_by_an_interrupt_is_not_journaled_finished() {
        use FailureKind::Interrupted;
        assert!(left_running(StepStatus::Interrupted, None, true));
        assert!(left_running(StepStatus::Failed, Some(Interrupted), false));
        assert!(!left_running(StepStatus::Failed, Some(Interrupted), true));
        assert!(!left_running(
            StepStatus::Failed,
            Some(FailureKind::Result),
            false
        ));
    }

    #[test]
    fn the_run_status_is_the_worst_failure_and_a_signal_overrides_it() {
        use FailureKind::*;
        assert_eq!(run_status([], None), ExitStatus::Success);
        assert_eq!(run_status([Lost], None), ExitStatus::Failed);
        assert_eq!(
            run_status([Result, Jenkins], None),
            ExitStatus::Failed.worst(ExitStatus::Jenkins)
        );
        assert_eq!(run_status([], Some(Stop::RunTimeout)), ExitStatus::Timeout);
        assert_eq!(
            run_status([Invalid], Some(Stop::Interrupt(Signal::Int))),
            ExitStatus::Interrupted
        );
        assert_eq!(
            run_status([Result], Some(Stop::Interrupt(Signal::Term))),
            ExitStatus::Terminated
        );
        assert_eq!(
            run_status([Timeout], Some(Stop::FailFast)),
            ExitStatus::Timeout
        );
    }
}

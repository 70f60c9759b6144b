//! What the scheduler, the steps, the preflight and the journal share, below all of them: why
//! a running step is told to stop, what it has learnt of its build, and the job cache.

use std::time::Duration;

use crate::jenkins;

/// The most that stopping what a step started may take (cancel, stop, and waiting for Jenkins
/// to confirm), whatever asked for the stop.
pub const STOP_BUDGET: Duration = Duration::from_secs(30);

/// Why a running step is told to stop what it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The run's `--timeout` was reached.
    RunTimeout,
    /// SIGINT or SIGTERM.
    Interrupt(Signal),
    /// A sibling cell of the same matrix failed and the matrix has `fail_fast`.
    FailFast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
}

/// Job definitions read once per run and shared by every step, keyed by server and job.
pub type JobCache = std::sync::Mutex<std::collections::HashMap<(String, String), jenkins::Job>>;

/// What a running step knows of the build it started.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub job: Option<String>,
    pub attempt: u32,
    pub queue_id: Option<u64>,
    pub number: Option<u64>,
    pub url: Option<String>,
}

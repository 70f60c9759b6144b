//! What the scheduler, the steps, the preflight and the journal share, below all of them: why
//! a running step is told to stop, what it has learnt of its build, and the job cache.

use std::time::Duration;

use crate::jenkins;
use crate::pipeline::StepFacts;
use crate::report::StepOutcome;

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

impl Stop {
    /// Why a step that had not started is skipped.
    pub fn skip_reason(self) -> &'static str {
        match self {
            Stop::RunTimeout => "the run's --timeout was reached",
            Stop::Interrupt(_) => "the run was interrupted",
            Stop::FailFast => "a sibling cell failed (fail_fast)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
}

/// Job definitions read once per run and shared by every step, keyed by server and job.
#[derive(Default)]
pub struct JobCache(std::sync::Mutex<std::collections::HashMap<(String, String), jenkins::Job>>);

impl JobCache {
    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), jenkins::Job>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, server: &str, job: &str) -> Option<jenkins::Job> {
        self.map()
            .get(&(server.to_string(), job.to_string()))
            .cloned()
    }

    pub fn insert(&self, server: &str, job: &str, info: jenkins::Job) {
        self.map()
            .insert((server.to_string(), job.to_string()), info);
    }

    /// How many jobs were read.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

/// What later steps' templates see of a finished step (`steps.<id>.number`, ...).
pub fn facts(outcome: &StepOutcome) -> StepFacts {
    StepFacts {
        number: outcome.number,
        url: outcome.url.clone(),
        result: outcome.result.clone(),
        duration_ms: outcome.build_duration_ms,
        queue_id: outcome.queue_id,
        outputs: outcome.outputs.clone(),
    }
}

/// What jrun says of a job Jenkins does not have, where the pipeline names it.
pub fn missing_job(place: &str, job: &str, client: &jenkins::Client) -> String {
    let base_url = client.base_url();
    let message = format!(
        "{place}job `{job}` does not exist on {base_url} (check its full name; folders are separated by /)"
    );
    // Jenkins marks every answer, its 404s included, with X-Jenkins; a server that never
    // did is most likely the servlet container answering for a path outside Jenkins' context.
    if client.jenkins_version().is_some() {
        message
    } else {
        format!(
            "{message}; no answer from {base_url} came from Jenkins (none carried an X-Jenkins header): if Jenkins runs under a context path, put it in the server's url (such as {base_url}jenkins/)"
        )
    }
}

/// What a running step knows of the build it started.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub job: Option<String>,
    pub attempt: u32,
    pub queue_id: Option<u64>,
    pub number: Option<u64>,
    pub url: Option<String>,
}

//! `--journal FILE`: one JSON line per event of a run, written before the next action, so a
//! run that dies (SIGKILL, a crashed machine) can be finished by `jrun resume FILE` without
//! triggering anything twice.
//!
//! The record that matters most is `trigger_sent`: it is written *before* the POST, so a
//! resumed run knows a trigger may have reached Jenkins and looks for it in the queue and the
//! job's recent builds before it would trigger again.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::step::{Failure, StepResult};
use crate::report::StepStatus;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    RunStarted {
        pipeline: String,
        file: PathBuf,
        set: Vec<(String, String)>,
        run_id: String,
        started_at: String,
    },
    StepStarted {
        step: String,
    },
    /// Written before the POST: from here on, the trigger may have reached Jenkins.
    TriggerSent {
        step: String,
        attempt: u32,
        job: String,
        params: Vec<(String, String)>,
        /// The server's clock just before sending, to tell this trigger's build from older ones.
        server_time_ms: Option<i64>,
    },
    Queued {
        step: String,
        attempt: u32,
        queue_id: u64,
    },
    Started {
        step: String,
        attempt: u32,
        number: u64,
        url: String,
    },
    Finished {
        step: String,
        outcome: Outcome,
    },
    RunFinished {
        exit_code: u8,
    },
}

impl Record {
    fn kind(&self) -> &'static str {
        match self {
            Record::RunStarted { .. } => "run_started",
            Record::StepStarted { .. } => "step_started",
            Record::TriggerSent { .. } => "trigger_sent",
            Record::Queued { .. } => "queued",
            Record::Started { .. } => "started",
            Record::Finished { .. } => "finished",
            Record::RunFinished { .. } => "run_finished",
        }
    }
}

/// A finished step, as much as a resumed run needs of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub status: String,
    pub failure: Option<String>,
    pub job: Option<String>,
    pub result: Option<String>,
    pub number: Option<u64>,
    pub url: Option<String>,
    pub queue_id: Option<u64>,
    pub attempts: u32,
    pub duration_ms: u64,
    pub build_duration_ms: Option<u64>,
    pub message: Option<String>,
}

fn failure_name(failure: Failure) -> &'static str {
    match failure {
        Failure::Result => "result",
        Failure::Timeout => "timeout",
        Failure::Jenkins => "jenkins",
        Failure::Invalid => "invalid",
        Failure::Interrupted => "interrupted",
        Failure::Ambiguous => "ambiguous",
    }
}

impl Outcome {
    pub fn of(result: &StepResult) -> Outcome {
        Outcome {
            status: result.status.as_str().to_string(),
            failure: result.failure.map(|f| failure_name(f).to_string()),
            job: result.job.clone(),
            result: result.result.clone(),
            number: result.number,
            url: result.url.clone(),
            queue_id: result.queue_id,
            attempts: result.attempts,
            duration_ms: result.duration.as_millis() as u64,
            build_duration_ms: result.build_duration_ms,
            message: result.message.clone(),
        }
    }

    pub fn to_result(&self) -> StepResult {
        let status = match self.status.as_str() {
            "passed" => StepStatus::Passed,
            "skipped" => StepStatus::Skipped,
            "cancelled" => StepStatus::Cancelled,
            "timed_out" => StepStatus::TimedOut,
            _ => StepStatus::Failed,
        };
        let failure = self.failure.as_deref().map(|f| match f {
            "timeout" => Failure::Timeout,
            "jenkins" => Failure::Jenkins,
            "invalid" => Failure::Invalid,
            "interrupted" => Failure::Interrupted,
            "ambiguous" => Failure::Ambiguous,
            _ => Failure::Result,
        });
        StepResult {
            status,
            failure,
            job: self.job.clone(),
            result: self.result.clone(),
            number: self.number,
            url: self.url.clone(),
            queue_id: self.queue_id,
            attempts: self.attempts,
            duration: std::time::Duration::from_millis(self.duration_ms),
            build_duration_ms: self.build_duration_ms,
            message: self.message.clone(),
            lost: false,
            candidates: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the journal {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a jrun journal line ({message})")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path} is empty or does not start a run: it is not a jrun journal")]
    NoRun { path: String },
}

pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// A test hook: exit as if killed right after writing the Nth record of this kind
    /// (`JRUN_TEST_CRASH_AFTER=trigger_sent` or `trigger_sent:2`).
    crash_after: Option<(String, usize)>,
    written: Mutex<BTreeMap<&'static str, usize>>,
}

impl Journal {
    /// Opens the journal for appending, creating it.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let crash_after =
            std::env::var("JRUN_TEST_CRASH_AFTER")
                .ok()
                .map(|v| match v.split_once(':') {
                    Some((kind, n)) => (kind.to_string(), n.parse().unwrap_or(1)),
                    None => (v, 1),
                });
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            crash_after,
            written: Mutex::new(BTreeMap::new()),
        })
    }

    /// Starts the file afresh (a new run in a journal of a finished one).
    pub fn truncate(path: &Path) -> Result<(), JournalError> {
        File::create(path)
            .map(|_| ())
            .map_err(|source| JournalError::Open {
                path: path.display().to_string(),
                source,
            })
    }

    /// A point between two records where the test hook may also stop the process (e.g.
    /// `trigger_answered`: the POST took effect, its queue item is not written yet).
    pub fn checkpoint(&self, kind: &'static str) {
        if let Some((wanted, nth)) = &self.crash_after
            && wanted == kind
        {
            let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
            let count = written.entry(kind).or_insert(0);
            *count += 1;
            if *count == *nth {
                std::process::exit(137);
            }
        }
    }

    /// Appends one record. It is in the kernel's hands when this returns, so it survives
    /// the process being killed.
    pub fn record(&self, record: &Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(record).unwrap_or_default();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())
            .map_err(|source| JournalError::Write {
                path: self.path.display().to_string(),
                source,
            })?;
        if let Some((kind, nth)) = &self.crash_after {
            let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
            let count = written.entry(record.kind()).or_insert(0);
            *count += 1;
            if kind == record.kind() && *count == *nth {
                std::process::exit(137);
            }
        }
        Ok(())
    }
}

/// A journal read back: the run it started and the records of each step.
#[derive(Debug, Clone)]
pub struct Replay {
    pub pipeline: String,
    pub file: PathBuf,
    pub set: Vec<(String, String)>,
    pub run_id: String,
    pub started_at: String,
    /// The exit code, when the run finished.
    pub finished: Option<u8>,
    pub steps: BTreeMap<String, StepReplay>,
}

/// Where a step was when the journal ends.
#[derive(Debug, Clone, Default)]
pub struct StepReplay {
    pub started: bool,
    pub attempt: u32,
    pub job: Option<String>,
    pub params: Vec<(String, String)>,
    pub server_time_ms: Option<i64>,
    /// A trigger was (or may have been) sent for `attempt`.
    pub triggered: bool,
    pub queue_id: Option<u64>,
    pub build: Option<(u64, String)>,
    pub outcome: Option<Outcome>,
}

pub fn read(path: &Path) -> Result<Replay, JournalError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| JournalError::Open {
        path: shown.clone(),
        source,
    })?;
    let mut replay: Option<Replay> = None;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|source| JournalError::Open {
            path: shown.clone(),
            source,
        })?;
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    let mut records = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(record) => records.push(record),
            // A run killed mid-write may leave its last line cut short.
            Err(_) if Some(n) == last && n > 0 => {}
            Err(e) => {
                return Err(JournalError::Parse {
                    path: shown,
                    line: n + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    for record in records {
        match record {
            Record::RunStarted {
                pipeline,
                file,
                set,
                run_id,
                started_at,
            } => {
                replay = Some(Replay {
                    pipeline,
                    file,
                    set,
                    run_id,
                    started_at,
                    finished: None,
                    steps: BTreeMap::new(),
                });
            }
            other => {
                let Some(replay) = replay.as_mut() else {
                    return Err(JournalError::NoRun { path: shown });
                };
                apply(replay, other);
            }
        }
    }
    replay.ok_or(JournalError::NoRun { path: shown })
}

fn apply(replay: &mut Replay, record: Record) {
    match record {
        Record::RunStarted { .. } => {}
        Record::StepStarted { step } => replay.steps.entry(step).or_default().started = true,
        Record::TriggerSent {
            step,
            attempt,
            job,
            params,
            server_time_ms,
        } => {
            let entry = replay.steps.entry(step).or_default();
            entry.attempt = attempt;
            entry.job = Some(job);
            entry.params = params;
            entry.server_time_ms = server_time_ms;
            entry.triggered = true;
            entry.queue_id = None;
            entry.build = None;
        }
        Record::Queued {
            step,
            attempt,
            queue_id,
        } => {
            let entry = replay.steps.entry(step).or_default();
            if entry.attempt == attempt {
                entry.queue_id = Some(queue_id);
            }
        }
        Record::Started {
            step,
            attempt,
            number,
            url,
        } => {
            let entry = replay.steps.entry(step).or_default();
            if entry.attempt == attempt {
                entry.build = Some((number, url));
            }
        }
        Record::Finished { step, outcome } => {
            replay.steps.entry(step).or_default().outcome = Some(outcome);
        }
        Record::RunFinished { exit_code } => replay.finished = Some(exit_code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_into_where_each_step_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        let journal = Journal::open(&path).unwrap();
        let records = [
            Record::RunStarted {
                pipeline: "release".into(),
                file: "p.yaml".into(),
                set: vec![("v".into(), "1".into())],
                run_id: "r1".into(),
                started_at: "2026-12-01T00:00:00Z".into(),
            },
            Record::StepStarted { step: "a".into() },
            Record::TriggerSent {
                step: "a".into(),
                attempt: 1,
                job: "app".into(),
                params: vec![],
                server_time_ms: Some(5),
            },
            Record::Queued {
                step: "a".into(),
                attempt: 1,
                queue_id: 7,
            },
            Record::StepStarted { step: "b".into() },
        ];
        for record in &records {
            journal.record(record).unwrap();
        }
        let replay = read(&path).unwrap();
        assert_eq!(replay.pipeline, "release");
        assert_eq!(replay.set, vec![("v".to_string(), "1".to_string())]);
        assert_eq!(replay.finished, None);
        let a = &replay.steps["a"];
        assert!(a.triggered);
        assert_eq!(a.queue_id, Some(7));
        assert_eq!(a.server_time_ms, Some(5));
        assert!(replay.steps["b"].started && !replay.steps["b"].triggered);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, "{\"event\":\"step_started\",\"step\":\"a\"}\n").unwrap();
        assert!(matches!(read(&path), Err(JournalError::NoRun { .. })));
        std::fs::write(&path, "hello\n").unwrap();
        assert!(matches!(
            read(&path),
            Err(JournalError::Parse { line: 1, .. })
        ));
    }
}

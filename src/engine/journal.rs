//! `--journal FILE`: one JSON line per event of a run, written before the next action, so a
//! run that dies (SIGKILL, a crashed machine) can be finished by `jrun resume FILE` without
//! triggering anything twice.
//!
//! The record that matters most is `trigger_sent`: it is written *before* the POST, so a
//! resumed run knows a trigger may have reached Jenkins and looks for it in the queue and the
//! job's recent builds before it would trigger again.
//!
//! Every record is synced to the disk before jrun goes on, and the file is refused when it is
//! a link: jrun writes it (created 0600, it holds parameters) wherever `--journal` points.
//!
//! A journal also says which pipeline it belongs to and, for each step it started, what that
//! step sent to Jenkins: a resumed run refuses to attach a build to a step that would now be
//! defined differently, or to trigger again a step that was renamed after its build ran.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::files::{FileError, open_plain};
use crate::pipeline::{DEFAULT_SERVER, JobStep, Pipeline, RenderContext, RunFacts, StepKind};
use crate::report::{FailureKind, StepOutcome};

/// The format of the records this jrun writes. Journals without one (written before it was
/// recorded) still resume: they lack only the file's digest and each step's server.
pub const FORMAT: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    RunStarted {
        pipeline: String,
        file: PathBuf,
        set: Vec<(String, String)>,
        run_id: String,
        started_at: String,
        /// The record format ([`FORMAT`]); journals written before it was recorded have none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<u32>,
        /// `sha256:<hex>` of the pipeline file's bytes when the run started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
    StepStarted {
        step: String,
        /// The server name the step talks to, and that server's address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
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
    /// The step follows a build a scan of its multibranch project started, instead of
    /// triggering one: a resumed run follows it too, and triggers nothing for it.
    Adopted {
        step: String,
        job: String,
        /// The step's parameters, which the build got.
        params: Vec<(String, String)>,
        number: u64,
        url: String,
    },
    /// Written before an answer to a build's `input` step is POSTed: from here on, Jenkins may
    /// have it. Sending it again is harmless (a settled input refuses it), so a resumed run
    /// sends it again unless `input_answered` follows.
    InputAnswering {
        step: String,
        attempt: u32,
        number: u64,
        id: String,
        action: String,
    },
    /// Jenkins accepted the answer: a resumed run never answers this input again.
    InputAnswered {
        step: String,
        attempt: u32,
        number: u64,
        id: String,
    },
    Finished {
        step: String,
        /// Boxed: an outcome with its diagnosis and artifacts dwarfs the other records.
        outcome: Box<StepOutcome>,
    },
    RunFinished {
        exit_code: u8,
    },
}

impl Record {
    /// The name the crash hook counts records by.
    #[cfg(feature = "test-hooks")]
    fn kind(&self) -> &'static str {
        match self {
            Record::RunStarted { .. } => "run_started",
            Record::StepStarted { .. } => "step_started",
            Record::TriggerSent { .. } => "trigger_sent",
            Record::Queued { .. } => "queued",
            Record::Started { .. } => "started",
            Record::Adopted { .. } => "adopted",
            Record::InputAnswering { .. } => "input_answering",
            Record::InputAnswered { .. } => "input_answered",
            Record::Finished { .. } => "finished",
            Record::RunFinished { .. } => "run_finished",
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
    #[error(transparent)]
    Unsafe(#[from] FileError),
}

const WHAT: &str = "the journal";

/// Makes a new journal's name durable with its records: on a crashed machine, a file whose
/// folder entry was never written is lost whatever was synced into it. Some file systems
/// cannot sync a folder; the records are still synced there.
fn sync_folder(path: &Path) {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
}

pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// A test hook: exit as if killed right after writing the Nth record of this kind
    /// (`JRUN_TEST_CRASH_AFTER=trigger_sent` or `trigger_sent:2`).
    #[cfg(feature = "test-hooks")]
    crash_after: Option<(String, usize)>,
    #[cfg(feature = "test-hooks")]
    written: Mutex<BTreeMap<&'static str, usize>>,
}

impl Journal {
    /// Opens the journal for appending, creating it.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        let file = open_plain(path, &mut options, WHAT)?;
        sync_folder(path);
        #[cfg(feature = "test-hooks")]
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
            #[cfg(feature = "test-hooks")]
            crash_after,
            #[cfg(feature = "test-hooks")]
            written: Mutex::new(BTreeMap::new()),
        })
    }

    /// Starts the file afresh (a new run in a journal of a finished one).
    pub fn truncate(path: &Path) -> Result<(), JournalError> {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let file = open_plain(path, &mut options, WHAT)?;
        file.sync_data().map_err(|source| JournalError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// A point between two records where the test hook may also stop the process (e.g.
    /// `trigger_answered`: the POST took effect, its queue item is not written yet;
    /// `build_ended`: a build ended as expected, its outputs are not read yet).
    pub fn checkpoint(&self, kind: &'static str) {
        #[cfg(not(feature = "test-hooks"))]
        let _ = kind;
        #[cfg(feature = "test-hooks")]
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

    /// Appends one record. It is on the disk when this returns (`sync_data`), so it survives
    /// the process being killed and the machine crashing: resume relies on every record.
    pub fn record(&self, record: &Record) -> Result<(), JournalError> {
        self.record_all(std::slice::from_ref(record))
    }

    /// Appends records in one write that reaches the disk once: thousands of steps that start
    /// together cost one `sync_data`, not one each (each takes a disk's round trip).
    pub fn record_all(&self, records: &[Record]) -> Result<(), JournalError> {
        let mut text = String::new();
        for record in records {
            text.push_str(&crate::redact::to_json_line(record));
            text.push('\n');
            #[cfg(feature = "test-hooks")]
            if self.crash_point(record) {
                // The records up to this one are on the disk, none after it.
                let _ = self.write_synced(&text);
                std::process::exit(137);
            }
        }
        self.write_synced(&text)
    }

    fn write_synced(&self, text: &str) -> Result<(), JournalError> {
        if text.is_empty() {
            return Ok(());
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|source| JournalError::Write {
                path: self.path.display().to_string(),
                source,
            })
    }

    /// Whether the test hook stops the process once `record` is written.
    #[cfg(feature = "test-hooks")]
    fn crash_point(&self, record: &Record) -> bool {
        let Some((kind, nth)) = &self.crash_after else {
            return false;
        };
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let count = written.entry(record.kind()).or_insert(0);
        *count += 1;
        kind == record.kind() && *count == *nth
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
    pub format: Option<u32>,
    pub digest: Option<String>,
    /// The exit code, when the run finished.
    pub finished: Option<u8>,
    pub steps: BTreeMap<String, StepReplay>,
}

/// Where a step was when the journal ends.
#[derive(Debug, Clone, Default)]
pub struct StepReplay {
    pub started: bool,
    pub server: Option<String>,
    pub url: Option<String>,
    pub attempt: u32,
    pub job: Option<String>,
    pub params: Vec<(String, String)>,
    pub server_time_ms: Option<i64>,
    /// A trigger was (or may have been) sent for `attempt`.
    pub triggered: bool,
    pub queue_id: Option<u64>,
    pub build: Option<(u64, String)>,
    /// Inputs of `build` an answer was sent to (`true`) or may have been (`false`).
    pub inputs: BTreeMap<String, bool>,
    pub outcome: Option<StepOutcome>,
    /// Its build was adopted from a scan of its multibranch project.
    pub adopted: bool,
}

pub fn read(path: &Path) -> Result<Replay, JournalError> {
    let shown = path.display().to_string();
    // Refused through a link as when writing: a resumed run appends to the file it read.
    let file = open_plain(path, OpenOptions::new().read(true), WHAT)?;
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
                format,
                digest,
            } => {
                replay = Some(Replay {
                    pipeline,
                    file,
                    set,
                    run_id,
                    started_at,
                    format,
                    digest,
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
        Record::StepStarted { step, server, url } => {
            let entry = replay.steps.entry(step).or_default();
            entry.started = true;
            // A resumed run that restarts the step records where it goes now.
            if server.is_some() {
                entry.server = server;
                entry.url = url;
            }
        }
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
            entry.inputs.clear();
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
        Record::Adopted {
            step,
            job,
            params,
            number,
            url,
        } => {
            // As a trigger whose build is known: a resumed run follows it and sends nothing.
            let entry = replay.steps.entry(step).or_default();
            entry.attempt = 1;
            entry.triggered = true;
            entry.job = Some(job);
            entry.params = params;
            entry.build = Some((number, url));
            entry.adopted = true;
        }
        Record::InputAnswering {
            step,
            attempt,
            number,
            id,
            ..
        } => {
            let entry = replay.steps.entry(step).or_default();
            if entry.attempt == attempt && entry.build.as_ref().is_some_and(|b| b.0 == number) {
                entry.inputs.entry(id).or_insert(false);
            }
        }
        Record::InputAnswered {
            step,
            attempt,
            number,
            id,
        } => {
            let entry = replay.steps.entry(step).or_default();
            if entry.attempt == attempt && entry.build.as_ref().is_some_and(|b| b.0 == number) {
                entry.inputs.insert(id, true);
            }
        }
        Record::Finished { step, outcome } => {
            replay.steps.entry(step).or_default().outcome = Some(*outcome);
        }
        Record::RunFinished { exit_code } => replay.finished = Some(exit_code),
    }
}

/// `sha256:<hex>` of a pipeline file's bytes, as `run_started` records it.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Why a journal cannot be resumed with the pipeline at hand.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(
        "the journal {journal} belongs to an unfinished run of pipeline `{was}` ({was_file}), not of pipeline `{now}` ({now_file}); resume that run with `jrun resume {journal}`, or use another journal file"
    )]
    OtherFile {
        journal: String,
        was: String,
        was_file: String,
        now: String,
        now_file: String,
    },
    #[error(
        "the journal {journal} is a run of pipeline `{was}`, but {file} now declares pipeline `{now}`: it is another pipeline's journal; restore {file}, or start a fresh run with another journal file (or delete {journal})"
    )]
    OtherName {
        journal: String,
        file: String,
        was: String,
        now: String,
    },
    #[error(
        "the journal {journal} was written by a newer jrun (record format {format}; this one reads up to {FORMAT}): resume it with that jrun"
    )]
    Newer { journal: String, format: u32 },
    #[error(
        "cannot resume {journal}: what the run had already started is no longer what {file} says:\n{}\nResuming would reuse or re-attach builds made for another definition, or trigger a build again under a new name. Restore {file} (and the --set values and environment the run started with), or start a fresh run with another journal file (or delete {journal}).",
        .problems.join("\n")
    )]
    Changed {
        journal: String,
        file: String,
        problems: Vec<String>,
    },
}

/// Whether `replay` is a journal of this pipeline: same file (canonical path), same name,
/// and a record format this jrun reads.
pub fn belongs_to(
    replay: &Replay,
    journal: &Path,
    pipeline: &str,
    file: &Path,
) -> Result<(), ResumeError> {
    let shown = journal.display().to_string();
    if let Some(format) = replay.format.filter(|f| *f > FORMAT) {
        return Err(ResumeError::Newer {
            journal: shown,
            format,
        });
    }
    if replay.file != file {
        return Err(ResumeError::OtherFile {
            journal: shown,
            was: replay.pipeline.clone(),
            was_file: replay.file.display().to_string(),
            now: pipeline.to_string(),
            now_file: file.display().to_string(),
        });
    }
    if replay.pipeline != pipeline {
        return Err(ResumeError::OtherName {
            journal: shown,
            file: file.display().to_string(),
            was: replay.pipeline.clone(),
            now: pipeline.to_string(),
        });
    }
    Ok(())
}

/// The pipeline a journal is resumed with, and what its steps render with now.
pub struct Resumed<'a> {
    pub journal: &'a Path,
    pub pipeline: &'a Pipeline,
    pub env: &'a BTreeMap<String, String>,
    /// The run's facts, restored from the journal.
    pub run: &'a RunFacts,
    /// The address of each server the run talks to, by the name steps use.
    pub urls: &'a BTreeMap<String, String>,
}

/// Parameters jrun fills itself, afresh for each trigger: their journaled value never matches
/// a new one, so the comparison leaves them out.
fn generated_params(step: &JobStep) -> Vec<&str> {
    step.trigger_id.iter().map(String::as_str).collect()
}

/// The job and parameters a job step sends to Jenkins, rendered in `ctx`.
pub fn rendered(
    step: &JobStep,
    ctx: &RenderContext,
) -> Result<(String, Vec<(String, String)>), String> {
    let job = step.job.render(ctx).map_err(|e| e.to_string())?;
    let params = step
        .params
        .iter()
        .map(|(name, value)| Ok((name.clone(), value.render(ctx).map_err(|e| e.to_string())?)))
        .collect::<Result<_, String>>()?;
    Ok((job, params))
}

/// How the parameters sent (`was`) differ from those that would be sent now, leaving out
/// `skip`. Order does not matter to Jenkins, so it does not count.
fn param_changes(was: &[(String, String)], now: &[(String, String)], skip: &[&str]) -> Vec<String> {
    let mut changes = Vec::new();
    let old: BTreeMap<&str, &str> = was
        .iter()
        .filter(|(n, _)| !skip.contains(&n.as_str()))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let new: BTreeMap<&str, &str> = now
        .iter()
        .filter(|(n, _)| !skip.contains(&n.as_str()))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    for (name, before) in &old {
        match new.get(name) {
            // The journal holds values with jrun's secrets masked.
            Some(after) if after == before || crate::redact::redact(after) == *before => {}
            Some(after) => changes.push(format!("parameter {name} {before:?} -> {after:?}")),
            None => changes.push(format!("parameter {name} {before:?} was removed")),
        }
    }
    for (name, after) in &new {
        if !old.contains_key(name) {
            changes.push(format!("parameter {name} {after:?} was added"));
        }
    }
    changes
}

/// Checks that every step the journal started is still in the pipeline, and that every step
/// whose trigger may have reached Jenkins, or whose outcome the resumed run reuses, would
/// still talk to the same server and send the same job and parameters. Steps that never
/// got that far run afresh, so what changed in them does not matter.
pub fn check_steps(replay: &Replay, now: &Resumed<'_>) -> Result<(), ResumeError> {
    let pipeline = now.pipeline;
    let file = pipeline.file.display().to_string();
    let mut problems = Vec::new();
    for id in replay.steps.keys() {
        if pipeline.step(id).is_none() {
            problems.push(format!(
                "step `{id}` of the journal is not in {file}: it was renamed or removed after the run started it"
            ));
        }
    }
    // Templates render with what the finished steps reported, as they did in the run.
    let reused = |id: &str| {
        replay
            .steps
            .get(id)
            .and_then(|s| s.outcome.as_ref())
            .filter(|o| o.failure != Some(FailureKind::Interrupted))
    };
    let mut ctx = RenderContext::new(pipeline, now.run.clone(), now.env.clone());
    ctx.steps = pipeline
        .steps
        .iter()
        .filter_map(|step| Some((step.id.clone(), super::outcome::facts(reused(&step.id)?))))
        .collect();
    for step in &pipeline.steps {
        let Some(state) = replay.steps.get(&step.id) else {
            continue;
        };
        let finished = reused(&step.id);
        let attached = state.triggered && state.outcome.is_none();
        if finished.is_none() && !attached {
            continue;
        }
        let mut changes = Vec::new();
        let server = step.server.as_deref().unwrap_or(DEFAULT_SERVER);
        match (&state.server, &state.url, now.urls.get(server)) {
            (Some(was), _, _) if was != server => {
                changes.push(format!("server `{was}` -> `{server}`"));
            }
            (_, Some(was), Some(url)) if was != url => {
                changes.push(format!("server `{server}` is now {url}, not {was}"));
            }
            _ => {}
        }
        let ctx = ctx.clone().for_step(step);
        match &step.kind {
            StepKind::Job(job) if state.triggered => match rendered(job, &ctx) {
                Ok((name, params)) => {
                    let was = state.job.as_deref().unwrap_or_default();
                    if name != was {
                        changes.push(format!("job `{was}` -> `{name}`"));
                    }
                    changes.extend(param_changes(
                        &state.params,
                        &params,
                        &generated_params(job),
                    ));
                }
                Err(e) => changes.push(format!("it no longer renders: {e}")),
            },
            StepKind::Await(_) if state.triggered => changes.push(format!(
                "it triggered job `{}` and now awaits one instead",
                state.job.as_deref().unwrap_or_default()
            )),
            // Nothing was triggered: the outcome is about the job it named.
            _ => {
                if let Some(was) = finished.and_then(|o| o.job.as_deref()) {
                    match step.job().render(&ctx) {
                        Ok(name) if name == was => {}
                        Ok(name) => changes.push(format!("job `{was}` -> `{name}`")),
                        Err(e) => changes.push(format!("it no longer renders: {e}")),
                    }
                }
            }
        }
        if !changes.is_empty() {
            let how = if finished.is_some() {
                "finished"
            } else {
                "triggered"
            };
            problems.push(format!(
                "step `{}` ({how} before the interruption): {}",
                step.id,
                changes.join("; ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ResumeError::Changed {
            journal: now.journal.display().to_string(),
            file,
            problems: problems.into_iter().map(|p| format!("  - {p}")).collect(),
        })
    }
}

/// What a run with `--journal` writes first about itself.
pub struct RunStart<'a> {
    pub pipeline: &'a str,
    /// The pipeline file, canonical: a journal belongs to one file wherever it is run from.
    pub file: &'a Path,
    pub set: &'a [(String, String)],
    pub digest: Option<String>,
    /// The id and start of a new run; a resumed run keeps those it started with.
    pub fresh: RunFacts,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Resume(#[from] ResumeError),
}

/// Opens the journal of a run: it finishes the interrupted run of this pipeline (same file,
/// same name) the journal holds, starts over a finished one's, and otherwise records a new
/// run. Returns the interrupted run to replay, if any, and the facts of the run.
pub fn start_or_resume(
    path: &Path,
    run: RunStart<'_>,
) -> Result<(Journal, Option<Replay>, RunFacts), StartError> {
    let mut replay = None;
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        let found = read(path)?;
        if found.finished.is_some() {
            Journal::truncate(path)?;
        } else {
            belongs_to(&found, path, run.pipeline, run.file)?;
            replay = Some(found);
        }
    }
    let journal = Journal::open(path)?;
    let facts = match &replay {
        Some(found) => RunFacts {
            id: found.run_id.clone(),
            started_at: found.started_at.clone(),
        },
        None => {
            journal.record(&Record::RunStarted {
                pipeline: run.pipeline.to_string(),
                file: run.file.to_path_buf(),
                set: run.set.to_vec(),
                run_id: run.fresh.id.clone(),
                started_at: run.fresh.started_at.clone(),
                format: Some(FORMAT),
                digest: run.digest,
            })?;
            run.fresh
        }
    };
    Ok((journal, replay, facts))
}

#[cfg(test)]
mod start_tests {
    use super::*;

    fn facts(id: &str) -> RunFacts {
        RunFacts {
            id: id.to_string(),
            started_at: format!("start of {id}"),
        }
    }

    fn start(
        journal: &Path,
        pipeline: &str,
        id: &str,
    ) -> Result<(Journal, Option<Replay>, RunFacts), StartError> {
        let set = vec![("V".to_string(), "1".to_string())];
        let run = RunStart {
            pipeline,
            file: Path::new("/pipelines/release.yaml"),
            set: &set,
            digest: Some("sha256:00".to_string()),
            fresh: facts(id),
        };
        start_or_resume(journal, run)
    }

    #[test]
    fn a_new_journal_records_the_run_it_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        let (_, replay, run) = start(&path, "release", "first").unwrap();
        assert!(replay.is_none());
        assert_eq!(run.id, "first");
        let written = read(&path).unwrap();
        assert_eq!(written.pipeline, "release");
        assert_eq!(written.run_id, "first");
        assert_eq!(written.set, vec![("V".to_string(), "1".to_string())]);
        assert_eq!(written.format, Some(FORMAT));
        assert_eq!(written.digest.as_deref(), Some("sha256:00"));
    }

    #[test]
    fn records_written_together_are_read_back_each_in_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        let (journal, _, _) = start(&path, "release", "first").unwrap();
        let started = |id: &str| Record::StepStarted {
            step: id.to_string(),
            server: Some("default".to_string()),
            url: Some("http://ci/".to_string()),
        };
        journal
            .record_all(&[started("a"), started("b"), started("c")])
            .unwrap();
        journal.record_all(&[]).unwrap();
        journal.record(&started("d")).unwrap();
        let written = read(&path).unwrap();
        let ids: Vec<&str> = written.steps.keys().map(String::as_str).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert!(written.steps.values().all(|s| s.started));
        let lines = std::fs::read_to_string(&path).unwrap();
        assert_eq!(lines.lines().count(), 5, "{lines}");
    }

    #[test]
    fn an_interrupted_run_resumes_with_the_id_and_start_it_began_with() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        drop(start(&path, "release", "first").unwrap());
        let (_, replay, run) = start(&path, "release", "second").unwrap();
        assert_eq!(replay.map(|r| r.run_id).as_deref(), Some("first"));
        assert_eq!(
            (run.id.as_str(), run.started_at.as_str()),
            ("first", "start of first")
        );
        assert_eq!(
            read(&path).unwrap().run_id,
            "first",
            "a second run was recorded"
        );
    }

    #[test]
    fn the_interrupted_run_of_another_pipeline_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        drop(start(&path, "release", "first").unwrap());
        let refused = start(&path, "nightly", "second").err();
        assert!(
            matches!(
                refused,
                Some(StartError::Resume(ResumeError::OtherName { .. }))
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn the_journal_of_a_finished_run_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        let (journal, _, _) = start(&path, "release", "first").unwrap();
        journal
            .record(&Record::RunFinished { exit_code: 0 })
            .unwrap();
        drop(journal);
        let (_, replay, run) = start(&path, "nightly", "second").unwrap();
        assert!(replay.is_none());
        assert_eq!(run.id, "second");
        let written = read(&path).unwrap();
        assert_eq!(
            (written.pipeline.as_str(), written.run_id.as_str()),
            ("nightly", "second")
        );
        assert_eq!(written.finished, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::StepStatus;

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
                format: Some(FORMAT),
                digest: Some(digest(b"name: release")),
            },
            Record::StepStarted {
                step: "a".into(),
                server: Some("default".into()),
                url: Some("http://j/".into()),
            },
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
            Record::StepStarted {
                step: "b".into(),
                server: None,
                url: None,
            },
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
    fn an_adopted_build_reads_back_as_a_known_build_of_the_first_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        let journal = Journal::open(&path).unwrap();
        let records = [
            Record::RunStarted {
                pipeline: "release".into(),
                file: "p.yaml".into(),
                set: vec![],
                run_id: "r1".into(),
                started_at: "2026-12-01T00:00:00Z".into(),
                format: Some(FORMAT),
                digest: None,
            },
            Record::StepStarted {
                step: "a".into(),
                server: None,
                url: None,
            },
            Record::Adopted {
                step: "a".into(),
                job: "app/release%2F2.4".into(),
                params: vec![("V".into(), "1".into())],
                number: 1,
                url: "http://j/job/app/job/release%252F2.4/1/".into(),
            },
        ];
        for record in &records {
            journal.record(record).unwrap();
        }
        let a = &read(&path).unwrap().steps["a"];
        assert!(a.adopted && a.triggered);
        assert_eq!(a.attempt, 1);
        assert_eq!(a.job.as_deref(), Some("app/release%2F2.4"));
        assert_eq!(a.params, vec![("V".to_string(), "1".to_string())]);
        assert_eq!(a.build.as_ref().map(|b| b.0), Some(1));
        assert_eq!(a.queue_id, None);
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

    fn replay_of(text: &str) -> Replay {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, text).unwrap();
        read(&path).unwrap()
    }

    const STARTED: &str = "{\"event\":\"run_started\",\"pipeline\":\"rel\",\"file\":\"/p.yaml\",\"set\":[],\"run_id\":\"r\",\"started_at\":\"t\"}\n";

    fn pipeline(yaml: &str) -> Pipeline {
        crate::pipeline::load_str(yaml, Path::new("p.yaml"), &[]).unwrap()
    }

    fn check(replay: &Replay, pipeline: &Pipeline) -> Result<(), ResumeError> {
        let urls = BTreeMap::from([("default".to_string(), "http://j/".to_string())]);
        check_steps(
            replay,
            &Resumed {
                journal: Path::new("run.jsonl"),
                pipeline,
                env: &BTreeMap::new(),
                run: &RunFacts::default(),
                urls: &urls,
            },
        )
    }

    #[test]
    fn parameter_changes_name_each_parameter_and_ignore_order_and_generated_ones() {
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert!(
            param_changes(
                &p(&[("A", "1"), ("B", "2")]),
                &p(&[("B", "2"), ("A", "1")]),
                &[]
            )
            .is_empty()
        );
        assert_eq!(
            param_changes(
                &p(&[("A", "1"), ("B", "2")]),
                &p(&[("A", "3"), ("C", "4")]),
                &[]
            ),
            [
                "parameter A \"1\" -> \"3\"",
                "parameter B \"2\" was removed",
                "parameter C \"4\" was added"
            ]
        );
        assert!(
            param_changes(&p(&[("A", "1"), ("ID", "x")]), &p(&[("A", "1")]), &["ID"]).is_empty()
        );
    }

    #[test]
    fn a_journal_of_another_name_file_or_newer_format_does_not_belong_to_the_pipeline() {
        let replay = replay_of(STARTED);
        assert!(belongs_to(&replay, Path::new("j"), "rel", Path::new("/p.yaml")).is_ok());
        let err = belongs_to(&replay, Path::new("j"), "other", Path::new("/p.yaml")).unwrap_err();
        assert!(matches!(err, ResumeError::OtherName { .. }));
        assert!(err.to_string().contains("`rel`") && err.to_string().contains("`other`"));
        let err = belongs_to(&replay, Path::new("j"), "rel", Path::new("/q.yaml")).unwrap_err();
        assert!(matches!(err, ResumeError::OtherFile { .. }));
        let newer = replay_of(&STARTED.replace("\"t\"}", "\"t\",\"format\":99}"));
        assert!(matches!(
            belongs_to(&newer, Path::new("j"), "rel", Path::new("/p.yaml")),
            Err(ResumeError::Newer { format: 99, .. })
        ));
    }

    #[test]
    fn resume_checks_what_started_steps_sent_and_leaves_the_others_free() {
        let journal = format!(
            "{STARTED}{}{}{}",
            "{\"event\":\"step_started\",\"step\":\"a\",\"server\":\"default\",\"url\":\"http://j/\"}\n",
            "{\"event\":\"trigger_sent\",\"step\":\"a\",\"attempt\":1,\"job\":\"app\",\"params\":[[\"V\",\"1\"]],\"server_time_ms\":null}\n",
            "{\"event\":\"step_started\",\"step\":\"b\",\"server\":\"default\",\"url\":\"http://j/\"}\n",
        );
        let replay = replay_of(&journal);
        let same = "name: rel\nsteps:\n  - {id: a, job: app, params: {V: \"1\"}}\n  - {id: b, job: other}\n";
        assert!(check(&replay, &pipeline(same)).is_ok());
        // `b` sent nothing yet: it runs afresh with whatever it says now.
        let b_changed = "name: rel\nsteps:\n  - {id: a, job: app, params: {V: \"1\"}}\n  - {id: b, job: third, params: {X: y}}\n";
        assert!(check(&replay, &pipeline(b_changed)).is_ok());
        let a_changed = "name: rel\nsteps:\n  - {id: a, job: app2, params: {V: \"2\"}}\n  - {id: b, job: other}\n";
        let text = check(&replay, &pipeline(a_changed))
            .unwrap_err()
            .to_string();
        assert!(text.contains("step `a`"), "{text}");
        assert!(text.contains("job `app` -> `app2`"), "{text}");
        assert!(text.contains("parameter V \"1\" -> \"2\""), "{text}");
        let renamed = "name: rel\nsteps:\n  - {id: a2, job: app, params: {V: \"1\"}}\n  - {id: b, job: other}\n";
        let text = check(&replay, &pipeline(renamed)).unwrap_err().to_string();
        assert!(
            text.contains("step `a` of the journal is not in p.yaml"),
            "{text}"
        );
        let moved = "name: rel\nservers:\n  other: {url: \"http://k/\"}\nsteps:\n  - {id: a, job: app, params: {V: \"1\"}, server: other}\n  - {id: b, job: other}\n";
        let text = check(&replay, &pipeline(moved)).unwrap_err().to_string();
        assert!(text.contains("server `default` -> `other`"), "{text}");
    }

    #[test]
    fn a_finished_record_reads_its_status_and_failure_as_typed_kinds() {
        let journal = format!(
            "{STARTED}{}",
            "{\"event\":\"finished\",\"step\":\"a\",\"outcome\":{\"status\":\"timed_out\",\"failure\":\"timeout\",\"job\":\"app\",\"result\":null,\"number\":7,\"url\":null,\"queue_id\":3,\"attempts\":2,\"duration_ms\":5,\"build_duration_ms\":null,\"message\":\"m\"}}\n",
        );
        let outcome = replay_of(&journal).steps["a"].outcome.clone().unwrap();
        assert_eq!(
            outcome,
            StepOutcome {
                job: Some("app".into()),
                number: Some(7),
                queue_id: Some(3),
                attempts: 2,
                duration_ms: 5,
                ..StepOutcome::new().fail(StepStatus::TimedOut, FailureKind::Timeout, "m")
            }
        );
        // Written back, it reads the same.
        let line = serde_json::to_string(&outcome).unwrap();
        assert_eq!(serde_json::from_str::<StepOutcome>(&line).unwrap(), outcome);
    }

    #[test]
    fn a_finished_step_is_checked_against_what_it_rendered_with_earlier_results() {
        let journal = format!(
            "{STARTED}{}{}{}{}{}",
            "{\"event\":\"step_started\",\"step\":\"a\"}\n",
            "{\"event\":\"trigger_sent\",\"step\":\"a\",\"attempt\":1,\"job\":\"app\",\"params\":[],\"server_time_ms\":null}\n",
            "{\"event\":\"finished\",\"step\":\"a\",\"outcome\":{\"status\":\"passed\",\"failure\":null,\"job\":\"app\",\"result\":\"SUCCESS\",\"number\":7,\"url\":null,\"queue_id\":3,\"attempts\":1,\"duration_ms\":5,\"build_duration_ms\":null,\"message\":null}}\n",
            "{\"event\":\"step_started\",\"step\":\"b\"}\n",
            "{\"event\":\"trigger_sent\",\"step\":\"b\",\"attempt\":1,\"job\":\"deploy\",\"params\":[[\"BUILD\",\"7\"]],\"server_time_ms\":null}\n",
        );
        let replay = replay_of(&journal);
        // A journal without servers (the earlier format) is checked on everything else.
        let same = "name: rel\nsteps:\n  - {id: a, job: app}\n  - {id: b, job: deploy, params: {BUILD: \"{{steps.a.number}}\"}}\n";
        assert!(check(&replay, &pipeline(same)).is_ok());
        let other = "name: rel\nsteps:\n  - {id: a, job: app}\n  - {id: b, job: deploy, params: {BUILD: \"{{steps.a.queue_id}}\"}}\n";
        let text = check(&replay, &pipeline(other)).unwrap_err().to_string();
        assert!(text.contains("parameter BUILD \"7\" -> \"3\""), "{text}");
        let a_moved = "name: rel\nsteps:\n  - {id: a, job: app-new}\n  - {id: b, job: deploy, params: {BUILD: \"{{steps.a.number}}\"}}\n";
        let text = check(&replay, &pipeline(a_moved)).unwrap_err().to_string();
        assert!(text.contains("step `a` (finished"), "{text}");
    }
}

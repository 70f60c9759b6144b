//! Everything jrun prints about a run. One `Reporter` decides all output: bars on a terminal,
//! plain timestamped lines elsewhere (cron, CI, pipes), nothing but errors when quiet; the
//! summary goes to stdout as a table or as JSON.

mod bars;
pub mod html;
pub mod junit;
mod plain;
pub mod prompt;
mod summary;
pub mod time;
pub mod timeline;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use summary::{
    ArtifactRecord, AttemptTimes, Diagnosis, FailedTest, Failure, FailureKind, InputRecord,
    RunStatus, StepOutcome, StepStatus, StepSummary, StepTimes, Summary, TestFailures, schema_text,
};

/// `1 step`, `3 steps`.
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// How progress is shown while a run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// One bar or spinner per running step, redrawn in place.
    Bars,
    /// One timestamped line per state change, nothing that redraws.
    Plain,
    /// Nothing but errors and the summary.
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// What the user asked for, before looking at the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressChoice {
    Auto,
    Always,
    Never,
}

impl Progress {
    /// Bars only when stderr is a terminal that can redraw (or when asked to), plain lines
    /// otherwise, so cron mail and CI logs get no cursor movement.
    pub fn resolve(choice: ProgressChoice, quiet: bool) -> Progress {
        if quiet {
            return Progress::Quiet;
        }
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        match choice {
            ProgressChoice::Always => Progress::Bars,
            ProgressChoice::Never => Progress::Plain,
            ProgressChoice::Auto if std::io::stderr().is_terminal() && !dumb => Progress::Bars,
            ProgressChoice::Auto => Progress::Plain,
        }
    }
}

/// A change in a step's state, as the engine reports it.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    RunStarted {
        pipeline: &'a str,
        steps: usize,
    },
    Queued {
        step: &'a str,
        job: &'a str,
        queue_id: u64,
    },
    Waiting {
        step: &'a str,
        why: &'a str,
    },
    Started {
        step: &'a str,
        number: u64,
        url: &'a str,
        estimated_ms: Option<i64>,
    },
    Finished {
        step: &'a str,
        status: StepStatus,
        result: Option<&'a str>,
        number: Option<u64>,
        duration_ms: u64,
        message: Option<&'a str>,
    },
    Skipped {
        step: &'a str,
        reason: &'a str,
    },
    /// Something worth telling that is not a state change: a retry, a stop request.
    Note {
        step: Option<&'a str>,
        message: &'a str,
    },
    /// A build paused at a Pipeline `input` step, with the page where a person answers it.
    Input {
        step: &'a str,
        id: &'a str,
        message: &'a str,
        url: &'a str,
    },
    /// One whole line of a build's console log (`--follow`), without its line end.
    Log {
        step: &'a str,
        line: &'a str,
    },
    /// An artifact being downloaded: now and then while it comes (`done: false`, for a bar),
    /// and once when it is complete under its final name.
    Download {
        step: &'a str,
        /// Its path in Jenkins.
        path: &'a str,
        /// The local file it goes to.
        file: &'a str,
        received: u64,
        /// Its size, when the server said it.
        total: Option<u64>,
        done: bool,
    },
}

pub struct Reporter {
    progress: Progress,
    format: Format,
    color: bool,
    bars: Option<Arc<Mutex<bars::Bars>>>,
    ticking: Arc<AtomicBool>,
    /// Plain lines kept back while a question is on the terminal (`Some` then).
    held: Arc<Mutex<Option<Vec<String>>>>,
    /// One question on the terminal at a time.
    turn: Arc<tokio::sync::Mutex<()>>,
    open: Arc<prompt::OnTerminal>,
}

impl Reporter {
    pub fn new(progress: Progress, format: Format) -> Reporter {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        let bars = (progress == Progress::Bars).then(|| Arc::new(Mutex::new(bars::Bars::new())));
        let ticking = Arc::new(AtomicBool::new(bars.is_some()));
        if let Some(bars) = &bars {
            // Building bars move with time, not only with events.
            let (bars, ticking) = (bars.clone(), ticking.clone());
            let _ = std::thread::Builder::new()
                .name("jrun-progress".to_string())
                .spawn(move || {
                    while ticking.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(200));
                        bars.lock().unwrap_or_else(|e| e.into_inner()).tick();
                    }
                });
        }
        Reporter {
            progress,
            format,
            color,
            bars,
            ticking,
            held: Arc::new(Mutex::new(None)),
            turn: Arc::new(tokio::sync::Mutex::new(())),
            open: Arc::default(),
        }
    }

    /// Asks `question` on the terminal once no other question is open there, with progress
    /// held back meanwhile. Dropping what it returns withdraws the question.
    pub fn ask(&self, question: prompt::Question) -> prompt::Asking {
        let (bars, held) = (self.bars.clone(), self.held.clone());
        let (bars_after, held_after) = (bars.clone(), held.clone());
        prompt::start(
            self.turn.clone(),
            self.open.clone(),
            question,
            move || {
                *held.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
                if let Some(bars) = &bars {
                    bars.lock().unwrap_or_else(|e| e.into_inner()).hold();
                }
            },
            move || {
                if let Some(bars) = &bars_after {
                    bars.lock().unwrap_or_else(|e| e.into_inner()).release();
                }
                let lines = held_after.lock().unwrap_or_else(|e| e.into_inner()).take();
                for line in lines.unwrap_or_default() {
                    plain::write(&line);
                }
            },
        )
    }

    /// Against a sandbox whose clock runs faster, bars follow its time.
    pub fn with_time_scale(self, scale: f64) -> Reporter {
        if let Some(bars) = &self.bars {
            bars.lock().unwrap_or_else(|e| e.into_inner()).scale = scale;
        }
        self
    }

    pub fn progress(&self) -> Progress {
        self.progress
    }

    pub fn event(&self, event: Event<'_>) {
        if self.progress == Progress::Quiet {
            return;
        }
        redacted(&event, |event| match self.progress {
            Progress::Quiet => {}
            Progress::Plain => {
                if let Some(text) = plain::text(event) {
                    let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
                    match held.as_mut() {
                        Some(held) => held.push(text),
                        None => plain::write(&text),
                    }
                }
            }
            Progress::Bars => {
                if let Some(bars) = &self.bars {
                    bars.lock().unwrap_or_else(|e| e.into_inner()).show(event);
                }
            }
        });
    }

    /// Prints the summary to stdout, after clearing any bars.
    pub fn summary(&self, summary: &Summary) {
        // A question withdrawn as the run ended leaves the terminal within a read's slice.
        self.open.wait_gone(Duration::from_secs(1));
        self.ticking.store(false, Ordering::Relaxed);
        if let Some(bars) = &self.bars {
            bars.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        let summary = summary.redacted();
        let text = match self.format {
            Format::Text => summary::text_on(&summary, self.color, terminal_columns()),
            Format::Json => summary::json(&summary),
        };
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// How wide the terminal the summary goes to is; None when stdout is not a terminal (a pipe,
/// a file, cron mail), which gets the table as it always was.
fn terminal_columns() -> Option<usize> {
    if !std::io::stdout().is_terminal() || std::env::var("TERM").is_ok_and(|t| t == "dumb") {
        return None;
    }
    #[cfg(unix)]
    {
        // SAFETY: TIOCGWINSZ fills the `winsize` it is given and nothing else.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
        if rc == 0 && size.ws_col > 0 {
            return Some(usize::from(size.ws_col));
        }
    }
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    Some(columns.unwrap_or(80))
}

/// `event` with every registered secret masked in its texts, handed to `show`: whatever the
/// engine reports (a Jenkins message, a build URL, a line of a build's log) may quote one.
fn redacted(event: &Event<'_>, show: impl FnOnce(&Event<'_>)) {
    use crate::redact::redact as r;
    match *event {
        Event::RunStarted { pipeline, steps } => show(&Event::RunStarted {
            pipeline: &r(pipeline),
            steps,
        }),
        Event::Queued {
            step,
            job,
            queue_id,
        } => show(&Event::Queued {
            step: &r(step),
            job: &r(job),
            queue_id,
        }),
        Event::Input {
            step,
            id,
            message,
            url,
        } => show(&Event::Input {
            step: &r(step),
            id: &r(id),
            message: &r(message),
            url: &r(url),
        }),
        Event::Waiting { step, why } => show(&Event::Waiting {
            step: &r(step),
            why: &r(why),
        }),
        Event::Started {
            step,
            number,
            url,
            estimated_ms,
        } => show(&Event::Started {
            step: &r(step),
            number,
            url: &r(url),
            estimated_ms,
        }),
        Event::Finished {
            step,
            status,
            result,
            number,
            duration_ms,
            message,
        } => {
            let result = result.map(r);
            let message = message.map(r);
            show(&Event::Finished {
                step: &r(step),
                status,
                result: result.as_deref(),
                number,
                duration_ms,
                message: message.as_deref(),
            })
        }
        Event::Skipped { step, reason } => show(&Event::Skipped {
            step: &r(step),
            reason: &r(reason),
        }),
        Event::Note { step, message } => {
            let step = step.map(r);
            show(&Event::Note {
                step: step.as_deref(),
                message: &r(message),
            })
        }
        Event::Log { step, line } => show(&Event::Log {
            step: &r(step),
            line: &r(line),
        }),
        Event::Download {
            step,
            path,
            file,
            received,
            total,
            done,
        } => show(&Event::Download {
            step: &r(step),
            path: &r(path),
            file: &r(file),
            received,
            total,
            done,
        }),
    }
}

/// Writes the JSON report (`--report`), the JUnit XML (`--junit`) and the timeline page
/// (`--html`) where asked.
pub fn write_files(
    summary: &Summary,
    report: Option<&std::path::Path>,
    junit: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
) -> std::io::Result<()> {
    let summary = summary.redacted();
    if let Some(path) = report {
        write_file(path, &summary::json(&summary))?;
    }
    if let Some(path) = junit {
        write_file(path, &junit::render(&summary))?;
    }
    if let Some(path) = html {
        write_html(&summary, path)?;
    }
    Ok(())
}

/// Writes the timeline page of `summary` (as the report holds it) to `path`.
pub fn write_html(summary: &Summary, path: &std::path::Path) -> std::io::Result<()> {
    // Drawn from the report's JSON form, so that `jrun report --html` on it gives this page.
    let summary = read_report(&summary::json(summary))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    write_file(path, &html::render(&summary))
}

/// A report as `--report` writes it.
pub fn read_report(text: &str) -> serde_json::Result<Summary> {
    serde_json::from_str(text)
}

/// Fails early, before a run, when a report could not be written at its end.
pub fn check_writable(path: &std::path::Path) -> std::io::Result<()> {
    let tmp = temp_path(path);
    write_new(&tmp, "")
        .and_then(|()| std::fs::remove_file(&tmp))
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

fn temp_path(path: &std::path::Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_string());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes a file that must not exist yet, 0600: reports hold the run's parameters and
/// messages. A name that exists (a link someone put there to have jrun write elsewhere) is
/// removed first — that removes the link, never its target — and if it is back, refused.
fn write_new(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Writes through a temporary file and a rename, so a reader never sees half a report.
fn write_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = temp_path(path);
    write_new(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(super::count(1, "step"), "1 step");
        assert_eq!(super::count(0, "step"), "0 steps");
        assert_eq!(super::count(12, "step"), "12 steps");
    }
}

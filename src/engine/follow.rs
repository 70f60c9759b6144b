//! `--follow`: streams a running build's console log, line by line, as report events.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::poll::Delays;
use super::time::PipelineTime;
use crate::jenkins::Client;
use crate::report::{Event, FailureKind, Reporter, StepOutcome};

/// Log polls start this often, in pipeline time, and again whenever text arrived...
const FIRST_DELAY: Duration = Duration::from_millis(500);
/// ...and slow down to this while a build is quiet (the Jenkins UI itself waits 5 s).
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Time for the last log read itself, on top of the follower's sleep.
const LAST_READ: Duration = Duration::from_secs(2);
/// A line that never ends (a `\r`-animated progress bar, a binary dump) is shown in pieces of
/// this size rather than held in memory without limit.
const LONGEST_LINE: usize = 256 * 1024;

/// Follows build `number` of `job` from the start of its log until Jenkins says the log is
/// complete, reporting every line under `step`. Lines are only ever reported whole; a last line
/// without a newline is reported once the log is complete. A log that cannot be read ends the
/// following with a note, never the step.
pub async fn follow(
    client: Client,
    job: String,
    number: u64,
    step: String,
    reporter: Arc<Reporter>,
    time: PipelineTime,
) {
    let mut lines = Lines::default();
    let mut start = 0;
    let mut delays = Delays::new(FIRST_DELAY, MAX_DELAY, 2.0);
    // The build was only just created: give it the first interval to write something, which
    // also lets its "building" line come out before its log.
    let mut delay = FIRST_DELAY;
    loop {
        tokio::time::sleep_until(time.after(delay)).await;
        let chunk = match client.progressive_text(&job, number, start).await {
            Ok(chunk) => chunk,
            Err(e) => {
                emit(&reporter, &step, lines.finish());
                let message = format!("console log of #{number} no longer followed: {e}");
                reporter.event(Event::Note {
                    step: Some(&step),
                    message: &message,
                });
                return;
            }
        };
        emit(&reporter, &step, lines.push(&chunk.text));
        if chunk.cut {
            // The text goes on from elsewhere: the line cut off is not joined to it.
            emit(&reporter, &step, lines.finish());
            let message = format!(
                "console log of #{number}: more than {} arrived in one read; the rest of it \
                 is skipped and following goes on after it",
                crate::jenkins::MAX_BODY_SHOWN
            );
            reporter.event(Event::Note {
                step: Some(&step),
                message: &message,
            });
        }
        if !chunk.more {
            emit(&reporter, &step, lines.finish());
            return;
        }
        delay = if chunk.text.is_empty() {
            delays.next_delay()
        } else {
            delays = Delays::new(FIRST_DELAY, MAX_DELAY, 2.0);
            FIRST_DELAY
        };
        start = chunk.next;
    }
}

/// After the build's wait is over: lets the follower read the end of a build that ended, for
/// at most one of its sleeps and one read, and stops it at once otherwise (the build was left
/// running by an interrupt, or is gone), so following never holds a step up for long.
pub async fn drain(mut follower: JoinHandle<()>, time: &PipelineTime, result: &StepOutcome) {
    let ended = result.result.is_some() && result.failure != Some(FailureKind::Interrupted);
    if ended {
        let grace = time.real_duration(MAX_DELAY) + LAST_READ;
        if tokio::time::timeout(grace, &mut follower).await.is_ok() {
            return;
        }
    }
    follower.abort();
}

fn emit(reporter: &Reporter, step: &str, lines: impl IntoIterator<Item = String>) {
    for line in lines {
        reporter.event(Event::Log { step, line: &line });
    }
}

/// Cuts the log's text, which arrives in arbitrary pieces, into whole lines.
#[derive(Default)]
pub(crate) struct Lines {
    /// The start of a line whose end has not arrived yet.
    partial: String,
}

impl Lines {
    /// The lines that `text` completes, without their line ends.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        let mut done = Vec::new();
        let mut rest = text;
        while let Some(end) = rest.find('\n') {
            self.partial.push_str(&rest[..end]);
            done.push(take_line(&mut self.partial));
            rest = &rest[end + 1..];
        }
        self.partial.push_str(rest);
        if self.partial.len() >= LONGEST_LINE {
            done.push(std::mem::take(&mut self.partial));
        }
        done
    }

    /// The last line, if the log ended without a newline.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| take_line(&mut self.partial))
    }
}

/// The client already turns CRLF into LF, but a CR and its LF can arrive in different reads.
fn take_line(partial: &mut String) -> String {
    if partial.ends_with('\r') {
        partial.pop();
    }
    std::mem::take(partial)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&str]) -> Vec<String> {
        let mut lines = Lines::default();
        let mut out: Vec<String> = chunks.iter().flat_map(|c| lines.push(c)).collect();
        out.extend(lines.finish());
        out
    }

    #[test]
    fn lines_split_across_reads_come_out_whole() {
        assert_eq!(
            feed(&["one\ntw", "o half", "\nthree\n", "", "fo", "ur\n"]),
            ["one", "two half", "three", "four"]
        );
    }

    #[test]
    fn a_line_is_held_back_until_its_newline_arrives() {
        let mut lines = Lines::default();
        assert_eq!(lines.push("a\tb "), Vec::<String>::new());
        assert_eq!(lines.push(" ü"), Vec::<String>::new());
        assert_eq!(lines.push("\n"), ["a\tb  ü"]);
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn carriage_returns_before_newlines_go_even_across_reads() {
        assert_eq!(feed(&["a\r\nb\r", "\nc\r"]), ["a", "b", "c"]);
        // Only a CR that ends a line is a line end.
        assert_eq!(feed(&["10%\r20%\r\n"]), ["10%\r20%"]);
    }

    #[test]
    fn a_last_line_without_newline_comes_out_at_the_end() {
        assert_eq!(feed(&["x\nFinished: SUCCESS"]), ["x", "Finished: SUCCESS"]);
        assert_eq!(feed(&["x\n"]), ["x"]);
        assert_eq!(feed(&["\n\n"]), ["", ""]);
        assert_eq!(feed(&[]), Vec::<String>::new());
    }

    #[test]
    fn a_line_that_never_ends_is_shown_in_bounded_pieces() {
        let mut lines = Lines::default();
        let big = "y".repeat(LONGEST_LINE);
        assert_eq!(lines.push(&big), std::slice::from_ref(&big));
        assert_eq!(lines.push("z\n"), ["z"]);
    }
}

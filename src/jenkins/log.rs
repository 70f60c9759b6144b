//! The progressive console log: `GET …/N/logText/progressiveText?start=K`.

use super::client::{Client, Reply};
use super::error::Error;
use super::paths::{job_path, shown};

/// Hides a ConsoleNote in the raw log (core `hudson/console/ConsoleNote.java`).
const NOTE_START: &str = "\u{1b}[8mha:";
const NOTE_END: &str = "\u{1b}[0m";

/// One read of a build's console log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// The new text, ConsoleNotes removed and line ends as LF. It may end inside a line.
    pub text: String,
    /// `X-Text-Size`: the `start` of the next read. Counted in raw log bytes, notes included,
    /// so it cannot be derived from `text`.
    pub next: u64,
    /// `X-More-Data: true`: the build is still writing its log.
    pub more: bool,
    /// Jenkins sent more than jrun holds of one answer (8 MiB) in this one read: `text` is its
    /// beginning, the rest is skipped, and `next` is still where Jenkins' answer ended.
    pub cut: bool,
}

impl Client {
    /// The console log from raw byte offset `start`, which must be 0 or a `next` this method
    /// returned: any other offset may land inside a ConsoleNote. Transient failures are retried
    /// like every other read. One read holds at most 8 MiB of text: a log that grew by more
    /// since the last read is shown up to there and goes on from the offset Jenkins gave,
    /// since raw offsets (ConsoleNotes, CRLF) cannot be worked out from the text.
    pub async fn progressive_text(
        &self,
        job: &str,
        number: u64,
        start: u64,
    ) -> Result<LogChunk, Error> {
        let url = format!(
            "{}{}{number}/logText/progressiveText?start={start}",
            self.inner.base,
            job_path(job)?
        );
        let (reply, next, more) = self
            .progressive(
                &url,
                || format!("build #{number} of job `{job}`"),
                "the log",
            )
            .await?;
        let text = plain_text(&String::from_utf8_lossy(&reply.body));
        Ok(LogChunk {
            text,
            next,
            more,
            cut: reply.cut,
        })
    }

    /// One read of a `progressiveText` URL: the answer, `X-Text-Size` (where the next read
    /// starts) and whether `X-More-Data` says more is coming. `what` names the log's owner for
    /// a 404, `log` the log in a message about a missing size.
    pub(crate) async fn progressive(
        &self,
        url: &str,
        what: impl FnOnce() -> String,
        log: &str,
    ) -> Result<(Reply, u64, bool), Error> {
        let reply = self.read_cut(url).await?;
        match reply.status.as_u16() {
            200 => {}
            404 => return Err(Error::NotFound { what: what() }),
            _ => return Err(self.status_error("GET", url, &reply)),
        }
        let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
        // Without it there is no safe offset to continue from (a proxy dropping headers).
        let next = header("x-text-size")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| Error::Decode {
                url: shown(url).to_string(),
                message: format!("{log} came without a usable X-Text-Size header"),
            })?;
        let more = header("x-more-data").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok((reply, next, more))
    }
}

/// The log as a reader sees it: Jenkins since 2.509 leaves ConsoleNotes in the plain text,
/// and stapler turns every LF into CRLF.
fn plain_text(body: &str) -> String {
    strip_notes(body).replace("\r\n", "\n")
}

/// Removes ConsoleNote annotations. A note cut off by the end of the text is removed up to
/// that end: its base64 is never something to show.
pub(crate) fn strip_notes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(NOTE_START) {
        out.push_str(&rest[..at]);
        rest = match rest[at..].find(NOTE_END) {
            Some(end) => &rest[at + end + NOTE_END.len()..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "\u{1b}[8mha:////4JmLbCrEqeuBpyxWGJSm9DvMZ4M7wCdGxOOp0hIMm5SX+/=\u{1b}[0m";

    #[test]
    fn console_notes_are_removed_and_the_text_around_them_kept() {
        assert_eq!(
            strip_notes(&format!(
                "Started by user {NOTE}alice\n{NOTE}{NOTE}x{NOTE}\n"
            )),
            "Started by user alice\nx\n"
        );
        assert_eq!(strip_notes("no notes\there"), "no notes\there");
    }

    #[test]
    fn colour_codes_are_not_mistaken_for_notes() {
        let coloured = "\u{1b}[32mgreen\u{1b}[0m";
        assert_eq!(strip_notes(coloured), coloured);
    }

    #[test]
    fn a_note_cut_off_at_the_end_is_dropped() {
        assert_eq!(
            strip_notes("line\nStarted \u{1b}[8mha:AAAA"),
            "line\nStarted "
        );
    }

    #[test]
    fn crlf_becomes_lf_and_lone_carriage_returns_stay() {
        assert_eq!(
            plain_text(&format!("a{NOTE} b\r\nprogress 1\rprogress 2\r\n")),
            "a b\nprogress 1\rprogress 2\n"
        );
    }
}

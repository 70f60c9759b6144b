//! Asking a person at the terminal how to answer a Pipeline input. The question and its
//! answers go through stderr only while the bars are held back; stdin is read on a blocking
//! thread in slices of a tenth of a second, so that the wait can be given up at any moment (the
//! input answered in Jenkins, `input_timeout`, a stop) without leaving a thread behind.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

/// How often a blocked read looks whether the question was withdrawn.
const SLICE: Duration = Duration::from_millis(100);

/// Checks a value typed (or a default taken) for the field at an index: the value to send, or
/// why it is refused, in which case it is asked again.
pub type Check = Box<dyn Fn(usize, &str) -> Result<String, String> + Send>;

/// What is asked: shown as is (after redaction), then the decision, then one value per field.
pub struct Question {
    /// The lines that present the input: its message, its parameters, where else to answer.
    pub lines: Vec<String>,
    /// The input's `ok` label, also accepted as "proceed".
    pub ok: String,
    pub fields: Vec<Field>,
    pub check: Check,
}

pub struct Field {
    pub name: String,
    /// What it takes: `boolean`, `one of eu, us`, `text`.
    pub hint: String,
    /// Offered: Enter takes it.
    pub default: Option<String>,
    /// Typed without echo, and its default never shown.
    pub secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Proceed(Vec<(String, String)>),
    Abort,
    /// The terminal was closed (Ctrl-D, or no longer readable): nothing is sent.
    Closed,
}

/// A question being asked. Dropping it withdraws the question.
pub struct Asking {
    withdrawn: Arc<AtomicBool>,
    reply: Option<oneshot::Receiver<Reply>>,
    task: tokio::task::JoinHandle<()>,
}

impl Asking {
    /// The reply, once typed; pending forever once taken.
    pub async fn reply(&mut self) -> Reply {
        let Some(rx) = self.reply.as_mut() else {
            return std::future::pending().await;
        };
        let reply = rx.await.unwrap_or(Reply::Closed);
        self.reply = None;
        reply
    }

    /// The reply if it was typed by now.
    pub fn try_reply(&mut self) -> Option<Reply> {
        let rx = self.reply.as_mut()?;
        match rx.try_recv() {
            Ok(reply) => {
                self.reply = None;
                Some(reply)
            }
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => {
                self.reply = None;
                Some(Reply::Closed)
            }
        }
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        self.withdrawn.store(true, Ordering::SeqCst);
        self.task.abort();
    }
}

/// How many questions are on the terminal, so that the run ends only after one withdrawn
/// has said so.
#[derive(Default)]
pub(super) struct OnTerminal {
    count: Mutex<usize>,
    none: Condvar,
}

impl OnTerminal {
    fn enter(self: &Arc<Self>) -> Leaving {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Leaving(self.clone())
    }

    /// Waits, until `limit` at most, for the questions on the terminal to be gone.
    pub(super) fn wait_gone(&self, limit: Duration) {
        let count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.none.wait_timeout_while(count, limit, |n| *n > 0);
    }
}

struct Leaving(Arc<OnTerminal>);

impl Drop for Leaving {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(|e| e.into_inner());
        *count = count.saturating_sub(1);
        self.0.none.notify_all();
    }
}

/// Starts asking once no other question is open (one at a time across parallel steps).
/// `hold`/`release` keep other output back while the question is on the terminal.
pub(super) fn start(
    turn: Arc<tokio::sync::Mutex<()>>,
    open: Arc<OnTerminal>,
    question: Question,
    hold: impl Fn() + Send + 'static,
    release: impl Fn() + Send + 'static,
) -> Asking {
    let withdrawn = Arc::new(AtomicBool::new(false));
    let (tx, rx) = oneshot::channel();
    let flag = withdrawn.clone();
    let task = tokio::spawn(async move {
        let my_turn = turn.lock_owned().await;
        if flag.load(Ordering::SeqCst) {
            return;
        }
        let asked = tokio::task::spawn_blocking(move || {
            // The turn is held by the thread itself: the next question waits until this one
            // is off the terminal, even when the task awaiting it was aborted.
            let _turn = my_turn;
            let _open = open.enter();
            // Withdrawn before its turn came: it never shows.
            if flag.load(Ordering::SeqCst) {
                return None;
            }
            hold();
            // Locked per write, not for the whole question: a stray write elsewhere must not
            // wait for someone to type.
            let mut err = std::io::stderr();
            let reply = dialog(&question, &mut err, |secret| {
                terminal::read_line(secret, &flag)
            });
            if reply.is_none() {
                let _ = writeln!(err, "\n(no longer asking: the input was settled otherwise)");
            }
            let _ = err.flush();
            release();
            reply
        });
        if let Ok(Some(reply)) = asked.await {
            let _ = tx.send(reply);
        }
    });
    Asking {
        withdrawn,
        reply: Some(rx),
        task,
    }
}

/// The decision typed: `Some(true)` to proceed, `Some(false)` to abort, `None` when it is
/// neither.
pub fn parse_decision(typed: &str, ok: &str) -> Option<bool> {
    let typed = typed.trim().to_lowercase();
    if typed.is_empty() {
        return None;
    }
    match typed.as_str() {
        "p" | "proceed" | "y" | "yes" => Some(true),
        "a" | "abort" | "n" | "no" => Some(false),
        other if other == ok.trim().to_lowercase() => Some(true),
        _ => None,
    }
}

/// Asks `question` on `out`, reading lines with `read` (`Ok(None)`: the question was
/// withdrawn). `None` when withdrawn.
pub fn dialog(
    question: &Question,
    out: &mut impl Write,
    mut read: impl FnMut(bool) -> std::io::Result<Option<String>>,
) -> Option<Reply> {
    let line = |out: &mut dyn Write, text: &str| {
        let _ = writeln!(out, "{}", crate::redact::redact(text));
    };
    let _ = writeln!(out);
    for text in &question.lines {
        line(out, text);
    }
    let proceed = loop {
        let _ = write!(
            out,
            "{} or abort? [p]roceed/[a]bort: ",
            crate::redact::redact(&question.ok)
        );
        let _ = out.flush();
        let typed = match read(false) {
            Ok(Some(typed)) => typed,
            Ok(None) => return None,
            Err(_) => return Some(Reply::Closed),
        };
        if typed.is_empty() {
            // End of input: nobody will type more.
            let _ = writeln!(out);
            return Some(Reply::Closed);
        }
        match parse_decision(&typed, &question.ok) {
            Some(decision) => break decision,
            None => line(out, "  type p (proceed) or a (abort)"),
        }
    };
    if !proceed {
        return Some(Reply::Abort);
    }
    let mut values = Vec::new();
    for (index, field) in question.fields.iter().enumerate() {
        let value = loop {
            let offered = match (&field.default, field.secret) {
                (Some(_), true) => " [Enter: its default]".to_string(),
                (Some(default), false) => format!(" [{}]", crate::redact::redact(default)),
                (None, _) => String::new(),
            };
            let _ = write!(out, "  {} ({}){offered}: ", field.name, field.hint);
            let _ = out.flush();
            let typed = match read(field.secret) {
                Ok(Some(typed)) => typed,
                Ok(None) => return None,
                Err(_) => return Some(Reply::Closed),
            };
            if typed.is_empty() {
                let _ = writeln!(out);
                return Some(Reply::Closed);
            }
            if field.secret {
                let _ = writeln!(out);
            }
            let typed = typed.trim_end_matches(['\n', '\r']);
            let text = match (typed.is_empty(), &field.default) {
                (true, Some(default)) => default.clone(),
                (true, None) => {
                    line(out, "  a value is needed: it has no default");
                    continue;
                }
                (false, _) => typed.to_string(),
            };
            match (question.check)(index, &text) {
                Ok(value) => break value,
                Err(why) => line(out, &format!("  {why}")),
            }
        };
        values.push((field.name.clone(), value));
    }
    Some(Reply::Proceed(values))
}

#[cfg(unix)]
mod terminal {
    use std::sync::atomic::{AtomicBool, Ordering};

    /// One line from stdin, its line end included; empty at end of input; `None` once
    /// `withdrawn` is set. `secret`: the terminal does not echo it.
    pub fn read_line(secret: bool, withdrawn: &AtomicBool) -> std::io::Result<Option<String>> {
        let _echo = secret.then(NoEcho::new);
        let mut bytes = Vec::new();
        loop {
            if withdrawn.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let mut poll = libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: libc::POLLIN,
                revents: 0,
            };
            let slice = super::SLICE.as_millis() as libc::c_int;
            // SAFETY: one valid pollfd, its count and a timeout.
            let ready = unsafe { libc::poll(&mut poll, 1, slice) };
            if ready < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if ready == 0 {
                continue;
            }
            let mut buf = [0u8; 512];
            // SAFETY: reads at most `buf.len()` bytes into `buf`.
            let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n.unsigned_abs();
            if n == 0 {
                return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
            }
            bytes.extend_from_slice(&buf[..n]);
            if bytes.ends_with(b"\n") || bytes.len() > 64 * 1024 {
                return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }

    /// Echo off while a secret is typed, back on when dropped.
    struct NoEcho(Option<libc::termios>);

    impl NoEcho {
        fn new() -> NoEcho {
            // SAFETY: termios is plain data, filled by tcgetattr before it is used.
            let mut term: libc::termios = unsafe { std::mem::zeroed() };
            // SAFETY: stdin's attributes into a valid termios.
            if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut term) } != 0 {
                return NoEcho(None);
            }
            let saved = term;
            term.c_lflag &= !libc::ECHO;
            // SAFETY: sets attributes read just above, with echo off.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &term) };
            NoEcho(Some(saved))
        }
    }

    impl Drop for NoEcho {
        fn drop(&mut self) {
            if let Some(saved) = &self.0 {
                // SAFETY: restores the attributes saved in `new`.
                unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
            }
        }
    }
}

#[cfg(not(unix))]
mod terminal {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::sync::{Mutex, OnceLock};

    /// Without poll(2), one thread reads stdin for the whole run and hands lines over; a
    /// question withdrawn stops waiting for them.
    pub fn read_line(_secret: bool, withdrawn: &AtomicBool) -> std::io::Result<Option<String>> {
        static LINES: OnceLock<Mutex<mpsc::Receiver<String>>> = OnceLock::new();
        let lines = LINES.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let _ = std::thread::Builder::new()
                .name("jrun-stdin".to_string())
                .spawn(move || {
                    loop {
                        let mut line = String::new();
                        let n = std::io::stdin().read_line(&mut line).unwrap_or(0);
                        if tx.send(line).is_err() || n == 0 {
                            break;
                        }
                    }
                });
            Mutex::new(rx)
        });
        let lines = lines.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if withdrawn.load(Ordering::SeqCst) {
                return Ok(None);
            }
            match lines.recv_timeout(super::SLICE) {
                Ok(line) => return Ok(Some(line)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(Some(String::new())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question() -> Question {
        Question {
            lines: vec!["release: input Deploy: Deploy to production?".into()],
            ok: "Deploy".into(),
            fields: vec![
                Field {
                    name: "TARGET".into(),
                    hint: "one of eu, us".into(),
                    default: Some("eu".into()),
                    secret: false,
                },
                Field {
                    name: "NOTE".into(),
                    hint: "text".into(),
                    default: None,
                    secret: false,
                },
            ],
            check: Box::new(|index, text| match (index, text) {
                (0, "eu" | "us") => Ok(text.to_string()),
                (0, _) => Err(format!("`{text}` is not one of eu, us")),
                _ => Ok(text.to_string()),
            }),
        }
    }

    fn run(lines: &[&str]) -> (Option<Reply>, String) {
        let mut lines = lines.iter().map(|l| l.to_string());
        let mut out = Vec::new();
        let reply = dialog(&question(), &mut out, |_| Ok(lines.next()));
        (reply, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn decisions_take_words_letters_and_the_ok_label() {
        for typed in ["p", "Proceed\n", " yes ", "deploy", "DEPLOY\n"] {
            assert_eq!(parse_decision(typed, "Deploy"), Some(true), "{typed}");
        }
        for typed in ["a", "abort", "N\n", "no"] {
            assert_eq!(parse_decision(typed, "Deploy"), Some(false), "{typed}");
        }
        for typed in ["", "\n", "maybe", "d"] {
            assert_eq!(parse_decision(typed, "Deploy"), None, "{typed}");
        }
    }

    #[test]
    fn a_proceed_asks_each_value_offers_defaults_and_asks_again_when_refused() {
        let (reply, shown) = run(&["what\n", "p\n", "asia\n", "\n", "\n", "hotfix\n"]);
        assert_eq!(
            reply,
            Some(Reply::Proceed(vec![
                ("TARGET".into(), "eu".into()),
                ("NOTE".into(), "hotfix".into())
            ]))
        );
        assert!(shown.contains("Deploy to production?"), "{shown}");
        assert!(shown.contains("type p (proceed) or a (abort)"), "{shown}");
        assert!(shown.contains("TARGET (one of eu, us) [eu]: "), "{shown}");
        assert!(shown.contains("`asia` is not one of eu, us"), "{shown}");
        assert!(shown.contains("a value is needed"), "{shown}");
    }

    #[test]
    fn abort_asks_nothing_more_and_end_of_input_sends_nothing() {
        assert_eq!(run(&["a\n"]).0, Some(Reply::Abort));
        assert_eq!(run(&["p\n", "us\n", ""]).0, Some(Reply::Closed));
        assert_eq!(run(&[""]).0, Some(Reply::Closed));
    }

    #[test]
    fn a_withdrawn_question_gives_no_reply() {
        let mut out = Vec::new();
        assert_eq!(dialog(&question(), &mut out, |_| Ok(None)), None);
    }
}

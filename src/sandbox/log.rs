//! Console logs: the lines of a build's script appear evenly over its duration, framed by the
//! lines Jenkins itself writes, with ConsoleNote annotations hidden in the raw bytes.

use super::config::JobKind;
use super::model::{Build, Cause, Job};

/// A ConsoleNote as Jenkins embeds it: invisible in a terminal, counted in byte offsets.
const NOTE: &str = "\u{1b}[8mha:////4JmLbCrEqeuBpyxWGJSm9DvMZ4M7wCdGxOOp0hIMm5SXAAAAlx+LCAAAAAAAAP9b85aBtbiIQTGjNKU4P08vOT+vOD8nVc83PyU1x6OyILUoJzMv2y+/JJUBAhiZGBgqihhk0NSjKDWzXb3RdlLBUSYGJk8GtpzUvPSSDB8G5tKinBIGIZ+sxLJE/ZzEvHT94JKizLx0a6BxUmjGOUNodHsLgAzOBgYu/dLi1CL9xJTczDwAj6GcLcAAAAA=\u{1b}[0m";

pub struct Log {
    pub text: String,
    /// Whether the log is still being written (`X-More-Data: true`).
    pub more: bool,
}

pub fn render(job: &Job, build: &Build, now: i64, notes: bool) -> Log {
    let note = if notes { NOTE } else { "" };
    let mut text = String::new();
    for cause in &build.causes {
        match cause {
            Cause::User(Some(user)) => text.push_str(&format!("Started by user {note}{user}\n")),
            other => text.push_str(&format!("{}\n", other.short_description())),
        }
    }
    match job.kind {
        JobKind::Freestyle => {
            text.push_str("Running as SYSTEM\n");
            text.push_str(&format!(
                "Building in workspace /var/jenkins_home/workspace/{}\n",
                job.full_name
            ));
        }
        JobKind::Pipeline => text.push_str("[Pipeline] Start of Pipeline\n"),
    }
    let cut = build.aborted.as_ref().map_or(now, |(at, _)| now.min(*at));
    let active = (build.end - build.post_build_ms - build.start).max(0);
    let lines = build.log.len() as i64;
    for (i, line) in build.log.iter().enumerate() {
        let due = build.start + active * (i as i64 + 1) / (lines + 1);
        if due > cut {
            break;
        }
        text.push_str(line);
        text.push('\n');
    }
    let more = !build.is_complete(now);
    if let Some((_, by)) = &build.aborted {
        text.push_str(&format!(
            "Aborted by {}\n",
            by.as_deref().unwrap_or("anonymous")
        ));
    }
    if !more {
        if job.kind == JobKind::Pipeline {
            text.push_str("[Pipeline] End of Pipeline\n");
        }
        text.push_str(&format!("Finished: {}\n", build.final_result().name()));
    }
    Log { text, more }
}

/// Removes ConsoleNote annotations (`ESC[8mha:` ... `ESC[0m`).
pub fn strip_notes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\u{1b}[8mha:") {
        out.push_str(&rest[..start]);
        match rest[start..].find("\u{1b}[0m") {
            Some(end) => rest = &rest[start + end + "\u{1b}[0m".len()..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_stripped_and_text_around_them_kept() {
        let text = format!("Started by user {NOTE}alice\nnext\n");
        assert_eq!(strip_notes(&text), "Started by user alice\nnext\n");
        assert_eq!(strip_notes("plain"), "plain");
        assert_eq!(strip_notes("cut \u{1b}[8mha:abc"), "cut ");
    }
}

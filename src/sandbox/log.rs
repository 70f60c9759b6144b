//! Console logs: the lines of a build's script appear evenly over its duration, framed by the
//! lines Jenkins itself writes, with ConsoleNote annotations hidden in the raw bytes.

use super::config::{JobKind, StageStatus};
use super::model::{Build, Cause, Job};
use super::wfapi;

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
    // Lines are spread over the running time; a pause at an input holds back those after it.
    let active = if build.inputs.is_empty() {
        (build.end - build.post_build_ms - build.start).max(0)
    } else {
        build.outputs.active_ms
    };
    let lines = build.log.len() as i64;
    let mut events: Vec<(i64, String)> = build
        .log
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let due = build.wall(active * (i as i64 + 1) / (lines + 1));
            (due, format!("{line}\n"))
        })
        .collect();
    for (i, input) in build.inputs.iter().enumerate() {
        let Some(paused) = build.paused_at(i, now) else {
            continue;
        };
        events.push((
            paused,
            format!(
                "[Pipeline] input\n{}\n{} or Abort\n",
                input.message, input.ok
            ),
        ));
        if let Some(outcome) = input.outcome.as_ref().filter(|o| o.proceeded) {
            let by = outcome.by.as_deref().unwrap_or("anonymous");
            events.push((outcome.at, format!("Approved by {by}\n")));
        }
    }
    let stages = if job.kind == JobKind::Pipeline {
        wfapi::plan(build)
    } else {
        Vec::new()
    };
    for stage in &stages {
        let name = &stage.spec.name;
        events.push((
            stage.begin,
            format!("[Pipeline] stage\n[Pipeline] {{ ({name})\n"),
        ));
        if stage.spec.status == StageStatus::NotExecuted {
            events.push((
                stage.begin,
                format!("Stage \"{name}\" skipped due to earlier failure(s)\n"),
            ));
        } else {
            events.push((stage.begin, "[Pipeline] sh\n".to_string()));
            if let Some(script) = &stage.spec.script {
                events.push((stage.begin, format!("+ {script}\n")));
            }
            events.extend(
                stage
                    .line_times()
                    .map(|(due, line)| (due, format!("{line}\n"))),
            );
        }
        events.push((stage.end, "[Pipeline] }\n[Pipeline] // stage\n".to_string()));
    }
    // Stable: lines written at the same moment keep the order they were planned in.
    events.sort_by_key(|(due, _)| *due);
    for (due, line) in events {
        if due > cut {
            break;
        }
        text.push_str(&line);
    }
    let more = !build.is_complete(now);
    if let Some((_, by)) = &build.aborted {
        let by = by.as_deref().unwrap_or("anonymous");
        text.push_str(&format!("Aborted by {by}\n"));
        // The input's `Rejection` is printed when the interrupted step ends.
        if build
            .inputs
            .iter()
            .any(|i| i.outcome.as_ref().is_some_and(|o| !o.proceeded))
        {
            text.push_str(&format!("Rejected by {by}\n"));
        }
    }
    if !more {
        if job.kind == JobKind::Pipeline {
            text.push_str("[Pipeline] End of Pipeline\n");
            // The error that failed the run, as the Pipeline prints it at its end.
            let failing = stages.iter().find(|s| s.spec.status == StageStatus::Failed);
            if let Some(error) = failing.and_then(|s| s.spec.error.as_ref())
                && build.aborted.is_none()
            {
                text.push_str(&format!("ERROR: {error}\n"));
            }
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

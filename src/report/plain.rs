//! Plain progress: one line per state change on stderr, each stamped with the time, safe for
//! cron mail, CI logs and pipes.

use std::io::Write;
use std::time::{Duration, SystemTime};

use super::Event;
use super::time::{rfc3339, short};

/// Writes a line built whole with one call under the lock, so that lines of builds followed
/// at once never mix.
pub fn write(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The line an event prints, its line end included, if it prints one.
pub fn text(event: &Event<'_>) -> Option<String> {
    let line = match event {
        // No timestamp, as the build's own lines often carry one.
        Event::Log { step, line } => return Some(format!("{}\n", log_line(step, line))),
        // One line per file, when it is complete: never per chunk.
        Event::Download { done: false, .. } => return None,
        Event::Download {
            step,
            path,
            file,
            received,
            done: true,
            ..
        } => download_line(step, path, file, *received),
        Event::RunStarted { pipeline, steps } => {
            format!("pipeline {pipeline}: {}", super::count(*steps, "step"))
        }
        Event::Queued {
            step,
            job,
            queue_id,
        } => format!("{step}: triggered {job} (queue item {queue_id})"),
        Event::Waiting { step, why } => format!("{step}: queued: {}", clean(why)),
        Event::Input {
            step,
            id,
            message,
            url,
        } => format!(
            "{step}: waiting for input {id} \"{}\": answer at {url}",
            clean(message)
        ),
        Event::Started {
            step,
            number,
            url,
            estimated_ms,
        } => match estimated_ms {
            Some(ms) if *ms > 0 => format!(
                "{step}: building #{number} {url} (usually takes {})",
                short(Duration::from_millis(*ms as u64))
            ),
            _ => format!("{step}: building #{number} {url}"),
        },
        Event::Finished {
            step,
            status,
            result,
            number,
            duration_ms,
            message,
        } => {
            let mut line = format!("{step}: {}", status.as_str());
            if let Some(result) = result {
                line.push_str(&format!(" {result}"));
            }
            if let Some(number) = number {
                line.push_str(&format!(" #{number}"));
            }
            line.push_str(&format!(
                " in {}",
                short(Duration::from_millis(*duration_ms))
            ));
            if let Some(message) = message {
                line.push_str(&format!(": {}", clean(message)));
            }
            line
        }
        Event::Skipped { step, reason } => format!("{step}: skipped: {reason}"),
        Event::Note {
            step: Some(step),
            message,
        } => format!("{step}: {}", clean(message)),
        Event::Note {
            step: None,
            message,
        } => clean(message),
    };
    Some(format!("{} {line}\n", rfc3339(SystemTime::now(), false)))
}

/// `<step>: downloaded <path> (<size>) to <file>`.
pub fn download_line(step: &str, path: &str, file: &str, size: u64) -> String {
    format!(
        "{step}: downloaded {} ({}) to {}",
        clean(path),
        size_text(size),
        clean(file)
    )
}

/// A byte count as people read it: `512 B`, `1.5 KiB`, `50.0 MiB`.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Text from Jenkins (`why`, error pages) may carry control characters; a log line must not.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `<step> | <line>`, ready to print: a build's own spacing is kept, tabs included, but
/// terminal escape sequences are dropped and other control characters become spaces, so a log
/// can neither redraw the terminal nor break a line in two.
pub fn log_line(step: &str, line: &str) -> String {
    let mut out = String::with_capacity(step.len() + 3 + line.len());
    out.push_str(step);
    out.push_str(" | ");
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push(c),
            '\u{1b}' if chars.peek() == Some(&'[') => {
                // CSI (colours, cursor moves): parameters and intermediates, then one final
                // byte in @..~.
                chars.next();
                while let Some(&n) = chars.peek() {
                    chars.next();
                    if ('@'..='~').contains(&n) {
                        break;
                    }
                }
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_keep_their_spacing_and_lose_their_escapes() {
        assert_eq!(
            log_line("build", "  a\tb  \u{1b}[1;32mOK\u{1b}[0m ünï\r\u{7}x"),
            "build |   a\tb  OK ünï  x"
        );
        assert_eq!(log_line("s", ""), "s | ");
        assert_eq!(log_line("s", "cut \u{1b}[3"), "s | cut ");
        assert_eq!(log_line("s", "lone \u{1b}x"), "s | lone  x");
    }

    #[test]
    fn downloads_are_one_line_with_a_readable_size() {
        assert_eq!(size_text(512), "512 B");
        assert_eq!(size_text(1536), "1.5 KiB");
        assert_eq!(size_text(50 << 20), "50.0 MiB");
        assert_eq!(
            download_line("build", "dist/a b.tgz", "out/dist/a b.tgz", 2048),
            "build: downloaded dist/a b.tgz (2.0 KiB) to out/dist/a b.tgz"
        );
    }

    #[test]
    fn control_characters_from_jenkins_never_reach_the_terminal() {
        assert_eq!(clean("a\u{1b}[2Jb\r\nc\td"), "a [2Jb c d");
    }
}

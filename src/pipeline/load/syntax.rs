//! Parse errors as diagnostics: their place, serde's words cut to fit, and hints.

use std::path::Path;

use crate::pipeline::diagnostic::Diagnostic;
use crate::pipeline::locate::{self, Pos};

pub(super) fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

/// A parse error as a diagnostic: its place, the message without the place (the diagnostic
/// shows it), and what to do where serde's words are not enough.
pub(super) fn syntax_diagnostic(origin: &Path, text: &str, err: &yaml_serde::Error) -> Diagnostic {
    let location = err.location();
    let mut message = strip_location(&err.to_string());
    let (line, column) = match &location {
        Some(l) => (Some(l.line()), Some(l.column())),
        None if message.contains("more than one document") => match locate::second_document(text) {
            Some(pos) => (Some(pos.line), Some(pos.column)),
            None => (None, None),
        },
        None => (None, None),
    };
    if let Some(field) = unknown_field(&message) {
        if field == "<<" {
            message.push_str(
                "; YAML merge keys are not supported: put settings shared by steps under \
                 `defaults:`",
            );
        } else {
            message.push_str("; remove it or fix its spelling");
        }
    } else if message.contains("missing field `name`") {
        message.push_str("; every pipeline starts with `name: <name>`");
    } else if message.contains("missing field `steps`") {
        message.push_str("; add a `steps:` list with at least one step");
    } else if message.contains("missing field `job`") {
        message
            .push_str("; an `await:` gate names the job it watches: `await: { job: folder/name }`");
    } else if message.contains("more than one document") {
        message.push_str("; a pipeline file holds one YAML document: remove the extra `---`");
    } else if message.contains("recursion limit exceeded") {
        message.push_str("; the file nests too deeply");
    } else if message.contains("repetition limit exceeded") {
        message.push_str("; the file expands YAML aliases too many times");
    } else if message.contains("cannot start any token")
        && line
            .and_then(|l| text.lines().nth(l.saturating_sub(1)))
            .is_some_and(|l| l.contains('\t'))
    {
        message.push_str("; YAML does not allow tabs for indentation: indent with spaces");
    } else if message.contains(", while scanning") || message.contains(", while parsing") {
        message.push_str(
            "; check the indentation, colons and quotes on this line and the lines before it",
        );
    }
    Diagnostic {
        file: origin.to_path_buf(),
        line,
        column,
        message,
    }
}

pub(super) fn unknown_field(message: &str) -> Option<String> {
    let rest = &message[message.find("unknown field `")? + "unknown field `".len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// Removes yaml_serde's " at line L column C", which the diagnostic shows in front instead.
pub(super) fn strip_location(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(" at line ") {
        let after = &rest[start + " at line ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &after[digits..];
        match tail.strip_prefix(" column ") {
            Some(tail) if digits > 0 => {
                let column_digits = tail.bytes().take_while(u8::is_ascii_digit).count();
                if column_digits == 0 {
                    out.push_str(&rest[..start + 1]);
                    rest = &rest[start + 1..];
                    continue;
                }
                out.push_str(&rest[..start]);
                rest = &tail[column_digits..];
            }
            _ => {
                out.push_str(&rest[..start + 1]);
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The plain scalar that starts at `pos` (1-based line, column in characters).
pub(super) fn token_at(text: &str, pos: Pos) -> Option<&str> {
    let line = text.lines().nth(pos.line.checked_sub(1)?)?;
    let start = line
        .char_indices()
        .nth(pos.column.checked_sub(1)?)
        .map(|(i, _)| i)?;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || ",]}#".contains(c))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|t| !t.is_empty())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_cut_from_parser_messages() {
        assert_eq!(
            strip_location("steps[1]: unknown field `x`, expected `a` at line 7 column 5"),
            "steps[1]: unknown field `x`, expected `a`"
        );
        assert_eq!(
            strip_location("found character at line 3 column 1, while scanning"),
            "found character, while scanning"
        );
        assert_eq!(strip_location("look at line up"), "look at line up");
        assert_eq!(strip_location("at line 3 column x"), "at line 3 column x");
    }

    #[test]
    fn the_token_at_a_position_is_the_plain_scalar_there() {
        let text = "a: 1.10\nb: [2.50, 3]\n";
        assert_eq!(token_at(text, Pos { line: 1, column: 4 }), Some("1.10"));
        assert_eq!(token_at(text, Pos { line: 2, column: 5 }), Some("2.50"));
        assert_eq!(token_at(text, Pos { line: 9, column: 1 }), None);
    }
}

//! The problems a load finds, each placed in the file, capped at a readable number.

use std::path::Path;

use crate::pipeline::diagnostic::{Diagnostic, PipelineError};
use crate::pipeline::locate::{self, Pos, YamlPath};

/// More diagnostics than this are summarised; each one re-reads the file to find its place.
pub(super) const MAX_DIAGNOSTICS: usize = 50;

/// The problems found so far, each placed in the file; past `MAX_DIAGNOSTICS` only counted.
pub(super) struct Diagnostics<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
    pub(super) list: Vec<Diagnostic>,
    pub(super) dropped: usize,
}

impl Diagnostics<'_> {
    pub(super) fn push(&mut self, diagnostic: Diagnostic) {
        if self.list.len() < MAX_DIAGNOSTICS {
            self.list.push(diagnostic);
        } else {
            self.dropped += 1;
        }
    }

    pub(super) fn at_pos(&mut self, pos: Option<Pos>, message: impl Into<String>) {
        self.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            message: message.into(),
        });
    }

    pub(super) fn at(&mut self, path: &YamlPath, message: impl Into<String>) {
        if self.list.len() >= MAX_DIAGNOSTICS {
            self.dropped += 1;
            return;
        }
        let pos = locate::locate(self.text, path);
        self.at_pos(pos, message);
    }

    pub(super) fn general(&mut self, message: impl Into<String>) {
        self.at_pos(None, message);
    }

    pub(super) fn is_clean(&self) -> bool {
        self.list.is_empty()
    }

    pub(super) fn count(&self) -> usize {
        self.list.len() + self.dropped
    }

    pub(super) fn into_error(mut self) -> PipelineError {
        // File order reads best; problems with no place (command-line overrides) come first.
        self.list
            .sort_by_key(|d| (d.line.is_some(), d.line, d.column));
        if self.dropped > 0 {
            let message = format!(
                "and {} more problem(s); fix the ones above and run again",
                self.dropped
            );
            self.list.push(Diagnostic {
                file: self.file.to_path_buf(),
                line: None,
                column: None,
                message,
            });
        }
        PipelineError::new(self.list)
    }
}

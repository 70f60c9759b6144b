//! What is wrong with a pipeline file: each problem with its place, and all of them as one error.

use std::fmt;
use std::path::PathBuf;

/// Everything wrong with a pipeline file, one diagnostic per problem.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", lines(&self.diagnostics))]
pub struct PipelineError {
    pub diagnostics: Vec<Diagnostic>,
}

impl PipelineError {
    pub fn new(diagnostics: Vec<Diagnostic>) -> Self {
        PipelineError { diagnostics }
    }
}

fn lines(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(Diagnostic::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One problem, where it is, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

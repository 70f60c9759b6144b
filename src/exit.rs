//! jrun's exit codes, the one place they are defined.

/// When several apply, the first in this order wins: interrupted, invalid input, lock held,
/// Jenkins unusable, timeout, pipeline failed, success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Every step passed.
    Success = 0,
    /// A step ended with a result it did not expect.
    Failed = 1,
    /// Invalid input: command line, pipeline file, template, unknown job or parameter.
    InvalidInput = 2,
    /// Jenkins could not be used: unreachable after retries, authentication, unexpected answers.
    Jenkins = 3,
    /// A timeout was reached.
    Timeout = 4,
    /// Another run holds the lock.
    Locked = 5,
    /// Interrupted by SIGINT.
    Interrupted = 130,
    /// Stopped by SIGTERM.
    Terminated = 143,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

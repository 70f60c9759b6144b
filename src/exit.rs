//! jrun's exit codes, the one place they are defined.

/// When several apply, the first in this order wins: interrupted, invalid input, lock held,
/// Jenkins unusable, timeout, pipeline failed, success. `worst` is the one rule for that order:
/// no `Ord`, since the codes' numeric order (and declaration order) is not the precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every step passed.
    Success = 0,
    /// A step ended with a result it did not expect.
    Failed = 1,
    /// Invalid input: command line, pipeline file, template, unknown job or parameter.
    InvalidInput = 2,
    /// Jenkins could not be used: unreachable after retries, authentication, a front door
    /// (login page, SSO proxy) answering instead of it, unexpected answers.
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

    /// Rank in "the first in this order wins": 130/143, 2, 5, 3, 4, 1, 0.
    fn precedence(self) -> u8 {
        match self {
            ExitStatus::Interrupted | ExitStatus::Terminated => 7,
            ExitStatus::InvalidInput => 6,
            ExitStatus::Locked => 5,
            ExitStatus::Jenkins => 4,
            ExitStatus::Timeout => 3,
            ExitStatus::Failed => 2,
            ExitStatus::Success => 1,
        }
    }

    /// The status that wins when both apply.
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        if other.precedence() > self.precedence() {
            other
        } else {
            self
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_precedence_decides_between_codes() {
        let order = [
            ExitStatus::Terminated,
            ExitStatus::InvalidInput,
            ExitStatus::Locked,
            ExitStatus::Jenkins,
            ExitStatus::Timeout,
            ExitStatus::Failed,
            ExitStatus::Success,
        ];
        for (i, a) in order.iter().enumerate() {
            for b in &order[i..] {
                assert_eq!(a.worst(*b), *a);
                assert_eq!(b.worst(*a), *a);
            }
        }
    }

    /// An `Ord` would let `max()` pick by declaration order (Locked over Invalid input).
    #[test]
    fn exit_status_has_no_order_besides_worst() {
        struct Probe<T>(std::marker::PhantomData<T>);
        trait Unordered {
            const ORDERED: bool = false;
        }
        impl<T> Unordered for Probe<T> {}
        impl<T: Ord> Probe<T> {
            #[allow(dead_code)]
            const ORDERED: bool = true;
        }
        // black_box: the answers are constants, known when the test is compiled.
        assert!(!std::hint::black_box(Probe::<ExitStatus>::ORDERED));
        assert!(std::hint::black_box(Probe::<u8>::ORDERED));
    }
}

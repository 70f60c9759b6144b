//! Delays between polls: exponential with jitter from `initial` to `max`, never above `max`
//! (backon's jitter adds up to 100%, so each delay is clamped after it).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Jenkins forgets a left queue item after five minutes; polling a queued item at least every
/// minute keeps far inside that.
pub const QUEUE_POLL_CEILING: Duration = Duration::from_secs(60);

pub struct Delays {
    inner: backon::ExponentialBackoff,
    max: Duration,
}

impl Delays {
    pub fn new(initial: Duration, max: Duration, factor: f64) -> Delays {
        let max = max.max(initial);
        let inner = ExponentialBuilder::default()
            .with_min_delay(initial)
            .with_max_delay(max)
            .with_factor(factor.max(1.0) as f32)
            .with_jitter()
            .without_max_times()
            .build();
        Delays { inner, max }
    }

    pub fn next_delay(&mut self) -> Duration {
        self.inner.next().unwrap_or(self.max).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_never_pass_the_maximum() {
        let mut delays = Delays::new(Duration::from_millis(100), Duration::from_secs(1), 2.0);
        let all: Vec<Duration> = (0..50).map(|_| delays.next_delay()).collect();
        assert!(all.iter().all(|d| *d >= Duration::from_millis(100)));
        assert!(all.iter().all(|d| *d <= Duration::from_secs(1)));
        assert!(all[10..].iter().any(|d| *d > Duration::from_millis(500)));
    }
}

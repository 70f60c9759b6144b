//! How fast steps start triggering on one server: a token bucket filled at
//! `triggers_per_second` that holds a quarter of a second's worth. A stage of a dozen steps
//! does not wait; a few dozen wait for each other a few tens of milliseconds; thousands of steps
//! released at once reach Jenkins as a steady stream instead of every trigger and queue read
//! going out as fast as `max_in_flight` allows, with the controller idle afterwards.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Steps a second that start triggering on a server whose block does not say.
pub const DEFAULT_TRIGGERS_PER_SECOND: u32 = 50;

#[derive(Debug)]
pub struct Pace {
    /// Time between two starts once the bucket is empty.
    interval: Duration,
    /// How far ahead of the steady rate a start may be: a full bucket. A bucket of a whole
    /// second would let twice the steady rate through in the first second.
    burst: Duration,
    /// When the next start would be due at the steady rate if none had been early.
    due: Mutex<Option<Instant>>,
}

impl Pace {
    pub fn new(per_second: u32) -> Pace {
        let per_second = per_second.max(1);
        let interval = Duration::from_secs(1) / per_second;
        Pace {
            interval,
            burst: interval * (per_second / 4).saturating_sub(1),
            due: Mutex::new(None),
        }
    }

    /// When a start asked for at `now` may go: reserves its slot, so that callers asking
    /// together are spread one interval apart once the bucket is empty.
    pub fn slot(&self, now: Instant) -> Instant {
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        let next = due.map_or(now, |d| d.max(now));
        *due = Some(next + self.interval);
        // Before the process's clock could go back that far, the bucket is full anyway.
        next.checked_sub(self.burst).unwrap_or(now).max(now)
    }

    /// Waits for this start's slot.
    pub async fn wait(&self) {
        let now = Instant::now();
        let at = self.slot(now);
        // A timer due now still waits for the timer wheel's next millisecond tick.
        if at > now {
            tokio::time::sleep_until(at).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(pace: &Pace, now: Instant, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| (pace.slot(now) - now).as_millis() as u64)
            .collect()
    }

    #[test]
    fn a_full_bucket_lets_a_quarter_second_of_starts_go_at_once_then_one_per_interval() {
        let pace = Pace::new(16);
        let now = Instant::now();
        assert_eq!(
            offsets(&pace, now, 7),
            [0, 0, 0, 0, 62, 125, 187],
            "16 a second: 62.5 ms apart"
        );
    }

    #[test]
    fn the_bucket_refills_while_nothing_starts() {
        let pace = Pace::new(16);
        let now = Instant::now();
        assert_eq!(offsets(&pace, now, 6), [0, 0, 0, 0, 62, 125]);
        // A second later the bucket is full again.
        let later = now + Duration::from_secs(1);
        assert_eq!(offsets(&pace, later, 5), [0, 0, 0, 0, 62]);
    }

    #[test]
    fn one_a_second_is_one_a_second() {
        let pace = Pace::new(1);
        let now = Instant::now();
        assert_eq!(offsets(&pace, now, 3), [0, 1000, 2000]);
    }
}

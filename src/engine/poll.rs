//! Delays between polls: exponential with jitter from `initial` to `max`, never above `max`
//! (backon's jitter adds up to 100%, so each delay is clamped after it).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Jenkins forgets a left queue item after five minutes; polling a queued item at least every
/// minute keeps far inside that.
pub const QUEUE_POLL_CEILING: Duration = Duration::from_secs(60);

/// Reads of a due build closer together than this are merged into the later one, which is
/// then at most this late for a build that ended at the earlier.
const MERGE_MS: i64 = 100;

/// When to read a running build, in milliseconds after the earliest instant it may have
/// started (`window_ms` before the latest): just after each time its job's recent builds
/// took, and after Jenkins' estimate. A build runs much like its predecessors, so one of these
/// reads usually finds it just ended; one that runs longer than all of them is left to the
/// backoff that follows. Durations far from the typical one (a build that waited for a lock,
/// say) are left out, since a read aimed at them would leave a long gap before it.
pub fn due_offsets(recent_ms: &[i64], estimate_ms: Option<i64>, window_ms: i64) -> Vec<i64> {
    // The estimate is the mean of the recent durations, so an outlier drags it along; their
    // median does not move.
    let mut recent: Vec<i64> = recent_ms.iter().copied().filter(|ms| *ms >= 0).collect();
    recent.sort_unstable();
    let Some(typical) = recent
        .get(recent.len() / 2)
        .copied()
        .or(estimate_ms.filter(|ms| *ms >= 0))
    else {
        return Vec::new();
    };
    let mut durations: Vec<i64> = recent.into_iter().chain(estimate_ms).collect();
    durations.retain(|ms| *ms * 2 >= typical && *ms <= typical * 2);
    let window = window_ms.max(0);
    let mut times: Vec<i64> = durations
        .iter()
        .flat_map(|ms| {
            // A start known to within the merge distance needs one read, at its latest; a
            // wider window also gets one at its earliest.
            let earliest = (window > MERGE_MS).then_some(*ms);
            earliest.into_iter().chain([*ms + window])
        })
        .collect();
    times.sort_unstable();
    let mut offsets: Vec<i64> = Vec::with_capacity(times.len());
    let mut group_start = None;
    for t in times {
        match group_start {
            Some(start) if t - start <= MERGE_MS => {
                if let Some(last) = offsets.last_mut() {
                    *last = t;
                }
            }
            _ => {
                group_start = Some(t);
                offsets.push(t);
            }
        }
    }
    offsets
}

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
    fn a_build_is_read_when_its_predecessors_ended_and_at_the_estimate() {
        // Two took 3 s, one 4 s; Jenkins estimates their mean. The start is known to 40 ms.
        assert_eq!(
            due_offsets(&[3_000, 4_000, 3_000], Some(3_333), 40),
            vec![3_040, 3_373, 4_040]
        );
    }

    #[test]
    fn reads_close_together_are_merged_into_the_later() {
        assert_eq!(
            due_offsets(&[2_000, 2_060, 2_030], Some(2_030), 20),
            vec![2_080]
        );
    }

    #[test]
    fn a_wide_start_window_is_read_at_both_ends() {
        assert_eq!(due_offsets(&[], Some(5_000), 1_000), vec![5_000, 6_000]);
    }

    #[test]
    fn far_outlying_durations_get_no_read() {
        // One build once waited ten minutes for a lock.
        assert_eq!(
            due_offsets(&[60_000, 600_000, 61_000], Some(240_000), 0),
            vec![60_000, 61_000]
        );
        assert_eq!(due_offsets(&[1_000, 50, 1_050], None, 0), vec![1_050]);
    }

    #[test]
    fn nothing_known_means_no_due_reads() {
        assert!(due_offsets(&[], None, 30).is_empty());
    }

    #[test]
    fn delays_grow_and_never_pass_the_maximum() {
        let mut delays = Delays::new(Duration::from_millis(100), Duration::from_secs(1), 2.0);
        let all: Vec<Duration> = (0..50).map(|_| delays.next_delay()).collect();
        assert!(all.iter().all(|d| *d >= Duration::from_millis(100)));
        assert!(all.iter().all(|d| *d <= Duration::from_secs(1)));
        assert!(all[10..].iter().any(|d| *d > Duration::from_millis(500)));
    }
}

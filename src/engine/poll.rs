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

/// How long after a build's likely end its first read reaches Jenkins: a build's result is
/// set a moment after its duration is.
const AFTER_END_MS: i64 = 10;

/// When to read a running build, in milliseconds after the earliest instant it may have
/// started (`window_ms` before the latest): just after each time its job's recent builds
/// took, and after Jenkins' estimate. A build runs much like its predecessors, so one of these
/// reads usually finds it just ended; one that runs longer than all of them is left to the
/// steps that follow. Durations far from the typical one (a build that waited for a lock,
/// say) are left out, since a read aimed at them would leave a long gap before it.
///
/// The earliest instant is when the trigger was sent, and the build started when the trigger
/// reached Jenkins (plus the time Jenkins says it queued). A read sent a duration after the
/// trigger reaches Jenkins that duration after the trigger did, since both take the same way
/// there, whatever the round trip: so each duration is read at the window's start, which
/// finds the build ended one trip earlier than a read at its end would. A window wider than
/// the merge distance (the trigger waited behind other requests, say) has its end read too;
/// that read costs a request only when the first came too soon.
pub fn due_offsets(recent_ms: &[i64], estimate_ms: Option<i64>, window_ms: i64) -> Vec<i64> {
    let Some(typical) = typical_ms(recent_ms, estimate_ms) else {
        return Vec::new();
    };
    let recent = recent_ms.iter().copied().filter(|ms| *ms >= 0);
    let mut durations: Vec<i64> = recent.chain(estimate_ms).collect();
    durations.retain(|ms| *ms * 2 >= typical && *ms <= typical * 2);
    durations.sort_unstable();
    // Durations close together get one read, at the longest of them.
    let mut grouped: Vec<i64> = Vec::with_capacity(durations.len());
    let mut group_start = None;
    for ms in durations {
        match group_start {
            Some(start) if ms - start <= MERGE_MS => {
                if let Some(last) = grouped.last_mut() {
                    *last = ms;
                }
            }
            _ => {
                group_start = Some(ms);
                grouped.push(ms);
            }
        }
    }
    let window = window_ms.max(0);
    let mut offsets: Vec<i64> = grouped
        .iter()
        .flat_map(|ms| {
            let latest = (window > MERGE_MS).then_some(*ms + window + AFTER_END_MS);
            [*ms + AFTER_END_MS].into_iter().chain(latest)
        })
        .collect();
    offsets.sort_unstable();
    // A window's end that falls on the next duration's read is that read.
    offsets.dedup_by(|later, earlier| *later - *earlier <= AFTER_END_MS);
    offsets
}

/// The due reads of a build whose usual time is `typical_ms`, with reads added where two lie
/// more than a step (5% of that time, at least [`MIN_STEP`]) apart, up to a quarter of it
/// past it: its predecessors' durations can leave gaps there (3 s, 3 s and 4 s leave 0.33 s
/// and 0.67 s), and a build that runs a little over usually ends there. A gap is split into
/// equal parts no longer than a step, so the reads stay evenly spread up to the due read
/// that closes it. Past that quarter the gaps stay: the reads that follow the last due read
/// find a build far over.
pub fn even_gaps(offsets: &[i64], typical_ms: i64) -> Vec<i64> {
    let step = (typical_ms / 20).max(MIN_STEP.as_millis() as i64);
    let even_until = typical_ms + typical_ms / 4 + AFTER_END_MS;
    let mut filled: Vec<i64> = Vec::with_capacity(offsets.len());
    for &at in offsets {
        if let Some(&last) = filled.last() {
            let gap = at - last;
            let parts = (gap + step - 1) / step;
            for part in 1..parts {
                let read = last + gap * part / parts;
                if read > even_until {
                    break;
                }
                filled.push(read);
            }
        }
        filled.push(at);
    }
    filled
}

/// The time a job's builds usually take: the median of its recent durations (an outlier
/// drags Jenkins' estimate, the mean, along; the median does not move), else the estimate.
pub fn typical_ms(recent_ms: &[i64], estimate_ms: Option<i64>) -> Option<i64> {
    let mut recent: Vec<i64> = recent_ms.iter().copied().filter(|ms| *ms >= 0).collect();
    recent.sort_unstable();
    recent
        .get(recent.len() / 2)
        .copied()
        .or(estimate_ms.filter(|ms| *ms >= 0))
}

/// A build usually over within this long of its trigger is first looked for among its job's
/// builds, by its queue id, once it may have ended, rather than through its queue item at once:
/// one request then both finds it and, most often, shows it ended. What that costs is that
/// its number and URL are known only then, so longer builds keep the early look.
pub const LOOK_FIRST_WITHIN_MS: i64 = 20_000;

/// The first look at a short build comes at this share of its typical duration, in
/// thousandths: builds run within about a fifth of their usual time either way, and one that
/// ends in the early part of that is found then instead of at its estimate.
const EARLY_LOOK_PERMILLE: i64 = 900;

/// When to look for a build whose start is known to `window_ms` for the first time, in
/// milliseconds after its earliest start, if it is short enough to be looked for first among
/// its job's builds: a little before the due reads, and never after the first of them.
pub fn first_look(recent_ms: &[i64], estimate_ms: Option<i64>, window_ms: i64) -> Option<i64> {
    let due = due_offsets(recent_ms, estimate_ms, window_ms);
    let first = *due.first()?;
    if first > LOOK_FIRST_WITHIN_MS {
        return None;
    }
    let typical = typical_ms(recent_ms, estimate_ms)?;
    let early = typical * EARLY_LOOK_PERMILLE / 1000 + AFTER_END_MS;
    // An early look closer to the first due read than reads are merged, or than a round trip
    // (the window, when the trigger's answer is all that brackets the start), is that read:
    // its answer would come too late to send the due read on time.
    Some(if first - early < MERGE_MS.max(window_ms) {
        first
    } else {
        early
    })
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

/// Reads of a build that ran past its estimate: even steps of `initial` while it is within
/// `even_for` of its estimate, where most builds that run over end (they run within about a
/// fifth of their usual time), then steps that grow by `factor`, never above `max`, with at most
/// a tenth of jitter. Even steps find a build a little over at most a step late for the same
/// reads that growing ones spend reaching that far; growing ones keep the reads few for a
/// build far over. The builds are spread already (their due reads are), so full jitter would
/// only make a build found late by up to a whole step more, at random.
pub struct Overrun {
    next: Duration,
    max: Duration,
    factor: f64,
    /// How much longer steps stay even.
    even_for: Duration,
}

/// How a build is read once its due reads are past: in overrun steps when its length is
/// known, backing off with full jitter when it is not.
pub enum Steps {
    Overrun(Overrun),
    Backoff(Delays),
}

impl Steps {
    pub fn next_delay(&mut self) -> Duration {
        match self {
            Steps::Overrun(steps) => steps.next_delay(),
            Steps::Backoff(delays) => delays.next_delay(),
        }
    }
}

/// The most jitter an overrun step carries, as a share of it.
const OVERRUN_JITTER: f64 = 0.1;

/// Even steps a build past its estimate is read in before the steps grow.
const EVEN_STEPS: u32 = 5;

/// The shortest step between two reads of a running build, or of a queue item whose quiet
/// period is about to end: 5% of a one-second build. A build is read this often only near
/// its usual end, a few times.
pub const MIN_STEP: Duration = Duration::from_millis(50);

impl Overrun {
    /// Steps for a build past an estimate of `estimate_ms`: 5% of it (at least 50 ms, at most
    /// `initial`), five of them even, a quarter of the estimate where most builds that run
    /// over end, then growing by `factor` up to `max`. A step shorter than 5% (a long build,
    /// whose step `initial` caps) stays even for five steps only: such a build is not read
    /// every second for minutes.
    pub fn past_estimate(
        estimate_ms: i64,
        initial: Duration,
        max: Duration,
        factor: f64,
    ) -> Overrun {
        let estimate = estimate_ms.max(0).unsigned_abs();
        let step = initial
            .max(MIN_STEP)
            .min(Duration::from_millis(estimate / 20).max(MIN_STEP));
        let even_for = (step * (EVEN_STEPS - 1)).min(Duration::from_millis(estimate / 4));
        Overrun::new(step, max, factor, even_for)
    }

    pub fn new(initial: Duration, max: Duration, factor: f64, even_for: Duration) -> Overrun {
        Overrun {
            next: initial.min(max),
            max: max.max(initial),
            factor: factor.max(1.0),
            even_for,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let step = self.next;
        if self.even_for >= step {
            self.even_for -= step;
        } else {
            self.even_for = Duration::ZERO;
            self.next = step.mul_f64(self.factor).min(self.max);
        }
        step.mul_f64(1.0 + OVERRUN_JITTER * fastrand::f64())
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_is_read_when_its_predecessors_ended_and_at_the_estimate() {
        // Two took 3 s, one 4 s; Jenkins estimates their mean. The start is known to 40 ms,
        // and read from the window's start.
        assert_eq!(
            due_offsets(&[3_000, 4_000, 3_000], Some(3_333), 40),
            vec![3_010, 3_343, 4_010]
        );
    }

    #[test]
    fn a_start_known_exactly_is_read_once_per_duration() {
        assert_eq!(
            due_offsets(&[3_000, 4_000, 3_000], Some(3_333), 0),
            vec![3_010, 3_343, 4_010]
        );
    }

    #[test]
    fn the_end_of_a_wide_window_that_meets_the_next_read_is_that_read() {
        // 1 s and 1.2 s, the start known to 200 ms: the first duration's window ends where
        // the second's read falls.
        assert_eq!(
            due_offsets(&[1_000, 1_200], None, 200),
            vec![1_010, 1_210, 1_410]
        );
    }

    #[test]
    fn durations_close_together_are_read_at_the_longest() {
        assert_eq!(
            due_offsets(&[2_000, 2_060, 2_030], Some(2_030), 20),
            vec![2_070]
        );
    }

    #[test]
    fn a_wide_start_window_is_read_at_both_ends() {
        assert_eq!(due_offsets(&[], Some(5_000), 1_000), vec![5_010, 6_010]);
    }

    #[test]
    fn far_outlying_durations_get_no_read() {
        // One build once waited ten minutes for a lock.
        assert_eq!(
            due_offsets(&[60_000, 600_000, 61_000], Some(240_000), 0),
            vec![60_010, 61_010]
        );
        assert_eq!(due_offsets(&[1_000, 50, 1_050], None, 0), vec![1_060]);
    }

    #[test]
    fn a_short_build_is_first_looked_for_a_little_before_it_usually_ends() {
        assert_eq!(
            first_look(&[3_000, 3_000, 3_000], Some(3_000), 0),
            Some(2_710)
        );
        assert_eq!(first_look(&[1_000, 1_000], None, 0), Some(910));
        // Its first due read is close enough to be that look.
        assert_eq!(first_look(&[800, 800], None, 0), Some(810));
        // Nor when its answer would come back after the first due read should go out.
        assert_eq!(first_look(&[1_000, 1_000], None, 150), Some(1_010));
        // A long build, or one nothing is known of, is followed through its queue item.
        assert_eq!(first_look(&[60_000], None, 0), None);
        assert_eq!(first_look(&[], None, 0), None);
    }

    #[test]
    fn overrun_steps_grow_by_the_factor_with_little_jitter() {
        let mut steps = Overrun::new(
            Duration::from_millis(100),
            Duration::from_secs(1),
            2.0,
            Duration::ZERO,
        );
        let all: Vec<u128> = (0..6).map(|_| steps.next_delay().as_millis()).collect();
        for (got, base) in all.iter().zip([100, 200, 400, 800, 1_000, 1_000]) {
            assert!(
                *got >= base && *got <= (base + base / 10).min(1_000),
                "{all:?}"
            );
        }
    }

    #[test]
    fn overrun_steps_stay_even_near_the_estimate_then_grow() {
        // 150 ms steps for the first 600 ms past the estimate, then doubling.
        let mut steps = Overrun::new(
            Duration::from_millis(150),
            Duration::from_secs(2),
            2.0,
            Duration::from_millis(600),
        );
        let all: Vec<u128> = (0..8).map(|_| steps.next_delay().as_millis()).collect();
        for (got, base) in all.iter().zip([150, 150, 150, 150, 150, 300, 600, 1_200]) {
            assert!(*got >= base && *got <= base + base / 10, "{all:?}");
        }
    }

    #[test]
    fn a_build_past_its_estimate_is_read_in_five_even_steps_of_a_twentieth_then_growing_ones() {
        let second = Duration::from_secs(1);
        let mut steps = Overrun::past_estimate(3_000, second, 15 * second, 1.5);
        let all: Vec<u128> = (0..8).map(|_| steps.next_delay().as_millis()).collect();
        for (got, base) in all.iter().zip([150, 150, 150, 150, 150, 225, 337, 506]) {
            assert!(*got >= base && *got <= base + base / 10 + 1, "{all:?}");
        }
    }

    #[test]
    fn a_long_build_past_its_estimate_is_not_read_every_second_for_minutes() {
        // An hour's estimate: steps of `initial` (1 s), five even, then growing to 15 s.
        let second = Duration::from_secs(1);
        let mut steps = Overrun::past_estimate(3_600_000, second, 15 * second, 1.5);
        let mut elapsed = Duration::ZERO;
        let mut reads = 0;
        while elapsed < Duration::from_secs(15 * 60) {
            elapsed += steps.next_delay();
            reads += 1;
        }
        assert!(
            reads <= 70,
            "{reads} reads in the first 15 minutes past the estimate"
        );
        // A short build's steps never fall under 50 ms.
        let mut short = Overrun::past_estimate(400, second, 15 * second, 1.5);
        assert!(short.next_delay() >= Duration::from_millis(50));
    }

    #[test]
    fn gaps_between_due_reads_near_the_usual_time_are_split_evenly() {
        // 3 s, 3 s and 4 s with an estimate of 3.33 s: the gaps after 3 s are split into
        // parts of at most 150 ms, up to 3.76 s; the 4 s read stays alone past that.
        let due = due_offsets(&[3_000, 4_000, 3_000], Some(3_333), 0);
        assert_eq!(
            even_gaps(&due, 3_000),
            vec![3_010, 3_121, 3_232, 3_343, 3_476, 3_609, 3_743, 4_010]
        );
        // Reads a step apart or closer, and one due read alone, are left as they are.
        assert_eq!(even_gaps(&[1_010, 1_060], 1_000), vec![1_010, 1_060]);
        assert_eq!(even_gaps(&[5_010], 5_000), vec![5_010]);
        // Short builds step by 50 ms at least.
        assert_eq!(
            even_gaps(&[1_010, 1_260], 1_000),
            vec![1_010, 1_060, 1_110, 1_160, 1_210, 1_260]
        );
        // A 400 ms build's gap is split up to a quarter past its usual time only.
        assert_eq!(even_gaps(&[410, 610], 400), vec![410, 460, 510, 610]);
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

//! The geometry of a run's timeline, from its report alone (so a saved JSON report draws the
//! same picture as the run did): one row per step with matrix cells under their step, each
//! build a queue part and a build part, the time axis, and the critical path.

use std::collections::HashMap;

use super::summary::{StepStatus, StepSummary, Summary};

/// A timeline, in milliseconds of pipeline time since the run started.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Where the axis ends: the run's end rounded up to a tick.
    pub axis_ms: u64,
    pub ticks: Vec<Tick>,
    pub rows: Vec<Row>,
    pub critical: CriticalPath,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub at_ms: u64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// The heading of a matrix step, above its cells.
    Group { id: String, cells: usize },
    /// A step (or a matrix cell, `cell` then) by its index in the report.
    Step { index: usize, cell: bool },
}

/// One build of a step: queued from `triggered_ms`, building from `started_ms` (if it left
/// the queue) to `ended_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub attempt: u32,
    pub triggered_ms: u64,
    pub started_ms: Option<u64>,
    pub ended_ms: u64,
    pub number: Option<u64>,
    pub url: Option<String>,
    pub result: Option<String>,
}

impl Segment {
    pub fn queue_ms(&self) -> u64 {
        self.started_ms.unwrap_or(self.ended_ms) - self.triggered_ms
    }

    pub fn build_ms(&self) -> Option<u64> {
        self.started_ms.map(|s| self.ended_ms - s)
    }
}

/// The chain of steps, each waiting for the one before it, that ended last: what decided how
/// long the run took.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CriticalPath {
    /// Indices into the report's steps, first to last.
    pub steps: Vec<usize>,
    /// The time those steps took, summed.
    pub length_ms: u64,
    /// The rest of the run's time: reading jobs before the start, starting and settling
    /// steps.
    pub overhead_ms: u64,
}

/// A step's span and its builds, well ordered whatever the report says.
pub fn span(step: &StepSummary) -> Option<(u64, u64)> {
    let times = step.times.as_ref()?;
    Some((times.began_ms, times.ended_ms.max(times.began_ms)))
}

pub fn segments(step: &StepSummary) -> Vec<Segment> {
    let Some(times) = &step.times else {
        return Vec::new();
    };
    times
        .attempts
        .iter()
        .map(|a| {
            let ended_ms = a.ended_ms.max(a.triggered_ms);
            Segment {
                attempt: a.attempt,
                triggered_ms: a.triggered_ms,
                started_ms: a.started_ms.map(|s| s.clamp(a.triggered_ms, ended_ms)),
                ended_ms,
                number: a.number,
                url: a.url.clone(),
                result: a.result.clone(),
            }
        })
        .collect()
}

/// The timeline of `summary`, with at most about `max_ticks` ticks on its axis.
pub fn build(summary: &Summary, max_ticks: u64) -> Timeline {
    let last = summary
        .steps
        .iter()
        .filter_map(span)
        .map(|(_, end)| end)
        .max()
        .unwrap_or(0)
        .max(summary.duration_ms);
    let step = tick_step(last, max_ticks.max(1));
    let axis_ms = last.div_ceil(step).max(1) * step;
    let ticks = (0..=axis_ms / step)
        .map(|i| Tick {
            at_ms: i * step,
            label: tick_label(i * step),
        })
        .collect();
    Timeline {
        axis_ms,
        ticks,
        rows: rows(summary),
        critical: critical_path(summary),
    }
}

/// Matrix cells are next to each other in the report; each run of them gets a heading.
fn rows(summary: &Summary) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut index = 0;
    while index < summary.steps.len() {
        match &summary.steps[index].matrix {
            Some(group) => {
                let cells = summary.steps[index..]
                    .iter()
                    .take_while(|s| s.matrix.as_ref() == Some(group))
                    .count();
                rows.push(Row::Group {
                    id: group.clone(),
                    cells,
                });
                rows.extend((index..index + cells).map(|index| Row::Step { index, cell: true }));
                index += cells;
            }
            None => {
                rows.push(Row::Step { index, cell: false });
                index += 1;
            }
        }
    }
    rows
}

/// From the step that ended last back through the dependency that ended last, which is the
/// one it waited for longest.
pub fn critical_path(summary: &Summary) -> CriticalPath {
    let by_id: HashMap<&str, usize> = summary
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let timed = |i: usize| span(&summary.steps[i]).filter(|_| ran(&summary.steps[i]));
    let latest = |candidates: &mut dyn Iterator<Item = usize>| {
        // Ties go to the first in the report, so the path is the same every time.
        candidates
            .filter_map(|i| timed(i).map(|(_, end)| (end, std::cmp::Reverse(i))))
            .max()
            .map(|(_, std::cmp::Reverse(i))| i)
    };
    let mut steps = Vec::new();
    let mut current = latest(&mut (0..summary.steps.len()));
    while let Some(i) = current {
        if steps.contains(&i) {
            break;
        }
        steps.push(i);
        current = latest(
            &mut summary.steps[i]
                .needs
                .iter()
                .filter_map(|n| by_id.get(n.as_str()).copied()),
        );
    }
    steps.reverse();
    let length_ms = steps
        .iter()
        .filter_map(|&i| timed(i))
        .map(|(begin, end)| end - begin)
        .sum();
    CriticalPath {
        overhead_ms: summary.duration_ms.saturating_sub(length_ms),
        length_ms,
        steps,
    }
}

/// A step that was skipped never ran, whatever times it carries.
fn ran(step: &StepSummary) -> bool {
    step.status != StepStatus::Skipped
}

const STEPS_MS: [u64; 20] = [
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
];

/// The smallest round step that puts at most `max_ticks` intervals on `span_ms`.
pub fn tick_step(span_ms: u64, max_ticks: u64) -> u64 {
    STEPS_MS
        .iter()
        .copied()
        .find(|step| span_ms.div_ceil(*step) <= max_ticks)
        .unwrap_or_else(|| span_ms.div_ceil(max_ticks).div_ceil(86_400_000) * 86_400_000)
}

/// `0s`, `45s`, `2m`, `2m30s`, `1h`, `1h30m`, `2d`.
pub fn tick_label(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (value, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    if out.is_empty() {
        "0s".to_string()
    } else {
        out
    }
}

/// A step's compact bar for the terminal, `width` characters for `axis_ms`: `░` while a
/// build waited in the queue, `█` while it built, `▏`..`▉` for a part shorter than a cell.
pub fn terminal_bar(step: &StepSummary, axis_ms: u64, width: usize) -> String {
    if width == 0 || axis_ms == 0 {
        return String::new();
    }
    let cell_ms = |i: usize| {
        let from = axis_ms * i as u64 / width as u64;
        let to = axis_ms * (i as u64 + 1) / width as u64;
        (from, to)
    };
    // How much of each cell was queue wait and how much build.
    let mut queue = vec![0u64; width];
    let mut built = vec![0u64; width];
    let cover = |cells: &mut Vec<u64>, from: u64, to: u64| {
        for (i, cell) in cells.iter_mut().enumerate() {
            let (a, b) = cell_ms(i);
            *cell += to.min(b).saturating_sub(from.max(a));
        }
    };
    for segment in segments(step) {
        let started = segment.started_ms.unwrap_or(segment.ended_ms);
        cover(&mut queue, segment.triggered_ms, started);
        if let Some(started) = segment.started_ms {
            cover(&mut built, started, segment.ended_ms);
        }
    }
    const EIGHTHS: [char; 8] = ['▏', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    (0..width)
        .map(|i| {
            let (a, b) = cell_ms(i);
            let whole = (b - a).max(1);
            match (queue[i], built[i]) {
                (_, b) if b >= whole => '█',
                (_, b) if b > 0 => EIGHTHS[(b * 8 / whole).min(7) as usize],
                (q, _) if q > 0 => '░',
                _ => ' ',
            }
        })
        .collect::<String>()
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::{AttemptTimes, RunStatus, StepTimes};

    /// A step's span and its builds' (triggered, started, ended).
    type Times = (u64, u64, Vec<(u64, u64, u64)>);

    fn step(id: &str, needs: &[&str], times: Option<Times>) -> StepSummary {
        let mut step = StepSummary::new(id.into(), "default".into(), Default::default());
        step.needs = needs.iter().map(|n| n.to_string()).collect();
        step.times = times.map(|(began_ms, ended_ms, attempts)| StepTimes {
            began_ms,
            ended_ms,
            attempts: attempts
                .into_iter()
                .enumerate()
                .map(|(i, (t, s, e))| AttemptTimes {
                    attempt: i as u32 + 1,
                    triggered_ms: t,
                    started_ms: Some(s),
                    ended_ms: e,
                    ..Default::default()
                })
                .collect(),
        });
        step
    }

    fn summary(duration_ms: u64, steps: Vec<StepSummary>) -> Summary {
        Summary {
            pipeline: "p".into(),
            status: RunStatus::Passed,
            exit_code: 0,
            started_at: "2026-12-01T05:00:00Z".into(),
            duration_ms,
            steps,
            utc_offset_s: None,
        }
    }

    #[test]
    fn ticks_are_round_steps_from_seconds_to_hours() {
        assert_eq!(tick_step(800, 10), 1_000);
        assert_eq!(tick_step(9_000, 10), 1_000);
        assert_eq!(tick_step(11_000, 10), 2_000);
        assert_eq!(tick_step(95_000, 10), 10_000);
        assert_eq!(tick_step(45 * 60_000, 10), 300_000);
        assert_eq!(tick_step(5 * 3_600_000, 10), 1_800_000);
        assert_eq!(tick_step(30 * 3_600_000, 10), 10_800_000);
        assert_eq!(tick_label(0), "0s");
        assert_eq!(tick_label(45_000), "45s");
        assert_eq!(tick_label(150_000), "2m30s");
        assert_eq!(tick_label(5_400_000), "1h30m");
        let timeline = build(&summary(95_000, vec![]), 10);
        assert_eq!(timeline.axis_ms, 100_000);
        assert_eq!(timeline.ticks.len(), 11);
        assert_eq!(timeline.ticks[10].label, "1m40s");
    }

    #[test]
    fn matrix_cells_sit_under_a_heading_of_their_step() {
        let mut a = step("build", &[], None);
        let mut eu = step("deploy[R=eu]", &["build"], None);
        let mut us = step("deploy[R=us]", &["build"], None);
        eu.matrix = Some("deploy".into());
        us.matrix = Some("deploy".into());
        a.matrix = None;
        let rows = rows(&summary(0, vec![a, eu, us, step("tag", &[], None)]));
        assert_eq!(
            rows,
            vec![
                Row::Step {
                    index: 0,
                    cell: false
                },
                Row::Group {
                    id: "deploy".into(),
                    cells: 2
                },
                Row::Step {
                    index: 1,
                    cell: true
                },
                Row::Step {
                    index: 2,
                    cell: true
                },
                Row::Step {
                    index: 3,
                    cell: false
                },
            ]
        );
    }

    #[test]
    fn the_critical_path_follows_the_dependency_that_ended_last() {
        let run = summary(
            100_000,
            vec![
                step(
                    "build",
                    &[],
                    Some((1_000, 30_000, vec![(1_000, 5_000, 30_000)])),
                ),
                step(
                    "lint",
                    &[],
                    Some((1_000, 10_000, vec![(1_000, 2_000, 10_000)])),
                ),
                step("test-a", &["build", "lint"], Some((30_500, 60_000, vec![]))),
                step("test-b", &["build", "lint"], Some((30_500, 90_000, vec![]))),
                step(
                    "ship",
                    &["test-a", "test-b"],
                    Some((90_500, 99_000, vec![])),
                ),
                step("notify", &["ship"], None),
            ],
        );
        let path = critical_path(&run);
        assert_eq!(path.steps, vec![0, 3, 4]);
        assert_eq!(path.length_ms, 29_000 + 59_500 + 8_500);
        assert_eq!(path.overhead_ms, 100_000 - 97_000);
    }

    #[test]
    fn a_skipped_step_is_never_on_the_critical_path() {
        let mut skipped = step("late", &["a"], Some((5_000, 9_000, vec![])));
        skipped.status = StepStatus::Skipped;
        let run = summary(
            9_000,
            vec![step("a", &[], Some((0, 4_000, vec![]))), skipped],
        );
        assert_eq!(critical_path(&run).steps, vec![0]);
    }

    #[test]
    fn segments_split_queue_and_build_and_keep_retries_apart() {
        let s = step(
            "flaky",
            &[],
            Some((
                0,
                50_000,
                vec![(0, 4_000, 20_000), (25_000, 26_000, 50_000)],
            )),
        );
        let parts = segments(&s);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].queue_ms(), parts[0].build_ms()),
            (4_000, Some(16_000))
        );
        assert_eq!((parts[1].attempt, parts[1].queue_ms()), (2, 1_000));
    }

    #[test]
    fn the_terminal_bar_shows_queue_then_build_scaled_to_its_width() {
        let s = step("a", &[], Some((0, 10_000, vec![(0, 2_000, 10_000)])));
        assert_eq!(terminal_bar(&s, 10_000, 10), "░░████████");
        assert_eq!(terminal_bar(&s, 20_000, 10), "░████");
        let late = step(
            "b",
            &[],
            Some((10_000, 15_000, vec![(10_000, 10_000, 15_000)])),
        );
        assert_eq!(terminal_bar(&late, 20_000, 4), "  █");
        let short = step("c", &[], Some((0, 1_000, vec![(0, 0, 1_000)])));
        assert_eq!(terminal_bar(&short, 20_000, 10), "▌");
        assert_eq!(terminal_bar(&step("d", &[], None), 20_000, 10), "");
    }
}

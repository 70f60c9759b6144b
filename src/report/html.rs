//! The run as one self-contained HTML page: a timeline drawn in inline SVG, then the steps
//! and their failures as plain tables. Jenkins serves archived artifacts under a
//! Content-Security-Policy that blocks scripts, `<style>` and `style=` attributes, so the page
//! draws with SVG presentation attributes alone and loads nothing; the only URLs in it are
//! links to the builds. The same report always gives the same bytes.

use std::fmt::Write as _;
use std::time::Duration;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::summary::{RunStatus, StepStatus, StepSummary, Summary};
use super::time::{offset_name, parse_rfc3339_utc, short, wall_clock};
use super::timeline::{self, Row, Segment, Timeline};

const MARGIN: f64 = 16.0;
const LABEL_W: f64 = 250.0;
const STATUS_W: f64 = 130.0;
const CHART_X: f64 = MARGIN + LABEL_W + STATUS_W;
const CHART_W: f64 = 860.0;
const DURATION_W: f64 = 80.0;
const WIDTH: f64 = CHART_X + CHART_W + DURATION_W + MARGIN;
const AXIS_H: f64 = 30.0;
const ROW_H: f64 = 24.0;
const BAR_H: f64 = 14.0;
const LEGEND_H: f64 = 64.0;
/// Characters of a label that fit its column at 12px sans-serif.
const LABEL_CHARS: usize = 34;
const STATUS_CHARS: usize = 19;

const QUEUE_STROKE: &str = "#546e7a";
const CRITICAL: &str = "#ef6c00";
const CRITICAL_BAND: &str = "#fff3e0";
const DEPENDENCY: &str = "#90a4ae";

/// The page for `summary` (already redacted).
pub fn render(summary: &Summary) -> String {
    let timeline = timeline::build(summary, 12);
    let clock = Clock::of(summary);
    let mut out = String::new();
    let verdict = match summary.status {
        RunStatus::Passed => "passed",
        RunStatus::Failed => "failed",
    };
    let title = format!(
        "{}: {verdict} (exit {}) in {}",
        summary.pipeline,
        summary.exit_code,
        ms(summary.duration_ms)
    );
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>jrun: {}</title>", text(&title));
    out.push_str("</head>\n<body>\n");
    let _ = writeln!(out, "<h1>{}</h1>", text(&title));
    let _ = writeln!(
        out,
        "<p>Started {}. {} steps.</p>",
        text(&clock.describe(0)),
        summary.steps.len()
    );
    let _ = writeln!(out, "<p>{}</p>", text(&critical_text(summary, &timeline)));
    svg(&mut out, summary, &timeline, &clock);
    steps_table(&mut out, summary);
    failures(&mut out, summary);
    out.push_str("</body>\n</html>\n");
    out
}

/// The run's start on the wall, for times given relative to it.
struct Clock {
    /// The run's start, seconds since the epoch, when the report's `started_at` reads.
    start_s: Option<i64>,
    offset_s: Option<i64>,
}

impl Clock {
    fn of(summary: &Summary) -> Clock {
        Clock {
            start_s: parse_rfc3339_utc(&summary.started_at),
            offset_s: summary.utc_offset_s.map(i64::from),
        }
    }

    /// `2026-12-01 05:00:30 UTC (06:00:30 local, UTC+01:00)` of `at_ms` into the run.
    fn describe(&self, at_ms: u64) -> String {
        let Some(start) = self.start_s else {
            return format!("{} into the run", ms(at_ms));
        };
        let at = start + (at_ms / 1000) as i64;
        let utc = format!("{} UTC", wall_clock(at, 0));
        match self.offset_s {
            Some(offset) => format!(
                "{utc} ({} local, {})",
                wall_clock(at, offset),
                offset_name(offset)
            ),
            None => utc,
        }
    }
}

fn ms(ms: u64) -> String {
    short(Duration::from_millis(ms))
}

fn critical_text(summary: &Summary, timeline: &Timeline) -> String {
    let path = &timeline.critical;
    if path.steps.is_empty() {
        return "Critical path: no step ran.".to_string();
    }
    let names: Vec<&str> = path
        .steps
        .iter()
        .map(|&i| summary.steps[i].id.as_str())
        .collect();
    format!(
        "Critical path (marked in orange): {}, {}; the run's overhead beyond it: {} of {}.",
        names.join(" → "),
        ms(path.length_ms),
        ms(path.overhead_ms),
        ms(summary.duration_ms)
    )
}

/// Cut to `max` characters with an ellipsis; the full text goes in a `<title>`.
fn fit(value: &str, max: usize) -> (String, bool) {
    if value.chars().count() <= max {
        (value.to_string(), false)
    } else {
        let cut: String = value.chars().take(max.saturating_sub(1)).collect();
        (format!("{cut}…"), true)
    }
}

/// A URL the page may link to: a Jenkins build, over HTTP(S).
fn link(url: Option<&str>) -> Option<&str> {
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

fn result_fill(result: Option<&str>) -> &'static str {
    match result {
        Some("SUCCESS") => "#2e7d32",
        Some("UNSTABLE") => "#f9a825",
        Some("FAILURE") => "#c62828",
        Some("ABORTED" | "NOT_BUILT" | "CANCELLED") => "#757575",
        _ => "#5c6bc0",
    }
}

fn status_fill(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Passed => "#1b5e20",
        StepStatus::Failed => "#b71c1c",
        StepStatus::Skipped => "#616161",
        StepStatus::Cancelled | StepStatus::TimedOut | StepStatus::Interrupted => "#e65100",
    }
}

fn status_text(step: &StepSummary) -> String {
    let mut out = step.status.as_str().replace('_', " ");
    if let Some(result) = &step.result {
        let _ = write!(out, " {result}");
    }
    if step.attempts > 1 {
        let _ = write!(out, " ×{}", step.attempts);
    }
    out
}

fn x(t: u64, axis_ms: u64) -> f64 {
    CHART_X + t as f64 * CHART_W / axis_ms.max(1) as f64
}

fn w(from: u64, to: u64, axis_ms: u64) -> f64 {
    to.saturating_sub(from) as f64 * CHART_W / axis_ms.max(1) as f64
}

/// A `<text>` cut to `max` characters, with the full text as its `<title>` when cut.
fn label(out: &mut String, at: (f64, f64), value: &str, max: usize, attrs: &str) {
    let (shown, cut) = fit(value, max);
    let _ = write!(out, "<text x=\"{:.1}\" y=\"{:.1}\"{attrs}>", at.0, at.1);
    if cut {
        let _ = write!(out, "<title>{}</title>", text(value));
    }
    let _ = writeln!(out, "{}</text>", text(&shown));
}

fn svg(out: &mut String, summary: &Summary, timeline: &Timeline, clock: &Clock) {
    let axis_ms = timeline.axis_ms;
    let rows_h = timeline.rows.len() as f64 * ROW_H;
    let chart_bottom = AXIS_H + rows_h;
    let height = chart_bottom + AXIS_H + LEGEND_H;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\" \
         role=\"img\" aria-label=\"{}\">",
        attr(&format!("timeline of {}", summary.pipeline))
    );
    let _ = writeln!(
        out,
        "<defs>\n<pattern id=\"queued\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#eceff1\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#78909c\" stroke-width=\"2\"/></pattern>\n\
         <marker id=\"arrow\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"6\" \
         markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L6,3 L0,6 z\" fill=\"{DEPENDENCY}\"/></marker>\n\
         <marker id=\"arrow-critical\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"6\" \
         markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L6,3 L0,6 z\" fill=\"{CRITICAL}\"/></marker>\n\
         </defs>"
    );
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" fill=\"#ffffff\"/>"
    );
    // Column headings.
    let _ = writeln!(
        out,
        "<text x=\"{MARGIN:.1}\" y=\"18\" font-weight=\"bold\">step</text>\n\
         <text x=\"{:.1}\" y=\"18\" font-weight=\"bold\">result</text>\n\
         <text x=\"{:.1}\" y=\"18\" font-weight=\"bold\" text-anchor=\"end\">duration</text>",
        MARGIN + LABEL_W,
        WIDTH - MARGIN
    );
    // Where each step's row is, for dependency lines.
    let mut row_of = vec![None; summary.steps.len()];
    for (r, row) in timeline.rows.iter().enumerate() {
        if let Row::Step { index, .. } = row {
            row_of[*index] = Some(r);
        }
    }
    let critical = &timeline.critical.steps;
    let row_y = |r: usize| AXIS_H + r as f64 * ROW_H;
    // Critical path bands first, under everything.
    for &i in critical {
        if let Some(r) = row_of[i] {
            let _ = writeln!(
                out,
                "<rect class=\"critical\" x=\"0\" y=\"{:.1}\" width=\"{WIDTH:.0}\" height=\"{ROW_H:.0}\" fill=\"{CRITICAL_BAND}\"/>",
                row_y(r)
            );
        }
    }
    axis(out, timeline, clock, chart_bottom);
    // Dependencies: from the end of what a step waited for to its start.
    out.push_str("<g class=\"dependencies\" fill=\"none\" stroke-width=\"1\">\n");
    for (i, step) in summary.steps.iter().enumerate() {
        let (Some(r), Some((began, _))) = (row_of[i], timeline::span(step)) else {
            continue;
        };
        for need in &step.needs {
            let Some(n) = summary.steps.iter().position(|s| &s.id == need) else {
                continue;
            };
            let (Some(nr), Some((_, ended))) = (row_of[n], timeline::span(&summary.steps[n]))
            else {
                continue;
            };
            let on_path = critical.windows(2).any(|pair| pair[0] == n && pair[1] == i);
            let (x1, y1) = (x(ended, axis_ms), row_y(nr) + ROW_H / 2.0);
            let (x2, y2) = (x(began, axis_ms), row_y(r) + ROW_H / 2.0);
            let bend = x1.max(x2 - 6.0);
            let _ = writeln!(
                out,
                "<path d=\"M{x1:.1},{y1:.1} H{bend:.1} V{y2:.1} H{x2:.1}\" stroke=\"{}\"{} \
                 marker-end=\"url(#{})\"><title>{} waited for {}</title></path>",
                if on_path { CRITICAL } else { DEPENDENCY },
                if on_path { " stroke-width=\"2\"" } else { "" },
                if on_path { "arrow-critical" } else { "arrow" },
                text(&step.id),
                text(need)
            );
        }
    }
    out.push_str("</g>\n");
    for (r, row) in timeline.rows.iter().enumerate() {
        let y = row_y(r);
        match row {
            Row::Group { id, cells } => group_row(out, summary, timeline, r, id, *cells, y),
            Row::Step { index, cell } => step_row(
                out,
                &summary.steps[*index],
                *index,
                *cell,
                critical.contains(index),
                y,
                axis_ms,
                clock,
            ),
        }
    }
    legend(out, chart_bottom + AXIS_H);
    out.push_str("</svg>\n");
}

fn axis(out: &mut String, timeline: &Timeline, clock: &Clock, chart_bottom: f64) {
    out.push_str("<g class=\"axis\">\n");
    for tick in &timeline.ticks {
        let tx = x(tick.at_ms, timeline.axis_ms);
        let when = clock.describe(tick.at_ms);
        let _ = writeln!(
            out,
            "<line x1=\"{tx:.1}\" y1=\"{:.1}\" x2=\"{tx:.1}\" y2=\"{chart_bottom:.1}\" stroke=\"#cfd8dc\" stroke-width=\"1\"/>",
            AXIS_H - 6.0
        );
        for y in [AXIS_H - 10.0, chart_bottom + 16.0] {
            let _ = writeln!(
                out,
                "<text x=\"{tx:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" fill=\"#37474f\"><title>{}</title>{}</text>",
                text(&when),
                text(&tick.label)
            );
        }
    }
    out.push_str("</g>\n");
}

fn group_row(
    out: &mut String,
    summary: &Summary,
    timeline: &Timeline,
    r: usize,
    id: &str,
    cells: usize,
    y: f64,
) {
    let first = timeline.rows[r + 1..]
        .iter()
        .find_map(|row| match row {
            Row::Step { index, .. } => Some(*index),
            Row::Group { .. } => None,
        })
        .unwrap_or(0);
    let spans: Vec<(u64, u64)> = summary.steps[first..(first + cells).min(summary.steps.len())]
        .iter()
        .filter_map(timeline::span)
        .collect();
    let _ = writeln!(out, "<g class=\"group\" id=\"group-{r}\">");
    label(
        out,
        (MARGIN, y + 16.0),
        &format!("{id} (matrix, {cells} cells)"),
        LABEL_CHARS,
        " font-weight=\"bold\"",
    );
    if let (Some(from), Some(to)) = (
        spans.iter().map(|s| s.0).min(),
        spans.iter().map(|s| s.1).max(),
    ) {
        let _ = writeln!(
            out,
            "<rect x=\"{:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"4\" fill=\"#b0bec5\"><title>{id}: {}</title></rect>",
            x(from, timeline.axis_ms),
            y + ROW_H / 2.0 - 2.0,
            w(from, to, timeline.axis_ms),
            ms(to - from),
            id = text(id)
        );
    }
    out.push_str("</g>\n");
}

#[allow(clippy::too_many_arguments)]
fn step_row(
    out: &mut String,
    step: &StepSummary,
    index: usize,
    cell: bool,
    critical: bool,
    y: f64,
    axis_ms: u64,
    clock: &Clock,
) {
    let _ = writeln!(out, "<g class=\"step\" id=\"step-{index}\">");
    let indent = if cell { 16.0 } else { 0.0 };
    let max = if cell { LABEL_CHARS - 3 } else { LABEL_CHARS };
    label(out, (MARGIN + indent, y + 16.0), &step.id, max, "");
    let status = status_text(step);
    label(
        out,
        (MARGIN + LABEL_W, y + 16.0),
        &status,
        STATUS_CHARS,
        &format!(
            " fill=\"{}\" font-weight=\"bold\"",
            status_fill(step.status)
        ),
    );
    let top = y + (ROW_H - BAR_H) / 2.0;
    let parts = timeline::segments(step);
    match timeline::span(step) {
        _ if step.status == StepStatus::Skipped => {
            let why = step
                .message
                .as_deref()
                .unwrap_or("its condition was not met");
            label(
                out,
                (CHART_X + 4.0, y + 16.0),
                &format!("skipped: {}", super::plain::clean(why)),
                (CHART_W / 7.0) as usize,
                " fill=\"#616161\"",
            );
        }
        Some((began, ended)) if parts.is_empty() => {
            // A step without builds of its own (awaiting another's build): its span.
            let _ = writeln!(
                out,
                "<rect class=\"wait\" x=\"{:.2}\" y=\"{top:.1}\" width=\"{:.2}\" height=\"{BAR_H:.0}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-dasharray=\"4 2\"><title>{}: {} from {}</title></rect>",
                x(began, axis_ms),
                w(began, ended, axis_ms),
                result_fill(step.result.as_deref()),
                text(&step.id),
                ms(ended - began),
                text(&clock.describe(began))
            );
        }
        Some(_) => {
            for part in &parts {
                segment(out, step, index, part, top, axis_ms, clock);
            }
        }
        None => {
            let why = step
                .message
                .as_deref()
                .unwrap_or("no time recorded for this step");
            label(
                out,
                (CHART_X + 4.0, y + 16.0),
                &super::plain::clean(why),
                (CHART_W / 7.0) as usize,
                " fill=\"#616161\"",
            );
        }
    }
    if critical && let Some((began, ended)) = timeline::span(step) {
        let _ = writeln!(
            out,
            "<line x1=\"{:.2}\" y1=\"{:.1}\" x2=\"{:.2}\" y2=\"{:.1}\" stroke=\"{CRITICAL}\" stroke-width=\"3\"><title>on the critical path</title></line>",
            x(began, axis_ms),
            y + ROW_H - 2.0,
            x(ended, axis_ms),
            y + ROW_H - 2.0
        );
    }
    if step.status != StepStatus::Skipped {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - MARGIN,
            y + 16.0,
            text(&ms(step.duration_ms))
        );
    }
    out.push_str("</g>\n");
}

fn segment(
    out: &mut String,
    step: &StepSummary,
    index: usize,
    part: &Segment,
    top: f64,
    axis_ms: u64,
    clock: &Clock,
) {
    let build = part.number.map(|n| format!(" #{n}")).unwrap_or_default();
    let result = part.result.as_deref().unwrap_or("no result");
    let mut title = format!(
        "{} attempt {}{build}: {result}; triggered {}; queued {}",
        step.id,
        part.attempt,
        clock.describe(part.triggered_ms),
        ms(part.queue_ms())
    );
    if let Some(built) = part.build_ms() {
        let _ = write!(title, ", built {built}", built = ms(built));
    }
    let title = text(&title).into_owned();
    let started = part.started_ms.unwrap_or(part.ended_ms);
    let href = link(part.url.as_deref());
    if let Some(href) = href {
        let _ = writeln!(out, "<a href=\"{}\">", attr(href));
    }
    if started > part.triggered_ms {
        let _ = writeln!(
            out,
            "<rect class=\"queue\" id=\"q-{index}-{}\" x=\"{:.2}\" y=\"{top:.1}\" width=\"{:.2}\" height=\"{BAR_H:.0}\" fill=\"url(#queued)\" stroke=\"{QUEUE_STROKE}\" stroke-width=\"1\"><title>{title}</title></rect>",
            part.attempt,
            x(part.triggered_ms, axis_ms),
            w(part.triggered_ms, started, axis_ms)
        );
    }
    if let Some(s) = part.started_ms.filter(|&s| part.ended_ms > s) {
        let _ = writeln!(
            out,
            "<rect class=\"build\" id=\"b-{index}-{}\" x=\"{:.2}\" y=\"{top:.1}\" width=\"{:.2}\" height=\"{BAR_H:.0}\" fill=\"{}\" stroke=\"#263238\" stroke-width=\"0.5\"><title>{title}</title></rect>",
            part.attempt,
            x(s, axis_ms),
            w(s, part.ended_ms, axis_ms),
            result_fill(part.result.as_deref())
        );
    }
    if href.is_some() {
        out.push_str("</a>\n");
    }
}

fn legend(out: &mut String, top: f64) {
    out.push_str("<g class=\"legend\">\n");
    let y = top + 12.0;
    let _ = writeln!(
        out,
        "<rect x=\"{MARGIN:.1}\" y=\"{y:.1}\" width=\"28\" height=\"{BAR_H:.0}\" fill=\"url(#queued)\" stroke=\"{QUEUE_STROKE}\" stroke-width=\"1\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\">queued (hatched)</text>",
        MARGIN + 34.0,
        y + 11.0
    );
    let mut lx = MARGIN + 150.0;
    for (name, result) in [
        ("built: SUCCESS", "SUCCESS"),
        ("UNSTABLE", "UNSTABLE"),
        ("FAILURE", "FAILURE"),
        ("ABORTED / cancelled", "ABORTED"),
        ("no result", ""),
    ] {
        let _ = writeln!(
            out,
            "<rect x=\"{lx:.1}\" y=\"{y:.1}\" width=\"28\" height=\"{BAR_H:.0}\" fill=\"{}\" stroke=\"#263238\" stroke-width=\"0.5\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            result_fill(Some(result)),
            lx + 34.0,
            y + 11.0,
            text(name)
        );
        lx += 52.0 + name.len() as f64 * 7.5;
    }
    let y2 = y + 26.0;
    let _ = writeln!(
        out,
        "<rect x=\"{MARGIN:.1}\" y=\"{y2:.1}\" width=\"28\" height=\"{BAR_H:.0}\" fill=\"{CRITICAL_BAND}\"/>\
         <line x1=\"{MARGIN:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{CRITICAL}\" stroke-width=\"3\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\">critical path</text>\
         <path d=\"M{:.1},{:.1} H{:.1}\" stroke=\"{DEPENDENCY}\" marker-end=\"url(#arrow)\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\">waited for (dependency)</text>",
        y2 + BAR_H,
        MARGIN + 28.0,
        y2 + BAR_H,
        MARGIN + 34.0,
        y2 + 11.0,
        MARGIN + 150.0,
        y2 + 7.0,
        MARGIN + 180.0,
        MARGIN + 186.0,
        y2 + 11.0
    );
    out.push_str("</g>\n");
}

fn steps_table(out: &mut String, summary: &Summary) {
    out.push_str(
        "<h2>Steps</h2>\n<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n\
         <tr><th>step</th><th>job</th><th>server</th><th>build</th><th>status</th>\
         <th>result</th><th>builds (queued / built)</th><th>duration</th></tr>\n",
    );
    for step in &summary.steps {
        let build = match (step.number, link(step.url.as_deref())) {
            (Some(n), Some(url)) => format!("<a href=\"{}\">#{n}</a>", attr(url)),
            (Some(n), None) => format!("#{n}"),
            (None, _) => "-".to_string(),
        };
        let attempts: Vec<String> = timeline::segments(step)
            .iter()
            .map(|part| {
                let number = match (part.number, link(part.url.as_deref())) {
                    (Some(n), Some(url)) => format!("<a href=\"{}\">#{n}</a> ", attr(url)),
                    (Some(n), None) => format!("#{n} "),
                    (None, _) => String::new(),
                };
                format!(
                    "{number}{}: {} / {}",
                    text(part.result.as_deref().unwrap_or("no result")),
                    ms(part.queue_ms()),
                    part.build_ms().map_or("-".to_string(), ms)
                )
            })
            .collect();
        let duration = if step.status == StepStatus::Skipped {
            "-".to_string()
        } else {
            ms(step.duration_ms)
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{build}</td><td>{}</td><td>{}</td><td>{}</td><td>{duration}</td></tr>",
            text(&step.id),
            text(step.job.as_deref().unwrap_or("-")),
            text(&step.server),
            text(step.status.as_str()),
            text(step.result.as_deref().unwrap_or("-")),
            if attempts.is_empty() {
                "-".to_string()
            } else {
                attempts.join("<br>")
            }
        );
    }
    out.push_str("</table>\n");
}

/// Each step that did not pass: why, and what its build tells.
fn failures(out: &mut String, summary: &Summary) {
    let failed: Vec<&StepSummary> = summary
        .steps
        .iter()
        .filter(|s| s.status != StepStatus::Passed && s.status != StepStatus::Skipped)
        .collect();
    if failed.is_empty() {
        return;
    }
    out.push_str("<h2>Failures</h2>\n");
    for step in failed {
        let build = match (&step.job, step.number) {
            (Some(job), Some(n)) => format!(" ({job} #{n})"),
            (Some(job), None) => format!(" ({job})"),
            _ => String::new(),
        };
        let _ = writeln!(out, "<h3>{}{}</h3>", text(&step.id), text(&build));
        if let Some(url) = link(step.url.as_deref()) {
            let _ = writeln!(out, "<p><a href=\"{}\">{}</a></p>", attr(url), text(url));
        }
        out.push_str("<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n");
        let row = |out: &mut String, name: &str, value: &str| {
            let _ = writeln!(out, "<tr><th>{name}</th><td>{}</td></tr>", text(value));
        };
        row(out, "status", step.status.as_str());
        if let Some(message) = &step.message {
            row(out, "message", message);
        }
        if let Some(failure) = &step.failure {
            let d = &failure.diagnosis;
            if let Some(stage) = &d.stage {
                row(out, "stage", stage);
            }
            if let Some(error) = &d.error {
                row(out, "error", error);
            }
            if let Some(tests) = &d.tests {
                let mut value = format!(
                    "{} failed, {} skipped, {} in all",
                    tests.failed, tests.skipped, tests.total
                );
                for case in &tests.cases {
                    let _ = write!(value, "; {}.{}", case.class, case.name);
                    if let Some(error) = &case.error {
                        let _ = write!(value, ": {error}");
                    }
                }
                row(out, "tests", &value);
            }
            for why in &d.unavailable {
                row(out, "not known", why);
            }
        }
        for (name, value) in &step.outputs {
            row(out, &format!("output {}", text(name)), value);
        }
        out.push_str("</table>\n");
        if let Some(failure) = &step.failure
            && !failure.diagnosis.log_tail.is_empty()
        {
            let prefix = format!("{} | ", step.id);
            let _ = writeln!(
                out,
                "<p>log (last {}):</p>\n<pre>",
                super::count(failure.diagnosis.log_tail.len(), "line")
            );
            for line in &failure.diagnosis.log_tail {
                let shown = super::plain::log_line(&step.id, line);
                let shown = shown.strip_prefix(&prefix).unwrap_or(&shown);
                let _ = writeln!(out, "{}", text(shown));
            }
            out.push_str("</pre>\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::{AttemptTimes, Diagnosis, Failure, FailureKind, StepTimes};

    fn step(id: &str, status: StepStatus, times: Option<StepTimes>) -> StepSummary {
        let mut step = StepSummary::new(id.into(), "default".into(), Default::default());
        step.status = status;
        step.times = times;
        step
    }

    fn times(began_ms: u64, ended_ms: u64, attempts: &[(u64, u64, u64, &str)]) -> StepTimes {
        StepTimes {
            began_ms,
            ended_ms,
            attempts: attempts
                .iter()
                .enumerate()
                .map(|(i, &(t, s, e, result))| AttemptTimes {
                    attempt: i as u32 + 1,
                    triggered_ms: t,
                    started_ms: Some(s),
                    ended_ms: e,
                    number: Some(i as u64 + 7),
                    url: Some(format!("http://ci/job/x/{}/", i + 7)),
                    result: Some(result.into()),
                })
                .collect(),
        }
    }

    fn run() -> Summary {
        let mut build = step(
            "build <&\"x\">",
            StepStatus::Failed,
            Some(times(
                0,
                60_000,
                &[
                    (0, 5_000, 20_000, "FAILURE"),
                    (25_000, 26_000, 60_000, "FAILURE"),
                ],
            )),
        );
        build.url = Some("javascript:alert(1)".into());
        build.number = Some(8);
        build.attempts = 2;
        build.failure = Some(Failure {
            kind: FailureKind::Result,
            diagnosis: Diagnosis {
                stage: Some("Test".into()),
                error: Some("exit <1>".into()),
                log_tail: vec!["\u{1b}[31mboom</pre><script>".into()],
                ..Diagnosis::default()
            },
        });
        let mut skipped = step("ship", StepStatus::Skipped, None);
        skipped.needs = vec![build.id.clone()];
        skipped.message = Some("`build` failed".into());
        Summary {
            pipeline: "rel".into(),
            status: RunStatus::Failed,
            exit_code: 1,
            started_at: "2026-12-01T05:00:00Z".into(),
            duration_ms: 61_000,
            steps: vec![build, skipped],
            utc_offset_s: Some(3600),
        }
    }

    #[test]
    fn the_page_uses_no_script_style_or_foreign_url_and_escapes_every_text() {
        let page = render(&run());
        for banned in ["<script", "<style", "style=", "javascript:", "@import"] {
            assert!(!page.contains(banned), "{banned} in {page}");
        }
        assert!(
            page.contains("build &lt;&amp;&quot;x&quot;&gt;")
                || page.contains("build &lt;&amp;\"x\"&gt;")
        );
        assert!(page.contains("boom&lt;/pre&gt;&lt;script&gt;"), "{page}");
        assert!(page.contains("<a href=\"http://ci/job/x/7/\">"));
        assert!(!page.contains('\u{1b}'));
    }

    #[test]
    fn retries_are_separate_segments_and_skips_are_said() {
        let page = render(&run());
        for id in ["q-0-1", "b-0-1", "q-0-2", "b-0-2"] {
            assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(page.contains("failed ×2"));
        assert!(page.contains("skipped: `build` failed"));
        assert!(page.contains("2026-12-01 05:00:00 UTC (2026-12-01 06:00:00 local, UTC+01:00)"));
        assert!(
            page.contains("Critical path (marked in orange): build &lt;&amp;"),
            "{page}"
        );
    }

    #[test]
    fn the_same_report_gives_the_same_page() {
        assert_eq!(render(&run()), render(&run()));
    }

    #[test]
    fn a_hundred_and_twenty_steps_grow_the_page_one_row_each_without_overlap() {
        let mut summary = run();
        summary.steps = (0..120)
            .map(|i| {
                let at = i as u64 * 1_000;
                let mut s = step(
                    &format!("step-{i:03}-with-a-long-name-that-would-not-fit-its-column"),
                    StepStatus::Passed,
                    Some(times(
                        at,
                        at + 5_000,
                        &[(at, at + 1_000, at + 5_000, "SUCCESS")],
                    )),
                );
                s.needs = (i > 0)
                    .then(|| format!("step-{:03}", i - 1))
                    .into_iter()
                    .collect();
                s
            })
            .collect();
        let page = render(&summary);
        let height = AXIS_H * 2.0 + 120.0 * ROW_H + LEGEND_H;
        assert!(
            page.contains(&format!(" height=\"{height:.0}\" ")),
            "{height}"
        );
        // Each row's label sits one row below the last, and is cut to its column.
        let mut last_y = 0.0;
        for i in 0..120 {
            let row = &page[page.find(&format!("id=\"step-{i}\"")).unwrap()..];
            let label = &row[row.find("<text").unwrap()..];
            let y: f64 = label
                .split("y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(y - last_y >= ROW_H - 0.01, "row {i} at {y} after {last_y}");
            last_y = y;
            let shown = label
                .split("</title>")
                .nth(1)
                .unwrap()
                .split("</text>")
                .next()
                .unwrap();
            assert!(shown.chars().count() <= LABEL_CHARS, "{shown}");
        }
    }

    #[test]
    fn long_labels_are_cut_and_keep_their_full_text_in_a_title() {
        let long = "x".repeat(80);
        let mut summary = run();
        summary.steps[1].id = long.clone();
        let page = render(&summary);
        assert!(page.contains(&format!("<title>{long}</title>")));
        assert!(page.contains(&format!("{}…", "x".repeat(LABEL_CHARS - 1))));
    }
}

//! Terminal progress: a spinner per queued step (with Jenkins' reason), a bar per building step
//! when Jenkins knows how long it usually takes (with an ETA), and a final mark per step.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Event;
use super::plain::clean;
use super::time::short;

pub struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, Step>,
    /// A byte bar per artifact being downloaded, by step and path.
    downloads: HashMap<(String, String), ProgressBar>,
    /// Pipeline time per real time: estimates are in pipeline time, bars move in real time.
    pub scale: f64,
    /// While a question is on the terminal: the lines printed meanwhile, shown after it.
    held: Option<Vec<String>>,
}

struct Step {
    bar: ProgressBar,
    started: Option<(Instant, u64)>,
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} [{bar:24}] {msg} (ETA {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn download_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "  {prefix:.bold} [{bar:24}] {bytes}/{total_bytes} {wide_msg} ({bytes_per_sec})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

fn done_style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix:.bold} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: HashMap::new(),
            downloads: HashMap::new(),
            scale: 1.0,
            held: None,
        }
    }

    fn println(&mut self, line: String) -> std::io::Result<()> {
        match &mut self.held {
            Some(held) => {
                held.push(line);
                Ok(())
            }
            None => self.multi.println(line),
        }
    }

    /// Takes the bars off the terminal and draws nothing until `release`. The bars' own lock
    /// (`MultiProgress::suspend`) cannot be held while someone types: every other step's
    /// progress would wait on it.
    pub fn hold(&mut self) {
        let _ = self.multi.clear();
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
        self.held.get_or_insert_with(Vec::new);
    }

    /// Draws the bars again, after the lines held back meanwhile.
    pub fn release(&mut self) {
        self.multi.set_draw_target(ProgressDrawTarget::stderr());
        for line in self.held.take().unwrap_or_default() {
            let _ = self.multi.println(line);
        }
    }

    fn bar(&mut self, step: &str) -> &mut Step {
        let multi = &self.multi;
        self.bars.entry(step.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(spinner_style());
            bar.set_prefix(step.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            Step { bar, started: None }
        })
    }

    pub fn show(&mut self, event: &Event<'_>) {
        match event {
            Event::RunStarted { .. } => {}
            Event::Queued {
                step,
                job,
                queue_id,
            } => {
                let s = self.bar(step);
                s.bar
                    .set_message(format!("{job}: queued (item {queue_id})"));
            }
            Event::Input {
                step, id, message, ..
            } => {
                let s = self.bar(step);
                s.bar
                    .set_message(format!("waiting for input {id}: {}", clean(message)));
            }
            Event::Waiting { step, why } => {
                let s = self.bar(step);
                s.bar.set_message(format!("queued: {}", clean(why)));
            }
            Event::Started {
                step,
                number,
                estimated_ms,
                ..
            } => {
                let s = self.bar(step);
                match estimated_ms {
                    Some(ms) if *ms > 0 => {
                        s.bar.set_style(bar_style());
                        s.bar.set_length(*ms as u64);
                        s.bar.set_position(0);
                        s.started = Some((Instant::now(), *ms as u64));
                    }
                    _ => s.started = None,
                }
                s.bar.set_message(format!("building #{number}"));
            }
            Event::Finished {
                step,
                status,
                result,
                number,
                duration_ms,
                message,
            } => {
                let s = self.bar(step);
                let mut text = status.as_str().to_string();
                if let Some(result) = result {
                    text.push_str(&format!(" {result}"));
                }
                if let Some(number) = number {
                    text.push_str(&format!(" #{number}"));
                }
                text.push_str(&format!(
                    " in {}",
                    short(Duration::from_millis(*duration_ms))
                ));
                if let Some(message) = message {
                    text.push_str(&format!(": {}", clean(message)));
                }
                s.bar.set_style(done_style());
                s.bar.finish_with_message(text);
            }
            Event::Skipped { step, reason } => {
                let s = self.bar(step);
                s.bar.set_style(done_style());
                s.bar.finish_with_message(format!("skipped: {reason}"));
            }
            Event::Log { step, line } => {
                let _ = self.println(super::plain::log_line(step, line));
            }
            Event::Download {
                step,
                path,
                file,
                received,
                total,
                done,
            } => {
                let key = (step.to_string(), path.to_string());
                if *done {
                    if let Some(bar) = self.downloads.remove(&key) {
                        bar.finish_and_clear();
                    }
                    let line = super::plain::download_line(step, path, file, *received);
                    let _ = self.println(line);
                } else {
                    let multi = &self.multi;
                    let bar = self.downloads.entry(key).or_insert_with(|| {
                        let bar = multi.add(ProgressBar::new(total.unwrap_or(0)));
                        bar.set_style(download_style());
                        bar.set_prefix(step.to_string());
                        bar.set_message(clean(path));
                        bar
                    });
                    if let Some(total) = total {
                        bar.set_length(*total);
                    }
                    bar.set_position(*received);
                }
            }
            Event::Note { step, message } => {
                let text = clean(message);
                match step {
                    Some(step) => self.bar(step).bar.set_message(text),
                    None => {
                        let _ = self.println(text);
                    }
                }
            }
        }
        self.tick();
    }

    /// Moves building bars along with the time elapsed against Jenkins' estimate.
    pub fn tick(&mut self) {
        for step in self.bars.values() {
            if let Some((since, estimate)) = step.started {
                let elapsed = (since.elapsed().as_millis() as f64 * self.scale) as u64;
                step.bar
                    .set_position(elapsed.min(estimate.saturating_sub(1)));
            }
        }
    }

    pub fn clear(&mut self) {
        for (_, bar) in self.downloads.drain() {
            bar.finish_and_clear();
        }
        for step in self.bars.values() {
            if !step.bar.is_finished() {
                step.bar.finish();
            }
        }
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_has_a_bar_until_it_is_done() {
        let mut bars = Bars::new();
        let event = |received, done| Event::Download {
            step: "build",
            path: "dist/app.tar.gz",
            file: "out/dist/app.tar.gz",
            received,
            total: Some(50 << 20),
            done,
        };
        bars.show(&event(1 << 20, false));
        bars.show(&event(2 << 20, false));
        assert_eq!(bars.downloads.len(), 1);
        let bar = &bars.downloads[&("build".to_string(), "dist/app.tar.gz".to_string())];
        assert_eq!((bar.position(), bar.length()), (2 << 20, Some(50 << 20)));
        bars.show(&event(50 << 20, true));
        assert!(bars.downloads.is_empty());
    }
}

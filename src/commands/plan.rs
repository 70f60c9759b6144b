//! `jrun plan`: the steps a pipeline would run, in order, with what can be rendered before it runs.

use std::fmt::Write;

use crate::cli::PlanArgs;
use crate::exit::ExitStatus;
use crate::pipeline::{self, StepKind};
use crate::report;

use super::common::{CommandError, base_context, environment, load, to_stdout};

pub fn plan(args: PlanArgs) -> Result<ExitStatus, CommandError> {
    let pipeline = load(&args.pipeline, &args.set)?;
    let ctx = base_context(&pipeline, &environment(), &crate::engine::run_facts());
    let preview = |t: &pipeline::Template, step: &pipeline::Step| -> String {
        if !t.step_refs().is_empty() {
            format!("{} (known when it runs)", t.source())
        } else {
            t.render(&ctx.clone().for_step(step))
                .unwrap_or_else(|e| format!("{} (cannot render: {e})", t.source()))
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pipeline {}: {}",
        pipeline.name,
        report::count(pipeline.steps.len(), "step")
    );
    for (i, step) in pipeline.steps.iter().enumerate() {
        let needs: Vec<&str> = step
            .needs
            .iter()
            .map(|d| pipeline.steps[*d].id.as_str())
            .collect();
        let after = if needs.is_empty() {
            String::new()
        } else {
            format!(" after {}", needs.join(", "))
        };
        let condition = match &step.condition {
            pipeline::Condition::OnSuccess => String::new(),
            pipeline::Condition::OnFailure => " if on_failure".to_string(),
            pipeline::Condition::Always => " if always".to_string(),
            pipeline::Condition::Expr(t) => format!(" if {}", t.source()),
        };
        match &step.kind {
            StepKind::Job(job) => {
                let _ = writeln!(
                    out,
                    "{}. {}: job {}{after}{condition}{}",
                    i + 1,
                    step.id,
                    preview(&job.job, step),
                    if job.wait { "" } else { " (not waited for)" }
                );
                for (name, value) in &job.params {
                    let _ = writeln!(out, "     {name} = {}", preview(value, step));
                }
                if let Some(description) = &job.description {
                    let _ = writeln!(out, "     description: {}", preview(description, step));
                }
                if let Some(file) = &job.outputs.from_artifact {
                    let _ = writeln!(out, "     outputs: every key of artifact {file}");
                }
                for (name, source) in &job.outputs.named {
                    let _ = writeln!(out, "     output {name} from {}", source.describe());
                }
            }
            StepKind::Await(gate) => {
                let wanted: Vec<&str> = gate.results.iter().map(|r| r.as_str()).collect();
                let _ = writeln!(
                    out,
                    "{}. {}: await {} last build {}{after}{condition}",
                    i + 1,
                    step.id,
                    preview(&gate.job, step),
                    wanted.join("|")
                );
            }
        }
    }
    to_stdout(&out);
    Ok(ExitStatus::Success)
}

//! Rendering before the run what only vars and the pipeline's name decide.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::pipeline::model::{Condition, Step};
use crate::pipeline::render::{RenderContext, Template};

use super::lowering::{Lowering, MatrixPlan, pos_of};

impl Lowering<'_> {
    /// What a template may read before the run: vars and the pipeline's name, nothing else.
    fn offline_context(&self, vars: &BTreeMap<String, Value>) -> RenderContext {
        RenderContext {
            vars: std::sync::Arc::new(vars.clone()),
            pipeline_name: self.doc.name.clone(),
            ..RenderContext::default()
        }
    }

    /// An `if:` expression that reads only `vars` and `pipeline.name` renders now what it
    /// will render in the run: one that is neither true nor false is refused before anything
    /// runs, not after the steps before it have.
    pub(super) fn check_offline_conditions(
        &mut self,
        built: &[Option<(Step, Option<MatrixPlan>)>],
        vars: &BTreeMap<String, Value>,
    ) {
        let ctx = self.offline_context(vars);
        for (step, _) in built.iter().flatten() {
            let Some(template) = step.condition.expr() else {
                continue;
            };
            if !template.is_offline() {
                continue;
            }
            let problem = match template.render(&ctx) {
                Ok(rendered) => Condition::truth(&rendered).err(),
                Err(err) => Some(err.to_string()),
            };
            if let Some(problem) = problem {
                self.diags
                    .at_pos(pos_of(template), format!("step `{}`: {problem}", step.id));
            }
        }
    }

    /// Renders every value whose template reads only what is settled before the run (vars,
    /// the pipeline's name), so that what would stop the run there, such as a value past the
    /// size or work bounds, is found now. Conditions are rendered by
    /// [`Lowering::check_offline_conditions`].
    pub(super) fn check_offline_values(
        &mut self,
        server_templates: &[&Template],
        built: &[Option<(Step, Option<MatrixPlan>)>],
        vars: &BTreeMap<String, Value>,
    ) {
        let ctx = self.offline_context(vars);
        let step_templates = built.iter().flatten().flat_map(|(step, _)| {
            let condition = step.condition.expr();
            step.templates()
                .filter(move |t| !condition.is_some_and(|c| std::ptr::eq(c, *t)))
        });
        // A 1,000-step file repeats the same few templates; each renders the same everywhere.
        let mut rendered: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for template in server_templates.iter().copied().chain(step_templates) {
            if template.is_literal() || !template.is_offline() {
                continue;
            }
            if rendered.contains(template.source()) {
                continue;
            }
            match template.render(&ctx) {
                Ok(_) => {
                    rendered.insert(template.source());
                }
                Err(err) => self.diags.at_pos(pos_of(template), err.to_string()),
            }
        }
    }
}

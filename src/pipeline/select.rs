//! Partial runs: which steps `--only` and `--from` select, checked so that no selected step
//! reads the facts of a step that will not run.

use std::collections::HashSet;

use super::diagnostic::{Diagnostic, PipelineError};
use super::model::Pipeline;
use super::suggest;

impl Pipeline {
    /// The steps a partial run runs, as one flag per entry of [`Pipeline::steps`].
    ///
    /// - `only`: exactly these steps.
    /// - `from`: these steps and every step that depends on them, directly or not.
    /// - Both given: the steps either selects (their union). Both empty: every step.
    ///
    /// An id is a step id, the id of a matrix step as written (all its cells), or the id of
    /// one cell (`deploy[REGION=eu]`). Unknown ids are errors naming the nearest id. So is a
    /// selected step whose templates (its `if:` expression included) read the facts of a
    /// step that is not selected, since those facts will not exist.
    pub fn select(&self, only: &[String], from: &[String]) -> Result<Vec<bool>, PipelineError> {
        let count = self.steps.len();
        if only.is_empty() && from.is_empty() {
            return Ok(vec![true; count]);
        }
        let mut diagnostics = Vec::new();
        let mut selected = vec![false; count];
        let mut seeds = vec![false; count];
        for (option, ids, marks) in [
            ("--only", only, &mut selected),
            ("--from", from, &mut seeds),
        ] {
            for id in ids {
                let matched = self.matching(id);
                if matched.is_empty() {
                    diagnostics.push(self.general(self.unknown(option, id)));
                }
                for index in matched {
                    marks[index] = true;
                }
            }
        }
        // Dependencies always come first in `steps`, so one pass finds every dependent.
        let mut reached = vec![false; count];
        for (index, step) in self.steps.iter().enumerate() {
            reached[index] = seeds[index] || step.needs.iter().any(|&dep| reached[dep]);
        }
        for (flag, reached) in selected.iter_mut().zip(reached) {
            *flag |= reached;
        }
        if diagnostics.is_empty() {
            self.check_selected_facts(&selected, &mut diagnostics);
        }
        if diagnostics.is_empty() {
            Ok(selected)
        } else {
            Err(PipelineError::new(diagnostics))
        }
    }

    /// The steps an id names: one step, one cell, or every cell of a matrix step.
    fn matching(&self, id: &str) -> Vec<usize> {
        if let Some(index) = self.step_index(id) {
            return vec![index];
        }
        self.cells(id)
    }

    fn unknown(&self, option: &str, id: &str) -> String {
        let mut names: Vec<&str> = Vec::with_capacity(self.steps.len());
        let mut seen: HashSet<&str> = HashSet::new();
        for step in &self.steps {
            if let Some(cell) = &step.matrix
                && seen.insert(cell.group.as_str())
            {
                names.push(cell.group.as_str());
            }
            names.push(step.id.as_str());
        }
        let mut message = format!("`{option} {id}`: the pipeline has no step `{id}`");
        if let Some(near) = suggest::closest(id, names.iter().copied()) {
            message.push_str(&format!("; did you mean `{near}`?"));
        }
        message.push_str(&format!(
            " (step ids are: {})",
            suggest::list(names.iter().copied())
        ));
        message
    }

    fn check_selected_facts(&self, selected: &[bool], diagnostics: &mut Vec<Diagnostic>) {
        // The cells of a matrix step share its templates: one message for all of them.
        let mut reported: HashSet<(String, String)> = HashSet::new();
        for (step, _) in self.steps.iter().zip(selected).filter(|(_, on)| **on) {
            let name = step.matrix.as_ref().map_or(&step.id, |cell| &cell.group);
            for template in step.templates() {
                for id in template.step_refs() {
                    let Some(other) = self.step_index(&id) else {
                        continue;
                    };
                    if selected[other]
                        || !reported.insert((template.field().to_string(), id.clone()))
                    {
                        continue;
                    }
                    let what = if step.condition.expr() == Some(template) {
                        "its `if:` expression"
                    } else {
                        "it"
                    };
                    diagnostics.push(Diagnostic {
                        file: self.file.clone(),
                        line: template.line(),
                        column: template.column(),
                        message: format!(
                            "step `{name}` is selected and {what} reads the facts of step \
                             `{id}` ({} reads `steps.{id}.*`), but `{id}` is not selected, so \
                             its facts will not exist; select `{id}` too (`--only {id}`), or \
                             run from an earlier step",
                            template.field()
                        ),
                    });
                }
            }
        }
    }

    fn general(&self, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: None,
            column: None,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const FILE: &str = "name: x
steps:
  - id: build
    job: build
  - id: lint
    job: lint
    needs: []
  - id: deploy
    job: deploy
    needs: [build]
    matrix: { REGION: [eu, us] }
    params: { B: \"{{steps.build.number}}\" }
  - id: smoke
    job: smoke
    needs: [deploy]
  - id: announce
    job: notify
    needs: [smoke, lint]
    if: \"{{eq steps.lint.result 'SUCCESS'}}\"
";

    fn pipeline() -> Pipeline {
        crate::pipeline::load_str(FILE, Path::new("t.yaml"), &[]).unwrap()
    }

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    fn selected(p: &Pipeline, only: &[&str], from: &[&str]) -> Vec<String> {
        let flags = match p.select(&strings(only), &strings(from)) {
            Ok(flags) => flags,
            Err(err) => panic!("{err}"),
        };
        assert_eq!(flags.len(), p.steps.len());
        p.steps
            .iter()
            .zip(flags)
            .filter(|(_, on)| *on)
            .map(|(step, _)| step.id.clone())
            .collect()
    }

    fn problems(p: &Pipeline, only: &[&str], from: &[&str]) -> Vec<String> {
        match p.select(&strings(only), &strings(from)) {
            Ok(_) => panic!("expected problems"),
            Err(err) => err.diagnostics.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn nothing_asked_selects_every_step() {
        let p = pipeline();
        assert_eq!(p.select(&[], &[]).unwrap(), vec![true; p.steps.len()]);
    }

    #[test]
    fn only_selects_exactly_the_steps_named() {
        let p = pipeline();
        assert_eq!(selected(&p, &["lint"], &[]), ["lint"]);
        assert_eq!(selected(&p, &["build", "lint"], &[]), ["build", "lint"]);
    }

    #[test]
    fn a_matrix_id_selects_all_its_cells_and_a_cell_id_one_cell() {
        let p = pipeline();
        assert_eq!(
            selected(&p, &["build", "deploy"], &[]),
            ["build", "deploy[REGION=eu]", "deploy[REGION=us]"]
        );
        assert_eq!(
            selected(&p, &["build", "deploy[REGION=us]"], &[]),
            ["build", "deploy[REGION=us]"]
        );
    }

    #[test]
    fn from_selects_the_steps_and_everything_that_depends_on_them() {
        let p = pipeline();
        // `announce` reads the facts of `lint`, so `lint` comes along with `--only`.
        assert_eq!(
            selected(&p, &["lint"], &["build"]),
            [
                "build",
                "lint",
                "deploy[REGION=eu]",
                "deploy[REGION=us]",
                "smoke",
                "announce"
            ]
        );
        // From one cell: that cell and what needs the matrix step (which needs every cell).
        assert_eq!(
            selected(&p, &["build", "lint"], &["deploy[REGION=eu]"]),
            ["build", "lint", "deploy[REGION=eu]", "smoke", "announce"]
        );
    }

    #[test]
    fn unknown_ids_are_errors_naming_the_nearest_id() {
        let p = pipeline();
        let m = problems(&p, &["biuld"], &["deplyo"]);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(
            m[0].starts_with(
                "t.yaml: `--only biuld`: the pipeline has no step `biuld`; did you mean `build`?"
            ),
            "{m:?}"
        );
        assert!(m[1].contains("`--from deplyo`"), "{m:?}");
        assert!(m[1].contains("did you mean `deploy`?"), "{m:?}");
        assert!(
            m[1].contains("step ids are: build, lint, deploy, deploy[REGION=eu]"),
            "{m:?}"
        );
    }

    #[test]
    fn a_selected_step_may_not_read_facts_of_a_step_left_out() {
        let p = pipeline();
        let m = problems(&p, &[], &["deploy"]);
        // Both cells share one template: one message, at the template, naming both steps.
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(
            m[0].starts_with(
                "t.yaml:12:18: step `deploy` is selected and it reads the facts of step `build`"
            ),
            "{m:?}"
        );
        assert!(m[0].contains("steps[2].params.B"), "{m:?}");
        assert!(
            m[0].contains("but `build` is not selected, so its facts will not exist"),
            "{m:?}"
        );
        assert!(m[1].starts_with("t.yaml:19:9: step `announce` is selected and its `if:` expression reads the facts of step `lint`"), "{m:?}");
        assert!(selected(&p, &["lint"], &["build"]).len() == 6);
    }
}

//! The state one load carries through its passes, and the small helpers they share.

use std::time::Duration;

use crate::pipeline::file::{PipelineFile, RetryFile, StepFile};
use crate::pipeline::locate::{Pos, Spans, YamlPath};
use crate::pipeline::model::{BranchScan, Poll, ResultName};
use crate::pipeline::render::{Template, TemplateCache};

use super::diagnostics::Diagnostics;

/// One step of the file, in file order.
pub(super) struct Node<'d> {
    pub(super) doc: &'d StepFile,
    pub(super) path: YamlPath,
    pub(super) id: String,
}

/// One load in progress: the parsed file, where its nodes are, and the problems found so far.
/// Each pass is a method on it, in the file named for what that pass checks.
pub(super) struct Lowering<'a> {
    pub(super) doc: &'a PipelineFile,
    pub(super) spans: &'a Spans,
    pub(super) diags: Diagnostics<'a>,
    pub(super) cache: TemplateCache,
}

/// `defaults:` with the built-in defaults under it, ready to fill in each step.
pub(super) struct Defaults {
    pub(super) expect: Vec<ResultName>,
    pub(super) timeout: Option<Duration>,
    pub(super) queue_timeout: Duration,
    pub(super) poll: Poll,
    pub(super) retry: Option<RetryFile>,
    pub(super) trigger_id: Option<String>,
    pub(super) branch_scan: BranchScan,
    pub(super) scan_timeout: Duration,
}

/// What a `matrix:` step expands into.
pub(super) struct MatrixPlan {
    pub(super) cells: Vec<Vec<(String, String)>>,
    pub(super) fail_fast: bool,
    pub(super) max_parallel: Option<usize>,
}

/// Where a template was written, for a diagnostic about it.
pub(super) fn pos_of(template: &Template) -> Option<Pos> {
    Some(Pos {
        line: template.line()?,
        column: template.column()?,
    })
}

/// Step ids are used in templates as `steps.<id>.number`; Handlebars reads these characters as
/// one path segment.
pub(super) fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The keys a step sets, to tell which of them go together.
pub(super) fn set_keys(step: &StepFile) -> Vec<&'static str> {
    let StepFile {
        id,
        job,
        await_,
        parallel,
        params,
        expect,
        wait,
        timeout,
        queue_timeout,
        poll,
        condition,
        continue_on_failure,
        token,
        trigger_id,
        needs,
        server,
        retry,
        matrix,
        fail_fast,
        max_parallel,
        outputs,
        description,
        artifacts,
        branch,
        branch_scan,
        scan_timeout,
        input,
        input_timeout,
        input_default,
        timeout_counts_input,
    } = step;
    [
        ("id", id.is_some()),
        ("job", job.is_some()),
        ("await", await_.is_some()),
        ("parallel", parallel.is_some()),
        ("params", params.is_some()),
        ("expect", expect.is_some()),
        ("wait", wait.is_some()),
        ("timeout", timeout.is_some()),
        ("queue_timeout", queue_timeout.is_some()),
        ("poll", poll.is_some()),
        ("if", condition.is_some()),
        ("continue_on_failure", continue_on_failure.is_some()),
        ("token", token.is_some()),
        ("trigger_id", trigger_id.is_some()),
        ("needs", needs.is_some()),
        ("server", server.is_some()),
        ("retry", retry.is_some()),
        ("matrix", matrix.is_some()),
        ("fail_fast", fail_fast.is_some()),
        ("max_parallel", max_parallel.is_some()),
        ("outputs", outputs.is_some()),
        ("description", description.is_some()),
        ("artifacts", artifacts.is_some()),
        ("branch", branch.is_some()),
        ("branch_scan", branch_scan.is_some()),
        ("scan_timeout", scan_timeout.is_some()),
        ("input", input.is_some()),
        ("input_timeout", input_timeout.is_some()),
        ("input_default", input_default.is_some()),
        ("timeout_counts_input", timeout_counts_input.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

impl Lowering<'_> {
    pub(super) fn pos(&self, path: &YamlPath) -> Option<Pos> {
        self.spans.get(path)
    }

    pub(super) fn template(
        &mut self,
        source: &str,
        path: &YamlPath,
        secret: bool,
    ) -> Option<Template> {
        let pos = self.pos(path);
        match Template::compile_cached(&mut self.cache, source, &path.to_string(), pos, secret) {
            Ok(template) => Some(template),
            Err(problems) => {
                for problem in problems {
                    self.diags.at_pos(pos, problem);
                }
                None
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_words_with_dashes_and_underscores() {
        for id in ["build", "deploy-eu", "step_2", "A1"] {
            assert!(is_id(id), "{id}");
        }
        for id in ["", "deploy eu", "a.b", "x/y", "{{x}}", "é"] {
            assert!(!is_id(id), "{id}");
        }
    }
}

//! From text to a validated [`Pipeline`]: parse, check which keys go together, lower the steps
//! to one graph, compile and check every template, and report every problem with its place.
//!
//! This file holds the entry points and the order of the passes ([`Lowering::run`]); each
//! pass lives in the file named for what it checks, and `lowering` holds the state they share.

mod defaults;
mod diagnostics;
mod lowering;
mod matrix;
mod offline;
mod refs;
mod servers;
mod steps;
mod syntax;
#[cfg(test)]
mod tests;
mod vars;

use std::collections::HashMap;
use std::path::Path;

use crate::pipeline::depth;
use crate::pipeline::diagnostic::{Diagnostic, PipelineError};
use crate::pipeline::file::PipelineFile;
use crate::pipeline::graph;
use crate::pipeline::locate::{self, Expansion, Pos, Spans, YamlPath};
use crate::pipeline::model::{Pipeline, ServerSpec, Step};
use crate::pipeline::render::{Template, TemplateCache};

use diagnostics::Diagnostics;
use lowering::{Lowering, MatrixPlan};
use matrix::expand;
use syntax::{is_blank, syntax_diagnostic};

/// How many values YAML aliases may add to a file, beyond one per byte of its text (which no
/// file without aliases reaches).
const MAX_ALIAS_VALUES: usize = 100_000;

pub(crate) fn load_bytes(
    bytes: &[u8],
    origin: &Path,
    overrides: &[(String, String)],
) -> Result<Pipeline, PipelineError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => load_text(text, origin, overrides),
        Err(err) => {
            let valid = &bytes[..err.valid_up_to()];
            // The prefix is valid UTF-8 by definition of `valid_up_to`.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let line = prefix.matches('\n').count() + 1;
            let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let byte = bytes.get(err.valid_up_to()).copied().unwrap_or_default();
            Err(PipelineError::new(vec![Diagnostic {
                file: origin.to_path_buf(),
                line: Some(line),
                column: Some(column),
                message: format!(
                    "the file is not valid UTF-8 (byte 0x{byte:02X}); save it as UTF-8"
                ),
            }]))
        }
    }
}

pub(crate) fn load_text(
    text: &str,
    origin: &Path,
    overrides: &[(String, String)],
) -> Result<Pipeline, PipelineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut diags = Diagnostics {
        file: origin,
        text,
        list: Vec::new(),
        dropped: 0,
    };
    if is_blank(text) {
        diags.at_pos(
            Some(Pos { line: 1, column: 1 }),
            "the file is empty; a pipeline needs at least `name:` and a list of `steps:`",
        );
        return Err(diags.into_error());
    }
    // Before parsing: the parser's time grows with the square of this depth.
    if let Err(pos) = depth::check(text) {
        diags.at_pos(
            Some(pos),
            format!(
                "collections in brackets (`[...]`, `{{...}}`) nest more than {} deep here; \
                 a pipeline file needs only a few levels",
                depth::MAX_FLOW_DEPTH
            ),
        );
        return Err(diags.into_error());
    }
    // Only an alias (`*name`) can make the document larger than its text.
    if text.contains('*') {
        let budget = MAX_ALIAS_VALUES + text.len();
        let refused = match locate::expansion(text, budget) {
            Ok(()) => None,
            Err(Expansion::TooManyValues(pos)) => Some((
                pos,
                format!(
                    "YAML aliases (`*name`) expand the file past {budget} values while reading \
                     this one (at most {MAX_ALIAS_VALUES} more than the file has bytes); repeat \
                     fewer values"
                ),
            )),
            Err(Expansion::TooManyAliases(pos)) => Some((
                pos,
                "YAML aliases (`*name`) are followed too many times while reading this value; \
                 repeat fewer values"
                    .to_string(),
            )),
        };
        if let Some((pos, message)) = refused {
            diags.at_pos(Some(pos), message);
            return Err(diags.into_error());
        }
    }
    let doc: PipelineFile = match yaml_serde::from_str(text) {
        Ok(doc) => doc,
        Err(err) => {
            diags.push(syntax_diagnostic(origin, text, &err));
            return Err(diags.into_error());
        }
    };
    let spans = Spans::build(text);
    let lowering = Lowering {
        doc: &doc,
        spans: &spans,
        diags,
        cache: TemplateCache::default(),
    };
    lowering.run(overrides)
}

impl Lowering<'_> {
    fn run(mut self, overrides: &[(String, String)]) -> Result<Pipeline, PipelineError> {
        if self.doc.name.trim().is_empty() {
            self.diags.at(
                &YamlPath::root().key("name"),
                "`name` is empty; name the pipeline, e.g. `name: release`",
            );
        }
        let vars = self.vars(overrides);
        let server = match &self.doc.jenkins {
            Some(jenkins) => self.server(jenkins, &YamlPath::root().key("jenkins")),
            None => ServerSpec::default(),
        };
        let servers = self.servers();
        let defaults = self.defaults();

        let before = self.diags.count();
        let (nodes, entries) = self.flatten();
        // The graph needs sound ids; without them its checks would only repeat the problem.
        if self.diags.count() != before {
            return Err(self.diags.into_error());
        }
        let by_id: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.id.as_str(), i))
            .collect();
        let explicit = self.needs(&nodes, &by_id);
        let deps = graph::lower(&entries, &explicit);
        let order = match graph::topo_order(&deps) {
            Ok(order) => Some(order),
            Err(cycle) => {
                self.cycle(&nodes, &explicit, &cycle);
                None
            }
        };

        let mut built: Vec<Option<(Step, Option<MatrixPlan>)>> = Vec::with_capacity(nodes.len());
        let mut templates: Vec<Vec<Template>> = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let mut compiled = Vec::new();
            built.push(self.step(node, &defaults, &servers, deps[i].is_empty(), &mut compiled));
            templates.push(compiled);
        }
        let ids: Vec<&str> = nodes.iter().map(|node| node.id.as_str()).collect();
        let server_templates: Vec<&Template> = server
            .templates()
            .chain(servers.values().flat_map(ServerSpec::templates))
            .collect();
        if let Some(order) = &order {
            self.check_refs(
                &server_templates,
                &nodes,
                &templates,
                &deps,
                order,
                &by_id,
                &ids,
                &vars,
            );
        }
        let Some(order) = order else {
            return Err(self.diags.into_error());
        };
        if !self.diags.is_clean() {
            return Err(self.diags.into_error());
        }
        self.check_offline_conditions(&built, &vars);
        self.check_offline_values(&server_templates, &built, &vars);
        if !self.diags.is_clean() {
            return Err(self.diags.into_error());
        }

        let steps = expand(&order, &deps, built);
        Ok(Pipeline {
            name: self.doc.name.clone(),
            file: self.diags.file.to_path_buf(),
            server,
            servers,
            vars,
            steps,
        })
    }
}

//! Step ids, `needs`, cycles, and what each step's templates may read of other steps.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::pipeline::file::StepFile;
use crate::pipeline::graph::{self, NodeSet};
use crate::pipeline::locate::YamlPath;
use crate::pipeline::render::{StepAccess, Template};
use crate::pipeline::suggest;

use super::lowering::{Lowering, Node, is_id, pos_of, set_keys};
use super::matrix::matrix_size;

impl<'a> Lowering<'a> {
    /// Steps in file order with their ids, and the members of each entry of `steps:`.
    pub(super) fn flatten(&mut self) -> (Vec<Node<'a>>, Vec<Vec<usize>>) {
        let mut nodes = Vec::new();
        let mut entries = Vec::new();
        let steps_path = YamlPath::root().key("steps");
        if self.doc.steps.is_empty() {
            self.diags.at(
                &steps_path,
                "`steps` is empty; add at least one step, e.g. `- job: folder/name`",
            );
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, entry) in self.doc.steps.iter().enumerate() {
            let path = steps_path.index(i);
            let Some(members) = &entry.parallel else {
                if let Some(node) = self.node(entry, path, &mut seen) {
                    entries.push(vec![nodes.len()]);
                    nodes.push(node);
                }
                continue;
            };
            for key in set_keys(entry) {
                if key != "parallel" {
                    self.diags.at(
                        &path.key(key),
                        format!(
                            "a `parallel:` entry holds only its list of steps; move `{key}` onto \
                             its members"
                        ),
                    );
                }
            }
            if members.is_empty() {
                self.diags.at(
                    &path.key("parallel"),
                    "`parallel` is empty; list the steps that run at the same time",
                );
            }
            let mut group = Vec::new();
            for (j, member) in members.iter().enumerate() {
                let member_path = path.key("parallel").index(j);
                if member.parallel.is_some() {
                    self.diags.at(
                        &member_path.key("parallel"),
                        "`parallel` groups cannot be nested; list all the steps in one group, \
                         or use `needs` to shape the graph",
                    );
                    continue;
                }
                if let Some(node) = self.node(member, member_path, &mut seen) {
                    group.push(nodes.len());
                    nodes.push(node);
                }
            }
            entries.push(group);
        }
        (nodes, entries)
    }

    pub(super) fn node(
        &mut self,
        doc: &'a StepFile,
        path: YamlPath,
        seen: &mut HashMap<String, usize>,
    ) -> Option<Node<'a>> {
        let job = match (&doc.job, &doc.await_) {
            (Some(job), None) => job.as_str(),
            (None, Some(gate)) => gate.job.as_str(),
            (Some(_), Some(_)) => {
                self.diags.at(
                    &path.key("await"),
                    "a step has either `job:` (trigger a build) or `await:` (wait for one), \
                     not both; split it into two steps",
                );
                return None;
            }
            (None, None) => {
                self.diags.at(
                    &path,
                    "this step has neither `job:` nor `await:`; add `job: folder/name` to \
                     trigger a build, or `await: { job: folder/name }` to wait for one",
                );
                return None;
            }
        };
        let line = self.pos(&path).map_or(0, |p| p.line);
        let (id, explicit) = match &doc.id {
            Some(id) => {
                if !is_id(id) {
                    self.diags.at(
                        &path.key("id"),
                        format!(
                            "step id `{id}` may use only letters, digits, `-` and `_` \
                             (templates read it as `steps.<id>.number`)"
                        ),
                    );
                    return None;
                }
                (id.clone(), true)
            }
            None => {
                let last = job.trim_end_matches('/').rsplit('/').next().unwrap_or(job);
                if !is_id(last) {
                    let why = if job.contains("{{") {
                        format!("the job `{job}` is a template")
                    } else {
                        format!("`{last}` (from job `{job}`) is not a valid id")
                    };
                    self.diags.at(
                        &path,
                        format!(
                            "this step has no `id` and {why}; give it an explicit `id` made of \
                             letters, digits, `-` and `_`"
                        ),
                    );
                    return None;
                }
                (last.to_string(), false)
            }
        };
        if let Some(&first_line) = seen.get(&id) {
            if explicit {
                self.diags.at(
                    &path.key("id"),
                    format!(
                        "duplicate step id `{id}`: the step at line {first_line} has it too; \
                         give each step a unique `id`"
                    ),
                );
            } else {
                self.diags.at(
                    &path,
                    format!(
                        "this step has no `id`, and its job gives it the id `{id}`, which the \
                         step at line {first_line} already has; give this step an explicit \
                         unique `id`"
                    ),
                );
            }
            return None;
        }
        seen.insert(id.clone(), line);
        Some(Node { doc, path, id })
    }

    /// Each step's `needs`, as node indices; unknown ids are reported and left out.
    pub(super) fn needs(
        &mut self,
        nodes: &[Node],
        by_id: &HashMap<&str, usize>,
    ) -> Vec<Option<Vec<usize>>> {
        let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
        let mut explicit = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let Some(needs) = &node.doc.needs else {
                explicit.push(None);
                continue;
            };
            let mut resolved = Vec::with_capacity(needs.len());
            for (j, name) in needs.iter().enumerate() {
                let path = node.path.key("needs").index(j);
                match by_id.get(name.as_str()) {
                    Some(&dep) if dep == i => self.diags.at(
                        &path,
                        format!("step `{name}` needs itself; remove `{name}` from its `needs`"),
                    ),
                    Some(&dep) => resolved.push(dep),
                    None => {
                        let mut message = format!("step `{}` needs unknown step `{name}`", node.id);
                        if let Some(near) = suggest::nearest(name, ids.iter().copied()) {
                            message.push_str(&format!(" (did you mean `{near}`?)"));
                        }
                        message.push_str(&format!(
                            "; step ids are: {}",
                            suggest::list(ids.iter().copied())
                        ));
                        self.diags.at(&path, message);
                    }
                }
            }
            explicit.push(Some(resolved));
        }
        explicit
    }

    pub(super) fn cycle(
        &mut self,
        nodes: &[Node],
        explicit: &[Option<Vec<usize>>],
        cycle: &[usize],
    ) {
        let Some(&first) = cycle.first() else {
            return;
        };
        let mut names: Vec<&str> = cycle.iter().map(|&i| nodes[i].id.as_str()).collect();
        names.push(nodes[first].id.as_str());
        let mut message = format!(
            "the steps form a cycle: {} (each waits for the next); remove one of these \
             dependencies",
            names.join(" -> ")
        );
        let mut at = None;
        for (k, &from) in cycle.iter().enumerate() {
            let to = cycle[(k + 1) % cycle.len()];
            match &explicit[from] {
                Some(_) => {
                    if at.is_none() {
                        let j = nodes[from]
                            .doc
                            .needs
                            .as_ref()
                            .and_then(|needs| needs.iter().position(|n| *n == nodes[to].id));
                        let needs = nodes[from].path.key("needs");
                        at = Some(j.map_or(needs.clone(), |j| needs.index(j)));
                    }
                }
                None => message.push_str(&format!(
                    " (`{}` waits for `{}` because it comes after it in the list and has no \
                     `needs`)",
                    nodes[from].id, nodes[to].id
                )),
            }
        }
        let at = at.unwrap_or_else(|| nodes[first].path.clone());
        self.diags.at(&at, message);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_refs(
        &mut self,
        server_templates: &[&Template],
        nodes: &[Node],
        templates: &[Vec<Template>],
        deps: &[Vec<usize>],
        order: &[usize],
        by_id: &HashMap<&str, usize>,
        ids: &[&str],
        vars: &BTreeMap<String, Value>,
    ) {
        for template in server_templates {
            for problem in template.check_refs(vars, None, ids, None) {
                self.diags.at_pos(pos_of(template), problem);
            }
        }
        // Ancestor sets only exist if some template reads step facts; then all at once, in
        // one pass over the order (a bitset per step).
        let mut ancestors: Option<Vec<NodeSet>> = None;
        for (i, (node, templates)) in nodes.iter().zip(templates).enumerate() {
            let keys: Option<Vec<&str>> = node
                .doc
                .matrix
                .as_ref()
                .map(|m| m.0.iter().map(|(key, _)| key.as_str()).collect());
            let keys = keys.as_deref();
            if templates.iter().all(|t| t.step_refs().is_empty()) {
                for template in templates {
                    for problem in
                        template.check_refs(vars, Some(&|_: &str| StepAccess::Known), ids, keys)
                    {
                        self.diags.at_pos(pos_of(template), problem);
                    }
                }
                continue;
            }
            let sets = ancestors.get_or_insert_with(|| graph::all_ancestors(deps, order));
            let access = |id: &str| -> StepAccess {
                match by_id.get(id) {
                    None => StepAccess::Unknown,
                    Some(&other) if other == i => StepAccess::ItSelf,
                    Some(&other) if nodes[other].doc.matrix.is_some() => StepAccess::Matrix {
                        cells: matrix_size(nodes[other].doc.matrix.as_ref()),
                    },
                    Some(&other) if sets[i].contains(other) => StepAccess::Known,
                    Some(&other) => StepAccess::NotBefore {
                        step: node.id.clone(),
                        runs_after: sets[other].contains(i),
                    },
                }
            };
            for template in templates {
                for problem in template.check_refs(vars, Some(&access), ids, keys) {
                    self.diags.at_pos(pos_of(template), problem);
                }
                self.check_output_refs(template, nodes, by_id);
            }
        }
    }

    /// Every `steps.<id>.outputs.<name>` names an output that step declares. A step with
    /// `from_artifact:` may provide any name: those are only known once its file is read.
    /// Unknown steps and steps that cannot be read are reported by [`Template::check_refs`].
    fn check_output_refs(
        &mut self,
        template: &Template,
        nodes: &[Node],
        by_id: &HashMap<&str, usize>,
    ) {
        for (id, name, raw) in template.output_refs() {
            let Some(&other) = by_id.get(id) else {
                continue;
            };
            let doc = nodes[other].doc;
            if doc.matrix.is_some() {
                continue;
            }
            let field = template.field();
            let declared: Vec<&str> = doc
                .outputs
                .iter()
                .flat_map(|o| o.named.iter().map(|(n, _)| n.as_str()))
                .collect();
            let from_artifact = doc
                .outputs
                .as_ref()
                .is_some_and(|o| o.from_artifact.is_some());
            if from_artifact || declared.contains(&name) {
                continue;
            }
            let message = if doc.await_.is_some() {
                format!(
                    "{field} reads `{raw}`, but step `{id}` is an `await:` gate, which reads no \
                     outputs; read them from the step that builds"
                )
            } else if declared.is_empty() {
                format!(
                    "{field} reads `{raw}`, but step `{id}` declares no outputs; add \
                     `outputs: {{ {name}: ... }}` to step `{id}`"
                )
            } else {
                let mut message =
                    format!("{field} reads `{raw}`, but step `{id}` declares no output `{name}`");
                if let Some(near) = suggest::nearest(name, declared.iter().copied()) {
                    message.push_str(&format!(" (did you mean `steps.{id}.outputs.{near}`?)"));
                }
                message.push_str(&format!(
                    "; its outputs are: {}",
                    suggest::list(declared.iter().copied())
                ));
                message
            };
            self.diags.at_pos(pos_of(template), message);
        }
    }
}

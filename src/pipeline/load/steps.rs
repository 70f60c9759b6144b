//! One written step lowered to a [`Step`] with every default applied.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::pipeline::file::{
    ArtifactsFile, AwaitFile, ConditionFile, FROM_ARTIFACT, InputActionFile, JOB_ONLY_KEYS,
    MATRIX_ONLY_KEYS, OutputFile,
};
use crate::pipeline::locate::YamlPath;
use crate::pipeline::model::{
    ArtifactGlob, Artifacts, AwaitStep, Condition, InputAction, InputAnswer, Inputs, JobStep,
    OutputSource, Outputs, Poll, ResultName, Retry, ServerSpec, Step, StepKind, jenkins_input_id,
};
use crate::pipeline::render::Template;

use super::lowering::{Defaults, Lowering, MatrixPlan, Node, set_keys};

/// Where `artifacts:` go without a `to:`, from the working directory.
pub(crate) const DEFAULT_ARTIFACTS_TO: &str = "artifacts/{{step.id}}";

pub(super) const DEFAULT_AWAIT_TIMEOUT: Duration = Duration::from_secs(3600);

impl Lowering<'_> {
    /// The step with every default applied; `None` when it has problems (reported). Its
    /// templates that compiled go to `compiled` either way, so that their references are
    /// checked too.
    pub(super) fn step(
        &mut self,
        node: &Node,
        defaults: &Defaults,
        servers: &BTreeMap<String, ServerSpec>,
        no_deps: bool,
        compiled: &mut Vec<Template>,
    ) -> Option<(Step, Option<MatrixPlan>)> {
        let doc = node.doc;
        let path = &node.path;
        let before = self.diags.count();
        let condition = self.condition(node, no_deps, compiled);
        let poll = match &doc.poll {
            Some(own) => self.poll(defaults.poll, own, &path.key("poll")),
            None => defaults.poll,
        };
        let timeout = self.positive(doc.timeout, &path.key("timeout"));
        let server = self.step_server(node, servers);
        self.check_matrix_keys(node);
        let (kind, plan) = match &doc.await_ {
            Some(gate) => (
                self.await_kind(node, gate, timeout, poll, defaults, compiled),
                None,
            ),
            None => self.job_kind(node, timeout, poll, defaults, compiled),
        };
        let kind = kind?;
        let server = server?;
        if self.diags.count() != before {
            return None;
        }
        let step = Step {
            id: node.id.clone(),
            needs: Vec::new(),
            condition,
            continue_on_failure: doc.continue_on_failure.unwrap_or(false),
            kind,
            server,
            matrix: None,
            line: self.pos(path).map_or(1, |p| p.line),
            path: path.to_string(),
        };
        Some((step, plan))
    }

    /// The step's `if:`, defaulting to `on_success`; an `if:` template that does not compile
    /// is reported and leaves the default.
    fn condition(&mut self, node: &Node, no_deps: bool, compiled: &mut Vec<Template>) -> Condition {
        let path = &node.path;
        let condition = match &node.doc.condition {
            None | Some(ConditionFile::OnSuccess) => Some(Condition::OnSuccess),
            Some(ConditionFile::OnFailure) => Some(Condition::OnFailure),
            Some(ConditionFile::Always) => Some(Condition::Always),
            Some(ConditionFile::Expr(source)) => {
                let template = self.template(source, &path.key("if"), false);
                compiled.extend(template.iter().cloned());
                template.map(Condition::Expr)
            }
        };
        let condition = condition.unwrap_or_default();
        if condition == Condition::OnFailure && no_deps {
            self.diags.at(
                &path.key("if"),
                format!(
                    "step `{}` runs only when a step it needs fails, but it needs no step, so it \
                     would never run; move it after the steps it guards or give it `needs`",
                    node.id
                ),
            );
        }
        condition
    }

    /// `fail_fast` and `max_parallel` only beside `matrix:`, and `max_parallel` at least 1.
    fn check_matrix_keys(&mut self, node: &Node) {
        let (doc, path) = (node.doc, &node.path);
        if doc.matrix.is_none() {
            for &key in MATRIX_ONLY_KEYS {
                if set_keys(doc).contains(&key) {
                    self.diags.at(
                        &path.key(key),
                        format!(
                            "`{key}` applies to a step with `matrix:`; add a matrix or remove \
                             `{key}`"
                        ),
                    );
                }
            }
        }
        if doc.max_parallel == Some(0) {
            self.diags.at(
                &path.key("max_parallel"),
                format!("{path}.max_parallel must be at least 1"),
            );
        }
    }

    /// An `await:` step; `None` when its job name has problems (reported).
    fn await_kind(
        &mut self,
        node: &Node,
        gate: &AwaitFile,
        timeout: Option<Duration>,
        poll: Poll,
        defaults: &Defaults,
        compiled: &mut Vec<Template>,
    ) -> Option<StepKind> {
        let (doc, path) = (node.doc, &node.path);
        // Matrix-only keys are reported once, by the matrix check.
        for &key in JOB_ONLY_KEYS {
            if set_keys(doc).contains(&key) {
                self.diags.at(
                    &path.key(key),
                    format!(
                        "`{key}` applies to job steps; an `await:` step triggers nothing and \
                         always waits for its result"
                    ),
                );
            }
        }
        let gate_path = path.key("await");
        let results = match &gate.result {
            Some(results) => {
                self.expect_list(results, &gate_path.key("result"));
                results.clone()
            }
            None => vec![ResultName::Success],
        };
        let newer_than = self.positive(gate.newer_than, &gate_path.key("newer_than"));
        let job = self.job_template(&gate.job, &gate_path.key("job"));
        compiled.extend(job.iter().cloned());
        job.map(|job| {
            StepKind::Await(AwaitStep {
                job,
                build: gate.build.clone().map(|b| b.0).unwrap_or_default(),
                results,
                newer_than,
                timeout: timeout
                    .or(defaults.timeout)
                    .unwrap_or(DEFAULT_AWAIT_TIMEOUT),
                poll,
            })
        })
    }

    /// A job step, and what its `matrix:` expands into; the step is `None` when its job name
    /// has problems (reported).
    fn job_kind(
        &mut self,
        node: &Node,
        timeout: Option<Duration>,
        poll: Poll,
        defaults: &Defaults,
        compiled: &mut Vec<Template>,
    ) -> (Option<StepKind>, Option<MatrixPlan>) {
        let (doc, path) = (node.doc, &node.path);
        let source = doc.job.as_deref().unwrap_or_default();
        let job = match &doc.branch {
            Some(branch) => self.branch_job(source, branch, path),
            None => self.job_template(source, &path.key("job")),
        };
        let branch_scan = doc.branch_scan.unwrap_or(defaults.branch_scan);
        let scan_timeout = self
            .positive(doc.scan_timeout, &path.key("scan_timeout"))
            .unwrap_or(defaults.scan_timeout);
        let wait = doc.wait.unwrap_or(true);
        if !wait {
            self.check_no_wait(node);
        }
        let expect = match &doc.expect {
            Some(expect) => {
                self.expect_list(expect, &path.key("expect"));
                expect.clone()
            }
            None => defaults.expect.clone(),
        };
        let queue_timeout = self
            .positive(doc.queue_timeout, &path.key("queue_timeout"))
            .unwrap_or(defaults.queue_timeout);
        let params = self.params(node);
        let token = doc
            .token
            .as_ref()
            .and_then(|t| self.template(t, &path.key("token"), true));
        let trigger_id = match &doc.trigger_id {
            Some(name) => self.trigger_id_name(name, &path.key("trigger_id")),
            None => defaults.trigger_id.clone(),
        };
        if let Some(name) = &trigger_id
            && params.iter().any(|(n, _)| n == name)
        {
            self.diags.at(
                &path.key("params").key(name),
                format!(
                    "`{name}` is the step's trigger_id parameter, which jrun fills with a unique \
                     id for each trigger; remove it from `params`"
                ),
            );
        }
        let retry = self.retry(doc.retry.as_ref(), defaults, path);
        let artifacts = doc
            .artifacts
            .as_ref()
            .and_then(|a| self.artifacts(a, &path.key("artifacts")))
            .map(Box::new);
        // A build jrun does not follow has no result to retry on.
        let retry = if wait { retry } else { Retry::default() };
        let plan = doc.matrix.as_ref().and_then(|matrix| {
            self.matrix(matrix, &path.key("matrix"))
                .map(|cells| MatrixPlan {
                    cells,
                    fail_fast: doc.fail_fast.unwrap_or(true),
                    max_parallel: doc.max_parallel,
                })
        });
        let outputs = self.outputs(node);
        let description = doc
            .description
            .as_ref()
            .and_then(|d| self.template(d, &path.key("description"), false));
        compiled.extend(job.iter().cloned());
        compiled.extend(params.iter().map(|(_, t)| t.clone()));
        compiled.extend(token.iter().cloned());
        compiled.extend(description.iter().cloned());
        compiled.extend(artifacts.iter().map(|a| a.to.clone()));
        let inputs = self.inputs(node);
        for answer in &inputs.answers {
            compiled.extend(answer.params.iter().map(|(_, t)| t.clone()));
            compiled.extend(answer.condition.iter().cloned());
        }
        let kind = job.map(|job| {
            StepKind::Job(JobStep {
                job,
                params,
                expect,
                wait,
                timeout: timeout.or(defaults.timeout),
                queue_timeout,
                poll,
                token,
                trigger_id,
                retry,
                outputs,
                description,
                artifacts,
                branch_scan,
                scan_timeout,
                inputs,
            })
        });
        (kind, plan)
    }

    /// With `wait: false` jrun does not follow the build, so the keys about its end mean nothing.
    fn check_no_wait(&mut self, node: &Node) {
        let (doc, path) = (node.doc, &node.path);
        for (key, set) in [
            ("expect", doc.expect.is_some()),
            ("timeout", doc.timeout.is_some()),
            ("retry", doc.retry.is_some()),
            ("outputs", doc.outputs.is_some()),
            ("artifacts", doc.artifacts.is_some()),
            ("input", doc.input.is_some()),
            ("input_timeout", doc.input_timeout.is_some()),
        ] {
            if set {
                self.diags.at(
                    &path.key(key),
                    format!(
                        "`{key}` has no effect with `wait: false` (jrun does not follow the \
                         build); remove one of them"
                    ),
                );
            }
        }
    }

    /// `artifacts:` with its globs compiled and its folder a template; `None` when any of
    /// them has problems (reported where it is written).
    fn artifacts(&mut self, file: &ArtifactsFile, path: &YamlPath) -> Option<Artifacts> {
        let before = self.diags.count();
        if file.get.is_empty() {
            self.diags.at(
                &path.key("get"),
                "`artifacts.get` lists no glob; name the files to download, e.g. `[dist/*.tar.gz]`",
            );
        }
        let mut get = Vec::new();
        for (i, pattern) in file.get.iter().enumerate() {
            match ArtifactGlob::new(pattern) {
                Ok(glob) => get.push(glob),
                Err(message) => self.diags.at(&path.key("get").index(i), message),
            }
        }
        let to = match &file.to {
            Some(to) => self.template(to, &path.key("to"), false),
            None => self.template(DEFAULT_ARTIFACTS_TO, path, false),
        };
        if self.diags.count() != before {
            return None;
        }
        Some(Artifacts {
            get,
            to: to?,
            optional: file.optional.unwrap_or(false),
        })
    }

    /// The step's `params:` as compiled templates; empty names and templates that do not
    /// compile are reported and left out.
    fn params(&mut self, node: &Node) -> Vec<(String, Template)> {
        let (doc, path) = (node.doc, &node.path);
        let mut params = Vec::new();
        for (name, value) in doc.params.iter().flat_map(|p| p.0.iter()) {
            if name.trim().is_empty() {
                self.diags.at(
                    &path.key("params"),
                    "a parameter has an empty name; name it as the job defines it",
                );
                continue;
            }
            let param_path = path.key("params").key(name);
            if let Some(template) = self.template(&value.0, &param_path, false) {
                params.push((name.clone(), template));
            }
        }
        params
    }

    /// The step's `input:` answers and their timeout; ids are capitalized as Jenkins stores
    /// them.
    fn inputs(&mut self, node: &Node) -> Inputs {
        let (doc, path) = (node.doc, &node.path);
        let action = |a: InputActionFile| match a {
            InputActionFile::Proceed => InputAction::Proceed,
            InputActionFile::Abort => InputAction::Abort,
            InputActionFile::Prompt => InputAction::Prompt,
        };
        let mut answers = Vec::new();
        let blocks = doc.input.iter().flat_map(|i| i.0.iter());
        let many = doc.input.as_ref().is_some_and(|i| i.0.len() > 1);
        for (n, block) in blocks.enumerate() {
            let at = if many {
                path.key("input").index(n)
            } else {
                path.key("input")
            };
            let id = block.id.as_deref().map(str::trim);
            if id.is_some_and(str::is_empty) {
                self.diags.at(
                    &at.key("id"),
                    "the input id is empty; write the `id` of the Jenkinsfile's `input` step",
                );
            }
            let action = block.action.map_or(InputAction::Proceed, action);
            let mut params = Vec::new();
            for (name, value) in block.params.iter().flat_map(|p| p.0.iter()) {
                let param_path = at.key("params").key(name);
                if action == InputAction::Abort {
                    self.diags.at(
                        &param_path,
                        format!(
                            "`params` go with `action: proceed` or `prompt`, not `{}`; remove them or \
                             proceed",
                            action.as_str()
                        ),
                    );
                    continue;
                }
                if let Some(template) = self.template(&value.0, &param_path, false) {
                    params.push((name.clone(), template));
                }
            }
            let condition = block
                .condition
                .as_ref()
                .and_then(|c| self.template(c, &at.key("if"), false));
            answers.push(InputAnswer {
                id: id.filter(|i| !i.is_empty()).map(jenkins_input_id),
                action,
                params,
                condition,
            });
        }
        let timeout = self.positive(doc.input_timeout, &path.key("input_timeout"));
        let default = doc.input_default.map(action);
        if default == Some(InputAction::Prompt) {
            self.diags.at(
                &path.key("input_default"),
                "input_default is what jrun sends when nobody answered in time: `proceed` or \
                 `abort`, not `prompt`",
            );
        }
        if default.is_some() && timeout.is_none() {
            self.diags.at(
                &path.key("input_default"),
                "input_default is sent when `input_timeout` passes; set `input_timeout` too",
            );
        }
        Inputs {
            answers,
            timeout,
            default: default.filter(|d| *d != InputAction::Prompt),
            counts_against_timeout: doc.timeout_counts_input.unwrap_or(false),
        }
    }

    /// The step's `outputs:`; problems (a name, no source or two, a bad regular expression, a
    /// file jrun cannot read) are reported and the output left out.
    fn outputs(&mut self, node: &Node) -> Outputs {
        let (doc, path) = (node.doc, &node.path);
        let mut outputs = Outputs::default();
        let Some(file) = &doc.outputs else {
            return outputs;
        };
        let path = path.key("outputs");
        if let Some(artifact) = &file.from_artifact
            && self.output_file(artifact, &path.key(FROM_ARTIFACT))
        {
            outputs.from_artifact = Some(artifact.clone());
        }
        for (name, source) in &file.named {
            let at = path.key(name);
            if !super::lowering::is_id(name) {
                self.diags.at(
                    &at,
                    format!(
                        "output name `{name}` may use only letters, digits, `-` and `_` \
                         (templates read it as `steps.{}.outputs.<name>`)",
                        node.id
                    ),
                );
                continue;
            }
            if let Some(source) = self.output_source(name, source, &at) {
                outputs.named.push((name.clone(), source));
            }
        }
        outputs
    }

    fn output_source(
        &mut self,
        name: &str,
        file: &OutputFile,
        at: &YamlPath,
    ) -> Option<OutputSource> {
        let OutputFile {
            log,
            description,
            display_name,
            param,
            artifact,
            key,
        } = file;
        let forms: Vec<&str> = [
            ("log", log.is_some()),
            ("description", description.is_some()),
            ("display_name", display_name.is_some()),
            ("param", param.is_some()),
            ("artifact", artifact.is_some() || key.is_some()),
        ]
        .into_iter()
        .filter_map(|(form, set)| set.then_some(form))
        .collect();
        const FORMS: &str = "`log: REGEX`, `description: true`, `display_name: true`, \
                             `param: NAME`, or `artifact: PATH` with `key: KEY`";
        match forms.as_slice() {
            [] => {
                self.diags.at(
                    at,
                    format!("output `{name}` names no source; give one of {FORMS}"),
                );
                return None;
            }
            [_] => {}
            [first, second, ..] => {
                self.diags.at(
                    &at.key(second),
                    format!(
                        "output `{name}` has both `{first}` and `{second}`; an output has one \
                         source: {FORMS}"
                    ),
                );
                return None;
            }
        }
        if let Some(pattern) = log {
            return match regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
            {
                Ok(regex) => Some(OutputSource::Log(regex)),
                Err(err) => {
                    let why = err.to_string();
                    let why = why.lines().last().unwrap_or_default().trim();
                    let why = why.strip_prefix("error: ").unwrap_or(why);
                    self.diags.at(
                        &at.key("log"),
                        format!(
                            "output `{name}`: `{pattern}` is not a valid regular expression \
                             ({why}); write a pattern such as 'pushed image (\\S+)'"
                        ),
                    );
                    None
                }
            };
        }
        for (flag, set) in [("description", description), ("display_name", display_name)] {
            match set {
                Some(true) => {
                    return Some(if flag == "description" {
                        OutputSource::Description
                    } else {
                        OutputSource::DisplayName
                    });
                }
                Some(false) => {
                    self.diags.at(
                        &at.key(flag),
                        format!(
                            "output `{name}`: `{flag}: false` reads nothing; write `{flag}: true` \
                             or remove the output"
                        ),
                    );
                    return None;
                }
                None => {}
            }
        }
        if let Some(param) = param {
            if param.trim().is_empty() {
                self.diags.at(
                    &at.key("param"),
                    format!("output `{name}`: `param` is empty; name a parameter of the job"),
                );
                return None;
            }
            return Some(OutputSource::Param(param.clone()));
        }
        match (artifact, key) {
            (Some(artifact), Some(key)) if !key.is_empty() => self
                .output_file(artifact, &at.key("artifact"))
                .then(|| OutputSource::Artifact {
                    path: artifact.clone(),
                    key: key.clone(),
                }),
            (Some(_), _) => {
                self.diags.at(
                    at,
                    format!(
                        "output `{name}` reads an artifact but no `key:`; add the key whose \
                         value it is, e.g. `key: version`"
                    ),
                );
                None
            }
            (None, _) => {
                self.diags.at(
                    &at.key("key"),
                    format!(
                        "output `{name}` has `key:` but no `artifact:`; add the archived file \
                         it is read from, e.g. `artifact: out/build-info.json`"
                    ),
                );
                None
            }
        }
    }

    /// Whether `path` names an artifact jrun can read outputs from (reported when not).
    fn output_file(&mut self, path: &str, at: &YamlPath) -> bool {
        if path.trim().is_empty() {
            self.diags.at(at, "the artifact path is empty; give its path in the build's archive, e.g. `out/build-info.json`");
            return false;
        }
        if crate::pipeline::OutputFormat::of(path).is_none() {
            self.diags.at(
                at,
                format!(
                    "jrun reads outputs from .json, .properties or .env files, not `{path}`; \
                     archive the values in one of those"
                ),
            );
            return false;
        }
        true
    }

    /// `job:` naming a multibranch project and `branch:` one of its branches: the branch job,
    /// whose name is the branch encoded as Jenkins names it (`release/2.4` is the job
    /// `release%2F2.4`). The branch is a plain name: encoding would break a template.
    fn branch_job(&mut self, source: &str, branch: &str, path: &YamlPath) -> Option<Template> {
        let at = path.key("branch");
        if branch.trim().is_empty() {
            self.diags.at(
                &at,
                "`branch` is empty; name a branch as the repository does, e.g. `release/2.4`",
            );
            return None;
        }
        if branch.contains("{{") {
            self.diags.at(
                &at,
                format!(
                    "`branch` is a plain branch name, not a template (`{branch}`); to build the \
                     name from values, write the encoded job name in `job:` instead, with `%2F` \
                     for `/`: `job: \"{source}/release%2F{{{{vars.version}}}}\"`"
                ),
            );
            return None;
        }
        if source.contains("%2F") || source.contains("%2f") {
            self.diags.at(
                &at,
                format!(
                    "`job: {source}` already names a branch job (`%2F`), and `branch:` adds \
                     another; give `job:` the multibranch project alone"
                ),
            );
            return None;
        }
        let name = crate::jenkins::branch_item_name(branch);
        self.job_template(&format!("{source}/{name}"), &path.key("job"))
    }

    pub(super) fn job_template(&mut self, source: &str, path: &YamlPath) -> Option<Template> {
        if !source.contains("{{")
            && let Err(message) = crate::pipeline::check_job_name(source)
        {
            self.diags.at(path, message);
            return None;
        }
        self.template(source, path, false)
    }
}

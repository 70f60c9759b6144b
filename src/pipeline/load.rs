//! From text to a validated [`Pipeline`]: parse, check which keys go together, lower the steps
//! to one graph, compile and check every template, and report every problem with its place.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::depth;
use super::file::{
    ConditionFile, JOB_ONLY_KEYS, JenkinsFile, MATRIX_ONLY_KEYS, MatrixFile, PipelineFile,
    PollFile, RetryFile, StepFile,
};
use super::graph::{self, NodeSet};
use super::locate::{self, Expansion, Pos, Spans, YamlPath};
use super::model::{
    AwaitStep, Condition, DEFAULT_SERVER, JobStep, MatrixCell, Pipeline, Poll, ResultName, Retry,
    ServerSpec, Step, StepKind,
};
use super::render::{RenderContext, StepAccess, Template, TemplateCache};
use super::{Diagnostic, PipelineError, suggest};
use crate::duration::Dur;

/// More diagnostics than this are summarised; each one re-reads the file to find its place.
const MAX_DIAGNOSTICS: usize = 50;

const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(3600);
const DEFAULT_AWAIT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Most cells one `matrix:` step may expand into.
pub(crate) const MAX_MATRIX_CELLS: usize = 256;

/// How many values YAML aliases may add to a file, beyond one per byte of its text (which no
/// file without aliases reaches).
const MAX_ALIAS_VALUES: usize = 100_000;

/// Most retries a step may ask for.
const MAX_RETRIES: u32 = 100;

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

fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

/// A parse error as a diagnostic: its place, the message without the place (the diagnostic
/// shows it), and what to do where serde's words are not enough.
fn syntax_diagnostic(origin: &Path, text: &str, err: &yaml_serde::Error) -> Diagnostic {
    let location = err.location();
    let mut message = strip_location(&err.to_string());
    let (line, column) = match &location {
        Some(l) => (Some(l.line()), Some(l.column())),
        None if message.contains("more than one document") => match locate::second_document(text) {
            Some(pos) => (Some(pos.line), Some(pos.column)),
            None => (None, None),
        },
        None => (None, None),
    };
    if let Some(field) = unknown_field(&message) {
        if field == "<<" {
            message.push_str(
                "; YAML merge keys are not supported: put settings shared by steps under \
                 `defaults:`",
            );
        } else {
            message.push_str("; remove it or fix its spelling");
        }
    } else if message.contains("missing field `name`") {
        message.push_str("; every pipeline starts with `name: <name>`");
    } else if message.contains("missing field `steps`") {
        message.push_str("; add a `steps:` list with at least one step");
    } else if message.contains("missing field `job`") {
        message
            .push_str("; an `await:` gate names the job it watches: `await: { job: folder/name }`");
    } else if message.contains("more than one document") {
        message.push_str("; a pipeline file holds one YAML document: remove the extra `---`");
    } else if message.contains("recursion limit exceeded") {
        message.push_str("; the file nests too deeply");
    } else if message.contains("repetition limit exceeded") {
        message.push_str("; the file expands YAML aliases too many times");
    } else if message.contains("cannot start any token")
        && line
            .and_then(|l| text.lines().nth(l.saturating_sub(1)))
            .is_some_and(|l| l.contains('\t'))
    {
        message.push_str("; YAML does not allow tabs for indentation: indent with spaces");
    } else if message.contains(", while scanning") || message.contains(", while parsing") {
        message.push_str(
            "; check the indentation, colons and quotes on this line and the lines before it",
        );
    }
    Diagnostic {
        file: origin.to_path_buf(),
        line,
        column,
        message,
    }
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = &message[message.find("unknown field `")? + "unknown field `".len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// Removes yaml_serde's " at line L column C", which the diagnostic shows in front instead.
fn strip_location(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(" at line ") {
        let after = &rest[start + " at line ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &after[digits..];
        match tail.strip_prefix(" column ") {
            Some(tail) if digits > 0 => {
                let column_digits = tail.bytes().take_while(u8::is_ascii_digit).count();
                if column_digits == 0 {
                    out.push_str(&rest[..start + 1]);
                    rest = &rest[start + 1..];
                    continue;
                }
                out.push_str(&rest[..start]);
                rest = &tail[column_digits..];
            }
            _ => {
                out.push_str(&rest[..start + 1]);
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The problems found so far, each placed in the file; past `MAX_DIAGNOSTICS` only counted.
struct Diagnostics<'a> {
    file: &'a Path,
    text: &'a str,
    list: Vec<Diagnostic>,
    dropped: usize,
}

impl Diagnostics<'_> {
    fn push(&mut self, diagnostic: Diagnostic) {
        if self.list.len() < MAX_DIAGNOSTICS {
            self.list.push(diagnostic);
        } else {
            self.dropped += 1;
        }
    }

    fn at_pos(&mut self, pos: Option<Pos>, message: impl Into<String>) {
        self.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            message: message.into(),
        });
    }

    fn at(&mut self, path: &YamlPath, message: impl Into<String>) {
        if self.list.len() >= MAX_DIAGNOSTICS {
            self.dropped += 1;
            return;
        }
        let pos = locate::locate(self.text, path);
        self.at_pos(pos, message);
    }

    fn general(&mut self, message: impl Into<String>) {
        self.at_pos(None, message);
    }

    fn is_clean(&self) -> bool {
        self.list.is_empty()
    }

    fn count(&self) -> usize {
        self.list.len() + self.dropped
    }

    fn into_error(mut self) -> PipelineError {
        // File order reads best; problems with no place (command-line overrides) come first.
        self.list
            .sort_by_key(|d| (d.line.is_some(), d.line, d.column));
        if self.dropped > 0 {
            let message = format!(
                "and {} more problem(s); fix the ones above and run again",
                self.dropped
            );
            self.list.push(Diagnostic {
                file: self.file.to_path_buf(),
                line: None,
                column: None,
                message,
            });
        }
        PipelineError::new(self.list)
    }
}

/// One step of the file, in file order.
struct Node<'d> {
    doc: &'d StepFile,
    path: YamlPath,
    id: String,
}

struct Lowering<'a> {
    doc: &'a PipelineFile,
    spans: &'a Spans,
    diags: Diagnostics<'a>,
    cache: TemplateCache,
}

impl<'a> Lowering<'a> {
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
        if let Some(order) = &order {
            let server_templates: Vec<&Template> = server
                .templates()
                .chain(servers.values().flat_map(ServerSpec::templates))
                .collect();
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
        let server_templates: Vec<&Template> = server
            .templates()
            .chain(servers.values().flat_map(ServerSpec::templates))
            .collect();
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

    fn pos(&self, path: &YamlPath) -> Option<Pos> {
        self.spans.get(path)
    }

    fn template(&mut self, source: &str, path: &YamlPath, secret: bool) -> Option<Template> {
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

    fn vars(&mut self, overrides: &[(String, String)]) -> BTreeMap<String, Value> {
        let root = YamlPath::root().key("vars");
        let mut vars = BTreeMap::new();
        for (key, value) in self.doc.vars.iter().flat_map(|v| &v.0) {
            let mut value = value.clone();
            self.keep_float_text(&mut value, &root.key(key));
            vars.insert(key.clone(), value);
        }
        for (key, value) in overrides {
            if vars.contains_key(key) {
                vars.insert(key.clone(), Value::String(value.clone()));
                continue;
            }
            let message = match suggest::nearest(key, vars.keys().map(String::as_str)) {
                Some(near) => format!(
                    "`--set {key}`: the pipeline has no var `{key}`; did you mean `{near}`? \
                     (`--set` changes a var declared under `vars:`)"
                ),
                None => format!(
                    "`--set {key}`: the pipeline declares no vars; declare `{key}` under `vars:` \
                     to make it settable"
                ),
            };
            self.diags.general(message);
        }
        vars
    }

    /// YAML reads `version: 1.10` as the number 1.1. A release engineer means the text, so a
    /// float whose written form differs from the number's keeps the written form, as a string.
    fn keep_float_text(&self, value: &mut Value, path: &YamlPath) {
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.keep_float_text(item, &path.index(i));
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    self.keep_float_text(item, &path.key(key));
                }
            }
            Value::Number(number) if number.is_f64() => {
                let Some(pos) = self.spans.get_str(&path.to_string()) else {
                    return;
                };
                let Some(written) = token_at(self.diags.text, pos) else {
                    return;
                };
                let same = yaml_serde::from_str::<f64>(written)
                    .is_ok_and(|parsed| Some(parsed) == number.as_f64());
                if same && written != number.to_string() {
                    *value = Value::String(written.to_string());
                }
            }
            _ => {}
        }
    }

    /// `servers:`, by name; `default` and names that are not ids are reported and left out.
    fn servers(&mut self) -> BTreeMap<String, ServerSpec> {
        let mut servers = BTreeMap::new();
        let Some(file) = &self.doc.servers else {
            return servers;
        };
        let base = YamlPath::root().key("servers");
        for (name, server) in &file.0 {
            let path = base.key(name);
            let spec = self.server(server, &path);
            if name == DEFAULT_SERVER {
                self.diags.at(
                    &path,
                    "`default` names the `jenkins:` server; give this server another name \
                     (steps reach the `jenkins:` server by leaving out `server:` or with \
                     `server: default`)",
                );
                continue;
            }
            if !is_id(name) {
                self.diags.at(
                    &path,
                    format!(
                        "server name `{name}` may use only letters, digits, `-` and `_` (steps \
                         name it with `server: {name}`)"
                    ),
                );
                continue;
            }
            servers.insert(name.clone(), spec);
        }
        servers
    }

    /// A server block (`jenkins:` or an entry of `servers:`) at `base`.
    fn server(&mut self, jenkins: &JenkinsFile, base: &YamlPath) -> ServerSpec {
        let JenkinsFile {
            url,
            user,
            token,
            token_file,
            password,
            password_file,
            ca_file,
            max_in_flight,
            unreachable_timeout,
        } = jenkins;
        let pairs = [
            ("token", token.is_some(), "token_file", token_file.is_some()),
            (
                "password",
                password.is_some(),
                "password_file",
                password_file.is_some(),
            ),
        ];
        for (a, has_a, b, has_b) in pairs {
            if has_a && has_b {
                self.diags.at(
                    &base.key(b),
                    format!("{base}: give either `{a}` or `{b}`, not both"),
                );
            }
        }
        if (token.is_some() || token_file.is_some())
            && (password.is_some() || password_file.is_some())
        {
            let key = if password.is_some() {
                "password"
            } else {
                "password_file"
            };
            self.diags.at(
                &base.key(key),
                format!(
                    "{base}: give either an API token (`token`/`token_file`) or a password \
                     (`password`/`password_file`), not both"
                ),
            );
        }
        if let Some(url) = url
            && !url.contains("{{")
            && !url.starts_with("http://")
            && !url.starts_with("https://")
        {
            self.diags.at(
                &base.key("url"),
                format!(
                    "{base}.url `{url}` must start with http:// or https://, e.g. \
                     https://ci.example.com"
                ),
            );
        }
        if *max_in_flight == Some(0) {
            self.diags.at(
                &base.key("max_in_flight"),
                format!("{base}.max_in_flight must be at least 1"),
            );
        }
        let unreachable_timeout =
            self.positive(*unreachable_timeout, &base.key("unreachable_timeout"));
        let field = |this: &mut Self, value: &Option<String>, key: &str, secret: bool| {
            value
                .as_ref()
                .and_then(|v| this.template(v, &base.key(key), secret))
        };
        ServerSpec {
            url: field(self, url, "url", false),
            user: field(self, user, "user", false),
            token: field(self, token, "token", true),
            token_file: field(self, token_file, "token_file", false),
            password: field(self, password, "password", true),
            password_file: field(self, password_file, "password_file", false),
            ca_file: field(self, ca_file, "ca_file", false),
            max_in_flight: *max_in_flight,
            unreachable_timeout,
        }
    }

    /// A duration that must be more than zero.
    fn positive(&mut self, value: Option<Dur>, path: &YamlPath) -> Option<Duration> {
        let value = value?;
        if value.0.is_zero() {
            self.diags.at(
                path,
                format!("{path} must be more than 0s; remove it to use the default"),
            );
        }
        Some(value.0)
    }

    /// A `trigger_id:` names a build parameter: a plain name, never a template.
    fn trigger_id_name(&mut self, name: &str, path: &YamlPath) -> Option<String> {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if plain {
            Some(name.to_string())
        } else {
            self.diags.at(
                path,
                format!(
                    "trigger_id must name a string parameter of the job (letters, digits, `_`, \
                     `-`, `.`), not `{name}`"
                ),
            );
            None
        }
    }

    fn defaults(&mut self) -> Defaults {
        let mut defaults = Defaults {
            expect: vec![ResultName::Success],
            timeout: None,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            poll: Poll::default(),
            retry: None,
            trigger_id: None,
        };
        let Some(doc) = &self.doc.defaults else {
            return defaults;
        };
        let base = YamlPath::root().key("defaults");
        if let Some(expect) = &doc.expect {
            self.expect_list(expect, &base.key("expect"));
            defaults.expect = expect.clone();
        }
        defaults.timeout = self.positive(doc.timeout, &base.key("timeout"));
        if let Some(queue_timeout) = self.positive(doc.queue_timeout, &base.key("queue_timeout")) {
            defaults.queue_timeout = queue_timeout;
        }
        if let Some(poll) = &doc.poll {
            defaults.poll = self.poll(Poll::default(), poll, &base.key("poll"));
        }
        if let Some(retry) = &doc.retry {
            self.check_retry(retry, &base.key("retry"));
            defaults.retry = Some(retry.clone());
        }
        if let Some(name) = &doc.trigger_id {
            defaults.trigger_id = self.trigger_id_name(name, &base.key("trigger_id"));
        }
        defaults
    }

    fn check_retry(&mut self, retry: &RetryFile, path: &YamlPath) {
        if let Some(max) = retry.max
            && max > MAX_RETRIES
        {
            self.diags.at(
                &path.key("max"),
                format!("{path}.max is {max}, more than the {MAX_RETRIES} allowed"),
            );
        }
        if retry.on.as_ref().is_some_and(Vec::is_empty) {
            self.diags.at(
                &path.key("on"),
                format!(
                    "{path}.on is empty; list the reasons to retry, e.g. [FAILURE, lost], or \
                     set `max: 0` for no retry"
                ),
            );
        }
    }

    /// A step's own `retry:` over `defaults.retry`, key by key, over the built-in defaults.
    fn retry(&mut self, own: Option<&RetryFile>, defaults: &Defaults, path: &YamlPath) -> Retry {
        if let Some(own) = own {
            self.check_retry(own, &path.key("retry"));
        }
        let layers = [own, defaults.retry.as_ref()];
        let builtin = Retry::default();
        Retry {
            max: layers
                .iter()
                .flatten()
                .find_map(|r| r.max)
                .unwrap_or(builtin.max),
            on: layers
                .iter()
                .flatten()
                .find_map(|r| r.on.clone())
                .unwrap_or(builtin.on),
            delay: layers
                .iter()
                .flatten()
                .find_map(|r| r.delay)
                .map_or(builtin.delay, |d| d.0),
        }
    }

    /// The cells of a `matrix:`: cartesian product, keys in file order (the first varies
    /// slowest), values in list order. `None` when the matrix has problems (reported).
    fn matrix(
        &mut self,
        matrix: &MatrixFile,
        path: &YamlPath,
    ) -> Option<Vec<Vec<(String, String)>>> {
        let before = self.diags.count();
        if matrix.0.is_empty() {
            self.diags.at(
                path,
                "`matrix` is empty; give at least one KEY: [values], e.g. { REGION: [eu, us] }",
            );
        }
        let mut count = 1usize;
        for (key, values) in &matrix.0 {
            let key_path = path.key(key);
            if !is_id(key) {
                self.diags.at(
                    &key_path,
                    format!(
                        "matrix key `{key}` may use only letters, digits, `-` and `_` (templates \
                         read it as `matrix.<KEY>`)"
                    ),
                );
            }
            if values.is_empty() {
                self.diags.at(
                    &key_path,
                    format!(
                        "matrix key `{key}` has no values; list at least one, e.g. {key}: [a, b]"
                    ),
                );
            }
            count = count.saturating_mul(values.len());
            for (j, value) in values.iter().enumerate() {
                let value = &value.0;
                let value_path = key_path.index(j);
                if value.trim().is_empty() {
                    self.diags.at(
                        &value_path,
                        format!(
                            "{key_path}[{j}] is empty or null; give each matrix value as text, \
                             e.g. eu"
                        ),
                    );
                } else if value.chars().any(|c| ",=[]".contains(c) || c.is_control()) {
                    self.diags.at(
                        &value_path,
                        format!(
                            "matrix value `{}` may not contain `,`, `=`, `[`, `]` or control \
                             characters: they would make cell ids such as `deploy[{key}=eu]` \
                             ambiguous",
                            value.escape_debug()
                        ),
                    );
                } else if values[..j].iter().any(|seen| seen.0 == *value) {
                    self.diags.at(
                        &value_path,
                        format!("matrix value `{value}` is listed twice under `{key}`; keep one"),
                    );
                }
            }
        }
        if count > MAX_MATRIX_CELLS {
            self.diags.at(
                path,
                format!(
                    "the matrix has {count} combinations, more than the {MAX_MATRIX_CELLS} \
                     allowed; use fewer values or split the step"
                ),
            );
        }
        if self.diags.count() != before {
            return None;
        }
        let mut cells: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for (key, values) in &matrix.0 {
            cells = cells
                .iter()
                .flat_map(|cell| {
                    values.iter().map(move |value| {
                        let mut cell = cell.clone();
                        cell.push((key.clone(), value.0.clone()));
                        cell
                    })
                })
                .collect();
        }
        Some(cells)
    }

    /// `server: NAME` as [`Step::server`]: `None` for the `jenkins:` block.
    fn step_server(
        &mut self,
        node: &Node,
        servers: &BTreeMap<String, ServerSpec>,
    ) -> Option<Option<String>> {
        let Some(name) = &node.doc.server else {
            return Some(None);
        };
        if name == DEFAULT_SERVER {
            return Some(None);
        }
        if servers.contains_key(name) {
            return Some(Some(name.clone()));
        }
        let path = node.path.key("server");
        let declared = self.doc.servers.as_ref().is_some_and(|s| !s.0.is_empty());
        if !declared {
            self.diags.at(
                &path,
                format!(
                    "step `{}` uses server `{name}`, but the pipeline declares no `servers:`; \
                     declare `{name}` under `servers:`, or remove `server:` to use the \
                     `jenkins:` server",
                    node.id
                ),
            );
            return None;
        }
        let names: Vec<&str> = std::iter::once(DEFAULT_SERVER)
            .chain(servers.keys().map(String::as_str))
            .collect();
        let mut message = format!("step `{}` uses unknown server `{name}`", node.id);
        if let Some(near) = suggest::nearest(name, names.iter().copied()) {
            message.push_str(&format!(" (did you mean `{near}`?)"));
        }
        message.push_str(&format!(
            "; the servers are: {}",
            suggest::list(names.iter().copied())
        ));
        self.diags.at(&path, message);
        None
    }

    fn expect_list(&mut self, list: &[ResultName], path: &YamlPath) {
        if list.is_empty() {
            self.diags.at(
                path,
                format!("{path} is empty; list the results that count as passing, e.g. [SUCCESS]"),
            );
        }
    }

    fn poll(&mut self, base: Poll, own: &PollFile, path: &YamlPath) -> Poll {
        let poll = Poll {
            initial: own.initial.map_or(base.initial, |d| d.0),
            max: own.max.map_or(base.max, |d| d.0),
            factor: own.factor.unwrap_or(base.factor),
        };
        let at = |key: &str, set: bool| if set { path.key(key) } else { path.clone() };
        if poll.initial.is_zero() {
            self.diags.at(
                &at("initial", own.initial.is_some()),
                format!("{path}.initial must be more than 0s"),
            );
        }
        if !(poll.factor.is_finite() && poll.factor >= 1.0) {
            self.diags.at(
                &at("factor", own.factor.is_some()),
                format!(
                    "{path}.factor must be at least 1 (1 keeps the interval constant), not {}",
                    poll.factor
                ),
            );
        }
        if poll.initial > poll.max {
            self.diags.at(
                &at("initial", own.initial.is_some()),
                format!(
                    "{path}.initial ({}) is longer than {path}.max ({}); make initial at most max",
                    Dur(poll.initial),
                    Dur(poll.max)
                ),
            );
        }
        poll
    }

    /// Steps in file order with their ids, and the members of each entry of `steps:`.
    fn flatten(&mut self) -> (Vec<Node<'a>>, Vec<Vec<usize>>) {
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

    fn node(
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
    fn needs(&mut self, nodes: &[Node], by_id: &HashMap<&str, usize>) -> Vec<Option<Vec<usize>>> {
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
                        if let Some(near) = suggest::similar(name, ids.iter().copied()) {
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

    fn cycle(&mut self, nodes: &[Node], explicit: &[Option<Vec<usize>>], cycle: &[usize]) {
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

    /// The step with every default applied; `None` when it has problems (reported). Its
    /// templates that compiled go to `compiled` either way, so that their references are
    /// checked too.
    fn step(
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
        let condition = match &doc.condition {
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
        let poll = match &doc.poll {
            Some(own) => self.poll(defaults.poll, own, &path.key("poll")),
            None => defaults.poll,
        };
        let timeout = self.positive(doc.timeout, &path.key("timeout"));
        let server = self.step_server(node, servers);
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
        let mut plan = None;
        let kind = match &doc.await_ {
            Some(gate) => {
                // Matrix-only keys are reported once, by the matrix check above.
                for &key in JOB_ONLY_KEYS {
                    if set_keys(doc).contains(&key) {
                        self.diags.at(
                            &path.key(key),
                            format!(
                                "`{key}` applies to job steps; an `await:` step triggers nothing \
                                 and always waits for its result"
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
            None => {
                let source = doc.job.as_deref().unwrap_or_default();
                let job = self.job_template(source, &path.key("job"));
                let wait = doc.wait.unwrap_or(true);
                if !wait {
                    for (key, set) in [
                        ("expect", doc.expect.is_some()),
                        ("timeout", doc.timeout.is_some()),
                        ("retry", doc.retry.is_some()),
                    ] {
                        if set {
                            self.diags.at(
                                &path.key(key),
                                format!(
                                    "`{key}` has no effect with `wait: false` (jrun does not \
                                     follow the build); remove one of them"
                                ),
                            );
                        }
                    }
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
                            "`{name}` is the step's trigger_id parameter, which jrun fills with a \
                             unique id for each trigger; remove it from `params`"
                        ),
                    );
                }
                let retry = self.retry(doc.retry.as_ref(), defaults, path);
                // A build jrun does not follow has no result to retry on.
                let retry = if wait { retry } else { Retry::default() };
                if let Some(matrix) = &doc.matrix {
                    plan = self
                        .matrix(matrix, &path.key("matrix"))
                        .map(|cells| MatrixPlan {
                            cells,
                            fail_fast: doc.fail_fast.unwrap_or(true),
                            max_parallel: doc.max_parallel,
                        });
                }
                compiled.extend(job.iter().cloned());
                compiled.extend(params.iter().map(|(_, t)| t.clone()));
                compiled.extend(token.iter().cloned());
                job.map(|job| {
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
                    })
                })
            }
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

    fn job_template(&mut self, source: &str, path: &YamlPath) -> Option<Template> {
        if !source.contains("{{")
            && let Err(message) = super::check_job_name(source)
        {
            self.diags.at(path, message);
            return None;
        }
        self.template(source, path, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn check_refs(
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
            }
        }
    }
}

impl Lowering<'_> {
    /// An `if:` expression that reads only `vars` and `pipeline.name` renders now what it
    /// will render in the run: one that is neither true nor false is refused before anything
    /// runs, not after the steps before it have.
    fn check_offline_conditions(
        &mut self,
        built: &[Option<(Step, Option<MatrixPlan>)>],
        vars: &BTreeMap<String, Value>,
    ) {
        let ctx = RenderContext {
            vars: vars.clone(),
            pipeline_name: self.doc.name.clone(),
            ..RenderContext::default()
        };
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
}

impl Lowering<'_> {
    /// Renders every value whose template reads only what is settled before the run (vars,
    /// the pipeline's name), so that what would stop the run there, such as a value past the
    /// size or work bounds, is found now. Conditions are rendered by
    /// [`Lowering::check_offline_conditions`].
    fn check_offline_values(
        &mut self,
        server_templates: &[&Template],
        built: &[Option<(Step, Option<MatrixPlan>)>],
        vars: &BTreeMap<String, Value>,
    ) {
        let ctx = RenderContext {
            vars: vars.clone(),
            pipeline_name: self.doc.name.clone(),
            ..RenderContext::default()
        };
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

fn pos_of(template: &Template) -> Option<Pos> {
    Some(Pos {
        line: template.line()?,
        column: template.column()?,
    })
}

struct Defaults {
    expect: Vec<ResultName>,
    timeout: Option<Duration>,
    queue_timeout: Duration,
    poll: Poll,
    retry: Option<RetryFile>,
    trigger_id: Option<String>,
}

/// What a `matrix:` step expands into.
struct MatrixPlan {
    cells: Vec<Vec<(String, String)>>,
    fail_fast: bool,
    max_parallel: Option<usize>,
}

/// How many cells a matrix as written has (saturating), for messages.
fn matrix_size(matrix: Option<&MatrixFile>) -> usize {
    matrix.map_or(1, |m| {
        m.0.iter()
            .fold(1usize, |n, (_, values)| n.saturating_mul(values.len()))
    })
}

/// The id of one cell: `deploy[REGION=eu,TIER=web]`.
pub(crate) fn cell_id(group: &str, values: &[(String, String)]) -> String {
    let inner: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{group}[{}]", inner.join(","))
}

/// The steps in `order`, each matrix step replaced by its cells (next to each other, in
/// expansion order), with `needs` as indices: a step that needs a matrix step needs each of
/// its cells, and each cell needs what the written step needs.
fn expand(
    order: &[usize],
    deps: &[Vec<usize>],
    mut built: Vec<Option<(Step, Option<MatrixPlan>)>>,
) -> Vec<Step> {
    let mut ranges: Vec<std::ops::Range<usize>> = vec![0..0; deps.len()];
    let mut steps: Vec<Step> = Vec::with_capacity(order.len());
    for &old in order {
        let start = steps.len();
        let Some((mut step, plan)) = built[old].take() else {
            ranges[old] = start..start;
            continue;
        };
        let mut needs: Vec<usize> = deps[old].iter().flat_map(|&d| ranges[d].clone()).collect();
        needs.sort_unstable();
        needs.dedup();
        step.needs = needs;
        match plan {
            None => steps.push(step),
            Some(plan) => {
                for values in plan.cells {
                    let mut cell = step.clone();
                    cell.id = cell_id(&step.id, &values);
                    cell.matrix = Some(MatrixCell {
                        group: step.id.clone(),
                        values,
                        fail_fast: plan.fail_fast,
                        max_parallel: plan.max_parallel,
                    });
                    steps.push(cell);
                }
            }
        }
        ranges[old] = start..steps.len();
    }
    steps
}

/// Step ids are used in templates as `steps.<id>.number`; Handlebars reads these characters as
/// one path segment.
pub(crate) fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn set_keys(step: &StepFile) -> Vec<&'static str> {
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
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

/// The plain scalar that starts at `pos` (1-based line, column in characters).
fn token_at(text: &str, pos: Pos) -> Option<&str> {
    let line = text.lines().nth(pos.line.checked_sub(1)?)?;
    let start = line
        .char_indices()
        .nth(pos.column.checked_sub(1)?)
        .map(|(i, _)| i)?;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || ",]}#".contains(c))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_cut_from_parser_messages() {
        assert_eq!(
            strip_location("steps[1]: unknown field `x`, expected `a` at line 7 column 5"),
            "steps[1]: unknown field `x`, expected `a`"
        );
        assert_eq!(
            strip_location("found character at line 3 column 1, while scanning"),
            "found character, while scanning"
        );
        assert_eq!(strip_location("look at line up"), "look at line up");
        assert_eq!(strip_location("at line 3 column x"), "at line 3 column x");
    }

    #[test]
    fn the_token_at_a_position_is_the_plain_scalar_there() {
        let text = "a: 1.10\nb: [2.50, 3]\n";
        assert_eq!(token_at(text, Pos { line: 1, column: 4 }), Some("1.10"));
        assert_eq!(token_at(text, Pos { line: 2, column: 5 }), Some("2.50"));
        assert_eq!(token_at(text, Pos { line: 9, column: 1 }), None);
    }

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

#[cfg(test)]
mod lowering_tests {
    use super::*;

    fn load(text: &str) -> Pipeline {
        match load_text(text, Path::new("t.yaml"), &[]) {
            Ok(p) => p,
            Err(err) => panic!("{err}"),
        }
    }

    fn messages(text: &str) -> Vec<String> {
        match load_text(text, Path::new("t.yaml"), &[]) {
            Ok(_) => panic!("expected problems"),
            Err(err) => err.diagnostics.into_iter().map(|d| d.to_string()).collect(),
        }
    }

    fn job(step: &Step) -> &JobStep {
        match &step.kind {
            StepKind::Job(job) => job,
            StepKind::Await(_) => panic!("{} is an await step", step.id),
        }
    }

    #[test]
    fn built_in_defaults_apply_to_a_bare_job_step() {
        let p = load("name: x\nsteps: [{job: a/b/build}]\n");
        let step = &p.steps[0];
        assert_eq!(step.id, "build");
        assert_eq!(step.condition, Condition::OnSuccess);
        assert!(!step.continue_on_failure);
        let job = job(step);
        assert_eq!(job.job.source(), "a/b/build");
        assert_eq!(job.expect, [ResultName::Success]);
        assert!(job.wait);
        assert_eq!(job.timeout, None);
        assert_eq!(job.queue_timeout, Duration::from_secs(3600));
        assert_eq!(job.poll, Poll::default());
        assert!(job.token.is_none() && job.params.is_empty());
        assert!(p.server.url.is_none() && p.server.max_in_flight.is_none());
    }

    #[test]
    fn file_defaults_apply_unless_the_step_overrides_them_field_by_field() {
        let p = load(
            "name: x
defaults:
  expect: [SUCCESS, UNSTABLE]
  timeout: 45m
  queue_timeout: 10m
  poll: { initial: 2s, max: 20s }
steps:
  - job: a
  - job: b
    expect: [FAILURE]
    timeout: 5m
    poll: { max: 1m, factor: 2 }
  - await: { job: qa/nightly }
",
        );
        let a = job(&p.steps[0]);
        assert_eq!(a.expect, [ResultName::Success, ResultName::Unstable]);
        assert_eq!(a.timeout, Some(Duration::from_secs(2700)));
        assert_eq!(a.queue_timeout, Duration::from_secs(600));
        assert_eq!(a.poll.initial, Duration::from_secs(2));
        assert_eq!(a.poll.factor, 1.5);
        let b = job(&p.steps[1]);
        assert_eq!(b.expect, [ResultName::Failure]);
        assert_eq!(b.timeout, Some(Duration::from_secs(300)));
        assert_eq!(
            b.poll,
            Poll {
                initial: Duration::from_secs(2),
                max: Duration::from_secs(60),
                factor: 2.0
            }
        );
        let StepKind::Await(gate) = &p.steps[2].kind else {
            panic!("an await step");
        };
        assert_eq!(p.steps[2].id, "nightly");
        assert_eq!(gate.results, [ResultName::Success]);
        assert_eq!(gate.timeout, Duration::from_secs(2700));
        assert_eq!(gate.newer_than, None);
    }

    #[test]
    fn an_await_gate_defaults_to_an_hour() {
        let p = load(
            "name: x\nsteps:\n  - await: { job: qa/nightly, result: [SUCCESS, UNSTABLE], newer_than: 24h }\n",
        );
        let StepKind::Await(gate) = &p.steps[0].kind else {
            panic!("an await step");
        };
        assert_eq!(gate.timeout, Duration::from_secs(3600));
        assert_eq!(gate.newer_than, Some(Duration::from_secs(86_400)));
        assert_eq!(gate.results, [ResultName::Success, ResultName::Unstable]);
    }

    #[test]
    fn steps_come_in_a_topological_order_with_needs_as_indices() {
        let p = load(
            "name: x
steps:
  - id: report
    job: report
    needs: [build]
  - id: build
    job: build
    needs: []
  - parallel:
      - job: eu
      - job: us
",
        );
        let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["build", "report", "eu", "us"]);
        assert_eq!(p.steps[1].needs, [0]);
        // The group follows `build` in the file, so it waits for it.
        assert_eq!(p.steps[2].needs, [0]);
        assert_eq!(p.steps[3].needs, [0]);
        assert_eq!(p.steps[0].line, 6);
        assert_eq!(p.steps[2].path, "steps[2].parallel[0]");
        for (i, step) in p.steps.iter().enumerate() {
            assert!(step.needs.iter().all(|&n| n < i));
        }
    }

    #[test]
    fn vars_keep_the_written_text_of_floats() {
        let p = load(
            "name: x\nvars:\n  version: 1.10\n  ratio: 1.5\n  list: [2.50, 3]\n  n: 7\nsteps: [{job: a}]\n",
        );
        assert_eq!(p.vars["version"], serde_json::json!("1.10"));
        assert_eq!(p.vars["ratio"], serde_json::json!(1.5));
        assert_eq!(p.vars["list"], serde_json::json!(["2.50", 3]));
        assert_eq!(p.vars["n"], serde_json::json!(7));
    }

    #[test]
    fn param_values_are_templates_named_by_their_path() {
        let p = load(
            "name: x\nsteps:\n  - job: a\n    params:\n      N: 3\n      B: true\n      E: ~\n      V: \"{{pipeline.name}}\"\n",
        );
        let params = &job(&p.steps[0]).params;
        let shown: Vec<(&str, &str, &str)> = params
            .iter()
            .map(|(k, t)| (k.as_str(), t.source(), t.field()))
            .collect();
        assert_eq!(
            shown,
            [
                ("N", "3", "steps[0].params.N"),
                ("B", "true", "steps[0].params.B"),
                ("E", "", "steps[0].params.E"),
                ("V", "{{pipeline.name}}", "steps[0].params.V"),
            ]
        );
        assert_eq!(params[3].1.line(), Some(8));
    }

    #[test]
    fn ids_are_derived_from_the_job_and_duplicates_need_an_explicit_id() {
        let m = messages("name: x\nsteps:\n  - job: a/deploy\n  - job: b/deploy\n");
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("t.yaml:4:5: this step has no `id`"),
            "{m:?}"
        );
        assert!(
            m[0].contains("give this step an explicit unique `id`"),
            "{m:?}"
        );
        let m = messages("name: x\nsteps:\n  - {id: a, job: x}\n  - {id: a, job: y}\n");
        assert!(
            m[0].starts_with("t.yaml:4:10: duplicate step id `a`"),
            "{m:?}"
        );
    }

    #[test]
    fn needs_problems_are_reported_at_the_entry() {
        let m = messages(
            "name: x\nsteps:\n  - id: build\n    job: b\n  - job: d\n    needs: [biuld]\n",
        );
        assert_eq!(
            m,
            [
                "t.yaml:6:13: step `d` needs unknown step `biuld` (did you mean `build`?); step ids are: build, d"
            ]
        );
        let m = messages("name: x\nsteps:\n  - id: a\n    job: b\n    needs: [a]\n");
        assert_eq!(
            m,
            ["t.yaml:5:13: step `a` needs itself; remove `a` from its `needs`"]
        );
    }

    #[test]
    fn wait_false_belongs_to_job_steps() {
        let m = messages("name: x\nsteps:\n  - await: {job: a}\n    wait: false\n");
        assert!(
            m[0].starts_with("t.yaml:4:11: `wait` applies to job steps"),
            "{m:?}"
        );
        assert!(
            load("name: x\nsteps: [{job: a, wait: false}]\n")
                .steps
                .len()
                == 1
        );
    }

    #[test]
    fn literal_job_names_are_checked() {
        for (job, says) in [
            ("job/a/job/b", "URL form"),
            ("a//b", "empty folder"),
            ("https://ci/job/a", "is a URL"),
            ("\" \"", "is empty"),
        ] {
            let m = messages(&format!("name: x\nsteps: [{{id: s, job: {job}}}]\n"));
            assert!(m[0].contains(says), "{job}: {m:?}");
        }
    }

    #[test]
    fn too_many_problems_are_summarised() {
        let mut text = String::from("name: x\nsteps:\n");
        for i in 0..80 {
            text.push_str(&format!("  - {{id: s{i}, job: a, needs: [nope]}}\n"));
        }
        let m = messages(&text);
        assert_eq!(m.len(), MAX_DIAGNOSTICS + 1);
        assert!(
            m.last().unwrap().contains("and 30 more problem(s)"),
            "{m:?}"
        );
    }

    #[test]
    fn the_jenkins_block_becomes_templates_with_secrets_marked() {
        let p = load(
            "name: x\njenkins:\n  url: https://ci.example.com\n  user: bot\n  token: \"{{env.T}}\"\n  max_in_flight: 8\n  unreachable_timeout: 5m\nsteps: [{job: a}]\n",
        );
        let server = &p.server;
        assert_eq!(
            server.url.as_ref().unwrap().source(),
            "https://ci.example.com"
        );
        assert!(server.token.as_ref().unwrap().is_secret());
        assert!(!server.url.as_ref().unwrap().is_secret());
        assert_eq!(server.token.as_ref().unwrap().env_refs(), ["T"]);
        assert_eq!(server.max_in_flight, Some(8));
        assert_eq!(server.unreachable_timeout, Some(Duration::from_secs(300)));
    }

    fn ids(p: &Pipeline) -> Vec<&str> {
        p.steps.iter().map(|s| s.id.as_str()).collect()
    }

    fn needs_of<'p>(p: &'p Pipeline, id: &str) -> Vec<&'p str> {
        p.step(id)
            .unwrap_or_else(|| panic!("no step {id}"))
            .needs
            .iter()
            .map(|&n| p.steps[n].id.as_str())
            .collect()
    }

    #[test]
    fn a_matrix_expands_into_one_step_per_combination_first_key_slowest() {
        let p = load(
            "name: x
steps:
  - id: deploy
    job: deploy
    matrix:
      REGION: [eu, us]
      TIER: [web, 2, true]
",
        );
        assert_eq!(
            ids(&p),
            [
                "deploy[REGION=eu,TIER=web]",
                "deploy[REGION=eu,TIER=2]",
                "deploy[REGION=eu,TIER=true]",
                "deploy[REGION=us,TIER=web]",
                "deploy[REGION=us,TIER=2]",
                "deploy[REGION=us,TIER=true]",
            ]
        );
        let cell = p.steps[4].matrix.as_ref().unwrap();
        assert_eq!(cell.group, "deploy");
        assert_eq!(
            cell.values,
            [
                ("REGION".to_string(), "us".to_string()),
                ("TIER".to_string(), "2".to_string())
            ]
        );
        assert!(cell.fail_fast);
        assert_eq!(cell.max_parallel, None);
        assert_eq!(p.cells("deploy"), [0, 1, 2, 3, 4, 5]);
        assert!(p.steps.iter().all(|s| s.path == "steps[0]" && s.line == 3));
    }

    #[test]
    fn a_one_key_matrix_names_its_cells_by_that_key() {
        let p = load(
            "name: x\nsteps:\n  - {id: deploy, job: deploy, matrix: {REGION: [eu]}, fail_fast: false, max_parallel: 2}\n",
        );
        assert_eq!(ids(&p), ["deploy[REGION=eu]"]);
        let cell = p.steps[0].matrix.as_ref().unwrap();
        assert!(!cell.fail_fast);
        assert_eq!(cell.max_parallel, Some(2));
    }

    #[test]
    fn cells_have_the_written_dependencies_and_dependents_need_every_cell() {
        let p = load(
            "name: x
steps:
  - id: build
    job: build
  - id: lint
    job: lint
    needs: []
  - id: deploy
    job: deploy
    needs: [build, lint]
    matrix: { REGION: [eu, us] }
  - id: smoke
    job: smoke
    matrix: { REGION: [eu, us] }
  - id: announce
    job: notify
    needs: [deploy]
",
        );
        for cell in ["deploy[REGION=eu]", "deploy[REGION=us]"] {
            assert_eq!(needs_of(&p, cell), ["build", "lint"]);
        }
        // `smoke` follows `deploy` in the list: each of its cells waits for every deploy cell.
        for cell in ["smoke[REGION=eu]", "smoke[REGION=us]"] {
            assert_eq!(
                needs_of(&p, cell),
                ["deploy[REGION=eu]", "deploy[REGION=us]"]
            );
        }
        assert_eq!(
            needs_of(&p, "announce"),
            ["deploy[REGION=eu]", "deploy[REGION=us]"]
        );
        for (i, step) in p.steps.iter().enumerate() {
            assert!(step.needs.iter().all(|&n| n < i), "{}", step.id);
        }
    }

    #[test]
    fn matrix_values_keep_their_yaml_text() {
        let p =
            load("name: x\nsteps:\n  - {id: d, job: d, matrix: {V: [1.10, 007, false, 'a b']}}\n");
        assert_eq!(ids(&p), ["d[V=1.10]", "d[V=007]", "d[V=false]", "d[V=a b]"]);
    }

    #[test]
    fn matrix_templates_read_their_keys_and_render_per_cell() {
        let p = load(
            "name: x
steps:
  - id: deploy
    job: \"deploy-{{matrix.REGION}}\"
    matrix: { REGION: [eu, us] }
    params: { TARGET: \"{{matrix.REGION}}/{{pipeline.name}}\" }
",
        );
        let cell = &p.steps[1];
        let ctx = super::super::RenderContext::new(&p, Default::default(), BTreeMap::new())
            .for_step(cell);
        assert_eq!(job(cell).job.render(&ctx).unwrap(), "deploy-us");
        assert_eq!(job(cell).params[0].1.render(&ctx).unwrap(), "us/x");
    }

    #[test]
    fn matrix_keys_outside_a_matrix_step_or_unknown_are_errors() {
        let m = messages("name: x\nsteps:\n  - job: a\n    params: { R: \"{{matrix.REGION}}\" }\n");
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with(
                "t.yaml:4:18: `matrix.REGION` in steps[0].params.R: only a step with `matrix:`"
            ),
            "{m:?}"
        );
        let m = messages(
            "name: x\nsteps:\n  - job: a\n    matrix: {REGION: [eu]}\n    params: { R: \"{{matrix.REGOIN}}\" }\n",
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("unknown matrix key `REGOIN`"), "{m:?}");
        assert!(m[0].contains("did you mean `matrix.REGION`?"), "{m:?}");
    }

    #[test]
    fn templates_cannot_read_the_facts_of_a_matrix_step() {
        let m = messages(
            "name: x
steps:
  - id: deploy
    job: deploy
    matrix: { REGION: [eu, us, ap] }
  - id: announce
    job: notify
    params: { N: \"{{steps.deploy.number}}\" }
",
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("t.yaml:8:18: "), "{m:?}");
        assert!(
            m[0].contains("step `deploy` is a matrix of 3 build(s), and the cells of a matrix cannot be addressed by templates"),
            "{m:?}"
        );
    }

    #[test]
    fn matrix_problems_are_reported_where_they_are() {
        let cases: &[(&str, &str)] = &[
            ("matrix: {}", "`matrix` is empty"),
            ("matrix: {R: []}", "matrix key `R` has no values"),
            (
                "matrix: {R: [eu, eu]}",
                "matrix value `eu` is listed twice under `R`",
            ),
            ("matrix: {R: [\"a,b\"]}", "may not contain `,`"),
            ("matrix: {R: [~]}", "is empty or null"),
            ("matrix: {\"a.b\": [x]}", "matrix key `a.b` may use only"),
            (
                "fail_fast: true",
                "`fail_fast` applies to a step with `matrix:`",
            ),
            (
                "max_parallel: 2",
                "`max_parallel` applies to a step with `matrix:`",
            ),
            (
                "{matrix: {R: [eu]}, max_parallel: 0}",
                "max_parallel must be at least 1",
            ),
        ];
        for (extra, says) in cases {
            let text = if extra.starts_with('{') {
                let inner = &extra[1..extra.len() - 1];
                format!("name: x\nsteps:\n  - {{id: s, job: a, {inner}}}\n")
            } else {
                format!("name: x\nsteps:\n  - id: s\n    job: a\n    {extra}\n")
            };
            let m = messages(&text);
            assert!(m.iter().any(|m| m.contains(says)), "{extra}: {m:?}");
        }
        let m = messages("name: x\nsteps:\n  - await: {job: a}\n    matrix: {R: [eu]}\n");
        assert!(m[0].contains("`matrix` applies to job steps"), "{m:?}");
    }

    #[test]
    fn a_matrix_of_more_than_256_combinations_is_refused() {
        let values: Vec<String> = (0..17).map(|i| i.to_string()).collect();
        let list = values.join(", ");
        let m = messages(&format!(
            "name: x\nsteps:\n  - id: s\n    job: a\n    matrix:\n      A: [{list}]\n      B: [{list}]\n"
        ));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with(
                "t.yaml:6:7: the matrix has 289 combinations, more than the 256 allowed"
            ),
            "{m:?}"
        );
        let sixteen: Vec<String> = (0..16).map(|i| i.to_string()).collect();
        let list = sixteen.join(", ");
        let p = load(&format!(
            "name: x\nsteps:\n  - id: s\n    job: a\n    matrix:\n      A: [{list}]\n      B: [{list}]\n"
        ));
        assert_eq!(p.steps.len(), 256);
    }

    #[test]
    fn retry_defaults_apply_key_by_key_under_the_steps_own() {
        let p = load(
            "name: x
defaults:
  retry: { max: 2, delay: 30s }
steps:
  - job: a
  - job: b
    retry: { on: [ABORTED, lost] }
  - job: c
    retry: { max: 0 }
  - job: d
    wait: false
",
        );
        let a = &job(&p.steps[0]).retry;
        assert_eq!(a.max, 2);
        assert_eq!(a.on, Retry::default().on);
        assert_eq!(a.delay, Duration::from_secs(30));
        let b = &job(&p.steps[1]).retry;
        assert_eq!(b.max, 2);
        assert_eq!(
            b.on,
            [
                super::super::RetryOn::Result(ResultName::Aborted),
                super::super::RetryOn::Lost
            ]
        );
        assert_eq!(b.delay, Duration::from_secs(30));
        assert_eq!(job(&p.steps[2]).retry.max, 0);
        // A build jrun does not follow is never retried, whatever the defaults say.
        assert_eq!(job(&p.steps[3]).retry, Retry::default());
        let bare = load("name: x\nsteps: [{job: a}]\n");
        assert_eq!(job(&bare.steps[0]).retry, Retry::default());
    }

    #[test]
    fn retry_problems_are_reported_at_their_keys() {
        let m = messages("name: x\nsteps:\n  - job: a\n    retry: { max: 101 }\n");
        assert_eq!(
            m,
            ["t.yaml:4:19: steps[0].retry.max is 101, more than the 100 allowed"]
        );
        let m = messages("name: x\ndefaults:\n  retry: { on: [] }\nsteps: [{job: a}]\n");
        assert!(
            m[0].starts_with("t.yaml:3:16: defaults.retry.on is empty"),
            "{m:?}"
        );
        let m = messages("name: x\nsteps:\n  - job: a\n    wait: false\n    retry: { max: 1 }\n");
        assert!(
            m[0].starts_with("t.yaml:5:12: `retry` has no effect with `wait: false`"),
            "{m:?}"
        );
        let m = messages("name: x\nsteps:\n  - await: {job: a}\n    retry: { max: 1 }\n");
        assert!(m[0].contains("`retry` applies to job steps"), "{m:?}");
    }

    #[test]
    fn an_if_expression_is_a_template_checked_like_any_other() {
        let p = load(
            "name: x
steps:
  - id: build
    job: build
  - id: retest
    job: test
    if: \"{{eq steps.build.result 'UNSTABLE'}}\"
",
        );
        let Condition::Expr(template) = &p.steps[1].condition else {
            panic!("an expression condition");
        };
        assert_eq!(template.field(), "steps[1].if");
        assert_eq!(template.step_refs(), ["build"]);
        assert!(p.steps[1].templates().any(|t| t.field() == "steps[1].if"));

        let m = messages(
            "name: x\nsteps:\n  - {id: build, job: b}\n  - {id: other, job: o, needs: []}\n  - {id: t, job: t, needs: [other], if: \"{{eq steps.build.result 'UNSTABLE'}}\"}\n",
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("add `build` to the `needs` of `t`"), "{m:?}");
        let m = messages("name: x\nsteps:\n  - job: a\n    if: \"{{eq vars.nope 1}}\"\n");
        assert!(
            m[0].starts_with("t.yaml:4:9: unknown variable `vars.nope` in steps[0].if"),
            "{m:?}"
        );
        let m = messages("name: x\nsteps:\n  - job: a\n    if: \"{{#if x}}\"\n");
        assert!(m[0].contains("invalid template in steps[0].if"), "{m:?}");
    }

    #[test]
    fn keyword_conditions_keep_their_meaning_and_unknown_ones_are_explained() {
        let p = load(
            "name: x\nsteps:\n  - job: a\n  - {job: b, if: always}\n  - {job: c, if: on_failure}\n",
        );
        assert_eq!(p.steps[0].condition, Condition::OnSuccess);
        assert_eq!(p.steps[1].condition, Condition::Always);
        assert_eq!(p.steps[2].condition, Condition::OnFailure);
        let m = messages("name: x\nsteps:\n  - job: a\n    if: alwys\n");
        assert!(m[0].starts_with("t.yaml:4:9: "), "{m:?}");
        assert!(
            m[0].contains("unknown condition `alwys` (did you mean `always`?)"),
            "{m:?}"
        );
        let m = messages(
            "name: x\nsteps:\n  - job: a\n  - job: b\n    needs: []\n    if: on_failure\n",
        );
        assert!(
            m[0].contains("it needs no step, so it would never run"),
            "{m:?}"
        );
    }

    #[test]
    fn await_build_defaults_to_last_build_and_takes_permalinks_and_numbers() {
        use super::super::AwaitBuild;
        let gate = |text: &str| match load(text).steps[0].kind.clone() {
            StepKind::Await(gate) => gate.build,
            StepKind::Job(_) => panic!("an await step"),
        };
        assert_eq!(
            gate("name: x\nsteps: [{await: {job: a}}]\n"),
            AwaitBuild::default()
        );
        assert_eq!(
            gate("name: x\nsteps: [{await: {job: a, build: lastSuccessfulBuild}}]\n"),
            AwaitBuild::Permalink("lastSuccessfulBuild".into())
        );
        assert_eq!(
            gate("name: x\nsteps: [{await: {job: a, build: 42}}]\n"),
            AwaitBuild::Number(42)
        );
        let m = messages("name: x\nsteps:\n  - await: {job: a, build: lastSucessfulBuild}\n");
        assert!(m[0].starts_with("t.yaml:3:28: "), "{m:?}");
        assert!(
            m[0].contains("(did you mean `lastSuccessfulBuild`?)"),
            "{m:?}"
        );
        let m = messages("name: x\nsteps:\n  - await: {job: a, build: 0}\n");
        assert!(m[0].contains("build numbers start at 1"), "{m:?}");
    }

    #[test]
    fn named_servers_are_chosen_per_step_and_default_is_the_jenkins_block() {
        let p = load(
            "name: x
jenkins: { url: https://ci.example.com }
servers:
  legacy: { url: https://old.example.com, user: bot, token_file: ~/.legacy, max_in_flight: 2 }
steps:
  - job: a
  - job: b
    server: legacy
  - await: { job: c }
    server: default
",
        );
        assert_eq!(p.servers.len(), 1);
        let legacy = &p.servers["legacy"];
        assert_eq!(
            legacy.url.as_ref().unwrap().source(),
            "https://old.example.com"
        );
        assert_eq!(legacy.max_in_flight, Some(2));
        assert_eq!(
            legacy.token_file.as_ref().unwrap().field(),
            "servers.legacy.token_file"
        );
        assert_eq!(p.steps[0].server, None);
        assert_eq!(p.steps[1].server.as_deref(), Some("legacy"));
        assert_eq!(p.steps[2].server, None);
        assert!(std::ptr::eq(p.server_spec(None).unwrap(), &p.server));
        assert!(std::ptr::eq(
            p.server_spec(Some("default")).unwrap(),
            &p.server
        ));
        assert!(std::ptr::eq(p.server_spec(Some("legacy")).unwrap(), legacy));
        assert!(p.server_spec(Some("nope")).is_none());
    }

    #[test]
    fn server_problems_name_the_nearest_server_and_keep_default_reserved() {
        let m = messages(
            "name: x\nservers:\n  legacy: {url: https://old}\nsteps:\n  - job: a\n    server: legcy\n",
        );
        assert_eq!(
            m,
            [
                "t.yaml:6:13: step `a` uses unknown server `legcy` (did you mean `legacy`?); the servers are: default, legacy"
            ]
        );
        let m = messages("name: x\nsteps:\n  - job: a\n    server: legacy\n");
        assert!(
            m[0].contains("the pipeline declares no `servers:`"),
            "{m:?}"
        );
        let m = messages("name: x\nservers:\n  default: {url: https://old}\nsteps: [{job: a}]\n");
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("t.yaml:3:12: `default` names the `jenkins:` server"),
            "{m:?}"
        );
        let m = messages(
            "name: x\nservers:\n  legacy: {url: old, token: t, token_file: f, max_in_flight: 0}\nsteps: [{job: a}]\n",
        );
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(
            m.iter()
                .any(|m| m.contains("servers.legacy: give either `token` or `token_file`")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|m| m.contains("servers.legacy.url `old` must start with http://")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|m| m.contains("servers.legacy.max_in_flight must be at least 1")),
            "{m:?}"
        );
        let m = messages(
            "name: x\nservers:\n  legacy: {url: \"{{steps.a.url}}\"}\nsteps: [{id: a, job: a}]\n",
        );
        assert!(m[0].contains("step facts cannot be used here"), "{m:?}");
    }
}

//! Templates: Handlebars, strict, never HTML-escaped, one per string value of the parsed file.
//!
//! Handlebars' strict mode does not look inside `{{#if}}` (a missing variable there is just
//! false), so every template is also checked statically at load time: the compiled template is
//! walked, every path it reads from the top-level context is collected, and the loader checks
//! those paths against the pipeline (see [`Template::check_refs`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use handlebars::template::{BlockParam, HelperTemplate, Parameter, Subexpression, TemplateElement};
use handlebars::{Handlebars, Path, PathSeg, Renderable};
use serde_json::{Map, Value};

use super::locate::Pos;
use super::suggest;

/// The helpers templates may use: Handlebars' built-ins, without `log` (it writes to a logger
/// jrun does not show) and `raw`.
pub const HELPERS: [&str; 15] = [
    "if", "unless", "each", "with", "lookup", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or",
    "not", "len",
];

/// Facts of a finished step that templates may read as `steps.<id>.<fact>`.
pub const STEP_FACTS: [&str; 5] = ["number", "url", "result", "duration_ms", "queue_id"];

static REGISTRY: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry
});

/// One templated string value of the file.
#[derive(Clone)]
pub struct Template {
    source: String,
    field: String,
    pos: Option<Pos>,
    secret: bool,
    compiled: Option<Arc<handlebars::Template>>,
    refs: Arc<[VarRef]>,
    work: Arc<Work>,
}

/// A path the template reads from the top-level context, e.g. `vars.version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VarRef {
    /// As written, for messages: `@root.vars.version`.
    pub raw: String,
    pub segs: Vec<String>,
}

/// What a path from the top-level context names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root<'a> {
    Vars(&'a [String]),
    Env(&'a str),
    Step {
        id: &'a str,
        fact: &'a str,
    },
    /// `steps.<id>.outputs.<name>`: a value read from the step's build once it ended.
    Output {
        id: &'a str,
        name: &'a str,
    },
    Matrix(&'a str),
    Run,
    Pipeline,
    /// `step.id`: the step the template renders for.
    This,
}

/// Two templates are the same when they are the same text in the same field (the compiled
/// form follows from the text).
impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
            && self.field == other.field
            && self.pos == other.pos
            && self.secret == other.secret
    }
}

impl Eq for Template {}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("field", &self.field)
            .field("source", &self.shown())
            .finish_non_exhaustive()
    }
}

/// Compiled forms by source text. Files repeat templates (`{{steps.build.number}}` in every
/// deploy), and compiling is most of the cost of loading a large file.
#[derive(Default)]
pub(crate) struct TemplateCache {
    compiled: std::collections::HashMap<String, Result<Compiled, Problems>>,
}

#[derive(Clone)]
pub(crate) struct Compiled {
    template: Arc<handlebars::Template>,
    refs: Arc<[VarRef]>,
    work: Arc<Work>,
}

/// What rendering a template costs, in terms of the values it renders over.
#[derive(Debug, Default)]
struct Work {
    loops: Vec<Loop>,
    /// `eq`/`ne` calls of the whole template (see [`comparisons`]).
    compares: u64,
}

/// One `{{#each}}` block of a template, for bounding the work of rendering it.
#[derive(Debug, Clone)]
struct Loop {
    /// The `{{#each}}` this one sits in, as an index into the template's loops.
    parent: Option<usize>,
    /// Elements its body renders per round, nested ones included.
    weight: u64,
    /// `eq`/`ne` calls in its body, nested ones included: each compares two values, which
    /// costs up to their size.
    compares: u64,
    /// What it loops over, when that is a path from the top-level context (`vars.regions`);
    /// `None` when it reads the current item of another block.
    over: Option<Vec<String>>,
}

/// Largest text one template value may render to.
pub const MAX_RENDERED_BYTES: usize = 1 << 20;

/// Most work rendering one template value may take, counted in elements rendered and values
/// compared: what nested `{{#each}}` blocks multiply.
pub const MAX_RENDER_WORK: u64 = 1_000_000;

/// What is wrong with a template, before it is tied to a field.
#[derive(Clone)]
pub(crate) enum Problems {
    /// Where in the value (for a message) and the parser's reason, when it is worth showing.
    Syntax { at: String, why: String },
    /// Each as "what; advice".
    Shape(Vec<String>),
}

/// Deepest nesting of blocks and of subexpressions a template may have. Handlebars' parser
/// recurses (and slows down quadratically) with nesting; no real template comes close.
const MAX_NESTING: usize = 32;

/// How deeply blocks (`{{#x}}...{{/x}}`) and subexpressions (`(x (y))`) nest, counted on the
/// text so that a pathological template is refused before the parser sees it.
fn nesting(source: &str) -> usize {
    // Each open block counts 1, plus 1 per `{{else if ...}}` of its chain: the parser nests
    // chained branches inside one another.
    let mut open: Vec<usize> = Vec::new();
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut rest = source;
    while let Some(at) = rest.find("{{") {
        let tag = rest[at + 2..].trim_start_matches(['{', '~', ' ']);
        let end = tag.find("}}").unwrap_or(tag.len());
        let inner = &tag[..end];
        if inner.starts_with('#') {
            open.push(1);
            depth += 1;
        } else if inner.starts_with('/') {
            depth -= open.pop().unwrap_or(0);
        } else if let Some(chain) = inner.strip_prefix("else ")
            && !chain.trim().is_empty()
            && let Some(top) = open.last_mut()
        {
            *top += 1;
            depth += 1;
        }
        let mut parens = 0usize;
        for c in inner.chars() {
            match c {
                '(' => {
                    parens += 1;
                    deepest = deepest.max(parens);
                }
                ')' => parens = parens.saturating_sub(1),
                _ => {}
            }
        }
        deepest = deepest.max(depth);
        rest = &tag[end..];
    }
    deepest
}

fn compile_source(source: &str) -> Result<Compiled, Problems> {
    let depth = nesting(source);
    if depth > MAX_NESTING {
        return Err(Problems::Shape(vec![format!(
            "blocks or subexpressions nest {depth} deep, more than the {MAX_NESTING} allowed; \
             simplify the template"
        )]));
    }
    let compiled = handlebars::Template::compile(source).map_err(|err| {
        let at = match err.pos() {
            Some((line, column)) if source.contains('\n') => {
                format!(" at line {line}, column {column} of the value")
            }
            Some((_, column)) => format!(" at column {column} of the value"),
            None => String::new(),
        };
        // The parser's own words for a syntax error list grammar rules, which help nobody.
        let why = match err.reason() {
            handlebars::TemplateErrorReason::InvalidSyntax(_) => String::new(),
            reason => format!(": {reason}"),
        };
        Problems::Syntax { at, why }
    })?;
    let mut walker = Walker::default();
    walker.template(&compiled);
    if !walker.problems.is_empty() {
        return Err(Problems::Shape(walker.problems));
    }
    let work = Work {
        loops: walker.loops,
        compares: comparisons(&compiled),
    };
    Ok(Compiled {
        template: Arc::new(compiled),
        refs: Arc::from(walker.refs),
        work: Arc::new(work),
    })
}

impl Template {
    /// Compiles `source`. `secret` marks fields such as tokens whose text must never be shown.
    /// Problems with the template's shape (syntax, helpers, partials, `@index` outside a loop)
    /// come back as messages that already name the field.
    #[cfg(test)]
    pub(crate) fn compile(
        source: &str,
        field: &str,
        pos: Option<Pos>,
        secret: bool,
    ) -> Result<Template, Vec<String>> {
        Template::compile_cached(&mut TemplateCache::default(), source, field, pos, secret)
    }

    /// [`Template::compile`], reusing what `cache` knows of the same source text.
    pub(crate) fn compile_cached(
        cache: &mut TemplateCache,
        source: &str,
        field: &str,
        pos: Option<Pos>,
        secret: bool,
    ) -> Result<Template, Vec<String>> {
        let mut template = Template {
            source: source.to_string(),
            field: field.to_string(),
            pos,
            secret,
            compiled: None,
            refs: Arc::from(Vec::new()),
            work: Arc::default(),
        };
        if template.is_literal() {
            return Ok(template);
        }
        let outcome = match cache.compiled.get(source) {
            Some(outcome) => outcome.clone(),
            None => {
                let outcome = compile_source(source);
                cache.compiled.insert(source.to_string(), outcome.clone());
                outcome
            }
        };
        let suffix = template.quoted();
        match outcome {
            Ok(compiled) => {
                template.compiled = Some(compiled.template);
                template.refs = compiled.refs;
                template.work = compiled.work;
                Ok(template)
            }
            Err(Problems::Syntax { at, why }) => Err(vec![format!(
                "invalid template in {field}{at}{why}; check that every `{{{{` has its `}}}}` \
                 and every `{{{{#block}}}}` its `{{{{/block}}}}` (write `\\{{{{` for a literal \
                 `{{{{`){suffix}"
            )]),
            Err(Problems::Shape(problems)) => Err(problems
                .into_iter()
                .map(|problem| match problem.split_once("; ") {
                    Some((what, advice)) => format!("{what} in {field}{suffix}; {advice}"),
                    None => format!("{problem} in {field}{suffix}"),
                })
                .collect()),
        }
    }

    /// The text as written in the file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The YAML path of the field, e.g. `steps[2].params.VERSION`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// No `{{` at all: renders to its source.
    pub fn is_literal(&self) -> bool {
        !self.source.contains("{{")
    }

    /// Whether the field holds a secret (tokens, passwords), whose text is never shown.
    pub fn is_secret(&self) -> bool {
        self.secret
    }

    pub fn line(&self) -> Option<usize> {
        self.pos.map(|p| p.line)
    }

    pub fn column(&self) -> Option<usize> {
        self.pos.map(|p| p.column)
    }

    /// Ids of the steps whose facts the template reads through `steps.<id>.*`.
    pub fn step_refs(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for r in self.refs.iter() {
            if let Ok(Root::Step { id, .. } | Root::Output { id, .. }) = classify(&r.segs)
                && !ids.iter().any(|seen| seen == id)
            {
                ids.push(id.to_string());
            }
        }
        ids
    }

    /// The outputs of other steps the template reads, as (step id, output name, path as
    /// written).
    pub(crate) fn output_refs(&self) -> Vec<(&str, &str, &str)> {
        let mut refs: Vec<(&str, &str, &str)> = Vec::new();
        for r in self.refs.iter() {
            if let Ok(Root::Output { id, name }) = classify(&r.segs)
                && !refs.iter().any(|(i, n, _)| *i == id && *n == name)
            {
                refs.push((id, name, r.raw.as_str()));
            }
        }
        refs
    }

    /// Names of the environment variables the template reads through `env.<NAME>`.
    pub fn env_refs(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for r in self.refs.iter() {
            if let Ok(Root::Env(name)) = classify(&r.segs)
                && !names.iter().any(|seen| seen == name)
            {
                names.push(name.to_string());
            }
        }
        names
    }

    /// Keys of the matrix values the template reads through `matrix.<KEY>`.
    pub fn matrix_refs(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for r in self.refs.iter() {
            if let Ok(Root::Matrix(key)) = classify(&r.segs)
                && !keys.iter().any(|seen| seen == key)
            {
                keys.push(key.to_string());
            }
        }
        keys
    }

    /// Whether it reads nothing but `vars` and `pipeline.name`, which are settled before
    /// anything runs, so that rendering it now gives what the run would.
    pub fn is_offline(&self) -> bool {
        self.refs
            .iter()
            .all(|r| matches!(classify(&r.segs), Ok(Root::Vars(_) | Root::Pipeline)))
    }

    #[cfg(test)]
    pub(crate) fn refs(&self) -> &[VarRef] {
        &self.refs
    }

    /// The source for messages; hidden for secret fields.
    fn shown(&self) -> &str {
        if self.secret {
            "<hidden>"
        } else {
            &self.source
        }
    }

    fn quoted(&self) -> String {
        const SHOWN: usize = 100;
        if self.secret {
            return String::new();
        }
        match self.source.char_indices().nth(SHOWN) {
            Some((cut, _)) => format!(" (template `{}...`)", &self.source[..cut]),
            None => format!(" (template `{}`)", self.source),
        }
    }

    /// Renders with strict Handlebars and no escaping. A fact that is not known (a step that
    /// has not finished, or has no build number yet) is an error, never an empty string.
    pub fn render(&self, ctx: &RenderContext) -> Result<String, RenderError> {
        let Some(compiled) = &self.compiled else {
            return Ok(self.source.clone());
        };
        let mut env = Map::new();
        let mut steps = Map::new();
        let mut matrix = Map::new();
        for r in self.refs.iter() {
            match classify(&r.segs) {
                Ok(Root::Env(name)) => match ctx.env.get(name) {
                    Some(value) => {
                        env.insert(name.to_string(), Value::String(value.clone()));
                    }
                    None => {
                        return Err(self.error(format!(
                            "env.{name} is not set; export {name} before running jrun"
                        )));
                    }
                },
                Ok(Root::Step { id, fact }) => {
                    let Some(facts) = ctx.steps.get(id) else {
                        return Err(self.error(format!(
                            "steps.{id}.{fact} is not known: step `{id}` has not finished"
                        )));
                    };
                    let Some(value) = facts.get(fact) else {
                        return Err(self.error(format!(
                            "steps.{id}.{fact} is not known: step `{id}` has no {}",
                            fact_description(fact)
                        )));
                    };
                    let entry = steps
                        .entry(id.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(map) = entry {
                        map.insert(fact.to_string(), value);
                    }
                }
                Ok(Root::Output { id, name }) => {
                    let Some(facts) = ctx.steps.get(id) else {
                        return Err(self.error(format!(
                            "steps.{id}.outputs.{name} is not known: step `{id}` has not finished"
                        )));
                    };
                    let Some(value) = facts.outputs.get(name) else {
                        let mut message = format!(
                            "steps.{id}.outputs.{name} is not known: step `{id}` did not \
                             provide output `{name}`"
                        );
                        if facts.outputs.is_empty() {
                            message.push_str(" (it provided no outputs)");
                        } else {
                            message.push_str(&format!(
                                " (it provided: {})",
                                suggest::list(facts.outputs.keys().map(String::as_str))
                            ));
                        }
                        return Err(self.error(message));
                    };
                    let entry = steps
                        .entry(id.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(map) = entry {
                        let outputs = map
                            .entry("outputs".to_string())
                            .or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(outputs) = outputs {
                            outputs.insert(name.to_string(), Value::String(value.clone()));
                        }
                    }
                }
                Ok(Root::Matrix(key)) => match ctx.matrix.iter().find(|(k, _)| k == key) {
                    Some((_, value)) => {
                        matrix.insert(key.to_string(), Value::String(value.clone()));
                    }
                    None => {
                        return Err(self.error(format!(
                            "matrix.{key} is not known: this step has no matrix value `{key}`"
                        )));
                    }
                },
                Ok(Root::This) if ctx.step_id.is_none() => {
                    return Err(
                        self.error("step.id is only known in a step's own settings".to_string())
                    );
                }
                Ok(Root::Vars(_) | Root::Run | Root::Pipeline | Root::This) => {}
                Err(message) => return Err(self.error(message)),
            }
        }
        let vars: Map<String, Value> = ctx
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let data = serde_json::json!({
            "vars": vars,
            "env": env,
            "steps": steps,
            "matrix": matrix,
            "run": { "id": ctx.run.id, "started_at": ctx.run.started_at },
            "pipeline": { "name": ctx.pipeline_name },
            "step": { "id": ctx.step_id },
        });
        let work = self.work(&data);
        if work > MAX_RENDER_WORK {
            return Err(self.error(format!(
                "rendering it over these values would take {work} steps (its `{{{{#each}}}}` \
                 loops and `eq`/`ne` comparisons), more than the {MAX_RENDER_WORK} allowed; \
                 loop over shorter lists, nest fewer loops or compare smaller values"
            )));
        }
        let data = handlebars::Context::from(data);
        let mut rc = handlebars::RenderContext::new(None);
        let mut out = Bounded::default();
        match compiled.render(&REGISTRY, &data, &mut rc, &mut out) {
            Ok(()) => Ok(out.text),
            Err(_) if out.full => Err(self.error(format!(
                "it renders more than {} MiB, the most one value may hold; loop over shorter \
                 lists or nest fewer loops",
                MAX_RENDERED_BYTES >> 20
            ))),
            Err(err) => Err(self.error(describe_render_error(&err))),
        }
    }

    /// At most how many elements rendering over `data` takes: each loop's body weight times
    /// the rounds of it and of every loop around it. A loop over a path from the top-level
    /// context counts that value's length; one over the current item of another block counts
    /// the longest list or mapping in `data`.
    fn work(&self, data: &Value) -> u64 {
        let Work { loops, compares } = &*self.work;
        if loops.is_empty() && *compares == 0 {
            return 0;
        }
        // What one comparison may cost: two values as large as everything the template sees.
        let compare = if *compares > 0 { nodes(data) } else { 0 };
        let longest = std::cell::OnceCell::new();
        let rounds: Vec<u64> = loops
            .iter()
            .map(|l| {
                let len = match &l.over {
                    Some(segs) => lookup(data, segs).map_or(0, container_len),
                    None => *longest.get_or_init(|| longest_container(data)),
                };
                // An empty loop still renders its `{{else}}` once.
                (len as u64).max(1)
            })
            .collect();
        let mut total = compares.saturating_mul(compare);
        for (i, l) in loops.iter().enumerate() {
            let mut times = rounds[i];
            let mut parent = l.parent;
            while let Some(p) = parent {
                times = times.saturating_mul(rounds[p]);
                parent = loops[p].parent;
            }
            let round = l.weight.saturating_add(l.compares.saturating_mul(compare));
            total = total.saturating_add(times.saturating_mul(round));
        }
        total
    }

    fn error(&self, message: String) -> RenderError {
        RenderError {
            field: self.field.clone(),
            template: self.shown().to_string(),
            message,
            line: self.line(),
            column: self.column(),
        }
    }

    /// Checks every path the template reads against what the pipeline provides. `steps` is
    /// `None` where no step facts exist (the server blocks); `matrix` holds the keys of the
    /// step's `matrix:`, `None` outside a matrix step.
    pub(crate) fn check_refs(
        &self,
        vars: &BTreeMap<String, Value>,
        steps: Option<&dyn Fn(&str) -> StepAccess>,
        step_ids: &[&str],
        matrix: Option<&[&str]>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let field = &self.field;
        for r in self.refs.iter() {
            let root = match classify(&r.segs) {
                Ok(root) => root,
                Err(message) => {
                    problems.push(format!("{message} in {field}{}", hint_for_root(r, vars)));
                    continue;
                }
            };
            match root {
                Root::Vars(path) => {
                    if let Err(message) = check_var_path(vars, path) {
                        problems.push(format!(
                            "unknown variable `{}` in {field}; {message}",
                            r.raw
                        ));
                    }
                }
                Root::Step { id, .. } | Root::Output { id, .. } => match steps {
                    None => problems.push(format!(
                        "`{}` in {field}: the server is set up before any step runs, so step \
                         facts cannot be used here; use vars, env, run or pipeline",
                        r.raw
                    )),
                    Some(access) => match access(id) {
                        StepAccess::Known => {}
                        StepAccess::Unknown => {
                            let mut message =
                                format!("unknown step `{id}` in `{}` ({field})", r.raw);
                            if let Some(near) = suggest::nearest(id, step_ids.iter().copied()) {
                                message.push_str(&format!(" (did you mean `{near}`?)"));
                            }
                            message.push_str(&format!(
                                "; step ids are: {}",
                                suggest::list(step_ids.iter().copied())
                            ));
                            problems.push(message);
                        }
                        StepAccess::NotBefore {
                            step,
                            runs_after: true,
                        } => problems.push(format!(
                            "{field} reads `{}`, but step `{id}` runs after step `{step}` (it \
                             depends on it), so its facts are not known when `{step}` starts; \
                             read them in a step that comes after `{id}`",
                            r.raw
                        )),
                        StepAccess::NotBefore { step, .. } => problems.push(format!(
                            "{field} reads `{}`, but step `{step}` does not depend on step \
                             `{id}`, so its facts are not known when `{step}` starts; add `{id}` \
                             to the `needs` of `{step}`",
                            r.raw
                        )),
                        StepAccess::ItSelf => problems.push(format!(
                            "{field} reads `{}`, a fact of its own step, which is not known \
                             before the step runs; remove it",
                            r.raw
                        )),
                        StepAccess::Matrix { cells } => problems.push(format!(
                            "{field} reads `{}`, but step `{id}` is a matrix of {cells} \
                             build(s), and the cells of a matrix cannot be addressed by \
                             templates; read the facts of a step that is not a matrix",
                            r.raw
                        )),
                    },
                },
                Root::Matrix(key) => match matrix {
                    None => problems.push(format!(
                        "`{}` in {field}: only a step with `matrix:` has matrix values; add a \
                         `matrix:` to this step or use vars",
                        r.raw
                    )),
                    Some(keys) if !keys.contains(&key) => {
                        let mut message = format!(
                            "unknown matrix key `{key}` in `{}` ({field}); this step's matrix \
                             has: {}",
                            r.raw,
                            suggest::list(keys.iter().copied())
                        );
                        if let Some(near) = suggest::nearest(key, keys.iter().copied()) {
                            message.push_str(&format!(" (did you mean `matrix.{near}`?)"));
                        }
                        problems.push(message);
                    }
                    Some(_) => {}
                },
                Root::This if steps.is_none() => problems.push(format!(
                    "`{}` in {field}: the server is set up before any step runs, so there is \
                     no step id here; use vars, env, run or pipeline",
                    r.raw
                )),
                Root::Env(_) | Root::Run | Root::Pipeline | Root::This => {}
            }
        }
        problems
    }
}

/// Whether a step may read another step's facts.
pub(crate) enum StepAccess {
    Known,
    Unknown,
    ItSelf,
    /// The other step has `matrix:`: several builds, none of which a template can name.
    Matrix {
        cells: usize,
    },
    /// `runs_after`: the other step depends on this one, so `needs` cannot fix it.
    NotBefore {
        step: String,
        runs_after: bool,
    },
}

fn fact_description(fact: &str) -> &'static str {
    match fact {
        "number" => "build number",
        "url" => "build URL",
        "result" => "result",
        "duration_ms" => "duration",
        "queue_id" => "queue item",
        _ => "such fact",
    }
}

fn describe_render_error(err: &handlebars::RenderError) -> String {
    match err.reason() {
        handlebars::RenderErrorReason::MissingVariable(Some(path)) => {
            format!("`{path}` is not defined")
        }
        handlebars::RenderErrorReason::MissingVariable(None) => {
            "a variable is not defined".to_string()
        }
        reason => reason.to_string(),
    }
}

/// Rendered text that refuses to grow past [`MAX_RENDERED_BYTES`]: the write that would pass
/// it fails, which stops the rendering.
#[derive(Default)]
struct Bounded {
    text: String,
    full: bool,
}

impl handlebars::Output for Bounded {
    fn write(&mut self, seg: &str) -> Result<(), std::io::Error> {
        if self.text.len() + seg.len() > MAX_RENDERED_BYTES {
            self.full = true;
            return Err(std::io::Error::other("the rendered value is too large"));
        }
        self.text.push_str(seg);
        Ok(())
    }
}

fn lookup<'v>(data: &'v Value, segs: &[String]) -> Option<&'v Value> {
    segs.iter().try_fold(data, |value, seg| match value {
        Value::Object(map) => map.get(seg),
        Value::Array(items) => items.get(seg.parse::<usize>().ok()?),
        _ => None,
    })
}

fn container_len(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        _ => 0,
    }
}

/// The length of the longest list or mapping anywhere in `value`.
fn longest_container(value: &Value) -> usize {
    let mut longest = 0;
    let mut todo = vec![value];
    while let Some(value) = todo.pop() {
        longest = longest.max(container_len(value));
        match value {
            Value::Array(items) => todo.extend(items),
            Value::Object(map) => todo.extend(map.values()),
            _ => {}
        }
    }
    longest
}

/// How many values `value` holds, itself included.
fn nodes(value: &Value) -> u64 {
    let mut count = 0u64;
    let mut todo = vec![value];
    while let Some(value) = todo.pop() {
        count += 1;
        match value {
            Value::Array(items) => todo.extend(items),
            Value::Object(map) => todo.extend(map.values()),
            _ => {}
        }
    }
    count
}

/// How many `eq` and `ne` calls a template makes once through, nested blocks included. A
/// comparison with a literal (`eq this "eu"`) costs no more than the literal's size, and is
/// not counted.
fn comparisons(template: &handlebars::Template) -> u64 {
    fn call(ht: &HelperTemplate) -> u64 {
        let compares = matches!(&ht.name, Parameter::Name(name) if name == "eq" || name == "ne");
        let literal = ht.params.iter().any(|p| matches!(p, Parameter::Literal(_)));
        let own = u64::from(compares && !literal);
        own + ht
            .params
            .iter()
            .chain(ht.hash.values())
            .map(param)
            .sum::<u64>()
            + ht.template.as_ref().map_or(0, comparisons)
            + ht.inverse.as_ref().map_or(0, comparisons)
    }
    fn param(p: &Parameter) -> u64 {
        match p {
            Parameter::Subexpression(sub) => match sub.element.as_ref() {
                TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => call(ht),
                _ => 0,
            },
            _ => 0,
        }
    }
    template
        .elements
        .iter()
        .map(|element| match element {
            TemplateElement::HelperBlock(ht)
            | TemplateElement::Expression(ht)
            | TemplateElement::HtmlExpression(ht) => call(ht),
            _ => 0,
        })
        .sum()
}

/// How many elements a template renders once through, nested blocks included.
fn weight(template: &handlebars::Template) -> u64 {
    template
        .elements
        .iter()
        .map(|element| match element {
            TemplateElement::HelperBlock(ht) => {
                1 + ht.params.len() as u64
                    + ht.template.as_ref().map_or(0, weight)
                    + ht.inverse.as_ref().map_or(0, weight)
            }
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                1 + ht.params.len() as u64
            }
            _ => 1,
        })
        .sum()
}

/// What a path from the top-level context names, or why it names nothing.
pub(crate) fn classify(segs: &[String]) -> Result<Root<'_>, String> {
    let raw = segs.join(".");
    let Some((first, rest)) = segs.split_first() else {
        return Err(
            "`this` at the top level is the whole context; name a value such as `vars.version`"
                .to_string(),
        );
    };
    match (first.as_str(), rest) {
        ("vars", rest) => Ok(Root::Vars(rest)),
        ("env", [name]) if is_env_name(name) => Ok(Root::Env(name)),
        ("env", [name]) => Err(format!(
            "`env.{name}` is not a valid environment variable name (letters, digits and `_`, \
             not starting with a digit)"
        )),
        ("env", _) => Err(format!(
            "`{raw}`: environment variables are read one at a time as `env.NAME`"
        )),
        ("steps", [id, outputs, name]) if outputs == "outputs" => Ok(Root::Output {
            id: id.as_str(),
            name: name.as_str(),
        }),
        ("steps", [id, outputs, ..]) if outputs == "outputs" => Err(format!(
            "`{raw}`: a step's outputs are read one at a time, as `steps.{id}.outputs.NAME`"
        )),
        ("steps", [id, fact]) if STEP_FACTS.contains(&fact.as_str()) => Ok(Root::Step {
            id: id.as_str(),
            fact: fact.as_str(),
        }),
        ("steps", [id, fact]) => {
            let mut message = format!("unknown step fact `{fact}` in `{raw}`");
            if let Some(near) = suggest::nearest(fact, STEP_FACTS) {
                message.push_str(&format!("; did you mean `steps.{id}.{near}`?"));
            }
            message.push_str(&format!(
                "; a step has: {}, and its outputs as `steps.{id}.outputs.NAME`",
                suggest::list(STEP_FACTS.iter().copied())
            ));
            Err(message)
        }
        ("steps", _) => Err(format!(
            "`{raw}`: step facts are read as `steps.<id>.<fact>`, with fact one of {}",
            suggest::list(STEP_FACTS.iter().copied())
        )),
        ("matrix", [key]) => Ok(Root::Matrix(key.as_str())),
        ("matrix", _) => Err(format!(
            "`{raw}`: matrix values are read one at a time as `matrix.KEY`"
        )),
        ("run", [field]) if field == "id" || field == "started_at" => Ok(Root::Run),
        ("run", _) => Err(format!(
            "unknown variable `{raw}`; a run has `run.id` and `run.started_at`"
        )),
        ("pipeline", [field]) if field == "name" => Ok(Root::Pipeline),
        ("pipeline", _) => Err(format!(
            "unknown variable `{raw}`; the pipeline has `pipeline.name`"
        )),
        ("step", [field]) if field == "id" => Ok(Root::This),
        ("step", _) => Err(format!(
            "unknown variable `{raw}`; the step a template belongs to has `step.id` (facts of \
             other steps are `steps.<id>.<fact>`)"
        )),
        _ => Err(format!(
            "unknown variable `{raw}`; templates read vars.<name>, env.<NAME>, \
             steps.<id>.<fact>, matrix.<KEY> (in a matrix step), step.id, run.id, \
             run.started_at and pipeline.name"
        )),
    }
}

fn hint_for_root(r: &VarRef, vars: &BTreeMap<String, Value>) -> String {
    let Some(first) = r.segs.first() else {
        return String::new();
    };
    if ["vars", "env", "steps", "matrix", "run", "pipeline", "step"].contains(&first.as_str()) {
        return String::new();
    }
    if vars.contains_key(first) {
        return format!(" (did you mean `vars.{}`?)", r.segs.join("."));
    }
    if r.segs.len() == 1 && is_env_name(first) && first.chars().all(|c| !c.is_lowercase()) {
        return format!(" (did you mean `env.{first}`?)");
    }
    String::new()
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Follows `path` into vars; the error says what exists where the path went wrong.
fn check_var_path(vars: &BTreeMap<String, Value>, path: &[String]) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    let Some(mut value) = vars.get(first) else {
        if vars.is_empty() {
            return Err("the pipeline has no vars; declare it under `vars:`".to_string());
        }
        let mut message = format!(
            "vars has: {}",
            suggest::list(vars.keys().map(String::as_str))
        );
        if let Some(near) = suggest::nearest(first, vars.keys().map(String::as_str)) {
            message.push_str(&format!(" (did you mean `vars.{near}`?)"));
        }
        return Err(message);
    };
    let mut walked = format!("vars.{first}");
    for seg in rest {
        value = match value {
            Value::Object(map) => match map.get(seg) {
                Some(next) => next,
                None if map.is_empty() => return Err(format!("{walked} is an empty mapping")),
                None => {
                    let mut message = format!(
                        "{walked} has: {}",
                        suggest::list(map.keys().map(String::as_str))
                    );
                    if let Some(near) = suggest::nearest(seg, map.keys().map(String::as_str)) {
                        message.push_str(&format!(" (did you mean `{walked}.{near}`?)"));
                    }
                    return Err(message);
                }
            },
            Value::Array(items) => match seg.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(next) => next,
                None => {
                    return Err(format!(
                        "{walked} is a list of {} item(s), indexed from 0",
                        items.len()
                    ));
                }
            },
            other => {
                return Err(format!(
                    "{walked} is {}, which has no `{seg}`",
                    kind_of(other)
                ));
            }
        };
        walked.push('.');
        walked.push_str(seg);
    }
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The segments Handlebars marks for `@root` and `../`; its grammar's rule type is private, so
/// they are taken from sample paths.
static RULED: LazyLock<(Option<PathSeg>, Option<PathSeg>)> =
    LazyLock::new(|| (first_seg("@root.x"), first_seg("../x")));

fn first_seg(sample: &str) -> Option<PathSeg> {
    match Path::parse(sample).ok()? {
        Path::Relative((segs, _)) => segs.into_iter().next(),
        Path::Local(_) => None,
    }
}

/// Collects the paths a template reads from the top-level context, and what it may not do.
#[derive(Default)]
struct Walker {
    refs: Vec<VarRef>,
    problems: Vec<String>,
    /// The blocks that change the context (`each`, `with`), innermost last; `true` for `each`.
    frames: Vec<bool>,
    loops: Vec<Loop>,
    /// Indices in `loops` of the `each` blocks around the current element, innermost last.
    open_loops: Vec<usize>,
}

impl Walker {
    fn template(&mut self, template: &handlebars::Template) {
        for element in &template.elements {
            match element {
                TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
                TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                    self.expression(ht)
                }
                TemplateElement::HelperBlock(ht) => self.block(ht),
                TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                    self.problem("decorators (`{{*name}}`) are not supported".to_string())
                }
                TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                    self.problem("partials (`{{> name}}`) are not supported".to_string())
                }
                _ => self.problem("this kind of template element is not supported".to_string()),
            }
        }
    }

    fn problem(&mut self, message: String) {
        if !self.problems.contains(&message) {
            self.problems.push(message);
        }
    }

    fn expression(&mut self, ht: &HelperTemplate) {
        match &ht.name {
            Parameter::Name(name) => self.helper(name, ht, false),
            Parameter::Path(path) => {
                self.path(path);
                self.arguments(ht);
            }
            Parameter::Subexpression(sub) => {
                self.subexpression(sub);
                self.arguments(ht);
            }
            _ => self.arguments(ht),
        }
    }

    fn helper(&mut self, name: &str, ht: &HelperTemplate, block: bool) {
        if !HELPERS.contains(&name) {
            let mut message = format!("unknown helper `{name}`");
            if let Some(near) = suggest::nearest(name, HELPERS) {
                message.push_str(&format!(" (did you mean `{near}`?)"));
            }
            message.push_str(&format!("; templates may use: {}", HELPERS.join(", ")));
            self.problem(message);
        } else if block && matches!(name, "lookup" | "len") {
            self.problem(format!(
                "`{name}` is not a block helper; write `{{{{{name} ...}}}}` without `#`"
            ));
        } else if !block && matches!(name, "each" | "with") {
            self.problem(format!(
                "`{name}` is a block helper; write `{{{{#{name} ...}}}}...{{{{/{name}}}}}`"
            ));
        } else {
            let want = match name {
                "lookup" | "eq" | "ne" | "gt" | "gte" | "lt" | "lte" | "and" | "or" => 2,
                _ => 1,
            };
            if ht.params.len() != want {
                self.problem(format!(
                    "`{name}` takes {want} argument(s), not {}",
                    ht.params.len()
                ));
            }
        }
        self.arguments(ht);
    }

    fn arguments(&mut self, ht: &HelperTemplate) {
        for param in &ht.params {
            self.parameter(param);
        }
        let mut hash: Vec<_> = ht.hash.iter().collect();
        hash.sort_by(|a, b| a.0.cmp(b.0));
        for (_, param) in hash {
            self.parameter(param);
        }
    }

    fn parameter(&mut self, param: &Parameter) {
        match param {
            Parameter::Path(path) => self.path(path),
            Parameter::Subexpression(sub) => self.subexpression(sub),
            _ => {}
        }
    }

    fn subexpression(&mut self, sub: &Subexpression) {
        match sub.element.as_ref() {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                self.expression(ht)
            }
            _ => self.problem("this kind of subexpression is not supported".to_string()),
        }
    }

    fn block(&mut self, ht: &HelperTemplate) {
        let Parameter::Name(name) = &ht.name else {
            self.problem("a block must start with a helper name, as in `{{#if ...}}`".to_string());
            return;
        };
        self.helper(name, ht, true);
        if let Some(BlockParam::Pair(_) | BlockParam::Single(_)) = &ht.block_param
            && name != "each"
            && name != "with"
        {
            self.problem(format!("`{name}` has no block parameters (`as |x|`)"));
        }
        let is_loop = name == "each";
        if is_loop {
            let over = ht.params.first().and_then(|param| self.rooted(param));
            let weight =
                1 + ht.template.as_ref().map_or(0, weight) + ht.inverse.as_ref().map_or(0, weight);
            let compares = ht.template.as_ref().map_or(0, comparisons)
                + ht.inverse.as_ref().map_or(0, comparisons);
            self.loops.push(Loop {
                parent: self.open_loops.last().copied(),
                weight,
                compares,
                over,
            });
            self.open_loops.push(self.loops.len() - 1);
        }
        let changes_context = is_loop || name == "with";
        if changes_context {
            self.frames.push(is_loop);
        }
        if let Some(template) = &ht.template {
            self.template(template);
        }
        if changes_context {
            self.frames.pop();
        }
        if is_loop {
            self.open_loops.pop();
        }
        // `{{else}}` of a loop or `with` renders in the outer context.
        if let Some(inverse) = &ht.inverse {
            self.template(inverse);
        }
    }

    /// The path from the top-level context that `param` reads, if it reads one.
    fn rooted(&self, param: &Parameter) -> Option<Vec<String>> {
        let Parameter::Path(Path::Relative((segs, _))) = param else {
            return None;
        };
        let (root_seg, up_seg) = &*RULED;
        let (mut rooted, mut ups, mut names) = (false, 0usize, Vec::new());
        for seg in segs {
            match seg {
                PathSeg::Named(name) => names.push(name.clone()),
                seg if Some(seg) == root_seg.as_ref() => rooted = true,
                seg if Some(seg) == up_seg.as_ref() => ups += 1,
                _ => return None,
            }
        }
        (rooted || ups == self.frames.len()).then_some(names)
    }

    fn path(&mut self, path: &Path) {
        match path {
            Path::Local((level, name, raw)) => {
                let frame = self
                    .frames
                    .len()
                    .checked_sub(level + 1)
                    .and_then(|i| self.frames.get(i));
                let known = matches!(name.as_str(), "index" | "key" | "first" | "last");
                if !known {
                    self.problem(format!(
                        "unknown local variable `{raw}`; inside `{{{{#each}}}}` there are \
                         @index, @key, @first and @last"
                    ));
                } else if frame != Some(&true) {
                    self.problem(format!("`{raw}` is only defined inside `{{{{#each}}}}`"));
                }
            }
            Path::Relative((segs, raw)) => {
                let (root_seg, up_seg) = &*RULED;
                let mut rooted = false;
                let mut ups = 0usize;
                let mut names = Vec::with_capacity(segs.len());
                for seg in segs {
                    match seg {
                        PathSeg::Named(name) => names.push(name.clone()),
                        seg if Some(seg) == root_seg.as_ref() => rooted = true,
                        seg if Some(seg) == up_seg.as_ref() => ups += 1,
                        _ => {
                            self.problem(format!("the path `{raw}` is not supported"));
                            return;
                        }
                    }
                }
                if !rooted && ups > self.frames.len() {
                    self.problem(format!(
                        "`{raw}` goes up more blocks than there are; remove a `../`"
                    ));
                    return;
                }
                // Inside `each`/`with`, a relative path reads the current item, whose shape
                // is only known when rendering (where strict mode checks it).
                if rooted || ups == self.frames.len() {
                    let r = VarRef {
                        raw: raw.clone(),
                        segs: names,
                    };
                    if !self.refs.contains(&r) {
                        self.refs.push(r);
                    }
                }
            }
        }
    }
}

/// What templates can read when they render.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    /// Shared by every step's context: a run of thousands of steps holds one copy.
    pub vars: Arc<BTreeMap<String, Value>>,
    pub env: Arc<BTreeMap<String, String>>,
    /// Facts of the steps that had finished when the context was made, by id.
    pub steps: FinishedSteps,
    /// In a cell of a matrix step, the cell's values (`{{matrix.REGION}}`); empty elsewhere.
    /// A list, not a map: a context per cell of a matrix of thousands is held while its
    /// step runs, and a map's smallest node is several hundred bytes.
    pub matrix: Vec<(String, String)>,
    pub run: RunFacts,
    pub pipeline_name: String,
    /// The id of the step templates render for (`{{step.id}}`); None outside a step.
    pub step_id: Option<String>,
}

/// Facts of finished steps by id, with the meaning of a map that each clone owns (a clone
/// never sees what is inserted into another, nor after it was made), but one table behind
/// all the clones: a run hands every step a context holding the facts known when the step
/// started, and copying them per step would make a run of n steps cost n² in time and memory.
/// Facts are only ever added; an insert into a clone that is not the newest view, or one that
/// replaces a fact, first copies what the clone sees into a table of its own.
#[derive(Debug, Clone, Default)]
pub struct FinishedSteps {
    table: Arc<std::sync::RwLock<FactsTable>>,
    /// The facts inserted before this many inserts into `table` are visible to this view.
    seen: usize,
}

#[derive(Debug, Default)]
struct FactsTable {
    /// Each step's facts and the insert that put them there.
    facts: std::collections::HashMap<String, (usize, Arc<StepFacts>)>,
    inserts: usize,
}

impl FinishedSteps {
    /// The facts of step `id`, if it had finished when this view was made.
    pub fn get(&self, id: &str) -> Option<Arc<StepFacts>> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        table
            .facts
            .get(id)
            .filter(|(insert, _)| *insert < self.seen)
            .map(|(_, facts)| facts.clone())
    }

    pub fn insert(&mut self, id: String, facts: StepFacts) {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        if table.inserts != self.seen || table.facts.contains_key(&id) {
            let mut own = FactsTable::default();
            for (key, (insert, facts)) in &table.facts {
                if *insert < self.seen && *key != id {
                    own.facts.insert(key.clone(), (own.inserts, facts.clone()));
                    own.inserts += 1;
                }
            }
            drop(table);
            self.table = Arc::new(std::sync::RwLock::new(own));
            table = self.table.write().unwrap_or_else(|e| e.into_inner());
        }
        let insert = table.inserts;
        table.facts.insert(id, (insert, Arc::new(facts)));
        table.inserts += 1;
        self.seen = table.inserts;
    }
}

impl FromIterator<(String, StepFacts)> for FinishedSteps {
    fn from_iter<I: IntoIterator<Item = (String, StepFacts)>>(iter: I) -> FinishedSteps {
        let mut steps = FinishedSteps::default();
        for (id, facts) in iter {
            steps.insert(id, facts);
        }
        steps
    }
}

/// What is known about a finished step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepFacts {
    pub number: Option<u64>,
    pub url: Option<String>,
    pub result: Option<String>,
    pub duration_ms: Option<u64>,
    pub queue_id: Option<u64>,
    /// What the step read from its build (`steps.<id>.outputs.<name>`).
    pub outputs: BTreeMap<String, String>,
}

impl StepFacts {
    fn get(&self, fact: &str) -> Option<Value> {
        match fact {
            "number" => self.number.map(Value::from),
            "url" => self.url.clone().map(Value::from),
            "result" => self.result.clone().map(Value::from),
            "duration_ms" => self.duration_ms.map(Value::from),
            "queue_id" => self.queue_id.map(Value::from),
            _ => None,
        }
    }
}

/// Facts of the run itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFacts {
    pub id: String,
    /// RFC 3339.
    pub started_at: String,
}

/// A template that could not be rendered.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field}: {message} (template `{template}`)")]
pub struct RenderError {
    /// The YAML path of the field, e.g. `steps[2].params.BUILD`.
    pub field: String,
    /// The template's text (`<hidden>` for secret fields).
    pub template: String,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(source: &str) -> Result<Template, Vec<String>> {
        Template::compile(source, "steps[0].params.X", None, false)
    }

    fn refs(source: &str) -> Vec<String> {
        compile(source)
            .unwrap()
            .refs()
            .iter()
            .map(|r| r.segs.join("."))
            .collect()
    }

    fn problems(source: &str) -> String {
        compile(source).unwrap_err().join("\n")
    }

    fn vars() -> BTreeMap<String, Value> {
        let mut vars = BTreeMap::new();
        vars.insert("version".to_string(), Value::from("2.4.0"));
        vars.insert(
            "deploy".to_string(),
            serde_json::json!({"regions": ["eu", "us"], "zone": "a"}),
        );
        vars.insert("flag".to_string(), Value::from(true));
        vars
    }

    fn check(source: &str) -> Vec<String> {
        let access = |id: &str| match id {
            "build" => StepAccess::Known,
            "later" => StepAccess::NotBefore {
                step: "deploy".to_string(),
                runs_after: false,
            },
            "next" => StepAccess::NotBefore {
                step: "deploy".to_string(),
                runs_after: true,
            },
            _ => StepAccess::Unknown,
        };
        compile(source).unwrap().check_refs(
            &vars(),
            Some(&access),
            &["build", "later", "next"],
            None,
        )
    }

    fn check_in_matrix(source: &str, keys: &[&str]) -> Vec<String> {
        let access = |id: &str| match id {
            "deploy" => StepAccess::Matrix { cells: 3 },
            _ => StepAccess::Known,
        };
        compile(source).unwrap().check_refs(
            &vars(),
            Some(&access),
            &["build", "deploy"],
            Some(keys),
        )
    }

    fn context() -> RenderContext {
        let mut steps = BTreeMap::new();
        steps.insert(
            "build".to_string(),
            StepFacts {
                number: Some(42),
                url: Some("https://ci/job/build/42/".to_string()),
                result: Some("SUCCESS".to_string()),
                duration_ms: None,
                queue_id: Some(7),
                outputs: BTreeMap::from([(
                    "IMAGE".to_string(),
                    "registry/app@sha256:abc".to_string(),
                )]),
            },
        );
        let mut env = BTreeMap::new();
        env.insert("HOME".to_string(), "/home/bot".to_string());
        RenderContext {
            vars: Arc::new(vars()),
            env: Arc::new(env),
            steps: steps.into_iter().collect(),
            matrix: Vec::new(),
            run: RunFacts {
                id: "run-1".to_string(),
                started_at: "2026-01-02T03:04:05Z".to_string(),
            },
            pipeline_name: "release".to_string(),
            step_id: Some("deploy".to_string()),
        }
    }

    fn render(source: &str) -> Result<String, RenderError> {
        compile(source).unwrap().render(&context())
    }

    #[test]
    fn literals_are_not_compiled_and_render_as_written() {
        let t = compile("a&b <c> {x}").unwrap();
        assert!(t.is_literal());
        assert_eq!(t.render(&context()).unwrap(), "a&b <c> {x}");
    }

    #[test]
    fn rendering_never_escapes_html() {
        let mut ctx = context();
        Arc::make_mut(&mut ctx.vars).insert("odd".to_string(), Value::from("a&b <c> \"q\" 'q'"));
        let t = Template::compile("{{vars.odd}} & {{{vars.odd}}}", "f", None, false).unwrap();
        assert_eq!(
            t.render(&ctx).unwrap(),
            "a&b <c> \"q\" 'q' & a&b <c> \"q\" 'q'"
        );
    }

    #[test]
    fn every_context_root_renders() {
        assert_eq!(
            render("{{vars.version}}/{{env.HOME}}/{{steps.build.number}}/{{steps.build.result}}/{{run.id}}/{{run.started_at}}/{{pipeline.name}}").unwrap(),
            "2.4.0//home/bot/42/SUCCESS/run-1/2026-01-02T03:04:05Z/release"
        );
        assert_eq!(
            render("{{#each vars.deploy.regions}}{{@index}}={{this}}{{#unless @last}},{{/unless}}{{/each}}").unwrap(),
            "0=eu,1=us"
        );
        assert_eq!(
            render("{{#if (eq vars.version \"2.4.0\")}}yes{{else}}no{{/if}}").unwrap(),
            "yes"
        );
    }

    #[test]
    fn a_fact_that_is_not_known_is_an_error_not_empty_text() {
        let err = render("{{steps.build.duration_ms}}").unwrap_err();
        assert_eq!(
            err.message,
            "steps.build.duration_ms is not known: step `build` has no duration"
        );
        let mut ctx = context();
        let mut build = (*ctx.steps.get("build").unwrap()).clone();
        build.number = None;
        ctx.steps.insert("build".to_string(), build);
        let err = compile("{{steps.build.number}}")
            .unwrap()
            .render(&ctx)
            .unwrap_err();
        assert_eq!(
            err.message,
            "steps.build.number is not known: step `build` has no build number"
        );
        assert_eq!(err.field, "steps[0].params.X");
        assert_eq!(err.template, "{{steps.build.number}}");
        let err = render("{{steps.test.url}}").unwrap_err();
        assert!(
            err.message.contains("step `test` has not finished"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_env_var_is_an_error_at_render_time() {
        let err = render("{{env.NOPE}}").unwrap_err();
        assert!(err.to_string().contains("env.NOPE is not set"), "{err}");
    }

    #[test]
    fn secret_templates_never_show_their_text() {
        let t = Template::compile("s3cr3t{{env.NOPE}}", "jenkins.token", None, true).unwrap();
        let err = t.render(&context()).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        assert!(!format!("{t:?}").contains("s3cr3t"));
        let err = Template::compile("s3cr3t{{#if}}", "jenkins.token", None, true).unwrap_err();
        assert!(!err.join("").contains("s3cr3t"), "{err:?}");
    }

    #[test]
    fn refs_are_collected_inside_blocks_subexpressions_and_hashes() {
        assert_eq!(
            refs(
                "{{#if vars.flag}}{{vars.version}}{{else if (eq env.MODE \"x\")}}{{steps.build.url}}{{/if}}"
            ),
            ["vars.flag", "vars.version", "env.MODE", "steps.build.url"]
        );
        assert_eq!(
            refs("{{#unless (not (and vars.flag vars.version))}}x{{/unless}}"),
            ["vars.flag", "vars.version"]
        );
        assert_eq!(
            refs(
                "{{#each vars.deploy.regions as |r|}}{{r}}{{this}}{{@index}}{{../vars.version}}{{@root.env.HOME}}{{/each}}"
            ),
            ["vars.deploy.regions", "vars.version", "env.HOME"]
        );
        assert_eq!(
            refs("{{#with vars.deploy}}{{zone}}{{else}}{{vars.flag}}{{/with}}"),
            ["vars.deploy", "vars.flag"]
        );
        assert_eq!(refs("{{lookup vars.deploy \"zone\"}}"), ["vars.deploy"]);
    }

    #[test]
    fn a_missing_variable_inside_if_is_caught() {
        let problems = check("{{#if vars.verison}}v{{vars.version}}{{/if}}");
        assert_eq!(
            problems,
            [
                "unknown variable `vars.verison` in steps[0].params.X; vars has: deploy, flag, version (did you mean `vars.version`?)"
            ]
        );
        let problems =
            check("{{#if vars.flag}}{{else}}{{#unless env.CI}}{{vars.nope}}{{/unless}}{{/if}}");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("`vars.nope`"), "{problems:?}");
    }

    #[test]
    fn nested_var_paths_are_checked_against_the_values() {
        assert!(check("{{vars.deploy.zone}}{{vars.deploy.regions.[1]}}").is_empty());
        let problems = check("{{vars.deploy.zon}}");
        assert!(
            problems[0]
                .contains("vars.deploy has: regions, zone (did you mean `vars.deploy.zone`?)"),
            "{problems:?}"
        );
        let problems = check("{{vars.version.major}}");
        assert!(
            problems[0].contains("vars.version is a string, which has no `major`"),
            "{problems:?}"
        );
        let problems = check("{{vars.deploy.regions.[5]}}");
        assert!(problems[0].contains("a list of 2 item(s)"), "{problems:?}");
    }

    #[test]
    fn unknown_roots_and_malformed_paths_are_explained() {
        let problems = check("{{version}}");
        assert!(
            problems[0].contains("unknown variable `version`"),
            "{problems:?}"
        );
        assert!(
            problems[0].contains("did you mean `vars.version`?"),
            "{problems:?}"
        );
        assert!(check("{{HOME}}")[0].contains("did you mean `env.HOME`?"));
        assert!(check("{{env}}")[0].contains("env.NAME"));
        assert!(check("{{env.A.B}}")[0].contains("env.NAME"));
        assert!(check("{{steps.build}}")[0].contains("steps.<id>.<fact>"));
        assert!(check("{{steps.build.numbr}}")[0].contains("did you mean `steps.build.number`?"));
        assert!(check("{{run.name}}")[0].contains("run.id"));
        assert!(check("{{pipeline.id}}")[0].contains("pipeline.name"));
        assert!(check("{{this}}")[0].contains("`this` at the top level"));
    }

    #[test]
    fn step_refs_must_be_known_steps_that_run_before() {
        assert!(check("{{steps.build.number}}").is_empty());
        let problems = check("{{steps.biuld.number}}");
        assert!(problems[0].contains("unknown step `biuld`"), "{problems:?}");
        assert!(
            problems[0].contains("did you mean `build`?"),
            "{problems:?}"
        );
        let problems = check("{{steps.later.number}}");
        assert!(
            problems[0].contains("add `later` to the `needs` of `deploy`"),
            "{problems:?}"
        );
        let problems = check("{{steps.next.number}}");
        assert!(
            problems[0].contains("step `next` runs after step `deploy`"),
            "{problems:?}"
        );
        let server =
            compile("{{steps.build.number}}")
                .unwrap()
                .check_refs(&vars(), None, &["build"], None);
        assert!(
            server[0].contains("step facts cannot be used here"),
            "{server:?}"
        );
    }

    #[test]
    fn matrix_values_are_read_only_inside_a_matrix_step_and_only_its_keys() {
        assert!(
            check_in_matrix("{{matrix.REGION}}-{{matrix.TIER}}", &["REGION", "TIER"]).is_empty()
        );
        let problems = check("{{matrix.REGION}}");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "`matrix.REGION` in steps[0].params.X: only a step with `matrix:` has matrix values"
            ),
            "{problems:?}"
        );
        let problems = check_in_matrix("{{#if vars.flag}}{{matrix.REGON}}{{/if}}", &["REGION"]);
        assert_eq!(
            problems,
            [
                "unknown matrix key `REGON` in `matrix.REGON` (steps[0].params.X); this step's \
                 matrix has: REGION (did you mean `matrix.REGION`?)"
            ]
        );
        assert!(check_in_matrix("{{matrix}}", &["R"])[0].contains("one at a time as `matrix.KEY`"));
        assert!(check_in_matrix("{{matrix.R.x}}", &["R"])[0].contains("`matrix.KEY`"));
    }

    #[test]
    fn a_matrix_step_cannot_be_addressed_by_templates() {
        let problems = check_in_matrix("{{steps.deploy.number}}", &[]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("step `deploy` is a matrix of 3 build(s)"),
            "{problems:?}"
        );
        assert!(
            problems[0].contains("cells of a matrix cannot be addressed by templates"),
            "{problems:?}"
        );
    }

    #[test]
    fn matrix_values_render_from_the_context_and_are_required() {
        let t = compile("deploy-{{matrix.REGION}}").unwrap();
        assert_eq!(t.matrix_refs(), ["REGION"]);
        let err = t.render(&context()).unwrap_err();
        assert!(err.message.contains("matrix.REGION is not known"), "{err}");
        let mut ctx = context();
        ctx.matrix.push(("REGION".to_string(), "eu".to_string()));
        assert_eq!(t.render(&ctx).unwrap(), "deploy-eu");
        let expr = compile("{{eq matrix.REGION 'eu'}}").unwrap();
        assert_eq!(expr.render(&ctx).unwrap(), "true");
    }

    fn numbered(n: u64) -> StepFacts {
        StepFacts {
            number: Some(n),
            ..StepFacts::default()
        }
    }

    fn number(steps: &FinishedSteps, id: &str) -> Option<u64> {
        steps.get(id).and_then(|f| f.number)
    }

    #[test]
    fn a_clone_of_the_finished_steps_sees_only_what_was_known_when_it_was_made() {
        let mut run = FinishedSteps::default();
        run.insert("a".to_string(), numbered(1));
        let early = run.clone();
        run.insert("b".to_string(), numbered(2));
        assert_eq!(number(&early, "a"), Some(1));
        assert_eq!(number(&early, "b"), None);
        assert_eq!(number(&run, "b"), Some(2));
        // An insert into an older view is its own: neither the run nor a later view sees it.
        let mut forked = early.clone();
        forked.insert("c".to_string(), numbered(3));
        assert_eq!(number(&forked, "a"), Some(1));
        assert_eq!(number(&forked, "b"), None);
        assert_eq!(number(&forked, "c"), Some(3));
        assert_eq!(number(&run, "c"), None);
        assert_eq!(number(&early, "c"), None);
        run.insert("d".to_string(), numbered(4));
        assert_eq!(number(&run, "c"), None);
        assert_eq!(number(&run, "d"), Some(4));
    }

    #[test]
    fn replacing_a_finished_step_leaves_the_views_made_before_it_unchanged() {
        let mut run: FinishedSteps = [("a".to_string(), numbered(1))].into_iter().collect();
        let before = run.clone();
        run.insert("a".to_string(), numbered(10));
        assert_eq!(number(&before, "a"), Some(1));
        assert_eq!(number(&run, "a"), Some(10));
        run.insert("b".to_string(), numbered(2));
        assert_eq!(number(&run, "a"), Some(10));
        assert_eq!(number(&before, "b"), None);
    }

    #[test]
    fn ids_with_dashes_are_one_path_segment() {
        let t = compile("{{steps.deploy-eu.number}}").unwrap();
        assert_eq!(t.step_refs(), ["deploy-eu"]);
        let mut ctx = context();
        ctx.steps.insert(
            "deploy-eu".to_string(),
            StepFacts {
                number: Some(3),
                ..StepFacts::default()
            },
        );
        assert_eq!(t.render(&ctx).unwrap(), "3");
    }

    #[test]
    fn only_builtin_helpers_are_allowed() {
        assert!(problems("{{upper vars.version}}").contains("unknown helper `upper`"));
        assert!(problems("{{log vars.version}}").contains("unknown helper `log`"));
        assert!(problems("{{{{raw}}}}{{x}}{{{{/raw}}}}").contains("unknown helper `raw`"));
        assert!(problems("{{#iff vars.flag}}x{{/iff}}").contains("did you mean `if`?"));
        assert!(problems("{{> partial}}").contains("partials"));
        assert!(problems("{{#*inline \"x\"}}y{{/inline}}").contains("decorators"));
        assert!(problems("{{#if}}x{{/if}}").contains("`if` takes 1 argument(s), not 0"));
        assert!(problems("{{eq vars.version}}").contains("takes 2 argument(s)"));
        assert!(problems("{{#len vars.deploy}}x{{/len}}").contains("not a block helper"));
        for helper in HELPERS {
            let source = match helper {
                "each" | "with" | "if" | "unless" => {
                    format!("{{{{#{helper} vars.flag}}}}x{{{{/{helper}}}}}")
                }
                "not" | "len" => format!("{{{{{helper} vars.flag}}}}"),
                _ => format!("{{{{{helper} vars.flag vars.version}}}}"),
            };
            assert!(compile(&source).is_ok(), "{source}");
        }
    }

    #[test]
    fn local_variables_exist_only_in_their_blocks() {
        assert!(problems("{{@index}}").contains("only defined inside `{{#each}}`"));
        assert!(problems("{{#with vars.deploy}}{{@key}}{{/with}}").contains("only defined inside"));
        assert!(
            problems("{{#each vars.deploy}}{{@foo}}{{/each}}")
                .contains("unknown local variable `@foo`")
        );
        assert!(compile("{{#each vars.deploy}}{{#if @first}}{{@key}}{{/if}}{{/each}}").is_ok());
        assert!(problems("{{../vars.version}}").contains("goes up more blocks"));
    }

    #[test]
    fn syntax_errors_name_the_field_and_say_what_to_check() {
        let p = problems("v{{vars.version");
        assert!(
            p.starts_with("invalid template in steps[0].params.X at column"),
            "{p}"
        );
        assert!(p.contains("`{{/block}}`"), "{p}");
        assert!(problems("{{#if vars.flag}}x{{/each}}").contains("invalid template"));
    }

    #[test]
    fn deeply_nested_templates_are_refused_before_parsing() {
        let deep_blocks = format!(
            "{}x{}",
            "{{#if vars.flag}}".repeat(40),
            "{{/if}}".repeat(40)
        );
        assert!(problems(&deep_blocks).contains("nest 40 deep"));
        let deep_parens = format!(
            "{{{{{}vars.flag{}}}}}",
            "(not ".repeat(2000),
            ")".repeat(2000)
        );
        assert!(problems(&deep_parens).contains("nest 2000 deep"));
        let fine = format!(
            "{}x{}",
            "{{#if vars.flag}}".repeat(10),
            "{{/if}}".repeat(10)
        );
        assert!(compile(&fine).is_ok());
        assert_eq!(
            nesting("{{#if (eq (len vars.a) 2)}}{{#each x}}{{/each}}{{/if}}"),
            2
        );
    }

    fn with_list(len: usize) -> RenderContext {
        let mut ctx = context();
        Arc::make_mut(&mut ctx.vars)
            .insert("l".to_string(), Value::from((0..len).collect::<Vec<_>>()));
        ctx
    }

    #[test]
    fn nested_loops_whose_work_would_pass_the_bound_are_refused_before_rendering() {
        let two = compile("{{#each vars.l}}{{#each ../vars.l}}x{{/each}}{{/each}}").unwrap();
        assert_eq!(two.render(&with_list(100)).unwrap().len(), 10_000);
        let four = compile(
            "{{#each vars.l}}{{#each ../vars.l}}{{#each ../../vars.l}}{{#each ../../../vars.l}}\
             x{{/each}}{{/each}}{{/each}}{{/each}}",
        )
        .unwrap();
        let err = four.render(&with_list(100)).unwrap_err();
        assert!(
            err.message.contains("more than the 1000000 allowed"),
            "{err}"
        );
        // The same template over a short list is fine: the bound counts the values.
        assert_eq!(four.render(&with_list(3)).unwrap(), "x".repeat(81));
    }

    #[test]
    fn loops_over_the_current_item_count_the_longest_list() {
        let mut ctx = with_list(2);
        Arc::make_mut(&mut ctx.vars).insert(
            "rows".to_string(),
            serde_json::json!([(0..1000).collect::<Vec<_>>(), [1]]),
        );
        let t = compile("{{#each vars.rows}}{{#each this}}{{#each ../../vars.rows}}{{#each this}}x{{/each}}{{/each}}{{/each}}{{/each}}").unwrap();
        assert!(t.render(&ctx).unwrap_err().message.contains("allowed"));
        let fine = compile("{{#each vars.rows}}{{#each this}}x{{/each}}{{/each}}").unwrap();
        assert_eq!(fine.render(&ctx).unwrap().len(), 1001);
    }

    #[test]
    fn comparisons_of_large_values_count_their_size() {
        let mut ctx = with_list(1000);
        Arc::make_mut(&mut ctx.vars).insert(
            "big".to_string(),
            Value::from((0..10_000).collect::<Vec<_>>()),
        );
        let each_compares =
            compile("{{#each vars.l}}{{#if (eq ../vars.big ../vars.big)}}y{{/if}}{{/each}}")
                .unwrap();
        assert!(
            each_compares
                .render(&ctx)
                .unwrap_err()
                .message
                .contains("allowed")
        );
        let literal_compares =
            compile("{{#each vars.l}}{{#if (eq this 3)}}y{{/if}}{{/each}}").unwrap();
        assert_eq!(literal_compares.render(&ctx).unwrap(), "y");
    }

    #[test]
    fn a_value_that_renders_past_one_mib_stops_rendering_with_an_error() {
        let mut ctx = with_list(20);
        Arc::make_mut(&mut ctx.vars).insert("big".to_string(), Value::from("x".repeat(100_000)));
        let t = compile("{{#each vars.l}}{{../vars.big}}{{/each}}").unwrap();
        let err = t.render(&ctx).unwrap_err();
        assert!(err.message.contains("renders more than 1 MiB"), "{err}");
        Arc::make_mut(&mut ctx.vars)
            .insert("l".to_string(), Value::from((0..10).collect::<Vec<_>>()));
        assert_eq!(t.render(&ctx).unwrap().len(), 1_000_000);
    }

    #[test]
    fn escaped_braces_are_literal_text() {
        assert_eq!(render("\\{{vars.version}}").unwrap(), "{{vars.version}}");
    }

    #[test]
    fn ruled_segments_are_found() {
        assert!(RULED.0.is_some() && RULED.1.is_some());
        assert_ne!(RULED.0, RULED.1);
    }

    #[test]
    fn outputs_render_and_one_not_provided_is_an_error_naming_what_was() {
        assert_eq!(
            render("img={{steps.build.outputs.IMAGE}}").unwrap(),
            "img=registry/app@sha256:abc"
        );
        let err = render("{{steps.build.outputs.VERSION}}").unwrap_err();
        assert!(
            err.message
                .contains("step `build` did not provide output `VERSION`"),
            "{err}"
        );
        assert!(err.message.contains("it provided: IMAGE"), "{err}");
        assert_eq!(
            compile("{{steps.build.outputs.IMAGE}}")
                .unwrap()
                .step_refs(),
            ["build"]
        );
        let problems = check("{{steps.build.outputs}}").join("\n");
        assert!(problems.contains("read one at a time"), "{problems}");
        // A key with dots (from a properties file) is one segment in brackets.
        let mut ctx = context();
        let mut build = (*ctx.steps.get("build").unwrap()).clone();
        build
            .outputs
            .insert("git.sha".to_string(), "abc".to_string());
        ctx.steps.insert("build".to_string(), build);
        let template = compile("{{steps.build.outputs.[git.sha]}}").unwrap();
        assert_eq!(template.render(&ctx).unwrap(), "abc");
    }
}

//! Jenkins' `tree=` query parameter (Stapler's `NamedPathPruner`).
//!
//! `tree=jobs[name,builds[number]{0,5}]` asks Jenkins to send only the named
//! fields. Real Jenkins prunes while it serialises its model objects; the
//! sandbox renders full JSON first and prunes the `Value` afterwards, so the
//! result has to look exactly like what Jenkins would have produced.
//!
//! The model's own objects are not pruned afterwards: they are written through a [`Pruner`],
//! which decides property by property, as Stapler's `TreePruner` does, so that a `tree=` or a
//! `depth=` can reach into nested objects that a fixed rendering would cut short.

use std::cell::Cell;

use serde_json::{Map, Value};

/// A parsed `tree=` expression: the fields selected at one level.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Malformed tree expression: {0}")]
pub struct TreeError(pub String);

#[derive(Debug, Clone, PartialEq)]
struct Node {
    name: String,
    children: Option<Tree>,
    range: Option<Range>,
}

/// Half-open `[start, end)`; `end == None` means "to the end".
#[derive(Debug, Clone, Copy, PartialEq)]
struct Range {
    start: usize,
    end: Option<usize>,
}

/// Stapler matches a field that is not named explicitly against this name.
const WILDCARD: &str = "*";
const CLASS: &str = "_class";
/// The expression comes from a URL, so bound the parser's recursion rather
/// than let a string of `[` overflow the stack.
const MAX_DEPTH: usize = 64;

impl Tree {
    pub fn parse(expr: &str) -> Result<Tree, TreeError> {
        // Stapler rejects an empty spec, but an empty `tree=` is easier to
        // treat as "nothing but `_class`" than to fail the whole request.
        if expr.trim_ascii().is_empty() {
            return Ok(Tree { nodes: Vec::new() });
        }
        let mut parser = Parser { src: expr, pos: 0 };
        let tree = parser.list(0)?;
        match parser.peek_char() {
            None => Ok(tree),
            Some(c) => Err(parser.error_at(parser.pos, &format!("unexpected '{c}'"))),
        }
    }

    /// Keep only the selected fields of `value` (usually an object). `_class`
    /// is ALWAYS kept on every object, selected or not.
    pub fn prune(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => self.prune_object(map),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.prune(v)).collect()),
            other => other.clone(),
        }
    }

    fn lookup(&self, name: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .or_else(|| self.nodes.iter().find(|n| n.name == WILDCARD))
    }

    fn prune_object(&self, map: &Map<String, Value>) -> Value {
        let mut out = Map::new();
        if let Some(class) = map.get(CLASS) {
            out.insert(CLASS.to_owned(), class.clone());
        }
        for (key, value) in map {
            if key == CLASS {
                continue;
            }
            if let Some(node) = self.lookup(key) {
                out.insert(key.clone(), node.apply(value));
            }
        }
        Value::Object(out)
    }
}

impl Node {
    fn apply(&self, value: &Value) -> Value {
        match value {
            Value::Array(items) => {
                let items = match self.range {
                    Some(range) => range.slice(items),
                    None => items.as_slice(),
                };
                Value::Array(items.iter().map(|v| self.shape(v)).collect())
            }
            other => self.shape(other),
        }
    }

    fn shape(&self, value: &Value) -> Value {
        match &self.children {
            Some(tree) => tree.prune(value),
            None => stub(value),
        }
    }
}

/// What Jenkins emits for an object that is selected without a sub-list:
/// the object is still there, but only its `_class` is.
fn stub(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            if let Some(class) = map.get(CLASS) {
                out.insert(CLASS.to_owned(), class.clone());
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(stub).collect()),
        other => other.clone(),
    }
}

impl Range {
    fn slice<T>(self, items: &[T]) -> &[T] {
        let len = items.len();
        let start = self.start.min(len);
        // A reversed range is empty rather than an error, as in Stapler.
        let end = self.end.map_or(len, |e| e.min(len)).max(start);
        &items[start..end]
    }
}

/// Stapler's `TreePruner`: asked before each property is written whether to write it, and
/// what prunes the property's own value in turn.
#[derive(Debug, Clone, Copy)]
pub struct Pruner<'t> {
    how: How<'t>,
    budget: &'t Budget,
}

#[derive(Debug, Clone, Copy)]
enum How<'t> {
    /// `tree=` (`NamedPathPruner`): by name only, whatever the property's visibility.
    Named {
        tree: &'t Tree,
        range: Option<Range>,
    },
    /// `depth=` (`TreePruner.ByDepth`): a property is written when its `@Exported` visibility
    /// is at least this level, which goes up by one per nested object, but not through an
    /// inline property.
    Depth(i64),
}

/// What a leaf of a tree selects inside an object: nothing but its `_class`.
static NOTHING: Tree = Tree { nodes: Vec::new() };

/// Beyond this `depth=` every property is visible anyway; capping it bounds the recursion
/// through objects that refer to each other (a build's executor and its current build).
const MAX_DEPTH_PARAM: i32 = 32;

/// Bounds the properties one answer may write. Stapler has no such bound, but a wildcard tree
/// through `previousBuild` and `nextBuild` doubles at every level; past this the sandbox
/// answers with an error instead of exhausting memory.
#[derive(Debug)]
pub struct Budget(Cell<usize>);

impl Budget {
    pub const PROPERTIES: usize = 1_000_000;

    pub fn new(properties: usize) -> Budget {
        Budget(Cell::new(properties))
    }

    pub fn exhausted(&self) -> bool {
        self.0.get() == 0
    }

    fn spend(&self) -> bool {
        match self.0.get() {
            0 => false,
            left => {
                self.0.set(left - 1);
                true
            }
        }
    }
}

impl<'t> Pruner<'t> {
    pub fn named(tree: &'t Tree, budget: &'t Budget) -> Pruner<'t> {
        Pruner {
            how: How::Named { tree, range: None },
            budget,
        }
    }

    /// `ByDepth(1 - depth)`, as `ResponseImpl.serveExposedBean` starts it: at depth 0 the top
    /// object's properties need visibility 1, those of objects nested in it 2, and so on; a
    /// negative depth shows less than depth 0.
    pub fn depth(depth: i32, budget: &'t Budget) -> Pruner<'t> {
        Pruner {
            how: How::Depth(1 - i64::from(depth.min(MAX_DEPTH_PARAM))),
            budget,
        }
    }

    /// The pruner for the value of property `name`, or `None` when it is not written.
    pub fn accept(self, name: &str, visibility: i32, inline: bool) -> Option<Pruner<'t>> {
        let how = match self.how {
            How::Named { tree, .. } => {
                let node = tree.lookup(name)?;
                How::Named {
                    tree: node.children.as_ref().unwrap_or(&NOTHING),
                    range: node.range,
                }
            }
            How::Depth(level) if i64::from(visibility) < level => return None,
            How::Depth(_) if inline => self.how,
            How::Depth(level) => How::Depth(level + 1),
        };
        self.budget.spend().then_some(Pruner {
            how,
            budget: self.budget,
        })
    }

    /// The part of a list value that the tree's range `{N,M}` selects.
    pub fn slice<T>(self, items: &[T]) -> &[T] {
        match self.how {
            How::Named {
                range: Some(range), ..
            } => range.slice(items),
            _ => items,
        }
    }

    /// For values the sandbox holds as plain JSON rather than as objects with visibilities:
    /// a tree prunes them by name, a depth leaves them whole.
    pub fn plain(self, value: Value) -> Value {
        match (self.how, value) {
            (How::Named { tree, .. }, Value::Array(items)) => {
                Value::Array(self.slice(&items).iter().map(|v| tree.prune(v)).collect())
            }
            (How::Named { tree, .. }, value) => tree.prune(&value),
            (How::Depth(_), value) => value,
        }
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// Recursive descent over bytes: every delimiter is ASCII, so byte positions
/// at delimiters are always char boundaries.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn peek_char(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn error_at(&self, pos: usize, what: &str) -> TreeError {
        if pos >= self.src.len() {
            return TreeError(format!("{what} at end of expression"));
        }
        // Character positions, because that is what a user counts in a URL.
        let column = self.src.get(..pos).map_or(pos, |s| s.chars().count());
        TreeError(format!("{what} at position {column}"))
    }

    fn list(&mut self, depth: usize) -> Result<Tree, TreeError> {
        if depth > MAX_DEPTH {
            return Err(self.error_at(self.pos, "nesting too deep"));
        }
        let mut nodes: Vec<Node> = Vec::new();
        loop {
            let node = self.node(depth)?;
            // Stapler keys nodes by name in a map, so a repeated name replaces
            // the earlier one instead of merging with it.
            nodes.retain(|n| n.name != node.name);
            nodes.push(node);
            if !self.eat(b',') {
                return Ok(Tree { nodes });
            }
        }
    }

    fn node(&mut self, depth: usize) -> Result<Node, TreeError> {
        let start = self.pos;
        while self.peek().is_some_and(|b| !is_delimiter(b)) {
            self.pos += 1;
        }
        let name = self.src.get(start..self.pos).unwrap_or("").trim_ascii();
        if name.is_empty() {
            return Err(self.error_at(start, "expected a field name"));
        }
        let name = name.to_owned();
        self.skip_ws();

        let children = if self.eat(b'[') {
            let tree = self.list(depth + 1)?;
            self.skip_ws();
            if !self.eat(b']') {
                return Err(self.error_at(self.pos, "expected ']'"));
            }
            self.skip_ws();
            Some(tree)
        } else {
            None
        };

        let range = if self.eat(b'{') {
            let range = self.range()?;
            self.skip_ws();
            Some(range)
        } else {
            None
        };

        Ok(Node {
            name,
            children,
            range,
        })
    }

    /// Called just after the `{`.
    fn range(&mut self) -> Result<Range, TreeError> {
        let open = self.pos.saturating_sub(1);
        let rest = self.src.get(self.pos..).unwrap_or("");
        let Some(len) = rest.find('}') else {
            return Err(self.error_at(open, "unclosed '{'"));
        };
        let body = &rest[..len];
        self.pos += len + 1;

        let bound = |text: &str| -> Result<usize, TreeError> {
            let text = text.trim_ascii();
            // `str::parse` would also accept a leading `+`.
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.error_at(open, &format!("bad range bound '{text}'")));
            }
            text.parse()
                .map_err(|_| self.error_at(open, &format!("range bound '{text}' is too large")))
        };

        match body.split_once(',') {
            None => {
                let n = bound(body)?;
                Ok(Range {
                    start: n,
                    end: Some(n.saturating_add(1)),
                })
            }
            Some((lo, hi)) => {
                let (lo, hi) = (lo.trim_ascii(), hi.trim_ascii());
                if lo.is_empty() && hi.is_empty() {
                    return Err(self.error_at(open, "range needs at least one bound"));
                }
                let start = if lo.is_empty() { 0 } else { bound(lo)? };
                let end = if hi.is_empty() {
                    None
                } else {
                    Some(bound(hi)?)
                };
                Ok(Range { start, end })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prune(expr: &str, value: Value) -> Value {
        match Tree::parse(expr) {
            Ok(tree) => tree.prune(&value),
            Err(e) => panic!("{expr:?} should parse: {e}"),
        }
    }

    fn parse_err(expr: &str) -> String {
        match Tree::parse(expr) {
            Ok(tree) => panic!("{expr:?} should not parse, got {tree:?}"),
            Err(TreeError(msg)) => msg,
        }
    }

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn job(name: &str) -> Value {
        json!({
            "_class": "hudson.model.FreeStyleProject",
            "name": name,
            "url": format!("http://j/job/{name}/"),
            "color": "blue",
        })
    }

    fn builds(n: u64) -> Value {
        Value::Array(
            (0..n)
                .map(|i| json!({"_class": "hudson.model.FreeStyleBuild", "number": i, "result": "SUCCESS"}))
                .collect(),
        )
    }

    fn accepted(p: Pruner, props: &[(&str, i32, bool)]) -> Vec<String> {
        props
            .iter()
            .filter(|(name, visibility, inline)| p.accept(name, *visibility, *inline).is_some())
            .map(|(name, ..)| name.to_string())
            .collect()
    }

    #[test]
    fn depth_0_takes_visibility_1_on_top_and_one_more_per_nested_level() {
        let budget = Budget::new(Budget::PROPERTIES);
        let top = Pruner::depth(0, &budget);
        let props = [
            ("name", 999, false),
            ("color", 2, false),
            ("fullName", 1, false),
        ];
        assert_eq!(accepted(top, &props), ["name", "color", "fullName"]);
        let nested = top.accept("jobs", 1, false).expect("jobs");
        assert_eq!(accepted(nested, &props), ["name", "color"]);
        let deeper = nested.accept("name", 999, false).expect("name");
        assert_eq!(accepted(deeper, &props), ["name"]);
        // `allBuilds` has visibility -2: only from depth 3 on.
        assert!(top.accept("allBuilds", -2, false).is_none());
        let depth_3 = Pruner::depth(3, &budget);
        assert!(depth_3.accept("allBuilds", -2, false).is_some());
    }

    #[test]
    fn an_inline_property_keeps_its_objects_at_the_same_level() {
        let budget = Budget::new(Budget::PROPERTIES);
        let top = Pruner::depth(0, &budget);
        let inline = top.accept("items", 1, true).expect("items");
        assert!(inline.accept("actions", 1, false).is_some());
        let nested = top.accept("queueItem", 1, false).expect("queueItem");
        assert!(nested.accept("actions", 1, false).is_none());
    }

    #[test]
    fn a_negative_depth_raises_the_bar_on_top() {
        let budget = Budget::new(Budget::PROPERTIES);
        let p = Pruner::depth(-1, &budget);
        assert!(p.accept("color", 2, false).is_some());
        assert!(p.accept("fullName", 1, false).is_none());
        let very = Pruner::depth(i32::MIN, &budget);
        assert!(very.accept("name", 999, false).is_none());
        let huge = Pruner::depth(i32::MAX, &budget);
        assert!(huge.accept("allBuilds", -2, false).is_some());
    }

    #[test]
    fn a_named_pruner_ignores_visibility_and_carries_the_subtree_and_range() {
        let budget = Budget::new(Budget::PROPERTIES);
        let tree = Tree::parse("allBuilds[number]{1,2},jobs").expect("valid");
        let p = Pruner::named(&tree, &budget);
        assert!(p.accept("views", 999, false).is_none());
        let builds = p.accept("allBuilds", -2, false).expect("named");
        assert_eq!(builds.slice(&[0, 1, 2, 3]), [1]);
        assert!(builds.accept("number", 2, false).is_some());
        assert!(builds.accept("url", 2, false).is_none());
        // A leaf selects nothing inside an object but its class.
        let jobs = p.accept("jobs", 1, false).expect("named");
        assert!(jobs.accept("name", 999, false).is_none());
        assert_eq!(
            jobs.plain(json!([job("a")])),
            json!([{"_class": "hudson.model.FreeStyleProject"}])
        );
    }

    #[test]
    fn plain_values_are_whole_under_a_depth_and_pruned_under_a_tree() {
        let budget = Budget::new(Budget::PROPERTIES);
        let value = json!([{"_class": "L", "name": "built-in", "x": 1}, {"name": "other"}]);
        assert_eq!(Pruner::depth(0, &budget).plain(value.clone()), value);
        let tree = Tree::parse("labels[name]{1,}").expect("valid");
        let labels = Pruner::named(&tree, &budget)
            .accept("labels", 1, false)
            .expect("named");
        assert_eq!(labels.plain(value), json!([{"name": "other"}]));
    }

    #[test]
    fn a_spent_budget_accepts_nothing_more() {
        let budget = Budget::new(2);
        let p = Pruner::depth(5, &budget);
        assert!(p.accept("a", 1, false).is_some());
        assert!(!budget.exhausted());
        assert!(p.accept("b", 1, false).is_some());
        assert!(budget.exhausted());
        assert!(p.accept("c", 999, false).is_none());
    }

    #[test]
    fn parse_builds_nested_nodes() {
        let tree = Tree::parse("a,b[c,d{1,}]{,3}").expect("valid");
        let leaf = |name: &str, range| Node {
            name: name.into(),
            children: None,
            range,
        };
        let expected = Tree {
            nodes: vec![
                leaf("a", None),
                Node {
                    name: "b".into(),
                    children: Some(Tree {
                        nodes: vec![
                            leaf("c", None),
                            leaf(
                                "d",
                                Some(Range {
                                    start: 1,
                                    end: None,
                                }),
                            ),
                        ],
                    }),
                    range: Some(Range {
                        start: 0,
                        end: Some(3),
                    }),
                },
            ],
        };
        assert_eq!(tree, expected);
    }

    #[test]
    fn empty_expression_selects_nothing_but_class() {
        for expr in ["", "   ", "\t\n"] {
            let out = prune(expr, job("a"));
            assert_eq!(out, json!({"_class": "hudson.model.FreeStyleProject"}));
        }
        assert_eq!(prune("", json!({"name": "x"})), json!({}));
    }

    #[test]
    fn class_is_kept_even_when_not_selected() {
        assert_eq!(
            prune("name", job("a")),
            json!({"_class": "hudson.model.FreeStyleProject", "name": "a"})
        );
    }

    #[test]
    fn class_comes_first_even_when_input_has_it_last() {
        let input = json!({"name": "a", "color": "red", "_class": "X"});
        let out = prune("color,name,_class", input);
        assert_eq!(keys(&out), ["_class", "name", "color"]);
    }

    #[test]
    fn class_is_kept_on_nested_objects() {
        let input = json!({
            "_class": "Hudson",
            "primaryView": {"_class": "AllView", "name": "all", "url": "u"},
        });
        assert_eq!(
            prune("primaryView[name]", input),
            json!({"_class": "Hudson", "primaryView": {"_class": "AllView", "name": "all"}})
        );
    }

    #[test]
    fn output_follows_input_key_order_not_tree_order() {
        let out = prune("color,url,name", job("a"));
        assert_eq!(keys(&out), ["_class", "name", "url", "color"]);
    }

    #[test]
    fn unknown_names_are_omitted() {
        let out = prune("name,nosuchfield,x[y]{0,1}", job("a"));
        assert_eq!(
            out,
            json!({"_class": "hudson.model.FreeStyleProject", "name": "a"})
        );
    }

    #[test]
    fn leaf_object_becomes_class_stub() {
        let input = json!({"lastBuild": {"_class": "B", "number": 3, "url": "u"}});
        assert_eq!(
            prune("lastBuild", input),
            json!({"lastBuild": {"_class": "B"}})
        );
    }

    #[test]
    fn leaf_object_without_class_becomes_empty_object() {
        let input = json!({"healthReport": {"score": 100}});
        assert_eq!(prune("healthReport", input), json!({"healthReport": {}}));
    }

    #[test]
    fn leaf_array_of_objects_becomes_array_of_stubs() {
        let input = json!({"jobs": [job("a"), {"name": "no class"}]});
        assert_eq!(
            prune("jobs", input),
            json!({"jobs": [{"_class": "hudson.model.FreeStyleProject"}, {}]})
        );
    }

    #[test]
    fn leaf_primitives_null_and_primitive_arrays_are_kept() {
        let input = json!({
            "n": 1, "s": "x", "b": false, "z": null,
            "labels": ["linux", "docker"], "nested": [[1, 2], [3]],
        });
        assert_eq!(prune("n,s,b,z,labels,nested", input.clone()), input);
    }

    #[test]
    fn sublist_prunes_each_array_element_and_keeps_primitives() {
        let input = json!({"items": [
            {"_class": "I", "a": 1, "b": 2},
            7,
            null,
            [{"a": 3, "b": 4}],
        ]});
        assert_eq!(
            prune("items[a]", input),
            json!({"items": [{"_class": "I", "a": 1}, 7, null, [{"a": 3}]]})
        );
    }

    #[test]
    fn sublist_on_null_or_primitive_keeps_the_value() {
        let input = json!({"lastBuild": null, "description": "text"});
        assert_eq!(
            prune("lastBuild[number],description[x]", input.clone()),
            input
        );
    }

    #[test]
    fn nested_jobs_tree_prunes_folders() {
        let input = json!({
            "_class": "hudson.model.Hudson",
            "mode": "NORMAL",
            "jobs": [
                job("plain"),
                {
                    "_class": "com.cloudbees.hudson.plugins.folder.Folder",
                    "name": "folder",
                    "url": "u",
                    "jobs": [job("inner")],
                },
            ],
        });
        assert_eq!(
            prune("jobs[name,jobs[name]]", input),
            json!({
                "_class": "hudson.model.Hudson",
                "jobs": [
                    {"_class": "hudson.model.FreeStyleProject", "name": "plain"},
                    {
                        "_class": "com.cloudbees.hudson.plugins.folder.Folder",
                        "name": "folder",
                        "jobs": [{"_class": "hudson.model.FreeStyleProject", "name": "inner"}],
                    },
                ],
            })
        );
    }

    #[test]
    fn nested_builds_actions_parameters_with_range() {
        let build = |n: u64| {
            json!({
                "_class": "hudson.model.FreeStyleBuild",
                "number": n,
                "duration": 10,
                "actions": [
                    {
                        "_class": "hudson.model.ParametersAction",
                        "parameters": [
                            {"_class": "hudson.model.StringParameterValue", "name": "P", "value": n.to_string()},
                        ],
                    },
                    {},
                    {"_class": "hudson.model.CauseAction", "causes": [{"shortDescription": "x"}]},
                ],
            })
        };
        let input = json!({"_class": "J", "builds": [build(3), build(2), build(1)]});
        let pruned_build = |n: u64| {
            json!({
                "_class": "hudson.model.FreeStyleBuild",
                "number": n,
                "actions": [
                    {
                        "_class": "hudson.model.ParametersAction",
                        "parameters": [
                            {"_class": "hudson.model.StringParameterValue", "name": "P", "value": n.to_string()},
                        ],
                    },
                    {},
                    {"_class": "hudson.model.CauseAction"},
                ],
            })
        };
        assert_eq!(
            prune("builds[number,actions[parameters[name,value]]]{0,2}", input),
            json!({"_class": "J", "builds": [pruned_build(3), pruned_build(2)]})
        );
    }

    #[test]
    fn range_is_half_open() {
        let out = prune("builds[number]{1,3}", json!({"builds": builds(5)}));
        let numbers: Vec<_> = out["builds"]
            .as_array()
            .map(|a| a.iter().map(|b| b["number"].clone()).collect())
            .unwrap_or_default();
        assert_eq!(numbers, [json!(1), json!(2)]);
    }

    #[test]
    fn single_index_range_selects_one_element() {
        let out = prune("builds[number]{2}", json!({"builds": builds(5)}));
        assert_eq!(
            out["builds"],
            json!([{"_class": "hudson.model.FreeStyleBuild", "number": 2}])
        );
    }

    #[test]
    fn open_ended_ranges() {
        let input = json!({"xs": [0, 1, 2, 3, 4]});
        assert_eq!(prune("xs{3,}", input.clone())["xs"], json!([3, 4]));
        assert_eq!(prune("xs{,2}", input.clone())["xs"], json!([0, 1]));
        assert_eq!(prune("xs{0,}", input)["xs"], json!([0, 1, 2, 3, 4]));
    }

    #[test]
    fn range_clamps_to_array_length() {
        let input = json!({"xs": [0, 1, 2]});
        assert_eq!(prune("xs{1,100}", input.clone())["xs"], json!([1, 2]));
        assert_eq!(prune("xs{5,10}", input.clone())["xs"], json!([]));
        assert_eq!(prune("xs{3}", input.clone())["xs"], json!([]));
        assert_eq!(prune("xs{0,0}", input)["xs"], json!([]));
    }

    #[test]
    fn huge_range_bounds_do_not_overflow() {
        let max = usize::MAX;
        let input = json!({"xs": [0, 1, 2]});
        assert_eq!(
            prune(&format!("xs{{{max}}}"), input.clone())["xs"],
            json!([])
        );
        assert_eq!(prune(&format!("xs{{1,{max}}}"), input)["xs"], json!([1, 2]));
    }

    #[test]
    fn reversed_range_is_empty() {
        assert_eq!(
            prune("xs{3,1}", json!({"xs": [0, 1, 2, 3, 4]}))["xs"],
            json!([])
        );
    }

    #[test]
    fn range_on_non_array_is_ignored() {
        let input = json!({"lastBuild": {"_class": "B", "number": 1}, "name": "a"});
        assert_eq!(
            prune("lastBuild[number]{0,0},name{5}", input.clone()),
            input
        );
    }

    #[test]
    fn range_applies_to_leaf_arrays() {
        let out = prune("builds{1}", json!({"builds": builds(3)}));
        assert_eq!(
            out["builds"],
            json!([{"_class": "hudson.model.FreeStyleBuild"}])
        );
    }

    #[test]
    fn range_applies_at_every_level() {
        let input = json!({"jobs": [
            {"name": "a", "builds": builds(4)},
            {"name": "b", "builds": builds(1)},
            {"name": "c", "builds": builds(2)},
        ]});
        assert_eq!(
            prune("jobs[name,builds[number]{,1}]{1,}", input),
            json!({"jobs": [
                {"name": "b", "builds": [{"_class": "hudson.model.FreeStyleBuild", "number": 0}]},
                {"name": "c", "builds": [{"_class": "hudson.model.FreeStyleBuild", "number": 0}]},
            ]})
        );
    }

    #[test]
    fn whitespace_around_names_and_punctuation_is_ignored() {
        let input = json!({"jobs": [job("a")], "mode": "NORMAL", "views": []});
        let compact = prune("jobs[name,url]{0,1},mode", input.clone());
        let spaced = prune("  jobs [ name , url ] { 0 , 1 } ,\tmode \n", input.clone());
        assert_eq!(spaced, compact);
        assert_eq!(compact["jobs"][0]["url"], json!("http://j/job/a/"));
        assert_eq!(compact["mode"], json!("NORMAL"));
    }

    #[test]
    fn interior_whitespace_is_part_of_the_name() {
        let input = json!({"display name": 1, "display": 2, "name": 3});
        assert_eq!(prune("display name", input), json!({"display name": 1}));
    }

    #[test]
    fn non_ascii_names_match() {
        let input = json!({"naïve": 1, "名前": 2, "other": 3});
        assert_eq!(prune("名前, naïve", input), json!({"naïve": 1, "名前": 2}));
    }

    #[test]
    fn wildcard_selects_every_field() {
        let input = json!({"_class": "J", "name": "a", "lastBuild": {"_class": "B", "number": 1}});
        assert_eq!(
            prune("*", input),
            json!({"_class": "J", "name": "a", "lastBuild": {"_class": "B"}})
        );
    }

    #[test]
    fn explicit_name_beats_wildcard() {
        let input = json!({
            "lastBuild": {"_class": "B", "number": 1, "url": "u"},
            "firstBuild": {"_class": "B", "number": 0, "url": "u"},
        });
        assert_eq!(
            prune("*[number],lastBuild[url]", input),
            json!({
                "lastBuild": {"_class": "B", "url": "u"},
                "firstBuild": {"_class": "B", "number": 0},
            })
        );
    }

    #[test]
    fn repeated_name_last_one_wins() {
        let input = json!({"lastBuild": {"_class": "B", "number": 1, "url": "u"}});
        assert_eq!(
            prune("lastBuild[number],lastBuild[url]", input.clone()),
            json!({"lastBuild": {"_class": "B", "url": "u"}})
        );
        assert_eq!(
            prune("lastBuild[number],lastBuild", input),
            json!({"lastBuild": {"_class": "B"}})
        );
    }

    #[test]
    fn top_level_array_prunes_each_element_and_primitives_pass_through() {
        let tree = Tree::parse("name").expect("valid");
        assert_eq!(
            tree.prune(&json!([job("a"), 3, null])),
            json!([{"_class": "hudson.model.FreeStyleProject", "name": "a"}, 3, null])
        );
        assert_eq!(tree.prune(&json!("text")), json!("text"));
        assert_eq!(tree.prune(&Value::Null), Value::Null);
    }

    #[test]
    fn prune_does_not_touch_the_input() {
        let input = job("a");
        let before = input.clone();
        let _ = Tree::parse("name").expect("valid").prune(&input);
        assert_eq!(input, before);
    }

    #[test]
    fn error_on_unclosed_bracket() {
        assert!(parse_err("jobs[name").contains("expected ']'"));
        assert!(parse_err("jobs[name,builds[number]").contains("expected ']'"));
    }

    #[test]
    fn error_on_unopened_bracket() {
        assert!(parse_err("jobs]").contains("unexpected ']'"));
        assert!(parse_err("jobs[name]]").contains("unexpected ']'"));
        assert!(parse_err("a}").contains("unexpected '}'"));
    }

    #[test]
    fn error_on_junk_after_bracket() {
        assert_eq!(parse_err("jobs[name]x"), "unexpected 'x' at position 10");
        assert!(parse_err("a[b[c]d]").contains("expected ']'"));
        assert!(parse_err("a[b]{1}{2}").contains("unexpected '{'"));
        assert!(parse_err("a{1}[b]").contains("unexpected '['"));
        assert!(parse_err("a{1}x").contains("unexpected 'x'"));
    }

    #[test]
    fn error_on_empty_names() {
        for expr in [
            "a,,b", "[x]", ",a", "a,", "a[]", "a[,b]", "a[b,]", "{1}", " , ",
        ] {
            assert!(
                parse_err(expr).contains("expected a field name"),
                "{expr:?}"
            );
        }
    }

    #[test]
    fn error_on_bad_range_numbers() {
        for expr in [
            "a{}",
            "a{ }",
            "a{,}",
            "a{x}",
            "a{-1}",
            "a{+1}",
            "a{1.5}",
            "a{1,2,3}",
            "a{1,x}",
            "a{1 2}",
            "a{99999999999999999999999999}",
        ] {
            let msg = parse_err(expr);
            assert!(msg.contains("range"), "{expr:?}: {msg}");
        }
    }

    #[test]
    fn error_on_unclosed_range() {
        assert!(parse_err("a{1").contains("unclosed '{'"));
        assert!(parse_err("a{1,").contains("unclosed '{'"));
        assert!(parse_err("a[b{1]").contains("unclosed '{'"));
    }

    #[test]
    fn error_positions_count_characters() {
        assert_eq!(parse_err("é,,b"), "expected a field name at position 2");
        assert_eq!(parse_err("a[b"), "expected ']' at end of expression");
    }

    #[test]
    fn error_display_has_prefix() {
        let err = Tree::parse("a,,b").expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "Malformed tree expression: expected a field name at position 2"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}x{}", "a[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_err(&deep).contains("nesting too deep"));
        let ok = format!("{}x{}", "a[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Tree::parse(&ok).is_ok());
    }

    #[test]
    fn odd_inputs_never_panic() {
        let sample = json!({
            "_class": "C",
            "a": [1, {"a": [], "_class": "D"}, [null]],
            "é": {"a": {"a": 1}},
            "*": 0,
        });
        let fixed = [
            "\0",
            "\u{feff}",
            "é",
            "a\u{2028}b",
            "a[é{",
            "}}}}",
            "{{{{",
            "[[[[",
            "]]]]",
            "a{0}{",
            "a{\u{0661}}",
            "*[*[*]]{,1}",
        ];
        for expr in fixed {
            if let Ok(tree) = Tree::parse(expr) {
                let _ = tree.prune(&sample);
            }
        }
        // Every string up to four symbols over an alphabet of all the
        // grammar's punctuation plus a name, a digit, a space and non-ASCII.
        let alphabet = ['a', ',', '[', ']', '{', '}', '1', ' ', 'é', '*'];
        let mut exprs = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for prefix in &exprs {
                for c in alphabet {
                    let mut s = prefix.clone();
                    s.push(c);
                    next.push(s);
                }
            }
            for expr in &next {
                if let Ok(tree) = Tree::parse(expr) {
                    let _ = tree.prune(&sample);
                }
            }
            exprs = next;
        }
    }
}

//! Line and column of a node in the YAML text, found after parsing.
//!
//! yaml_serde has no spans, but it stamps every error raised while a node is being read with
//! that node's position (its `fix_mark`). Both tools here exploit that: they read the text again
//! and make a deliberately failing visitor run on the node of interest.
//!
//! - [`locate`] finds one node precisely (a mapping or sequence reports where it starts). It
//!   re-reads the whole text, so it is for error messages only.
//! - [`Spans`] records, in one pass, where every scalar sits and where each container's first
//!   entry sits. It gives every step its line and every template its position without re-reading
//!   the text once per node, which a 1,000-step file could not afford.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the document, written like serde paths: `steps[2].params.VERSION`.
/// Keys that are not plain words are quoted (`params["my key"]`) so that every path reads back
/// to exactly one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct YamlPath(Vec<Seg>);

impl YamlPath {
    pub fn root() -> Self {
        YamlPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        YamlPath(segs)
    }

    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        YamlPath(segs)
    }

    pub fn segs(&self) -> &[Seg] {
        &self.0
    }

    pub fn parent(&self) -> Option<YamlPath> {
        let (_, rest) = self.0.split_last()?;
        Some(YamlPath(rest.to_vec()))
    }
}

fn is_word(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn write_key(out: &mut impl fmt::Write, first: bool, key: &str) -> fmt::Result {
    if is_word(key) {
        if !first {
            out.write_char('.')?;
        }
        out.write_str(key)
    } else {
        let quoted = serde_json::to_string(key).map_err(|_| fmt::Error)?;
        write!(out, "[{quoted}]")
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(key) => write_key(f, i == 0, key)?,
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Marks an error as ours, so that it is never mistaken for a real problem of the document.
const SENTINEL: &str = "\u{1}jrun-locate\u{1}";

/// Where the node at `path` starts. When the path does not exist (a key the file left out), the
/// nearest existing ancestor is reported instead, so that a message still points somewhere near.
pub fn locate(text: &str, path: &YamlPath) -> Option<Pos> {
    let mut path = path.clone();
    loop {
        if let Some(pos) = locate_exact(text, path.segs()) {
            return Some(pos);
        }
        path = path.parent()?;
    }
}

fn locate_exact(text: &str, segs: &[Seg]) -> Option<Pos> {
    let deserializer = yaml_serde::Deserializer::from_str(text);
    match (Locator { rest: segs }).deserialize(deserializer) {
        Ok(()) => None,
        Err(err) if err.to_string().contains(SENTINEL) => {
            let location = err.location();
            Some(location.map_or(Pos { line: 1, column: 1 }, |l| Pos {
                line: l.line(),
                column: l.column(),
            }))
        }
        Err(_) => None,
    }
}

/// Walks down `rest`, skipping every other node; at the end of the path it fails on purpose.
/// `Ok(())` means the path does not exist.
struct Locator<'p> {
    rest: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Locator<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.rest.split_first() {
            None => deserializer.deserialize_any(Target),
            Some((seg, rest)) => deserializer.deserialize_any(Descend { seg, rest }),
        }
    }
}

/// Fails on whatever node it is given; yaml_serde then stamps the error with the node's mark.
struct Target;

impl<'de> Visitor<'de> for Target {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(SENTINEL))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(SENTINEL))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(SENTINEL))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(SENTINEL))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(SENTINEL))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(SENTINEL))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(SENTINEL))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(SENTINEL))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(SENTINEL))
    }
}

struct Descend<'p> {
    seg: &'p Seg,
    rest: &'p [Seg],
}

impl<'de> Visitor<'de> for Descend<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }

    // A scalar has no children, so the path does not exist below it.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Seg::Index(wanted) = self.seg else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut index = 0;
        while let Some(()) = if index == *wanted {
            seq.next_element_seed(Locator { rest: self.rest })?
        } else {
            seq.next_element::<IgnoredAny>()?.map(|_| ())
        } {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<KeyText>()? {
            match self.seg {
                Seg::Key(wanted) if key.0.as_deref() == Some(wanted.as_str()) => {
                    map.next_value_seed(Locator { rest: self.rest })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Why [`expansion`] refused the text, and where it was reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expansion {
    /// Aliases expand the document to more than the budget of values.
    TooManyValues(Pos),
    /// yaml_serde's own limit on how often aliases may be followed.
    TooManyAliases(Pos),
}

/// Reads the whole document, following aliases as every reader of it does, and fails at the
/// value where the count of values read passes `budget`. Aliases can multiply a small text
/// into billions of values; this bounds what the readers after it (the typed parse, which
/// copies `vars` into memory, and [`Spans`]) can be made to do. A document that cannot be
/// read counts as fine here: the typed parse reports why.
pub fn expansion(text: &str, budget: usize) -> Result<(), Expansion> {
    let seen = Cell::new(0usize);
    let outcome = Count {
        seen: &seen,
        budget,
    }
    .deserialize(yaml_serde::Deserializer::from_str(text));
    let Err(err) = outcome else {
        return Ok(());
    };
    if let Some(pos) = caught(&err) {
        return Err(Expansion::TooManyValues(pos));
    }
    if err.to_string().contains("repetition limit exceeded") {
        // That error has no place: read again and stop at the last value read before it.
        let again = Cell::new(0usize);
        let before = seen.get().saturating_sub(1);
        let place = Count {
            seen: &again,
            budget: before,
        }
        .deserialize(yaml_serde::Deserializer::from_str(text))
        .err()
        .and_then(|err| caught(&err));
        return Err(Expansion::TooManyAliases(
            place.unwrap_or(Pos { line: 1, column: 1 }),
        ));
    }
    Ok(())
}

/// Counts every value it reads, and fails on purpose on the first one past the budget.
#[derive(Clone, Copy)]
struct Count<'c> {
    seen: &'c Cell<usize>,
    budget: usize,
}

impl Count<'_> {
    fn tick<E: de::Error>(self) -> Result<(), E> {
        let seen = self.seen.get() + 1;
        self.seen.set(seen);
        if seen > self.budget {
            Err(E::custom(SENTINEL))
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.tick()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.tick()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.tick()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.tick()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.tick()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.tick()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.tick()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.tick()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.tick()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
    // A tagged node (`!name value`): its value is read like any other.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        self.tick()?;
        let (_, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }
}

/// Where the second document of the text starts, for a file that holds more than one.
pub fn second_document(text: &str) -> Option<Pos> {
    let mut documents = yaml_serde::Deserializer::from_str(text);
    documents.next()?;
    let second = documents.next()?;
    let root = match second.deserialize_any(Target) {
        Ok(()) => return None,
        Err(err) => caught(&err)?,
    };
    // The marker that ends the first document is what to remove; an empty second document
    // has its root only at the end of the text.
    let marker = text
        .lines()
        .take(root.line)
        .enumerate()
        .filter(|(_, line)| line.starts_with("---") || line.starts_with("..."))
        .last();
    Some(marker.map_or(root, |(index, _)| Pos {
        line: index + 1,
        column: 1,
    }))
}

/// A mapping key as text; `None` for keys that are themselves mappings or sequences.
struct KeyText(Option<String>);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyTextVisitor)
    }
}

struct KeyTextVisitor;

impl<'de> Visitor<'de> for KeyTextVisitor {
    type Value = KeyText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
        Ok(KeyText(Some(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
        Ok(KeyText(Some(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
        Ok(KeyText(Some(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
        Ok(KeyText(Some(v.to_string())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
        Ok(KeyText(Some(v.to_string())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
        Ok(KeyText(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<KeyText, E> {
        Ok(KeyText(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyText, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(KeyText(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyText, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(KeyText(None))
    }
}

/// Positions of the nodes of one document, by path (as displayed by [`YamlPath`]).
///
/// Each recorded position costs an error inside yaml_serde, so only what jrun needs is kept:
/// strings (templates live there) and floats (whose written text `vars` keeps) are at their
/// own position; a mapping is at its first key and a sequence at its first recorded entry,
/// which for block style is where the node starts (the line of a step). Other scalars have no
/// position of their own; [`Spans::get`] then answers with the nearest ancestor.
#[derive(Debug, Default)]
pub struct Spans {
    at: HashMap<String, Pos>,
}

impl Spans {
    /// Reads the text once. A document that cannot be read gives the positions found before the
    /// problem; callers then fall back to no position rather than fail.
    pub fn build(text: &str) -> Spans {
        let mut state = State {
            at: HashMap::new(),
            path: String::new(),
        };
        let deserializer = yaml_serde::Deserializer::from_str(text);
        if let Ok(Some(pos)) = (Walk { st: &mut state }).deserialize(deserializer) {
            state.at.insert(String::new(), pos);
        }
        Spans { at: state.at }
    }

    /// The position of the node at `path`, or of its nearest ancestor that has one.
    pub fn get(&self, path: &YamlPath) -> Option<Pos> {
        let mut path = path.clone();
        loop {
            if let Some(pos) = self.at.get(&path.to_string()) {
                return Some(*pos);
            }
            path = path.parent()?;
        }
    }

    /// The position recorded for exactly this displayed path.
    pub fn get_str(&self, path: &str) -> Option<Pos> {
        self.at.get(path).copied()
    }
}

struct State {
    at: HashMap<String, Pos>,
    path: String,
}

impl State {
    fn record(&mut self, pos: Pos) {
        self.at.entry(self.path.clone()).or_insert(pos);
    }
}

/// The position in one of our own errors, or `None` for a real error that must stop the walk.
fn caught(err: &impl fmt::Display) -> Option<Pos> {
    let text = err.to_string();
    let after = &text[text.find(SENTINEL)? + SENTINEL.len()..];
    // yaml_serde leaves the position out when it is the very start of the text.
    let Some(rest) = after.strip_prefix(" at line ") else {
        return Some(Pos { line: 1, column: 1 });
    };
    let (line, column) = rest.split_once(" column ")?;
    Some(Pos {
        line: line.trim().parse().ok()?,
        column: column.trim().parse().ok()?,
    })
}

/// Walks one node. Its value is the position of a container's first recorded entry; a string
/// or float never returns a value: its position arrives through the error (see [`caught`]).
struct Walk<'s> {
    st: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = Option<Pos>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Pos>, D::Error> {
        deserializer.deserialize_any(WalkVisitor { st: self.st })
    }
}

struct WalkVisitor<'s> {
    st: &'s mut State,
}

impl<'de> Visitor<'de> for WalkVisitor<'_> {
    type Value = Option<Pos>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<Pos>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<Pos>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<Pos>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Pos>, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<Pos>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<Pos>, E> {
        Err(E::custom(SENTINEL))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<Pos>, E> {
        Err(E::custom(SENTINEL))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Pos>, A::Error> {
        let st = self.st;
        let parent_len = st.path.len();
        let mut first = None;
        let mut index = 0usize;
        loop {
            st.path.truncate(parent_len);
            // Writing to a String cannot fail.
            let _ = fmt::Write::write_fmt(&mut st.path, format_args!("[{index}]"));
            let pos = match seq.next_element_seed(Walk { st: &mut *st }) {
                Ok(None) => break,
                Ok(Some(pos)) => pos,
                Err(err) => Some(caught(&err).ok_or(err)?),
            };
            if let Some(pos) = pos {
                st.record(pos);
                first = first.or(Some(pos));
            }
            index += 1;
        }
        st.path.truncate(parent_len);
        Ok(first)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Pos>, A::Error> {
        let st = self.st;
        let parent_len = st.path.len();
        let mut first = None;
        loop {
            // Only the first key is worth an error: it is where a block mapping starts.
            let key = KeyProbe {
                text: Cell::new(None),
                fail: first.is_none(),
            };
            let key_pos = match map.next_key_seed(&key) {
                Ok(None) => break,
                Ok(Some(())) => None,
                Err(err) => Some(caught(&err).ok_or(err)?),
            };
            st.path.truncate(parent_len);
            match key.text.take() {
                Some(text) => {
                    let _ = write_key(&mut st.path, parent_len == 0, &text);
                }
                // A key that is itself a mapping or sequence cannot be named by a path.
                None => st.path.push_str("[?]"),
            }
            let pos = match map.next_value_seed(Walk { st: &mut *st }) {
                Ok(pos) => pos,
                Err(err) => Some(caught(&err).ok_or(err)?),
            };
            if let Some(pos) = pos {
                st.record(pos);
            }
            first = first.or(key_pos).or(pos);
        }
        st.path.truncate(parent_len);
        Ok(first)
    }
}

/// Reads a key and keeps its text; when `fail` is set it then fails on purpose, so that the
/// error carries the key's position.
struct KeyProbe {
    text: Cell<Option<String>>,
    fail: bool,
}

impl<'de> DeserializeSeed<'de> for &KeyProbe {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &KeyProbe {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.visit_str(&v.to_string())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.text.set(Some(v.to_string()));
        if self.fail {
            Err(E::custom(SENTINEL))
        } else {
            Ok(())
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.visit_str("")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_str("")
    }
    // Failing inside a container key would leave the reader mid-node, so these only drain it.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
name: demo
vars:
  version: \"2.4\"
steps:
  - id: build
    job: platform/app/build
    needs: [a, b]
  - parallel:
      - id: eu
        params: { REGION: eu, \"my key\": x }
      - id: us
        needs:
          - build
";

    fn path(segs: &[Seg]) -> YamlPath {
        YamlPath(segs.to_vec())
    }

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }

    fn at(line: usize, column: usize) -> Option<Pos> {
        Some(Pos { line, column })
    }

    #[test]
    fn paths_display_like_serde_paths_and_quote_odd_keys() {
        let p = YamlPath::root()
            .key("steps")
            .index(2)
            .key("params")
            .key("VERSION");
        assert_eq!(p.to_string(), "steps[2].params.VERSION");
        let p = YamlPath::root().key("params").key("my key").key("a.b");
        assert_eq!(p.to_string(), "params[\"my key\"][\"a.b\"]");
        assert_eq!(YamlPath::root().index(0).to_string(), "[0]");
    }

    #[test]
    fn locate_finds_scalars_in_block_and_flow_style() {
        let p = path(&[key("steps"), Seg::Index(0), key("needs"), Seg::Index(1)]);
        assert_eq!(locate(DOC, &p), at(7, 16));
        let p = path(&[key("vars"), key("version")]);
        assert_eq!(locate(DOC, &p), at(3, 12));
        let p = path(&[
            key("steps"),
            Seg::Index(1),
            key("parallel"),
            Seg::Index(0),
            key("params"),
            key("my key"),
        ]);
        assert_eq!(locate(DOC, &p), at(10, 41));
    }

    #[test]
    fn locate_reports_where_a_container_starts() {
        let p = path(&[key("steps"), Seg::Index(1), key("parallel"), Seg::Index(1)]);
        assert_eq!(locate(DOC, &p), at(11, 9));
        let p = path(&[key("steps"), Seg::Index(0), key("needs")]);
        assert_eq!(locate(DOC, &p), at(7, 12));
    }

    #[test]
    fn locate_falls_back_to_the_nearest_existing_ancestor() {
        let p = path(&[key("steps"), Seg::Index(0), key("timeout")]);
        assert_eq!(locate(DOC, &p), at(5, 5));
        let p = path(&[key("steps"), Seg::Index(9)]);
        assert_eq!(locate(DOC, &p), at(5, 3));
    }

    #[test]
    fn locate_survives_documents_it_cannot_read() {
        let p = path(&[key("a"), Seg::Index(3)]);
        for text in [
            "a: [",
            "",
            "\tx: 1",
            "a: *nope",
            "- [\n",
            "a: {b: [c, {d: e}]}",
        ] {
            let _ = locate(text, &p);
        }
    }

    #[test]
    fn spans_record_scalars_keys_and_first_entries() {
        let spans = Spans::build(DOC);
        assert_eq!(spans.get_str("name"), at(1, 7));
        assert_eq!(spans.get_str("steps[0]"), at(5, 5));
        assert_eq!(spans.get_str("steps[0].needs"), at(7, 13));
        assert_eq!(spans.get_str("steps[0].needs[1]"), at(7, 16));
        assert_eq!(spans.get_str("steps[1]"), at(8, 5));
        assert_eq!(spans.get_str("steps[1].parallel[1]"), at(11, 9));
        assert_eq!(spans.get_str("steps[1].parallel[1].needs[0]"), at(13, 13));
        assert_eq!(
            spans.get_str("steps[1].parallel[0].params[\"my key\"]"),
            at(10, 41)
        );
        assert_eq!(spans.get_str(""), at(1, 1));
    }

    #[test]
    fn spans_agree_with_locate_on_scalars() {
        let spans = Spans::build(DOC);
        for p in [
            path(&[key("steps"), Seg::Index(0), key("job")]),
            path(&[key("steps"), Seg::Index(0), key("needs"), Seg::Index(0)]),
            path(&[key("vars"), key("version")]),
        ] {
            assert_eq!(spans.get(&p), locate(DOC, &p), "{p}");
        }
    }

    #[test]
    fn spans_fall_back_to_ancestors_and_survive_bad_text() {
        let spans = Spans::build(DOC);
        let p = path(&[key("steps"), Seg::Index(0), key("poll"), key("max")]);
        assert_eq!(spans.get(&p), at(5, 5));
        assert!(Spans::build("a: [").get(&path(&[key("a")])).is_none());
        assert!(Spans::build("").get(&YamlPath::root()).is_none());
    }

    #[test]
    fn spans_follow_aliases_and_complex_keys_without_panicking() {
        let text = "a: &x {b: s}\nc: *x\n? [k]\n: v\nd: t\n";
        let spans = Spans::build(text);
        assert_eq!(spans.get_str("a.b"), at(1, 11));
        assert_eq!(spans.get_str("d"), at(5, 4));
    }
}

//! How deeply the text nests flow collections (`[...]`, `{...}`), found by one pass over the
//! raw text before the YAML parser sees it.
//!
//! The parser keeps one pending implicit key per open flow collection and re-checks all of them
//! at every token, so `[[[[...` costs time quadratic in its depth long before the deserializer's
//! recursion limit refuses it (a 128 KB file took seconds). This scan is linear and refuses
//! the file at the first bracket that goes past [`MAX_FLOW_DEPTH`].
//!
//! It follows the parser's rules for what a bracket is: inside quoted scalars, comments, block
//! scalars (`|`, `>`) and plain scalars of block context a bracket is text. It only has to agree
//! with the parser on text the parser accepts: once the parser meets an error it reads no
//! further, so what this scan makes of the rest cannot cost time.

use super::locate::Pos;

/// Deepest nesting of flow collections a pipeline file may have. Real files nest two or three
/// levels (`poll: { max: 30s }`, `matrix: { REGION: [eu, us] }`).
pub(crate) const MAX_FLOW_DEPTH: usize = 64;

/// `Err` holds the place of the first bracket past [`MAX_FLOW_DEPTH`].
pub(crate) fn check(text: &str) -> Result<(), Pos> {
    let mut scan = Scan {
        bytes: text.as_bytes(),
        at: 0,
        line: 1,
        column: 1,
        indents: vec![-1],
    };
    scan.block()
}

struct Scan<'t> {
    bytes: &'t [u8],
    at: usize,
    line: usize,
    /// 1-based, in characters, as the parser counts.
    column: usize,
    /// Columns (0-based) of the open block collections, as the parser keeps them; a line more
    /// indented than the innermost one continues a plain scalar or a block scalar.
    indents: Vec<isize>,
}

fn is_blank(b: Option<u8>) -> bool {
    matches!(b, None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

fn is_flow_indicator(b: Option<u8>) -> bool {
    matches!(b, Some(b',' | b'[' | b']' | b'{' | b'}'))
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.at + ahead).copied()
    }

    fn bump(&mut self) {
        let Some(b) = self.peek() else {
            return;
        };
        self.at += 1;
        if b == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if b & 0xC0 != 0x80 {
            // The first byte of a character; continuation bytes add no column.
            self.column += 1;
        }
    }

    /// 0-based column, as the parser compares indentation.
    fn col(&self) -> isize {
        self.column as isize - 1
    }

    fn top(&self) -> isize {
        self.indents.last().copied().unwrap_or(-1)
    }

    /// A block collection opens at `col` when it is deeper than the current one.
    fn roll(&mut self, col: isize) {
        if col > self.top() {
            self.indents.push(col);
        }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.bump();
        }
    }

    fn skip_line(&mut self) {
        while let Some(b) = self.peek() {
            self.bump();
            if b == b'\n' {
                break;
            }
        }
    }

    /// Leading spaces of the line starting at `self.at`, and whether the line holds nothing
    /// else (or only a comment).
    fn indentation(&self) -> (isize, bool) {
        let mut i = self.at;
        while self.bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        let empty = matches!(self.bytes.get(i), None | Some(b'\n' | b'#'))
            || (self.bytes.get(i) == Some(&b'\r') && self.bytes.get(i + 1) == Some(&b'\n'));
        ((i - self.at) as isize, empty)
    }

    fn is_document_marker(&self) -> bool {
        let rest = &self.bytes[self.at..];
        (rest.starts_with(b"---") || rest.starts_with(b"...")) && is_blank(rest.get(3).copied())
    }

    fn block(&mut self) -> Result<(), Pos> {
        // The innermost block collection whose plain scalar may go on at the next line.
        let mut plain_open = false;
        while self.peek().is_some() {
            let (indent, empty) = self.indentation();
            if empty {
                self.skip_line();
                continue;
            }
            if plain_open && indent > self.top() {
                // A continuation of the plain scalar: brackets and quotes there are text.
                for _ in 0..indent {
                    self.bump();
                }
                plain_open = self.plain_block()?;
                continue;
            }
            if indent == 0 && self.is_document_marker() {
                self.indents.truncate(1);
                for _ in 0..3 {
                    self.bump();
                }
            }
            for _ in 0..indent {
                self.bump();
            }
            while self.top() > self.col() {
                self.indents.pop();
            }
            plain_open = self.block_line()?;
        }
        Ok(())
    }

    /// The rest of a line in block context from a place where a node may start. Returns
    /// whether it ended inside a plain scalar, which may go on at the next line.
    fn block_line(&mut self) -> Result<bool, Pos> {
        loop {
            self.skip_spaces();
            let col = self.col();
            match self.peek() {
                None => return Ok(false),
                Some(b'\n') => {
                    self.bump();
                    return Ok(false);
                }
                Some(b'#') => {
                    self.skip_line();
                    return Ok(false);
                }
                Some(b'-' | b'?') if is_blank(self.peek_at(1)) => {
                    self.roll(col);
                    self.bump();
                }
                Some(b':') if is_blank(self.peek_at(1)) => self.bump(),
                Some(b'[' | b'{') => {
                    self.bump();
                    self.flow()?;
                    self.after_node(col);
                }
                Some(q @ (b'\'' | b'"')) => {
                    self.bump();
                    self.quoted(q);
                    self.after_node(col);
                }
                Some(b'|' | b'>') => {
                    self.block_scalar();
                    return Ok(false);
                }
                Some(b'&' | b'!') => self.word(),
                Some(b'*') => {
                    self.word();
                    self.after_node(col);
                }
                Some(_) => {
                    let open = self.plain_block()?;
                    if open {
                        return Ok(true);
                    }
                    if self.peek() == Some(b':') {
                        self.roll(col);
                        self.bump();
                    } else {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// After a quoted scalar, a flow collection or an alias: a `:` makes it a mapping key.
    fn after_node(&mut self, col: isize) {
        self.skip_spaces();
        if self.peek() == Some(b':') && is_blank(self.peek_at(1)) {
            self.roll(col);
        }
    }

    /// An anchor, a tag or an alias: up to the next blank.
    fn word(&mut self) {
        while !is_blank(self.peek()) {
            self.bump();
        }
    }

    /// A plain scalar in block context, up to `: ` (left unread), ` #` or the line's end.
    /// Returns whether it reached the line's end, where it may go on at the next line.
    fn plain_block(&mut self) -> Result<bool, Pos> {
        let mut after_blank = false;
        loop {
            match self.peek() {
                None => return Ok(false),
                Some(b'\n') => {
                    self.bump();
                    return Ok(true);
                }
                Some(b'#') if after_blank => {
                    self.skip_line();
                    return Ok(false);
                }
                Some(b':') if is_blank(self.peek_at(1)) => return Ok(false),
                Some(b) => {
                    after_blank = matches!(b, b' ' | b'\t' | b'\r');
                    self.bump();
                }
            }
        }
    }

    /// A quoted scalar after its opening quote, possibly over several lines.
    fn quoted(&mut self, quote: u8) {
        while let Some(b) = self.peek() {
            self.bump();
            if b == b'\\' && quote == b'"' {
                self.bump();
            } else if b == quote {
                if quote == b'\'' && self.peek() == Some(b'\'') {
                    self.bump();
                } else {
                    return;
                }
            }
        }
    }

    /// `|` or `>`: its header line, then every line indented deeper than the collection it
    /// belongs to (or than its explicit indentation indicator).
    fn block_scalar(&mut self) {
        let base = self.top();
        let mut explicit = None;
        self.bump();
        while !is_blank(self.peek()) {
            if let Some(b @ b'1'..=b'9') = self.peek() {
                explicit = Some(isize::from(b - b'0'));
            }
            self.bump();
        }
        self.skip_line();
        let mut content = explicit.map(|n| if base >= 0 { base + n } else { n });
        while self.peek().is_some() {
            let (indent, _) = self.indentation();
            let rest = &self.bytes[self.at + indent as usize..];
            let blank_line =
                matches!(rest.first(), None | Some(b'\n')) || rest.starts_with(b"\r\n");
            if blank_line {
                self.skip_line();
                continue;
            }
            let needed = *content.get_or_insert(indent.max(base + 1));
            if indent < needed {
                return;
            }
            self.skip_line();
        }
    }

    /// Inside a flow collection, after its opening bracket; returns after the bracket that
    /// closes it. Every bracket here is an indicator, except inside quoted scalars and comments.
    fn flow(&mut self) -> Result<(), Pos> {
        let mut depth = 1usize;
        // Inside a plain scalar quotes are text; a token starts anywhere else.
        let mut plain = false;
        let mut after_blank = false;
        while let Some(b) = self.peek() {
            let blank = matches!(b, b' ' | b'\t' | b'\r' | b'\n');
            match b {
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Err(Pos {
                            line: self.line,
                            column: self.column,
                        });
                    }
                    plain = false;
                    self.bump();
                }
                b']' | b'}' => {
                    self.bump();
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                    plain = false;
                }
                b',' => {
                    plain = false;
                    self.bump();
                }
                b'#' if after_blank => {
                    plain = false;
                    self.skip_line();
                    after_blank = true;
                    continue;
                }
                b':' if is_blank(self.peek_at(1)) || is_flow_indicator(self.peek_at(1)) => {
                    plain = false;
                    self.bump();
                }
                b'\'' | b'"' if !plain => {
                    self.bump();
                    self.quoted(b);
                }
                b'&' | b'!' | b'*' if !plain => {
                    while !is_blank(self.peek()) && !is_flow_indicator(self.peek()) {
                        self.bump();
                    }
                }
                _ => {
                    if !blank {
                        plain = true;
                    }
                    self.bump();
                }
            }
            after_blank = blank;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str) -> Option<(usize, usize)> {
        check(text).err().map(|p| (p.line, p.column))
    }

    fn nested(n: usize) -> String {
        format!("{}{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_is_refused_at_its_bracket() {
        let ok = format!("name: x\nvars:\n  a: {}\n", nested(MAX_FLOW_DEPTH));
        assert_eq!(depth_error(&ok), None);
        let deep = format!("name: x\nvars:\n  a: {}\n", nested(MAX_FLOW_DEPTH + 1));
        assert_eq!(depth_error(&deep), Some((3, 6 + MAX_FLOW_DEPTH)));
        let maps = format!("a: {}1{}\n", "{a: ".repeat(70), "}".repeat(70));
        assert_eq!(depth_error(&maps), Some((1, 4 + 4 * MAX_FLOW_DEPTH)));
    }

    #[test]
    fn brackets_in_text_do_not_count() {
        let many = "[".repeat(200);
        for text in [
            format!("a: '{many}'\n"),
            format!("a: \"{many}\\\"{many}\"\n"),
            format!("a: x{many}\n"),
            format!("a: x\n  {many}\n"),
            format!("a: |\n  {many}\n  {many}\nb: 1\n"),
            format!("- >-\n    {many}\n"),
            format!("a: 1 # {many}\n"),
            format!("a: ['{many}', \"{many}\", b # {many}\n  ]\n"),
        ] {
            assert_eq!(depth_error(&text), None, "{text}");
        }
    }

    #[test]
    fn brackets_after_text_that_only_looks_like_a_quote_or_block_scalar_count() {
        let deep = nested(100);
        for text in [
            // The quote continues the plain scalar of `value`; the brackets are on a new key.
            format!("key:\n  value\n  '\nnext: {deep}\nend: '\n"),
            // The block scalar ends at the first line indented no deeper than its mapping.
            format!("- key: |\n    text\n  other: {deep}\n"),
            format!("a: b'c\nd: {deep}\n"),
            format!("a: [b'c, {deep}]\n"),
            format!("a: [\"x\" 'y', {deep}]\n"),
            format!("--- {deep}\n"),
            format!("a: |\nb: {deep}\n"),
        ] {
            assert!(depth_error(&text).is_some(), "{text}");
        }
    }

    #[test]
    fn the_example_pipelines_pass() {
        for name in ["nightly", "release", "rollout"] {
            let path = format!("{}/pipelines/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(depth_error(&text), None, "{name}");
        }
    }
}

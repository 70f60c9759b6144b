//! `outputs:` and `description:`: the values a step reads from its ended build, with as few
//! reads as the declared sources allow (one build read for description, display name and
//! parameters; one pass over the console log for every `log:` pattern; one download per
//! archived file), and the description set on the build once it has a number.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use tokio::task::JoinHandle;

use super::follow::Lines;
use crate::jenkins::{self, BuildFacts, Client};
use crate::pipeline::{OutputFormat, OutputSource, Outputs};
use crate::report::{Event, Reporter};

/// The largest archived file jrun takes output values from: values files are small, and the
/// whole file is held while it is parsed.
pub const OUTPUT_FILE_CAP: u64 = 1 << 20;

/// Reads of a log that bring nothing new, on a build Jenkins still says writes to it, before
/// jrun stops looking: the build has ended, so its log is complete within moments.
const IDLE_LOG_READS: u32 = 20;
const IDLE_LOG_PAUSE: Duration = Duration::from_millis(100);

/// How long setting the description may take before it is given up with a warning.
const DESCRIBE_LIMIT: Duration = Duration::from_secs(30);

/// Why an output could not be had: which output, from where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputError(pub String);

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every declared output of build `number` of `job`, by name. Outputs of `from_artifact` come
/// first; a named output of the same name replaces one of them.
pub async fn read(
    client: &Client,
    job: &str,
    number: u64,
    outputs: &Outputs,
) -> Result<BTreeMap<String, String>, OutputError> {
    let mut values = BTreeMap::new();
    let mut files: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut wanted_files: Vec<&str> = outputs.from_artifact.iter().map(String::as_str).collect();
    for (_, source) in &outputs.named {
        if let OutputSource::Artifact { path, .. } = source
            && !wanted_files.contains(&path.as_str())
        {
            wanted_files.push(path);
        }
    }
    for path in wanted_files {
        let entries = read_file(client, job, number, path).await?;
        files.insert(path, entries);
    }
    if let Some(entries) = outputs
        .from_artifact
        .as_ref()
        .and_then(|path| files.get(path.as_str()))
    {
        values.extend(entries.iter().cloned());
    }
    let needs_facts = outputs.named.iter().any(|(_, s)| {
        matches!(
            s,
            OutputSource::Description | OutputSource::DisplayName | OutputSource::Param(_)
        )
    });
    let facts = match needs_facts {
        true => Some(client.build_facts(job, number).await.map_err(|e| {
            OutputError(format!(
                "outputs of build #{number}: its description and parameters could not be read: {e}"
            ))
        })?),
        false => None,
    };
    let patterns: Vec<(&str, &Regex)> = outputs
        .named
        .iter()
        .filter_map(|(name, source)| match source {
            OutputSource::Log(regex) => Some((name.as_str(), regex)),
            _ => None,
        })
        .collect();
    let mut matched = match patterns.is_empty() {
        true => BTreeMap::new(),
        false => scan_log(client, job, number, &patterns).await?,
    };
    for (name, source) in &outputs.named {
        let value = match source {
            OutputSource::Log(_) => matched.remove(name.as_str()),
            OutputSource::Description | OutputSource::DisplayName | OutputSource::Param(_) => facts
                .as_ref()
                .map(|facts| from_facts(facts, source, number))
                .transpose()
                .map_err(|why| OutputError(format!("output `{name}`: {why}")))?,
            OutputSource::Artifact { path, key } => files
                .get(path.as_str())
                .and_then(|entries| entries.iter().rev().find(|(k, _)| k == key))
                .map(|(_, v)| v.clone()),
        };
        match value {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None => {
                let why = match source {
                    OutputSource::Log(_) => {
                        format!("no line of the console log of build #{number} matches")
                    }
                    OutputSource::Artifact { .. } => "the file has no such key".to_string(),
                    _ => "it could not be read".to_string(),
                };
                return Err(OutputError(format!(
                    "output `{name}` from {}: {why}",
                    source.describe()
                )));
            }
        }
    }
    Ok(values)
}

fn from_facts(facts: &BuildFacts, source: &OutputSource, number: u64) -> Result<String, String> {
    match source {
        OutputSource::Description => facts.description.clone().ok_or_else(|| {
            format!("build #{number} has no description (Jenkins shows it as null)")
        }),
        OutputSource::DisplayName => facts
            .display_name
            .clone()
            .ok_or_else(|| format!("Jenkins did not say the display name of build #{number}")),
        OutputSource::Param(param) => match facts.params.iter().find(|(n, _)| n == param) {
            Some((_, Some(value))) => Ok(value.clone()),
            Some((_, None)) => Err(format!(
                "parameter `{param}` of build #{number} has no value Jenkins shows (a password \
                 or file parameter is never shown)"
            )),
            None => {
                let names: Vec<&str> = facts.params.iter().map(|(n, _)| n.as_str()).collect();
                let known = if names.is_empty() {
                    "it ran with no parameters".to_string()
                } else {
                    format!("it ran with {}", crate::pipeline::suggest::list(names))
                };
                Err(format!(
                    "build #{number} has no parameter `{param}` ({known}; Jenkins drops \
                     parameters the job does not define)"
                ))
            }
        },
        _ => Err("not a fact of the build".to_string()),
    }
}

/// Downloads one archived values file and reads its top-level keys.
async fn read_file(
    client: &Client,
    job: &str,
    number: u64,
    path: &str,
) -> Result<Vec<(String, String)>, OutputError> {
    let failed = |why: String| OutputError(format!("outputs from artifact `{path}`: {why}"));
    let bytes = client
        .artifact_bytes(job, number, path, OUTPUT_FILE_CAP)
        .await
        .map_err(|e| match e {
            jenkins::Error::NotFound { .. } => {
                failed(format!("build #{number} did not archive it"))
            }
            other => failed(other.to_string()),
        })?;
    let format = OutputFormat::of(path)
        .ok_or_else(|| failed("not a .json, .properties or .env file".to_string()))?;
    parse(format, &bytes).map_err(failed)
}

/// The top-level keys of a values file and their values as text.
pub fn parse(format: OutputFormat, bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    match format {
        OutputFormat::Json => parse_json(bytes),
        OutputFormat::Properties => parse_properties(&latin1_or_utf8(bytes)),
        OutputFormat::Env => {
            let text =
                std::str::from_utf8(bytes).map_err(|e| format!("it is not UTF-8 text ({e})"))?;
            parse_env(text)
        }
    }
}

fn parse_json(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("it is not valid JSON ({e})"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("its JSON is not an object of keys and values".to_string());
    };
    Ok(map
        .iter()
        .map(|(k, v)| (k.clone(), jenkins::value_text(v).unwrap_or_default()))
        .collect())
}

/// Java wrote properties files in ISO 8859-1 before version 9, UTF-8 since: text that is not
/// valid UTF-8 is read as Latin-1.
fn latin1_or_utf8(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// `java.util.Properties.load`: `#`/`!` comment lines, `=`, `:` or white space between key and
/// value, backslash escapes, and lines continued by an odd number of trailing backslashes.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    const BLANK: [char; 3] = [' ', '\t', '\u{c}'];
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines = text.split('\n').enumerate();
    let mut out = Vec::new();
    while let Some((number, line)) = lines.next() {
        let line = line.trim_start_matches(BLANK);
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut current = line;
        loop {
            let trailing = current.len() - current.trim_end_matches('\\').len();
            if trailing % 2 == 1 {
                logical.push_str(&current[..current.len() - 1]);
                match lines.next() {
                    Some((_, next)) => current = next.trim_start_matches(BLANK),
                    None => break,
                }
            } else {
                logical.push_str(current);
                break;
            }
        }
        let (key, value) = split_entry(&logical);
        let at = |e: String| format!("line {}: {e}", number + 1);
        out.push((unescape(key).map_err(at)?, unescape(value).map_err(at)?));
    }
    Ok(out)
}

/// The key ends at the first `=`, `:` or white space not escaped by a backslash; one `=` or
/// `:` with white space around it separates it from the value.
fn split_entry(logical: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut end = logical.len();
    for (i, c) in logical.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if matches!(c, '=' | ':' | ' ' | '\t' | '\u{c}') {
            end = i;
            break;
        }
    }
    let key = &logical[..end];
    let mut rest = logical[end..].trim_start_matches([' ', '\t', '\u{c}']);
    if let Some(after) = rest.strip_prefix(['=', ':']) {
        rest = after.trim_start_matches([' ', '\t', '\u{c}']);
    }
    (key, rest)
}

fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| format!("malformed \\uxxxx escape `\\u{hex}`"))?;
                // A surrogate pair is two escapes; each half alone is not a character.
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// A dotenv file: `KEY=VALUE` lines, an optional `export `, `#` comments, values in single
/// quotes (as written), double quotes (with `\n`, `\"` and `\\` escapes) or bare (up to a
/// ` #` comment, trimmed).
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let at = |e: &str| format!("line {}: {e}", number + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err(at("expected KEY=VALUE"));
        };
        let key = key.trim();
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err(at("expected KEY=VALUE, with a key of one word"));
        }
        let value = value.trim_start();
        let value = if let Some(quoted) = value.strip_prefix('\'') {
            let end = quoted
                .find('\'')
                .ok_or_else(|| at("the single quote is not closed"))?;
            quoted[..end].to_string()
        } else if let Some(quoted) = value.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('r') => out.push('\r'),
                        Some(other @ ('"' | '\\' | '$' | '`')) => out.push(other),
                        Some(other) => {
                            out.push('\\');
                            out.push(other);
                        }
                        None => out.push('\\'),
                    },
                    c => out.push(c),
                }
            }
            if !closed {
                return Err(at("the double quote is not closed"));
            }
            out
        } else {
            let bare = match value.find(" #").or_else(|| value.find("\t#")) {
                Some(comment) => &value[..comment],
                None => value,
            };
            bare.trim_end().to_string()
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// One pass over the console log, line by line, for every pattern at once; it stops reading
/// as soon as each has matched. A read holds at most one answer of the log (8 MiB).
async fn scan_log<'a>(
    client: &Client,
    job: &str,
    number: u64,
    patterns: &[(&'a str, &Regex)],
) -> Result<BTreeMap<&'a str, String>, OutputError> {
    let mut found: BTreeMap<&'a str, String> = BTreeMap::new();
    let mut lines = Lines::default();
    let mut start = 0;
    let mut idle = 0;
    let look = |line: &str, found: &mut BTreeMap<&'a str, String>| {
        for (name, regex) in patterns {
            if !found.contains_key(name)
                && let Some(value) = first_match(regex, line)
            {
                found.insert(name, value);
            }
        }
    };
    loop {
        let chunk = client
            .progressive_text(job, number, start)
            .await
            .map_err(|e| {
                OutputError(format!(
                    "outputs from the console log of build #{number}: it could not be read: {e}"
                ))
            })?;
        for line in lines.push(&chunk.text) {
            look(&line, &mut found);
        }
        if found.len() == patterns.len() {
            return Ok(found);
        }
        if chunk.cut {
            // The text goes on from elsewhere: the line cut off is not joined to it.
            if let Some(line) = lines.finish() {
                look(&line, &mut found);
            }
        }
        let progressed = chunk.next > start;
        start = chunk.next;
        if !chunk.more || (!progressed && idle >= IDLE_LOG_READS) {
            if let Some(line) = lines.finish() {
                look(&line, &mut found);
            }
            return Ok(found);
        }
        if progressed {
            idle = 0;
        } else {
            idle += 1;
            tokio::time::sleep(IDLE_LOG_PAUSE).await;
        }
    }
}

/// The first capture group of a match (empty when that group took no part in it), or the
/// whole match when the pattern has no group.
fn first_match(regex: &Regex, line: &str) -> Option<String> {
    let captures = regex.captures(line)?;
    let value = match regex.captures_len() {
        1 => captures.get(0),
        _ => captures.get(1),
    };
    Some(value.map_or(String::new(), |m| m.as_str().to_string()))
}

/// Sets the build's description in the background of the wait for it. A refusal (no
/// permission, no such build, Jenkins unreachable) is a warning; the step goes on either way.
pub fn describe(
    client: Client,
    job: String,
    number: u64,
    description: String,
    step: String,
    reporter: Arc<Reporter>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let why = match tokio::time::timeout(
            DESCRIBE_LIMIT,
            client.set_description(&job, number, &description),
        )
        .await
        {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "Jenkins did not answer within {}",
                crate::duration::Dur(DESCRIBE_LIMIT)
            ),
        };
        warn_description(&reporter, &step, number, &why);
    })
}

/// The warning for a description that could not be set.
pub fn warn_description(reporter: &Reporter, step: &str, number: u64, why: &str) {
    let message = format!("warning: the description of build #{number} was not set: {why}");
    reporter.event(Event::Note {
        step: Some(step),
        message: &message,
    });
}

/// Waits for the description to be set, at most as long as setting it may take.
pub async fn described(describing: Option<JoinHandle<()>>) {
    if let Some(task) = describing {
        let _ = tokio::time::timeout(DESCRIBE_LIMIT, task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn properties_follow_java_rules() {
        let text = "# comment\n! also a comment\n  \nversion = 1.2.3\ngit.sha:abc\nname Alice Smith\n\
                    path=c:\\\\temp\\\\x\nmulti = one, \\\n    two, \\\n    three\n\
                    key\\ with\\ spaces = v\nunicode=caf\\u00e9\ntab=a\\tb\nempty=\nlast=x\\\\\n\
                    only\n  # indented comment\n";
        let got = parse_properties(text).unwrap();
        assert_eq!(
            got,
            pairs(&[
                ("version", "1.2.3"),
                ("git.sha", "abc"),
                ("name", "Alice Smith"),
                ("path", "c:\\temp\\x"),
                ("multi", "one, two, three"),
                ("key with spaces", "v"),
                ("unicode", "café"),
                ("tab", "a\tb"),
                ("empty", ""),
                ("last", "x\\"),
                ("only", ""),
            ])
        );
        assert_eq!(
            parse_properties("a=1\r\nb=2\rc=3").unwrap(),
            pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
        );
        let err = parse_properties("ok=1\nbad=\\u12G4\n").unwrap_err();
        assert!(err.contains("line 2: malformed \\uxxxx"), "{err}");
        // A continued line that starts with `#` is a value, not a comment.
        assert_eq!(
            parse_properties("a=x\\\n#y").unwrap(),
            pairs(&[("a", "x#y")])
        );
    }

    #[test]
    fn properties_in_latin1_are_read() {
        let got = parse(OutputFormat::Properties, b"name=caf\xe9\n").unwrap();
        assert_eq!(got, pairs(&[("name", "café")]));
    }

    #[test]
    fn env_files_take_export_quotes_and_comments() {
        let text = "# built by ci\nexport IMAGE=registry/app@sha256:abc\nVERSION = 1.2.3 # release\n\
                    SINGLE='a \"b\" $c # d'\nDOUBLE=\"line\\nnext \\\"q\\\" # kept\"\nEMPTY=\nURL=http://x/#frag\n";
        assert_eq!(
            parse_env(text).unwrap(),
            pairs(&[
                ("IMAGE", "registry/app@sha256:abc"),
                ("VERSION", "1.2.3"),
                ("SINGLE", "a \"b\" $c # d"),
                ("DOUBLE", "line\nnext \"q\" # kept"),
                ("EMPTY", ""),
                ("URL", "http://x/#frag"),
            ])
        );
        assert!(
            parse_env("A=1\nnot a pair\n")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(parse_env("A=\"open\n").unwrap_err().contains("not closed"));
    }

    #[test]
    fn json_keys_become_text_values() {
        let got = parse(
            OutputFormat::Json,
            br#"{"version": "1.2.3", "build": 42, "ok": true, "tags": ["a", "b"], "meta": {"x": 1}, "none": null}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            pairs(&[
                ("version", "1.2.3"),
                ("build", "42"),
                ("ok", "true"),
                ("tags", r#"["a","b"]"#),
                ("meta", r#"{"x":1}"#),
                ("none", ""),
            ])
        );
        assert!(
            parse(OutputFormat::Json, b"[1]")
                .unwrap_err()
                .contains("not an object")
        );
        assert!(
            parse(OutputFormat::Json, b"{")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn a_pattern_gives_its_first_group_or_its_whole_match() {
        let grouped = Regex::new(r"pushed image (\S+)").unwrap();
        assert_eq!(
            first_match(&grouped, "pushed image registry/app@sha256:abc done").as_deref(),
            Some("registry/app@sha256:abc")
        );
        assert_eq!(first_match(&grouped, "nothing here"), None);
        let whole = Regex::new(r"v\d+\.\d+").unwrap();
        assert_eq!(
            first_match(&whole, "at v1.22 now").as_deref(),
            Some("v1.22")
        );
        let optional = Regex::new(r"tag(?: (\w+))?").unwrap();
        assert_eq!(first_match(&optional, "tag").as_deref(), Some(""));
    }
}

//! The secrets this process holds, and the one step every text passes through before it leaves
//! the process: terminal lines, `-v`, error chains, the JSON summary, the report, the JUnit file
//! and the journal. A server that echoes a request (its `Authorization` header, a token in a
//! query string, a cookie) gets its echo printed with each secret replaced by `****`.
//!
//! Secrets are registered where jrun learns them: credentials when a server's settings are
//! resolved, crumbs and session cookies as they are received, trigger tokens when they are
//! sent. Each is registered in the forms it travels in (raw, percent-encoded, JSON- and
//! HTML-escaped, base64 alone and as `user:secret`), so an echo in any of them is caught.

use std::borrow::Cow;
use std::sync::RwLock;

use aho_corasick::AhoCorasick;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// What a secret is replaced with.
pub const MASK: &str = "****";

/// Shorter secrets are not registered: a two- or three-character secret occurs in ordinary
/// words, numbers and base64, and masking every occurrence would make every message
/// unreadable while protecting a secret that is guessable anyway.
pub const MIN_LEN: usize = 4;

/// Every form of every secret, and a matcher for all of them at once: a text is searched in
/// one pass however many forms there are (a dozen or more per secret), which matters for the
/// JSON summary of a large run, redacted string by string.
struct Registry {
    patterns: Vec<String>,
    /// Rebuilt whenever a secret is added; `None` while there are none.
    matcher: Option<AhoCorasick>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    patterns: Vec::new(),
    matcher: None,
});

/// Remembers a secret (a token, a password, a crumb, a cookie value, a header's value) so that
/// no text that leaves the process shows it.
pub fn register(secret: &str) {
    if secret.chars().count() < MIN_LEN {
        return;
    }
    let mut forms = vec![secret.to_string()];
    forms.extend(escaped_forms(secret));
    forms.extend(base64_forms(secret.as_bytes()));
    add(forms);
}

/// Remembers a user's secret and the `user:secret` pair HTTP Basic auth sends in base64, whole
/// (`Authorization: Basic <this>`) and as it reads inside a longer base64 text.
pub fn register_credentials(user: &str, secret: &str) {
    register(secret);
    if secret.chars().count() < MIN_LEN {
        return;
    }
    let pair = format!("{user}:{secret}");
    let mut forms = vec![STANDARD.encode(&pair)];
    forms.extend(base64_forms(pair.as_bytes()));
    add(forms);
}

fn add(forms: Vec<String>) {
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let before = registry.patterns.len();
    for form in forms {
        if form.chars().count() >= MIN_LEN && !registry.patterns.contains(&form) {
            registry.patterns.push(form);
        }
    }
    if registry.patterns.len() != before {
        // Building fails only past size limits a few secrets never reach; the forms are then
        // searched one by one.
        registry.matcher = AhoCorasick::new(&registry.patterns).ok();
    }
}

/// How a secret reads once escaped for a URL, a JSON string or HTML, when that differs.
fn escaped_forms(secret: &str) -> Vec<String> {
    let url: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let percent = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or_default()
        .to_string();
    let html = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    let apos = html.replace("&#39;", "&apos;");
    [url, percent, json, html, apos]
        .into_iter()
        .filter(|form| form != secret)
        .collect()
}

/// The base64 of `bytes` as it reads wherever they start in a longer base64 text: for each of
/// the three offsets a byte can have in a 3-byte group, the characters that depend on the
/// secret's bytes alone. Both alphabets (standard and URL-safe).
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(bytes);
        let first = (8 * offset).div_ceil(6);
        let end = 8 * (offset + bytes.len()) / 6;
        for engine in [&STANDARD, &URL_SAFE] {
            let encoded = engine.encode(&padded);
            if let Some(inner) = encoded.get(first..end) {
                forms.push(inner.to_string());
            }
        }
    }
    forms
}

/// `text` with every registered secret replaced by [`MASK`]. Overlapping and adjacent
/// matches become one mask, so no part of a secret is left between two. Without a match (the
/// usual case) the text is returned as it is, without a copy.
pub fn redact(text: &str) -> Cow<'_, str> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    if registry.patterns.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut ranges: Vec<(usize, usize)> = match &registry.matcher {
        // Overlapping occurrences too ("aaaa" in "aaaaa"), of every form.
        Some(matcher) => matcher
            .find_overlapping_iter(text)
            .map(|found| (found.start(), found.end()))
            .collect(),
        None => one_by_one(&registry.patterns, text),
    };
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut current: Option<(usize, usize)> = None;
    for (start, end) in ranges {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                out.push_str(&text[copied..s]);
                out.push_str(MASK);
                copied = e;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        out.push_str(&text[copied..s]);
        out.push_str(MASK);
        copied = e;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Where each of `patterns` occurs in `text`, overlapping occurrences too, searched form by
/// form: what the matcher finds in one pass, for when it could not be built.
fn one_by_one(patterns: &[String], text: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    for pattern in patterns {
        let mut from = 0;
        while let Some(at) = text
            .get(from..)
            .and_then(|rest| rest.find(pattern.as_str()))
        {
            let start = from + at;
            ranges.push((start, start + pattern.len()));
            // The next occurrence may start at the next character.
            from = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    ranges
}

/// [`redact`], for callers that own the text.
pub fn redact_owned(text: String) -> String {
    match redact(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(masked) => masked,
    }
}

/// Every string in a JSON value (keys included) redacted in place, so the value serializes to
/// valid JSON without a secret in any escaping.
pub fn redact_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(masked) = redact(s) {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                redact_json(&mut item);
                map.insert(redact_owned(key), item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `value` as one line of JSON, with every secret redacted.
pub fn to_json_line<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(mut json) => {
            redact_json(&mut json);
            json.to_string()
        }
        Err(_) => String::new(),
    }
}

/// Clears the registry, for unit tests that register their own secrets.
#[cfg(test)]
fn forget_all() {
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    registry.patterns.clear();
    registry.matcher = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_form_by_form_finds_what_the_matcher_finds() {
        let patterns: Vec<String> = ["aaaa", "aab", "s3cr3t", "é-tok"]
            .iter()
            .map(|p| p.to_string())
            .collect();
        let matcher = AhoCorasick::new(&patterns).expect("a matcher");
        for text in [
            "aaaaab s3cr3ts3cr3t",
            "x é-toké-tok aaaa",
            "nothing here",
            "",
        ] {
            let mut slow = one_by_one(&patterns, text);
            let mut fast: Vec<(usize, usize)> = matcher
                .find_overlapping_iter(text)
                .map(|m| (m.start(), m.end()))
                .collect();
            slow.sort_unstable();
            fast.sort_unstable();
            assert_eq!(slow, fast, "{text}");
        }
        // Overlapping occurrences are all there: "aaaa" twice and "aab" in "aaaaab".
        assert_eq!(one_by_one(&patterns, "aaaaab").len(), 3);
    }

    // The registry is process-wide: one test holds all the cases so that no other test in
    // this module sees a half-filled registry.
    #[test]
    fn registered_secrets_are_masked_in_every_form_they_travel_in() {
        forget_all();
        assert_eq!(redact("nothing registered"), "nothing registered");

        let token = "11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        register_credentials("alice", token);
        let basic = STANDARD.encode(format!("alice:{token}"));
        let text = format!("echo: Authorization: Basic {basic}\n token={token}.");
        let masked = redact(&text);
        assert_eq!(masked, "echo: Authorization: Basic ****\n token=****.");
        // Inside a longer base64 text, at each of the three offsets: at least the characters
        // that encode the token alone are gone.
        for prefix in ["", "x", "xy", "xyz"] {
            let blob = STANDARD.encode(format!("{prefix}{token}!!"));
            let masked = redact(&blob);
            assert!(masked.contains(MASK), "{blob} -> {masked}");
            let removed = blob.len() + MASK.len() - masked.len();
            assert!(removed >= token.len() * 4 / 3 - 2, "{blob} -> {masked}");
        }

        // Escaped for a URL, JSON and HTML.
        let odd = "r3mote&secret=+42\"<x>";
        register(odd);
        let url: String = form_urlencoded::byte_serialize(odd.as_bytes()).collect();
        for form in [
            odd.to_string(),
            url,
            serde_json::to_string(odd).unwrap(),
            "r3mote&amp;secret=+42&quot;&lt;x&gt;".to_string(),
        ] {
            let masked = redact(&form);
            assert!(masked.contains(MASK), "{form} -> {masked}");
            assert!(!masked.contains("r3mote"), "{form} -> {masked}");
        }

        // Overlapping matches leave nothing of either secret.
        register("abcdefgh");
        register("efghijkl");
        assert_eq!(redact("<abcdefghijkl>"), "<****>");
        assert_eq!(redact("abcdefgh abcdefgh"), "**** ****");

        // Too short to register; text without a secret is not copied.
        register("abc");
        assert_eq!(redact("abc"), "abc");
        assert!(matches!(redact("plain text"), Cow::Borrowed(_)));

        // Multi-byte text around a secret stays intact.
        assert_eq!(redact("é—abcdefgh—ü"), "é—****—ü");

        // JSON keeps its shape; keys are redacted too.
        let mut value = serde_json::json!({"m": format!("x {token} \"{odd}\"")});
        value[token] = serde_json::json!([1, odd]);
        redact_json(&mut value);
        let line = value.to_string();
        assert!(!line.contains(token) && !line.contains("r3mote"), "{line}");
        assert!(serde_json::from_str::<serde_json::Value>(&line).is_ok());
        forget_all();
    }
}

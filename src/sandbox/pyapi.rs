//! Jenkins' `api/python` flavour: the JSON model written as a Python literal.
//!
//! jenkinsapi reads these responses with `ast.literal_eval`, so the only
//! contract is that evaluating the text yields the same data as `json.loads`
//! of the JSON rendering. The layout copies Jenkins (`"key":value`, no spaces)
//! so that responses also look familiar to anyone diffing against a real one.

use serde_json::Value;

pub fn to_python(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        // serde_json never holds NaN or infinities, and every finite number it
        // prints (`-3`, `1.5`, `1e+300`, `18446744073709551615`) is also a valid
        // Python int or float literal of the same type.
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Python source may not contain a raw NUL, and raw line breaks or
            // separators would end or confuse a single-quoted literal; `\u`
            // escapes mean the same in a Python 3 `str` literal and in JSON.
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => push_u_escape(out, c),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Only called for characters in the Basic Multilingual Plane, which is all
/// that four hex digits can name.
fn push_u_escape(out: &mut String, c: char) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let code = u32::from(c);
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[((code >> shift) & 0xf) as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn scalars_render_as_python_keywords() {
        assert_eq!(to_python(&json!(true)), "True");
        assert_eq!(to_python(&json!(false)), "False");
        assert_eq!(to_python(&Value::Null), "None");
    }

    #[test]
    fn nested_value_is_compact_and_keeps_key_order() {
        let value = json!({
            "_class": "hudson.model.Hudson",
            "jobs": [{"name": "a", "buildable": true, "lastBuild": null}],
            "b": [true, false, null],
            "a": {},
            "empty": [],
        });
        assert_eq!(
            to_python(&value),
            r#"{"_class":"hudson.model.Hudson","jobs":[{"name":"a","buildable":True,"lastBuild":None}],"b":[True,False,None],"a":{},"empty":[]}"#
        );
    }

    #[test]
    fn numbers_render_like_json() {
        assert_eq!(
            to_python(&json!([0, -3, 1.5, -0.25, 1e300, u64::MAX, i64::MIN])),
            "[0,-3,1.5,-0.25,1e+300,18446744073709551615,-9223372036854775808]"
        );
        assert_eq!(to_python(&json!(2.0)), "2.0");
    }

    #[test]
    fn strings_escape_quotes_and_backslashes() {
        assert_eq!(
            to_python(&json!(r#"say "hi" \ C:\path\n"#)),
            r#""say \"hi\" \\ C:\\path\\n""#
        );
        assert_eq!(to_python(&json!("it's")), r#""it's""#);
    }

    #[test]
    fn strings_escape_newlines_tabs_and_control_chars() {
        assert_eq!(
            to_python(&json!("a\nb\rc\td\0e\u{1b}f\u{7f}g\u{85}h\u{2028}i")),
            r#""a\nb\rc\td\u0000e\u001bf\u007fg\u0085h\u2028i""#
        );
    }

    #[test]
    fn non_ascii_is_written_raw() {
        assert_eq!(to_python(&json!("naïve 名前 🚀")), "\"naïve 名前 🚀\"");
    }

    #[test]
    fn keys_are_escaped_like_values() {
        assert_eq!(
            to_python(&json!({"a\"b\n": 1, "": 2})),
            r#"{"a\"b\n":1,"":2}"#
        );
    }

    #[test]
    fn round_trips_through_python_literal_eval() {
        let value = json!({
            "_class": "hudson.model.FreeStyleProject",
            "description": "quotes \" ' \"\"\" ''' and \\ backslashes \\\\ \\n \\u0041 \\x41",
            "lines": "one\ntwo\r\nthree\tfour\u{b}\u{c}",
            "controls": (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32).collect::<String>(),
            "unicode": "naïve 名前 🚀 \u{feff} \u{2028} \u{2029} \u{ffff} \u{10ffff}",
            "numbers": [0, -1, 1.5, -0.0, 1e300, 5e-324, u64::MAX, i64::MIN, 2.0],
            "flags": [true, false, null, 1, 0],
            "nested": {"a": [[], {}, [{"b": [null]}]], "True": "None", "名": {"\u{0}": ""}},
        });
        let py = to_python(&value);
        let json = serde_json::to_string(&value).expect("a Value always serialises");
        // Both renderings are free of raw newlines, so one line each on stdin
        // avoids argv's encoding and NUL restrictions. json.dumps on both sides
        // tells True from 1 and 2.0 from 2, which `==` would not.
        let script = "import ast, json, sys\n\
            py, js = sys.stdin.buffer.read().decode('utf-8').split('\\n')\n\
            a = json.dumps(ast.literal_eval(py))\n\
            b = json.dumps(json.loads(js))\n\
            sys.exit(0 if a == b else 'mismatch:\\n' + a + '\\n' + b)\n";
        let child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                // A test's own note, for a machine without Python.
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("skipping: cannot run python3: {e}");
                }
                return;
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(format!("{py}\n{json}").as_bytes())
                .expect("write to python3");
        }
        let output = child.wait_with_output().expect("wait for python3");
        assert!(
            output.status.success(),
            "python3 disagrees:\n{}\npython literal: {py}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

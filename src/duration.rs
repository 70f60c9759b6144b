//! Durations as people write them in YAML and on the command line: `500ms`, `10s`, `5m`, `2h`,
//! and sums such as `1m30s`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration parsed from text like `1m30s`. The newtype exists so that serde and clap read the
/// same syntax everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{input}`: {reason} (write it like 500ms, 10s, 5m, 2h or 1m30s)")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl Dur {
    pub const ZERO: Dur = Dur(Duration::ZERO);

    pub fn from_secs(secs: u64) -> Self {
        Dur(Duration::from_secs(secs))
    }

    pub fn from_millis(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }

    pub fn as_millis(&self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl FromStr for Dur {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            input: input.to_string(),
            reason,
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(err("it is empty"));
        }
        let mut total = 0f64;
        let mut rest = text;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_len == 0 {
                return Err(err("expected a number"));
            }
            let number: f64 = rest[..num_len]
                .parse()
                .map_err(|_| err("the number is not valid"))?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit_ms = match rest[..unit_len].trim() {
                "ms" => 1.0,
                "s" | "sec" | "secs" => 1_000.0,
                "m" | "min" | "mins" => 60_000.0,
                "h" => 3_600_000.0,
                "d" => 86_400_000.0,
                "" => return Err(err("a unit is missing")),
                _ => return Err(err("the unit is not one of ms, s, m, h, d")),
            };
            rest = &rest[unit_len..];
            total += number * unit_ms;
        }
        if !total.is_finite() || total > 1e15 {
            return Err(err("it is too large"));
        }
        Ok(Dur(Duration::from_micros((total * 1000.0).round() as u64)))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        let (h, m, s, rest) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        if rest > 0 {
            write!(f, "{rest}ms")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Parsing inside the visitor (rather than after reading a String) makes a bad duration
        // an error of the scalar itself, so YAML errors point at it and not at its mapping.
        struct DurVisitor;

        impl serde::de::Visitor<'_> for DurVisitor {
            type Value = Dur;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 500ms, 10s, 5m, 2h or 1m30s")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Dur, E> {
                text.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(DurVisitor)
    }
}

/// Durations are strings in the same syntax as [`Dur::from_str`]; editors check the pattern.
impl schemars::JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: a number and a unit (ms, s, m, h, d), or a sum such as 1m30s.",
            "pattern": r"^\s*(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:ms|s|secs?|m|mins?|h|d)\s*)+$",
            "examples": ["500ms", "10s", "5m", "2h", "1m30s"]
        })
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> u64 {
        text.parse::<Dur>().unwrap().as_millis()
    }

    #[test]
    fn units_are_read() {
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("10s"), 10_000);
        assert_eq!(ms("5m"), 300_000);
        assert_eq!(ms("2h"), 7_200_000);
        assert_eq!(ms("1.5s"), 1_500);
        assert_eq!(ms("0s"), 0);
    }

    #[test]
    fn compound_durations_add_up() {
        assert_eq!(ms("1m30s"), 90_000);
        assert_eq!(ms("1h 2m"), 3_720_000);
    }

    #[test]
    fn bad_durations_are_rejected_with_a_reason() {
        for bad in ["", "10", "s", "10x", "1..2s", "-1s", "1e400s"] {
            let err = bad.parse::<Dur>().unwrap_err().to_string();
            assert!(err.contains("500ms"), "{bad}: {err}");
        }
    }

    #[test]
    fn schema_pattern_accepts_what_the_parser_accepts() {
        let schema = schemars::schema_for!(Dur);
        let pattern = schema.get("pattern").and_then(|p| p.as_str()).unwrap();
        // No regex engine in the dependencies: pin the pattern itself, and that the examples
        // it advertises parse.
        assert!(pattern.contains("ms|s|secs?|m|mins?|h|d"), "{pattern}");
        for example in schema.get("examples").and_then(|e| e.as_array()).unwrap() {
            assert!(
                example.as_str().unwrap().parse::<Dur>().is_ok(),
                "{example}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["0s", "500ms", "1m30s", "2h", "1h1m1s1ms"] {
            assert_eq!(text.parse::<Dur>().unwrap().to_string(), text);
        }
    }
}

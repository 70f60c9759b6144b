//! The pipeline file as written: serde types that read it and, through schemars, describe it
//! in `schemas/pipeline.schema.json`.
//!
//! Every struct denies unknown fields. There is no `untagged` enum and no `flatten`: both make
//! serde forget which key was wrong and where. A step is one struct with every key optional
//! (including `parallel`), and the loader checks which keys go together.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::model::{Condition, ResultName};
use crate::duration::Dur;

/// A pipeline of Jenkins jobs, run by jrun (`jrun run FILE`, `jrun validate FILE`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a pipeline: a mapping with at least `name:` and `steps:`"
)]
#[schemars(title = "jrun pipeline")]
pub struct PipelineFile {
    /// Name of the pipeline, shown in output and reports. Templates read it as `pipeline.name`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The Jenkins server. Every field may instead come from the environment:
    /// `JENKINS_URL`, `JENKINS_USER_ID`, `JENKINS_API_TOKEN` (or `JENKINS_PASSWORD`).
    pub jenkins: Option<JenkinsFile>,
    /// Values for templates (`{{vars.version}}`). Any YAML value, nested mappings included.
    /// `--set key=value` replaces a top-level var with a string.
    pub vars: Option<serde_json::Map<String, serde_json::Value>>,
    /// Settings that apply to every step that does not set them itself.
    pub defaults: Option<DefaultsFile>,
    /// The steps, run in list order unless they say `needs:`. An entry is a job step
    /// (`job:`), a gate (`await:`), or a group of steps that run at the same time (`parallel:`).
    #[schemars(length(min = 1))]
    pub steps: Vec<StepFile>,
}

/// The Jenkins server and how to authenticate to it. Values may be templates such as
/// `"{{env.RELEASE_TOKEN}}"`, so no secret needs to be written in the file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "the Jenkins server: a mapping with keys such as `url:`, `user:`, `token:`"
)]
pub struct JenkinsFile {
    /// Base URL of Jenkins, e.g. `https://ci.example.com`. Default: `$JENKINS_URL`.
    pub url: Option<String>,
    /// User name. Default: `$JENKINS_USER_ID`.
    pub user: Option<String>,
    /// API token of the user. Default: `$JENKINS_API_TOKEN`.
    pub token: Option<String>,
    /// File holding the API token (instead of `token`).
    pub token_file: Option<String>,
    /// Password of the user, when there is no API token (jrun then fetches a CSRF crumb).
    pub password: Option<String>,
    /// File holding the password (instead of `password`).
    pub password_file: Option<String>,
    /// Most requests in flight to this server at once.
    #[schemars(range(min = 1))]
    pub max_in_flight: Option<usize>,
    /// How long the server may stay unreachable before the run gives up (default 2m).
    pub unreachable_timeout: Option<Dur>,
}

/// Settings that apply to every step unless the step sets them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "defaults: a mapping with keys such as `expect:`, `timeout:`, `poll:`"
)]
pub struct DefaultsFile {
    /// Results that count as passing (default `[SUCCESS]`).
    pub expect: Option<Vec<ResultName>>,
    /// Wall time of a build, queue time included (default: none). Also bounds `await:` gates
    /// (whose own default is 1h).
    pub timeout: Option<Dur>,
    /// How long a build may wait in the Jenkins queue (default 1h).
    pub queue_timeout: Option<Dur>,
    /// How often to ask Jenkins about a build.
    pub poll: Option<PollFile>,
}

/// Polling intervals: start at `initial`, grow by `factor`, never above `max`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "poll settings: a mapping with `initial:`, `max:` and/or `factor:`"
)]
pub struct PollFile {
    /// First interval (default 1s).
    pub initial: Option<Dur>,
    /// Longest interval (default 15s).
    pub max: Option<Dur>,
    /// Growth from one interval to the next, at least 1 (default 1.5).
    #[schemars(range(min = 1.0))]
    pub factor: Option<f64>,
}

/// One entry of `steps:` (or of a `parallel:` group): a job step (`job:`), a gate (`await:`),
/// or a group (`parallel:`, alone in its entry).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a step: a mapping with `job:`, `await:` or `parallel:`"
)]
#[schemars(transform = step_kinds)]
pub struct StepFile {
    /// Unique name of the step, used by `needs:` and in templates (`steps.<id>.number`).
    /// Letters, digits, `-` and `_`. Default: the last part of the job name.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub id: Option<String>,
    /// Job to build, with its folders: `platform/app/build`.
    pub job: Option<String>,
    /// A gate: waits until the job's last build has one of the results; triggers nothing.
    #[serde(rename = "await")]
    pub await_: Option<AwaitFile>,
    /// Steps that run at the same time; the next entry waits for all of them.
    pub parallel: Option<Vec<StepFile>>,
    /// Build parameters. Values are text (numbers and booleans are sent as written).
    pub params: Option<Params>,
    /// Results that count as passing (default `[SUCCESS]`, or `defaults.expect`).
    pub expect: Option<Vec<ResultName>>,
    /// `false` triggers the build and moves on without waiting for it (default `true`).
    pub wait: Option<bool>,
    /// Wall time of the build, queue time included; for `await:`, how long to wait (1h).
    pub timeout: Option<Dur>,
    /// How long the build may wait in the Jenkins queue (default 1h).
    pub queue_timeout: Option<Dur>,
    /// How often to ask Jenkins about the build.
    pub poll: Option<PollFile>,
    /// When the step runs, given how the steps it needs ended (default `on_success`).
    #[serde(rename = "if")]
    pub condition: Option<Condition>,
    /// A failure of this step is reported but does not stop its dependents nor fail the run.
    pub continue_on_failure: Option<bool>,
    /// Remote trigger token of the job ("Trigger builds remotely").
    pub token: Option<String>,
    /// Ids of the steps this one waits for, instead of the entry before it.
    pub needs: Option<Vec<String>>,
}

/// Which keys go together, for editors; the loader checks the same rules with better messages.
fn step_kinds(schema: &mut Schema) {
    let job_only = ["params", "expect", "wait", "queue_timeout", "token"];
    let mut await_props = serde_json::Map::new();
    await_props.insert("parallel".into(), false.into());
    for key in job_only {
        await_props.insert(key.into(), false.into());
    }
    schema.insert(
        "oneOf".into(),
        serde_json::json!([
            {
                "title": "job step",
                "required": ["job"],
                "properties": { "parallel": false }
            },
            {
                "title": "await step",
                "required": ["await"],
                "properties": await_props
            },
            {
                "title": "parallel group",
                "required": ["parallel"],
                "maxProperties": 1
            }
        ]),
    );
}

/// A gate on another job's last build.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an await gate: a mapping with `job:` and optionally `result:` and `newer_than:`"
)]
pub struct AwaitFile {
    /// Job whose last build is watched, with its folders.
    pub job: String,
    /// Results that open the gate (default `[SUCCESS]`).
    pub result: Option<Vec<ResultName>>,
    /// The build must have ended at most this long ago, e.g. `24h`.
    pub newer_than: Option<Dur>,
}

/// Build parameters in file order.
#[derive(Debug, Default)]
pub struct Params(pub Vec<(String, ParamValue)>);

/// A parameter value as written: YAML scalars keep their text (`1.10` stays `1.10`), null is
/// empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamValue(pub String);

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ParamsVisitor)
    }
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("build parameters: a mapping of NAME: value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Params, E> {
        Ok(Params::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
        let mut params: Vec<(String, ParamValue)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value::<ParamValue>()?;
            if params.iter().any(|(seen, _)| *seen == name) {
                return Err(de::Error::custom(format_args!(
                    "parameter `{name}` is given twice; keep one of them"
                )));
            }
            params.push((name, value));
        }
        Ok(Params(params))
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `deserialize_str` hands over any scalar's text as written, so numbers such as `1.10`
        // or `007` reach Jenkins unchanged, and containers fail with the message below.
        deserializer.deserialize_str(ParamValueVisitor)
    }
}

struct ParamValueVisitor;

impl<'de> Visitor<'de> for ParamValueVisitor {
    type Value = ParamValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a parameter value: text, a number or a boolean (Jenkins parameters are text; \
             write a list as one string, e.g. \"eu,us\")",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ParamValue, E> {
        // The text of a YAML null; a quoted "null" reads the same here, which only matters
        // for a parameter whose intended value is the word null.
        let null = matches!(v, "" | "~" | "null" | "Null" | "NULL");
        Ok(ParamValue(if null { String::new() } else { v.to_string() }))
    }

    fn visit_unit<E: de::Error>(self) -> Result<ParamValue, E> {
        Ok(ParamValue(String::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<ParamValue, E> {
        Ok(ParamValue(String::new()))
    }
}

impl JsonSchema for Params {
    fn schema_name() -> Cow<'static, str> {
        "Params".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<ParamValue>();
        json_schema!({
            "type": "object",
            "description": "Build parameters: NAME: value, sent in file order.",
            "additionalProperties": value
        })
    }
}

impl JsonSchema for ParamValue {
    fn schema_name() -> Cow<'static, str> {
        "ParamValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A parameter value; may be a template such as \"{{steps.build.number}}\". Numbers and booleans are sent as written, null as empty text.",
            "type": ["string", "number", "boolean", "null"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> Result<Vec<(String, String)>, String> {
        #[derive(Deserialize)]
        struct Doc {
            params: Params,
        }
        let doc: Doc = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
        Ok(doc.params.0.into_iter().map(|(k, v)| (k, v.0)).collect())
    }

    #[test]
    fn param_values_keep_their_text_in_file_order() {
        let got = params(
            "params:\n  Z: 1.10\n  A: 007\n  B: true\n  C: ~\n  D:\n  E: \"x\"\n  F: 3\n  G: 'a&b <c>'\n",
        )
        .unwrap();
        let want = [
            ("Z", "1.10"),
            ("A", "007"),
            ("B", "true"),
            ("C", ""),
            ("D", ""),
            ("E", "x"),
            ("F", "3"),
            ("G", "a&b <c>"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn list_and_map_param_values_are_rejected_with_advice() {
        let err = params("params:\n  REGIONS: [eu, us]\n").unwrap_err();
        assert!(err.contains("params.REGIONS"), "{err}");
        assert!(err.contains("write a list as one string"), "{err}");
        assert!(err.contains("line 2 column 12"), "{err}");
        let err = params("params:\n  X: {a: 1}\n").unwrap_err();
        assert!(err.contains("invalid type: map"), "{err}");
    }

    #[test]
    fn a_parameter_given_twice_is_rejected() {
        let err = params("params: {A: 1, A: 2}").unwrap_err();
        assert!(err.contains("parameter `A` is given twice"), "{err}");
    }
}

//! Pipeline `input` steps: what a paused build waits for, and answering it. The pending inputs
//! are read only once a build's poll said it waits (`waitingForInput`), since their details sit
//! below the `InputAction` at a depth that a plain build read never asks for.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::client::Patience;
use super::error::page_message;
use super::paths::{encode_segment, job_path, shown};
use super::types::value_text;
use super::{Client, Error};

const INPUT_TREE: &str = "actions[_class,waitingForInput,executions[id,settled,input[id,message,ok,submitter,parameters[_class,name,type,description,choices,defaultParameterValue[value]]]]]";

/// An input a build waits at, as Jenkins stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingInput {
    /// Capitalized by Jenkins (`deploy` is stored as `Deploy`); URLs use it exactly.
    pub id: String,
    pub message: String,
    /// The proceed button's text.
    pub ok: String,
    /// Who may answer: comma-separated users or groups; `None` for anyone who may build.
    pub submitter: Option<String>,
    pub parameters: Vec<InputParam>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputParam {
    pub name: String,
    /// The definition's simple class name, e.g. `ChoiceParameterDefinition`.
    pub kind: String,
    pub default: Option<Value>,
    pub choices: Vec<String>,
}

impl InputParam {
    pub fn is_boolean(&self) -> bool {
        self.kind.starts_with("Boolean")
    }

    pub fn is_choice(&self) -> bool {
        self.kind.starts_with("Choice")
    }

    /// The default as text, e.g. to say which value was filled in.
    pub fn default_text(&self) -> Option<String> {
        self.default.as_ref().and_then(value_text)
    }
}

/// What to tell an input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputReply {
    /// Proceed with these parameter values; every declared parameter is given, since Jenkins
    /// fills in no defaults.
    Proceed(Vec<(String, Value)>),
    Abort,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Jenkins refused the answer: `submitter` names others, or the user lacks the permission.
    #[error("Jenkins refused to let {user} answer input `{id}`: {why}")]
    Denied {
        id: String,
        user: String,
        why: String,
    },
    /// The input was answered already, or the build no longer waits at it.
    #[error("input `{id}` is no longer pending (answered already, or the build moved on)")]
    Gone { id: String },
    #[error(transparent)]
    Jenkins(#[from] Error),
}

#[derive(Deserialize)]
struct InputsJson {
    #[serde(default)]
    actions: Option<Vec<Option<ActionJson>>>,
}

#[derive(Deserialize)]
struct ActionJson {
    #[serde(default)]
    executions: Option<Vec<Option<ExecutionJson>>>,
}

#[derive(Deserialize)]
struct ExecutionJson {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    settled: Option<bool>,
    #[serde(default)]
    input: Option<InputJson>,
}

#[derive(Deserialize)]
struct InputJson {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    submitter: Option<String>,
    #[serde(default)]
    parameters: Option<Vec<ParamJson>>,
}

#[derive(Deserialize)]
struct ParamJson {
    #[serde(rename = "_class", default)]
    class: Option<String>,
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    choices: Option<Vec<Value>>,
    #[serde(rename = "defaultParameterValue", default)]
    default: Option<DefaultJson>,
}

#[derive(Deserialize)]
struct DefaultJson {
    #[serde(default)]
    value: Option<Value>,
}

fn pending(json: InputsJson) -> Vec<PendingInput> {
    let executions = json
        .actions
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|a| a.executions.into_iter().flatten().flatten());
    executions
        .filter(|e| e.settled != Some(true))
        .filter_map(|e| {
            let input = e.input?;
            let id = input.id.or(e.id)?;
            Some(PendingInput {
                message: input.message.unwrap_or_default(),
                ok: input.ok.unwrap_or_else(|| "Proceed".to_string()),
                submitter: input.submitter.filter(|s| !s.trim().is_empty()),
                parameters: input
                    .parameters
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| InputParam {
                        kind: p
                            .kind
                            .or_else(|| {
                                p.class
                                    .map(|c| c.rsplit(['.', '$']).next().unwrap_or("").to_string())
                            })
                            .unwrap_or_default(),
                        name: p.name,
                        default: p.default.and_then(|d| d.value),
                        choices: p
                            .choices
                            .unwrap_or_default()
                            .iter()
                            .filter_map(value_text)
                            .collect(),
                    })
                    .collect(),
                id,
            })
        })
        .collect()
}

/// The form Jenkins' `proceed` reads: `json={"parameter":[{"name":..,"value":..}]}`.
fn proceed_form(values: &[(String, Value)]) -> Vec<u8> {
    let parameter: Vec<Value> = values
        .iter()
        .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
        .collect();
    let json = serde_json::json!({ "parameter": parameter }).to_string();
    form_urlencoded::Serializer::new(String::new())
        .append_pair("json", &json)
        .finish()
        .into_bytes()
}

impl Client {
    /// The inputs build `number` of `job` waits at, in the order Jenkins lists them.
    pub async fn pending_inputs(&self, job: &str, number: u64) -> Result<Vec<PendingInput>, Error> {
        let url = self.api_url(&format!("{}{number}/", job_path(job)?), INPUT_TREE);
        let json: InputsJson = self.get_json(&url).await?.ok_or_else(|| Error::NotFound {
            what: format!("build #{number} of job `{job}`"),
        })?;
        Ok(pending(json))
    }

    /// The page where a person answers the build's inputs.
    pub fn input_page(&self, job: &str, number: u64) -> Result<String, Error> {
        Ok(format!("{}{number}/input/", self.job_url(job)?))
    }

    /// Answers input `id` of build `number`. A POST whose answer was lost is sent again: a
    /// second answer to a settled input changes nothing and comes back as [`InputError::Gone`].
    pub async fn answer_input(
        &self,
        job: &str,
        number: u64,
        id: &str,
        reply: &InputReply,
    ) -> Result<(), InputError> {
        let (action, body) = match reply {
            InputReply::Proceed(values) => ("proceed", proceed_form(values)),
            InputReply::Abort => ("abort", Vec::new()),
        };
        let url = format!(
            "{}{}{number}/input/{}/{action}",
            self.base_url(),
            job_path(job)?,
            encode_segment(id)
        );
        let mut patience = Patience::new(self.settings().unreachable_timeout);
        loop {
            let started = tokio::time::Instant::now();
            let failure = match self.post(&url, body.clone()).await? {
                Ok(reply) => {
                    let status = reply.status;
                    let why = page_message(&reply.body, status.as_u16());
                    match status.as_u16() {
                        200..=399 => return Ok(()),
                        404 => return Err(InputError::Gone { id: id.to_string() }),
                        400 => {
                            let header = reply
                                .headers
                                .get("X-Error")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            let why = header.unwrap_or(why);
                            if why.contains("already given") {
                                return Err(InputError::Gone { id: id.to_string() });
                            }
                            return Err(InputError::Denied {
                                id: id.to_string(),
                                user: self
                                    .settings()
                                    .auth
                                    .user()
                                    .map_or("anonymous".to_string(), |u| format!("user `{u}`")),
                                why,
                            });
                        }
                        429 | 502..=504 => format!("POST {}: HTTP {status} {why}", shown(&url)),
                        _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                            format!("POST {}: HTTP {status} {why}", shown(&url))
                        }
                        _ => {
                            return Err(InputError::Jenkins(
                                self.status_error("POST", &url, &reply),
                            ));
                        }
                    }
                }
                Err(e) if !e.transient => {
                    return Err(InputError::Jenkins(Error::Transport {
                        url: shown(&url).to_string(),
                        message: e.message,
                    }));
                }
                Err(e) => format!("POST {}: {}", shown(&url), e.message),
            };
            if let Err(after) = patience.failed(started).await {
                return Err(InputError::Jenkins(self.unreachable(after, failure)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unsettled_inputs_are_pending_with_their_parameters() {
        let json: InputsJson = serde_json::from_value(serde_json::json!({
            "actions": [null, {"_class": "hudson.model.CauseAction"}, {
                "_class": "org.jenkinsci.plugins.workflow.support.steps.input.InputAction",
                "waitingForInput": true,
                "executions": [
                    {"id": "Old", "settled": true, "input": {"id": "Old", "message": "m"}},
                    {"id": "Deploy", "settled": false, "input": {
                        "id": "Deploy", "message": "Deploy to production?", "ok": "Deploy",
                        "submitter": "release-team,alice",
                        "parameters": [
                            {"name": "TARGET", "type": "ChoiceParameterDefinition",
                             "choices": ["eu", "us"], "defaultParameterValue": {"value": "eu"}},
                            {"_class": "hudson.model.BooleanParameterDefinition", "name": "FORCE",
                             "defaultParameterValue": {"value": false}}
                        ]}}
                ]}]
        }))
        .unwrap();
        let inputs = pending(json);
        assert_eq!(inputs.len(), 1);
        let input = &inputs[0];
        assert_eq!(input.id, "Deploy");
        assert_eq!(input.ok, "Deploy");
        assert_eq!(input.submitter.as_deref(), Some("release-team,alice"));
        assert!(input.parameters[0].is_choice());
        assert_eq!(input.parameters[0].choices, ["eu", "us"]);
        assert!(input.parameters[1].is_boolean());
        assert_eq!(input.parameters[1].default_text().as_deref(), Some("false"));
    }

    #[test]
    fn proceed_sends_booleans_as_json_booleans() {
        let body = proceed_form(&[
            ("TARGET".to_string(), Value::from("us")),
            ("FORCE".to_string(), Value::from(true)),
        ]);
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].0, "json");
        assert_eq!(
            pairs[0].1,
            r#"{"parameter":[{"name":"TARGET","value":"us"},{"name":"FORCE","value":true}]}"#
        );
    }
}

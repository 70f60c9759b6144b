//! What a build says of itself for `outputs:` (its description, display name and the
//! parameters it ran with, in one read), and setting its description (`submitDescription`).

use serde::Deserialize;
use serde_json::Value;

use super::Error;
use super::client::Client;
use super::paths::{job_path, shown};

/// One read for every output that comes from the build's own JSON.
const FACTS_TREE: &str = "description,displayName,actions[parameters[name,value]]";

/// A build's description, display name and parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFacts {
    /// `null` in Jenkins' JSON when the build has none.
    pub description: Option<String>,
    /// The custom name, or `#N`.
    pub display_name: Option<String>,
    /// By name, as text: booleans and numbers as their JSON text. A parameter whose value
    /// Jenkins does not export (a password, a file) is there with `None`.
    pub params: Vec<(String, Option<String>)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FactsJson {
    description: Option<String>,
    display_name: Option<String>,
    #[serde(default)]
    actions: Option<Vec<Option<ActionJson>>>,
}

#[derive(Deserialize)]
struct ActionJson {
    #[serde(default)]
    parameters: Option<Vec<ParamJson>>,
}

#[derive(Deserialize)]
struct ParamJson {
    name: Option<String>,
    #[serde(default)]
    value: Option<Value>,
}

/// A JSON value as the text an output holds: strings as they are, other scalars as their
/// JSON text, objects and lists as compact JSON; `None` for null.
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

impl Client {
    /// The build's description, display name and parameters, in one `tree=` read.
    pub async fn build_facts(&self, job: &str, number: u64) -> Result<BuildFacts, Error> {
        let url = self.api_url(&format!("{}{number}/", job_path(job)?), FACTS_TREE);
        let json: FactsJson = self.get_json(&url).await?.ok_or_else(|| Error::NotFound {
            what: format!("build #{number} of job `{job}`"),
        })?;
        let params = json
            .actions
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .flat_map(|action| action.parameters.unwrap_or_default())
            .filter_map(|p| {
                let name = p.name?;
                Some((name, p.value.as_ref().and_then(value_text)))
            })
            .collect();
        Ok(BuildFacts {
            description: json.description,
            display_name: json.display_name,
            params,
        })
    }

    /// Sets the build's description (`Run.UPDATE`). Jenkins answers 302 to the build.
    pub async fn set_description(&self, job: &str, number: u64, text: &str) -> Result<(), Error> {
        let url = format!(
            "{}{}{number}/submitDescription",
            self.inner.base,
            job_path(job)?
        );
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("description", text)
            .finish()
            .into_bytes();
        let reply = self.post(&url, body).await?.map_err(|e| Error::Transport {
            url: shown(&url).to_string(),
            message: e.message,
        })?;
        match reply.status.as_u16() {
            200..=399 => Ok(()),
            404 => Err(Error::NotFound {
                what: format!("build #{number} of job `{job}`"),
            }),
            _ => Err(self.status_error("POST", &url, &reply)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_text_and_containers_compact_json() {
        assert_eq!(value_text(&Value::from("x y")).as_deref(), Some("x y"));
        assert_eq!(value_text(&Value::from(true)).as_deref(), Some("true"));
        assert_eq!(value_text(&serde_json::json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(
            value_text(&serde_json::json!({"a": [1, "b"]})).as_deref(),
            Some(r#"{"a":[1,"b"]}"#)
        );
        assert_eq!(value_text(&Value::Null), None);
    }

    #[test]
    fn facts_json_reads_parameters_of_every_action_and_skips_empty_ones() {
        let json: FactsJson = serde_json::from_str(
            r#"{"_class":"x","description":null,"displayName":"release-1.2.3","actions":[
                {}, null, {"_class":"hudson.model.CauseAction"},
                {"parameters":[{"name":"BRANCH","value":"main"},{"name":"DRY","value":true},
                               {"name":"TOKEN"}]}]}"#,
        )
        .unwrap();
        assert_eq!(json.description, None);
        assert_eq!(json.display_name.as_deref(), Some("release-1.2.3"));
        let params: Vec<(String, Option<String>)> = json
            .actions
            .unwrap()
            .into_iter()
            .flatten()
            .flat_map(|a| a.parameters.unwrap_or_default())
            .filter_map(|p| Some((p.name?, p.value.as_ref().and_then(value_text))))
            .collect();
        assert_eq!(
            params,
            [
                ("BRANCH".to_string(), Some("main".to_string())),
                ("DRY".to_string(), Some("true".to_string())),
                ("TOKEN".to_string(), None)
            ]
        );
    }
}

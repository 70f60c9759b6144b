//! `vars:` and `--set` overrides, keeping the written text of floats.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::pipeline::locate::YamlPath;
use crate::pipeline::suggest;

use super::lowering::Lowering;
use super::syntax::token_at;

impl Lowering<'_> {
    pub(super) fn vars(&mut self, overrides: &[(String, String)]) -> BTreeMap<String, Value> {
        let root = YamlPath::root().key("vars");
        let mut vars = BTreeMap::new();
        for (key, value) in self.doc.vars.iter().flat_map(|v| &v.0) {
            let mut value = value.clone();
            self.keep_float_text(&mut value, &root.key(key));
            vars.insert(key.clone(), value);
        }
        for (key, value) in overrides {
            if vars.contains_key(key) {
                vars.insert(key.clone(), Value::String(value.clone()));
                continue;
            }
            let message = match suggest::closest(key, vars.keys().map(String::as_str)) {
                Some(near) => format!(
                    "`--set {key}`: the pipeline has no var `{key}`; did you mean `{near}`? \
                     (`--set` changes a var declared under `vars:`)"
                ),
                None => format!(
                    "`--set {key}`: the pipeline declares no vars; declare `{key}` under `vars:` \
                     to make it settable"
                ),
            };
            self.diags.general(message);
        }
        vars
    }

    /// YAML reads `version: 1.10` as the number 1.1. A release engineer means the text, so a
    /// float whose written form differs from the number's keeps the written form, as a string.
    pub(super) fn keep_float_text(&self, value: &mut Value, path: &YamlPath) {
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.keep_float_text(item, &path.index(i));
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    self.keep_float_text(item, &path.key(key));
                }
            }
            Value::Number(number) if number.is_f64() => {
                let Some(pos) = self.spans.get_str(&path.to_string()) else {
                    return;
                };
                let Some(written) = token_at(self.diags.text, pos) else {
                    return;
                };
                let same = yaml_serde::from_str::<f64>(written)
                    .is_ok_and(|parsed| Some(parsed) == number.as_f64());
                if same && written != number.to_string() {
                    *value = Value::String(written.to_string());
                }
            }
            _ => {}
        }
    }
}

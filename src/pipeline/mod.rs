//! Pipeline files: the model (serde + schemars), loading with file/line/column errors,
//! validation of the step graph, and Handlebars templates rendered per string value.
//!
//! Pure data: nothing here touches the network. The engine takes a [`Pipeline`] from [`load`],
//! renders each step's templates with a [`RenderContext`] as facts become known, and runs the
//! steps in the order of [`Pipeline::steps`].

use std::collections::BTreeMap;
use std::path::Path;

mod depth;
mod diagnostic;
mod file;
mod graph;
mod load;
mod locate;
mod model;
mod render;
mod select;
pub mod suggest;

pub use diagnostic::{Diagnostic, PipelineError};
pub use model::{
    ArtifactGlob, Artifacts, AuthScheme, AwaitBuild, AwaitStep, BranchScan, Condition,
    DEFAULT_SERVER, InputAction, InputAnswer, Inputs, JobStep, MatrixCell, OutputFormat,
    OutputSource, Outputs, Pipeline, Poll, ResultName, Retry, RetryOn, ServerSpec, Step, StepKind,
    jenkins_input_id,
};
pub use render::{
    FinishedSteps, HELPERS, RenderContext, RenderError, RunFacts, STEP_FACTS, StepFacts, Template,
};

/// The largest pipeline file jrun reads: far more than any real pipeline, and little enough
/// that `jrun /dev/zero` ends with an error rather than with all of memory.
pub const MAX_PIPELINE_FILE: u64 = 16 << 20;

/// The file's bytes, refusing one larger than `MAX_PIPELINE_FILE` (read through a cap, so a
/// device or a pipe that never ends is refused too).
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_PIPELINE_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PIPELINE_FILE {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB, which no pipeline needs; is it the right file?",
            MAX_PIPELINE_FILE >> 20
        )));
    }
    Ok(bytes)
}

/// Reads and validates the pipeline file at `path`; `overrides` are `--set key=value` pairs.
pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Pipeline, PipelineError> {
    let bytes = read_bounded(path).map_err(|err| {
        let what = match err.kind() {
            std::io::ErrorKind::NotFound => "no such file; check the path".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "permission denied; check the file's permissions".to_string()
            }
            _ => format!("cannot read the file: {err}"),
        };
        PipelineError::new(vec![Diagnostic {
            file: path.to_path_buf(),
            line: None,
            column: None,
            message: what,
        }])
    })?;
    load::load_bytes(&bytes, path, overrides)
}

/// Validates pipeline text; `origin` names it in diagnostics and becomes [`Pipeline::file`].
pub fn load_str(
    text: &str,
    origin: &Path,
    overrides: &[(String, String)],
) -> Result<Pipeline, PipelineError> {
    load::load_text(text, origin, overrides)
}

/// The JSON Schema of pipeline files (draft-07, which every YAML editor plugin reads),
/// generated from the serde types that parse them.
pub fn schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator
        .into_root_schema_for::<file::PipelineFile>()
        .to_value();
    // Readers (and editors' hover texts) look for these first.
    let serde_json::Value::Object(mut rest) = schema else {
        return schema;
    };
    let mut ordered = serde_json::Map::new();
    for key in ["$schema", "title", "description"] {
        if let Some(value) = rest.shift_remove(key) {
            ordered.insert(key.to_string(), value);
        }
    }
    ordered.extend(rest);
    serde_json::Value::Object(ordered)
}

/// [`schema`] as committed in `schemas/pipeline.schema.json`: pretty-printed, with a trailing
/// newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Checks a job's full name, e.g. after rendering a templated one: folders separated by
/// single `/`, and not the URL form.
pub fn check_job_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the job name is empty; write its full name, e.g. platform/app/build".into());
    }
    if name.contains("://") {
        return Err(format!(
            "`{name}` is a URL; name the job by its full name, e.g. platform/app/build"
        ));
    }
    if name.starts_with("job/") {
        return Err(format!(
            "`{name}` is the URL form of a job name; write its folders separated by `/`, e.g. \
             platform/app/build for job/platform/job/app/job/build"
        ));
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err(format!(
            "job name `{name}` has an empty folder; separate folders with single `/`, e.g. \
             platform/app/build"
        ));
    }
    if name != name.trim() {
        return Err(format!(
            "job name `{name}` starts or ends with spaces; remove them"
        ));
    }
    Ok(())
}

impl Pipeline {
    /// Checks that every `env.NAME` any template reads is set in `env`.
    pub fn check_env(&self, env: &BTreeMap<String, String>) -> Result<(), PipelineError> {
        let mut diagnostics = Vec::new();
        for template in self.templates() {
            for name in template.env_refs() {
                if env.contains_key(&name) {
                    continue;
                }
                diagnostics.push(Diagnostic {
                    file: self.file.clone(),
                    line: template.line(),
                    column: template.column(),
                    message: format!(
                        "environment variable `{name}` is not set; {} reads `env.{name}`: \
                         export {name} before running jrun",
                        template.field()
                    ),
                });
            }
        }
        if diagnostics.is_empty() {
            Ok(())
        } else {
            Err(PipelineError::new(diagnostics))
        }
    }
}

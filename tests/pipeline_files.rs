//! Pipeline files end to end: the committed schema, the example pipelines, and the
//! diagnostics a user sees for bad files (with file, line and column).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jrun::pipeline::{
    self, Condition, Diagnostic, Pipeline, PipelineError, RenderContext, RunFacts, StepFacts,
    StepKind,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(text: &str) -> Result<Pipeline, PipelineError> {
    pipeline::load_str(text, Path::new("test.yaml"), &[])
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match load(text) {
        Ok(_) => panic!("expected diagnostics for:\n{text}"),
        Err(err) => err.diagnostics,
    }
}

/// The only diagnostic, as `line:column: message`.
fn only_error(text: &str) -> (usize, usize, String) {
    let diagnostics = errors(text);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let d = &diagnostics[0];
    (
        d.line.expect("a line"),
        d.column.expect("a column"),
        d.message.clone(),
    )
}

#[test]
fn committed_schema_matches_the_types() {
    let path = root().join("schemas/pipeline.schema.json");
    let generated = pipeline::schema_text();
    if std::env::var_os("JRUN_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale or missing: the pipeline types changed. Regenerate it with \
         `cargo run -- schema > schemas/pipeline.schema.json` \
         (or `JRUN_UPDATE_SCHEMA=1 cargo test --test pipeline_files`) and commit it.",
        path.display()
    );
}

#[test]
fn schema_is_draft_07_and_describes_steps() {
    let schema = pipeline::schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let step = &schema["definitions"]["StepFile"];
    assert_eq!(step["additionalProperties"], false);
    for key in [
        "id", "job", "await", "parallel", "params", "needs", "if", "poll",
    ] {
        assert!(step["properties"].get(key).is_some(), "{key}");
    }
    assert_eq!(step["oneOf"].as_array().map(Vec::len), Some(3));
    assert!(
        schema["required"]
            .as_array()
            .unwrap()
            .contains(&"steps".into())
    );
}

#[test]
fn every_example_pipeline_loads() {
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("pipelines")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            count += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with(
                    "# yaml-language-server: $schema=../schemas/pipeline.schema.json\n"
                ),
                "{} must start with the schema comment",
                path.display()
            );
            if let Err(err) = pipeline::load(&path, &[]) {
                panic!("{} does not load:\n{err}", path.display());
            }
        }
    }
    assert!(count >= 2, "expected the example pipelines in pipelines/");
}

#[test]
fn release_example_builds_then_deploys_in_parallel_then_announces() {
    let p = pipeline::load(&root().join("pipelines/release.yaml"), &[]).unwrap();
    let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["build", "qa-gate", "deploy-eu", "deploy-us", "announce"]
    );
    let index = |id: &str| p.step_index(id).unwrap();
    assert_eq!(p.steps[index("deploy-eu")].needs, [index("qa-gate")]);
    assert_eq!(p.steps[index("deploy-us")].needs, [index("qa-gate")]);
    assert_eq!(
        p.steps[index("announce")].needs,
        [index("deploy-eu"), index("deploy-us")]
    );
    assert_eq!(p.steps[index("announce")].condition, Condition::Always);
    assert!(matches!(p.steps[index("qa-gate")].kind, StepKind::Await(_)));
    assert!(p.server.url.is_none() && p.server.token.is_none());
    // The file names no credentials and reads no environment.
    assert!(p.check_env(&BTreeMap::new()).is_ok());

    let StepKind::Job(deploy) = &p.steps[index("deploy-eu")].kind else {
        panic!("deploy-eu is a job step");
    };
    let mut ctx = RenderContext::new(
        &p,
        RunFacts {
            id: "r1".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
        },
        BTreeMap::new(),
    );
    ctx.steps.insert(
        "build".into(),
        StepFacts {
            number: Some(41),
            ..StepFacts::default()
        },
    );
    let rendered: Vec<(String, String)> = deploy
        .params
        .iter()
        .map(|(k, t)| (k.clone(), t.render(&ctx).unwrap()))
        .collect();
    assert_eq!(
        rendered,
        [
            ("REGION".to_string(), "eu".to_string()),
            ("BUILD".to_string(), "41".to_string()),
            ("VERSION".to_string(), "2.4.0".to_string()),
        ]
    );
}

#[test]
fn nightly_example_keeps_odd_names_and_values_as_written() {
    let p = pipeline::load(&root().join("pipelines/nightly.yaml"), &[]).unwrap();
    let unit = p.step("unit").unwrap();
    assert!(unit.continue_on_failure);
    assert_eq!(unit.job().source(), "QA Nightly/unit tests");
    let StepKind::Job(integration) = &p.step("integration").unwrap().kind else {
        panic!("integration is a job step");
    };
    let param = |name: &str| {
        integration
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, t)| t.source().to_string())
            .unwrap()
    };
    assert_eq!(param("FILTER"), "name = \"payments\" && tag != 'flaky'");
    assert_eq!(param("NOTE"), "Tom & Jerry's \"nightly\" <run>");
    assert_eq!(integration.poll.max, Duration::from_secs(30));
    assert_eq!(integration.poll.initial, Duration::from_secs(1));
    let StepKind::Job(cleanup) = &p.step("cleanup").unwrap().kind else {
        panic!("cleanup is a job step");
    };
    assert!(!cleanup.wait);
    assert_eq!(p.server.max_in_flight, Some(4));
}

#[test]
fn bad_yaml_is_reported_at_its_line_and_column() {
    let text = "name: x\nsteps:\n  - job: a\n  job: b\n";
    let (line, column, message) = only_error(text);
    assert_eq!((line, column), (4, 3), "{message}");
    assert!(
        message.contains("did not find expected '-' indicator"),
        "{message}"
    );
    let d = &errors(text)[0];
    assert!(
        d.to_string().starts_with("test.yaml:4:3: did not find"),
        "{d}"
    );
}

#[test]
fn an_unknown_key_in_a_step_is_reported_at_the_key() {
    let text = "\
name: x
steps:
  - id: a
    job: build
    colour: red
";
    let (line, column, message) = only_error(text);
    assert_eq!((line, column), (5, 5), "{message}");
    assert!(
        message.starts_with("steps[0]: unknown field `colour`, expected one of `id`, `job`"),
        "{message}"
    );
    assert!(
        message.ends_with("remove it or fix its spelling"),
        "{message}"
    );
    assert!(!message.contains(" at line "), "{message}");
}

#[test]
fn an_unknown_key_inside_a_parallel_member_is_reported_at_the_key() {
    let text = "\
name: x
steps:
  - parallel:
      - job: a
      - job: b
        paramz: {}
";
    let (line, column, message) = only_error(text);
    assert_eq!((line, column), (6, 9), "{message}");
    assert!(
        message.contains("steps[0].parallel[1]: unknown field `paramz`"),
        "{message}"
    );
}

#[test]
fn keys_of_later_stages_are_rejected_as_unknown_keys() {
    let cases = [
        (
            "name: x\nservers: {}\nsteps: [{job: a}]\n",
            (2, 1),
            "servers",
        ),
        (
            "name: x\nsteps:\n  - job: a\n    retry: {max: 2}\n",
            (4, 5),
            "retry",
        ),
        (
            "name: x\nsteps:\n  - job: a\n    matrix: {R: [eu]}\n",
            (4, 5),
            "matrix",
        ),
        (
            "name: x\nsteps:\n  - job: a\n    server: legacy\n",
            (4, 5),
            "server",
        ),
        (
            "name: x\ndefaults:\n  retry: {max: 1}\nsteps: [{job: a}]\n",
            (3, 3),
            "retry",
        ),
    ];
    for (text, at, key) in cases {
        let (line, column, message) = only_error(text);
        assert_eq!((line, column), at, "{message}");
        assert!(
            message.contains(&format!("unknown field `{key}`")),
            "{message}"
        );
        assert!(
            message.contains("not supported by this version yet"),
            "{message}"
        );
    }
}

#[test]
fn yaml_merge_keys_are_explained() {
    let (line, column, message) =
        only_error("name: x\nsteps:\n  - job: a\n    <<: {timeout: 5m}\n");
    assert_eq!((line, column), (4, 5), "{message}");
    assert!(
        message.contains("merge keys are not supported"),
        "{message}"
    );
}

#[test]
fn a_cycle_is_reported_at_a_needs_entry_and_named() {
    let text = "\
name: x
steps:
  - id: a
    job: a
    needs: [b]
  - id: b
    job: b
    needs: [a]
";
    let (line, column, message) = only_error(text);
    assert_eq!((line, column), (5, 13), "{message}");
    assert!(message.contains("a -> b -> a"), "{message}");
    assert!(
        message.contains("remove one of these dependencies"),
        "{message}"
    );
}

#[test]
fn a_cycle_through_list_order_explains_the_implicit_dependency() {
    let text = "\
name: x
steps:
  - id: first
    job: a
    needs: [last]
  - id: last
    job: b
";
    let (line, column, message) = only_error(text);
    assert_eq!((line, column), (5, 13), "{message}");
    assert!(message.contains("first -> last -> first"), "{message}");
    assert!(
        message.contains("`last` waits for `first` because it comes after it in the list"),
        "{message}"
    );
}

#[test]
fn an_unknown_template_variable_is_reported_at_its_string() {
    let text = "\
name: x
vars:
  version: \"1.0\"
steps:
  - job: build
    params:
      VERSION: \"{{vars.verison}}\"
";
    let (line, column, message) = only_error(text);
    assert_eq!((line, column), (7, 16), "{message}");
    assert_eq!(
        message,
        "unknown variable `vars.verison` in steps[0].params.VERSION; vars has: version \
         (did you mean `vars.version`?)"
    );
}

#[test]
fn a_missing_variable_inside_if_is_caught_at_load() {
    let text = "\
name: x
vars: { flag: true }
steps:
  - job: build
    params:
      X: \"{{#if vars.flag}}{{#if vars.nope}}y{{/if}}{{/if}}\"
";
    let (line, column, message) = only_error(text);
    assert_eq!((line, column), (6, 10), "{message}");
    assert!(message.contains("`vars.nope`"), "{message}");
}

#[test]
fn a_step_fact_needs_a_transitive_dependency() {
    let ok = "\
name: x
steps:
  - id: build
    job: build
  - id: test
    job: test
  - id: deploy
    job: deploy
    params: { B: \"{{steps.build.number}}\" }
";
    assert!(load(ok).is_ok());
    let bad = "\
name: x
steps:
  - id: build
    job: build
  - id: other
    job: other
    needs: []
  - id: deploy
    job: deploy
    needs: [other]
    params: { B: \"{{steps.build.number}}\" }
";
    let (line, column, message) = only_error(bad);
    assert_eq!((line, column), (11, 18), "{message}");
    assert!(
        message.contains("add `build` to the `needs` of `deploy`"),
        "{message}"
    );
}

#[test]
fn check_env_names_each_missing_variable_where_it_is_used() {
    let text = "\
name: x
jenkins:
  token: \"{{env.RELEASE_TOKEN}}\"
steps:
  - job: build
    params: { HOME: \"{{env.HOME}}\" }
";
    let p = load(text).unwrap();
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), "/root".to_string());
    let err = p.check_env(&env).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1, "{err}");
    let d = &err.diagnostics[0];
    assert_eq!((d.line, d.column), (Some(3), Some(10)), "{d}");
    assert!(d.message.contains("`RELEASE_TOKEN` is not set"), "{d}");
    assert!(d.message.contains("jenkins.token"), "{d}");
    env.insert("RELEASE_TOKEN".to_string(), "t".to_string());
    assert!(p.check_env(&env).is_ok());
}

#[test]
fn overrides_replace_top_level_vars_with_strings() {
    let text = "name: x\nvars: { version: 1, other: {a: 1} }\nsteps: [{job: a}]\n";
    let p = pipeline::load_str(
        text,
        Path::new("o.yaml"),
        &[("version".to_string(), "2.0".to_string())],
    )
    .unwrap();
    assert_eq!(p.vars["version"], serde_json::json!("2.0"));
    let err = pipeline::load_str(
        text,
        Path::new("o.yaml"),
        &[("verison".to_string(), "2".to_string())],
    )
    .unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!(d.line, None);
    assert!(d.message.contains("did you mean `version`?"), "{d}");
    assert_eq!(err.to_string().lines().count(), 1);
    assert!(
        err.to_string().starts_with("o.yaml: `--set verison`"),
        "{err}"
    );
}

#[test]
fn odd_inputs_give_diagnostics_not_panics() {
    let cases: &[&str] = &[
        "",
        "   \n\n",
        "# yaml-language-server: $schema=../schemas/pipeline.schema.json\n",
        "---\n",
        "- a\n- b\n",
        "just text",
        "42",
        "name: x\nsteps:\n\t- job: a\n",
        "name: x\nsteps: []\n",
        "name: x\nsteps:\n",
        "name: x\nsteps: [[]]\n",
        "name: x\nsteps: [{}]\n",
        "name: x\nsteps: [{parallel: []}]\n",
        "name: x\nsteps: [{parallel: [{parallel: [{job: a}]}]}]\n",
        "name: x\nsteps: [{job: a}]\n---\nname: y\n",
        "name: [x]\nsteps: [{job: a}]\n",
        "name: x\nsteps: [{job: a, needs: [a]}]\n",
        "name: x\nsteps: [{job: \"{{\"}]\n",
        "name: x\nsteps: [{job: a, params: {A: [1]}}]\n",
        "name: x\nsteps: [{job: a, timeout: soon}]\n",
        "name: x\nsteps: [{job: a, poll: {factor: .nan}}]\n",
        "name: x\nsteps: [{job: a, expect: [SUCESS]}]\n",
        "name: x\nsteps: [{job: a, if: sometimes}]\n",
        "name: x\nsteps: [{job: a}]\nvars: {a: *nope}\n",
        "name: x\nsteps: [{job: a}]\nvars: &a [*a]\n",
        "a: &a [*a, *a, *a]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nd: [*c, *c, *c]\n",
        "{{vars.x}}",
        "? [a]\n: b\n",
        "name: x\nsteps: [{job: a, params: {? [k] : v}}]\n",
    ];
    for text in cases {
        let err = load(text).expect_err(text);
        assert!(!err.diagnostics.is_empty(), "{text}");
        for d in &err.diagnostics {
            assert!(!d.message.is_empty(), "{text}");
            assert!(!d.message.contains("jrun-locate"), "{text}: {d}");
        }
    }
    let deep = format!(
        "name: x\nsteps: [{{job: a}}]\nvars: {{a: {}{}}}\n",
        "[".repeat(500),
        "]".repeat(500)
    );
    assert!(load(&deep).is_err());
    let long = format!("name: {}\nsteps: [{{job: a}}]\n", "x".repeat(100_000));
    assert!(load(&long).is_ok());
}

#[test]
fn empty_files_and_wrong_shapes_say_what_a_pipeline_needs() {
    for text in ["", "# just a comment\n", "---\n"] {
        let d = &errors(text)[0];
        assert!(d.message.contains("the file is empty"), "{d}");
    }
    let (line, column, message) = only_error("- a\n- b\n");
    assert_eq!((line, column), (1, 1));
    assert!(
        message.contains("expected a pipeline: a mapping with at least `name:` and `steps:`"),
        "{message}"
    );
    let (_, _, message) = only_error("steps: [{job: a}]\n");
    assert!(
        message.contains("every pipeline starts with `name: <name>`"),
        "{message}"
    );
}

#[test]
fn tabs_are_explained() {
    let (line, column, message) = only_error("name: x\nsteps:\n\t- job: a\n");
    assert_eq!((line, column), (3, 1));
    assert!(message.contains("tabs"), "{message}");
}

#[test]
fn load_reads_bytes_and_rejects_invalid_utf8_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, b"name: x\nsteps:\n  - job: caf\xe9\n").unwrap();
    let err = pipeline::load(&path, &[]).unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!((d.line, d.column), (Some(3), Some(13)), "{d}");
    assert!(d.message.contains("not valid UTF-8"), "{d}");
    assert_eq!(d.file, path);

    let missing = dir.path().join("missing.yaml");
    let err = pipeline::load(&missing, &[]).unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");

    let bom = dir.path().join("bom.yaml");
    std::fs::write(&bom, "\u{feff}name: x\nsteps: [{job: a}]\n").unwrap();
    assert_eq!(pipeline::load(&bom, &[]).unwrap().name, "x");
}

#[test]
fn every_diagnostic_of_a_file_is_reported_at_once() {
    let text = "\
name: x
steps:
  - id: a
    job: a
    needs: [nope]
  - id: a
    job: b
";
    // Duplicate ids stop the graph checks; the unknown `needs` comes with a fixed file.
    let diagnostics = errors(text);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert!(diagnostics[0].message.contains("duplicate step id `a`"));
    let text = "\
name: x
steps:
  - id: a
    job: a
    needs: [nope]
    timeout: 0s
  - id: b
    job: b
    params: { X: \"{{vars.none}}\" }
";
    let diagnostics = errors(text);
    assert_eq!(diagnostics.len(), 3, "{diagnostics:#?}");
    let lines: Vec<_> = diagnostics.iter().map(|d| d.line.unwrap()).collect();
    assert_eq!(lines, [5, 6, 9]);
}

fn generated(steps: usize) -> String {
    let mut text = String::from("name: big\nvars:\n  version: \"1.0\"\nsteps:\n");
    for i in 0..steps {
        if i % 10 == 5 {
            text.push_str(&format!(
                "  - parallel:\n      - id: p{i}a\n        job: folder/deploy\n        params: {{ B: \"{{{{steps.s{}.number}}}}\", V: \"{{{{vars.version}}}}\" }}\n      - id: p{i}b\n        job: folder/deploy\n        needs: [s{}]\n",
                i - 1,
                i - 1
            ));
        } else {
            text.push_str(&format!(
                "  - id: s{i}\n    job: folder/job-{i}\n    params:\n      VERSION: \"{{{{vars.version}}}}\"\n      N: {i}\n"
            ));
        }
    }
    text
}

#[test]
fn a_thousand_step_pipeline_validates() {
    // Its speed (target: under 50 ms in a release build) is measured by the benchmark, not here.
    let text = generated(1000);
    let p = load(&text).unwrap();
    assert_eq!(p.steps.len(), 1100);
}

#[test]
fn truncated_and_mangled_examples_never_panic() {
    // A small deterministic fuzz: cut the examples short and splice YAML punctuation into
    // them; every outcome must be a pipeline or diagnostics, never a panic.
    let alphabet = b"{}[]:,-#&*!|>'\" \n\tx1.~%@?";
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["release", "nightly"] {
        let text = std::fs::read(root().join(format!("pipelines/{name}.yaml"))).unwrap();
        for cut in (0..text.len()).step_by(23) {
            let _ = pipeline::load_str(
                &String::from_utf8_lossy(&text[..cut]),
                Path::new("cut.yaml"),
                &[],
            );
        }
        for _ in 0..300 {
            let mut bytes = text.clone();
            for _ in 0..3 {
                let at = (next() as usize) % bytes.len();
                let c = alphabet[(next() as usize) % alphabet.len()];
                if next() % 2 == 0 {
                    bytes[at] = c;
                } else {
                    bytes.insert(at, c);
                }
            }
            if let Err(err) =
                pipeline::load_str(&String::from_utf8_lossy(&bytes), Path::new("m.yaml"), &[])
            {
                assert!(err.diagnostics.iter().all(|d| !d.message.is_empty()));
            }
        }
    }
}

#[test]
fn a_bad_duration_is_reported_at_its_value() {
    let (line, column, message) = only_error("name: x\nsteps:\n  - job: a\n    timeout: soon\n");
    assert_eq!((line, column), (4, 14), "{message}");
    assert_eq!(
        message,
        "steps[0].timeout: invalid duration `soon`: expected a number (write it like 500ms, \
         10s, 5m, 2h or 1m30s)"
    );
}

//! Pipeline files end to end: the committed schema, the example pipelines, and the
//! diagnostics a user sees for bad files (with file, line and column).

use crate::common::root;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use jrun::pipeline::{
    self, AwaitBuild, Condition, Diagnostic, Pipeline, PipelineError, RenderContext, ResultName,
    Retry, RetryOn, RunFacts, StepFacts, StepKind,
};

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
         (or `JRUN_UPDATE_SCHEMA=1 cargo test --test it pipeline_files`) and commit it.",
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
        "id",
        "job",
        "await",
        "parallel",
        "params",
        "needs",
        "if",
        "poll",
        "retry",
        "matrix",
        "fail_fast",
        "max_parallel",
        "server",
    ] {
        assert!(step["properties"].get(key).is_some(), "{key}");
    }
    assert_eq!(step["oneOf"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        step["dependencies"]["fail_fast"],
        serde_json::json!(["matrix"])
    );
    assert!(schema["properties"].get("servers").is_some());
    assert!(
        schema["definitions"]["AwaitFile"]["properties"]
            .get("build")
            .is_some()
    );
    assert!(
        schema["definitions"]["DefaultsFile"]["properties"]
            .get("retry")
            .is_some()
    );
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
            outputs: [
                ("version".to_string(), "2.4.0+17".to_string()),
                ("IMAGE".to_string(), "registry/app@sha256:abc".to_string()),
            ]
            .into(),
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
            ("VERSION".to_string(), "2.4.0+17".to_string()),
            ("IMAGE".to_string(), "registry/app@sha256:abc".to_string()),
        ]
    );
    // The build says which run started it and reads what the deploys are given.
    let StepKind::Job(build) = &p.steps[index("build")].kind else {
        panic!("build is a job step");
    };
    assert_eq!(
        build.description.as_ref().unwrap().render(&ctx).unwrap(),
        "release 2.4.0 (jrun run r1)"
    );
    assert_eq!(
        build.outputs.from_artifact.as_deref(),
        Some("out/build-info.json")
    );
}

#[test]
fn rollout_example_fans_a_deploy_out_over_a_matrix_with_retries() {
    let p = pipeline::load(&root().join("pipelines/rollout.yaml"), &[]).unwrap();
    let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "build",
            "security-scan",
            "deploy[REGION=eu,TIER=web]",
            "deploy[REGION=eu,TIER=api]",
            "deploy[REGION=us,TIER=web]",
            "deploy[REGION=us,TIER=api]",
            "deploy[REGION=ap,TIER=web]",
            "deploy[REGION=ap,TIER=api]",
            "smoke",
            "smoke-again"
        ]
    );
    let cells = p.cells("deploy");
    assert_eq!(cells, [2, 3, 4, 5, 6, 7]);
    for &cell in &cells {
        assert_eq!(p.steps[cell].needs, [0, 1]);
        let matrix = p.steps[cell].matrix.as_ref().unwrap();
        assert!(!matrix.fail_fast);
        assert_eq!(matrix.max_parallel, Some(2));
        let StepKind::Job(job) = &p.steps[cell].kind else {
            panic!("a job step");
        };
        assert_eq!(job.retry.max, 1);
        assert_eq!(job.retry.delay, Duration::from_secs(30));
    }
    let smoke = p.step_index("smoke").unwrap();
    assert_eq!(p.steps[smoke].needs, cells);
    let StepKind::Job(job) = &p.steps[smoke].kind else {
        panic!("a job step");
    };
    assert_eq!(job.retry.max, 0);
    let StepKind::Await(gate) = &p.steps[1].kind else {
        panic!("an await step");
    };
    assert_eq!(
        gate.build,
        AwaitBuild::Permalink("lastCompletedBuild".into())
    );
    assert!(matches!(
        p.step("smoke-again").unwrap().condition,
        Condition::Expr(_)
    ));
    assert!(p.check_env(&BTreeMap::new()).is_ok());
    assert!(p.server.url.is_none() && p.servers.is_empty());
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

/// Each case: the file, where its only diagnostic is, and words the message must hold.
fn assert_only_error_at(cases: &[(&str, (usize, usize), &[&str])]) {
    for (text, at, says) in cases {
        let (line, column, message) = only_error(text);
        assert_eq!((line, column), *at, "{text}\n{message}");
        for words in *says {
            assert!(message.contains(words), "{text}\n{message}\nlacks: {words}");
        }
    }
}

#[test]
fn matrix_errors_are_reported_at_the_matrix_its_keys_and_values() {
    assert_only_error_at(&[
        (
            "name: x\nsteps:\n  - id: d\n    job: a\n    matrix: {}\n",
            (5, 13),
            &["`matrix` is empty"],
        ),
        (
            "name: x\nsteps:\n  - id: d\n    job: a\n    matrix:\n      REGION: []\n",
            (6, 15),
            &["matrix key `REGION` has no values"],
        ),
        (
            "name: x\nsteps:\n  - id: d\n    job: a\n    matrix:\n      REGION: [eu]\n      REGION: [us]\n",
            (7, 7),
            &["steps[0].matrix: matrix key `REGION` is given twice"],
        ),
        (
            "name: x\nsteps:\n  - id: d\n    job: a\n    matrix:\n      REGION: [eu, us, eu]\n",
            (6, 24),
            &["matrix value `eu` is listed twice under `REGION`"],
        ),
        (
            "name: x\nsteps:\n  - id: d\n    job: a\n    matrix:\n      REGION: [eu, \"us=1\"]\n",
            (6, 20),
            &["matrix value `us=1` may not contain"],
        ),
        (
            "name: x\nsteps:\n  - id: d\n    job: a\n    matrix:\n      REGION: [[eu]]\n",
            (6, 16),
            &["expected a matrix value: text, a number or a boolean"],
        ),
        (
            "name: x\nsteps:\n  - id: d\n    job: a\n    matrix:\n      A: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]\n      B: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]\n",
            (6, 7),
            &["the matrix has 272 combinations, more than the 256 allowed"],
        ),
        (
            "name: x\nsteps:\n  - await: {job: a}\n    matrix: {R: [eu]}\n",
            (4, 13),
            &["`matrix` applies to job steps"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    fail_fast: false\n",
            (4, 16),
            &["`fail_fast` applies to a step with `matrix:`"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    max_parallel: 2\n",
            (4, 19),
            &["`max_parallel` applies to a step with `matrix:`"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    matrix: {R: [eu]}\n    max_parallel: 0\n",
            (5, 19),
            &["steps[0].max_parallel must be at least 1"],
        ),
    ]);
}

#[test]
fn matrix_template_errors_are_reported_at_their_strings() {
    assert_only_error_at(&[
        (
            "name: x\nsteps:\n  - job: a\n    params:\n      R: \"{{matrix.REGION}}\"\n",
            (5, 10),
            &["only a step with `matrix:` has matrix values"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    matrix: {REGION: [eu]}\n    params:\n      R: \"{{matrix.REGOIN}}\"\n",
            (6, 10),
            &[
                "unknown matrix key `REGOIN`",
                "did you mean `matrix.REGION`?",
            ],
        ),
        (
            "name: x
steps:
  - id: deploy
    job: deploy
    matrix: { REGION: [eu, us] }
  - id: announce
    job: notify
    params:
      BUILD: \"{{steps.deploy.number}}\"
",
            (9, 14),
            &[
                "step `deploy` is a matrix of 2 build(s)",
                "cells of a matrix cannot be addressed by templates",
            ],
        ),
    ]);
}

#[test]
fn a_matrix_step_expands_into_cells_that_dependents_all_wait_for() {
    let p = load(
        "name: x
steps:
  - id: build
    job: build
  - id: deploy
    job: \"deploy-{{matrix.REGION}}\"
    matrix:
      REGION: [eu, us]
      TIER: [web, db]
    max_parallel: 2
    params: { BUILD: \"{{steps.build.number}}\", TIER: \"{{matrix.TIER}}\" }
  - id: announce
    job: notify
",
    )
    .unwrap();
    let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "build",
            "deploy[REGION=eu,TIER=web]",
            "deploy[REGION=eu,TIER=db]",
            "deploy[REGION=us,TIER=web]",
            "deploy[REGION=us,TIER=db]",
            "announce"
        ]
    );
    assert!(p.steps[1..5].iter().all(|s| s.needs == [0]));
    assert_eq!(p.steps[5].needs, [1, 2, 3, 4]);
    let cell = &p.steps[3];
    let matrix = cell.matrix.as_ref().unwrap();
    assert_eq!(matrix.group, "deploy");
    assert_eq!(matrix.max_parallel, Some(2));
    assert!(matrix.fail_fast);
    let mut ctx = RenderContext::new(&p, RunFacts::default(), BTreeMap::new()).for_step(cell);
    ctx.steps.insert(
        "build".into(),
        StepFacts {
            number: Some(7),
            ..StepFacts::default()
        },
    );
    let StepKind::Job(job) = &cell.kind else {
        panic!("a job step");
    };
    assert_eq!(job.job.render(&ctx).unwrap(), "deploy-us");
    let params: Vec<String> = job
        .params
        .iter()
        .map(|(_, t)| t.render(&ctx).unwrap())
        .collect();
    assert_eq!(params, ["7", "web"]);
}

#[test]
fn check_env_reports_a_matrix_steps_template_once_not_per_cell() {
    let p = load(
        "name: x\nsteps:\n  - id: d\n    job: a\n    matrix: { R: [eu, us, ap] }\n    params: { T: \"{{env.DEPLOY_TOKEN}}\" }\n",
    )
    .unwrap();
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.templates().count(), 2);
    let err = p.check_env(&BTreeMap::new()).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1, "{err}");
    assert_eq!(
        (err.diagnostics[0].line, err.diagnostics[0].column),
        (Some(6), Some(18))
    );
}

#[test]
fn retry_errors_are_reported_at_their_values() {
    assert_only_error_at(&[
        (
            "name: x\nsteps:\n  - job: a\n    retry: { max: 1000 }\n",
            (4, 19),
            &["steps[0].retry.max is 1000, more than the 100 allowed"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    retry: { on: [FAILURE, SUCCESS] }\n",
            (4, 28),
            &["steps[0].retry.on[1]: SUCCESS is not a reason to retry"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    retry: { on: [FAILUR] }\n",
            (4, 19),
            &["unknown retry reason `FAILUR` (did you mean `FAILURE`?)"],
        ),
        (
            "name: x\ndefaults:\n  retry: { on: [] }\nsteps: [{job: a}]\n",
            (3, 16),
            &["defaults.retry.on is empty"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    wait: false\n    retry: { max: 2 }\n",
            (5, 12),
            &["`retry` has no effect with `wait: false`"],
        ),
        (
            "name: x\nsteps:\n  - await: { job: a }\n    retry: { max: 2 }\n",
            (4, 12),
            &["`retry` applies to job steps"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    retry: { tries: 2 }\n",
            (4, 14),
            &["unknown field `tries`, expected one of `max`, `on`, `delay`"],
        ),
    ]);
}

#[test]
fn retry_merges_defaults_and_the_step_key_by_key() {
    let p = load(
        "name: x
defaults:
  retry: { max: 3, on: [FAILURE, ABORTED, lost] }
steps:
  - job: a
  - job: b
    retry: { delay: 1m }
",
    )
    .unwrap();
    let retry = |i: usize| match &p.steps[i].kind {
        StepKind::Job(job) => job.retry.clone(),
        StepKind::Await(_) => panic!("a job step"),
    };
    let on = vec![
        RetryOn::Result(ResultName::Failure),
        RetryOn::Result(ResultName::Aborted),
        RetryOn::Lost,
    ];
    assert_eq!(
        retry(0),
        Retry {
            max: 3,
            on: on.clone(),
            delay: Duration::from_secs(10)
        }
    );
    assert_eq!(
        retry(1),
        Retry {
            max: 3,
            on,
            delay: Duration::from_secs(60)
        }
    );
}

#[test]
fn if_expression_errors_are_reported_at_the_expression() {
    assert_only_error_at(&[
        (
            "name: x
steps:
  - id: build
    job: build
  - id: lint
    job: lint
    needs: []
  - id: retest
    job: test
    needs: [lint]
    if: \"{{eq steps.build.result 'UNSTABLE'}}\"
",
            (11, 9),
            &[
                "steps[2].if reads `steps.build.result`",
                "add `build` to the `needs` of `retest`",
            ],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    if: \"{{eq vars.mode 'x'}}\"\n",
            (4, 9),
            &["unknown variable `vars.mode` in steps[0].if"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    if: sometimes\n",
            (4, 9),
            &["unknown condition `sometimes`", "a template expression"],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    if: {{eq vars.a 1}}\n",
            (4, 9),
            &["quoted template expression"],
        ),
    ]);
}

#[test]
fn an_if_expression_of_vars_only_that_is_neither_true_nor_false_is_refused_offline() {
    let text = "name: x\nvars: {v: 1, go: \"true\"}\nsteps:\n  - job: a\n  - job: b\n    if: \"{{vars.v}}\"\n";
    let (line, column, message) = only_error(text);
    assert_eq!((line, column), (6, 9), "{message}");
    assert!(
        message.contains("rendered `1`, which is neither true nor false"),
        "{message}"
    );
    // One that renders true or false, or that reads what only the run knows, loads.
    load("name: x\nvars: {go: \"true\"}\nsteps:\n  - job: a\n    if: \"{{vars.go}}\"\n").unwrap();
    load("name: x\nvars: {v: 1}\nsteps:\n  - job: a\n    if: \"{{eq vars.v 1}}\"\n").unwrap();
    load("name: x\nsteps:\n  - id: a\n    job: a\n  - job: b\n    if: \"{{steps.a.number}}\"\n")
        .unwrap();
    // `--set` decides it too.
    pipeline::load_str(
        "name: x\nvars: {v: maybe}\nsteps:\n  - job: a\n    if: \"{{vars.v}}\"\n",
        Path::new("test.yaml"),
        &[("v".to_string(), "false".to_string())],
    )
    .unwrap();
}

#[test]
fn validate_and_plan_exit_2_at_an_if_of_vars_that_renders_neither_true_nor_false() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd-if.yaml");
    std::fs::write(
        &path,
        "name: odd-if\njenkins: {url: \"http://127.0.0.1:9\"}\nvars: {v: 1}\nsteps:\n  - job: a\n  - job: b\n    if: \"{{vars.v}}\"\n",
    )
    .unwrap();
    for command in ["validate", "plan"] {
        let output = crate::common::jrun()
            .arg(command)
            .arg(&path)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("odd-if.yaml:7:9") && stderr.contains("neither true nor false"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn an_if_expression_loads_as_a_template_condition() {
    let p = load(
        "name: x\nsteps:\n  - id: build\n    job: build\n  - id: retest\n    job: test\n    if: \"{{eq steps.build.result 'UNSTABLE'}}\"\n",
    )
    .unwrap();
    let Condition::Expr(template) = &p.steps[1].condition else {
        panic!("an expression condition");
    };
    let mut ctx = RenderContext::new(&p, RunFacts::default(), BTreeMap::new());
    ctx.steps.insert(
        "build".into(),
        StepFacts {
            result: Some("UNSTABLE".into()),
            ..StepFacts::default()
        },
    );
    let rendered = template.render(&ctx).unwrap();
    assert_eq!(Condition::truth(&rendered), Ok(true));
}

#[test]
fn await_build_errors_are_reported_at_the_value() {
    assert_only_error_at(&[
        (
            "name: x\nsteps:\n  - await: { job: a, build: lastGoodBuild }\n",
            (3, 29),
            &["unknown build `lastGoodBuild`", "lastSuccessfulBuild"],
        ),
        (
            "name: x\nsteps:\n  - await:\n      job: a\n      build: 0\n",
            (5, 14),
            &["build numbers start at 1"],
        ),
    ]);
    let p = load("name: x\nsteps:\n  - await: { job: a, build: lastStableBuild }\n").unwrap();
    let StepKind::Await(gate) = &p.steps[0].kind else {
        panic!("an await step");
    };
    assert_eq!(gate.build, AwaitBuild::Permalink("lastStableBuild".into()));
}

#[test]
fn server_errors_are_reported_at_the_server_or_the_step() {
    assert_only_error_at(&[
        (
            "name: x\nservers:\n  legacy: { url: https://old.example.com }\nsteps:\n  - job: a\n    server: legcy\n",
            (6, 13),
            &[
                "step `a` uses unknown server `legcy` (did you mean `legacy`?)",
                "the servers are: default, legacy",
            ],
        ),
        (
            "name: x\nsteps:\n  - job: a\n    server: legacy\n",
            (4, 13),
            &["the pipeline declares no `servers:`"],
        ),
        (
            "name: x\nservers:\n  default:\n    url: https://old.example.com\nsteps: [{job: a}]\n",
            (4, 5),
            &["`default` names the `jenkins:` server"],
        ),
        (
            "name: x\nservers:\n  legacy: { url: https://a }\n  legacy: { url: https://b }\nsteps: [{job: a}]\n",
            (4, 3),
            &["server `legacy` is given twice"],
        ),
        (
            "name: x\nservers:\n  legacy:\n    url: old.example.com\nsteps: [{job: a}]\n",
            (4, 10),
            &["servers.legacy.url `old.example.com` must start with http:// or https://"],
        ),
        (
            "name: x\nservers:\n  legacy:\n    token: \"{{steps.a.number}}\"\nsteps: [{id: a, job: a}]\n",
            (4, 12),
            &["step facts cannot be used here"],
        ),
        (
            "name: x\nservers:\n  legacy:\n    colour: red\nsteps: [{job: a}]\n",
            (4, 5),
            &["servers.legacy: unknown field `colour`"],
        ),
    ]);
}

#[test]
fn steps_choose_named_servers_and_default_is_the_jenkins_block() {
    let p = load(
        "name: x
servers:
  legacy: { url: https://old.example.com, token: \"{{env.LEGACY_TOKEN}}\" }
steps:
  - job: a
    server: legacy
  - await: { job: b }
    server: default
",
    )
    .unwrap();
    assert_eq!(p.steps[0].server.as_deref(), Some("legacy"));
    assert_eq!(p.steps[1].server, None);
    assert!(p.servers["legacy"].token.as_ref().unwrap().is_secret());
    // Named servers' templates are checked against the environment too.
    let err = p.check_env(&BTreeMap::new()).unwrap_err();
    assert_eq!(err.diagnostics[0].line, Some(3), "{err}");
    assert!(err.to_string().contains("servers.legacy.token"), "{err}");
}

#[test]
fn select_reports_facts_of_unselected_steps_at_the_template() {
    let p = load(
        "name: x
steps:
  - id: build
    job: build
  - id: deploy
    job: deploy
    params:
      BUILD: \"{{steps.build.number}}\"
",
    )
    .unwrap();
    let err = p.select(&["deploy".to_string()], &[]).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1, "{err}");
    let d = &err.diagnostics[0];
    assert_eq!((d.line, d.column), (Some(8), Some(14)), "{d}");
    assert!(
        d.message.contains("step `deploy` is selected")
            && d.message.contains("but `build` is not selected"),
        "{d}"
    );
    let err = p.select(&[], &["deply".to_string()]).unwrap_err();
    assert!(
        err.to_string()
            .contains("`--from deply`: the pipeline has no step `deply`; did you mean `deploy`?"),
        "{err}"
    );
    assert_eq!(p.select(&[], &["build".to_string()]).unwrap(), [true, true]);
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
    for name in ["release", "nightly", "rollout"] {
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

/// Runs `f` on its own thread and fails when it has not finished within `limit`: a guard
/// against hangs, generous enough for a debug build on a busy machine, not a timing check.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker sends before it ends"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("still running after {limit:?}")
        }
    }
}

#[test]
fn deep_bracket_nesting_is_refused_at_the_bracket_past_the_limit() {
    // 128 KB of `[`: the parser alone would spend seconds on it, quadratically.
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        let text = format!(
            "name: x\nsteps: [{{job: a}}]\nvars:\n  deep: {}1{}\n",
            open.repeat(64_000 / open.len()),
            close.repeat(64_000 / open.len())
        );
        let (line, column, message) = within(Duration::from_secs(60), move || only_error(&text));
        assert_eq!((line, column), (4, 9 + 64 * open.len()), "{message}");
        assert!(message.contains("nest more than 64 deep"), "{message}");
    }
}

#[test]
fn aliases_that_expand_the_file_past_its_budget_are_refused_where_they_are_read() {
    // 2 KB of text that reads as 160,000 values; every copy of `vars` would hold them all.
    let text = format!(
        "name: x\nsteps: [{{job: a}}]\nvars:\n  row: &row [{}]\n  table: [{}]\n",
        vec!["x"; 400].join(","),
        vec!["*row"; 400].join(",")
    );
    let (line, column, message) = within(Duration::from_secs(60), move || only_error(&text));
    assert_eq!(line, 4, "{message}");
    assert!(column > 14, "{message}");
    assert!(
        message.starts_with("YAML aliases (`*name`) expand the file past "),
        "{message}"
    );
}

#[test]
fn too_many_alias_expansions_are_reported_at_the_repeated_value() {
    let mut text = String::from("name: x\nsteps: [{job: a}]\nvars:\n  a0: &a0 []\n");
    for level in 1..9 {
        let refs = vec![format!("*a{}", level - 1); 10].join(", ");
        text.push_str(&format!("  a{level}: &a{level} [{refs}]\n"));
    }
    let (line, column, message) = within(Duration::from_secs(60), move || only_error(&text));
    assert_eq!((line, column), (4, 7), "{message}");
    assert!(message.contains("followed too many times"), "{message}");
}

#[test]
fn a_second_document_is_reported_at_the_marker_that_starts_it() {
    for (text, line) in [
        ("name: x\nsteps: [{job: a}]\n---\nname: y\n", 3),
        ("name: x\nsteps: [{job: a}]\n---\n", 3),
        ("---\nname: x\nsteps: [{job: a}]\n...\n---\nb: 1\n", 5),
    ] {
        let (at, column, message) = only_error(text);
        assert_eq!((at, column), (line, 1), "{text}: {message}");
        assert!(message.contains("remove the extra `---`"), "{message}");
    }
}

/// Four nested loops over a 100-item list: under 500 bytes that would render a 1 GB parameter.
fn each_bomb(prefix: &str) -> String {
    let items: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    format!(
        "name: x\nvars:\n  l: [{}]\nsteps:\n  - job: a\n    params:\n      P: \"{prefix}\
         {{{{#each vars.l}}}}{{{{#each ../vars.l}}}}{{{{#each ../../vars.l}}}}\
         {{{{#each ../../../vars.l}}}}xxxxxxxxxx{{{{/each}}}}{{{{/each}}}}{{{{/each}}}}\
         {{{{/each}}}}\"\n",
        items.join(",")
    )
}

#[test]
fn a_template_of_vars_that_would_render_too_much_is_refused_at_load_with_its_place() {
    let (line, column, message) = within(Duration::from_secs(60), || only_error(&each_bomb("")));
    assert_eq!((line, column), (7, 10), "{message}");
    assert!(
        message.starts_with("steps[0].params.P: rendering it over these values would take "),
        "{message}"
    );
    assert!(
        message.contains("more than the 1000000 allowed"),
        "{message}"
    );

    let big = format!(
        "name: x\nvars:\n  big: {}\n  l: [{}]\nsteps:\n  - job: a\n    params:\n      \
         P: \"{{{{#each vars.l}}}}{{{{../vars.big}}}}{{{{/each}}}}\"\n",
        "x".repeat(100_000),
        vec!["1"; 20].join(",")
    );
    let (line, column, message) = within(Duration::from_secs(60), move || only_error(&big));
    assert_eq!((line, column), (8, 10), "{message}");
    assert!(message.contains("renders more than 1 MiB"), "{message}");
}

#[test]
fn a_template_that_also_reads_env_is_bounded_when_it_renders() {
    let pipeline = load(&each_bomb("{{env.HOME}}")).expect("loads: env is only known at run time");
    let ctx = RenderContext {
        vars: pipeline.vars.clone().into(),
        env: BTreeMap::from([("HOME".to_string(), "/root".to_string())]).into(),
        ..RenderContext::default()
    };
    let StepKind::Job(job) = &pipeline.steps[0].kind else {
        panic!("a job step")
    };
    let param = job.params[0].1.clone();
    let err = within(Duration::from_secs(60), move || param.render(&ctx)).unwrap_err();
    assert_eq!((err.line, err.column), (Some(7), Some(10)), "{err}");
    assert!(
        err.message.contains("more than the 1000000 allowed"),
        "{err}"
    );
}

#[test]
fn validate_exits_2_naming_the_file_line_and_column_of_a_template_bomb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.yaml");
    std::fs::write(&path, each_bomb("")).unwrap();
    let output = crate::common::jrun()
        .arg("validate")
        .arg(&path)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:7:10: steps[0].params.P", path.display())),
        "{stderr}"
    );
}

/// What every file must get from the loader, whatever its bytes: an answer within a bounded
/// time, never a panic; either a pipeline (exit 0) or diagnostics (exit 2), each with its
/// place in the file.
fn assert_loads_or_locates(bytes: Vec<u8>) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("mutant.yaml");
    std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
    let outcome = within(Duration::from_secs(60), move || pipeline::load(&path, &[]));
    let Err(err) = outcome else {
        return Ok(());
    };
    if err.diagnostics.is_empty() {
        return Err("an error without diagnostics".to_string());
    }
    for d in &err.diagnostics {
        let summary = d.message.starts_with("and ") && d.message.contains("more problem(s)");
        if d.line.is_none() && !summary {
            return Err(format!("no line in `{d}`"));
        }
        if d.message.is_empty() || d.message.contains("jrun-locate") {
            return Err(format!("an odd message in `{d}`"));
        }
    }
    Ok(())
}

/// One change to a file's bytes; places are fractions of the length, so that they fit any
/// file the earlier changes left.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(proptest::sample::Index, u8),
    Delete(proptest::sample::Index, usize),
    DuplicateLine(proptest::sample::Index),
    Insert(proptest::sample::Index, &'static str),
    /// `[` or `{` repeated at one place and its closing bracket at a later one.
    Nest(
        proptest::sample::Index,
        proptest::sample::Index,
        usize,
        bool,
    ),
}

const INSERTIONS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "{{",
    "}}",
    "&a ",
    "*a",
    "\t",
    "\n",
    "- ",
    ": ",
    "#",
    "|",
    "---\n",
    "\\",
    ",",
    "? ",
    "!x ",
    "{{#each vars.l}}",
    "{{/each}}",
    "{{else}}",
    "\u{feff}",
    "\r",
    "   ",
    "{{vars.",
    "*a, *a, *a",
    "&a [x, x, x, x]",
];

fn mutation() -> impl proptest::strategy::Strategy<Value = Mutation> {
    use proptest::prelude::*;
    prop_oneof![
        (any::<proptest::sample::Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        (any::<proptest::sample::Index>(), 1usize..40).prop_map(|(at, n)| Mutation::Delete(at, n)),
        any::<proptest::sample::Index>().prop_map(Mutation::DuplicateLine),
        (
            any::<proptest::sample::Index>(),
            proptest::sample::select(INSERTIONS)
        )
            .prop_map(|(at, what)| Mutation::Insert(at, what)),
        (
            any::<proptest::sample::Index>(),
            any::<proptest::sample::Index>(),
            1usize..200,
            any::<bool>()
        )
            .prop_map(|(a, b, depth, square)| Mutation::Nest(a, b, depth, square)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    let place = |at: &proptest::sample::Index, bytes: &Vec<u8>| at.index(bytes.len() + 1);
    match mutation {
        Mutation::Flip(at, bit) if !bytes.is_empty() => {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Mutation::Flip(..) => {}
        Mutation::Delete(at, len) => {
            let from = place(at, &bytes);
            let to = (from + len).min(bytes.len());
            bytes.drain(from..to);
        }
        Mutation::DuplicateLine(at) => {
            let i = place(at, &bytes).min(bytes.len());
            let start = bytes[..i]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let end = bytes[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |p| i + p + 1);
            let line = bytes[start..end].to_vec();
            bytes.splice(end..end, line);
        }
        Mutation::Insert(at, what) => {
            let i = place(at, &bytes);
            bytes.splice(i..i, what.bytes());
        }
        Mutation::Nest(a, b, depth, square) => {
            let (open, close) = if *square { (b'[', b']') } else { (b'{', b'}') };
            let (mut i, mut j) = (place(a, &bytes), place(b, &bytes));
            if i > j {
                std::mem::swap(&mut i, &mut j);
            }
            bytes.splice(j..j, std::iter::repeat_n(close, *depth));
            bytes.splice(i..i, std::iter::repeat_n(open, *depth));
        }
    }
    bytes
}

#[test]
fn mutated_example_pipelines_load_or_fail_with_a_place_in_bounded_time() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let examples: Vec<Vec<u8>> = ["release", "nightly", "rollout"]
        .iter()
        .map(|name| std::fs::read(root().join(format!("pipelines/{name}.yaml"))).unwrap())
        .collect();
    // 256 cases unless PROPTEST_CASES says otherwise; nothing is written into the tree.
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (
        0..examples.len(),
        proptest::collection::vec(mutation(), 1..6),
    );
    let outcome = runner.run(&strategy, |(example, mutations)| {
        let bytes = mutations.iter().fold(examples[example].clone(), mutate);
        assert_loads_or_locates(bytes).map_err(TestCaseError::fail)
    });
    if let Err(err) = outcome {
        panic!("{err}");
    }
}

#[test]
fn the_known_bombs_load_or_fail_with_a_place_in_bounded_time() {
    let nest = |open: &str, close: &str| {
        format!(
            "name: x\nsteps: [{{job: a}}]\nvars:\n  a: {}1{}\n",
            open.repeat(64_000),
            close.repeat(64_000)
        )
    };
    let mut laughs = String::from("name: x\nsteps: [{job: a}]\nvars:\n  a0: &a0 [x, x, x, x]\n");
    for level in 1..10 {
        let refs = vec![format!("*a{}", level - 1); 10].join(", ");
        laughs.push_str(&format!("  a{level}: &a{level} [{refs}]\n"));
    }
    let wide = format!(
        "name: x\nsteps: [{{job: a}}]\nvars:\n  r: &r [{}]\n  t: [{}]\n",
        vec!["x"; 3000].join(","),
        vec!["*r"; 3000].join(",")
    );
    for text in [
        nest("[", "]"),
        nest("{a: ", "}"),
        nest("- ", ""),
        each_bomb(""),
        each_bomb("{{#each vars.l}}"),
        laughs,
        wide,
        String::new(),
    ] {
        assert_loads_or_locates(text.into_bytes()).unwrap();
    }
}

// ---- inputs that found nothing wrong, kept so they stay that way ----

#[test]
fn a_billion_laughs_file_is_refused_at_a_place_without_expanding_it() {
    let mut text = String::from("name: x\nvars:\n  l0: &l0 \"lol\"\n");
    for level in 1..=9 {
        let prev = level - 1;
        let refs = vec![format!("*l{prev}"); 10].join(", ");
        text.push_str(&format!("  l{level}: &l{level} [{refs}]\n"));
    }
    text.push_str("steps: [{job: a}]\n");
    let began = std::time::Instant::now();
    let diagnostics = errors(&text);
    assert!(began.elapsed() < Duration::from_secs(10), "hang guard");
    assert!(
        diagnostics.iter().all(|d| d.line.is_some()),
        "{diagnostics:#?}"
    );
}

#[test]
fn duplicate_keys_are_refused_at_the_second_one_however_deep() {
    for (text, line) in [
        ("name: x\nvars:\n  a: 1\n  a: 2\nsteps: [{job: a}]\n", 4),
        (
            "name: x\nvars:\n  a: {b: 1, c: [{d: 1, d: 2}]}\nsteps: [{job: a}]\n",
            3,
        ),
        ("name: x\nvars:\n  1: x\n  \"1\": y\nsteps: [{job: a}]\n", 4),
        ("name: x\nsteps:\n  - job: a\n    params: {A: 1, A: 2}\n", 4),
    ] {
        let diagnostics = errors(text);
        let d = &diagnostics[0];
        assert_eq!(d.line, Some(line), "{text}: {diagnostics:#?}");
        assert!(d.message.contains("twice"), "{d}");
    }
}

#[test]
fn ten_thousand_parallel_members_load_in_bounded_time() {
    let mut text = String::from("name: wide\nsteps:\n  - parallel:\n");
    for i in 0..10_000 {
        text.push_str(&format!("      - {{id: s{i}, job: a}}\n"));
    }
    let began = std::time::Instant::now();
    let pipeline = load(&text).expect("a wide file is valid");
    assert_eq!(pipeline.steps.len(), 10_000);
    assert!(began.elapsed() < Duration::from_secs(20), "hang guard");
}

#[test]
fn huge_numbers_and_odd_durations_are_refused_at_their_place() {
    for (value, line) in [
        ("timeout: 99999999999999999999999h", 4),
        ("timeout: -5s", 4),
        ("timeout: 5x", 4),
        ("timeout: \"\"", 4),
        ("retry: {max: 18446744073709551616}", 4),
        ("max_parallel: 1e400", 4),
        ("poll: {initial: 1s, max: 1s, factor: 1e400}", 4),
    ] {
        let text = format!("name: x\nsteps:\n  - job: a\n    {value}\n    matrix: {{R: [a]}}\n");
        let diagnostics = errors(&text);
        assert!(
            diagnostics.iter().any(|d| d.line == Some(line)),
            "{value}: {diagnostics:#?}"
        );
    }
}

#[test]
fn a_pipeline_file_that_never_ends_is_refused_past_its_cap() {
    let err = pipeline::load(Path::new("/dev/zero"), &[]).unwrap_err();
    assert!(err.to_string().contains("larger than 16 MiB"), "{err}");
}

//! What loading makes of whole pipeline files: defaults, ids, graphs, matrices, servers.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::diagnostics::MAX_DIAGNOSTICS;
use super::load_text;
use crate::pipeline::model::{
    Condition, JobStep, Pipeline, Poll, ResultName, Retry, Step, StepKind,
};

fn load(text: &str) -> Pipeline {
    match load_text(text, Path::new("t.yaml"), &[]) {
        Ok(p) => p,
        Err(err) => panic!("{err}"),
    }
}

fn messages(text: &str) -> Vec<String> {
    match load_text(text, Path::new("t.yaml"), &[]) {
        Ok(_) => panic!("expected problems"),
        Err(err) => err.diagnostics.into_iter().map(|d| d.to_string()).collect(),
    }
}

fn job(step: &Step) -> &JobStep {
    match &step.kind {
        StepKind::Job(job) => job,
        StepKind::Await(_) => panic!("{} is an await step", step.id),
    }
}

#[test]
fn built_in_defaults_apply_to_a_bare_job_step() {
    let p = load("name: x\nsteps: [{job: a/b/build}]\n");
    let step = &p.steps[0];
    assert_eq!(step.id, "build");
    assert_eq!(step.condition, Condition::OnSuccess);
    assert!(!step.continue_on_failure);
    let job = job(step);
    assert_eq!(job.job.source(), "a/b/build");
    assert_eq!(job.expect, [ResultName::Success]);
    assert!(job.wait);
    assert_eq!(job.timeout, None);
    assert_eq!(job.queue_timeout, Duration::from_secs(3600));
    assert_eq!(job.poll, Poll::default());
    assert!(job.token.is_none() && job.params.is_empty());
    assert!(p.server.url.is_none() && p.server.max_in_flight.is_none());
}

#[test]
fn file_defaults_apply_unless_the_step_overrides_them_field_by_field() {
    let p = load(
        "name: x
defaults:
  expect: [SUCCESS, UNSTABLE]
  timeout: 45m
  queue_timeout: 10m
  poll: { initial: 2s, max: 20s }
steps:
  - job: a
  - job: b
    expect: [FAILURE]
    timeout: 5m
    poll: { max: 1m, factor: 2 }
  - await: { job: qa/nightly }
",
    );
    let a = job(&p.steps[0]);
    assert_eq!(a.expect, [ResultName::Success, ResultName::Unstable]);
    assert_eq!(a.timeout, Some(Duration::from_secs(2700)));
    assert_eq!(a.queue_timeout, Duration::from_secs(600));
    assert_eq!(a.poll.initial, Duration::from_secs(2));
    assert_eq!(a.poll.factor, 1.5);
    let b = job(&p.steps[1]);
    assert_eq!(b.expect, [ResultName::Failure]);
    assert_eq!(b.timeout, Some(Duration::from_secs(300)));
    assert_eq!(
        b.poll,
        Poll {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(60),
            factor: 2.0
        }
    );
    let StepKind::Await(gate) = &p.steps[2].kind else {
        panic!("an await step");
    };
    assert_eq!(p.steps[2].id, "nightly");
    assert_eq!(gate.results, [ResultName::Success]);
    assert_eq!(gate.timeout, Duration::from_secs(2700));
    assert_eq!(gate.newer_than, None);
}

#[test]
fn an_await_gate_defaults_to_an_hour() {
    let p = load(
        "name: x\nsteps:\n  - await: { job: qa/nightly, result: [SUCCESS, UNSTABLE], newer_than: 24h }\n",
    );
    let StepKind::Await(gate) = &p.steps[0].kind else {
        panic!("an await step");
    };
    assert_eq!(gate.timeout, Duration::from_secs(3600));
    assert_eq!(gate.newer_than, Some(Duration::from_secs(86_400)));
    assert_eq!(gate.results, [ResultName::Success, ResultName::Unstable]);
}

#[test]
fn steps_come_in_a_topological_order_with_needs_as_indices() {
    let p = load(
        "name: x
steps:
  - id: report
    job: report
    needs: [build]
  - id: build
    job: build
    needs: []
  - parallel:
      - job: eu
      - job: us
",
    );
    let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["build", "report", "eu", "us"]);
    assert_eq!(p.steps[1].needs, [0]);
    // The group follows `build` in the file, so it waits for it.
    assert_eq!(p.steps[2].needs, [0]);
    assert_eq!(p.steps[3].needs, [0]);
    assert_eq!(p.steps[0].line, 6);
    assert_eq!(p.steps[2].path, "steps[2].parallel[0]");
    for (i, step) in p.steps.iter().enumerate() {
        assert!(step.needs.iter().all(|&n| n < i));
    }
}

#[test]
fn vars_keep_the_written_text_of_floats() {
    let p = load(
        "name: x\nvars:\n  version: 1.10\n  ratio: 1.5\n  list: [2.50, 3]\n  n: 7\nsteps: [{job: a}]\n",
    );
    assert_eq!(p.vars["version"], serde_json::json!("1.10"));
    assert_eq!(p.vars["ratio"], serde_json::json!(1.5));
    assert_eq!(p.vars["list"], serde_json::json!(["2.50", 3]));
    assert_eq!(p.vars["n"], serde_json::json!(7));
}

#[test]
fn param_values_are_templates_named_by_their_path() {
    let p = load(
        "name: x\nsteps:\n  - job: a\n    params:\n      N: 3\n      B: true\n      E: ~\n      V: \"{{pipeline.name}}\"\n",
    );
    let params = &job(&p.steps[0]).params;
    let shown: Vec<(&str, &str, &str)> = params
        .iter()
        .map(|(k, t)| (k.as_str(), t.source(), t.field()))
        .collect();
    assert_eq!(
        shown,
        [
            ("N", "3", "steps[0].params.N"),
            ("B", "true", "steps[0].params.B"),
            ("E", "", "steps[0].params.E"),
            ("V", "{{pipeline.name}}", "steps[0].params.V"),
        ]
    );
    assert_eq!(params[3].1.line(), Some(8));
}

#[test]
fn ids_are_derived_from_the_job_and_duplicates_need_an_explicit_id() {
    let m = messages("name: x\nsteps:\n  - job: a/deploy\n  - job: b/deploy\n");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].starts_with("t.yaml:4:5: this step has no `id`"),
        "{m:?}"
    );
    assert!(
        m[0].contains("give this step an explicit unique `id`"),
        "{m:?}"
    );
    let m = messages("name: x\nsteps:\n  - {id: a, job: x}\n  - {id: a, job: y}\n");
    assert!(
        m[0].starts_with("t.yaml:4:10: duplicate step id `a`"),
        "{m:?}"
    );
}

#[test]
fn needs_problems_are_reported_at_the_entry() {
    let m =
        messages("name: x\nsteps:\n  - id: build\n    job: b\n  - job: d\n    needs: [biuld]\n");
    assert_eq!(
        m,
        [
            "t.yaml:6:13: step `d` needs unknown step `biuld` (did you mean `build`?); step ids are: build, d"
        ]
    );
    let m = messages("name: x\nsteps:\n  - id: a\n    job: b\n    needs: [a]\n");
    assert_eq!(
        m,
        ["t.yaml:5:13: step `a` needs itself; remove `a` from its `needs`"]
    );
}

#[test]
fn wait_false_belongs_to_job_steps() {
    let m = messages("name: x\nsteps:\n  - await: {job: a}\n    wait: false\n");
    assert!(
        m[0].starts_with("t.yaml:4:11: `wait` applies to job steps"),
        "{m:?}"
    );
    assert!(
        load("name: x\nsteps: [{job: a, wait: false}]\n")
            .steps
            .len()
            == 1
    );
}

#[test]
fn literal_job_names_are_checked() {
    for (job, says) in [
        ("job/a/job/b", "URL form"),
        ("a//b", "empty folder"),
        ("https://ci/job/a", "is a URL"),
        ("\" \"", "is empty"),
    ] {
        let m = messages(&format!("name: x\nsteps: [{{id: s, job: {job}}}]\n"));
        assert!(m[0].contains(says), "{job}: {m:?}");
    }
}

#[test]
fn too_many_problems_are_summarised() {
    let mut text = String::from("name: x\nsteps:\n");
    for i in 0..80 {
        text.push_str(&format!("  - {{id: s{i}, job: a, needs: [nope]}}\n"));
    }
    let m = messages(&text);
    assert_eq!(m.len(), MAX_DIAGNOSTICS + 1);
    assert!(
        m.last().unwrap().contains("and 30 more problem(s)"),
        "{m:?}"
    );
}

#[test]
fn the_jenkins_block_becomes_templates_with_secrets_marked() {
    let p = load(
        "name: x\njenkins:\n  url: https://ci.example.com\n  user: bot\n  token: \"{{env.T}}\"\n  max_in_flight: 8\n  unreachable_timeout: 5m\nsteps: [{job: a}]\n",
    );
    let server = &p.server;
    assert_eq!(
        server.url.as_ref().unwrap().source(),
        "https://ci.example.com"
    );
    assert!(server.token.as_ref().unwrap().is_secret());
    assert!(!server.url.as_ref().unwrap().is_secret());
    assert_eq!(server.token.as_ref().unwrap().env_refs(), ["T"]);
    assert_eq!(server.max_in_flight, Some(8));
    assert_eq!(server.unreachable_timeout, Some(Duration::from_secs(300)));
}

fn ids(p: &Pipeline) -> Vec<&str> {
    p.steps.iter().map(|s| s.id.as_str()).collect()
}

fn needs_of<'p>(p: &'p Pipeline, id: &str) -> Vec<&'p str> {
    p.step(id)
        .unwrap_or_else(|| panic!("no step {id}"))
        .needs
        .iter()
        .map(|&n| p.steps[n].id.as_str())
        .collect()
}

#[test]
fn a_matrix_expands_into_one_step_per_combination_first_key_slowest() {
    let p = load(
        "name: x
steps:
  - id: deploy
    job: deploy
    matrix:
      REGION: [eu, us]
      TIER: [web, 2, true]
",
    );
    assert_eq!(
        ids(&p),
        [
            "deploy[REGION=eu,TIER=web]",
            "deploy[REGION=eu,TIER=2]",
            "deploy[REGION=eu,TIER=true]",
            "deploy[REGION=us,TIER=web]",
            "deploy[REGION=us,TIER=2]",
            "deploy[REGION=us,TIER=true]",
        ]
    );
    let cell = p.steps[4].matrix.as_ref().unwrap();
    assert_eq!(cell.group, "deploy");
    assert_eq!(
        cell.values,
        [
            ("REGION".to_string(), "us".to_string()),
            ("TIER".to_string(), "2".to_string())
        ]
    );
    assert!(cell.fail_fast);
    assert_eq!(cell.max_parallel, None);
    assert_eq!(p.cells("deploy"), [0, 1, 2, 3, 4, 5]);
    assert!(p.steps.iter().all(|s| s.path == "steps[0]" && s.line == 3));
}

#[test]
fn a_one_key_matrix_names_its_cells_by_that_key() {
    let p = load(
        "name: x\nsteps:\n  - {id: deploy, job: deploy, matrix: {REGION: [eu]}, fail_fast: false, max_parallel: 2}\n",
    );
    assert_eq!(ids(&p), ["deploy[REGION=eu]"]);
    let cell = p.steps[0].matrix.as_ref().unwrap();
    assert!(!cell.fail_fast);
    assert_eq!(cell.max_parallel, Some(2));
}

#[test]
fn cells_have_the_written_dependencies_and_dependents_need_every_cell() {
    let p = load(
        "name: x
steps:
  - id: build
    job: build
  - id: lint
    job: lint
    needs: []
  - id: deploy
    job: deploy
    needs: [build, lint]
    matrix: { REGION: [eu, us] }
  - id: smoke
    job: smoke
    matrix: { REGION: [eu, us] }
  - id: announce
    job: notify
    needs: [deploy]
",
    );
    for cell in ["deploy[REGION=eu]", "deploy[REGION=us]"] {
        assert_eq!(needs_of(&p, cell), ["build", "lint"]);
    }
    // `smoke` follows `deploy` in the list: each of its cells waits for every deploy cell.
    for cell in ["smoke[REGION=eu]", "smoke[REGION=us]"] {
        assert_eq!(
            needs_of(&p, cell),
            ["deploy[REGION=eu]", "deploy[REGION=us]"]
        );
    }
    assert_eq!(
        needs_of(&p, "announce"),
        ["deploy[REGION=eu]", "deploy[REGION=us]"]
    );
    for (i, step) in p.steps.iter().enumerate() {
        assert!(step.needs.iter().all(|&n| n < i), "{}", step.id);
    }
}

#[test]
fn matrix_values_keep_their_yaml_text() {
    let p = load("name: x\nsteps:\n  - {id: d, job: d, matrix: {V: [1.10, 007, false, 'a b']}}\n");
    assert_eq!(ids(&p), ["d[V=1.10]", "d[V=007]", "d[V=false]", "d[V=a b]"]);
}

#[test]
fn matrix_templates_read_their_keys_and_render_per_cell() {
    let p = load(
        "name: x
steps:
  - id: deploy
    job: \"deploy-{{matrix.REGION}}\"
    matrix: { REGION: [eu, us] }
    params: { TARGET: \"{{matrix.REGION}}/{{pipeline.name}}\" }
",
    );
    let cell = &p.steps[1];
    let ctx =
        super::super::RenderContext::new(&p, Default::default(), BTreeMap::new()).for_step(cell);
    assert_eq!(job(cell).job.render(&ctx).unwrap(), "deploy-us");
    assert_eq!(job(cell).params[0].1.render(&ctx).unwrap(), "us/x");
}

#[test]
fn matrix_keys_outside_a_matrix_step_or_unknown_are_errors() {
    let m = messages("name: x\nsteps:\n  - job: a\n    params: { R: \"{{matrix.REGION}}\" }\n");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].starts_with(
            "t.yaml:4:18: `matrix.REGION` in steps[0].params.R: only a step with `matrix:`"
        ),
        "{m:?}"
    );
    let m = messages(
        "name: x\nsteps:\n  - job: a\n    matrix: {REGION: [eu]}\n    params: { R: \"{{matrix.REGOIN}}\" }\n",
    );
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].contains("unknown matrix key `REGOIN`"), "{m:?}");
    assert!(m[0].contains("did you mean `matrix.REGION`?"), "{m:?}");
}

#[test]
fn templates_cannot_read_the_facts_of_a_matrix_step() {
    let m = messages(
        "name: x
steps:
  - id: deploy
    job: deploy
    matrix: { REGION: [eu, us, ap] }
  - id: announce
    job: notify
    params: { N: \"{{steps.deploy.number}}\" }
",
    );
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].starts_with("t.yaml:8:18: "), "{m:?}");
    assert!(
            m[0].contains("step `deploy` is a matrix of 3 build(s), and the cells of a matrix cannot be addressed by templates"),
            "{m:?}"
        );
}

#[test]
fn matrix_problems_are_reported_where_they_are() {
    let cases: &[(&str, &str)] = &[
        ("matrix: {}", "`matrix` is empty"),
        ("matrix: {R: []}", "matrix key `R` has no values"),
        (
            "matrix: {R: [eu, eu]}",
            "matrix value `eu` is listed twice under `R`",
        ),
        ("matrix: {R: [\"a,b\"]}", "may not contain `,`"),
        ("matrix: {R: [~]}", "is empty or null"),
        ("matrix: {\"a.b\": [x]}", "matrix key `a.b` may use only"),
        (
            "fail_fast: true",
            "`fail_fast` applies to a step with `matrix:`",
        ),
        (
            "max_parallel: 2",
            "`max_parallel` applies to a step with `matrix:`",
        ),
        (
            "{matrix: {R: [eu]}, max_parallel: 0}",
            "max_parallel must be at least 1",
        ),
    ];
    for (extra, says) in cases {
        let text = if extra.starts_with('{') {
            let inner = &extra[1..extra.len() - 1];
            format!("name: x\nsteps:\n  - {{id: s, job: a, {inner}}}\n")
        } else {
            format!("name: x\nsteps:\n  - id: s\n    job: a\n    {extra}\n")
        };
        let m = messages(&text);
        assert!(m.iter().any(|m| m.contains(says)), "{extra}: {m:?}");
    }
    let m = messages("name: x\nsteps:\n  - await: {job: a}\n    matrix: {R: [eu]}\n");
    assert!(m[0].contains("`matrix` applies to job steps"), "{m:?}");
}

#[test]
fn a_matrix_of_more_than_256_combinations_is_refused() {
    let values: Vec<String> = (0..17).map(|i| i.to_string()).collect();
    let list = values.join(", ");
    let m = messages(&format!(
        "name: x\nsteps:\n  - id: s\n    job: a\n    matrix:\n      A: [{list}]\n      B: [{list}]\n"
    ));
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].starts_with("t.yaml:6:7: the matrix has 289 combinations, more than the 256 allowed"),
        "{m:?}"
    );
    let sixteen: Vec<String> = (0..16).map(|i| i.to_string()).collect();
    let list = sixteen.join(", ");
    let p = load(&format!(
        "name: x\nsteps:\n  - id: s\n    job: a\n    matrix:\n      A: [{list}]\n      B: [{list}]\n"
    ));
    assert_eq!(p.steps.len(), 256);
}

#[test]
fn retry_defaults_apply_key_by_key_under_the_steps_own() {
    let p = load(
        "name: x
defaults:
  retry: { max: 2, delay: 30s }
steps:
  - job: a
  - job: b
    retry: { on: [ABORTED, lost, output] }
  - job: c
    retry: { max: 0 }
  - job: d
    wait: false
",
    );
    let a = &job(&p.steps[0]).retry;
    assert_eq!(a.max, 2);
    assert_eq!(a.on, Retry::default().on);
    assert_eq!(a.delay, Duration::from_secs(30));
    let b = &job(&p.steps[1]).retry;
    assert_eq!(b.max, 2);
    assert_eq!(
        b.on,
        [
            super::super::RetryOn::Result(ResultName::Aborted),
            super::super::RetryOn::Lost,
            super::super::RetryOn::Output
        ]
    );
    assert_eq!(b.delay, Duration::from_secs(30));
    assert_eq!(job(&p.steps[2]).retry.max, 0);
    // A build jrun does not follow is never retried, whatever the defaults say.
    assert_eq!(job(&p.steps[3]).retry, Retry::default());
    let bare = load("name: x\nsteps: [{job: a}]\n");
    assert_eq!(job(&bare.steps[0]).retry, Retry::default());
}

#[test]
fn retry_problems_are_reported_at_their_keys() {
    let m = messages("name: x\nsteps:\n  - job: a\n    retry: { max: 101 }\n");
    assert_eq!(
        m,
        ["t.yaml:4:19: steps[0].retry.max is 101, more than the 100 allowed"]
    );
    let m = messages("name: x\ndefaults:\n  retry: { on: [] }\nsteps: [{job: a}]\n");
    assert!(
        m[0].starts_with("t.yaml:3:16: defaults.retry.on is empty"),
        "{m:?}"
    );
    let m = messages("name: x\nsteps:\n  - job: a\n    wait: false\n    retry: { max: 1 }\n");
    assert!(
        m[0].starts_with("t.yaml:5:12: `retry` has no effect with `wait: false`"),
        "{m:?}"
    );
    let m = messages("name: x\nsteps:\n  - await: {job: a}\n    retry: { max: 1 }\n");
    assert!(m[0].contains("`retry` applies to job steps"), "{m:?}");
}

#[test]
fn an_if_expression_is_a_template_checked_like_any_other() {
    let p = load(
        "name: x
steps:
  - id: build
    job: build
  - id: retest
    job: test
    if: \"{{eq steps.build.result 'UNSTABLE'}}\"
",
    );
    let Condition::Expr(template) = &p.steps[1].condition else {
        panic!("an expression condition");
    };
    assert_eq!(template.field(), "steps[1].if");
    assert_eq!(template.step_refs(), ["build"]);
    assert!(p.steps[1].templates().any(|t| t.field() == "steps[1].if"));

    let m = messages(
        "name: x\nsteps:\n  - {id: build, job: b}\n  - {id: other, job: o, needs: []}\n  - {id: t, job: t, needs: [other], if: \"{{eq steps.build.result 'UNSTABLE'}}\"}\n",
    );
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].contains("add `build` to the `needs` of `t`"), "{m:?}");
    let m = messages("name: x\nsteps:\n  - job: a\n    if: \"{{eq vars.nope 1}}\"\n");
    assert!(
        m[0].starts_with("t.yaml:4:9: unknown variable `vars.nope` in steps[0].if"),
        "{m:?}"
    );
    let m = messages("name: x\nsteps:\n  - job: a\n    if: \"{{#if x}}\"\n");
    assert!(m[0].contains("invalid template in steps[0].if"), "{m:?}");
}

#[test]
fn keyword_conditions_keep_their_meaning_and_unknown_ones_are_explained() {
    let p = load(
        "name: x\nsteps:\n  - job: a\n  - {job: b, if: always}\n  - {job: c, if: on_failure}\n",
    );
    assert_eq!(p.steps[0].condition, Condition::OnSuccess);
    assert_eq!(p.steps[1].condition, Condition::Always);
    assert_eq!(p.steps[2].condition, Condition::OnFailure);
    let m = messages("name: x\nsteps:\n  - job: a\n    if: alwys\n");
    assert!(m[0].starts_with("t.yaml:4:9: "), "{m:?}");
    assert!(
        m[0].contains("unknown condition `alwys` (did you mean `always`?)"),
        "{m:?}"
    );
    let m =
        messages("name: x\nsteps:\n  - job: a\n  - job: b\n    needs: []\n    if: on_failure\n");
    assert!(
        m[0].contains("it needs no step, so it would never run"),
        "{m:?}"
    );
}

#[test]
fn await_build_defaults_to_last_build_and_takes_permalinks_and_numbers() {
    use super::super::AwaitBuild;
    let gate = |text: &str| match load(text).steps[0].kind.clone() {
        StepKind::Await(gate) => gate.build,
        StepKind::Job(_) => panic!("an await step"),
    };
    assert_eq!(
        gate("name: x\nsteps: [{await: {job: a}}]\n"),
        AwaitBuild::default()
    );
    assert_eq!(
        gate("name: x\nsteps: [{await: {job: a, build: lastSuccessfulBuild}}]\n"),
        AwaitBuild::Permalink("lastSuccessfulBuild".into())
    );
    assert_eq!(
        gate("name: x\nsteps: [{await: {job: a, build: 42}}]\n"),
        AwaitBuild::Number(42)
    );
    let m = messages("name: x\nsteps:\n  - await: {job: a, build: lastSucessfulBuild}\n");
    assert!(m[0].starts_with("t.yaml:3:28: "), "{m:?}");
    assert!(
        m[0].contains("(did you mean `lastSuccessfulBuild`?)"),
        "{m:?}"
    );
    let m = messages("name: x\nsteps:\n  - await: {job: a, build: 0}\n");
    assert!(m[0].contains("build numbers start at 1"), "{m:?}");
}

#[test]
fn named_servers_are_chosen_per_step_and_default_is_the_jenkins_block() {
    let p = load(
        "name: x
jenkins: { url: https://ci.example.com }
servers:
  legacy: { url: https://old.example.com, user: bot, token_file: ~/.legacy, max_in_flight: 2 }
steps:
  - job: a
  - job: b
    server: legacy
  - await: { job: c }
    server: default
",
    );
    assert_eq!(p.servers.len(), 1);
    let legacy = &p.servers["legacy"];
    assert_eq!(
        legacy.url.as_ref().unwrap().source(),
        "https://old.example.com"
    );
    assert_eq!(legacy.max_in_flight, Some(2));
    assert_eq!(
        legacy.token_file.as_ref().unwrap().field(),
        "servers.legacy.token_file"
    );
    assert_eq!(p.steps[0].server, None);
    assert_eq!(p.steps[1].server.as_deref(), Some("legacy"));
    assert_eq!(p.steps[2].server, None);
    assert!(std::ptr::eq(p.server_spec(None).unwrap(), &p.server));
    assert!(std::ptr::eq(
        p.server_spec(Some("default")).unwrap(),
        &p.server
    ));
    assert!(std::ptr::eq(p.server_spec(Some("legacy")).unwrap(), legacy));
    assert!(p.server_spec(Some("nope")).is_none());
}

#[test]
fn server_problems_name_the_nearest_server_and_keep_default_reserved() {
    let m = messages(
        "name: x\nservers:\n  legacy: {url: https://old}\nsteps:\n  - job: a\n    server: legcy\n",
    );
    assert_eq!(
        m,
        [
            "t.yaml:6:13: step `a` uses unknown server `legcy` (did you mean `legacy`?); the servers are: default, legacy"
        ]
    );
    let m = messages("name: x\nsteps:\n  - job: a\n    server: legacy\n");
    assert!(
        m[0].contains("the pipeline declares no `servers:`"),
        "{m:?}"
    );
    let m = messages("name: x\nservers:\n  default: {url: https://old}\nsteps: [{job: a}]\n");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].starts_with("t.yaml:3:12: `default` names the `jenkins:` server"),
        "{m:?}"
    );
    let m = messages(
        "name: x\nservers:\n  legacy: {url: old, token: t, token_file: f, max_in_flight: 0}\nsteps: [{job: a}]\n",
    );
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(
        m.iter()
            .any(|m| m.contains("servers.legacy: give either `token` or `token_file`")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|m| m.contains("servers.legacy.url `old` must start with http://")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|m| m.contains("servers.legacy.max_in_flight must be at least 1")),
        "{m:?}"
    );
    let m = messages(
        "name: x\nservers:\n  legacy: {url: \"{{steps.a.url}}\"}\nsteps: [{id: a, job: a}]\n",
    );
    assert!(m[0].contains("step facts cannot be used here"), "{m:?}");
}

// ---- artifacts: ----

#[test]
fn artifacts_compile_their_globs_and_default_their_folder_to_the_step_id() {
    let p = load(
        "name: x\nsteps:\n  - id: build\n    job: a\n    artifacts:\n      get: [\"dist/*.tar.gz\", \"reports/**\"]\n      optional: true\n  - job: b\n    artifacts: {get: [x.txt], to: \"out/{{step.id}}/{{vars.v}}\"}\nvars: {v: \"1\"}\n",
    );
    let spec = job(&p.steps[0]).artifacts.as_deref().expect("artifacts");
    let globs: Vec<&str> = spec.get.iter().map(|g| g.pattern.as_str()).collect();
    assert_eq!(globs, ["dist/*.tar.gz", "reports/**"]);
    assert!(spec.optional);
    assert_eq!(spec.to.source(), "artifacts/{{step.id}}");
    let ctx = crate::pipeline::RenderContext::new(&p, Default::default(), BTreeMap::new());
    let for_step = |i: usize| ctx.clone().for_step(&p.steps[i]);
    assert_eq!(spec.to.render(&for_step(0)).unwrap(), "artifacts/build");
    let second = job(&p.steps[1]).artifacts.as_deref().expect("artifacts");
    assert!(!second.optional);
    assert_eq!(second.to.render(&for_step(1)).unwrap(), "out/b/1");
    assert!(job(&p.steps[1]).artifacts.is_some());
    assert!(
        job(&load("name: x\nsteps: [{job: a}]\n").steps[0])
            .artifacts
            .is_none()
    );
}

#[test]
fn bad_artifact_globs_and_keys_are_reported_where_they_are_written() {
    let m = messages(
        "name: x\nsteps:\n  - job: a\n    artifacts:\n      get:\n        - \"dist/*.tgz\"\n        - \"dist/[a\"\n        - \"../up/*\"\n",
    );
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m[0].starts_with("t.yaml:7:11: artifact glob `dist/[a` is not valid"),
        "{m:?}"
    );
    assert!(
        m[1].starts_with("t.yaml:8:11: artifact glob `../up/*` is absolute or has"),
        "{m:?}"
    );
    let m = messages("name: x\nsteps:\n  - await: {job: a}\n    artifacts: {get: [x]}\n");
    assert!(
        m[0].starts_with("t.yaml:4:16: `artifacts` applies to job steps"),
        "{m:?}"
    );
    let m = messages("name: x\nsteps:\n  - job: a\n    wait: false\n    artifacts: {get: [x]}\n");
    assert!(
        m[0].contains("`artifacts` has no effect with `wait: false`"),
        "{m:?}"
    );
    let m =
        messages("name: x\nsteps:\n  - job: a\n    artifacts: {get: [x], to: \"{{step.name}}\"}\n");
    assert!(
        m[0].contains("the step a template belongs to has `step.id`"),
        "{m:?}"
    );
}

// ---- outputs and description ----

const OUTPUTS: &str = "name: x
steps:
  - id: build
    job: app/build
    description: \"release {{vars.v}} (jrun run {{run.id}})\"
    outputs:
      from_artifact: out/build-info.json
      IMAGE: { log: 'pushed image (\\S+)' }
      NOTE: { description: true }
      TITLE: { display_name: true }
      BRANCH: { param: GIT_BRANCH }
      SHA: { artifact: meta.properties, key: git.sha }
  - job: deploy
    params: { IMAGE: '{{steps.build.outputs.IMAGE}}', V: '{{steps.build.outputs.version}}' }
vars: { v: '1.2' }
";

#[test]
fn outputs_of_every_form_and_a_description_are_loaded() {
    use crate::pipeline::model::OutputSource;
    let p = load(OUTPUTS);
    let build = job(&p.steps[0]);
    assert_eq!(
        build.outputs.from_artifact.as_deref(),
        Some("out/build-info.json")
    );
    let names: Vec<&str> = build
        .outputs
        .named
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["IMAGE", "NOTE", "TITLE", "BRANCH", "SHA"]);
    match &build.outputs.named[0].1 {
        OutputSource::Log(regex) => assert_eq!(regex.as_str(), r"pushed image (\S+)"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        build.outputs.named[1].1,
        OutputSource::Description
    ));
    assert!(matches!(
        build.outputs.named[2].1,
        OutputSource::DisplayName
    ));
    assert!(matches!(&build.outputs.named[3].1, OutputSource::Param(n) if n == "GIT_BRANCH"));
    assert!(matches!(&build.outputs.named[4].1,
        OutputSource::Artifact { path, key } if path == "meta.properties" && key == "git.sha"));
    let description = build.description.as_ref().unwrap();
    assert_eq!(
        description.source(),
        "release {{vars.v}} (jrun run {{run.id}})"
    );
    // A step reading another's outputs depends on it.
    assert_eq!(p.steps[1].needs, [0]);
}

#[test]
fn a_reference_to_an_undeclared_output_is_refused_where_it_is_written() {
    let text = "name: x
steps:
  - id: build
    job: app/build
    outputs: { IMAGE: { log: 'image (\\S+)' } }
  - job: deploy
    params:
      A: '{{steps.build.outputs.IMGAE}}'
";
    let got = messages(text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("t.yaml:8:10: "), "{got:?}");
    assert!(got[0].contains("declares no output `IMGAE`"), "{got:?}");
    assert!(
        got[0].contains("did you mean `steps.build.outputs.IMAGE`?"),
        "{got:?}"
    );
    let got = messages(&text.replace("    outputs: { IMAGE: { log: 'image (\\S+)' } }\n", ""));
    assert!(
        got[0].contains("step `build` declares no outputs"),
        "{got:?}"
    );
}

#[test]
fn outputs_with_no_source_two_sources_or_a_bad_regex_are_refused_with_their_place() {
    let got = messages(
        "name: x
steps:
  - job: build
    outputs:
      A: { log: 'image (\\S+' }
      B: { log: x, param: P }
      C: {}
      D: { artifact: a.json }
      E: { description: false }
      'a b': { param: P }
",
    );
    let all = got.join("\n");
    assert!(
        all.contains("t.yaml:5:17: output `A`: `image (\\S+` is not a valid regular expression"),
        "{all}"
    );
    assert!(
        all.contains("t.yaml:6:27: output `B` has both `log` and `param`"),
        "{all}"
    );
    assert!(
        all.contains("t.yaml:7:10: output `C` names no source"),
        "{all}"
    );
    assert!(
        all.contains("output `D` reads an artifact but no `key:`"),
        "{all}"
    );
    assert!(all.contains("`description: false` reads nothing"), "{all}");
    assert!(
        all.contains("output name `a b` may use only letters"),
        "{all}"
    );
    let got =
        messages("name: x\nsteps:\n  - job: b\n    outputs:\n      F: { param: P, other: 1 }\n");
    assert!(got[0].starts_with("t.yaml:5:22: "), "{got:?}");
    assert!(got[0].contains("unknown field `other`"), "{got:?}");
    let got =
        messages("name: x\nsteps:\n  - job: b\n    outputs: { A: { param: P }, A: { log: x } }\n");
    assert!(got[0].contains("output `A` is given twice"), "{got:?}");
}

#[test]
fn outputs_on_a_step_not_waited_for_on_a_gate_or_in_defaults_are_refused() {
    let got = messages(
        "name: x\nsteps:\n  - job: b\n    wait: false\n    outputs: { A: { param: P } }\n",
    );
    assert!(
        got[0].contains("`outputs` has no effect with `wait: false`"),
        "{got:?}"
    );
    let got = messages("name: x\nsteps:\n  - await: { job: b }\n    description: x\n");
    assert!(
        got[0].contains("`description` applies to job steps"),
        "{got:?}"
    );
    let got = messages("name: x\ndefaults:\n  outputs: { A: { param: P } }\nsteps:\n  - job: b\n");
    assert!(got[0].contains("unknown field `outputs`"), "{got:?}");
}

#[test]
fn an_output_file_jrun_cannot_read_is_refused() {
    let got = messages(
        "name: x\nsteps:\n  - job: b\n    outputs:\n      from_artifact: build.log\n      X: { artifact: a.yaml, key: k }\n",
    );
    let all = got.join("\n");
    assert!(
        all.contains(
            "t.yaml:5:22: jrun reads outputs from .json, .properties or .env files, not `build.log`"
        ),
        "{all}"
    );
    assert!(all.contains("not `a.yaml`"), "{all}");
}

#[test]
fn a_branch_is_encoded_into_its_multibranch_job_and_both_forms_name_the_same_job() {
    let p = load(
        "name: x
defaults:
  branch_scan: auto
  scan_timeout: 2m
steps:
  - { id: a, job: team/app, branch: release/2.4 }
  - { id: b, job: team/app/release%2F2.4, branch_scan: never }
  - { id: c, job: app, branch: 'feat/#7', scan_timeout: 30s }
",
    );
    let (a, b, c) = (job(&p.steps[0]), job(&p.steps[1]), job(&p.steps[2]));
    assert_eq!(a.job.source(), "team/app/release%2F2.4");
    assert_eq!(b.job.source(), a.job.source());
    assert_eq!(c.job.source(), "app/feat%2F%237");
    assert_eq!(a.branch_scan, crate::pipeline::BranchScan::Auto);
    assert_eq!(b.branch_scan, crate::pipeline::BranchScan::Never);
    assert_eq!(a.scan_timeout, Duration::from_secs(120));
    assert_eq!(c.scan_timeout, Duration::from_secs(30));
}

#[test]
fn branch_scan_defaults_to_never_with_a_ten_minute_scan_timeout() {
    let p = load("name: x\nsteps: [{job: app, branch: main}]\n");
    let step = job(&p.steps[0]);
    assert_eq!(step.branch_scan, crate::pipeline::BranchScan::Never);
    assert_eq!(step.scan_timeout, Duration::from_secs(600));
}

#[test]
fn bad_branch_keys_are_reported_where_they_are_written() {
    let problems = messages(
        "name: x
steps:
  - { id: a, job: app, branch: '{{vars.b}}' }
  - { id: b, job: app/x%2Fy, branch: main }
  - { id: c, job: app, branch: '' }
  - { id: d, job: app, branch: main, scan_timeout: 0s }
  - { id: e, await: { job: app }, branch: main }
",
    );
    let all = problems.join("\n");
    assert!(all.contains("t.yaml:3:"), "{all}");
    assert!(all.contains("plain branch name, not a template"), "{all}");
    assert!(
        all.contains("t.yaml:4:") && all.contains("already names a branch job"),
        "{all}"
    );
    assert!(
        all.contains("t.yaml:5:") && all.contains("`branch` is empty"),
        "{all}"
    );
    assert!(
        all.contains("t.yaml:6:") && all.contains("scan_timeout must be more than 0s"),
        "{all}"
    );
    assert!(
        all.contains("t.yaml:7:") && all.contains("`branch` applies to job steps"),
        "{all}"
    );
}

#[test]
fn branch_scan_takes_only_never_or_auto() {
    let problems = messages("name: x\nsteps: [{job: app, branch: main, branch_scan: always}]\n");
    let all = problems.join("\n");
    assert!(all.contains("t.yaml:2:") && all.contains("always"), "{all}");
}

#[test]
fn a_servers_triggers_per_second_is_read_and_must_be_at_least_one() {
    let p = load(
        "name: x\njenkins:\n  url: https://ci.example.com\n  triggers_per_second: 20\nservers:\n  legacy: {url: https://old.example.com}\nsteps: [{job: a}]\n",
    );
    assert_eq!(p.server.triggers_per_second, Some(20));
    assert_eq!(p.servers["legacy"].triggers_per_second, None);
    let m = messages(
        "name: x\nservers:\n  legacy: {url: https://old.example.com, triggers_per_second: 0}\nsteps: [{job: a}]\n",
    );
    assert!(
        m.iter()
            .any(|m| m.contains("servers.legacy.triggers_per_second must be at least 1")),
        "{m:?}"
    );
}

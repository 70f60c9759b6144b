//! Release flows the sandbox plays, pinned to what a controller answers (research
//! `jenkins-rest-plugins.md` §6 `input`, §5.2-5.3 wfapi run status, §8 multibranch): Pipeline
//! builds that pause at an `input` until someone answers over REST, and multibranch projects
//! whose scans create and build branch jobs.

use crate::common;

use std::time::Duration;

use common::{PASSWORD, TOKEN, USER, client, control, get, get_json, post, wait_for};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use jrun::sandbox::Sandbox;

const BOB_TOKEN: &str = "11bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A release Pipeline that pauses 5 s into its 20 s at an input only alice or the release team
/// may answer; alice and bob are users.
const RELEASE: &str = r#"speed: 100
quiet_period: 0s
users:
  - { name: alice, password: alice-password, tokens: ["11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] }
  - { name: bob, password: bob-password, tokens: ["11bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"] }
jobs:
  - path: app/release
    kind: pipeline
    builds:
      - duration: 20s
        log: [building, deploying]
        inputs:
          - id: deploy
            message: "Deploy to production?"
            at: 5s
            ok: Deploy
            submitter: "release-team,ALICE"
            parameters:
              - { name: TARGET, type: choice, choices: [eu, us] }
              - { name: FORCE, type: boolean, default: false }
"#;

const BUILD: &str = "/job/app/job/release/1/";

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn post_as(client: &Client, sb: &Sandbox, path: &str, user: &str, token: &str) -> Response {
    client
        .post(format!("{}{path}", sb.url()))
        .basic_auth(user, Some(token))
        .send()
        .expect("request")
}

fn post_form(client: &Client, sb: &Sandbox, path: &str, form: &[(&str, &str)]) -> Response {
    client
        .post(format!("{}{path}", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .form(form)
        .send()
        .expect("request")
}

/// Starts build 1 of the release job and waits until it waits at its input.
fn paused_release() -> (Sandbox, Client) {
    let sb = common::sandbox(RELEASE);
    let client = client();
    let response = post(&client, &sb, "/job/app/job/release/build?delay=0");
    assert_eq!(response.status(), 201);
    wait_for(Duration::from_secs(10), "the build to pause", || {
        let build = get(
            &client,
            &sb,
            &format!("{BUILD}api/json?tree=actions[waitingForInput]"),
        );
        (build.status() == 200).then_some(())?;
        let build = common::json(build);
        let actions = build["actions"].as_array()?.clone();
        actions
            .iter()
            .any(|a| a["waitingForInput"] == true)
            .then_some(())
    });
    (sb, client)
}

fn sandbox_build(sb: &Sandbox, job: &str, number: u64) -> Value {
    let builds = control(sb, "GET", "builds", json!({}));
    builds
        .as_array()
        .expect("builds")
        .iter()
        .find(|b| b["job"] == job && b["number"] == number)
        .cloned()
        .unwrap_or_else(|| panic!("no build {job} #{number} in {builds}"))
}

fn input_action(build: &Value) -> Value {
    build["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["_class"] == "org.jenkinsci.plugins.workflow.support.steps.input.InputAction")
        .cloned()
        .unwrap_or_else(|| panic!("no InputAction in {build}"))
}

fn finished(client: &Client, sb: &Sandbox) -> Value {
    common::finished_build(client, sb, "/job/app/job/release/", 1)
}

// ---- input: how a paused build looks ----

#[test]
fn a_paused_build_is_building_without_result_and_shows_its_input_only_at_depth_one() {
    let (sb, client) = paused_release();
    let build = get_json(&client, &sb, &format!("{BUILD}api/json"));
    assert_eq!(build["building"], true);
    assert_eq!(build["result"], Value::Null);
    // At depth 0 the action is there with its class only: its fields have visibility 1.
    assert_eq!(
        input_action(&build),
        json!({"_class": "org.jenkinsci.plugins.workflow.support.steps.input.InputAction"})
    );
    let deep = get_json(&client, &sb, &format!("{BUILD}api/json?depth=1"));
    let action = input_action(&deep);
    assert_eq!(action["waitingForInput"], true);
    assert_eq!(action["executions"][0]["id"], "Deploy", "{action}");
    let tree = "actions[_class,waitingForInput,executions[id,settled,input[id,message,ok,cancel,submitter,parameters[name,type,defaultParameterValue[value]]]]]";
    let named = get_json(&client, &sb, &format!("{BUILD}api/json?tree={tree}"));
    let execution = &input_action(&named)["executions"][0];
    assert_eq!(execution["settled"], false);
    let input = &execution["input"];
    assert_eq!(input["id"], "Deploy");
    assert_eq!(input["message"], "Deploy to production?");
    assert_eq!(input["ok"], "Deploy");
    assert_eq!(input["cancel"], "Abort");
    assert_eq!(input["submitter"], "release-team,ALICE");
    assert_eq!(input["parameters"][0]["name"], "TARGET");
    assert_eq!(input["parameters"][0]["type"], "ChoiceParameterDefinition");
    assert_eq!(
        input["parameters"][1]["defaultParameterValue"]["value"],
        false
    );
}

#[test]
fn wfapi_shows_a_paused_run_and_its_pending_input_with_context_relative_links() {
    let (sb, client) = paused_release();
    let run = get_json(&client, &sb, &format!("{BUILD}wfapi/describe"));
    assert_eq!(run["status"], "PAUSED_PENDING_INPUT");
    assert_eq!(
        run["_links"]["pendingInputActions"]["href"],
        "/job/app/job/release/1/wfapi/pendingInputActions"
    );
    let pending = get_json(&client, &sb, &format!("{BUILD}wfapi/pendingInputActions"));
    assert_eq!(
        pending,
        json!([{
            "id": "Deploy",
            "proceedText": "Deploy",
            "message": "Deploy to production?",
            "inputs": [
                {"type": "ChoiceParameterDefinition", "name": "TARGET",
                 "definition": {"defaultVal": "eu", "choices": ["eu", "us"]}},
                {"type": "BooleanParameterDefinition", "name": "FORCE",
                 "definition": {"defaultVal": false}}
            ],
            "proceedUrl": "/job/app/job/release/1/wfapi/inputSubmit?inputId=Deploy",
            "abortUrl": "/job/app/job/release/1/input/Deploy/abort",
            "redirectApprovalUrl": "/job/app/job/release/1/input/"
        }])
    );
    let next = get_json(
        &client,
        &sb,
        &format!("{BUILD}wfapi/nextPendingInputAction"),
    );
    assert_eq!(next["id"], "Deploy");
    // The clock stops while it waits: the build stays paused however long nobody answers.
    std::thread::sleep(Duration::from_millis(300));
    let later = get_json(&client, &sb, &format!("{BUILD}wfapi/describe"));
    assert_eq!(later["status"], "PAUSED_PENDING_INPUT");
}

// ---- input: answers ----

#[test]
fn proceed_with_parameters_resumes_the_build_which_runs_its_remaining_time_and_records_the_approver()
 {
    let (sb, client) = paused_release();
    // Ids are capitalized and looked up exactly.
    let lower = post_form(
        &client,
        &sb,
        &format!("{BUILD}input/deploy/proceed"),
        &[("json", "{}")],
    );
    assert_eq!(lower.status(), 404);
    let form = r#"{"parameter":[{"name":"TARGET","value":"us"},{"name":"FORCE","value":true}]}"#;
    let response = post_form(
        &client,
        &sb,
        &format!("{BUILD}input/Deploy/proceed"),
        &[("json", form)],
    );
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().unwrap(), "");
    let build = finished(&client, &sb);
    assert_eq!(build["result"], "SUCCESS");
    let deep = get_json(&client, &sb, &format!("{BUILD}api/json?depth=1"));
    let action = input_action(&deep);
    assert_eq!(action["waitingForInput"], false);
    assert_eq!(action["executions"], json!([]));
    let approver = deep["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["_class"] == "org.jenkinsci.plugins.workflow.support.steps.input.ApproverAction"
        })
        .cloned()
        .expect("ApproverAction");
    assert_eq!(approver["userId"], "alice");
    let recorded = sandbox_build(&sb, "app/release", 1);
    let input = &recorded["inputs"][0];
    assert_eq!(input["outcome"], "proceeded");
    assert_eq!(input["by"], "alice");
    assert_eq!(input["params"], json!({"TARGET": "us", "FORCE": "true"}));
    // 5 s of running before the pause, 15 s after the answer: the pause is not running time.
    let start = recorded["start_ms"].as_i64().unwrap();
    let paused = input["paused_at_ms"].as_i64().unwrap();
    let answered = input["answered_at_ms"].as_i64().unwrap();
    assert_eq!(paused - start, 5_000);
    assert_eq!(recorded["end_ms"].as_i64().unwrap() - answered, 15_000);
    assert!(build["duration"].as_i64().unwrap() >= 20_000 + (answered - paused));
    let log = get(&client, &sb, &format!("{BUILD}consoleText"))
        .text()
        .unwrap();
    let input_at = log.find("[Pipeline] input\nDeploy to production?\nDeploy or Abort\n");
    let approved_at = log.find("Approved by alice\n");
    assert!(input_at.is_some() && approved_at > input_at, "{log}");
    assert!(log.ends_with("Finished: SUCCESS\n"), "{log}");
    // A settled input is gone: a second answer finds nothing.
    let again = post_form(
        &client,
        &sb,
        &format!("{BUILD}input/Deploy/proceed"),
        &[("json", form)],
    );
    assert_eq!(again.status(), 404);
}

#[test]
fn the_server_applies_no_defaults_and_rejects_a_proceed_without_its_form() {
    let (sb, client) = paused_release();
    let missing = post(&client, &sb, &format!("{BUILD}input/Deploy/proceed"));
    assert_eq!(missing.status(), 400);
    assert!(missing.text().unwrap().contains("Nothing is submitted"));
    let unknown = post_form(
        &client,
        &sb,
        &format!("{BUILD}input/Deploy/proceed"),
        &[("json", r#"{"parameter":{"name":"NOPE","value":"x"}}"#)],
    );
    assert_eq!(unknown.status(), 500);
    let bad_choice = post_form(
        &client,
        &sb,
        &format!("{BUILD}input/Deploy/proceed"),
        &[(
            "json",
            r#"{"parameter":[{"name":"TARGET","value":"mars"}]}"#,
        )],
    );
    assert_eq!(bad_choice.status(), 500);
    // One parameter of two: only it is recorded, FORCE gets no default.
    let one = post_form(
        &client,
        &sb,
        &format!("{BUILD}input/Deploy/proceed"),
        &[("json", r#"{"parameter":{"name":"TARGET","value":"eu"}}"#)],
    );
    assert_eq!(one.status(), 200);
    let input = &sandbox_build(&sb, "app/release", 1)["inputs"][0];
    assert_eq!(input["params"], json!({"TARGET": "eu"}));
}

#[test]
fn proceed_empty_answers_without_values() {
    let (sb, client) = paused_release();
    let response = post(&client, &sb, &format!("{BUILD}input/Deploy/proceedEmpty"));
    assert_eq!(response.status(), 200);
    assert_eq!(finished(&client, &sb)["result"], "SUCCESS");
    let input = &sandbox_build(&sb, "app/release", 1)["inputs"][0];
    assert_eq!(input["outcome"], "proceeded");
    assert_eq!(input["params"], json!({}));
}

#[test]
fn abort_ends_the_build_aborted_with_the_rejection_in_its_log() {
    let (sb, client) = paused_release();
    let response = post(&client, &sb, &format!("{BUILD}input/Deploy/abort"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().unwrap(), "");
    assert_eq!(finished(&client, &sb)["result"], "ABORTED");
    let run = get_json(&client, &sb, &format!("{BUILD}wfapi/describe"));
    assert_eq!(run["status"], "ABORTED");
    assert!(run["_links"].get("pendingInputActions").is_none());
    let log = get(&client, &sb, &format!("{BUILD}consoleText"))
        .text()
        .unwrap();
    assert!(
        log.contains("Aborted by alice\nRejected by alice\n"),
        "{log}"
    );
    assert!(log.ends_with("Finished: ABORTED\n"), "{log}");
    assert_eq!(
        sandbox_build(&sb, "app/release", 1)["inputs"][0]["outcome"],
        "aborted"
    );
}

#[test]
fn submit_proceeds_only_with_a_proceed_field_and_redirects_to_the_console() {
    let (sb, client) = paused_release();
    let json_form =
        r#"{"parameter":[{"name":"TARGET","value":"eu"},{"name":"FORCE","value":false}]}"#;
    let response = post_form(
        &client,
        &sb,
        &format!("{BUILD}input/Deploy/submit"),
        &[("json", json_form)],
    );
    assert_eq!(response.status(), 302);
    assert_eq!(
        header(&response, "location"),
        Some("/job/app/job/release/1/console")
    );
    // No `proceed` field: the submission was an abort.
    assert_eq!(finished(&client, &sb)["result"], "ABORTED");

    let (sb, client) = paused_release();
    let response = post_form(
        &client,
        &sb,
        &format!("{BUILD}input/Deploy/submit"),
        &[("json", json_form), ("proceed", "Deploy")],
    );
    assert_eq!(response.status(), 302);
    assert_eq!(finished(&client, &sb)["result"], "SUCCESS");
}

#[test]
fn wfapi_input_submit_answers_null_and_every_failure_is_a_500() {
    let (sb, client) = paused_release();
    let get_it = get(
        &client,
        &sb,
        &format!("{BUILD}wfapi/inputSubmit?inputId=Deploy"),
    );
    assert_eq!(get_it.status(), 405);
    let unknown = post_form(
        &client,
        &sb,
        &format!("{BUILD}wfapi/inputSubmit?inputId=deploy"),
        &[("json", "{}")],
    );
    assert_eq!(unknown.status(), 500);
    let denied = client
        .post(format!(
            "{}{BUILD}wfapi/inputSubmit?inputId=Deploy",
            sb.url()
        ))
        .basic_auth("bob", Some(BOB_TOKEN))
        .form(&[("json", r#"{"parameter":[]}"#)])
        .send()
        .unwrap();
    assert_eq!(denied.status(), 500);
    let form = r#"{"parameter":[{"name":"TARGET","value":"us"},{"name":"FORCE","value":true}]}"#;
    let response = post_form(
        &client,
        &sb,
        &format!("{BUILD}wfapi/inputSubmit?inputId=Deploy"),
        &[("json", form)],
    );
    assert_eq!(response.status(), 200);
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(response.text().unwrap(), "null");
    assert_eq!(finished(&client, &sb)["result"], "SUCCESS");
}

// ---- input: who may answer ----

#[test]
fn a_user_outside_the_submitter_list_is_denied_with_400_and_x_error_but_may_abort() {
    let (sb, client) = paused_release();
    let denied = post_as(
        &client,
        &sb,
        &format!("{BUILD}input/Deploy/proceedEmpty"),
        "bob",
        BOB_TOKEN,
    );
    assert_eq!(denied.status(), 400);
    assert_eq!(
        header(&denied, "x-error"),
        Some("You need to be release-team,ALICE to submit this.")
    );
    assert_eq!(
        sandbox_build(&sb, "app/release", 1)["inputs"][0]["outcome"],
        "waiting"
    );
    // Job/Cancel is enough to abort.
    let abort = post_as(
        &client,
        &sb,
        &format!("{BUILD}input/Deploy/abort"),
        "bob",
        BOB_TOKEN,
    );
    assert_eq!(abort.status(), 200);
    let recorded = &sandbox_build(&sb, "app/release", 1)["inputs"][0];
    assert_eq!(recorded["outcome"], "aborted");
    assert_eq!(recorded["by"], "bob");
}

#[test]
fn without_a_submitter_anonymous_needs_job_build_to_answer() {
    let yaml = "speed: 100\nquiet_period: 0s\nanonymous: read\njobs:\n  - path: gate\n    kind: pipeline\n    builds: [{duration: 10s, inputs: [{message: Go?}]}]\n";
    let sb = common::sandbox(yaml);
    let client = client();
    assert_eq!(post(&client, &sb, "/job/gate/build?delay=0").status(), 201);
    // The default id is the message's MD5 hex, capitalized.
    let id = "85d331cd9d13171db00815ee37c756b7";
    wait_for(Duration::from_secs(10), "the pause", || {
        let response = get(&client, &sb, "/job/gate/1/wfapi/nextPendingInputAction");
        (response.status() == 200)
            .then(|| common::json(response))
            .filter(|v| v["id"].is_string())
    });
    let next = get_json(&client, &sb, "/job/gate/1/wfapi/nextPendingInputAction");
    assert_eq!(next["id"], id, "{next}");
    let session = common::client();
    let crumb = session
        .get(format!("{}/crumbIssuer/api/json", sb.url()))
        .send()
        .unwrap();
    let crumb = common::json(crumb)["crumb"].as_str().unwrap().to_string();
    let anonymous = session
        .post(format!("{}/job/gate/1/input/{id}/proceedEmpty", sb.url()))
        .header("Jenkins-Crumb", crumb)
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 400);
    assert_eq!(
        header(&anonymous, "x-error"),
        Some("You need to have Job/Build permissions to submit this.")
    );
    let alice = post(
        &client,
        &sb,
        &format!("/job/gate/1/input/{id}/proceedEmpty"),
    );
    assert_eq!(alice.status(), 200);
}

#[test]
fn input_answers_need_a_crumb_unless_made_with_an_api_token() {
    let (sb, client) = paused_release();
    let with_password = |c: &Client, crumb: Option<&str>| {
        let mut request = c
            .post(format!("{}{BUILD}input/Deploy/proceedEmpty", sb.url()))
            .basic_auth(USER, Some(PASSWORD));
        if let Some(crumb) = crumb {
            request = request.header("Jenkins-Crumb", crumb);
        }
        request.send().unwrap()
    };
    let refused = with_password(&client, None);
    assert_eq!(refused.status(), 403);
    assert_eq!(
        sandbox_build(&sb, "app/release", 1)["inputs"][0]["outcome"],
        "waiting"
    );
    let session = common::client();
    let crumb = session
        .get(format!("{}/crumbIssuer/api/json", sb.url()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .unwrap();
    let crumb = common::json(crumb)["crumb"].as_str().unwrap().to_string();
    assert_eq!(with_password(&session, Some(&crumb)).status(), 200);
}

#[test]
fn answers_to_a_build_that_never_paused_or_by_get_are_refused() {
    let (sb, client) = paused_release();
    let by_get = get(&client, &sb, &format!("{BUILD}input/Deploy/proceedEmpty"));
    assert_eq!(by_get.status(), 405);
    assert_eq!(get(&client, &sb, &format!("{BUILD}input/")).status(), 200);
    assert_eq!(
        get(&client, &sb, &format!("{BUILD}input/Deploy/")).status(),
        200
    );
    assert_eq!(
        get(&client, &sb, &format!("{BUILD}input/Other/")).status(),
        404
    );
    let plain = common::sandbox(
        "speed: 100\nquiet_period: 0s\njobs: [{path: p, kind: pipeline, builds: [{duration: 1h}]}]\n",
    );
    assert_eq!(post(&client, &plain, "/job/p/build?delay=0").status(), 201);
    wait_for(Duration::from_secs(10), "the build", || {
        (get(&client, &plain, "/job/p/1/api/json").status() == 200).then_some(())
    });
    assert_eq!(get(&client, &plain, "/job/p/1/input/").status(), 404);
    assert_eq!(
        post(&client, &plain, "/job/p/1/input/X/proceedEmpty").status(),
        404
    );
    let run = get_json(&client, &plain, "/job/p/1/wfapi/describe");
    assert_eq!(run["status"], "IN_PROGRESS");
    assert_eq!(
        get_json(&client, &plain, "/job/p/1/wfapi/nextPendingInputAction"),
        Value::Null
    );
}

#[test]
fn stopping_a_paused_build_ends_it_aborted_and_settles_its_input() {
    let (sb, client) = paused_release();
    let response = post(&client, &sb, &format!("{BUILD}stop"));
    assert_eq!(response.status(), 302);
    assert_eq!(finished(&client, &sb)["result"], "ABORTED");
    let input = &sandbox_build(&sb, "app/release", 1)["inputs"][0];
    assert_eq!(input["outcome"], "aborted");
    assert_eq!(input["by"], "alice");
    assert_eq!(
        post(&client, &sb, &format!("{BUILD}input/Deploy/proceedEmpty")).status(),
        404
    );
}

#[test]
fn inputs_are_validated_in_the_sandbox_config() {
    let bad = |inputs: &str, kind: &str| {
        let yaml = format!(
            "jobs:\n  - path: j\n    kind: {kind}\n    builds: [{{duration: 10s, inputs: {inputs}}}]\n"
        );
        jrun::sandbox::SandboxConfig::parse(&yaml, "sb.yaml")
            .err()
            .map(|e| e.to_string())
    };
    let late = bad("[{message: m, at: 11s}]", "pipeline").expect("error");
    assert!(late.contains("after the build's duration"), "{late}");
    let twice = bad("[{id: a, message: m}, {id: A, message: n}]", "pipeline").expect("error");
    assert!(twice.contains("`A` is declared twice"), "{twice}");
    let unsafe_id = bad("[{id: 'a/b', message: m}]", "pipeline").expect("error");
    assert!(unsafe_id.contains("contains `/`"), "{unsafe_id}");
    let choice = bad(
        "[{message: m, parameters: [{name: C, type: choice}]}]",
        "pipeline",
    )
    .expect("error");
    assert!(choice.contains("needs `choices`"), "{choice}");
    let freestyle = bad("[{message: m}]", "freestyle").expect("error");
    assert!(freestyle.contains("kind: pipeline"), "{freestyle}");
    assert_eq!(
        bad("[{id: 'ok-1.x~', message: m, at: 10s}]", "pipeline"),
        None
    );
}

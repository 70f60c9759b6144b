//! The sandbox's trigger endpoints (`build`, `buildWithParameters`) and its queue, pinned to
//! what a real Jenkins answers (research doc sections 2 and 3): status codes, `Location`,
//! folding of duplicate triggers, `delay` and quiet periods, the stages of a queue item and
//! their JSON, left items that lose their executable for a moment and then expire, and cancel.

use crate::common;

use std::time::Duration;

use common::{
    TOKEN, USER, client, control, get, get_json, json, post, queue_id, sandbox, wait_for,
};
use jrun::sandbox::Sandbox;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(10);

/// `a=b&c=d` the way an HTML form (and most clients) encode it: space as `+`.
fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The same with every reserved byte as `%XX`, space as `%20`.
fn query_percent(pairs: &[(&str, &str)]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn post_form(client: &Client, sb: &Sandbox, path: &str, form: &[(&str, &str)]) -> Response {
    client
        .post(format!("{}{path}", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .form(form)
        .send()
        .expect("request")
}

fn anonymous_get(client: &Client, sb: &Sandbox, path: &str) -> Response {
    client
        .get(format!("{}{path}", sb.url()))
        .send()
        .expect("request")
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .expect("ascii")
        .to_string()
}

fn item(client: &Client, sb: &Sandbox, id: u64) -> Value {
    get_json(client, sb, &format!("/queue/item/{id}/api/json"))
}

fn item_status(client: &Client, sb: &Sandbox, id: u64) -> u16 {
    get(client, sb, &format!("/queue/item/{id}/api/json"))
        .status()
        .as_u16()
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// Sandbox time in epoch ms.
fn now(sb: &Sandbox) -> i64 {
    control(sb, "GET", "time", Value::Null)["now_ms"]
        .as_i64()
        .expect("now_ms")
}

fn action<'a>(object: &'a Value, class: &str) -> &'a Value {
    object["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["_class"] == class)
        .unwrap_or_else(|| panic!("no {class} in {object}"))
}

/// `[name, value]` pairs of a queue item's or a build's ParametersAction.
fn parameters(object: &Value) -> Vec<(String, Value)> {
    action(object, "hudson.model.ParametersAction")["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().expect("name").to_string(),
                p["value"].clone(),
            )
        })
        .collect()
}

fn causes(object: &Value) -> Value {
    action(object, "hudson.model.CauseAction")["causes"].clone()
}

fn build_json(client: &Client, sb: &Sandbox, job_path: &str, number: u64) -> Value {
    get_json(client, sb, &format!("{job_path}{number}/api/json"))
}

fn assert_no_queue_items(client: &Client, sb: &Sandbox) {
    let queue = get_json(client, sb, "/queue/api/json");
    assert_eq!(queue["items"], json!([]), "{queue}");
}

/// The remaining time of an "In the quiet period. Expires in …" text, in seconds.
fn quiet_seconds_left(why: &str) -> f64 {
    let rest = why
        .strip_prefix("In the quiet period. Expires in ")
        .unwrap_or_else(|| panic!("not a quiet-period text: {why}"));
    let number = rest
        .strip_suffix(" sec")
        .unwrap_or_else(|| panic!("not in seconds: {why}"));
    // `Util.getTimeSpanString` shows one truncated decimal between 1 and 10 seconds, and none
    // when it is zero.
    if let Some((_, decimals)) = number.split_once('.') {
        assert_eq!(decimals.len(), 1, "{why}");
        assert_ne!(decimals, "0", "{why}");
    }
    number
        .parse()
        .unwrap_or_else(|_| panic!("no number in {why}"))
}

const FAST: &str = "speed: 100\nquiet_period: 0s\n";

// ---- /build ----

#[test]
fn build_of_a_plain_job_answers_201_with_an_empty_body_and_the_queue_item_location() {
    let sb = sandbox(&format!("{FAST}jobs:\n  - path: plain\n"));
    let c = client();
    let response = post(&c, &sb, "/job/plain/build");
    assert_eq!(response.status(), 201);
    assert_eq!(location(&response), format!("{}/queue/item/1/", sb.url()));
    // A bare redirect carries none of the API headers.
    assert!(response.headers().get("x-jenkins").is_none());
    assert_eq!(response.text().unwrap(), "");
}

#[test]
fn location_reflects_the_request_host_while_url_fields_use_the_root_url() {
    let sb = sandbox(&format!(
        "{FAST}root_url: https://ci.example.com/\njobs:\n  - path: plain\n    quiet_period: 1h\n"
    ));
    let c = client();
    let response = c
        .post(format!("{}/job/plain/build", sb.url()))
        .header("host", "proxy.internal:8080")
        .basic_auth(USER, Some(TOKEN))
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        location(&response),
        "http://proxy.internal:8080/queue/item/1/"
    );
    let item = item(&c, &sb, 1);
    assert_eq!(item["task"]["url"], "https://ci.example.com/job/plain/");
    assert_eq!(item["url"], "queue/item/1/");
}

#[test]
fn a_second_build_of_a_queued_plain_job_folds_into_the_same_item_with_201() {
    let sb = sandbox("speed: 100\nquiet_period: 1h\njobs:\n  - path: plain\n");
    let c = client();
    let first = post(&c, &sb, "/job/plain/build");
    let second = post(&c, &sb, "/job/plain/build");
    assert_eq!(first.status(), 201);
    // JENKINS-66105 left /build at 201 even when nothing new was queued.
    assert_eq!(second.status(), 201);
    assert_eq!(location(&first), location(&second));
    let queue = get_json(&c, &sb, "/queue/api/json");
    assert_eq!(queue["items"].as_array().unwrap().len(), 1);
}

#[test]
fn build_of_a_parameterized_job_without_parameters_is_400_nothing_is_submitted() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: p\n    parameters: [{{name: X}}]\n"
    ));
    let c = client();
    let response = post(&c, &sb, "/job/p/build");
    assert_eq!(response.status(), 400);
    assert!(response.text().unwrap().contains("Nothing is submitted"));
    assert_no_queue_items(&c, &sb);
}

#[test]
fn build_of_a_parameterized_job_with_only_delay_is_400_expects_a_form_submission() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: p\n    parameters: [{{name: X}}]\n"
    ));
    let c = client();
    let response = post(&c, &sb, "/job/p/build?delay=0sec");
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .unwrap()
            .contains("This page expects a form submission")
    );
    assert_no_queue_items(&c, &sb);
}

#[test]
fn get_build_of_a_parameterized_job_is_405_and_queues_nothing() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: p\n    parameters: [{{name: X}}]\n"
    ));
    let c = client();
    let response = get(&c, &sb, "/job/p/build");
    assert_eq!(response.status(), 405);
    assert!(response.headers().get("location").is_none());
    assert_no_queue_items(&c, &sb);
}

#[test]
fn get_build_of_a_plain_job_is_405_with_allow_post() {
    let sb = sandbox(&format!("{FAST}jobs:\n  - path: plain\n"));
    let c = client();
    let response = get(&c, &sb, "/job/plain/build");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert!(response.text().unwrap().contains("This URL requires POST"));
    let response = get(&c, &sb, "/job/plain/buildWithParameters");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_no_queue_items(&c, &sb);
}

#[test]
fn triggering_a_disabled_job_is_409_not_buildable_with_its_full_name() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: team/off\n    disabled: true\n  - path: team/offp\n    disabled: true\n    parameters: [{{name: X}}]\n"
    ));
    let c = client();
    for path in [
        "/job/team/job/off/build",
        "/job/team/job/offp/buildWithParameters?X=1",
    ] {
        let response = post(&c, &sb, path);
        assert_eq!(response.status(), 409, "{path}");
        let full_name = if path.contains("offp") {
            "team/offp"
        } else {
            "team/off"
        };
        let body = response.text().unwrap();
        assert!(
            body.contains(&format!("{full_name} is not buildable")),
            "{body}"
        );
    }
    assert_no_queue_items(&c, &sb);
}

#[test]
fn triggering_an_unknown_job_is_404() {
    let sb = sandbox(&format!("{FAST}jobs:\n  - path: team/known\n"));
    let c = client();
    for path in [
        "/job/nope/build",
        "/job/nope/buildWithParameters?X=1",
        "/job/team/job/nope/build",
        "/job/nope/job/known/build",
    ] {
        assert_eq!(post(&c, &sb, path).status(), 404, "{path}");
    }
    assert_no_queue_items(&c, &sb);
}

#[test]
fn build_with_a_json_form_field_answers_201_pointing_at_the_job_page() {
    let sb =
        sandbox("speed: 100\nquiet_period: 1h\njobs:\n  - path: p\n    parameters: [{name: X}]\n");
    let c = client();
    let form = [("json", r#"{"parameter":[{"name":"X","value":"v"}]}"#)];
    let response = post_form(&c, &sb, "/job/p/build", &form);
    assert_eq!(response.status(), 201);
    // Without `redirectTo` the Location is the job page, not the queue item (§2.5).
    assert_eq!(location(&response), format!("{}/job/p/", sb.url()));
    let again = post_form(&c, &sb, "/job/p/build", &form);
    assert_eq!(again.status(), 302);
    assert_eq!(location(&again), format!("{}/job/p/", sb.url()));
    let queue = get_json(&c, &sb, "/queue/api/json");
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["params"], "\nX=v");
}

// ---- /buildWithParameters ----

#[test]
fn build_with_parameters_answers_201_then_303_with_the_same_location_while_queued() {
    let sb =
        sandbox("speed: 100\nquiet_period: 1h\njobs:\n  - path: p\n    parameters: [{name: X}]\n");
    let c = client();
    let first = post(&c, &sb, "/job/p/buildWithParameters?X=1");
    assert_eq!(first.status(), 201);
    assert_eq!(location(&first), format!("{}/queue/item/1/", sb.url()));
    assert_eq!(first.text().unwrap(), "");
    let same = post(&c, &sb, "/job/p/buildWithParameters?X=1");
    assert_eq!(same.status(), 303);
    assert_eq!(location(&same), format!("{}/queue/item/1/", sb.url()));
    let other = post(&c, &sb, "/job/p/buildWithParameters?X=2");
    assert_eq!(other.status(), 201);
    assert_eq!(location(&other), format!("{}/queue/item/2/", sb.url()));
    // The folded trigger's cause is folded into the existing item, not queued again.
    let first_item = item(&c, &sb, 1);
    assert_eq!(first_item["params"], "\nX=1");
    assert_eq!(
        get_json(&c, &sb, "/queue/api/json")["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn before_2_308_a_folded_build_with_parameters_answers_201() {
    let sb = sandbox(
        "speed: 100\nquiet_period: 1h\nversion: \"2.300\"\njobs:\n  - path: p\n    parameters: [{name: X}]\n",
    );
    let c = client();
    let first = post(&c, &sb, "/job/p/buildWithParameters?X=1");
    let same = post(&c, &sb, "/job/p/buildWithParameters?X=1");
    assert_eq!(first.status(), 201);
    assert_eq!(same.status(), 201);
    assert_eq!(location(&first), location(&same));
}

#[test]
fn build_with_parameters_of_a_plain_job_is_400_not_parameterized() {
    let sb = sandbox(&format!("{FAST}jobs:\n  - path: team/plain\n"));
    let c = client();
    let response = post(&c, &sb, "/job/team/job/plain/buildWithParameters?X=1");
    assert_eq!(response.status(), 400);
    let body = response.text().unwrap();
    assert!(body.contains("team/plain is not parameterized"), "{body}");
    assert_no_queue_items(&c, &sb);
}

#[test]
fn before_2_524_build_with_parameters_of_a_plain_job_is_500() {
    let sb = sandbox(&format!(
        "{FAST}version: \"2.500\"\njobs:\n  - path: plain\n"
    ));
    let c = client();
    let response = post(&c, &sb, "/job/plain/buildWithParameters?X=1");
    assert_eq!(response.status(), 500);
    let body = response.text().unwrap();
    assert!(body.contains("This build is not parameterized"), "{body}");
    assert_no_queue_items(&c, &sb);
}

#[test]
fn an_illegal_choice_value_is_500_and_queues_nothing() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: c\n    parameters: [{{name: REGION, type: choice, choices: [EU, US]}}]\n"
    ));
    let c = client();
    let response = post(&c, &sb, "/job/c/buildWithParameters?REGION=MARS");
    assert_eq!(response.status(), 500);
    let body = response.text().unwrap();
    assert!(
        body.contains("Illegal choice for parameter REGION: MARS"),
        "{body}"
    );
    assert_no_queue_items(&c, &sb);
    let ok = post(&c, &sb, "/job/c/buildWithParameters?REGION=US");
    assert_eq!(ok.status(), 201);
}

#[test]
fn a_parameter_given_twice_is_500() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: p\n    parameters: [{{name: X}}]\n"
    ));
    let c = client();
    let response = post(&c, &sb, "/job/p/buildWithParameters?X=1&X=2");
    assert_eq!(response.status(), 500);
    assert_no_queue_items(&c, &sb);
}

#[test]
fn undeclared_parameters_are_ignored_and_defaults_fill_in_the_rest() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: p\n    parameters:\n      - {{name: X, default: dx}}\n      - {{name: FLAG, type: boolean, default: true}}\n      - {{name: REGION, type: choice, choices: [EU, US]}}\n      - {{name: NOTE, type: text, default: \"two\\nlines\"}}\n"
    ));
    let c = client();
    let response = post(
        &c,
        &sb,
        "/job/p/buildWithParameters?X=given&EXTRA=1&delay=0sec",
    );
    assert_eq!(response.status(), 201);
    let id = queue_id(&response);
    let number = common::build_number_of(&c, &sb, id);
    let build = build_json(&c, &sb, "/job/p/", number);
    let expected = vec![
        ("X".to_string(), json!("given")),
        ("FLAG".to_string(), json!(true)),
        ("REGION".to_string(), json!("EU")),
        ("NOTE".to_string(), json!("two\nlines")),
    ];
    assert_eq!(parameters(&build), expected);
    let action = action(&build, "hudson.model.ParametersAction");
    let classes: Vec<&Value> = action["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["_class"])
        .collect();
    assert_eq!(
        classes,
        [
            "hudson.model.StringParameterValue",
            "hudson.model.BooleanParameterValue",
            "hudson.model.StringParameterValue",
            "hudson.model.TextParameterValue",
        ]
    );
    let left = item(&c, &sb, id);
    assert_eq!(parameters(&left), expected);
    assert_eq!(
        left["params"],
        "\nX=given\nFLAG=true\nREGION=EU\nNOTE=two\nlines"
    );
}

#[test]
fn boolean_parameters_are_true_only_for_the_word_true() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: b\n    parameters: [{{name: F, type: boolean, default: true}}]\n"
    ));
    let c = client();
    for (given, expected) in [("TRUE", true), ("yes", false), ("1", false), ("", false)] {
        let response = post(
            &c,
            &sb,
            &format!("/job/b/buildWithParameters?{}", query(&[("F", given)])),
        );
        let id = queue_id(&response);
        assert_eq!(
            parameters(&item(&c, &sb, id)),
            [("F".to_string(), json!(expected))],
            "F={given}"
        );
    }
}

/// Values that break naive encoding or decoding: separators, quotes, `+`, `%`, non-ASCII.
const AWKWARD: [(&str, &str); 7] = [
    ("SPACES", "two  words "),
    ("SEPARATORS", "a&b=c&d"),
    ("QUOTES", r#"say "hi" it's"#),
    ("PLUS", "1+1 = 2"),
    ("PERCENT", "100% %41 %zz"),
    ("UNICODE", "naïve 日本語 ✓ 🚀"),
    ("SLASHES", "a/b\\c?d#e"),
];

fn awkward_job() -> String {
    let params: Vec<String> = AWKWARD
        .iter()
        .map(|(name, _)| format!("{{name: {name}}}"))
        .collect();
    format!(
        "{FAST}jobs:\n  - path: p\n    parameters: [{}]\n",
        params.join(", ")
    )
}

/// Reads the values back from the queue item (actions and `params`) and from the build.
fn assert_awkward_values_arrived(c: &Client, sb: &Sandbox, response: Response) {
    assert_eq!(response.status(), 201);
    let id = queue_id(&response);
    let expected: Vec<(String, Value)> = AWKWARD
        .iter()
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    let number = common::build_number_of(c, sb, id);
    let left = item(c, sb, id);
    assert_eq!(parameters(&left), expected);
    let text: String = AWKWARD.iter().map(|(n, v)| format!("\n{n}={v}")).collect();
    assert_eq!(left["params"], text);
    let build = build_json(c, sb, "/job/p/", number);
    assert_eq!(parameters(&build), expected);
}

#[test]
fn parameter_values_arrive_byte_for_byte_from_the_query_string() {
    let sb = sandbox(&awkward_job());
    let c = client();
    let plus_encoded = post(
        &c,
        &sb,
        &format!("/job/p/buildWithParameters?{}", query(&AWKWARD)),
    );
    assert_awkward_values_arrived(&c, &sb, plus_encoded);
    let percent_encoded = post(
        &c,
        &sb,
        &format!("/job/p/buildWithParameters?{}", query_percent(&AWKWARD)),
    );
    assert_awkward_values_arrived(&c, &sb, percent_encoded);
}

#[test]
fn parameter_values_arrive_byte_for_byte_from_a_form_body() {
    let sb = sandbox(&awkward_job());
    let c = client();
    let response = post_form(&c, &sb, "/job/p/buildWithParameters", &AWKWARD);
    assert_awkward_values_arrived(&c, &sb, response);
}

#[test]
fn query_and_form_parameters_both_count() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: p\n    parameters: [{{name: A}}, {{name: B}}]\n"
    ));
    let c = client();
    let response = post_form(
        &c,
        &sb,
        "/job/p/buildWithParameters?A=from+query",
        &[("B", "from form")],
    );
    assert_eq!(response.status(), 201);
    let item = item(&c, &sb, queue_id(&response));
    assert_eq!(item["params"], "\nA=from query\nB=from form");
}

// ---- folders ----

#[test]
fn a_job_in_a_folder_with_spaces_is_reached_through_encoded_segments() {
    let sb = sandbox(
        "speed: 100\nquiet_period: 1h\njobs:\n  - path: team folder/sub job\n    parameters: [{name: X}]\n",
    );
    let c = client();
    let response = post(
        &c,
        &sb,
        "/job/team%20folder/job/sub%20job/buildWithParameters?X=1",
    );
    assert_eq!(response.status(), 201);
    let id = queue_id(&response);
    let item = item(&c, &sb, id);
    let job_url = format!("{}/job/team%20folder/job/sub%20job/", sb.url());
    assert_eq!(
        item["task"],
        json!({
            "_class": "hudson.model.FreeStyleProject",
            "name": "sub job",
            "url": job_url,
            "color": "notbuilt",
        })
    );
    // Stapler decodes each segment, so over-encoding reaches the same job and folds.
    let over = post(
        &c,
        &sb,
        "/job/team%20folder/job/%73ub%20job/buildWithParameters?X=1",
    );
    assert_eq!(over.status(), 303);
    assert_eq!(queue_id(&over), id);
    let job = get_json(&c, &sb, "/job/team%20folder/job/sub%20job/api/json");
    assert_eq!(job["fullName"], "team folder/sub job");
    assert_eq!(job["url"], job_url);
    let folder = get_json(&c, &sb, "/job/team%20folder/api/json");
    assert_eq!(folder["url"], format!("{}/job/team%20folder/", sb.url()));

    let now_please = post(
        &c,
        &sb,
        "/job/team%20folder/job/sub%20job/buildWithParameters?X=2&delay=0sec",
    );
    let number = common::build_number_of(&c, &sb, queue_id(&now_please));
    let build = build_json(&c, &sb, "/job/team%20folder/job/sub%20job/", number);
    assert_eq!(build["url"], format!("{job_url}{number}/"));
    assert_eq!(
        build["fullDisplayName"],
        format!("team folder » sub job #{number}")
    );
}

// ---- remote trigger token ----

#[test]
fn a_wrong_token_is_403_invalid_token_even_for_a_user_who_may_build() {
    let sb = sandbox(&format!(
        "{FAST}anonymous: read\njobs:\n  - path: t\n    token: secret\n  - path: tp\n    token: secret\n    parameters: [{{name: X}}]\n"
    ));
    let c = client();
    for path in [
        "/job/t/build?token=wrong",
        "/job/tp/buildWithParameters?token=wrong&X=1",
    ] {
        let response = post(&c, &sb, path);
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.text().unwrap().contains("Invalid token provided."));
        let response = anonymous_get(&c, &sb, path);
        assert_eq!(response.status(), 403, "anonymous {path}");
        assert!(response.text().unwrap().contains("Invalid token provided."));
    }
    assert_no_queue_items(&c, &sb);
}

#[test]
fn the_right_token_lets_an_anonymous_get_trigger_with_a_remote_cause() {
    let sb = sandbox(
        "speed: 100\nquiet_period: 1h\nanonymous: read\njobs:\n  - path: t\n    token: secret\n  - path: tp\n    token: secret\n    parameters: [{name: X}]\n",
    );
    let c = client();
    let response = anonymous_get(&c, &sb, "/job/t/build?token=secret");
    assert_eq!(response.status(), 201);
    assert_eq!(location(&response), format!("{}/queue/item/1/", sb.url()));
    let item1 = get_json(&c, &sb, "/queue/item/1/api/json");
    assert_eq!(
        causes(&item1),
        json!([{
            "_class": "hudson.model.Cause$RemoteCause",
            "shortDescription": "Started by remote host 127.0.0.1",
            "addr": "127.0.0.1",
            "note": null,
        }])
    );
    let response = anonymous_get(
        &c,
        &sb,
        "/job/tp/buildWithParameters?token=secret&X=1&cause=nightly+deploy",
    );
    assert_eq!(response.status(), 201);
    let item2 = item(&c, &sb, queue_id(&response));
    assert_eq!(
        causes(&item2)[0]["shortDescription"],
        "Started by remote host 127.0.0.1 with note: nightly deploy"
    );
    assert_eq!(item2["params"], "\nX=1");
}

#[test]
fn without_a_token_an_anonymous_reader_cannot_trigger_and_a_token_post_needs_a_crumb() {
    let sb = sandbox(&format!(
        "{FAST}anonymous: read\njobs:\n  - path: t\n    token: secret\n"
    ));
    let c = client();
    let response = anonymous_get(&c, &sb, "/job/t/build");
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-you-are-authenticated-as"],
        "anonymous"
    );
    // Anonymous POSTs are not exempt from CSRF, even with the right token (§2.6).
    let response = c
        .post(format!("{}/job/t/build?token=secret", sb.url()))
        .send()
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .unwrap()
            .contains("No valid crumb was included in the request")
    );
    assert_no_queue_items(&c, &sb);
}

#[test]
fn a_user_trigger_of_a_job_with_a_token_needs_no_token_and_gets_a_user_cause() {
    let sb = sandbox(
        "speed: 100\nquiet_period: 1h\njobs:\n  - path: t\n    token: secret\n  - path: plain\n",
    );
    let c = client();
    let response = post(&c, &sb, "/job/t/build");
    assert_eq!(response.status(), 201);
    // A job without a token ignores the parameter.
    let ignored = post(&c, &sb, "/job/plain/build?token=anything");
    assert_eq!(ignored.status(), 201);
    for id in [queue_id(&response), queue_id(&ignored)] {
        assert_eq!(
            causes(&item(&c, &sb, id)),
            json!([{
                "_class": "hudson.model.Cause$UserIdCause",
                "shortDescription": "Started by user alice",
                "userId": "alice",
                "userName": "alice",
            }])
        );
    }
}

// ---- delay and quiet period ----

#[test]
fn a_bare_delay_is_milliseconds_and_sec_means_seconds() {
    // A real-time clock, so that the waiting items stay put while we read them.
    let sb =
        sandbox("speed: 1\nquiet_period: 1h\njobs:\n  - path: p\n    parameters: [{name: X}]\n");
    let c = client();
    for (x, delay, wait_ms) in [
        ("a", "3000", 3_000),
        ("b", "3sec", 3_000),
        ("c", "3secs", 3_000),
        // Queue.schedule2 takes whole seconds.
        ("d", "3999", 3_000),
    ] {
        let response = post(
            &c,
            &sb,
            &format!("/job/p/buildWithParameters?X={x}&delay={delay}"),
        );
        assert_eq!(response.status(), 201);
        let item = item(&c, &sb, queue_id(&response));
        assert_eq!(item["_class"], "hudson.model.Queue$WaitingItem", "{delay}");
        let since = item["inQueueSince"].as_i64().unwrap();
        let due = item["timestamp"].as_i64().unwrap();
        assert!(
            (wait_ms..wait_ms + 50).contains(&(due - since)),
            "delay={delay}: due {} ms after queueing",
            due - since
        );
        let left = quiet_seconds_left(item["why"].as_str().unwrap());
        assert!(
            (2.0..=3.0).contains(&left),
            "delay={delay}: {}",
            item["why"]
        );
    }
    // Ten milliseconds are no quiet period at all.
    let response = post(&c, &sb, "/job/p/buildWithParameters?X=e&delay=10");
    let id = queue_id(&response);
    let started = item(&c, &sb, id);
    assert_eq!(
        started["_class"], "hudson.model.Queue$LeftItem",
        "{started}"
    );
}

#[test]
fn without_delay_the_job_quiet_period_applies_else_the_global_one() {
    let sb = sandbox(
        "speed: 1\nquiet_period: 7s\njobs:\n  - path: own\n    quiet_period: 2s\n  - path: global\n",
    );
    let c = client();
    for (job, wait_ms) in [("own", 2_000), ("global", 7_000)] {
        let response = post(&c, &sb, &format!("/job/{job}/build"));
        let item = item(&c, &sb, queue_id(&response));
        let wait = item["timestamp"].as_i64().unwrap() - item["inQueueSince"].as_i64().unwrap();
        assert!((wait_ms..wait_ms + 50).contains(&wait), "{job}: {wait} ms");
        let left = quiet_seconds_left(item["why"].as_str().unwrap());
        let max = wait_ms as f64 / 1000.0;
        assert!((max - 1.0..=max).contains(&left), "{job}: {}", item["why"]);
    }
    // `delay=0sec` folds into the waiting item and ends its quiet period now.
    let response = post(&c, &sb, "/job/global/build?delay=0sec");
    assert_eq!(response.status(), 201);
    let id = queue_id(&response);
    assert_eq!(id, 2, "folded into the waiting item");
    assert_eq!(common::build_number_of(&c, &sb, id), 1);
}

#[test]
fn a_folded_trigger_moves_the_due_time_to_the_earlier_one() {
    let sb = sandbox("speed: 1\nquiet_period: 1h\njobs:\n  - path: plain\n");
    let c = client();
    let first = post(&c, &sb, "/job/plain/build");
    let id = queue_id(&first);
    let before = item(&c, &sb, id);
    let since = before["inQueueSince"].as_i64().unwrap();
    assert_eq!(before["timestamp"].as_i64().unwrap() - since, 3_600_000);
    let folded = post(&c, &sb, "/job/plain/build?delay=30sec");
    assert_eq!(queue_id(&folded), id);
    let after = item(&c, &sb, id);
    let due = after["timestamp"].as_i64().unwrap();
    assert!((since + 30_000..since + 31_000).contains(&due), "{after}");
    // A later due time does not push it back.
    post(&c, &sb, "/job/plain/build?delay=600sec");
    assert_eq!(item(&c, &sb, id)["timestamp"].as_i64().unwrap(), due);
}

// ---- the stages of a queue item ----

#[test]
fn a_waiting_item_shows_every_common_field_in_stapler_order() {
    let sb =
        sandbox("speed: 100\nquiet_period: 1h\njobs:\n  - path: p\n    parameters: [{name: X}]\n");
    let c = client();
    post(&c, &sb, "/job/p/buildWithParameters?X=1");
    let item = item(&c, &sb, 1);
    assert_eq!(
        keys(&item),
        [
            "_class",
            "actions",
            "blocked",
            "buildable",
            "id",
            "inQueueSince",
            "params",
            "stuck",
            "task",
            "url",
            "why",
            "timestamp"
        ]
    );
    assert_eq!(item["_class"], "hudson.model.Queue$WaitingItem");
    assert_eq!(item["blocked"], false);
    assert_eq!(item["buildable"], false);
    assert_eq!(item["stuck"], false);
    assert_eq!(item["id"], 1);
    assert_eq!(item["url"], "queue/item/1/");
    assert_eq!(item["params"], "\nX=1");
    assert_eq!(
        item["actions"],
        json!([
            {
                "_class": "hudson.model.ParametersAction",
                "parameters": [{"_class": "hudson.model.StringParameterValue", "name": "X", "value": "1"}],
            },
            {
                "_class": "hudson.model.CauseAction",
                "causes": [{
                    "_class": "hudson.model.Cause$UserIdCause",
                    "shortDescription": "Started by user alice",
                    "userId": "alice",
                    "userName": "alice",
                }],
            },
        ])
    );
    assert_eq!(
        item["task"],
        json!({
            "_class": "hudson.model.FreeStyleProject",
            "name": "p",
            "url": format!("{}/job/p/", sb.url()),
            "color": "notbuilt",
        })
    );
    let why = item["why"].as_str().unwrap();
    assert!(why.starts_with("In the quiet period. Expires in "), "{why}");
    assert!(item["timestamp"].as_i64().unwrap() > item["inQueueSince"].as_i64().unwrap());
}

#[test]
fn a_jobs_queue_item_shows_its_own_fields_but_neither_actions_nor_task_color() {
    let sb =
        sandbox("speed: 100\nquiet_period: 1h\njobs:\n  - path: p\n    parameters: [{name: X}]\n");
    let c = client();
    let id = queue_id(&post(&c, &sb, "/job/p/buildWithParameters?X=1"));
    // One level down, `Queue.Item`'s own fields (visibility 999) show, `actions` (1) does not,
    // and in its task two levels down only `name` and `url` (999) do, not `color` (2).
    let job = get_json(&c, &sb, "/job/p/api/json");
    let queued = &job["queueItem"];
    assert_eq!(
        keys(queued),
        [
            "_class",
            "blocked",
            "buildable",
            "id",
            "inQueueSince",
            "params",
            "stuck",
            "task",
            "url",
            "why",
            "timestamp"
        ]
    );
    assert_eq!(queued["id"], id);
    assert_eq!(
        queued["task"],
        json!({"_class": "hudson.model.FreeStyleProject", "name": "p", "url": format!("{}/job/p/", sb.url())})
    );
    // A tree names them, whatever their visibility.
    let treed = get_json(
        &c,
        &sb,
        "/job/p/api/json?tree=queueItem[actions[parameters[value]],task[color]]",
    );
    assert_eq!(
        treed["queueItem"],
        json!({
            "_class": "hudson.model.Queue$WaitingItem",
            "actions": [
                {"_class": "hudson.model.ParametersAction", "parameters": [{"_class": "hudson.model.StringParameterValue", "value": "1"}]},
                {"_class": "hudson.model.CauseAction"},
            ],
            "task": {"_class": "hudson.model.FreeStyleProject", "color": "notbuilt"},
        })
    );
}

#[test]
fn the_queue_lists_items_with_their_actions_and_at_depth_1_each_task_whole() {
    let sb = sandbox(
        "speed: 100\nquiet_period: 1h\njobs:\n  - path: p\n    parameters: [{name: X}]\n    history: [{}]\n",
    );
    let c = client();
    let id = queue_id(&post(&c, &sb, "/job/p/buildWithParameters?X=1"));
    // `items` is inline: its items are at the queue's own level, so their actions show.
    let queue = get_json(&c, &sb, "/queue/api/json");
    assert_eq!(queue["items"][0]["actions"], item(&c, &sb, id)["actions"]);
    assert_eq!(
        keys(&queue["items"][0]["task"]),
        ["_class", "name", "url", "color"]
    );

    let deep = get_json(&c, &sb, "/queue/api/json?depth=1");
    let task = &deep["items"][0]["task"];
    assert_eq!(task["fullName"], "p");
    assert_eq!(task["nextBuildNumber"], 2);
    assert_eq!(
        task["lastBuild"],
        json!({"_class": "hudson.model.FreeStyleBuild", "number": 1, "url": format!("{}/job/p/1/", sb.url())})
    );
    assert_eq!(task["queueItem"]["id"], id);
    let item_deep = get_json(&c, &sb, &format!("/queue/item/{id}/api/json?depth=1"));
    assert_eq!(item_deep["task"]["fullName"], "p");
}

#[test]
fn a_non_concurrent_job_blocks_its_next_item_behind_the_running_build() {
    let sb = sandbox(&format!(
        "{FAST}executors: 3\njobs:\n  - path: unknown\n    builds: [{{duration: 10m}}]\n  - path: estimated\n    estimated_duration: 1h\n    builds: [{{duration: 10m}}]\n  - path: overdue\n    estimated_duration: 1s\n    builds: [{{duration: 10m}}]\n"
    ));
    let c = client();
    let mut blocked = Vec::new();
    for job in ["unknown", "estimated", "overdue"] {
        let first = post(&c, &sb, &format!("/job/{job}/build"));
        assert_eq!(common::build_number_of(&c, &sb, queue_id(&first)), 1);
        // The first item has left, so this is a new item, not a folded one.
        let second = post(&c, &sb, &format!("/job/{job}/build"));
        assert_ne!(queue_id(&second), queue_id(&first));
        blocked.push((job, queue_id(&second)));
    }
    let unknown = item(&c, &sb, blocked[0].1);
    assert_eq!(
        keys(&unknown)[..11],
        [
            "_class",
            "actions",
            "blocked",
            "buildable",
            "id",
            "inQueueSince",
            "params",
            "stuck",
            "task",
            "url",
            "why"
        ]
    );
    assert_eq!(keys(&unknown)[11..], ["buildableStartMilliseconds"]);
    assert_eq!(unknown["_class"], "hudson.model.Queue$BlockedItem");
    assert_eq!(unknown["blocked"], true);
    assert_eq!(unknown["buildable"], false);
    assert_eq!(unknown["why"], "Build #1 is already in progress (ETA: N/A)");
    assert_eq!(unknown["task"]["color"], "notbuilt_anime");

    let estimated = item(&c, &sb, blocked[1].1);
    let why = estimated["why"].as_str().unwrap();
    assert!(
        why == "Build #1 is already in progress (ETA: 59 min)"
            || why == "Build #1 is already in progress (ETA: 58 min)",
        "{why}"
    );
    // A build past its estimate has no remaining time to show.
    let started = build_json(&c, &sb, "/job/overdue/", 1)["timestamp"]
        .as_i64()
        .unwrap();
    wait_for(LIMIT, "the estimate to pass", || {
        (now(&sb) > started + 1_000).then_some(())
    });
    let overdue = item(&c, &sb, blocked[2].1);
    assert_eq!(overdue["why"], "Build #1 is already in progress (ETA: N/A)");

    // Once #1 ends the blocked item runs as #2.
    control(&sb, "POST", "clock", json!({"speed": 10_000}));
    assert_eq!(common::build_number_of(&c, &sb, blocked[0].1), 2);
}

#[test]
fn with_every_executor_busy_the_item_is_buildable_and_waits_for_one() {
    let sb = sandbox(&format!(
        "{FAST}executors: 1\njobs:\n  - path: long\n    builds: [{{duration: 1m}}]\n  - path: next\n"
    ));
    let c = client();
    let long = post(&c, &sb, "/job/long/build");
    assert_eq!(common::build_number_of(&c, &sb, queue_id(&long)), 1);
    let next = post(&c, &sb, "/job/next/build");
    let id = queue_id(&next);
    let waiting = item(&c, &sb, id);
    assert_eq!(
        keys(&waiting)[10..],
        ["why", "buildableStartMilliseconds", "pending"]
    );
    assert_eq!(waiting["_class"], "hudson.model.Queue$BuildableItem");
    assert_eq!(waiting["blocked"], false);
    assert_eq!(waiting["buildable"], true);
    assert_eq!(waiting["pending"], false);
    assert_eq!(waiting["stuck"], false);
    assert_eq!(waiting["why"], "Waiting for next available executor");
    assert!(
        waiting["buildableStartMilliseconds"].as_i64().unwrap()
            >= waiting["inQueueSince"].as_i64().unwrap()
    );
    // A Pipeline needs no executor of its own, so it does not wait behind them.
    control(
        &sb,
        "POST",
        "jobs",
        json!({"path": "flyweight", "kind": "pipeline"}),
    );
    let flyweight = post(&c, &sb, "/job/flyweight/build");
    assert_eq!(
        item(&c, &sb, queue_id(&flyweight))["_class"],
        "hudson.model.Queue$LeftItem"
    );
    assert_eq!(common::build_number_of(&c, &sb, id), 1);
}

#[test]
fn a_started_item_is_a_left_item_with_its_executable() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: free\n  - path: pipe\n    kind: pipeline\n"
    ));
    let c = client();
    for (job, class) in [
        ("free", "hudson.model.FreeStyleBuild"),
        ("pipe", "org.jenkinsci.plugins.workflow.job.WorkflowRun"),
    ] {
        let response = post(&c, &sb, &format!("/job/{job}/build"));
        let id = queue_id(&response);
        let number = common::build_number_of(&c, &sb, id);
        let left = item(&c, &sb, id);
        assert_eq!(
            keys(&left)[10..],
            ["why", "cancelled", "executable"],
            "{left}"
        );
        assert_eq!(left["_class"], "hudson.model.Queue$LeftItem");
        assert_eq!(left["blocked"], false);
        assert_eq!(left["buildable"], false);
        assert_eq!(left["why"], Value::Null);
        assert_eq!(left["cancelled"], false);
        assert_eq!(
            left["executable"],
            json!({
                "_class": class,
                "number": number,
                "url": format!("{}/job/{job}/{number}/", sb.url()),
            })
        );
        let build = build_json(&c, &sb, &format!("/job/{job}/"), number);
        assert_eq!(build["queueId"], id);
    }
}

#[test]
fn a_tree_reaches_any_field_of_a_left_items_build() {
    let sb = sandbox(&format!(
        "{FAST}jobs:\n  - path: free\n    builds: [{{duration: 1h}}]\n"
    ));
    let c = client();
    let id = queue_id(&post(&c, &sb, "/job/free/build"));
    let number = common::build_number_of(&c, &sb, id);
    let build = build_json(&c, &sb, "/job/free/", number);
    let treed = get_json(
        &c,
        &sb,
        &format!(
            "/queue/item/{id}/api/json?tree=inQueueSince,executable[number,timestamp,building]"
        ),
    );
    assert_eq!(
        treed["executable"],
        json!({
            "_class": "hudson.model.FreeStyleBuild",
            "number": number,
            "timestamp": build["timestamp"],
            "building": true,
        }),
        "{treed}"
    );
    // The build is created as it leaves the queue, never before it was queued.
    let queued_for = build["timestamp"].as_i64().unwrap() - treed["inQueueSince"].as_i64().unwrap();
    assert!(queued_for >= 0, "{treed} {build}");
    // At depth 1 the build is whole too; at depth 0 it is the stub shown above.
    let deep = get_json(&c, &sb, &format!("/queue/item/{id}/api/json?depth=1"));
    assert_eq!(deep["executable"]["queueId"], id, "{deep}");
    assert_eq!(deep["executable"]["timestamp"], build["timestamp"]);
}

#[test]
fn a_left_item_shows_no_executable_during_the_executable_delay() {
    let sb = sandbox("speed: 2\nquiet_period: 0s\nexecutable_delay: 1s\njobs:\n  - path: plain\n");
    let c = client();
    let response = post(&c, &sb, "/job/plain/build");
    let id = queue_id(&response);
    let before = now(&sb);
    let starting = item(&c, &sb, id);
    assert_eq!(starting["_class"], "hudson.model.Queue$LeftItem");
    assert_eq!(starting["cancelled"], false);
    assert_eq!(starting["executable"], Value::Null);
    let build = build_json(&c, &sb, "/job/plain/", 1);
    let started = build["timestamp"].as_i64().unwrap();
    assert!(before < started + 1_000, "read after the delay had passed");
    let (number, after) = wait_for(LIMIT, "the executable", || {
        let number = item(&c, &sb, id)["executable"]["number"].as_u64();
        number.map(|n| (n, now(&sb)))
    });
    assert_eq!(number, 1);
    assert!(after >= started + 1_000);
}

#[test]
fn during_the_build_creation_delay_a_left_item_has_no_executable_and_the_job_no_build() {
    let sb =
        sandbox("speed: 2\nquiet_period: 0s\nbuild_creation_delay: 1s\njobs:\n  - path: plain\n");
    let c = client();
    let response = post(&c, &sb, "/job/plain/build");
    let id = queue_id(&response);
    let before = now(&sb);
    let left = item(&c, &sb, id);
    assert_eq!(left["_class"], "hudson.model.Queue$LeftItem", "{left}");
    assert_eq!(left["cancelled"], false, "{left}");
    assert_eq!(left["executable"], Value::Null, "{left}");
    let job = get_json(&c, &sb, "/job/plain/api/json?tree=lastBuild[number]");
    if now(&sb) < before + 1_000 {
        assert_eq!(
            job["lastBuild"],
            Value::Null,
            "a build before the delay: {job}"
        );
    }
    let number = wait_for(LIMIT, "the build to be created", || {
        item(&c, &sb, id)["executable"]["number"].as_u64()
    });
    let build = build_json(&c, &sb, "/job/plain/", number);
    assert_eq!(build["queueId"], id, "{build}");
    let left_at = left["inQueueSince"].as_i64().unwrap();
    assert!(
        build["timestamp"].as_i64().unwrap() >= left_at + 1_000,
        "created before the delay: {build} {left}"
    );
}

#[test]
fn a_build_created_after_its_left_item_was_forgotten_still_carries_its_queue_id() {
    let sb = sandbox(
        "speed: 2\nquiet_period: 0s\nleft_item_ttl: 0s\nbuild_creation_delay: 1s\njobs:\n  - path: plain\n",
    );
    let c = client();
    let response = post(&c, &sb, "/job/plain/build");
    let id = queue_id(&response);
    assert_eq!(item_status(&c, &sb, id), 404);
    let build = wait_for(LIMIT, "the build to be created", || {
        let builds = get_json(&c, &sb, "/job/plain/api/json?tree=builds[number,queueId]");
        builds["builds"].as_array().and_then(|b| b.first().cloned())
    });
    assert_eq!(build["queueId"], id, "{build}");
    // Forgotten for good: the build does not bring its left item back.
    assert_eq!(item_status(&c, &sb, id), 404);
}

#[test]
fn left_items_expire_after_their_ttl_and_then_answer_404() {
    let sb =
        sandbox("speed: 1000\nquiet_period: 0s\nleft_item_ttl: 300s\njobs:\n  - path: plain\n");
    let c = client();
    let response = post(&c, &sb, "/job/plain/build");
    let id = queue_id(&response);
    let number = common::build_number_of(&c, &sb, id);
    let left_at = build_json(&c, &sb, "/job/plain/", number)["timestamp"]
        .as_i64()
        .unwrap();
    let mut seen_alive = 0;
    let expired_by = wait_for(LIMIT, "the left item to expire", || {
        let before = now(&sb);
        let status = item_status(&c, &sb, id);
        let after = now(&sb);
        match status {
            200 => {
                assert!(before < left_at + 300_000, "still there after its TTL");
                seen_alive += 1;
                None
            }
            404 => Some(after),
            other => panic!("unexpected status {other}"),
        }
    });
    assert!(seen_alive > 0, "never saw the left item");
    assert!(expired_by >= left_at + 300_000, "expired before its TTL");
    assert_eq!(get(&c, &sb, &format!("/queue/item/{id}/")).status(), 404);
    // The build itself stays.
    assert_eq!(build_json(&c, &sb, "/job/plain/", number)["queueId"], id);
}

#[test]
fn the_plain_queue_item_url_answers_a_text_hint_since_2_469() {
    let sb = sandbox("speed: 100\nquiet_period: 1h\njobs:\n  - path: plain\n");
    let c = client();
    let id = queue_id(&post(&c, &sb, "/job/plain/build"));
    let response = get(&c, &sb, &format!("/queue/item/{id}/"));
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        response.text().unwrap(),
        format!(
            "Queue item exists. For details check, for example, /queue/item/{id}/api/json?tree=cancelled,executable[url]"
        )
    );
    assert_eq!(get(&c, &sb, "/queue/item/99/").status(), 404);
    assert_eq!(get(&c, &sb, "/queue/item/99/api/json").status(), 404);

    let old = sandbox("speed: 100\nquiet_period: 1h\nversion: \"2.400\"\njobs:\n  - path: plain\n");
    let id = queue_id(&post(&c, &old, "/job/plain/build"));
    assert_eq!(get(&c, &old, &format!("/queue/item/{id}/")).status(), 404);
    assert_eq!(
        get(&c, &old, &format!("/queue/item/{id}/api/json")).status(),
        200
    );
}

// ---- the whole queue ----

#[test]
fn the_queue_lists_live_items_in_jenkins_order_but_never_left_ones() {
    let sb = sandbox(&format!(
        "{FAST}executors: 1\njobs:\n  - path: long\n    builds: [{{duration: 1m}}]\n  - path: serial\n    kind: pipeline\n    concurrent: false\n    builds: [{{duration: 1m}}]\n  - path: b1\n  - path: b2\n  - path: later\n"
    ));
    let c = client();
    let long = queue_id(&post(&c, &sb, "/job/long/build"));
    let serial = queue_id(&post(&c, &sb, "/job/serial/build"));
    assert_eq!(common::build_number_of(&c, &sb, long), 1);
    assert_eq!(common::build_number_of(&c, &sb, serial), 1);
    let blocked = queue_id(&post(&c, &sb, "/job/serial/build"));
    let b1 = queue_id(&post(&c, &sb, "/job/b1/build"));
    let b2 = queue_id(&post(&c, &sb, "/job/b2/build"));
    let waiting = queue_id(&post(&c, &sb, "/job/later/build?delay=3600sec"));
    let queue = get_json(&c, &sb, "/queue/api/json");
    assert_eq!(keys(&queue), ["_class", "discoverableItems", "items"]);
    assert_eq!(queue["_class"], "hudson.model.Queue");
    assert_eq!(queue["discoverableItems"], json!([]));
    let listed: Vec<(u64, &str)> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_u64().unwrap(), i["_class"].as_str().unwrap()))
        .collect();
    // Waiting, then blocked, then buildable newest first (`Queue.getItems`).
    assert_eq!(
        listed,
        [
            (waiting, "hudson.model.Queue$WaitingItem"),
            (blocked, "hudson.model.Queue$BlockedItem"),
            (b2, "hudson.model.Queue$BuildableItem"),
            (b1, "hudson.model.Queue$BuildableItem"),
        ]
    );
    // The left items are still readable one by one.
    assert_eq!(item(&c, &sb, long)["_class"], "hudson.model.Queue$LeftItem");
}

// ---- cancel ----

#[test]
fn cancelling_a_queued_item_is_204_and_leaves_it_cancelled_without_a_build() {
    let sb = sandbox("speed: 100\nquiet_period: 1h\njobs:\n  - path: plain\n");
    let c = client();
    let id = queue_id(&post(&c, &sb, "/job/plain/build"));
    let response = post(&c, &sb, &format!("/queue/cancelItem?id={id}"));
    assert_eq!(response.status(), 204);
    assert_eq!(response.text().unwrap(), "");
    let left = item(&c, &sb, id);
    assert_eq!(left["_class"], "hudson.model.Queue$LeftItem");
    assert_eq!(left["cancelled"], true);
    assert_eq!(left["executable"], Value::Null);
    assert_eq!(left["why"], Value::Null);
    assert_no_queue_items(&c, &sb);
    let job = get_json(&c, &sb, "/job/plain/api/json");
    assert_eq!(job["nextBuildNumber"], 1);
    assert_eq!(job["lastBuild"], Value::Null);

    let again = post(&c, &sb, &format!("/queue/cancelItem?id={id}"));
    assert_eq!(again.status(), 500);
    assert!(
        again
            .text()
            .unwrap()
            .contains(&format!("Could not cancel run for id {id}"))
    );
    let unknown = post(&c, &sb, "/queue/cancelItem?id=999");
    assert_eq!(unknown.status(), 404);
    assert!(
        unknown
            .text()
            .unwrap()
            .contains("Provided id (999) not found")
    );
    let by_get = get(&c, &sb, &format!("/queue/cancelItem?id={id}"));
    assert_eq!(by_get.status(), 405);
    assert_eq!(by_get.headers()["allow"], "POST");
}

#[test]
fn cancelling_a_started_item_is_500() {
    let sb = sandbox(&format!("{FAST}jobs:\n  - path: plain\n"));
    let c = client();
    let id = queue_id(&post(&c, &sb, "/job/plain/build"));
    common::build_number_of(&c, &sb, id);
    assert_eq!(
        post(&c, &sb, &format!("/queue/cancelItem?id={id}")).status(),
        500
    );
    assert_eq!(item(&c, &sb, id)["cancelled"], false);
}

#[test]
fn before_2_211_cancelling_redirects_whatever_the_outcome() {
    let sb = sandbox("speed: 100\nquiet_period: 1h\nversion: \"2.200\"\njobs:\n  - path: plain\n");
    let c = client();
    let id = queue_id(&post(&c, &sb, "/job/plain/build"));
    let response = post(&c, &sb, &format!("/queue/cancelItem?id={id}"));
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), format!("{}/queue/", sb.url()));
    assert_eq!(item(&c, &sb, id)["cancelled"], true);
    let response = c
        .post(format!("{}/queue/cancelItem?id=999", sb.url()))
        .basic_auth(USER, Some(TOKEN))
        .header("referer", "http://ci.example.com/job/plain/")
        .send()
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "http://ci.example.com/job/plain/");
}

// ---- ids, other people's builds, the trigger log ----

#[test]
fn queue_ids_are_global_and_become_the_builds_queue_id() {
    let sb = sandbox(&format!("{FAST}jobs:\n  - path: a\n  - path: b\n"));
    let c = client();
    let mut ids = Vec::new();
    for job in ["a", "b", "a", "b", "a"] {
        let id = queue_id(&post(&c, &sb, &format!("/job/{job}/build")));
        let number = common::build_number_of(&c, &sb, id);
        let build = common::finished_build(&c, &sb, &format!("/job/{job}/"), number);
        assert_eq!(build["queueId"], id);
        ids.push((job, id, number));
    }
    let only_ids: Vec<u64> = ids.iter().map(|(_, id, _)| *id).collect();
    assert_eq!(only_ids, [1, 2, 3, 4, 5]);
    let numbers: Vec<u64> = ids.iter().map(|(_, _, n)| *n).collect();
    assert_eq!(numbers, [1, 1, 2, 2, 3]);
}

#[test]
fn someone_elses_trigger_moves_last_build_but_not_the_build_of_our_item() {
    let sb = sandbox(
        "speed: 100\nquiet_period: 0s\njobs:\n  - path: shared\n    kind: pipeline\n    parameters: [{name: WHO}]\n    builds: [{duration: 10m}]\n",
    );
    let c = client();
    assert_eq!(
        get_json(&c, &sb, "/job/shared/api/json")["nextBuildNumber"],
        1
    );
    let ours = post(
        &c,
        &sb,
        "/job/shared/buildWithParameters?WHO=us&delay=30sec",
    );
    let ours = queue_id(&ours);
    let theirs = control(
        &sb,
        "POST",
        "trigger",
        json!({"job": "shared", "params": {"WHO": "them"}}),
    );
    assert_eq!(theirs["created"], true);
    let theirs_id = theirs["queue_id"].as_u64().unwrap();
    assert_eq!(theirs_id, ours + 1);
    // Theirs had no delay, so it took the number we might have guessed from nextBuildNumber.
    let first = wait_for(LIMIT, "their build", || {
        let last = get(&c, &sb, "/job/shared/lastBuild/api/json");
        (last.status() == 200).then(|| json(last))
    });
    assert_eq!(first["number"], 1);
    assert_eq!(first["queueId"], theirs_id);
    assert_eq!(
        causes(&first)[0]["shortDescription"],
        "Started by user someone-else"
    );
    let our_number = common::build_number_of(&c, &sb, ours);
    assert_eq!(our_number, 2);
    let again = control(
        &sb,
        "POST",
        "trigger",
        json!({"job": "shared", "params": {"WHO": "them again"}, "user": "bob"}),
    );
    let again_id = again["queue_id"].as_u64().unwrap();
    let third = wait_for(LIMIT, "their second build", || {
        let last = get_json(&c, &sb, "/job/shared/lastBuild/api/json");
        (last["queueId"] == again_id).then_some(last)
    });
    assert_eq!(third["number"], 3);
    assert_eq!(causes(&third)[0]["userId"], "bob");
    let our_item = item(&c, &sb, ours);
    assert_eq!(our_item["executable"]["number"], 2);
    let our_build = build_json(&c, &sb, "/job/shared/", 2);
    assert_eq!(parameters(&our_build), [("WHO".to_string(), json!("us"))]);
    assert_eq!(our_build["queueId"], ours);
}

#[test]
fn the_trigger_log_records_every_trigger_with_status_queue_id_and_created() {
    let sb = sandbox(
        "speed: 100\nquiet_period: 1h\njobs:\n  - path: plain\n  - path: p\n    parameters: [{name: X}]\n",
    );
    let c = client();
    let first = queue_id(&post(&c, &sb, "/job/plain/build"));
    post(&c, &sb, "/job/plain/build");
    let p = queue_id(&post(&c, &sb, "/job/p/buildWithParameters?X=1"));
    post(&c, &sb, "/job/p/buildWithParameters?X=1");
    post(&c, &sb, "/job/plain/buildWithParameters?X=1");
    let external = control(&sb, "POST", "trigger", json!({"job": "plain"}));
    assert_eq!(external["queue_id"], first);
    assert_eq!(external["created"], false);
    let fresh = control(
        &sb,
        "POST",
        "trigger",
        json!({"job": "p", "params": {"X": "2"}}),
    );
    assert_eq!(fresh["created"], true);

    let stats = control(&sb, "GET", "stats", Value::Null);
    let triggers = stats["triggers"].as_array().unwrap();
    let summary: Vec<(String, String, u64, Value, bool, bool)> = triggers
        .iter()
        .map(|t| {
            (
                t["job"].as_str().unwrap().to_string(),
                t["endpoint"].as_str().unwrap().to_string(),
                t["status"].as_u64().unwrap(),
                t["queue_id"].clone(),
                t["created"].as_bool().unwrap(),
                t["external"].as_bool().unwrap(),
            )
        })
        .collect();
    let s = |v: &str| v.to_string();
    assert_eq!(
        summary,
        [
            (s("plain"), s("build"), 201, json!(first), true, false),
            (s("plain"), s("build"), 201, json!(first), false, false),
            (s("p"), s("buildWithParameters"), 201, json!(p), true, false),
            (
                s("p"),
                s("buildWithParameters"),
                303,
                json!(p),
                false,
                false
            ),
            (
                s("plain"),
                s("buildWithParameters"),
                400,
                Value::Null,
                false,
                false
            ),
            (s("plain"), s("control"), 201, json!(first), false, true),
            (s("p"), s("control"), 201, json!(p + 1), true, true),
        ]
    );
    assert_eq!(triggers[2]["user"], "alice");
    assert_eq!(triggers[2]["params"], json!([["X", "1"]]));
    assert_eq!(triggers[5]["user"], "someone-else");
}

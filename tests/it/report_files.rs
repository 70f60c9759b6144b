//! `--report` and `--junit`: the files a batch run leaves for machines to read.

use crate::common;

use common::{jrun, pipeline_file, root};

#[test]
fn committed_report_schema_matches_the_types() {
    let generated = jrun::report::schema_text();
    let path = root().join("schemas/report.schema.json");
    if std::env::var_os("JRUN_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/report.schema.json is stale: run `cargo run -- schema report > schemas/report.schema.json`"
    );
}

const FAILING: &str = "name: nightly\nsteps:\n  - id: build\n    job: app/build\n  - id: test\n    job: app/test\n  - id: deploy\n    job: deploy\n";

const SANDBOX: &str = "speed: 100\nquiet_period: 0s\njobs:\n  - {path: app/build, kind: pipeline, builds: [{duration: 2s}]}\n  - {path: app/test, kind: pipeline, builds: [{duration: 2s, result: FAILURE}]}\n  - {path: deploy, kind: pipeline}\n";

#[test]
fn a_failed_run_still_writes_both_files_naming_every_step() {
    let (dir, pipeline) = pipeline_file(FAILING);
    let sandbox = dir.path().join("sandbox.yaml");
    std::fs::write(&sandbox, SANDBOX).unwrap();
    let report = dir.path().join("report.json");
    let junit = dir.path().join("junit.xml");
    jrun()
        .arg(&pipeline)
        .args(["--progress", "never", "--sandbox-config"])
        .arg(&sandbox)
        .arg("--report")
        .arg(&report)
        .arg("--junit")
        .arg(&junit)
        .assert()
        .code(1);

    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(value["pipeline"], "nightly");
    assert_eq!(value["status"], "failed");
    assert_eq!(value["exit_code"], 1);
    let steps = value["steps"].as_array().unwrap();
    let statuses: Vec<&str> = steps
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["passed", "failed", "skipped"]);
    assert_eq!(steps[1]["result"], "FAILURE");
    assert_eq!(steps[1]["number"], 1);

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert!(
        xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""),
        "{xml}"
    );
    for id in ["build", "test", "deploy"] {
        assert!(xml.contains(&format!("name=\"{id}\"")), "{xml}");
    }
    assert!(
        xml.contains("type=\"FAILURE\">app/test #1: http://127.0.0.1:"),
        "{xml}"
    );
    // No temporary files are left beside the reports.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_unwritable_report_path_is_refused_before_anything_runs() {
    let (dir, pipeline) = pipeline_file(FAILING);
    let sandbox = dir.path().join("sandbox.yaml");
    std::fs::write(&sandbox, SANDBOX).unwrap();
    jrun()
        .arg(&pipeline)
        .args(["--progress", "never", "--sandbox-config"])
        .arg(&sandbox)
        .args(["--report", "/nonexistent-dir/report.json"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("/nonexistent-dir/report.json"))
        .stdout(predicates::str::is_empty());
}

/// The rules of the JUnit schema Jenkins' xUnit plugin validates against (junit-10.xsd):
/// which elements may appear where, which attributes they may carry, which are required.
fn check_junit_schema(xml: &str) {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let surefire_time = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    };
    let check_attrs = |node: roxmltree::Node, allowed: &[&str], required: &[&str]| {
        for attr in node.attributes() {
            assert!(
                allowed.contains(&attr.name()),
                "<{}> may not carry `{}`",
                node.tag_name().name(),
                attr.name()
            );
        }
        for name in required {
            assert!(
                node.attribute(*name).is_some(),
                "<{}> needs `{name}`",
                node.tag_name().name()
            );
        }
        if let Some(time) = node.attribute("time") {
            assert!(surefire_time(time), "time `{time}`");
        }
    };
    check_attrs(root, &["name", "time", "tests", "failures", "errors"], &[]);
    for suite in root.children().filter(|n| n.is_element()) {
        assert_eq!(suite.tag_name().name(), "testsuite");
        check_attrs(
            suite,
            &[
                "name",
                "tests",
                "failures",
                "errors",
                "group",
                "time",
                "skipped",
                "timestamp",
                "hostname",
                "id",
                "package",
                "file",
                "log",
                "url",
            ],
            &["name", "tests", "failures", "errors"],
        );
        for child in suite.children().filter(|n| n.is_element()) {
            let name = child.tag_name().name();
            assert!(
                [
                    "testsuite",
                    "properties",
                    "testcase",
                    "system-out",
                    "system-err"
                ]
                .contains(&name),
                "<testsuite> may not contain <{name}>"
            );
            if name == "properties" {
                for p in child.children().filter(|n| n.is_element()) {
                    assert_eq!(p.tag_name().name(), "property");
                    check_attrs(p, &["name", "value"], &["name", "value"]);
                }
            }
            if name == "testcase" {
                check_attrs(child, &["name", "time", "classname", "group"], &["name"]);
                for inner in child.children().filter(|n| n.is_element()) {
                    let tag = inner.tag_name().name();
                    assert!(
                        ["skipped", "error", "failure", "system-out", "system-err"].contains(&tag),
                        "<testcase> may not contain <{tag}>"
                    );
                    check_attrs(inner, &["type", "message"], &[]);
                }
            }
        }
    }
}

#[test]
fn the_junit_file_follows_the_schema_jenkins_reads() {
    let (dir, pipeline) = pipeline_file(FAILING);
    let sandbox = dir.path().join("sandbox.yaml");
    std::fs::write(&sandbox, SANDBOX).unwrap();
    let junit = dir.path().join("junit.xml");
    jrun()
        .arg(&pipeline)
        .args(["--progress", "never", "--sandbox-config"])
        .arg(&sandbox)
        .arg("--junit")
        .arg(&junit)
        .assert()
        .code(1);
    check_junit_schema(&std::fs::read_to_string(&junit).unwrap());
}

// ---- Why a build failed ----

#[test]
fn a_junit_file_with_a_diagnosis_and_failed_tests_follows_the_schema_jenkins_reads() {
    use crate::run_diagnosis::{PIPELINE_JOB, one_step, pipeline_answers};
    let sb = crate::common::sandbox(PIPELINE_JOB);
    let proxy = crate::common::Hostile::proxy(&sb.url(), pipeline_answers);
    let (dir, pipeline) = pipeline_file(&one_step(&proxy.url(), "app/test"));
    let junit = dir.path().join("junit.xml");
    jrun()
        .arg(&pipeline)
        .args(["--progress", "never", "--junit"])
        .arg(&junit)
        .assert()
        .code(1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    check_junit_schema(&xml);
    // The step's suite and the suite of its build's failed tests.
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert!(
        xml.contains("classname=\"com.ex.BarTest\" name=\"qux\""),
        "{xml}"
    );
}

//! The junit plugin's report of a build: the counts of its `TestResultAction` and the
//! `hudson.tasks.junit.TestResult` served at `testReport/api/json`, suites grouped by class.

use serde_json::{Value, json};

use super::config::{CaseSpec, CaseStatus, TestsSpec};
use super::tree::Pruner;

/// The class the `passed:` count's generated cases belong to.
pub(super) const GENERATED_CLASS: &str = "sandbox.GeneratedTest";

pub(super) struct Counts {
    pub failed: u64,
    pub skipped: u64,
    pub passed: u64,
    pub total: u64,
}

pub(super) fn counts(tests: &TestsSpec) -> Counts {
    let of = |status| tests.cases.iter().filter(|c| c.status == status).count() as u64;
    let (failed, skipped) = (of(CaseStatus::Failed), of(CaseStatus::Skipped));
    let passed = of(CaseStatus::Passed) + u64::from(tests.passed);
    Counts {
        failed,
        skipped,
        passed,
        total: failed + skipped + passed,
    }
}

/// A case of the report: one declared, or one of the generated passing ones.
struct Case<'a> {
    class: &'a str,
    name: String,
    spec: Option<&'a CaseSpec>,
}

impl Case<'_> {
    fn status(&self) -> CaseStatus {
        self.spec.map_or(CaseStatus::Passed, |s| s.status)
    }

    fn duration(&self) -> f64 {
        self.spec
            .and_then(|s| s.duration)
            .map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
    }
}

/// Suites in the order their classes first appear, the generated passing cases last.
fn suites(tests: &TestsSpec) -> Vec<(&str, Vec<Case<'_>>)> {
    let mut suites: Vec<(&str, Vec<Case>)> = Vec::new();
    let cases = tests.cases.iter().map(|c| Case {
        class: &c.class,
        name: c.name.clone(),
        spec: Some(c),
    });
    let generated = (1..=tests.passed).map(|i| Case {
        class: GENERATED_CLASS,
        name: format!("passes_{i}"),
        spec: None,
    });
    for case in cases.chain(generated) {
        match suites.iter_mut().find(|(class, _)| *class == case.class) {
            Some((_, list)) => list.push(case),
            None => suites.push((case.class, vec![case])),
        }
    }
    suites
}

/// `hudson.tasks.junit.TestResult`. Suites and cases are `inline`, so at depth 0 every case's
/// output and stack trace are written; suites and cases carry no `_class`.
pub(super) fn report(tests: &TestsSpec, number: u32, p: Pruner) -> Value {
    let counts = counts(tests);
    let suites = suites(tests);
    let total: f64 = suites
        .iter()
        .flat_map(|(_, cases)| cases.iter().map(Case::duration))
        .sum();
    let mut map = serde_json::Map::new();
    map.insert("_class".to_string(), json!("hudson.tasks.junit.TestResult"));
    let mut put = |name: &str, visibility: i32, inline: bool, value: &dyn Fn(Pruner) -> Value| {
        if let Some(child) = p.accept(name, visibility, inline) {
            map.insert(name.to_string(), value(child));
        }
    };
    put("testActions", 3, false, &|p| p.plain(json!([])));
    put("duration", 1, false, &|p| p.plain(json!(total)));
    put("empty", 1, false, &|p| p.plain(json!(false)));
    put("failCount", 1, false, &|p| p.plain(json!(counts.failed)));
    put("passCount", 1, false, &|p| p.plain(json!(counts.passed)));
    put("skipCount", 1, false, &|p| p.plain(json!(counts.skipped)));
    put("suites", 1, true, &|p| {
        Value::Array(
            p.slice(&suites)
                .iter()
                .map(|(class, cases)| suite(class, cases, number, p))
                .collect(),
        )
    });
    Value::Object(map)
}

fn suite(class: &str, cases: &[Case], number: u32, p: Pruner) -> Value {
    let duration: f64 = cases.iter().map(Case::duration).sum();
    let mut map = serde_json::Map::new();
    let mut put = |name: &str, inline: bool, value: &dyn Fn(Pruner) -> Value| {
        if let Some(child) = p.accept(name, 1, inline) {
            map.insert(name.to_string(), value(child));
        }
    };
    put("cases", true, &|p| {
        Value::Array(p.slice(cases).iter().map(|c| case(c, number, p)).collect())
    });
    put("duration", false, &|p| p.plain(json!(duration)));
    put("enclosingBlockNames", false, &|p| p.plain(json!([])));
    put("enclosingBlocks", false, &|p| p.plain(json!([])));
    put("id", false, &|p| p.plain(Value::Null));
    put("name", false, &|p| p.plain(json!(class)));
    put("nodeId", false, &|p| p.plain(Value::Null));
    put("properties", false, &|p| p.plain(json!({})));
    put("stderr", false, &|p| p.plain(Value::Null));
    put("stdout", false, &|p| p.plain(Value::Null));
    put("timestamp", false, &|p| p.plain(Value::Null));
    Value::Object(map)
}

fn case(c: &Case, number: u32, p: Pruner) -> Value {
    let status = c.status();
    let failed = status == CaseStatus::Failed;
    let skipped = status == CaseStatus::Skipped;
    let error = c.spec.and_then(|s| s.error.as_deref());
    let stack_trace = c.spec.and_then(|s| s.stack_trace.clone()).or_else(|| {
        failed.then(|| {
            let simple = c.class.rsplit('.').next().unwrap_or(c.class);
            format!(
                "java.lang.AssertionError: {}\n\tat {}.{}({simple}.java)\n",
                error.unwrap_or(""),
                c.class,
                c.name
            )
        })
    });
    let fields: Vec<(&str, Value)> = vec![
        ("testActions", json!([])),
        ("age", json!(if failed { 1 } else { 0 })),
        ("className", json!(c.class)),
        ("duration", json!(c.duration())),
        ("errorDetails", json!(error.filter(|_| failed))),
        ("errorStackTrace", json!(stack_trace)),
        ("failedSince", json!(if failed { number } else { 0 })),
        ("name", json!(c.name)),
        ("skipped", json!(skipped)),
        ("skippedMessage", json!(error.filter(|_| skipped))),
        (
            "status",
            json!(match status {
                CaseStatus::Passed => "PASSED",
                CaseStatus::Failed => "FAILED",
                CaseStatus::Skipped => "SKIPPED",
            }),
        ),
        ("stderr", json!(c.spec.and_then(|s| s.stderr.as_deref()))),
        ("stdout", json!(c.spec.and_then(|s| s.stdout.as_deref()))),
        ("properties", json!({})),
        ("flakyFailures", json!([])),
        ("rerunFailures", json!([])),
    ];
    let mut map = serde_json::Map::new();
    for (name, value) in fields {
        if let Some(child) = p.accept(name, 9, false) {
            map.insert(name.to_string(), child.plain(value));
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::tree::Budget;

    fn spec() -> TestsSpec {
        yaml_serde::from_str(
            "passed: 2\ncases:\n  - {class: a.B, name: x, status: FAILED, error: boom}\n  - {class: a.C, name: y, status: SKIPPED}\n  - {class: a.B, name: z}\n",
        )
        .unwrap()
    }

    #[test]
    fn counts_include_the_generated_passing_cases() {
        let c = counts(&spec());
        assert_eq!((c.failed, c.skipped, c.passed, c.total), (1, 1, 3, 5));
    }

    #[test]
    fn suites_group_cases_by_class_in_order_of_appearance() {
        let spec = spec();
        let names: Vec<(&str, usize)> = suites(&spec).iter().map(|(c, l)| (*c, l.len())).collect();
        assert_eq!(names, [("a.B", 2), ("a.C", 1), (GENERATED_CLASS, 2)]);
    }

    #[test]
    fn depth_zero_shows_every_case_field_and_no_class_below_the_root() {
        let budget = Budget::new(Budget::PROPERTIES);
        let value = report(&spec(), 7, Pruner::depth(0, &budget));
        let case = &value["suites"][0]["cases"][0];
        assert_eq!(case["status"], "FAILED");
        assert_eq!(case["errorDetails"], "boom");
        assert_eq!(case["failedSince"], 7);
        assert!(case["errorStackTrace"].as_str().unwrap().contains("boom"));
        assert!(case.get("_class").is_none());
        assert!(value["suites"][0].get("_class").is_none());
        assert_eq!(value["_class"], "hudson.tasks.junit.TestResult");
    }
}

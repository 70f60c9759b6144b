//! Multibranch projects: branch item names, scans (branch indexing), and the builds a scan
//! started. Jenkins' side is branch-api and cloudbees-folder: a scan is a POST to the
//! project's `build`, answered with a redirect and no queue item, and its progress is only
//! visible in the queue and in the indexing log.

use serde::Deserialize;

use super::client::Client;
use super::error::Error;
use super::log::strip_notes;
use super::paths::{job_path, job_segments, url_is_job};
use super::types::{BuildStubJson, QueueListJson, value_text};

/// The cause branch-api gives the builds a scan starts.
pub const BRANCH_INDEXING_CAUSE: &str = "jenkins.branch.BranchIndexingCause";

const SCAN_QUEUE_TREE: &str = "items[id,task[url]]";
const BRANCH_BUILDS_TREE: &str =
    "builds[number,url,queueId,timestamp,actions[parameters[name,value],causes[_class]]]{0,20}";

/// The item name Jenkins gives a branch (branch-api's `NameEncoder.encode`): `release/2.4`
/// is the item `release%2F2.4`. Only these characters are escaped; the URL then encodes the
/// name once more (`job/release%252F2.4/`).
pub fn branch_item_name(branch: &str) -> String {
    match branch {
        "" => return "%00".to_string(),
        "." => return "%2E".to_string(),
        ".." => return "%2E.".to_string(),
        _ => {}
    }
    let mut name = String::with_capacity(branch.len() + 8);
    for c in branch.chars() {
        match c {
            '#' => name.push_str("%23"),
            '%' => name.push_str("%25"),
            '/' => name.push_str("%2F"),
            '?' => name.push_str("%3F"),
            '[' => name.push_str("%5B"),
            ']' => name.push_str("%5D"),
            '\\' => name.push_str("%5C"),
            c => name.push(c),
        }
    }
    name
}

/// Whether Jenkins' `_class` is a multibranch project (Pipeline's or another plugin's), whose
/// children are branch jobs a scan creates.
pub fn is_multibranch(class: &str) -> bool {
    class
        .rsplit(['.', '$'])
        .next()
        .unwrap_or(class)
        .ends_with("MultiBranchProject")
}

/// The multibranch project a branch job would live in: its full name without the last part.
pub fn branch_parent(job: &str) -> Option<&str> {
    job.rsplit_once('/').map(|(parent, _)| parent)
}

/// One read of a scan's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanLog {
    /// The raw offset to read from next.
    pub next: u64,
    /// The log is complete: the scan ended (or none ever ran).
    pub finished: bool,
    /// Its `Finished: RESULT` line, once seen.
    pub result: Option<String>,
}

/// A build of a branch job, with what tells a scan's build from others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchBuild {
    pub number: u64,
    pub url: String,
    pub timestamp_ms: Option<i64>,
    pub queue_id: Option<u64>,
    /// Its causes include branch indexing.
    pub from_scan: bool,
    /// The parameters it got, as text (`None` for a value Jenkins hides, e.g. a password).
    pub params: Vec<(String, Option<String>)>,
}

#[derive(Deserialize)]
struct BranchBuildsJson {
    #[serde(default)]
    builds: Option<Vec<BuildStubJson>>,
}

impl Client {
    /// Asks a multibranch project to scan its repository for branches. Jenkins answers 302
    /// to the previous page and queues the scan (or merges it into one already queued), so
    /// the POST may be repeated safely.
    pub async fn scan(&self, project: &str) -> Result<(), Error> {
        let url = format!("{}{}build?delay=0", self.inner.base, job_path(project)?);
        let reply = self.post_retrying(&url).await?;
        match reply.status.as_u16() {
            200..=399 => Ok(()),
            404 => Err(Error::NotFound {
                what: format!("multibranch project `{project}`"),
            }),
            _ => Err(self.status_error("POST", &url, &reply)),
        }
    }

    /// Whether the queue holds an item for this job or project: a scan waiting (until it
    /// leaves the queue the indexing log is the previous scan's), or a branch's build.
    pub async fn in_queue(&self, project: &str) -> Result<bool, Error> {
        let segments = job_segments(project)?;
        let url = self.api_url("queue/", SCAN_QUEUE_TREE);
        let list: QueueListJson = self.get_json(&url).await?.ok_or_else(|| Error::NotFound {
            what: "the queue".to_string(),
        })?;
        Ok(list.items.unwrap_or_default().iter().any(|item| {
            item.task
                .as_ref()
                .and_then(|t| t.url.as_deref())
                .is_some_and(|u| url_is_job(u, &segments))
        }))
    }

    /// The project's indexing log from raw offset `start`: whether the scan ended, and its
    /// result once its `Finished:` line is there. A project that never scanned answers with
    /// a complete log without that line.
    pub async fn scan_log(&self, project: &str, start: u64) -> Result<ScanLog, Error> {
        let url = format!(
            "{}{}indexing/logText/progressiveText?start={start}",
            self.inner.base,
            job_path(project)?
        );
        let what = || format!("the indexing log of multibranch project `{project}`");
        let (reply, next, more) = self.progressive(&url, what, "the indexing log").await?;
        let text = strip_notes(&String::from_utf8_lossy(&reply.body));
        Ok(ScanLog {
            next,
            finished: !more,
            result: finished_line(&text),
        })
    }

    /// The branch job's newest builds, newest first, with their causes and parameters.
    pub async fn branch_builds(&self, job: &str) -> Result<Vec<BranchBuild>, Error> {
        let url = self.api_url(&job_path(job)?, BRANCH_BUILDS_TREE);
        let list: BranchBuildsJson = self.get_json(&url).await?.ok_or_else(|| Error::NotFound {
            what: format!("job `{job}`"),
        })?;
        Ok(list
            .builds
            .unwrap_or_default()
            .into_iter()
            .map(|b| {
                let actions = b.actions.unwrap_or_default();
                let from_scan =
                    actions
                        .iter()
                        .flat_map(|a| a.causes.iter().flatten())
                        .any(|cause| {
                            cause.get("_class").and_then(|c| c.as_str())
                                == Some(BRANCH_INDEXING_CAUSE)
                        });
                let params = actions
                    .iter()
                    .flat_map(|a| a.parameters.iter().flatten())
                    .filter_map(|p| {
                        let name = p.get("name")?.as_str()?.to_string();
                        Some((name, p.get("value").and_then(value_text)))
                    })
                    .collect();
                BranchBuild {
                    number: b.number,
                    url: self.own_url(b.url.as_deref().unwrap_or_default()),
                    timestamp_ms: b.timestamp,
                    queue_id: b.queue_id,
                    from_scan,
                    params,
                }
            })
            .collect())
    }
}

/// The result on a `Finished: RESULT` line of a log, the last one if several.
fn finished_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("Finished: "))
        .map(|r| r.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jenkins::job_path;

    #[test]
    fn branch_names_are_encoded_as_branch_api_names_their_jobs() {
        assert_eq!(branch_item_name("release/2.4"), "release%2F2.4");
        assert_eq!(branch_item_name("main"), "main");
        assert_eq!(branch_item_name("feat/#12?x"), "feat%2F%2312%3Fx");
        assert_eq!(branch_item_name("a%2Fb"), "a%252Fb");
        assert_eq!(branch_item_name("x[1]\\y"), "x%5B1%5D%5Cy");
        assert_eq!(branch_item_name("."), "%2E");
        assert_eq!(branch_item_name(".."), "%2E.");
        assert_eq!(branch_item_name(""), "%00");
        assert_eq!(branch_item_name("v1.2"), "v1.2");
    }

    #[test]
    fn branch_jobs_are_reached_at_their_double_encoded_url() {
        let name = format!("app/{}", branch_item_name("release/2.4"));
        assert_eq!(job_path(&name).unwrap(), "job/app/job/release%252F2.4/");
        assert_eq!(
            job_path("app/release%2F2.4").unwrap(),
            "job/app/job/release%252F2.4/"
        );
        // A branch literally named `a%2Fb` is the item `a%252Fb`, at `a%25252Fb`.
        let literal = format!("team/app/{}", branch_item_name("a%2Fb"));
        assert_eq!(
            job_path(&literal).unwrap(),
            "job/team/job/app/job/a%25252Fb/"
        );
    }

    #[test]
    fn a_branch_job_is_recognised_in_a_queue_items_url() {
        assert!(url_is_job(
            "http://ci/job/app/job/release%252F2.4/",
            &["app", "release%2F2.4"]
        ));
        assert!(!url_is_job(
            "http://ci/job/app/job/release%252F2.4/",
            &["app"]
        ));
    }

    #[test]
    fn multibranch_classes_and_parents() {
        assert!(is_multibranch(
            "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
        ));
        assert!(!is_multibranch(
            "com.cloudbees.hudson.plugins.folder.Folder"
        ));
        assert!(!is_multibranch(
            "org.jenkinsci.plugins.workflow.job.WorkflowJob"
        ));
        assert_eq!(branch_parent("team/app/release%2F2.4"), Some("team/app"));
        assert_eq!(branch_parent("app"), None);
    }

    #[test]
    fn the_last_finished_line_of_a_scan_log_gives_its_result() {
        let log = "Started by user bob\n[x] Starting branch indexing...\nFinished: SUCCESS\n";
        assert_eq!(finished_line(log).as_deref(), Some("SUCCESS"));
        assert_eq!(finished_line("Started\n"), None);
    }
}

//! Multibranch Pipeline projects: branch jobs named by `NameEncoder`, scans (branch indexing)
//! started by `POST /job/MBP/build`, queued then running for the scan's duration and coalescing
//! while queued, which create the branches the source has and build each new one with a
//! `BranchIndexingCause`, and the scan's log under `indexing/`.

use http::StatusCode;
use http::header::HeaderName;

use super::config::{Anonymous, BranchConfig, JobConfig, JobKind, MultibranchConfig};
use super::config::{decode_branch, encode_branch};
use super::json::item_path;
use super::model::{Cause, Folder, Model, Node, ParamDef, Principal, TriggerRecord};
use super::pages::{html_page, login_required, oops, redirect, requires_post};
use super::wire::{Reply, Req, context_url, request_url, response, set};

/// The project side of a `WorkflowMultiBranchProject`.
#[derive(Debug, Clone)]
pub struct Multibranch {
    pub scan_ms: i64,
    /// Every branch the source has, found or not.
    pub branches: Vec<BranchConfig>,
    /// Scans that started, oldest first; only the last may still run.
    pub scans: Vec<Scan>,
    /// A scan waiting in the queue, with the causes folded into it.
    pub queued: Option<QueuedScan>,
}

/// A scan in the queue: due after its delay, blocked while another scan runs.
#[derive(Debug, Clone)]
pub struct QueuedScan {
    pub id: u64,
    pub since: i64,
    pub due: i64,
    pub causes: Vec<Cause>,
}

#[derive(Debug, Clone)]
pub struct Scan {
    pub start: i64,
    pub end: i64,
    pub causes: Vec<Cause>,
    /// Whether its end has been played (new branches created and scheduled).
    pub done: bool,
    /// The branches it found new, by their raw names.
    pub found: Vec<String>,
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// `MultiBranchProject.getItem`: the name as given, else decoded, else encoded.
pub(super) fn resolve_child(model: &Model, parent: &str, name: &str) -> String {
    let direct = join(parent, name);
    let is_project = matches!(
        model.nodes.get(parent),
        Some(Node::Folder(Folder {
            multibranch: Some(_),
            ..
        }))
    );
    if !is_project || model.nodes.contains_key(&direct) {
        return direct;
    }
    [decode_branch(name), encode_branch(name)]
        .into_iter()
        .map(|alt| join(parent, &alt))
        .find(|alt| model.nodes.contains_key(alt))
        .unwrap_or(direct)
}

impl Model {
    fn project(&self, path: &str) -> Option<&Multibranch> {
        match self.nodes.get(path) {
            Some(Node::Folder(Folder {
                multibranch: Some(m),
                ..
            })) => Some(m),
            _ => None,
        }
    }

    fn project_mut(&mut self, path: &str) -> Option<&mut Multibranch> {
        match self.nodes.get_mut(path) {
            Some(Node::Folder(Folder {
                multibranch: Some(m),
                ..
            })) => Some(m),
            _ => None,
        }
    }

    /// Adds a multibranch project with the jobs of its discovered branches.
    pub fn put_multibranch(&mut self, config: &MultibranchConfig) {
        let segments: Vec<&str> = config.path.split('/').collect();
        for depth in 1..segments.len() {
            let full = segments[..depth].join("/");
            self.nodes.entry(full.clone()).or_insert_with(|| {
                Node::Folder(Folder {
                    name: segments[depth - 1].to_string(),
                    full_name: full,
                    multibranch: None,
                })
            });
        }
        self.nodes.insert(
            config.path.clone(),
            Node::Folder(Folder {
                name: segments.last().copied().unwrap_or_default().to_string(),
                full_name: config.path.clone(),
                multibranch: Some(Box::new(Multibranch {
                    scan_ms: config.scan_duration.as_millis() as i64,
                    branches: config.branches.clone(),
                    scans: Vec::new(),
                    queued: None,
                })),
            }),
        );
        for branch in config.branches.iter().filter(|b| b.discovered) {
            self.put_branch_job(&config.path, branch);
        }
    }

    /// A branch's job; its parameters wait for its first build to register them.
    fn put_branch_job(&mut self, project: &str, branch: &BranchConfig) -> String {
        let path = join(project, &encode_branch(&branch.name));
        let mut config = JobConfig::new(path.clone());
        config.kind = JobKind::Pipeline;
        config.builds = branch.builds.clone();
        config.history = branch.history.clone();
        self.put_job(&config);
        if let Some(job) = self.job_mut(&path) {
            job.branch = Some(branch.name.clone());
            job.pending_params = Some(
                branch
                    .parameters
                    .iter()
                    .map(ParamDef::from_config)
                    .collect(),
            )
            .filter(|p: &Vec<ParamDef>| !p.is_empty());
        }
        path
    }

    /// `ComputedFolder.doBuild`: a scan joins the one already queued, else is queued itself.
    /// Returns whether a new queue entry was made.
    fn request_scan(&mut self, path: &str, cause: Cause, delay_ms: i64, now: i64) -> bool {
        if self.project(path).is_none() {
            return false;
        }
        let id = self.take_queue_id();
        let Some(project) = self.project_mut(path) else {
            return false;
        };
        let due = now + delay_ms.max(0);
        let created = match &mut project.queued {
            Some(queued) => {
                queued.due = queued.due.min(due);
                queued.causes.push(cause);
                false
            }
            None => {
                project.queued = Some(QueuedScan {
                    id,
                    since: now,
                    due,
                    causes: vec![cause],
                });
                true
            }
        };
        self.play_scans(now);
        created
    }

    /// The next moment a scan starts or ends after `t`.
    pub(super) fn next_scan_event(&self, t: i64) -> Option<i64> {
        self.nodes
            .values()
            .filter_map(|node| match node {
                Node::Folder(Folder {
                    multibranch: Some(m),
                    ..
                }) => {
                    let running = m.scans.last().filter(|s| !s.done).map(|s| s.end);
                    let queued = m.queued.as_ref().map(|q| q.due);
                    running.or(queued)
                }
                _ => None,
            })
            .filter(|at| *at > t)
            .min()
    }

    /// Plays the scans up to `t`: ends the running ones, then starts queued ones that are due.
    pub(super) fn play_scans(&mut self, t: i64) {
        let paths: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, node)| {
                matches!(
                    node,
                    Node::Folder(Folder {
                        multibranch: Some(_),
                        ..
                    })
                )
            })
            .map(|(path, _)| path.clone())
            .collect();
        for path in paths {
            while let Some(project) = self.project_mut(&path) {
                let running = project.scans.last().filter(|s| !s.done).map(|s| s.end);
                match (running, project.queued.clone()) {
                    (Some(end), _) if end <= t => self.finish_scan(&path, end),
                    (None, Some(queued)) if queued.due <= t => {
                        let due = queued.due;
                        let start = project.scans.last().map_or(due, |s| s.end.max(due));
                        let end = start + project.scan_ms;
                        project.queued = None;
                        project.scans.push(Scan {
                            start,
                            end,
                            causes: queued.causes,
                            done: false,
                            found: Vec::new(),
                        });
                    }
                    _ => break,
                }
            }
        }
    }

    /// The end of a scan: branches the source has and Jenkins does not are created and built.
    fn finish_scan(&mut self, path: &str, end: i64) {
        let Some(project) = self.project(path) else {
            return;
        };
        let new: Vec<BranchConfig> = project
            .branches
            .iter()
            .filter(|b| {
                !self
                    .nodes
                    .contains_key(&join(path, &encode_branch(&b.name)))
            })
            .cloned()
            .collect();
        for branch in &new {
            let job = self.put_branch_job(path, branch);
            let (id, created) = self.schedule_at(&job, None, Cause::BranchIndexing, None, end);
            self.record_trigger(TriggerRecord {
                at_ms: end,
                job,
                endpoint: "branch-indexing".to_string(),
                user: None,
                params: Vec::new(),
                status: 201,
                queue_id: Some(id),
                created,
                external: true,
                cause: Cause::BranchIndexing.short_description(),
            });
        }
        if let Some(scan) = self.project_mut(path).and_then(|p| p.scans.last_mut()) {
            scan.done = true;
            scan.found = new.into_iter().map(|b| b.name).collect();
        }
    }

    /// A branch job's first finished build registers the parameters of its Jenkinsfile.
    pub(super) fn register_branch_params(&mut self, t: i64) {
        for node in self.nodes.values_mut() {
            if let Node::Job(job) = node
                && job.pending_params.is_some()
                && job.builds.values().any(|b| b.is_complete(t))
            {
                job.params = job.pending_params.take().unwrap_or_default();
            }
        }
    }
}

/// Each multibranch project's queued scan, by the project's path, and whether a scan runs.
pub(super) fn queued_scans(model: &Model) -> Vec<(&str, &QueuedScan, bool)> {
    model
        .nodes
        .iter()
        .filter_map(|(path, node)| match node {
            Node::Folder(Folder {
                multibranch: Some(m),
                ..
            }) => {
                let running = m.scans.last().is_some_and(|s| !s.done);
                m.queued.as_ref().map(|q| (path.as_str(), q, running))
            }
            _ => None,
        })
        .collect()
}

/// `Date.toString()` in UTC: `Sun Dec 06 19:25:24 UTC 2026`.
fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The log of a scan as far as it got at `t`, and whether it is still being written.
fn scan_log(project: &Multibranch, scan: &Scan, t: i64) -> (String, bool) {
    let mut text = String::new();
    // `CauseAction` folds causes that are alike.
    let mut causes: Vec<&Cause> = Vec::new();
    for cause in &scan.causes {
        if !causes.contains(&cause) {
            causes.push(cause);
        }
    }
    for cause in causes {
        text.push_str(&format!("{}\n", cause.short_description()));
    }
    text.push_str(&format!(
        "[{}] Starting branch indexing...\n",
        java_date(scan.start)
    ));
    let n = project.branches.len() as i64;
    for (i, branch) in project.branches.iter().enumerate() {
        let due = scan.start + (scan.end - scan.start) * (i as i64 + 1) / (n + 1);
        if due > t {
            break;
        }
        text.push_str(&format!("Checking branch {}\n", branch.name));
    }
    if !scan.done || t < scan.end {
        return (text, true);
    }
    for name in &scan.found {
        text.push_str(&format!("Scheduled build for branch: {name}\n"));
    }
    text.push_str(&format!("Processed {n} branches\n"));
    text.push_str(&format!(
        "[{}] Finished branch indexing. Indexing took {} sec\n",
        java_date(scan.end),
        (scan.end - scan.start) / 1000
    ));
    text.push_str("Finished: SUCCESS\n");
    (text, false)
}

/// `/job/MBP/…` routes of a multibranch project; `None` for those a folder answers.
pub(super) fn project_route(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    path: &str,
    rest: &[&str],
    now: i64,
) -> Option<(&'static str, Reply)> {
    let project = model.project(path)?;
    let log = || {
        project
            .scans
            .last()
            .map(|scan| scan_log(project, scan, now))
    };
    Some(match rest {
        ["build"] => scan(model, req, principal, path, now),
        ["indexing" | "computation"] => (
            "indexing",
            html_page(model, StatusCode::OK, "Branch Indexing", ""),
        ),
        ["indexing" | "computation", "consoleText"] => {
            let text = log().map_or("No such file: indexing.log".to_string(), |(t, _)| t);
            (
                "indexing_log",
                response(StatusCode::OK, "text/plain;charset=UTF-8", text),
            )
        }
        ["indexing" | "computation", "logText", "progressiveText"] => {
            let (text, more) = log().unwrap_or_default();
            let start = match req.param("start").map(|s| s.trim().parse::<usize>()) {
                None => 0,
                Some(Ok(n)) if n <= text.len() => n,
                Some(Ok(_)) => 0,
                Some(Err(_)) => {
                    return Some((
                        "indexing_log",
                        oops(
                            model,
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "java.lang.NumberFormatException",
                        ),
                    ));
                }
            };
            let chunk = String::from_utf8_lossy(&text.as_bytes()[start..]).replace('\n', "\r\n");
            let mut reply = response(StatusCode::OK, "text/plain;charset=utf-8", chunk);
            set(
                &mut reply,
                HeaderName::from_static("x-text-size"),
                &text.len().to_string(),
            );
            if more {
                set(&mut reply, HeaderName::from_static("x-more-data"), "true");
            }
            ("indexing_log", reply)
        }
        _ => return None,
    })
}

/// `POST /job/MBP/build?delay=0`: Item.BUILD, then a 302 to the Referer or the project, with
/// no queue item to follow.
fn scan(
    model: &mut Model,
    req: &Req,
    principal: &Principal,
    path: &str,
    now: i64,
) -> (&'static str, Reply) {
    let mut record = TriggerRecord {
        at_ms: now,
        job: path.to_string(),
        endpoint: "scan".to_string(),
        user: principal.name().map(str::to_string),
        params: req
            .params
            .iter()
            .filter(|(k, _)| k != "Jenkins-Crumb")
            .cloned()
            .collect(),
        status: 0,
        queue_id: None,
        created: false,
        external: false,
        cause: Cause::User(principal.name().map(str::to_string)).short_description(),
    };
    let reply = if !req.is_post() {
        requires_post(model)
    } else if *principal == Principal::Anonymous && model.anonymous != Anonymous::Build {
        login_required(model, req, "hudson.model.Item.Build")
    } else {
        match req
            .param("delay")
            .map(super::triggers::parse_delay)
            .transpose()
        {
            Err(message) => oops(model, StatusCode::INTERNAL_SERVER_ERROR, &message),
            Ok(delay) => {
                let cause = Cause::User(principal.name().map(str::to_string));
                // Whole seconds, as `TimeDuration.getTimeInSeconds` gives the queue.
                let delay = delay.map_or(0, |ms| ms / 1000 * 1000);
                record.created = model.request_scan(path, cause, delay, now);
                let target = match req.header("referer") {
                    Some(referer) => referer.to_string(),
                    None => {
                        let own = format!("/{}", item_path(path));
                        if model.at_least(2, 472) {
                            context_url(req, &own)
                        } else {
                            request_url(req, own.trim_start_matches('/'))
                        }
                    }
                };
                redirect(StatusCode::FOUND, &target)
            }
        }
    };
    record.status = reply.status().as_u16();
    model.record_trigger(record);
    ("scan", reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_like_java_date_to_string_in_utc() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_796_584_000_000), "Sun Dec 06 19:06:40 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }
}

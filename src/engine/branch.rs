//! A job step whose branch job does not exist yet (`branch_scan: auto`): its multibranch
//! project is scanned, the branch waited for within `scan_timeout`, and the build the scan
//! started for the new branch followed instead of triggering a second one, unless the step
//! gives parameters that build did not get.

use std::time::Duration;

use tokio::time::Instant;

use super::journal::{Record, StepReplay};
use super::outcome::missing_job;
use super::step::{StepContext, WaitEnded, interrupted};
use crate::duration::Dur;
use crate::jenkins::{self, BranchBuild};
use crate::pipeline::{BranchScan, JobStep, Poll};
use crate::report::{Event, FailureKind, StepOutcome, StepStatus};

/// Longest pause between two looks at a scan or a new branch job.
const MAX_LOOK: Duration = Duration::from_secs(5);

/// How many looks, with nothing queued for the new branch, before jrun concludes that the
/// scan started no build for it (e.g. automatic builds are suppressed for the branch).
const LOOKS_FOR_SCAN_BUILD: u32 = 3;

/// How many looks at a finished indexing log, without having seen the scan queued or
/// running, before jrun believes it is this scan's: right after the POST it may still be the
/// previous scan's log.
const LOOKS_AT_UNSEEN_SCAN: u32 = 3;

/// Slack for the server clock when telling builds a scan started after the request.
const CLOCK_SLACK_MS: i64 = 2000;

/// What the step goes on with once its branch job exists.
pub(super) struct Appeared {
    /// The branch job's definition, read after the branch appeared.
    pub info: jenkins::Job,
    /// The scan's build, adopted: followed as if resumed, never triggered again.
    pub adopted: Option<StepReplay>,
}

/// Scans the multibranch project of `job` (a branch job Jenkins does not have), waits for
/// the branch to appear and finds the build the scan started for it. `params` are the
/// step's parameters: a build that did not get them is not adopted.
pub(super) async fn appear(
    ctx: &mut StepContext,
    step: &JobStep,
    job: &str,
    params: &[(String, String)],
    result: &StepOutcome,
) -> Result<Appeared, StepOutcome> {
    let place = ctx.place(&step.job);
    let client = ctx.client.clone();
    let missing = missing_job(&place, job, &client);
    let fail = |status, kind, message: String| result.clone().fail(status, kind, message);
    let Some(project) = jenkins::branch_parent(job) else {
        return Err(fail(StepStatus::Failed, FailureKind::Invalid, missing));
    };
    let deadline = ctx.time.after(step.scan_timeout);
    let timed_out = |what: &str| {
        fail(
            StepStatus::TimedOut,
            FailureKind::Timeout,
            format!(
                "{place}branch job `{job}` did not appear within scan_timeout {} ({what})",
                Dur(step.scan_timeout)
            ),
        )
    };
    let ended = |ctx: &StepContext, e: WaitEnded, what: &str| match e {
        WaitEnded::Deadline => timed_out(what),
        e => interrupted(ctx, result.clone(), e, None),
    };
    let info = match ctx.read(Some(deadline), client.job(project)).await {
        Ok(info) => info,
        Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => {
            let message = format!("{missing}; its project `{project}` does not exist either");
            return Err(fail(StepStatus::Failed, FailureKind::Invalid, message));
        }
        Err(e) => return Err(ended(ctx, e, "reading its project")),
    };
    if !jenkins::is_multibranch(&info.class) {
        let message = format!(
            "{missing}; `branch_scan: auto` cannot scan for it, because `{project}` is not a \
             multibranch project ({})",
            info.class
        );
        return Err(fail(StepStatus::Failed, FailureKind::Invalid, message));
    }
    let requested_ms = ctx.server_now_ms();
    let note = format!(
        "job `{job}` does not exist yet: scanning multibranch project `{project}` for it \
         (scan_timeout {})",
        Dur(step.scan_timeout)
    );
    ctx.event(Event::Note {
        step: Some(ctx.id()),
        message: &note,
    });
    if let Err(e) = ctx.read(Some(deadline), client.scan(project)).await {
        return Err(ended(ctx, e, "requesting the scan"));
    }
    let info = wait_for_branch(ctx, step, job, project, deadline)
        .await
        .map_err(|e| match e {
            Waited::Ended(e) => ended(ctx, e, "the scan did not find it in time"),
            Waited::ScanEnded(scan_result) => fail(
                StepStatus::Failed,
                FailureKind::Invalid,
                format!(
                    "{missing}: a scan of multibranch project `{project}` ended{} without \
                     finding its branch (check the branch name and that the project's sources \
                     discover it)",
                    scan_result.map(|r| format!(" ({r})")).unwrap_or_default()
                ),
            ),
        })?;
    ctx.jobs.insert(&ctx.server, job, info.clone());
    let scan_build = match find_scan_build(ctx, step, job, requested_ms - CLOCK_SLACK_MS).await {
        Ok(found) => found,
        Err(e) => return Err(ended(ctx, e, "waiting for the scan's build")),
    };
    let Some(build) = scan_build else {
        note_for(
            ctx,
            format!("the scan of `{project}` started no build of `{job}`; triggering one"),
        );
        return Ok(Appeared {
            info,
            adopted: None,
        });
    };
    let given: Vec<&(String, String)> = params
        .iter()
        .filter(|(name, _)| Some(name.as_str()) != step.trigger_id.as_deref())
        .collect();
    if let Some(why) = params_missing(&build, &given) {
        note_for(
            ctx,
            format!(
                "not adopting build #{} that the scan of `{project}` started: {why}; \
                 triggering a build with the step's parameters",
                build.number
            ),
        );
        let info = match parameters_known(ctx, step, job, &build, &given).await {
            Ok(info) => info,
            Err(e) => return Err(interrupted(ctx, result.clone(), e, step.timeout)),
        };
        return Ok(Appeared {
            info,
            adopted: None,
        });
    }
    ctx.journal(Record::Adopted {
        step: ctx.id().to_string(),
        job: job.to_string(),
        params: given.iter().map(|p| (*p).clone()).collect(),
        number: build.number,
        url: build.url.clone(),
    })
    .map_err(|e| fail(StepStatus::Failed, FailureKind::Invalid, e))?;
    note_for(
        ctx,
        format!(
            "following build #{} that the scan of `{project}` started for the new branch \
             (adopted: no second build is triggered)",
            build.number
        ),
    );
    Ok(Appeared {
        info,
        adopted: Some(adopted_replay(build.number, build.url)),
    })
}

/// What the preflight makes of a job Jenkins does not have.
pub(super) enum Missing {
    /// The step fails: the job does not exist (with a hint when a scan could create it).
    Problem(String),
    /// A branch job of a multibranch project, which the step scans for (`branch_scan:
    /// auto`): not a problem before the run, only a note.
    Scanned(String),
}

/// Whether a missing job is a branch a scan may create: its parent is a multibranch project.
/// `at` is where the job is written, `missing` what is said of a job that does not exist.
pub(super) async fn missing_branch(
    client: &jenkins::Client,
    step: &JobStep,
    job: &str,
    at: &str,
    missing: String,
) -> Result<Missing, jenkins::Error> {
    let Some(project) = jenkins::branch_parent(job) else {
        return Ok(Missing::Problem(missing));
    };
    let info = match client.job(project).await {
        Ok(info) => info,
        Err(jenkins::Error::NotFound { .. }) => return Ok(Missing::Problem(missing)),
        Err(e) => return Err(e),
    };
    if !jenkins::is_multibranch(&info.class) {
        return Ok(Missing::Problem(missing));
    }
    Ok(match step.branch_scan {
        BranchScan::Never => Missing::Problem(format!(
            "{missing}; `{project}` is a multibranch project: for a branch its scan has not \
             found yet, set `branch_scan: auto` to scan for it when the step runs"
        )),
        BranchScan::Auto => Missing::Scanned(format!(
            "{at}branch job `{job}` does not exist yet; `{project}` is a multibranch project, \
             which the step scans for it (branch_scan: auto, within scan_timeout {}). Whether \
             the scan finds the branch depends on the project's sources, which jrun cannot \
             see; the branch's parameters are checked when it appears",
            Dur(step.scan_timeout)
        )),
    })
}

/// Where a step that adopted build `number` stands: as a resumed run that had recorded it.
pub(super) fn adopted_replay(number: u64, url: String) -> StepReplay {
    StepReplay {
        started: true,
        triggered: true,
        attempt: 1,
        build: Some((number, url)),
        adopted: true,
        ..StepReplay::default()
    }
}

fn note_for(ctx: &StepContext, message: String) {
    ctx.event(Event::Note {
        step: Some(ctx.id()),
        message: &message,
    });
}

enum Waited {
    Ended(WaitEnded),
    /// The scan ended and the branch job is still not there; its `Finished:` result if seen.
    ScanEnded(Option<String>),
}

/// The next pause between looks: growing as the step's polling does, at most [`MAX_LOOK`].
fn next_look(delay: Duration, poll: &Poll) -> Duration {
    delay.mul_f64(poll.factor).min(poll.max).min(MAX_LOOK)
}

/// Waits until the branch job exists, the scan ended without it, or `deadline`. The scan is
/// watched in the queue first: until it leaves it, the indexing log is the previous scan's.
async fn wait_for_branch(
    ctx: &mut StepContext,
    step: &JobStep,
    job: &str,
    project: &str,
    deadline: Instant,
) -> Result<jenkins::Job, Waited> {
    let client = ctx.client.clone();
    let mut delay = step.poll.initial.min(MAX_LOOK);
    let mut seen_scan = false;
    let mut finished_looks = 0;
    // Once the log was seen running it is this scan's and only grows: it is read on from
    // where the last read ended. Before, it may be the previous scan's, read whole.
    let mut log_from: Option<u64> = None;
    let mut last_result = None;
    let mut scan_ended: Option<Option<String>> = None;
    loop {
        match ctx.read(Some(deadline), client.job(job)).await {
            Ok(info) => return Ok(info),
            Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => {}
            Err(e) => return Err(Waited::Ended(e)),
        }
        // Looked at once more after the scan ended: branch jobs are created before its end.
        if let Some(result) = scan_ended {
            return Err(Waited::ScanEnded(result));
        }
        let queued = ctx
            .read(Some(deadline), client.in_queue(project))
            .await
            .map_err(Waited::Ended)?;
        if queued {
            seen_scan = true;
        } else {
            let log = ctx
                .read(
                    Some(deadline),
                    client.scan_log(project, log_from.unwrap_or(0)),
                )
                .await
                .map_err(Waited::Ended)?;
            // A result read before the log was seen running may be the previous scan's.
            last_result = log.result.or(last_result.filter(|_| log_from.is_some()));
            if !log.finished {
                seen_scan = true;
                log_from = Some(log.next);
            } else {
                finished_looks += 1;
                if seen_scan || finished_looks >= LOOKS_AT_UNSEEN_SCAN {
                    scan_ended = Some(last_result.take());
                    continue;
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(Waited::Ended(WaitEnded::Deadline));
        }
        ctx.pause(delay, Some(deadline))
            .await
            .map_err(Waited::Ended)?;
        delay = next_look(delay, &step.poll);
    }
}

/// The build a scan started for the new branch: one whose causes include branch indexing,
/// started after `floor_ms` (server time). It may still be queued, so it is waited for while
/// the queue holds an item for the branch job (within the step's `queue_timeout`); with
/// nothing queued and no such build after a few looks, there is none.
async fn find_scan_build(
    ctx: &mut StepContext,
    step: &JobStep,
    job: &str,
    floor_ms: i64,
) -> Result<Option<BranchBuild>, WaitEnded> {
    let client = ctx.client.clone();
    let deadline = ctx.time.after(step.queue_timeout);
    let mut delay = step.poll.initial.min(MAX_LOOK);
    let mut idle_looks = 0;
    loop {
        let builds = ctx.read(Some(deadline), client.branch_builds(job)).await?;
        // The oldest such build: the first one the scan started.
        if let Some(build) = builds
            .into_iter()
            .rev()
            .find(|b| b.from_scan && b.timestamp_ms.is_none_or(|t| t >= floor_ms))
        {
            return Ok(Some(build));
        }
        if ctx.read(Some(deadline), client.in_queue(job)).await? {
            idle_looks = 0;
        } else {
            idle_looks += 1;
            if idle_looks >= LOOKS_FOR_SCAN_BUILD {
                return Ok(None);
            }
        }
        ctx.pause(delay, Some(deadline)).await?;
        if Instant::now() >= deadline {
            return Err(WaitEnded::Deadline);
        }
        delay = next_look(delay, &step.poll);
    }
}

/// Why the scan's build does not do for the step: a parameter the step gives that the build
/// did not get with the same value. `None` when it got them all.
fn params_missing(build: &BranchBuild, given: &[&(String, String)]) -> Option<String> {
    let wrong: Vec<String> = given
        .iter()
        .filter_map(
            |(name, value)| match build.params.iter().find(|(n, _)| n == name) {
                None => Some(format!("it got no `{name}`")),
                Some((_, Some(got))) if got == value => None,
                Some((_, Some(got))) => Some(format!("it got `{name}={got}`, not `{value}`")),
                Some((_, None)) => Some(format!("its `{name}` cannot be read to compare")),
            },
        )
        .collect();
    (!wrong.is_empty()).then(|| wrong.join(", "))
}

/// A new branch job defines its parameters only once its first build ran its Pipeline
/// (`properties([parameters(...)])`); until then Jenkins refuses parameters. Waits until the
/// job defines the ones the step gives, or until the scan's build ended (then the step's
/// parameter check says what is missing), within the step's `timeout`.
async fn parameters_known(
    ctx: &mut StepContext,
    step: &JobStep,
    job: &str,
    build: &BranchBuild,
    given: &[&(String, String)],
) -> Result<jenkins::Job, WaitEnded> {
    let client = ctx.client.clone();
    let deadline = step.timeout.map(|t| ctx.time.after(t));
    let mut delay = step.poll.initial.min(MAX_LOOK);
    loop {
        let info = ctx.read(deadline, client.job(job)).await?;
        let defined = given
            .iter()
            .all(|(name, _)| info.parameters.iter().any(|p| &p.name == name));
        if defined {
            ctx.jobs.insert(&ctx.server, job, info.clone());
            return Ok(info);
        }
        let scan_build = ctx.read(deadline, client.build(job, build.number)).await?;
        if !scan_build.building {
            // Read after the build's end: whatever it registered is there now.
            let info = ctx.read(deadline, client.job(job)).await?;
            ctx.jobs.insert(&ctx.server, job, info.clone());
            return Ok(info);
        }
        ctx.pause(delay, deadline).await?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(WaitEnded::Deadline);
        }
        delay = next_look(delay, &step.poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(params: &[(&str, Option<&str>)]) -> BranchBuild {
        BranchBuild {
            number: 1,
            url: "http://ci/job/app/job/release%252F2.4/1/".into(),
            timestamp_ms: Some(0),
            queue_id: None,
            from_scan: true,
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
                .collect(),
        }
    }

    #[test]
    fn a_scan_build_is_adopted_only_with_every_parameter_the_step_gives() {
        let version = ("VERSION".to_string(), "2.4.0".to_string());
        let given = [&version];
        assert_eq!(
            params_missing(&build(&[("VERSION", Some("2.4.0"))]), &given),
            None
        );
        assert_eq!(params_missing(&build(&[]), &[]), None);
        assert_eq!(
            params_missing(&build(&[]), &given).as_deref(),
            Some("it got no `VERSION`")
        );
        assert_eq!(
            params_missing(&build(&[("VERSION", Some(""))]), &given).as_deref(),
            Some("it got `VERSION=`, not `2.4.0`")
        );
        assert!(params_missing(&build(&[("VERSION", None)]), &given).is_some());
    }

    #[test]
    fn looks_grow_as_the_steps_polling_and_stay_bounded() {
        let poll = Poll::default();
        let grown = next_look(Duration::from_secs(1), &poll);
        assert!(grown > Duration::from_secs(1) && grown <= MAX_LOOK);
        assert_eq!(
            next_look(Duration::from_secs(60), &poll),
            MAX_LOOK.min(poll.max)
        );
        let fast = Poll {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
            factor: 2.0,
        };
        assert_eq!(
            next_look(Duration::from_millis(80), &fast),
            Duration::from_millis(100)
        );
    }
}

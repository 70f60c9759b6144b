//! Triggering a build exactly once.
//!
//! A POST that got no answer may or may not have queued a build. Posting again blindly is how
//! clients double-trigger, so after such a POST the queue and the job's newest builds are
//! searched for what it may have created before anything is sent again.

use reqwest::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use super::client::{Patience, Reply, decode};
use super::error::{is_loading_page, is_oops_page, page_message};
use super::paths::{job_path, job_segments, queue_id_from_location, shown, url_is_job};
use super::types::{ActionJson, BuildListJson, QueueListJson, Triggered, value_text};
use super::{Client, Error};

const QUEUE_TREE: &str =
    "items[id,task[name,url],actions[parameters[name,value],causes[userId]],inQueueSince]";
const RECENT_BUILDS_TREE: &str =
    "builds[number,queueId,timestamp,actions[parameters[name,value],causes[userId]]]{0,10}";

/// Slack for the server clock estimate: the `Date` header has whole seconds, and a controller's
/// clock may be stepped by NTP.
const CLOCK_SLACK_MS: i64 = 1000;

/// How recent an answer must be to date a POST by its `Date`.
const RECENT_ANSWER: std::time::Duration = std::time::Duration::from_secs(60);

/// What a queue item or build created by this trigger looks like.
struct Wanted<'a> {
    segments: Vec<&'a str>,
    job_path: String,
    params: &'a [(String, String)],
    user: Option<&'a str>,
    /// With a trigger token Jenkins records a `RemoteCause`, which names no user.
    by_token: bool,
    /// The parameter that carries this trigger's unique id (`trigger_id:`), with its value.
    id: Option<(&'a str, &'a str)>,
}

impl<'a> Wanted<'a> {
    fn new(
        client: &'a Client,
        job: &'a str,
        params: &'a [(String, String)],
        token: Option<&str>,
        trigger_id: Option<&'a str>,
    ) -> Result<Wanted<'a>, Error> {
        if let Some(token) = token {
            crate::redact::register(token);
        }
        let id = match trigger_id {
            Some(name) => {
                let value = params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .ok_or_else(|| {
                        Error::config(format!(
                            "the trigger_id parameter `{name}` of job `{job}` has no value"
                        ))
                    })?;
                Some((name, value))
            }
            None => None,
        };
        Ok(Wanted {
            segments: job_segments(job)?,
            job_path: job_path(job)?,
            params,
            user: client.settings().auth.user(),
            by_token: token.is_some(),
            id,
        })
    }

    /// Whether an item or build was created by a trigger like this one. With a trigger id
    /// only that id counts: it is unique to this trigger, whoever else builds the job.
    fn matches(&self, actions: Option<&[ActionJson]>) -> bool {
        let actions = actions.unwrap_or_default();
        let values: Vec<&serde_json::Map<String, Value>> = actions
            .iter()
            .flat_map(|a| a.parameters.iter().flatten())
            .collect();
        if let Some((name, id)) = self.id {
            return values.iter().any(|v| {
                v.get("name").and_then(Value::as_str) == Some(name)
                    && v.get("value").and_then(value_text).as_deref() == Some(id)
            });
        }
        let causes: Vec<&serde_json::Map<String, Value>> = actions
            .iter()
            .flat_map(|a| a.causes.iter().flatten())
            .collect();
        let params_match = self.params.iter().all(|(name, sent)| {
            let Some(value) = values
                .iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(name.as_str()))
            else {
                // Jenkins drops names the job does not declare, so their absence proves nothing.
                return true;
            };
            match value.get("value") {
                // Password values are never shown.
                None | Some(Value::Null) => true,
                // Jenkins reads anything but "true" as false.
                Some(Value::Bool(b)) => *b == sent.eq_ignore_ascii_case("true"),
                Some(other) => value_text(other).as_deref() == Some(sent.as_str()),
            }
        });
        let ours = causes.iter().any(|cause| match cause.get("userId") {
            // User ids are case-insensitive in Jenkins' default strategy.
            Some(Value::String(id)) => self.user.is_some_and(|u| u.eq_ignore_ascii_case(id)),
            Some(Value::Null) => self.user.is_none(),
            None => self.by_token,
            Some(_) => false,
        });
        params_match && ours
    }

    fn is_our_task(&self, url: Option<&str>, name: Option<&str>) -> bool {
        match url {
            Some(url) => url_is_job(url, &self.segments),
            None => self.segments.len() == 1 && name == self.segments.first().copied(),
        }
    }

    /// Whether something created at server time `created` can come from this trigger. A
    /// trigger id needs no clock.
    fn in_time(&self, floor: Option<i64>, created: Option<i64>) -> bool {
        self.id.is_some() || floor.is_none_or(|f| created.is_some_and(|t| t >= f))
    }
}

/// The earliest server time at which something sent at `since` can have been created,
/// estimated from an answer's `Date`. Jenkins timestamps items and builds with the same
/// clock, so this needs no agreement between the client's clock and the server's.
fn server_floor(reply: &Reply, since: Instant) -> Option<i64> {
    let date = reply.date_ms?;
    let elapsed = reply.received.saturating_duration_since(since).as_millis() as i64;
    Some(date - elapsed - CLOCK_SLACK_MS)
}

impl Client {
    /// Triggers `job`: `buildWithParameters` with `params` as a form body when
    /// `parameterized`, else `build`. `token` is the job's remote trigger token, sent only
    /// when given. Returns the queue item Jenkins created or folded the request into.
    pub async fn trigger(
        &self,
        job: &str,
        params: &[(String, String)],
        parameterized: bool,
        token: Option<&str>,
    ) -> Result<Triggered, Error> {
        self.trigger_with_id(job, params, parameterized, token, None)
            .await
    }

    /// `trigger`, where `trigger_id` names the parameter among `params` whose value is unique
    /// to this trigger: a POST whose answer was lost is then recognised by it alone.
    pub async fn trigger_with_id(
        &self,
        job: &str,
        params: &[(String, String)],
        parameterized: bool,
        token: Option<&str>,
        trigger_id: Option<&str>,
    ) -> Result<Triggered, Error> {
        let wanted = Wanted::new(self, job, params, token, trigger_id)?;
        if !parameterized && !params.is_empty() {
            return Err(Error::config(format!(
                "job `{job}` is triggered without parameters, but {} were given",
                params.len()
            )));
        }
        let (visible, url, body) = self.trigger_request(job, params, parameterized, token)?;

        // The POST is dated on the server's own clock from an answer that came before it: its
        // `Date` plus the real time since. That is a lower bound even when the server's clock
        // runs faster than ours (a fast sandbox) or disagrees with it. Callers usually read the
        // job right before triggering; a client that has not heard from the server lately asks.
        let dated = |client: &Client| {
            let last = *client
                .inner
                .last_answer
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            last.filter(|(_, at)| at.elapsed() < RECENT_ANSWER)
        };
        if dated(self).is_none() {
            let _ = self.read(&self.api_url("", "_class")).await;
        }
        let floor_before = dated(self)
            .and_then(|(date, at)| Some(date? + at.elapsed().as_millis() as i64 - CLOCK_SLACK_MS));
        let first_post = Instant::now();
        let mut outcome_unknown = false;
        let mut patience = Patience::new(self.settings().unreachable_timeout);
        loop {
            if outcome_unknown
                && let Some(queue_id) = self
                    .find_triggered(&wanted, first_post, floor_before)
                    .await?
            {
                return Ok(Triggered {
                    queue_id,
                    folded: false,
                    recovered: true,
                });
            }
            let started = Instant::now();
            let failure = match self.post(&url, body.clone()).await? {
                Ok(reply) => {
                    let status = reply.status;
                    let why = || {
                        format!(
                            "POST {visible}: HTTP {} {}",
                            status.as_u16(),
                            page_message(&reply.body, status.as_u16())
                        )
                    };
                    if status == StatusCode::CREATED || status == StatusCode::SEE_OTHER {
                        return triggered(&visible, &reply);
                    } else if (status == StatusCode::SERVICE_UNAVAILABLE
                        && is_loading_page(&reply.body))
                        || status == StatusCode::TOO_MANY_REQUESTS
                    {
                        // Starting up, restarting or rate-limited: nothing was queued.
                        why()
                    } else if status == StatusCode::INTERNAL_SERVER_ERROR
                        && is_oops_page(&reply.body)
                    {
                        // Jenkins itself threw (an illegal choice value, say): a real answer.
                        return Err(self.status_error("POST", &visible, &reply));
                    } else if status.is_server_error() {
                        // A proxy's 502/504 or an unexplained 5xx says nothing about whether
                        // Jenkins got the request.
                        outcome_unknown = true;
                        why()
                    } else {
                        return Err(self.status_error("POST", &visible, &reply));
                    }
                }
                Err(e) if !e.transient => {
                    return Err(Error::Transport {
                        url: visible,
                        message: e.message,
                    });
                }
                Err(e) if !e.sent => format!("POST {visible}: {}", e.message),
                Err(e) => {
                    outcome_unknown = true;
                    format!("POST {visible}: {}", e.message)
                }
            };
            if let Err(after) = patience.failed(started).await {
                let last = if outcome_unknown {
                    format!("{failure} (a build may have been queued all the same)")
                } else {
                    failure
                };
                return Err(self.unreachable(after, last));
            }
        }
    }

    /// The URL of a trigger as shown (without its token), as sent, and its form body.
    fn trigger_request(
        &self,
        job: &str,
        params: &[(String, String)],
        parameterized: bool,
        token: Option<&str>,
    ) -> Result<(String, String, Vec<u8>), Error> {
        let endpoint = if parameterized {
            "buildWithParameters"
        } else {
            "build"
        };
        let visible = format!("{}{endpoint}", self.job_url(job)?);
        let mut url = visible.clone();
        if let Some(token) = token {
            url.push_str("?token=");
            url.extend(form_urlencoded::byte_serialize(token.as_bytes()));
        }
        let body = if parameterized {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish()
                .into_bytes()
        } else {
            Vec::new()
        };
        Ok((visible, url, body))
    }

    /// The server's clock now, as far as its answers tell: the latest `Date` plus the real
    /// time since. Recorded before a trigger, it dates the trigger on the server's own clock.
    pub fn server_time_ms(&self) -> Option<i64> {
        let last = *self
            .inner
            .last_answer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        last.and_then(|(date, at)| Some(date? + at.elapsed().as_millis() as i64))
    }

    /// After a crash between sending a trigger and learning its queue item: the queue item or
    /// build that trigger created, if Jenkins has one. `sent_at_ms` is `server_time_ms()` from
    /// just before the trigger was sent.
    pub async fn find_trigger(
        &self,
        job: &str,
        params: &[(String, String)],
        token: Option<&str>,
        trigger_id: Option<&str>,
        sent_at_ms: Option<i64>,
    ) -> Result<Option<u64>, Error> {
        let wanted = Wanted::new(self, job, params, token, trigger_id)?;
        // Without a server time to go by, any matching item or build counts: after a crash,
        // a missed build is worse than reporting an identical one.
        let floor = Some(sent_at_ms.map_or(i64::MIN, |t| t - CLOCK_SLACK_MS));
        self.find_triggered(&wanted, Instant::now(), floor).await
    }

    /// The one queue item or build that this trigger's POSTs may have created, if any: the
    /// queue and the job's newest builds are both read, and everything that matches is a
    /// candidate. More than one candidate is `Error::Ambiguous`: taking the newest or the
    /// oldest would be a guess, and a wrong guess reports a stranger's build as this run's.
    async fn find_triggered(
        &self,
        wanted: &Wanted<'_>,
        since: Instant,
        floor_before: Option<i64>,
    ) -> Result<Option<u64>, Error> {
        let url = self.api_url("queue/", QUEUE_TREE);
        let reply = self.read(&url).await?;
        if reply.status != StatusCode::OK {
            return Err(self.status_error("GET", &url, &reply));
        }
        let floor = floor_before.or_else(|| server_floor(&reply, since));
        let queue: QueueListJson = decode(&url, &reply)?;
        // By queue id: an item that leaves the queue between the two reads shows in both.
        let mut candidates: std::collections::BTreeMap<u64, String> = queue
            .items
            .unwrap_or_default()
            .into_iter()
            .filter(|item| {
                item.task
                    .as_ref()
                    .is_some_and(|t| wanted.is_our_task(t.url.as_deref(), t.name.as_deref()))
            })
            // An older identical item would have absorbed our POST; if it did not, a new POST
            // folds into it (303) rather than building twice, so leaving it out is safe.
            .filter(|item| wanted.in_time(floor, item.in_queue_since))
            .filter(|item| wanted.matches(item.actions.as_deref()))
            .map(|item| {
                (
                    item.id,
                    format!("{}queue/item/{}/", self.base_url(), item.id),
                )
            })
            .collect();

        let url = self.api_url(&wanted.job_path, RECENT_BUILDS_TREE);
        let reply = self.read(&url).await?;
        match reply.status {
            StatusCode::OK => {}
            // The job is gone; the next POST will report that properly.
            StatusCode::NOT_FOUND => return Ok(single(candidates)),
            _ => return Err(self.status_error("GET", &url, &reply)),
        }
        let floor = floor_before.or(floor.max(server_floor(&reply, since)));
        let list: BuildListJson = decode(&url, &reply)?;
        let job_url = format!("{}{}", self.base_url(), wanted.job_path);
        for build in list.builds.unwrap_or_default() {
            if !wanted.in_time(floor, build.timestamp) || !wanted.matches(build.actions.as_deref())
            {
                continue;
            }
            if let Some(queue_id) = build.queue_id {
                candidates.insert(queue_id, format!("{job_url}{}/", build.number));
            }
        }
        if candidates.len() > 1 {
            return Err(Error::Ambiguous {
                candidates: candidates.into_values().collect(),
            });
        }
        Ok(single(candidates))
    }
}

fn single(candidates: std::collections::BTreeMap<u64, String>) -> Option<u64> {
    candidates.into_keys().next()
}

fn triggered(url: &str, reply: &Reply) -> Result<Triggered, Error> {
    let location = reply.location().ok_or_else(|| Error::Decode {
        url: shown(url).to_string(),
        message: format!(
            "Jenkins answered {} without a Location header",
            reply.status.as_u16()
        ),
    })?;
    let queue_id = queue_id_from_location(location).ok_or_else(|| Error::Decode {
        url: shown(url).to_string(),
        message: format!(
            "Jenkins answered {} but `{}` is not a queue item",
            reply.status.as_u16(),
            shown(location)
        ),
    })?;
    Ok(Triggered {
        queue_id,
        folded: reply.status == StatusCode::SEE_OTHER,
        recovered: false,
    })
}

//! The client proper: one reqwest client per server, the request loop with its retries, the
//! crumb cache, and the read-only calls. Triggering lives in `trigger.rs`.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use bytes::Bytes;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, COOKIE, DATE, HeaderMap, HeaderName, HeaderValue, LOCATION,
    SET_COOKIE,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use super::credentials::{Credentials, unsent};
use super::date::parse_http_date;
use super::error::{TransportError, is_oops_page, mentions_crumb, page_message, show_duration};
use super::front_door::Offsite;
use super::paths::{encode_segment, job_path, shown};
use super::types::{
    Build, BuildJson, BuildListJson, BuildRef, CrumbJson, Job, JobJson, QueueItem, QueueItemJson,
    QueueState, RequestStats,
};
use super::{Auth, Error, ServerSettings};

const JOB_TREE: &str = "_class,fullName,buildable,property[parameterDefinitions[name,type,choices,defaultParameterValue[value]]],lastBuild[estimatedDuration],builds[result,duration]{0,3}";
const QUEUE_ITEM_TREE: &str =
    "id,why,blocked,buildable,cancelled,inQueueSince,executable[number,url,timestamp],timestamp";
/// `actions[_class,waitingForInput]` tells a build paused at an `input` step from one that
/// runs, in the read that is made anyway: other actions answer with their class alone. No
/// read of a build asks for its `estimatedDuration`: when to read comes from the job's read,
/// and Jenkins works that estimate out anew from the job's past builds for every build it
/// renders with it.
pub(crate) const BUILD_TREE: &str =
    "number,url,building,result,timestamp,duration,queueId,actions[_class,waitingForInput]";
/// A build read again while jrun waits for its end, alone or with the other builds of its job
/// being followed: its URL is known from the first read, so every poll leaves it out (on a
/// Jenkins with folders it is most of the answer).
const POLL_TREE: &str =
    "number,building,result,timestamp,duration,queueId,actions[_class,waitingForInput]";
/// Enough to tell which build a queue item became and whether it ended; a running build found
/// this way is read in full later, so whether it waits for input is not asked here.
const LOOKUP_TREE: &str = "number,url,building,result,timestamp,duration,queueId";
const BUILDS_TREE: &str = "builds[number,queueId,url]{0,100}";
const ALL_BUILDS_TREE: &str = "allBuilds[number,queueId,url]";
const CRUMB_TREE: &str = "crumb,crumbRequestField";
/// Jenkins lists at most this many builds under `builds`; older ones need `allBuilds`.
const BUILDS_LIMIT: usize = 100;

/// Retry delays grow from here...
const MIN_DELAY: Duration = Duration::from_millis(100);
/// ...to here, jitter included.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// How many times one POST is sent again after refusals that blame its crumb.
const CRUMB_RETRIES: usize = 3;

/// The most of one answer's body jrun holds, counted after decompression: `tree=`-filtered
/// answers are a few KiB, so anything near this is not Jenkins' answer to the question (a
/// proxy's download, a gzip bomb) and is refused without being read further or asked again.
pub(crate) const MAX_BODY: usize = 8 * 1024 * 1024;
/// The cap on an answer held in memory, as messages and the README say it.
pub const MAX_BODY_SHOWN: &str = "8 MiB";

/// A client for one Jenkins controller. Cloning is cheap and shares the connection pool, the
/// crumb with its session cookie, and the cap on requests in flight.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub settings: ServerSettings,
    /// The configured URL, normalised to end with `/`.
    pub base: String,
    pub http: reqwest::Client,
    pub credentials: Credentials,
    /// Jenkins' version from the first answer that carried `X-Jenkins`: proof that Jenkins
    /// itself answered, not something in front of it.
    jenkins_version: std::sync::OnceLock<String>,
    /// Shared so that a streamed download can hold its permit for as long as it reads.
    pub limiter: Arc<Semaphore>,
    crumb: Mutex<CrumbCache>,
    /// The session cookie of the current crumb, sent with reads so that they stay in the
    /// session the crumb is bound to instead of opening one each.
    pub cookie: SyncMutex<Option<HeaderValue>>,
    /// Set once a POST with "API token" credentials was refused for want of a crumb: the
    /// secret is really a password, so later POSTs fetch the crumb first.
    token_needs_crumb: AtomicBool,
    session: SyncMutex<Option<String>>,
    restarts: AtomicU64,
    /// The latest answer: its `Date` (the server's own clock), if any, and when it arrived.
    pub last_answer: SyncMutex<Option<(Option<i64>, Instant)>>,
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
    /// Cookies of the configured server other than Jenkins' session (a front door's, a load
    /// balancer's).
    pub jar: super::cookies::Jar,
    /// Jenkins' root URL as its answers name it, when that is not the configured URL; said
    /// once per run.
    foreign_root: SyncMutex<Option<String>>,
    root_warned: AtomicBool,
}

/// An HTTP answer, its body read up to [`MAX_BODY`].
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body went on past [`MAX_BODY`]: `body` is its first `MAX_BODY` bytes and the rest
    /// was never read. Only a log read may use such an answer; for anything else it is
    /// [`too_large`].
    pub cut: bool,
    pub received: Instant,
    /// The server's clock from the `Date` header, in epoch milliseconds.
    pub date_ms: Option<i64>,
}

impl Reply {
    fn header(&self, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header(LOCATION)
    }
}

/// A crumb and the session cookie its issuer answered with: Jenkins binds a crumb to its
/// session, so the two are only ever sent together. No cookie jar is shared between requests,
/// because a refused POST's answer sets a cookie of a new session that would otherwise replace
/// the one a crumb fetched meanwhile belongs to.
#[derive(Clone)]
pub(crate) struct Crumb {
    field: HeaderName,
    value: HeaderValue,
    cookie: Option<HeaderValue>,
    generation: u64,
}

enum CrumbState {
    Unknown,
    /// `crumbIssuer` answered 404: CSRF protection is off.
    Disabled,
    Issued(Crumb),
}

struct CrumbCache {
    state: CrumbState,
    generation: u64,
}

impl CrumbCache {
    fn current(&self) -> Option<Crumb> {
        match &self.state {
            CrumbState::Issued(c) => Some(c.clone()),
            _ => None,
        }
    }
}

/// Which session a request goes in.
#[derive(Clone, Copy)]
enum Session {
    /// The current crumb's.
    Current,
    /// None, so that the server opens a new one (a crumb fetch).
    New,
}

/// Why an answer does not fit the question it was asked.
pub(crate) enum Unfit {
    /// It is about something else than what was asked (another build, another item): retried.
    Contradicts(String),
    /// It holds something Jenkins never sends: not retried.
    Invalid(String),
}

/// How long to keep trying while the server fails: the failure window starts with the first
/// failed attempt, delays come from backon with jitter.
pub(crate) struct Patience {
    limit: Duration,
    since: Option<Instant>,
    delays: ExponentialBackoff,
}

impl Patience {
    pub fn new(limit: Duration) -> Patience {
        // Jitter adds up to one more delay, so the builder's cap is half the real one.
        let delays = ExponentialBuilder::default()
            .with_min_delay(MIN_DELAY)
            .with_max_delay(MAX_DELAY / 2)
            .with_jitter()
            .without_max_times()
            .build();
        Patience {
            limit,
            since: None,
            delays,
        }
    }

    /// Records an attempt that started at `started` and failed: sleeps before the next one,
    /// or returns how long the server has been failing once that reaches the limit.
    pub async fn failed(&mut self, started: Instant) -> Result<(), Duration> {
        let since = *self.since.get_or_insert(started);
        let elapsed = since.elapsed();
        if elapsed >= self.limit {
            return Err(elapsed);
        }
        let delay = self
            .delays
            .next()
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY)
            .min(self.limit - elapsed);
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// Any 5xx (a restart's 503, a proxy's 502/504) and 429 are worth waiting out on a read.
pub(crate) fn retryable_read(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// On an idempotent POST, a 500 that is Jenkins' own "Oops!" page is a real answer.
fn retryable_post(reply: &Reply) -> bool {
    retryable_read(reply.status)
        && !(reply.status == StatusCode::INTERNAL_SERVER_ERROR && is_oops_page(&reply.body))
}

fn describe_status(method: &str, url: &str, reply: &Reply) -> String {
    format!(
        "{method} {}: HTTP {} {}",
        shown(url),
        reply.status.as_u16(),
        page_message(&reply.body, reply.status.as_u16())
    )
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.settings.name)
            .field("url", &self.inner.base)
            .field("auth", &self.inner.settings.auth)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(settings: ServerSettings) -> Result<Client, Error> {
        let base = normalise_base(&settings.url)?;
        if settings.max_in_flight == 0 {
            return Err(Error::config(format!(
                "server `{}`: max_in_flight must be at least 1",
                settings.name
            )));
        }
        let credentials = Credentials::new(&settings)?;
        let mut builder = reqwest::Client::builder();
        if let Some((file, pem)) = &settings.tls.extra_roots {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|roots| !roots.is_empty())
                .ok_or_else(|| {
                    Error::config(format!(
                        "server `{}`: {file} holds no PEM certificate (a CA file has blocks \
                         starting with -----BEGIN CERTIFICATE-----)",
                        settings.name
                    ))
                })?;
            builder = builder.tls_certs_merge(roots);
        }
        if settings.tls.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        // reqwest would read the proxy variables itself, behind the settings' back (and the
        // sandbox's); the settings say which proxy, if any, and nothing else does.
        builder = builder.no_proxy();
        if let Some(proxy) = &settings.proxy {
            let bad = || {
                Error::config(format!(
                    "server `{}`: {} is not a proxy URL such as http://proxy.example.com:3128",
                    settings.name, proxy.from
                ))
            };
            let url = proxy.url.expose();
            super::settings::check_proxy_url(url).map_err(|_| bad())?;
            let no_proxy = proxy
                .no_proxy
                .as_deref()
                .and_then(reqwest::NoProxy::from_string);
            builder = builder.proxy(
                reqwest::Proxy::all(url)
                    .map_err(|_| bad())?
                    .no_proxy(no_proxy),
            );
        }
        // A server reached over plain HTTP (directly or through a plain-HTTP proxy) is never
        // spoken TLS to: redirects are not followed and every URL Jenkins names is rebased
        // onto this one. Its client does without the platform's certificate roots, whose
        // loading (a file per root) takes several milliseconds before the first request.
        if plain_http_only(&base, settings.proxy.as_ref().map(|p| p.url.expose())) {
            builder = builder.tls_certs_only(Vec::<reqwest::Certificate>::new());
        }
        let http = builder
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(attempt_timeout(&settings))
            .gzip(true)
            .user_agent(settings.user_agent.clone())
            .build()
            .map_err(|e| {
                Error::config(format!(
                    "server `{}`: cannot set up the HTTP client: {}",
                    settings.name,
                    super::error::describe_chain(&e.without_url())
                ))
            })?;
        Ok(Client {
            inner: Arc::new(Inner {
                limiter: Arc::new(Semaphore::new(settings.max_in_flight)),
                settings,
                base,
                http,
                credentials,
                jenkins_version: std::sync::OnceLock::new(),
                crumb: Mutex::new(CrumbCache {
                    state: CrumbState::Unknown,
                    generation: 0,
                }),
                cookie: SyncMutex::new(None),
                token_needs_crumb: AtomicBool::new(false),
                session: SyncMutex::new(None),
                restarts: AtomicU64::new(0),
                last_answer: SyncMutex::new(None),
                requests: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                jar: super::cookies::Jar::default(),
                foreign_root: SyncMutex::new(None),
                root_warned: AtomicBool::new(false),
            }),
        })
    }

    /// A URL Jenkins wrote (a build's `url`, a `Location`) on the configured base; one that
    /// names another root is remembered for [`Client::root_url_warning`].
    pub(crate) fn own_url(&self, url: &str) -> String {
        let rebased = super::paths::rebase(&self.inner.base, url);
        if let Some(root) = rebased.foreign_root {
            let mut seen = self
                .inner
                .foreign_root
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if seen.is_none() {
                *seen = Some(root);
            }
        }
        rebased.url
    }

    /// The warning, once per client, that Jenkins' root URL is not the URL jrun reaches it at.
    pub fn root_url_warning(&self) -> Option<String> {
        let root = self
            .inner
            .foreign_root
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        if self.inner.root_warned.swap(true, Ordering::SeqCst) {
            return None;
        }
        Some(format!(
            "warning: Jenkins' root URL is {root} but jrun reaches it at {}; using the \
             configured URL. Set Manage Jenkins › System › Jenkins URL to the address clients \
             use (or have the proxy pass X-Forwarded-Host/-Proto/-Port)",
            self.inner.base
        ))
    }

    /// An answer that came from something in front of Jenkins, as the error it is.
    pub(crate) fn check_front_door(
        &self,
        method: &Method,
        url: &str,
        reply: &Reply,
        offsite: super::front_door::Offsite,
    ) -> Result<(), Error> {
        match super::front_door::recognise(
            &self.inner.base,
            method,
            url,
            reply.status,
            &reply.headers,
            &reply.body,
            offsite,
        ) {
            Some(answered) => Err(Error::FrontDoor {
                url: shown(url).to_string(),
                answered,
            }),
            None => Ok(()),
        }
    }

    /// The configured base URL, ending with `/`.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The server's name from the settings, for messages.
    pub fn name(&self) -> &str {
        &self.inner.settings.name
    }

    pub fn settings(&self) -> &ServerSettings {
        &self.inner.settings
    }

    /// The job's URL on the configured base, e.g. `https://ci/jenkins/job/a/job/b%20c/`.
    pub fn job_url(&self, job: &str) -> Result<String, Error> {
        Ok(format!("{}{}", self.inner.base, job_path(job)?))
    }

    pub fn stats(&self) -> RequestStats {
        RequestStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            bytes_received: self.inner.bytes.load(Ordering::Relaxed),
        }
    }

    /// How many times the `X-Jenkins-Session` header changed, i.e. how many controller
    /// restarts this client has noticed. After one, left queue items are gone for good.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    pub fn restarted(&self) -> bool {
        self.restarts() > 0
    }

    /// The job's definition, for checking it exists, is buildable and takes the parameters.
    pub async fn job(&self, job: &str) -> Result<Job, Error> {
        let url = self.api_url(&job_path(job)?, JOB_TREE);
        match self.get_json::<JobJson>(&url).await? {
            Some(found) => found.into_job(job).map_err(|message| Error::Decode {
                url: shown(&url).to_string(),
                message,
            }),
            None => Err(Error::NotFound {
                what: format!("job `{job}`"),
            }),
        }
    }

    pub async fn queue_item(&self, id: u64) -> Result<QueueItem, Error> {
        let url = self.api_url(&format!("queue/item/{id}/"), QUEUE_ITEM_TREE);
        let answer = self
            .get_fitting(&url, |item: QueueItemJson| {
                let mut item = item.into_item();
                if let QueueState::Started { url, .. } = &mut item.state {
                    *url = self.own_url(url);
                }
                if item.id == id {
                    Ok(item)
                } else {
                    Err(Unfit::Contradicts(format!(
                        "asked for queue item {id}, got queue item {}",
                        item.id
                    )))
                }
            })
            .await?;
        match answer {
            Some(item) => Ok(item),
            None => Err(Error::NotFound {
                what: format!("queue item {id}"),
            }),
        }
    }

    /// The build that queue item `queue_id` became, searched by `queueId` among the job's
    /// builds: how a build is found again once its queue item expired or a restart forgot it.
    /// Never `lastBuild`, which may be someone else's.
    pub async fn find_build_by_queue_id(
        &self,
        job: &str,
        queue_id: u64,
    ) -> Result<Option<BuildRef>, Error> {
        let path = job_path(job)?;
        let not_found = || Error::NotFound {
            what: format!("job `{job}`"),
        };
        let list: BuildListJson = self
            .get_json(&self.api_url(&path, BUILDS_TREE))
            .await?
            .ok_or_else(not_found)?;
        let builds = list.builds.unwrap_or_default();
        // One queue item becomes at most one build: a list that says otherwise is not
        // Jenkins' own, and neither build is adopted.
        let find = |url: &str, builds: &[super::types::BuildStubJson]| {
            let mut found = builds.iter().filter(|b| b.queue_id == Some(queue_id));
            match (found.next(), found.next()) {
                (Some(a), Some(b)) => Err(Error::Decode {
                    url: shown(url).to_string(),
                    message: format!(
                        "builds #{} and #{} both claim queue item {queue_id}",
                        a.number, b.number
                    ),
                }),
                (found, _) => Ok(found.map(|b| BuildRef {
                    number: b.number,
                    url: self.own_url(b.url.as_deref().unwrap_or_default()),
                })),
            }
        };
        let builds_url = self.api_url(&path, BUILDS_TREE);
        if let Some(found) = find(&builds_url, &builds)? {
            return Ok(Some(found));
        }
        if builds.len() < BUILDS_LIMIT {
            return Ok(None);
        }
        let all_url = self.api_url(&path, ALL_BUILDS_TREE);
        let all: BuildListJson = self.get_json(&all_url).await?.ok_or_else(not_found)?;
        find(&all_url, &all.all_builds.unwrap_or_default())
    }

    /// Build `number` of `job`. An answer about another build is retried like a transient
    /// failure, then is an unexpected answer ([`Error::Decode`]).
    pub async fn build(&self, job: &str, number: u64) -> Result<Build, Error> {
        self.build_checked(job, number, None, BUILD_TREE).await
    }

    /// Build `number` of `job` read again while waiting for its end, checked like
    /// [`Client::build_of`] when `queue_id` is known; its `url` is left empty, not read.
    pub async fn poll_build(
        &self,
        job: &str,
        number: u64,
        queue_id: Option<u64>,
    ) -> Result<Build, Error> {
        self.build_checked(job, number, queue_id, POLL_TREE).await
    }

    /// Build `number` of `job`, which queue item `queue_id` became: like [`Client::build`],
    /// and an answer whose `queueId` is another item's is not this build either. A recorded
    /// build is checked this way before it is trusted again.
    pub async fn build_of(&self, job: &str, number: u64, queue_id: u64) -> Result<Build, Error> {
        self.build_checked(job, number, Some(queue_id), BUILD_TREE)
            .await
    }

    async fn build_checked(
        &self,
        job: &str,
        number: u64,
        queue_id: Option<u64>,
        tree: &str,
    ) -> Result<Build, Error> {
        let url = self.api_url(&format!("{}{number}/", job_path(job)?), tree);
        let answer = self
            .get_fitting(&url, |json: BuildJson| {
                let mut build = Build::try_from(json).map_err(Unfit::Invalid)?;
                build.url = self.own_url(&build.url);
                if build.number != number {
                    return Err(Unfit::Contradicts(format!(
                        "asked for build #{number}, got build #{}",
                        build.number
                    )));
                }
                match (queue_id, build.queue_id) {
                    (Some(ours), Some(theirs)) if theirs != ours => {
                        Err(Unfit::Contradicts(format!(
                            "build #{number} was expected to come from queue item {ours}, \
                             Jenkins says it came from queue item {theirs}"
                        )))
                    }
                    _ => Ok(build),
                }
            })
            .await?;
        answer.ok_or_else(|| Error::NotFound {
            what: format!("build #{number} of job `{job}`"),
        })
    }

    /// The job's newest `count` builds, newest first, in one read: cheaper than a read per
    /// build when several builds of one job are followed at once.
    pub async fn recent_builds(&self, job: &str, count: usize) -> Result<Vec<Build>, Error> {
        self.listed_builds(job, count, POLL_TREE).await
    }

    /// The build that queue item `queue_id` became, looked for among the job's newest `count`
    /// builds in one short read; None when none of them came from it (not created yet, or
    /// pushed out by newer ones: the queue item says which). Never a build of another item.
    pub async fn queued_build(
        &self,
        job: &str,
        queue_id: u64,
        count: usize,
    ) -> Result<Option<Build>, Error> {
        let builds = self.listed_for_lookup(job, count).await?;
        self.queued_among(job, &builds, queue_id)
    }

    /// [`Client::pick_queued`] for a list of `job`'s builds this client read: a list that
    /// contradicts itself is an answer that cannot be decoded.
    pub fn queued_among(
        &self,
        job: &str,
        builds: &[Build],
        queue_id: u64,
    ) -> Result<Option<Build>, Error> {
        Client::pick_queued(builds, queue_id).map_err(|message| Error::Decode {
            url: self.job_url(job).unwrap_or_else(|_| job.to_string()),
            message,
        })
    }

    /// The job's newest `count` builds, with what tells which queue item each came from and
    /// whether it ended.
    pub async fn listed_for_lookup(&self, job: &str, count: usize) -> Result<Vec<Build>, Error> {
        self.listed_builds(job, count, LOOKUP_TREE).await
    }

    /// The build among `builds` that came from queue item `queue_id`. One queue item becomes
    /// at most one build: a list that says otherwise is not Jenkins' own, and neither build
    /// is taken.
    pub fn pick_queued(builds: &[Build], queue_id: u64) -> Result<Option<Build>, String> {
        let mut found = builds.iter().filter(|b| b.queue_id == Some(queue_id));
        match (found.next(), found.next()) {
            (Some(a), Some(b)) => Err(format!(
                "builds #{} and #{} both claim queue item {queue_id}",
                a.number, b.number
            )),
            (found, _) => Ok(found.cloned()),
        }
    }

    async fn listed_builds(
        &self,
        job: &str,
        count: usize,
        fields: &str,
    ) -> Result<Vec<Build>, Error> {
        let count = count.max(1);
        let tree = format!("allBuilds[{fields}]{{0,{count}}}");
        let url = self.api_url(&job_path(job)?, &tree);
        // Not asked again when it contradicts the question: the caller reads each build on
        // its own then, and those reads are checked and retried.
        let answer = self
            .get_fitting(&url, |list: super::types::FullBuildListJson| {
                let builds = list
                    .all_builds
                    .unwrap_or_default()
                    .into_iter()
                    .map(|json| {
                        Build::try_from(json).map(|mut build| {
                            build.url = self.own_url(&build.url);
                            build
                        })
                    })
                    .collect::<Result<Vec<Build>, String>>()
                    .map_err(Unfit::Invalid)?;
                if builds.len() > count {
                    return Err(Unfit::Invalid(format!(
                        "asked for the newest {count} builds, got {}",
                        builds.len()
                    )));
                }
                if let Some(pair) = builds.windows(2).find(|w| w[0].number <= w[1].number) {
                    return Err(Unfit::Invalid(format!(
                        "builds are listed newest first, yet #{} comes before #{}",
                        pair[0].number, pair[1].number
                    )));
                }
                Ok(builds)
            })
            .await?;
        answer.ok_or_else(|| Error::NotFound {
            what: format!("job `{job}`"),
        })
    }

    /// A permalink such as `lastBuild` or `lastSuccessfulBuild`; None when the job has no
    /// such build (Jenkins answers 404).
    pub async fn permalink(&self, job: &str, name: &str) -> Result<Option<Build>, Error> {
        let path = format!("{}{}/", job_path(job)?, encode_segment(name));
        let url = self.api_url(&path, BUILD_TREE);
        self.get_fitting(&url, |json: BuildJson| {
            let mut build = Build::try_from(json).map_err(Unfit::Invalid)?;
            build.url = self.own_url(&build.url);
            permalink_fits(name, &build).map_err(Unfit::Contradicts)?;
            Ok(build)
        })
        .await
    }

    /// Aborts a build. Jenkins answers 302 whether or not anything was running; the build
    /// shows ABORTED a little later.
    pub async fn stop(&self, job: &str, number: u64) -> Result<(), Error> {
        let url = format!("{}{}{number}/stop", self.inner.base, job_path(job)?);
        let reply = self.post_retrying(&url).await?;
        match reply.status.as_u16() {
            200..=399 => Ok(()),
            404 => Err(Error::NotFound {
                what: format!("build #{number} of job `{job}`"),
            }),
            _ => Err(self.status_error("POST", &url, &reply)),
        }
    }

    /// Cancels a queue item. An item that is already gone (404) or already left the queue
    /// (500 "Could not cancel") needs no cancelling, so both are success.
    pub async fn cancel_queue_item(&self, id: u64) -> Result<(), Error> {
        let url = format!("{}queue/cancelItem?id={id}", self.inner.base);
        let reply = self.post_retrying(&url).await?;
        match reply.status.as_u16() {
            // 204 since 2.211, a 302 to the referer before.
            200..=399 | 404 | 500 => Ok(()),
            _ => Err(self.status_error("POST", &url, &reply)),
        }
    }

    // ---- plumbing ----

    pub(crate) fn api_url(&self, path: &str, tree: &str) -> String {
        let tree: String = form_urlencoded::byte_serialize(tree.as_bytes()).collect();
        format!("{}{path}api/json?tree={tree}", self.inner.base)
    }

    pub(crate) fn unreachable(&self, after: Duration, last: String) -> Error {
        Error::Unreachable {
            server: self.inner.settings.name.clone(),
            url: self.inner.base.clone(),
            after,
            last,
        }
    }

    /// One attempt, holding one of the server's in-flight permits for exactly its duration.
    /// A POST with a crumb carries that crumb's session cookie; anything else carries the
    /// current crumb's.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        crumb: Option<&Crumb>,
    ) -> Result<Reply, TransportError> {
        let cookie = match crumb {
            Some(crumb) => crumb.cookie.clone(),
            None => self
                .inner
                .cookie
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        self.send_with(method, url, body, crumb, cookie).await
    }

    /// [`Client::send_once`] with the server's credentials. A 401 to a token a command
    /// printed (which may have expired before `token_ttl`) is sent once more with a new
    /// one: Jenkins did nothing with the refused request, so a POST is safe to repeat.
    async fn send_with(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        crumb: Option<&Crumb>,
        cookie: Option<HeaderValue>,
    ) -> Result<Reply, TransportError> {
        let credentials = &self.inner.credentials;
        let (authorization, used) = credentials.authorization().await.map_err(unsent)?;
        let reply = self
            .send_once(
                method.clone(),
                url,
                body.clone(),
                crumb,
                cookie.clone(),
                authorization,
            )
            .await?;
        if reply.status != StatusCode::UNAUTHORIZED {
            return Ok(reply);
        }
        match credentials.renew(used).await.map_err(unsent)? {
            Some(renewed) => {
                self.send_once(method, url, body, crumb, cookie, Some(renewed))
                    .await
            }
            None => Ok(reply),
        }
    }

    /// Which Jenkins version answered, once one answer carried `X-Jenkins`.
    pub fn jenkins_version(&self) -> Option<&str> {
        self.inner.jenkins_version.get().map(String::as_str)
    }

    async fn send_once(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        crumb: Option<&Crumb>,
        cookie: Option<HeaderValue>,
        authorization: Option<HeaderValue>,
    ) -> Result<Reply, TransportError> {
        let _permit = self
            .inner
            .limiter
            .acquire()
            .await
            .map_err(|_| TransportError {
                sent: false,
                transient: false,
                message: "the client is shutting down".to_string(),
            })?;
        // What `-v` shows of the request, worked out only when someone looks.
        let logged =
            tracing::enabled!(tracing::Level::DEBUG).then(|| (method.to_string(), logged_url(url)));
        let mut request = self.inner.http.request(method, url);
        if let Some(header) = authorization {
            request = request.header(AUTHORIZATION, header);
        }
        for (name, value) in self.inner.credentials.headers() {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(crumb) = crumb {
            request = request.header(crumb.field.clone(), crumb.value.clone());
        }
        if let Some(cookie) = self.inner.jar.header(cookie) {
            request = request.header(COOKIE, cookie);
        }
        if let Some(body) = body {
            // Always a body on POST, even an empty one: some proxies want a Content-Length.
            request = request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        }
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let sent_at = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let failure = TransportError::from_reqwest(e, self.attempt_timeout());
                if let Some((method, url)) = &logged {
                    tracing::debug!("{method} {url}: {}", failure.message);
                }
                return Err(failure);
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        self.observe_session(&headers);
        if let Some(version) = headers.get("x-jenkins").and_then(|v| v.to_str().ok()) {
            let _ = self.inner.jenkins_version.set(version.to_string());
        }
        self.inner.jar.store(&headers);
        let (body, cut) = read_capped(response)
            .await
            .map_err(|e| TransportError::body(e, self.attempt_timeout()))?;
        if let Some((method, url)) = &logged {
            tracing::debug!(
                "{method} {url} -> {} in {} ms, {} B",
                status.as_u16(),
                sent_at.elapsed().as_millis(),
                body.len()
            );
        }
        self.inner
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let date_ms = headers
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        let received = Instant::now();
        *self
            .inner
            .last_answer
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((date_ms, received));
        Ok(Reply {
            status,
            headers,
            body,
            cut,
            received,
            date_ms,
        })
    }

    pub(crate) fn attempt_timeout(&self) -> Duration {
        attempt_timeout(&self.inner.settings)
    }

    pub(crate) fn observe_session(&self, headers: &HeaderMap) {
        let Some(session) = headers
            .get("x-jenkins-session")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let mut last = self.inner.session.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(session) {
            if last.is_some() {
                self.inner.restarts.fetch_add(1, Ordering::Relaxed);
            }
            *last = Some(session.to_string());
        }
    }

    /// A GET that waits out transient failures for up to `unreachable_timeout`; any other
    /// answer, 404 included, is returned for the caller to interpret.
    pub(crate) async fn read(&self, url: &str) -> Result<Reply, Error> {
        let reply = self.read_cut(url).await?;
        if reply.cut {
            return Err(too_large(url));
        }
        Ok(reply)
    }

    /// [`Client::read`] of something whose first [`MAX_BODY`] bytes are of use on their own
    /// (a log): an answer past that is handed on with `cut` set.
    pub(crate) async fn read_cut(&self, url: &str) -> Result<Reply, Error> {
        let mut patience = Patience::new(self.inner.settings.unreachable_timeout);
        self.read_patiently(url, &mut patience, Session::Current)
            .await
    }

    /// [`Client::read_cut`] within a failure window the caller may share with its own retries.
    /// A cut answer is never retried: asking again would only fetch as much again.
    async fn read_patiently(
        &self,
        url: &str,
        patience: &mut Patience,
        session: Session,
    ) -> Result<Reply, Error> {
        loop {
            let started = Instant::now();
            let sent = match session {
                Session::Current => self.send(Method::GET, url, None, None).await,
                Session::New => self.send_with(Method::GET, url, None, None, None).await,
            };
            let failure = match sent {
                Ok(reply) if reply.cut => return Ok(reply),
                Ok(reply) if retryable_read(reply.status) => describe_status("GET", url, &reply),
                Ok(reply) => {
                    self.check_front_door(&Method::GET, url, &reply, Offsite::Suspect)?;
                    return Ok(reply);
                }
                Err(e) if e.transient => format!("GET {}: {}", shown(url), e.message),
                Err(e) => {
                    return Err(Error::Transport {
                        url: shown(url).to_string(),
                        message: e.message,
                    });
                }
            };
            if let Err(after) = patience.failed(started).await {
                return Err(self.unreachable(after, failure));
            }
        }
    }

    /// A GET of JSON that must fit the question, `fit` says whether it does: an answer that
    /// contradicts it (another build's number, another item's id) is waited out like a
    /// transient failure, since a proxy or a load balancer in a bad moment can give one, and
    /// is an unexpected answer once the server has answered so for `unreachable_timeout`. It
    /// is never handed on. None on 404.
    pub(crate) async fn get_fitting<T: DeserializeOwned, R>(
        &self,
        url: &str,
        fit: impl Fn(T) -> Result<R, Unfit>,
    ) -> Result<Option<R>, Error> {
        let mut patience = Patience::new(self.inner.settings.unreachable_timeout);
        loop {
            let started = Instant::now();
            let reply = self
                .read_patiently(url, &mut patience, Session::Current)
                .await?;
            if reply.cut {
                return Err(too_large(url));
            }
            let json = match reply.status.as_u16() {
                200 => decode::<T>(url, &reply)?,
                404 => return Ok(None),
                _ => return Err(self.status_error("GET", url, &reply)),
            };
            let contradiction = match fit(json) {
                Ok(fits) => return Ok(Some(fits)),
                Err(Unfit::Invalid(message)) => {
                    return Err(Error::Decode {
                        url: shown(url).to_string(),
                        message,
                    });
                }
                Err(Unfit::Contradicts(message)) => message,
            };
            tracing::debug!("GET {}: {contradiction}", logged_url(url));
            if let Err(after) = patience.failed(started).await {
                return Err(Error::Decode {
                    url: shown(url).to_string(),
                    message: format!("{contradiction} (answered so for {})", show_duration(after)),
                });
            }
        }
    }

    /// A GET of JSON; None on 404.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<Option<T>, Error> {
        let reply = self.read(url).await?;
        match reply.status.as_u16() {
            200 => decode(url, &reply).map(Some),
            404 => Ok(None),
            _ => Err(self.status_error("GET", url, &reply)),
        }
    }

    /// One POST with whatever crumb the credentials need. A 403 that blames the crumb (bound
    /// to a session Jenkins may have dropped, e.g. on restart) is repeated with the current
    /// crumb when another POST already replaced the refused one, else with one fetched for it;
    /// a crumb fetched for this POST and refused at once ends it, and so do `CRUMB_RETRIES`
    /// repeats. A transport failure is handed back for the caller to judge.
    pub(crate) async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
    ) -> Result<Result<Reply, TransportError>, Error> {
        let mut crumb = self.crumb_for_post().await?;
        let mut fetched_for_this = false;
        let mut repeats = 0;
        loop {
            let reply = match self
                .send(Method::POST, url, Some(body.clone()), crumb.as_ref())
                .await
            {
                // A trigger's answer is its status and `Location`: its body, however large,
                // does not change that a build was queued, which must still be followed.
                Ok(reply)
                    if reply.cut
                        && !matches!(reply.status, StatusCode::CREATED | StatusCode::SEE_OTHER) =>
                {
                    return Err(too_large(url));
                }
                Ok(reply) => reply,
                Err(e) => return Ok(Err(e)),
            };
            self.check_front_door(&Method::POST, url, &reply, Offsite::Suspect)?;
            let blames_crumb = reply.status == StatusCode::FORBIDDEN && mentions_crumb(&reply.body);
            if !blames_crumb {
                return Ok(Ok(reply));
            }
            self.inner.token_needs_crumb.store(true, Ordering::Relaxed);
            if fetched_for_this || repeats == CRUMB_RETRIES {
                return Ok(Ok(reply));
            }
            repeats += 1;
            match self.refresh_crumb(crumb.as_ref()).await? {
                Some((current, fetched)) => {
                    crumb = Some(current);
                    fetched_for_this = fetched;
                }
                None => return Ok(Ok(reply)),
            }
        }
    }

    /// A POST that may safely be repeated (stop, cancel): transient failures are retried like
    /// reads.
    pub(crate) async fn post_retrying(&self, url: &str) -> Result<Reply, Error> {
        let mut patience = Patience::new(self.inner.settings.unreachable_timeout);
        loop {
            let started = Instant::now();
            let failure = match self.post(url, Vec::new()).await? {
                Ok(reply) if retryable_post(&reply) => describe_status("POST", url, &reply),
                Ok(reply) => return Ok(reply),
                Err(e) if e.transient => format!("POST {}: {}", shown(url), e.message),
                Err(e) => {
                    return Err(Error::Transport {
                        url: shown(url).to_string(),
                        message: e.message,
                    });
                }
            };
            if let Err(after) = patience.failed(started).await {
                return Err(self.unreachable(after, failure));
            }
        }
    }

    async fn crumb_for_post(&self) -> Result<Option<Crumb>, Error> {
        if self.inner.settings.auth.is_api_token()
            && !self.inner.token_needs_crumb.load(Ordering::Relaxed)
        {
            return Ok(None);
        }
        // Held across the fetch so that concurrent first POSTs share one crumb.
        let mut cache = self.inner.crumb.lock().await;
        if matches!(cache.state, CrumbState::Unknown) {
            self.renew_crumb(&mut cache).await?;
        }
        Ok(cache.current())
    }

    /// The crumb to repeat a POST refused with `used` with, and whether it was fetched just
    /// now: the current one when another POST already replaced `used`, else a new one. The
    /// lock makes it one fetch at a time, however many POSTs were refused together.
    async fn refresh_crumb(&self, used: Option<&Crumb>) -> Result<Option<(Crumb, bool)>, Error> {
        let mut cache = self.inner.crumb.lock().await;
        let stale = match (&cache.state, used) {
            (CrumbState::Issued(current), Some(used)) => current.generation == used.generation,
            (CrumbState::Issued(_), None) => false,
            (CrumbState::Unknown | CrumbState::Disabled, _) => true,
        };
        if stale {
            self.renew_crumb(&mut cache).await?;
        }
        Ok(cache.current().map(|crumb| (crumb, stale)))
    }

    async fn renew_crumb(&self, cache: &mut CrumbCache) -> Result<(), Error> {
        let generation = cache.generation + 1;
        cache.state = self.fetch_crumb(generation).await?;
        cache.generation = generation;
        let cookie = cache.current().and_then(|crumb| crumb.cookie);
        *self.inner.cookie.lock().unwrap_or_else(|e| e.into_inner()) = cookie;
        Ok(())
    }

    /// Asked without a session cookie, so that Jenkins answers with a new session and the
    /// crumb bound to it, and the two are known to belong together.
    async fn fetch_crumb(&self, generation: u64) -> Result<CrumbState, Error> {
        let url = self.api_url("crumbIssuer/", CRUMB_TREE);
        let mut patience = Patience::new(self.inner.settings.unreachable_timeout);
        let reply = self
            .read_patiently(&url, &mut patience, Session::New)
            .await?;
        if reply.cut {
            return Err(too_large(&url));
        }
        match reply.status.as_u16() {
            200 => {
                let json: CrumbJson = decode(&url, &reply)?;
                crate::redact::register(&json.crumb);
                let bad = |what: &str| Error::Decode {
                    url: shown(&url).to_string(),
                    message: format!("the crumb issuer sent an unusable {what}"),
                };
                let field = HeaderName::from_bytes(json.field.as_bytes())
                    .map_err(|_| bad("crumbRequestField"))?;
                let mut value = HeaderValue::from_str(&json.crumb).map_err(|_| bad("crumb"))?;
                value.set_sensitive(true);
                Ok(CrumbState::Issued(Crumb {
                    field,
                    value,
                    cookie: session_cookie(&reply.headers),
                    generation,
                }))
            }
            404 => Ok(CrumbState::Disabled),
            _ => Err(self.status_error("GET", &url, &reply)),
        }
    }

    /// The error for an answer that is neither success nor retryable.
    pub(crate) fn status_error(&self, method: &str, url: &str, reply: &Reply) -> Error {
        let status = reply.status.as_u16();
        let message = page_message(&reply.body, status);
        let who = match self.inner.settings.auth.user() {
            Some(user) => format!("user `{user}`"),
            None => "anonymous access".to_string(),
        };
        match status {
            401 => Error::Auth {
                status,
                message: match &self.inner.settings.auth {
                    Auth::Token { .. } => {
                        format!(
                            "the API token of {who} was refused; check the user name and the token"
                        )
                    }
                    Auth::Password { .. } => {
                        format!(
                            "the password of {who} was refused; check the user name and the password"
                        )
                    }
                    Auth::Bearer { .. } => {
                        "the bearer token was refused; check the token and `auth: bearer`"
                            .to_string()
                    }
                    Auth::Command { command, .. } => format!(
                        "the token that the token command `{}` printed was refused, also when \
                         run again; check what the command prints and the server's `auth:`",
                        command.argv.first().map_or("", String::as_str)
                    ),
                    Auth::Anonymous => {
                        "Jenkins wants credentials; configure a user and an API token".to_string()
                    }
                },
            },
            403 if message.contains("Invalid token provided") => Error::Auth {
                status,
                message: "the job refused the remote trigger token (Invalid token provided.)"
                    .to_string(),
            },
            403 if mentions_crumb(message.as_bytes()) => Error::Auth {
                status,
                message: format!("Jenkins refused a freshly fetched crumb for {who}: {message}"),
            },
            403 => {
                let needs = reply
                    .header("x-required-permission")
                    .map(|p| format!(" (needs {p})"))
                    .unwrap_or_default();
                Error::Auth {
                    status,
                    message: format!("{who} lacks permission{needs}: {message}"),
                }
            }
            300..=399 => Error::Http {
                status,
                method: method.to_string(),
                url: shown(url).to_string(),
                message: match reply.location() {
                    Some(to) => format!("redirected to {}", shown(to)),
                    None => "redirected".to_string(),
                },
            },
            _ => Error::Http {
                status,
                method: method.to_string(),
                url: shown(url).to_string(),
                message,
            },
        }
    }
}

/// Whether `build` can be what permalink `name` points at (Jenkins' `PermalinkProjectAction`:
/// "successful" includes UNSTABLE, "unsuccessful" is anything but SUCCESS); names it does not
/// know are not checked.
fn permalink_fits(name: &str, build: &Build) -> Result<(), String> {
    let result = build.result.as_deref();
    let fits = match name {
        "lastBuild" => true,
        "lastCompletedBuild" => !build.building,
        "lastSuccessfulBuild" => !build.building && matches!(result, Some("SUCCESS" | "UNSTABLE")),
        "lastStableBuild" => !build.building && result == Some("SUCCESS"),
        "lastFailedBuild" => !build.building && result == Some("FAILURE"),
        "lastUnstableBuild" => !build.building && result == Some("UNSTABLE"),
        "lastUnsuccessfulBuild" => !build.building && result.is_some_and(|r| r != "SUCCESS"),
        _ => true,
    };
    if fits {
        return Ok(());
    }
    let state = match (build.building, result) {
        (true, _) => "still building".to_string(),
        (false, Some(result)) => format!("finished {result}"),
        (false, None) => "finished without a result".to_string(),
    };
    Err(format!(
        "asked for {name}, got build #{} {state}",
        build.number
    ))
}

/// The cookies an answer sets, as one `Cookie` header value; cookies being deleted are left
/// out. Their attributes do not matter: they are sent to this one server only.
fn session_cookie(headers: &HeaderMap) -> Option<HeaderValue> {
    let pairs: Vec<&str> = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|cookie| {
            let lower = cookie.to_ascii_lowercase();
            !lower.contains("max-age=0") && !lower.contains("expires=thu, 01 jan 1970")
        })
        .filter_map(|cookie| cookie.split(';').next())
        .map(str::trim)
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, _)| !name.is_empty())
        })
        .inspect(|pair| {
            if let Some((_, value)) = pair.split_once('=') {
                crate::redact::register(value);
            }
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let mut value = HeaderValue::from_str(&pairs.join("; ")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The body of `response`, up to [`MAX_BODY`] bytes after decompression, and whether there
/// was more. Read chunk by chunk, as reqwest inflates them, so that neither a huge answer nor
/// a small one that inflates to a huge one is ever held whole.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
) -> Result<(Bytes, bool), reqwest::Error> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body.freeze(), true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), false))
}

/// An answer past [`MAX_BODY`] where the whole answer is needed.
pub(crate) fn too_large(url: &str) -> Error {
    Error::Decode {
        url: shown(url).to_string(),
        message: format!(
            "the answer is larger than {MAX_BODY_SHOWN}, more than Jenkins ever sends to \
             jrun's questions; it was not read further"
        ),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(url: &str, reply: &Reply) -> Result<T, Error> {
    serde_json::from_slice(&reply.body).map_err(|e| {
        let content_type = reply.header(CONTENT_TYPE).unwrap_or("no content type");
        let message = if content_type.contains("json") {
            // serde quotes the offending value, which can be anything the server sent.
            super::error::quoted(&e.to_string(), reply.body.len())
        } else {
            // A login page of an SSO proxy, typically.
            format!(
                "expected JSON, got {content_type}: {}",
                page_message(&reply.body, reply.status.as_u16())
            )
        };
        Error::Decode {
            url: shown(url).to_string(),
            message,
        }
    })
}

/// Whether every connection to a server at `base` (through `proxy`, if any) is plain HTTP.
fn plain_http_only(base: &str, proxy: Option<&str>) -> bool {
    let plain = |url: &str| {
        url.get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    };
    plain(base) && proxy.is_none_or(plain)
}

fn normalise_base(configured: &str) -> Result<String, Error> {
    let url = reqwest::Url::parse(configured.trim()).map_err(|e| {
        Error::config(format!(
            "Jenkins URL `{}` is not a URL: {e}",
            redact_userinfo(configured)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::config(format!(
            "Jenkins URL `{}` must start with http:// or https://",
            redact_userinfo(configured)
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(format!(
            "Jenkins URL `{}` carries credentials; give them as user and token instead",
            redact_userinfo(configured)
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(format!(
            "Jenkins URL `{}` must not have a query or fragment",
            shown(configured)
        )));
    }
    let mut base = url.to_string();
    if !base.ends_with('/') {
        base.push('/');
    }
    Ok(base)
}

/// How long one request may take, answer included. A server that stays silent for as long as
/// it may be unreachable counts as unreachable: a shorter `unreachable_timeout` also shortens
/// the wait for one answer.
fn attempt_timeout(settings: &ServerSettings) -> Duration {
    settings.request_timeout.min(settings.unreachable_timeout)
}

/// A request's URL as `-v` shows it: the `tree=` stays, a trigger's `token=` does not.
fn logged_url(url: &str) -> String {
    let base = redact_userinfo(url);
    let Some((_, query)) = url.split_once('?') else {
        return base;
    };
    // Decoded, so that a tree reads as written; the line is for eyes, not for sending.
    let pairs: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| {
            if name.eq_ignore_ascii_case("token") {
                format!("{name}=****")
            } else {
                format!("{name}={value}")
            }
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

/// `https://user:pass@host/x` -> `https://****@host/x`, for messages about a bad URL.
fn redact_userinfo(url: &str) -> String {
    let url = shown(url);
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}****{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_server_and_proxy_both_over_plain_http_go_without_certificate_roots() {
        assert!(plain_http_only("http://ci:8080/", None));
        assert!(plain_http_only("HTTP://ci/", Some("http://proxy:3128")));
        assert!(!plain_http_only("https://ci/", None));
        assert!(!plain_http_only("http://ci/", Some("https://proxy:3129")));
        // A proxy named without a scheme is not assumed to be plain.
        assert!(!plain_http_only("http://ci/", Some("proxy:3128")));
    }

    #[test]
    fn logged_urls_keep_the_tree_and_hide_the_trigger_token() {
        assert_eq!(
            logged_url("https://ci/job/a/build?token=s3cret"),
            "https://ci/job/a/build?token=****"
        );
        assert_eq!(
            logged_url("https://ci/job/a/api/json?tree=builds%5Bnumber%2Curl%5D%7B0%2C3%7D"),
            "https://ci/job/a/api/json?tree=builds[number,url]{0,3}"
        );
        assert_eq!(logged_url("https://u:p@ci/x"), "https://****@ci/x");
    }

    #[test]
    fn userinfo_is_redacted_from_url_messages() {
        assert_eq!(
            redact_userinfo("https://bob:hunter2@ci.example.com/jenkins"),
            "https://****@ci.example.com/jenkins"
        );
        assert_eq!(redact_userinfo("https://ci/x?token=t"), "https://ci/x");
    }

    #[test]
    fn a_crumbs_cookie_is_every_cookie_its_answer_sets_without_attributes() {
        let mut headers = HeaderMap::new();
        for cookie in [
            "JSESSIONID.1a2b3c4d=node0abc; Path=/; HttpOnly",
            "AWSALB=sticky; Expires=Fri, 01 Jan 2100 00:00:00 GMT; Path=/",
            "old=gone; Max-Age=0",
        ] {
            headers.append(SET_COOKIE, HeaderValue::from_static(cookie));
        }
        let cookie = session_cookie(&headers).expect("a cookie");
        assert_eq!(
            cookie.to_str().expect("text"),
            "JSESSIONID.1a2b3c4d=node0abc; AWSALB=sticky"
        );
        assert!(cookie.is_sensitive());
        assert!(session_cookie(&HeaderMap::new()).is_none());
    }

    #[test]
    fn build_reads_never_ask_jenkins_to_estimate_a_build() {
        // Jenkins works the estimate out from the job's past builds for each build it renders.
        for tree in [BUILD_TREE, POLL_TREE, LOOKUP_TREE] {
            assert!(!tree.contains("estimatedDuration"), "{tree}");
        }
    }

    #[test]
    fn permalinks_refuse_builds_they_cannot_point_at() {
        let build = |building: bool, result: Option<&str>| Build {
            number: 4,
            url: String::new(),
            building,
            result: result.map(str::to_string),
            timestamp_ms: 0,
            duration_ms: 0,
            queue_id: None,
            waiting_for_input: false,
        };
        let fits = [
            ("lastBuild", build(true, None)),
            ("lastCompletedBuild", build(false, Some("ABORTED"))),
            ("lastSuccessfulBuild", build(false, Some("UNSTABLE"))),
            ("lastStableBuild", build(false, Some("SUCCESS"))),
            ("lastFailedBuild", build(false, Some("FAILURE"))),
            ("lastUnstableBuild", build(false, Some("UNSTABLE"))),
            ("lastUnsuccessfulBuild", build(false, Some("NOT_BUILT"))),
        ];
        for (name, b) in &fits {
            assert_eq!(permalink_fits(name, b), Ok(()), "{name}");
        }
        let contradictions = [
            ("lastCompletedBuild", build(true, None)),
            ("lastSuccessfulBuild", build(false, Some("FAILURE"))),
            ("lastSuccessfulBuild", build(true, Some("SUCCESS"))),
            ("lastStableBuild", build(false, Some("UNSTABLE"))),
            ("lastFailedBuild", build(false, Some("SUCCESS"))),
            ("lastUnstableBuild", build(false, Some("FAILURE"))),
            ("lastUnsuccessfulBuild", build(false, Some("SUCCESS"))),
        ];
        for (name, b) in &contradictions {
            let message = permalink_fits(name, b).expect_err(name);
            assert!(
                message.contains(name) && message.contains("#4"),
                "{message}"
            );
        }
    }

    fn answer(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(http::Response::new(body))
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_cap_and_said_to_be_cut_past_it() {
        let (body, cut) = read_capped(answer(vec![b'x'; MAX_BODY]))
            .await
            .expect("read");
        assert_eq!((body.len(), cut), (MAX_BODY, false));
        let (body, cut) = read_capped(answer(vec![b'x'; MAX_BODY + 1]))
            .await
            .expect("read");
        assert_eq!((body.len(), cut), (MAX_BODY, true));
        let (body, cut) = read_capped(answer(b"{}".to_vec())).await.expect("read");
        assert_eq!((&body[..], cut), (&b"{}"[..], false));
    }

    #[test]
    fn a_too_large_answer_is_an_unexpected_answer_that_says_the_cap() {
        let message = too_large("https://ci/job/a/api/json?tree=x").to_string();
        assert!(
            message.starts_with("unexpected answer from https://ci/job/a/api/json")
                && message.contains("larger than 8 MiB"),
            "{message}"
        );
        assert_eq!(MAX_BODY, 8 << 20);
    }

    #[test]
    fn base_urls_keep_their_path_and_end_with_a_slash() {
        assert_eq!(
            normalise_base("https://ci.example.com/jenkins").unwrap(),
            "https://ci.example.com/jenkins/"
        );
        assert_eq!(
            normalise_base("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080/"
        );
        assert!(normalise_base("ftp://ci").is_err());
        assert!(normalise_base("ci.example.com").is_err());
    }
}

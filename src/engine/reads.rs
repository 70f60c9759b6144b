//! Reads of builds of one job that fall due together — a matrix, a fan-out of the same job —
//! are folded into one read of the job's newest builds, which spans every build of the job
//! being followed. A build that read shows ended is taken from it at once, even when its own
//! read was not due yet: its step wakes and needs no request of its own. One it shows still
//! running is taken as its step's next read when that read was nearly due. A build followed
//! alone is read on its own, at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::jenkins::{Build, Client, Error};

/// How long a read waits for others of the same job to join it, unless all have: builds due
/// together are read spread over about a millisecond per build followed, so it waits about
/// that long, within these bounds. A short wait matters when a few builds gate the next
/// stage; a long one folds more reads together when many are followed.
const GATHER_MS: (u64, u64) = (5, 20);

/// Builds newer than ours that a folded read also takes in, for builds someone else started.
const SLACK: u64 = 10;

/// Builds newer than the ones this run looks for that a look by queue item takes in; one that
/// others pushed further down is found through its queue item instead.
const LOOKUP_SLACK: usize = 2;

/// A look by queue item spans at most this many builds: a build with more of this run's
/// builds of its job triggered after it (a wide fan-out) is followed through its queue item,
/// which is one small read whatever the fan-out.
pub const LOOK_AT_MOST: usize = 20;

type Key = (String, String);

/// A look by queue item waiting for a folded read: the item, how many of the newest builds
/// it needs, and where its build goes.
type Lookup = (u64, usize, oneshot::Sender<Result<Option<Build>, Error>>);

struct Waiter {
    number: u64,
    queue_id: Option<u64>,
    reply: oneshot::Sender<Result<Build, Error>>,
}

/// A build being followed, and what a folded read showed of it.
struct Watched {
    queue_id: Option<u64>,
    /// The build as a read of other builds showed it ended, until its step takes it.
    ended: Option<Build>,
    /// The build as a read of other builds, sent at that instant, showed it still running,
    /// until its step takes it.
    running: Option<(Instant, Build)>,
    wake: Arc<Notify>,
}

/// Reads of one job gathering to be folded into one, and a signal for when every build of
/// the job that could join has: the read then goes out without waiting longer.
struct Batch<T> {
    members: Vec<T>,
    full: Arc<Notify>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            members: Vec::new(),
            full: Arc::new(Notify::new()),
        }
    }
}

impl<T> Batch<T> {
    /// Adds `member`; says whether it is the first (whose task sends the read) and the signal
    /// that all `expected` have joined.
    fn join(&mut self, member: T, expected: usize) -> (bool, Arc<Notify>) {
        self.members.push(member);
        if self.members.len() >= expected {
            // Stored if the task is not waiting yet.
            self.full.notify_one();
        }
        (self.members.len() == 1, self.full.clone())
    }
}

/// Waits `gather` for a batch to fill, or less once it is full.
async fn filled(gather: Duration, full: &Notify) {
    tokio::select! {
        () = tokio::time::sleep(gather) => {}
        () = full.notified() => {}
    }
}

#[derive(Default)]
struct State {
    /// Steps following a build of each job right now.
    following: HashMap<Key, usize>,
    /// The builds they follow, by number.
    watched: HashMap<Key, BTreeMap<u64, Watched>>,
    pending: HashMap<Key, Batch<Waiter>>,
    /// Builds of each job triggered and not found yet, looked for by their queue item.
    looking: HashMap<Key, usize>,
    /// How many builds of each job were counted as looked for so far, in trigger order.
    triggered: HashMap<Key, usize>,
    /// Looks by queue item waiting to be folded into one read of the job's builds.
    lookups: HashMap<Key, Batch<Lookup>>,
}

#[derive(Default)]
pub struct BuildReads {
    state: Mutex<State>,
}

/// What a read of other builds of its job showed of a followed build.
pub enum Seen {
    /// Nothing new since its step last looked.
    Nothing,
    /// It ended; a read of it answers from that read.
    Ended,
    /// It was still running when a read sent at that instant reached Jenkins.
    Running(Instant, Box<Build>),
}

/// Counts a step as following a build of its job while it lives.
pub struct Following {
    reads: Arc<BuildReads>,
    key: Key,
    number: u64,
    wake: Arc<Notify>,
}

impl Following {
    /// Returns once a read of other builds of the job showed this one: ended (the next
    /// [`BuildReads::read`] of it then answers from that read, without a request) or still
    /// running (see [`BuildReads::seen`]).
    pub async fn seen_elsewhere(&self) {
        self.wake.notified().await;
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut state = self.reads.lock();
        if let Some(n) = state.following.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.following.remove(&self.key);
            }
        }
        if let Some(builds) = state.watched.get_mut(&self.key) {
            builds.remove(&self.number);
            if builds.is_empty() {
                state.watched.remove(&self.key);
            }
        }
    }
}

/// Counts a build as looked for by its queue item while it lives.
pub struct Looking {
    reads: Arc<BuildReads>,
    key: Key,
    /// Its place among the job's builds triggered by this run.
    seq: usize,
}

impl Drop for Looking {
    fn drop(&mut self) {
        let mut state = self.reads.lock();
        if let Some(n) = state.looking.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.looking.remove(&self.key);
            }
        }
    }
}

impl BuildReads {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The members of a batch once it has gathered (see [`filled`]), taken out of the state
    /// by `take`, so that later reads start a batch of their own.
    async fn gathered<T>(
        &self,
        gather: Duration,
        full: &Notify,
        take: impl FnOnce(&mut State) -> Option<Batch<T>>,
    ) -> Vec<T> {
        filled(gather, full).await;
        take(&mut self.lock())
            .map(|batch| batch.members)
            .unwrap_or_default()
    }

    /// Counts build `number` of `job` as followed (and `queue_id` as the item it came from,
    /// when known) until the returned guard is dropped.
    pub fn follow(
        self: &Arc<Self>,
        server: &str,
        job: &str,
        number: u64,
        queue_id: Option<u64>,
    ) -> Following {
        let key = (server.to_string(), job.to_string());
        let wake = Arc::new(Notify::new());
        let mut state = self.lock();
        *state.following.entry(key.clone()).or_insert(0) += 1;
        state.watched.entry(key.clone()).or_default().insert(
            number,
            Watched {
                queue_id,
                ended: None,
                running: None,
                wake: wake.clone(),
            },
        );
        Following {
            reads: self.clone(),
            key,
            number,
            wake,
        }
    }

    /// What the last read of other builds of its job showed of a followed build, unless its
    /// step took that already: its end (which [`BuildReads::read`] then answers with), or the
    /// build still running and when that read was sent. A step about to read its build takes
    /// the latter as its own read, so the reads of builds that run over together stay folded
    /// into one rather than drifting apart by their steps' jitter.
    pub fn seen(&self, following: &Following) -> Seen {
        let mut state = self.lock();
        let Some(watched) = state
            .watched
            .get_mut(&following.key)
            .and_then(|builds| builds.get_mut(&following.number))
        else {
            return Seen::Nothing;
        };
        if watched.ended.is_some() {
            return Seen::Ended;
        }
        match watched.running.take() {
            Some((at, build)) => Seen::Running(at, Box::new(build)),
            None => Seen::Nothing,
        }
    }

    /// How many builds on `server` are being followed right now.
    pub fn followed_on(&self, server: &str) -> usize {
        self.lock()
            .following
            .iter()
            .filter(|((s, _), _)| s == server)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Counts a build of `job` as looked for by its queue item, from its trigger until the
    /// returned guard is dropped, so that looks for builds triggered together span them all.
    pub fn look_for(self: &Arc<Self>, server: &str, job: &str) -> Looking {
        let key = (server.to_string(), job.to_string());
        let mut state = self.lock();
        *state.looking.entry(key.clone()).or_insert(0) += 1;
        let triggered = state.triggered.entry(key.clone()).or_insert(0);
        *triggered += 1;
        let seq = *triggered;
        Looking {
            reads: self.clone(),
            key,
            seq,
        }
    }

    /// How many of the job's newest builds a look for `looking` needs to read: its own, the
    /// ones this run triggered after it, and a few others may have.
    pub fn look_span(&self, looking: &Looking) -> usize {
        let state = self.lock();
        let triggered = state.triggered.get(&looking.key).copied().unwrap_or(0);
        triggered.saturating_sub(looking.seq) + 1 + LOOKUP_SLACK
    }

    /// How many builds of `job` this run triggered and is looking for by queue item now.
    pub fn looking_for(&self, server: &str, job: &str) -> usize {
        let key = (server.to_string(), job.to_string());
        self.lock().looking.get(&key).copied().unwrap_or(0)
    }

    /// The build that queue item `queue_id` of `job` became, if Jenkins lists it among the
    /// job's newest builds: enough of them to span every build of the job this run follows or
    /// looks for, and a few that others may have started since. Looks for builds of one job
    /// that fall due together (a matrix) are folded into one read.
    pub async fn find_queued(
        self: &Arc<Self>,
        client: &Client,
        looking: &Looking,
        queue_id: u64,
    ) -> Result<Option<Build>, Error> {
        let key = looking.key.clone();
        let job = key.1.as_str();
        let span = self.look_span(looking);
        let (reply, answer) = oneshot::channel();
        let folded = {
            let mut state = self.lock();
            let looking = state.looking.get(&key).copied().unwrap_or(0);
            (looking > 1).then(|| {
                let gather =
                    Duration::from_millis((looking as u64).clamp(GATHER_MS.0, GATHER_MS.1));
                let batch = state.lookups.entry(key.clone()).or_default();
                let (first, full) = batch.join((queue_id, span, reply), looking);
                (first, gather, full)
            })
        };
        // Alone: nothing to fold it with.
        let Some((first, gather, full)) = folded else {
            return client.queued_build(job, queue_id, span).await;
        };
        if first {
            let reads = self.clone();
            let client = client.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let waiters = reads
                    .gathered(gather, &full, |state| state.lookups.remove(&key))
                    .await;
                let count = waiters.iter().map(|(_, span, _)| *span).max().unwrap_or(1);
                let listed = client.listed_for_lookup(&key.1, count).await;
                for (queue_id, span, reply) in waiters {
                    let found = match &listed {
                        Ok(builds) => client.queued_among(&key.1, builds, queue_id),
                        // Each look then meets the error (or succeeds) on its own.
                        Err(_) => client.queued_build(&key.1, queue_id, span).await,
                    };
                    let _ = reply.send(found);
                }
            });
        }
        match answer.await {
            Ok(found) => found,
            Err(_) => client.queued_build(job, queue_id, span).await,
        }
    }

    /// Build `number` of `job`, read alone or folded with the reads of its siblings. With
    /// `queue_id`, an answer that another queue item became is not taken for it.
    pub async fn read(
        self: &Arc<Self>,
        client: &Client,
        server: &str,
        job: &str,
        number: u64,
        queue_id: Option<u64>,
    ) -> Result<Build, Error> {
        let key = (server.to_string(), job.to_string());
        let (reply, answer) = oneshot::channel();
        let mut gather = Duration::ZERO;
        let starts_batch = {
            let mut state = self.lock();
            let ended = state
                .watched
                .get_mut(&key)
                .and_then(|builds| builds.get_mut(&number))
                .and_then(|watched| watched.ended.take());
            if let Some(build) = ended {
                return Ok(build);
            }
            let followed = state.following.get(&key).copied().unwrap_or(0);
            if followed <= 1 {
                None
            } else {
                gather = Duration::from_millis((followed as u64).clamp(GATHER_MS.0, GATHER_MS.1));
                let batch = state.pending.entry(key.clone()).or_default();
                let waiter = Waiter {
                    number,
                    queue_id,
                    reply,
                };
                Some(batch.join(waiter, followed))
            }
        };
        // A read of its own is boxed: thousands of steps wait here for a folded read at once,
        // and each would otherwise keep room for a request.
        match starts_batch {
            // Alone: nothing to fold it with.
            None => Box::pin(read_one(client, job, number, queue_id)).await,
            Some((first, full)) => {
                if first {
                    let reads = self.clone();
                    let client = client.clone();
                    tokio::spawn(async move {
                        let waiters = reads
                            .gathered(gather, &full, |state| state.pending.remove(&key))
                            .await;
                        answer_all(&reads, &client, &key, waiters).await;
                    });
                }
                match answer.await {
                    Ok(result) => result,
                    // The folded read was dropped (its runtime is ending): read alone.
                    Err(_) => Box::pin(read_one(client, job, number, queue_id)).await,
                }
            }
        }
    }
}

async fn read_one(
    client: &Client,
    job: &str,
    number: u64,
    queue_id: Option<u64>,
) -> Result<Build, Error> {
    client.poll_build(job, number, queue_id).await
}

async fn answer_all(reads: &BuildReads, client: &Client, key: &Key, waiters: Vec<Waiter>) {
    let job = key.1.as_str();
    // Every build of the job being followed, whether its read is due or not.
    let watched: Vec<u64> = reads
        .lock()
        .watched
        .get(key)
        .map(|builds| builds.keys().copied().collect())
        .unwrap_or_default();
    let numbers = || {
        waiters
            .iter()
            .map(|w| w.number)
            .chain(watched.iter().copied())
    };
    let newest = numbers().max().unwrap_or(0);
    let oldest = numbers().min().unwrap_or(0);
    let span = (newest - oldest + 1) as usize;
    let count = span + SLACK as usize;
    let wanted = watched.len().max(waiters.len());
    // Folding pays only when most builds in the range are ones being followed; otherwise
    // the read would carry builds nobody asked about. (The builds newer than the range that
    // it takes in besides are there only when someone else started them.)
    if wanted <= 1 || span > 4 * wanted {
        for waiter in waiters {
            let client = client.clone();
            let job = job.to_string();
            tokio::spawn(async move {
                let answer = read_one(&client, &job, waiter.number, waiter.queue_id).await;
                let _ = waiter.reply.send(answer);
            });
        }
        return;
    }
    let sent = Instant::now();
    let builds = match client.recent_builds(job, count).await {
        Ok(builds) => builds,
        Err(e) => {
            // Each read then meets the error (or succeeds) on its own.
            let _ = e;
            Vec::new()
        }
    };
    let by_number: HashMap<u64, Build> = builds.into_iter().map(|b| (b.number, b)).collect();
    let fits = |queue_id: Option<u64>, b: &Build| {
        b.queue_id.is_none() || queue_id.is_none() || b.queue_id == queue_id
    };
    // What the read shows of followed builds is handed to their steps now: an end to take,
    // or a build still running to take as their next read.
    {
        let mut state = reads.lock();
        if let Some(followed) = state.watched.get_mut(key) {
            for (number, watched) in followed.iter_mut() {
                let Some(build) = by_number.get(number) else {
                    continue;
                };
                if !fits(watched.queue_id, build) || waiters.iter().any(|w| w.number == *number) {
                    continue;
                }
                if build.building {
                    watched.running = Some((sent, build.clone()));
                } else {
                    watched.ended = Some(build.clone());
                }
                watched.wake.notify_one();
            }
        }
    }
    for waiter in waiters {
        let result = match by_number
            .get(&waiter.number)
            .filter(|b| fits(waiter.queue_id, b))
        {
            Some(build) => Ok(build.clone()),
            // Not among the newest (deleted, or pushed out by newer builds), or not the build
            // its queue item became: asked alone, where such an answer is refused.
            None => read_one(client, job, waiter.number, waiter.queue_id).await,
        };
        let _ = waiter.reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_folded_read_goes_out_once_every_build_that_could_join_has() {
        let mut batch = Batch::default();
        let (first, _) = batch.join(1, 2);
        let (second, full) = batch.join(2, 2);
        assert!(first && !second);
        // Far longer than the timeout: only the full batch can end the wait.
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            filled(Duration::from_secs(600), &full),
        )
        .await;
        assert!(waited.is_ok(), "a full batch still waited");
    }

    #[tokio::test]
    async fn a_batch_short_of_its_builds_waits_the_gathering_time() {
        let mut batch = Batch::default();
        let (_, full) = batch.join(1, 3);
        batch.join(2, 3);
        let started = std::time::Instant::now();
        filled(Duration::from_millis(30), &full).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}

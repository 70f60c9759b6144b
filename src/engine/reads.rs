//! Reads of builds of one job that fall due together — a matrix, a fan-out of the same job —
//! are folded into one read of the job's newest builds. A build followed alone is read on its
//! own, at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::jenkins::{Build, Client, Error};

/// How long a read waits for others of the same job to join it.
const GATHER: Duration = Duration::from_millis(20);

/// Builds newer than ours that a folded read also takes in, for builds someone else started.
const SLACK: u64 = 10;

type Key = (String, String);

struct Waiter {
    number: u64,
    queue_id: Option<u64>,
    reply: oneshot::Sender<Result<Build, Error>>,
}

#[derive(Default)]
struct State {
    /// Steps following a build of each job right now.
    following: HashMap<Key, usize>,
    pending: HashMap<Key, Vec<Waiter>>,
}

#[derive(Default)]
pub struct BuildReads {
    state: Mutex<State>,
}

/// Counts a step as following a build of its job while it lives.
pub struct Following {
    reads: Arc<BuildReads>,
    key: Key,
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
    }
}

impl BuildReads {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn follow(self: &Arc<Self>, server: &str, job: &str) -> Following {
        let key = (server.to_string(), job.to_string());
        *self.lock().following.entry(key.clone()).or_insert(0) += 1;
        Following {
            reads: self.clone(),
            key,
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
        let starts_batch = {
            let mut state = self.lock();
            if state.following.get(&key).copied().unwrap_or(0) <= 1 {
                None
            } else {
                let waiters = state.pending.entry(key.clone()).or_default();
                waiters.push(Waiter {
                    number,
                    queue_id,
                    reply,
                });
                Some(waiters.len() == 1)
            }
        };
        match starts_batch {
            // Alone: nothing to fold it with.
            None => read_one(client, job, number, queue_id).await,
            Some(first) => {
                if first {
                    let reads = self.clone();
                    let client = client.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(GATHER).await;
                        let waiters = reads.lock().pending.remove(&key).unwrap_or_default();
                        answer_all(&client, &key.1, waiters).await;
                    });
                }
                match answer.await {
                    Ok(result) => result,
                    // The folded read was dropped (its runtime is ending): read alone.
                    Err(_) => read_one(client, job, number, queue_id).await,
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

async fn answer_all(client: &Client, job: &str, waiters: Vec<Waiter>) {
    if waiters.len() == 1 {
        for waiter in waiters {
            let answer = read_one(client, job, waiter.number, waiter.queue_id).await;
            let _ = waiter.reply.send(answer);
        }
        return;
    }
    let newest = waiters.iter().map(|w| w.number).max().unwrap_or(0);
    let oldest = waiters.iter().map(|w| w.number).min().unwrap_or(0);
    let count = (newest - oldest + 1 + SLACK) as usize;
    // Folding pays only when most builds in the range are ones being waited for; otherwise
    // the read would carry builds nobody asked about.
    if count > 4 * waiters.len() {
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
    let builds = match client.recent_builds(job, count).await {
        Ok(builds) => builds,
        Err(e) => {
            // Each read then meets the error (or succeeds) on its own.
            let _ = e;
            Vec::new()
        }
    };
    let by_number: HashMap<u64, Build> = builds.into_iter().map(|b| (b.number, b)).collect();
    for waiter in waiters {
        let fits = |b: &&Build| {
            b.queue_id.is_none() || waiter.queue_id.is_none() || b.queue_id == waiter.queue_id
        };
        let result = match by_number.get(&waiter.number).filter(fits) {
            Some(build) => Ok(build.clone()),
            // Not among the newest (deleted, or pushed out by newer builds), or not the build
            // its queue item became: asked alone, where such an answer is refused.
            None => read_one(client, job, waiter.number, waiter.queue_id).await,
        };
        let _ = waiter.reply.send(result);
    }
}

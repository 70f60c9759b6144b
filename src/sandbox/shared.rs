//! The state every connection shares: the model behind its lock, and the in-flight counters.

use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard};

use super::model::Model;

pub(crate) struct Shared {
    pub(super) model: Mutex<Model>,
    pub(super) in_flight: AtomicUsize,
    pub(super) max_in_flight: AtomicUsize,
}

impl Shared {
    pub(super) fn new(model: Model) -> Shared {
        Shared {
            model: Mutex::new(model),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Model> {
        // A panic while holding the lock must not take the whole sandbox down with it.
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }
}

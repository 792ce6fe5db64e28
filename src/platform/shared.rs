//! Plumbing every outbound call shares: a deadline on a future, and one in-flight
//! call per key shared by concurrent requests (host reads, JWKS fetches).

use futures_util::future::{select, Either};
use js_sys::Promise;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use worker::Delay;

/// The deadline passed before the work finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// Runs `work` for at most `ms` milliseconds. On `Err(Elapsed)` the work is
/// dropped; a caller whose work holds a JS request aborts that itself.
pub(crate) async fn with_deadline<F: Future>(ms: u64, work: F) -> Result<F::Output, Elapsed> {
    let timer = Delay::from(Duration::from_millis(ms));
    futures_util::pin_mut!(work);
    match select(work, timer).await {
        Either::Left((out, _)) => Ok(out),
        Either::Right(_) => Err(Elapsed),
    }
}

/// One call per key at a time, shared by every request that needs it, each entry
/// with a tag (`T`) saying which call it is (the purge generation of a host read).
///
/// The call is a JS promise, not a Rust shared future: each waiter awaits it through
/// its own `then`, so it resumes in its own request's I/O context (a Rust waker would
/// resume it in the caller's context, and workerd refuses I/O on behalf of another
/// request).
pub(crate) struct SingleFlight<T: Clone = ()> {
    calls: RefCell<HashMap<String, (Promise, T)>>,
}

impl<T: Clone> SingleFlight<T> {
    pub(crate) fn new() -> Self {
        Self {
            calls: RefCell::new(HashMap::new()),
        }
    }

    /// The call in flight for `key`, or the one `start` makes, kept under `key`
    /// until it is forgotten.
    pub(crate) fn join(&self, key: &str, start: impl FnOnce() -> (Promise, T)) -> (Promise, T) {
        let running = self.calls.borrow().get(key).cloned();
        if let Some(call) = running {
            return call;
        }
        let call = start();
        self.calls
            .borrow_mut()
            .insert(key.to_string(), call.clone());
        call
    }

    /// Forgets the call under `key` if `is_it` says it is the one that finished
    /// (a purge may have replaced it since); the next `join` starts a new one.
    pub(crate) fn forget_if(&self, key: &str, is_it: impl FnOnce(&T) -> bool) {
        let mut calls = self.calls.borrow_mut();
        if calls.get(key).is_some_and(|(_, tag)| is_it(tag)) {
            calls.remove(key);
        }
    }

    /// Forgets every call: results still arrive, later joins start anew.
    pub(crate) fn clear(&self) {
        self.calls.borrow_mut().clear();
    }
}

impl SingleFlight {
    /// Forgets the call under `key`.
    pub(crate) fn forget(&self, key: &str) {
        self.calls.borrow_mut().remove(key);
    }
}

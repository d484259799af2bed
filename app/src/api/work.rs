//! Bounds on the CPU work that plain reads can start (the convert preview, source frames for
//! the editor, gallery sorts): a few at a time per user and per server, and a clear "busy,
//! try again" beyond that instead of a queue that grows without end. Server side only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many pieces of read-started work may be running or waiting at once.
#[derive(Debug, Clone, Copy)]
pub struct WorkLimits {
    /// For one user.
    pub per_user: usize,
    /// For the whole server.
    pub total: usize,
}

impl Default for WorkLimits {
    /// Two cores do one preview at a time; a few more may wait behind it (a page may ask
    /// for a sort and a frame at once).
    fn default() -> Self {
        WorkLimits { per_user: 4, total: 8 }
    }
}

/// Refused: too much is already running or waiting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy with {waiting} earlier request(s){who}: try again in a moment")]
pub struct Busy {
    pub waiting: usize,
    who: &'static str,
}

impl Busy {
    /// Seconds a client should wait before trying again.
    pub const RETRY_AFTER_SECS: u64 = 1;
}

impl From<Busy> for super::AppError {
    /// 429 with `Retry-After` on the response being made.
    fn from(b: Busy) -> Self {
        if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            opts.set_status(http::StatusCode::TOO_MANY_REQUESTS);
            opts.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(Busy::RETRY_AFTER_SECS));
        }
        super::AppError::TooManyRequests(b.to_string())
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_user: HashMap<i64, usize>,
}

/// Counts the work in flight; a [`WorkPermit`] is one piece of it, released when dropped.
#[derive(Debug, Default)]
pub struct WorkLimiter {
    limits: WorkLimits,
    counts: Mutex<Counts>,
}

impl WorkLimiter {
    pub fn new(limits: WorkLimits) -> Arc<Self> {
        Arc::new(WorkLimiter { limits, counts: Mutex::default() })
    }

    /// A permit for one more piece of work by `user`, or [`Busy`]. Hold it until the work is
    /// done (move it into the blocking task, so a client that goes away frees nothing early).
    pub fn try_start(self: &Arc<Self>, user: i64) -> Result<WorkPermit, Busy> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.per_user.get(&user).copied().unwrap_or(0);
        if mine >= self.limits.per_user {
            return Err(Busy { waiting: mine, who: " of yours" });
        }
        if c.total >= self.limits.total {
            return Err(Busy { waiting: c.total, who: "" });
        }
        c.total += 1;
        *c.per_user.entry(user).or_default() += 1;
        Ok(WorkPermit { limiter: self.clone(), user })
    }

    /// Pieces of work running or waiting now.
    pub fn in_flight(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

/// One piece of work in flight; dropping it makes room for the next.
#[derive(Debug)]
pub struct WorkPermit {
    limiter: Arc<WorkLimiter>,
    user: i64,
}

impl Drop for WorkPermit {
    fn drop(&mut self) {
        let mut c = self.limiter.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                c.per_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_bounded_per_user_and_per_server_and_freed_when_done() {
        let l = WorkLimiter::new(WorkLimits { per_user: 2, total: 3 });
        let a1 = l.try_start(1).unwrap();
        let _a2 = l.try_start(1).unwrap();
        assert!(l.try_start(1).is_err(), "a third for the same user waits for none");
        let _b1 = l.try_start(2).unwrap();
        assert!(l.try_start(3).is_err(), "the server is full");
        drop(a1);
        let _c1 = l.try_start(3).unwrap();
        assert_eq!(l.in_flight(), 3);
    }
}

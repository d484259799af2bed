//! Failed logins slow down and then stop password guessing, counted per user name and per
//! client address (the peer of the TCP connection; `X-Forwarded-For` is never trusted, so
//! behind a proxy every client shares the proxy's address).
//!
//! Rules (the defaults, [`LoginLimits::default`]): attempts are counted over 15 minutes. From
//! the 3rd attempt for a name, a wrong password is answered 0.5 s later per attempt beyond the
//! 2nd. The 5th attempt for a name (the 20th from an address) locks it for 1 minute once
//! answered, each further one after a lock doubles it (2, 4, 8 minutes, at most 15); a locked
//! name or address is answered 429 with `Retry-After`, whatever the password, and costs no
//! hashing. A right password clears its name's count (not its address's). Attempts are counted
//! when they start, so twenty at once are no way around the limit.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The numbers of the rules above.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    pub per_name: usize,
    pub per_address: usize,
    /// How long an attempt counts.
    pub window: Duration,
    /// The first lock; each attempt past the limit doubles it.
    pub first_lock: Duration,
    pub max_lock: Duration,
    /// Added to a wrong password's answer per attempt for the name beyond `free_attempts`.
    pub slow_step: Duration,
    pub free_attempts: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_name: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
            first_lock: Duration::from_secs(60),
            max_lock: Duration::from_secs(15 * 60),
            slow_step: Duration::from_millis(500),
            free_attempts: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Name(String),
    /// An IPv4 address, or the /64 network of an IPv6 one (one host has all of it); `None`
    /// when the server did not record the peer (one shared count).
    Address(Option<IpAddr>),
}

fn name_key(name: &str) -> Key {
    // Usernames are case-insensitive and at most 64 characters; longer input is cut so that
    // nobody stores megabytes here.
    Key::Name(name.trim().chars().take(80).collect::<String>().to_lowercase())
}

fn address_key(addr: Option<IpAddr>) -> Key {
    Key::Address(addr.map(|ip| match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }))
}

#[derive(Debug, Default)]
struct Entry {
    attempts: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

impl Entry {
    fn forget_before(&mut self, since: Option<Instant>) {
        if let Some(since) = since {
            while self.attempts.front().is_some_and(|t| *t < since) {
                self.attempts.pop_front();
            }
        }
    }

    fn locked(&self, now: Instant) -> Option<Duration> {
        self.locked_until.filter(|u| *u > now).map(|u| u - now)
    }
}

/// Why an attempt was refused, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
    /// True when the address is locked, false when the name is.
    pub address: bool,
}

impl Refused {
    /// Whole seconds, rounded up, for `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)
    }

    pub fn message(&self) -> String {
        let secs = self.retry_after_secs();
        let wait = if secs < 120 { format!("{secs} seconds") } else { format!("{} minutes", secs.div_ceil(60)) };
        let whose = if self.address { "from your address" } else { "for this user name" };
        format!("too many failed logins {whose}: try again in {wait}")
    }
}

/// A login attempt under way, counted already.
#[derive(Debug)]
pub struct Attempt {
    name: Key,
    address: Key,
    at: Instant,
    /// How long to wait before answering if the password is wrong.
    pub delay_on_failure: Duration,
}

/// The counts, kept in the server's state.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    limits: LoginLimits,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Old entries are dropped when there are more than this, or a window after the last time.
    prune_above: usize,
    pruned_at: Option<Instant>,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter { limits, state: Mutex::default() }
    }

    /// Counts an attempt for `name` from `address`, or refuses it.
    pub fn begin(&self, name: &str, address: Option<IpAddr>) -> Result<Attempt, Refused> {
        self.begin_at(name, address, Instant::now())
    }

    fn begin_at(&self, name: &str, address: Option<IpAddr>, now: Instant) -> Result<Attempt, Refused> {
        let l = &self.limits;
        let (name, address) = (name_key(name), address_key(address));
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.prune(now, l.window);
        for (key, is_address) in [(&name, false), (&address, true)] {
            if let Some(entry) = state.entries.get(key) {
                if let Some(retry_after) = entry.locked(now) {
                    return Err(Refused { retry_after, address: is_address });
                }
            }
        }
        let mut name_attempts = 0;
        for (key, limit) in [(&name, l.per_name), (&address, l.per_address)] {
            let entry = state.entries.entry(key.clone()).or_default();
            entry.forget_before(now.checked_sub(l.window));
            entry.attempts.push_back(now);
            let n = entry.attempts.len();
            if n >= limit {
                let doublings = u32::try_from(n - limit).unwrap_or(u32::MAX).min(16);
                let lock = l.first_lock.saturating_mul(1 << doublings).min(l.max_lock);
                entry.locked_until = Some(now + lock);
            }
            if matches!(key, Key::Name(_)) {
                name_attempts = n;
            }
        }
        let slow = u32::try_from(name_attempts.saturating_sub(l.free_attempts)).unwrap_or(u32::MAX);
        Ok(Attempt { name, address, at: now, delay_on_failure: l.slow_step.saturating_mul(slow) })
    }

    /// The password was right: the name starts afresh, and the address no longer counts this
    /// attempt (nor its lock, unless earlier failures alone reach the limit).
    pub fn succeeded(&self, attempt: &Attempt) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.entries.remove(&attempt.name);
        if let Some(entry) = state.entries.get_mut(&attempt.address) {
            if let Some(i) = entry.attempts.iter().rposition(|t| *t == attempt.at) {
                entry.attempts.remove(i);
            }
            if entry.attempts.len() < self.limits.per_address {
                entry.locked_until = None;
            }
        }
    }
}

impl State {
    fn prune(&mut self, now: Instant, window: Duration) {
        let due = self.pruned_at.is_none_or(|at| now.saturating_duration_since(at) >= window);
        if self.entries.len() <= self.prune_above.max(1024) && !due {
            return;
        }
        self.pruned_at = Some(now);
        let since = now.checked_sub(window);
        self.entries.retain(|_, e| {
            e.forget_before(since);
            !e.attempts.is_empty() || e.locked(now).is_some()
        });
        self.prune_above = self.entries.len() * 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_name_locks_after_five_and_the_lock_grows() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let delays: Vec<_> = (0..5).map(|i| l.begin_at("Admin", ip("10.0.0.1"), t0 + Duration::from_secs(i)).unwrap().delay_on_failure).collect();
        assert_eq!(delays.iter().map(|d| d.as_millis()).collect::<Vec<_>>(), [0, 0, 500, 1000, 1500]);
        // The 6th, from anywhere and whatever the name's case, waits out the minute.
        let r = l.begin_at(" admin", ip("10.9.9.9"), t0 + Duration::from_secs(5)).unwrap_err();
        assert_eq!((r.retry_after_secs(), r.address), (59, false));
        assert!(r.message().contains("for this user name: try again in 59 seconds"), "{}", r.message());
        // Another name is untouched.
        l.begin_at("bob", ip("10.0.0.1"), t0 + Duration::from_secs(5)).unwrap();
        // After the minute one more try, then two minutes, then four.
        let t1 = t0 + Duration::from_secs(65);
        l.begin_at("admin", None, t1).unwrap();
        assert_eq!(l.begin_at("admin", None, t1).unwrap_err().retry_after_secs(), 120);
        let t2 = t1 + Duration::from_secs(121);
        l.begin_at("admin", None, t2).unwrap();
        assert_eq!(l.begin_at("admin", None, t2).unwrap_err().retry_after_secs(), 240);
    }

    #[test]
    fn locks_stop_growing_and_old_attempts_are_forgotten() {
        let l = LoginLimiter::default();
        let mut t = Instant::now();
        let mut longest = Duration::ZERO;
        for i in 0..40 {
            match l.begin_at("x", ip(&format!("10.0.0.{i}")), t) {
                Ok(_) => {}
                Err(r) => {
                    longest = longest.max(r.retry_after);
                    t += r.retry_after;
                }
            }
        }
        assert_eq!(longest, Duration::from_secs(15 * 60), "locks grow to 15 minutes and no further");
        let far = t + Duration::from_secs(16 * 60);
        let a = l.begin_at("x", None, far).unwrap();
        assert_eq!(a.delay_on_failure, Duration::ZERO, "15 minutes later it starts afresh");
    }

    #[test]
    fn an_address_locks_after_twenty_names_and_a_success_clears_only_the_name() {
        let l = LoginLimiter::default();
        let t = Instant::now();
        for i in 0..19 {
            l.begin_at(&format!("user{i}"), ip("192.0.2.7"), t).unwrap();
        }
        let ok = l.begin_at("carol", ip("192.0.2.7"), t).unwrap();
        assert!(l.begin_at("dave", ip("192.0.2.7"), t).unwrap_err().address);
        // Carol's right password: the 20th attempt was no failure, so the address is open
        // for one more, then locked again.
        l.succeeded(&ok);
        l.begin_at("dave", ip("192.0.2.7"), t).unwrap();
        let r = l.begin_at("erin", ip("192.0.2.7"), t).unwrap_err();
        assert!(r.address && r.message().contains("from your address"), "{r:?}");
        // Other addresses, and other hosts' /64 networks, are not affected; the same /64 is.
        l.begin_at("erin", ip("192.0.2.8"), t).unwrap();
        for i in 0..20 {
            let _ = l.begin_at(&format!("v6user{i}"), ip(&format!("2001:db8:0:1::{i:x}")), t);
        }
        assert!(l.begin_at("frank", ip("2001:db8:0:1:ffff::1"), t).is_err());
        l.begin_at("frank", ip("2001:db8:0:2::1"), t).unwrap();
    }

    #[test]
    fn a_right_password_clears_the_name() {
        let l = LoginLimiter::default();
        let t = Instant::now();
        for _ in 0..3 {
            l.begin_at("bob", None, t).unwrap();
        }
        let a = l.begin_at("bob", None, t).unwrap();
        l.succeeded(&a);
        assert_eq!(l.begin_at("bob", None, t).unwrap().delay_on_failure, Duration::ZERO);
    }

    #[test]
    fn stale_entries_are_pruned() {
        let l = LoginLimiter::default();
        let t = Instant::now();
        for i in 0..3000 {
            let _ = l.begin_at(&format!("n{i}"), ip(&format!("10.1.{}.{}", i / 250, i % 250)), t);
        }
        l.begin_at("late", None, t + Duration::from_secs(20 * 60)).unwrap();
        assert!(l.state.lock().unwrap().entries.len() <= 2, "only the new attempt's entries remain");
    }
}

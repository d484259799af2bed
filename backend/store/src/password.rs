//! Password hashing with Argon2id (PHC strings, random salt per hash).
//!
//! Argon2 is deliberately slow (tens of milliseconds of CPU and 19 MiB per hash), so it never
//! runs on the async runtime: [`Hasher`] runs each hash on a blocking thread, and at most half
//! the machine's cores hash at once (at least one). A burst of logins then queues for the
//! hashing permits instead of taking every core from the pages and the jobs.

use crate::StoreError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Runs Argon2 off the async runtime, a bounded number at a time. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Hasher {
    permits: Arc<Semaphore>,
}

impl Hasher {
    /// At most `max(1, cores / 2)` hashes at once.
    pub(crate) fn new() -> Hasher {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Hasher::with_limit((cores / 2).max(1))
    }

    pub(crate) fn with_limit(limit: usize) -> Hasher {
        Hasher { permits: Arc::new(Semaphore::new(limit.max(1))) }
    }

    /// Runs `work` on a blocking thread once a hashing permit is free.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
        let _permit = self.permits.acquire().await.map_err(|e| StoreError::Hash(e.to_string()))?;
        tokio::task::spawn_blocking(work).await.map_err(|e| StoreError::Hash(e.to_string()))
    }

    pub(crate) async fn hash(&self, password: &str) -> Result<String, StoreError> {
        let password = password.to_owned();
        self.run(move || hash(&password)).await?
    }

    /// Whether `password` matches the PHC string; `None` as `phc` verifies against
    /// [`dummy_hash`] (and answers false), so an unknown user costs the same time.
    pub(crate) async fn verify(&self, password: &str, phc: Option<String>) -> Result<bool, StoreError> {
        let password = password.to_owned();
        self.run(move || match phc {
            Some(phc) => verify(&password, &phc),
            None => {
                verify(&password, dummy_hash());
                false
            }
        })
        .await
    }
}

fn hash(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Hash(e.to_string()))
}

fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so that a wrong username takes as
/// long as a wrong password.
fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J9Wm8m3a0Yg5YqKzJ8GQkzv4mHb1f2t0QfQmHkS7p2A"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse", &a));
        assert!(!verify("correct hors", &a));
        assert!(!verify("anything", "not a phc string"));
        assert!(!verify("anything", dummy_hash()));
    }

    /// The async runtime's only thread stays free while hashes run, and no more than the
    /// limit run at once.
    #[tokio::test]
    async fn hashing_runs_off_the_runtime_a_bounded_number_at_a_time() {
        let hasher = Hasher::with_limit(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (hasher, running, most) = (hasher.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    hasher
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        // This (current-thread) runtime keeps ticking while the six run.
        let started = std::time::Instant::now();
        let mut ticks = 0;
        while tasks.iter().any(|t| !t.is_finished()) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            ticks += 1;
        }
        assert!(ticks >= 10, "only {ticks} ticks in {:?}: the runtime was blocked", started.elapsed());
        assert_eq!(most.load(Ordering::SeqCst), 2, "at most two at once, and the limit is used");
        let h = hasher.hash("long enough").await.unwrap();
        assert!(hasher.verify("long enough", Some(h.clone())).await.unwrap());
        assert!(!hasher.verify("not it at all", Some(h)).await.unwrap());
        assert!(!hasher.verify("long enough", None).await.unwrap());
    }
}

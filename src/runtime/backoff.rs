//! Exponential backoff with jitter: per object for the controllers (reset on success), and the
//! delays every other retry uses.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::Mutex,
    time::Duration,
};

/// First retry delay.
pub const BASE: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const CAP: Duration = Duration::from_secs(60);

/// Failure counts per object UID, and the delay bounds.
pub struct Backoffs {
    failures: Mutex<HashMap<String, u32>>,
    base: Duration,
    cap: Duration,
}

impl Default for Backoffs {
    fn default() -> Self {
        Self::new(BASE, CAP)
    }
}

/// PURE: the delay before retry number `attempt` (0-based), with `jitter` in [0, 1) spreading
/// it over ±20%, capped at [`CAP`].
pub fn delay(attempt: u32, jitter: f64) -> Duration {
    delay_within(BASE, CAP, attempt, jitter)
}

/// PURE: like [`delay`] with explicit bounds.
pub fn delay_within(base: Duration, cap: Duration, attempt: u32, jitter: f64) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.min(16)));
    let capped = exp.min(cap);
    capped.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0)).min(cap)
}

impl Backoffs {
    /// Backoff from `base`, doubling per failure, capped at `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            failures: Mutex::default(),
            base,
            cap: cap.max(base),
        }
    }

    /// The longest delay.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// Records a failure of `key` and returns how long to wait before the next try.
    pub fn next(&self, key: &str) -> Duration {
        let attempt = {
            let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            let n = m.entry(key.to_owned()).or_insert(0);
            let a = *n;
            *n = n.saturating_add(1);
            a
        };
        delay_within(self.base, self.cap, attempt, jitter())
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// A number in [0, 1) that differs between calls (no random crate needed for jitter).
pub fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (h.finish() % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_then_caps() {
        assert_eq!(delay(0, 0.5), Duration::from_secs(1));
        assert_eq!(delay(1, 0.5), Duration::from_secs(2));
        assert_eq!(delay(3, 0.5), Duration::from_secs(8));
        assert_eq!(delay(10, 0.5), CAP);
        assert_eq!(delay(u32::MAX, 1.0), CAP);
    }

    #[test]
    fn jitter_spreads_by_twenty_percent() {
        assert_eq!(delay(2, 0.0), Duration::from_millis(3200));
        assert!(delay(2, 0.999) > Duration::from_millis(4790));
    }

    #[test]
    fn success_resets() {
        let b = Backoffs::default();
        let first = b.next("a");
        let _ = b.next("a");
        let third = b.next("a");
        assert!(third > first);
        b.reset("a");
        assert!(b.next("a") <= Duration::from_millis(1200));
    }
}

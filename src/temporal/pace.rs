//! Pacing of the calls to one Temporal namespace, so that the operator stays inside the
//! namespace's rate limits and backs off when the server says it is over them.
//!
//! A token bucket whose rate adapts (AIMD): it starts at the configured rate, halves when
//! Temporal answers `ResourceExhausted` (at most once per [`THROTTLE_HOLD`], so one burst of
//! refusals counts once), and climbs back linearly to the configured rate over
//! [`RECOVERY`]. The arithmetic is pure ([`Bucket`]) and tested with injected instants.

use std::{
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Time to climb from (almost) nothing back to the configured rate.
pub const RECOVERY: Duration = Duration::from_secs(30);
/// Refusals within this time of a halving do not halve again (they answer calls sent before
/// the halving).
pub const THROTTLE_HOLD: Duration = Duration::from_millis(250);
/// The lowest rate a namespace is slowed to, in calls per second.
pub const MIN_RATE: f64 = 0.5;

/// PURE: the state of one adaptive token bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    /// The configured rate, calls per second.
    max: f64,
    /// The current rate.
    rate: f64,
    /// Calls that may start now without waiting; negative when callers are queued.
    tokens: f64,
    /// When `rate` and `tokens` were last brought up to date.
    at: Instant,
    /// The last halving.
    throttled_at: Option<Instant>,
}

impl Bucket {
    /// A full bucket at `max` calls per second (a burst of one second's calls).
    pub fn new(max: NonZeroU32, now: Instant) -> Self {
        let max = f64::from(max.get());
        Self {
            max,
            rate: max,
            tokens: max,
            at: now,
            throttled_at: None,
        }
    }

    /// Brings the rate (recovering) and the tokens (refilling) up to `now`.
    fn advance(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now.max(self.at);
        let before = self.rate;
        self.rate = (self.rate + dt * self.max / RECOVERY.as_secs_f64()).min(self.max);
        // Refilled at the average of the old and new rates over the interval.
        let burst = self.rate.max(1.0);
        self.tokens = (self.tokens + dt * (before + self.rate) / 2.0).min(burst);
    }

    /// Takes one call's token at `now`; returns how long the caller must wait first.
    pub fn take(&mut self, now: Instant) -> Duration {
        self.advance(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// Temporal answered `ResourceExhausted` at `now`: halve the rate (once per
    /// [`THROTTLE_HOLD`]) and drop any burst credit. Returns whether the rate was halved.
    pub fn throttle(&mut self, now: Instant) -> bool {
        self.advance(now);
        if self
            .throttled_at
            .is_some_and(|t| now.saturating_duration_since(t) < THROTTLE_HOLD)
        {
            return false;
        }
        self.throttled_at = Some(now);
        self.rate = (self.rate / 2.0).max(MIN_RATE.min(self.max));
        self.tokens = self.tokens.min(0.0);
        true
    }

    /// The current rate at `now`, calls per second.
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.advance(now);
        self.rate
    }
}

/// Paces the calls to one Temporal namespace.
#[derive(Debug)]
pub struct Pace {
    bucket: Mutex<Bucket>,
}

impl Pace {
    /// A pace of at most `max` calls per second.
    pub fn new(max: NonZeroU32) -> Self {
        Self {
            bucket: Mutex::new(Bucket::new(max, Instant::now())),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut b)
    }

    /// Waits for this call's turn.
    pub async fn wait(&self) {
        let wait = self.with(|b| b.take(Instant::now()));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Temporal said the namespace is over its limit: slow down. Returns whether the rate was
    /// halved (false within [`THROTTLE_HOLD`] of the last halving).
    pub fn throttled(&self) -> bool {
        self.with(|b| b.throttle(Instant::now()))
    }

    /// The current rate, calls per second.
    pub fn rate(&self) -> f64 {
        self.with(|b| b.rate(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_full_bucket_gives_one_seconds_burst_then_paces_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(NonZeroU32::new(10).expect("10"), t0);
        let waits: Vec<Duration> = (0..12).map(|_| b.take(t0)).collect();
        assert!(waits[..10].iter().all(|w| w.is_zero()), "{waits:?}");
        assert_eq!(waits[10], secs(0.1));
        assert_eq!(waits[11], secs(0.2));
    }

    #[test]
    fn resource_exhausted_halves_once_per_hold_and_recovers_linearly() {
        let t0 = Instant::now();
        let mut b = Bucket::new(NonZeroU32::new(10).expect("10"), t0);
        assert!(b.throttle(t0));
        assert!(
            !b.throttle(t0 + secs(0.2)),
            "one burst of refusals counts once"
        );
        // Recovering at 10/30 per second.
        assert!((b.rate(t0 + secs(0.3)) - 5.1).abs() < 1e-9);
        assert!(b.throttle(t0 + secs(0.3)));
        assert!((b.rate(t0 + secs(0.3)) - 2.55).abs() < 1e-9);
        // Back to the configured rate after RECOVERY at most, and never above it.
        assert_eq!(b.rate(t0 + secs(1.0) + RECOVERY), 10.0);
        assert_eq!(b.rate(t0 + secs(100.0)), 10.0);
    }

    #[test]
    fn a_throttled_bucket_makes_callers_wait_at_the_lower_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(NonZeroU32::new(8).expect("8"), t0);
        b.throttle(t0);
        // No burst credit left: the first call waits one interval at 4/s.
        assert_eq!(b.take(t0), secs(0.25));
        assert_eq!(b.take(t0), secs(0.5));
    }

    #[test]
    fn the_rate_never_falls_below_the_floor() {
        let t0 = Instant::now();
        let mut b = Bucket::new(NonZeroU32::new(4).expect("4"), t0);
        let mut t = t0;
        for _ in 0..20 {
            b.throttle(t);
            t += THROTTLE_HOLD;
        }
        assert!(b.rate(t) >= MIN_RATE);
        assert!(b.rate(t) < 1.0);
    }
}

//! Waiting for a condition: every polling loop of the tests and the benchmarks is one of these.
//!
//! A wait looks, and while the answer is "not yet" and `limit` has not passed since it started,
//! sleeps `every` and looks again. It never looks once the limit has passed. Each variant says
//! what a timeout means: [`eventually`] fails the test; [`until`] and [`until_blocking`] return
//! `None`, and the caller says what that means (a failure with its own message, or nothing).
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// How often [`eventually`] looks.
pub const EVERY: Duration = Duration::from_millis(250);

/// Looks with `probe` every `every` until it returns `Some`, for at most `limit`: the value
/// found, or `None` when the limit passed first.
pub async fn until<T>(
    limit: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(found) = probe().await {
            return Some(found);
        }
        tokio::time::sleep(every).await;
    }
    None
}

/// Polls `check` every 250 ms until it holds, for at most `limit`; fails the test naming
/// `what` when it does not.
pub async fn eventually(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    if until(limit, EVERY, async || check().await.then_some(()))
        .await
        .is_none()
    {
        panic!("timed out after {limit:?} waiting for {what}");
    }
}

/// [`until`] for code without a runtime: `probe` blocks, and so does the sleep between looks.
pub fn until_blocking<T>(
    limit: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(found) = probe() {
            return Some(found);
        }
        std::thread::sleep(every);
    }
    None
}

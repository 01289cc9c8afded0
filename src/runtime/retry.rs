//! Retrying a piece of work within a bounded total time (`sync`'s Temporal and buun-curator
//! calls): transient errors (timeouts, `Unavailable`, `ResourceExhausted`, a lost update, a
//! connection that failed) are retried with exponential backoff and jitter; permanent ones (a
//! rejected spec, a conflict, a refused credential) end the work at once. Each error type says
//! which it is ([`Transient`], implemented beside it).

use std::{
    future::Future,
    time::{Duration, Instant},
};

use super::backoff::{delay_within, jitter};

/// An error that may go away by itself.
pub trait Transient {
    /// Whether trying again, unchanged, can succeed.
    fn is_transient(&self) -> bool;
}

/// How long and how often to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Total time after which no further attempt starts.
    pub budget: Duration,
    /// First delay; doubled per attempt.
    pub first: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Retry {
    /// Retries for `budget`, from 200 ms up to 10 s between attempts.
    pub fn within(budget: Duration) -> Self {
        Self {
            budget,
            first: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }

    /// One attempt, no retry.
    pub fn once() -> Self {
        Self::within(Duration::ZERO)
    }

    /// PURE: the wait after failed attempt number `attempt` (0-based) at `elapsed` into the
    /// budget, or `None` when the next attempt would start after the budget.
    pub fn wait(&self, attempt: u32, elapsed: Duration, jitter: f64) -> Option<Duration> {
        let wait = delay_within(self.first, self.cap, attempt, jitter);
        (elapsed + wait < self.budget).then_some(wait)
    }

    /// Runs `op` until it succeeds, fails permanently, or the budget is spent.
    pub async fn run<T, E, F, Fut>(&self, mut op: F) -> Tried<T, E>
    where
        E: Transient,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            let result = op().await;
            attempts += 1;
            let wait = match &result {
                Err(e) if e.is_transient() => self.wait(attempts - 1, start.elapsed(), jitter()),
                _ => None,
            };
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => {
                    return Tried {
                        result,
                        attempts,
                        elapsed: start.elapsed(),
                    };
                }
            }
        }
    }
}

/// The end of [`Retry::run`].
#[derive(Debug)]
pub struct Tried<T, E> {
    /// The last attempt's result.
    pub result: Result<T, E>,
    /// Attempts made.
    pub attempts: u32,
    /// Time spent, waits included.
    pub elapsed: Duration,
}

impl<T, E: std::fmt::Display + Transient> Tried<T, E> {
    /// Why the work failed, saying when retries ran out.
    pub fn why(&self, e: &E) -> String {
        if self.attempts > 1 && e.is_transient() {
            format!(
                "gave up after {} attempts in {:.1} s: {e}",
                self.attempts,
                self.elapsed.as_secs_f64()
            )
        } else {
            e.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// An error as a Temporal call gives them: `Unavailable` and `ResourceExhausted` go away
    /// by themselves, `InvalidArgument` does not.
    #[derive(Debug)]
    enum Code {
        Unavailable,
        ResourceExhausted,
        InvalidArgument,
    }

    impl std::fmt::Display for Code {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl Transient for Code {
        fn is_transient(&self) -> bool {
            !matches!(self, Code::InvalidArgument)
        }
    }

    fn rpc(code: Code) -> Code {
        code
    }

    #[test]
    fn waits_double_and_stop_at_the_budget() {
        let r = Retry::within(Duration::from_secs(3));
        assert_eq!(
            r.wait(0, Duration::ZERO, 0.5),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            r.wait(2, Duration::ZERO, 0.5),
            Some(Duration::from_millis(800))
        );
        assert_eq!(r.wait(10, Duration::ZERO, 0.5), None, "10 s cap > budget");
        assert_eq!(r.wait(0, Duration::from_millis(2900), 0.5), None);
        assert_eq!(
            Retry::within(Duration::ZERO).wait(0, Duration::ZERO, 0.0),
            None
        );
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success_or_the_budget() {
        let calls = AtomicU32::new(0);
        let r = Retry {
            budget: Duration::from_millis(500),
            first: Duration::from_millis(5),
            cap: Duration::from_millis(40),
        };
        let t = r
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(rpc(Code::Unavailable)),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!((t.result.expect("ok"), t.attempts), (7, 3));

        let t = r
            .run(|| async { Err::<(), _>(rpc(Code::ResourceExhausted)) })
            .await;
        let e = t.result.as_ref().expect_err("gave up");
        assert!(
            t.attempts > 3 && t.elapsed < Duration::from_secs(1),
            "{t:?}"
        );
        assert!(t.why(e).starts_with("gave up after"), "{}", t.why(e));

        let t = r
            .run(|| async { Err::<(), _>(rpc(Code::InvalidArgument)) })
            .await;
        assert_eq!(t.attempts, 1, "permanent: no retry");
        assert!(!t.why(t.result.as_ref().expect_err("e")).contains("gave up"));
    }
}

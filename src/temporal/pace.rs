//! Pacing of the calls to one Temporal namespace: it finds the server's limit and stays close
//! to it.
//!
//! Each (frontend, Temporal namespace) has one pace per [`Budget`], because Temporal limits
//! them apart: schedule calls, visibility queries, and every other call. A pace starts where
//! the server is known to be comfortable ([`start_rate`]), rises while its callers wait on it
//! and Temporal accepts, and is cut when Temporal answers `ResourceExhausted`.
//!
//! The rule is CUBIC's (RFC 9438) applied to a rate instead of a window: before the first
//! refusal the pace grows by [`SLOW_START`] per second; a refusal cuts it to [`BETA`] times the
//! rate refused, then it climbs back on a cubic curve that is steep far below the refused rate,
//! flat around it (where the limit was met, so refusals stay rare), and steep again past it (to
//! find a limit that was raised). Only the time callers spend waiting on the pace counts for the
//! climb, so a pace idle for an hour is not a guess that has grown unchecked. Plain additive
//! increase and multiplicative decrease (AIMD) is the baseline it was compared against on a
//! simulated server (the tests below): both stay inside the server's limit, but AIMD's climb is
//! linear, so a limit above the start (Temporal Cloud after an increase) takes long to find, and
//! on a server without a burst allowance AIMD averages three quarters of the limit.
//!
//! PURE: [`Controller`] decides (tested with injected instants); [`Pace`] only waits and
//! reports.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// The pace is cut to this share of the rate Temporal refused.
pub const BETA: f64 = 0.7;
/// Growth before the first refusal: this share of the rate per second of waiting callers.
pub const SLOW_START: f64 = 0.2;
/// The cubic's scale, per second cubed, relative to the rate refused: the climb back is flat
/// (the plateau) about `((1 - BETA) / CUBIC_C)^(1/3)` ≈ 4.2 s of waiting after a cut.
pub const CUBIC_C: f64 = 0.004;
/// The lowest pace, calls per second.
pub const MIN_RATE: f64 = 0.5;
/// The highest pace without a ceiling, calls per second.
pub const MAX_RATE: f64 = 100_000.0;
/// Calls that may go out at once after a quiet spell: this much time's worth of the pace.
pub const BURST: Duration = Duration::from_secs(1);
/// A caller told to wait counts as waiting (the pace grows) until it asks again, or this long
/// after its turn if it never does.
pub const PRESSED: Duration = Duration::from_secs(1);

/// How the calls to each (frontend, Temporal namespace) are paced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pacing {
    /// Not at all: every call goes out as soon as it has a place in flight.
    #[default]
    Off,
    /// Each budget's pace starts at [`start_rate`] and finds the server's limit, never above
    /// `ceiling` calls per second when one is given.
    Adaptive {
        /// The most calls per second of one budget.
        ceiling: Option<std::num::NonZeroU32>,
    },
}

/// What Temporal counts a call against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Budget {
    /// Create, Update, Describe, Patch and Delete Schedule: Temporal Cloud limits them to 10
    /// per second per namespace by default.
    Schedule,
    /// ListSchedules, CountWorkflowExecutions, ListWorkflowExecutions: visibility queries,
    /// limited apart (Cloud: 30 per second; a self-hosted frontend:
    /// `frontend.namespaceRPS.visibility`, 10 by default).
    Visibility,
    /// Every other call (GetWorkflowExecutionHistory, DescribeTaskQueue): the namespace's
    /// general request limit (Cloud: 2,000 per second by default; a self-hosted frontend:
    /// `frontend.namespaceRPS`, shared there with the schedule calls).
    Namespace,
}

impl Budget {
    /// Every budget.
    pub const ALL: [Self; 3] = [Self::Schedule, Self::Visibility, Self::Namespace];

    /// The budget of an RPC, by its method name.
    pub fn of(method: &str) -> Self {
        match method {
            "CreateSchedule" | "UpdateSchedule" | "DescribeSchedule" | "PatchSchedule"
            | "DeleteSchedule" => Self::Schedule,
            "ListSchedules" | "CountWorkflowExecutions" | "ListWorkflowExecutions" => {
                Self::Visibility
            }
            _ => Self::Namespace,
        }
    }

    /// Its metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Visibility => "visibility",
            Self::Namespace => "namespace",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// PURE: whether `address` (`host:port`) is Temporal Cloud's: a namespace endpoint
/// (`*.tmprl.cloud`) or a regional endpoint for API keys (`*.api.temporal.io`).
pub fn is_cloud(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "tmprl.cloud" || host.ends_with(".tmprl.cloud") || host.ends_with(".api.temporal.io")
}

/// PURE: where the pace of `budget` at `address` starts, calls per second: Temporal Cloud's
/// documented default limits for a `*.tmprl.cloud` address (its general request limit is far
/// above what the operator sends, so that budget starts at 100), and for any other (a
/// self-hosted server) what its default configuration takes comfortably: 100 calls per second
/// (its frontend allows 2,400 per namespace) and 10 visibility queries (its default limit).
pub fn start_rate(address: &str, budget: Budget) -> f64 {
    match (is_cloud(address), budget) {
        (true, Budget::Schedule) => 10.0,
        (true, Budget::Visibility) => 30.0,
        (false, Budget::Visibility) => 10.0,
        (_, Budget::Schedule | Budget::Namespace) => 100.0,
    }
}

/// A call let through by [`Controller::admit`]: which pace it went out at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    epoch: u64,
}

/// What [`Controller::admit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// The call may go now.
    Now(Ticket),
    /// Ask again after this long.
    Wait(Duration),
}

/// PURE: the pace of one budget, and the token bucket that spaces the calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Controller {
    /// Calls per second now.
    rate: f64,
    /// The most calls per second, whatever Temporal accepts.
    ceiling: f64,
    /// Calls that may start without waiting.
    tokens: f64,
    /// When `rate` and `tokens` were last brought up to date.
    at: Instant,
    /// Cuts so far: a refusal of a call sent before the last cut does not cut again.
    epoch: u64,
    /// The rate Temporal last refused, and the seconds callers have waited since that cut.
    peak: Option<(f64, f64)>,
    /// While a caller is held back by the pace: until when it counts as waiting.
    waiting_until: Option<Instant>,
    /// Calls let through in the current second (from when it began) and in the one before:
    /// what the server saw, when something else than the pace held the calls back.
    sent: (Instant, f64, f64),
}

impl Controller {
    /// A pace starting at `start` calls per second, never above `ceiling` (when given).
    pub fn new(start: f64, ceiling: Option<f64>, now: Instant) -> Self {
        let ceiling = ceiling.unwrap_or(MAX_RATE).clamp(MIN_RATE, MAX_RATE);
        let rate = start.clamp(MIN_RATE, ceiling);
        Self {
            rate,
            ceiling,
            tokens: burst(rate),
            at: now,
            epoch: 0,
            peak: None,
            waiting_until: None,
            sent: (now, 0.0, 0.0),
        }
    }

    /// Brings the rate (growing while callers wait) and the tokens up to `now`.
    fn advance(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        if dt <= 0.0 {
            return;
        }
        let before = self.rate;
        // The part of the interval in which a caller was held back by the pace.
        let held = self.waiting_until.map_or(0.0, |until| {
            until
                .min(now)
                .saturating_duration_since(self.at)
                .as_secs_f64()
        });
        self.at = now;
        if held > 0.0 {
            self.rate = match &mut self.peak {
                None => self.rate * (1.0 + SLOW_START * held),
                Some((peak, waited)) => {
                    *waited += held;
                    self.rate.max(cubic(*peak, *waited))
                }
            }
            .min(self.ceiling);
        }
        // Refilled at the average of the old and new rates over the interval.
        self.tokens = (self.tokens + dt * (before + self.rate) / 2.0).min(burst(self.rate));
    }

    /// A caller asks to send a call at `now`.
    pub fn admit(&mut self, now: Instant) -> Admit {
        self.advance(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.waiting_until = None;
            self.roll(now);
            self.sent.1 += 1.0;
            Admit::Now(Ticket { epoch: self.epoch })
        } else {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / self.rate);
            // Held back until it asks again; a caller that gives up stops counting soon after.
            self.waiting_until = Some(now + wait + PRESSED);
            Admit::Wait(wait)
        }
    }

    /// Temporal refused the call of `ticket` (`ResourceExhausted`) at `now`. Returns whether
    /// the pace was cut: not for a call sent before the last cut, which answers a faster pace.
    pub fn refused(&mut self, ticket: Ticket, now: Instant) -> bool {
        self.advance(now);
        if ticket.epoch != self.epoch {
            return false;
        }
        self.epoch += 1;
        // The rate refused is the pace, or what went out when fewer calls were sent.
        let peak = self.rate.min(self.sent_rate(now).max(MIN_RATE));
        self.peak = Some((peak, 0.0));
        self.rate = (peak * BETA).max(MIN_RATE.min(self.ceiling));
        self.tokens = 0.0;
        true
    }

    /// Starts a new second of counts when the current one is over.
    fn roll(&mut self, now: Instant) {
        let (start, this, _) = self.sent;
        let gone = now.saturating_duration_since(start);
        if gone >= Duration::from_secs(2) {
            self.sent = (now, 0.0, 0.0);
        } else if gone >= Duration::from_secs(1) {
            self.sent = (start + Duration::from_secs(1), 0.0, this);
        }
    }

    /// Calls let through in the last second, the second before weighed by its part in it.
    fn sent_rate(&mut self, now: Instant) -> f64 {
        self.roll(now);
        let (start, this, before) = self.sent;
        let into = now.saturating_duration_since(start).as_secs_f64().min(1.0);
        this + before * (1.0 - into)
    }

    /// The pace at `now`, calls per second.
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.advance(now);
        self.rate
    }
}

/// Calls that may go out at once at `rate`.
fn burst(rate: f64) -> f64 {
    (rate * BURST.as_secs_f64()).max(1.0)
}

/// The climb back after a cut at `peak`: [`BETA`]` × peak` right after it, `peak` again after
/// the plateau's time of waiting, and beyond it after that.
fn cubic(peak: f64, waited: f64) -> f64 {
    let k = ((1.0 - BETA) / CUBIC_C).cbrt();
    peak * (1.0 + CUBIC_C * (waited - k).powi(3))
}

/// The paces of one (frontend, Temporal namespace): one per [`Budget`].
#[derive(Debug)]
pub struct Pace {
    controllers: [Mutex<Controller>; 3],
    /// The caller at the head of each budget's line; the others queue behind it in order.
    turns: [tokio::sync::Mutex<()>; 3],
}

impl Pace {
    /// The paces of `address`, each starting at [`start_rate`] and never above `ceiling`.
    pub fn new(address: &str, ceiling: Option<std::num::NonZeroU32>) -> Self {
        let now = Instant::now();
        let ceiling = ceiling.map(|c| f64::from(c.get()));
        let controller =
            |b: Budget| Mutex::new(Controller::new(start_rate(address, b), ceiling, now));
        Self {
            controllers: Budget::ALL.map(controller),
            turns: Default::default(),
        }
    }

    fn with<T>(&self, budget: Budget, f: impl FnOnce(&mut Controller) -> T) -> T {
        let mut c = self.controllers[budget.index()]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&mut c)
    }

    /// Waits for this call's turn in `budget`. A cut while the caller waits makes it wait
    /// longer: its turn is decided when it comes, not when it was asked for.
    pub async fn wait(&self, budget: Budget) -> Ticket {
        let _head = self.turns[budget.index()].lock().await;
        loop {
            match self.with(budget, |c| c.admit(Instant::now())) {
                Admit::Now(ticket) => return ticket,
                Admit::Wait(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Temporal refused the call of `ticket`: slow `budget` down. Returns whether it was cut.
    pub fn refused(&self, budget: Budget, ticket: Ticket) -> bool {
        self.with(budget, |c| c.refused(ticket, Instant::now()))
    }

    /// The pace of `budget` now, calls per second.
    pub fn rate(&self, budget: Budget) -> f64 {
        self.with(budget, |c| c.rate(Instant::now()))
    }
}

#[cfg(test)]
#[path = "pace_tests.rs"]
mod tests;

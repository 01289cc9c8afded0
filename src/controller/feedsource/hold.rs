//! During a mass creation, the first listing of each new schedule waits for the creates.
//!
//! A new FeedSource is Ready with the status written at its create; its next runs and the
//! server's form come with a later listing and a second status write. While schedules are
//! being created, that listing and those writes would come between the creates: a listing of
//! thousands of schedules costs the Temporal server seconds of CPU per page, and a status write
//! costs the API server about twice a finalizer patch, on machines often shared by both. So a
//! listing for news waits until no create has been in flight for [`QUIET`], for
//! [`NEWS_HOLD_MAX`] at most after its own create. The waiting FeedSources do not poll: when
//! the last create in flight ends, the oldest of them comes back, and the listing it fetches
//! brings back the others it shows.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    time::{Duration, Instant},
};

/// How long the first listing for a new schedule may wait for the creates in flight.
pub(super) const NEWS_HOLD_MAX: Duration = Duration::from_secs(600);

/// How long no create must have been in flight before a listing for news starts: a mass
/// creation has short gaps (reconciles busy with finalizers or status writes). The follow-up
/// of a lone create comes no sooner (`context::FOLLOW_UP`, checked by a test there), so it is
/// not held.
pub(super) const QUIET: Duration = Duration::from_secs(2);

/// What a listing for news about a schedule created some time ago does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hold {
    /// Starts (or joins) the listing.
    Go,
    /// Creates are in flight: waits to be brought back by the last one to end, or after this
    /// long at most.
    UntilCreatesEnd(Duration),
    /// The last create ended moments ago: looks again after this long.
    Quiet(Duration),
}

/// PURE: the hold for a listing about a schedule created `age` ago, with `in_flight` creates
/// in flight and the last one ended `since_last` ago (`None`: none has ended yet).
pub(super) fn decide(in_flight: usize, since_last: Option<Duration>, age: Duration) -> Hold {
    if age >= NEWS_HOLD_MAX {
        return Hold::Go;
    }
    if in_flight > 0 {
        return Hold::UntilCreatesEnd(NEWS_HOLD_MAX - age);
    }
    match since_last {
        Some(ago) if ago < QUIET => Hold::Quiet((QUIET - ago).min(NEWS_HOLD_MAX - age)),
        _ => Hold::Go,
    }
}

/// The creates in flight, and whether a listing for news waits for them to end.
#[derive(Debug, Default)]
pub(super) struct Creates {
    in_flight: AtomicUsize,
    last_ended: Mutex<Option<Instant>>,
    /// A FeedSource waits for the creates to end ([`Hold::UntilCreatesEnd`]).
    held: AtomicBool,
}

/// A reconcile that may create a schedule, counted until dropped.
#[derive(Debug)]
pub(super) struct Creating<'a>(&'a Creates);

impl Creates {
    /// Counts a reconcile that may create a schedule, until the guard drops.
    pub(super) fn start(&self) -> Creating<'_> {
        self.in_flight.fetch_add(1, SeqCst);
        Creating(self)
    }

    /// The hold for a listing about a schedule created `age` ago. When it waits for the
    /// creates to end, the last one to end reports it ([`Creating::end`] returns `true`).
    pub(super) fn hold(&self, age: Duration) -> Hold {
        let since_last = self.last_ended().map(|t| t.elapsed());
        let hold = decide(self.in_flight.load(SeqCst), since_last, age);
        if let Hold::UntilCreatesEnd(_) = hold {
            self.held.store(true, SeqCst);
            // The last create may have ended before the flag was set: nobody would report it.
            if self.in_flight.load(SeqCst) == 0 && self.held.swap(false, SeqCst) {
                return Hold::Quiet(QUIET);
            }
        }
        hold
    }

    fn last_ended(&self) -> Option<Instant> {
        *self.last_ended.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A create ended; `true` when it was the last in flight and a listing waits for it.
    fn ended(&self) -> bool {
        *self.last_ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.in_flight.fetch_sub(1, SeqCst) == 1 && self.held.swap(false, SeqCst)
    }
}

impl Creating<'_> {
    /// Ends the count; `true` when this was the last create in flight and a listing for news
    /// waits for it (the caller brings a waiting FeedSource back).
    pub(super) fn end(self) -> bool {
        let woke = self.0.ended();
        std::mem::forget(self);
        woke
    }
}

impl Drop for Creating<'_> {
    /// A reconcile cancelled in a create (shutdown) still ends its count.
    fn drop(&mut self) {
        self.0.ended();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Creates, Hold, NEWS_HOLD_MAX, QUIET, decide};

    #[test]
    fn news_waits_for_the_creates_and_a_quiet_moment_for_ten_minutes_at_most() {
        let s = Duration::from_secs;
        assert_eq!(decide(0, None, s(0)), Hold::Go, "nothing was created");
        assert_eq!(decide(0, Some(s(60)), s(70)), Hold::Go, "long quiet");
        assert_eq!(decide(3, Some(s(0)), s(60)), Hold::UntilCreatesEnd(s(540)));
        assert_eq!(decide(0, Some(s(1)), s(60)), Hold::Quiet(QUIET - s(1)));
        assert_eq!(decide(0, Some(s(0)), s(599)), Hold::Quiet(s(1)));
        assert_eq!(
            decide(0, Some(QUIET), s(60)),
            Hold::Go,
            "a lone create's follow-up"
        );
        assert_eq!(
            decide(3, Some(s(0)), NEWS_HOLD_MAX),
            Hold::Go,
            "waited enough"
        );
    }

    #[test]
    fn the_last_create_to_end_reports_a_waiting_listing_once() {
        let creates = Creates::default();
        assert_eq!(creates.hold(Duration::ZERO), Hold::Go, "no create yet");
        let one = creates.start();
        let two = creates.start();
        assert_eq!(
            creates.hold(Duration::ZERO),
            Hold::UntilCreatesEnd(NEWS_HOLD_MAX)
        );
        assert!(!two.end(), "one still in flight");
        assert!(one.end(), "the last one reports the waiting listing");
        let three = creates.start();
        assert!(!three.end(), "nobody waits any more");
        assert!(
            matches!(creates.hold(Duration::ZERO), Hold::Quiet(_)),
            "a create just ended"
        );
    }

    #[test]
    fn a_cancelled_create_still_ends_its_count() {
        let creates = Creates::default();
        drop(creates.start());
        let last = creates.start();
        assert_eq!(
            creates.hold(Duration::ZERO),
            Hold::UntilCreatesEnd(NEWS_HOLD_MAX)
        );
        assert!(last.end());
    }
}

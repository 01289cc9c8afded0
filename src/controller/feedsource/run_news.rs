//! What the runs watch learned of ended runs and the reconciles have not recorded yet, per
//! Temporal namespace: kept until the FeedSource's cached status shows it (a reconcile of a copy
//! the watch has not updated yet must see the news again, or it would write the run back as
//! running), so that the memory is as large as the news in flight, not as the number of
//! FeedSources. And the runs already counted in the metrics, for a while, so that such a
//! reconcile does not count them twice.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{schedule::runs::ClosedRun, temporal::runs::RunClose};

/// Ended runs kept per schedule at most (the newest): enough to count failures in a row
/// between two reconciles of a feed that runs every minute.
pub const KEPT_PER_SCHEDULE: usize = 16;

/// News nobody took for this long are dropped (a FeedSource that no longer reconciles).
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// How long a counted run is remembered: longer than the watch may lag behind a status write.
pub const COUNTED_FOR: Duration = Duration::from_secs(600);

/// A Temporal frontend and namespace.
pub type Place = (String, String);

#[derive(Default)]
struct Watched {
    /// When the last query of ended runs was tried.
    tried: Option<Instant>,
    /// When the last query that answered started (wall time).
    listed: Option<jiff::Timestamp>,
    /// Since when the answered queries cover every end without a gap (up to `listed`).
    covered: Option<jiff::Timestamp>,
    /// What the query in flight asks from, and whether it continues the covered span.
    asking: Option<(jiff::Timestamp, bool)>,
    /// Ended runs by schedule ID, with when they were learned.
    ended: HashMap<Box<str>, (Instant, Vec<ClosedRun>)>,
    /// The runs counted in the metrics, by run ID, with when.
    counted: HashMap<Box<str>, Instant>,
    /// How runs ended, read from their close events, by run ID, with when.
    closes: HashMap<Box<str>, (Instant, RunClose)>,
}

/// Ended runs, learned per Temporal namespace, waiting for their FeedSource's reconcile.
#[derive(Default)]
pub struct RunNews {
    places: Mutex<HashMap<Place, Watched>>,
}

impl RunNews {
    fn with<T>(&self, place: &Place, f: impl FnOnce(&mut Watched) -> T) -> T {
        let mut m = self.places.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(place.clone()).or_default())
    }

    /// Whether a query of `place`'s ended runs may start at `now` (one try every `every`, which
    /// this call counts), and the time it must ask from: `floor` (the oldest start of a run in
    /// progress), or, when the queries so far cover every end since `floor`, the last query's
    /// start less `overlap` (visibility lags a little behind a run's end). A run whose start a
    /// FeedSource learns late (its status shows it only after a query asked from later) moves
    /// `floor` before what was covered: that span is asked again, once.
    pub fn query_from(
        &self,
        place: &Place,
        now: Instant,
        every: Duration,
        floor: jiff::Timestamp,
        overlap: jiff::SignedDuration,
    ) -> Option<jiff::Timestamp> {
        self.with(place, |w| {
            if w.tried.is_some_and(|t| now.duration_since(t) < every) {
                return None;
            }
            w.tried = Some(now);
            let from = match (w.listed, w.covered) {
                (Some(wall), Some(covered)) if floor >= covered => floor.max(wall - overlap),
                _ => floor,
            };
            let continuous =
                w.covered.is_some() && w.listed.is_some_and(|wall| from <= wall - overlap);
            w.asking = Some((from, continuous));
            Some(from)
        })
    }

    /// A query that started at `started` (wall time `wall`) listed `runs` (by schedule ID);
    /// returns the schedule IDs with news.
    pub fn learned(
        &self,
        place: &Place,
        started: Instant,
        wall: jiff::Timestamp,
        runs: impl IntoIterator<Item = (String, ClosedRun)>,
    ) -> Vec<String> {
        self.with(place, |w| {
            w.listed = Some(wall);
            if let Some((from, continuous)) = w.asking.take() {
                w.covered = Some(match w.covered {
                    Some(c) if continuous => c.min(from),
                    _ => from,
                });
            }
            w.ended
                .retain(|_, (at, _)| started.duration_since(*at) < FORGET_AFTER);
            let mut news = Vec::new();
            for (id, run) in runs {
                let (at, list) = w
                    .ended
                    .entry(id.as_str().into())
                    .or_insert_with(|| (started, Vec::new()));
                if list.iter().any(|r| r.run_id == run.run_id) {
                    continue;
                }
                *at = started;
                list.push(run);
                list.sort_by_key(|r| (r.close_time, r.start_time));
                let over = list.len().saturating_sub(KEPT_PER_SCHEDULE);
                list.drain(..over);
                news.push(id);
            }
            news.sort();
            news.dedup();
            news
        })
    }

    /// The ended runs of schedule `id` not recorded yet (a copy).
    pub fn ended(&self, place: &Place, id: &str) -> Vec<ClosedRun> {
        let m = self.places.lock().unwrap_or_else(|p| p.into_inner());
        m.get(place)
            .and_then(|w| w.ended.get(id))
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }

    /// Schedule `id`'s status records `runs` now: they are no news any more.
    pub fn recorded(&self, place: &Place, id: &str, runs: &[ClosedRun]) {
        let mut m = self.places.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = m.get_mut(place)
            && let Some((_, list)) = w.ended.get_mut(id)
        {
            list.retain(|r| !runs.iter().any(|done| done.run_id == r.run_id));
            if list.is_empty() {
                w.ended.remove(id);
            }
        }
    }

    /// Forgets the news of schedule `id` (its FeedSource is gone).
    pub fn forget(&self, place: &Place, id: &str) {
        let mut m = self.places.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = m.get_mut(place) {
            w.ended.remove(id);
        }
    }

    /// Whether run `run_id` of `place` is counted for the first time (it is counted now).
    pub fn first_count(&self, place: &Place, run_id: &str) -> bool {
        self.with(place, |w| {
            let now = Instant::now();
            w.counted
                .retain(|_, at| now.duration_since(*at) < COUNTED_FOR);
            w.counted.insert(run_id.into(), now).is_none()
        })
    }

    /// How run `run_id` of `place` ended, if its close event was read lately.
    pub fn close_of(&self, place: &Place, run_id: &str) -> Option<RunClose> {
        let m = self.places.lock().unwrap_or_else(|p| p.into_inner());
        m.get(place)?.closes.get(run_id).map(|(_, c)| c.clone())
    }

    /// Keeps how run `run_id` of `place` ended (read from its close event), for a while: a
    /// reconcile of a copy the watch has not updated yet finds it here instead of reading it
    /// again.
    pub fn read_close(&self, place: &Place, run_id: &str, close: RunClose) {
        self.with(place, |w| {
            let now = Instant::now();
            w.closes
                .retain(|_, (at, _)| now.duration_since(*at) < COUNTED_FOR);
            w.closes.insert(run_id.into(), (now, close));
        });
    }

    /// How many schedules have news waiting.
    pub fn waiting(&self) -> usize {
        let m = self.places.lock().unwrap_or_else(|p| p.into_inner());
        m.values().map(|w| w.ended.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::feedsource::RunOutcome;

    fn run(id: &str, close: i64) -> ClosedRun {
        ClosedRun {
            workflow_id: "wf".into(),
            run_id: id.into(),
            outcome: RunOutcome::Completed,
            start_time: None,
            close_time: jiff::Timestamp::from_second(close).ok(),
        }
    }

    #[test]
    fn news_wait_until_recorded_and_repeat_listings_add_nothing() {
        let news = RunNews::default();
        let place = ("t:1".to_owned(), "default".to_owned());
        let t0 = Instant::now();
        let asked = jiff::Timestamp::from_second(1_000).expect("ts");
        let got = news.learned(
            &place,
            t0,
            asked,
            [
                ("s/a".to_owned(), run("r1", 10)),
                ("s/b".to_owned(), run("r2", 11)),
            ],
        );
        assert_eq!(got, ["s/a", "s/b"]);
        let again = news.learned(&place, t0, asked, [("s/a".to_owned(), run("r1", 10))]);
        assert!(again.is_empty(), "listed twice, news once");
        assert_eq!(news.ended(&place, "s/a"), [run("r1", 10)]);
        news.recorded(&place, "s/a", &[run("r1", 10)]);
        assert!(news.ended(&place, "s/a").is_empty());
        assert_eq!(news.waiting(), 1);
    }

    #[test]
    fn queries_are_paced_and_never_skip_an_end() {
        let news = RunNews::default();
        let place = ("t:1".to_owned(), "default".to_owned());
        let every = Duration::from_secs(30);
        let overlap = jiff::SignedDuration::from_secs(30);
        let floor = jiff::Timestamp::from_second(500).expect("ts");
        let t0 = Instant::now();
        assert_eq!(
            news.query_from(&place, t0, every, floor, overlap),
            Some(floor)
        );
        assert_eq!(
            news.query_from(&place, t0, every, floor, overlap),
            None,
            "a failed try counts too"
        );
        let asked = jiff::Timestamp::from_second(1_000).expect("ts");
        news.learned(&place, t0, asked, []);
        assert_eq!(news.query_from(&place, t0, every, floor, overlap), None);
        let later = t0 + every;
        assert_eq!(
            news.query_from(&place, later, every, floor, overlap),
            Some(asked - overlap),
            "from the last query, less the overlap"
        );
        let newer_floor = jiff::Timestamp::from_second(2_000).expect("ts");
        assert_eq!(
            news.query_from(&place, later + every, every, newer_floor, overlap),
            Some(newer_floor),
            "nothing older than the oldest run in progress"
        );
    }

    #[test]
    fn a_run_learned_late_is_asked_for_from_its_start_once() {
        let news = RunNews::default();
        let place = ("t:1".to_owned(), "default".to_owned());
        let every = Duration::from_secs(30);
        let overlap = jiff::SignedDuration::from_secs(30);
        let ts = |s| jiff::Timestamp::from_second(s).expect("ts");
        let t0 = Instant::now();
        // The first query asks from the oldest run in progress then (1,000) and answers.
        assert_eq!(
            news.query_from(&place, t0, every, ts(1_000), overlap),
            Some(ts(1_000))
        );
        news.learned(&place, t0, ts(2_000), []);
        // A FeedSource now shows a run that started at 500 (its status learned it from a later
        // listing): its end may lie before anything asked so far.
        let t1 = t0 + every;
        assert_eq!(
            news.query_from(&place, t1, every, ts(500), overlap),
            Some(ts(500)),
            "the span before what was covered is asked"
        );
        news.learned(&place, t1, ts(2_100), []);
        // Covered from 500 on now: the next query goes on from the last one.
        let t2 = t1 + every;
        assert_eq!(
            news.query_from(&place, t2, every, ts(500), overlap),
            Some(ts(2_100) - overlap),
            "asked once, not at every query"
        );
        // A query that failed (no answer) leaves the covered span as it was.
        let t3 = t2 + every;
        assert_eq!(
            news.query_from(&place, t3, every, ts(400), overlap),
            Some(ts(400))
        );
        let t4 = t3 + every;
        assert_eq!(
            news.query_from(&place, t4, every, ts(400), overlap),
            Some(ts(400)),
            "still not covered: asked again"
        );
    }

    #[test]
    fn a_schedule_keeps_its_newest_ends() {
        let news = RunNews::default();
        let place = ("t:1".to_owned(), "default".to_owned());
        let t0 = Instant::now();
        let asked = jiff::Timestamp::from_second(1).expect("ts");
        let runs = (0..40).map(|i| ("s/a".to_owned(), run(&format!("r{i}"), i)));
        news.learned(&place, t0, asked, runs);
        let kept = news.ended(&place, "s/a");
        assert_eq!(kept.len(), KEPT_PER_SCHEDULE);
        assert_eq!(kept.last(), Some(&run("r39", 39)));
    }
}

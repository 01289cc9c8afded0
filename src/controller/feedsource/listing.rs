//! The cheap resync: a schedule listing instead of a describe per FeedSource.

use std::{sync::Arc, time::Instant};

use kube::ResourceExt;

use super::{
    context::{FeedContext, NEWS_INTERVAL, VISIBILITY_GRACE},
    hold::Hold,
};
use crate::{
    controller::cache::{NamespaceKey, News},
    crd::{FeedSource, FeedSourceStatus, conditions},
    schedule::{
        DesiredSchedule, desired, listing, pages,
        sync::{Recorded, Synced},
    },
    temporal::{ScheduleApi, TemporalError, pool::Credentials},
};

/// What the listing says about a schedule.
pub(super) enum Listed {
    /// As the operator left it: nothing to write.
    InSync(Box<Synced>),
    /// Created moments ago and not in a listing yet: look again after this long (when the
    /// next listing may start).
    NotYet(std::time::Duration),
    /// A listing is being fetched (it took this long the last time); its arrival brings this
    /// FeedSource back if it shows its schedule (`FeedContext::listing_news`).
    Awaiting(std::time::Duration),
    /// In doubt: the full reconcile (describe) decides.
    Describe,
}

/// The cheap path of a resync: when nothing changed on our side, one shared listing (a page per
/// thousand schedules) replaces a describe per FeedSource. Any doubt means `Describe`; every
/// schedule is still described in full at the `full_verify` rate, to catch edits of the action
/// or input, which the listing does not show.
pub(super) async fn listed<A: ScheduleApi>(
    fs: &FeedSource,
    ctx: &FeedContext,
    desired: &DesiredSchedule,
    recorded: &Recorded,
    api: &A,
    creds: &Credentials,
) -> Listed {
    let uid = fs.uid().unwrap_or_default();
    let Some(prev) = fs.status.as_ref() else {
        return Listed::Describe;
    };
    if in_doubt(prev, ctx, desired, recorded, &uid) {
        return Listed::Describe;
    }
    let key = (
        desired.address.clone(),
        desired.namespace.clone(),
        creds.tag(),
    );
    let wanted = desired::listing_prefix(&ctx.build.id_prefix);
    let fetched = std::sync::atomic::AtomicBool::new(false);
    let fetch = || async {
        fetched.store(true, std::sync::atomic::Ordering::Relaxed);
        fetch_listing(api, &wanted).await
    };
    let created = ctx.awaiting.created_at(&uid);
    // During a mass creation a new schedule's first listing comes after the creates (`hold`).
    if let Some((at, _)) = created {
        match ctx.creates.hold(at.elapsed()) {
            Hold::Go => {}
            Hold::UntilCreatesEnd(at_most) => return Listed::Awaiting(at_most),
            Hold::Quiet(wait) => return Listed::NotYet(wait),
        }
    }
    let (since, min_interval) = acceptable(ctx, &key, created.map(|(_, since)| since));
    let listing = ctx
        .list_cache
        .get_since(&key, since, min_interval, fetch)
        .await;
    if fetched.load(std::sync::atomic::Ordering::Relaxed)
        && let News::Fresh(Ok(l)) = &listing
    {
        // The FeedSources whose schedules it shows come back now, not at their next poll.
        ctx.listing_arrived(l);
    }
    let listing = match listing {
        News::InFlight(took) => return Listed::Awaiting(took),
        News::TooSoon(wait) => return Listed::NotYet(wait),
        // A new schedule's status is written: it waits for a later listing rather than add a
        // describe to a server that is already failing listings (usually from load).
        News::Fresh(Err(_)) if created.is_some() => return Listed::NotYet(NEWS_INTERVAL),
        News::Fresh(Err(_)) | News::Kept(Err(_)) => return Listed::Describe,
        News::Fresh(Ok(l)) | News::Kept(Ok(l)) => l,
    };
    let Some(entry) = listing.get(&desired.id) else {
        // Visibility lags a little behind a create; after that, describe.
        return match created {
            Some((at, _)) if at.elapsed() < VISIBILITY_GRACE => {
                ctx.awaiting.missed(&uid);
                Listed::NotYet(NEWS_INTERVAL)
            }
            _ => Listed::Describe,
        };
    };
    match listing::synced(desired, prev, entry) {
        Some(s) => Listed::InSync(Box::new(s)),
        None => Listed::Describe,
    }
}

/// Whether a FeedSource is in doubt, so that a describe decides rather than a listing: its
/// last reconcile failed, its status records another schedule, a run-now or a spec change
/// waits, or it was not verified recently.
fn in_doubt(
    prev: &FeedSourceStatus,
    ctx: &FeedContext,
    desired: &DesiredSchedule,
    recorded: &Recorded,
    uid: &str,
) -> bool {
    prev.conditions.find_true(conditions::READY).is_none()
        || !desired.is_recorded_in(prev)
        || recorded.run_now.is_some()
        || recorded.generation_changed
        || !ctx.verified_recently(uid)
}

/// A new schedule waits for a listing that started after its create. A resync takes one
/// that ended less than `list_ttl` ago (a listing that takes longer than the TTL is still
/// fresh when it arrives), or, when none may start now (one is in flight, or the pace
/// forbids it), the one before, as long as it is no older than the pace lets it get
/// (`kept_age`): a listing of many schedules takes long and is paced, and resyncs that waited
/// for it would come back again and again. Neither waits for a listing in flight (with
/// thousands of FeedSources the waiters would hold every place of the controller for as long
/// as a listing takes), and only the caller that fetched sees a failed listing (on a server
/// too loaded to list in time, a describe per FeedSource only adds load).
///
/// Returns the oldest start and end of a listing that may be used, and how often one may be
/// fetched; `created`, for a new schedule, is after when a listing must have started.
fn acceptable(
    ctx: &FeedContext,
    key: &NamespaceKey,
    created: Option<Instant>,
) -> ((Instant, Instant), std::time::Duration) {
    let now = Instant::now();
    let ago = |age: std::time::Duration| now.checked_sub(age).unwrap_or(now);
    match created {
        Some(since) => ((since, since), NEWS_INTERVAL),
        None => {
            let ttl = ctx.list_ttl();
            let took = ctx.list_cache.last_took(key);
            let fresh = ago(ttl.saturating_add(took));
            ((fresh, ago(kept_age(ttl, took))), ttl)
        }
    }
}

/// One listing of the operator's schedules (those under `wanted`), as the cache keeps it.
pub(super) async fn fetch_listing<A: ScheduleApi>(
    api: &A,
    wanted: &str,
) -> Result<Arc<listing::Listing>, TemporalError> {
    pages::list_kept::<_, _, Vec<_>>(api, wanted, crate::runtime::LIST_PAGE, |l| {
        listing::compact(wanted, l)
    })
    .await
    .map(|kept| Arc::new(listing::Listing::from(kept)))
}

/// PURE: the oldest listing a resync uses when no new one may start now, for a listing reused
/// for `ttl` whose fetch took `took`: a listing starts once the last one is older than
/// `ttl + took`, or later when the pace of listings (`cache::news_interval`) says so, and
/// takes `took`; until the next one arrives, the last one is the newest there can be.
pub(super) fn kept_age(ttl: std::time::Duration, took: std::time::Duration) -> std::time::Duration {
    let next_start =
        crate::controller::cache::news_interval(took, ttl).max(ttl.saturating_add(took));
    // Twice the fetch time: the next fetch is not always asked for at once.
    next_start.saturating_add(took.saturating_mul(2))
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use futures::StreamExt;
    use kube::runtime::reflector::ObjectRef;

    use super::{Listed, kept_age, listed};
    use crate::{
        controller::feedsource::context::FeedContext,
        crd::FeedSource,
        feed::Registration,
        schedule::{
            status::{Outcome, compute},
            sync::{self, Recorded},
        },
        testing::{kube::FakeKube, schedules::FakeSchedules},
    };

    #[tokio::test]
    async fn a_new_schedules_first_listing_waits_for_the_creates_in_flight() {
        let kube = Arc::new(FakeKube::default());
        let ctx = FeedContext::test(kube.client(), "t");
        let api = FakeSchedules::default();
        let mut news = ctx.listing_news();
        // A schedule created with one call, its status written at once (Ready).
        let mut fs = FeedSource::test("news", "new");
        let desired = fs.desired("127.0.0.1:7233", "t");
        let synced = sync::sync(&api, &desired, &Recorded::of(&fs, &desired))
            .await
            .expect("created");
        let outcome = Outcome::Synced {
            synced: &synced,
            desired: &desired,
            run_now: None,
            runs: None,
            created: None,
        };
        let registration = Registration::NotChecked {
            id: "feed-1".into(),
        };
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
        let status = compute(
            &Default::default(),
            fs.metadata.generation,
            Some(&desired),
            &outcome,
            Some(&registration),
            &now,
        );
        fs.status = Some(status);
        let uid = fs.metadata.uid.clone().unwrap_or_default();
        let obj = ObjectRef::from_obj(&fs);
        ctx.verified.mark(&uid);
        ctx.awaiting.start(&uid, obj.clone(), desired.id.clone());
        let recorded = Recorded::of(&fs, &desired);
        let creds = Default::default();
        // Another FeedSource's create is in flight: no listing, no polling.
        let other = ctx.creates.start();
        let first = listed(&fs, &ctx, &desired, &recorded, &api, &creds).await;
        assert!(
            matches!(first, Listed::Awaiting(_)),
            "waits for the creates"
        );
        assert_eq!(api.calls("ListSchedules"), 0);
        // The last create to end brings it back; a moment later its listing starts.
        ctx.create_ended(other);
        assert_eq!(news.next().await, Some(obj));
        let quiet = listed(&fs, &ctx, &desired, &recorded, &api, &creds).await;
        assert!(matches!(quiet, Listed::NotYet(_)), "a create just ended");
        assert_eq!(api.calls("ListSchedules"), 0);
    }

    #[test]
    fn a_resync_uses_the_last_listing_until_the_next_may_have_arrived() {
        let s = Duration::from_secs;
        // Quick listings (1,000 schedules): reused for the TTL, then the next one arrives.
        assert_eq!(kept_age(s(60), s(1)), s(63));
        // 10,000 schedules on a loaded server: paced to one every 5 minutes.
        assert_eq!(kept_age(s(60), s(70)), s(300 + 140));
        // Before the first listing.
        assert_eq!(kept_age(s(5), Duration::ZERO), s(5));
    }
}

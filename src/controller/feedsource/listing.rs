//! The cheap resync: a schedule listing instead of a describe per FeedSource.

use std::{sync::Arc, time::Instant};

use kube::ResourceExt;

use super::context::{FeedContext, LIST_PAGE, NEWS_INTERVAL, VISIBILITY_GRACE};
use crate::{
    controller::cache::News,
    crd::{FeedSource, conditions},
    schedule::{
        DesiredSchedule, desired, listing,
        sync::{self, Recorded, Synced},
    },
    temporal::{ScheduleApi, pool::Credentials},
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
    // A FeedSource whose last reconcile failed is in doubt too: the describe decides.
    let ready = prev.conditions.find_true(conditions::READY).is_some();
    if !ready
        || !desired.is_recorded_in(prev)
        || recorded.run_now.is_some()
        || recorded.generation_changed
        || !ctx.verified_recently(&uid)
    {
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
        sync::list_kept::<_, _, Vec<_>>(api, &wanted, LIST_PAGE, |l| listing::compact(&wanted, l))
            .await
            .map(|kept| Arc::new(listing::Listing::from(kept)))
    };
    let created = ctx.created_at(&uid);
    // A new schedule waits for a listing that started after its create; a resync takes one
    // that ended less than `list_ttl` ago (a listing that takes longer than the TTL is still
    // fresh when it arrives). Neither waits for a listing in flight (with thousands of
    // FeedSources the waiters would hold every place of the controller for as long as a
    // listing takes), and only the caller that fetched sees a failed listing (on a server too
    // loaded to list in time, a describe per FeedSource only adds load).
    let (since, min_interval) = match created {
        Some((_, since)) => (since, NEWS_INTERVAL),
        None => {
            let ttl = ctx.list_ttl();
            let age = ttl.saturating_add(ctx.list_cache.last_took(&key));
            let now = Instant::now();
            (now.checked_sub(age).unwrap_or(now), ttl)
        }
    };
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
        News::Fresh(Err(_)) => return Listed::Describe,
        News::Fresh(Ok(l)) => l,
    };
    let Some(entry) = listing.get(&desired.id) else {
        // Visibility lags a little behind a create; after that, describe.
        return match created {
            Some((at, _)) if at.elapsed() < VISIBILITY_GRACE => {
                ctx.missed_in_listing(&uid);
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

//! The FeedSource's feed in buun-curator, as the controller settles it with the one engine
//! (`feed::settle`): what is the controller's own is here (the token Secret, the shared listing
//! per API, one registration at a time per feed URL, the events).

use std::sync::Arc;

use kube::{ResourceExt, runtime::events::EventType};

use super::{
    claims::{self, Claimed},
    context::FeedContext,
};
use crate::{
    controller::{error::Error, secrets},
    crd::{FeedSource, curatorworker::CuratorApi},
    curator_api::{ApiError, FeedApi, FeedRow, http::HttpFeedApi},
    feed::{
        Origin, Recorded, Registration, normal,
        settle::{Ask, Done, settle},
    },
    runtime::retry::Retry,
};

/// How old the listing may be on which the operator decides to create a feed: a feed added in
/// buun-curator's UI meanwhile is adopted, not made twice. Creators share that listing.
const FRESH_FOR_CREATE: std::time::Duration = std::time::Duration::from_secs(1);

/// Settles the feed (`feed::settle`), once the FeedSource holds its claim (`claims`): which
/// feed it is comes from a look that writes nothing, and a feed another FeedSource holds is
/// left alone. `Err(Error::CuratorApi)` when the API or its token failed.
pub(super) async fn register(
    fs: &FeedSource,
    ctx: &FeedContext,
    api_spec: &CuratorApi,
) -> Result<Registration, Error> {
    let ns = fs.namespace().unwrap_or_default();
    let failed = |source: ApiError| Error::curator_api(&ns, &api_spec.token_secret_ref, source);
    let api = feed_api(&ns, ctx, api_spec).await?;
    let key = api.cache_key();
    let api_url = normal::url(&api_spec.url);
    let spec = &fs.spec.feed;
    // One FeedSource at a time per URL: two of them must not both create the feed. The wait is
    // bounded: a slow API is retried with backoff, never a reconcile that runs on.
    let lock = format!("{api_url} {}", normal::url(&spec.url));
    let _guard = ctx
        .feed_locks
        .lock_within(&lock, ctx.feed_lock_wait)
        .await
        .map_err(|_| failed(ApiError::Busy(spec.url.clone())))?;
    let status = fs.status.clone().unwrap_or_default();
    let recorded = status.feed_id.as_deref().map(|id| Recorded {
        id,
        created: status.feed_created,
    });
    let ask = Ask {
        spec,
        recorded,
        dry_run: true,
        // A failure fails the reconcile, which is retried with backoff.
        retry: Retry::once(),
        max_age: ctx.list_ttl(),
        fresh_for_create: FRESH_FOR_CREATE,
    };
    let settled = async |dry_run: bool| {
        let ask = Ask { dry_run, ..ask };
        settle(&api, &ctx.feed_rows, &key, &ask)
            .await
            .done
            .map_err(|f| failed(f.error))
    };
    let looked = settled(true).await?;
    // Which feed it is, before anything is written to it.
    let mut creator = None;
    if let Some(id) = row_id(&looked) {
        match hold(fs, ctx, &api_url, id, false).await? {
            Ok(c) => creator = Some(c),
            Err(refused) => return Ok(refused),
        }
    }
    let done = match looked {
        Done::WouldUpdate { .. } | Done::WouldCreate => settled(false).await?,
        looked => looked,
    };
    let creator = match (creator, row_id(&done)) {
        (Some(c), _) => c,
        // Made now (or found made meanwhile by someone else): claimed once it has an ID.
        (None, Some(id)) => {
            let created = matches!(done, Done::Created { .. });
            match hold(fs, ctx, &api_url, id, created).await? {
                Ok(c) => c,
                Err(refused) => return Ok(refused),
            }
        }
        (None, None) => false,
    };
    if let (Some(old), Some(new)) = (status.feed_id.as_deref(), row_id(&done))
        && old != new
    {
        // It turned to another feed: the one it held goes to whoever waits for it.
        claims::let_go(fs, ctx, Some(new), None).await?;
    }
    Ok(announce(fs, ctx, done, recorded.is_none(), creator).await)
}

/// The feed `done` names, if it names one.
fn row_id(done: &Done) -> Option<&str> {
    match done {
        Done::Found { row, .. }
        | Done::WouldUpdate { row, .. }
        | Done::Updated { row, .. }
        | Done::Created { row } => Some(&row.id),
        _ => None,
    }
}

/// Takes (or waits for) the claim of feed `id`: `Ok(creator)` when the FeedSource holds it,
/// `Err` with the registration that says why not.
async fn hold(
    fs: &FeedSource,
    ctx: &FeedContext,
    api_url: &str,
    id: &str,
    created: bool,
) -> Result<Result<bool, Registration>, Error> {
    Ok(
        match claims::acquire(fs, ctx, api_url, id, created).await? {
            Claimed::Held { creator } => Ok(creator),
            other => Err(refused(id.to_owned(), other)),
        },
    )
}

/// The registration of a FeedSource that does not hold feed `id`.
fn refused(id: String, claimed: Claimed) -> Registration {
    match claimed {
        Claimed::Waiting(holder) => Registration::HeldByOther {
            id,
            holder: holder.to_string(),
        },
        Claimed::Foreign { namespace, holder } => Registration::OfAnotherNamespace {
            id,
            namespace,
            holder: holder.map(|h| h.to_string()),
        },
        Claimed::Held { .. } => unreachable!("a held feed is not refused"),
    }
}

/// The API `api_spec` names, with the token of namespace `ns`'s Secret: the URL is checked
/// before the token is even read (where it may go).
async fn feed_api(
    ns: &str,
    ctx: &FeedContext,
    api_spec: &CuratorApi,
) -> Result<HttpFeedApi, Error> {
    let secret = &api_spec.token_secret_ref;
    let failed = |source| Error::curator_api(ns, secret, source);
    ctx.shared.feed_apis.check(&api_spec.url).map_err(failed)?;
    let token = secrets::api_token(&ctx.shared.client, ns, secret).await?;
    ctx.shared
        .feed_apis
        .api(&api_spec.url, &token)
        .map_err(failed)
}

/// The registration that `done` means, with an event for each write to buun-curator and for
/// a feed adopted by a FeedSource that had none recorded (`first`); `creator`: the feed's
/// claim names this FeedSource its creator.
async fn announce(
    fs: &FeedSource,
    ctx: &FeedContext,
    done: Done,
    first: bool,
    creator: bool,
) -> Registration {
    // Created or adopted as the claim says, not as the status (which a tenant can write) does.
    let registered = |row: &FeedRow, origin| Registration::Registered {
        id: row.id.clone(),
        origin: match origin {
            Origin::Created | Origin::Adopted if creator => Origin::Created,
            Origin::Created => Origin::Adopted,
            other => other,
        },
    };
    match done {
        Done::Found { row, origin } => {
            if origin == Origin::Adopted && first {
                let note = format!("adopted feed {}, the one with URL {}", row.id, row.url);
                event(ctx, fs, "FeedAdopted", note).await;
            }
            registered(&row, origin)
        }
        Done::Updated {
            row,
            origin,
            changed,
        } => {
            let note = format!(
                "updated feed {} in buun-curator ({}); buun-curator starts an ingestion run",
                row.id,
                changed.join(", ")
            );
            event(ctx, fs, "FeedUpdated", note).await;
            registered(&row, origin)
        }
        Done::Created { row } => {
            let note = format!(
                "created feed {} for {} in buun-curator; it starts an ingestion run",
                row.id, row.url
            );
            event(ctx, fs, "FeedCreated", note).await;
            registered(&row, Origin::Created)
        }
        Done::Ambiguous { ids } => Registration::Ambiguous {
            url: fs.spec.feed.url.clone(),
            ids,
        },
        Done::NotFound { id } => Registration::NotFound { id },
        // A dry run's answers; the controller asks for none.
        Done::WouldUpdate { .. } | Done::WouldCreate => Registration::Failed {
            failure: crate::crd::conditions::Failure {
                reason: "CuratorApiError",
                message: "the feed was not settled (a dry run)".into(),
            },
            permanent: false,
        },
    }
}

async fn event(ctx: &FeedContext, fs: &FeedSource, reason: &str, note: String) {
    ctx.shared
        .event(fs, EventType::Normal, reason, "Register", note)
        .await;
}

/// Lets go of the feeds the FeedSource holds (their claims go to the FeedSources waiting, or
/// are released), and deletes those the operator created for it when it asks for that
/// (`delete`) and nobody waits for them: what the claims say, never what its status says.
/// Best effort for the feeds: a failure is reported, and the deletion of the FeedSource goes on.
pub(super) async fn let_go_of_feeds(
    fs: &FeedSource,
    ctx: &FeedContext,
    api_spec: Option<&CuratorApi>,
    delete: bool,
) -> Result<(), Error> {
    let api_url = api_spec.map(|a| normal::url(&a.url));
    let gone = claims::let_go(fs, ctx, None, api_url.as_deref().filter(|_| delete)).await?;
    for (id, holder) in &gone.handed {
        let note = format!("feed {id} is kept in buun-curator: FeedSource {holder} holds it now");
        event(ctx, fs, "FeedHandedOver", note).await;
    }
    let (Some(api_spec), Some(api_url)) = (api_spec, api_url) else {
        return Ok(());
    };
    for id in &gone.delete {
        delete_feed(fs, ctx, api_spec, &api_url, id).await;
    }
    Ok(())
}

/// Deletes feed `id`, which the operator created for `fs`, and then its claim.
async fn delete_feed(
    fs: &FeedSource,
    ctx: &FeedContext,
    api_spec: &CuratorApi,
    api_url: &str,
    id: &str,
) {
    let ns = fs.namespace().unwrap_or_default();
    let result = async {
        let api = feed_api(&ns, ctx, api_spec).await?;
        let existed = api
            .delete(id)
            .await
            .map_err(|e| Error::curator_api(&ns, &api_spec.token_secret_ref, e))?;
        ctx.feed_rows
            .update(&api.cache_key(), |rows| {
                Arc::make_mut(rows).retain(|r| r.id != id);
            })
            .await;
        claims::forget(ctx, api_url, id).await?;
        Ok::<_, Error>(existed)
    }
    .await;
    match result {
        Ok(existed) => {
            let note = if existed {
                format!("deleted feed {id} and its entries in buun-curator")
            } else {
                format!("feed {id} was already gone from buun-curator")
            };
            event(ctx, fs, "FeedDeleted", note).await;
        }
        Err(e) => {
            let note =
                format!("could not delete feed {id} in buun-curator ({e}); it is left there");
            ctx.shared
                .event(fs, EventType::Warning, "FeedNotDeleted", "Cleanup", note)
                .await;
        }
    }
}

//! The FeedSource's feed in buun-curator, as the controller settles it with the one engine
//! (`feed::settle`): what is the controller's own is here (the token Secret, the shared listing
//! per API, one registration at a time per feed URL, the events).

use std::sync::Arc;

use kube::{ResourceExt, runtime::events::EventType};

use super::context::FeedContext;
use crate::{
    controller::{error::Error, secrets},
    crd::{FeedSource, curatorworker::CuratorApi},
    curator_api::{ApiError, FeedApi, FeedRow, http::HttpFeedApi},
    feed::{
        Origin, Recorded, Registration,
        settle::{Ask, Done, settle},
    },
    runtime::retry::Retry,
};

/// How old the listing may be on which the operator decides to create a feed: a feed added in
/// buun-curator's UI meanwhile is adopted, not made twice. Creators share that listing.
const FRESH_FOR_CREATE: std::time::Duration = std::time::Duration::from_secs(1);

/// Settles the feed (`feed::settle`); `Err(Error::CuratorApi)` when the API or its token
/// failed.
pub(super) async fn register(
    fs: &FeedSource,
    ctx: &FeedContext,
    api_spec: &CuratorApi,
) -> Result<Registration, Error> {
    let ns = fs.namespace().unwrap_or_default();
    let failed = |source: ApiError| Error::curator_api(&ns, &api_spec.token_secret_ref, source);
    let api = feed_api(&ns, ctx, api_spec).await?;
    let key = api.cache_key();
    let spec = &fs.spec.feed;
    // One FeedSource at a time per URL: two of them must not both create the feed.
    let _guard = ctx.feed_locks.lock(&format!("{key} {}", spec.url)).await;
    let status = fs.status.clone().unwrap_or_default();
    let recorded = status.feed_id.as_deref().map(|id| Recorded {
        id,
        created: status.feed_created,
    });
    let ask = Ask {
        spec,
        recorded,
        dry_run: false,
        // A failure fails the reconcile, which is retried with backoff.
        retry: Retry::once(),
        max_age: ctx.list_ttl(),
        fresh_for_create: FRESH_FOR_CREATE,
    };
    let done = settle(&api, &ctx.feed_rows, &key, &ask)
        .await
        .done
        .map_err(|f| failed(f.error))?;
    Ok(announce(fs, ctx, done, recorded.is_none()).await)
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
/// a feed adopted by a FeedSource that had none recorded (`first`).
async fn announce(fs: &FeedSource, ctx: &FeedContext, done: Done, first: bool) -> Registration {
    let registered = |row: &FeedRow, origin| Registration::Registered {
        id: row.id.clone(),
        origin,
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

/// Deletes the FeedSource's feed, when it asks for that and the operator created it. Best
/// effort: a failure is reported, and the deletion of the FeedSource goes on.
pub(super) async fn delete_feed(fs: &FeedSource, ctx: &FeedContext, api_spec: &CuratorApi) {
    let Some(status) = fs.status.as_ref() else {
        return;
    };
    let (Some(id), true) = (&status.feed_id, status.feed_created) else {
        return;
    };
    let ns = fs.namespace().unwrap_or_default();
    let result = async {
        let api = feed_api(&ns, ctx, api_spec).await?;
        let existed = api
            .delete(id)
            .await
            .map_err(|e| Error::curator_api(&ns, &api_spec.token_secret_ref, e))?;
        ctx.feed_rows
            .update(&api.cache_key(), |rows| {
                Arc::make_mut(rows).retain(|r| &r.id != id);
            })
            .await;
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

//! The FeedSource's feed in buun-curator: found (by `feed.id`, by the recorded ID, or as the one
//! feed with its URL), created when there is none, and kept in line with the spec. Every POST
//! and PATCH starts an ingestion run there, so an unchanged FeedSource writes nothing: the feeds
//! are read from one shared listing per API, and a write happens only when a field differs.

use std::sync::Arc;

use kube::{ResourceExt, runtime::events::EventType};

use super::context::FeedContext;
use crate::{
    controller::{error::Error, secrets},
    crd::{FeedSource, curatorworker::CuratorApi},
    curator_api::{ApiError, FeedApi, FeedRow, http::HttpFeedApi},
    feed::{self, Origin, Plan, Recorded, Registration},
};

/// How old the listing may be on which the operator decides to create a feed.
const FRESH_FOR_CREATE: std::time::Duration = std::time::Duration::from_secs(1);

/// Settles the feed; `Err(Error::CuratorApi)` when the API or its token failed.
pub(super) async fn register(
    fs: &FeedSource,
    ctx: &FeedContext,
    api_spec: &CuratorApi,
) -> Result<Registration, Error> {
    let ns = fs.namespace().unwrap_or_default();
    let secret = &api_spec.token_secret_ref;
    let token = secrets::api_token(&ctx.shared.client, &ns, secret).await?;
    let failed = |source: ApiError| Error::CuratorApi {
        secret: format!("{ns}/{} (key {})", secret.name, secret.key),
        source,
    };
    let api = HttpFeedApi::new(&api_spec.url, &token, ctx.api_timeout)
        .map_err(failed)?
        .with_metrics(ctx.shared.metrics.clone());
    let key = api.cache_key();
    let spec = &fs.spec.feed;
    // One FeedSource at a time per URL: two of them must not both create the feed.
    let _guard = ctx.feed_locks.lock(&format!("{key} {}", spec.url)).await;
    let rows = ctx
        .feed_rows
        .get(&key, ctx.list_ttl(), || async {
            api.list().await.map(Arc::new)
        })
        .await
        .map_err(failed)?;
    let status = fs.status.clone().unwrap_or_default();
    let recorded = status.feed_id.as_deref().map(|id| Recorded {
        id,
        created: status.feed_created,
    });
    let mut plan = feed::plan(spec, recorded, &rows);
    if matches!(plan, Plan::Create { .. }) {
        // A POST cannot be taken back: decide it on a listing at most a second old, so that a
        // feed added in buun-curator's UI meanwhile is adopted, not made twice. Creators share
        // that listing.
        let fresh = ctx
            .feed_rows
            .get(&key, FRESH_FOR_CREATE, || async {
                api.list().await.map(Arc::new)
            })
            .await
            .map_err(failed)?;
        plan = feed::plan(spec, recorded, &fresh);
    }
    if let Plan::NotListed { id } = &plan {
        // The listing may predate the feed: ask for it.
        match api.get(id).await.map_err(failed)? {
            Some(row) => {
                remember(ctx, &key, &row).await;
                plan = feed::plan(spec, recorded, std::slice::from_ref(&row));
            }
            None => return Ok(Registration::NotFound { id: id.clone() }),
        }
    }
    let registered = |row: &FeedRow, origin| Registration::Registered {
        id: row.id.clone(),
        origin,
    };
    Ok(match plan {
        Plan::Use { row, origin } => {
            if origin == Origin::Adopted && recorded.is_none() {
                let note = format!("adopted feed {}, the one with URL {}", row.id, row.url);
                event(ctx, fs, "FeedAdopted", note).await;
            }
            registered(&row, origin)
        }
        Plan::Update {
            row,
            origin,
            fields,
            changed,
        } => match api.update(&row.id, &fields).await.map_err(failed)? {
            Some(new) => {
                remember(ctx, &key, &new).await;
                let note = format!(
                    "updated feed {} in buun-curator ({}); buun-curator starts an ingestion run",
                    new.id,
                    changed.join(", ")
                );
                event(ctx, fs, "FeedUpdated", note).await;
                registered(&new, origin)
            }
            None => Registration::NotFound { id: row.id },
        },
        Plan::Create { fields } => {
            let row = api.create(&fields).await.map_err(failed)?;
            remember(ctx, &key, &row).await;
            let note = format!(
                "created feed {} for {} in buun-curator; it starts an ingestion run",
                row.id, row.url
            );
            event(ctx, fs, "FeedCreated", note).await;
            registered(&row, Origin::Created)
        }
        Plan::Ambiguous { ids } => Registration::Ambiguous {
            url: spec.url.clone(),
            ids,
        },
        Plan::NotListed { id } => Registration::NotFound { id },
    })
}

/// Keeps the shared listing in line with a write, so the next FeedSource sees it.
async fn remember(ctx: &FeedContext, key: &str, row: &FeedRow) {
    ctx.feed_rows
        .update(&key.to_owned(), |rows| {
            let rows = Arc::make_mut(rows);
            rows.retain(|r| r.id != row.id);
            rows.push(row.clone());
        })
        .await;
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
        let secret = &api_spec.token_secret_ref;
        let token = secrets::api_token(&ctx.shared.client, &ns, secret).await?;
        let failed = |source| Error::CuratorApi {
            secret: format!("{ns}/{} (key {})", secret.name, secret.key),
            source,
        };
        let api = HttpFeedApi::new(&api_spec.url, &token, ctx.api_timeout)
            .map_err(failed)?
            .with_metrics(ctx.shared.metrics.clone());
        let existed = api.delete(id).await.map_err(failed)?;
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

//! The FeedClaims (I/O around the pure `feed::claim`): a FeedSource takes its feed's claim
//! before it writes to the feed, and lets it go (to the first FeedSource waiting, or released)
//! when it is deleted or turns to another feed. Only the claim's `creator` deletes the feed.

use std::collections::HashMap;

use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
    runtime::reflector::ObjectRef,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::context::FeedContext;
use crate::{
    controller::error::Error,
    crd::{
        FeedSource,
        feedclaim::{FeedClaim, FeedClaimSpec, FeedSourceRef, HOLDER_UID_LABEL},
    },
    feed::claim::{self, Claim, Claimant, Release},
};

/// Where a FeedSource stands with its feed's claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Claimed {
    /// It holds the feed; `creator`: the operator created the feed for it.
    Held {
        /// Whether the claim names it the feed's creator.
        creator: bool,
    },
    /// Another FeedSource holds it.
    Waiting(FeedSourceRef),
    /// It belongs to another namespace, and adoption across namespaces is off.
    Foreign {
        /// That namespace.
        namespace: String,
        /// Its holder there, if any.
        holder: Option<FeedSourceRef>,
    },
}

/// The FeedSource as a claim names it.
fn me(fs: &FeedSource) -> FeedSourceRef {
    FeedSourceRef {
        namespace: fs.namespace().unwrap_or_default(),
        name: fs.name_any(),
        uid: fs.uid().unwrap_or_default(),
    }
}

fn claims(ctx: &FeedContext) -> Api<FeedClaim> {
    Api::all(ctx.shared.client.clone())
}

/// Takes (or waits for) the claim of feed `id` of the API at `api` (normalised);
/// `created`: the operator has just created the feed for `fs`.
pub(super) async fn acquire(
    fs: &FeedSource,
    ctx: &FeedContext,
    api: &str,
    id: &str,
    created: bool,
) -> Result<Claimed, Error> {
    let me = me(fs);
    let name = claim::name(api, id);
    if created {
        // Remembered until a claim is written (a call below may fail; the retry still knows).
        ctx.unclaimed.put(api, id, &me.uid);
    }
    let who = Claimant {
        me: &me,
        cross_namespace: ctx.cross_namespace_adoption,
        created: ctx.unclaimed.holds(api, id, &me.uid),
    };
    let existing = claims(ctx).get_opt(&name).await?;
    let spec = existing.as_ref().map(|c| &c.spec);
    let alive = match spec.and_then(|c| c.holder.as_ref()) {
        Some(h) if h.uid != me.uid => exists(ctx, h).await?,
        _ => true,
    };
    let claimed = match claim::decide(api, id, spec, alive, who) {
        Claim::Held => Claimed::Held {
            creator: spec.is_some_and(|c| is(c.creator.as_ref(), &me)),
        },
        Claim::Take(new) => {
            let creator = is(new.creator.as_ref(), &me);
            write(ctx, &name, existing.as_ref(), new).await?;
            Claimed::Held { creator }
        }
        Claim::Wait { holder, record } => {
            if let Some(new) = record {
                write(ctx, &name, existing.as_ref(), new).await?;
            }
            Claimed::Waiting(holder)
        }
        Claim::Foreign { namespace, holder } => Claimed::Foreign { namespace, holder },
    };
    ctx.unclaimed.claimed(api, id, &me.uid);
    Ok(claimed)
}

fn is(r: Option<&FeedSourceRef>, me: &FeedSourceRef) -> bool {
    r.is_some_and(|r| r.uid == me.uid)
}

/// Whether the FeedSource `r` still exists (the same one: its UID).
async fn exists(ctx: &FeedContext, r: &FeedSourceRef) -> Result<bool, Error> {
    let found = ctx
        .shared
        .api::<FeedSource>(&r.namespace)
        .get_opt(&r.name)
        .await?;
    Ok(found.is_some_and(|f| f.uid().as_deref() == Some(r.uid.as_str())))
}

/// Creates the claim `name` (none `existing`) or replaces it (a conflict: retried with the
/// reconcile, on what the claim has become).
async fn write(
    ctx: &FeedContext,
    name: &str,
    existing: Option<&FeedClaim>,
    spec: FeedClaimSpec,
) -> Result<(), Error> {
    let mut labels = std::collections::BTreeMap::new();
    if let Some(h) = &spec.holder {
        labels.insert(HOLDER_UID_LABEL.to_owned(), h.uid.clone());
    }
    let metadata = ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(labels),
        resource_version: existing.and_then(|e| e.resource_version()),
        ..ObjectMeta::default()
    };
    let obj = FeedClaim { metadata, spec };
    let pp = PostParams::default();
    match existing {
        None => claims(ctx).create(&pp, &obj).await?,
        Some(_) => claims(ctx).replace(name, &pp, &obj).await?,
    };
    Ok(())
}

/// What became of the claims a FeedSource let go.
#[derive(Debug, Default)]
pub(super) struct LetGo {
    /// Feeds to delete (the FeedSource was their creator, asked for it, and nobody waits);
    /// their claims go once they are deleted ([`forget`]).
    pub delete: Vec<String>,
    /// Feeds kept for the FeedSources now holding them.
    pub handed: Vec<(String, FeedSourceRef)>,
}

/// Lets go of the claims `fs` holds, except that of feed `keep`; `delete_at`: the API (its
/// normalised URL) whose feeds it created are to be deleted. The FeedSources given a feed are
/// brought back at once.
pub(super) async fn let_go(
    fs: &FeedSource,
    ctx: &FeedContext,
    keep: Option<&str>,
    delete_at: Option<&str>,
) -> Result<LetGo, Error> {
    let uid = fs.uid().unwrap_or_default();
    let lp = ListParams::default().labels(&format!("{HOLDER_UID_LABEL}={uid}"));
    let held = match claims(ctx).list(&lp).await {
        Ok(list) => list,
        // No FeedClaim CRD (an operator upgraded before its CRDs): nothing was ever claimed,
        // and a deletion is not held for it.
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(LetGo::default()),
        Err(e) => return Err(e.into()),
    };
    let mut out = LetGo::default();
    for c in held.items {
        if keep.is_some_and(|k| k == c.spec.feed_id) {
            // Its current feed (of whichever API: a feed ID is a ULID).
            continue;
        }
        let mut live = HashMap::new();
        for w in &c.spec.waiting {
            live.insert(w.uid.clone(), exists(ctx, w).await?);
        }
        let name = c.name_any();
        let delete_feed = delete_at == Some(c.spec.api.as_str());
        match claim::release(&c.spec, &uid, delete_feed, |w| live[&w.uid]) {
            Release::NotHeld => {}
            Release::DeleteFeed => out.delete.push(c.spec.feed_id.clone()),
            Release::Write(spec) => {
                let next = spec.holder.clone();
                write(ctx, &name, Some(&c), *spec).await?;
                if let Some(h) = next {
                    ctx.comebacks
                        .send(&[ObjectRef::new(&h.name).within(&h.namespace)]);
                    out.handed.push((c.spec.feed_id.clone(), h));
                }
            }
        }
    }
    Ok(out)
}

/// Removes the claim of feed `id` of `api` once the feed is deleted.
pub(super) async fn forget(ctx: &FeedContext, api: &str, id: &str) -> Result<(), Error> {
    let name = claim::name(api, id);
    match claims(ctx).delete(&name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

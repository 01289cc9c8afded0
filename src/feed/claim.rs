//! PURE: who holds a feed (`FeedClaim`). One FeedSource holds a feed of an API and is the only
//! one that writes to it; another that resolves to the same feed waits, and is named the
//! holder's successor when the holder goes. A feed belongs to the namespace of its first
//! holder; a FeedSource of another namespace takes it only where the operator allows adoption
//! across namespaces. The operator's own record of the feeds it created (`creator`) decides
//! what `feedDeletionPolicy: Delete` may delete; nothing a tenant can write does.

use sha2::{Digest, Sha256};

use crate::crd::feedclaim::{FeedClaimSpec, FeedSourceRef};

/// The FeedClaim's name for feed `feed_id` of the API at `api` (normalised): a digest, so that
/// any ID and URL make a valid, fixed-length name.
pub fn name(api: &str, feed_id: &str) -> String {
    let digest = Sha256::digest(format!("{api}\n{feed_id}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("feed-{hex}")
}

/// What a FeedSource that resolves to a feed does about its claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// It holds the feed already: nothing to write.
    Held,
    /// It takes the feed: write this claim (create it when there was none), then go on.
    Take(FeedClaimSpec),
    /// Another FeedSource holds the feed: write nothing to the feed. `record` is the claim with
    /// this FeedSource added to those waiting, when it was not there yet.
    Wait {
        /// The holder.
        holder: FeedSourceRef,
        /// The claim to write, if it changes.
        record: Option<FeedClaimSpec>,
    },
    /// The feed belongs to another namespace, and adoption across namespaces is off.
    Foreign {
        /// The namespace it belongs to.
        namespace: String,
        /// Its holder, if any.
        holder: Option<FeedSourceRef>,
    },
}

/// Who asks for a feed, and on what terms.
#[derive(Clone, Copy, Debug)]
pub struct Claimant<'a> {
    /// The FeedSource.
    pub me: &'a FeedSourceRef,
    /// Whether it may take a feed that belongs to another namespace.
    pub cross_namespace: bool,
    /// Whether the operator has just created the feed for it.
    pub created: bool,
}

/// PURE: what `who` does about the feed `feed_id` of `api`, whose claim is `existing`;
/// `holder_alive` says whether the claim's holder (when another) still exists.
pub fn decide(
    api: &str,
    feed_id: &str,
    existing: Option<&FeedClaimSpec>,
    holder_alive: bool,
    who: Claimant<'_>,
) -> Claim {
    let me = who.me;
    let Some(claim) = existing else {
        return Claim::Take(FeedClaimSpec {
            api: api.to_owned(),
            feed_id: feed_id.to_owned(),
            namespace: me.namespace.clone(),
            holder: Some(me.clone()),
            creator: who.created.then(|| me.clone()),
            waiting: Vec::new(),
        });
    };
    let holder = claim.holder.as_ref();
    if holder.is_some_and(|h| h.uid == me.uid) {
        return Claim::Held;
    }
    if claim.namespace != me.namespace && !who.cross_namespace {
        return Claim::Foreign {
            namespace: claim.namespace.clone(),
            holder: claim.holder.clone(),
        };
    }
    match holder {
        Some(h) if holder_alive => {
            let listed = claim.waiting.iter().any(|w| w.uid == me.uid);
            let record = (!listed).then(|| {
                let mut c = claim.clone();
                c.waiting.push(me.clone());
                c
            });
            Claim::Wait {
                holder: h.clone(),
                record,
            }
        }
        _ => {
            let mut c = claim.clone();
            c.holder = Some(me.clone());
            c.waiting.retain(|w| w.uid != me.uid);
            if who.created && c.creator.is_none() {
                c.creator = Some(me.clone());
            }
            Claim::Take(c)
        }
    }
}

/// What becomes of a claim when its holder goes (deleted, or now resolving to another feed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Release {
    /// Not this FeedSource's to release: nothing.
    NotHeld,
    /// Delete the feed (the holder is its creator, asks for that, and nobody waits), then the
    /// claim.
    DeleteFeed,
    /// Write the claim: handed to the first live waiter, or released (no holder) so that the
    /// feed still belongs to its namespace.
    Write(Box<FeedClaimSpec>),
}

/// PURE: the release of `claim` by the FeedSource `uid`; `delete_feed`: it asks for its feed
/// to be deleted with it; `live` says which waiting FeedSources still exist.
pub fn release(
    claim: &FeedClaimSpec,
    uid: &str,
    delete_feed: bool,
    live: impl Fn(&FeedSourceRef) -> bool,
) -> Release {
    if claim.holder.as_ref().is_none_or(|h| h.uid != uid) {
        return Release::NotHeld;
    }
    let mut waiting: Vec<FeedSourceRef> =
        claim.waiting.iter().filter(|w| live(w)).cloned().collect();
    let creator = claim.creator.as_ref().is_some_and(|c| c.uid == uid);
    if creator && delete_feed && waiting.is_empty() {
        return Release::DeleteFeed;
    }
    let mut c = claim.clone();
    c.holder = (!waiting.is_empty()).then(|| waiting.remove(0));
    c.waiting = waiting;
    Release::Write(Box::new(c))
}

#[cfg(test)]
#[path = "claim_tests.rs"]
mod tests;

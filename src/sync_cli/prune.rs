//! `--prune`: schedules `sync` created for a FeedSource that is no longer declared are deleted.
//! Only schedules whose owner memo names this identity, no UID (a `sync` owner), a namespace of
//! the documents, and the ID `sync` would give that FeedSource; never anyone else's.

use std::collections::{BTreeSet, HashMap};

use super::{
    feed::Mode,
    outcome::{Action, Outcome},
};
use crate::{
    crd::feedsource::DeletionPolicy,
    schedule::{
        BuildOptions,
        delete::{self, Deleted},
        desired,
    },
    temporal::{Listed, ScheduleApi, memo::Owner},
};

/// PURE: the listed schedules to prune, sorted by ID.
pub fn stale(
    listing: &HashMap<String, Listed>,
    opts: &BuildOptions,
    namespaces: &BTreeSet<String>,
    declared: &BTreeSet<String>,
) -> Vec<(String, Owner)> {
    let mut out: Vec<(String, Owner)> = listing
        .values()
        .filter_map(|s| {
            let owner = s.memo_info.owner.clone()?;
            (owner.uid.is_empty()
                && owner.operator == opts.identity
                && namespaces.contains(&owner.namespace)
                && s.id == desired::schedule_id(&opts.id_prefix, &owner.namespace, &owner.name)
                && !declared.contains(&s.id))
            .then(|| (s.id.clone(), owner))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Deletes `stale` schedules (in a dry run, only reports them). The shared delete describes
/// first and leaves a schedule alone whose owner changed in between.
pub async fn prune<A: ScheduleApi>(
    api: &A,
    stale: Vec<(String, Owner)>,
    mode: &Mode,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (id, owner) in stale {
        let mut o = Outcome::new(
            &format!("{}/{}", owner.namespace, owner.name),
            &id,
            Action::Prune,
        );
        if mode.dry_run {
            out.push(o);
            continue;
        }
        let tried = mode
            .retry
            .run(|| delete::delete(api, &id, &owner, DeletionPolicy::Delete))
            .await;
        o.attempts = tried.attempts;
        match &tried.result {
            Ok(Deleted::Deleted) => {
                o.applied = true;
                out.push(o);
            }
            // Gone already, or no longer ours: nothing to report.
            Ok(_) => {}
            Err(e) => out.push(o.failed(Action::Error, tried.why(e), e.reason())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporal::memo::MemoInfo;

    fn listed(id: &str, ns: &str, name: &str, uid: &str, operator: &str) -> (String, Listed) {
        let owner = Owner {
            namespace: ns.into(),
            name: name.into(),
            uid: uid.into(),
            operator: operator.into(),
        };
        let l = Listed {
            id: id.into(),
            memo_info: MemoInfo {
                owner: Some(owner),
                fingerprint: None,
            },
            ..Default::default()
        };
        (id.to_owned(), l)
    }

    #[test]
    fn only_this_syncs_undeclared_schedules() {
        let opts = BuildOptions::new("curator", "curator-operator");
        let listing: HashMap<String, Listed> = [
            listed("curator/news/gone", "news", "gone", "", "curator-operator"),
            listed("curator/news/kept", "news", "kept", "", "curator-operator"),
            listed(
                "curator/news/cluster",
                "news",
                "cluster",
                "uid-1",
                "curator-operator",
            ),
            listed("curator/news/other", "news", "other", "", "someone-else"),
            listed("curator/blog/gone", "blog", "gone", "", "curator-operator"),
            listed(
                "elsewhere/news/moved",
                "news",
                "moved",
                "",
                "curator-operator",
            ),
        ]
        .into_iter()
        .collect();
        let namespaces = BTreeSet::from(["news".to_owned()]);
        let declared = BTreeSet::from(["curator/news/kept".to_owned()]);
        let ids: Vec<String> = stale(&listing, &opts, &namespaces, &declared)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, vec!["curator/news/gone"]);
    }
}

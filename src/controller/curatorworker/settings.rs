//! The worker's required settings, checked against the keys of the Secrets and ConfigMaps its
//! container's environment names (read with `get` only; values are never kept). A check is
//! reused until the spec changes, for a resync interval while the settings are provided, and
//! for [`RECHECK`] while they are not, so that a Secret created or fixed later shows soon.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;

use crate::{
    controller::shared::Shared,
    crd::{
        CuratorWorker,
        conditions::{Desired, Status},
    },
    uid::UidKey,
    worker::{
        deployment,
        settings::{self, Read, Source},
    },
};

/// How soon settings found missing (or not readable) are checked again.
pub const RECHECK: Duration = Duration::from_secs(30);

/// One check: the worker's generation, when it ran, what it found.
type Check = (Option<i64>, Instant, Desired);

/// The last check of each worker.
#[derive(Default)]
pub struct Checks(Mutex<HashMap<UidKey, Check>>);

impl Checks {
    /// Forgets worker `uid`.
    pub fn forget(&self, uid: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&uid.into());
    }
}

/// How long the check `c` is reused.
pub fn reused_for(c: &Desired, resync: Duration) -> Duration {
    if c.status == Status::True {
        resync
    } else {
        RECHECK
    }
}

/// The `SettingsProvided` condition of `w`; `None` when its spec cannot become a container
/// (reported as `InvalidSpec`).
pub async fn check(shared: &Shared, checks: &Checks, w: &CuratorWorker) -> Option<Desired> {
    let uid = w.uid().unwrap_or_default();
    let generation = w.metadata.generation;
    {
        let m = checks.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, at, c)) = m.get(&uid.as_str().into())
            && *g == generation
            && at.elapsed() < reused_for(c, shared.resync)
        {
            return Some(c.clone());
        }
    }
    let env = deployment::container_env(w).ok()?;
    let ns = w.namespace().unwrap_or_default();
    let mut read = BTreeMap::new();
    for source in settings::sources(&w.spec.required_env, &env, &w.spec.env_from) {
        let keys = keys_of(shared, &ns, &source).await;
        read.insert(source, keys);
    }
    let c = settings::check(&w.spec.required_env, &env, &w.spec.env_from, &read);
    checks
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(uid.as_str().into(), (generation, Instant::now(), c.clone()));
    Some(c)
}

async fn keys_of(shared: &Shared, ns: &str, source: &Source) -> Read {
    let found = match source {
        Source::Secret(name) => shared.api::<Secret>(ns).get_opt(name).await.map(|s| {
            s.map(|s| {
                let data = s.data.into_iter().flat_map(|d| d.into_keys());
                let strings = s.string_data.into_iter().flat_map(|d| d.into_keys());
                data.chain(strings).collect()
            })
        }),
        Source::ConfigMap(name) => shared.api::<ConfigMap>(ns).get_opt(name).await.map(|c| {
            c.map(|c| {
                let data = c.data.into_iter().flat_map(|d| d.into_keys());
                let binary = c.binary_data.into_iter().flat_map(|d| d.into_keys());
                data.chain(binary).collect()
            })
        }),
    };
    match found {
        Ok(Some(keys)) => Read::Keys(keys),
        Ok(None) => Read::Missing,
        Err(kube::Error::Api(e)) if e.code == 403 => {
            Read::Failed(format!("the operator may not read it: {}", e.message))
        }
        Err(e) => Read::Failed(e.to_string()),
    }
}

//! A cluster test's own namespace: the preamble every cluster test shares (the operator's CRDs
//! applied and established, a fresh namespace) and its teardown.
#![allow(dead_code)]

use std::time::Duration;

use curator_operator::crd::{CuratorWorker, FeedSource};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams},
};

use super::cluster::{self, TestCluster, eventually};

/// How long a cluster test waits for the operator.
pub const WAIT: Duration = Duration::from_secs(60);

/// A namespace of the test's own on a control plane with the operator's CRDs.
pub struct TestNamespace<'c> {
    /// The control plane.
    pub cluster: &'c TestCluster,
    /// An admin client.
    pub client: Client,
    /// The namespace's name (`prefix-…`).
    pub ns: String,
}

/// A namespace `prefix-…` on the control plane shared by this binary's tests, or `None` (after
/// saying why) when there is none.
pub async fn with_namespace(prefix: &str) -> Option<TestNamespace<'static>> {
    Some(TestNamespace::on(cluster::shared()?, prefix).await)
}

impl<'c> TestNamespace<'c> {
    /// A namespace `prefix-…` on `cluster` (a control plane of the test's own), once the
    /// operator's CRDs are established there.
    pub async fn on(cluster: &'c TestCluster, prefix: &str) -> Self {
        let client = cluster.client().await;
        cluster::install_crds(&client).await;
        let ns = cluster::namespace(&client, prefix).await;
        Self {
            cluster,
            client,
            ns,
        }
    }

    /// The objects of kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Waits until FeedSource `name` is `Ready=True` (at most [`WAIT`]); returns it.
    pub async fn wait_ready(&self, name: &str) -> FeedSource {
        let feeds: Api<FeedSource> = self.api();
        eventually(&format!("{name} Ready=True"), WAIT, || {
            cluster::feed_ready(&feeds, name)
        })
        .await;
        feeds.get(name).await.expect("get")
    }

    /// Deletes the namespace (without waiting).
    pub async fn delete(&self) {
        cluster::delete_namespace(&self.client, &self.ns).await;
    }

    /// Deletes the namespace, then removes the operator's finalizers from what is left in it:
    /// for a test whose operator is gone, as nothing else would ever remove them.
    pub async fn delete_releasing_finalizers(&self) {
        self.delete().await;
        release(&self.client, &self.ns).await;
    }
}

/// Removes the finalizers of every FeedSource and CuratorWorker in `ns` (best effort: what
/// cannot be listed or patched is left as it is).
pub async fn release(client: &Client, ns: &str) {
    let unfinalize = Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}));
    let pp = PatchParams::default();
    let feeds: Api<FeedSource> = Api::namespaced(client.clone(), ns);
    for f in feeds
        .list(&ListParams::default())
        .await
        .into_iter()
        .flatten()
    {
        let _ = feeds.patch(&f.name_any(), &pp, &unfinalize).await;
    }
    let workers: Api<CuratorWorker> = Api::namespaced(client.clone(), ns);
    for w in workers
        .list(&ListParams::default())
        .await
        .into_iter()
        .flatten()
    {
        let _ = workers.patch(&w.name_any(), &pp, &unfinalize).await;
    }
}

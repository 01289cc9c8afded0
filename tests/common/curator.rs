//! A namespace's CuratorWorker on a buun-curator API: the token Secret and the worker, as the
//! tenancy, feed-claim and load tests set them up.

use curator_operator::crd::CuratorWorker;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use serde_json::json;

use super::namespace::TestNamespace;

/// The token the fake buun-curator APIs of these tests accept.
pub const TOKEN: &str = "s3cret";

/// A CuratorWorker `name` in `ns` on the shared Temporal server, whose buun-curator is at
/// `url` (token in Secret `token`, key `token`).
pub fn worker_with_api(ns: &str, name: &str, url: &str) -> CuratorWorker {
    let mut w = CuratorWorker::test(ns, &super::shared().address).unsaved();
    w.metadata.name = Some(name.into());
    w.spec.curator_api = Some(
        serde_json::from_value(json!({
            "url": url, "tokenSecretRef": {"name": "token", "key": "token"}
        }))
        .expect("curatorApi"),
    );
    w
}

/// Creates the Secret `token` holding [`TOKEN`] in `space`'s namespace.
pub async fn token_secret(space: &TestNamespace<'_>) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "token"}, "stringData": {"token": TOKEN}
    }))
    .expect("secret");
    space
        .api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
}

/// The token Secret and a CuratorWorker `curator` whose buun-curator API is `url`.
pub async fn worker_on(space: &TestNamespace<'_>, url: &str) {
    token_secret(space).await;
    space
        .api::<CuratorWorker>()
        .create(
            &PostParams::default(),
            &worker_with_api(&space.ns, "curator", url),
        )
        .await
        .expect("worker");
}

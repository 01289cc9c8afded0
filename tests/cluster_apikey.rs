//! Namespace deletion against a Temporal that requires an API key over TLS (a dev server
//! behind a TLS-terminating proxy that checks the key), on a real API server: the Secret
//! holding the key goes away with the namespace at once, yet every FeedSource's cleanup still
//! reaches Temporal with the credentials its schedule was made with, the CuratorWorker stays
//! until its FeedSources are gone, and the namespace deletion completes with no schedule left.

mod common;
#[path = "support/tls_proxy.rs"]
mod tls_proxy;

use common::env::ClusterEnv;
use curator_operator::crd::curatorworker::{SecretKeyRef, TemporalTls};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, api::PostParams};

const KEY: &str = "tk-cluster-9b1e44d07c";

fn secret(name: &str, data: &[(&str, Vec<u8>)]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.data = Some(
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.clone())))
            .collect(),
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_whose_worker_uses_an_api_key_removes_every_schedule() {
    let Some(env) = ClusterEnv::start("apikey").await else {
        return;
    };
    let certs = tls_proxy::Certs::new();
    let proxy = tls_proxy::start(&env.temporal.address, &certs, false, Some(KEY)).await;
    let secrets: Api<Secret> = env.api();
    let ca = std::fs::read(certs.path("ca.crt")).expect("ca");
    for s in [
        secret("temporal-key", &[("apiKey", KEY.as_bytes().to_vec())]),
        secret("temporal-tls", &[("ca.crt", ca)]),
    ] {
        secrets
            .create(&PostParams::default(), &s)
            .await
            .expect("secret");
    }
    let address = proxy.address.clone();
    env.create_worker(|w| {
        w.spec.temporal.address = address;
        w.spec.temporal.api_key_secret_ref = Some(SecretKeyRef {
            name: "temporal-key".into(),
            key: "apiKey".into(),
        });
        w.spec.temporal.tls = Some(TemporalTls {
            secret_name: "temporal-tls".into(),
            server_name: Some("localhost".into()),
        });
    })
    .await;
    let names = ["a", "b", "c"];
    for n in names {
        env.create_feed(n).await;
    }
    for n in names {
        env.wait_ready(n).await;
    }
    // Made through the proxy, so with the key; checked directly on the dev server.
    let took = env.delete_namespace_removes_schedules(&names).await;
    println!("FIGURES namespace with an API-key worker deleted in {took:?}");
    env.stop().await;
}

//! The Kubernetes client: one HTTP/2 connection to the API server, as client-go keeps, with
//! every request counted by verb and resource (`curator_kube_requests_total`): what the
//! operator costs the API server, read from its own metrics.
//!
//! kube's default client speaks HTTP/1.1 only, so each request in flight holds a connection
//! of its own, with its buffers and TLS state, and the pool keeps them all while idle (a
//! connection per reconcile at once, BENCHMARKS.md). Over
//! HTTP/2 the watches and the requests share one connection. A server (or a plain-HTTP
//! address) that does not offer HTTP/2 in the TLS handshake is spoken to in HTTP/1.1, with
//! at most [`IDLE_CONNECTIONS`] kept open while idle. Through a proxy, or with a kubeconfig's
//! `tls-server-name`, kube's own client is used as it is.

use std::{sync::Arc, time::Duration};

use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use kube::{
    Client, Config,
    client::{ClientBuilder, ConfigExt, retry::RetryPolicy},
};
use tower::{BoxError, ServiceBuilder, retry::RetryLayer, util::MapRequestLayer};

use crate::metrics::{KubeRequest, Metrics};

/// HTTP/1.1 connections kept open while idle, where the server does not speak HTTP/2.
pub const IDLE_CONNECTIONS: usize = 8;

/// How long an idle connection is kept open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of one response (a watch) the server may send before the operator reads it:
/// client-go's 4 MiB (hyper's default: 2 MiB per stream, 5 MiB for the whole connection).
/// Over HTTP/2 the FeedSource watch restarts a few times while many statuses are written:
/// the API server closes watchers that fall behind its dispatch
/// (`apiserver_terminated_watchers_total`, BENCHMARKS.md). These windows did not stop that.
pub const STREAM_WINDOW: u32 = 4 << 20;

/// How much the server may send on the whole connection before the operator reads it:
/// client-go's 1 GiB, so that only the per-stream window applies.
pub const CONNECTION_WINDOW: u32 = 1 << 30;

/// An HTTP/2 connection that received nothing for this long is pinged (client-go's
/// `ReadIdleTimeout`): a connection that died silently would otherwise hold every watch.
pub const PING_AFTER: Duration = Duration::from_secs(30);

/// How long a ping may go unanswered before the connection is closed (client-go's
/// `PingTimeout`); the watches then start again on a new one.
pub const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// A client from the kubeconfig or the in-cluster config, counting its requests in `metrics`.
pub async fn client(metrics: Arc<Metrics>) -> Result<Client, kube::Error> {
    let config = Config::infer().await.map_err(kube::Error::InferConfig)?;
    if config.proxy_url.is_some() || config.tls_server_name.is_some() {
        return Ok(ClientBuilder::try_from(config)?
            .with_layer(&counting(metrics))
            .build());
    }
    multiplexed(&config, counting(metrics))
}

/// The request a client sends.
type Request = http::Request<kube::client::Body>;

/// A layer counting every request in `curator_kube_requests_total`.
fn counting(
    metrics: Arc<Metrics>,
) -> MapRequestLayer<impl Fn(Request) -> Request + Clone + Send + Sync + 'static> {
    MapRequestLayer::new(move |req: Request| {
        let label = classify(req.method().as_str(), req.uri().path(), req.uri().query());
        metrics.kube_requests.get_or_create(&label).inc();
        req
    })
}

/// kube's own stack (base URI, retries of 429/503/504, credentials, extra headers, then the
/// `count` layer outermost) over a connection pool that offers HTTP/2 in the TLS handshake and
/// bounds its idle HTTP/1.1 connections.
fn multiplexed<F>(config: &Config, count: MapRequestLayer<F>) -> Result<Client, kube::Error>
where
    F: FnMut(Request) -> Request + Clone + Send + 'static,
{
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(config.connect_timeout);
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp);
    let mut timed = hyper_timeout::TimeoutConnector::new(tls);
    timed.set_read_timeout(config.read_timeout);
    timed.set_write_timeout(config.write_timeout);
    let pool = HyperClient::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .http2_keep_alive_interval(PING_AFTER)
        .http2_keep_alive_timeout(PING_TIMEOUT)
        .http2_keep_alive_while_idle(true)
        .http2_initial_stream_window_size(STREAM_WINDOW)
        .http2_initial_connection_window_size(CONNECTION_WINDOW)
        .build(timed);
    let service = ServiceBuilder::new()
        .layer(count)
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(pool);
    Ok(Client::new(service, config.default_namespace.clone()))
}

/// PURE: the verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`) and the
/// resource (`feedsources`, `feedsources/status`, `events`, …) of a request to the API server.
pub fn classify(method: &str, path: &str, query: Option<&str>) -> KubeRequest {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/group/version/...
    let rest = match parts.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => &[][..],
    };
    let rest = match rest {
        ["namespaces", _ns, more @ ..] if !more.is_empty() => more,
        other => other,
    };
    let (resource, named) = match rest {
        [] => ("other".to_owned(), false),
        [resource] => ((*resource).to_owned(), false),
        [resource, _name] => ((*resource).to_owned(), true),
        [resource, _name, sub, ..] => (format!("{resource}/{sub}"), true),
    };
    let watching = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true"));
    let verb = match method {
        "GET" if watching => "watch",
        "GET" if named => "get",
        "GET" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "other",
    };
    KubeRequest {
        verb: verb.into(),
        resource,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(method: &str, path: &str, query: Option<&str>) -> (String, String) {
        let k = classify(method, path, query);
        (k.verb, k.resource)
    }

    #[test]
    fn requests_are_named_by_verb_and_resource() {
        let fs = "/apis/curator.buun.dev/v1alpha1/namespaces/news/feedsources";
        assert_eq!(
            c("GET", fs, Some("limit=500")),
            ("list".into(), "feedsources".into())
        );
        assert_eq!(
            c(
                "GET",
                fs,
                Some("allowWatchBookmarks=true&watch=true&resourceVersion=1")
            ),
            ("watch".into(), "feedsources".into())
        );
        assert_eq!(
            c(
                "GET",
                "/apis/curator.buun.dev/v1alpha1/feedsources",
                Some("watch=true")
            ),
            ("watch".into(), "feedsources".into()),
            "all namespaces"
        );
        assert_eq!(
            c("PATCH", &format!("{fs}/hn/status"), Some("fieldManager=x")),
            ("patch".into(), "feedsources/status".into())
        );
        assert_eq!(
            c("PATCH", &format!("{fs}/hn"), None),
            ("patch".into(), "feedsources".into())
        );
        assert_eq!(
            c("GET", "/api/v1/namespaces/news/secrets/temporal", None),
            ("get".into(), "secrets".into())
        );
        assert_eq!(
            c(
                "POST",
                "/apis/events.k8s.io/v1/namespaces/news/events",
                None
            ),
            ("create".into(), "events".into())
        );
        assert_eq!(
            c("GET", "/api/v1/namespaces/news", None),
            ("get".into(), "namespaces".into())
        );
        assert_eq!(c("GET", "/version", None), ("list".into(), "other".into()));
        assert_eq!(
            c(
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/ops/leases/curator",
                None
            ),
            ("update".into(), "leases".into())
        );
    }
}

//! The Kubernetes client, with every request counted by verb and resource
//! (`curator_kube_requests_total`): what the operator costs the API server, read from its own
//! metrics.

use std::sync::Arc;

use kube::{Client, Config, client::ClientBuilder};

use crate::metrics::{KubeRequest, Metrics};

/// A client from the kubeconfig or the in-cluster config, counting its requests in `metrics`.
pub async fn client(metrics: Arc<Metrics>) -> Result<Client, kube::Error> {
    let config = Config::infer().await.map_err(kube::Error::InferConfig)?;
    let count = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        let label = classify(req.method().as_str(), req.uri().path(), req.uri().query());
        metrics.kube_requests.get_or_create(&label).inc();
        req
    });
    Ok(ClientBuilder::try_from(config)?.with_layer(&count).build())
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

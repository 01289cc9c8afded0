//! The one fake Kubernetes API of the tests: an in-memory store behind kube's tower-test mock,
//! enough of the API server for the controllers (GET, JSON-patch finalizers, server-side apply
//! of objects and status, events, DELETE), with every request recorded and failure injection.
//! A Deployment applied here reports itself rolled out, as a Deployment controller would.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use http::{Method, Request, Response, StatusCode};
use kube::{Client, client::Body};
use serde_json::{Value, json};

/// A request that reached the fake.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Method.
    pub method: Method,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: String,
    /// JSON body.
    pub body: Value,
}

/// Decides whether a request fails: `Some(status)` answers with that error.
pub type FailRule = Box<dyn Fn(&Method, &str) -> Option<StatusCode> + Send + Sync>;

/// The fake API server.
#[derive(Default)]
pub struct FakeKube {
    /// Objects by path.
    pub objects: Mutex<BTreeMap<String, Value>>,
    /// Requests seen.
    pub seen: Mutex<Vec<Seen>>,
    /// Failure injection.
    pub fail: Mutex<Option<FailRule>>,
}

/// The path of a FeedSource.
pub fn feed_path(ns: &str, name: &str) -> String {
    format!("/apis/curator.buun.dev/v1alpha1/namespaces/{ns}/feedsources/{name}")
}

/// The path of a Deployment.
pub fn deployment_path(ns: &str, name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}")
}

/// The path of a PodDisruptionBudget.
pub fn pdb_path(ns: &str, name: &str) -> String {
    format!("/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}")
}

/// The path of a CuratorWorker.
pub fn worker_path(ns: &str, name: &str) -> String {
    format!("/apis/curator.buun.dev/v1alpha1/namespaces/{ns}/curatorworkers/{name}")
}

/// FeedClaims, as an API server keeps them: created, replaced, listed by label, deleted.
fn claims(
    objects: &mut BTreeMap<String, Value>,
    method: &Method,
    path: &str,
    query: &str,
    body: Value,
) -> (StatusCode, Value) {
    let selector = query
        .split('&')
        .find_map(|q| q.strip_prefix("labelSelector="))
        .map(|s| s.replace("%3D", "=").replace("%2F", "/"));
    match *method {
        Method::GET if path.ends_with("/feedclaims") => {
            let items: Vec<Value> = objects
                .iter()
                .filter(|(p, _)| p.starts_with(path))
                .map(|(_, o)| o.clone())
                .filter(|o| {
                    selector.as_deref().is_none_or(|sel| {
                        let (k, v) = sel.split_once('=').unwrap_or((sel, ""));
                        o["metadata"]["labels"][k] == v
                    })
                })
                .collect();
            (
                StatusCode::OK,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}),
            )
        }
        Method::GET => match objects.get(path) {
            Some(o) => (StatusCode::OK, o.clone()),
            None => (StatusCode::NOT_FOUND, not_found()),
        },
        Method::POST => {
            let at = format!("{path}/{}", body["metadata"]["name"].as_str().unwrap_or(""));
            if objects.contains_key(&at) {
                return (StatusCode::CONFLICT, failure(StatusCode::CONFLICT));
            }
            objects.insert(at, body.clone());
            (StatusCode::CREATED, body)
        }
        Method::PUT => {
            objects.insert(path.to_owned(), body.clone());
            (StatusCode::OK, body)
        }
        Method::DELETE => match objects.remove(path) {
            Some(_) => (
                StatusCode::OK,
                json!({"kind": "Status", "status": "Success"}),
            ),
            None => (StatusCode::NOT_FOUND, not_found()),
        },
        _ => (StatusCode::NOT_FOUND, not_found()),
    }
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

fn failure(code: StatusCode) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError", "code": code.as_u16(), "message": "injected failure"})
}

impl FakeKube {
    /// Stores an object at `path`.
    pub fn put(&self, path: &str, obj: Value) {
        self.objects
            .lock()
            .expect("lock")
            .insert(path.to_owned(), obj);
    }

    /// The object at `path`.
    pub fn get(&self, path: &str) -> Option<Value> {
        self.objects.lock().expect("lock").get(path).cloned()
    }

    /// Stores a resource at its path.
    pub fn put_object<K: kube::Resource<DynamicType = ()> + serde::Serialize>(&self, obj: &K) {
        let url = K::url_path(&(), obj.meta().namespace.as_deref());
        let name = obj.meta().name.clone().unwrap_or_default();
        self.put(
            &format!("{url}/{name}"),
            serde_json::to_value(obj).expect("serializable resource"),
        );
    }

    /// The requests seen since the first `from` ones.
    pub fn seen_since(&self, from: usize) -> Vec<Seen> {
        self.seen.lock().expect("lock")[from..].to_vec()
    }

    /// How many requests were seen.
    pub fn seen_count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    /// Changes the object at `path` in place.
    pub fn edit(&self, path: &str, f: impl FnOnce(&mut Value)) {
        if let Some(o) = self.objects.lock().expect("lock").get_mut(path) {
            f(o);
        }
    }

    /// Sets the failure rule.
    pub fn fail_when(
        &self,
        rule: impl Fn(&Method, &str) -> Option<StatusCode> + Send + Sync + 'static,
    ) {
        *self.fail.lock().expect("lock") = Some(Box::new(rule));
    }

    /// Clears the failure rule.
    pub fn heal(&self) {
        *self.fail.lock().expect("lock") = None;
    }

    fn handle(&self, method: Method, path: &str, query: &str, body: Value) -> (StatusCode, Value) {
        self.seen.lock().expect("lock").push(Seen {
            method: method.clone(),
            path: path.to_owned(),
            query: query.to_owned(),
            body: body.clone(),
        });
        if let Some(rule) = self.fail.lock().expect("lock").as_ref()
            && let Some(code) = rule(&method, path)
        {
            return (code, failure(code));
        }
        let mut objects = self.objects.lock().expect("lock");
        if path.contains("/feedclaims") {
            return claims(&mut objects, &method, path, query, body);
        }
        match method {
            Method::GET => match objects.get(path) {
                Some(o) => (StatusCode::OK, o.clone()),
                None => (StatusCode::NOT_FOUND, not_found()),
            },
            Method::POST => (StatusCode::CREATED, body),
            Method::DELETE => {
                objects.remove(path);
                (
                    StatusCode::OK,
                    json!({"kind": "Status", "status": "Success"}),
                )
            }
            Method::PATCH if path.ends_with("/status") => {
                let base = path.trim_end_matches("/status");
                match objects.get_mut(base) {
                    Some(o) => {
                        o["status"] = body["status"].clone();
                        (StatusCode::OK, o.clone())
                    }
                    None => (StatusCode::NOT_FOUND, not_found()),
                }
            }
            Method::PATCH if body.is_array() => {
                // JSON patch from kube's finalizer helper: add or remove our finalizer.
                let Some(o) = objects.get_mut(path) else {
                    return (StatusCode::NOT_FOUND, not_found());
                };
                for op in body.as_array().into_iter().flatten() {
                    match op["op"].as_str() {
                        Some("add") => {
                            let list = o["metadata"]["finalizers"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default();
                            let mut list = list;
                            match &op["value"] {
                                Value::Array(v) => list.extend(v.iter().cloned()),
                                v => list.push(v.clone()),
                            }
                            o["metadata"]["finalizers"] = Value::Array(list);
                        }
                        Some("remove") => {
                            let idx: usize = op["path"]
                                .as_str()
                                .and_then(|p| p.rsplit('/').next())
                                .and_then(|i| i.parse().ok())
                                .unwrap_or(0);
                            if let Some(list) = o["metadata"]["finalizers"].as_array_mut()
                                && idx < list.len()
                            {
                                list.remove(idx);
                            }
                        }
                        _ => {}
                    }
                }
                let reply = o.clone();
                let gone = o["metadata"]["deletionTimestamp"].is_string()
                    && o["metadata"]["finalizers"]
                        .as_array()
                        .is_none_or(|l| l.is_empty());
                if gone {
                    objects.remove(path);
                }
                (StatusCode::OK, reply)
            }
            Method::PATCH => {
                let mut stored = match objects.get(path) {
                    Some(old) => {
                        let mut merged = old.clone();
                        merged["spec"] = body["spec"].clone();
                        merged
                    }
                    None => body,
                };
                if path.contains("/deployments/") {
                    // What a Deployment controller reports once it has rolled out.
                    let replicas = stored["spec"]["replicas"].as_i64().unwrap_or(1);
                    stored["metadata"]["generation"] = json!(1);
                    stored["status"] = json!({"observedGeneration": 1, "replicas": replicas,
                        "readyReplicas": replicas, "updatedReplicas": replicas,
                        "availableReplicas": replicas});
                }
                objects.insert(path.to_owned(), stored.clone());
                (StatusCode::OK, stored)
            }
            _ => (StatusCode::NOT_FOUND, not_found()),
        }
    }

    /// A client served by this fake (the handler task runs until the client is dropped).
    pub fn client(self: &Arc<Self>) -> Client {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let me = self.clone();
        tokio::spawn(async move {
            while let Some((req, send)) = handle.next_request().await {
                let method = req.method().clone();
                let path = req.uri().path().to_owned();
                let query = req.uri().query().unwrap_or_default().to_owned();
                let bytes = req.into_body().collect_bytes().await.unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let (status, reply) = me.handle(method, &path, &query, body);
                send.send_response(
                    Response::builder()
                        .status(status)
                        .body(Body::from(serde_json::to_vec(&reply).unwrap_or_default()))
                        .expect("response"),
                );
            }
        });
        Client::new(svc, "default")
    }
}

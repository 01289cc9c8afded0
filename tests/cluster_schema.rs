//! The CRDs as a real API server sees them: they are accepted, every CEL rule rejects what it
//! should with its message (and accepts a valid neighbour), every schema bound of our own fields
//! is enforced at exactly its limit, and defaults are filled in.
//!
//! Objects are created with `dryRun=All`, so nothing is stored. The client-side CEL check that
//! `curator-operator sync` uses is compared with the server on every rule case, so the two cannot
//! drift apart.

mod common;

use common::{cluster, namespace::with_namespace};
use curator_operator::crd::{self, CuratorWorker, FeedSource};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, PostParams},
    core::GroupVersionKind,
};
use serde_json::{Value, json};

async fn server_verdict(client: &Client, ns: &str, obj: &Value) -> Result<(), String> {
    cluster::dry_run_create(client, ns, obj).await
}

/// The outcome of the client-side CEL check `sync` runs.
fn client_verdict(obj: &Value) -> Result<(), String> {
    // Named as `dry_run_create` names it.
    let mut obj = obj.clone();
    if obj["metadata"]["name"].is_null() {
        obj["metadata"]["name"] = json!("probe");
    }
    let obj = &obj;
    let r = match obj["kind"].as_str() {
        Some("FeedSource") => serde_json::from_value::<FeedSource>(obj.clone())
            .map_err(|e| e.to_string())
            .and_then(|f| f.validate_cel().map_err(|e| format!("{e:?}"))),
        _ => serde_json::from_value::<CuratorWorker>(obj.clone())
            .map_err(|e| e.to_string())
            .and_then(|w| w.validate_cel().map_err(|e| format!("{e:?}"))),
    };
    r.map(|_| ())
}

fn merge(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(k);
                } else {
                    merge(a.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn feed(patch: Value) -> Value {
    let mut v = serde_json::to_value(FeedSource::test("x", "probe")).expect("json");
    v["metadata"] = json!({});
    merge(&mut v, &patch);
    v
}

fn worker(patch: Value) -> Value {
    let mut v = serde_json::to_value(CuratorWorker::test("x", "t:7233")).expect("json");
    v["metadata"] = json!({});
    merge(&mut v, &patch);
    v
}

/// One CEL case: an object and the rule message it must be rejected with (`None`: accepted).
struct Case {
    what: &'static str,
    obj: Value,
    rejected_with: Option<&'static str>,
}

fn case(what: &'static str, obj: Value, rejected_with: Option<&'static str>) -> Case {
    Case {
        what,
        obj,
        rejected_with,
    }
}

fn cel_cases() -> Vec<Case> {
    let typed = "extraInput must not repeat a typed feed field; set the typed field instead";
    let etag =
        "extraInput must not set etag or lastModified: a fixed value disables conditional GET";
    let url = "url must be an http:// or https:// URL";
    let when = "schedule needs at least one of every, cron or calendars";
    let offset = "offset is only meaningful with every";
    let window = "startAt must be before endAt";
    let zero_every = "every must be greater than zero";
    let replicas = "set either replicas (fixed) or autoscaling, not both; set neither to let an external autoscaler own replicas";
    let min_max = "minReplicas must not exceed maxReplicas";
    let poll = "pollInterval must be at least 5s";
    let long_name = "metadata.name must be at most 63 characters: it is used as a label value";
    let pdb = "set exactly one of minAvailable and maxUnavailable";
    let ignored = "extraInput must not set extractionRules: the worker reads them from the feed in buun-curator, never from its input";
    let api_url = "curatorApi.url must be http:// or https://, a host, an optional port and path; no user, query or fragment";
    let address = "address must be host:port: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port from 1 to 65535";
    let extra =
        |name: &str| json!({"spec": {"feed": {"extraInput": [{"name": name, "value": "x"}]}}});
    vec![
        case(
            "extraInput repeats feedUrl",
            feed(extra("feedUrl")),
            Some(typed),
        ),
        case(
            "extraInput repeats distillationBatchSize",
            feed(extra("distillationBatchSize")),
            Some(typed),
        ),
        case("extraInput sets etag", feed(extra("etag")), Some(etag)),
        case(
            "extraInput sets lastModified",
            feed(extra("lastModified")),
            Some(etag),
        ),
        case(
            "extraInput with a new field",
            feed(
                json!({"spec": {"feed": {"extraInput": [{"name": "summaryStyle", "value": {"nested": [1, 2]}}]}}}),
            ),
            None,
        ),
        case(
            "ftp URL",
            feed(json!({"spec": {"feed": {"url": "ftp://example.com/x"}}})),
            Some(url),
        ),
        case(
            "https URL",
            feed(json!({"spec": {"feed": {"url": "https://example.com/x"}}})),
            None,
        ),
        case(
            "no every, cron or calendars",
            feed(json!({"spec": {"schedule": {"every": null}}})),
            Some(when),
        ),
        case(
            "empty cron list and no every",
            feed(json!({"spec": {"schedule": {"every": null, "cron": []}}})),
            Some(when),
        ),
        case(
            "cron alone",
            feed(json!({"spec": {"schedule": {"every": null, "cron": ["0 * * * *"]}}})),
            None,
        ),
        case(
            "a calendar alone",
            feed(json!({"spec": {"schedule": {"every": null, "calendars": [{"hour": "9"}]}}})),
            None,
        ),
        case(
            "offset without every",
            feed(
                json!({"spec": {"schedule": {"every": null, "cron": ["0 * * * *"], "offset": "5m"}}}),
            ),
            Some(offset),
        ),
        case(
            "offset with every",
            feed(json!({"spec": {"schedule": {"every": "30m", "offset": "5m"}}})),
            None,
        ),
        case(
            "startAt after endAt",
            feed(
                json!({"spec": {"schedule": {"startAt": "2027-01-02T00:00:00Z", "endAt": "2027-01-01T00:00:00Z"}}}),
            ),
            Some(window),
        ),
        case(
            "startAt equal to endAt",
            feed(
                json!({"spec": {"schedule": {"startAt": "2027-01-01T00:00:00Z", "endAt": "2027-01-01T00:00:00Z"}}}),
            ),
            Some(window),
        ),
        case(
            "startAt before endAt",
            feed(
                json!({"spec": {"schedule": {"startAt": "2027-01-01T00:00:00Z", "endAt": "2027-01-02T00:00:00Z"}}}),
            ),
            None,
        ),
        case(
            "every 0s",
            feed(json!({"spec": {"schedule": {"every": "0s"}}})),
            Some(zero_every),
        ),
        case(
            "every 0h0m",
            feed(json!({"spec": {"schedule": {"every": "0h0m"}}})),
            Some(zero_every),
        ),
        case(
            "every 1s",
            feed(json!({"spec": {"schedule": {"every": "1s"}}})),
            None,
        ),
        case(
            "replicas and autoscaling",
            worker(json!({"spec": {"replicas": 2, "autoscaling": {"maxReplicas": 3}}})),
            Some(replicas),
        ),
        case(
            "replicas alone",
            worker(json!({"spec": {"replicas": 2}})),
            None,
        ),
        case(
            "autoscaling alone",
            worker(json!({"spec": {"autoscaling": {"maxReplicas": 3}}})),
            None,
        ),
        case(
            "minReplicas above maxReplicas",
            worker(json!({"spec": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}})),
            Some(min_max),
        ),
        case(
            "minReplicas equal to maxReplicas",
            worker(json!({"spec": {"autoscaling": {"minReplicas": 3, "maxReplicas": 3}}})),
            None,
        ),
        case(
            "pollInterval 0s",
            worker(json!({"spec": {"autoscaling": {"maxReplicas": 3, "pollInterval": "0s"}}})),
            Some(poll),
        ),
        case(
            "worker name of 64 characters",
            worker(json!({"metadata": {"name": "w".repeat(64)}})),
            Some(long_name),
        ),
        case(
            "worker name of 63 characters",
            worker(json!({"metadata": {"name": "w".repeat(63)}})),
            None,
        ),
        case(
            "pollInterval 1ns",
            worker(json!({"spec": {"autoscaling": {"maxReplicas": 3, "pollInterval": "1ns"}}})),
            Some(poll),
        ),
        case(
            "pollInterval 4.999s",
            worker(json!({"spec": {"autoscaling": {"maxReplicas": 3, "pollInterval": "4999ms"}}})),
            Some(poll),
        ),
        case(
            "pollInterval 5s",
            worker(json!({"spec": {"autoscaling": {"maxReplicas": 3, "pollInterval": "5s"}}})),
            None,
        ),
        case(
            "pollInterval 30s",
            worker(json!({"spec": {"autoscaling": {"maxReplicas": 3, "pollInterval": "30s"}}})),
            None,
        ),
        case(
            "empty disruption budget",
            worker(json!({"spec": {"disruptionBudget": {}}})),
            Some(pdb),
        ),
        case(
            "both disruption budget fields",
            worker(json!({"spec": {"disruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}}})),
            Some(pdb),
        ),
        case(
            "maxUnavailable alone",
            worker(json!({"spec": {"disruptionBudget": {"maxUnavailable": 1}}})),
            None,
        ),
        case(
            "address with a scheme",
            worker(json!({"spec": {"temporal": {"address": "http://t:7233"}}})),
            Some(address),
        ),
        case(
            "address without a port",
            worker(json!({"spec": {"temporal": {"address": "temporal"}}})),
            Some(address),
        ),
        case(
            "address with a space",
            worker(json!({"spec": {"temporal": {"address": "a b:1"}}})),
            Some(address),
        ),
        case(
            "address whose text hides another host (the allow-list bypass)",
            worker(json!({"spec": {"temporal": {"address": "evil.example#.tmprl.cloud:7233"}}})),
            Some(address),
        ),
        case(
            "address with userinfo",
            worker(json!({"spec": {"temporal": {"address": "127.0.0.1@evil.example:7233"}}})),
            Some(address),
        ),
        case(
            "address whose host is 254 characters",
            worker(
                json!({"spec": {"temporal": {"address": format!("{0}.{0}.{0}.{1}:7233", "a".repeat(63), "a".repeat(62))}}}),
            ),
            Some("the host of address must be at most 253 characters"),
        ),
        case(
            "address past port 65535",
            worker(json!({"spec": {"temporal": {"address": "temporal:65536"}}})),
            Some(address),
        ),
        case(
            "host:port address",
            worker(json!({"spec": {"temporal": {"address": "temporal-frontend.temporal:7233"}}})),
            None,
        ),
        case(
            "IPv6 address",
            worker(json!({"spec": {"temporal": {"address": "[::1]:7233"}}})),
            None,
        ),
        case(
            "extraInput sets extractionRules",
            feed(extra("extractionRules")),
            Some(ignored),
        ),
        case(
            "curatorApi without a scheme",
            worker(json!({"spec": {"curatorApi": {
                "url": "buun-curator:3000", "tokenSecretRef": {"name": "t", "key": "k"}}}})),
            Some(api_url),
        ),
        case(
            "curatorApi with userinfo",
            worker(json!({"spec": {"curatorApi": {
                "url": "https://curator.example@evil.example", "tokenSecretRef": {"name": "t", "key": "k"}}}})),
            Some(api_url),
        ),
        case(
            "curatorApi with a query",
            worker(json!({"spec": {"curatorApi": {
                "url": "https://curator.example/?to=evil", "tokenSecretRef": {"name": "t", "key": "k"}}}})),
            Some(api_url),
        ),
        case(
            "curatorApi over http",
            worker(json!({"spec": {"curatorApi": {
                "url": "http://buun-curator.news:3000", "tokenSecretRef": {"name": "t", "key": "k"}}}})),
            None,
        ),
        case(
            "a FeedSource without feed.id",
            feed(json!({"spec": {"feed": {"id": null}}})),
            None,
        ),
    ]
}

/// Every `x-kubernetes-validations` message in the generated CRDs.
fn rule_messages() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(rules)) = m.get("x-kubernetes-validations") {
                    out.extend(
                        rules
                            .iter()
                            .filter_map(|r| r["message"].as_str().map(str::to_owned)),
                    );
                }
                m.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (_, c) in crd::all() {
        walk(&serde_json::to_value(&c).expect("json"), &mut out);
    }
    out
}

#[test]
fn kubectl_apply_server_side_accepts_the_crds() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/");
    let out = cluster.kubectl_ok(&["apply", "--server-side", "--force-conflicts", "-f", crds]);
    println!("$ kubectl apply --server-side -f crds/\n{out}");
    assert!(out.contains("customresourcedefinition.apiextensions.k8s.io/feedsources.curator.buun.dev serverside-applied"), "{out}");
    assert!(out.contains("customresourcedefinition.apiextensions.k8s.io/curatorworkers.curator.buun.dev serverside-applied"), "{out}");
    assert!(out.contains("customresourcedefinition.apiextensions.k8s.io/feedclaims.curator.buun.dev serverside-applied"), "{out}");
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/curator-operator/crds/");
    cluster.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-f",
        chart,
    ]);
}

#[test]
fn the_examples_are_accepted_by_the_api_server_and_by_sync() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let docs = curator_operator::sync_cli::read_documents(std::slice::from_ref(&dir), "default");
    assert!(docs.errors.is_empty(), "{:?}", docs.errors);
    assert_eq!((docs.feeds.len(), docs.workers.len()), (3, 1));
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/");
    cluster.kubectl_ok(&["apply", "--server-side", "--force-conflicts", "-f", crds]);
    cluster.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/feedsources.curator.buun.dev",
        "crd/curatorworkers.curator.buun.dev",
    ]);
    // In a namespace of this test's own, so nothing else in the cluster matters.
    let ns = cluster::unique("examples");
    cluster.kubectl_ok(&["create", "namespace", &ns]);
    let copy = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(&dir).expect("examples") {
        let path = e.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let text = text.replace("namespace: news", &format!("namespace: {ns}"));
        std::fs::write(copy.path().join(path.file_name().expect("name")), text).expect("write");
    }
    let out = cluster.kubectl_ok(&[
        "apply",
        "--dry-run=server",
        "-f",
        copy.path().to_str().expect("path"),
    ]);
    assert_eq!(out.lines().count(), 4, "{out}");
    cluster.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]);
}

#[tokio::test]
async fn every_cel_rule_rejects_with_its_message_and_accepts_a_valid_neighbour() {
    let Some(s) = with_namespace("cel").await else {
        return;
    };
    let cases = cel_cases();
    for c in &cases {
        let server = server_verdict(&s.client, &s.ns, &c.obj).await;
        match (c.rejected_with, &server) {
            (None, Ok(())) => {}
            (Some(msg), Err(e)) => assert!(e.contains(msg), "{}: rejected, but with {e:?}", c.what),
            (want, got) => panic!("{}: expected {want:?}, the server said {got:?}", c.what),
        }
        let client = client_verdict(&c.obj);
        assert_eq!(
            client.is_ok(),
            server.is_ok(),
            "{}: the client-side check (sync) disagrees with the server: {client:?}",
            c.what
        );
    }
    for rule in rule_messages() {
        assert!(
            cases.iter().any(|c| c.rejected_with == Some(rule.as_str())),
            "CEL rule {rule:?} has no rejected case"
        );
        assert!(
            cases.iter().any(|c| c.rejected_with.is_none()
                && cases
                    .iter()
                    .any(|r| r.rejected_with == Some(rule.as_str())
                        && r.obj["kind"] == c.obj["kind"])),
            "CEL rule {rule:?} has no accepted neighbour"
        );
    }
    s.delete().await;
}

/// A bound of one of our fields, as the generated schema states it.
#[derive(Debug)]
struct Bound {
    kind: &'static str,
    path: Vec<String>,
    constraint: &'static str,
    schema: Value,
}

/// Our own fields' bounds: everything under `spec` except the Kubernetes types a CuratorWorker
/// embeds (their schemas are Kubernetes', not ours).
fn bounds() -> Vec<Bound> {
    const EMBEDDED: &[&str] = &[
        "affinity",
        "tolerations",
        "securityContext",
        "resources",
        "env",
        "envFrom",
        "imagePullSecrets",
        "nodeSelector",
        "podAnnotations",
        "podLabels",
    ];
    fn walk(kind: &'static str, s: &Value, path: Vec<String>, out: &mut Vec<Bound>) {
        for constraint in [
            "maxLength",
            "minLength",
            "minimum",
            "maximum",
            "maxItems",
            "pattern",
            "enum",
        ] {
            if s.get(constraint).is_some() {
                out.push(Bound {
                    kind,
                    path: path.clone(),
                    constraint,
                    schema: s.clone(),
                });
            }
        }
        if let Some(props) = s["properties"].as_object() {
            for (k, v) in props {
                if kind == "CuratorWorker" && path.len() == 1 && EMBEDDED.contains(&k.as_str()) {
                    continue;
                }
                let mut p = path.clone();
                p.push(k.clone());
                walk(kind, v, p, out);
            }
        }
        if s["items"].is_object() {
            let mut p = path.clone();
            p.push("[]".into());
            walk(kind, &s["items"], p, out);
        }
    }
    let mut out = Vec::new();
    for (_, c) in crd::all() {
        let kind = match c.spec.names.kind.as_str() {
            "FeedSource" => "FeedSource",
            "CuratorWorker" => "CuratorWorker",
            _ => "FeedClaim",
        };
        let schema = serde_json::to_value(&c.spec.versions[0].schema).expect("json")["openAPIV3Schema"]["properties"]["spec"].clone();
        walk(kind, &schema, vec!["spec".into()], &mut out);
    }
    out
}

/// A valid string of exactly `len` characters for the field at `path`.
fn valid_string(path: &str, len: usize) -> String {
    let pad = |prefix: &str, suffix: &str| {
        format!(
            "{prefix}{}{suffix}",
            "a".repeat(len.saturating_sub(prefix.len() + suffix.len()))
        )
    };
    match path {
        "spec.feed.url" | "spec.curatorApi.url" => pad("https://e.io/", ""),
        "spec.temporal.address" => valid_address(len),
        _ => "a".repeat(len),
    }
}

/// A `host:port` of exactly `len` characters that the address grammar admits (labels of at
/// most 63 characters).
fn valid_address(len: usize) -> String {
    let port = if len >= 12 { ":65535" } else { ":1" };
    let mut left = len.saturating_sub(port.len()).max(1);
    let mut host = String::new();
    while left > 63 {
        host.push_str(&"a".repeat(62));
        host.push('.');
        left -= 63;
    }
    host.push_str(&"a".repeat(left));
    host + port
}

/// Required fields of the objects a bound's path passes through, filled with valid values.
fn required_filler(path: &str) -> Option<Value> {
    Some(match path {
        "spec.temporal.tls" => json!({"secretName": "tls"}),
        "spec.temporal.apiKeySecretRef" | "spec.curatorApi.tokenSecretRef" => {
            json!({"name": "k", "key": "k"})
        }
        "spec.curatorApi" => {
            json!({"url": "https://e.io/api", "tokenSecretRef": {"name": "k", "key": "k"}})
        }
        "spec.autoscaling" => json!({"maxReplicas": 1000}),
        "spec.feed.extraInput.[]" => json!({"name": "x", "value": 1}),
        "spec.schedule.calendars.[]" | "spec.feed.extractionRules.[]" => json!({}),
        "spec.schedule.cron.[]" => json!("0 * * * *"),
        "spec.workflow.retryPolicy.nonRetryableErrorTypes.[]" => json!("E"),
        _ => return None,
    })
}

/// The object with `value` at `path`, intermediate objects and one-element lists filled in.
fn with_value(kind: &str, path: &[String], value: Value) -> Value {
    let mut root = if kind == "FeedSource" {
        feed(json!({}))
    } else {
        worker(json!({}))
    };
    // For `every` and `autoscaling` bounds, keep the cross-field rules satisfied.
    let mut cur = &mut root;
    for (i, part) in path.iter().enumerate() {
        let here = path[..=i].join(".");
        let last = i + 1 == path.len();
        if part == "[]" {
            if !cur.is_array() {
                *cur = json!([]);
            }
            let arr = cur.as_array_mut().expect("array");
            if arr.is_empty() {
                arr.push(required_filler(&here).unwrap_or(json!({})));
            }
            cur = &mut arr[0];
            if last {
                *cur = value.clone();
            }
            continue;
        }
        if last {
            cur[part] = value.clone();
            break;
        }
        if !cur[part].is_object() && !cur[part].is_array() {
            cur[part] = required_filler(&here).unwrap_or(json!({}));
        }
        cur = &mut cur[part];
    }
    root
}

/// Items of a list at `path` for `maxItems` cases (distinct where the list is a map).
fn items(path: &str, n: usize) -> Value {
    let item = |i: usize| match path {
        "spec.feed.extraInput" => json!({"name": format!("f{i}"), "value": i}),
        "spec.schedule.cron" => json!("0 * * * *"),
        "spec.workflow.retryPolicy.nonRetryableErrorTypes" => json!(format!("E{i}")),
        "spec.requiredEnv" => json!(format!("SETTING_{i}")),
        _ => json!({}),
    };
    Value::Array((0..n).map(item).collect())
}

/// The value at the bound (accepted) and just past it (rejected).
fn at_and_past(b: &Bound) -> Vec<(Value, Value)> {
    let path = b.path.join(".");
    let n = |k: &str| b.schema[k].as_f64().expect("number");
    let int = b.schema["type"] == "integer";
    let num = |v: f64| if int { json!(v as i64) } else { json!(v) };
    match b.constraint {
        "maxLength" => {
            let max = n("maxLength") as usize;
            vec![(
                json!(valid_string(&path, max)),
                json!(valid_string(&path, max + 1)),
            )]
        }
        "minLength" => {
            let min = n("minLength") as usize;
            vec![(json!(valid_string(&path, min)), json!("a".repeat(min - 1)))]
        }
        "minimum" => vec![(
            num(n("minimum")),
            num(n("minimum") - if int { 1.0 } else { 0.5 }),
        )],
        "maximum" => vec![(num(n("maximum")), num(n("maximum") + 1.0))],
        "maxItems" => {
            let max = n("maxItems") as usize;
            vec![(items(&path, max), items(&path, max + 1))]
        }
        "pattern" if path.ends_with("idPrefix") => vec![
            (json!("ingest-hn"), json!("-hn")),
            (json!("a.b:c/d_e"), json!("with space")),
        ],
        "pattern" if path.ends_with("name") => {
            vec![(json!("summary_Style2"), json!("2summary-style"))]
        }
        "pattern" => vec![
            (json!("1h30m"), json!("90 minutes")),
            // (pollInterval has a 5s minimum besides its pattern)
            (json!("5000ms"), json!("-5m")),
            (json!("5m"), json!("1.5h")),
        ],
        "enum" => b.schema["enum"]
            .as_array()
            .expect("enum")
            .iter()
            .map(|ok| (ok.clone(), json!("Sometimes")))
            .collect(),
        other => unreachable!("{other}"),
    }
}

#[tokio::test]
async fn every_schema_bound_holds_at_exactly_its_limit() {
    let Some(s) = with_namespace("bounds").await else {
        return;
    };
    let bounds = bounds();
    assert!(bounds.len() > 60, "found only {} bounds", bounds.len());
    let mut checked = 0;
    for b in &bounds {
        let path = b.path.join(".").replace(".[]", "[0]");
        for (ok, bad) in at_and_past(b) {
            let accepted = with_value(b.kind, &b.path, ok.clone());
            if let Err(e) = server_verdict(&s.client, &s.ns, &accepted).await {
                panic!(
                    "{path} {}: {ok} at the limit was rejected: {e}",
                    b.constraint
                );
            }
            let rejected = with_value(b.kind, &b.path, bad.clone());
            match server_verdict(&s.client, &s.ns, &rejected).await {
                Ok(()) => panic!("{path} {}: {bad} past the limit was accepted", b.constraint),
                Err(e) => assert!(
                    e.contains(&path) || e.contains(&b.path.join(".").replace(".[]", "")),
                    "{path} {}: rejected for another field: {e}",
                    b.constraint
                ),
            }
            checked += 1;
        }
    }
    println!(
        "{} bounds, {checked} limit pairs checked on the API server",
        bounds.len()
    );
    s.delete().await;
}

#[tokio::test]
async fn the_server_fills_in_the_schema_defaults() {
    let Some(s) = with_namespace("defaults").await else {
        return;
    };
    let gvk = GroupVersionKind::gvk(crd::GROUP, "v1alpha1", "FeedSource");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "feedsources");
    let api: Api<DynamicObject> = Api::namespaced_with(s.client.clone(), &s.ns, &ar);
    let minimal = json!({
        "apiVersion": "curator.buun.dev/v1alpha1", "kind": "FeedSource",
        "metadata": {"name": "minimal", "namespace": s.ns},
        "spec": {"workerRef": {"name": "w"}, "feed": {"id": "f", "name": "F", "url": "https://e.io/f"},
                 "schedule": {"every": "1h"}}
    });
    let obj: DynamicObject = serde_json::from_value(minimal).expect("object");
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let stored = api.create(&pp, &obj).await.expect("accepted");
    let spec = &stored.data["spec"];
    assert_eq!(spec["deletionPolicy"], "Delete");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["schedule"]["catchupWindow"], "5m");
    assert_eq!(spec["schedule"]["overlapPolicy"], "Skip");
    assert_eq!(spec["schedule"]["pauseOnFailure"], false);
    assert_eq!(spec["workflow"]["type"], "SingleFeedIngestionWorkflow");
    let w = worker(json!({}));
    let gvk = GroupVersionKind::gvk(crd::GROUP, "v1alpha1", "CuratorWorker");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "curatorworkers");
    let api: Api<DynamicObject> = Api::namespaced_with(s.client.clone(), &s.ns, &ar);
    let mut w = w;
    w["metadata"] = json!({"name": "w", "namespace": s.ns});
    w["spec"] =
        json!({"image": "i", "temporal": {"address": "t:7233"}, "autoscaling": {"maxReplicas": 2}});
    let stored = api
        .create(&pp, &serde_json::from_value(w).expect("object"))
        .await
        .expect("accepted");
    let spec = &stored.data["spec"];
    assert_eq!(spec["temporal"]["namespace"], "default");
    assert_eq!(spec["temporal"]["taskQueue"], "buun-curator");
    assert_eq!(spec["terminationGracePeriodSeconds"], 300);
    assert_eq!(spec["healthPort"], 8080);
    assert_eq!(spec["autoscaling"]["minReplicas"], 0);
    assert_eq!(spec["autoscaling"]["pollInterval"], "15s");
    assert_eq!(spec["autoscaling"]["scaleDownDelay"], "5m");
    s.delete().await;
}

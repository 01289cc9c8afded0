//! The Helm chart (`charts/curator-operator`) and the `Dockerfile`: `helm lint`, renders with
//! default and non-default values (`tests/helm/values-ha.yaml`) checked on the parsed objects,
//! the values schema, the chart's CRD copies, and the image's runtime contract.
//!
//! helm is `$HELM`, the project's `.tools/bin/helm` (`scripts/install-deps.sh`), or `PATH`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde::Deserialize;
use serde_json::Value;

const RELEASE: &str = "curator-operator";
const NAMESPACE: &str = "curator-system";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    root().join("charts/curator-operator")
}

fn ha_values() -> PathBuf {
    root().join("tests/helm/values-ha.yaml")
}

fn helm() -> PathBuf {
    if let Some(p) = std::env::var_os("HELM") {
        return p.into();
    }
    let local = root().join(".tools/bin/helm");
    if local.exists() {
        return local;
    }
    PathBuf::from("helm")
}

fn run_helm(args: &[&str]) -> Output {
    Command::new(helm())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {}: {e}; install it with scripts/install-deps.sh",
                helm().display()
            )
        })
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `helm template` output with `extra` arguments; panics with helm's stderr on failure.
fn template_text(extra: &[&str]) -> String {
    let chart = chart();
    let mut args = vec![
        "template",
        RELEASE,
        path_str(&chart),
        "--namespace",
        NAMESPACE,
    ];
    args.extend_from_slice(extra);
    let out = run_helm(&args);
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Every non-empty document of a multi-document YAML stream.
fn parse_docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("rendered YAML parses"))
        .filter(|v| !v.is_null())
        .collect()
}

fn render(extra: &[&str]) -> Vec<Value> {
    parse_docs(&template_text(extra))
}

fn render_default() -> Vec<Value> {
    render(&[])
}

fn render_ha() -> Vec<Value> {
    let values = ha_values();
    render(&["-f", path_str(&values)])
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    found[0]
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string"))
        .collect()
}

fn operator_container(docs: &[Value]) -> &Value {
    let containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1);
    &containers[0]
}

/// The container's env entries by name (each name once).
fn env(container: &Value) -> BTreeMap<&str, &Value> {
    let mut map = BTreeMap::new();
    for e in container["env"].as_array().expect("env") {
        let name = e["name"].as_str().expect("env name");
        assert!(map.insert(name, e).is_none(), "env {name} set twice");
    }
    map
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    env(container).get(name).map(|e| {
        e["value"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no literal value"))
    })
}

/// Every rule of every Role and ClusterRole, with the kind and namespace of its role.
fn rules(docs: &[Value]) -> Vec<(&str, Option<&str>, &Value)> {
    docs.iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        .flat_map(|d| {
            let kind = d["kind"].as_str().expect("kind");
            let ns = d["metadata"]["namespace"].as_str();
            d["rules"]
                .as_array()
                .expect("rules")
                .iter()
                .map(move |r| (kind, ns, r))
        })
        .collect()
}

fn grants(rule: &Value, group: &str, resource: &str) -> bool {
    strings(&rule["apiGroups"]).contains(&group) && strings(&rule["resources"]).contains(&resource)
}

fn verbs(rule: &Value) -> BTreeSet<&str> {
    strings(&rule["verbs"]).into_iter().collect()
}

fn set<'a>(items: &[&'a str]) -> BTreeSet<&'a str> {
    items.iter().copied().collect()
}

// ---------------------------------------------------------------------------------------------
// Lint and schema

#[test]
fn helm_lint_passes_with_default_and_ha_values() {
    let chart = chart();
    let values = ha_values();
    for extra in [vec![], vec!["-f", path_str(&values)]] {
        let mut args = vec!["lint", "--strict", path_str(&chart)];
        args.extend(extra);
        let out = run_helm(&args);
        assert!(
            out.status.success(),
            "helm {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn values_yaml_text() -> String {
    std::fs::read_to_string(chart().join("values.yaml")).expect("values.yaml")
}

fn schema() -> Value {
    let text = std::fs::read_to_string(chart().join("values.schema.json")).expect("schema");
    serde_json::from_str(&text).expect("schema is JSON")
}

#[test]
fn schema_declares_every_value_and_rejects_unknown_ones() {
    let values: Value = serde_yaml::from_str(&values_yaml_text()).expect("values.yaml parses");
    let schema = schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false);
    let props = schema["properties"].as_object().expect("properties");
    let keys: BTreeSet<&str> = values
        .as_object()
        .expect("values.yaml is a mapping")
        .keys()
        .map(String::as_str)
        .collect();
    let declared: BTreeSet<&str> = props.keys().map(String::as_str).collect();
    assert_eq!(
        keys, declared,
        "values.yaml and values.schema.json must declare the same top-level values"
    );
    // Nested groups with a closed schema list exactly their values too.
    for (key, prop) in props {
        if prop["additionalProperties"] == false {
            let have: BTreeSet<&str> = values[key]
                .as_object()
                .unwrap_or_else(|| panic!("{key} is not a mapping"))
                .keys()
                .map(String::as_str)
                .collect();
            let want: BTreeSet<&str> = prop["properties"]
                .as_object()
                .expect("properties")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(have, want, "values.{key}");
        }
    }
}

#[test]
fn unknown_or_invalid_values_fail_to_render() {
    let chart = chart();
    for (set_arg, why) in [
        ("notAValue=1", "unknown top-level value"),
        ("image.notAValue=1", "unknown nested value"),
        ("logFormat=xml", "log format outside the enum"),
        ("resyncInterval=5x", "not a Go duration"),
        ("temporalRps=-1", "a negative ceiling on the pace"),
        ("watchNamespaces[0]=Not_A_Namespace", "not a namespace name"),
    ] {
        let out = run_helm(&[
            "template",
            RELEASE,
            path_str(&chart),
            "--namespace",
            NAMESPACE,
            "--set",
            set_arg,
        ]);
        assert!(!out.status.success(), "{why} ({set_arg}) rendered");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("schema"), "{why}: {stderr}");
    }
    // Several replicas without a leader would reconcile the same objects at once.
    let out = run_helm(&[
        "template",
        RELEASE,
        path_str(&chart),
        "--set",
        "replicaCount=2",
        "--set",
        "leaderElection.enabled=false",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("leaderElection.enabled"));
}

/// The operator's longest way out after SIGTERM is a Temporal call in flight (temporalTimeout)
/// and the Lease release (at most 1 s): the grace period follows temporalTimeout, and one that
/// would kill it first is refused.
#[test]
fn the_grace_period_fits_the_temporal_timeout() {
    let grace = |args: &[&str]| {
        let docs = render(args);
        one(&docs, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_i64()
            .expect("terminationGracePeriodSeconds")
    };
    assert_eq!(grace(&["--set", "temporalTimeout=1m30s"]), 95);
    assert_eq!(grace(&["--set", "temporalTimeout=2500ms"]), 8);
    assert_eq!(grace(&["--set", "terminationGracePeriodSeconds=60"]), 60);
    let out = run_helm(&[
        "template",
        RELEASE,
        path_str(&chart()),
        "--set",
        "terminationGracePeriodSeconds=11",
    ]);
    assert!(!out.status.success(), "11 s < 10 s + 2 s rendered");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("temporalTimeout + 2 s = 12 s"), "{stderr}");
}

/// Key paths of a block-style YAML mapping (values.yaml), each with whether a comment line
/// directly precedes it. List items and flow collections are data, not keys.
fn documented_keys(text: &str) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut commented = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() {
            commented = false;
            continue;
        }
        if trimmed.starts_with('#') {
            commented = true;
            continue;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let key = trimmed
            .split_once(':')
            .map(|(k, _)| k)
            .filter(|k| !k.starts_with('-') && !k.contains(' '));
        if let Some(key) = key {
            let path = stack
                .iter()
                .map(|(_, k)| k.as_str())
                .chain([key])
                .collect::<Vec<_>>()
                .join(".");
            out.insert(path, commented);
            stack.push((indent, key.to_string()));
        }
        commented = false;
    }
    out
}

/// Paths of every value the schema declares (recursing into objects with `properties`).
fn schema_paths(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Some(props) = schema["properties"].as_object() {
        for (key, prop) in props {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            schema_paths(prop, &path, out);
            out.push(path);
        }
    }
}

#[test]
fn every_value_has_a_comment_in_values_yaml() {
    let keys = documented_keys(&values_yaml_text());
    let mut paths = Vec::new();
    schema_paths(&schema(), "", &mut paths);
    assert!(paths.len() > 40, "{paths:?}");
    for path in paths {
        match keys.get(&path) {
            Some(true) => {}
            Some(false) => panic!("values.yaml: {path} has no comment"),
            None => panic!("values.yaml: {path} is declared in the schema but missing"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Default render

#[test]
fn default_deployment_is_hardened_and_probed() {
    let docs = render_default();
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["metadata"]["namespace"], NAMESPACE);
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["terminationGracePeriodSeconds"], 15,
        "temporalTimeout (10s) + 5 s"
    );
    assert!(
        pod.get("affinity").is_none(),
        "no anti-affinity for one replica"
    );

    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true);
    assert_eq!(psc["runAsUser"], 65532);
    assert_eq!(psc["runAsGroup"], 65532);
    assert_eq!(psc["fsGroup"], 65532);
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");

    let c = operator_container(&docs);
    let csc = &c["securityContext"];
    assert_eq!(csc["allowPrivilegeEscalation"], false);
    assert_eq!(csc["readOnlyRootFilesystem"], true);
    assert_eq!(strings(&csc["capabilities"]["drop"]), ["ALL"]);
    assert!(csc["capabilities"].get("add").is_none());
    assert!(csc.get("privileged").is_none_or(|p| p == false));

    assert_eq!(c["image"], "ghcr.io/buun-ch/curator-operator:0.1.0");
    assert_eq!(strings(&c["args"]), ["run"]);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http");
    let ports = c["ports"].as_array().expect("ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["name"], "http");
    assert_eq!(ports[0]["containerPort"], 8080);

    let res = &c["resources"];
    assert!(res["requests"]["cpu"].is_string() && res["requests"]["memory"].is_string());
    assert!(res["limits"]["memory"].is_string());
}

/// The operator's `run` flags with `extra` after the defaults.
fn run_args(extra: &[&str]) -> curator_operator::config::RunArgs {
    use clap::Parser as _;
    let args = ["curator-operator", "run"].iter().chain(extra);
    let cli = curator_operator::config::Cli::try_parse_from(args).expect("parse");
    let curator_operator::config::Command::Run(run) = cli.command else {
        panic!("run")
    };
    run
}

#[test]
fn default_env_configures_the_binary() {
    let docs = render_default();
    let c = operator_container(&docs);
    let env = env(c);
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        assert_eq!(
            env[name]["valueFrom"]["fieldRef"]["fieldPath"], field,
            "{name}"
        );
    }
    for (name, want) in [
        ("CURATOR_HTTP_ADDR", "0.0.0.0:8080"),
        ("CURATOR_LOG_LEVEL", "info"),
        ("CURATOR_LOG_FORMAT", "json"),
        ("CURATOR_SCHEDULE_ID_PREFIX", "curator"),
        ("CURATOR_TEMPORAL_TIMEOUT", "10s"),
        ("CURATOR_RESYNC_INTERVAL", "5m"),
        ("CURATOR_CONCURRENCY", "64"),
        ("CURATOR_TEMPORAL_MAX_IN_FLIGHT", "16"),
        ("CURATOR_LEADER_ELECTION", "true"),
        ("CURATOR_NAMESPACE_FAIR_SHARE", "true"),
        ("CURATOR_LEASE_NAME", "curator-operator"),
        ("CURATOR_LEASE_NAMESPACE", NAMESPACE),
        ("CURATOR_LEASE_DURATION", "15s"),
    ] {
        assert_eq!(env_value(c, name), Some(want), "{name}");
    }
    // Unset means the binary's defaults: the built-in identity, every namespace.
    assert!(!env.contains_key("CURATOR_IDENTITY"));
    assert!(!env.contains_key("CURATOR_WATCH_NAMESPACES"));
    assert!(!env.contains_key("CURATOR_ALLOWED_TEMPORAL_ADDRESSES"));
    // No ceiling on the pace: the operator finds the server's limit.
    assert!(!env.contains_key("CURATOR_TEMPORAL_RPS"));
    // The operator's own default, so that the chart and the binary agree.
    let run = run_args(&[]);
    assert_eq!(run.temporal.temporal_rps, None);
    assert_eq!(run.temporal.temporal_max_in_flight.to_string(), "16");
    assert_eq!(run.concurrency.to_string(), "64");
    assert!(run.namespace_fair_share);
    let off = run_args(&["--namespace-fair-share", "false"]);
    assert!(!off.namespace_fair_share, "the chart's false turns it off");
}

#[test]
fn host_network_and_http_port_for_a_cluster_without_a_pod_network() {
    // Default: the pod network, port 8080, cluster DNS.
    let docs = render_default();
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert!(pod.get("hostNetwork").is_none());
    assert!(pod.get("dnsPolicy").is_none());
    assert!(one(&docs, "Deployment")["spec"].get("strategy").is_none());
    // The Lease is the release's, so `helm uninstall` removes it with the rest.
    let lease = one(&docs, "Lease");
    assert_eq!(lease["metadata"]["name"], "curator-operator");
    assert!(lease.get("spec").is_none(), "the spec is the operator's");

    let docs = render(&[
        "--set",
        "hostNetwork=true",
        "--set",
        "httpPort=18080",
        "--set-json",
        r#"extraEnv=[{"name":"KUBERNETES_SERVICE_HOST","value":"127.0.0.1"}]"#,
    ]);
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    // The old pod holds the port: no surge pod beside it.
    assert_eq!(
        one(&docs, "Deployment")["spec"]["strategy"]["rollingUpdate"],
        serde_json::json!({"maxSurge": 0, "maxUnavailable": 1})
    );
    let c = operator_container(&docs);
    assert_eq!(c["ports"][0]["containerPort"], 18080);
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http");
    assert_eq!(env_value(c, "CURATOR_HTTP_ADDR"), Some("0.0.0.0:18080"));
    assert_eq!(env_value(c, "KUBERNETES_SERVICE_HOST"), Some("127.0.0.1"));
}

/// Unset (the default), the operator finds Temporal's limit itself; a number is a ceiling on
/// its pace, and 0 leaves the calls unpaced: both reach the binary as given.
#[test]
fn a_ceiling_on_the_temporal_pace_reaches_the_operator() {
    for (rps, env) in [("50", "50"), ("0", "0")] {
        let docs = render(&["--set", &format!("temporalRps={rps}")]);
        let c = operator_container(&docs);
        assert_eq!(
            env_value(c, "CURATOR_TEMPORAL_RPS"),
            Some(env),
            "temporalRps={rps}"
        );
    }
    let docs = render(&["--set", "temporalRps=null"]);
    assert_eq!(
        env_value(operator_container(&docs), "CURATOR_TEMPORAL_RPS"),
        None
    );
}

#[test]
fn allowed_temporal_addresses_reach_the_operator() {
    let docs = render(&[
        "--set-json",
        r#"allowedTemporalAddresses=["*.tmprl.cloud:7233","temporal.temporal.svc:7233"]"#,
    ]);
    let dep = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("deployment");
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        env_value(c, "CURATOR_ALLOWED_TEMPORAL_ADDRESSES"),
        Some("*.tmprl.cloud:7233,temporal.temporal.svc:7233")
    );
}

#[test]
fn default_rbac_is_cluster_wide_and_least_privilege() {
    let docs = render_default();
    let all = rules(&docs);
    for (kind, _, rule) in &all {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(
                !strings(&rule[field]).iter().any(|s| s.contains('*')),
                "{kind} rule with '*' in {field}: {rule}"
            );
        }
    }

    let cluster_role = one(&docs, "ClusterRole");
    let cluster: Vec<&Value> = cluster_role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .collect();
    let rule_for = |group: &str, resource: &str| -> BTreeSet<&str> {
        let matching: Vec<_> = cluster
            .iter()
            .filter(|r| grants(r, group, resource))
            .collect();
        assert_eq!(matching.len(), 1, "one rule for {group}/{resource}");
        verbs(matching[0])
    };
    let secrets = rule_for("", "secrets");
    assert_eq!(secrets, set(&["get"]), "secrets: get only, no list/watch");
    for resource in ["feedsources", "curatorworkers"] {
        assert_eq!(
            rule_for("curator.buun.dev", resource),
            set(&["get", "list", "watch", "patch"])
        );
        assert_eq!(
            rule_for("curator.buun.dev", &format!("{resource}/status")),
            set(&["get", "patch"])
        );
    }
    // Only CuratorWorkers own objects (blockOwnerDeletion needs update on their finalizers).
    assert_eq!(
        rule_for("curator.buun.dev", "curatorworkers/finalizers"),
        set(&["update"])
    );
    assert!(
        !cluster
            .iter()
            .any(|r| grants(r, "curator.buun.dev", "feedsources/finalizers")),
        "nothing is owned by a FeedSource"
    );
    assert_eq!(
        rule_for("apps", "deployments"),
        set(&["get", "list", "watch", "create", "patch"]),
        "no delete: garbage collection removes worker Deployments"
    );
    assert_eq!(
        rule_for("policy", "poddisruptionbudgets"),
        set(&["get", "list", "watch", "create", "patch", "delete"])
    );
    assert_eq!(
        rule_for("events.k8s.io", "events"),
        set(&["create", "patch"])
    );
    assert_eq!(
        rule_for("curator.buun.dev", "feedclaims"),
        set(&["get", "list", "create", "update", "delete"]),
        "no watch: claims are read when a FeedSource needs them"
    );
    assert!(
        !cluster
            .iter()
            .any(|r| grants(r, "coordination.k8s.io", "leases")),
        "leases are not granted cluster-wide"
    );

    // Leases only in a Role in the release namespace.
    let lease_rules: Vec<_> = all
        .iter()
        .filter(|(_, _, r)| grants(r, "coordination.k8s.io", "leases"))
        .collect();
    assert!(!lease_rules.is_empty());
    let mut lease_verbs = BTreeSet::new();
    for (kind, ns, rule) in &lease_rules {
        assert_eq!(*kind, "Role");
        assert_eq!(*ns, Some(NAMESPACE));
        lease_verbs.extend(verbs(rule));
        if let Some(names) = rule.get("resourceNames") {
            assert_eq!(strings(names), ["curator-operator"]);
        }
    }
    assert_eq!(lease_verbs, set(&["get", "create", "update", "patch"]));

    // Bindings grant the roles to the chart's ServiceAccount.
    let sa = one(&docs, "ServiceAccount");
    let sa_name = sa["metadata"]["name"].as_str().expect("name");
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], cluster_role["metadata"]["name"]);
    for b in of_kind(&docs, "ClusterRoleBinding")
        .into_iter()
        .chain(of_kind(&docs, "RoleBinding"))
    {
        let subjects = b["subjects"].as_array().expect("subjects");
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0]["kind"], "ServiceAccount");
        assert_eq!(subjects[0]["name"], sa_name);
        assert_eq!(subjects[0]["namespace"], NAMESPACE);
    }
    assert_eq!(
        one(&docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"],
        sa_name
    );
}

/// The rendered RBAC text: every rule is preceded by a comment that says why.
fn assert_every_rule_commented(text: &str) {
    let mut rules = 0;
    let mut previous = "";
    let mut in_rules = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if line.starts_with("rules:") {
            in_rules = true;
        } else if !line.starts_with(' ') {
            in_rules = false;
        }
        if in_rules && trimmed.starts_with("- apiGroups:") {
            rules += 1;
            assert!(
                previous.starts_with('#'),
                "RBAC rule without a comment: {trimmed}"
            );
        }
        if !trimmed.is_empty() {
            previous = trimmed;
        }
    }
    assert!(rules > 0, "no rules found");
}

#[test]
fn every_rbac_rule_is_commented() {
    let values = ha_values();
    for extra in [vec![], vec!["-f", path_str(&values)]] {
        let mut args = vec!["--show-only", "templates/rbac.yaml"];
        args.extend(extra);
        assert_every_rule_commented(&template_text(&args));
    }
}

#[test]
fn default_service_exposes_http_and_optional_objects_are_off() {
    let docs = render_default();
    let service = one(&docs, "Service");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(
        service["metadata"]["labels"]["app.kubernetes.io/component"],
        "metrics"
    );
    let ports = service["spec"]["ports"].as_array().expect("ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["name"], "http");
    assert_eq!(ports[0]["port"], 8080);
    assert_eq!(ports[0]["targetPort"], "http");
    // The Service selects the operator pods.
    let pod_labels = &one(&docs, "Deployment")["spec"]["template"]["metadata"]["labels"];
    for (k, v) in service["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(&pod_labels[k], v, "selector {k}");
    }

    for kind in ["ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget"] {
        assert!(of_kind(&docs, kind).is_empty(), "no {kind} by default");
    }
}

#[test]
fn leader_election_off_renders_no_lease_access() {
    let docs = render(&["--set", "leaderElection.enabled=false"]);
    let c = operator_container(&docs);
    assert_eq!(env_value(c, "CURATOR_LEADER_ELECTION"), Some("false"));
    for name in [
        "CURATOR_LEASE_NAME",
        "CURATOR_LEASE_NAMESPACE",
        "CURATOR_LEASE_DURATION",
    ] {
        assert!(!env(c).contains_key(name), "{name}");
    }
    assert!(
        !rules(&docs)
            .iter()
            .any(|(_, _, r)| grants(r, "coordination.k8s.io", "leases"))
    );
}

// ---------------------------------------------------------------------------------------------
// HA render: two replicas, two watched namespaces, ServiceMonitor, NetworkPolicy

#[test]
fn ha_render_replicas_env_and_spreading() {
    let docs = render_ha();
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let c = operator_container(&docs);
    assert_eq!(env_value(c, "CURATOR_WATCH_NAMESPACES"), Some("news,blogs"));
    assert_eq!(env_value(c, "CURATOR_LOG_FORMAT"), Some("text"));
    assert_eq!(env_value(c, "CURATOR_LEADER_ELECTION"), Some("true"));

    let term = &deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0]["podAffinityTerm"];
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        term["labelSelector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );

    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn user_affinity_replaces_the_default_anti_affinity() {
    let values = ha_values();
    let docs = render(&[
        "-f",
        path_str(&values),
        "--set",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
    ]);
    let affinity = &one(&docs, "Deployment")["spec"]["template"]["spec"]["affinity"];
    assert!(affinity.get("podAntiAffinity").is_none());
    assert!(affinity.get("nodeAffinity").is_some());
}

#[test]
fn ha_rbac_is_namespaced_to_the_watched_namespaces() {
    let docs = render_ha();
    // Cluster-wide only the FeedClaims: they are cluster-scoped, the operator's own record.
    let cluster_roles = of_kind(&docs, "ClusterRole");
    assert_eq!(cluster_roles.len(), 1, "one ClusterRole, for FeedClaims");
    let claim_rules = cluster_roles[0]["rules"].as_array().expect("rules");
    assert_eq!(claim_rules.len(), 1, "{claim_rules:?}");
    assert_eq!(strings(&claim_rules[0]["resources"]), ["feedclaims"]);
    assert_eq!(of_kind(&docs, "ClusterRoleBinding").len(), 1);

    let curator_namespaces: BTreeSet<&str> = rules(&docs)
        .into_iter()
        .filter(|(_, _, r)| grants(r, "curator.buun.dev", "feedsources"))
        .map(|(kind, ns, _)| {
            assert_eq!(kind, "Role");
            ns.expect("namespaced")
        })
        .collect();
    assert_eq!(curator_namespaces, set(&["news", "blogs"]));

    let binding_namespaces: BTreeSet<&str> = of_kind(&docs, "RoleBinding")
        .into_iter()
        .filter(|b| b["roleRef"]["kind"] == "Role")
        .map(|b| b["metadata"]["namespace"].as_str().expect("namespace"))
        .collect();
    assert_eq!(binding_namespaces, set(&["news", "blogs", NAMESPACE]));

    // Secrets stay get-only in every namespace.
    for (_, ns, rule) in rules(&docs) {
        if grants(rule, "", "secrets") {
            assert_eq!(verbs(rule), set(&["get"]), "{ns:?}");
        }
    }
}

#[test]
fn ha_service_monitor_selects_the_metrics_service() {
    let docs = render_ha();
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "http");
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(
        strings(&monitor["spec"]["namespaceSelector"]["matchNames"]),
        [NAMESPACE]
    );
    let service = one(&docs, "Service");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(&service["metadata"]["labels"][k], v, "label {k}");
    }
}

fn egress_ports(rule: &Value) -> BTreeSet<i64> {
    rule["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port"].as_i64().expect("numeric port"))
        .collect()
}

#[test]
fn ha_network_policy_allows_only_http_dns_api_temporal_and_curator_api() {
    let docs = render_ha();
    let policy = one(&docs, "NetworkPolicy");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        one(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(
        strings(&policy["spec"]["policyTypes"]),
        ["Ingress", "Egress"]
    );

    let ingress = policy["spec"]["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0]["ports"][0]["port"], "http");
    assert_eq!(
        ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );

    let egress = policy["spec"]["egress"].as_array().expect("egress");
    let ports: Vec<BTreeSet<i64>> = egress.iter().map(egress_ports).collect();
    assert_eq!(
        ports,
        [
            BTreeSet::from([53]),
            BTreeSet::from([443, 6443]),
            BTreeSet::from([7233]),
            BTreeSet::from([443, 3000])
        ]
    );
    assert_eq!(
        egress[0]["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
        "kube-dns"
    );
    assert_eq!(
        egress[2]["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "temporal"
    );
}

// ---------------------------------------------------------------------------------------------
// CRD copies

fn yaml_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .filter(|n| n.ends_with(".yaml"))
        .collect()
}

#[test]
fn chart_crds_are_byte_identical_to_top_level_crds() {
    let top = root().join("crds");
    let copy = chart().join("crds");
    let files = yaml_files(&top);
    assert!(!files.is_empty());
    assert_eq!(
        files,
        yaml_files(&copy),
        "the chart ships the same CRD files"
    );
    for f in &files {
        let a = std::fs::read(top.join(f)).expect("read");
        let b = std::fs::read(copy.join(f)).expect("read");
        assert!(
            a == b,
            "charts/curator-operator/crds/{f} differs from crds/{f}; cp crds/*.yaml charts/curator-operator/crds/"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

/// One Dockerfile instruction: the upper-case keyword and its arguments.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// Instructions of a Dockerfile: comment lines dropped, `\` continuations joined.
fn parse_dockerfile(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        // Comment and empty lines never end an instruction, even inside a continuation.
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let (part, continues) = match trimmed.strip_suffix('\\') {
            Some(p) => (p, true),
            None => (trimmed, false),
        };
        current.push_str(part);
        current.push(' ');
        if !continues {
            let joined = current.trim().to_string();
            current.clear();
            let (keyword, args) = joined.split_once(char::is_whitespace).expect("arguments");
            out.push(Instruction {
                keyword: keyword.to_ascii_uppercase(),
                args: args.trim().to_string(),
            });
        }
    }
    assert!(current.trim().is_empty(), "dangling line continuation");
    out
}

/// A stage: its base image, name, and instructions.
#[derive(Debug)]
struct Stage<'a> {
    image: &'a str,
    name: Option<&'a str>,
    body: Vec<&'a Instruction>,
}

fn stages(instructions: &[Instruction]) -> Vec<Stage<'_>> {
    let mut out: Vec<Stage<'_>> = Vec::new();
    for i in instructions {
        if i.keyword == "FROM" {
            let words: Vec<&str> = i
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let name = match words.as_slice() {
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => Some(*name),
                [_] => None,
                other => panic!("unexpected FROM {other:?}"),
            };
            out.push(Stage {
                image: words[0],
                name,
                body: Vec::new(),
            });
        } else if let Some(stage) = out.last_mut() {
            stage.body.push(i);
        } else {
            assert!(i.keyword == "ARG", "{} before the first FROM", i.keyword);
        }
    }
    out
}

fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not exec form ({e}): {args}"))
}

fn last<'a>(stage: &'a Stage<'_>, keyword: &str) -> &'a Instruction {
    stage
        .body
        .iter()
        .rev()
        .find(|i| i.keyword == keyword)
        .unwrap_or_else(|| panic!("final stage has no {keyword}"))
}

/// The default of a global `ARG` (one declared before the first `FROM`).
fn global_arg<'a>(instructions: &'a [Instruction], name: &str) -> &'a str {
    instructions
        .iter()
        .take_while(|i| i.keyword != "FROM")
        .filter(|i| i.keyword == "ARG")
        .find_map(|i| i.args.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no global ARG {name} with a default"))
}

/// The stage named `name`.
fn stage<'a, 'b>(stages: &'a [Stage<'b>], name: &str) -> &'a Stage<'b> {
    stages
        .iter()
        .find(|s| s.name == Some(name))
        .unwrap_or_else(|| panic!("no stage {name}"))
}

#[test]
fn dockerfile_builds_a_glibc_binary_onto_distroless_nonroot() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let instructions = parse_dockerfile(&text);
    let stages = stages(&instructions);

    // Base images are build arguments with public defaults: both Debian 12 (bookworm), so
    // the binary is linked against the glibc it runs on (scripts/image.sh checks the built
    // image: the same release and glibc, and no newer glibc symbol than the base has).
    let builder_image = global_arg(&instructions, "BUILDER_IMAGE");
    assert!(
        builder_image.starts_with("docker.io/library/rust:") && builder_image.contains("-bookworm"),
        "{builder_image}"
    );
    let runtime_image = global_arg(&instructions, "RUNTIME_IMAGE");
    assert_eq!(
        runtime_image.split('@').next(),
        Some("gcr.io/distroless/cc-debian12:nonroot")
    );
    // The binary is compiled in the builder stage unless BINARY=prebuilt says otherwise.
    assert_eq!(global_arg(&instructions, "BINARY"), "build");

    let builder = stage(&stages, "build");
    assert_eq!(builder.image, "${BUILDER_IMAGE}");
    let build = builder
        .body
        .iter()
        .find(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .expect("a cargo build step");
    for want in [
        "--locked",
        "--profile \"${PROFILE}\"",
        "--bin curator-operator",
        "--mount=type=cache",
        "strip --strip-all",
    ] {
        assert!(build.args.contains(want), "cargo build without {want}");
    }
    assert!(
        builder
            .body
            .iter()
            .any(|i| i.keyword == "ARG" && i.args == "PROFILE=release"),
        "the release profile by default"
    );
    // jemalloc's options (one arena, quick decay, no thread caches) are build settings of
    // .cargo/config.toml: an image built without it would not get them.
    assert!(
        builder
            .body
            .iter()
            .any(|i| i.keyword == "COPY" && i.args.starts_with(".cargo ")),
        "the builder copies .cargo/ (the allocator's build settings)"
    );
    // Both ways to the binary end in the same place, which the final stage copies from.
    let prebuilt = stage(&stages, "prebuilt");
    assert_eq!(prebuilt.image, "scratch");
    assert!(
        prebuilt
            .body
            .iter()
            .any(|i| i.keyword == "COPY" && i.args == "curator-operator /out/curator-operator")
    );
    assert_eq!(stage(&stages, "binary").image, "${BINARY}");

    let last_stage = stages.last().expect("final stage");
    assert_eq!(last_stage.image, "${RUNTIME_IMAGE}");
    let copy = last_stage
        .body
        .iter()
        .find(|i| i.keyword == "COPY")
        .expect("the binary is copied in");
    assert_eq!(
        copy.args, "--from=binary /out/curator-operator /curator-operator",
        "COPY puts the binary where ENTRYPOINT runs it"
    );

    let user = &last(last_stage, "USER").args;
    let uid = user.split(':').next().expect("uid");
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "USER must be a numeric non-root UID: {user}"
    );
    assert_eq!(user, "65532:65532", "the chart's runAsUser/runAsGroup");

    let entrypoint = exec_form(&last(last_stage, "ENTRYPOINT").args);
    assert_eq!(entrypoint, ["/curator-operator"]);
    assert_eq!(exec_form(&last(last_stage, "CMD").args), ["run"]);

    let labels = last(last_stage, "LABEL");
    for key in [
        "org.opencontainers.image.title",
        "org.opencontainers.image.source",
        "org.opencontainers.image.licenses",
    ] {
        assert!(labels.args.contains(key), "missing label {key}");
    }

    // The chart's container port is the one the image exposes.
    let exposed: Vec<i64> = last(last_stage, "EXPOSE")
        .args
        .split_whitespace()
        .map(|p| {
            p.trim_end_matches("/tcp")
                .parse()
                .expect("numeric EXPOSE port")
        })
        .collect();
    let docs = render_default();
    let c = operator_container(&docs);
    let container_port = c["ports"][0]["containerPort"].as_i64().expect("port");
    assert_eq!(exposed, [container_port]);
    // And the chart's pod runs as the image's user.
    let psc = &one(&docs, "Deployment")["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(
        format!("{}:{}", psc["runAsUser"], psc["runAsGroup"]),
        user.as_str()
    );
}

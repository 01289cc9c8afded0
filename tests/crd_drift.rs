//! The checked-in CRDs (top-level `crds/`, and the Helm chart's copy when present) must be
//! exactly what the Rust types generate. Regenerate with `cargo run -- crds` or
//! `UPDATE_CRDS=1 cargo test --test crd_drift`.

use std::path::Path;

use curator_operator::crd;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

fn check_dir(dir: &Path) {
    let update = std::env::var_os("UPDATE_CRDS").is_some();
    for (file, crd) in crd::all() {
        let want = crd::to_yaml(&crd).expect("CRD renders");
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(dir).expect("create dir");
            std::fs::write(&path, &want).expect("write CRD");
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run UPDATE_CRDS=1 cargo test --test crd_drift",
                path.display()
            )
        });
        assert!(
            have == want,
            "{} differs from the Rust types; run UPDATE_CRDS=1 cargo test --test crd_drift",
            path.display()
        );
    }
}

#[test]
fn top_level_crds_match_the_types() {
    check_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("crds"));
}

#[test]
fn the_charts_crds_match_the_types() {
    check_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/curator-operator/crds"));
}

/// The names of the printer columns of `crd`'s first version.
fn columns(crd: &CustomResourceDefinition) -> Vec<&str> {
    crd.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect()
}

#[test]
fn the_feed_claims_are_cluster_scoped_where_no_tenant_role_reaches() {
    let (_, crd) = crd::all()
        .into_iter()
        .find(|(f, _)| *f == "feedclaim.yaml")
        .expect("FeedClaim CRD");
    assert_eq!(crd.spec.scope, "Cluster");
    let v = &crd.spec.versions[0];
    assert!(
        v.subresources.is_none(),
        "no status: the operator writes the whole object"
    );
    let cols = columns(&crd);
    assert_eq!(
        cols,
        ["Feed", "Namespace", "Holder", "Created For", "API", "Age"]
    );
}

#[test]
fn crds_are_namespaced_with_status_and_printer_columns() {
    for (_, crd) in crd::all()
        .into_iter()
        .filter(|(f, _)| *f != "feedclaim.yaml")
    {
        assert_eq!(crd.spec.group, "curator.buun.dev");
        assert_eq!(crd.spec.scope, "Namespaced");
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let cols = columns(&crd);
        assert!(
            cols.contains(&"Ready") || cols.contains(&"Desired"),
            "{cols:?}"
        );
        assert!(cols.contains(&"Age"));
        assert!(
            crd.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty())
        );
    }
}

#[test]
fn feedsource_printer_columns_are_the_documented_ones() {
    let crd = curator_operator::crd::all()
        .into_iter()
        .find(|(f, _)| *f == "feedsource.yaml")
        .expect("feedsource")
        .1;
    let cols = columns(&crd);
    for want in ["Worker", "Schedule", "Next Run", "Ready", "Age"] {
        assert!(cols.contains(&want), "missing column {want}: {cols:?}");
    }
}

//! Pods as the node tests watch them: Ready, Pending for want of a port, and the live Pods of
//! a Deployment by label.
#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client, ResourceExt, api::ListParams};

use super::{node::POD_WAIT, wait};

/// Whether the Pod's `Ready` condition is true.
pub fn ready(p: &Pod) -> bool {
    condition(p, |c| c.type_ == "Ready" && c.status == "True")
}

/// Whether the scheduler left the Pod Pending because no node had its (host) ports free.
pub fn unschedulable_for_ports(p: &Pod) -> bool {
    condition(p, |c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.message
                .as_deref()
                .is_some_and(|m| m.contains("free ports"))
    })
}

fn condition(p: &Pod, f: impl Fn(&k8s_openapi::api::core::v1::PodCondition) -> bool) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(f))
}

/// The Pods in `ns` matching `selector` that are not being deleted.
pub async fn live(client: &Client, ns: &str, selector: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// Waits until a live Pod in `ns` matching `selector`, other than those named in `except`, is
/// Ready; returns its name.
pub async fn wait_ready(client: &Client, ns: &str, selector: &str, except: &[&str]) -> String {
    let ready_one = async || {
        live(client, ns, selector)
            .await
            .into_iter()
            .find(|p| ready(p) && !except.contains(&p.name_any().as_str()))
            .map(|p| p.name_any())
    };
    wait::until(POD_WAIT, Duration::from_millis(200), ready_one)
        .await
        .unwrap_or_else(|| {
            panic!(
                "no Pod {selector} in {ns} became Ready within {POD_WAIT:?} (besides {except:?})"
            )
        })
}

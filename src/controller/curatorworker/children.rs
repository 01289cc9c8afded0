//! The children of a CuratorWorker: its Deployment and PodDisruptionBudget.

use k8s_openapi::api::{apps::v1::Deployment, policy::v1::PodDisruptionBudget};
use kube::{Resource, ResourceExt, api::DeleteParams};

use super::{
    super::{
        apply::{apply_if_changed, may_take},
        error::Error,
    },
    WorkerContext,
};
use crate::{
    crd::{CuratorWorker, conditions::Failure},
    worker::{
        deployment::{self, Replicas},
        scaler::Scale,
    },
};

/// What writing the children left.
pub(super) struct Children {
    /// The Deployment as applied, or as it was when nothing was written.
    pub deployment: Option<Deployment>,
    /// The replica count the Deployment was scaled from, when the operator changed it.
    pub scaled_from: Option<i32>,
    /// A problem of the spec found while building them, to report in status.
    pub problem: Option<Failure>,
}

/// Writes the children, unless the operator refuses the Temporal address (then nothing is
/// written and the refusal is the problem); a spec problem or a permanent error (a name taken by another owner)
/// is reported in status and looked at again at the poll interval (a person may hand the
/// object over, or remove it), a transient error is returned.
pub(super) async fn write(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    scale: &Scale,
    live: Option<Deployment>,
) -> Result<Children, Error> {
    let kept = |deployment, problem| Children {
        deployment,
        scaled_from: None,
        problem: Some(problem),
    };
    // Nothing is written for an address the operator may not send to: the Deployment would
    // give its pods that address and the worker's credentials.
    if let Err(e) = ctx.shared.pool.check(&w.spec.temporal.address) {
        return Ok(kept(live, Error::from(e).failure()));
    }
    // Nor for a buun-curator URL the operator may not send the token to: the worker would.
    if let Some(api) = &w.spec.curator_api
        && let Err(source) = ctx.shared.feed_apis.check(&api.url)
    {
        let ns = w.namespace().unwrap_or_default();
        let e = Error::curator_api(&ns, &api.token_secret_ref, source);
        return Ok(kept(live, e.failure()));
    }
    match write_children(w, ctx, scale, live.clone()).await {
        Ok(Ok((deployment, scaled_from))) => Ok(Children {
            deployment,
            scaled_from,
            problem: None,
        }),
        Ok(Err(message)) => Ok(kept(
            live,
            Failure {
                reason: "InvalidSpec",
                message,
            },
        )),
        Err(e) if e.is_permanent() => {
            let live = (!matches!(e, Error::NameConflict { .. }))
                .then_some(live)
                .flatten();
            Ok(kept(live, e.failure()))
        }
        Err(e) => Err(e),
    }
}

/// The Deployment as applied (or as it was, when nothing needed writing) and the replica count
/// it was scaled from; `Err` holds a spec problem found while building it.
type Written = Result<(Option<Deployment>, Option<i32>), String>;

/// Applies the Deployment and PDB when the live objects lack a wanted value, and removes a PDB
/// that is no longer wanted.
async fn write_children(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    scale: &Scale,
    live: Option<Deployment>,
) -> Result<Written, Error> {
    let ns = w.namespace().unwrap_or_default();
    let name = w.name_any();
    let uid = w.uid().unwrap_or_default();
    let owner = w.controller_owner_ref(&()).ok_or(Error::MissingUid)?;
    let live_replicas = live
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas);
    if let Some(l) = &live
        && !may_take(l.meta(), &uid)
    {
        return Err(Error::NameConflict {
            kind: "Deployment",
            name,
        });
    }
    let written = match deployment::deployment(w, owner.clone(), scale.replicas) {
        Ok(desired) => {
            let api = ctx.shared.api::<Deployment>(&ns);
            let (dep, wrote) = apply_if_changed(&api, &name, &desired, live).await?;
            if wrote {
                tracing::info!(deployment = %name, "applied worker Deployment");
            }
            let scaled_from = match scale.replicas {
                Replicas::Set(n) => live_replicas.filter(|old| *old != n),
                Replicas::External => None,
            };
            Ok((Some(dep), scaled_from))
        }
        Err(e) => Err(e.to_string()),
    };
    let pdbs = ctx.shared.api::<PodDisruptionBudget>(&ns);
    match deployment::pdb(w, owner) {
        Some(desired) => {
            let live = pdbs.get_opt(&name).await?;
            if let Some(l) = &live
                && !may_take(l.meta(), &uid)
            {
                return Err(Error::NameConflict {
                    kind: "PodDisruptionBudget",
                    name,
                });
            }
            apply_if_changed(&pdbs, &name, &desired, live).await?;
        }
        None => {
            if let Some(existing) = pdbs.get_opt(&name).await?
                && existing.owner_references().iter().any(|o| o.uid == uid)
            {
                pdbs.delete(&name, &DeleteParams::default()).await?;
            }
        }
    }
    Ok(written)
}

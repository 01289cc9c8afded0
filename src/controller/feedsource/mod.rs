//! The FeedSource controller: one Temporal Schedule per FeedSource.
//!
//! A reconcile (`stages`): observe the worker → settle the feed in buun-curator (`register`,
//! with the engine of `feed::settle`) → build the desired schedule → write it (the cheap
//! listing of `listing`, else the one sync of `schedule::sync`; from its old `place` first when
//! it moved) and read its `runs` → the status (pure, `schedule::status`), written once → what
//! to tell and when to come back (`report`). What it remembers between reconciles is in
//! `memory`, `hold` and `run_news`; deletion is `cleanup`.

use std::{sync::Arc, time::Instant};

use kube::{
    Api, ResourceExt,
    runtime::{
        controller::Action,
        finalizer::{self, Event as Finalizer},
    },
};
use tracing::Instrument;

mod claims;
mod cleanup;
mod context;
mod hold;
mod listing;
mod memory;
mod place;
mod register;
mod report;
mod run_news;
mod runs;
mod stages;

pub use context::{FEED_LOCK_WAIT, FeedContext};
pub use runs::watch as runs_watch;

use super::{
    error::Error,
    status::{self, publish},
};
use crate::crd::FeedSource;
pub use crate::crd::feedsource::FINALIZER;

/// Reconciles one FeedSource (entry point for the kube-runtime controller).
pub async fn reconcile(fs: Arc<FeedSource>, ctx: Arc<FeedContext>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = fs.namespace().unwrap_or_default();
    let api: Api<FeedSource> = ctx.shared.api(&ns);
    let span = tracing::info_span!("reconcile", kind = "FeedSource", namespace = %ns, name = %fs.name_any());
    let obj = fs.clone();
    let fresh =
        !fs.finalizers().iter().any(|f| f == FINALIZER) && fs.metadata.deletion_timestamp.is_none();
    let result = finalizer::finalizer(&api, FINALIZER, fs, |event| async {
        match event {
            Finalizer::Apply(fs) => apply(&fs, &ctx).await,
            Finalizer::Cleanup(fs) => cleanup::cleanup(&fs, &ctx).await,
        }
    })
    .instrument(span.clone())
    .await
    .map_err(Error::from);
    // The finalizer was just added, and kube-runtime would wait for the watch to bring the
    // object back: go on at once. Otherwise every new FeedSource's schedule waits behind the
    // finalizer patches of all the others (at 10,000 new FeedSources, seconds of the API
    // server's time in which Temporal is sent nothing).
    let result = match result {
        Ok(_) if fresh => {
            let mut with = (*obj).clone();
            with.finalizers_mut().push(FINALIZER.into());
            apply(&with, &ctx).instrument(span).await
        }
        other => other,
    };
    status::finished(&ctx.shared, &*obj, started, &result);
    result
}

/// Decides the retry delay after a failed reconcile: exponential per object, with jitter.
pub fn error_policy(fs: Arc<FeedSource>, err: &Error, ctx: Arc<FeedContext>) -> Action {
    status::error_policy(fs, err, &ctx.shared)
}

/// The stages, then the one exit: the status (written only when it changed), what to tell, and
/// when to come back. A new schedule is Ready as soon as it is created (one status write, on
/// the path of convergence); its next runs and the server's form come with a later listing.
async fn apply(fs: &FeedSource, ctx: &FeedContext) -> Result<Action, Error> {
    let step = stages::reconcile_children(fs, ctx).await;
    let status = stages::status_of(fs, &step);
    if let Some(status) = &status {
        publish(&ctx.shared, fs, status).await?;
    }
    report::report(ctx, fs, &step, status.as_ref()).await;
    report::next(ctx, fs, step)
}

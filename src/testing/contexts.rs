//! The controllers' contexts as tests build them: a 5 s Temporal timeout, a 5 min resync, the
//! test identity. Here rather than beside the contexts, so that the controllers do not import
//! test support.

use std::{sync::Arc, time::Duration};

use kube::runtime::reflector::Store;

use super::fixtures::IDENTITY;
use crate::{
    controller::{Shared, curatorworker::WorkerContext, feedsource::FeedContext},
    crd::FeedSource,
    schedule::BuildOptions,
    temporal::pool::Pool,
};

fn shared(client: kube::Client) -> Arc<Shared> {
    let pool = Pool::new(IDENTITY, Duration::from_secs(5));
    Arc::new(Shared::new(client, pool, Duration::from_secs(300)))
}

impl FeedContext {
    /// A context on `client` with schedule IDs under `prefix`.
    pub fn test(client: kube::Client, prefix: &str) -> Self {
        Self::new(shared(client), BuildOptions::test(prefix))
    }
}

impl WorkerContext {
    /// A context on `client`, reading FeedSources from `feeds`.
    pub fn test(client: kube::Client, feeds: Store<FeedSource>) -> Self {
        Self::new(shared(client), feeds)
    }
}

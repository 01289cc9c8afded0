//! A pool of Temporal connections keyed by address and credentials, shared by all resources.

use std::{collections::HashMap, sync::Arc, time::Duration};

use sha2::{Digest, Sha256};
use temporalio_client::{
    ClientTlsOptions, Connection, ConnectionOptions, RetryOptions, TlsOptions, Url,
};
use tokio::sync::Mutex;

use super::{TemporalError, grpc::GrpcSchedules, pace::Limiter};
use crate::metrics::Metrics;

/// Credentials for a connection, read from the Secrets a CuratorWorker references.
///
/// `Debug` never prints the material.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// PEM client certificate.
    pub client_cert: Option<Vec<u8>>,
    /// PEM client key.
    pub client_key: Option<Vec<u8>>,
    /// PEM CA bundle for the server.
    pub ca_cert: Option<Vec<u8>>,
    /// Name to verify the server certificate against.
    pub server_name: Option<String>,
    /// Whether TLS is used at all.
    pub tls: bool,
    /// API key.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("tls", &self.tls)
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "client_key",
                &self.client_key.as_ref().map(|_| "<redacted>"),
            )
            .field("ca_cert", &self.ca_cert.as_ref().map(|_| "<redacted>"))
            .field("server_name", &self.server_name)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// A digest of the credentials, so that the pool key never holds secret material.
    fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [
            self.client_cert.as_deref(),
            self.client_key.as_deref(),
            self.ca_cert.as_deref(),
            self.server_name.as_deref().map(str::as_bytes),
            self.api_key.as_deref().map(str::as_bytes),
        ] {
            match part {
                Some(p) => {
                    h.update([1]);
                    h.update((p.len() as u64).to_be_bytes());
                    h.update(p);
                }
                None => h.update([0]),
            }
        }
        h.update([u8::from(self.tls)]);
        h.finalize().into()
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    address: String,
    creds: [u8; 32],
}

/// Shared Temporal connections; cloning the pool shares it.
#[derive(Clone)]
pub struct Pool {
    conns: Arc<Mutex<HashMap<Key, Connection>>>,
    identity: String,
    timeout: Duration,
    metrics: Option<Arc<Metrics>>,
    rps: u32,
    limiters: Arc<std::sync::Mutex<Limiters>>,
}

/// One limiter per (frontend address, Temporal namespace).
type Limiters = HashMap<(String, String), Arc<Limiter>>;

impl Pool {
    /// An empty pool whose calls identify as `identity` and time out after `timeout`.
    pub fn new(identity: &str, timeout: Duration) -> Self {
        Self {
            conns: Arc::default(),
            identity: identity.to_owned(),
            timeout,
            metrics: None,
            rps: 0,
            limiters: Arc::default(),
        }
    }

    /// Paces calls to each (frontend, Temporal namespace) to `rps` per second, with a burst of
    /// the same size, to stay inside the namespace's rate limits; 0 leaves them unpaced.
    pub fn with_rps(mut self, rps: u32) -> Self {
        self.rps = rps;
        self
    }

    fn limiter(&self, address: &str, namespace: &str) -> Option<Arc<Limiter>> {
        let rps = std::num::NonZeroU32::new(self.rps)?;
        let mut m = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            m.entry((address.to_owned(), namespace.to_owned()))
                .or_insert_with(|| {
                    Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(
                        rps,
                    )))
                })
                .clone(),
        )
    }

    /// Records every RPC made through this pool in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Schedules of `namespace` at `address`, connecting on first use. A failed connection is
    /// not cached, so the next call tries again.
    pub async fn schedules(
        &self,
        address: &str,
        namespace: &str,
        creds: &Credentials,
    ) -> Result<GrpcSchedules, TemporalError> {
        let key = Key {
            address: address.to_owned(),
            creds: creds.digest(),
        };
        let mut conns = self.conns.lock().await;
        let conn = match conns.get(&key) {
            Some(c) => c.clone(),
            None => {
                let c = self.connect(address, creds).await?;
                conns.insert(key, c.clone());
                c
            }
        };
        let api = GrpcSchedules::new(conn, namespace, &self.identity, self.timeout)
            .with_limiter(self.limiter(address, namespace));
        Ok(match &self.metrics {
            Some(m) => api.with_metrics(m.clone()),
            None => api,
        })
    }

    /// Drops a cached connection (after it failed), so the next use reconnects.
    pub async fn forget(&self, address: &str, creds: &Credentials) {
        let key = Key {
            address: address.to_owned(),
            creds: creds.digest(),
        };
        self.conns.lock().await.remove(&key);
    }

    async fn connect(
        &self,
        address: &str,
        creds: &Credentials,
    ) -> Result<Connection, TemporalError> {
        let tls = creds.tls || creds.api_key.is_some();
        let scheme = if tls { "https" } else { "http" };
        let url = Url::parse(&format!("{scheme}://{address}"))
            .map_err(|e| TemporalError::Config(format!("address {address:?}: {e}")))?;
        let tls_options = tls.then(|| {
            let client = match (&creds.client_cert, &creds.client_key) {
                (Some(cert), Some(key)) => Some(
                    ClientTlsOptions::builder()
                        .client_cert(cert.clone())
                        .client_private_key(key.clone())
                        .build(),
                ),
                _ => None,
            };
            TlsOptions::builder()
                .maybe_server_root_ca_cert(creds.ca_cert.clone())
                .maybe_domain(creds.server_name.clone())
                .maybe_client_tls_options(client)
                .build()
        });
        let opts = ConnectionOptions::new(url)
            .identity(self.identity.clone())
            .maybe_tls_options(tls_options)
            .maybe_api_key(creds.api_key.clone())
            .connect_timeout(self.timeout)
            .retry_options(
                RetryOptions::builder()
                    .max_retries(1)
                    .max_elapsed_time(Some(self.timeout))
                    .build(),
            )
            .build();
        let fut = Connection::connect(opts);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(TemporalError::Connect {
                address: address.to_owned(),
                message: e.to_string(),
            }),
            Err(_) => Err(TemporalError::Connect {
                address: address.to_owned(),
                message: "connect timed out".into(),
            }),
        }
    }
}

//! A pool of Temporal connections keyed by address and credentials, shared by all resources.
//! A tenant whose address hangs or fails holds up no other tenant.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use temporalio_client::{
    ClientTlsOptions, Connection, ConnectionOptions, RetryOptions, TlsOptions, Url,
};

pub use super::creds::Credentials;
use super::{
    TemporalError,
    grpc::GrpcSchedules,
    pace::{Pace, Pacing},
};
use crate::{
    crd::address::{Address, AllowList},
    metrics::Metrics,
};

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    address: String,
    creds: [u8; 32],
}

/// One connection, its last failure, and when it was last used. Guarded by its own lock, so a
/// connect that hangs holds up only the callers of the same address and credentials.
#[derive(Default)]
struct Slot {
    conn: Option<Connection>,
    /// When the last connect failed, how many in a row, and why.
    failed: Option<(Instant, u32, TemporalError)>,
}

type Slots = HashMap<Key, (Arc<tokio::sync::Mutex<Slot>>, Instant)>;

/// Connections unused this long are dropped.
const IDLE: Duration = Duration::from_secs(3600);

/// How long a failed connect is remembered before the next attempt: 1 s, doubling per failure
/// in a row, at most 60 s.
fn retry_after(failures: u32) -> Duration {
    Duration::from_secs(1)
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(6)))
        .min(Duration::from_secs(60))
}

/// Shared Temporal connections; cloning the pool shares it.
#[derive(Clone)]
pub struct Pool {
    slots: Arc<std::sync::Mutex<Slots>>,
    identity: String,
    timeout: Duration,
    metrics: Option<Arc<Metrics>>,
    pacing: Pacing,
    max_in_flight: usize,
    limits: Arc<std::sync::Mutex<LimitsByPlace>>,
    allowed: Arc<AllowList>,
}

/// The limits of each (frontend address, Temporal namespace), and when they were last used.
type LimitsByPlace = HashMap<(String, String), (Limits, Instant)>;

/// What every caller of one (frontend address, Temporal namespace) shares.
#[derive(Clone, Default)]
struct Limits {
    /// The paces of its calls (`with_pacing`).
    pace: Option<Arc<Pace>>,
    /// Its calls in flight (`with_max_in_flight`).
    slots: Option<Arc<tokio::sync::Semaphore>>,
}

impl Pool {
    /// An empty pool whose calls identify as `identity` and time out after `timeout`.
    pub fn new(identity: &str, timeout: Duration) -> Self {
        Self {
            slots: Arc::default(),
            identity: identity.to_owned(),
            timeout,
            metrics: None,
            pacing: Pacing::Off,
            max_in_flight: 0,
            limits: Arc::default(),
            allowed: Arc::default(),
        }
    }

    /// Connects only to addresses `allowed` allows (an empty list allows every address that
    /// passes the grammar).
    pub fn with_allowed_addresses(mut self, allowed: AllowList) -> Self {
        self.allowed = Arc::new(allowed);
        self
    }

    /// PURE: `address` read by the grammar and checked against the allow-list: the one check
    /// before anything is sent to it, by this pool or by a worker Deployment.
    pub fn check(&self, address: &str) -> Result<Address, TemporalError> {
        let parsed = Address::parse(address).map_err(|e| TemporalError::Config(e.to_string()))?;
        if !self.allowed.allows(&parsed) {
            return Err(TemporalError::AddressNotAllowed(address.to_owned()));
        }
        Ok(parsed)
    }

    /// Paces the calls to each (frontend, Temporal namespace) as `pacing` says (unpaced
    /// unless told).
    pub fn with_pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// Keeps at most `max` calls to each (frontend, Temporal namespace) in flight, however
    /// many reconciles run at once (their Kubernetes reads and writes do not hold a place);
    /// 0 leaves them unlimited.
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// The pace and the places in flight of (`address`, `namespace`), made at first use.
    fn limits(&self, address: &str, namespace: &str) -> Limits {
        self.limits_at(address, namespace, Instant::now())
    }

    fn limits_at(&self, address: &str, namespace: &str, now: Instant) -> Limits {
        if self.pacing == Pacing::Off && self.max_in_flight == 0 {
            return Limits::default();
        }
        let mut m = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        // A Temporal namespace unused for an hour (a worker gone or moved) is forgotten, with
        // its pace's series.
        m.retain(|(a, n), (_, used)| {
            let keep = now.saturating_duration_since(*used) < IDLE;
            if !keep {
                self.forget_series(a, n);
            }
            keep
        });
        let entry = m
            .entry((address.to_owned(), namespace.to_owned()))
            .or_insert_with(|| {
                let limits = Limits {
                    pace: match self.pacing {
                        Pacing::Off => None,
                        Pacing::Adaptive { ceiling } => Some(Arc::new(Pace::new(address, ceiling))),
                    },
                    slots: (self.max_in_flight > 0)
                        .then(|| Arc::new(tokio::sync::Semaphore::new(self.max_in_flight))),
                };
                (limits, now)
            });
        entry.1 = now;
        entry.0.clone()
    }

    /// Removes the `curator_temporal_pace_rps` series of (`address`, `namespace`).
    fn forget_series(&self, address: &str, namespace: &str) {
        let Some(m) = &self.metrics else { return };
        for budget in super::pace::Budget::ALL {
            m.temporal_pace.remove(&crate::metrics::TemporalBudget {
                temporal_address: address.to_owned(),
                temporal_namespace: namespace.to_owned(),
                budget: budget.label().to_owned(),
            });
        }
    }

    /// The (address, Temporal namespace) pairs whose pace and places in flight are kept.
    pub fn paced(&self) -> usize {
        self.limits.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Records every RPC made through this pool in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The slot of `key`, dropping slots nobody used for [`IDLE`].
    fn slot(&self, key: Key) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        slots.retain(|_, (slot, used)| {
            now.duration_since(*used) < IDLE || Arc::strong_count(slot) > 1
        });
        let entry = slots.entry(key).or_insert_with(|| (Arc::default(), now));
        entry.1 = now;
        entry.0.clone()
    }

    /// How many connections (or remembered failures) the pool holds.
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether the pool holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedules of `namespace` at `address`, connecting on first use. One connect per address
    /// and credentials at a time, outside any lock that other connections need; a failed
    /// connect is remembered, and answered at once, for a backoff that grows per failure.
    pub async fn schedules(
        &self,
        address: &str,
        namespace: &str,
        creds: &Credentials,
    ) -> Result<GrpcSchedules, TemporalError> {
        let parsed = self.check(address)?;
        let slot = self.slot(Key {
            address: address.to_owned(),
            creds: creds.digest(),
        });
        let mut s = slot.lock().await;
        let conn = match (&s.conn, &s.failed) {
            (Some(c), _) => c.clone(),
            (None, Some((at, n, e))) if at.elapsed() < retry_after(*n) => return Err(e.clone()),
            (None, failed) => {
                let failures = failed.as_ref().map_or(0, |f| f.1);
                match self.connect(&parsed, creds).await {
                    Ok(c) => {
                        s.conn = Some(c.clone());
                        s.failed = None;
                        c
                    }
                    Err(e) => {
                        s.failed = Some((Instant::now(), failures.saturating_add(1), e.clone()));
                        return Err(e);
                    }
                }
            }
        };
        drop(s);
        let limits = self.limits(address, namespace);
        let api = GrpcSchedules::new(conn, namespace, &self.identity, self.timeout)
            .with_limiter(limits.pace, address)
            .with_in_flight(limits.slots);
        Ok(match &self.metrics {
            Some(m) => api.with_metrics(m.clone()),
            None => api,
        })
    }

    async fn connect(
        &self,
        parsed: &Address,
        creds: &Credentials,
    ) -> Result<Connection, TemporalError> {
        let address = parsed.to_string();
        let tls = creds.tls || creds.api_key.is_some();
        let url = Url::parse(&parsed.url(tls))
            .map_err(|e| TemporalError::Config(format!("address {address:?}: {e}")))?;
        // The grammar admits nothing a URL reads otherwise; this holds it to that.
        let port = url.port_or_known_default();
        if url.host_str() != Some(parsed.host.to_string().as_str()) || port != Some(parsed.port) {
            return Err(TemporalError::Config(format!(
                "address {address:?} does not read as host {} and port {}",
                parsed.host, parsed.port
            )));
        }
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
            // A refused credential is permanent: reported as the RPC's own code, not as an
            // unreachable server to retry.
            Ok(Err(temporalio_client::errors::ClientConnectError::SystemInfoCallError(status)))
                if matches!(
                    status.code(),
                    tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
                ) =>
            {
                Err(TemporalError::Rpc {
                    method: "GetSystemInfo",
                    code: status.code(),
                    message: status.message().to_owned(),
                })
            }
            Ok(Err(e)) => Err(TemporalError::Connect {
                address: address.clone(),
                message: e.to_string(),
            }),
            Err(_) => Err(TemporalError::Connect {
                address,
                message: "connect timed out".into(),
            }),
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;

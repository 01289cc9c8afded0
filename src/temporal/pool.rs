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
use crate::metrics::Metrics;

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
/// PURE: whether `address` matches one of `patterns` (an empty list allows all). A pattern is
/// the whole address, where `*` matches any run of characters (none included).
pub fn address_allowed(patterns: &[String], address: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| wildcard(p.trim(), address))
}

/// `*`-only glob matching, linear in the input (the last `*` is backtracked to).
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i].eq_ignore_ascii_case(&t[j]) {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == b'*')
}

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
    limits: Arc<std::sync::Mutex<HashMap<(String, String), Limits>>>,
    allowed: Arc<Vec<String>>,
}

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

    /// Connects only to addresses matching one of `patterns` (`*` matches any run of
    /// characters, e.g. `*.tmprl.cloud:7233`); an empty list allows every address.
    pub fn with_allowed_addresses(mut self, patterns: Vec<String>) -> Self {
        self.allowed = Arc::new(patterns);
        self
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
        if self.pacing == Pacing::Off && self.max_in_flight == 0 {
            return Limits::default();
        }
        let mut m = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((address.to_owned(), namespace.to_owned()))
            .or_insert_with(|| Limits {
                pace: match self.pacing {
                    Pacing::Off => None,
                    Pacing::Adaptive { ceiling } => Some(Arc::new(Pace::new(address, ceiling))),
                },
                slots: (self.max_in_flight > 0)
                    .then(|| Arc::new(tokio::sync::Semaphore::new(self.max_in_flight))),
            })
            .clone()
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
        if !address_allowed(&self.allowed, address) {
            return Err(TemporalError::AddressNotAllowed(address.to_owned()));
        }
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
                match self.connect(address, creds).await {
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

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::{Pool, address_allowed};

    fn allowed(patterns: &[&str], address: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        address_allowed(&patterns, address)
    }

    #[test]
    fn addresses_match_whole_patterns_with_stars() {
        assert!(allowed(&[], "anything:7233"), "no list: all allowed");
        let list = ["*.tmprl.cloud:7233", "temporal-frontend.temporal.svc:7233"];
        assert!(allowed(&list, "ns.acct.tmprl.cloud:7233"));
        assert!(
            allowed(&list, "NS.ACCT.TMPRL.CLOUD:7233"),
            "host names ignore case"
        );
        assert!(allowed(&list, "temporal-frontend.temporal.svc:7233"));
        assert!(!allowed(&list, "evil.example:7233"));
        assert!(
            !allowed(&list, "tmprl.cloud.evil.example:7233"),
            "whole address"
        );
        assert!(
            !allowed(&list, "ns.tmprl.cloud:7233.evil"),
            "no trailing text"
        );
        assert!(!allowed(&list, "temporal-frontend.temporal.svc:7234"));
        assert!(allowed(&["*"], "x:1"));
        assert!(allowed(&["a*b*c"], "aXbYbZc"));
        assert!(!allowed(&["a*b*c"], "aXbYbZ"));
    }

    #[test]
    fn one_limit_of_calls_in_flight_per_temporal_namespace() {
        let pool = Pool::new("test", Duration::from_secs(1)).with_max_in_flight(16);
        let slots = |p: &Pool, address: &str, namespace: &str| p.limits(address, namespace).slots;
        let a = slots(&pool, "t:7233", "news").expect("limited");
        let again = slots(&pool, "t:7233", "news").expect("limited");
        assert!(Arc::ptr_eq(&a, &again), "shared by the namespace's callers");
        assert_eq!(a.available_permits(), 16);
        let other = slots(&pool, "t:7233", "blogs").expect("limited");
        assert!(!Arc::ptr_eq(&a, &other), "another namespace has its own");
        let elsewhere = slots(&pool, "u:7233", "news").expect("limited");
        assert!(!Arc::ptr_eq(&a, &elsewhere), "another frontend has its own");
        let clone = pool.clone();
        assert!(Arc::ptr_eq(
            &a,
            &slots(&clone, "t:7233", "news").expect("limited")
        ));
        let unlimited = Pool::new("test", Duration::from_secs(1));
        assert!(slots(&unlimited, "t:7233", "news").is_none());
    }
}

//! Command-line interface: subcommands and flags, each flag with an environment fallback.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    crd::duration::parse_go_duration,
    temporal::{pace::Pacing, pool::Pool},
};

/// curator-operator: buun-curator workers and feed schedules, declared as Kubernetes resources.
#[derive(Debug, Parser)]
#[command(name = "curator-operator", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controllers against the cluster (kubeconfig or in-cluster config).
    Run(RunArgs),
    /// Print every CRD as YAML (the files under `crds/`).
    Crds,
    /// Apply FeedSource and CuratorWorker YAML files to Temporal, without Kubernetes.
    Sync(SyncArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags shared by every subcommand that talks to Temporal.
#[derive(Debug, Clone, Args)]
pub struct TemporalArgs {
    /// Prefix of every schedule ID, so that two clusters can share a Temporal namespace.
    #[arg(long, env = "CURATOR_SCHEDULE_ID_PREFIX", default_value = "curator")]
    pub schedule_id_prefix: String,
    /// Identity this operator records on schedules it owns and in Temporal requests.
    #[arg(long, env = "CURATOR_IDENTITY", default_value = "curator-operator")]
    pub identity: String,
    /// Most calls per second in each pacing budget of one Temporal namespace; unset, the
    /// operator finds the server's limit itself. Calls are paced per Temporal namespace in
    /// three budgets, as Temporal limits them: schedule calls (create, update, describe,
    /// patch, delete), visibility queries (ListSchedules, CountWorkflowExecutions,
    /// ListWorkflowExecutions), and the rest (GetWorkflowExecutionHistory, DescribeTaskQueue).
    /// Each pace starts at Temporal Cloud's default limits for a `*.tmprl.cloud` or
    /// `*.api.temporal.io` address (10 schedule calls, 30 queries and 100 other calls a
    /// second), and at 100 calls and 10 queries a second for any other (a self-hosted
    /// server's default visibility limit is 10); it rises while calls wait on it and Temporal
    /// accepts them, and on ResourceExhausted drops to 0.7 times the rate that was refused
    /// (the pace, or the calls actually sent in the last second when fewer); the refused call
    /// is sent again at the slower pace, up to 3 times within its timeout. A number caps each
    /// budget's pace at it; 0 leaves the calls unpaced.
    #[arg(long, env = "CURATOR_TEMPORAL_RPS")]
    pub temporal_rps: Option<u32>,
    /// Most calls in flight at once to one Temporal namespace, whatever `--concurrency` is: a
    /// reconcile waiting on the API server holds no place. 0 leaves them unlimited.
    #[arg(long, env = "CURATOR_TEMPORAL_MAX_IN_FLIGHT", default_value_t = 16)]
    pub temporal_max_in_flight: usize,
    /// Timeout of a single Temporal call.
    #[arg(long, env = "CURATOR_TEMPORAL_TIMEOUT", default_value = "10s", value_parser = parse_duration_arg)]
    pub temporal_timeout: Duration,
    /// Execution timeout of the runs of a FeedSource that sets no `workflow.executionTimeout`:
    /// Temporal ends a run that is still going then, so that a run whose activity retries
    /// forever cannot keep the feed's later runs from starting (with `overlapPolicy: Skip`
    /// they are skipped while it runs). The default outlasts a working run of buun-curator's
    /// worker (its crawl is bounded at 10 minutes, its content fetch at 30). 0 sets none.
    #[arg(long, env = "CURATOR_DEFAULT_EXECUTION_TIMEOUT", default_value = "1h", value_parser = parse_duration_arg)]
    pub default_execution_timeout: Duration,
}

/// How the operator reaches buun-curator's APIs (`curatorApi` of CuratorWorkers).
#[derive(Debug, Clone, Args)]
pub struct CuratorApiArgs {
    /// buun-curator base URLs the operator may send a CuratorWorker's token to,
    /// comma-separated `SCHEME://HOST[:PORT][/PATH]` patterns matched against the URL as
    /// parsed: HOST as in `--allowed-temporal-addresses` (labels may be `*`), PORT a port or
    /// `*` (none: the scheme's default), PATH a prefix of whole segments. Empty: any `https://`
    /// URL and loopback. Either way the token goes in cleartext (`http://`) only to loopback or
    /// to a URL an `http://` entry names, and an answer from a URL no entry names is never
    /// quoted in a status. A CuratorWorker whose URL is refused gets `CuratorApiNotAllowed`
    /// and no Deployment; nothing is sent there.
    #[arg(
        long,
        env = "CURATOR_ALLOWED_CURATOR_API_URLS",
        value_delimiter = ',',
        value_parser = crate::crd::api_url::UrlPattern::parse
    )]
    pub allowed_curator_api_urls: Vec<crate::crd::api_url::UrlPattern>,
    /// The largest answer read from buun-curator's API, in bytes; a longer one fails the call
    /// (`CuratorApiError`) unread.
    #[arg(long, env = "CURATOR_API_MAX_RESPONSE_BYTES", default_value_t = crate::curator_api::http::DEFAULT_MAX_BODY)]
    pub curator_api_max_response_bytes: usize,
    /// A proxy for every call to buun-curator's API (`http://host:port`). None by default,
    /// whatever `HTTP_PROXY`/`HTTPS_PROXY` say: the calls carry the token.
    #[arg(long, env = "CURATOR_API_PROXY", value_parser = parse_proxy)]
    pub curator_api_proxy: Option<String>,
}

impl CuratorApiArgs {
    /// The endpoints these flags describe, each call bounded by `timeout`.
    pub fn endpoints(
        &self,
        timeout: Duration,
    ) -> Result<crate::curator_api::http::Endpoints, crate::curator_api::ApiError> {
        crate::curator_api::http::Endpoints::new(crate::curator_api::http::EndpointOptions {
            timeout,
            allowed: crate::crd::api_url::UrlAllowList::new(self.allowed_curator_api_urls.clone()),
            max_body: self.curator_api_max_response_bytes,
            proxy: self.curator_api_proxy.clone(),
        })
    }
}

fn parse_proxy(s: &str) -> Result<String, String> {
    reqwest::Proxy::all(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("proxy {s:?}: {e}"))
}

/// Flags of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Temporal-related flags.
    #[command(flatten)]
    pub temporal: TemporalArgs,
    /// How often every FeedSource is re-checked against Temporal (drift repair).
    #[arg(long, env = "CURATOR_RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration_arg)]
    pub resync_interval: Duration,
    /// How often every schedule is described in full even when the cheap listing shows no
    /// change (edits of the action or input do not show in the listing).
    #[arg(long, env = "CURATOR_FULL_VERIFY_INTERVAL", default_value = "1h", value_parser = parse_duration_arg)]
    pub full_verify_interval: Duration,
    /// Temporal frontends the operator may connect to, comma-separated `HOST:PORT` patterns
    /// matched against the address as parsed (never its text): HOST is a DNS name or address
    /// whose labels may each be `*`, standing for one or more whole labels
    /// (`*.tmprl.cloud:7233`, `10.0.0.*:7233`, `*:7233`), or a bracketed IPv6 address; PORT is
    /// a port or `*`. A CuratorWorker naming any other address gets `AddressNotAllowed`: no
    /// Deployment is written for it, and no connection or credential is sent there. Empty:
    /// every address (whoever may create a CuratorWorker chooses).
    #[arg(
        long,
        env = "CURATOR_ALLOWED_TEMPORAL_ADDRESSES",
        value_delimiter = ',',
        value_parser = crate::crd::address::Pattern::parse
    )]
    pub allowed_temporal_addresses: Vec<crate::crd::address::Pattern>,
    /// How the operator reaches buun-curator's APIs.
    #[command(flatten)]
    pub curator_api: CuratorApiArgs,
    /// Let a CuratorWorker's `spec.globalIngestSchedule: Pause` pause buun-curator's global
    /// schedule (`ingest-schedule`). Off by default: every namespace shares that schedule, so
    /// one tenant's worker must not stop it for all unless a cluster admin says so. A pause the
    /// operator made is lifted when the worker stops asking, moves, or goes away, and when this
    /// is turned off.
    #[arg(long, env = "CURATOR_ALLOW_GLOBAL_SCHEDULE_PAUSE", value_parser = clap::builder::FalseyValueParser::new())]
    pub allow_global_schedule_pause: bool,
    /// Let a FeedSource take a buun-curator feed that belongs to another namespace (one a
    /// FeedSource there held first). Off by default: a tenant's FeedSource that names another
    /// namespace's feed, by `feed.id` or by URL, is told so in its status and writes nothing to
    /// it. Either way one FeedSource holds a feed at a time (its `FeedClaim`).
    #[arg(long, env = "CURATOR_ALLOW_CROSS_NAMESPACE_ADOPTION", value_parser = clap::builder::FalseyValueParser::new())]
    pub allow_cross_namespace_adoption: bool,
    /// Namespaces to watch (comma-separated); all namespaces when empty.
    #[arg(long, env = "CURATOR_WATCH_NAMESPACES", value_delimiter = ',')]
    pub watch_namespaces: Vec<String>,
    /// Log level filter (tracing `EnvFilter` syntax, e.g. `info,kube=warn`).
    #[arg(long, env = "CURATOR_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long, env = "CURATOR_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Longest delay between retries of a failing resource (exponential from 1s, ±20% jitter).
    #[arg(long, env = "CURATOR_MAX_BACKOFF", default_value = "60s", value_parser = parse_duration_arg)]
    pub max_backoff: Duration,
    /// Resources reconciled at the same time, per kind. Their calls to Temporal are limited
    /// separately (`--temporal-max-in-flight`), so a reconcile busy with the API server does
    /// not keep another from calling Temporal.
    #[arg(long, env = "CURATOR_CONCURRENCY", default_value_t = 64)]
    pub concurrency: u16,
    /// Watching all namespaces, share each kind's `--concurrency` slots between namespaces: one
    /// holds half of them at most, and an equal share while others are busy, so one tenant's
    /// hanging buun-curator API never holds every slot. The object of a reconcile over its
    /// namespace's share waits in its namespace's queue (`curator_reconciles_waiting`,
    /// `curator_reconciles_deferred_total`) and is reconciled when a slot is kept for it;
    /// `false` gives the slots in order of arrival only.
    #[arg(long, env = "CURATOR_NAMESPACE_FAIR_SHARE", default_value_t = true, action = clap::ArgAction::Set)]
    pub namespace_fair_share: bool,
    /// `/livez` fails (and the kubelet restarts the operator) when a reconcile has been running
    /// this long: every call a reconcile makes is bounded (`--temporal-timeout`, the API
    /// server's timeouts), so only a wedged process gets there. Unreachable dependencies never
    /// fail `/livez`; a restart would not bring them back.
    #[arg(long, env = "CURATOR_STALL_TIMEOUT", default_value = "5m", value_parser = parse_duration_arg)]
    pub stall_timeout: Duration,
    /// Address of the HTTP server for `/livez`, `/readyz` and `/metrics`.
    #[arg(long, env = "CURATOR_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: std::net::SocketAddr,
    /// Elect a leader on a Lease so that only one replica reconciles.
    #[arg(long, env = "CURATOR_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the Lease.
    #[arg(long, env = "CURATOR_LEASE_NAME", default_value = "curator-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (default: the pod's namespace, `POD_NAMESPACE`).
    #[arg(long, env = "CURATOR_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Lease duration: a standby takes over within this time after the leader dies.
    #[arg(long, env = "CURATOR_LEASE_DURATION", default_value = "15s", value_parser = parse_duration_arg)]
    pub lease_duration: Duration,
}

/// Output format of `sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncOutput {
    /// One line per feed and a summary.
    Text,
    /// One JSON object per feed and line (the summary goes to stderr).
    Json,
}

/// How `sync` reaches Temporal: the `temporal` CLI's own flags and environment variables.
///
/// `Debug` never prints the API key or inline key material.
#[derive(Clone, Default, Args)]
pub struct ConnectionArgs {
    /// Temporal frontend `host:port`; overrides every CuratorWorker's `spec.temporal.address`.
    #[arg(
        long = "address",
        visible_alias = "temporal-address",
        env = "TEMPORAL_ADDRESS"
    )]
    pub address: Option<String>,
    /// Use TLS (implied by any other TLS flag and by an API key).
    #[arg(long, env = "TEMPORAL_TLS", value_parser = clap::builder::FalseyValueParser::new())]
    pub tls: bool,
    /// Client certificate (PEM) for mTLS.
    #[arg(long, env = "TEMPORAL_TLS_CLIENT_CERT_PATH")]
    pub tls_cert_path: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS, inline.
    #[arg(long, env = "TEMPORAL_TLS_CLIENT_CERT_DATA", hide_env_values = true)]
    pub tls_cert_data: Option<String>,
    /// Client private key (PEM) for mTLS.
    #[arg(long, env = "TEMPORAL_TLS_CLIENT_KEY_PATH")]
    pub tls_key_path: Option<PathBuf>,
    /// Client private key (PEM) for mTLS, inline.
    #[arg(long, env = "TEMPORAL_TLS_CLIENT_KEY_DATA", hide_env_values = true)]
    pub tls_key_data: Option<String>,
    /// CA certificate (PEM) that signed the server's certificate.
    #[arg(long, env = "TEMPORAL_TLS_SERVER_CA_CERT_PATH")]
    pub tls_ca_path: Option<PathBuf>,
    /// CA certificate (PEM) that signed the server's certificate, inline.
    #[arg(long, env = "TEMPORAL_TLS_SERVER_CA_CERT_DATA", hide_env_values = true)]
    pub tls_ca_data: Option<String>,
    /// Name to verify the server's certificate against, instead of the address's host.
    #[arg(long, env = "TEMPORAL_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// API key (Temporal Cloud); sent as a bearer token over TLS. Prefer the environment
    /// variable: command lines are visible to other users of the machine.
    #[arg(long, env = "TEMPORAL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl std::fmt::Debug for ConnectionArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("ConnectionArgs")
            .field("address", &self.address)
            .field("tls", &self.tls)
            .field("tls_cert_path", &self.tls_cert_path)
            .field("tls_cert_data", &hidden(&self.tls_cert_data))
            .field("tls_key_path", &self.tls_key_path)
            .field("tls_key_data", &hidden(&self.tls_key_data))
            .field("tls_ca_path", &self.tls_ca_path)
            .field("tls_ca_data", &hidden(&self.tls_ca_data))
            .field("tls_server_name", &self.tls_server_name)
            .field("api_key", &hidden(&self.api_key))
            .finish()
    }
}

/// Flags of `sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// YAML files or directories (searched recursively for `.yaml`/`.yml`).
    #[arg(short = 'f', long = "file", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Connection to Temporal.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Kubernetes namespace assumed for documents without `metadata.namespace`.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Delete schedules owned by this set of files' namespaces whose FeedSource is no longer
    /// declared.
    #[arg(long)]
    pub prune: bool,
    /// Print what would change (creates, updates with the fields that differ, pauses, prunes)
    /// and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With `--dry-run`: exit 3 when changes are pending (for CI drift checks).
    #[arg(long, requires = "dry_run")]
    pub exit_code: bool,
    /// Describe every schedule in full instead of trusting the listing for unchanged ones
    /// (catches edits of a schedule's action that keep its spec and notes).
    #[arg(long)]
    pub verify: bool,
    /// Read how each feed's last run ended (its result, or why it failed: one read per feed
    /// whose last run ended), and exit 4 when a feed's last run failed, timed out, reported an
    /// error, runs longer than the feed's interval, or none ever started. Without it, every
    /// line still says how the last run went, from the listing and one visibility query per
    /// hundred runs in progress.
    #[arg(long)]
    pub check_runs: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: SyncOutput,
    /// Feeds worked on at the same time.
    #[arg(long, env = "CURATOR_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// How long a feed's transient Temporal errors (timeouts, Unavailable, ResourceExhausted)
    /// are retried, with exponential backoff, before the feed counts as failed.
    #[arg(long, env = "CURATOR_RETRY_TIMEOUT", default_value = "60s", value_parser = parse_duration_arg)]
    pub retry_timeout: Duration,
    /// How often progress is reported on stderr.
    #[arg(long, hide = true, default_value = "5s", value_parser = parse_duration_arg)]
    pub progress_interval: Duration,
    /// buun-curator's base URL, to register FeedSources' feeds with (as the controller does);
    /// overrides every CuratorWorker's `spec.curatorApi.url`. The token is read from
    /// `INTERNAL_API_TOKEN`, never from a flag.
    #[arg(long, env = "BUUN_CURATOR_API_URL")]
    pub curator_api_url: Option<String>,
    /// Send `TEMPORAL_API_KEY` (or the client certificate) and `INTERNAL_API_TOKEN` to the
    /// Temporal addresses and buun-curator URLs the files name. Without it they go only to
    /// `--address` and `--curator-api-url` (or their environment variables), and a run whose
    /// files name others stops before sending anything: a pull request that adds a
    /// CuratorWorker file must not route CI's secrets to a server of its choosing.
    #[arg(long)]
    pub trust_file_endpoints: bool,
    /// Temporal-related flags.
    #[command(flatten)]
    pub temporal: TemporalArgs,
}

impl TemporalArgs {
    /// How these flags pace the calls to each Temporal namespace.
    pub fn pacing(&self) -> Pacing {
        match self.temporal_rps {
            Some(0) => Pacing::Off,
            ceiling => Pacing::Adaptive {
                ceiling: ceiling.and_then(std::num::NonZeroU32::new),
            },
        }
    }

    /// A pool of Temporal connections with these flags' identity, timeout, pace and places in
    /// flight.
    pub fn pool(&self) -> Pool {
        Pool::new(&self.identity, self.temporal_timeout)
            .with_pacing(self.pacing())
            .with_max_in_flight(self.temporal_max_in_flight)
    }

    /// The schedule-building options these flags give.
    pub fn build_options(&self) -> crate::schedule::BuildOptions {
        crate::schedule::BuildOptions::new(&self.schedule_id_prefix, &self.identity)
            .with_default_execution_timeout(self.default_execution_timeout)
    }
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_go_duration(s).map_err(|e| e.to_string())
}

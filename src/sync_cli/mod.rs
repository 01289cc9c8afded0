//! `curator-operator sync`: FeedSources applied to Temporal from YAML files, without a
//! cluster, on the controller's path.
//!
//! A run: read and check every document (any problem: exit 2, nothing sent) → per Temporal
//! location one connection and one schedule listing → every feed, `--concurrency` at a time
//! ([`feed::reconcile`]): nothing for what the listing shows as `sync` left it, one
//! `CreateSchedule` for what it does not show, the shared reconcile for the rest → `--prune`
//! → one line or JSON object per feed, a summary, the exit code.
//!
//! - [`documents`]: the YAML files; [`inputs`]: documents → feeds by location;
//! - [`credentials`]: the `temporal` CLI's TLS and API-key flags;
//! - [`register`]: each feed in buun-curator first, as the controller does it;
//! - [`feed`]: one feed's work; [`stamp`]: what `sync` keeps on the schedule; [`diff`]: the
//!   fields that differ (transient errors are retried with `runtime::retry`);
//! - [`health`]: whether each feed is being ingested (its last run);
//! - [`outcome`], [`output`], [`progress`]: what the run reports.

pub mod credentials;
pub mod diff;
pub mod documents;
pub mod feed;
pub mod health;
pub mod inputs;
pub mod outcome;
pub mod output;
pub mod progress;
pub mod prune;
pub mod register;
pub mod stamp;
pub mod trust;

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    io::IsTerminal,
    process::ExitCode,
};

use futures::{StreamExt, stream};

pub use documents::{Documents, parse_documents, read_documents};

use crate::{
    config::{SyncArgs, SyncOutput},
    curator_api::FeedApi,
    runtime::{LIST_PAGE, retry},
    schedule::{BuildOptions, desired, pages::list_all},
    temporal::{Listed, ScheduleApi, TemporalError, runs::RunsApi},
};
use feed::{Feed, Mode};
use inputs::{Location, Prepared};
use outcome::{Action, Outcome};
use progress::Progress;

/// How a run works.
#[derive(Clone, Debug)]
pub struct Options {
    /// Dry run, full verification, retries.
    pub mode: Mode,
    /// Delete schedules of FeedSources no longer declared.
    pub prune: bool,
    /// Feeds worked on at the same time.
    pub concurrency: usize,
    /// Schedule ID prefix and identity.
    pub build: BuildOptions,
    /// Read how each feed's last run ended (one read per feed whose last run ended), and fail
    /// the run when one failed.
    pub check_runs: bool,
}

/// One location's connection and listing.
struct Located<A> {
    api: A,
    listing: HashMap<String, Listed>,
}

/// Syncs every prepared feed; `connect` gives the schedules of an (address, namespace).
/// Returns one outcome per feed (and per pruned schedule), sorted by resource.
pub async fn sync_all<A, F, Fut>(
    prepared: &Prepared,
    opts: &Options,
    connect: F,
    progress: Option<&Progress>,
) -> Vec<Outcome>
where
    A: ScheduleApi + RunsApi,
    F: Fn(String, String) -> Fut,
    Fut: Future<Output = Result<A, TemporalError>>,
{
    let mut located: BTreeMap<&Location, Result<Located<A>, Outcome>> = BTreeMap::new();
    let prefix = desired::listing_prefix(&opts.build.id_prefix);
    for loc in prepared.locations.keys() {
        located.insert(loc, locate(loc, &connect, &prefix, &opts.mode).await);
    }
    let mut outcomes: Vec<Outcome> = stream::iter(&prepared.feeds)
        .map(|f| {
            let key = (f.desired.address.clone(), f.desired.namespace.clone());
            let here = located.get(&key);
            async move {
                let o = match here {
                    Some(Ok(l)) => {
                        feed::reconcile(&l.api, f, l.listing.get(&f.desired.id), &opts.mode).await
                    }
                    Some(Err(failed)) => unreachable_location(f, failed),
                    None => unreachable_location(f, &Outcome::new("", "", Action::Error)),
                };
                if let Some(p) = progress {
                    p.record(&o);
                }
                o
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    // Whether each feed is being ingested, from this run's listing.
    for (loc, l) in &located {
        let Ok(l) = l else { continue };
        let here: Vec<&Feed> = prepared
            .feeds
            .iter()
            .filter(|f| (&f.desired.address, &f.desired.namespace) == (&loc.0, &loc.1))
            .collect();
        let mut found = health::assess_all(&l.api, &l.listing, &here, opts.check_runs).await;
        for o in &mut outcomes {
            if let Some(i) = found.remove(&o.schedule_id) {
                o.ingestion = Some(i);
            }
        }
    }
    if opts.prune {
        for (loc, l) in &located {
            if let Ok(l) = l {
                let declared = &prepared.locations[*loc];
                let stale = prune::stale(&l.listing, &opts.build, &prepared.namespaces, declared);
                outcomes.extend(prune::prune(&l.api, stale, &opts.mode).await);
            }
        }
    }
    outcomes.sort_by(|a, b| (&a.resource, &a.schedule_id).cmp(&(&b.resource, &b.schedule_id)));
    outcomes
}

/// Connects to one location and lists its schedules under `prefix`, with retries; the outcome
/// to report for each of its feeds when that fails.
async fn locate<A, F, Fut>(
    loc: &Location,
    connect: &F,
    prefix: &str,
    mode: &Mode,
) -> Result<Located<A>, Outcome>
where
    A: ScheduleApi,
    F: Fn(String, String) -> Fut,
    Fut: Future<Output = Result<A, TemporalError>>,
{
    let tried = mode
        .retry
        .run(|| async {
            let api = connect(loc.0.clone(), loc.1.clone()).await?;
            let listing = list_all(&api, prefix, LIST_PAGE).await?;
            Ok::<_, TemporalError>(Located { api, listing })
        })
        .await;
    let attempts = tried.attempts;
    tried.result.map_err(|e| {
        let mut o = Outcome::new("", "", Action::Error);
        o.attempts = attempts;
        o.failed(
            Action::Error,
            format!("listing schedules of {} ({}): {}", loc.1, loc.0, e),
            e.reason(),
        )
    })
}

/// Settles the pending feeds in buun-curator (`apis`: a client per API URL), then syncs every
/// feed's schedule: [`register::resolve`], then [`sync_all`]. A feed whose registration failed
/// gets no schedule call, and is reported with why.
pub async fn sync_feeds<C, A, F, Fut>(
    mut prepared: Prepared,
    opts: &Options,
    apis: &HashMap<String, C>,
    connect: F,
    progress: Option<&Progress>,
) -> Vec<Outcome>
where
    C: FeedApi,
    A: ScheduleApi + RunsApi,
    F: Fn(String, String) -> Fut,
    Fut: Future<Output = Result<A, TemporalError>>,
{
    let pending = std::mem::take(&mut prepared.pending);
    let (ready, failed) =
        register::resolve(&pending, apis, &opts.build, &opts.mode, opts.concurrency).await;
    if let Some(p) = progress {
        failed.iter().for_each(|o| p.record(o));
    }
    prepared.feeds.extend(ready);
    let mut outcomes = sync_all(&prepared, opts, connect, progress).await;
    outcomes.extend(failed);
    outcomes.sort_by(|a, b| (&a.resource, &a.schedule_id).cmp(&(&b.resource, &b.schedule_id)));
    outcomes
}

/// A feed whose location could not be listed fails with the listing's error.
fn unreachable_location(f: &Feed, failed: &Outcome) -> Outcome {
    let mut o = failed.clone();
    o.resource.clone_from(&f.resource);
    o.schedule_id.clone_from(&f.desired.id);
    o.feed.clone_from(&f.registration);
    o
}

/// Runs `sync`: prints one line (or JSON object) per feed and a summary, and returns the exit
/// code (0 in sync, 1 failures, 2 bad input, 3 pending changes with `--dry-run --exit-code`).
pub async fn run(args: SyncArgs) -> ExitCode {
    let docs = read_documents(&args.files, &args.namespace);
    let build = args.temporal.build_options();
    let mut errors = Vec::new();
    let creds = credentials::from_args(&args.connection)
        .map_err(|e| errors.push(e.to_string()))
        .ok();
    // The token is read from the environment only: a flag would show it to `ps`.
    let token = std::env::var("INTERNAL_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let api = inputs::ApiGiven {
        url: args.curator_api_url.as_deref(),
        token: token.is_some(),
    };
    let prepared = inputs::prepare_with(&docs, &build, args.connection.address.as_deref(), api)
        .map_err(|e| errors.extend(e))
        .ok();
    let endpoints = trust::endpoints(
        args.curator_api_url.as_deref(),
        args.temporal.temporal_timeout,
    )
    .map_err(|e| errors.push(e))
    .ok();
    let mut apis = HashMap::new();
    if let (Some(c), Some(p), Some(e)) = (&creds, &prepared, &endpoints) {
        let given = trust::Given {
            temporal_secret: if c.api_key.is_some() {
                Some("TEMPORAL_API_KEY")
            } else {
                c.client_cert.is_some().then_some("the client certificate")
            },
            address: args.connection.address.as_deref(),
            token: token.is_some(),
            api_url: args.curator_api_url.as_deref(),
            trust_files: args.trust_file_endpoints,
        };
        errors.extend(trust::refusals(p, &given));
        match trust::feed_clients(p, token.as_deref(), e) {
            Ok(a) => apis = a,
            Err(es) => errors.extend(es),
        }
    }
    let (Some(creds), Some(prepared), true) = (creds, prepared, errors.is_empty()) else {
        for e in &errors {
            eprintln!("error: {e}");
        }
        eprintln!(
            "{} problem(s) in the input; nothing was sent to Temporal",
            errors.len()
        );
        return ExitCode::from(output::BAD_INPUT);
    };
    let opts = Options {
        mode: Mode {
            dry_run: args.dry_run,
            verify: args.verify,
            retry: retry::Retry::within(args.retry_timeout),
        },
        prune: args.prune,
        concurrency: usize::from(args.concurrency),
        build,
        check_runs: args.check_runs,
    };
    let pool = args.temporal.pool();
    let progress = Progress::new(prepared.feeds.len() + prepared.pending.len());
    let stderr = std::io::stderr();
    let reporter = progress.report(args.progress_interval, stderr.is_terminal(), stderr);
    let outcomes = sync_feeds(
        prepared,
        &opts,
        &apis,
        |address, namespace| {
            let (pool, creds) = (pool.clone(), creds.clone());
            async move { pool.schedules(&address, &namespace, &creds).await }
        },
        Some(&*progress),
    )
    .await;
    drop(reporter);
    print(
        &outcomes,
        args.output,
        &output::summary(&outcomes, args.dry_run),
    );
    ExitCode::from(output::exit_code(
        &outcomes,
        args.dry_run,
        args.exit_code,
        args.check_runs,
    ))
}

/// One line per outcome on stdout, in `format`, and the summary (on stderr beside JSON).
fn print(outcomes: &[Outcome], format: SyncOutput, summary: &str) {
    let line = match format {
        SyncOutput::Text => output::text_line,
        SyncOutput::Json => output::json_line,
    };
    for o in outcomes {
        println!("{}", line(o));
    }
    match format {
        SyncOutput::Text => println!("{summary}"),
        SyncOutput::Json => eprintln!("{summary}"),
    }
}

//! `sync` registers FeedSources' feeds in buun-curator as the controller does (issue 11): a
//! FeedSource without `feed.id` gets its feed (created, or adopted by URL) before its schedule
//! is built; fields that differ are written back; an unchanged re-run and a dry run write
//! nothing. Without an API, a FeedSource without `feed.id` is bad input, and FeedSources with
//! one need no API. Against the fake buun-curator API and a real Temporal dev server.

mod common;

use std::{collections::HashMap, process::Command, time::Duration};

use common::wait;
use curator_operator::{
    crd::{CuratorWorker, FeedSource},
    curator_api::http::{EndpointOptions, Endpoints},
    runtime::retry::Retry,
    schedule::BuildOptions,
    sync_cli::{
        self, Documents, Options,
        feed::Mode,
        inputs::{self, ApiGiven},
        outcome::{Action, Outcome},
        output,
    },
    temporal::{ScheduleApi, grpc::GrpcSchedules, proto::Action as ScheduleAction},
    testing::{counting::Counting, curator_api::FakeCuratorApi},
};
use serde_json::Value;

const PREFIX: &str = "syncreg";
const TOKEN: &str = "internal-token";

fn options(dry_run: bool) -> Options {
    Options {
        mode: Mode {
            dry_run,
            verify: false,
            retry: Retry::within(Duration::from_secs(10)),
        },
        prune: false,
        concurrency: 8,
        build: BuildOptions::new(PREFIX, "curator-operator"),
        check_runs: false,
    }
}

fn without_id(ns: &str, name: &str) -> FeedSource {
    let mut f = FeedSource::test(ns, name).unsaved();
    f.spec.feed.id = None;
    f
}

fn repo(ns: &str, feeds: Vec<FeedSource>) -> Documents {
    Documents {
        feeds,
        workers: vec![CuratorWorker::test(ns, &common::shared().address).unsaved()],
        errors: Vec::new(),
    }
}

/// The client `sync` builds (loopback URLs are allowed without a list).
fn endpoints() -> Endpoints {
    Endpoints::new(EndpointOptions::new(Duration::from_secs(5))).expect("client")
}

/// One run with the API at `url`; the Temporal calls are counted in `temporal`.
async fn run(
    docs: &Documents,
    url: &str,
    dry_run: bool,
    temporal: &Counting<GrpcSchedules>,
) -> Vec<Outcome> {
    let o = options(dry_run);
    let given = ApiGiven {
        url: Some(url),
        token: true,
    };
    let p = inputs::prepare_with(docs, &o.build, None, given).expect("valid documents");
    let client = endpoints().api(url, TOKEN).expect("client");
    let apis = HashMap::from([(url.to_owned(), client)]);
    sync_cli::sync_feeds(
        p,
        &o,
        &apis,
        |_, _| {
            let t = temporal.clone();
            async move { Ok(t) }
        },
        None,
    )
    .await
}

async fn input_of(id: &str) -> Value {
    let api = common::schedules(&common::shared().address).await;
    let d = api.describe(id).await.expect("describe").expect("exists");
    let Some(ScheduleAction::StartWorkflow(wf)) = d.schedule.action.and_then(|a| a.action) else {
        panic!("no workflow action");
    };
    let payload = wf.input.expect("input").payloads.remove(0);
    serde_json::from_slice(&payload.data).expect("json input")
}

fn temporal_writes(c: &Counting<GrpcSchedules>) -> u64 {
    c.writes()
}

fn by_resource<'a>(out: &'a [Outcome], resource: &str) -> &'a Outcome {
    out.iter()
        .find(|o| o.resource == resource)
        .unwrap_or_else(|| panic!("no outcome for {resource}: {out:?}"))
}

#[tokio::test]
async fn feeds_are_created_adopted_and_updated_before_their_schedules() {
    let ns = "reg-sync";
    let fake = FakeCuratorApi::start(TOKEN).await;
    let adopted_id = fake.api.add("Old name", "https://example.com/adopt.xml");
    let existing_id = fake.api.add("Stale", "https://example.com/known.xml");

    let new = without_id(ns, "new");
    let mut adopt = without_id(ns, "adopt");
    adopt.spec.feed.name = "Old name".into();
    adopt.spec.feed.url = "https://example.com/adopt.xml".into();
    let mut known = FeedSource::test(ns, "known").unsaved();
    known.spec.feed.id = Some(existing_id.clone());
    known.spec.feed.name = "Known".into();
    known.spec.feed.url = "https://example.com/known.xml".into();
    // Two FeedSources of one feed: it is created once.
    let mut twin_a = without_id(ns, "twin-a");
    let mut twin_b = without_id(ns, "twin-b");
    for t in [&mut twin_a, &mut twin_b] {
        t.spec.feed.name = "Twin".into();
        t.spec.feed.url = "https://example.com/twin.xml".into();
    }
    let docs = repo(ns, vec![new, adopt, known, twin_a, twin_b]);

    // A dry run: the plan, and no write anywhere.
    let temporal = Counting::new(common::schedules(&common::shared().address).await);
    let plan = run(&docs, &fake.url, true, &temporal).await;
    assert_eq!(
        fake.api.writes(),
        0,
        "a dry run writes nothing to buun-curator"
    );
    assert_eq!(temporal_writes(&temporal), 0, "nor to Temporal");
    let words = |o: &Outcome| o.feed.as_ref().map(|f| f.action);
    assert_eq!(
        words(by_resource(&plan, &format!("{ns}/new"))),
        Some("create")
    );
    assert_eq!(
        words(by_resource(&plan, &format!("{ns}/adopt"))),
        Some("adopted")
    );
    let k = by_resource(&plan, &format!("{ns}/known"));
    assert_eq!(words(k), Some("update"));
    assert_eq!(
        k.feed.as_ref().map(|f| f.changed.clone()),
        Some(vec!["name"])
    );
    assert!(
        plan.iter()
            .all(|o| o.action == Action::Create && !o.applied),
        "{plan:?}"
    );
    assert_eq!(output::exit_code(&plan, true, true, false), output::PENDING);

    // The run.
    let out = run(&docs, &fake.url, false, &temporal).await;
    assert!(
        out.iter().all(|o| o.action == Action::Create && o.applied),
        "{out:?}"
    );
    assert_eq!(
        fake.api.count("POST /api/feeds"),
        2,
        "new and the twins' feed"
    );
    assert_eq!(fake.api.count("PATCH "), 1, "known's name");
    let feed_id = |r: &str| {
        by_resource(&out, &format!("{ns}/{r}"))
            .feed
            .as_ref()
            .and_then(|f| f.id.clone())
            .expect("a feed ID")
    };
    let new_id = feed_id("new");
    assert_eq!(
        fake.api.feed(&new_id).expect("created")["url"],
        "https://example.com/new.xml"
    );
    assert_eq!(feed_id("adopt"), adopted_id);
    assert_eq!(feed_id("known"), existing_id);
    assert_eq!(fake.api.feed(&existing_id).expect("row")["name"], "Known");
    assert_eq!(feed_id("twin-a"), feed_id("twin-b"), "one feed for both");
    for (name, id) in [
        ("new", &new_id),
        ("adopt", &adopted_id),
        ("known", &existing_id),
    ] {
        let input = input_of(&format!("{PREFIX}/{ns}/{name}")).await;
        assert_eq!(
            input["feedId"],
            id.as_str(),
            "{name}'s schedule runs its feed"
        );
    }
    assert_eq!(output::exit_code(&out, false, false, false), output::OK);
    assert!(
        output::summary(&out, false)
            .ends_with("; buun-curator feeds: 2 adopted, 2 created, 1 updated"),
        "{}",
        output::summary(&out, false)
    );

    // Nothing changed: reads only, in buun-curator and in Temporal.
    let writes = fake.api.writes();
    let before = temporal_writes(&temporal);
    let mut again = Vec::new();
    wait::until(
        Duration::from_secs(20),
        Duration::from_millis(200),
        async || {
            again = run(&docs, &fake.url, false, &temporal).await;
            again
                .iter()
                .all(|o| o.action == Action::Unchanged)
                .then_some(())
        },
    )
    .await;
    assert!(
        again.iter().all(|o| o.action == Action::Unchanged),
        "{again:?}"
    );
    assert_eq!(
        fake.api.writes(),
        writes,
        "an unchanged re-run writes no feed"
    );
    assert_eq!(temporal_writes(&temporal), before, "nor a schedule");
}

#[tokio::test]
async fn failures_of_the_api_are_per_feed_and_say_why() {
    let ns = "reg-sync-fail";
    let fake = FakeCuratorApi::start(TOKEN).await;
    let mut gone = FeedSource::test(ns, "gone").unsaved();
    gone.spec.feed.id = Some("01NOSUCHFEED".into());
    let mut twice_a = without_id(ns, "ambiguous");
    twice_a.spec.feed.url = "https://example.com/dup.xml".into();
    fake.api.add("a", "https://example.com/dup.xml");
    fake.api.add("b", "https://example.com/dup.xml");
    let docs = repo(ns, vec![gone, twice_a]);
    let temporal = Counting::new(common::schedules(&common::shared().address).await);
    let out = run(&docs, &fake.url, false, &temporal).await;
    let g = by_resource(&out, &format!("{ns}/gone"));
    assert_eq!((g.action, g.reason), (Action::Error, Some("FeedNotFound")));
    let a = by_resource(&out, &format!("{ns}/ambiguous"));
    assert_eq!((a.action, a.reason), (Action::Error, Some("AmbiguousFeed")));
    assert_eq!(
        temporal_writes(&temporal),
        0,
        "no schedule without its feed"
    );
    assert_eq!(output::exit_code(&out, false, false, false), output::FAILED);

    // A refused token fails every feed of that API, with its reason.
    let o = options(false);
    let given = ApiGiven {
        url: Some(&fake.url),
        token: true,
    };
    let p = inputs::prepare_with(&docs, &o.build, None, given).expect("valid");
    let bad = endpoints().api(&fake.url, "wrong").expect("client");
    let apis = HashMap::from([(fake.url.clone(), bad)]);
    let out = sync_cli::sync_feeds(
        p,
        &o,
        &apis,
        |_, _| {
            let t = temporal.clone();
            async move { Ok(t) }
        },
        None,
    )
    .await;
    assert!(
        out.iter()
            .all(|o| o.reason == Some("CuratorApiUnauthorized")),
        "{out:?}"
    );
}

#[test]
fn without_an_api_a_feed_without_id_is_bad_input_and_one_with_an_id_needs_none() {
    let o = options(false);
    let docs = repo("reg-none", vec![without_id("reg-none", "x")]);
    let e = inputs::prepare(&docs, &o.build, None).expect_err("no API");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("reg-none/x") && e[0].contains("feed.id is not set"),
        "{e:?}"
    );
    assert!(e[0].contains("--curator-api-url"), "{e:?}");
    // A URL without a token: the token is named.
    let given = ApiGiven {
        url: Some("http://curator:3000"),
        token: false,
    };
    let e = inputs::prepare_with(&docs, &o.build, None, given).expect_err("no token");
    assert!(e[0].contains("INTERNAL_API_TOKEN"), "{e:?}");
    // With feed.id: no API needed.
    let docs = repo(
        "reg-none",
        vec![FeedSource::test("reg-none", "y").unsaved()],
    );
    let p = inputs::prepare(&docs, &o.build, None).expect("valid");
    assert_eq!((p.feeds.len(), p.pending.len()), (1, 0));
}

/// The process reads the API from the worker's `spec.curatorApi.url` or `--curator-api-url` /
/// `BUUN_CURATOR_API_URL`, and the token from `INTERNAL_API_TOKEN`, which it never prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_the_api_from_the_flag_or_a_trusted_worker() {
    let ns = "reg-bin";
    let fake = FakeCuratorApi::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let feeds = |api: &str| {
        format!(
            "apiVersion: curator.buun.dev/v1alpha1\nkind: CuratorWorker\nmetadata: {{name: curator, namespace: {ns}}}\nspec: {{image: \"w:1\", temporal: {{address: \"{}\"}}{api}}}\n---\napiVersion: curator.buun.dev/v1alpha1\nkind: FeedSource\nmetadata: {{name: hn, namespace: {ns}}}\nspec:\n  workerRef: {{name: curator}}\n  feed: {{name: HN, url: \"https://example.com/hn.xml\"}}\n  schedule: {{every: 1h}}\n",
            common::shared().address
        )
    };
    let sync = |env: &[(&str, &str)], args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_curator-operator"));
        c.arg("sync")
            .arg("-f")
            .arg(dir.path())
            .args(["--schedule-id-prefix", PREFIX])
            .args(args);
        for v in [
            "BUUN_CURATOR_API_URL",
            "INTERNAL_API_TOKEN",
            "TEMPORAL_ADDRESS",
        ] {
            c.env_remove(v);
        }
        c.envs(env.iter().copied());
        c.output().expect("run")
    };
    let all = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    // No API anywhere: bad input, nothing sent.
    std::fs::write(dir.path().join("feeds.yaml"), feeds("")).expect("write");
    let o = sync(&[("INTERNAL_API_TOKEN", TOKEN)], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", all(&o));
    assert!(all(&o).contains("feed.id is not set"), "{}", all(&o));
    assert_eq!(fake.api.writes(), 0);

    // The API from the flag's variable.
    let o = sync(
        &[
            ("INTERNAL_API_TOKEN", TOKEN),
            ("BUUN_CURATOR_API_URL", &fake.url),
        ],
        &["--dry-run", "--exit-code", "-o", "json"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", all(&o));
    let line: Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(line["feed"]["action"], "create");
    assert_eq!(fake.api.writes(), 0);

    // The API from the worker's spec.curatorApi.url.
    let api = format!(
        ", curatorApi: {{url: \"{}\", tokenSecretRef: {{name: t, key: token}}}}",
        fake.url
    );
    std::fs::write(dir.path().join("feeds.yaml"), feeds(&api)).expect("write");
    // The token does not follow a URL that only a file names...
    let requests = || fake.api.requests.lock().expect("requests").len();
    let before = requests();
    let o = sync(&[("INTERNAL_API_TOKEN", TOKEN)], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", all(&o));
    assert!(all(&o).contains("--trust-file-endpoints"), "{}", all(&o));
    assert_eq!(requests(), before, "nothing sent");
    // ...unless the files are trusted.
    let o = sync(
        &[("INTERNAL_API_TOKEN", TOKEN)],
        &["--trust-file-endpoints"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert_eq!(fake.api.count("POST /api/feeds"), 1);
    assert!(all(&o).contains("feed created"), "{}", all(&o));
    assert!(!all(&o).contains(TOKEN), "the token is never printed");
}

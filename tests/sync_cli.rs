//! `sync` against a real Temporal dev server: the controller's path (one listing, a create
//! without a describe, nothing for what the listing shows unchanged), drift from the UI and the
//! CLI, the plan of a dry run, pauses, conflicts and prunes. RPCs are counted by method.

mod common;

use std::time::Duration;

use common::wait;
use curator_operator::{
    crd::{CuratorWorker, FeedSource, GoDuration},
    runtime::retry::Retry,
    schedule::{BuildOptions, fingerprint, pages::list_all},
    sync_cli::{
        self, Documents, Options,
        feed::Mode,
        inputs::{self, Prepared},
        outcome::{Action, Outcome},
        output, stamp,
    },
    temporal::{Listed, ScheduleApi, grpc::GrpcSchedules, memo, proto::Schedule},
    testing::counting::Counting,
};

const PREFIX: &str = "sync";

fn options(dry_run: bool, verify: bool, prune: bool) -> Options {
    Options {
        mode: Mode {
            dry_run,
            verify,
            retry: Retry::within(Duration::from_secs(30)),
        },
        prune,
        concurrency: 8,
        build: BuildOptions::new(PREFIX, "curator-operator"),
        check_runs: false,
    }
}

/// A repository of FeedSources in Kubernetes namespace `ns`, all on one worker.
fn repo(ns: &str, feeds: Vec<FeedSource>) -> Documents {
    Documents {
        feeds,
        workers: vec![CuratorWorker::test(ns, &common::shared().address).unsaved()],
        errors: Vec::new(),
    }
}

fn feed(ns: &str, name: &str) -> FeedSource {
    FeedSource::test(ns, name).unsaved()
}

fn prepared(docs: &Documents, o: &Options) -> Prepared {
    inputs::prepare(docs, &o.build, None).expect("valid documents")
}

async fn api() -> Counting<GrpcSchedules> {
    Counting::new(common::schedules(&common::shared().address).await)
}

async fn run(docs: &Documents, o: &Options, api: &Counting<GrpcSchedules>) -> Vec<Outcome> {
    let p = prepared(docs, o);
    sync_cli::sync_all(
        &p,
        o,
        |_, _| {
            let a = api.clone();
            async move { Ok(a) }
        },
        None,
    )
    .await
}

fn actions(out: &[Outcome]) -> Vec<(String, Action)> {
    out.iter().map(|o| (o.resource.clone(), o.action)).collect()
}

/// Waits until the (eventually consistent) listing satisfies `ok` for schedule `id`.
async fn until_listed(id: &str, ok: impl Fn(Option<&Listed>) -> bool) {
    let api = common::schedules(&common::shared().address).await;
    let settled = wait::until(Duration::from_secs(60), wait::EVERY, async || {
        let l = list_all(&api, "", 1000).await.expect("list");
        ok(l.get(id)).then_some(())
    })
    .await;
    assert!(settled.is_some(), "listing of {id} never settled");
}

/// Waits until the listing shows every feed of `docs` stamped as `sync` last wrote it.
async fn settle(docs: &Documents) {
    let p = prepared(docs, &options(false, false, false));
    for f in &p.feeds {
        let fp = f.desired.fingerprint.clone();
        let paused = f.desired.suspended();
        until_listed(&f.desired.id, |l| {
            l.is_some_and(|l| paused || stamp::fingerprint(&l.notes) == Some(fp.as_str()))
        })
        .await;
    }
}

fn id(ns: &str, name: &str) -> String {
    format!("{PREFIX}/{ns}/{name}")
}

/// Edits a schedule as the Temporal UI does: the whole schedule back, state (notes) and action
/// memo included, with the changes the form makes.
async fn edit_like_the_ui(id: &str, f: impl FnOnce(&mut Schedule)) {
    let raw = common::schedules(&common::shared().address).await;
    let d = raw.describe(id).await.expect("describe").expect("exists");
    let mut s = d.schedule.clone();
    f(&mut s);
    raw.update(id, s, d.conflict_token).await.expect("update");
}

#[tokio::test]
async fn a_first_run_creates_with_one_call_per_feed_and_a_rerun_only_lists() {
    let ns = "first";
    let docs = repo(ns, (0..20).map(|i| feed(ns, &format!("f{i}"))).collect());
    let api = api().await;
    let o = options(false, false, false);
    let out = run(&docs, &o, &api).await;
    assert!(
        out.iter().all(|o| o.action == Action::Create && o.applied),
        "{out:?}"
    );
    assert_eq!(api.get("CreateSchedule"), 20);
    assert_eq!(api.get("ListSchedules"), 1);
    assert_eq!(api.get("DescribeSchedule"), 0, "{:?}", api.snapshot());

    settle(&docs).await;
    api.reset();
    let again = run(&docs, &o, &api).await;
    assert!(
        again.iter().all(|o| o.action == Action::Unchanged),
        "{again:?}"
    );
    assert_eq!(
        api.snapshot().into_iter().collect::<Vec<_>>(),
        vec![("ListSchedules", 1)],
        "an unchanged re-run is one listing"
    );
}

#[tokio::test]
async fn a_changed_declaration_is_applied_and_so_is_its_revert() {
    let ns = "revert";
    let api = api().await;
    let o = options(false, false, false);
    let first = repo(ns, vec![feed(ns, "hn")]);
    run(&first, &o, &api).await;
    settle(&first).await;

    let mut changed = feed(ns, "hn");
    changed.spec.feed.fetch_limit = Some(7);
    let changed = repo(ns, vec![changed]);
    let out = run(&changed, &o, &api).await;
    assert_eq!(out[0].action, Action::Update, "{out:?}");
    let shown: Vec<String> = out[0].changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(shown, vec!["input.fetchLimit: (unset) → 7"]);
    settle(&changed).await;
    api.reset();
    assert_eq!(run(&changed, &o, &api).await[0].action, Action::Unchanged);
    assert_eq!(api.get("DescribeSchedule"), 0);

    // Back to the first declaration: the schedule memo (written once, at create) still holds
    // the first owner record, so only the stamp can tell that the schedule moved on.
    let out = run(&first, &o, &api).await;
    assert_eq!(out[0].action, Action::Update, "{out:?}");
    let raw = common::schedules(&common::shared().address).await;
    let d = raw
        .describe(&id(ns, "hn"))
        .await
        .expect("describe")
        .expect("exists");
    let want = prepared(&first, &o).feeds[0].desired.fingerprint.clone();
    assert_eq!(d.memo_info.fingerprint, Some(want));
}

#[tokio::test]
async fn edits_in_the_ui_and_the_cli_are_repaired() {
    let ns = "drift";
    let api = api().await;
    let o = options(false, false, false);
    let docs = repo(ns, vec![feed(ns, "hn")]);
    run(&docs, &o, &api).await;
    settle(&docs).await;
    let sid = id(ns, "hn");

    // The UI rewrites the spec from its form (time zone UTC, a start time) and keeps the notes.
    edit_like_the_ui(&sid, |s| {
        let spec = s.spec.as_mut().expect("spec");
        spec.timezone_name = "UTC".into();
        spec.interval[0].interval = Some(prost_wkt_types::Duration {
            seconds: 600,
            nanos: 0,
        });
    })
    .await;
    until_listed(&sid, |l| {
        l.is_some_and(|l| l.spec.as_ref().is_some_and(|s| s.timezone_name == "UTC"))
    })
    .await;
    let out = run(&docs, &o, &api).await;
    assert_eq!(out[0].action, Action::Repair, "{out:?}");
    let shown: Vec<String> = out[0].changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "spec.interval: every 10m → every 1h",
            "spec.timezone: UTC → (unset)"
        ]
    );
    let p = prepared(&docs, &o);
    let raw = common::schedules(&common::shared().address).await;
    let d = raw.describe(&sid).await.expect("describe").expect("exists");
    assert_eq!(
        Some(fingerprint::of(&d.schedule)),
        p.feeds[0].expected.as_ref().map(|e| e.0.clone()),
        "back to the predicted server form"
    );
    until_listed(&sid, |l| {
        l.is_some_and(|l| l.spec.as_ref().is_some_and(|s| s.timezone_name.is_empty()))
    })
    .await;
    api.reset();
    assert_eq!(run(&docs, &o, &api).await[0].action, Action::Unchanged);
    assert_eq!(api.get("DescribeSchedule"), 0);

    // The CLI replaces everything: spec, action (and its memo), state.
    common::cli(
        &common::shared().address,
        &[
            "schedule",
            "update",
            "--schedule-id",
            &sid,
            "--interval",
            "7m",
            "--workflow-id",
            "evil",
            "--task-queue",
            "elsewhere",
            "--type",
            "SingleFeedIngestionWorkflow",
            "--input",
            r#"{"feedId":"evil"}"#,
        ],
    );
    until_listed(&sid, |l| {
        l.is_some_and(|l| {
            l.spec.as_ref().is_some_and(|s| {
                s.interval
                    .first()
                    .and_then(|i| i.interval.as_ref())
                    .map(|d| d.seconds)
                    == Some(420)
            })
        })
    })
    .await;
    let out = run(&docs, &o, &api).await;
    assert_eq!(out[0].action, Action::Repair, "{out:?}");
    let fields: Vec<&str> = out[0].changes.iter().map(|c| c.field.as_str()).collect();
    for f in [
        "spec.interval",
        "workflow.id",
        "workflow.taskQueue",
        "input.feedId",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
}

#[tokio::test]
async fn an_edit_of_the_action_alone_needs_verify() {
    let ns = "verify";
    let api = api().await;
    let docs = repo(ns, vec![feed(ns, "hn")]);
    run(&docs, &options(false, false, false), &api).await;
    settle(&docs).await;
    let sid = id(ns, "hn");
    edit_like_the_ui(&sid, |s| {
        if let Some(curator_operator::temporal::proto::Action::StartWorkflow(wf)) =
            s.action.as_mut().and_then(|a| a.action.as_mut())
        {
            wf.task_queue.as_mut().expect("queue").name = "elsewhere".into();
        }
    })
    .await;
    // Spec and notes unchanged: the listing cannot show it (as for the controller between full
    // verifications).
    let out = run(&docs, &options(false, false, false), &api).await;
    assert_eq!(out[0].action, Action::Unchanged);
    let out = run(&docs, &options(false, true, false), &api).await;
    assert_eq!(out[0].action, Action::Repair, "{out:?}");
    assert_eq!(
        out[0].changes[0].to_string(),
        "workflow.taskQueue: elsewhere → buun-curator"
    );
}

fn every_kind_of_spec(ns: &str) -> Vec<FeedSource> {
    let mut out = Vec::new();
    let mut add = |name: &str, f: &dyn Fn(&mut FeedSource)| {
        let mut fs = feed(ns, name);
        f(&mut fs);
        out.push(fs);
    };
    let crons = |c: &[&str]| -> Vec<String> { c.iter().map(|s| (*s).to_owned()).collect() };
    add("weekdays", &|f| {
        f.spec.schedule.every = None;
        f.spec.schedule.cron = crons(&["30 7 * * MON-FRI", "@daily"]);
        f.spec.schedule.timezone = Some("Europe/Berlin".into());
        f.spec.schedule.jitter = Some(GoDuration::new("30s"));
    });
    add("steps", &|f| {
        f.spec.schedule.every = None;
        f.spec.schedule.cron = crons(&["*/15 9-17/2 1,15 jan-MAR 5-7 # office hours"]);
    });
    add("sundays", &|f| {
        f.spec.schedule.every = None;
        f.spec.schedule.cron = crons(&["0 0 * * 7", "0 12 * * 3/2", "@hourly", "@weekly"]);
    });
    add("seconds", &|f| {
        f.spec.schedule.every = None;
        f.spec.schedule.cron = crons(&["CRON_TZ=Asia/Tokyo 10 0 12 * * * 2030"]);
    });
    add("every-cron", &|f| {
        f.spec.schedule.every = None;
        f.spec.schedule.cron = crons(&["@every 90m/5m"]);
    });
    add("calendar", &|f| {
        f.spec.schedule.every = None;
        f.spec.schedule.calendars = serde_json::from_value(serde_json::json!([
            {"hour": "9", "dayOfWeek": "MON,wed", "comment": "mornings"},
            {"minute": "*/20", "hour": "22-23", "month": "dec"}
        ]))
        .expect("calendars");
    });
    add("offset", &|f| {
        f.spec.schedule.every = Some(GoDuration::new("2h"));
        f.spec.schedule.offset = Some(GoDuration::new("15m"));
        f.spec.schedule.start_at =
            serde_json::from_value(serde_json::json!("2030-01-01T00:00:00Z")).ok();
        f.spec.schedule.overlap_policy =
            serde_json::from_value(serde_json::json!("BufferOne")).expect("policy");
        f.spec.schedule.pause_on_failure = true;
    });
    add("workflow", &|f| {
        f.spec.feed.fetch_limit = Some(50);
        f.spec.feed.domain_fetch_delay = Some(GoDuration::new("1500ms"));
        f.spec.feed.extra_input = serde_json::from_value(
            serde_json::json!([{"name": "summaryStyle", "value": {"length": "short"}}]),
        )
        .expect("extra");
        f.spec.workflow = serde_json::from_value(serde_json::json!({
            "executionTimeout": "30m", "taskTimeout": "15s",
            "retryPolicy": {"initialInterval": "2s", "backoffCoefficient": 1.5, "maximumAttempts": 3}
        }))
        .expect("workflow");
    });
    out
}

#[tokio::test]
async fn the_server_form_of_every_kind_of_spec_is_predicted() {
    let ns = "forms";
    let api = api().await;
    let o = options(false, false, false);
    let docs = repo(ns, every_kind_of_spec(ns));
    let p = prepared(&docs, &o);
    assert!(p.feeds.iter().all(|f| f.expected.is_some()));
    let out = run(&docs, &o, &api).await;
    assert!(out.iter().all(|o| o.action == Action::Create), "{out:?}");
    settle(&docs).await;
    let raw = common::schedules(&common::shared().address).await;
    let listing = list_all(&raw, "", 1000).await.expect("list");
    for f in &p.feeds {
        let (whole, spec) = f.expected.clone().expect("predicted");
        let d = raw
            .describe(&f.desired.id)
            .await
            .expect("describe")
            .expect("exists");
        assert_eq!(
            fingerprint::of(&d.schedule),
            whole,
            "{}: described",
            f.resource
        );
        let l = &listing[&f.desired.id];
        assert_eq!(
            fingerprint::of_spec(l.spec.as_ref()),
            spec,
            "{}: listed",
            f.resource
        );
    }
    api.reset();
    let again = run(&docs, &o, &api).await;
    assert!(
        again.iter().all(|o| o.action == Action::Unchanged),
        "{again:?}"
    );
    assert_eq!(api.get("DescribeSchedule"), 0);
}

#[tokio::test]
async fn a_dry_run_plans_everything_and_writes_nothing() {
    let ns = "plan";
    let api = api().await;
    let names = ["same", "edited", "drifted", "suspend", "removed"];
    let before = repo(ns, names.iter().map(|n| feed(ns, n)).collect());
    run(&before, &options(false, false, false), &api).await;
    settle(&before).await;
    edit_like_the_ui(&id(ns, "drifted"), |s| {
        s.spec.as_mut().expect("spec").timezone_name = "UTC".into()
    })
    .await;
    until_listed(&id(ns, "drifted"), |l| {
        l.is_some_and(|l| l.spec.as_ref().is_some_and(|s| s.timezone_name == "UTC"))
    })
    .await;

    let mut edited = feed(ns, "edited");
    edited.spec.feed.fetch_limit = Some(9);
    let after = repo(
        ns,
        vec![
            feed(ns, "same"),
            edited,
            feed(ns, "drifted"),
            feed(ns, "suspend").suspended(),
            feed(ns, "new"),
        ],
    );
    api.reset();
    let plan = run(&after, &options(true, false, true), &api).await;
    assert_eq!(
        api.writes(),
        0,
        "a dry run writes nothing: {:?}",
        api.snapshot()
    );
    let r = |n: &str| format!("{ns}/{n}");
    assert_eq!(
        actions(&plan),
        vec![
            (r("drifted"), Action::Repair),
            (r("edited"), Action::Update),
            (r("new"), Action::Create),
            (r("removed"), Action::Prune),
            (r("same"), Action::Unchanged),
            (r("suspend"), Action::Pause),
        ]
    );
    assert!(plan.iter().all(|o| !o.applied));
    assert_eq!(
        plan[1].changes[0].to_string(),
        "input.fetchLimit: (unset) → 9"
    );
    assert_eq!(output::exit_code(&plan, true, true, false), output::PENDING);

    let applied = run(&after, &options(false, false, true), &api).await;
    assert!(applied.iter().all(|o| !o.action.failed()), "{applied:?}");
    assert_eq!(
        applied.iter().filter(|o| o.applied).count(),
        5,
        "all but the unchanged one: {applied:?}"
    );
    settle(&after).await;
    api.reset();
    let clean = run(&after, &options(true, false, true), &api).await;
    assert_eq!(
        output::exit_code(&clean, true, true, false),
        output::OK,
        "{clean:?}"
    );
    assert_eq!(api.writes(), 0);
}

async fn state_of(id: &str) -> curator_operator::temporal::proto::ScheduleState {
    let raw = common::schedules(&common::shared().address).await;
    let d = raw.describe(id).await.expect("describe").expect("exists");
    d.schedule.state.unwrap_or_default()
}

#[tokio::test]
async fn suspend_resume_and_suspend_again_all_reach_the_schedule() {
    let ns = "pauses";
    let api = api().await;
    let o = options(false, false, false);
    let running = repo(ns, vec![feed(ns, "hn")]);
    let suspended = repo(ns, vec![feed(ns, "hn").suspended()]);
    let sid = id(ns, "hn");
    run(&running, &o, &api).await;
    for round in 0..2 {
        settle(&running).await;
        assert_eq!(
            run(&suspended, &o, &api).await[0].action,
            Action::Pause,
            "round {round}"
        );
        assert!(state_of(&sid).await.paused, "round {round}: paused");
        until_listed(&sid, |l| l.is_some_and(|l| l.paused)).await;
        assert_eq!(
            run(&running, &o, &api).await[0].action,
            Action::Unpause,
            "round {round}"
        );
        let state = state_of(&sid).await;
        assert!(!state.paused, "round {round}: unpaused");
        assert!(
            stamp::fingerprint(&state.notes).is_some(),
            "stamped again: {state:?}"
        );
    }
}

#[tokio::test]
async fn a_pause_made_by_a_person_is_kept_and_reported() {
    let ns = "held";
    let api = api().await;
    let o = options(false, false, false);
    let docs = repo(ns, vec![feed(ns, "hn")]);
    run(&docs, &o, &api).await;
    settle(&docs).await;
    common::cli(
        &common::shared().address,
        &[
            "schedule",
            "toggle",
            "--schedule-id",
            &id(ns, "hn"),
            "--pause",
            "--reason",
            "feed is down",
        ],
    );
    until_listed(&id(ns, "hn"), |l| l.is_some_and(|l| l.paused)).await;
    api.reset();
    let out = run(&docs, &o, &api).await;
    assert_eq!(out[0].action, Action::Unchanged);
    assert_eq!(out[0].held_pause.as_deref(), Some("feed is down"));
    assert_eq!(api.writes(), 0);
}

#[tokio::test]
async fn a_schedule_someone_else_owns_is_a_conflict() {
    let ns = "taken";
    let raw = common::schedules(&common::shared().address).await;
    let docs = repo(ns, vec![feed(ns, "hn")]);
    let o = options(false, false, false);
    let mut theirs = prepared(&docs, &o).feeds[0].desired.clone();
    theirs.owner.name = "someone-else".into();
    raw.create(
        &theirs.id,
        theirs.schedule.clone(),
        memo::schedule_memo(&theirs.owner),
    )
    .await
    .expect("create");
    until_listed(&theirs.id, |l| l.is_some()).await;
    let api = api().await;
    let out = run(&docs, &o, &api).await;
    assert_eq!(out[0].action, Action::Conflict, "{out:?}");
    assert_eq!(out[0].reason, Some("ScheduleConflict"));
    assert_eq!(api.writes(), 0);
    assert_eq!(output::exit_code(&out, false, false, false), output::FAILED);
    assert!(output::summary(&out, false).contains("1 failed (ScheduleConflict: 1)"));
}

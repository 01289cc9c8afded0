//! Property tests: arbitrary specs never panic the builders, and whatever they build is valid
//! by construction (a schedule request Temporal can take, a Deployment the API server takes, a
//! replica count inside its bounds).

use std::time::Duration;

use curator_operator::{
    crd::{
        CuratorWorker, FeedSource, GoDuration,
        curatorworker::TemporalConnection,
        feedsource::{CalendarSpec, InputField, OverlapPolicy},
    },
    schedule::{BuildOptions, desired::build, fingerprint},
    temporal::{proto::Action, queue::QueueLoad},
    worker::{
        deployment::{Replicas, deployment, pdb},
        scaler::{self, Inputs, Params},
    },
};
use kube::Resource;
use proptest::prelude::*;
use serde_json::{Value, json};

fn duration() -> impl Strategy<Value = GoDuration> {
    prop_oneof![
        12 => (1u64..100_000, prop::sample::select(vec!["h", "m", "s", "ms", "us", "ns"]))
            .prop_map(|(n, u)| GoDuration::new(format!("{n}{u}"))),
        1 => ".{0,12}".prop_map(GoDuration::new),
        1 => Just(GoDuration::new("0s")),
        1 => Just(GoDuration::new("99999999999999999999h")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

prop_compose! {
    fn feed_spec()(
        id in ".{0,30}", name in ".{0,30}",
        url in prop_oneof![1 => ".{0,40}", 6 => "https?://[a-z]{1,10}\\.[a-z]{2,3}/[a-z/]{0,10}"],
        fetch_limit in any::<Option<i32>>(),
        every in prop::option::of(duration()), offset in prop::option::of(duration()),
        jitter in prop::option::of(duration()), catchup in duration(),
        cron in prop::collection::vec(".{0,20}", 0..3),
        calendars in prop::collection::vec(prop::option::of("[0-9*,/-]{0,6}"), 0..3),
        timezone in prop::option::of(".{0,20}"),
        start in prop::option::of(-1_000_000_000i64..4_000_000_000), end in prop::option::of(-1_000_000_000i64..4_000_000_000),
        extra in prop::collection::btree_map("[a-zA-Z]{0,12}", json_value(), 0..5),
        delay in prop::option::of(duration()),
        suspend in any::<bool>(),
        overlap in prop::sample::select(vec![OverlapPolicy::Skip, OverlapPolicy::BufferAll, OverlapPolicy::AllowAll]),
        exec in prop::option::of(duration()),
    ) -> curator_operator::crd::FeedSourceSpec {
        let mut s = FeedSource::test("ns", "n").spec;
        s.feed.id = Some(id); s.feed.name = name; s.feed.url = url; s.feed.fetch_limit = fetch_limit;
        s.feed.domain_fetch_delay = delay;
        s.feed.extra_input = extra.into_iter().map(|(name, value)| InputField { name, value }).collect();
        s.schedule.every = every; s.schedule.offset = offset; s.schedule.jitter = jitter;
        s.schedule.catchup_window = catchup; s.schedule.cron = cron; s.schedule.timezone = timezone;
        s.schedule.calendars = calendars.into_iter().map(|h| CalendarSpec { hour: h, ..Default::default() }).collect();
        let t = |x: i64| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::from_second(x).expect("in range"));
        s.schedule.start_at = start.map(t); s.schedule.end_at = end.map(t);
        s.schedule.overlap_policy = overlap;
        s.suspend = suspend;
        s.workflow.execution_timeout = exec;
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn schedule_builder_never_panics_and_builds_valid_requests(
        spec in feed_spec(),
        ns in "[a-z0-9-]{1,20}",
        name in "[a-z0-9.-]{1,40}",
    ) {
        let opts = BuildOptions::new("p", "op");
        let built = build(&ns, &name, "uid", &spec, &TemporalConnection::test("t:7233"), &opts);
        if std::env::var_os("PROPTEST_REPORT").is_some() {
            eprintln!("BUILT {}", built.is_ok());
        }
        if let Ok(d) = built {
            prop_assert_eq!(&d.id, &format!("p/{ns}/{name}"));
            prop_assert_eq!(d.fingerprint.len(), 64);
            prop_assert_eq!(&d.fingerprint, &fingerprint::of(&d.schedule));
            let sp = d.schedule.spec.as_ref().expect("spec");
            prop_assert!(!sp.interval.is_empty() || !sp.cron_string.is_empty() || !sp.calendar.is_empty());
            for i in &sp.interval {
                let every = i.interval.as_ref().expect("interval");
                prop_assert!(every.seconds > 0 || every.nanos > 0);
                if let Some(p) = &i.phase { prop_assert!((p.seconds, p.nanos) < (every.seconds, every.nanos)); }
            }
            if let (Some(a), Some(b)) = (&sp.start_time, &sp.end_time) { prop_assert!((a.seconds, a.nanos) < (b.seconds, b.nanos)); }
            let pol = d.schedule.policies.as_ref().expect("policies");
            let cw = pol.catchup_window.as_ref().expect("catchup window always sent");
            prop_assert!(cw.seconds > 0 || cw.nanos > 0);
            let Some(Action::StartWorkflow(wf)) = d.schedule.action.as_ref().and_then(|a| a.action.as_ref()) else {
                return Err(TestCaseError::fail("no start-workflow action"));
            };
            let payload = &wf.input.as_ref().expect("input").payloads[0];
            prop_assert!(payload.data.len() <= 2 * 1024 * 1024);
            let v: Value = serde_json::from_slice(&payload.data).expect("valid JSON");
            prop_assert_eq!(&v["feedId"], &json!(spec.feed.id.clone().unwrap_or_default()));
            prop_assert_eq!(&v["feedUrl"], &json!(spec.feed.url));
            prop_assert!(v.get("etag").is_none() && v.get("lastModified").is_none());
            prop_assert_eq!(d.schedule.state.as_ref().map(|s| s.paused), Some(spec.suspend));
        }
    }

    #[test]
    fn deployment_builder_never_panics_and_owns_replicas_as_asked(
        image in ".{0,30}",
        env_names in prop::collection::vec("[A-Z_]{1,30}", 0..5),
        port in 1i32..65536,
        replicas in prop::option::of(0i32..50),
        max in prop::option::of(1i32..50),
    ) {
        let mut w = CuratorWorker::test("ns", "t:7233");
        w.spec.image = image;
        w.spec.health_port = port;
        w.spec.env = env_names.iter().map(|n| k8s_openapi::api::core::v1::EnvVar { name: n.clone(), value: Some("v".into()), value_from: None }).collect();
        w.spec.replicas = replicas;
        w.spec.autoscaling = max.map(|m| serde_json::from_value(json!({"maxReplicas": m})).expect("autoscaling"));
        let owner = w.controller_owner_ref(&()).expect("owner");
        let mode = match replicas { Some(n) => Replicas::Set(n), None => Replicas::External };
        if let Ok(d) = deployment(&w, owner.clone(), mode) {
            let v = serde_json::to_value(&d).expect("json");
            match mode {
                Replicas::Set(n) => prop_assert_eq!(&v["spec"]["replicas"], &json!(n)),
                Replicas::External => prop_assert!(v["spec"].get("replicas").is_none()),
            }
            let env = v["spec"]["template"]["spec"]["containers"][0]["env"].as_array().expect("env").clone();
            prop_assert_eq!(&env[0]["name"], "TEMPORAL_HOST");
            let names: Vec<&str> = env.iter().filter_map(|e| e["name"].as_str()).collect();
            let mut unique = names.clone(); unique.sort(); unique.dedup();
            let user_dupes = env_names.len() - { let mut u = env_names.clone(); u.sort(); u.dedup(); u.len() };
            prop_assert_eq!(unique.len() + user_dupes, names.len(), "no clash with the operator's variables");
            prop_assert_eq!(&v["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"], "curator");
        }
        let _ = pdb(&w, owner);
    }

    #[test]
    fn scaling_stays_within_bounds_and_never_acts_on_missing_data(
        min in 0i32..5, extra in 0i32..10, target in 1i32..100,
        backlog in prop::option::of(0i64..1_000_000), running in 0i64..1000,
        feeds in 0i32..100_000, fpr in prop::option::of(1i32..1000),
        current in 0i32..20, next_in in prop::option::of(-1000i64..100_000),
        lower_ago in prop::option::of(0i64..10_000),
    ) {
        let params = Params {
            min, max: min + extra + 1, target_backlog: target, feeds_per_replica: fpr,
            prewarm: Duration::from_secs(120), scale_down_delay: Duration::from_secs(300), poll_interval: Duration::from_secs(15),
        };
        let now = jiff::Timestamp::from_second(1_900_000_000).expect("ts");
        let at = |s: i64| jiff::Timestamp::from_second(1_900_000_000 + s).expect("ts");
        let d = scaler::decide(&Inputs {
            params, load: backlog.map(|b| QueueLoad { backlog: b, running }), feeds,
            next_run: next_in.map(at), current, lower_since: lower_ago.map(|a| at(-a)), now,
        });
        match backlog {
            None => prop_assert_eq!(d.replicas, current),
            Some(_) => {
                prop_assert!(d.replicas == current || (params.min..=params.max).contains(&d.replicas));
                if running > 0 { prop_assert!(d.replicas >= 1, "{}", d.message); }
                if d.replicas > current { prop_assert!(d.replicas <= params.max); }
            }
        }
    }
}

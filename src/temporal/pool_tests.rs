use std::{sync::Arc, time::Duration};

use super::{IDLE, Instant, Metrics, Pool};
use crate::{
    crd::address::{AllowList, Pattern},
    temporal::TemporalError,
};

#[test]
fn an_address_is_read_by_the_grammar_and_checked_before_any_connection() {
    let list = AllowList::new(vec![Pattern::parse("*.tmprl.cloud:7233").expect("pattern")]);
    let pool = Pool::new("test", Duration::from_secs(1)).with_allowed_addresses(list);
    assert!(pool.check("ns.acct.tmprl.cloud:7233").is_ok());
    assert!(matches!(
        pool.check("evil.example:7233"),
        Err(TemporalError::AddressNotAllowed(_))
    ));
    assert!(matches!(
        pool.check("evil.example#.tmprl.cloud:7233"),
        Err(TemporalError::Config(_))
    ));
    let open = Pool::new("test", Duration::from_secs(1));
    assert!(
        matches!(
            open.check("127.0.0.1@evil.example:7233"),
            Err(TemporalError::Config(_))
        ),
        "the grammar holds without a list too"
    );
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

#[test]
fn a_temporal_namespace_unused_for_an_hour_is_forgotten_with_its_series() {
    let metrics = Arc::new(Metrics::default());
    let pool = Pool::new("test", Duration::from_secs(1))
        .with_max_in_flight(16)
        .with_metrics(metrics.clone());
    let labels = crate::metrics::TemporalBudget {
        temporal_address: "t:7233".into(),
        temporal_namespace: "gone".into(),
        budget: "schedule".into(),
    };
    metrics.temporal_pace.get_or_create(&labels).set(10.0);
    let t0 = Instant::now();
    pool.limits_at("t:7233", "gone", t0);
    pool.limits_at("t:7233", "news", t0 + IDLE / 2);
    assert_eq!(pool.paced(), 2);
    pool.limits_at("t:7233", "news", t0 + IDLE);
    assert_eq!(pool.paced(), 1, "the unused one is forgotten");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &{
        let mut r = prometheus_client::registry::Registry::default();
        r.register("pace", "", metrics.temporal_pace.clone());
        r
    })
    .expect("encode");
    assert!(!text.contains("gone"), "{text}");
}

use super::*;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn go(a: Admit) -> Ticket {
    match a {
        Admit::Now(t) => t,
        Admit::Wait(d) => panic!("told to wait {d:?}"),
    }
}

fn wait(a: Admit) -> Duration {
    match a {
        Admit::Wait(d) => d,
        Admit::Now(_) => panic!("let through"),
    }
}

#[test]
fn each_method_counts_against_its_budget() {
    for m in [
        "CreateSchedule",
        "UpdateSchedule",
        "DescribeSchedule",
        "PatchSchedule",
        "DeleteSchedule",
    ] {
        assert_eq!(Budget::of(m), Budget::Schedule, "{m}");
    }
    for m in [
        "ListSchedules",
        "CountWorkflowExecutions",
        "ListWorkflowExecutions",
    ] {
        assert_eq!(Budget::of(m), Budget::Visibility, "{m}");
    }
    for m in ["GetWorkflowExecutionHistory", "DescribeTaskQueue"] {
        assert_eq!(Budget::of(m), Budget::Namespace, "{m}");
    }
}

#[test]
fn temporal_cloud_starts_at_its_documented_limits_and_a_self_hosted_server_apart() {
    for cloud in [
        "news.a1b2c.tmprl.cloud:7233",
        "NEWS.A1B2C.TMPRL.CLOUD:7233",
        "us-east-1.aws.api.temporal.io:7233",
    ] {
        assert!(is_cloud(cloud), "{cloud}");
        assert_eq!(start_rate(cloud, Budget::Schedule), 10.0);
        assert_eq!(start_rate(cloud, Budget::Visibility), 30.0);
    }
    for own in [
        "temporal-frontend.temporal.svc:7233",
        "127.0.0.1:7233",
        "tmprl.cloud.example.com:7233",
        "faketmprl.cloud:7233",
    ] {
        assert!(!is_cloud(own), "{own}");
        assert_eq!(start_rate(own, Budget::Schedule), 100.0);
        assert_eq!(start_rate(own, Budget::Visibility), 10.0);
    }
}

#[test]
fn a_full_bucket_gives_one_seconds_burst_then_spaces_the_calls() {
    let t0 = Instant::now();
    let mut c = Controller::new(10.0, None, t0);
    for _ in 0..10 {
        go(c.admit(t0));
    }
    assert_eq!(wait(c.admit(t0)), secs(0.1));
    // Asked again when told: let through.
    go(c.admit(t0 + secs(0.1)));
}

#[test]
fn the_pace_rises_only_while_callers_wait_on_it() {
    let t0 = Instant::now();
    let mut idle = Controller::new(10.0, None, t0);
    go(idle.admit(t0));
    assert_eq!(idle.rate(t0 + secs(3600.0)), 10.0, "no caller waited");
    // A caller told to wait and never asking again stops counting after its turn.
    let mut gave_up = Controller::new(10.0, None, t0);
    for _ in 0..10 {
        go(gave_up.admit(t0));
    }
    wait(gave_up.admit(t0));
    let after = gave_up.rate(t0 + secs(3600.0));
    assert!(after > 10.0 && after < 13.0, "{after}");

    let mut busy = Controller::new(10.0, None, t0);
    let mut t = t0;
    let mut sent = 0;
    while t < t0 + secs(5.0) {
        match busy.admit(t) {
            Admit::Now(_) => sent += 1,
            Admit::Wait(d) => t += d,
        }
    }
    let rate = busy.rate(t);
    assert!(rate > 20.0, "20% a second for 5 s of waiting: {rate}");
    assert!(sent > 50, "more calls than 10 a second: {sent}");
}

/// Lets `n` calls through at `t` (a full bucket holds a second's worth).
fn sent(c: &mut Controller, t: Instant, n: usize) -> Vec<Ticket> {
    (0..n).map(|_| go(c.admit(t))).collect()
}

#[test]
fn a_refusal_cuts_the_pace_once_and_old_calls_do_not_cut_it_again() {
    let t0 = Instant::now();
    let mut c = Controller::new(20.0, None, t0);
    let tickets = sent(&mut c, t0, 20);
    let (early, also_early) = (tickets[0], tickets[1]);
    assert!(c.refused(early, t0));
    assert_eq!(c.rate(t0), 20.0 * BETA);
    assert!(
        !c.refused(also_early, t0),
        "sent at the old pace: no second cut"
    );
    // No burst credit is left after a cut.
    assert_eq!(wait(c.admit(t0)), secs(1.0 / 14.0));
    let later = go(c.admit(t0 + secs(1.0 / 14.0)));
    // The pace climbed a little while that caller waited; a call sent at it cuts again.
    let before = c.rate(t0 + secs(0.1));
    assert!(
        before > 20.0 * BETA && before < 20.0 * BETA + 0.5,
        "{before}"
    );
    assert!(c.refused(later, t0 + secs(0.1)), "sent at the new pace");
    assert!((c.rate(t0 + secs(0.1)) - before * BETA).abs() < 1e-9);
}

#[test]
fn a_refusal_when_fewer_calls_went_out_cuts_from_what_went_out() {
    // A self-hosted start (100 a second) that something else held to 12 calls in a second.
    let t0 = Instant::now();
    let mut c = Controller::new(100.0, None, t0);
    let mut tickets = Vec::new();
    for i in 0..12 {
        tickets.push(go(c.admit(t0 + secs(f64::from(i) / 12.0))));
    }
    assert!(c.refused(tickets[11], t0 + secs(0.99)));
    let rate = c.rate(t0 + secs(0.99));
    assert!((rate - 12.0 * BETA).abs() < 0.01, "{rate}");
}

/// Waits in `c` for `seconds` of calls, always with a caller waiting; returns the pace.
fn held(c: &mut Controller, from: Instant, seconds: f64) -> f64 {
    let mut t = from;
    while t < from + secs(seconds) {
        if let Admit::Wait(d) = c.admit(t) {
            t += d;
        }
    }
    c.rate(t)
}

#[test]
fn after_a_cut_the_pace_climbs_back_flattens_near_the_rate_refused_then_probes_past_it() {
    let t0 = Instant::now();
    let mut c = Controller::new(10.0, None, t0);
    let ticket = sent(&mut c, t0, 10)[0];
    assert!(c.refused(ticket, t0));
    let k = ((1.0 - BETA) / CUBIC_C).cbrt();
    let early = held(&mut c.clone(), t0, k / 2.0);
    assert!(early > 8.0 && early < 10.0, "most of the way back: {early}");
    let plateau = held(&mut c.clone(), t0, k);
    assert!(
        (plateau - 10.0).abs() < 0.2,
        "at the rate refused: {plateau}"
    );
    let probing = held(&mut c, t0, 3.0 * k);
    assert!(
        probing > 12.0,
        "beyond it, to find a raised limit: {probing}"
    );
}

#[test]
fn the_ceiling_and_the_floor_bound_the_pace() {
    let t0 = Instant::now();
    let mut c = Controller::new(100.0, Some(25.0), t0);
    assert_eq!(c.rate(t0), 25.0, "starts at the ceiling when that is lower");
    assert_eq!(held(&mut c, t0, 30.0), 25.0, "never above it");
    let mut low = Controller::new(1.0, None, t0);
    let mut t = t0;
    for _ in 0..20 {
        let ticket = loop {
            match low.admit(t) {
                Admit::Now(ticket) => break ticket,
                Admit::Wait(d) => t += d,
            }
        };
        low.refused(ticket, t);
    }
    assert_eq!(low.rate(t), MIN_RATE);
}

#[path = "pace_sim.rs"]
mod sim;

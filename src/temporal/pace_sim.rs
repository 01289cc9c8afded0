//! The pace against a simulated Temporal frontend: a token bucket per namespace, as Temporal's
//! (`frontend.namespaceRPS`, a burst of `frontend.namespaceBurstRatio` times it, 2 by default),
//! 16 calls in flight, every refused call sent again once the pace lets it. Simulated time: no
//! test here waits or measures the clock.

use std::{cmp::Reverse, collections::BinaryHeap};

use super::*;

/// What decides the pace: the controller, or the AIMD baseline.
trait Pacer {
    fn admit(&mut self, now: Instant) -> Admit;
    fn refused(&mut self, ticket: Ticket, now: Instant);
}

impl Pacer for Controller {
    fn admit(&mut self, now: Instant) -> Admit {
        Controller::admit(self, now)
    }
    fn refused(&mut self, ticket: Ticket, now: Instant) {
        Controller::refused(self, ticket, now);
    }
}

/// The baseline: +1 call per second for each second a caller waited, halved on a refusal
/// (once per cut), with the same token bucket.
struct Aimd(Controller);

impl Aimd {
    /// Grows by one call a second of waiting and refills, as [`Controller`] does (which then
    /// finds nothing more to do at the same instant).
    fn advance(&mut self, now: Instant) {
        let c = &mut self.0;
        let held = c.waiting_until.map_or(0.0, |u| {
            u.min(now).saturating_duration_since(c.at).as_secs_f64()
        });
        let dt = now.saturating_duration_since(c.at).as_secs_f64();
        let before = c.rate;
        c.rate += held;
        c.at = now.max(c.at);
        c.tokens = (c.tokens + dt * (before + c.rate) / 2.0).min(burst(c.rate));
    }
}

impl Pacer for Aimd {
    fn admit(&mut self, now: Instant) -> Admit {
        self.advance(now);
        Controller::admit(&mut self.0, now)
    }
    fn refused(&mut self, ticket: Ticket, now: Instant) {
        self.advance(now);
        let c = &mut self.0;
        if ticket.epoch == c.epoch {
            c.epoch += 1;
            c.rate = (c.rate / 2.0).max(MIN_RATE);
            c.tokens = 0.0;
        }
    }
}

/// The frontend's limiter; `limits`: (from second, calls per second), a restart at each change.
struct Server {
    limits: Vec<(f64, f64)>,
    ratio: f64,
    tokens: f64,
    at: f64,
    limit: usize,
}

impl Server {
    fn new(limits: &[(f64, f64)], ratio: f64) -> Self {
        Self {
            limits: limits.to_vec(),
            ratio,
            tokens: limits[0].1 * ratio,
            at: 0.0,
            limit: 0,
        }
    }
    fn allow(&mut self, t: f64) -> bool {
        while self.limit + 1 < self.limits.len() && t >= self.limits[self.limit + 1].0 {
            self.limit += 1;
            self.tokens = self.limits[self.limit].1 * self.ratio;
            self.at = t;
        }
        let rate = self.limits[self.limit].1;
        self.tokens = (self.tokens + (t - self.at) * rate).min(rate * self.ratio);
        self.at = t;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
    /// Seconds `n` calls take at the limits, from a start with a full bucket.
    fn ideal(limits: &[(f64, f64)], n: f64) -> f64 {
        let mut left = n;
        for (i, (from, rate)) in limits.iter().enumerate() {
            let until = limits.get(i + 1).map_or(f64::INFINITY, |l| l.0);
            if left <= (until - from) * rate {
                return from + left / rate;
            }
            left -= (until - from) * rate;
        }
        unreachable!()
    }
}

/// Events, by simulated microsecond.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The head of the line asks the pace again.
    Wake,
    /// A call's answer: accepted, and the pace it went out at.
    Answer(bool, u64),
}

struct Outcome {
    seconds: f64,
    refused: u64,
    sent: u64,
}

/// `n` calls, 16 in flight, each accepted call taking `latency` s and a refusal 2 ms.
fn run(pacer: &mut dyn Pacer, server: &mut Server, n: u64, latency: f64) -> Outcome {
    let t0 = Instant::now();
    // Simulated time in whole microseconds, so that every wait moves it on.
    let at = |us: u64| t0 + Duration::from_micros(us);
    let mut queue: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::new();
    let mut seq = 0;
    let mut push = |q: &mut BinaryHeap<_>, us: u64, e: Event| {
        seq += 1;
        q.push(Reverse((us, seq, e)));
    };
    let (mut waiting, mut in_flight, mut done, mut refused, mut sent) = (0u64, 0u64, 0, 0, 0);
    let mut head_asleep = false;
    let mut not_started = n;
    let mut now: u64 = 0;
    loop {
        // Callers enter the line while places are free, and the head goes when it may.
        while in_flight + waiting < 16 && not_started > 0 {
            not_started -= 1;
            waiting += 1;
        }
        while waiting > 0 && !head_asleep {
            match pacer.admit(at(now)) {
                Admit::Now(ticket) => {
                    waiting -= 1;
                    in_flight += 1;
                    sent += 1;
                    let ok = server.allow(now as f64 / 1e6);
                    let back = if ok { latency } else { 0.002 };
                    push(
                        &mut queue,
                        now + (back * 1e6) as u64,
                        Event::Answer(ok, ticket.epoch),
                    );
                }
                Admit::Wait(d) => {
                    head_asleep = true;
                    let us = (d.as_secs_f64() * 1e6).ceil() as u64;
                    push(&mut queue, now + us.max(1), Event::Wake);
                }
            }
        }
        let Some(Reverse((micros, _, event))) = queue.pop() else {
            break;
        };
        now = micros;
        match event {
            Event::Wake => head_asleep = false,
            Event::Answer(true, _) => {
                in_flight -= 1;
                done += 1;
                if done == n {
                    break;
                }
            }
            Event::Answer(false, epoch) => {
                in_flight -= 1;
                refused += 1;
                pacer.refused(Ticket { epoch }, at(now));
                // Sent again through the pace, at the back of the line.
                waiting += 1;
            }
        }
    }
    Outcome {
        seconds: now as f64 / 1e6,
        refused,
        sent,
    }
}

fn cubic(start: f64) -> Controller {
    Controller::new(start, None, Instant::now())
}

/// Times over the ideal, and the share refused, of 1,000 calls.
fn score(pacer: &mut dyn Pacer, limits: &[(f64, f64)], ratio: f64, latency: f64) -> (f64, f64) {
    let mut server = Server::new(limits, ratio);
    let o = run(pacer, &mut server, 1000, latency);
    let ideal = Server::ideal(limits, 1000.0);
    (o.seconds / ideal, o.refused as f64 / o.sent as f64)
}

#[test]
fn at_ten_calls_a_second_a_thousand_calls_stay_within_a_fifth_of_the_ideal() {
    // Cloud's start, a self-hosted start, twice that; the dev server's burst and none.
    for start in [10.0, 100.0, 200.0] {
        for ratio in [2.0, 1.0] {
            for latency in [0.05, 0.3] {
                let (slower, refused) = score(&mut cubic(start), &[(0.0, 10.0)], ratio, latency);
                let case = format!("start {start}, burst {ratio}x, latency {latency}");
                assert!(slower < 1.2, "{case}: {slower:.3} x the ideal");
                assert!(refused < 0.05, "{case}: {:.1}% refused", refused * 100.0);
            }
        }
    }
}

#[test]
fn when_the_limit_changes_mid_run_the_pace_follows_it() {
    for limits in [[(0.0, 10.0), (50.0, 20.0)], [(0.0, 20.0), (30.0, 10.0)]] {
        for start in [10.0, 100.0] {
            let (slower, refused) = score(&mut cubic(start), &limits, 2.0, 0.1);
            assert!(
                slower < 1.2,
                "{limits:?} from {start}: {slower:.3} x the ideal"
            );
            assert!(
                refused < 0.05,
                "{limits:?}: {:.1}% refused",
                refused * 100.0
            );
        }
    }
}

#[test]
fn a_limit_far_above_the_start_is_found_sooner_than_with_aimd() {
    // Temporal Cloud after a limit increase: 40 a second, the pace starting at 10.
    let limits = [(0.0, 40.0)];
    let (cubic_x, cubic_refused) = score(&mut cubic(10.0), &limits, 2.0, 0.1);
    let (aimd_x, _) = score(&mut Aimd(cubic(10.0)), &limits, 2.0, 0.1);
    assert!(cubic_x < 1.2, "{cubic_x:.3} x the ideal");
    assert!(cubic_refused < 0.05);
    assert!(aimd_x > 1.3, "AIMD climbs one call a second: {aimd_x:.3}");
}

#[test]
fn without_a_burst_allowance_the_pace_keeps_closer_to_the_limit_than_aimd() {
    // A limiter that lets no burst through (a bucket of one call).
    let limits = [(0.0, 10.0)];
    let (cubic_x, refused) = score(&mut cubic(10.0), &limits, 0.1, 0.1);
    let (aimd_x, _) = score(&mut Aimd(cubic(10.0)), &limits, 0.1, 0.1);
    assert!(cubic_x < 1.15, "{cubic_x:.3} x the ideal");
    assert!(refused < 0.05, "{:.1}% refused", refused * 100.0);
    assert!(
        aimd_x > cubic_x + 0.05,
        "AIMD {aimd_x:.3}, cubic {cubic_x:.3}"
    );
}

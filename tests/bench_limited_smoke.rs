//! A small-N run of the limited benchmark (`cargo bench --bench limited` runs 1,000 feeds):
//! against a dev server that allows 5 calls per second per namespace, `sync` with its shipped
//! defaults creates every schedule, the server refuses only a few of its calls (the pace comes
//! down to the limit), and the refused calls are sent again. Times are printed, not asserted.

mod common;
#[path = "common/bench/harness.rs"]
mod harness;
#[path = "common/bench/limited.rs"]
mod limited;
#[path = "common/bench/sync_case.rs"]
mod sync_case;

use limited::{Case, Who};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_limit_sync_creates_everything_and_few_calls_are_refused() {
    let case = Case {
        who: Who::Sync,
        n: 60,
        limits: vec![(0, 5)],
    };
    let f = limited::run(&case).await;
    println!("{}", limited::markdown(std::slice::from_ref(&f)));
    // Every feed was created (asserted inside), one create each, plus the refused tries and
    // the listing.
    let (refused, calls) = f.refused;
    assert!(refused > 0, "the server limited the calls: {calls} calls");
    assert!(
        refused * 4 < calls,
        "the pace came down to the limit: {refused} of {calls} refused"
    );
}

//! One feed's work: decide from the listing when that is enough, otherwise the shared
//! reconcile (`schedule::sync::sync`, through [`Stamped`]) or, in a dry run, the shared plan.
//! Every step a feed needs from Temporal lives in [`reconcile`], so that a later step (such as
//! registering the feed in buun-curator) joins it here.

use crate::{
    schedule::{
        DesiredSchedule, canonical, listing,
        plan::{self, Plan},
        sync::{self, Change, Recorded, SyncError},
    },
    temporal::{Described, Listed, ScheduleApi, proto::SchedulePatch},
};

use super::{
    diff,
    outcome::{Action, FeedNote, Outcome},
    stamp::{self, Stamped},
};
use crate::runtime::retry::Retry;

/// A declared feed, ready to sync.
#[derive(Clone, Debug)]
pub struct Feed {
    /// `namespace/name` of the FeedSource.
    pub resource: String,
    /// The schedule it asks for.
    pub desired: DesiredSchedule,
    /// The server's form of that schedule, when predictable (see `schedule::canonical`).
    pub server_form: Option<crate::temporal::proto::Schedule>,
    /// Fingerprints of the server's form: whole schedule, spec alone.
    pub expected: Option<(String, String)>,
    /// Its feed in buun-curator, when settled there first (see [`super::register`]).
    pub registration: Option<FeedNote>,
    /// Retries already spent on buun-curator's API (attempts beyond the first of each call).
    pub retries: u32,
}

impl Feed {
    /// The feed `resource` asking for `desired`.
    pub fn new(resource: String, desired: DesiredSchedule) -> Self {
        let server_form = canonical::schedule(&desired.schedule);
        let expected = canonical::fingerprints(&desired.schedule);
        Self {
            resource,
            desired,
            server_form,
            expected,
            registration: None,
            retries: 0,
        }
    }

    /// An outcome of `action` for this feed, with its feed's registration.
    pub fn outcome(&self, action: Action) -> Outcome {
        let mut o = Outcome::new(&self.resource, &self.desired.id, action);
        o.feed.clone_from(&self.registration);
        o.attempts = self.retries;
        o
    }
}

/// How a run works.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// Change nothing; say what would change.
    pub dry_run: bool,
    /// Describe every schedule, even those the listing shows unchanged.
    pub verify: bool,
    /// Retries of transient errors.
    pub retry: Retry,
}

/// PURE: whether the listing alone shows the schedule exactly as `sync` last wrote it for this
/// declaration: stamped with its fingerprint, owned by the feed, the spec in the predicted
/// server form (the UI rewrites the spec on every edit), and paused as it should be.
pub fn listed_unchanged(feed: &Feed, listed: &Listed) -> bool {
    let (Some((_, spec)), Some(stamped)) = (&feed.expected, stamp::fingerprint(&listed.notes))
    else {
        return false;
    };
    let entry = listing::Entry::of(listed);
    let recorded = |text: &str| crate::crd::fingerprint::Fingerprint::from(text);
    listing::listed_in_sync(
        &feed.desired,
        Some(&recorded(stamped)),
        Some(&recorded(spec)),
        Some(&entry),
    )
    .is_some()
}

/// Brings one feed's schedule in line with its declaration (or, in a dry run, says what that
/// would take). `listed` is its entry in this run's listing (`None`: not listed).
pub async fn reconcile<A: ScheduleApi>(
    api: &A,
    feed: &Feed,
    listed: Option<&Listed>,
    mode: &Mode,
) -> Outcome {
    if !mode.verify && listed.is_some_and(|l| listed_unchanged(feed, l)) {
        return feed.outcome(Action::Unchanged);
    }
    if mode.dry_run {
        return plan_only(api, feed, listed, mode).await;
    }
    apply(api, feed, listed, mode).await
}

fn recorded(feed: &Feed, listed: Option<&Listed>) -> Recorded {
    Recorded {
        fingerprint: feed.expected.as_ref().map(|(fp, _)| fp.clone()),
        // `sync` has no generation: a pause it did not make is kept.
        generation_changed: false,
        run_now: None,
        expect_missing: listed.is_none(),
    }
}

/// The dry run: a describe at most, then the shared plan; no write.
async fn plan_only<A: ScheduleApi>(
    api: &A,
    feed: &Feed,
    listed: Option<&Listed>,
    mode: &Mode,
) -> Outcome {
    if listed.is_none() {
        return feed.outcome(Action::Create);
    }
    let tried = mode.retry.run(|| api.describe(&feed.desired.id)).await;
    let mut out = feed.outcome(Action::Unchanged);
    out.attempts += tried.attempts;
    let observed = match &tried.result {
        Ok(o) => o.clone(),
        Err(e) => return out.failed(Action::Error, tried.why(e), e.reason()),
    };
    let r = recorded(feed, listed);
    let p = plan::plan(
        &feed.desired,
        observed.as_ref(),
        r.fingerprint.as_deref(),
        r.generation_changed,
    );
    out.action = match p {
        Plan::Create => Action::Create,
        Plan::Conflict { owner } => {
            let e = SyncError::Conflict {
                id: feed.desired.id.clone(),
                owner: match owner {
                    Some(o) if o.uid.is_empty() => {
                        format!("{}/{} (by {})", o.namespace, o.name, o.operator)
                    }
                    Some(o) => format!(
                        "{}/{} uid {} (by {})",
                        o.namespace, o.name, o.uid, o.operator
                    ),
                    None => "none recorded".to_owned(),
                },
            };
            return out.failed(Action::Conflict, e.to_string(), e.reason());
        }
        Plan::Update { .. } => {
            out.changes = changes(feed, observed.as_ref());
            why_written(feed, observed.as_ref())
        }
        Plan::Patch { patch } if !patch.pause.is_empty() => Action::Pause,
        Plan::Patch { .. } => Action::Unpause,
        Plan::InSync => {
            out.held_pause = held(feed, observed.as_ref());
            Action::Unchanged
        }
    };
    out
}

/// PURE: why a schedule is rewritten. The shared plan sees drift whenever the server differs
/// from the predicted form of the current declaration, so `sync` tells the two apart itself: the
/// fingerprint in the action memo names the declaration written last. The same one (or none: a
/// CLI edit replaced the action) means someone edited the schedule: a repair. Another one means
/// the declaration changed: an update.
pub fn why_written(feed: &Feed, before: Option<&Described>) -> Action {
    match before.and_then(|d| d.memo_info.fingerprint.as_deref()) {
        Some(fp) if fp != feed.desired.fingerprint => Action::Update,
        _ => Action::Repair,
    }
}

fn changes(feed: &Feed, before: Option<&Described>) -> Vec<super::outcome::FieldChange> {
    let (Some(before), Some(want)) = (before, feed.server_form.as_ref()) else {
        return Vec::new();
    };
    let mut c = diff::fields(want, &before.schedule);
    if c.is_empty() {
        // Only the recorded fingerprint differs (written by another version, or lost).
        c.push(super::outcome::FieldChange::named("fingerprint"));
    }
    c
}

/// The note of a pause `sync` did not make and keeps.
fn held(feed: &Feed, observed: Option<&Described>) -> Option<String> {
    let state = observed?.schedule.state.as_ref()?;
    plan::pause_decision(&feed.desired, Some(state), false)
        .held_foreign_pause
        .then(|| state.notes.clone())
}

/// The real run: the shared reconcile, stamped, retried on transient errors.
async fn apply<A: ScheduleApi>(
    api: &A,
    feed: &Feed,
    listed: Option<&Listed>,
    mode: &Mode,
) -> Outcome {
    let stamped = Stamped::new(api, &feed.desired.fingerprint);
    let r = recorded(feed, listed);
    let tried = mode
        .retry
        .run(|| sync::sync(&stamped, &feed.desired, &r))
        .await;
    let mut out = feed.outcome(Action::Unchanged);
    out.attempts += tried.attempts;
    let synced = match &tried.result {
        Ok(s) => s,
        Err(e @ SyncError::Conflict { .. }) => {
            return out.failed(Action::Conflict, e.to_string(), e.reason());
        }
        Err(e) => return out.failed(Action::Error, tried.why(e), e.reason()),
    };
    let before = stamped.first_described().flatten();
    out.applied = true;
    out.action = match synced.change {
        Change::Created => Action::Create,
        // A create whose answer was lost, found in place on the retry.
        Change::Unchanged if stamped.create_lost() => Action::Create,
        Change::Updated | Change::DriftRepaired => why_written(feed, before.as_ref()),
        Change::PauseChanged if feed.desired.suspended() => Action::Pause,
        Change::PauseChanged => Action::Unpause,
        Change::Unchanged => Action::Unchanged,
    };
    if matches!(out.action, Action::Update | Action::Repair) {
        out.changes = changes(feed, before.as_ref());
        let after = synced
            .described()
            .map(|d| crate::schedule::fingerprint::of(&d.schedule));
        if let (Some(after), Some((predicted, _))) = (after, &feed.expected)
            && after != *predicted
        {
            out.warning = Some(
                "Temporal stores this schedule differently from the predicted form; edits made \
                 outside sync may be reported as drift"
                    .into(),
            );
        }
    }
    if out.action == Action::Unchanged {
        out.applied = false;
        out.held_pause = held(feed, before.as_ref());
        restamp(api, feed, before.as_ref(), mode, &mut out).await;
    }
    out
}

/// An unchanged, unpaused schedule without this declaration's stamp (created by an older
/// `sync`, or unpaused by hand) gets it, once, so the next runs need no describe.
async fn restamp<A: ScheduleApi>(
    api: &A,
    feed: &Feed,
    before: Option<&Described>,
    mode: &Mode,
    out: &mut Outcome,
) {
    let Some(state) = before.and_then(|d| d.schedule.state.as_ref()) else {
        return;
    };
    if state.paused || stamp::fingerprint(&state.notes) == Some(feed.desired.fingerprint.as_str()) {
        return;
    }
    let patch = SchedulePatch {
        unpause: stamp::notes(&feed.desired.fingerprint),
        ..Default::default()
    };
    let request_id = super::stamp::request_id("stamp");
    let tried = mode
        .retry
        .run(|| api.patch(&feed.desired.id, patch.clone(), request_id.clone()))
        .await;
    out.attempts += tried.attempts;
    if let Err(e) = &tried.result {
        out.warning = Some(format!(
            "in sync, but its fingerprint could not be recorded (the next run describes it \
             again): {}",
            tried.why(e)
        ));
    }
}

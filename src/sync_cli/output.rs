//! PURE: how a run reads: one line (or JSON object) per feed, a summary that says why feeds
//! failed, and the exit code.

use std::collections::BTreeMap;

use super::outcome::{Action, Outcome};

/// Exit code: everything is in sync (or was brought in sync).
pub const OK: u8 = 0;
/// Exit code: at least one feed failed.
pub const FAILED: u8 = 1;
/// Exit code: the input (files, flags) is unusable; nothing was sent to Temporal.
pub const BAD_INPUT: u8 = 2;
/// Exit code of `--dry-run --exit-code` when changes are pending.
pub const PENDING: u8 = 3;
/// Exit code of `--check-runs` when a feed's last run failed, timed out, runs too long, or
/// none ever started.
pub const UNHEALTHY: u8 = 4;

/// A feed as one line of text.
pub fn text_line(o: &Outcome) -> String {
    let mut line = format!(
        "{:<10} {:<40} {}",
        o.action.word(o.applied),
        o.resource,
        o.schedule_id
    );
    if !o.changes.is_empty() {
        let c: Vec<String> = o.changes.iter().map(ToString::to_string).collect();
        line.push_str(&format!("  {}", c.join("; ")));
    }
    if let Some(f) = o
        .feed
        .as_ref()
        .filter(|f| f.writes() || f.action == "adopted")
    {
        line.push_str(&format!("  ({f})"));
    }
    if let Some(e) = &o.error {
        line.push_str(&format!("  {e}"));
    }
    if let Some(note) = &o.held_pause {
        line.push_str(&format!("  (paused outside sync, kept: {note:?})"));
    }
    if let Some(w) = &o.warning {
        line.push_str(&format!("  warning: {w}"));
    }
    if let Some(i) = o.ingestion.as_ref().filter(|i| i.status != "True") {
        line.push_str(&format!(
            "  ingesting: {} {}: {}",
            i.status, i.reason, i.message
        ));
    }
    line
}

/// A feed as one JSON object (one line).
pub fn json_line(o: &Outcome) -> String {
    // A struct of strings, numbers and lists always serializes.
    serde_json::to_string(o).unwrap_or_default()
}

/// The closing line: counts per action, and why feeds failed.
pub fn summary(outcomes: &[Outcome], dry_run: bool) -> String {
    let feeds = outcomes
        .iter()
        .filter(|o| o.action != Action::Prune)
        .count();
    let mut parts = schedule_counts(outcomes, dry_run);
    let mut why: BTreeMap<&str, usize> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.action.failed()) {
        *why.entry(o.reason.unwrap_or("Error")).or_default() += 1;
    }
    let failed: usize = why.values().sum();
    parts.push(if why.is_empty() {
        "0 failed".to_owned()
    } else {
        let reasons: Vec<String> = why.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        format!("{failed} failed ({})", reasons.join(", "))
    });
    let retried = outcomes.iter().filter(|o| o.attempts > 1).count();
    let mut s = format!("{feeds} feeds: {}", parts.join(", "));
    if let Some(w) = feed_writes(outcomes, dry_run) {
        s.push_str(&format!("; buun-curator feeds: {w}"));
    }
    if retried > 0 {
        s.push_str(&format!("; {retried} needed retries"));
    }
    if let Some(runs) = last_runs(outcomes) {
        s.push_str(&format!("; last runs: {runs}"));
    }
    if dry_run {
        s.push_str(" (dry run: nothing was changed)");
    }
    s
}

/// "N created", "N unchanged"… (or "N to create" in a dry run), in a fixed order of actions,
/// over the outcomes that did not fail.
fn schedule_counts(outcomes: &[Outcome], dry_run: bool) -> Vec<String> {
    let mut counts: BTreeMap<usize, (Action, usize)> = BTreeMap::new();
    let order = [
        Action::Create,
        Action::Update,
        Action::Repair,
        Action::Pause,
        Action::Unpause,
        Action::Unchanged,
        Action::Prune,
    ];
    for o in outcomes.iter().filter(|o| !o.action.failed()) {
        if let Some(i) = order.iter().position(|a| *a == o.action) {
            counts.entry(i).or_insert((o.action, 0)).1 += 1;
        }
    }
    counts
        .values()
        .map(|(a, n)| match (a, dry_run) {
            (Action::Unchanged, _) => format!("{n} unchanged"),
            (a, true) => format!("{n} to {}", a.word(false)),
            (a, false) => format!("{n} {}", a.word(true)),
        })
        .collect()
}

/// What was written to buun-curator's feeds (or would be, in a dry run), if anything.
fn feed_writes(outcomes: &[Outcome], dry_run: bool) -> Option<String> {
    let mut writes: BTreeMap<&str, usize> = BTreeMap::new();
    for f in outcomes.iter().filter_map(|o| o.feed.as_ref()) {
        if f.writes() || f.action == "adopted" {
            *writes.entry(f.action).or_default() += 1;
        }
    }
    if writes.is_empty() {
        return None;
    }
    let w: Vec<String> = writes
        .iter()
        .map(|(a, n)| match (*a, dry_run) {
            (a, true) => format!("{n} to {a}"),
            (a, false) => format!("{n} {a}"),
        })
        .collect();
    Some(w.join(", "))
}

/// "N ok, M failing (Reason: n), K not known yet" over the feeds whose ingestion was looked
/// at, if any.
fn last_runs(outcomes: &[Outcome]) -> Option<String> {
    let ingestion: Vec<&super::outcome::Ingestion> = outcomes
        .iter()
        .filter_map(|o| o.ingestion.as_ref())
        .collect();
    if ingestion.is_empty() {
        return None;
    }
    let ok = ingestion.iter().filter(|i| i.status == "True").count();
    let mut failing: BTreeMap<&str, usize> = BTreeMap::new();
    for i in ingestion.iter().filter(|i| i.unhealthy()) {
        *failing.entry(i.reason.as_str()).or_default() += 1;
    }
    let bad: usize = failing.values().sum();
    let mut s = format!("{ok} ok, {bad} failing");
    if bad > 0 {
        let reasons: Vec<String> = failing.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        s.push_str(&format!(" ({})", reasons.join(", ")));
    }
    let other = ingestion.len() - ok - bad;
    if other > 0 {
        s.push_str(&format!(", {other} not known yet"));
    }
    Some(s)
}

/// The exit code of a run that got as far as Temporal; `check_runs`: a failing last run fails
/// it too.
pub fn exit_code(
    outcomes: &[Outcome],
    dry_run: bool,
    exit_code_when_pending: bool,
    check_runs: bool,
) -> u8 {
    if outcomes.iter().any(|o| o.action.failed()) {
        FAILED
    } else if check_runs
        && outcomes
            .iter()
            .any(|o| o.ingestion.as_ref().is_some_and(|i| i.unhealthy()))
    {
        UNHEALTHY
    } else if dry_run
        && exit_code_when_pending
        && outcomes
            .iter()
            .any(|o| o.action.changes() || o.feed.as_ref().is_some_and(|f| f.writes()))
    {
        PENDING
    } else {
        OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync_cli::outcome::FieldChange;

    fn o(resource: &str, action: Action) -> Outcome {
        Outcome::new(resource, &format!("c/{resource}"), action)
    }

    #[test]
    fn lines_show_the_change_or_the_reason() {
        let mut u = o("news/hn", Action::Update);
        u.applied = true;
        u.changes = vec![
            FieldChange::values("input.fetchLimit", "20".into(), "7".into()),
            FieldChange::named("spec.calendar"),
        ];
        assert_eq!(
            text_line(&u),
            format!(
                "updated    {:<40} c/news/hn  input.fetchLimit: 20 → 7; spec.calendar",
                "news/hn"
            )
        );
        let e = o("news/x", Action::Unchanged).failed(
            Action::Error,
            "gave up after 5 attempts in 60.1 s: Temporal DescribeSchedule timed out".into(),
            "TemporalUnreachable",
        );
        assert!(text_line(&e).starts_with("error"));
        let v: serde_json::Value = serde_json::from_str(&json_line(&e)).expect("json");
        assert_eq!(v["action"], "error");
        assert_eq!(v["reason"], "TemporalUnreachable");
        assert_eq!(v["scheduleId"], "c/news/x");
        assert_eq!(v["applied"], false);
        assert!(v.get("changes").is_none());
    }

    #[test]
    fn the_summary_counts_and_says_why() {
        let mut created = o("a/1", Action::Create);
        created.applied = true;
        let mut retried = o("a/2", Action::Unchanged);
        retried.attempts = 3;
        let failed =
            o("a/3", Action::Create).failed(Action::Error, "x".into(), "TemporalUnreachable");
        let conflict =
            o("a/4", Action::Create).failed(Action::Conflict, "y".into(), "ScheduleConflict");
        let pruned = o("a/5", Action::Prune);
        let all = vec![created, retried, failed, conflict, pruned];
        assert_eq!(
            summary(&all, false),
            "4 feeds: 1 created, 1 unchanged, 1 pruned, 2 failed (ScheduleConflict: 1, \
             TemporalUnreachable: 1); 1 needed retries"
        );
        assert_eq!(exit_code(&all, false, false, false), FAILED);
    }

    #[test]
    fn exit_codes() {
        let pending = vec![o("a/1", Action::Create), o("a/2", Action::Unchanged)];
        assert_eq!(exit_code(&pending, true, true, false), PENDING);
        assert_eq!(exit_code(&pending, true, false, false), OK);
        assert_eq!(
            exit_code(&[o("a/2", Action::Unchanged)], true, true, false),
            OK
        );
        assert!(summary(&pending, true).starts_with("2 feeds: 1 to create, 1 unchanged, 0 failed"));
    }
}

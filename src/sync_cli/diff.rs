//! PURE: the fields in which a schedule in Temporal differs from the declared one (both in the
//! server's form), for the plan and the update lines: `input.fetchLimit: 20 → 7`,
//! `spec.timezone: UTC → Europe/Berlin`, `spec.calendar`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::outcome::FieldChange;
use crate::temporal::{
    memo::FINGERPRINT_KEY,
    proto::{Action, NewWorkflowExecutionInfo, Schedule, ScheduleOverlapPolicy},
};

/// The fields of `have` (in Temporal) that differ from `want` (declared).
pub fn fields(want: &Schedule, have: &Schedule) -> Vec<FieldChange> {
    let mut out = Vec::new();
    spec(want, have, &mut out);
    action(want, have, &mut out);
    policies(want, have, &mut out);
    out
}

fn spec(want: &Schedule, have: &Schedule, out: &mut Vec<FieldChange>) {
    let (w, h) = (
        want.spec.clone().unwrap_or_default(),
        have.spec.clone().unwrap_or_default(),
    );
    if w.interval != h.interval {
        let show = |s: &crate::temporal::proto::ScheduleSpec| {
            let parts: Vec<String> = s
                .interval
                .iter()
                .map(|i| match &i.phase {
                    Some(p) if p.seconds != 0 || p.nanos != 0 => {
                        format!("every {} offset {}", dur(i.interval.as_ref()), dur(Some(p)))
                    }
                    _ => format!("every {}", dur(i.interval.as_ref())),
                })
                .collect();
            if parts.is_empty() {
                "none".to_owned()
            } else {
                parts.join(", ")
            }
        };
        out.push(FieldChange::values("spec.interval", show(&h), show(&w)));
    }
    if (&w.structured_calendar, &w.calendar, &w.cron_string)
        != (&h.structured_calendar, &h.calendar, &h.cron_string)
    {
        out.push(FieldChange::named("spec.calendar"));
    }
    // The server keeps exclusions structured only.
    if w.exclude_structured_calendar != h.exclude_structured_calendar {
        out.push(FieldChange::named("spec.exclude"));
    }
    if w.timezone_name != h.timezone_name {
        let tz = |t: &str| {
            if t.is_empty() {
                "(unset)".to_owned()
            } else {
                t.to_owned()
            }
        };
        out.push(FieldChange::values(
            "spec.timezone",
            tz(&h.timezone_name),
            tz(&w.timezone_name),
        ));
    }
    if w.jitter != h.jitter {
        out.push(FieldChange::values(
            "spec.jitter",
            dur(h.jitter.as_ref()),
            dur(w.jitter.as_ref()),
        ));
    }
    let time = |t: &Option<prost_wkt_types::Timestamp>| match t {
        Some(t) => jiff::Timestamp::new(t.seconds, t.nanos)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| "invalid".into()),
        None => "none".into(),
    };
    if w.start_time != h.start_time {
        out.push(FieldChange::values(
            "spec.startTime",
            time(&h.start_time),
            time(&w.start_time),
        ));
    }
    if w.end_time != h.end_time {
        out.push(FieldChange::values(
            "spec.endTime",
            time(&h.end_time),
            time(&w.end_time),
        ));
    }
}

fn start(s: &Schedule) -> NewWorkflowExecutionInfo {
    match s.action.as_ref().and_then(|a| a.action.as_ref()) {
        Some(Action::StartWorkflow(wf)) => wf.clone(),
        None => NewWorkflowExecutionInfo::default(),
    }
}

fn action(want: &Schedule, have: &Schedule, out: &mut Vec<FieldChange>) {
    let (mut w, mut h) = (start(want), start(have));
    if w.workflow_id != h.workflow_id {
        out.push(FieldChange::values(
            "workflow.id",
            h.workflow_id.clone(),
            w.workflow_id.clone(),
        ));
    }
    let name = |t: &Option<crate::temporal::proto::WorkflowType>| {
        t.as_ref().map(|t| t.name.clone()).unwrap_or_default()
    };
    if name(&w.workflow_type) != name(&h.workflow_type) {
        out.push(FieldChange::values(
            "workflow.type",
            name(&h.workflow_type),
            name(&w.workflow_type),
        ));
    }
    let queue = |t: &Option<crate::temporal::proto::TaskQueue>| {
        t.as_ref().map(|t| t.name.clone()).unwrap_or_default()
    };
    if queue(&w.task_queue) != queue(&h.task_queue) {
        out.push(FieldChange::values(
            "workflow.taskQueue",
            queue(&h.task_queue),
            queue(&w.task_queue),
        ));
    }
    for (field, a, b) in [
        (
            "workflow.executionTimeout",
            &w.workflow_execution_timeout,
            &h.workflow_execution_timeout,
        ),
        (
            "workflow.runTimeout",
            &w.workflow_run_timeout,
            &h.workflow_run_timeout,
        ),
        (
            "workflow.taskTimeout",
            &w.workflow_task_timeout,
            &h.workflow_task_timeout,
        ),
    ] {
        if a != b {
            out.push(FieldChange::values(field, dur(b.as_ref()), dur(a.as_ref())));
        }
    }
    if w.retry_policy != h.retry_policy {
        out.push(FieldChange::named("workflow.retryPolicy"));
    }
    input(&w, &h, out);
    let memo = |i: &NewWorkflowExecutionInfo| {
        let mut m = i.memo.clone().map(|m| m.fields).unwrap_or_default();
        m.remove(FINGERPRINT_KEY);
        m
    };
    if memo(&w) != memo(&h) {
        out.push(FieldChange::named("workflow.memo"));
    }
    // Whatever else the action holds (headers, search attributes, …), as one field.
    for i in [&mut w, &mut h] {
        i.workflow_id.clear();
        i.workflow_type = None;
        i.task_queue = None;
        i.workflow_execution_timeout = None;
        i.workflow_run_timeout = None;
        i.workflow_task_timeout = None;
        i.retry_policy = None;
        i.input = None;
        i.memo = None;
    }
    if w != h {
        out.push(FieldChange::named("workflow"));
    }
}

/// The workflow input's top-level JSON fields that differ.
fn input(w: &NewWorkflowExecutionInfo, h: &NewWorkflowExecutionInfo, out: &mut Vec<FieldChange>) {
    if w.input == h.input {
        return;
    }
    let object = |i: &NewWorkflowExecutionInfo| -> Option<serde_json::Map<String, Value>> {
        let payloads = &i.input.as_ref()?.payloads;
        match payloads.as_slice() {
            [one] => serde_json::from_slice::<Value>(&one.data)
                .ok()?
                .as_object()
                .cloned(),
            _ => None,
        }
    };
    let (Some(a), Some(b)) = (object(w), object(h)) else {
        out.push(FieldChange::named("input"));
        return;
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let show = |v: Option<&Value>| match v {
        None => "(unset)".to_owned(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 80 {
                format!("{}…", s.chars().take(79).collect::<String>())
            } else {
                s
            }
        }
    };
    for k in keys {
        if a.get(k) != b.get(k) {
            out.push(FieldChange::values(
                format!("input.{k}"),
                show(b.get(k)),
                show(a.get(k)),
            ));
        }
    }
}

fn policies(want: &Schedule, have: &Schedule, out: &mut Vec<FieldChange>) {
    let (w, h) = (
        want.policies.unwrap_or_default(),
        have.policies.unwrap_or_default(),
    );
    if w.overlap_policy != h.overlap_policy {
        let name = |p: i32| {
            ScheduleOverlapPolicy::try_from(p)
                .map(|p| {
                    p.as_str_name()
                        .trim_start_matches("SCHEDULE_OVERLAP_POLICY_")
                        .to_owned()
                })
                .unwrap_or_else(|_| p.to_string())
        };
        out.push(FieldChange::values(
            "policies.overlap",
            name(h.overlap_policy),
            name(w.overlap_policy),
        ));
    }
    if w.catchup_window != h.catchup_window {
        out.push(FieldChange::values(
            "policies.catchupWindow",
            dur(h.catchup_window.as_ref()),
            dur(w.catchup_window.as_ref()),
        ));
    }
    if w.pause_on_failure != h.pause_on_failure {
        out.push(FieldChange::values(
            "policies.pauseOnFailure",
            h.pause_on_failure.to_string(),
            w.pause_on_failure.to_string(),
        ));
    }
    if w.keep_original_workflow_id != h.keep_original_workflow_id {
        out.push(FieldChange::named("policies.keepOriginalWorkflowId"));
    }
}

/// A protobuf duration as `1h30m`, `90s`, `1.5s`; `none` when unset.
fn dur(d: Option<&prost_wkt_types::Duration>) -> String {
    let Some(d) = d else {
        return "none".to_owned();
    };
    if d.nanos != 0 {
        let s = format!("{}.{:09}", d.seconds, d.nanos.unsigned_abs());
        return format!("{}s", s.trim_end_matches('0'));
    }
    let (h, m, s) = (d.seconds / 3600, d.seconds % 3600 / 60, d.seconds % 60);
    let mut out = String::new();
    if h != 0 {
        out.push_str(&format!("{h}h"));
    }
    if m != 0 {
        out.push_str(&format!("{m}m"));
    }
    if s != 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{FeedSource, GoDuration};

    fn desired(f: impl FnOnce(&mut FeedSource)) -> Schedule {
        let mut fs = FeedSource::test("news", "hn");
        f(&mut fs);
        fs.desired("t:1", "c").schedule
    }

    #[test]
    fn equal_schedules_have_no_changes() {
        let s = desired(|_| {});
        assert_eq!(fields(&s, &s), vec![]);
    }

    #[test]
    fn input_fields_intervals_and_policies_are_named_with_values() {
        let have = desired(|_| {});
        let want = desired(|f| {
            f.spec.feed.fetch_limit = Some(7);
            f.spec.schedule.every = Some(GoDuration::new("45m"));
            f.spec.schedule.offset = Some(GoDuration::new("5m"));
            f.spec.schedule.catchup_window = GoDuration::new("1h30m");
            f.spec.schedule.timezone = Some("Europe/Berlin".into());
        });
        let got: Vec<String> = fields(&want, &have).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "spec.interval: every 1h → every 45m offset 5m",
                "spec.timezone: (unset) → Europe/Berlin",
                "input.fetchLimit: (unset) → 7",
                "policies.catchupWindow: 5m → 1h30m",
            ]
        );
    }

    #[test]
    fn edits_made_in_the_ui_show_up() {
        let want = desired(|_| {});
        let mut have = want.clone();
        if let Some(Action::StartWorkflow(wf)) =
            have.action.as_mut().and_then(|a| a.action.as_mut())
        {
            wf.task_queue.as_mut().expect("queue").name = "elsewhere".into();
            wf.workflow_task_timeout = Some(prost_wkt_types::Duration {
                seconds: 10,
                nanos: 0,
            });
            wf.memo = None;
        }
        have.spec.as_mut().expect("spec").cron_string = vec!["0 * * * *".into()];
        let got: Vec<String> = fields(&want, &have).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "spec.calendar",
                "workflow.taskQueue: elsewhere → buun-curator",
                "workflow.taskTimeout: 10s → none",
                "workflow.memo",
            ]
        );
    }

    #[test]
    fn durations_read_like_the_spec() {
        let d = |seconds, nanos| dur(Some(&prost_wkt_types::Duration { seconds, nanos }));
        assert_eq!(d(5400, 0), "1h30m");
        assert_eq!(d(0, 0), "0s");
        assert_eq!(d(1, 500_000_000), "1.5s");
        assert_eq!(dur(None), "none");
    }
}

//! Fingerprints of a schedule's spec, action and policies, stable across processes.
//!
//! Temporal rewrites what it is given (cron strings become structured calendars, defaults are
//! filled in), so a field-by-field comparison of desired and described schedules is wrong. The
//! operator instead compares fingerprints: of what it wants to write (kept in the memo), and of
//! what the server returned after its last write (kept in status). Protobuf maps are hashed in
//! key order, so equal schedules always give equal fingerprints.

use std::collections::HashMap;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::temporal::{
    memo,
    proto::{Action, Payload, Schedule},
};

/// Hex SHA-256 over the spec, action and policies of `schedule`; its state (paused, notes) is
/// left out, because the operator manages it separately.
pub fn of(schedule: &Schedule) -> String {
    let mut h = Sha256::new();
    section(
        &mut h,
        b"spec",
        &schedule.spec.clone().unwrap_or_default().encode_to_vec(),
    );
    section(
        &mut h,
        b"policies",
        &schedule.policies.unwrap_or_default().encode_to_vec(),
    );
    if let Some(Action::StartWorkflow(info)) =
        schedule.action.as_ref().and_then(|a| a.action.as_ref())
    {
        let mut rest = info.clone();
        let input = rest.input.take().map(|p| p.payloads).unwrap_or_default();
        let mut memo = rest.memo.take().map(|m| m.fields).unwrap_or_default();
        // The fingerprint is stored in this memo; it cannot be part of itself.
        memo.remove(memo::FINGERPRINT_KEY);
        let attrs = rest
            .search_attributes
            .take()
            .map(|s| s.indexed_fields)
            .unwrap_or_default();
        let header = rest.header.take().map(|h| h.fields).unwrap_or_default();
        let meta = rest.user_metadata.take().unwrap_or_default();
        section(&mut h, b"start", &rest.encode_to_vec());
        for p in &input {
            payload(&mut h, b"input", p);
        }
        payload_map(&mut h, b"memo", &memo);
        payload_map(&mut h, b"attrs", &attrs);
        payload_map(&mut h, b"header", &header);
        for p in meta.summary.iter().chain(meta.details.iter()) {
            payload(&mut h, b"meta", p);
        }
    }
    hex(&h.finalize())
}

/// Hex SHA-256 of a spec alone, as both `DescribeSchedule` and `ListSchedules` return it (the
/// listing drops `timezone_data`, so it is left out here too).
pub fn of_spec(spec: Option<&crate::temporal::proto::ScheduleSpec>) -> String {
    hex(&of_spec_bytes(spec))
}

/// The SHA-256 of [`of_spec`], unencoded.
pub fn of_spec_bytes(spec: Option<&crate::temporal::proto::ScheduleSpec>) -> [u8; 32] {
    let mut s = spec.cloned().unwrap_or_default();
    s.timezone_data.clear();
    let mut h = Sha256::new();
    section(&mut h, b"spec", &s.encode_to_vec());
    h.finalize().into()
}

fn section(h: &mut Sha256, tag: &[u8], bytes: &[u8]) {
    h.update((tag.len() as u64).to_be_bytes());
    h.update(tag);
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn payload(h: &mut Sha256, tag: &[u8], p: &Payload) {
    let mut meta: Vec<_> = p.metadata.iter().collect();
    meta.sort();
    section(h, tag, &p.data);
    for (k, v) in meta {
        section(h, k.as_bytes(), v);
    }
    let mut rest = p.clone();
    rest.metadata.clear();
    rest.data.clear();
    section(h, b"payload-rest", &rest.encode_to_vec());
}

fn payload_map(h: &mut Sha256, tag: &[u8], m: &HashMap<String, Payload>) {
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (k, p) in entries {
        section(h, tag, k.as_bytes());
        payload(h, tag, p);
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporal::proto::{
        Memo, NewWorkflowExecutionInfo, Payloads, ScheduleAction, ScheduleSpec, ScheduleState,
    };

    fn schedule(cron: &str, data: &[u8]) -> Schedule {
        let mut meta = HashMap::new();
        meta.insert("encoding".to_owned(), b"json/plain".to_vec());
        meta.insert("extra".to_owned(), b"x".to_vec());
        Schedule {
            spec: Some(ScheduleSpec {
                cron_string: vec![cron.to_owned()],
                ..Default::default()
            }),
            action: Some(ScheduleAction {
                action: Some(Action::StartWorkflow(NewWorkflowExecutionInfo {
                    workflow_id: "wf".into(),
                    input: Some(Payloads {
                        payloads: vec![Payload {
                            metadata: meta,
                            data: data.to_vec(),
                            ..Default::default()
                        }],
                    }),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn equal_schedules_have_equal_fingerprints_across_map_orders() {
        // HashMaps built in different insertion orders must hash the same.
        let a = schedule("0 * * * *", b"{}");
        let mut b = schedule("0 * * * *", b"{}");
        if let Some(Action::StartWorkflow(info)) = b.action.as_mut().and_then(|a| a.action.as_mut())
        {
            let p = &mut info.input.as_mut().unwrap().payloads[0];
            let meta: Vec<_> = p.metadata.drain().collect();
            for (k, v) in meta.into_iter().rev() {
                p.metadata.insert(k, v);
            }
            info.memo = Some(Memo::default());
        }
        assert_eq!(of(&a), of(&b));
        assert_eq!(of(&a).len(), 64);
    }

    #[test]
    fn spec_input_and_policy_changes_change_the_fingerprint() {
        let base = of(&schedule("0 * * * *", b"{}"));
        assert_ne!(base, of(&schedule("5 * * * *", b"{}")));
        assert_ne!(base, of(&schedule("0 * * * *", b"{\"a\":1}")));
        let mut p = schedule("0 * * * *", b"{}");
        p.policies = Some(crate::temporal::proto::SchedulePolicies {
            pause_on_failure: true,
            ..Default::default()
        });
        assert_ne!(base, of(&p));
    }

    #[test]
    fn state_is_not_part_of_the_fingerprint() {
        let mut s = schedule("0 * * * *", b"{}");
        let before = of(&s);
        s.state = Some(ScheduleState {
            paused: true,
            notes: "paused by hand".into(),
            ..Default::default()
        });
        assert_eq!(before, of(&s));
    }
}

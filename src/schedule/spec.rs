//! PURE: the parts of a FeedSource's spec that become parts of its schedule: the schedule spec
//! (intervals, cron, calendars), the overlap and retry policies, durations and times in their
//! protobuf form, and the one-line summary the status shows.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{
    crd::{
        GoDuration, SpecError,
        feedsource::{self, OverlapPolicy},
    },
    temporal::proto::{
        CalendarSpec, IntervalSpec, RetryPolicy, ScheduleOverlapPolicy, ScheduleSpec,
    },
};

pub(super) fn dur(field: &'static str, d: &GoDuration) -> Result<Duration, SpecError> {
    d.parse()
        .map_err(|source| SpecError::Duration { field, source })
}

pub(super) fn positive(
    field: &'static str,
    d: &GoDuration,
) -> Result<prost_wkt_types::Duration, SpecError> {
    let v = dur(field, d)?;
    if v.is_zero() {
        return Err(SpecError::Invalid {
            field,
            message: "must be greater than zero".into(),
        });
    }
    Ok(to_proto_duration(v))
}

/// Converts a duration to its protobuf form.
pub fn to_proto_duration(d: Duration) -> prost_wkt_types::Duration {
    prost_wkt_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // Below one billion, so it fits.
        nanos: d.subsec_nanos() as i32,
    }
}

/// Converts a Kubernetes time to a protobuf timestamp.
pub fn to_proto_time(t: &Time) -> prost_wkt_types::Timestamp {
    prost_wkt_types::Timestamp {
        seconds: t.0.as_second(),
        nanos: t.0.subsec_nanosecond(),
    }
}

pub(super) fn overlap(p: OverlapPolicy) -> ScheduleOverlapPolicy {
    match p {
        OverlapPolicy::Skip => ScheduleOverlapPolicy::Skip,
        OverlapPolicy::BufferOne => ScheduleOverlapPolicy::BufferOne,
        OverlapPolicy::BufferAll => ScheduleOverlapPolicy::BufferAll,
        OverlapPolicy::CancelOther => ScheduleOverlapPolicy::CancelOther,
        OverlapPolicy::TerminateOther => ScheduleOverlapPolicy::TerminateOther,
        OverlapPolicy::AllowAll => ScheduleOverlapPolicy::AllowAll,
    }
}

pub(super) fn schedule_spec(s: &feedsource::ScheduleSpec) -> Result<ScheduleSpec, SpecError> {
    if s.every.is_none() && s.cron.is_empty() && s.calendars.is_empty() {
        return Err(SpecError::Invalid {
            field: "schedule",
            message: "needs at least one of every, cron or calendars".into(),
        });
    }
    let mut interval = Vec::new();
    if let Some(every) = &s.every {
        let every_d = dur("schedule.every", every)?;
        let every_p = positive("schedule.every", every)?;
        let phase = match &s.offset {
            Some(o) => {
                let o = dur("schedule.offset", o)?;
                if o >= every_d {
                    return Err(SpecError::Invalid {
                        field: "schedule.offset",
                        message: "must be shorter than every".into(),
                    });
                }
                Some(to_proto_duration(o))
            }
            None => None,
        };
        interval.push(IntervalSpec {
            interval: Some(every_p),
            phase,
        });
    } else if s.offset.is_some() {
        return Err(SpecError::Invalid {
            field: "schedule.offset",
            message: "is only meaningful with every".into(),
        });
    }
    if let (Some(a), Some(b)) = (&s.start_at, &s.end_at)
        && a.0 >= b.0
    {
        return Err(SpecError::Invalid {
            field: "schedule.startAt",
            message: "must be before endAt".into(),
        });
    }
    if let Some(c) = s.cron.iter().find(|c| c.trim().is_empty()) {
        return Err(SpecError::Invalid {
            field: "schedule.cron",
            message: format!("empty cron expression {c:?}"),
        });
    }
    let calendar = s
        .calendars
        .iter()
        .map(|c| CalendarSpec {
            second: c.second.clone().unwrap_or_default(),
            minute: c.minute.clone().unwrap_or_default(),
            hour: c.hour.clone().unwrap_or_default(),
            day_of_month: c.day_of_month.clone().unwrap_or_default(),
            month: c.month.clone().unwrap_or_default(),
            year: c.year.clone().unwrap_or_default(),
            day_of_week: c.day_of_week.clone().unwrap_or_default(),
            comment: c.comment.clone().unwrap_or_default(),
        })
        .collect();
    Ok(ScheduleSpec {
        interval,
        cron_string: s.cron.clone(),
        calendar,
        start_time: s.start_at.as_ref().map(to_proto_time),
        end_time: s.end_at.as_ref().map(to_proto_time),
        jitter: s
            .jitter
            .as_ref()
            .map(|j| dur("schedule.jitter", j).map(to_proto_duration))
            .transpose()?,
        timezone_name: s.timezone.clone().unwrap_or_default(),
        ..Default::default()
    })
}

pub(super) fn retry_policy(r: &feedsource::RetryPolicySpec) -> Result<RetryPolicy, SpecError> {
    Ok(RetryPolicy {
        initial_interval: r
            .initial_interval
            .as_ref()
            .map(|d| positive("workflow.retryPolicy.initialInterval", d))
            .transpose()?,
        backoff_coefficient: r.backoff_coefficient.unwrap_or_default(),
        maximum_interval: r
            .maximum_interval
            .as_ref()
            .map(|d| positive("workflow.retryPolicy.maximumInterval", d))
            .transpose()?,
        maximum_attempts: r.maximum_attempts.unwrap_or_default(),
        non_retryable_error_types: r.non_retryable_error_types.clone(),
    })
}

/// A one-line human summary of a schedule spec.
pub fn summary(s: &feedsource::ScheduleSpec) -> String {
    let mut parts = Vec::new();
    if let Some(every) = &s.every {
        match &s.offset {
            Some(o) => parts.push(format!("every {every} offset {o}")),
            None => parts.push(format!("every {every}")),
        }
    }
    match s.cron.as_slice() {
        [] => {}
        [one] => parts.push(format!("cron {one}")),
        many => parts.push(format!("{} cron", many.len())),
    }
    match s.calendars.len() {
        0 => {}
        1 => parts.push("1 calendar".to_owned()),
        n => parts.push(format!("{n} calendars")),
    }
    let mut out = parts.join(", ");
    if let Some(tz) = &s.timezone
        && (!s.cron.is_empty() || !s.calendars.is_empty())
    {
        out.push_str(&format!(" ({tz})"));
    }
    out
}

//! PURE: the form a Temporal server (1.32) gives a schedule spec when it stores it. Calendars
//! and cron strings become structured calendars (ranges with their defaults filled in), a cron
//! string's `CRON_TZ=` moves to the spec's time zone, `@every` becomes an interval; everything
//! else (intervals, times, jitter, time zone, and the whole action and policies) is kept as
//! written.
//!
//! `sync` has no status to remember the server's form of a schedule in, so it predicts it: a
//! schedule whose server form differs from the prediction was edited outside (the Temporal UI
//! rewrites the spec on every edit). The integration tests hold the prediction against a real
//! server for every kind of spec a FeedSource can ask for.

use temporalio_common::protos::temporal::api::schedule::v1::{Range, StructuredCalendarSpec};

use super::fingerprint;
use crate::{
    crd::duration::parse_go_duration,
    temporal::proto::{CalendarSpec, IntervalSpec, Schedule, ScheduleSpec},
};

use super::desired::to_proto_duration;

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
/// The server's longest calendar comment.
const MAX_COMMENT: usize = 200;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Int,
    Year,
    Month,
    Dow,
}

/// The server's form of `schedule`: its spec canonicalized, the rest as it is. `None` when the
/// spec is one the server would refuse, or one this prediction does not cover.
pub fn schedule(schedule: &Schedule) -> Option<Schedule> {
    let mut out = schedule.clone();
    out.spec = match &schedule.spec {
        Some(s) => Some(spec(s)?),
        None => None,
    };
    Some(out)
}

/// The fingerprints ([`fingerprint::of`], [`fingerprint::of_spec`]) the server's form of
/// `desired` will have, when it can be predicted.
pub fn fingerprints(desired: &Schedule) -> Option<(String, String)> {
    let s = schedule(desired)?;
    Some((fingerprint::of(&s), fingerprint::of_spec(s.spec.as_ref())))
}

/// The server's form of a spec.
pub fn spec(spec: &ScheduleSpec) -> Option<ScheduleSpec> {
    let mut out = spec.clone();
    for c in &spec.calendar {
        out.structured_calendar.push(calendar(c)?);
    }
    out.calendar.clear();
    let excluded = take_exclude_calendars(&mut out)?;
    out.exclude_structured_calendar.extend(excluded);
    // All cron strings must agree on their time zone (present or not).
    let mut cron_tz: Option<String> = None;
    for c in &spec.cron_string {
        let (structured, interval, tz) = cron(c)?;
        if cron_tz.as_ref().is_some_and(|t| *t != tz) {
            return None;
        }
        cron_tz = Some(tz);
        out.structured_calendar.extend(structured);
        out.interval.extend(interval);
    }
    out.cron_string.clear();
    if let Some(tz) = cron_tz.filter(|t| !t.is_empty()) {
        if (!out.timezone_name.is_empty() && out.timezone_name != tz)
            || !out.timezone_data.is_empty()
        {
            return None;
        }
        out.timezone_name = tz;
    }
    for c in out
        .structured_calendar
        .iter_mut()
        .chain(out.exclude_structured_calendar.iter_mut())
    {
        if c.comment.len() > MAX_COMMENT {
            return None;
        }
        clean(c);
    }
    for i in &out.interval {
        let every = i.interval.as_ref().map(|d| (d.seconds, d.nanos));
        let phase = i
            .phase
            .as_ref()
            .map(|d| (d.seconds, d.nanos))
            .unwrap_or((0, 0));
        if every.is_none_or(|e| e < (1, 0)) || phase < (0, 0) || every.is_some_and(|e| phase >= e) {
            return None;
        }
    }
    Some(out)
}

/// The deprecated exclude calendars, parsed as the server still parses them (FeedSources never
/// set them; a schedule edited by another client may).
#[allow(deprecated)]
fn take_exclude_calendars(spec: &mut ScheduleSpec) -> Option<Vec<StructuredCalendarSpec>> {
    std::mem::take(&mut spec.exclude_calendar)
        .iter()
        .map(calendar)
        .collect()
}

/// Ranges as the server returns them: an end before the start means the start, step 0 means 1.
fn clean(c: &mut StructuredCalendarSpec) {
    for r in c
        .second
        .iter_mut()
        .chain(c.minute.iter_mut())
        .chain(c.hour.iter_mut())
        .chain(c.day_of_month.iter_mut())
        .chain(c.month.iter_mut())
        .chain(c.year.iter_mut())
        .chain(c.day_of_week.iter_mut())
    {
        if r.end < r.start {
            r.end = r.start;
        }
        if r.step == 0 {
            r.step = 1;
        }
    }
}

fn calendar(c: &CalendarSpec) -> Option<StructuredCalendarSpec> {
    Some(StructuredCalendarSpec {
        second: ranges(&c.second, "0", 0, 59, Mode::Int)?,
        minute: ranges(&c.minute, "0", 0, 59, Mode::Int)?,
        hour: ranges(&c.hour, "0", 0, 23, Mode::Int)?,
        day_of_week: ranges(&c.day_of_week, "*", 0, 7, Mode::Dow)?,
        day_of_month: ranges(&c.day_of_month, "*", 1, 31, Mode::Int)?,
        month: ranges(&c.month, "*", 1, 12, Mode::Month)?,
        year: ranges(&c.year, "*", 2000, 2100, Mode::Year)?,
        comment: c.comment.clone(),
    })
}

/// A cron string: its calendar or `@every` interval, and its `CRON_TZ`/`TZ` (empty if none).
fn cron(c: &str) -> Option<(Option<StructuredCalendarSpec>, Option<IntervalSpec>, String)> {
    let mut c = c.trim();
    let mut tz = String::new();
    if c.starts_with("TZ=") || c.starts_with("CRON_TZ=") {
        let (zone, rest) = c.split_once(' ')?;
        tz = zone
            .split_once('=')
            .map(|(_, z)| z)
            .unwrap_or_default()
            .to_owned();
        c = rest;
    }
    let (fields, comment) = match c.split_once('#') {
        Some((f, comment)) => (f.trim(), comment.trim()),
        None => (c.trim(), ""),
    };
    if fields.starts_with("@every") {
        // The server drops the zone of an `@every` string.
        return Some((None, Some(every(fields)?), String::new()));
    }
    let fields = match fields {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let f: Vec<&str> = fields.split_whitespace().collect();
    let field = |i: usize| f.get(i).map(|s| (*s).to_owned()).unwrap_or_default();
    let cal = match f.len() {
        5 | 6 => CalendarSpec {
            minute: field(0),
            hour: field(1),
            day_of_month: field(2),
            month: field(3),
            day_of_week: field(4),
            year: field(5),
            ..Default::default()
        },
        7 => CalendarSpec {
            second: field(0),
            minute: field(1),
            hour: field(2),
            day_of_month: field(3),
            month: field(4),
            day_of_week: field(5),
            year: field(6),
            ..Default::default()
        },
        _ => return None,
    };
    let cal = CalendarSpec {
        comment: comment.to_owned(),
        ..cal
    };
    Some((Some(calendar(&cal)?), None, tz))
}

/// `@every 14h` or `@every 14h/3h` (interval and phase).
fn every(c: &str) -> Option<IntervalSpec> {
    let (_, rest) = c.split_once(' ')?;
    let (interval, phase) = match rest.split_once('/') {
        Some((i, p)) => (i, Some(p)),
        None => (rest, None),
    };
    // Days and fractions are accepted by the server but not predicted here.
    let interval = parse_go_duration(interval).ok()?;
    let phase = match phase {
        Some(p) => Some(to_proto_duration(parse_go_duration(p).ok()?)),
        None => None,
    };
    Some(IntervalSpec {
        interval: Some(to_proto_duration(interval)),
        phase,
    })
}

/// One calendar field (`*`, `x`, `x-z`, `x-z/y`, `x/y`, comma-separated) as ranges.
fn ranges(s: &str, default: &str, min: i32, max: i32, mode: Mode) -> Option<Vec<Range>> {
    let s = match s.trim() {
        "" => default,
        t => t,
    };
    if s == "*" && mode == Mode::Year {
        // "Every year" is an empty list.
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let (part, step) = match part.split_once('/') {
            Some((p, step)) => {
                if step.contains('/') {
                    return None;
                }
                let step: i32 = step.parse().ok()?;
                if step < 1 {
                    return None;
                }
                (p, Some(step))
            }
            None => (part, None),
        };
        let (mut start, mut end) = (min, max);
        if part != "*" {
            if let Some((a, b)) = part.split_once('-') {
                if b.contains('-') {
                    return None;
                }
                start = value(a, min, max, mode)?;
                end = value(b, start, max, mode)?;
            } else {
                start = value(part, min, max, mode)?;
                if step.is_none() {
                    end = start;
                }
            }
        }
        let mut step = step.unwrap_or(1);
        // Sunday is 0; a 7 becomes 0, which may take a range of its own.
        if mode == Mode::Dow && end == 7 {
            if (7 - start) % step == 0 && (step > 1 || start > 1) {
                out.push(Range {
                    start: 0,
                    end: 0,
                    step: 0,
                });
                if start == 7 {
                    continue;
                }
            }
            end = 6;
        }
        if start == end {
            end = 0;
        }
        if step == 1 {
            step = 0;
        }
        out.push(Range { start, end, step });
    }
    Some(out)
}

/// A number, or a month (three letters at least) or weekday (two at least) name prefix.
fn value(s: &str, min: i32, max: i32, mode: Mode) -> Option<i32> {
    let names: &[&str] = match mode {
        Mode::Month if s.len() >= 3 => &MONTHS,
        Mode::Dow if s.len() >= 2 => &DAYS,
        _ => &[],
    };
    let lower = s.to_lowercase();
    let named = names.iter().position(|n| n.starts_with(&lower)).map(|i| {
        let i = i as i32;
        if mode == Mode::Month { i + 1 } else { i }
    });
    let v = match named {
        Some(v) => v,
        None => s.parse::<i64>().ok().and_then(|v| i32::try_from(v).ok())?,
    };
    (min..=max).contains(&v).then_some(v)
}

#[cfg(test)]
#[path = "canonical_tests.rs"]
mod tests;

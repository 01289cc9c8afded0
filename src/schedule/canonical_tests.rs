use super::*;

fn r(start: i32, end: i32, step: i32) -> Range {
    Range { start, end, step }
}

fn cron_spec(crons: &[&str], tz: &str) -> Option<ScheduleSpec> {
    spec(&ScheduleSpec {
        cron_string: crons.iter().map(|c| (*c).to_owned()).collect(),
        timezone_name: tz.to_owned(),
        ..Default::default()
    })
}

#[test]
fn a_weekday_cron_becomes_the_calendar_the_server_shows() {
    // As a 1.32 dev server returned `30 7 * * MON-FRI` and `@daily` (Europe/Berlin).
    let s = cron_spec(&["30 7 * * MON-FRI", "@daily"], "Europe/Berlin").expect("valid");
    assert!(s.cron_string.is_empty() && s.calendar.is_empty());
    assert_eq!(s.timezone_name, "Europe/Berlin");
    let weekday = &s.structured_calendar[0];
    assert_eq!(weekday.second, vec![r(0, 0, 1)]);
    assert_eq!(weekday.minute, vec![r(30, 30, 1)]);
    assert_eq!(weekday.hour, vec![r(7, 7, 1)]);
    assert_eq!(weekday.day_of_month, vec![r(1, 31, 1)]);
    assert_eq!(weekday.month, vec![r(1, 12, 1)]);
    assert_eq!(weekday.year, vec![]);
    assert_eq!(weekday.day_of_week, vec![r(1, 5, 1)]);
    let daily = &s.structured_calendar[1];
    assert_eq!(daily.hour, vec![r(0, 0, 1)]);
    assert_eq!(daily.day_of_week, vec![r(0, 6, 1)]);
}

#[test]
fn steps_lists_names_and_sunday_as_seven() {
    let s = cron_spec(&["*/15 9-17/2 1,15 jan-MAR 5-7"], "").expect("valid");
    let c = &s.structured_calendar[0];
    assert_eq!(c.minute, vec![r(0, 59, 15)]);
    assert_eq!(c.hour, vec![r(9, 17, 2)]);
    assert_eq!(c.day_of_month, vec![r(1, 1, 1), r(15, 15, 1)]);
    assert_eq!(c.month, vec![r(1, 3, 1)]);
    // 5-7 is Friday to Sunday: Sunday (0) gets a range of its own.
    assert_eq!(c.day_of_week, vec![r(0, 0, 1), r(5, 6, 1)]);
    let s = cron_spec(&["0 0 * * 7", "0 0 * * 1-7", "0 0 * * 3/2"], "").expect("valid");
    assert_eq!(s.structured_calendar[0].day_of_week, vec![r(0, 0, 1)]);
    assert_eq!(s.structured_calendar[1].day_of_week, vec![r(1, 6, 1)]);
    assert_eq!(
        s.structured_calendar[2].day_of_week,
        vec![r(0, 0, 1), r(3, 6, 2)]
    );
}

#[test]
fn seven_fields_comments_time_zones_and_every() {
    let s = cron_spec(&["CRON_TZ=Asia/Tokyo 10 0 12 * * * 2030 # noon"], "").expect("valid");
    let c = &s.structured_calendar[0];
    assert_eq!(
        (c.second.clone(), c.year.clone(), c.comment.as_str()),
        (vec![r(10, 10, 1)], vec![r(2030, 2030, 1)], "noon")
    );
    assert_eq!(s.timezone_name, "Asia/Tokyo");
    let s = cron_spec(&["@every 90m/5m"], "").expect("valid");
    assert_eq!(
        s.interval[0].interval.as_ref().map(|d| d.seconds),
        Some(5400)
    );
    assert_eq!(s.interval[0].phase.as_ref().map(|d| d.seconds), Some(300));
    assert!(s.structured_calendar.is_empty());
}

#[test]
fn calendars_default_to_midnight_every_day() {
    let s = spec(&ScheduleSpec {
        calendar: vec![CalendarSpec {
            hour: "9".into(),
            day_of_week: "MON,wed".into(),
            comment: "mornings".into(),
            ..Default::default()
        }],
        ..Default::default()
    })
    .expect("valid");
    let c = &s.structured_calendar[0];
    assert_eq!(c.second, vec![r(0, 0, 1)]);
    assert_eq!(c.minute, vec![r(0, 0, 1)]);
    assert_eq!(c.day_of_week, vec![r(1, 1, 1), r(3, 3, 1)]);
    assert_eq!(c.comment, "mornings");
}

#[test]
fn what_the_server_refuses_is_not_predicted() {
    for bad in [
        "61 * * * *",
        "* * * *",
        "0 0 * * MON-SUN-TUE",
        "0 0 */0 * *",
        "0 0 5-3 * *",
        "@every",
        "@every 1d",
        "CRON_TZ=Europe/Berlin",
    ] {
        assert_eq!(cron_spec(&[bad], ""), None, "{bad}");
    }
    assert_eq!(
        cron_spec(&["CRON_TZ=Asia/Tokyo 0 0 * * *"], "Europe/Berlin"),
        None,
        "conflicting zones"
    );
    assert_eq!(
        cron_spec(&["CRON_TZ=Asia/Tokyo 0 0 * * *", "0 1 * * *"], ""),
        None,
        "cron strings disagree on the zone"
    );
}

#[test]
fn intervals_and_the_rest_stay_as_written() {
    let d = crate::crd::FeedSource::test("news", "hn").desired("t:1", "c");
    let server = schedule(&d.schedule).expect("valid");
    assert_eq!(server, d.schedule);
    let (fp, spec_fp) = fingerprints(&d.schedule).expect("valid");
    assert_eq!(fp, d.fingerprint);
    assert_eq!(spec_fp, fingerprint::of_spec(d.schedule.spec.as_ref()));
}

//! Fire times across DST transitions: a table of exact instants, and properties over random
//! expressions in random zones, checked against a minute-by-minute walk of the wall clock.
//!
//! The rule (Debian cron's, README "Schedules"): a schedule whose minute or hour field begins
//! with `*` follows the wall clock; every other one is fixed-time: once per named time in an
//! overlap (first pass), and every named time inside one gap collapses into one fire at the
//! first instant after it.

use cloudtask_shared::schedule::{DstClass, Schedule, ScheduleSet};
use croner::parser::{CronParser, Seconds};
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn set(exprs: &[&str], zone: &str) -> ScheduleSet {
    let schedules = exprs
        .iter()
        .map(|e| Schedule::parse(e).expect("valid expression"))
        .collect();
    ScheduleSet::new(schedules, TimeZone::get(zone).expect("zone"), None, None)
}

fn local(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn fires(s: &ScheduleSet, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    let mut out = vec![];
    let mut cursor = from;
    while let Some(t) = s.next_after(cursor) {
        if t > to {
            break;
        }
        out.push(t);
        cursor = t;
    }
    out
}

/// (zone, expressions, from and to as local wall-clock times, the exact fires).
type Row = (
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static [&'static str],
);

const TABLE: &[Row] = &[
    // Berlin: 2026-10-25 03:00 CEST -> 02:00 CET; 2026-03-29 02:00 CET -> 03:00 CEST.
    (
        "Europe/Berlin",
        &["45,46 2 * * *"],
        "2026-10-25T00:00",
        "2026-10-25T23:59",
        &["2026-10-25T02:45:00+02:00", "2026-10-25T02:46:00+02:00"],
    ),
    (
        "Europe/Berlin",
        &["45-46 2 * * *"],
        "2026-10-25T00:00",
        "2026-10-25T23:59",
        &["2026-10-25T02:45:00+02:00", "2026-10-25T02:46:00+02:00"],
    ),
    (
        "Europe/Berlin",
        &["45,46 2 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T23:59",
        &["2026-03-29T03:00:00+02:00"],
    ),
    (
        "Europe/Berlin",
        &["45-46 2 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T23:59",
        &["2026-03-29T03:00:00+02:00"],
    ),
    (
        "Europe/Berlin",
        &["45 2,5 * * *"],
        "2026-10-25T00:00",
        "2026-10-25T23:59",
        &["2026-10-25T02:45:00+02:00", "2026-10-25T05:45:00+01:00"],
    ),
    (
        "Europe/Berlin",
        &["45 2,5 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T23:59",
        &["2026-03-29T03:00:00+02:00", "2026-03-29T05:45:00+02:00"],
    ),
    (
        "Europe/Berlin",
        &["45 1-2 * * *"],
        "2026-10-25T00:00",
        "2026-10-25T23:59",
        &["2026-10-25T01:45:00+02:00", "2026-10-25T02:45:00+02:00"],
    ),
    (
        "Europe/Berlin",
        &["45 2 * * *"],
        "2026-10-25T00:00",
        "2026-10-25T23:59",
        &["2026-10-25T02:45:00+02:00"],
    ),
    (
        "Europe/Berlin",
        &["0 45 2 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T23:59",
        &["2026-03-29T03:00:00+02:00"],
    ),
    // The seconds field does not change the class: collapsed to the first instant after.
    (
        "Europe/Berlin",
        &["30 45,50 2 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T23:59",
        &["2026-03-29T03:00:00+02:00"],
    ),
    // Ranges with steps are fixed-time too.
    (
        "Europe/Berlin",
        &["0 0-23/2 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T05:00",
        &[
            "2026-03-29T00:00:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-29T04:00:00+02:00",
        ],
    ),
    // The collapsed fire coincides with the next named time: one fire.
    (
        "Europe/Berlin",
        &["0,30 2,3 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T23:59",
        &["2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"],
    ),
    // Two schedules naming the same instant fire once.
    (
        "Europe/Berlin",
        &["45 2 * * *", "50 2 * * *", "0 3 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T23:59",
        &["2026-03-29T03:00:00+02:00"],
    ),
    // Wall clock: nothing in the gap, both passes of the overlap.
    (
        "Europe/Berlin",
        &["*/30 2 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T23:59",
        &[],
    ),
    (
        "Europe/Berlin",
        &["*/30 2 * * *"],
        "2026-10-25T00:00",
        "2026-10-25T23:59",
        &[
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-25T02:00:00+01:00",
            "2026-10-25T02:30:00+01:00",
        ],
    ),
    (
        "Europe/Berlin",
        &["@hourly"],
        "2026-03-29T01:30",
        "2026-03-29T03:30",
        &["2026-03-29T03:00:00+02:00"],
    ),
    // Changes at midnight.
    (
        "America/Santiago",
        &["47-54 0 * * *"],
        "2026-09-05T12:00",
        "2026-09-06T23:59",
        &["2026-09-06T01:00:00-03:00"],
    ),
    (
        "America/Santiago",
        &["@daily"],
        "2026-09-05T12:00",
        "2026-09-06T23:59",
        &["2026-09-06T01:00:00-03:00"],
    ),
    (
        "America/Havana",
        &["24,25 0 * * *"],
        "2026-10-31T12:00",
        "2026-11-01T23:59",
        &["2026-11-01T00:24:00-04:00", "2026-11-01T00:25:00-04:00"],
    ),
    (
        "Asia/Beirut",
        &["*/21 1 * * SUN"],
        "2030-03-30T12:00",
        "2030-03-31T23:59",
        &[
            "2030-03-31T01:00:00+03:00",
            "2030-03-31T01:21:00+03:00",
            "2030-03-31T01:42:00+03:00",
        ],
    ),
    (
        "America/New_York",
        &["37 1,11 * * *"],
        "2026-11-01T00:00",
        "2026-11-01T23:59",
        &["2026-11-01T01:37:00-04:00", "2026-11-01T11:37:00-05:00"],
    ),
    (
        "America/New_York",
        &["0 30 2 * * *"],
        "2026-03-08T00:00",
        "2026-03-08T23:59",
        &["2026-03-08T03:00:00-04:00"],
    ),
    // London: 2026-03-29 01:00 GMT -> 02:00 BST; 2026-10-25 02:00 BST -> 01:00 GMT.
    (
        "Europe/London",
        &["30 1,2 * * *"],
        "2026-03-29T00:00",
        "2026-03-29T23:59",
        &["2026-03-29T02:00:00+01:00", "2026-03-29T02:30:00+01:00"],
    ),
    (
        "Europe/London",
        &["30 1,2 * * *"],
        "2026-10-25T00:00",
        "2026-10-25T23:59",
        &["2026-10-25T01:30:00+01:00", "2026-10-25T02:30:00+00:00"],
    ),
    // A 45-minute offset: Chatham 2026-04-05 03:45 +13:45 -> 02:45 +12:45.
    (
        "Pacific/Chatham",
        &["7,53 2,22 * * *"],
        "2026-04-05T00:00",
        "2026-04-05T23:59",
        &[
            "2026-04-05T02:07:00+13:45",
            "2026-04-05T02:53:00+13:45",
            "2026-04-05T22:07:00+12:45",
            "2026-04-05T22:53:00+12:45",
        ],
    ),
    // Half-hour shifts: Lord Howe 2026-04-05 02:00 +11 -> 01:30 +10:30; 2026-10-04 02:00 -> 02:30.
    (
        "Australia/Lord_Howe",
        &["45 1 * * *"],
        "2026-04-05T00:00",
        "2026-04-05T23:59",
        &["2026-04-05T01:45:00+11:00"],
    ),
    (
        "Australia/Lord_Howe",
        &["*/20 1 * * *"],
        "2026-04-05T00:00",
        "2026-04-05T23:59",
        &[
            "2026-04-05T01:00:00+11:00",
            "2026-04-05T01:20:00+11:00",
            "2026-04-05T01:40:00+11:00",
            "2026-04-05T01:40:00+10:30",
        ],
    ),
    (
        "Australia/Lord_Howe",
        &["15,20 2 * * *"],
        "2026-10-04T00:00",
        "2026-10-04T23:59",
        &["2026-10-04T02:30:00+11:00"],
    ),
    (
        "Australia/Lord_Howe",
        &["*/10 2 * * *"],
        "2026-10-04T00:00",
        "2026-10-04T23:59",
        &[
            "2026-10-04T02:30:00+11:00",
            "2026-10-04T02:40:00+11:00",
            "2026-10-04T02:50:00+11:00",
        ],
    ),
];

#[test]
fn table_of_exact_instants() {
    let mut wrong = vec![];
    for (zone, exprs, from, to, want) in TABLE {
        let tz = TimeZone::get(zone).expect("zone");
        let civil = |s: &str| -> Timestamp {
            let dt: DateTime = s.parse().expect("civil time");
            dt.to_zoned(tz.clone()).expect("in range").timestamp()
        };
        // `from` is just before the first fire it may include.
        let from = civil(from) - SignedDuration::from_secs(1);
        let got: Vec<String> = fires(&set(exprs, zone), from, civil(to))
            .into_iter()
            .map(|t| local(t, &tz))
            .collect();
        if got != *want {
            wrong.push(format!("{exprs:?} in {zone}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn classification_follows_debian_cron() {
    for (text, class) in [
        ("45 2 * * *", DstClass::FixedTime),
        ("45,46 2 * * *", DstClass::FixedTime),
        ("45 1-2 * * *", DstClass::FixedTime),
        ("0 0-23/2 * * *", DstClass::FixedTime),
        ("30 45 2 * * *", DstClass::FixedTime),
        ("* 45 2 * * *", DstClass::FixedTime),
        ("@daily", DstClass::FixedTime),
        ("@weekly", DstClass::FixedTime),
        ("*/30 2 * * *", DstClass::WallClock),
        ("30 * * * *", DstClass::WallClock),
        ("0 */15 2 * * *", DstClass::WallClock),
        ("@hourly", DstClass::WallClock),
    ] {
        let s = Schedule::parse(text).expect("valid");
        assert_eq!(s.dst_class(), Some(class), "{text}");
    }
    let every = Schedule::parse("@every 1h").expect("valid");
    assert_eq!(every.dst_class(), None);
}

/// Zones with transitions of every kind: one hour, half an hour, a 45-minute offset,
/// midnight changes, southern and northern hemispheres.
const ZONES: &[&str] = &[
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "Australia/Sydney",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Auckland",
    "America/St_Johns",
];

fn field(max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        (0..=max).prop_map(|v| v.to_string()),
        prop::collection::btree_set(0..=max, 2..5).prop_map(|v| v
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")),
        (0..=max, 0..5u32).prop_map(move |(a, n)| format!("{a}-{}", (a + n).min(max))),
        (0..=max / 2, 2..10u32).prop_map(move |(a, s)| format!("{a}-{max}/{s}")),
        Just("*".to_string()),
        (2..20u32).prop_map(|s| format!("*/{s}")),
    ]
}

/// A field that does not begin with `*`: a value, a list, a range or a range with a step.
fn fixed_field(max: u32) -> impl Strategy<Value = String> {
    field(max).prop_filter("fixed-time form", |f| !f.starts_with('*'))
}

/// Every transition of the zone in 2026-2030.
fn transitions(tz: &TimeZone) -> Vec<Timestamp> {
    let from: Timestamp = "2026-01-01T00:00:00Z".parse().expect("constant");
    let until: Timestamp = "2031-01-01T00:00:00Z".parse().expect("constant");
    tz.following(from)
        .map(|t| t.timestamp())
        .take_while(|t| *t < until)
        .collect()
}

/// What the rule says, by walking the wall clock minute by minute over `[from, to]` (civil):
/// the instants of every matching civil minute, or for fixed-time schedules, one fire at the
/// transition for all matches inside a gap.
fn walk(
    text: &str,
    class: DstClass,
    tz: &TimeZone,
    from: DateTime,
    to: DateTime,
) -> Vec<Timestamp> {
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(text)
        .expect("valid");
    let mut out = vec![];
    let mut civil = from;
    while civil <= to {
        let z = civil.to_zoned(TimeZone::UTC).expect("in range");
        if cron.is_time_matching(&z).expect("matchable") {
            match tz.to_ambiguous_timestamp(civil).offset() {
                AmbiguousOffset::Unambiguous { offset } => {
                    out.push(offset.to_timestamp(civil).expect("in range"))
                }
                AmbiguousOffset::Gap { after, .. } => {
                    if class == DstClass::FixedTime {
                        // The first instant after the gap: walk to where the wall clock exists.
                        let mut end = civil;
                        while matches!(
                            tz.to_ambiguous_timestamp(end).offset(),
                            AmbiguousOffset::Gap { .. }
                        ) {
                            end = end
                                .checked_add(SignedDuration::from_mins(1))
                                .expect("in range");
                        }
                        out.push(after.to_timestamp(end).expect("in range"));
                    }
                }
                AmbiguousOffset::Fold { before, after } => {
                    out.push(before.to_timestamp(civil).expect("in range"));
                    if class == DstClass::WallClock {
                        out.push(after.to_timestamp(civil).expect("in range"));
                    }
                }
            }
        }
        civil = civil
            .checked_add(SignedDuration::from_mins(1))
            .expect("in range");
    }
    out.sort();
    out.dedup();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn fires_follow_the_rule_around_every_kind_of_transition(
        zone in 0..ZONES.len(),
        which in 0usize..10,
        minute in field(59),
        hour in field(23),
        extra in prop::option::of(("[0-9]|[1-5][0-9]", "[0-9]|1[0-9]|2[0-3]")),
    ) {
        let tz = TimeZone::get(ZONES[zone]).expect("zone");
        let all = transitions(&tz);
        prop_assume!(!all.is_empty());
        let t = all[which % all.len()];
        let text = format!("{minute} {hour} * * *");
        let mut exprs = vec![text.clone()];
        // Sometimes a second, single-time schedule: two schedules naming one instant fire once.
        if let Some((m, h)) = &extra {
            exprs.push(format!("{m} {h} * * *"));
        }
        let refs: Vec<&str> = exprs.iter().map(String::as_str).collect();
        let s = set(&refs, ZONES[zone]);
        let from = t - SignedDuration::from_hours(26);
        let to = t + SignedDuration::from_hours(26);
        let got = fires(&s, from, to);

        // Fire times strictly increase.
        for pair in got.windows(2) {
            prop_assert!(pair[0] < pair[1], "{exprs:?}: {} then {}", pair[0], pair[1]);
        }
        // What a minute-by-minute walk of the wall clock gives, schedule by schedule, merged.
        let civil_from = tz.to_datetime(from).checked_sub(SignedDuration::from_hours(2)).expect("range");
        let civil_to = tz.to_datetime(to).checked_add(SignedDuration::from_hours(2)).expect("range");
        let mut want: Vec<Timestamp> = exprs
            .iter()
            .flat_map(|e| {
                let class = Schedule::parse(e).expect("valid").dst_class().expect("cron");
                walk(e, class, &tz, civil_from, civil_to)
            })
            .filter(|w| *w > from && *w <= to)
            .collect();
        want.sort();
        want.dedup();
        prop_assert_eq!(
            got.iter().map(|t| local(*t, &tz)).collect::<Vec<_>>(),
            want.iter().map(|t| local(*t, &tz)).collect::<Vec<_>>(),
            "{:?} in {}", exprs, ZONES[zone]
        );

        let class = Schedule::parse(&text).expect("valid").dst_class().expect("cron");
        let single = fires(&set(&[&text], ZONES[zone]), from, to);
        match class {
            DstClass::FixedTime => {
                // Never the same local wall-clock time twice.
                let mut civil: Vec<DateTime> = single.iter().map(|t| tz.to_datetime(*t)).collect();
                let n = civil.len();
                civil.sort();
                civil.dedup();
                prop_assert_eq!(civil.len(), n, "{} in {}: a wall-clock time fired twice", text, ZONES[zone]);
            }
            DstClass::WallClock => {
                // Nothing inside a gap: every fire is at a wall-clock time the fields name.
                let cron = CronParser::builder().seconds(Seconds::Optional).build().parse(&text).expect("valid");
                for f in &single {
                    let z = tz.to_datetime(*f).to_zoned(TimeZone::UTC).expect("range");
                    prop_assert!(cron.is_time_matching(&z).expect("matchable"),
                        "{} in {}: {} is not a named time", text, ZONES[zone], local(*f, &tz));
                }
            }
        }
    }

    #[test]
    fn a_gap_collapses_to_one_fire_before_the_next_named_time(
        zone in 0..ZONES.len(),
        which in 0usize..10,
        minute in fixed_field(59),
        hour in fixed_field(23),
        into_gap in 0i64..1000,
    ) {
        let tz = TimeZone::get(ZONES[zone]).expect("zone");
        let gaps: Vec<Timestamp> = transitions(&tz)
            .into_iter()
            .filter(|t| tz.to_offset(*t).seconds() > tz.to_offset(*t - SignedDuration::from_secs(1)).seconds())
            .collect();
        let t = gaps[which % gaps.len()];
        let before = tz.to_offset(t - SignedDuration::from_secs(1));
        let after = tz.to_offset(t);
        let gap_start = before.to_datetime(t);
        let gap_end = after.to_datetime(t);
        // Name one minute inside the gap, besides whatever the fields name.
        let gap_minutes = gap_end.duration_since(gap_start).as_mins();
        let named = gap_start.checked_add(SignedDuration::from_mins(into_gap % gap_minutes)).expect("range");
        let text = format!("{minute},{} {hour},{} * * *", named.minute(), named.hour());
        let class = Schedule::parse(&text).expect("valid").dst_class().expect("cron");
        prop_assert_eq!(class, DstClass::FixedTime);
        let cron = CronParser::builder().seconds(Seconds::Optional).build().parse(&text).expect("valid");
        let matches = |c: DateTime| cron.is_time_matching(&c.to_zoned(TimeZone::UTC).expect("range")).expect("matchable");
        // The next named time after the gap, by the wall clock.
        let mut next = gap_end;
        while !matches(next) {
            next = next.checked_add(SignedDuration::from_mins(1)).expect("range");
        }
        let next_at = after.to_timestamp(next).expect("range");
        let s = set(&[&text], ZONES[zone]);
        let got = fires(&s, t - SignedDuration::from_secs(1), next_at);
        let shown: Vec<String> = got.iter().map(|f| local(*f, &tz)).collect();
        if next == gap_end {
            prop_assert_eq!(got, vec![t], "{} in {}: {:?}", text, ZONES[zone], shown);
        } else {
            prop_assert_eq!(got, vec![t, next_at], "{} in {}: {:?}", text, ZONES[zone], shown);
        }
    }
}

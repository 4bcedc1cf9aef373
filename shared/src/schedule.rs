//! When a task fires: cron expressions (seconds optional, aliases) and `@every` intervals,
//! evaluated in the task's IANA zone.
//!
//! DST follows Debian's Vixie cron (README "Schedules"). `croner` only matches fields against civil
//! (wall-clock) times; [`CronSchedule::next_after`] maps those civil times to instants:
//! - a schedule whose minute or hour field begins with `*` (`*`, `*/15`) follows the wall clock:
//!   nothing inside a spring-forward gap, both passes of a fall-back overlap;
//! - every other schedule (single values, lists, ranges, `0-23/2`) is fixed-time: in an overlap
//!   each named time fires once, in the first pass; all named times inside one gap collapse into
//!   one fire at the first instant after the gap (02:30 → 03:00).
//!
//! The seconds field does not change the class. `@every` intervals run on real elapsed time,
//! aligned to the Unix epoch (or to the task's start), so every node computes the same instants
//! and a restart does not shift them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// One parsed schedule of a task.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Shared between every task with the same expression (see [`interned_cron`]).
    Cron(Arc<CronSchedule>),
    /// Fixed interval in milliseconds.
    Every(u64),
}

/// How a cron schedule meets a DST transition (Debian cron's classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DstClass {
    /// Minute or hour field begins with `*`: runs by the wall clock.
    WallClock,
    /// Names times of day: each fires once per day, even across a gap or an overlap.
    FixedTime,
}

/// A cron expression with its DST class.
#[derive(Debug)]
pub struct CronSchedule {
    cron: Cron,
    class: DstClass,
    /// False for an expression no date matches (`0 0 30 2 *`): it parses, so a stored task
    /// with it is still listed, but it has no next time, found at once instead of by a search
    /// to the year 5000 on every call (seconds each).
    fires: bool,
}

/// Parsed cron expressions by text. A parsed expression holds several KiB of bitfields, and
/// thousands of tasks often share a handful of expressions: they share one copy. Entries are
/// weak, so an expression no task uses any more is freed.
static CRONS: LazyLock<Mutex<HashMap<String, Weak<CronSchedule>>>> = LazyLock::new(Mutex::default);

fn interned_cron(text: &str) -> Result<Arc<CronSchedule>, ParseError> {
    let mut crons = CRONS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = crons.get(text).and_then(Weak::upgrade) {
        return Ok(c);
    }
    // croner reads an empty list item (`1,,2`, `, ,`) as matching nothing: an expression that
    // then never fires, and whose every search walks to the year 5000 second by second.
    if text
        .split_whitespace()
        .any(|field| field.split(',').any(str::is_empty))
    {
        return Err(ParseError(format!(
            "{text:?} has an empty item in a list (like \"1,,2\")"
        )));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(text)
        .map_err(|e| ParseError(format!("{text:?} is not a valid cron expression: {e}")))?;
    let cron = Arc::new(CronSchedule {
        fires: fires_at_all(&cron),
        cron,
        class: classify(text),
    });
    // Sweep dead entries now and then: at sizes that double, so the cost stays linear overall.
    if crons.len() >= 4096 && crons.len().is_power_of_two() {
        crons.retain(|_, w| w.strong_count() > 0);
    }
    crons.insert(text.to_string(), Arc::downgrade(&cron));
    Ok(cron)
}

/// Whether `cron` matches any time. Searched over the 30 years before croner's limit (the
/// year 5000), which hold every calendar pattern (leap days, a fifth weekday of February): a
/// search for a date that never comes costs milliseconds there, not the seconds a search
/// from today to the year 5000 takes on every call.
fn fires_at_all(cron: &Cron) -> bool {
    let probe = DateTime::constant(croner::YEAR_UPPER_LIMIT as i16 - 30, 1, 1, 0, 0, 0, 0);
    probe
        .to_zoned(TimeZone::UTC)
        .is_ok_and(|from| cron.find_next_occurrence(&from, true).is_ok())
}

/// Debian cron's rule, on the text: wall clock when the minute or the hour field begins with
/// `*`, fixed-time otherwise. Aliases name minute 0, and only `@hourly` leaves the hour `*`.
fn classify(text: &str) -> DstClass {
    if text.starts_with('@') {
        return if text.eq_ignore_ascii_case("@hourly") {
            DstClass::WallClock
        } else {
            DstClass::FixedTime
        };
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    let (minute, hour) = match fields.as_slice() {
        [_, m, h, _, _, _] | [m, h, _, _, _] => (*m, *h),
        _ => return DstClass::FixedTime,
    };
    if minute.starts_with('*') || hour.starts_with('*') {
        DstClass::WallClock
    } else {
        DstClass::FixedTime
    }
}

/// A schedule that does not parse, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(String);

impl Schedule {
    /// Parses `@every 30s`, `@hourly`-style aliases, 6-field (seconds first) or 5-field cron.
    pub fn parse(text: &str) -> Result<Schedule, ParseError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("@every") {
            let rest = rest.trim();
            if rest.is_empty() {
                return Err(ParseError(
                    "@every needs a duration, like \"@every 30s\"".into(),
                ));
            }
            let ms = crate::duration::parse_duration_ms(rest).map_err(ParseError)?;
            if ms < 1000 {
                return Err(ParseError(format!(
                    "@every {rest}: the shortest interval is 1s"
                )));
            }
            return Ok(Schedule::Every(ms));
        }
        let fields = text.split_whitespace().count();
        if !text.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(ParseError(format!(
                "{text:?} has {fields} fields; cron needs 6 (seconds first) or 5 (minute first)"
            )));
        }
        interned_cron(text).map(Schedule::Cron)
    }

    /// The first instant strictly after `after`, if any.
    pub fn next_after(
        &self,
        after: Timestamp,
        tz: &TimeZone,
        anchor: Timestamp,
    ) -> Option<Timestamp> {
        match self {
            Schedule::Every(ms) => {
                let ms = i64::try_from(*ms).ok()?;
                let since = after.as_millisecond() - anchor.as_millisecond();
                let periods = if since < 0 { 0 } else { since / ms + 1 };
                let next = anchor
                    .as_millisecond()
                    .checked_add(periods.checked_mul(ms)?)?;
                Timestamp::from_millisecond(next).ok()
            }
            Schedule::Cron(cron) => cron.next_after(after, tz),
        }
    }

    /// The DST class of a cron schedule; `None` for `@every`, which runs on elapsed time.
    pub fn dst_class(&self) -> Option<DstClass> {
        match self {
            Schedule::Cron(c) => Some(c.class),
            Schedule::Every(_) => None,
        }
    }
}

/// The instants of one civil time, by the class's rule.
enum Instants {
    None,
    One(Timestamp),
    /// Both passes of an overlap, the first pass first.
    Two(Timestamp, Timestamp),
}

impl CronSchedule {
    /// The first instant strictly after `after` whose civil time in `tz` the expression
    /// matches, by the DST rule of its class.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        if !self.fires {
            return None;
        }
        // croner works in whole seconds: flooring keeps "strictly after" exact.
        let after = Timestamp::from_second(after.as_second()).ok()?;
        let mut civil = self.first_civil(after, tz);
        let mut inclusive = true;
        let mut best: Option<Timestamp> = None;
        // Once a candidate is found, later civil times can only beat it from inside the overlap
        // it came from (their first pass precedes its second): scan up to the overlap's end.
        let mut scan_until: Option<DateTime> = None;
        loop {
            civil = self.next_civil(civil, inclusive)?;
            inclusive = false;
            if scan_until.is_some_and(|end| civil >= end) {
                return best;
            }
            let (first, second) = match self.instants(civil, tz)? {
                Instants::None => continue,
                Instants::One(t) => (t, None),
                Instants::Two(a, b) => (a, Some(b)),
            };
            let candidate = [Some(first), second]
                .into_iter()
                .flatten()
                .filter(|t| *t > after)
                .min();
            let Some(candidate) = candidate else {
                continue;
            };
            if best.is_none_or(|b| candidate < b) {
                best = Some(candidate);
            }
            if scan_until.is_none() {
                match second {
                    Some(second) if candidate == second => {
                        scan_until = Some(civil.checked_add(second.duration_since(first)).ok()?);
                    }
                    _ => return best,
                }
            }
        }
    }

    /// Where the civil search starts: the wall clock at `after`, or, for a wall-clock schedule
    /// just before an overlap, the overlap's start (its second pass lies ahead).
    fn first_civil(&self, after: Timestamp, tz: &TimeZone) -> DateTime {
        let civil = tz.to_datetime(after);
        if self.class == DstClass::FixedTime {
            return civil;
        }
        let Some(next) = tz.following(after).next() else {
            return civil;
        };
        let before = tz.to_offset(after);
        let back = before.duration_since(next.offset());
        if back.is_positive() && next.timestamp().duration_since(after) < back {
            let overlap_start = next.offset().to_datetime(next.timestamp());
            return civil.min(overlap_start);
        }
        civil
    }

    /// The next civil time the fields match: croner on the UTC clock, which has no transitions.
    fn next_civil(&self, from: DateTime, inclusive: bool) -> Option<DateTime> {
        let from = from.to_zoned(TimeZone::UTC).ok()?;
        self.cron
            .find_next_occurrence(&from, inclusive)
            .ok()
            .map(|z| z.datetime())
    }

    fn instants(&self, civil: DateTime, tz: &TimeZone) -> Option<Instants> {
        let at = |offset: Offset| offset.to_timestamp(civil).ok();
        Some(match tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => Instants::One(at(offset)?),
            AmbiguousOffset::Gap { after, .. } => match self.class {
                DstClass::WallClock => Instants::None,
                // The first instant after the gap: the transition that opened it.
                DstClass::FixedTime => Instants::One(tz.following(at(after)?).next()?.timestamp()),
            },
            AmbiguousOffset::Fold { before, after } => match self.class {
                DstClass::WallClock => Instants::Two(at(before)?, at(after)?),
                DstClass::FixedTime => Instants::One(at(before)?),
            },
        })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Cron(c) => f.write_str(c.cron.as_str()),
            Schedule::Every(ms) => {
                write!(f, "@every {:#}", SignedDuration::from_millis(*ms as i64))
            }
        }
    }
}

/// All schedules of a task with its zone and window: the task's fire times.
#[derive(Debug, Clone)]
pub struct ScheduleSet {
    schedules: Vec<Schedule>,
    tz: TimeZone,
    start_at: Option<Timestamp>,
    end_at: Option<Timestamp>,
}

impl ScheduleSet {
    pub fn new(
        schedules: Vec<Schedule>,
        tz: TimeZone,
        start_at: Option<Timestamp>,
        end_at: Option<Timestamp>,
    ) -> Self {
        ScheduleSet {
            schedules,
            tz,
            start_at,
            end_at,
        }
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// The first fire time of the whole window (from the Unix epoch when it has no start):
    /// `None` means the set can never fire.
    pub fn first_fire(&self) -> Option<Timestamp> {
        let from = self
            .start_at
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .checked_sub(SignedDuration::from_millis(1))
            .ok()?;
        self.next_after(from)
    }

    /// The earliest fire time strictly after `after` across all schedules, within the window.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let anchor = self.start_at.unwrap_or(Timestamp::UNIX_EPOCH);
        let after = match self.start_at {
            Some(start) if after < start => {
                start.checked_sub(SignedDuration::from_millis(1)).ok()?
            }
            _ => after,
        };
        let next = self
            .schedules
            .iter()
            .filter_map(|s| s.next_after(after, &self.tz, anchor))
            .min()?;
        match self.end_at {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    /// The next `n` fire times after `after`: what users see before they save.
    pub fn upcoming(&self, after: Timestamp, n: usize) -> Vec<Timestamp> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = after;
        while out.len() < n {
            match self.next_after(cursor) {
                Some(t) => {
                    out.push(t);
                    cursor = t;
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(exprs: &[&str], zone: &str) -> ScheduleSet {
        let schedules = exprs.iter().map(|e| Schedule::parse(e).unwrap()).collect();
        ScheduleSet::new(schedules, TimeZone::get(zone).unwrap(), None, None)
    }

    fn at(zone: &str, civil: &str) -> Timestamp {
        let dt: jiff::civil::DateTime = civil.parse().unwrap();
        dt.to_zoned(TimeZone::get(zone).unwrap())
            .unwrap()
            .timestamp()
    }

    fn local(ts: Timestamp, zone: &str) -> String {
        ts.to_zoned(TimeZone::get(zone).unwrap())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    fn fires_between(s: &ScheduleSet, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        let mut out = vec![];
        let mut cur = from;
        while let Some(t) = s.next_after(cur) {
            if t > to {
                break;
            }
            out.push(t);
            cur = t;
        }
        out
    }

    #[test]
    fn five_and_six_fields_and_aliases() {
        let s = set(&["*/5 * * * *"], "UTC");
        let t0: Timestamp = "2026-01-01T00:00:30Z".parse().unwrap();
        assert_eq!(
            s.next_after(t0).unwrap().to_string(),
            "2026-01-01T00:05:00Z"
        );
        let s = set(&["*/10 * * * * *"], "UTC");
        assert_eq!(
            s.next_after(t0).unwrap().to_string(),
            "2026-01-01T00:00:40Z"
        );
        let s = set(&["@hourly"], "UTC");
        assert_eq!(
            s.next_after(t0).unwrap().to_string(),
            "2026-01-01T01:00:00Z"
        );
        let s = set(&["@every 90s"], "UTC");
        assert_eq!(
            s.next_after(t0).unwrap().to_string(),
            "2026-01-01T00:01:30Z"
        );
    }

    #[test]
    fn several_schedules_merge() {
        let s = set(&["0 0 9 * * *", "0 0 17 * * *"], "UTC");
        let t0: Timestamp = "2026-01-01T10:00:00Z".parse().unwrap();
        let got: Vec<String> = s.upcoming(t0, 3).iter().map(|t| t.to_string()).collect();
        assert_eq!(
            got,
            [
                "2026-01-01T17:00:00Z",
                "2026-01-02T09:00:00Z",
                "2026-01-02T17:00:00Z"
            ]
        );
    }

    #[test]
    fn bad_schedules_say_why() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        for rare in ["0 0 29 2 *", "0 0 0 ? 2 5#5", "0 0 0 L 2 *"] {
            let s = Schedule::parse(rare).unwrap();
            assert!(
                s.next_after(now, &TimeZone::UTC, now).is_some(),
                "{rare} fires, if rarely"
            );
        }
        // Found by fuzzing: no date matches these, and each search for one took seconds.
        // It is known once, when parsed, so no call searches for it again.
        for never in ["0 0 30 2 *", "0 0 0 31 4 *"] {
            let s = Schedule::parse(never).unwrap();
            assert!(matches!(&s, Schedule::Cron(c) if !c.fires), "{never}");
            assert_eq!(s.next_after(now, &TimeZone::UTC, now), None, "{never}");
        }
        for (text, needle) in [
            ("61 * * * *", "not a valid cron"),
            ("* * *", "3 fields"),
            ("@every", "needs a duration"),
            ("@every 10ms", "shortest interval"),
            ("@every soon", "not a duration"),
            ("@sometimes", "not a valid cron"),
            // Found by fuzzing: each took seconds to minutes per search before it was refused.
            (", , * * * *", "empty item"),
            ("1,,2 * * * *", "empty item"),
            ("* * * * * ,", "empty item"),
        ] {
            let err = Schedule::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn window_bounds_fire_times() {
        let mut s = set(&["@every 10s"], "UTC");
        s.start_at = Some("2026-01-01T00:00:05Z".parse().unwrap());
        s.end_at = Some("2026-01-01T00:00:30Z".parse().unwrap());
        let got: Vec<String> = s
            .upcoming("2025-12-31T00:00:00Z".parse().unwrap(), 10)
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "2026-01-01T00:00:05Z",
                "2026-01-01T00:00:15Z",
                "2026-01-01T00:00:25Z"
            ]
        );
    }

    // Spring forward: New York 2026-03-08 02:00 -> 03:00, Berlin 2026-03-29 02:00 -> 03:00.
    #[test]
    fn spring_forward_fixed_time_fires_once_after_the_gap() {
        for (zone, day) in [
            ("America/New_York", "2026-03-08"),
            ("Europe/Berlin", "2026-03-29"),
        ] {
            let s = set(&["0 30 2 * * *"], zone);
            let from = at(zone, &format!("{day}T00:00:00"));
            let to = at(zone, &format!("{day}T23:59:59"));
            let fires = fires_between(&s, from, to);
            assert_eq!(fires.len(), 1, "{zone}: {fires:?}");
            assert_eq!(
                local(fires[0], zone)[..19],
                format!("{day}T03:00:00"),
                "{zone}"
            );
        }
    }

    #[test]
    fn spring_forward_wildcard_hour_skips_the_gap() {
        for (zone, day) in [
            ("America/New_York", "2026-03-08"),
            ("Europe/Berlin", "2026-03-29"),
        ] {
            let s = set(&["0 30 * * * *"], zone);
            let from = at(zone, &format!("{day}T00:00:00"));
            let to = at(zone, &format!("{day}T23:59:59"));
            let fires = fires_between(&s, from, to);
            // 24 wall-clock half-hours minus the one inside the gap.
            assert_eq!(fires.len(), 23, "{zone}");
            assert!(
                fires.iter().all(|t| !local(*t, zone).contains("T02:")),
                "{zone}: a fire inside the gap"
            );
        }
    }

    // Fall back: New York 2026-11-01 02:00 -> 01:00, Berlin 2026-10-25 03:00 -> 02:00.
    #[test]
    fn fall_back_fixed_time_fires_once_in_the_first_pass() {
        for (zone, day, hour, offset) in [
            ("America/New_York", "2026-11-01", "01", "-04:00"),
            ("Europe/Berlin", "2026-10-25", "02", "+02:00"),
        ] {
            let s = set(&[&format!("0 30 {hour} * * *")], zone);
            let from = at(zone, &format!("{day}T00:00:00"));
            let to = at(zone, &format!("{day}T23:59:59"));
            let fires = fires_between(&s, from, to);
            assert_eq!(fires.len(), 1, "{zone}: {fires:?}");
            assert_eq!(local(fires[0], zone), format!("{day}T{hour}:30:00{offset}"));
        }
    }

    #[test]
    fn fall_back_wildcard_hour_fires_in_both_passes() {
        for (zone, day, hour) in [
            ("America/New_York", "2026-11-01", "01"),
            ("Europe/Berlin", "2026-10-25", "02"),
        ] {
            let s = set(&["0 30 * * * *"], zone);
            let from = at(zone, &format!("{day}T00:00:00"));
            let to = at(zone, &format!("{day}T23:59:59"));
            let fires = fires_between(&s, from, to);
            assert_eq!(fires.len(), 25, "{zone}");
            let in_overlap = fires
                .iter()
                .filter(|t| local(**t, zone).contains(&format!("T{hour}:30")))
                .count();
            assert_eq!(in_overlap, 2, "{zone}");
        }
    }

    #[test]
    fn every_runs_on_elapsed_time_across_dst() {
        let zone = "America/New_York";
        let s = set(&["@every 1h"], zone);
        let from = at(zone, "2026-11-01T00:00:00");
        let fires = s.upcoming(from, 4);
        for pair in fires.windows(2) {
            assert_eq!(pair[1].as_second() - pair[0].as_second(), 3600);
        }
    }

    const ZONES: [&str; 4] = [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Sydney",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn fire_times_strictly_increase(
            zone in 0..ZONES.len(),
            expr in prop::sample::select(vec![
                "0 30 2 * * *", "0 0 * * * *", "0 */20 * * * *", "*/7 * * * * *",
                "0 15 1,2,3 * * *", "@daily", "@every 17m", "0 0 12 * * MON-FRI",
            ]),
            start in 1_700_000_000i64..1_900_000_000,
        ) {
            let s = set(&[expr], ZONES[zone]);
            let mut cur = Timestamp::from_second(start).unwrap();
            for _ in 0..50 {
                let next = s.next_after(cur).unwrap();
                prop_assert!(next > cur, "{expr} in {}: {next} after {cur}", ZONES[zone]);
                cur = next;
            }
        }

        #[test]
        fn fixed_time_daily_fires_once_per_local_day(
            zone in 0..ZONES.len(),
            hour in 0u8..24,
            minute in 0u8..60,
            start in 1_700_000_000i64..1_900_000_000,
        ) {
            let tz = ZONES[zone];
            let s = set(&[&format!("0 {minute} {hour} * * *")], tz);
            let mut cur = Timestamp::from_second(start).unwrap();
            let mut days = vec![];
            for _ in 0..400 {
                let next = s.next_after(cur).unwrap();
                days.push(next.to_zoned(TimeZone::get(tz).unwrap()).date());
                cur = next;
            }
            for pair in days.windows(2) {
                prop_assert_eq!(pair[0].tomorrow().unwrap(), pair[1], "{}:{} in {}", hour, minute, tz);
            }
        }
    }
}

//! When a task fires: cron expressions (seconds optional, aliases) and `@every` intervals,
//! evaluated in the task's IANA zone.
//!
//! DST follows Vixie cron (the OCPS rules `croner` implements, DESIGN.md §4):
//! - a schedule with specific hours whose time falls in a spring-forward gap fires once, at the
//!   first instant after the gap (02:30 → 03:00);
//! - in a fall-back overlap such a schedule fires once, in the first pass;
//! - a schedule whose hour field is `*` or a step follows the wall clock: nothing inside a gap,
//!   both passes of an overlap.
//!
//! `@every` intervals run on real elapsed time, aligned to the Unix epoch (or to the task's
//! start), so every node computes the same instants and a restart does not shift them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// One parsed schedule of a task.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Shared between every task with the same expression (see [`interned_cron`]).
    Cron(Arc<Cron>),
    /// Fixed interval in milliseconds.
    Every(u64),
}

/// Parsed cron expressions by text. A parsed expression holds several KiB of bitfields, and
/// thousands of tasks often share a handful of expressions: they share one copy. Entries are
/// weak, so an expression no task uses any more is freed.
static CRONS: LazyLock<Mutex<HashMap<String, Weak<Cron>>>> = LazyLock::new(Mutex::default);

fn interned_cron(text: &str) -> Result<Arc<Cron>, ParseError> {
    let mut crons = CRONS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = crons.get(text).and_then(Weak::upgrade) {
        return Ok(c);
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(text)
        .map_err(|e| ParseError(format!("{text:?} is not a valid cron expression: {e}")))?;
    let cron = Arc::new(cron);
    // Sweep dead entries now and then: at sizes that double, so the cost stays linear overall.
    if crons.len() >= 4096 && crons.len().is_power_of_two() {
        crons.retain(|_, w| w.strong_count() > 0);
    }
    crons.insert(text.to_string(), Arc::downgrade(&cron));
    Ok(cron)
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
            let ms = crate::model::parse_duration_ms(rest).map_err(ParseError)?;
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
            Schedule::Cron(cron) => {
                // croner works in whole seconds: flooring keeps "strictly after" exact.
                let floored = Timestamp::from_second(after.as_second()).ok()?;
                let from = floored.to_zoned(tz.clone());
                cron.find_next_occurrence(&from, false)
                    .ok()
                    .map(|z| z.timestamp())
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Cron(c) => f.write_str(c.as_str()),
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
        for (text, needle) in [
            ("61 * * * *", "not a valid cron"),
            ("* * *", "3 fields"),
            ("@every", "needs a duration"),
            ("@every 10ms", "shortest interval"),
            ("@every soon", "not a duration"),
            ("@sometimes", "not a valid cron"),
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

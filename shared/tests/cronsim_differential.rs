//! Differential test of fire times against cronsim, an independent implementation of Debian
//! cron's DST rules (PyPI, pinned by the test command; `cronsim_oracle.py` runs it).
//!
//! Thousands of random 5-field expressions — lists, ranges, steps, wildcards, biased towards the
//! hours a transition touches — each started shortly before one of the 2026–2030 transitions of
//! a zone of the system's tz database, compared fire by fire over the next three days.
//!
//! Left out, where cronsim itself is wrong (the table in `schedule.rs` covers them instead):
//! shifts other than one hour (`Australia/Lord_Howe`), `Pacific/Chatham` (a 45-minute offset),
//! and a restricted day field on a day whose midnight a transition moves (cronsim walks to the
//! day's 00:00, which does not exist there, and skips the day: `*/21 1 * * SUN` in `Asia/Beirut`
//! on 2030-03-31).

use std::io::Write;
use std::process::{Command, Stdio};

use cloudtask_shared::schedule::{Schedule, ScheduleSet};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// xorshift64*: deterministic cases from a seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A one-hour transition of a zone: its instant and the local hour just before it.
struct Transition {
    zone: String,
    at: Timestamp,
    local_hour: i8,
    /// The wall clock before or after it is at hour 0: midnight moves.
    at_midnight: bool,
}

fn transitions() -> Vec<Transition> {
    let from: Timestamp = "2026-01-01T00:00:00Z".parse().expect("constant");
    let until: Timestamp = "2031-01-01T00:00:00Z".parse().expect("constant");
    let mut out = vec![];
    let mut names: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .filter(|n| !n.starts_with("right/") && !n.starts_with("posix/") && n.contains('/'))
        .filter(|n| n != "Pacific/Chatham")
        .collect();
    names.sort();
    for name in names {
        let Ok(tz) = TimeZone::get(&name) else {
            continue;
        };
        for t in tz.following(from) {
            if t.timestamp() >= until {
                break;
            }
            let before = tz.to_offset(t.timestamp() - SignedDuration::from_secs(1));
            let shift = (t.offset().seconds() - before.seconds()).abs();
            if shift == 3600 {
                let local = before.to_datetime(t.timestamp());
                let after = t.offset().to_datetime(t.timestamp());
                out.push(Transition {
                    zone: name.clone(),
                    at: t.timestamp(),
                    local_hour: local.hour(),
                    at_midnight: local.hour() == 0 || after.hour() == 0,
                });
            }
        }
    }
    out
}

/// One field: a single value, a list, a range, a range with a step, `*` or `*/step`; values
/// are drawn near `near` half of the time, so gaps and overlaps are hit often.
fn field(rng: &mut Rng, max: i64, near: i64) -> String {
    let value = |rng: &mut Rng| -> i64 {
        if rng.below(2) == 0 {
            (near + rng.below(3) as i64 - 1).rem_euclid(max + 1)
        } else {
            rng.below(max as u64 + 1) as i64
        }
    };
    match rng.below(12) {
        0..=3 => value(rng).to_string(),
        4..=6 => {
            let mut v: Vec<i64> = (0..2 + rng.below(3)).map(|_| value(rng)).collect();
            v.sort();
            v.dedup();
            v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        }
        7 | 8 => {
            let a = value(rng);
            let b = (a + rng.below(4) as i64).min(max);
            format!("{a}-{b}")
        }
        9 => {
            let a = rng.below(max as u64 / 2) as i64;
            format!("{a}-{max}/{}", 2 + rng.below(9))
        }
        10 => "*".to_string(),
        _ => format!("*/{}", 2 + rng.below(20)),
    }
}

fn expression(rng: &mut Rng, t: &Transition) -> String {
    let near_minute = *rng.pick(&[0, 30, 45, 59]);
    let minute = field(rng, 59, near_minute);
    let hour = field(rng, 23, i64::from(t.local_hour));
    let days = if t.at_midnight { 8 } else { rng.below(8) };
    let (dom, dow) = match days {
        0 => (
            rng.pick(&["1", "1-15", "10,20,25"]).to_string(),
            "*".to_string(),
        ),
        1 => (
            "*".to_string(),
            rng.pick(&["0", "1-5", "0,6", "SUN"]).to_string(),
        ),
        _ => ("*".to_string(), "*".to_string()),
    };
    format!("{minute} {hour} {dom} * {dow}")
}

struct Case {
    expr: String,
    zone: String,
    start: Timestamp,
    end: Timestamp,
}

const CAP: usize = 120;

fn ours(case: &Case) -> Vec<i64> {
    let tz = TimeZone::get(&case.zone).expect("zone from the database");
    let schedule = Schedule::parse(&case.expr).expect("generated expressions parse");
    let set = ScheduleSet::new(vec![schedule], tz, None, None);
    let mut out = vec![];
    let mut cursor = case.start;
    while let Some(t) = set.next_after(cursor) {
        if t > case.end || out.len() >= CAP {
            break;
        }
        out.push(t.as_second());
        cursor = t;
    }
    out
}

fn cronsim(cases: &[Case]) -> Vec<Vec<i64>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cronsim_oracle.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (the test command installs cronsim)");
    let mut input = String::new();
    for c in cases {
        input.push_str(
            &serde_json::json!({
                "expr": c.expr, "zone": c.zone, "start": c.start.as_second(),
                "end": c.end.as_second(), "cap": CAP,
            })
            .to_string(),
        );
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("python3 finishes");
    writer.join().expect("writer").expect("cases written");
    assert!(
        output.status.success(),
        "cronsim_oracle.py failed ({}): install cronsim with `python3 -m pip install cronsim==2.8`",
        output.status
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let answers: Vec<Vec<i64>> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON array per case"))
        .collect();
    assert_eq!(answers.len(), cases.len(), "one answer per case");
    answers
}

fn local(ts: i64, zone: &str) -> String {
    Timestamp::from_second(ts)
        .expect("in range")
        .to_zoned(TimeZone::get(zone).expect("zone"))
        .strftime("%m-%d %H:%M:%S%:z")
        .to_string()
}

#[test]
fn fire_times_match_cronsim_across_dst_transitions() {
    let seed = std::env::var("CLOUDTASK_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de_u64);
    let cases_wanted: usize = std::env::var("CLOUDTASK_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let transitions = transitions();
    let zones: std::collections::BTreeSet<&str> =
        transitions.iter().map(|t| t.zone.as_str()).collect();
    assert!(
        zones.len() >= 50,
        "expected many zones with one-hour transitions in 2026-2030, found {}",
        zones.len()
    );
    let mut rng = Rng(seed);
    let mut cases = Vec::with_capacity(cases_wanted);
    while cases.len() < cases_wanted {
        let t = rng.pick(&transitions);
        let tz = TimeZone::get(&t.zone).expect("zone");
        let start = t.at - SignedDuration::from_secs(3600 + rng.below(36 * 3600) as i64);
        // cronsim starts fixed-time schedules from the civil time, which loses the pass of an
        // ambiguous start: start where the wall clock is unambiguous.
        let civil = tz.to_datetime(start);
        if !matches!(
            tz.to_ambiguous_timestamp(civil).offset(),
            AmbiguousOffset::Unambiguous { .. }
        ) {
            continue;
        }
        cases.push(Case {
            expr: expression(&mut rng, t),
            zone: t.zone.clone(),
            start,
            end: start + SignedDuration::from_hours(72),
        });
    }
    let theirs = cronsim(&cases);
    let mut differ = vec![];
    for (case, expected) in cases.iter().zip(&theirs) {
        let got = ours(case);
        if &got != expected {
            differ.push((case, got, expected));
        }
    }
    for (case, got, expected) in differ.iter().take(15) {
        let only_ours: Vec<String> = got
            .iter()
            .filter(|t| !expected.contains(t))
            .map(|t| local(*t, &case.zone))
            .collect();
        let only_theirs: Vec<String> = expected
            .iter()
            .filter(|t| !got.contains(t))
            .map(|t| local(*t, &case.zone))
            .collect();
        eprintln!(
            "{:?} in {} from {}: only ours {only_ours:?}, only cronsim {only_theirs:?}",
            case.expr,
            case.zone,
            local(case.start.as_second(), &case.zone)
        );
    }
    assert!(
        differ.is_empty(),
        "{} of {} cases differ from cronsim (seed {seed:#x}, {} zones)",
        differ.len(),
        cases.len(),
        zones.len()
    );
}

//! Where a daemon's loop gets the time from, and how it waits for a later time.
//!
//! [`SystemClock`] in the daemons; [`ManualClock`] in tests, which moves only when the test
//! says so. A loop that takes "now" and every sleep from one [`Clock`] can be driven through
//! hours of schedule in microseconds, without sleeping (tokio's paused time alone would not
//! move the wall-clock timestamps a schedule is about).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

/// A sleep that ends at an instant of its clock.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// Resolves once the clock reads `at` or later.
    fn sleep_until(&self, at: Timestamp) -> Sleep;

    /// Resolves once `d` has passed on this clock.
    fn sleep(&self, d: Duration) -> Sleep {
        let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
        self.sleep_until(self.now().checked_add(d).unwrap_or(Timestamp::MAX))
    }
}

/// A shared clock, as loops hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock; sleeps are tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let wait = at.duration_since(Timestamp::now());
        let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that stands still until [`ManualClock::advance`] or [`ManualClock::set`]; its
/// sleepers wake when it passes their instant.
///
/// It also knows who sleeps until when, so a test can wait for a loop to be idle with a timer
/// armed ([`ManualClock::sleeper_at`]) before moving time: no race between the test and
/// the loop, and no sleeping in the test.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
    moved: watch::Sender<Timestamp>,
    sleepers: Arc<watch::Sender<Sleepers>>,
}

/// Instants sleepers wait for, with how many wait for each, and how many sleeps ever began.
#[derive(Debug, Default)]
struct Sleepers {
    at: std::collections::BTreeMap<Timestamp, usize>,
    started: u64,
}

/// Counts a sleeper while its sleep is pending.
struct Sleeper {
    at: Timestamp,
    sleepers: Arc<watch::Sender<Sleepers>>,
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        self.sleepers.send_modify(|s| {
            if let Some(n) = s.at.get_mut(&self.at) {
                *n -= 1;
                if *n == 0 {
                    s.at.remove(&self.at);
                }
            }
        });
    }
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
            moved: watch::channel(start).0,
            sleepers: Arc::new(watch::channel(Default::default()).0),
        }
    }

    /// Waits until something sleeps until `at` (a loop armed that timer and is idle).
    pub async fn sleeper_at(&self, at: Timestamp) {
        self.sleeper_at_since(at, 0).await;
    }

    /// Waits until a sleep until `at` that began after the first `started` sleeps is pending:
    /// the loop went back to sleep after handling something the test did.
    pub async fn sleeper_at_since(&self, at: Timestamp, started: u64) {
        let mut rx = self.sleepers.subscribe();
        let _ = rx
            .wait_for(|s| s.started > started && s.at.contains_key(&at))
            .await;
    }

    /// How many sleeps have begun so far.
    pub fn sleeps_started(&self) -> u64 {
        self.sleepers.borrow().started
    }

    /// Moves the clock forward by `d` and wakes every sleeper it passed.
    pub fn advance(&self, d: SignedDuration) {
        let to = self.now().checked_add(d).unwrap_or(Timestamp::MAX);
        self.set(to);
    }

    /// Moves the clock to `at` (never backwards).
    pub fn set(&self, at: Timestamp) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        if at > *now {
            *now = at;
            self.moved.send_replace(at);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let mut moved = self.moved.subscribe();
        if self.now() >= at {
            return Box::pin(std::future::ready(()));
        }
        self.sleepers.send_modify(|s| {
            *s.at.entry(at).or_insert(0) += 1;
            s.started += 1;
        });
        let sleeper = Sleeper {
            at,
            sleepers: self.sleepers.clone(),
        };
        Box::pin(async move {
            let _sleeper = sleeper;
            // The sender lives as long as the clock; if it is gone, nothing will move it.
            let _ = moved.wait_for(|now| *now >= at).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_it_passes_and_only_those() {
        let start = Timestamp::from_second(1_000).unwrap();
        let clock = ManualClock::new(start);
        let soon = tokio::spawn(clock.sleep(Duration::from_secs(5)));
        let later = tokio::spawn(clock.sleep_until(start + SignedDuration::from_secs(60)));
        clock
            .sleeper_at(start + SignedDuration::from_secs(60))
            .await;
        clock.sleeper_at(start + SignedDuration::from_secs(5)).await;
        clock.advance(SignedDuration::from_secs(10));
        soon.await.unwrap();
        assert!(!later.is_finished());
        assert_eq!(clock.now(), start + SignedDuration::from_secs(10));
        clock.set(start);
        assert_eq!(
            clock.now(),
            start + SignedDuration::from_secs(10),
            "never backwards"
        );
        clock.advance(SignedDuration::from_secs(50));
        later.await.unwrap();
        // An instant already passed does not wait at all.
        clock.sleep_until(start).await;
    }
}

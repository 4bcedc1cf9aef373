//! The one backoff of every retry loop (reconnecting to ZooKeeper, delivering the spool,
//! following the center's event stream, the console's stream): delays that double from a
//! minimum to a maximum, with jitter so that many nodes that lost the same center do not
//! come back in step, forever, reset by a success.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Delays between the attempts of one retry loop.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    /// Doubling from `min` up to `max` (plus up to as much again in jitter).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let builder = ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_jitter()
            .without_max_times();
        Backoff {
            delays: builder.build(),
            builder,
            max,
        }
    }

    /// How long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        // Without a limit on attempts the iterator never ends; the maximum is the fallback.
        self.delays.next().unwrap_or(self.max)
    }

    /// After a success: the next failure waits the minimum again.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_maximum_with_jitter_and_resets() {
        let (min, max) = (Duration::from_millis(200), Duration::from_secs(5));
        let mut b = Backoff::new(min, max);
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        // Each delay lies between its un-jittered value and twice that.
        let mut base = min;
        for d in &delays {
            assert!(
                *d >= base && *d <= base * 2,
                "{d:?} outside [{base:?}, {:?}]",
                base * 2
            );
            base = (base * 2).min(max);
        }
        assert!(delays[11] >= max, "reaches the maximum: {delays:?}");
        b.reset();
        assert!(b.next_delay() <= min * 2, "a success starts over");
    }
}

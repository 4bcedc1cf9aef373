//! The one shutdown signal every long-lived task of a daemon receives.
//!
//! A daemon makes one [`channel`]: the [`Trigger`] side fires on SIGTERM (or when the daemon
//! decides to stop), and every loop, stream and server holds a [`Shutdown`] clone that it
//! checks or awaits. Dropping the trigger counts as firing it, so a task never outlives the
//! code that could have stopped it.

use tokio::sync::watch;

/// Fires the shutdown, once, for every [`Shutdown`] made from it.
#[derive(Debug, Clone)]
pub struct Trigger(watch::Sender<bool>);

/// A task's view of the shutdown: cheap to clone, cancel-safe to await.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new, not yet fired, shutdown signal.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Tells every holder to stop; later calls do nothing more.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// Whether the shutdown has fired (or its trigger is gone).
    pub fn is_stopping(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once the shutdown fires (at once if it already has).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_every_holder_and_dropping_the_trigger_counts() {
        let (trigger, shutdown) = channel();
        let late = shutdown.clone();
        assert!(!shutdown.is_stopping());
        let waiter = tokio::spawn({
            let s = shutdown.clone();
            async move { s.wait().await }
        });
        trigger.fire();
        waiter.await.unwrap();
        assert!(shutdown.is_stopping() && late.is_stopping());
        shutdown.wait().await;

        let (trigger, shutdown) = channel();
        drop(trigger);
        assert!(shutdown.is_stopping());
        shutdown.wait().await;
    }
}

//! The outbox dispatcher: delivers the events committed with each write to this center's
//! followers (the console, `/events` subscribers, agents), in commit order, at least once.
//!
//! Each center reads every outbox row after its own cursor, so a center sharing the store
//! with others also relays their events. The cursor is saved at most once a second and at
//! shutdown: a center that crashes redelivers up to a second of events when it comes back
//! (followers and agents take events idempotently: records replace records, an agent handles
//! a run request once). A row goes once every live center (one that saved its cursor within
//! [`LIVE`]) has delivered it, and after [`KEEP`] in any case; a center down longer than that
//! resumes at the oldest row left.

use std::sync::Arc;
use std::time::Duration;

use cloudtask_shared::backoff::Backoff;
use cloudtask_shared::shutdown::Shutdown;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use crate::hub::Hub;
use crate::store::SharedStore;

/// How long rows stay at most, for centers that lag.
pub const KEEP: SignedDuration = SignedDuration::from_hours(1);

/// A center that saved its cursor this recently holds back the rows it has not delivered.
pub const LIVE: SignedDuration = SignedDuration::from_mins(1);

/// An idle center saves its unchanged cursor this often, well within [`LIVE`].
const HEARTBEAT: Duration = Duration::from_secs(20);

/// How often delivered rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// Rows read per pass.
const BATCH: u32 = 500;

/// Rows written by other centers sharing the store arrive without a kick: look this often.
const POLL: Duration = Duration::from_secs(1);

/// Wakes the dispatcher after a commit, so this center's own events go out at once.
#[derive(Clone, Default)]
pub struct Kick(Arc<Notify>);

impl Kick {
    pub fn kick(&self) {
        self.0.notify_one();
    }
}

pub struct Dispatcher {
    store: SharedStore,
    hub: Hub,
    /// This center's name for its cursor (stable across restarts: its listen address).
    center: String,
    kick: Kick,
    /// The last row delivered.
    cursor: i64,
    /// How often delivered rows are pruned (the first time: at start).
    prune_every: Duration,
}

impl Dispatcher {
    /// Reads where `center` left off; call it before the center takes writes, so none of
    /// its own rows falls before its cursor.
    pub async fn open(
        store: SharedStore,
        hub: Hub,
        center: String,
        kick: Kick,
    ) -> crate::store::Result<Dispatcher> {
        let cursor = match store.outbox_cursor(&center).await? {
            Some(c) => c,
            // A center new to this store starts at the head: older events were for others.
            None => store.outbox_head().await?,
        };
        Ok(Dispatcher {
            store,
            hub,
            center,
            kick,
            cursor,
            prune_every: PRUNE_EVERY,
        })
    }

    /// Delivers until `shutdown`, then saves the cursor.
    pub async fn run(self, shutdown: Shutdown) {
        let mut cursor = self.cursor;
        let mut saved = cursor;
        let mut saved_at = tokio::time::Instant::now();
        let mut pruned_at: Option<tokio::time::Instant> = None;
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let mut full = false;
            let mut wait = POLL;
            match self.store.outbox_after(cursor, BATCH).await {
                Ok(rows) => {
                    backoff.reset();
                    full = rows.len() == BATCH as usize;
                    for row in rows {
                        for event in row.events {
                            self.hub.publish(event);
                        }
                        cursor = row.seq;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox; retrying");
                    wait = backoff.next_delay();
                }
            }
            // Saved when it moved, and now and then when it did not, so that this center
            // counts as live and holds back what it has not delivered yet.
            let due =
                (cursor != saved && saved_at.elapsed() >= POLL) || saved_at.elapsed() >= HEARTBEAT;
            if due {
                self.save(cursor).await;
                (saved, saved_at) = (cursor, tokio::time::Instant::now());
            }
            if pruned_at.is_none_or(|t| t.elapsed() >= self.prune_every) {
                pruned_at = Some(tokio::time::Instant::now());
                let now = Timestamp::now();
                match self.store.prune_outbox(now - LIVE, now - KEEP).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(rows = n, "outbox pruned"),
                    Err(e) => tracing::warn!(error = %e, "cannot prune the outbox"),
                }
            }
            let behind = if full {
                self.store.outbox_head().await.map_or(0, |h| h - cursor)
            } else {
                0
            };
            metrics::gauge!(cloudtask_daemon_kit::metrics::OUTBOX_BEHIND).set(behind.max(0) as f64);
            if full {
                continue;
            }
            tokio::select! {
                () = self.kick.0.notified() => {}
                () = tokio::time::sleep(wait) => {}
                () = shutdown.wait() => {
                    if cursor != saved {
                        self.save(cursor).await;
                    }
                    return;
                }
            }
        }
    }

    async fn save(&self, cursor: i64) {
        if let Err(e) = self.store.save_outbox_cursor(&self.center, cursor).await {
            tracing::warn!(error = %e, "cannot save the outbox cursor");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Effects;
    use crate::store::sql::sqlite;
    use cloudtask_shared::api::Event;
    use cloudtask_shared::shutdown;

    fn deleted(id: &str) -> Effects {
        Effects::events(vec![Event::TaskDeleted { id: id.into() }])
    }

    async fn next_id(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> String {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event within 10 s")
            .expect("the hub is open");
        match ev {
            Event::TaskDeleted { id } => id,
            other => panic!("unexpected event {other:?}"),
        }
    }

    /// A dispatcher that prunes only when it starts, so what a test reads back stays.
    async fn start(
        store: &SharedStore,
        hub: &Hub,
        kick: &Kick,
    ) -> (shutdown::Trigger, tokio::task::JoinHandle<()>) {
        let mut d = Dispatcher::open(store.clone(), hub.clone(), "c1".into(), kick.clone())
            .await
            .unwrap();
        d.prune_every = Duration::MAX;
        let (trigger, stop) = shutdown::channel();
        (trigger, tokio::spawn(d.run(stop)))
    }

    async fn commit(store: &SharedStore, kick: &Kick, id: &str) -> i64 {
        store.commit_effects(&deleted(id)).await.unwrap();
        kick.kick();
        store.outbox_head().await.unwrap()
    }

    #[tokio::test]
    async fn delivers_in_commit_order_resumes_at_its_cursor_and_redelivers_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(sqlite::open(&dir.path().join("db")).await.unwrap());
        let (hub, kick) = (Hub::default(), Kick::default());
        let mut rx = hub.subscribe();
        // Rows from before this center ever ran were for others.
        commit(&store, &kick, "before").await;
        let (trigger, running) = start(&store, &hub, &kick).await;
        for id in ["a", "b", "c"] {
            commit(&store, &kick, id).await;
        }
        for id in ["a", "b", "c"] {
            assert_eq!(next_id(&mut rx).await, id);
        }
        // A clean stop saves the cursor: the next start delivers only what came since.
        trigger.fire();
        running.await.unwrap();
        let c = store.outbox_cursor("c1").await.unwrap().unwrap();
        assert_eq!(c, store.outbox_head().await.unwrap());
        for id in ["d", "e"] {
            commit(&store, &kick, id).await;
        }
        let (trigger, running) = start(&store, &hub, &kick).await;
        for id in ["d", "e"] {
            assert_eq!(next_id(&mut rx).await, id);
        }
        trigger.fire();
        running.await.unwrap();
        // Its start pruned what it had delivered before ("a" to "c"), never the newest row.
        let left: Vec<i64> = store
            .outbox_after(0, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left[0] > c);
        // A crash after delivering "d" and "e" but before saving that (here: the cursor set
        // back to "c") delivers them again.
        store.save_outbox_cursor("c1", c).await.unwrap();
        let (trigger, running) = start(&store, &hub, &kick).await;
        for id in ["d", "e"] {
            assert_eq!(next_id(&mut rx).await, id);
        }
        trigger.fire();
        running.await.unwrap();
    }
}

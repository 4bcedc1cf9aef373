//! Delivery of the notification outbox: one loop per channel, on the leader only, that
//! never blocks scheduling (it only reads and marks message rows).
//!
//! At least once: a message is marked delivered after its server took it, so a center that
//! dies in between sends it again after a failover — under the same id. A failed try is
//! retried after a backoff (5 s doubling to 10 min); after [`MAX_ATTEMPTS`], or at once when
//! the server refuses it for good (an SMTP 5xx, a webhook's 4xx), the message is dead: kept
//! for `notify status` as a dead letter. Each recipient gets at most [`BURST`] messages at
//! once and [`Deliverer::per_minute`] a minute after that; what piles up beyond is sent as
//! one digest (written to the store first, so the digest too has a stable id).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudtask_shared::Channel;
use cloudtask_shared::shutdown::Shutdown;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use super::email::Mailer;
use super::webhook::Webhooks;
use crate::allocator::Placements;
use crate::store::{Message, SharedStore};

/// Tries before a message is given up on.
pub const MAX_ATTEMPTS: u32 = 12;

/// Messages one recipient may get at once before the rate limit holds the rest back.
pub const BURST: f64 = 5.0;

/// Why a try failed, and whether another could succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub text: String,
    pub permanent: bool,
}

impl Failure {
    pub fn permanent(text: impl Into<String>) -> Failure {
        Failure {
            text: text.into(),
            permanent: true,
        }
    }

    pub fn temporary(text: impl Into<String>) -> Failure {
        Failure {
            text: text.into(),
            permanent: false,
        }
    }
}

/// How a channel sends, when the center is set up for it.
#[derive(Clone)]
pub enum Sender {
    Email(Mailer),
    Webhook(Webhooks),
    /// Not configured: messages wait (and fail, named) until it is.
    None(&'static str),
}

impl Sender {
    async fn send(&self, m: &Message) -> Result<(), Failure> {
        match self {
            Sender::Email(s) => s.send(m).await,
            Sender::Webhook(s) => s.send(m).await,
            Sender::None(why) => Err(Failure::temporary(*why)),
        }
    }
}

/// When the next try of a message that failed `attempts` times is due; `None`: give up.
pub fn retry_at(attempts: u32, failure: &Failure, now: Timestamp) -> Option<Timestamp> {
    if failure.permanent || attempts >= MAX_ATTEMPTS {
        return None;
    }
    let secs = 5u64
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(16))
        .min(600);
    now.checked_add(SignedDuration::from_secs(secs as i64)).ok()
}

/// A recipient's allowance: [`BURST`] at once, refilled at `per_minute`.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self, per_minute: f64, now: Instant) {
        let gained = now.duration_since(self.at).as_secs_f64() * per_minute / 60.0;
        self.tokens = (self.tokens + gained).min(BURST);
        self.at = now;
    }
}

/// The one message that stands for `parts` (all to one recipient on one channel).
pub fn digest(parts: &[Message], id: String, now: Timestamp) -> Message {
    let first = &parts[0];
    let (subject, body) = match first.channel {
        Channel::Email => {
            let mut body = format!(
                "{} alerts arrived faster than this address is sent them; here they are together.\n",
                parts.len()
            );
            for m in parts {
                body.push_str(&format!("\n======== {}\n\n{}", m.subject, m.body));
            }
            (format!("[CloudTask] {} alerts", parts.len()), body)
        }
        Channel::Webhook => {
            let messages: Vec<serde_json::Value> = parts
                .iter()
                .map(|m| {
                    let payload = serde_json::from_str::<serde_json::Value>(&m.body)
                        .unwrap_or(serde_json::Value::String(m.body.clone()));
                    serde_json::json!({"id": m.id, "payload": payload})
                })
                .collect();
            let body = serde_json::json!({
                "type": "digest",
                "timestamp": now,
                "data": {"messages": messages},
            });
            (format!("{} alerts", parts.len()), body.to_string())
        }
    };
    Message::new(id, first.channel, &first.to, subject, body, None, now)
}

/// Delivers one channel's messages while this center leads.
pub struct Deliverer {
    pub store: SharedStore,
    pub placements: Placements,
    pub channel: Channel,
    pub sender: Sender,
    pub kick: Arc<Notify>,
    /// Messages a recipient gets a minute once its burst is spent.
    pub per_minute: u32,
}

impl Deliverer {
    pub async fn run(self, shutdown: Shutdown) {
        let mut buckets: HashMap<String, Bucket> = HashMap::new();
        loop {
            let mut again = false;
            if self.placements.leading() {
                match self.pass(&mut buckets).await {
                    Ok(more) => again = more,
                    Err(e) => {
                        tracing::warn!(channel = %self.channel, error = %e, "cannot read the notification outbox; retrying")
                    }
                }
            }
            if again {
                continue;
            }
            tokio::select! {
                () = self.kick.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.wait() => return,
            }
        }
    }

    /// One pass over the due messages; true when there is more to do at once (a digest
    /// was queued).
    async fn pass(&self, buckets: &mut HashMap<String, Bucket>) -> crate::store::Result<bool> {
        let now = Timestamp::now();
        let due = self.store.due_messages(self.channel, now, 200).await?;
        let mut by_to: Vec<(String, Vec<Message>)> = Vec::new();
        for m in due {
            match by_to.iter_mut().find(|(to, _)| *to == m.to) {
                Some((_, v)) => v.push(m),
                None => by_to.push((m.to.clone(), vec![m])),
            }
        }
        let per_minute = f64::from(self.per_minute.max(1));
        let mut more = false;
        for (to, msgs) in by_to {
            let clock = Instant::now();
            let bucket = buckets.entry(to.clone()).or_insert(Bucket {
                tokens: BURST,
                at: clock,
            });
            bucket.refill(per_minute, clock);
            if msgs.len() > 1 && (msgs.len() as f64) > bucket.tokens.floor() {
                if bucket.tokens >= 1.0 {
                    let id = match crate::service::new_id() {
                        Ok(id) => format!("digest-{id}"),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot make a digest id");
                            continue;
                        }
                    };
                    let d = digest(&msgs, id, now);
                    let parts: Vec<String> = msgs.iter().map(|m| m.id.clone()).collect();
                    self.store.digest_messages(&parts, &d).await?;
                    tracing::info!(channel = %self.channel, to = %to, parts = parts.len(), digest = %d.id, "alerts digested");
                    more = true;
                }
                continue;
            }
            for m in msgs {
                if bucket.tokens < 1.0 {
                    break;
                }
                // Only what reached the recipient counts against its allowance.
                if self.deliver(&m).await? {
                    bucket.tokens -= 1.0;
                }
            }
        }
        Ok(more)
    }

    /// Tries one message; true when it was delivered.
    async fn deliver(&self, m: &Message) -> crate::store::Result<bool> {
        match self.sender.send(m).await {
            Ok(()) => {
                tracing::info!(channel = %self.channel, id = %m.id, to = %m.to, "alert delivered");
                metrics::counter!(cloudtask_daemon_kit::metrics::NOTIFY_DELIVERED, "channel" => self.channel.as_str()).increment(1);
                self.store
                    .message_delivered(&m.id, Timestamp::now())
                    .await?;
                Ok(true)
            }
            Err(f) => {
                metrics::counter!(cloudtask_daemon_kit::metrics::NOTIFY_FAILURES, "channel" => self.channel.as_str()).increment(1);
                let now = Timestamp::now();
                let next = retry_at(m.attempts + 1, &f, now);
                match next {
                    Some(at) => {
                        tracing::warn!(channel = %self.channel, id = %m.id, to = %m.to, error = %f.text, retry_at = %at, "alert delivery failed; will retry")
                    }
                    None => {
                        tracing::error!(channel = %self.channel, id = %m.id, to = %m.to, error = %f.text, attempts = m.attempts + 1, "alert delivery failed for good: kept as a dead letter")
                    }
                }
                self.store.message_failed(&m.id, &f.text, now, next).await?;
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_back_off_and_end() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let t = Failure::temporary("down");
        let after = |n| retry_at(n, &t, now).map(|at| at.duration_since(now).as_secs());
        assert_eq!(after(1), Some(5));
        assert_eq!(after(2), Some(10));
        assert_eq!(after(9), Some(600), "capped");
        assert_eq!(after(MAX_ATTEMPTS), None, "given up");
        assert_eq!(
            retry_at(1, &Failure::permanent("550 no such user"), now),
            None
        );
    }

    #[test]
    fn a_digest_carries_every_part() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let m = |i: u32, channel| Message {
            id: format!("m{i}"),
            channel,
            to: "ops@example.com".into(),
            subject: format!("subject {i}"),
            body: format!("{{\"n\": {i}}}"),
            incident: None,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
        };
        let parts: Vec<Message> = (0..3).map(|i| m(i, Channel::Email)).collect();
        let d = digest(&parts, "d1".into(), now);
        assert_eq!(d.subject, "[CloudTask] 3 alerts");
        assert!((0..3).all(|i| d.body.contains(&format!("subject {i}"))));
        let parts: Vec<Message> = (0..2).map(|i| m(i, Channel::Webhook)).collect();
        let d = digest(&parts, "d2".into(), now);
        let v: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(v["type"], "digest");
        assert_eq!(v["data"]["messages"][1]["payload"]["n"], 1);
    }
}

//! Incidents as the API serves them, and test messages.

use cloudtask_shared::api::{ErrorCode, Incident, NotifyStatus, NotifyTest, NotifyTestAnswer};
use cloudtask_shared::{Channel, Recipient};
use jiff::Timestamp;

use super::{Error, Result, Service, new_id, permit};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::store::{Effects, Message};

/// Dead letters `notify status` shows.
const DEAD_LETTERS_SHOWN: u32 = 50;

impl Service {
    /// The incident, if `who` may read its group (as for runs: forbidden otherwise).
    pub async fn incident(&self, who: &Principal, id: &str) -> Result<Incident> {
        let i = self
            .store
            .incident(id)
            .await?
            .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no incident {id:?}")))?;
        permit(who, Action::Read, &i.group)?;
        Ok(i)
    }

    /// Records that `who` is looking into an open incident.
    pub async fn ack_incident(&self, who: &Principal, id: &str) -> Result<Incident> {
        let i = self.incident(who, id).await?;
        permit(who, Action::Operate, &i.group)?;
        if i.resolved_at.is_some() {
            return Err(Error::new(
                ErrorCode::StaleVersion,
                format!("incident {id} is resolved already"),
            ));
        }
        let mut fx = Self::effects(
            who,
            "incident.ack",
            &i.subject,
            &format!("incident {id}"),
            vec![],
        );
        if let Some(a) = fx.audit.as_mut() {
            a.group = Some(i.group.clone());
        }
        if !self
            .store
            .ack_incident(id, &who.name, Timestamp::now(), &fx)
            .await?
        {
            return Err(Error::new(
                ErrorCode::StaleVersion,
                format!("incident {id} was resolved meanwhile"),
            ));
        }
        self.incident(who, id).await
    }

    /// Queues a test message on `t.channel`, to `t.to` or the channel's default recipients.
    pub async fn notify_test(&self, who: &Principal, t: NotifyTest) -> Result<NotifyTestAnswer> {
        if !self.alerts.configured(t.channel) {
            let how = match t.channel {
                Channel::Email => "--smtp-server and --smtp-from",
                Channel::Webhook => "--webhook-allow",
            };
            return Err(Error::new(
                ErrorCode::NotConfigured,
                format!(
                    "the center has no {} channel set up: start it with {how}",
                    t.channel
                ),
            ));
        }
        let to = match &t.to {
            Some(addr) => {
                let r = Recipient::parse(addr)
                    .map_err(|e| Error::new(ErrorCode::InvalidField, format!("to: {e}")))?;
                if r.channel() != t.channel {
                    return Err(Error::new(
                        ErrorCode::InvalidField,
                        format!("to: {addr:?} is not a {} recipient", t.channel),
                    ));
                }
                if let Recipient::Webhook(url) = &r {
                    self.alerts
                        .allow
                        .check_url(url)
                        .map_err(|e| Error::new(ErrorCode::InvalidField, format!("to: {e}")))?;
                }
                vec![r]
            }
            None => self.alerts.defaults(t.channel),
        };
        if to.is_empty() {
            return Err(Error::new(
                ErrorCode::InvalidField,
                format!(
                    "to: the center has no default {} recipient (--notify): name one",
                    t.channel
                ),
            ));
        }
        let now = Timestamp::now();
        let stem = format!("test-{}", new_id()?);
        let messages: Vec<Message> = to
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let subject = "[CloudTask] test message".to_string();
                let body = match t.channel {
                    Channel::Email => format!(
                        "A test message from the CloudTask center, asked for by {}.\n\nIf you read this, alerts reach {}.\n",
                        who.name,
                        r.address()
                    ),
                    Channel::Webhook => serde_json::json!({
                        "type": "test",
                        "timestamp": now,
                        "data": {"requested_by": who.name, "subject": subject},
                    })
                    .to_string(),
                };
                Message::new(
                    format!("{stem}.{k}"),
                    t.channel,
                    r.address(),
                    subject,
                    body,
                    None,
                    now,
                )
            })
            .collect();
        let names: Vec<&str> = to.iter().map(|r| r.address()).collect();
        let fx: Effects = Self::effects(
            who,
            "notify.test",
            t.channel.as_str(),
            &format!("to {}", names.join(", ")),
            vec![],
        );
        self.store.queue_messages(&messages, &fx).await?;
        self.deliver.notify_waiters();
        let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
        Ok(NotifyTestAnswer {
            messages: self.store.messages(&ids).await?,
        })
    }

    /// How every channel's deliveries stand, and the latest dead letters.
    pub async fn notify_status(&self) -> Result<NotifyStatus> {
        let mut channels = Vec::new();
        for c in Channel::ALL {
            let n = self.store.channel_counts(c).await?;
            channels.push(cloudtask_shared::api::ChannelStatus {
                channel: c,
                configured: self.alerts.configured(c),
                queued: n.queued,
                retrying: n.retrying,
                dead: n.dead,
                delivered: n.delivered,
                last_delivered_at: n.last_delivered_at,
                last_error_at: n.last_error.as_ref().map(|e| e.1),
                last_error: n.last_error.map(|e| e.0),
            });
        }
        Ok(NotifyStatus {
            channels,
            dead_letters: self.store.dead_letters(DEAD_LETTERS_SHOWN).await?,
        })
    }
}

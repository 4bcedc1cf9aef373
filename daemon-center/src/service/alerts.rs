//! Incidents as the API serves them, and test messages.

use cloudtask_shared::api::{
    CreateSilence, ErrorCode, Incident, NotifyStatus, NotifyTest, NotifyTestAnswer, Silence,
};
use cloudtask_shared::{Channel, Recipient};
use jiff::Timestamp;

use super::{Error, Result, Service, new_id, permit, permit_everywhere};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::store::{Effects, Message};

/// Dead letters `notify status` shows.
const DEAD_LETTERS_SHOWN: u32 = 50;

/// The audit row of a change to a silence: its task or group (`*` for everything).
fn silence_effects(who: &Principal, action: &str, s: &Silence, detail: &str) -> Effects {
    let target = s
        .task
        .clone()
        .or(s.group.clone())
        .unwrap_or_else(|| "*".into());
    let mut fx = Service::effects(who, action, &target, detail, vec![]);
    if let Some(a) = fx.audit.as_mut() {
        a.group = s.group.clone();
    }
    fx
}

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

    /// Silences incidents of a task, a group or everything (operators of that group; of
    /// every group for a silence of everything), from now or later (a maintenance window).
    pub async fn create_silence(&self, who: &Principal, c: CreateSilence) -> Result<Silence> {
        let now = Timestamp::now();
        let starts_at = c.starts_at.unwrap_or(now);
        if c.ends_at <= starts_at || c.ends_at <= now {
            return Err(Error::new(
                ErrorCode::InvalidField,
                format!("ends_at: {} is not after its start and now", c.ends_at),
            ));
        }
        if c.ends_at.duration_since(starts_at) > jiff::SignedDuration::from_hours(24 * 90) {
            return Err(Error::new(
                ErrorCode::InvalidField,
                "ends_at: a silence lasts at most 90 days",
            ));
        }
        let reason = c.reason.trim().to_string();
        if reason.is_empty() || reason.len() > 500 {
            return Err(Error::new(
                ErrorCode::InvalidField,
                "reason: say why, in at most 500 bytes (it is shown to whoever wonders where an alert went)",
            ));
        }
        let (task, group) = match (&c.task, &c.group) {
            (Some(t), g) => {
                let task = self.resolve(t, g.as_deref()).await?;
                permit(who, Action::Operate, &task.spec.group)?;
                (Some(task.id), Some(task.spec.group))
            }
            (None, Some(g)) => {
                permit(who, Action::Operate, g)?;
                (None, Some(g.clone()))
            }
            (None, None) => {
                permit_everywhere(who, Action::Operate)?;
                (None, None)
            }
        };
        let s = Silence {
            id: new_id()?,
            task,
            group,
            kind: c.kind,
            starts_at,
            ends_at: c.ends_at,
            reason,
            created_by: who.name.clone(),
            created_at: now,
        };
        let detail = format!("silence {} until {}: {}", s.id, s.ends_at, s.reason);
        let fx = silence_effects(who, "silence.create", &s, &detail);
        self.store.add_silence(&s, &fx).await?;
        Ok(s)
    }

    /// Ends a silence early.
    pub async fn delete_silence(&self, who: &Principal, id: &str) -> Result<()> {
        let s = self
            .store
            .silence(id)
            .await?
            .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no silence {id:?}")))?;
        match &s.group {
            Some(g) => permit(who, Action::Operate, g)?,
            None => permit_everywhere(who, Action::Operate)?,
        }
        let fx = silence_effects(who, "silence.delete", &s, &format!("silence {id}"));
        if !self.store.delete_silence(id, &fx).await? {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("no silence {id:?}"),
            ));
        }
        Ok(())
    }

    /// Silences not ended yet that `who` may read (those of every group: any reader).
    pub async fn silences(&self, who: &Principal) -> Result<Vec<Silence>> {
        let all = self.store.silences(Timestamp::now()).await?;
        Ok(all
            .into_iter()
            .filter(|s| {
                s.group
                    .as_ref()
                    .is_none_or(|g| crate::auth::policy::may_read(who, g))
            })
            .collect())
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
        let mut resolved = Vec::with_capacity(to.len());
        for r in to {
            match r {
                Recipient::User(name) => {
                    let user = self.store.user(&name).await?.ok_or_else(|| {
                        Error::new(
                            ErrorCode::InvalidField,
                            format!("to: there is no user {name:?}"),
                        )
                    })?;
                    let addr = user.email.ok_or_else(|| {
                        Error::new(
                            ErrorCode::InvalidField,
                            format!("to: user {name} has no e-mail address (cloudtaskctl user set-email {name} ADDRESS)"),
                        )
                    })?;
                    resolved.push(Recipient::Email(addr));
                }
                r => resolved.push(r),
            }
        }
        let to = resolved;
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

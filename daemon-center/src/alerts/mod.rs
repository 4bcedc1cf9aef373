//! Alerts: incidents noticed from what runs do, announced by e-mail and webhooks.
//!
//! - [`rules`]: pure decisions — what a run's outcome does to its task's incident.
//! - [`notice`]: the leader's noticer, which reads the outbox and commits incidents with
//!   their messages (the notification outbox) in one transaction.
//! - [`deliver`]: the leader's delivery loops, one per channel: retries, dead letters,
//!   per-recipient rate limits and digests.
//! - [`template`]: the words of a message. [`email`] (SMTP) and [`webhook`] (signed POSTs,
//!   the allow-list) send them.

pub mod deliver;
pub mod email;
pub mod notice;
pub mod rules;
pub mod template;
pub mod watch;
pub mod webhook;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use cloudtask_shared::shutdown::Shutdown;
use cloudtask_shared::{Channel, Recipient};
use tokio::sync::Notify;

use crate::allocator::Placements;
use crate::store::SharedStore;
use email::{Security, SmtpSettings};
use webhook::{AllowList, SigningKey};

/// The center's alerting flags (TOML keys of the same names, with underscores).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AlertArgs {
    /// Who hears about tasks that name no recipients and whose group has none: e-mail
    /// addresses and webhook URLs (repeat, or separate with commas).
    #[arg(
        long,
        env = "CLOUDTASK_NOTIFY",
        value_delimiter = ',',
        value_name = "RECIPIENT"
    )]
    pub notify: Vec<String>,
    /// The SMTP server alerts are sent through, HOST or HOST:PORT (the port defaults to
    /// 587, 465 or 25 by --smtp-security).
    #[arg(long, env = "CLOUDTASK_SMTP_SERVER", value_name = "HOST[:PORT]")]
    pub smtp_server: Option<String>,
    /// starttls (the default), tls (implicit, port 465) or plain.
    #[arg(long, env = "CLOUDTASK_SMTP_SECURITY", value_enum)]
    pub smtp_security: Option<Security>,
    /// The user to authenticate to the SMTP server as (with --smtp-password-file).
    #[arg(long, env = "CLOUDTASK_SMTP_USER", requires = "smtp_password_file")]
    pub smtp_user: Option<String>,
    /// File holding the SMTP password.
    #[arg(
        long,
        env = "CLOUDTASK_SMTP_PASSWORD_FILE",
        value_name = "FILE",
        requires = "smtp_user"
    )]
    pub smtp_password_file: Option<PathBuf>,
    /// The sender of alert e-mail, e.g. "CloudTask <cloudtask@example.com>".
    #[arg(long, env = "CLOUDTASK_SMTP_FROM", value_name = "MAILBOX")]
    pub smtp_from: Option<String>,
    /// Trust only this CA (PEM) for the SMTP server's certificate.
    #[arg(long, env = "CLOUDTASK_SMTP_CA_FILE", value_name = "FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Where webhooks may go: host names, *.domain, addresses or CIDR networks, or * for any
    /// public host (repeat, or separate with commas). Loopback and link-local addresses
    /// only when listed by address or by their exact host name. Empty: no webhooks.
    #[arg(
        long,
        env = "CLOUDTASK_WEBHOOK_ALLOW",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub webhook_allow: Vec<String>,
    /// The key webhooks are signed with (`whsec_…`, Standard Webhooks); default: made at
    /// first start as webhook.secret in the data dir (0600).
    #[arg(long, env = "CLOUDTASK_WEBHOOK_SECRET_FILE", value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Trust only this CA (PEM) for https webhook receivers.
    #[arg(long, env = "CLOUDTASK_WEBHOOK_CA_FILE", value_name = "FILE")]
    pub webhook_ca_file: Option<PathBuf>,
    /// Messages one recipient is sent a minute once a burst of 5 is spent; beyond it they
    /// are sent together as a digest (default 6).
    #[arg(long, env = "CLOUDTASK_ALERT_RATE", value_name = "N")]
    pub alert_rate: Option<u32>,
    /// How long a node must be away before it is reported offline, and back before it is
    /// reported online again, so a flapping node is one incident (default 30s).
    #[arg(long, env = "CLOUDTASK_NODE_OFFLINE_AFTER", value_name = "DURATION")]
    pub node_offline_after: Option<String>,
}

/// The same settings in the TOML file, plus what only the file can say: each group's
/// default recipients (`[notify_groups]`, `ops = ["ops@example.com"]`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertFile {
    pub notify: Option<Vec<String>>,
    pub notify_groups: Option<BTreeMap<String, Vec<String>>>,
    pub smtp_server: Option<String>,
    pub smtp_security: Option<Security>,
    pub smtp_user: Option<String>,
    pub smtp_password_file: Option<PathBuf>,
    pub smtp_from: Option<String>,
    pub smtp_ca_file: Option<PathBuf>,
    pub webhook_allow: Option<Vec<String>>,
    pub webhook_secret_file: Option<PathBuf>,
    pub webhook_ca_file: Option<PathBuf>,
    pub alert_rate: Option<u32>,
    pub node_offline_after: Option<String>,
}

/// Where the webhook signing key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `--webhook-secret-file`: this file (made if missing).
    File(PathBuf),
    /// The store, so every center signs alike; `copy` in the data dir is where the operator
    /// reads it (and where an earlier version kept it: offered to the store at first start).
    Shared { copy: PathBuf },
}

impl Default for KeySource {
    fn default() -> Self {
        KeySource::Shared {
            copy: PathBuf::from("webhook.secret"),
        }
    }
}

/// Who hears what, and how messages travel.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub notify: Vec<Recipient>,
    pub groups: BTreeMap<String, Vec<Recipient>>,
    pub smtp: Option<SmtpSettings>,
    pub allow: Arc<AllowList>,
    pub webhook_key: KeySource,
    pub webhook_ca_file: Option<PathBuf>,
    pub per_minute: u32,
    /// How long a node must stay away before it is offline, and back before it is online.
    pub node_damping: jiff::SignedDuration,
}

fn recipients(flag: &str, list: &[String]) -> anyhow::Result<Vec<Recipient>> {
    list.iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Recipient::parse(s.trim()).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
        .collect()
}

impl Settings {
    /// Flags over the file; checks every address and names the one at fault.
    pub fn load(args: AlertArgs, file: AlertFile, data_dir: &Path) -> anyhow::Result<Settings> {
        let pick = |a: Vec<String>, f: Option<Vec<String>>| {
            if a.is_empty() {
                f.unwrap_or_default()
            } else {
                a
            }
        };
        let allow = AllowList::parse(&pick(args.webhook_allow, file.webhook_allow))
            .map_err(|e| anyhow::anyhow!(e))?;
        let notify = recipients("--notify", &pick(args.notify, file.notify))?;
        let mut groups = BTreeMap::new();
        for (g, list) in file.notify_groups.unwrap_or_default() {
            groups.insert(g.clone(), recipients(&format!("notify_groups.{g}"), &list)?);
        }
        for r in notify.iter().chain(groups.values().flatten()) {
            if let Recipient::Webhook(url) = r {
                allow
                    .check_url(url)
                    .map_err(|e| anyhow::anyhow!("default recipient {url}: {e}"))?;
            }
        }
        let security = args
            .smtp_security
            .or(file.smtp_security)
            .unwrap_or(Security::Starttls);
        let smtp = match args.smtp_server.or(file.smtp_server) {
            None => None,
            Some(server) => {
                let (host, port) = match server.rsplit_once(':') {
                    Some((h, p)) if !h.contains(':') || h.ends_with(']') => (
                        h.trim_start_matches('[').trim_end_matches(']').to_string(),
                        p.parse::<u16>().map_err(|_| {
                            anyhow::anyhow!("--smtp-server {server:?}: {p:?} is not a port")
                        })?,
                    ),
                    _ => (server.clone(), security.default_port()),
                };
                let from = args.smtp_from.or(file.smtp_from).context(
                    "--smtp-server needs --smtp-from, the sender of alert e-mail (\"CloudTask <cloudtask@example.com>\")",
                )?;
                let from = from
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--smtp-from {from:?}: {e}"))?;
                let credentials = match (
                    args.smtp_user.or(file.smtp_user),
                    args.smtp_password_file.or(file.smtp_password_file),
                ) {
                    (Some(user), Some(path)) => {
                        let password = std::fs::read_to_string(&path).with_context(|| {
                            format!("reading --smtp-password-file {}", path.display())
                        })?;
                        Some((user, password.trim_end_matches(['\r', '\n']).to_string()))
                    }
                    (None, None) => None,
                    _ => anyhow::bail!("--smtp-user and --smtp-password-file go together"),
                };
                if credentials.is_some() && security == Security::Plain {
                    anyhow::bail!(
                        "--smtp-security plain with --smtp-user would send the SMTP password in clear text: use starttls or tls"
                    );
                }
                Some(SmtpSettings {
                    host,
                    port,
                    security,
                    credentials,
                    from,
                    ca_file: args.smtp_ca_file.or(file.smtp_ca_file),
                })
            }
        };
        let per_minute = match args.alert_rate.or(file.alert_rate) {
            Some(0) => anyhow::bail!("--alert-rate 0: nothing would ever be sent"),
            n => n.unwrap_or(6),
        };
        let damping = args.node_offline_after.or(file.node_offline_after);
        let node_damping = match damping {
            None => jiff::SignedDuration::from_secs(30),
            Some(t) => {
                let ms = cloudtask_shared::parse_duration_ms(&t)
                    .map_err(|e| anyhow::anyhow!("--node-offline-after {t:?}: {e}"))?;
                jiff::SignedDuration::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
            }
        };
        Ok(Settings {
            node_damping,
            notify,
            groups,
            smtp,
            allow: Arc::new(allow),
            webhook_key: match args.webhook_secret_file.or(file.webhook_secret_file) {
                Some(path) => KeySource::File(path),
                None => KeySource::Shared {
                    copy: data_dir.join("webhook.secret"),
                },
            },
            webhook_ca_file: args.webhook_ca_file.or(file.webhook_ca_file),
            per_minute,
        })
    }

    /// A task's recipients: its own, else its group's, else the center's.
    pub fn recipients(&self, task: &rules::TaskInfo) -> Vec<Recipient> {
        if !task.alerts.notify.is_empty() {
            return task
                .alerts
                .notify
                .iter()
                .filter_map(|t| Recipient::parse(t).ok())
                .collect();
        }
        self.groups.get(&task.group).unwrap_or(&self.notify).clone()
    }

    /// The default recipients of a channel (what `notify test` sends to without `--to`).
    pub fn defaults(&self, channel: Channel) -> Vec<Recipient> {
        self.notify
            .iter()
            .filter(|r| r.channel() == channel)
            .cloned()
            .collect()
    }

    pub fn configured(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.smtp.is_some(),
            Channel::Webhook => !self.allow.is_empty(),
        }
    }
}

/// Starts the noticer and one deliverer per channel; they act only while this center leads.
/// Call it before the center takes writes: a store new to alerts gets its alert cursor at
/// the outbox's head now, so that what the first writes cause is noticed even if this
/// center leads only later. Returns what wakes the deliverers (after `notify test`).
pub async fn start(
    store: SharedStore,
    placements: Placements,
    settings: Arc<Settings>,
    shutdown: &Shutdown,
) -> anyhow::Result<Arc<Notify>> {
    if store.alert_cursor().await?.is_none() {
        let head = store.outbox_head().await?;
        let first = crate::store::Noticed {
            from: None,
            to: head,
            ..Default::default()
        };
        // False: another center set it first, which is as good.
        store.notice(&first).await?;
    }
    let kick = Arc::new(Notify::new());
    let email = match &settings.smtp {
        Some(s) => deliver::Sender::Email(email::Mailer::new(s)?),
        None => deliver::Sender::None(
            "the center has no SMTP server to send e-mail through (cloudtask-center --smtp-server)",
        ),
    };
    let key = match &settings.webhook_key {
        KeySource::File(path) => SigningKey::load_or_create(path)?,
        KeySource::Shared { copy } => SigningKey::shared(&store, copy).await?,
    };
    let webhook = deliver::Sender::Webhook(webhook::Webhooks::new(
        key,
        settings.allow.clone(),
        settings.webhook_ca_file.as_deref(),
    )?);
    for (channel, sender) in [(Channel::Email, email), (Channel::Webhook, webhook)] {
        let d = deliver::Deliverer {
            store: store.clone(),
            placements: placements.clone(),
            channel,
            sender,
            kick: kick.clone(),
            per_minute: settings.per_minute,
        };
        tokio::spawn(d.run(shutdown.clone()));
    }
    let noticer = notice::Noticer {
        store,
        placements,
        settings,
        deliver: kick.clone(),
    };
    tokio::spawn(noticer.run(shutdown.clone()));
    Ok(kick)
}

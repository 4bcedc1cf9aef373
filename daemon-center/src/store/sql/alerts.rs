//! Incidents and the notification outbox (`messages`, one row per recipient; `state` is
//! `queued`, `delivered`, `dead` or `digested`). The noticer's cursor is the outbox cursor
//! named [`ALERT_CURSOR`], so outbox pruning waits for it like for a center.

use async_trait::async_trait;
use cloudtask_shared::Channel;
use cloudtask_shared::api::{Incident, IncidentKind, MessageView, Silence};
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::outbox::{put_cursor, read_cursor};
use super::{Sql, SqlStore, corrupt, ms, ts};
use crate::store::{AlertStore, ChannelCounts, Effects, IncidentFilter, Message, Noticed, Result};

/// The outbox cursor the noticer reads by.
pub const ALERT_CURSOR: &str = "alerts";

const INCIDENT_COLUMNS: &str = "id, kind, subject, name, grp, opened_at, updated_at, resolved_at, count, announced, last_announced_at, last_run, summary, acked_by, acked_at";

const SILENCE_COLUMNS: &str =
    "id, task_id, grp, kind, starts_at, ends_at, reason, created_by, created_at";

fn silence(row: &AnyRow) -> Result<Silence> {
    let kind = match row.try_get::<Option<String>, _>("kind")? {
        Some(k) => Some(IncidentKind::parse(&k).ok_or_else(|| corrupt("silence kind", &k))?),
        None => None,
    };
    Ok(Silence {
        id: row.try_get("id")?,
        task: row.try_get("task_id")?,
        group: row.try_get("grp")?,
        kind,
        starts_at: ts(row.try_get("starts_at")?),
        ends_at: ts(row.try_get("ends_at")?),
        reason: row.try_get("reason")?,
        created_by: row.try_get("created_by")?,
        created_at: ts(row.try_get("created_at")?),
    })
}

const VIEW_COLUMNS: &str = "id, channel, recipient, subject, incident, created_at, attempts, delivered_at, last_error, state";

fn incident(row: &AnyRow) -> Result<Incident> {
    let kind: String = row.try_get("kind")?;
    let opt_ts =
        |c: &str| -> Result<Option<Timestamp>> { Ok(row.try_get::<Option<i64>, _>(c)?.map(ts)) };
    Ok(Incident {
        id: row.try_get("id")?,
        kind: IncidentKind::parse(&kind).ok_or_else(|| corrupt("incident kind", &kind))?,
        subject: row.try_get("subject")?,
        name: row.try_get("name")?,
        group: row.try_get("grp")?,
        opened_at: ts(row.try_get("opened_at")?),
        updated_at: ts(row.try_get("updated_at")?),
        resolved_at: opt_ts("resolved_at")?,
        count: u32::try_from(row.try_get::<i64, _>("count")?).unwrap_or(u32::MAX),
        announced: row.try_get::<i64, _>("announced")? != 0,
        last_announced_at: opt_ts("last_announced_at")?,
        last_run: row.try_get("last_run")?,
        summary: row.try_get("summary")?,
        acked_by: row.try_get("acked_by")?,
        acked_at: opt_ts("acked_at")?,
    })
}

fn channel(text: &str) -> Result<Channel> {
    Channel::parse(text).ok_or_else(|| corrupt("message channel", text))
}

fn message(row: &AnyRow) -> Result<Message> {
    Ok(Message {
        id: row.try_get("id")?,
        channel: channel(&row.try_get::<String, _>("channel")?)?,
        to: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        incident: row.try_get("incident")?,
        created_at: ts(row.try_get("created_at")?),
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: ts(row.try_get("next_attempt_at")?),
    })
}

fn view(row: &AnyRow) -> Result<MessageView> {
    Ok(MessageView {
        id: row.try_get("id")?,
        channel: channel(&row.try_get::<String, _>("channel")?)?,
        to: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        incident: row.try_get("incident")?,
        created_at: ts(row.try_get("created_at")?),
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        delivered_at: row.try_get::<Option<i64>, _>("delivered_at")?.map(ts),
        last_error: row.try_get("last_error")?,
        dead: row.try_get::<String, _>("state")? == "dead",
    })
}

async fn insert_messages(conn: &mut sqlx::AnyConnection, messages: &[Message]) -> Result<()> {
    for m in messages {
        // A message id is stable: one queued twice (a repeated test) is one message.
        sqlx::query(
            "INSERT INTO messages (id, channel, recipient, subject, body, incident, created_at, state, attempts, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&m.id)
        .bind(m.channel.as_str())
        .bind(&m.to)
        .bind(&m.subject)
        .bind(&m.body)
        .bind(&m.incident)
        .bind(ms(m.created_at))
        .bind(i64::from(m.attempts))
        .bind(ms(m.next_attempt_at))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl AlertStore for SqlStore {
    async fn alert_cursor(&self) -> Result<Option<i64>> {
        let mut conn = self.pool.acquire().await?;
        read_cursor(&mut conn, ALERT_CURSOR).await
    }

    async fn notice(&self, n: &Noticed) -> Result<bool> {
        let mut w = self.write().await?;
        if read_cursor(&mut w.tx, ALERT_CURSOR).await? != n.from {
            return Ok(false);
        }
        put_cursor(&mut w.tx, ALERT_CURSOR, n.to).await?;
        // Many incidents at once (a burst of counts): a few multi-row statements, not one
        // statement each.
        for chunk in n.incidents.chunks(super::runs::ROWS_PER_STATEMENT) {
            let mut q = Sql::new(
                "INSERT INTO incidents (id, kind, subject, name, grp, opened_at, updated_at, resolved_at, count, announced, last_announced_at, last_run, summary) ",
            );
            q.values(chunk, |b, i| {
                b.bind(i.id.clone())
                    .bind(i.kind.as_str())
                    .bind(i.subject.clone())
                    .bind(i.name.clone())
                    .bind(i.group.clone())
                    .bind(ms(i.opened_at))
                    .bind(ms(i.updated_at))
                    .bind(i.resolved_at.map(ms))
                    .bind(i64::from(i.count))
                    .bind(i64::from(i.announced))
                    .bind(i.last_announced_at.map(ms))
                    .bind(i.last_run.clone())
                    .bind(i.summary.clone());
            });
            q.push(
                " ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at,
                   resolved_at = excluded.resolved_at, count = excluded.count,
                   announced = excluded.announced, last_announced_at = excluded.last_announced_at,
                   last_run = excluded.last_run, summary = excluded.summary",
            );
            q.query().execute(&mut *w.tx).await?;
        }
        insert_messages(&mut w.tx, &n.messages).await?;
        w.finish().await?;
        Ok(true)
    }

    async fn incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>> {
        let mut q = Sql::new(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE 1 = 1"
        ));
        if f.open {
            q.push(" AND resolved_at IS NULL");
        }
        if let Some(s) = &f.subject {
            q.push(" AND subject = ").bind(s.clone());
        }
        if let Some(groups) = &f.groups {
            if groups.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND grp IN (");
            for (i, g) in groups.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.bind(g.clone());
            }
            q.push(")");
        }
        q.push(" ORDER BY opened_at DESC, id DESC LIMIT ")
            .bind(i64::from(f.limit.max(1)));
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(incident).collect()
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(incident).transpose()
    }

    async fn ack_incident(&self, id: &str, by: &str, at: Timestamp, fx: &Effects) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query(
            "UPDATE incidents SET acked_by = $2, acked_at = $3 WHERE id = $1 AND resolved_at IS NULL",
        )
        .bind(id)
        .bind(by)
        .bind(ms(at))
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        w.commit(fx).await?;
        Ok(true)
    }

    async fn queue_messages(&self, messages: &[Message], fx: &Effects) -> Result<()> {
        let mut w = self.write().await?;
        insert_messages(&mut w.tx, messages).await?;
        w.commit(fx).await
    }

    async fn due_messages(
        &self,
        channel: Channel,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let rows = sqlx::query(
            "SELECT id, channel, recipient, subject, body, incident, created_at, attempts, next_attempt_at
             FROM messages WHERE state = 'queued' AND channel = $1 AND next_attempt_at <= $2
             ORDER BY created_at, id LIMIT $3",
        )
        .bind(channel.as_str())
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message).collect()
    }

    async fn message_delivered(&self, id: &str, at: Timestamp) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "UPDATE messages SET state = 'delivered', delivered_at = $2, last_attempt_at = $2,
               attempts = attempts + 1 WHERE id = $1 AND state = 'queued'",
        )
        .bind(id)
        .bind(ms(at))
        .execute(&mut *w.tx)
        .await?;
        w.finish().await
    }

    async fn message_failed(
        &self,
        id: &str,
        error: &str,
        at: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "UPDATE messages SET attempts = attempts + 1, last_attempt_at = $2, last_error = $3,
               next_attempt_at = COALESCE($4, next_attempt_at),
               state = CASE WHEN $4 IS NULL THEN 'dead' ELSE 'queued' END
             WHERE id = $1 AND state = 'queued'",
        )
        .bind(id)
        .bind(ms(at))
        .bind(error)
        .bind(retry_at.map(ms))
        .execute(&mut *w.tx)
        .await?;
        w.finish().await
    }

    async fn digest_messages(&self, parts: &[String], digest: &Message) -> Result<()> {
        let mut w = self.write().await?;
        for id in parts {
            sqlx::query("UPDATE messages SET state = 'digested', last_error = $2 WHERE id = $1 AND state = 'queued'")
                .bind(id)
                .bind(format!("sent within digest {}", digest.id))
                .execute(&mut *w.tx)
                .await?;
        }
        insert_messages(&mut w.tx, std::slice::from_ref(digest)).await?;
        w.finish().await
    }

    async fn channel_counts(&self, channel: Channel) -> Result<ChannelCounts> {
        let row = sqlx::query(
            "SELECT
               CAST(COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT) AS queued,
               CAST(COALESCE(SUM(CASE WHEN state = 'queued' AND attempts > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS retrying,
               CAST(COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) AS BIGINT) AS dead,
               CAST(COALESCE(SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), 0) AS BIGINT) AS delivered,
               MAX(delivered_at) AS last_delivered_at
             FROM messages WHERE channel = $1",
        )
        .bind(channel.as_str())
        .fetch_one(&self.pool)
        .await?;
        let count =
            |c: &str| -> Result<u64> { Ok(u64::try_from(row.try_get::<i64, _>(c)?).unwrap_or(0)) };
        let last_error = sqlx::query_as::<_, (String, i64)>(
            "SELECT last_error, last_attempt_at FROM messages
             WHERE channel = $1 AND state IN ('queued', 'dead') AND last_error IS NOT NULL
             ORDER BY last_attempt_at DESC LIMIT 1",
        )
        .bind(channel.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(ChannelCounts {
            queued: count("queued")?,
            retrying: count("retrying")?,
            dead: count("dead")?,
            delivered: count("delivered")?,
            last_delivered_at: row.try_get::<Option<i64>, _>("last_delivered_at")?.map(ts),
            last_error: last_error.map(|(e, at)| (e, ts(at))),
        })
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<MessageView>> {
        let sql = format!(
            "SELECT {VIEW_COLUMNS} FROM messages WHERE state = 'dead' ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(view).collect()
    }

    async fn messages(&self, ids: &[&str]) -> Result<Vec<MessageView>> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<RowView> = super::select_in(
            &mut conn,
            &format!("SELECT {VIEW_COLUMNS} FROM messages"),
            "id",
            ids,
        )
        .await?;
        rows.into_iter().map(|r| r.0).collect()
    }

    async fn add_silence(&self, s: &Silence, fx: &Effects) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO silences (id, task_id, grp, kind, starts_at, ends_at, reason, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.id)
        .bind(&s.task)
        .bind(&s.group)
        .bind(s.kind.map(|k| k.as_str()))
        .bind(ms(s.starts_at))
        .bind(ms(s.ends_at))
        .bind(&s.reason)
        .bind(&s.created_by)
        .bind(ms(s.created_at))
        .execute(&mut *w.tx)
        .await?;
        w.commit(fx).await
    }

    async fn silences(&self, now: Timestamp) -> Result<Vec<Silence>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > $1 ORDER BY starts_at, id"
        )))
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(silence).collect()
    }

    async fn silence(&self, id: &str) -> Result<Option<Silence>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(silence).transpose()
    }

    async fn delete_silence(&self, id: &str, fx: &Effects) -> Result<bool> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM silences WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        w.commit(fx).await?;
        Ok(true)
    }

    async fn prune_alerts(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM silences WHERE id IN (SELECT id FROM silences WHERE ends_at < $1 LIMIT $2)")
            .bind(ms(before))
            .bind(i64::from(limit))
            .execute(&mut *w.tx)
            .await?;
        let a = sqlx::query(
            "DELETE FROM incidents WHERE id IN (SELECT id FROM incidents
               WHERE resolved_at IS NOT NULL AND resolved_at < $1 LIMIT $2)",
        )
        .bind(ms(before))
        .bind(i64::from(limit))
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        let b = sqlx::query(
            "DELETE FROM messages WHERE id IN (SELECT id FROM messages
               WHERE state <> 'queued' AND created_at < $1 LIMIT $2)",
        )
        .bind(ms(before))
        .bind(i64::from(limit))
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.finish().await?;
        Ok(a + b)
    }
}

/// A [`MessageView`] read through `select_in`.
struct RowView(Result<MessageView>);

impl<'r> sqlx::FromRow<'r, AnyRow> for RowView {
    fn from_row(row: &'r AnyRow) -> std::result::Result<Self, sqlx::Error> {
        Ok(RowView(view(row)))
    }
}

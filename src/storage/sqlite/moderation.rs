//! The moderation plugin's tables on SQLite: audit log, warn counts,
//! learned samples.
//!
//! Audit lines and warn counts are written on the hot path (every deleted
//! message), so they are submitted to the writer thread without waiting for
//! their commit: the thread commits them in order, in the same batches as
//! everything else, and logs a failure (nothing is waiting for it). Any later
//! read goes through the same thread, so it sees them.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::writer::backend;
use super::{SqliteStore, limit, millis, time};
use crate::event::{AdapterId, GroupId, MessageId, UserId};
use crate::storage::{AuditEntry, ModerationStore, Sample, StoreError, StoreResult, Warns};

/// Log a write that nobody waits for, if it failed.
fn log_failure(what: &'static str) -> impl FnOnce(StoreResult<()>) + Send + 'static {
    move |result| {
        if let Err(error) = result {
            tracing::error!(%error, "moderation: could not write the {what}");
        }
    }
}

fn insert_audit(conn: &rusqlite::Connection, e: &AuditEntry) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO moderation_audit (bot, adapter, group_id, user_id, user_name, \
         message_id, text, rule, action, dry_run, at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut st| {
        st.execute(params![
            e.bot,
            e.adapter.as_str(),
            e.group.as_str(),
            e.user.as_str(),
            e.user_name,
            e.message.as_ref().map(MessageId::as_str),
            e.text,
            e.rule,
            e.action,
            e.dry_run,
            millis(e.at),
        ])
    })
    .map(drop)
    .map_err(backend)
}

fn upsert_warns(conn: &rusqlite::Connection, key: (&str, &str, &str, &str), w: Warns) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO moderation_warns (bot, adapter, group_id, user_id, count, last_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (bot, adapter, group_id, user_id) \
         DO UPDATE SET count = excluded.count, last_ms = excluded.last_ms",
    )
    .and_then(|mut st| {
        st.execute(params![
            key.0,
            key.1,
            key.2,
            key.3,
            i64::from(w.count),
            millis(w.last)
        ])
    })
    .map(drop)
    .map_err(backend)
}

#[async_trait]
impl ModerationStore for SqliteStore {
    async fn all_warns(&self, bot: &str) -> StoreResult<Vec<(AdapterId, GroupId, UserId, Warns)>> {
        let bot = bot.to_owned();
        self.writer
            .call(move |conn| {
                let mut st = conn
                    .prepare_cached(
                        "SELECT adapter, group_id, user_id, count, last_ms FROM moderation_warns WHERE bot = ?1",
                    )
                    .map_err(backend)?;
                let rows: Vec<(String, String, String, i64, i64)> = st
                    .query_map(params![bot], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(backend)?;
                rows.into_iter()
                    .map(|(a, g, u, count, ms)| {
                        Ok((
                            AdapterId(a),
                            GroupId(g),
                            UserId(u),
                            Warns {
                                count: u32::try_from(count)
                                    .map_err(|_| StoreError::Corrupt(format!("warn count {count}")))?,
                                last: time(ms)?,
                            },
                        ))
                    })
                    .collect()
            })
            .await
    }

    async fn record_decision(&self, entry: AuditEntry, warns: Option<Warns>) -> StoreResult<()> {
        self.writer
            .submit(
                move |conn| {
                    insert_audit(conn, &entry)?;
                    if let Some(w) = warns {
                        upsert_warns(
                            conn,
                            (
                                &entry.bot,
                                entry.adapter.as_str(),
                                entry.group.as_str(),
                                entry.user.as_str(),
                            ),
                            w,
                        )?;
                    }
                    Ok(())
                },
                log_failure("audit log and warn count"),
            )
            .await
    }

    async fn audit_append(&self, e: AuditEntry) -> StoreResult<()> {
        self.writer
            .submit(move |conn| insert_audit(conn, &e), log_failure("audit log"))
            .await
    }

    async fn audit_log(&self, bot: &str, max: usize) -> StoreResult<Vec<AuditEntry>> {
        let bot = bot.to_owned();
        self.writer
            .call(move |conn| {
                let mut st = conn
                    .prepare_cached(
                        "SELECT adapter, group_id, user_id, user_name, message_id, text, rule, action, \
                         dry_run, at_ms FROM moderation_audit WHERE bot = ?1 ORDER BY id DESC LIMIT ?2",
                    )
                    .map_err(backend)?;
                type Row = (
                    String,
                    String,
                    String,
                    String,
                    Option<String>,
                    String,
                    String,
                    String,
                    bool,
                    i64,
                );
                let rows: Vec<Row> = st
                    .query_map(params![bot, limit(max)], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                            r.get(8)?,
                            r.get(9)?,
                        ))
                    })
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(backend)?;
                let mut out = rows
                    .into_iter()
                    .map(
                        |(adapter, group, user, user_name, message, text, rule, action, dry_run, ms)| {
                            Ok(AuditEntry {
                                bot: bot.clone(),
                                adapter: AdapterId(adapter),
                                group: GroupId(group),
                                user: UserId(user),
                                user_name,
                                message: message.map(MessageId),
                                text,
                                rule,
                                action,
                                dry_run,
                                at: time(ms)?,
                            })
                        },
                    )
                    .collect::<StoreResult<Vec<_>>>()?;
                out.reverse();
                Ok(out)
            })
            .await
    }

    async fn warns(
        &self,
        bot: &str,
        adapter: &AdapterId,
        group: &GroupId,
        user: &UserId,
    ) -> StoreResult<Option<Warns>> {
        let key = (bot.to_owned(), adapter.0.clone(), group.0.clone(), user.0.clone());
        self.writer
            .call(move |conn| {
                let row: Option<(i64, i64)> = conn
                    .prepare_cached(
                        "SELECT count, last_ms FROM moderation_warns \
                         WHERE bot = ?1 AND adapter = ?2 AND group_id = ?3 AND user_id = ?4",
                    )
                    .and_then(|mut st| {
                        st.query_row(params![key.0, key.1, key.2, key.3], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })
                        .optional()
                    })
                    .map_err(backend)?;
                row.map(|(count, ms)| {
                    Ok(Warns {
                        count: u32::try_from(count)
                            .map_err(|_| StoreError::Corrupt(format!("warn count {count}")))?,
                        last: time(ms)?,
                    })
                })
                .transpose()
            })
            .await
    }

    async fn set_warns(
        &self,
        bot: &str,
        adapter: &AdapterId,
        group: &GroupId,
        user: &UserId,
        warns: Option<Warns>,
    ) -> StoreResult<()> {
        let key = (bot.to_owned(), adapter.0.clone(), group.0.clone(), user.0.clone());
        self.writer
            .submit(
                move |conn| match warns {
                    Some(w) => upsert_warns(conn, (&key.0, &key.1, &key.2, &key.3), w),
                    None => conn
                        .prepare_cached(
                            "DELETE FROM moderation_warns \
                                 WHERE bot = ?1 AND adapter = ?2 AND group_id = ?3 AND user_id = ?4",
                        )
                        .and_then(|mut st| st.execute(params![key.0, key.1, key.2, key.3]))
                        .map(drop)
                        .map_err(backend),
                },
                log_failure("warn count"),
            )
            .await
    }

    async fn add_samples(&self, bot: &str, samples: &[Sample]) -> StoreResult<()> {
        let bot = bot.to_owned();
        let samples = samples.to_vec();
        self.writer
            .call(move |conn| {
                let mut st = conn
                    .prepare_cached(
                        "INSERT INTO moderation_samples (bot, text, spam, at_ms, admin) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(backend)?;
                for s in &samples {
                    st.execute(params![bot, s.text, s.spam, millis(s.at), s.admin])
                        .map_err(backend)?;
                }
                Ok(())
            })
            .await
    }

    async fn samples(&self, bot: &str) -> StoreResult<Vec<Sample>> {
        let bot = bot.to_owned();
        self.writer
            .call(move |conn| {
                let mut st = conn
                    .prepare_cached(
                        "SELECT text, spam, at_ms, admin FROM moderation_samples WHERE bot = ?1 ORDER BY id",
                    )
                    .map_err(backend)?;
                let rows: Vec<(String, bool, i64, bool)> = st
                    .query_map(params![bot], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(backend)?;
                rows.into_iter()
                    .map(|(text, spam, ms, admin)| {
                        Ok(Sample {
                            text,
                            spam,
                            at: time(ms)?,
                            admin,
                        })
                    })
                    .collect()
            })
            .await
    }
}

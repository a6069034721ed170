//! The coupon ledger on SQLite.
//!
//! Decisions are made against an in-memory copy of each pool ([`Ledgers`]),
//! loaded from the database when the pool is opened, so a claim needs no
//! read round trip. The grant itself (ledger row, pool counter, delivery
//! rows in the outbox) is one job of the writer thread, batched with other
//! claims into one transaction (group commit): a drop of tens of thousands
//! of claims pays one fsync per batch, not per claim.
//!
//! The database stays the judge: the job re-checks the pool's total (the
//! counter update is guarded) and the member's limit, and the schema forbids
//! a code twice. A job that fails (a full disk, a second process on the same
//! file) takes its delivery with it, and the in-memory copy is rolled back,
//! so a code is never sent without its durable grant.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::writer::{Writer, backend};
use super::{OutboxRow, insert_outbox, millis, outbox_rows, time};
use crate::event::{AdapterId, GroupId, MessageId, UserId};
use crate::storage::{
    ClaimOutcome, Claimant, Deliver, Grant, PoolCodes, PoolCounts, PoolSpec, StoreError, StoreResult,
};

/// The in-memory copies of every opened pool.
#[derive(Debug, Default)]
pub(super) struct Ledgers {
    /// Pools by (bot, pool id); a std mutex held only for the decision.
    pools: Mutex<HashMap<(String, String), PoolLedger>>,
    /// The next grant id (ids are assigned here, so a grant needs no read).
    next_id: AtomicI64,
}

/// One pool's state.
#[derive(Debug)]
struct PoolLedger {
    /// What is handed out.
    codes: PoolCodes,
    /// Most grants ever.
    total: u64,
    /// Most grants per member.
    per_user: u32,
    /// Grants so far.
    claimed: u64,
    /// For a list: indices of codes not granted, in order. For a link:
    /// claim numbers given back by failed jobs, reused first.
    free: VecDeque<u64>,
    /// For a link: the next claim number.
    next_seq: u64,
    /// Each member's grants, by (adapter, user).
    members: HashMap<(AdapterId, UserId), Vec<Grant>>,
}

impl PoolLedger {
    fn counts(&self) -> PoolCounts {
        PoolCounts {
            total: self.total,
            claimed: self.claimed,
        }
    }

    /// The next code and its seq, if any is left.
    fn take(&mut self) -> Option<(u64, String)> {
        if self.claimed >= self.total {
            return None;
        }
        match &self.codes {
            PoolCodes::List(codes) => {
                let seq = self.free.pop_front()?;
                let code = codes.get(usize::try_from(seq).ok()?)?.clone();
                Some((seq, code))
            }
            PoolCodes::Link(link) => {
                let seq = self.free.pop_front().unwrap_or_else(|| {
                    self.next_seq += 1;
                    self.next_seq - 1
                });
                Some((seq, link.clone()))
            }
        }
    }

    /// Undo a grant whose job failed.
    fn give_back(&mut self, seq: u64, grant: &Grant) {
        self.claimed = self.claimed.saturating_sub(1);
        let at = self.free.partition_point(|s| *s < seq);
        self.free.insert(at, seq);
        let key = (grant.claimant.adapter.clone(), grant.claimant.user.clone());
        if let Some(list) = self.members.get_mut(&key) {
            list.retain(|g| g.id != grant.id);
        }
    }
}

/// A stored grant row, as read back.
struct Row {
    id: i64,
    pool: String,
    seq: i64,
    code: String,
    adapter: String,
    user: String,
    group: Option<String>,
    message: Option<String>,
    ms: i64,
}

impl Row {
    fn grant(self) -> StoreResult<Grant> {
        Ok(Grant {
            id: self.id,
            pool: self.pool,
            code: self.code,
            claimant: Claimant {
                adapter: AdapterId(self.adapter),
                user: UserId(self.user),
                group: self.group.map(GroupId),
                message: self.message.map(MessageId),
            },
            at: time(self.ms)?,
        })
    }
}

const GRANT_COLUMNS: &str = "id, pool, seq, code, adapter, user_id, group_id, message_id, claimed_ms";

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: row.get(0)?,
        pool: row.get(1)?,
        seq: row.get(2)?,
        code: row.get(3)?,
        adapter: row.get(4)?,
        user: row.get(5)?,
        group: row.get(6)?,
        message: row.get(7)?,
        ms: row.get(8)?,
    })
}

/// Register the pool and read its grants and the highest grant id.
fn load(conn: &Connection, bot: &str, pool: &str, total: u64) -> StoreResult<(Vec<Row>, i64)> {
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO coupon_pools (bot, pool, total) VALUES (?1, ?2, ?3) \
         ON CONFLICT (bot, pool) DO UPDATE SET total = excluded.total",
    )
    .and_then(|mut st| st.execute(params![bot, pool, total]))
    .map_err(backend)?;
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {GRANT_COLUMNS} FROM coupon_claims WHERE bot = ?1 AND pool = ?2 ORDER BY id"
        ))
        .map_err(backend)?;
    let rows = st
        .query_map(params![bot, pool], read_row)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(backend)?;
    // The counter follows the ledger rows, whatever an older run left.
    conn.prepare_cached("UPDATE coupon_pools SET claimed = ?3 WHERE bot = ?1 AND pool = ?2")
        .and_then(|mut st| st.execute(params![bot, pool, rows.len() as i64]))
        .map_err(backend)?;
    let max_id: i64 = conn
        .query_row("SELECT coalesce(max(id), 0) FROM coupon_claims", [], |r| r.get(0))
        .map_err(backend)?;
    Ok((rows, max_id))
}

impl Ledgers {
    /// Register `spec` and load its state into memory (again, if opened before).
    pub(super) async fn open(&self, writer: &Writer, spec: PoolSpec) -> StoreResult<PoolCounts> {
        let (bot, pool, total) = (spec.bot.clone(), spec.pool.clone(), spec.total);
        let (rows, max_id) = writer.call(move |conn| load(conn, &bot, &pool, total)).await?;
        self.next_id.fetch_max(max_id + 1, Ordering::AcqRel);
        let mut members: HashMap<(AdapterId, UserId), Vec<Grant>> = HashMap::new();
        let mut taken = std::collections::HashSet::new();
        let mut next_seq = 0_u64;
        let claimed = rows.len() as u64;
        for row in rows {
            let seq = u64::try_from(row.seq).map_err(|_| StoreError::Corrupt(format!("seq {}", row.seq)))?;
            next_seq = next_seq.max(seq + 1);
            taken.insert(row.code.clone());
            let grant = row.grant()?;
            members
                .entry((grant.claimant.adapter.clone(), grant.claimant.user.clone()))
                .or_default()
                .push(grant);
        }
        let free: VecDeque<u64> = match &spec.codes {
            // Codes already granted stay granted even if the list moved them.
            PoolCodes::List(codes) => (0..codes.len() as u64)
                .filter(|i| !taken.contains(&codes[*i as usize]))
                .collect(),
            PoolCodes::Link(_) => VecDeque::new(),
        };
        let ledger = PoolLedger {
            codes: spec.codes,
            total: spec.total,
            per_user: spec.per_user,
            claimed,
            free,
            next_seq,
            members,
        };
        let counts = ledger.counts();
        self.lock().insert((spec.bot, spec.pool), ledger);
        Ok(counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), PoolLedger>> {
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters of every opened pool of `bot`, sorted by pool id.
    pub(super) fn pools(&self, bot: &str) -> Vec<(String, PoolCounts)> {
        let mut out: Vec<(String, PoolCounts)> = self
            .lock()
            .iter()
            .filter(|((b, _), _)| b == bot)
            .map(|((_, p), l)| (p.clone(), l.counts()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// A pool's counters.
    pub(super) fn counts(&self, bot: &str, pool: &str) -> Option<PoolCounts> {
        self.lock()
            .get(&(bot.to_owned(), pool.to_owned()))
            .map(PoolLedger::counts)
    }

    /// Decide a claim in memory, then queue its write (see the module doc).
    pub(super) async fn claim(
        self: &Arc<Self>,
        writer: &Writer,
        bot: &str,
        pool: &str,
        who: Claimant,
        at: DateTime<Utc>,
        deliver: Deliver,
    ) -> StoreResult<ClaimOutcome> {
        let key = (bot.to_owned(), pool.to_owned());
        let (grant, seq, counts, per_user, is_link) = {
            let mut pools = self.lock();
            let ledger = pools
                .get_mut(&key)
                .ok_or_else(|| StoreError::Backend(format!("coupon pool {bot}/{pool} was not opened")))?;
            let member = (who.adapter.clone(), who.user.clone());
            if let Some(mine) = ledger.members.get(&member) {
                if mine.len() >= ledger.per_user as usize {
                    return Ok(ClaimOutcome::Already(mine.clone()));
                }
            }
            let Some((seq, code)) = ledger.take() else {
                return Ok(ClaimOutcome::SoldOut(ledger.counts()));
            };
            ledger.claimed += 1;
            let grant = Grant {
                id: self.next_id.fetch_add(1, Ordering::AcqRel),
                pool: pool.to_owned(),
                code,
                claimant: who,
                at,
            };
            ledger.members.entry(member).or_default().push(grant.clone());
            let is_link = matches!(ledger.codes, PoolCodes::Link(_));
            (grant, seq, ledger.counts(), ledger.per_user, is_link)
        };
        let queued = deliver(&grant, counts);
        let rows = outbox_rows(&queued)?;
        let write = {
            let (bot, g) = (bot.to_owned(), grant.clone());
            move |conn: &Connection| write_grant(conn, &bot, &g, seq, is_link, per_user, &rows)
        };
        let undo = {
            let (ledgers, key, g) = (self.clone(), key.clone(), grant.clone());
            move |result: StoreResult<()>| {
                if let Err(error) = result {
                    tracing::error!(%error, bot = %key.0, pool = %key.1, grant = g.id, "a grant was not written; it is undone and its code not sent");
                    if let Some(ledger) = ledgers.lock().get_mut(&key) {
                        ledger.give_back(seq, &g);
                    }
                }
            }
        };
        writer.submit(write, undo).await?;
        Ok(ClaimOutcome::Granted {
            grant,
            counts,
            queued,
        })
    }

    /// Every committed grant of `bot`.
    pub(super) async fn grants(&self, writer: &Writer, bot: &str) -> StoreResult<Vec<Grant>> {
        let bot = bot.to_owned();
        let rows = writer
            .call(move |conn| {
                let mut st = conn
                    .prepare_cached(&format!(
                        "SELECT {GRANT_COLUMNS} FROM coupon_claims WHERE bot = ?1 ORDER BY id"
                    ))
                    .map_err(backend)?;
                st.query_map([bot], read_row)
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(backend)
            })
            .await?;
        rows.into_iter().map(Row::grant).collect()
    }
}

/// The grant's job: guarded counter, member limit, ledger row, delivery.
fn write_grant(
    conn: &Connection,
    bot: &str,
    g: &Grant,
    seq: u64,
    is_link: bool,
    per_user: u32,
    deliveries: &[OutboxRow],
) -> StoreResult<()> {
    let counted = conn
        .prepare_cached(
            "UPDATE coupon_pools SET claimed = claimed + 1 WHERE bot = ?1 AND pool = ?2 AND claimed < total",
        )
        .and_then(|mut st| st.execute(params![bot, g.pool]))
        .map_err(backend)?;
    if counted != 1 {
        return Err(StoreError::Backend(format!(
            "pool {bot}/{} is exhausted in the database",
            g.pool
        )));
    }
    let held: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM coupon_claims WHERE bot = ?1 AND pool = ?2 AND adapter = ?3 AND user_id = ?4",
        )
        .and_then(|mut st| {
            st.query_row(params![bot, g.pool, g.claimant.adapter.0, g.claimant.user.0], |r| r.get(0))
        })
        .map_err(backend)?;
    if held >= i64::from(per_user) {
        return Err(StoreError::Backend(format!(
            "member already holds {held} of pool {bot}/{}",
            g.pool
        )));
    }
    conn.prepare_cached(
        "INSERT INTO coupon_claims (id, bot, pool, seq, code, is_link, adapter, user_id, group_id, message_id, claimed_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut st| {
        st.execute(params![
            g.id,
            bot,
            g.pool,
            seq as i64,
            g.code,
            is_link,
            g.claimant.adapter.0,
            g.claimant.user.0,
            g.claimant.group.as_ref().map(|x| x.0.as_str()),
            g.claimant.message.as_ref().map(|x| x.0.as_str()),
            millis(g.at),
        ])
    })
    .map_err(backend)?;
    insert_outbox(conn, deliveries)
}

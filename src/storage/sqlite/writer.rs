//! The thread that owns the SQLite connection and runs every operation,
//! many per transaction (group commit).
//!
//! Async callers send a job through a bounded channel and await its answer,
//! so no Tokio worker ever blocks on SQLite. The thread takes whatever jobs
//! are waiting (up to [`MAX_BATCH`]), runs each inside its own savepoint of
//! one `BEGIN IMMEDIATE` transaction, commits once, and only then answers:
//! an answer of `Ok` means the change is durable. A job that fails rolls back
//! to its savepoint and leaves the rest of the batch alone; a failed commit
//! fails every job of the batch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::storage::{StoreError, StoreResult};

/// Most jobs in one transaction: large enough to amortise the fsync of a
/// commit over a burst, small enough that one batch does not hold the write
/// lock for long.
const MAX_BATCH: usize = 512;

/// Jobs that may wait for the thread before callers are slowed down.
const QUEUE: usize = 4096;

/// What the thread calls once the batch's commit succeeded (`None`) or
/// failed (`Some(reason)`), to answer the caller.
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;

/// One operation: run against the connection inside a transaction, or told
/// that no transaction could be opened (`None`); returns how to answer.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;

/// The handle async code holds; dropping it stops the thread after the jobs
/// already sent, and closes the database.
#[derive(Debug)]
pub(super) struct Writer {
    /// Where jobs go; `None` only while dropping, so the thread sees the
    /// channel close before we join it.
    jobs: Option<mpsc::Sender<Job>>,
    /// The thread, joined on drop so that a reopened file is never still held.
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Move `conn` to a new thread that serves jobs until the handle drops.
    pub(super) fn start(conn: Connection, name: &str) -> StoreResult<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name(format!("qunbot-sqlite {name}"))
            .spawn(move || serve(conn, rx))
            .map_err(|e| StoreError::Backend(format!("starting the database thread: {e}")))?;
        Ok(Self {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Run `op` on the connection inside a transaction and return its result
    /// once that transaction has committed.
    pub(super) async fn call<R, F>(&self, op: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(op, move |answer| {
            // The caller may have given up waiting; the work is done anyway.
            let _ = tx.send(answer);
        })
        .await?;
        rx.await.map_err(|_| stopped())?
    }

    /// Queue `op` and return as soon as the thread has accepted it, without
    /// waiting for its commit; `done` receives the outcome once the batch
    /// has committed (or failed), on the database thread. Jobs run and
    /// commit in the order submitted, so a later [`Writer::call`] returning
    /// `Ok` means this job has committed too (or `done` saw its failure).
    pub(super) async fn submit<R, F, D>(&self, op: F, done: D) -> StoreResult<()>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
        D: FnOnce(StoreResult<R>) + Send + 'static,
    {
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => in_savepoint(conn, op),
                None => Err(StoreError::Backend("no transaction could be started".into())),
            };
            Box::new(move |commit_error: Option<&str>| {
                done(match commit_error {
                    Some(reason) => Err(StoreError::Backend(reason.to_owned())),
                    None => result,
                });
            })
        });
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send(job).await.map_err(|_| stopped())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            // Only jobs whose callers stopped waiting can be left: finishing
            // them is quick, and afterwards the file is closed for good.
            if thread.join().is_err() {
                tracing::error!("the database thread panicked");
            }
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the database thread has stopped".into())
}

/// The thread's loop: batch, run, commit, answer.
fn serve(conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let reason = format!("begin: {e}");
            for job in batch {
                job(None)(Some(&reason));
            }
            continue;
        }
        let finishes: Vec<Finish> = batch.into_iter().map(|job| job(Some(&conn))).collect();
        let commit_error = match conn.execute_batch("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                // Leave no half-open transaction behind for the next batch.
                let _ = conn.execute_batch("ROLLBACK");
                Some(format!("commit: {e}"))
            }
        };
        for finish in finishes {
            finish(commit_error.as_deref());
        }
    }
}

/// Run `op` inside a savepoint: released when it succeeds, rolled back when
/// it fails or panics, so one bad operation leaves its batch intact.
fn in_savepoint<R>(conn: &Connection, op: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
    conn.execute_batch("SAVEPOINT op").map_err(backend)?;
    let result = catch_unwind(AssertUnwindSafe(|| op(conn)))
        .unwrap_or_else(|_| Err(StoreError::Backend("a database operation panicked".into())));
    let end = if result.is_ok() {
        "RELEASE op"
    } else {
        "ROLLBACK TO op; RELEASE op"
    };
    conn.execute_batch(end).map_err(backend)?;
    result
}

/// A SQLite error as a store error.
pub(super) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(conn: &Connection) -> StoreResult<i64> {
        conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .map_err(backend)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_or_panicking_job_leaves_the_rest_of_its_batch_alone() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .unwrap();
        let writer = std::sync::Arc::new(Writer::start(conn, "test").unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for x in 0..200_i64 {
            let writer = writer.clone();
            tasks.spawn(async move {
                writer
                    .call(move |conn| {
                        conn.execute("INSERT INTO t (x) VALUES (?1)", [x])
                            .map_err(backend)?;
                        match x {
                            7 => Err(StoreError::Backend("refused".into())),
                            13 => panic!("boom"),
                            _ => Ok(()),
                        }
                    })
                    .await
                    .is_ok()
            });
        }
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            ok += usize::from(done.unwrap());
        }
        assert_eq!(ok, 198);
        assert_eq!(writer.call(count).await.unwrap(), 198);
    }
}

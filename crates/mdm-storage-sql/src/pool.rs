//! Connections kept checked out of sqlx's pool between store calls.
//!
//! sqlx's [`Pool`] tests every connection given back to it with a ping (a round trip to the
//! database server, or a message to SQLite's connection thread, in a task of its own), and by
//! default every connection it hands out with another. For a store call of one statement that
//! is two or three round trips where one would do — measured, a quarter of the server's CPU per
//! MDM request and a fifth of the database's. A [`WarmPool`] keeps the connections a call
//! leaves in good order (its statements ran to their end, its transaction committed) for the
//! next call, without sqlx's release path; sqlx still opens, sizes, times out and closes them.
//!
//! What sqlx's pings are for still holds:
//! * A call that fails or is cancelled hands its connection back to sqlx (or closes it, for a
//!   batch that may leave a transaction open): sqlx's ping flushes a pending rollback and sorts
//!   out a connection left mid-statement, exactly as before.
//! * A kept connection goes back to sqlx once [`RECYCLE_AFTER`] has passed since it was taken,
//!   or sooner when the pool's `max_lifetime` or `idle_timeout` is shorter, so sqlx's lifetime
//!   and idle limits (NanoMDM's `conn_max_lifetime`, `conn_max_idle_time`) apply within that
//!   margin; a connection unused that long is never handed out again from here, but through
//!   sqlx (and its test before acquire). A background task gives back what is left unused
//!   when the store is quiet.
//! * The pool's size is still sqlx's `max_connections`: a semaphore one smaller (where that
//!   leaves any) admits callers here, so that sqlx's own users always find a connection, and
//!   `acquire_timeout` bounds the wait with sqlx's own `PoolTimedOut`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use mdm_storage::StorageError;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::common::db;

/// The longest a kept connection goes without sqlx's checks.
pub(crate) const RECYCLE_AFTER: Duration = Duration::from_secs(5);

/// A sqlx pool, and the connections kept out of it between calls.
pub(crate) struct WarmPool<DB: Database> {
    inner: Arc<Inner<DB>>,
}

struct Inner<DB: Database> {
    pool: Pool<DB>,
    /// Most recently used at the back.
    kept: Mutex<VecDeque<Kept<DB>>>,
    permits: Semaphore,
    acquire_timeout: Duration,
    recycle_after: Duration,
    /// Users of sqlx's pool itself ([`WarmPool::direct`]) alive now.
    direct: AtomicUsize,
}

struct Kept<DB: Database> {
    conn: PoolConnection<DB>,
    /// When it was taken from sqlx's pool.
    taken: Instant,
    /// When a call last gave it back.
    used: Instant,
}

/// What happens to a connection whose call did not [`release`](PooledConn::release) it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnAbandon {
    /// Back to sqlx, which pings it (flushing a pending rollback) before reuse.
    Return,
    /// Closed: the call ran a batch that may have left a transaction (or named locks) open.
    Close,
}

impl<DB: Database> Clone for WarmPool<DB> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for WarmPool<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPool")
            .field("pool", &self.inner.pool)
            .field("kept", &self.inner.kept.lock().map(|k| k.len()).ok())
            .finish()
    }
}

impl<DB: Database> WarmPool<DB> {
    /// Keeps connections of `pool`, sized and timed by its options. Called within a Tokio
    /// runtime, it starts the task that gives back connections unused for a while.
    pub(crate) fn new(pool: Pool<DB>) -> Self {
        let options = pool.options();
        let recycle_after = [options.get_max_lifetime(), options.get_idle_timeout()]
            .into_iter()
            .flatten()
            .fold(RECYCLE_AFTER, Duration::min);
        // One connection fewer than sqlx may open, where there are several: the store never
        // keeps them all, so a caller of sqlx's pool itself (`pool()`) always finds one.
        let max = options.get_max_connections() as usize;
        let inner = Arc::new(Inner {
            permits: Semaphore::new(if max > 1 { max - 1 } else { 1 }),
            direct: AtomicUsize::new(0),
            acquire_timeout: options.get_acquire_timeout(),
            recycle_after,
            kept: Mutex::new(VecDeque::new()),
            pool,
        });
        // Without a runtime (sqlx needs one for its own timers anyway) unused connections still
        // go back whenever a call finds them.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(give_back_unused(Arc::downgrade(&inner), recycle_after));
        }
        Self { inner }
    }

    /// The sqlx pool, for statements outside the store calls. What the store keeps stays out
    /// of it (within the margin the [module documentation](self) describes); a caller that
    /// must find every connection there uses [`Self::direct`].
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.inner.pool
    }

    /// The sqlx pool, for a caller's own statements: what the store kept is given back to it
    /// first (the store keeps connections again with its next calls, but never all of them
    /// when the pool may open more than one).
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn shared_pool(&self) -> &Pool<DB> {
        drop(std::mem::take(&mut *self.inner.lock_kept()));
        &self.inner.pool
    }

    /// The sqlx pool, with every kept connection given back to it, and no more kept while the
    /// returned guard lives (a stream reading rows on sqlx's pool, however small it is).
    pub(crate) fn direct(&self) -> DirectUse<DB> {
        self.inner.direct.fetch_add(1, Ordering::AcqRel);
        drop(std::mem::take(&mut *self.inner.lock_kept()));
        DirectUse {
            inner: self.inner.clone(),
        }
    }

    /// A connection for one call, handed back as `on_abandon` says unless the call
    /// [releases](PooledConn::release) it.
    pub(crate) async fn acquire(
        &self,
        on_abandon: OnAbandon,
    ) -> Result<PooledConn<'_, DB>, StorageError> {
        let inner = &*self.inner;
        let permit = tokio::time::timeout(inner.acquire_timeout, inner.permits.acquire())
            .await
            .map_err(|_| db(sqlx::Error::PoolTimedOut))?
            .map_err(|_| db(sqlx::Error::PoolClosed))?;
        let now = Instant::now();
        let kept = {
            let mut kept = inner.kept.lock().unwrap_or_else(|e| e.into_inner());
            kept.pop_back()
        };
        let kept = match kept {
            Some(k) if now.duration_since(k.used) < inner.recycle_after => Some(k),
            // Unused too long to trust without sqlx's test: back to sqlx (this drop), and a
            // connection from sqlx instead.
            _ => None,
        };
        let kept = match kept {
            Some(k) => k,
            None => {
                let remaining = inner.acquire_timeout.saturating_sub(now.elapsed());
                let conn = tokio::time::timeout(remaining, inner.pool.acquire())
                    .await
                    .map_err(|_| db(sqlx::Error::PoolTimedOut))?
                    .map_err(db)?;
                let now = Instant::now();
                Kept {
                    conn,
                    taken: now,
                    used: now,
                }
            }
        };
        Ok(PooledConn {
            kept: Some(kept),
            pool: inner,
            on_abandon,
            _permit: permit,
        })
    }

    /// Gives every kept connection back to sqlx and closes the pool, waiting for connections in
    /// use to come back.
    pub(crate) async fn close(&self) {
        // Closed first, so that a call finishing meanwhile gives its connection to sqlx.
        let closing = self.inner.pool.close();
        drop(std::mem::take(&mut *self.inner.lock_kept()));
        closing.await;
    }
}

impl<DB: Database> Inner<DB> {
    fn lock_kept(&self) -> std::sync::MutexGuard<'_, VecDeque<Kept<DB>>> {
        // A panic while holding this lock leaves a deque of whole connections: still usable.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives back to sqlx the connections unused for `recycle_after`.
    fn give_back_unused(&self) {
        let now = Instant::now();
        let unused: Vec<Kept<DB>> = {
            let mut kept = self.lock_kept();
            let fresh = kept
                .iter()
                .position(|k| now.duration_since(k.used) < self.recycle_after)
                .unwrap_or(kept.len());
            kept.drain(..fresh).collect()
        };
        drop(unused);
    }
}

impl<DB: Database> Drop for Inner<DB> {
    fn drop(&mut self) {
        let kept = std::mem::take(&mut *self.lock_kept());
        if tokio::runtime::Handle::try_current().is_ok() {
            // Back to sqlx, which closes them if its pool is gone too.
            drop(kept);
        } else {
            // sqlx gives a connection back in a task of its own, which needs a runtime: the
            // last handle dropped outside one closes them here instead.
            for k in kept {
                drop(k.conn.detach());
            }
        }
    }
}

/// Every `period`, gives back what the pool kept but did not use; ends with the pool.
async fn give_back_unused<DB: Database>(inner: Weak<Inner<DB>>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.pool.is_closed() {
            return;
        }
        inner.give_back_unused();
    }
}

/// A connection for one store call (see [`WarmPool::acquire`]).
pub(crate) struct PooledConn<'p, DB: Database> {
    kept: Option<Kept<DB>>,
    pool: &'p Inner<DB>,
    on_abandon: OnAbandon,
    _permit: SemaphorePermit<'p>,
}

impl<DB: Database> PooledConn<'_, DB> {
    /// The connection, to run statements on.
    pub(crate) fn conn(&mut self) -> &mut DB::Connection {
        &mut self
            .kept
            .as_mut()
            .expect("present until released or dropped")
            .conn
    }

    /// The call's work is complete and the connection in good order (no statement left
    /// running, no transaction open): keep it for the next call.
    pub(crate) fn release(mut self) {
        let Some(mut kept) = self.kept.take() else {
            return;
        };
        let now = Instant::now();
        if self.pool.pool.is_closed()
            || self.pool.direct.load(Ordering::Acquire) > 0
            || now.duration_since(kept.taken) >= self.pool.recycle_after
        {
            // Back through sqlx's checks (lifetime, idle, ping).
            return;
        }
        kept.used = now;
        self.pool.lock_kept().push_back(kept);
    }
}

impl<DB: Database> Drop for PooledConn<'_, DB> {
    fn drop(&mut self) {
        if let Some(kept) = &mut self.kept
            && self.on_abandon == OnAbandon::Close
        {
            kept.conn.close_on_drop();
        }
    }
}

/// sqlx's pool, used directly (see [`WarmPool::direct`]).
pub(crate) struct DirectUse<DB: Database> {
    inner: Arc<Inner<DB>>,
}

impl<DB: Database> std::ops::Deref for DirectUse<DB> {
    type Target = Pool<DB>;

    fn deref(&self) -> &Pool<DB> {
        &self.inner.pool
    }
}

impl<DB: Database> Drop for DirectUse<DB> {
    fn drop(&mut self) {
        self.inner.direct.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::time::Duration;

    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::*;

    async fn warm(max: u32, idle_timeout: Option<Duration>) -> WarmPool<sqlx::Sqlite> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .idle_timeout(idle_timeout)
            .acquire_timeout(Duration::from_millis(300))
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await
            .unwrap();
        WarmPool::new(pool)
    }

    async fn select_one(conn: &mut PooledConn<'_, sqlx::Sqlite>) -> i64 {
        sqlx::query_scalar("SELECT 1")
            .fetch_one(conn.conn())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_released_connection_is_kept_and_an_abandoned_one_goes_back_to_sqlx() {
        let warm = warm(3, None).await;
        let mut conn = warm.acquire(OnAbandon::Return).await.unwrap();
        assert_eq!(select_one(&mut conn).await, 1);
        conn.release();
        // Kept here, so sqlx counts it as in use: no ping, no idle entry.
        assert_eq!(warm.inner.lock_kept().len(), 1);
        assert_eq!(warm.pool().num_idle(), 0);

        // The next call gets the same one back, and abandons it: it goes to sqlx (which pings
        // it on the way back, in a task of its own).
        let conn = warm.acquire(OnAbandon::Return).await.unwrap();
        assert_eq!(warm.inner.lock_kept().len(), 0);
        drop(conn);
        for _ in 0..100 {
            if warm.pool().num_idle() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(warm.pool().num_idle(), 1);
        assert_eq!(warm.pool().size(), 1);

        // A batch connection abandoned midway is closed instead.
        let conn = warm.acquire(OnAbandon::Close).await.unwrap();
        drop(conn);
        for _ in 0..100 {
            if warm.pool().size() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(warm.pool().size(), 0);
        warm.close().await;
    }

    #[tokio::test]
    async fn one_connection_is_left_to_sqlx_and_the_wait_is_bounded() {
        // Of three, calls here hold at most two at once; the third is for sqlx's own users.
        let warm = warm(3, None).await;
        let a = warm.acquire(OnAbandon::Return).await.unwrap();
        let b = warm.acquire(OnAbandon::Return).await.unwrap();
        let err = warm.acquire(OnAbandon::Return).await.err().unwrap();
        assert!(err.to_string().contains("timed out"), "{err}");
        let direct = warm.pool().acquire().await.unwrap();
        drop(direct);
        a.release();
        b.release();

        // Using sqlx's pool directly gives back what is kept, and keeps nothing meanwhile.
        assert_eq!(warm.inner.lock_kept().len(), 2);
        let direct = warm.direct();
        assert_eq!(warm.inner.lock_kept().len(), 0);
        let conn = warm.acquire(OnAbandon::Return).await.unwrap();
        conn.release();
        assert_eq!(warm.inner.lock_kept().len(), 0);
        drop(direct);
        let conn = warm.acquire(OnAbandon::Return).await.unwrap();
        conn.release();
        assert_eq!(warm.inner.lock_kept().len(), 1);
        warm.close().await;
        assert!(warm.pool().is_closed());
        assert_eq!(warm.pool().size(), 0);
    }

    #[test]
    fn the_last_handle_may_go_outside_a_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let warm = runtime.block_on(async {
            let warm = warm(2, None).await;
            let mut conn = warm.acquire(OnAbandon::Return).await.unwrap();
            assert_eq!(select_one(&mut conn).await, 1);
            conn.release();
            warm
        });
        drop(runtime);
        assert_eq!(warm.inner.lock_kept().len(), 1);
        drop(warm);
    }

    #[tokio::test]
    async fn unused_connections_go_back_within_the_idle_timeout() {
        // An idle timeout shorter than RECYCLE_AFTER bounds how long one is kept unused.
        let warm = warm(2, Some(Duration::from_millis(100))).await;
        assert_eq!(warm.inner.recycle_after, Duration::from_millis(100));
        let conn = warm.acquire(OnAbandon::Return).await.unwrap();
        conn.release();
        assert_eq!(warm.inner.lock_kept().len(), 1);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(warm.inner.lock_kept().len(), 0, "given back while unused");
        warm.close().await;
    }
}

//! What the PostgreSQL and MySQL tests share: a throwaway namespace on the test server for each
//! store (a schema on PostgreSQL, a database on MySQL), dropped when the test ends, and the test
//! bodies that read the same on both. Each test file describes its server with [`Server`].

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mdm_proto::Status;
use mdm_storage::conformance::{
    self,
    fixtures::{Device, command, report},
};
use mdm_storage::{CommandQueue, ReportOutcome, Storage};
use rootstock_test_support::proxy;
use sqlx::{AssertSqlSafe, Connection, Database, Executor, IntoArguments, Pool};

/// How a test connects: the dialect's connect options.
pub type ConnectOptions<S> = <<<S as Server>::Db as Database>::Connection as Connection>::Options;

/// A database server under test, as its test file describes it.
pub trait Server: 'static {
    /// The sqlx driver.
    type Db: Database<Arguments: IntoArguments<Self::Db>>;
    /// The dialect's store.
    type Store: Storage + Clone + Send + Sync + 'static;
    /// The environment variable holding the server's URL; unset, the tests are skipped.
    const URL_VAR: &'static str;
    /// The port a URL without one means.
    const DEFAULT_PORT: u16;
    /// What one store lives in: `SCHEMA` or `DATABASE`.
    const NAMESPACE: &'static str;
    /// What follows `DROP {NAMESPACE} name` (` CASCADE` for a PostgreSQL schema).
    const DROP_OPTIONS: &'static str;

    /// Connect options for `url` whose statements reach the namespace `name` alone.
    fn connect_options(url: &str, name: &str) -> ConnectOptions<Self>;
    /// `connect` aimed at a local port instead (the proxy).
    fn via_local_port(connect: ConnectOptions<Self>, port: u16) -> ConnectOptions<Self>;
    /// Opens a store on `connect` with a storage-options string.
    fn open(
        connect: ConnectOptions<Self>,
        storage_options: &str,
    ) -> impl Future<Output = Self::Store> + Send;
    /// Closes the store's connections.
    fn close(store: &Self::Store) -> impl Future<Output = ()> + Send;
    /// The store's own pool.
    fn pool(store: &Self::Store) -> &Pool<Self::Db>;
}

/// Creates and drops uniquely named namespaces on the test server.
pub struct Namespaces<S: Server> {
    pub url: String,
    admin: Pool<S::Db>,
    created: Arc<Mutex<Vec<String>>>,
}

// Not derived: a derive would require `S: Clone`.
impl<S: Server> Clone for Namespaces<S> {
    fn clone(&self) -> Self {
        Self {
            url: self.url.clone(),
            admin: self.admin.clone(),
            created: self.created.clone(),
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl<S: Server> Namespaces<S>
where
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
{
    /// `None` (and a note that the test was skipped) when the server's URL is not set.
    pub async fn new() -> Option<Self> {
        let Ok(url) = std::env::var(S::URL_VAR) else {
            eprintln!("skipped: {} is not set", S::URL_VAR);
            return None;
        };
        let admin = Pool::connect(&url)
            .await
            .expect("connect to the test server");
        Some(Self {
            url,
            admin,
            created: Arc::default(),
        })
    }

    /// A new empty namespace, and connect options that reach it alone.
    pub async fn create(&self) -> ConnectOptions<S> {
        let name = format!(
            "rootstock_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let namespace = S::NAMESPACE;
        sqlx::query(AssertSqlSafe(format!("CREATE {namespace} {name}")))
            .execute(&self.admin)
            .await
            .unwrap_or_else(|e| panic!("create {namespace}: {e}"));
        self.created.lock().unwrap().push(name.clone());
        S::connect_options(&self.url, &name)
    }

    /// A store in a new namespace, and a pool of plain connections to that namespace.
    pub async fn store(&self, storage_options: &str) -> (S::Store, Pool<S::Db>) {
        let connect = self.create().await;
        let store = S::open(connect.clone(), storage_options).await;
        (store, Pool::connect_with(connect).await.expect("raw pool"))
    }

    pub async fn drop_all(&self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap());
        let (namespace, options) = (S::NAMESPACE, S::DROP_OPTIONS);
        for name in names {
            sqlx::query(AssertSqlSafe(format!("DROP {namespace} {name}{options}")))
                .execute(&self.admin)
                .await
                .unwrap_or_else(|e| panic!("drop {namespace}: {e}"));
        }
    }
}

/// The conformance suite, each case on a store in a namespace of its own.
pub async fn run_conformance<S: Server>(storage_options: &str)
where
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
{
    let Some(namespaces) = Namespaces::<S>::new().await else {
        return;
    };
    let make_store = || {
        let namespaces = namespaces.clone();
        let storage_options = storage_options.to_owned();
        async move { S::open(namespaces.create().await, &storage_options).await }
    };
    // NanoMDM's `delete=1` keeps no results: the suite's variant for it.
    if storage_options.contains("delete=1") {
        conformance::run_delete_mode(make_store).await;
    } else {
        conformance::run(make_store).await;
    }
    namespaces.drop_all().await;
}

/// 50 enrollments answer one command at the same moment: no deadlock or serialization error
/// escapes, and every answer is stored (or, with `delete=1`, every row and the command go).
pub async fn concurrent_reports_on_one_command<S: Server>()
where
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    i64: for<'r> sqlx::Decode<'r, S::Db> + sqlx::Type<S::Db>,
    usize: sqlx::ColumnIndex<<S::Db as Database>::Row>,
{
    use sqlx::Row as _;

    let Some(namespaces) = Namespaces::<S>::new().await else {
        return;
    };
    for storage_options in ["", "delete=1"] {
        let (store, raw) = namespaces.store(storage_options).await;
        let devices: Vec<Device> = (0..50).map(|n| Device::new(&format!("CONC-{n}"))).collect();
        for d in &devices {
            d.enroll(&store).await;
        }
        let ids: Vec<_> = devices.iter().map(|d| d.id.id().clone()).collect();
        let failed = store
            .enqueue_command(&ids, &command("MULTI-1"), 0)
            .await
            .unwrap();
        assert!(failed.is_empty());
        let tasks: Vec<_> = devices
            .iter()
            .map(|d| {
                let store = store.clone();
                let id = d.id.clone();
                tokio::spawn(async move {
                    let (ack, raw) = report(&id, Some("MULTI-1"), Status::Acknowledged);
                    store.store_command_report(&id, &ack, &raw).await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(
                task.await.unwrap().expect("no error escapes"),
                ReportOutcome::Final
            );
        }
        let count = |sql: &'static str| {
            let raw = raw.clone();
            async move {
                sqlx::query(sql)
                    .fetch_one(&raw)
                    .await
                    .unwrap()
                    .get::<i64, _>(0)
            }
        };
        if storage_options.is_empty() {
            assert_eq!(
                count("SELECT count(*) FROM command_results WHERE status = 'Acknowledged'").await,
                50
            );
            assert_eq!(
                count("SELECT count(*) FROM enrollment_queue WHERE active").await,
                0
            );
        } else {
            assert_eq!(count("SELECT count(*) FROM enrollment_queue").await, 0);
            assert_eq!(count("SELECT count(*) FROM command_results").await, 0);
            assert_eq!(count("SELECT count(*) FROM commands").await, 0);
        }
        S::close(&store).await;
        raw.close().await;
    }
    namespaces.drop_all().await;
}

/// The database goes away and comes back, twice — first every connection is closed and new
/// ones are closed at once, then new ones are refused outright (a stopped server): the store
/// answers with an error meanwhile, promptly even while refused (sqlx retries a refused connect
/// until the acquire timeout, which must not be its default 30 s), and the same store serves
/// the queue afterwards.
pub async fn survives_the_database_going_away<S: Server>()
where
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
{
    let Some(namespaces) = Namespaces::<S>::new().await else {
        return;
    };
    let proxy = proxy::Proxy::start(proxy::upstream(&namespaces.url, S::DEFAULT_PORT)).await;
    let connect = S::via_local_port(namespaces.create().await, proxy.addr.port());
    let store = S::open(connect, "max_open_conns=2").await;
    let bound = Duration::from_secs(60);

    let d = Device::new("AWAY-1");
    // After each outage: the same store answers again, with the command still queued.
    let served_again = || async {
        tokio::time::timeout(bound, store.retrieve_next_command(&d.id, false))
            .await
            .expect("an answer once the database is back")
            .expect("served again")
            .expect("the queued command")
    };
    d.enroll(&store).await;
    let ids = [d.id.id().clone()];
    let first = command("AWAY-CMD-1");
    let failed = store.enqueue_command(&ids, &first, 0).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");

    proxy.down().await;
    let down = tokio::time::timeout(bound, store.retrieve_next_command(&d.id, false))
        .await
        .expect("an answer while the database is away");
    assert!(down.is_err(), "{down:?}");

    proxy.up();
    assert_eq!(served_again().await.command_uuid, "AWAY-CMD-1");

    proxy.refuse().await;
    let guard = Duration::from_secs(15);
    let refused = tokio::time::timeout(guard, store.retrieve_next_command(&d.id, false))
        .await
        .expect("an answer soon while connections are refused");
    assert!(refused.is_err(), "{refused:?}");

    proxy.up();
    assert_eq!(served_again().await.command_uuid, "AWAY-CMD-1");
    let second = command("AWAY-CMD-2");
    let failed = tokio::time::timeout(bound, store.enqueue_command(&ids, &second, 0))
        .await
        .unwrap()
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");

    S::close(&store).await;
    drop(proxy);
    namespaces.drop_all().await;
}

/// sqlx's statement cache is hit: on a store with one connection, once every statement of an
/// MDM round has been prepared, further rounds (other ids, other commands) prepare none.
pub async fn statements_are_prepared_once<S: Server>()
where
    S::Db: sqlx::database::HasStatementCache,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
{
    let Some(namespaces) = Namespaces::<S>::new().await else {
        return;
    };
    let (store, _raw) = namespaces.store("max_open_conns=1").await;
    crate::round::mdm_round(&store, 0).await;
    let prepared = |store: &S::Store| {
        let pool = S::pool(store).clone();
        async move {
            pool.acquire()
                .await
                .expect("the one connection")
                .cached_statements_size()
        }
    };
    let warm = prepared(&store).await;
    assert!(warm > 5, "{warm} statements cached after a round");
    for n in 1..4 {
        crate::round::mdm_round(&store, n).await;
    }
    assert_eq!(prepared(&store).await, warm, "statements prepared again");
    S::close(&store).await;
    namespaces.drop_all().await;
}

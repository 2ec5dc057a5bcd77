//! NanoMDM's `-storage-options` strings: comma-separated `key=value` pairs, e.g. `delete=1`.

/// Why a storage-options string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A key the backend does not know.
    #[error("invalid storage option {0:?}")]
    UnknownOption(String),
    /// A known key with a value it does not take.
    #[error("invalid value {value:?} for storage option {key:?}")]
    InvalidValue {
        /// The option.
        key: String,
        /// The value given.
        value: String,
    },
}

/// Splits `delete=1,foo=bar` into pairs, as NanoMDM does: an empty string has no options, a
/// pair without `=` has an empty value.
pub(crate) fn split(options: &str) -> impl Iterator<Item = (&str, &str)> {
    options
        .split(',')
        .filter(|opt| !opt.is_empty())
        .map(|opt| opt.split_once('=').unwrap_or((opt, "")))
}

/// A `0`/`1` flag, as NanoMDM's `delete` takes.
pub(crate) fn flag(key: &str, value: &str) -> Result<bool, OptionsError> {
    match value {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(invalid(key, value)),
    }
}

pub(crate) fn invalid(key: &str, value: &str) -> OptionsError {
    OptionsError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

/// A Go `time.ParseDuration` string, as NanoMDM's `conn_max_lifetime` and `conn_max_idle_time`
/// take: a sequence of decimal numbers with units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`
/// (`1h30m`, `1.5s`, `0`). Negative durations are refused.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn go_duration(key: &str, value: &str) -> Result<std::time::Duration, OptionsError> {
    let err = || invalid(key, value);
    if value == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let mut rest = value.strip_prefix('+').unwrap_or(value);
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| err())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| err())
}

/// How long a PostgreSQL or MySQL store call waits for a pool connection by default
/// (`acquire_timeout`), five seconds instead of sqlx's 30.
///
/// sqlx spends this one budget both on waiting for a connection from a full pool and on opening
/// a new one, and it retries a *refused* connect (the database is down, or restarting) with
/// backoff until the budget is spent. It cannot be told to fail a refused connect at once, so
/// this is also how long a request waits for its 500 while the database is down: NanoMDM (Go
/// `database/sql`) fails such a request at once, and 30 s would outlast most clients' patience.
/// Five seconds still lets a request queue for a connection through a burst that exhausts the
/// pool — with queries in milliseconds that means a backlog of thousands — without turning it
/// into a 500 (sqlx itself logs an acquire slower than 2 s as a problem).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) const DEFAULT_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What a NanoMDM `-storage-options` string sets for the PostgreSQL and MySQL backends
/// (`max_open_conns` and `acquire_timeout` are Rootstock's): the same for both, so written once.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageOptions {
    /// NanoMDM's `delete=1`: once an enrollment answers a command with a final status, remove
    /// its queue entry and result (the report is not stored), and the command itself when no
    /// enrollment refers to it any more; clearing a queue removes the entries too.
    pub delete_commands: bool,
    /// Pool size (`max_open_conns`, default 10).
    pub max_open_conns: u32,
    /// Close connections older than this (`conn_max_lifetime`, a Go duration; `None` or zero:
    /// never).
    pub conn_max_lifetime: Option<std::time::Duration>,
    /// Close connections idle longer than this (`conn_max_idle_time`; `None` or zero: never).
    pub conn_max_idle_time: Option<std::time::Duration>,
    /// How long a store call (and opening the store) waits for a pool connection before it
    /// fails (`acquire_timeout`, a Go duration; default five seconds, sqlx's is 30).
    ///
    /// It covers both queueing for a connection from a full pool and opening a new one, which
    /// sqlx keeps retrying while the database refuses connections: it is therefore also how
    /// long a request waits for its error while the database is down (NanoMDM fails at once).
    pub acquire_timeout: std::time::Duration,
}

impl Default for StorageOptions {
    /// Keep commands and results, 10 connections, no lifetime limits, a five-second
    /// `acquire_timeout`.
    fn default() -> Self {
        StorageOptions {
            delete_commands: false,
            max_open_conns: 10,
            conn_max_lifetime: None,
            conn_max_idle_time: None,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
impl StorageOptions {
    /// Applies `delete=0|1,conn_max_lifetime=<Go duration>,conn_max_idle_time=<Go duration>,
    /// max_open_conns=<n>,acquire_timeout=<Go duration>`; later duplicates win, unknown keys are
    /// refused, and so are a zero pool size and a zero `acquire_timeout`. Nothing is changed
    /// when the string is refused.
    pub fn apply(&mut self, storage_options: &str) -> Result<(), OptionsError> {
        let mut applied = self.clone();
        for (key, value) in split(storage_options) {
            match key {
                "delete" => applied.delete_commands = flag(key, value)?,
                "conn_max_lifetime" => {
                    applied.conn_max_lifetime =
                        Some(go_duration(key, value)?).filter(|d| !d.is_zero());
                }
                "conn_max_idle_time" => {
                    applied.conn_max_idle_time =
                        Some(go_duration(key, value)?).filter(|d| !d.is_zero());
                }
                "acquire_timeout" => {
                    applied.acquire_timeout = Some(go_duration(key, value)?)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| invalid(key, value))?;
                }
                "max_open_conns" => {
                    applied.max_open_conns = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| invalid(key, value))?;
                }
                _ => return Err(OptionsError::UnknownOption(key.to_owned())),
            }
        }
        *self = applied;
        Ok(())
    }

    /// The sqlx pool these options describe.
    pub(crate) fn pool<DB: sqlx::Database>(&self) -> sqlx::pool::PoolOptions<DB> {
        sqlx::pool::PoolOptions::new()
            .max_connections(self.max_open_conns.max(1))
            .max_lifetime(self.conn_max_lifetime)
            .idle_timeout(self.conn_max_idle_time)
            .acquire_timeout(self.acquire_timeout)
    }
}

/// How to open a PostgreSQL or MySQL store (`postgres::PostgresOptions`,
/// `mysql::MySqlOptions`): where to connect, and what NanoMDM's `-storage-options` sets.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerOptions<C> {
    /// Where and how to connect (host, database, user, TLS …; on PostgreSQL `search_path` via
    /// its `options`).
    pub connect: C,
    /// What NanoMDM's `-storage-options` sets: `delete`, pool size and timeouts.
    pub storage: StorageOptions,
}

#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
impl<C> ServerOptions<C> {
    /// Defaults for `connect`: keep commands and results, 10 connections, no lifetime limits, a
    /// five-second `acquire_timeout`.
    pub fn new(connect: C) -> Self {
        Self {
            connect,
            storage: StorageOptions::default(),
        }
    }

    /// Applies a NanoMDM-style `-storage-options` string: `delete=0|1`,
    /// `conn_max_lifetime=<Go duration>`, `conn_max_idle_time=<Go duration>` (as NanoMDM), and
    /// `max_open_conns=<n>` (n > 0) and `acquire_timeout=<Go duration>` (> 0), Rootstock's.
    pub fn with_storage_options(mut self, storage_options: &str) -> Result<Self, OptionsError> {
        self.storage.apply(storage_options)?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_nanomdm() {
        let pairs: Vec<_> = split("delete=1,x,y=a=b").collect();
        assert_eq!(pairs, [("delete", "1"), ("x", ""), ("y", "a=b")]);
        assert_eq!(split("").count(), 0);
    }

    #[test]
    fn durations_like_go() {
        use std::time::Duration;
        assert_eq!(go_duration("k", "0"), Ok(Duration::ZERO));
        assert_eq!(go_duration("k", "1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(go_duration("k", "1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(go_duration("k", "250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "5", "-1s", "1d", "s", "1..2s"] {
            assert!(go_duration("k", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn storage_options() {
        use std::time::Duration;
        let mut parsed = StorageOptions::default();
        parsed
            .apply("delete=1,max_open_conns=4,acquire_timeout=1.5s,conn_max_lifetime=0")
            .unwrap();
        assert!(parsed.delete_commands);
        assert_eq!(parsed.max_open_conns, 4);
        assert_eq!(parsed.acquire_timeout, Duration::from_millis(1500));
        assert_eq!(parsed.conn_max_lifetime, None);
        assert_eq!(parsed.conn_max_idle_time, None);
        let mut empty = StorageOptions::default();
        empty.apply("").unwrap();
        assert_eq!(empty.acquire_timeout, DEFAULT_ACQUIRE_TIMEOUT);
        for bad in [
            "acquire_timeout=0",
            "acquire_timeout=5",
            "max_open_conns=0",
            "pool=1",
            "delete=1,pool=1",
        ] {
            let mut options = StorageOptions::default();
            assert!(options.apply(bad).is_err(), "{bad}");
            assert_eq!(options, StorageOptions::default(), "{bad}: nothing applied");
        }
    }

    #[test]
    fn flags_take_only_0_and_1() {
        assert_eq!(flag("delete", "1"), Ok(true));
        assert_eq!(flag("delete", "0"), Ok(false));
        assert_eq!(
            flag("delete", "yes"),
            Err(OptionsError::InvalidValue {
                key: "delete".into(),
                value: "yes".into()
            })
        );
    }
}

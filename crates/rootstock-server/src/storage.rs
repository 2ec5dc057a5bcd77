//! `-storage`, `-storage-dsn` and `-storage-options`: which backends, paired by position; more
//! than one makes a multi-store (writes to all, reads from the first).

use std::path::Path;

use std::sync::Arc;

use mdm_storage::{DynImportStore, DynStorage, MemoryStore, MultiStore};
use mdm_storage_sql::mysql::{MySqlOptions, MySqlStore};
use mdm_storage_sql::postgres::{PostgresOptions, PostgresStore};
use mdm_storage_sql::sqlite::{SqliteOptions, SqliteStore};

/// One backend to open: NanoMDM's storage name, DSN and options string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageSpec {
    /// `sqlite`, `inmem`, `pgsql` or `mysql`.
    pub name: String,
    /// For `sqlite` the database file; ignored by `inmem`.
    pub dsn: String,
    /// Comma-separated `key=value` options (`delete=1`, …).
    pub options: String,
}

/// Why the storage could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageSetupError {
    /// `-storage` and `-storage-dsn` were given a different number of times.
    #[error("must have same number of storage and DSN flags")]
    DsnCount,
    /// `-storage-options` was given, but not once per `-storage`.
    #[error("must have same number of storage and storage options flags")]
    OptionsCount,
    /// A backend name NanoMDM does not have.
    #[error("unknown storage: {0}")]
    Unknown(String),
    /// A NanoMDM backend Rootstock does not provide.
    #[error(
        "storage {0:?} is not supported by Rootstock: move its enrollments with NanoMDM's nano2nano to a server on sqlite, pgsql or mysql"
    )]
    Unsupported(String),
    /// NanoMDM's `filekv`: not a backend here, but a directory to import once.
    #[error(
        "storage \"filekv\" is not supported by Rootstock: import its directory once with `cargo run --example migrate -- -from-filekv {dir} -storage sqlite -storage-dsn nanomdm.sqlite` (or with the -storage and -storage-dsn flags this server is to run with), then start the server with those flags; queues, certificate bindings, tokens and push certificates move with it"
    )]
    FileKv {
        /// The directory NanoMDM was given (`-storage-dsn`; `dbkv` by default).
        dir: String,
    },
    /// NanoMDM's deprecated `file` backend: a directory to import once.
    #[error(
        "storage \"file\" is not supported by Rootstock: import its directory once with `cargo run --example migrate -- -from-file {dir} -storage sqlite -storage-dsn nanomdm.sqlite` (or with the -storage and -storage-dsn flags this server is to run with), then start the server with those flags"
    )]
    File {
        /// The directory NanoMDM was given (`-storage-dsn`; NanoMDM requires one).
        dir: String,
    },
    /// An import writes to one backend, and was given several.
    #[error("an import writes to one backend; give one -storage (and -storage-dsn)")]
    ImportNeedsOneBackend,
    /// A backend that takes no options was given some.
    #[error("storage backend {0:?} does not support options, please specify no (or empty) options")]
    NoOptions(String),
    /// The options string was refused.
    #[error("storage {name:?}: {source}")]
    Options {
        /// The backend.
        name: String,
        /// Why.
        #[source]
        source: mdm_storage_sql::OptionsError,
    },
    /// The SQLite database could not be opened or migrated.
    #[error("storage sqlite {path:?}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// Why.
        #[source]
        source: mdm_storage_sql::sqlite::OpenError,
    },
    /// The PostgreSQL database could not be reached or migrated.
    #[error("storage pgsql: {0}")]
    Postgres(#[source] mdm_storage_sql::postgres::OpenError),
    /// The MySQL database could not be reached or migrated.
    #[error("storage mysql: {0}")]
    MySql(#[source] mdm_storage_sql::mysql::OpenError),
}

/// Pairs the storage flags by position, as NanoMDM: no `-storage` means `sqlite` at
/// `default_dsn`; with no `-storage-dsn` at all, an SQLite backend uses `default_dsn`.
pub fn storage_specs(
    storage: &[String],
    dsns: &[String],
    options: &[String],
    default_dsn: &Path,
) -> Result<Vec<StorageSpec>, StorageSetupError> {
    let default_dsn = default_dsn.to_string_lossy().into_owned();
    let names: Vec<String> = if storage.is_empty() {
        vec!["sqlite".into()]
    } else {
        storage.to_vec()
    };
    let dsns: Vec<String> = if dsns.is_empty() {
        names.iter().map(|_| String::new()).collect()
    } else if dsns.len() == names.len() {
        dsns.to_vec()
    } else {
        return Err(StorageSetupError::DsnCount);
    };
    let options: Vec<String> = if options.is_empty() {
        names.iter().map(|_| String::new()).collect()
    } else if options.len() == names.len() {
        options.to_vec()
    } else {
        return Err(StorageSetupError::OptionsCount);
    };
    Ok(names
        .into_iter()
        .zip(dsns)
        .zip(options)
        .map(|((name, dsn), options)| StorageSpec {
            dsn: if dsn.is_empty() && name == "sqlite" {
                default_dsn.clone()
            } else {
                dsn
            },
            name,
            options,
        })
        .collect())
}

/// Opens every backend; several form a [`MultiStore`] reading from the first.
pub async fn open_storage(specs: &[StorageSpec]) -> Result<DynStorage, StorageSetupError> {
    let mut stores = Vec::with_capacity(specs.len());
    for spec in specs {
        stores.push(open_one(spec).await?);
    }
    let mut stores = stores.into_iter();
    let first = stores.next().ok_or(StorageSetupError::DsnCount)?;
    let others: Vec<DynStorage> = stores.collect();
    if others.is_empty() {
        Ok(first)
    } else {
        Ok(DynStorage::new(MultiStore::new(first, others)))
    }
}

/// A backend opened for an import: the ordinary storage, and the same store as an
/// [`ImportStore`](mdm_storage::ImportStore) for what the ordinary traits cannot write.
pub struct ImportTarget {
    /// The store through the ordinary traits.
    pub storage: DynStorage,
    /// The same store, for queues, exact enrollment state and results.
    pub import: Arc<DynImportStore<'static>>,
}

/// Opens the one backend of `specs` for an import (the `migrate` tool's `-from-filekv`).
pub async fn open_import_storage(specs: &[StorageSpec]) -> Result<ImportTarget, StorageSetupError> {
    let [spec] = specs else {
        return Err(StorageSetupError::ImportNeedsOneBackend);
    };
    open_one(spec).await
}

/// What a backend is opened as: the server's storage, or an import's target. One `open_one`
/// serves both, so a backend's options, errors and refusals are the same for the server and
/// for `migrate`.
trait Opened: Sized {
    fn from_store<S: mdm_storage::Storage + mdm_storage::ImportStore + 'static>(store: S) -> Self;
}

impl Opened for DynStorage {
    fn from_store<S: mdm_storage::Storage + mdm_storage::ImportStore + 'static>(store: S) -> Self {
        DynStorage::new(store)
    }
}

impl Opened for ImportTarget {
    fn from_store<S: mdm_storage::Storage + mdm_storage::ImportStore + 'static>(store: S) -> Self {
        let store = Arc::new(store);
        ImportTarget {
            storage: DynStorage::from_arc(store.clone()),
            import: DynImportStore::new_arc(store),
        }
    }
}

async fn open_one<T: Opened>(spec: &StorageSpec) -> Result<T, StorageSetupError> {
    match spec.name.as_str() {
        "sqlite" => {
            let options = SqliteOptions::new(&spec.dsn)
                .with_storage_options(&spec.options)
                .map_err(|source| StorageSetupError::Options {
                    name: spec.name.clone(),
                    source,
                })?;
            let store =
                SqliteStore::open(&options)
                    .await
                    .map_err(|source| StorageSetupError::Sqlite {
                        path: spec.dsn.clone(),
                        source,
                    })?;
            tracing::info!(path = %spec.dsn, "storage: sqlite");
            Ok(T::from_store(store))
        }
        "inmem" => {
            if !spec.options.is_empty() {
                return Err(StorageSetupError::NoOptions(spec.name.clone()));
            }
            tracing::warn!("storage: inmem; everything is lost when the server stops");
            Ok(T::from_store(MemoryStore::new()))
        }
        "pgsql" => {
            let options = PostgresOptions::from_url(&spec.dsn)
                .map_err(StorageSetupError::Postgres)?
                .with_storage_options(&spec.options)
                .map_err(|source| StorageSetupError::Options {
                    name: spec.name.clone(),
                    source,
                })?;
            let store = PostgresStore::open(&options)
                .await
                .map_err(StorageSetupError::Postgres)?;
            tracing::info!("storage: pgsql");
            Ok(T::from_store(store))
        }
        "mysql" => {
            let options = MySqlOptions::from_url(&mysql_url(&spec.dsn))
                .map_err(StorageSetupError::MySql)?
                .with_storage_options(&spec.options)
                .map_err(|source| StorageSetupError::Options {
                    name: spec.name.clone(),
                    source,
                })?;
            let store = MySqlStore::open(&options)
                .await
                .map_err(StorageSetupError::MySql)?;
            tracing::info!("storage: mysql");
            Ok(T::from_store(store))
        }
        "filekv" => Err(StorageSetupError::FileKv {
            dir: if spec.dsn.is_empty() {
                "dbkv".to_owned()
            } else {
                spec.dsn.clone()
            },
        }),
        "file" => Err(StorageSetupError::File {
            dir: if spec.dsn.is_empty() {
                "DIR".to_owned()
            } else {
                spec.dsn.clone()
            },
        }),
        other => Err(StorageSetupError::Unknown(other.to_owned())),
    }
}

/// NanoMDM's MySQL DSN is go-sql-driver's `user:password@tcp(host:port)/dbname?params`; sqlx
/// takes a URL. A DSN that is already a `mysql://` URL passes through unchanged.
fn mysql_url(dsn: &str) -> String {
    if dsn.starts_with("mysql://") || dsn.starts_with("mariadb://") {
        return dsn.to_owned();
    }
    let (credentials, rest) = dsn.rsplit_once('@').unwrap_or(("", dsn));
    let (address, path) = match rest.split_once('/') {
        Some((address, path)) => (address, path),
        None => (rest, ""),
    };
    let host = address
        .strip_prefix("tcp(")
        .and_then(|a| a.strip_suffix(')'))
        .unwrap_or(address);
    let host = if host.is_empty() {
        "127.0.0.1:3306"
    } else {
        host
    };
    // go-sql-driver parameters (parseTime, charset …) have no sqlx meaning; drop them.
    let database = path.split('?').next().unwrap_or_default();
    let at = if credentials.is_empty() { "" } else { "@" };
    format!("mysql://{credentials}{at}{host}/{database}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn mysql_dsns_become_urls() {
        assert_eq!(
            mysql_url("nanomdm:secret@tcp(db.internal:3306)/nanomdm?parseTime=true"),
            "mysql://nanomdm:secret@db.internal:3306/nanomdm"
        );
        assert_eq!(
            mysql_url("root@tcp(127.0.0.1:3306)/test"),
            "mysql://root@127.0.0.1:3306/test"
        );
        assert_eq!(mysql_url("root@/test"), "mysql://root@127.0.0.1:3306/test");
        assert_eq!(mysql_url("mysql://u@h/d"), "mysql://u@h/d");
    }

    #[test]
    fn pairing() {
        let default = Path::new("nanomdm.sqlite");
        let specs = storage_specs(&[], &[], &[], default).unwrap();
        assert_eq!(
            specs,
            [StorageSpec {
                name: "sqlite".into(),
                dsn: "nanomdm.sqlite".into(),
                options: String::new()
            }]
        );
        let specs = storage_specs(
            &s(&["sqlite", "inmem"]),
            &s(&["a.db", ""]),
            &s(&["delete=1", ""]),
            default,
        )
        .unwrap();
        assert_eq!(specs[0].dsn, "a.db");
        assert_eq!(specs[0].options, "delete=1");
        assert_eq!(specs[1].name, "inmem");
        assert!(matches!(
            storage_specs(&s(&["sqlite", "inmem"]), &s(&["a"]), &[], default),
            Err(StorageSetupError::DsnCount)
        ));
        assert!(matches!(
            storage_specs(&s(&["sqlite", "inmem"]), &[], &s(&["x"]), default),
            Err(StorageSetupError::OptionsCount)
        ));
    }

    #[tokio::test]
    async fn backends() {
        let spec = |name: &str, options: &str| StorageSpec {
            name: name.into(),
            dsn: String::new(),
            options: options.into(),
        };
        assert!(open_storage(&[spec("inmem", "")]).await.is_ok());
        assert!(matches!(
            open_storage(&[spec("inmem", "x=1")]).await,
            Err(StorageSetupError::NoOptions(_))
        ));
        // A DSN that is not a database URL is a clear startup error, not a panic or a hang.
        assert!(matches!(
            open_storage(&[spec("pgsql", "")]).await,
            Err(StorageSetupError::Postgres(_))
        ));
        assert!(matches!(
            open_storage(&[spec("mysql", "bogus=1")]).await,
            Err(StorageSetupError::Options { .. })
        ));
        let filekv = open_storage(&[spec("filekv", "")]).await.unwrap_err();
        assert!(
            filekv.to_string().contains(
                "cargo run --example migrate -- -from-filekv dbkv -storage sqlite -storage-dsn nanomdm.sqlite"
            ),
            "{filekv}"
        );
        assert!(matches!(
            open_storage(&[spec("file", "")]).await,
            Err(StorageSetupError::File { .. })
        ));
        assert!(matches!(
            open_storage(&[spec("bogus", "")]).await,
            Err(StorageSetupError::Unknown(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let sqlite = StorageSpec {
            name: "sqlite".into(),
            dsn: dir.path().join("x.db").to_string_lossy().into_owned(),
            options: "delete=1".into(),
        };
        assert!(open_storage(&[sqlite, spec("inmem", "")]).await.is_ok());
    }
}

//! A reader of NanoMDM's `filekv` storage directory (its `diskv` backend, NanoMDM v0.9).
//!
//! The layout, as NanoMDM v0.9 writes it: six buckets, one directory each under the storage
//! path — `devices`, `users`, `enrollments`, `cert_auth`, `queue`, `push_cert` — created when
//! first written to. A key's value is the whole content of one file named by the key, two
//! directory levels down: the key's first two and next two bytes (`ABCD-1234.auth` is
//! `devices/AB/CD/ABCD-1234.auth`; a key shorter than four bytes is left-padded with `0` for
//! the directories). In `push_cert` the directories come from the key without its
//! `com.apple.mgmt.External.` prefix. Keys are `.`-joined:
//!
//! | bucket | key | value |
//! |---|---|---|
//! | devices | `<id>.auth`, `<id>.tok_upd` | raw Authenticate, device-channel TokenUpdate |
//! | devices | `<id>.cert`, `<id>.serial`, `<id>.bstoken` | identity cert (DER), serial, bootstrap token (raw bytes) |
//! | users | `<id>.device_ch` | the user channel's device-channel id |
//! | users | `<id>.tok_upd`, `<id>.user_auth`, `<id>.user_auth_digest` | raw check-ins |
//! | enrollments | `<id>.type`, `.topic`, `.push_magic`, `.token` | type, push info (token raw) |
//! | enrollments | `<id>.tok_tal`, `.last_seen_at`, `.enrolled_at` | decimal tally, µs since epoch |
//! | enrollments | `<id>.disabled`, `<id>.unl_tok`, `<device>.user_ch.<id>` | present = disabled, unlock token, user channel |
//! | cert_auth | `<id>.cert_hash`, `<hash>.hash_cert` | the latest hash of a device channel; every hash's device channel |
//! | queue | `<uuid>.raw`, `<uuid>.req_type` | the command, byte-exact; its request type |
//! | queue | `<id>.queuekey.queue.first` / `.last` | ends of the enrollment's queue (a linked list) |
//! | queue | `<id>.<uuid>.queueitem.next` / `.prev` | links; `.status`, `.report`: last status and raw report |
//! | push_cert | `<topic>.pem`, `<topic>.key`, `<topic>.stale_token` | push certificate and key (PEM) |
//!
//! A command answered with a final status leaves the linked list but keeps its `status`,
//! `report` and `raw`; one answered `NotNow` stays linked with status `NotNow`. When the
//! answered command was the last, NanoMDM v0.9 leaves the previous item's `next` pointing at it
//! (and a later unlink can make it `first`): a linked command with a final status is therefore
//! read as answered, not queued.
//!
//! Reading does no I/O beyond opening and listing files under the directory given, and every
//! error names the file and the key.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::DirEntryExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use mdm_enrollment::{EnrollId, EnrollmentId, enroll_id};
use mdm_proto::{CertHash, CheckIn, Command, Raw};
use mdm_storage::ImportedEnrollmentState;

use crate::decode::{self, ValueError};

/// NanoMDM's bucket directories.
pub const BUCKETS: [&str; 6] = [
    "devices",
    "users",
    "enrollments",
    "cert_auth",
    "queue",
    "push_cert",
];

/// The prefix of push topics, stripped before the directory levels in `push_cert`.
const TOPIC_PREFIX: &str = "com.apple.mgmt.External.";

/// A queue longer than this is taken for a corrupt (cyclic) list.
const MAX_QUEUE: usize = 1_000_000;

/// Commands kept decoded between enrollments (a command queued for many enrollments is read
/// once); the cache is emptied when full, so memory stays bounded however many there are.
const COMMAND_CACHE: usize = 4096;

/// Why the directory could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The path holds none of NanoMDM's bucket directories.
    #[error(
        "{}: not a NanoMDM filekv directory (none of devices, users, enrollments, cert_auth, queue, push_cert is in it)",
        path.display()
    )]
    NotFileKv {
        /// The directory given.
        path: PathBuf,
    },
    /// The path holds nothing NanoMDM's `file` backend writes.
    #[error(
        "{}: not a NanoMDM file storage directory (no enrollment directory, CertAuth.txt or push certificate in it)",
        path.display()
    )]
    NotFileDir {
        /// The directory given.
        path: PathBuf,
    },
    /// A file or directory could not be read (or, for the top directory, does not exist).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file whose name is not a key NanoMDM writes (not UTF-8).
    #[error("{}: file name is not UTF-8, so not a NanoMDM key", path.display())]
    BadName {
        /// The file.
        path: PathBuf,
    },
    /// A value that does not decode.
    #[error("{} (key {key:?}): value {problem}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        #[source]
        problem: ValueError,
    },
    /// A key that must exist is missing (a partly copied or partly written directory).
    #[error("{} (key {key:?}) is missing, but {needed_by}", path.display())]
    Missing {
        /// Where the file should be.
        path: PathBuf,
        /// The key.
        key: String,
        /// What refers to it.
        needed_by: String,
    },
    /// An enrollment's queue links back on itself or runs past every sane length.
    #[error("{} (key {key:?}): the queue of {id:?} {problem}", path.display())]
    Queue {
        /// The file where the walk stopped.
        path: PathBuf,
        /// Its key.
        key: String,
        /// The enrollment.
        id: String,
        /// What is wrong.
        problem: &'static str,
    },
}

/// A push certificate as stored.
#[derive(Clone, Debug)]
pub struct PushCert {
    /// Its topic (the key's prefix).
    pub topic: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
}

/// A device channel found in the directory, with the ids of its user channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceEntry {
    /// The device channel's id.
    pub id: String,
    /// Its user channels' ids, sorted.
    pub user_channels: Vec<String>,
}

/// What the directory holds, found by listing it: every device and user channel, user channels
/// without a device, push certificates and certificate bindings.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Device channels (those with a stored Authenticate), sorted by id.
    pub devices: Vec<DeviceEntry>,
    /// User channels whose device channel has no Authenticate: not importable.
    pub orphan_user_channels: Vec<String>,
    /// Push certificates by topic.
    pub push_certs: Vec<PushCert>,
    /// Every certificate binding: (device-channel id, hash).
    pub cert_bindings: BTreeSet<(String, CertHash)>,
}

/// A command waiting in an enrollment's queue.
#[derive(Clone, Debug)]
pub struct QueuedCommand {
    /// The command, byte-exact.
    pub command: Raw<Command>,
    /// The raw report of the `NotNow` it was answered with, if it was.
    pub not_now_report: Option<Bytes>,
}

/// The stored result of a command that is no longer queued.
#[derive(Clone, Debug)]
pub struct CommandResult {
    /// The command.
    pub command: Raw<Command>,
    /// Its last status.
    pub status: String,
    /// The raw report.
    pub report: Bytes,
}

/// One channel (device or user) as stored.
#[derive(Clone, Debug)]
pub struct Channel {
    /// Its id, type and parent, from its own check-ins.
    pub id: EnrollId,
    /// Authenticate (device channels).
    pub authenticate: Option<Raw<CheckIn>>,
    /// The identity certificate, DER (device channels).
    pub identity_cert_der: Option<Bytes>,
    /// The last TokenUpdate; `None` when the channel never finished enrolling.
    pub token_update: Option<Raw<CheckIn>>,
    /// UserAuthenticate, first message (user channels).
    pub user_authenticate: Option<Raw<CheckIn>>,
    /// UserAuthenticate with `DigestResponse` (user channels).
    pub user_authenticate_digest: Option<Raw<CheckIn>>,
    /// The escrowed bootstrap token (device channels).
    pub bootstrap_token: Option<Vec<u8>>,
    /// Tally, enabled, last seen and unlock token.
    pub state: ImportedEnrollmentState,
    /// The queue in delivery order.
    pub queue: Vec<QueuedCommand>,
    /// Results of commands no longer queued.
    pub results: Vec<CommandResult>,
}

/// A device channel with its user channels.
#[derive(Clone, Debug)]
pub struct Device {
    /// The device channel.
    pub device: Channel,
    /// Its user channels.
    pub user_channels: Vec<Channel>,
}

/// A NanoMDM `filekv` directory opened for reading.
#[derive(Debug)]
pub struct FileKv {
    root: PathBuf,
    commands: HashMap<String, Raw<Command>>,
    /// What [`read_devices`](Self::read_devices) read ahead for the batch being read.
    ahead: ReadAhead,
}

/// Files read ahead for a batch of devices, and the leaf directories listed to find them: a
/// key in a listed directory that the listing does not name is absent without a lookup.
#[derive(Debug, Default)]
struct ReadAhead {
    /// Each listed directory's entries: name and inode number.
    listed: HashMap<PathBuf, HashMap<OsString, u64>>,
    /// Contents of the files read ahead (those whose reading failed are not here: reading them
    /// again gives the error, naming the file, where the reader needs them).
    values: HashMap<PathBuf, Vec<u8>>,
}

impl ReadAhead {
    /// `Some(false)` when `path`'s directory was listed without it; `None` when not listed.
    fn listed(&self, path: &Path) -> Option<bool> {
        let names = self.listed.get(path.parent()?)?;
        Some(names.contains_key(path.file_name()?))
    }

    /// The inode number of `path` if its directory was listed with it.
    fn ino(&self, path: &Path) -> Option<u64> {
        let names = self.listed.get(path.parent()?)?;
        names.get(path.file_name()?).copied()
    }

    /// The text read ahead at `path`, if any (for following links; the reader checks it).
    fn text(&self, path: &Path) -> Option<&str> {
        decode::decode_text(self.values.get(path)?).ok()
    }

    /// Lists the directories of `paths` not listed yet, on [`READ_AHEAD_THREADS`] threads. A
    /// directory that does not exist lists as empty (its keys are absent, as a lookup finds);
    /// one that cannot be listed is left out, for the reader to meet its error where it does.
    fn list(&mut self, paths: &[PathBuf]) {
        let mut dirs: Vec<&Path> = paths
            .iter()
            .filter_map(|p| p.parent())
            .filter(|d| !self.listed.contains_key(*d))
            .collect();
        dirs.sort_unstable();
        dirs.dedup();
        let listed = on_threads(&dirs, |dir| {
            let mut names = HashMap::new();
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Some((dir.to_path_buf(), names));
                }
                Err(_) => return None,
            };
            for entry in entries {
                let entry = entry.ok()?;
                names.insert(entry.file_name(), entry.ino());
            }
            Some((dir.to_path_buf(), names))
        });
        self.listed.extend(listed);
    }

    /// Reads the files among `paths` that the listings name, in inode order (on most file
    /// systems, the order of their places on the disk) and on [`READ_AHEAD_THREADS`] threads.
    fn read(&mut self, paths: Vec<PathBuf>) {
        let mut files: Vec<(u64, PathBuf)> = paths
            .into_iter()
            .filter(|p| !self.values.contains_key(p))
            .filter_map(|p| Some((self.ino(&p)?, p)))
            .collect();
        files.sort_unstable();
        files.dedup();
        let values = on_threads(&files, |(_, path)| {
            read_file(path).ok().map(|value| (path.clone(), value))
        });
        self.values.extend(values);
    }
}

/// `f` on every item, on up to [`READ_AHEAD_THREADS`] threads taking the items in order; the
/// `Some` results, in no particular order.
fn on_threads<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Option<R> + Sync) -> Vec<R> {
    let threads = READ_AHEAD_THREADS.min(items.len().div_ceil(4));
    if threads <= 1 {
        return items.iter().filter_map(f).collect();
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (f, next) = (&f, &next);
        let threads: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut results = Vec::new();
                    while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        results.extend(f(item));
                    }
                    results
                })
            })
            .collect();
        let mut all = Vec::new();
        for thread in threads {
            match thread.join() {
                Ok(part) => all.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    })
}

/// Threads a batch's files are read ahead on: from a cold cache each read waits for the disk,
/// and the disk serves several at once.
const READ_AHEAD_THREADS: usize = 8;

/// The whole of the file at `path`: `std::fs::read` without its size lookup, which for the
/// small files NanoMDM writes is one system call in four.
fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut value = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(value),
            Ok(n) => value.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Threads [`FileKv::list`] reads on: listing and reading many small files waits on the disk.
const LIST_THREADS: usize = 4;

/// `f` on up to [`LIST_THREADS`] parts of `items` at once, the results concatenated in order.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&[T]) -> Result<Vec<R>, ReadError> + Sync,
) -> Result<Vec<R>, ReadError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let part = items.len().div_ceil(LIST_THREADS);
    std::thread::scope(|scope| {
        let f = &f;
        let threads: Vec<_> = items
            .chunks(part)
            .map(|chunk| scope.spawn(move || f(chunk)))
            .collect();
        let mut all = Vec::new();
        for thread in threads {
            match thread.join() {
                Ok(part) => all.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(all)
    })
}

/// The directories in `dir` (by the entries' own type: no lookup per entry), in inode order.
fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let is_dir = match entry.file_type().map_err(io(dir))? {
            t if t.is_symlink() => entry.path().is_dir(),
            t => t.is_dir(),
        };
        if is_dir {
            dirs.push((entry.ino(), entry.path()));
        }
    }
    dirs.sort_unstable();
    Ok(dirs.into_iter().map(|(_, dir)| dir).collect())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        path: path.to_owned(),
        source,
    }
}

impl FileKv {
    /// Opens `root`: it must be a directory holding at least one of NanoMDM's buckets.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, ReadError> {
        let root = root.into();
        let meta = std::fs::metadata(&root).map_err(io(&root))?;
        if !meta.is_dir() || !BUCKETS.iter().any(|b| root.join(b).is_dir()) {
            return Err(ReadError::NotFileKv { path: root });
        }
        Ok(Self::unchecked(root))
    }

    /// `root` as a `filekv` directory without looking at it (for computing paths).
    pub(crate) fn unchecked(root: PathBuf) -> Self {
        Self {
            root,
            commands: HashMap::new(),
            ahead: ReadAhead::default(),
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `key` of `bucket` lives.
    pub fn path(&self, bucket: &str, key: &str) -> PathBuf {
        let shard = if bucket == "push_cert" {
            key.strip_prefix(TOPIC_PREFIX).unwrap_or(key)
        } else {
            key
        };
        let mut padded = Vec::with_capacity(4);
        padded.resize(4usize.saturating_sub(shard.len()), b'0');
        padded.extend_from_slice(&shard.as_bytes()[..shard.len().min(4)]);
        // Byte slices, as diskv cuts the key: a multi-byte character may be split.
        self.root
            .join(bucket)
            .join(OsStr::from_bytes(&padded[..2]))
            .join(OsStr::from_bytes(&padded[2..4]))
            .join(key)
    }

    /// The value of `key` in `bucket`, or `None` if there is no such file.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let path = self.path(bucket, key);
        if let Some(value) = self.ahead.values.get(&path) {
            return Ok(Some(value.clone()));
        }
        if self.ahead.listed(&path) == Some(false) {
            return Ok(None);
        }
        match read_file(&path) {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ReadError::Io { path, source }),
        }
    }

    fn require(&self, bucket: &str, key: &str, needed_by: &str) -> Result<Vec<u8>, ReadError> {
        self.get(bucket, key)?.ok_or_else(|| ReadError::Missing {
            path: self.path(bucket, key),
            key: key.to_owned(),
            needed_by: needed_by.to_owned(),
        })
    }

    fn value_error(&self, bucket: &str, key: &str, problem: ValueError) -> ReadError {
        ReadError::Value {
            path: self.path(bucket, key),
            key: key.to_owned(),
            problem,
        }
    }

    /// Decodes the value of `key` with `f`, naming the file and key when it fails.
    fn decoded<'v, T>(
        &self,
        bucket: &str,
        key: &str,
        value: &'v [u8],
        f: impl FnOnce(&'v [u8]) -> Result<T, ValueError>,
    ) -> Result<T, ReadError> {
        f(value).map_err(|problem| self.value_error(bucket, key, problem))
    }

    /// Every key in `bucket` for which `keep` is true (a missing bucket has none), sorted. The
    /// first-level directories are listed on [`LIST_THREADS`] threads.
    fn keys(
        &self,
        bucket: &str,
        keep: impl Fn(&str) -> bool + Sync,
    ) -> Result<Vec<String>, ReadError> {
        let dir = self.root.join(bucket);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let level1 = subdirectories(&dir)?;
        let mut keys = in_parallel(&level1, |dirs| {
            let mut keys = Vec::new();
            for level1 in dirs {
                for level2 in subdirectories(level1)? {
                    self.list_dir(&level2, &keep, &mut keys)?;
                }
            }
            Ok(keys)
        })?;
        keys.sort_unstable();
        Ok(keys)
    }

    fn list_dir(
        &self,
        dir: &Path,
        keep: &impl Fn(&str) -> bool,
        keys: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        if let Some(names) = self.ahead.listed.get(dir) {
            for name in names.keys() {
                let Some(name) = name.to_str() else {
                    return Err(ReadError::BadName {
                        path: dir.join(name),
                    });
                };
                if keep(name) {
                    keys.push(name.to_owned());
                }
            }
            return Ok(());
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(ReadError::Io {
                    path: dir.to_owned(),
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(ReadError::BadName { path: entry.path() });
            };
            if keep(name) {
                keys.push(name.to_owned());
            }
        }
        Ok(())
    }

    /// Lists what the directory holds. Push certificates and bindings are read and checked
    /// here; enrollments are read one device at a time with [`read_device`](Self::read_device).
    pub fn list(&self) -> Result<Listing, ReadError> {
        let mut listing = Listing::default();
        let device_ids: BTreeSet<String> = self
            .keys("devices", |k| k.ends_with(".auth"))?
            .into_iter()
            .map(|k| k[..k.len() - ".auth".len()].to_owned())
            .collect();
        let mut user_channels: HashMap<String, Vec<String>> = HashMap::new();
        for key in self.keys("users", |k| k.ends_with(".device_ch"))? {
            let user = &key[..key.len() - ".device_ch".len()];
            let value = self.require("users", &key, "listed")?;
            let parent = self.decoded("users", &key, &value, decode::decode_text)?;
            if device_ids.contains(parent) {
                user_channels
                    .entry(parent.to_owned())
                    .or_default()
                    .push(user.to_owned());
            } else {
                listing.orphan_user_channels.push(user.to_owned());
            }
        }
        listing.devices = device_ids
            .into_iter()
            .map(|id| {
                let mut users = user_channels.remove(&id).unwrap_or_default();
                users.sort_unstable();
                DeviceEntry {
                    id,
                    user_channels: users,
                }
            })
            .collect();

        for key in self.keys("push_cert", |k| k.ends_with(".pem"))? {
            let topic = key[..key.len() - ".pem".len()].to_owned();
            let cert = self.require("push_cert", &key, "listed")?;
            let cert_pem = self
                .decoded("push_cert", &key, &cert, decode::decode_pem)?
                .to_owned();
            let key_key = format!("{topic}.key");
            let pem_key = self.require("push_cert", &key_key, &format!("{key} exists"))?;
            let key_pem = self
                .decoded("push_cert", &key_key, &pem_key, decode::decode_pem)?
                .to_owned();
            listing.push_certs.push(PushCert {
                topic,
                cert_pem,
                key_pem,
            });
        }

        // Every hash ever bound (`<hash>.hash_cert`), and each channel's latest
        // (`<id>.cert_hash`), which the other set holds too unless a write was cut short.
        let keys = self.keys("cert_auth", |k| {
            k.ends_with(".hash_cert") || k.ends_with(".cert_hash")
        })?;
        let bindings = in_parallel(&keys, |keys| {
            let mut bindings = Vec::with_capacity(keys.len());
            for key in keys {
                let value = self.require("cert_auth", key, "listed")?;
                let binding = if let Some(hash) = key.strip_suffix(".hash_cert") {
                    let hash =
                        self.decoded("cert_auth", key, hash.as_bytes(), decode::decode_cert_hash)?;
                    let id = self.decoded("cert_auth", key, &value, decode::decode_text)?;
                    (id.to_owned(), hash)
                } else {
                    let id = &key[..key.len() - ".cert_hash".len()];
                    let hash = self.decoded("cert_auth", key, &value, decode::decode_cert_hash)?;
                    (id.to_owned(), hash)
                };
                bindings.push(binding);
            }
            Ok(bindings)
        })?;
        listing.cert_bindings.extend(bindings);
        Ok(listing)
    }

    /// Reads a batch of devices, each as [`read_device`](Self::read_device) does, after reading
    /// ahead the files that will be needed: their leaf directories are listed once (so keys
    /// that are not there cost no lookup), and the files there are read in inode order on
    /// several threads, which from a cold cache lets the disk serve them in order and several
    /// at a time. What could not be read ahead is read where it is needed, as without it.
    pub fn read_devices(&mut self, entries: &[DeviceEntry]) -> Vec<Result<Device, ReadError>> {
        self.read_ahead(entries);
        let devices = entries.iter().map(|e| self.read_device(e)).collect();
        self.ahead = ReadAhead::default();
        devices
    }

    /// Lists and reads ahead what [`read_channel`](Self::read_channel) will read for the
    /// channels of `entries`: their keys, queue items and reports, then the commands their
    /// queues link to or have reports of.
    fn read_ahead(&mut self, entries: &[DeviceEntry]) {
        const KEYS: [(&str, &str); 12] = [
            ("devices", "auth"),
            ("devices", "tok_upd"),
            ("devices", "cert"),
            ("devices", "bstoken"),
            ("users", "tok_upd"),
            ("users", "user_auth"),
            ("users", "user_auth_digest"),
            ("enrollments", "disabled"),
            ("enrollments", "tok_tal"),
            ("enrollments", "last_seen_at"),
            ("enrollments", "unl_tok"),
            ("queue", "queuekey.queue.first"),
        ];
        const ITEMS: [&str; 3] = [".queueitem.next", ".queueitem.status", ".queueitem.report"];
        self.ahead = ReadAhead::default();
        let ids: Vec<&str> = entries
            .iter()
            .flat_map(|e| std::iter::once(&e.id).chain(&e.user_channels))
            .map(String::as_str)
            .collect();
        let mut paths = Vec::with_capacity(ids.len() * (KEYS.len() + 20));
        for id in &ids {
            for (bucket, name) in KEYS {
                paths.push(self.path(bucket, &format!("{id}.{name}")));
            }
        }
        self.ahead.list(&paths);
        // Every queue item of the channel in its queue directory (with dots in ids, maybe
        // another channel's too: read for nothing, not wrongly).
        let mut uuids = Vec::new();
        for id in &ids {
            let prefix = format!("{id}.");
            let first = self.path("queue", &format!("{prefix}queuekey.queue.first"));
            let Some(dir) = first.parent() else { continue };
            let Some(names) = self.ahead.listed.get(dir) else {
                continue;
            };
            for name in names.keys() {
                let Some(name) = name.to_str() else { continue };
                let Some(item) = name.strip_prefix(&prefix) else {
                    continue;
                };
                if let Some(suffix) = ITEMS.iter().find(|s| item.ends_with(*s)) {
                    paths.push(dir.join(name));
                    if *suffix == ".queueitem.report" && item.len() > suffix.len() {
                        uuids.push(item[..item.len() - suffix.len()].to_owned());
                    }
                }
            }
        }
        self.ahead.read(paths);

        // The commands: those each queue links to, and those with reports.
        for id in &ids {
            let mut linked = HashSet::new();
            let mut at = self.path("queue", &format!("{id}.queuekey.queue.first"));
            while let Some(uuid) = self.ahead.text(&at) {
                if linked.len() >= MAX_QUEUE || !linked.insert(uuid.to_owned()) {
                    break;
                }
                at = self.path("queue", &format!("{id}.{uuid}.queueitem.next"));
            }
            uuids.extend(linked);
        }
        let paths: Vec<PathBuf> = uuids
            .iter()
            .filter(|uuid| !self.commands.contains_key(*uuid))
            .map(|uuid| self.path("queue", &format!("{uuid}.raw")))
            .collect();
        self.ahead.list(&paths);
        self.ahead.read(paths);
    }

    /// Reads one device channel and its user channels.
    pub fn read_device(&mut self, entry: &DeviceEntry) -> Result<Device, ReadError> {
        let device = self.read_channel(&entry.id, None)?;
        let mut user_channels = Vec::with_capacity(entry.user_channels.len());
        for user in &entry.user_channels {
            user_channels.push(self.read_channel(user, Some(&entry.id))?);
        }
        Ok(Device {
            device,
            user_channels,
        })
    }

    fn check_in(
        &self,
        bucket: &str,
        key: &str,
        expected: &'static str,
    ) -> Result<Option<Raw<CheckIn>>, ReadError> {
        let Some(value) = self.get(bucket, key)? else {
            return Ok(None);
        };
        self.decoded(bucket, key, &value, |v| {
            decode::decode_check_in(v, expected)
        })
        .map(Some)
    }

    /// The channel's id as its check-ins give it, which must be the id its keys use.
    fn channel_id(
        &self,
        bucket: &str,
        key: &str,
        msg: &Raw<CheckIn>,
        id: &str,
    ) -> Result<EnrollId, ReadError> {
        let enrollment = match msg.value() {
            CheckIn::Authenticate(m) => &m.enrollment,
            CheckIn::TokenUpdate(m) => &m.enrollment,
            CheckIn::UserAuthenticate(m) => &m.enrollment,
            _ => {
                return Err(self.value_error(
                    bucket,
                    key,
                    ValueError::WrongMessageType {
                        expected: "TokenUpdate",
                        found: "other",
                    },
                ));
            }
        };
        let resolved = enroll_id(enrollment).map_err(|e| {
            self.value_error(
                bucket,
                key,
                ValueError::WrongOwner {
                    expected: id.to_owned(),
                    found: e.to_string(),
                },
            )
        })?;
        if resolved.id().as_str() != id {
            return Err(self.value_error(
                bucket,
                key,
                ValueError::WrongOwner {
                    expected: id.to_owned(),
                    found: resolved.id().as_str().to_owned(),
                },
            ));
        }
        Ok(resolved)
    }

    fn read_channel(&mut self, id: &str, parent: Option<&str>) -> Result<Channel, ReadError> {
        let auth_key = format!("{id}.auth");
        let authenticate = match parent {
            None => {
                let auth = self.check_in("devices", &auth_key, "Authenticate")?;
                Some(auth.ok_or_else(|| ReadError::Missing {
                    path: self.path("devices", &auth_key),
                    key: auth_key.clone(),
                    needed_by: format!("{id} was listed as a device"),
                })?)
            }
            Some(_) => None,
        };
        let channel_bucket = if parent.is_none() { "devices" } else { "users" };
        let token_key = format!("{id}.tok_upd");
        let token_update = self.check_in(channel_bucket, &token_key, "TokenUpdate")?;
        let user_authenticate =
            self.check_in("users", &format!("{id}.user_auth"), "UserAuthenticate")?;
        let user_authenticate_digest = self.check_in(
            "users",
            &format!("{id}.user_auth_digest"),
            "UserAuthenticate",
        )?;

        // The id (with type and parent) from the newest message that names it.
        let enroll = if let Some(t) = &token_update {
            self.channel_id(channel_bucket, &token_key, t, id)?
        } else if let Some(a) = &authenticate {
            self.channel_id("devices", &auth_key, a, id)?
        } else if let Some(u) = &user_authenticate {
            self.channel_id("users", &format!("{id}.user_auth"), u, id)?
        } else {
            return Err(ReadError::Missing {
                path: self.path("users", &token_key),
                key: token_key,
                needed_by: format!("{id} is a user channel of {}", parent.unwrap_or("?")),
            });
        };
        if let (Some(expected), found) = (parent, enroll.parent())
            && found.map(EnrollmentId::as_str) != Some(expected)
        {
            return Err(self.value_error(
                channel_bucket,
                &format!("{id}.tok_upd"),
                ValueError::WrongOwner {
                    expected: expected.to_owned(),
                    found: found.map(|p| p.as_str().to_owned()).unwrap_or_default(),
                },
            ));
        }

        let mut identity_cert_der = None;
        let mut bootstrap_token = None;
        if parent.is_none() {
            identity_cert_der = self.get("devices", &format!("{id}.cert"))?.map(Bytes::from);
            bootstrap_token = self
                .get("devices", &format!("{id}.bstoken"))?
                .filter(|t| !t.is_empty());
        }

        let state = self.read_state(id)?;
        let (queue, results) = self.read_queue(id)?;
        Ok(Channel {
            id: enroll,
            authenticate,
            identity_cert_der,
            token_update,
            user_authenticate,
            user_authenticate_digest,
            bootstrap_token,
            state,
            queue,
            results,
        })
    }

    fn read_state(&self, id: &str) -> Result<ImportedEnrollmentState, ReadError> {
        let b = "enrollments";
        let mut state = ImportedEnrollmentState {
            enabled: self.get(b, &format!("{id}.disabled"))?.is_none(),
            ..Default::default()
        };
        let key = format!("{id}.tok_tal");
        if let Some(v) = self.get(b, &key)? {
            state.token_update_tally = self.decoded(b, &key, &v, decode::decode_tally)?;
        }
        let key = format!("{id}.last_seen_at");
        if let Some(v) = self.get(b, &key)? {
            state.last_seen_unix_micros = Some(self.decoded(b, &key, &v, decode::decode_micros)?);
        }
        state.unlock_token = self
            .get(b, &format!("{id}.unl_tok"))?
            .filter(|t| !t.is_empty());
        Ok(state)
    }

    fn command(&mut self, uuid: &str, needed_by: &str) -> Result<Raw<Command>, ReadError> {
        if let Some(command) = self.commands.get(uuid) {
            return Ok(command.clone());
        }
        let key = format!("{uuid}.raw");
        let value = self.require("queue", &key, needed_by)?;
        let command = self.decoded("queue", &key, &value, |v| decode::decode_command(v, uuid))?;
        if self.commands.len() >= COMMAND_CACHE {
            self.commands.clear();
        }
        self.commands.insert(uuid.to_owned(), command.clone());
        Ok(command)
    }

    fn text(&self, key: &str) -> Result<Option<String>, ReadError> {
        match self.get("queue", key)? {
            None => Ok(None),
            Some(v) => self
                .decoded("queue", key, &v, decode::decode_text)
                .map(|s| Some(s.to_owned())),
        }
    }

    fn read_queue(
        &mut self,
        id: &str,
    ) -> Result<(Vec<QueuedCommand>, Vec<CommandResult>), ReadError> {
        let mut queue = Vec::new();
        let mut results = Vec::new();
        let mut linked = HashSet::new();
        let first_key = format!("{id}.queuekey.queue.first");
        let mut next = self.text(&first_key)?;
        let mut at_key = first_key;
        while let Some(uuid) = next {
            if !linked.insert(uuid.clone()) || linked.len() > MAX_QUEUE {
                return Err(ReadError::Queue {
                    path: self.path("queue", &at_key),
                    key: at_key,
                    id: id.to_owned(),
                    problem: "links back to a command already in it",
                });
            }
            let item = |name: &str| format!("{id}.{uuid}.queueitem.{name}");
            let command = self.command(&uuid, &format!("{id} has {uuid} queued"))?;
            let status = self.text(&item("status"))?;
            match status.as_deref() {
                None => queue.push(QueuedCommand {
                    command,
                    not_now_report: None,
                }),
                Some(status) => {
                    let report_key = item("report");
                    let report = self.require(
                        "queue",
                        &report_key,
                        &format!("{id} answered {uuid} {status}"),
                    )?;
                    self.decoded("queue", &report_key, &report, |v| {
                        decode::decode_report(v, &uuid)
                    })?;
                    if status == "NotNow" {
                        queue.push(QueuedCommand {
                            command,
                            not_now_report: Some(Bytes::from(report)),
                        });
                    } else {
                        // Answered but still linked: NanoMDM stopped between writing the result
                        // and unlinking it. It is answered; keep the result, do not queue it.
                        results.push(CommandResult {
                            command,
                            status: status.to_owned(),
                            report: Bytes::from(report),
                        });
                    }
                }
            }
            at_key = item("next");
            next = self.text(&at_key)?;
        }

        // Results of commands no longer linked: `<id>.<uuid>.queueitem.report` in the
        // directory the id's keys share.
        let prefix = format!("{id}.");
        let dir = self.path("queue", &prefix);
        let dir = dir.parent().map(Path::to_owned).unwrap_or_default();
        let mut keys = Vec::new();
        self.list_dir(
            &dir,
            // Long enough for a non-empty UUID between the two: `<id>.queueitem.report` alone
            // is another id's key (or junk), and would make the slice below run backwards.
            &|k: &str| {
                k.len() > prefix.len() + ".queueitem.report".len()
                    && k.starts_with(&prefix)
                    && k.ends_with(".queueitem.report")
            },
            &mut keys,
        )?;
        keys.sort_unstable();
        for report_key in keys {
            let uuid = &report_key[prefix.len()..report_key.len() - ".queueitem.report".len()];
            if linked.contains(uuid) {
                continue;
            }
            let report = self.require("queue", &report_key, "listed")?;
            if let Err(problem) = decode::decode_report(&report, uuid) {
                // `<id>.<rest>`: with dots in ids (a Shared iPad short name), the key may belong
                // to a longer id that starts with this one; its report names its own command.
                if uuid.contains('.') && matches!(problem, ValueError::WrongOwner { .. }) {
                    continue;
                }
                return Err(self.value_error("queue", &report_key, problem));
            }
            let status_key = format!("{prefix}{uuid}.queueitem.status");
            let status = self.text(&status_key)?.ok_or_else(|| ReadError::Missing {
                path: self.path("queue", &status_key),
                key: status_key.clone(),
                needed_by: format!("{report_key} exists"),
            })?;
            let command = self.command(uuid, &format!("{report_key} exists"))?;
            results.push(CommandResult {
                command,
                status,
                report: Bytes::from(report),
            });
        }
        Ok((queue, results))
    }
}

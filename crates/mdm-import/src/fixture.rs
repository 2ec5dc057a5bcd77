//! Writes directories in NanoMDM v0.9's `filekv` layout, for tests and benchmarks: what
//! NanoMDM's key-value storage writes for each event, key by key, as [`crate::filekv`]
//! describes it. Not a NanoMDM: it records what it is told, with no checks.

use std::io;
use std::path::{Path, PathBuf};

use crate::filekv::FileKv;

/// A `filekv` directory being written.
#[derive(Debug)]
pub struct FileKvWriter {
    root: PathBuf,
    // Computes paths the way the reader does, so the two cannot disagree.
    paths: FileKvPaths,
}

#[derive(Debug)]
struct FileKvPaths(PathBuf);

impl FileKvPaths {
    fn path(&self, bucket: &str, key: &str) -> PathBuf {
        // The reader's rule, without needing a directory that exists already.
        let kv = FileKv::unchecked(self.0.clone());
        kv.path(bucket, key)
    }
}

impl FileKvWriter {
    /// Writes under `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            paths: FileKvPaths(root.clone()),
            root,
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Sets `key` in `bucket`.
    pub fn set(&self, bucket: &str, key: &str, value: &[u8]) -> io::Result<()> {
        let path = self.paths.path(bucket, key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, value)
    }

    /// The value of `key` in `bucket`, if set.
    pub fn get(&self, bucket: &str, key: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.paths.path(bucket, key)) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes `key` in `bucket` (no error if it is not set).
    pub fn delete(&self, bucket: &str, key: &str) -> io::Result<()> {
        match std::fs::remove_file(self.paths.path(bucket, key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// An Authenticate from device channel `id`.
    pub fn authenticate(
        &self,
        id: &str,
        raw: &[u8],
        cert_der: Option<&[u8]>,
        serial: Option<&str>,
    ) -> io::Result<()> {
        self.set("devices", &format!("{id}.auth"), raw)?;
        match cert_der {
            Some(der) => self.set("devices", &format!("{id}.cert"), der)?,
            None => self.delete("devices", &format!("{id}.cert"))?,
        }
        match serial {
            Some(s) => self.set("devices", &format!("{id}.serial"), s.as_bytes())?,
            None => self.delete("devices", &format!("{id}.serial"))?,
        }
        self.delete("devices", &format!("{id}.bstoken"))?;
        for key in ["unl_tok", "tok_tal", "enrolled_at"] {
            self.delete("enrollments", &format!("{id}.{key}"))?;
        }
        // The server then disables the enrollment.
        self.set("enrollments", &format!("{id}.disabled"), b"1")
    }

    /// A TokenUpdate from `id` (`parent` for a user channel) of type `enroll_type`, at
    /// `now_micros`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per value NanoMDM stores"
    )]
    pub fn token_update(
        &self,
        id: &str,
        parent: Option<&str>,
        enroll_type: &str,
        raw: &[u8],
        push: (&str, &str, &[u8]),
        unlock_token: Option<&[u8]>,
        now_micros: i64,
    ) -> io::Result<()> {
        let bucket = if parent.is_some() { "users" } else { "devices" };
        if let Some(parent) = parent {
            self.set("users", &format!("{id}.device_ch"), parent.as_bytes())?;
        }
        self.set(bucket, &format!("{id}.tok_upd"), raw)?;
        let e = "enrollments";
        let now = now_micros.to_string();
        self.set(e, &format!("{id}.last_seen_at"), now.as_bytes())?;
        self.set(e, &format!("{id}.type"), enroll_type.as_bytes())?;
        self.set(e, &format!("{id}.topic"), push.0.as_bytes())?;
        self.set(e, &format!("{id}.push_magic"), push.1.as_bytes())?;
        self.set(e, &format!("{id}.token"), push.2)?;
        if let Some(t) = unlock_token {
            self.set(e, &format!("{id}.unl_tok"), t)?;
        }
        if let Some(parent) = parent {
            self.set(e, &format!("{parent}.user_ch.{id}"), b"1")?;
        }
        let tally = self
            .get(e, &format!("{id}.tok_tal"))?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        self.set(e, &format!("{id}.tok_tal"), tally.to_string().as_bytes())?;
        if tally == 1 {
            self.set(e, &format!("{id}.enrolled_at"), now.as_bytes())?;
        }
        self.delete(e, &format!("{id}.disabled"))
    }

    /// A UserAuthenticate (with a digest response or without) from user channel `id`.
    pub fn user_authenticate(&self, id: &str, raw: &[u8], digest: bool) -> io::Result<()> {
        let key = if digest {
            "user_auth_digest"
        } else {
            "user_auth"
        };
        self.set("users", &format!("{id}.{key}"), raw)?;
        self.set("enrollments", &format!("{id}.disabled"), b"1")
    }

    /// A SetBootstrapToken from device channel `id`.
    pub fn bootstrap_token(&self, id: &str, token: &[u8]) -> io::Result<()> {
        self.set("devices", &format!("{id}.bstoken"), token)
    }

    /// A certificate-hash binding of device channel `id`.
    pub fn bind_cert_hash(&self, id: &str, hash: &str) -> io::Result<()> {
        self.set("cert_auth", &format!("{id}.cert_hash"), hash.as_bytes())?;
        self.set("cert_auth", &format!("{hash}.hash_cert"), id.as_bytes())
    }

    /// A push certificate for `topic`.
    pub fn push_cert(&self, topic: &str, cert_pem: &str, key_pem: &str) -> io::Result<()> {
        self.set("push_cert", &format!("{topic}.pem"), cert_pem.as_bytes())?;
        self.set("push_cert", &format!("{topic}.key"), key_pem.as_bytes())?;
        self.set("push_cert", &format!("{topic}.stale_token"), b"0")
    }

    /// Enqueues command `uuid` (raw `raw`, of `request_type`) for every id in `ids`: appended
    /// to each id's linked list.
    pub fn enqueue(
        &self,
        ids: &[&str],
        uuid: &str,
        request_type: &str,
        raw: &[u8],
    ) -> io::Result<()> {
        let q = "queue";
        self.set(q, &format!("{uuid}.raw"), raw)?;
        self.set(q, &format!("{uuid}.req_type"), request_type.as_bytes())?;
        for id in ids {
            let last_key = format!("{id}.queuekey.queue.last");
            match self.get(q, &last_key)? {
                None => self.set(q, &format!("{id}.queuekey.queue.first"), uuid.as_bytes())?,
                Some(last) => {
                    let last = String::from_utf8_lossy(&last).into_owned();
                    self.set(q, &format!("{id}.{last}.queueitem.next"), uuid.as_bytes())?;
                    self.set(q, &format!("{id}.{uuid}.queueitem.prev"), last.as_bytes())?;
                }
            }
            self.set(q, &last_key, uuid.as_bytes())?;
        }
        Ok(())
    }

    /// A report from `id` on `uuid` with `status`: stored, and unless `NotNow` (or `Idle`) the
    /// command leaves the id's queue.
    pub fn report(&self, id: &str, uuid: &str, status: &str, raw: &[u8]) -> io::Result<()> {
        if status == "Idle" {
            return Ok(());
        }
        let q = "queue";
        let item = |name: &str| format!("{id}.{uuid}.queueitem.{name}");
        self.set(q, &item("report"), raw)?;
        self.set(q, &item("status"), status.as_bytes())?;
        if status == "NotNow" {
            return Ok(());
        }
        let text = |v: Option<Vec<u8>>| v.map(|v| String::from_utf8_lossy(&v).into_owned());
        let prev = text(self.get(q, &item("prev"))?);
        let next = text(self.get(q, &item("next"))?);
        let first = format!("{id}.queuekey.queue.first");
        let last = format!("{id}.queuekey.queue.last");
        match (&prev, &next) {
            (None, None) => {
                self.delete(q, &first)?;
                self.delete(q, &last)?;
            }
            (None, Some(next)) => {
                self.set(q, &first, next.as_bytes())?;
                self.delete(q, &format!("{id}.{next}.queueitem.prev"))?;
            }
            (Some(prev), None) => {
                self.set(q, &last, prev.as_bytes())?;
                // As NanoMDM v0.9: the previous item's `next` still points here. The reader
                // finds this command's final status at the end of the walk and takes it as
                // answered, not queued.
            }
            (Some(prev), Some(next)) => {
                self.set(q, &format!("{id}.{prev}.queueitem.next"), next.as_bytes())?;
                self.set(q, &format!("{id}.{next}.queueitem.prev"), prev.as_bytes())?;
            }
        }
        self.delete(q, &item("prev"))?;
        self.delete(q, &item("next"))
    }
}

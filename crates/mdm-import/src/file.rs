//! A reader of NanoMDM's deprecated `file` storage directory (NanoMDM v0.9's `storage/file`).
//!
//! The layout: one directory per enrollment (device or user channel) named by its id, holding
//! `Authenticate.plist`, `TokenUpdate.plist`, `UserAuthenticate.plist`,
//! `UserAuthenticate.Digest.plist` (raw check-ins), `Identity.pem`, `SerialNumber.txt`,
//! `UnlockToken.dat` and `BootstrapToken.dat` (raw bytes), `TokenUpdate.tally.txt` (decimal),
//! `Disabled` (present = disabled), `CertAuth.sha256.txt` (the channel's latest hash) and
//! `SubEnrollments/<user channel id>` (empty files). Queues are directories of `<uuid>.plist`
//! files: `Queue` (waiting), `QueueNotNow` (answered NotNow, with `<uuid>.result.plist`),
//! `QueueDone` (answered, with `<uuid>.result.plist`) and `QueueInactive` (cleared). At the top:
//! `CertAuth.txt` (every binding, one `id,hash` line each) and `<topic>.pem` / `<topic>.key`.
//!
//! NanoMDM delivers `QueueNotNow` first, then `Queue`, each in file-name order (and skips
//! `QueueNotNow` right after a NotNow): that is the order imported, with the NotNow marks. No
//! last-seen time is kept by this backend.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use mdm_enrollment::{EnrollmentId, enroll_id};
use mdm_proto::{CheckIn, Command, Raw};
use mdm_storage::ImportedEnrollmentState;

use crate::decode::{self, ValueError};
use crate::filekv::{
    Channel, CommandResult, Device, DeviceEntry, Listing, PushCert, QueuedCommand, ReadError,
};
use crate::write::DirectoryReader;

/// A command file of a queue directory, with its status and raw result when it has one.
type QueueFile = (Raw<Command>, Option<(String, Bytes)>);

/// A NanoMDM `file` directory opened for reading.
#[derive(Debug)]
pub struct FileDir {
    root: PathBuf,
}

impl FileDir {
    /// Opens `root`: a directory holding NanoMDM `file` storage (an enrollment directory,
    /// `CertAuth.txt` or a push certificate).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, ReadError> {
        let root = root.into();
        let entries = std::fs::read_dir(&root).map_err(|source| ReadError::Io {
            path: root.clone(),
            source,
        })?;
        let mut looks_right = false;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == "CertAuth.txt"
                || name.ends_with(".pem")
                || path.join("Authenticate.plist").is_file()
                || path.join("TokenUpdate.plist").is_file()
            {
                looks_right = true;
                break;
            }
        }
        if !looks_right {
            return Err(ReadError::NotFileDir { path: root });
        }
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let path = self.path(key);
        match std::fs::read(&path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ReadError::Io { path, source }),
        }
    }

    fn require(&self, key: &str, needed_by: &str) -> Result<Vec<u8>, ReadError> {
        self.get(key)?.ok_or_else(|| ReadError::Missing {
            path: self.path(key),
            key: key.to_owned(),
            needed_by: needed_by.to_owned(),
        })
    }

    fn value_error(&self, key: &str, problem: ValueError) -> ReadError {
        ReadError::Value {
            path: self.path(key),
            key: key.to_owned(),
            problem,
        }
    }

    fn check_in(
        &self,
        key: &str,
        expected: &'static str,
    ) -> Result<Option<Raw<CheckIn>>, ReadError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => decode::decode_check_in(&v, expected)
                .map(Some)
                .map_err(|p| self.value_error(key, p)),
        }
    }

    /// File names in `dir` (relative to the root), sorted; none if it does not exist.
    fn names(&self, dir: &str) -> Result<Vec<String>, ReadError> {
        let path = self.path(dir);
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(ReadError::Io { path, source }),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ReadError::Io {
                path: path.clone(),
                source,
            })?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(ReadError::BadName { path: entry.path() });
            };
            names.push(name.to_owned());
        }
        // Go's os.ReadDir order, which NanoMDM delivers in.
        names.sort_unstable();
        Ok(names)
    }

    fn command(&self, key: &str, uuid: &str) -> Result<Raw<Command>, ReadError> {
        let value = self.require(key, "listed")?;
        decode::decode_command(&value, uuid).map_err(|p| self.value_error(key, p))
    }

    /// Commands of queue directory `sub` of `id`, with their result files when `results`.
    fn queue_dir(&self, id: &str, sub: &str, results: bool) -> Result<Vec<QueueFile>, ReadError> {
        let dir = format!("{id}/{sub}");
        let mut out = Vec::new();
        for name in self.names(&dir)? {
            let Some(uuid) = name.strip_suffix(".plist") else {
                continue;
            };
            if uuid.ends_with(".result") {
                continue;
            }
            let command = self.command(&format!("{dir}/{name}"), uuid)?;
            let result = if results {
                let key = format!("{dir}/{uuid}.result.plist");
                let raw = self.require(&key, &format!("{dir}/{name} was answered"))?;
                let report =
                    decode::decode_report(&raw, uuid).map_err(|p| self.value_error(&key, p))?;
                Some((report.status.as_str().to_owned(), Bytes::from(raw)))
            } else {
                None
            };
            out.push((command, result));
        }
        Ok(out)
    }

    fn read_channel(&self, id: &str, parent: Option<&str>) -> Result<Channel, ReadError> {
        let authenticate = match parent {
            None => Some(
                self.check_in(&format!("{id}/Authenticate.plist"), "Authenticate")?
                    .ok_or_else(|| ReadError::Missing {
                        path: self.path(&format!("{id}/Authenticate.plist")),
                        key: format!("{id}/Authenticate.plist"),
                        needed_by: format!("{id} was listed as a device"),
                    })?,
            ),
            Some(_) => None,
        };
        let token_key = format!("{id}/TokenUpdate.plist");
        let token_update = self.check_in(&token_key, "TokenUpdate")?;
        let user_authenticate =
            self.check_in(&format!("{id}/UserAuthenticate.plist"), "UserAuthenticate")?;
        let user_authenticate_digest = self.check_in(
            &format!("{id}/UserAuthenticate.Digest.plist"),
            "UserAuthenticate",
        )?;
        let (named_by, key) = match (&token_update, &authenticate, &user_authenticate) {
            (Some(t), _, _) => (t, token_key.clone()),
            (None, Some(a), _) => (a, format!("{id}/Authenticate.plist")),
            (None, None, Some(u)) => (u, format!("{id}/UserAuthenticate.plist")),
            _ => {
                return Err(ReadError::Missing {
                    path: self.path(&token_key),
                    key: token_key,
                    needed_by: format!("{id} is a user channel"),
                });
            }
        };
        let enrollment = match named_by.value() {
            CheckIn::Authenticate(m) => &m.enrollment,
            CheckIn::TokenUpdate(m) => &m.enrollment,
            CheckIn::UserAuthenticate(m) => &m.enrollment,
            _ => {
                return Err(self.value_error(
                    &key,
                    ValueError::WrongMessageType {
                        expected: "TokenUpdate",
                        found: "other",
                    },
                ));
            }
        };
        let wrong = |found: String| {
            self.value_error(
                &key,
                ValueError::WrongOwner {
                    expected: id.to_owned(),
                    found,
                },
            )
        };
        let enroll = enroll_id(enrollment).map_err(|e| wrong(e.to_string()))?;
        if enroll.id().as_str() != id || enroll.parent().map(EnrollmentId::as_str) != parent {
            return Err(wrong(enroll.id().as_str().to_owned()));
        }

        let mut state = ImportedEnrollmentState {
            enabled: self.get(&format!("{id}/Disabled"))?.is_none(),
            ..Default::default()
        };
        let tally_key = format!("{id}/TokenUpdate.tally.txt");
        if let Some(v) = self.get(&tally_key)? {
            state.token_update_tally =
                decode::decode_tally(&v).map_err(|p| self.value_error(&tally_key, p))?;
        }
        state.unlock_token = self
            .get(&format!("{id}/UnlockToken.dat"))?
            .filter(|t| !t.is_empty());
        let mut identity_cert_der = None;
        let mut bootstrap_token = None;
        if parent.is_none() {
            let key = format!("{id}/Identity.pem");
            if let Some(pem) = self.get(&key)? {
                let der = mdm_proto::pem::certificates(&pem)
                    .next()
                    .and_then(Result::ok)
                    .ok_or_else(|| self.value_error(&key, ValueError::NotPem))?;
                identity_cert_der = Some(Bytes::from(der));
            }
            bootstrap_token = self
                .get(&format!("{id}/BootstrapToken.dat"))?
                .filter(|t| !t.is_empty());
        }

        let mut queue = Vec::new();
        for (command, result) in self.queue_dir(id, "QueueNotNow", true)? {
            queue.push(QueuedCommand {
                command,
                not_now_report: result.map(|(_, raw)| raw),
            });
        }
        for (command, _) in self.queue_dir(id, "Queue", false)? {
            queue.push(QueuedCommand {
                command,
                not_now_report: None,
            });
        }
        let mut results = Vec::new();
        for (command, result) in self.queue_dir(id, "QueueDone", true)? {
            if let Some((status, report)) = result {
                results.push(CommandResult {
                    command,
                    status,
                    report,
                });
            }
        }
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
}

impl DirectoryReader for FileDir {
    fn list(&self) -> Result<Listing, ReadError> {
        let mut listing = Listing::default();
        let mut devices = BTreeSet::new();
        let mut users = Vec::new();
        for name in self.names("")? {
            let path = self.path(&name);
            if path.is_dir() {
                if path.join("Authenticate.plist").is_file() {
                    devices.insert(name);
                } else if path.join("TokenUpdate.plist").is_file()
                    || path.join("UserAuthenticate.plist").is_file()
                {
                    users.push(name);
                }
            } else if let Some(topic) = name.strip_suffix(".pem") {
                let cert = self.require(&name, "listed")?;
                let cert_pem = decode::decode_pem(&cert)
                    .map_err(|p| self.value_error(&name, p))?
                    .to_owned();
                let key_name = format!("{topic}.key");
                let key = self.require(&key_name, &format!("{name} exists"))?;
                let key_pem = decode::decode_pem(&key)
                    .map_err(|p| self.value_error(&key_name, p))?
                    .to_owned();
                listing.push_certs.push(PushCert {
                    topic: topic.to_owned(),
                    cert_pem,
                    key_pem,
                });
            }
        }
        let mut children: std::collections::HashMap<String, Vec<String>> = Default::default();
        for user in users {
            // `<device id>:<user>`, as the user channel's check-ins resolve it.
            match user.split_once(':').map(|(d, _)| d) {
                Some(device) if devices.contains(device) => {
                    children.entry(device.to_owned()).or_default().push(user);
                }
                _ => listing.orphan_user_channels.push(user),
            }
        }
        listing.devices = devices
            .into_iter()
            .map(|id| {
                let user_channels = children.remove(&id).unwrap_or_default();
                DeviceEntry { id, user_channels }
            })
            .collect();

        if let Some(lines) = self.get("CertAuth.txt")? {
            let text =
                decode::decode_text(&lines).map_err(|p| self.value_error("CertAuth.txt", p))?;
            for line in text.lines().filter(|l| !l.is_empty()) {
                let (id, hash) = line.rsplit_once(',').ok_or_else(|| {
                    self.value_error(
                        "CertAuth.txt",
                        ValueError::NotCertHash(line.chars().take(80).collect()),
                    )
                })?;
                let hash = decode::decode_cert_hash(hash.as_bytes())
                    .map_err(|p| self.value_error("CertAuth.txt", p))?;
                listing.cert_bindings.insert((id.to_owned(), hash));
            }
        }
        for device in &listing.devices {
            let key = format!("{}/CertAuth.sha256.txt", device.id);
            if let Some(v) = self.get(&key)? {
                let hash = decode::decode_cert_hash(&v).map_err(|p| self.value_error(&key, p))?;
                listing.cert_bindings.insert((device.id.clone(), hash));
            }
        }
        Ok(listing)
    }

    fn another(&self) -> Option<Self> {
        Some(FileDir {
            root: self.root.clone(),
        })
    }

    fn read_device(&mut self, entry: &DeviceEntry) -> Result<Device, ReadError> {
        let device = self.read_channel(&entry.id, None)?;
        let mut user_channels = Vec::new();
        for user in &entry.user_channels {
            user_channels.push(self.read_channel(user, Some(&entry.id))?);
        }
        Ok(Device {
            device,
            user_channels,
        })
    }
}

/// The root of a `file` directory, for messages.
impl FileDir {
    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

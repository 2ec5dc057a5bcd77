//! `-dev`: a first run with nothing to set up. The data directory gets a device CA (certificate
//! and key), an API key and the SQLite database; later runs reuse them. The device CA also
//! serves `/scep` (with a challenge made at each start), and `/enroll` serves an enrollment
//! profile signed by a certificate it issues, so simulated devices enroll as real ones do.

use std::io::Write;
use std::path::{Path, PathBuf};

use mdm_signature::test_pki::{KeyKind, LeafRequest, LeafUsage, TestCa};

use crate::StartupError;

/// The push topic `-dev`'s enrollment profile names until a push certificate is uploaded.
pub(crate) const PUSH_TOPIC: &str = "com.apple.mgmt.External.00000000-0000-4000-8000-000000000000";

/// What `-dev` prepared.
#[derive(Clone, Debug)]
pub(crate) struct DevSetup {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub api_key: String,
    pub database: PathBuf,
    /// Whether this run created the CA (first start).
    pub created_ca: bool,
}

/// Why `-dev` could not prepare its data directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// A file in the data directory could not be read or written.
    #[error("-dev data directory {path:?}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The development CA could not be generated.
    #[error("-dev: generating the development CA: {0}")]
    Ca(#[source] mdm_signature::signer::SignerError),
    /// No random bytes for the API key.
    #[error("-dev: no randomness for the API key: {0}")]
    Random(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates (or reuses) the CA, API key and database path in `dir`. An `api_key` given on the
/// command line wins over the stored one.
pub(crate) fn prepare(dir: &Path, api_key: &str) -> Result<DevSetup, DevError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca.key");
    let created_ca = !ca_cert.exists() || !ca_key.exists();
    if created_ca {
        let ca = TestCa::generate(KeyKind::P256, "Rootstock development device CA")
            .map_err(DevError::Ca)?;
        write_private(&ca_key, ca.key_pem().as_bytes())?;
        std::fs::write(&ca_cert, ca.cert_pem()).map_err(io_err(&ca_cert))?;
    }
    let key_file = dir.join("api.key");
    let api_key = if !api_key.is_empty() {
        api_key.to_owned()
    } else if key_file.exists() {
        std::fs::read_to_string(&key_file)
            .map_err(io_err(&key_file))?
            .trim()
            .to_owned()
    } else {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| DevError::Random(e.to_string()))?;
        let key = hex_encode(&bytes);
        write_private(&key_file, format!("{key}\n").as_bytes())?;
        key
    };
    Ok(DevSetup {
        dir: dir.to_owned(),
        ca_cert,
        ca_key,
        api_key,
        database: dir.join("nanomdm.sqlite"),
        created_ca,
    })
}

/// `bytes` random bytes, hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, DevError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| DevError::Random(e.to_string()))?;
    Ok(hex_encode(&buffer))
}

/// A profile signer issued by the development CA (made at each start).
pub(crate) fn enroll_signer(setup: &DevSetup) -> Result<mdm_profiles::ProfileSigner, StartupError> {
    let read = |path: &Path| std::fs::read_to_string(path).map_err(io_err(path));
    let ca =
        TestCa::from_pem(&read(&setup.ca_cert)?, &read(&setup.ca_key)?).map_err(DevError::Ca)?;
    // No extended key usage: what S/MIME-style profile verification accepts.
    let leaf = ca
        .issue(
            &LeafRequest::new(KeyKind::P256, "Rootstock development profile signer")
                .usage(LeafUsage::NoExtendedKeyUsage),
        )
        .map_err(DevError::Ca)?;
    Ok(mdm_profiles::ProfileSigner::new(leaf, Vec::new()))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a secret readable by the owner only.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), DevError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err(path))?;
    file.write_all(contents).map_err(io_err(path))
}

/// What the operator reads on a `-dev` start: the warning, and how to try the server.
pub(crate) fn banner(setup: &DevSetup, base_url: &str, scep_challenge: &str) -> String {
    let dir = setup.dir.display();
    let ca = setup.ca_cert.display();
    let ca_key = setup.ca_key.display();
    let key = &setup.api_key;
    let created = if setup.created_ca {
        "created"
    } else {
        "reusing"
    };
    format!(
        "
################################################################################
##  DEVELOPMENT MODE (-dev). NEVER USE THIS IN PRODUCTION.
##  The device CA below and its private key sit unprotected in the data
##  directory: anyone who has them can enroll devices.
################################################################################

  data directory  {dir} ({created} the development CA)
  device CA       {ca} (key: {ca_key})
  API key         {key}   (HTTP Basic auth, user \"nanomdm\")
  server          {base_url}/mdm
  enrollment      {base_url}/enroll (signed profile; SCEP at {base_url}/scep,
                  challenge {scep_challenge})

Simulate devices that enroll as real ones do: the profile, SCEP, then Authenticate (in
another terminal):

  cargo run --example simulate --features sim -- \\
      --enroll {base_url}/enroll --devices 4 --interval 5

Send one of them a command as JSON (its id is the enrollment_id in this server's log; with no
push certificate stored, nopush=1 leaves the command for the device's next check-in):

  curl -u nanomdm:{key} -d '{{\"Command\": {{\"RequestType\": \"ProfileList\"}}}}' \\
      '{base_url}/v1/commands/<enrollment id>?nopush=1'

(/v1/enqueue/<enrollment id> takes a command plist instead, as NanoMDM does.)
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = prepare(dir.path(), "").unwrap();
        assert!(first.created_ca);
        assert_eq!(first.api_key.len(), 32);
        let ca_pem = std::fs::read_to_string(&first.ca_cert).unwrap();
        let again = prepare(dir.path(), "").unwrap();
        assert!(!again.created_ca);
        assert_eq!(again.api_key, first.api_key);
        assert_eq!(std::fs::read_to_string(&again.ca_cert).unwrap(), ca_pem);
        assert_eq!(prepare(dir.path(), "given").unwrap().api_key, "given");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.ca_key)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = banner(&first, "http://127.0.0.1:9000", "challenge");
        assert!(text.contains("NEVER USE THIS IN PRODUCTION"));
        assert!(text.contains(r#"-d '{"Command": {"RequestType": "ProfileList"}}' \"#));
        assert!(text.contains("http://127.0.0.1:9000/v1/commands/<enrollment id>?nopush=1"));
        assert!(text.contains("--enroll http://127.0.0.1:9000/enroll"));
        assert!(text.contains("challenge challenge"));
    }
}

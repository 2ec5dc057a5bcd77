//! Trust in a device certificate: the [`CertVerifier`] trait and the CA-pool verifier.
//!
//! The path building is written here rather than borrowed from rustls-webpki because Apple's
//! older device CAs sign with SHA-1, which webpki rejects.

use std::collections::HashMap;
use std::time::SystemTime;

use der::asn1::ObjectIdentifier;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use crate::algorithm::{self, DigestAlgorithm};
use crate::error::CaEvidence;
use crate::{ChainError, Error, IdentityCertificate};

/// Decides whether a device certificate is trusted at a given time.
///
/// Implemented by [`CaPool`] and by [`crate::CachedVerifier`], which wraps any verifier; users can
/// implement it to plug in their own policy (an allow-list of hashes, a remote service, ...).
/// Such an implementation should refuse CA certificates as [`CaPool`] does, by calling
/// [`IdentityCertificate::check_end_entity`] first.
pub trait CertVerifier: Send + Sync {
    /// Checks `cert` at time `now`. `now` is a parameter, not read from a clock, so that callers
    /// control time (tests, replaying a log).
    fn verify_cert(
        &self,
        cert: &IdentityCertificate,
        now: SystemTime,
    ) -> Result<VerifiedChain, Error>;
}

impl<V: CertVerifier + ?Sized> CertVerifier for std::sync::Arc<V> {
    fn verify_cert(
        &self,
        cert: &IdentityCertificate,
        now: SystemTime,
    ) -> Result<VerifiedChain, Error> {
        (**self).verify_cert(cert, now)
    }
}

impl<V: CertVerifier + ?Sized> CertVerifier for Box<V> {
    fn verify_cert(
        &self,
        cert: &IdentityCertificate,
        now: SystemTime,
    ) -> Result<VerifiedChain, Error> {
        (**self).verify_cert(cert, now)
    }
}

/// A successful verification: the path found and the time window in which the verdict holds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifiedChain {
    /// The path from the device certificate (first) to the trusted root (last). A certificate
    /// that is itself a root is a path of one.
    pub path: Vec<IdentityCertificate>,
    /// The latest notBefore on the path: the verdict does not hold before it.
    pub not_before: SystemTime,
    /// The earliest notAfter on the path: the verdict does not hold after it.
    pub not_after: SystemTime,
}

impl VerifiedChain {
    /// A verdict for a certificate trusted on its own, valid for its own validity period (for
    /// [`CertVerifier`] implementations that do not build paths).
    pub fn single(cert: &IdentityCertificate) -> Self {
        VerifiedChain {
            path: vec![cert.clone()],
            not_before: cert.not_before(),
            not_after: cert.not_after(),
        }
    }

    /// Whether the verdict holds at `now`.
    pub fn holds_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// Trusted roots and optional intermediates: a device certificate is trusted when a path leads
/// from it to a root, every certificate on it is valid at the time asked, every issuer is a CA
/// allowed to sign certificates, and the device certificate may be used for client
/// authentication (an extended key usage of clientAuth or anyExtendedKeyUsage, or none at all).
///
/// The device certificate must not itself be a CA's ([`Error::CaCertificate`]): not one whose
/// basicConstraints assert cA, not one whose key usage includes keyCertSign, and not a version 1
/// or 2 certificate that this pool holds as a root or intermediate (such a certificate has no way
/// to say it is not a CA). So neither a root nor an intermediate of the pool can sign requests
/// as a device; a root that is not a CA certificate (a pinned, self-signed device certificate)
/// still vouches for itself.
///
/// Only the certificates given here take part in paths: intermediates a device embeds in its
/// Mdm-Signature are not trusted, since anyone can embed anything.
#[derive(Clone, Debug, Default)]
pub struct CaPool {
    certs: Vec<Anchor>,
    /// Subject DER → indexes into `certs`: issuers are found by an exact match of the child's
    /// issuer bytes, as Go's crypto/x509 (and so NanoMDM) does.
    by_subject: HashMap<Vec<u8>, Vec<usize>>,
}

#[derive(Clone, Debug)]
struct Anchor {
    cert: IdentityCertificate,
    is_root: bool,
}

/// Paths longer than this (device certificate and root included) are not followed.
const MAX_PATH_LEN: usize = 8;

const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OID_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const OID_ANY_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");
/// Critical extensions whose meaning does not restrict path validation, or which are checked
/// here. Any other critical extension (name constraints, policy constraints, ...) makes the
/// certificate unusable, as RFC 5280 §4.2 requires of extensions a verifier does not process.
const HANDLED_CRITICAL: [ObjectIdentifier; 8] = [
    OID_BASIC_CONSTRAINTS,
    OID_KEY_USAGE,
    OID_EXT_KEY_USAGE,
    ObjectIdentifier::new_unwrap("2.5.29.17"), // subjectAltName
    ObjectIdentifier::new_unwrap("2.5.29.14"), // subjectKeyIdentifier
    ObjectIdentifier::new_unwrap("2.5.29.35"), // authorityKeyIdentifier
    ObjectIdentifier::new_unwrap("2.5.29.32"), // certificatePolicies
    ObjectIdentifier::new_unwrap("2.5.29.31"), // cRLDistributionPoints
];

impl CaPool {
    /// An empty pool, which trusts nothing.
    pub fn new() -> Self {
        CaPool::default()
    }

    /// A pool of the roots in `pem` (every CERTIFICATE block; other blocks are skipped).
    pub fn from_pem(roots_pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        let mut pool = CaPool::new();
        if pool.add_roots_pem(roots_pem)? == 0 {
            return Err(Error::NoCertificate);
        }
        Ok(pool)
    }

    /// Adds the intermediates in `pem` (every CERTIFICATE block), returning the pool.
    pub fn with_intermediates_pem(mut self, pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        if self.add_intermediates_pem(pem)? == 0 {
            return Err(Error::NoCertificate);
        }
        Ok(self)
    }

    /// Adds the roots in `pem`, returning how many were added.
    pub fn add_roots_pem(&mut self, pem: impl AsRef<[u8]>) -> Result<usize, Error> {
        self.add_pem(pem.as_ref(), true)
    }

    /// Adds the intermediates in `pem`, returning how many were added.
    pub fn add_intermediates_pem(&mut self, pem: impl AsRef<[u8]>) -> Result<usize, Error> {
        self.add_pem(pem.as_ref(), false)
    }

    /// Adds a trusted root.
    pub fn add_root(&mut self, cert: IdentityCertificate) {
        self.add(cert, true);
    }

    /// Adds an intermediate: usable in a path, trusted only through a root.
    pub fn add_intermediate(&mut self, cert: IdentityCertificate) {
        self.add(cert, false);
    }

    /// The number of roots and intermediates.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn add_pem(&mut self, pem: &[u8], is_root: bool) -> Result<usize, Error> {
        let mut added = 0usize;
        for der in crate::pem::certificates(pem) {
            self.add(IdentityCertificate::from_der(der?)?, is_root);
            // One per certificate held in memory: cannot reach usize::MAX.
            added = added.saturating_add(1);
        }
        Ok(added)
    }

    fn add(&mut self, cert: IdentityCertificate, is_root: bool) {
        // A certificate given as both root and intermediate counts as a root.
        if let Some(existing) = self.certs.iter_mut().find(|a| a.cert == cert) {
            existing.is_root |= is_root;
            return;
        }
        self.by_subject
            .entry(cert.subject_bytes().to_vec())
            .or_default()
            .push(self.certs.len());
        self.certs.push(Anchor { cert, is_root });
    }

    /// Depth-first path search from `path`'s last certificate up to a root.
    fn extend(
        &self,
        path: &mut Vec<usize>,
        leaf: &IdentityCertificate,
        now: SystemTime,
        failures: &mut Vec<ChainError>,
    ) -> bool {
        // Indexes in `path` and `by_subject` all come from `add`, which hands out each index
        // as it pushes, and `certs` never shrinks: every `get` below succeeds.
        let child = match path.last() {
            Some(&i) => match self.certs.get(i) {
                Some(anchor) => &anchor.cert,
                None => return false,
            },
            None => leaf,
        };
        let Some(candidates) = self.by_subject.get(child.issuer_bytes()) else {
            failures.push(ChainError::UnknownIssuer {
                certificate: describe(child),
                issuer: child.issuer(),
            });
            return false;
        };
        // Roots first: the shortest path wins when both could work.
        let mut ordered: Vec<usize> = candidates.clone();
        ordered.sort_by_key(|&i| self.certs.get(i).is_none_or(|a| !a.is_root));
        for i in ordered {
            if path.contains(&i) {
                continue;
            }
            let Some(anchor) = self.certs.get(i) else {
                continue;
            };
            // Intermediates below this issuer on the path, for its pathLenConstraint.
            let below = path.len();
            if let Err(reason) = check_issuer(child, &anchor.cert, below, now) {
                failures.push(reason);
                continue;
            }
            if anchor.is_root {
                path.push(i);
                return true;
            }
            // The path never exceeds MAX_PATH_LEN, so the sum cannot saturate.
            if path.len().saturating_add(2) >= MAX_PATH_LEN {
                failures.push(ChainError::PathTooLong { max: MAX_PATH_LEN });
                continue;
            }
            if let Err(reason) = check_client_auth(&anchor.cert) {
                failures.push(reason);
                continue;
            }
            path.push(i);
            if self.extend(path, leaf, now, failures) {
                return true;
            }
            path.pop();
        }
        false
    }
}

impl CertVerifier for CaPool {
    fn verify_cert(
        &self,
        cert: &IdentityCertificate,
        now: SystemTime,
    ) -> Result<VerifiedChain, Error> {
        // A CA certificate is never a device identity, whatever else holds; checked first so
        // the refusal names the reason even when the certificate is also expired or untrusted.
        cert.check_end_entity()?;
        if cert.certificate().tbs_certificate().version() != Version::V3
            && self.certs.iter().any(|a| a.cert == *cert)
        {
            return Err(Error::CaCertificate(CaEvidence::PoolCertificate));
        }
        cert.check_validity(now)?;
        check_critical_extensions(cert).map_err(Error::UntrustedChain)?;
        if check_client_auth(cert).is_err() {
            return Err(Error::NotClientAuth);
        }
        // A root can vouch for itself (a pinned, self-issued device certificate): it is not a CA
        // certificate, as checked above.
        if self.certs.iter().any(|a| a.is_root && a.cert == *cert) {
            return Ok(VerifiedChain::single(cert));
        }
        let mut path = Vec::new();
        let mut failures = Vec::new();
        if !self.extend(&mut path, cert, now, &mut failures) {
            let reason = failures.into_iter().next().unwrap_or(ChainError::NoPath);
            return Err(Error::UntrustedChain(reason));
        }
        let mut chain = VerifiedChain::single(cert);
        for i in path {
            let c = &self
                .certs
                .get(i)
                .ok_or(Error::UntrustedChain(ChainError::NoPath))?
                .cert;
            chain.not_before = chain.not_before.max(c.not_before());
            chain.not_after = chain.not_after.min(c.not_after());
            chain.path.push(c.clone());
        }
        Ok(chain)
    }
}

/// Checks that `issuer` signed `child` and may issue certificates at `now`.
/// `below` counts the intermediates between `issuer` and the device certificate.
fn check_issuer(
    child: &IdentityCertificate,
    issuer: &IdentityCertificate,
    below: usize,
    now: SystemTime,
) -> Result<(), ChainError> {
    let name = describe(issuer);
    verify_certificate_signature(child, issuer).map_err(|e| ChainError::BadSignature {
        certificate: describe(child),
        issuer: name.clone(),
        reason: Box::new(e),
    })?;
    if now < issuer.not_before() {
        return Err(ChainError::IssuerNotYetValid {
            issuer: name,
            not_before: issuer.not_before(),
        });
    }
    if now > issuer.not_after() {
        return Err(ChainError::IssuerExpired {
            issuer: name,
            not_after: issuer.not_after(),
        });
    }
    check_critical_extensions(issuer)?;
    let tbs = issuer.certificate().tbs_certificate();
    // RFC 5280 §4.2.1.9: a v3 issuer must assert cA in basicConstraints (Go's crypto/x509 agrees).
    // Version 1 and 2 issuers predate the extension and are accepted.
    match tbs.get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) => {
            if !bc.ca {
                return Err(ChainError::NotCa { issuer: name });
            }
            if let Some(max) = bc.path_len_constraint
                && below > usize::from(max)
            {
                return Err(ChainError::PathLen {
                    issuer: name,
                    max,
                    below,
                });
            }
        }
        Ok(None) if tbs.version() != Version::V3 => {}
        Ok(None) => return Err(ChainError::NotCa { issuer: name }),
        Err(error) => {
            return Err(ChainError::BadExtension {
                certificate: name,
                extension: "basicConstraints",
                error,
            });
        }
    }
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.key_cert_sign() => Err(ChainError::NotCa { issuer: name }),
        Ok(_) => Ok(()),
        Err(error) => Err(ChainError::BadExtension {
            certificate: name,
            extension: "keyUsage",
            error,
        }),
    }
}

/// Checks `child`'s signature with `issuer`'s key (SHA-1 included, for Apple's older CAs).
fn verify_certificate_signature(
    child: &IdentityCertificate,
    issuer: &IdentityCertificate,
) -> Result<(), Error> {
    let oid = child.signature_algorithm_oid();
    let (scheme, digest) = algorithm::signature_algorithm(oid)?;
    let digest: DigestAlgorithm = digest.ok_or_else(|| Error::UnsupportedAlgorithm {
        what: "certificate signature",
        oid: algorithm::oid_text(oid),
    })?;
    let tbs_digest = digest.digest(child.tbs_bytes());
    issuer
        .public_key()
        .verify(scheme, digest, &tbs_digest, child.signature_bytes())
}

/// An extended key usage, where present, must allow client authentication.
fn check_client_auth(cert: &IdentityCertificate) -> Result<(), ChainError> {
    match cert
        .certificate()
        .tbs_certificate()
        .get_extension::<ExtendedKeyUsage>()
    {
        Ok(None) => Ok(()),
        Ok(Some((_, eku)))
            if eku
                .0
                .iter()
                .any(|o| *o == OID_CLIENT_AUTH || *o == OID_ANY_EKU) =>
        {
            Ok(())
        }
        Ok(Some(_)) => Err(ChainError::IntermediateNotClientAuth {
            certificate: describe(cert),
        }),
        Err(error) => Err(ChainError::BadExtension {
            certificate: describe(cert),
            extension: "extendedKeyUsage",
            error,
        }),
    }
}

fn check_critical_extensions(cert: &IdentityCertificate) -> Result<(), ChainError> {
    let Some(exts) = cert.certificate().tbs_certificate().extensions() else {
        return Ok(());
    };
    match exts
        .iter()
        .find(|e| e.critical && !HANDLED_CRITICAL.contains(&e.extn_id))
    {
        Some(e) => Err(ChainError::UnhandledCriticalExtension {
            certificate: describe(cert),
            oid: e.extn_id.to_string(),
        }),
        None => Ok(()),
    }
}

/// A certificate's name for messages: its subject, or its serial when the subject is empty (as
/// SCEP-issued device certificates often have).
fn describe(cert: &IdentityCertificate) -> String {
    match cert.subject() {
        s if s.is_empty() => format!("certificate with serial {}", cert.serial_hex()),
        s => format!("\"{s}\""),
    }
}

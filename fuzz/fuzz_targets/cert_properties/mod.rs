//! Properties of certificate handling that the signature_header and cert_header targets check.

use mdm_signature::x509_cert::certificate::Version;
use mdm_signature::x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use mdm_signature::{Asn1Problem, CaPool, CertVerifier, Error, IdentityCertificate};

/// A CA certificate is never accepted as a device identity, even pinned as the pool's own root
/// (where no signature is checked, so a mutated certificate gets this far): whatever the pool
/// accepts is, by an independent reading of its extensions, not a CA. And a pool of
/// intermediates alone trusts nothing.
pub fn ca_is_never_a_device(cert: &IdentityCertificate) {
    let time = cert.not_before();
    let mut pinned = CaPool::new();
    pinned.add_root(cert.clone());
    let verdict = pinned.verify_cert(cert, time);
    let tbs = cert.certificate().tbs_certificate();
    let basic = tbs.get_extension::<BasicConstraints>();
    let usage = tbs.get_extension::<KeyUsage>();
    if basic.is_err() || usage.is_err() {
        assert!(
            verdict.is_err(),
            "unreadable CA extensions accepted: {cert:?}"
        );
    } else {
        let ca = matches!(&basic, Ok(Some((_, bc))) if bc.ca)
            || matches!(&usage, Ok(Some((_, ku))) if ku.key_cert_sign())
            // A v1/v2 certificate the pool holds is a CA by configuration.
            || tbs.version() != Version::V3;
        if ca {
            assert!(
                matches!(verdict, Err(Error::CaCertificate(_))),
                "CA certificate not refused as such ({verdict:?}): {cert:?}"
            );
        }
    }
    no_internal_error(&verdict);
    let mut intermediates = CaPool::new();
    intermediates.add_intermediate(cert.clone());
    let verdict = intermediates.verify_cert(cert, time);
    assert!(
        verdict.is_err(),
        "an intermediate-only pool trusted {cert:?}"
    );
    no_internal_error(&verdict);
}

/// Errors that mean a bounds check the parsers rely on was wrong (each is a "cannot happen"
/// branch written instead of an index that could panic).
pub fn no_internal_error<T>(result: &Result<T, Error>) {
    let internal = matches!(
        result,
        Err(Error::Asn1 {
            problem: Asn1Problem::LengthPastInput,
            ..
        })
    );
    if let Err(e) = result {
        assert!(!internal, "internal error reached: {e}");
    }
}

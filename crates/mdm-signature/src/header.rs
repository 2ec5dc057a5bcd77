//! The device certificate from a TLS-terminating proxy's header.
//!
//! Two formats are in use: nginx's `$ssl_client_escaped_cert` (the PEM, URL-escaped) and RFC 9440
//! `Client-Cert` (`:` base64 DER `:`). [`certificate_from_header`] tells them apart by the leading
//! colon, as NanoMDM does.

use base64::Engine;

use crate::{Error, HeaderError, IdentityCertificate};

/// The longest certificate header accepted, in bytes: a certificate is 1–2 KB, its escaped PEM
/// about a third more.
pub const MAX_CERTIFICATE_HEADER_LEN: usize = 32 * 1024;

/// Reads the certificate from a proxy header: RFC 9440 when the value starts with `:`, otherwise
/// URL-escaped PEM.
pub fn certificate_from_header(value: impl AsRef<[u8]>) -> Result<IdentityCertificate, Error> {
    let value = checked(value.as_ref())?;
    if value.first() == Some(&b':') {
        certificate_from_rfc9440(value)
    } else {
        certificate_from_escaped_pem(value)
    }
}

/// Reads a URL-escaped PEM certificate, as nginx's `$ssl_client_escaped_cert` produces
/// (`-----BEGIN%20CERTIFICATE-----%0AMIIC...`).
///
/// Percent escapes are decoded. A `+` is kept as a `+` inside the base64 body (where it is a base64
/// character, as some proxies leave it unescaped) and read as a space in the BEGIN/END lines (where
/// form-style escaping, e.g. Go's `url.QueryEscape`, puts it). The first CERTIFICATE block is the
/// device's; any further ones (a chain) are ignored.
pub fn certificate_from_escaped_pem(value: impl AsRef<[u8]>) -> Result<IdentityCertificate, Error> {
    let value = checked(value.as_ref())?;
    let pem = percent_decode(value)?;
    let der = crate::pem::certificates(&pem)
        .next()
        .ok_or(Error::CertificateHeader(HeaderError::NoPemBlock))??;
    IdentityCertificate::from_der(der)
}

/// Reads an RFC 9440 `Client-Cert` value: the DER certificate as a structured-field byte
/// sequence, `:` base64 `:`.
pub fn certificate_from_rfc9440(value: impl AsRef<[u8]>) -> Result<IdentityCertificate, Error> {
    let value = checked(value.as_ref())?;
    let inner = value
        .strip_prefix(b":")
        .and_then(|v| v.strip_suffix(b":"))
        .ok_or(Error::CertificateHeader(HeaderError::NotRfc9440))?;
    if inner.is_empty() {
        return Err(Error::CertificateHeader(HeaderError::EmptyRfc9440));
    }
    // RFC 8941 §3.3.5 byte sequences are standard base64; padding is tolerated either way.
    let der = crate::pem::LENIENT_BASE64.decode(inner)?;
    IdentityCertificate::from_der(der)
}

/// Trims surrounding whitespace and applies the emptiness and size limits.
fn checked(value: &[u8]) -> Result<&[u8], Error> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return Err(Error::EmptyHeader);
    }
    if value.len() > MAX_CERTIFICATE_HEADER_LEN {
        return Err(Error::HeaderTooLong {
            len: value.len(),
            max: MAX_CERTIFICATE_HEADER_LEN,
        });
    }
    Ok(value)
}

/// Decodes `%XX` escapes; any other byte (including `+`) is kept as it is. A `%` not followed by
/// two hex digits is an error (`percent-encoding` would pass it through).
fn percent_decode(value: &[u8]) -> Result<Vec<u8>, Error> {
    let mut at = 0usize;
    for (i, piece) in value.split(|&b| b == b'%').enumerate() {
        let well_formed = piece
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
        if i > 0 && !well_formed {
            // `at` is the offset of this piece's `%`: the pieces before it and their `%`s.
            return Err(Error::CertificateHeader(HeaderError::PercentEscape {
                at: at.saturating_sub(1),
            }));
        }
        at = at.saturating_add(piece.len()).saturating_add(1);
    }
    Ok(percent_encoding::percent_decode(value).collect())
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"a%20b%0A+%2B").unwrap(), b"a b\n++");
        for bad in [&b"%"[..], b"%G1", b"%1", b"abc%+1"] {
            assert!(
                matches!(percent_decode(bad), Err(Error::CertificateHeader(_))),
                "{bad:?}"
            );
        }
    }
}

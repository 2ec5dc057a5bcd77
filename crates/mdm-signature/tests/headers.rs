//! The device certificate from a TLS-terminating proxy's header.

mod common;

use base64::Engine;
use common::{BODY, fixture, pki};
use mdm_signature::{
    Error, HeaderError, IdentityCertificate, MAX_CERTIFICATE_HEADER_LEN,
    certificate_from_escaped_pem, certificate_from_header, certificate_from_rfc9440,
    verify_mdm_signature,
};

fn device() -> &'static IdentityCertificate {
    pki().rsa.certificate()
}

/// Percent-escapes like nginx's `$ssl_client_escaped_cert` (ngx_escape_uri, URI component):
/// everything but unreserved characters, so space → %20, newline → %0A, `+` → %2B, `/` → %2F.
fn nginx_escape(pem: &str) -> String {
    pem.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Escapes like Go's `url.QueryEscape`: as above, but space → `+`.
fn query_escape(pem: &str) -> String {
    nginx_escape(pem).replace("%20", "+")
}

#[test]
fn nginx_escaped_pem() {
    let header = nginx_escape(&device().to_pem());
    assert!(header.starts_with("-----BEGIN%20CERTIFICATE-----%0A"));
    let cert = certificate_from_escaped_pem(&header).unwrap();
    assert_eq!(cert, *device());
    assert_eq!(certificate_from_header(&header).unwrap(), *device());
}

#[test]
fn query_escaped_pem_with_plus_for_space() {
    let header = query_escape(&device().to_pem());
    assert!(header.starts_with("-----BEGIN+CERTIFICATE-----%0A"));
    assert_eq!(certificate_from_header(&header).unwrap(), *device());
}

#[test]
fn unescaped_plus_in_the_base64_body_stays_a_plus() {
    // A proxy that escapes only newlines leaves base64's `+` and `/` as they are.
    let pem = device().to_pem();
    assert!(
        pem.contains('+') || pem.contains('/'),
        "pick a certificate with + or /"
    );
    let header = pem.replace('\n', "%0A");
    assert_eq!(certificate_from_header(&header).unwrap(), *device());
}

#[test]
fn a_chain_in_the_header_yields_the_first_certificate() {
    let p = pki();
    let chain = format!(
        "{}{}",
        p.via_intermediate.cert_pem(),
        p.intermediate.cert_pem()
    );
    let cert = certificate_from_header(nginx_escape(&chain)).unwrap();
    assert_eq!(cert, *p.via_intermediate.certificate());
}

#[test]
fn rfc9440() {
    let value = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(device().der())
    );
    assert_eq!(certificate_from_rfc9440(&value).unwrap(), *device());
    assert_eq!(certificate_from_header(&value).unwrap(), *device());
    assert_eq!(
        certificate_from_header(format!(" {value} ")).unwrap(),
        *device()
    );
}

#[test]
fn the_same_certificate_gives_the_same_hash_by_every_route() {
    let header = fixture("nanomdm-device-2.sig");
    let from_signature = verify_mdm_signature(
        std::str::from_utf8(&header).unwrap(),
        &fixture("nanomdm-device-2.plist"),
    )
    .unwrap();
    let from_pem = certificate_from_header(nginx_escape(&from_signature.to_pem())).unwrap();
    let rfc = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(from_signature.der())
    );
    let from_rfc9440 = certificate_from_header(rfc).unwrap();
    let expected = "9704ca2f1ea3ea1eaaebd5013b0803d920e813ccf0d4b7d8808499a15f6a4716";
    for cert in [&from_signature, &from_pem, &from_rfc9440] {
        assert_eq!(cert.cert_hash().to_string(), expected);
        assert_eq!(mdm_signature::cert_hash(cert.der()).to_string(), expected);
    }
    let _ = BODY;
}

#[test]
fn malformed_headers_and_their_errors() {
    let header_error = |r: Result<IdentityCertificate, Error>| match r {
        Err(Error::CertificateHeader(reason)) => reason,
        other => panic!("expected CertificateHeader, got {other:?}"),
    };
    assert_eq!(certificate_from_header("").unwrap_err(), Error::EmptyHeader);
    assert_eq!(
        certificate_from_header("  ").unwrap_err(),
        Error::EmptyHeader
    );
    assert_eq!(
        certificate_from_rfc9440("").unwrap_err(),
        Error::EmptyHeader
    );
    assert_eq!(
        certificate_from_escaped_pem("").unwrap_err(),
        Error::EmptyHeader
    );

    // RFC 9440
    use HeaderError::*;
    assert_eq!(header_error(certificate_from_header(":")), NotRfc9440);
    assert_eq!(header_error(certificate_from_header("::")), EmptyRfc9440);
    assert_eq!(header_error(certificate_from_rfc9440("MIIC:")), NotRfc9440);
    assert_eq!(header_error(certificate_from_header(":MIIC")), NotRfc9440);
    assert!(matches!(
        certificate_from_header(":M*IC:"),
        Err(Error::Base64(_))
    ));
    assert!(matches!(
        certificate_from_header(":INVALID:"),
        Err(Error::Certificate(_))
    ));

    // Escaped PEM
    assert_eq!(
        header_error(certificate_from_header("%GK")),
        PercentEscape { at: 0 }
    );
    assert_eq!(header_error(certificate_from_header("INVALID")), NoPemBlock);
    assert_eq!(
        header_error(certificate_from_header(
            "-----BEGIN%20CERTIFICATE-----%0AMIIC"
        )),
        MissingEnd {
            label: "CERTIFICATE".into()
        }
    );
    assert!(matches!(
        certificate_from_header("-----BEGIN CERTIFICATE-----%0AM*IC%0A-----END CERTIFICATE-----"),
        Err(Error::Base64(_))
    ));
    assert!(matches!(
        certificate_from_header("-----BEGIN CERTIFICATE-----%0AAAAA%0A-----END CERTIFICATE-----"),
        Err(Error::Certificate(_))
    ));
    // Only other PEM blocks.
    assert_eq!(
        header_error(certificate_from_header(
            "-----BEGIN%20PRIVATE%20KEY-----%0AAAAA%0A-----END%20PRIVATE%20KEY-----"
        )),
        NoPemBlock
    );

    let long = "A".repeat(MAX_CERTIFICATE_HEADER_LEN + 1);
    assert!(matches!(
        certificate_from_header(&long),
        Err(Error::HeaderTooLong { .. })
    ));
}

//! Device identities, and how a request shows the server which one sent it.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use http::{HeaderName, HeaderValue};
use mdm_signature::IdentityCertificate;
use mdm_signature::signer::{SignOptions, SigningIdentity};
use mdm_signature::test_pki::{KeyKind, LeafRequest, TestCa};

use crate::Error;
use crate::request::{MDM_SIGNATURE, Request};

/// How a proxy header carries the device certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertHeaderEncoding {
    /// The PEM, URL-escaped, as nginx's `$ssl_client_escaped_cert` gives it.
    EscapedPem,
    /// RFC 9440 `Client-Cert`: `:` base64 DER `:`.
    Rfc9440,
}

/// How a request shows the server the device identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertPresentation {
    /// An `Mdm-Signature` header over the body, as devices send when the profile sets
    /// `SignMessage`.
    MdmSignature,
    /// The certificate in a header, as a TLS-terminating proxy passes on the client certificate
    /// it verified (the simulator plays the proxy too).
    Header {
        /// The header, as the server is configured to read it (e.g. `X-Ssl-Client-Cert`).
        name: HeaderName,
        /// How the certificate is encoded.
        encoding: CertHeaderEncoding,
    },
    /// Neither: the request carries no identity (to test that a server refuses it).
    Omitted,
}

/// A device identity: its certificate and private key. Cloning shares them.
///
/// Issue one from a [`TestCa`] with [`Identity::issue`] or load one with [`Identity::from_pem`].
/// Signatures default to what devices send (SHA-1 for RSA keys, SHA-256 for EC keys, BER, no
/// signed attributes); [`Identity::with_sign_options`] picks another shape.
#[derive(Clone)]
pub struct Identity {
    signer: Arc<SigningIdentity>,
    options: Arc<SignOptions>,
}

impl Identity {
    /// Issues a fresh identity from `ca`: a new `key` and a client-auth certificate named
    /// `common_name` (devices' SCEP identities often carry their UDID), valid for a year.
    pub fn issue(ca: &TestCa, key: KeyKind, common_name: &str) -> Result<Identity, Error> {
        Ok(Identity::from(
            ca.issue(&LeafRequest::new(key, common_name))?,
        ))
    }

    /// Loads an identity from a PEM certificate and a PEM PKCS#8 private key.
    pub fn from_pem(cert_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        Ok(Identity::from(SigningIdentity::from_pem(
            cert_pem, key_pem,
        )?))
    }

    /// Signs with `options` instead of the device-like default.
    pub fn with_sign_options(mut self, options: SignOptions) -> Self {
        self.options = Arc::new(options);
        self
    }

    /// The certificate.
    pub fn certificate(&self) -> &IdentityCertificate {
        self.signer.certificate()
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        self.signer.certificate().der()
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.signer.cert_pem()
    }

    /// The private key, PEM (PKCS#8). A secret.
    pub fn key_pem(&self) -> String {
        self.signer.key_pem()
    }

    /// The `Mdm-Signature` header value for `body`.
    pub fn mdm_signature(&self, body: &[u8]) -> Result<String, Error> {
        Ok(self.signer.mdm_signature_with(body, &self.options)?)
    }

    /// Adds to `request` what shows the server this identity.
    pub(crate) fn present(
        &self,
        mut request: Request,
        how: &CertPresentation,
    ) -> Result<Request, Error> {
        let (name, value) = match how {
            CertPresentation::MdmSignature => (MDM_SIGNATURE, self.mdm_signature(&request.body)?),
            CertPresentation::Header { name, encoding } => {
                let value = match encoding {
                    CertHeaderEncoding::EscapedPem => url_escape(self.cert_pem().as_bytes()),
                    CertHeaderEncoding::Rfc9440 => format!(
                        ":{}:",
                        base64::engine::general_purpose::STANDARD.encode(self.certificate_der())
                    ),
                };
                (name.clone(), value)
            }
            CertPresentation::Omitted => return Ok(request),
        };
        // Base64 and percent-escaped text are visible ASCII, always a valid header value.
        let value = HeaderValue::try_from(value).expect("base64 and URL escapes are ASCII");
        request.headers.insert(name, value);
        Ok(request)
    }
}

impl From<SigningIdentity> for Identity {
    fn from(signer: SigningIdentity) -> Self {
        let options = SignOptions {
            // Devices sign with SHA-1 and RSA; the EC keys that ACME issues go with SHA-256.
            digest: if is_rsa(signer.certificate()) {
                mdm_signature::DigestAlgorithm::Sha1
            } else {
                mdm_signature::DigestAlgorithm::Sha256
            },
            ..SignOptions::default()
        };
        Identity {
            signer: Arc::new(signer),
            options: Arc::new(options),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificate", self.certificate())
            .finish_non_exhaustive()
    }
}

fn is_rsa(cert: &IdentityCertificate) -> bool {
    const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
    let spki = cert
        .certificate()
        .tbs_certificate()
        .subject_public_key_info();
    spki.algorithm.oid.to_string() == RSA_ENCRYPTION
}

/// Percent-escapes everything but RFC 3986 unreserved characters, as nginx escapes
/// `$ssl_client_escaped_cert`.
fn url_escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 5 / 4);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

//! Shared test set-up: a CA, a SCEP service over it, and requesters.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::SystemTime;

use mdm_scep::client::{self, CertRep, PkiRequest, RequestOptions, Requester};
use mdm_scep::{
    ChallengePolicy, FileCa, IssueOptions, KeyAlgorithm, Method, PrivateKey, Scep, ScepError,
    ScepResponse, ServerOptions,
};

pub const CHALLENGE: &str = "s3cret-challenge";

/// A CA and the certificate requests are encrypted to (the CA's own, or an RA's).
pub struct Pki {
    pub ca_pem: String,
    pub ca: Arc<FileCa>,
    /// The exchange certificate (DER): recipient of requests, signer of replies.
    pub exchange_der: Vec<u8>,
}

impl Pki {
    /// An RSA-2048 CA that is its own exchange identity.
    pub fn rsa() -> Self {
        let ca_pem =
            client::test_ca_pem(KeyAlgorithm::Rsa2048, "CN=Rootstock Test CA,O=Rootstock").unwrap();
        let ca = FileCa::from_pem(&ca_pem, IssueOptions::default()).unwrap();
        let exchange_der = ca.scep_identity().unwrap().certificate_der().to_vec();
        Self {
            ca_pem,
            ca: Arc::new(ca),
            exchange_der,
        }
    }

    /// An ECDSA P-256 CA with an RSA-2048 RA it issued.
    pub fn ecdsa_with_ra() -> Self {
        Self::with_ra(KeyAlgorithm::EcP256)
    }

    /// An RSA-2048 CA with a separate RSA-2048 RA it issued (what certmonger needs).
    pub fn rsa_with_ra() -> Self {
        Self::with_ra(KeyAlgorithm::Rsa2048)
    }

    fn with_ra(algorithm: KeyAlgorithm) -> Self {
        let ca_pem = client::test_ca_pem(algorithm, "CN=Rootstock Test CA 2,O=Rootstock").unwrap();
        let ca = FileCa::from_pem(&ca_pem, IssueOptions::default()).unwrap();
        let ra_key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        let ra_der = ca
            .issue_ra_certificate(
                &ra_key,
                "CN=Rootstock Test RA,O=Rootstock",
                std::time::Duration::from_secs(86_400 * 30),
                SystemTime::now(),
            )
            .unwrap();
        let ra = mdm_scep::ScepIdentity::new(ra_der.clone(), ra_key).unwrap();
        let ca = ca.with_ra(ra);
        Self {
            ca_pem,
            ca: Arc::new(ca),
            exchange_der: ra_der,
        }
    }

    pub fn scep<P: ChallengePolicy>(
        &self,
        policy: P,
        options: ServerOptions,
    ) -> Scep<P, Arc<FileCa>> {
        Scep::new(
            self.ca.scep_identity().unwrap(),
            &self.ca.chain(),
            policy,
            self.ca.clone(),
            options,
        )
        .unwrap()
    }

    pub fn ca_cert_pem(&self) -> String {
        let end = self.ca_pem.find("-----END CERTIFICATE-----").unwrap();
        format!("{}-----END CERTIFICATE-----\n", &self.ca_pem[..end])
    }
}

/// A device: an RSA-2048 key and a self-signed certificate.
pub fn device(cn: &str) -> Requester {
    Requester::self_signed(
        PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap(),
        &format!("CN={cn},O=Rootstock Devices"),
    )
    .unwrap()
}

/// A PKCSReq from `device` for its own key with `challenge`.
pub fn pkcs_req(
    pki: &Pki,
    device: &Requester,
    cn: &str,
    challenge: Option<&str>,
    options: &RequestOptions,
) -> PkiRequest {
    let csr = client::csr(
        device.key(),
        &format!("CN={cn},O=Rootstock Devices"),
        challenge,
    )
    .unwrap();
    client::pki_request(device, &pki.exchange_der, &csr, options).unwrap()
}

/// Posts a PKIOperation to the service.
pub fn post<P: ChallengePolicy, C: mdm_scep::CertificateAuthority>(
    scep: &Scep<P, C>,
    message: &[u8],
    now: SystemTime,
) -> Result<ScepResponse, ScepError> {
    block_on(scep.handle_http(Method::Post, Some("operation=PKIOperation"), message, now))
}

/// Reads a reply as the device.
pub fn read(pki: &Pki, device: &Requester, response: &ScepResponse) -> CertRep {
    assert_eq!(response.content_type, "application/x-pki-message");
    client::read_cert_rep(&response.body, device, &pki.exchange_der).unwrap()
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A SCEP service over a test PKI, and the moves a test makes against it.
pub struct Harness<P> {
    pub pki: Pki,
    pub scep: Scep<P, Arc<FileCa>>,
}

impl Harness<mdm_scep::StaticChallenge> {
    /// An RSA CA with the static challenge [`CHALLENGE`] and default options.
    pub fn rsa() -> Self {
        Self::new(
            Pki::rsa(),
            mdm_scep::StaticChallenge::new(CHALLENGE),
            ServerOptions::default(),
        )
    }
}

impl<P: ChallengePolicy> Harness<P> {
    pub fn new(pki: Pki, policy: P, options: ServerOptions) -> Self {
        let scep = pki.scep(policy, options);
        Self { pki, scep }
    }

    /// A PKCSReq from `device` for its own key.
    pub fn request(
        &self,
        device: &Requester,
        challenge: Option<&str>,
        options: &RequestOptions,
    ) -> PkiRequest {
        pkcs_req(&self.pki, device, "device", challenge, options)
    }

    /// A PKIMessage carrying `csr` (DER) from `requester`, encrypted to this server.
    pub fn message(&self, requester: &Requester, csr: &[u8], options: &RequestOptions) -> Vec<u8> {
        client::pki_request(requester, &self.pki.exchange_der, csr, options)
            .unwrap()
            .message
    }

    /// Posts `message` now.
    pub fn send(&self, message: &[u8]) -> ScepResponse {
        self.send_at(message, SystemTime::now())
    }

    /// Posts `message` at `now`.
    pub fn send_at(&self, message: &[u8], now: SystemTime) -> ScepResponse {
        post(&self.scep, message, now).unwrap()
    }

    /// Sends `message` at `now` and expects a refusal: returns it, after checking the CertRep
    /// `device` reads carries its failInfo and answers the request.
    pub fn refused_at(
        &self,
        device: &Requester,
        message: &[u8],
        now: SystemTime,
    ) -> mdm_scep::Refusal {
        let response = self.send_at(message, now);
        let mdm_scep::Outcome::Refused(refused) = &response.outcome else {
            panic!("expected a refusal, got {:?}", response.outcome);
        };
        let rep = read(&self.pki, device, &response);
        assert_eq!(
            rep.status,
            client::CertRepStatus::Failed(refused.refusal.fail_info())
        );
        assert_eq!(rep.recipient_nonce, refused.sender_nonce);
        refused.refusal.clone()
    }

    /// [`Harness::refused_at`] now.
    pub fn refused(&self, device: &Requester, message: &[u8]) -> mdm_scep::Refusal {
        self.refused_at(device, message, SystemTime::now())
    }

    /// Sends `message` as `device` and expects a certificate: returns it (DER).
    pub fn issued(&self, device: &Requester, message: &[u8]) -> Vec<u8> {
        let response = self.send(message);
        assert!(
            matches!(response.outcome, mdm_scep::Outcome::Issued { .. }),
            "{:?}",
            response.outcome
        );
        match read(&self.pki, device, &response).status {
            client::CertRepStatus::Issued(mut certs) => certs.swap_remove(0),
            other => panic!("expected a certificate, got {other:?}"),
        }
    }

    /// Enrolls a new RSA-2048 device: the requester holding its issued certificate.
    pub fn enroll(&self, cn: &str) -> Requester {
        let dev = device(cn);
        let req = pkcs_req(
            &self.pki,
            &dev,
            cn,
            Some(CHALLENGE),
            &RequestOptions::default(),
        );
        let cert = self.issued(&dev, &req.message);
        let key = PrivateKey::from_pkcs8_der(&dev.key().to_pkcs8_der().unwrap()).unwrap();
        Requester::with_certificate(key, cert).unwrap()
    }
}

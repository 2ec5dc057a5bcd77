//! Enrolling as a device does (feature `http`): fetch the enrollment profile, obtain the
//! identity its SCEP payload describes, then start the MDM client with it.

use mdm_profiles::{EnrollmentError, SignatureError};
use mdm_scep::client::{self, CertRepStatus, RequestOptions, Requester};
use mdm_scep::{FailInfo, KeyAlgorithm, PrivateKey};
use mdm_signature::signer::SigningIdentity;

use crate::http::{DriverError, HttpDriver};
use crate::identity::{CertPresentation, Identity};
use crate::request::MdmPayload;
use crate::{Device, MdmClient};

/// Why a simulated device could not enroll from a profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollError {
    /// A URL answered with a status other than 200.
    #[error("{url} answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The profile could not be read, or its signature does not verify.
    #[error("enrollment profile: {0}")]
    Profile(#[from] SignatureError),
    /// The profile is not an enrollment profile.
    #[error("enrollment profile: {0}")]
    NotEnrollment(#[from] EnrollmentError),
    /// The identity payload is not SCEP (the simulator does not do ACME).
    #[error("the profile's identity payload is not a SCEP payload")]
    NotScep,
    /// The SCEP exchange failed on the device's side (building the request, reading the reply).
    #[error("SCEP: {0}")]
    Scep(#[from] mdm_scep::client::ClientError),
    /// The SCEP server answered GetCACert with no RSA certificate to encrypt to.
    #[error("SCEP: GetCACert gave no certificate to encrypt to")]
    NoRecipient,
    /// The SCEP server refused the request.
    #[error("SCEP: refused ({0:?})")]
    Refused(FailInfo),
    /// The SCEP server left the request pending.
    #[error("SCEP: the request is pending")]
    Pending,
    /// The issued certificate and the key could not be used as an identity.
    #[error("identity: {0}")]
    Identity(String),
}

impl HttpDriver {
    /// Enrolls `device` as a real device does: fetches the enrollment profile at `profile_url`
    /// (signed or not; a signature must verify, its signer is not checked), asks the SCEP server
    /// its payload names for an identity with the payload's challenge (an RSA-2048 key, the
    /// device's UDID or serial number as its common name), and returns the MDM client set up
    /// from the MDM payload with that identity, enrollment queued ([`MdmClient::enroll`]: the
    /// next exchanges are Authenticate and TokenUpdate).
    pub async fn enroll_with_profile(
        &self,
        profile_url: &str,
        device: Device,
    ) -> Result<MdmClient, DriverError> {
        let profile_bytes = self.get(profile_url).await?;
        let profile = mdm_profiles::read_any_profile(&profile_bytes).map_err(EnrollError::from)?;
        let enrollment = profile.enrollment().map_err(EnrollError::from)?;
        let scep = enrollment.scep().ok_or(EnrollError::NotScep)?;
        let identity = self
            .scep_identity(&scep.url, scep.challenge.as_deref(), &device)
            .await?;
        let mdm = enrollment.mdm;
        let mut payload = MdmPayload::new(mdm.server_url.as_str(), mdm.topic.as_str());
        if let Some(check_in) = &mdm.check_in_url {
            payload = payload.with_check_in_url(check_in.as_str());
        }
        let mut client =
            MdmClient::new(device, payload).with_identity(identity, CertPresentation::MdmSignature);
        client.enroll();
        Ok(client)
    }

    /// Obtains an identity from the SCEP server at `scep_url` as a device does: GetCACert,
    /// then a PKCSReq for a new RSA-2048 key named by the device's UDID (or serial number),
    /// carrying `challenge`.
    pub async fn scep_identity(
        &self,
        scep_url: &str,
        challenge: Option<&str>,
        device: &Device,
    ) -> Result<Identity, DriverError> {
        let separator = if scep_url.contains('?') { '&' } else { '?' };
        let ca_certs = self
            .get(&format!("{scep_url}{separator}operation=GetCACert"))
            .await?;
        // One certificate (an RSA CA), or a degenerate SignedData (CA and RA): encrypt to the
        // first RSA certificate, which signs the reply too.
        let candidates = match client::degenerate_certificates(&ca_certs) {
            Ok(certs) => certs,
            Err(_) => vec![ca_certs.clone()],
        };
        let common_name = device
            .udid
            .clone()
            .or_else(|| device.serial_number.clone())
            .unwrap_or_else(|| "simulated device".into());
        let subject = format!("CN={common_name}");
        let key = PrivateKey::generate(KeyAlgorithm::Rsa2048)
            .map_err(|e| EnrollError::Identity(format!("generating the key: {e}")))?;
        let csr = client::csr(&key, &subject, challenge).map_err(EnrollError::from)?;
        let requester = Requester::self_signed(key, &subject).map_err(EnrollError::from)?;
        let (recipient, request) = candidates
            .iter()
            .find_map(|cert| {
                client::pki_request(&requester, cert, &csr, &RequestOptions::default())
                    .ok()
                    .map(|request| (cert, request))
            })
            .ok_or(EnrollError::NoRecipient)?;
        let reply = self
            .post(
                &format!("{scep_url}{separator}operation=PKIOperation"),
                request.message,
            )
            .await?;
        let cert_rep =
            client::read_cert_rep(&reply, &requester, recipient).map_err(EnrollError::from)?;
        let cert = match cert_rep.status {
            CertRepStatus::Issued(certs) => certs
                .into_iter()
                .next()
                .ok_or_else(|| EnrollError::Identity("the CertRep holds no certificate".into()))?,
            CertRepStatus::Failed(fail_info) => return Err(EnrollError::Refused(fail_info).into()),
            CertRepStatus::Pending => return Err(EnrollError::Pending.into()),
            _ => return Err(EnrollError::Identity("an unknown CertRep status".into()).into()),
        };
        let key = requester
            .key()
            .to_pkcs8_der()
            .map_err(|e| EnrollError::Identity(e.to_string()))?;
        let signer = SigningIdentity::from_der(cert, key)
            .map_err(|e| EnrollError::Identity(e.to_string()))?;
        Ok(Identity::from(signer))
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, DriverError> {
        self.fetch(self.http.get(url), url).await
    }

    async fn post(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, DriverError> {
        let request = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/x-pki-message")
            .body(body);
        self.fetch(request, url).await
    }

    async fn fetch(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<Vec<u8>, DriverError> {
        let transport = |source| DriverError::Transport {
            url: url.to_owned(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        if status != 200 {
            return Err(EnrollError::Status {
                url: url.to_owned(),
                status,
            }
            .into());
        }
        Ok(body.to_vec())
    }
}

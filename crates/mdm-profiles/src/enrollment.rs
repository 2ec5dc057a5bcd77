//! Enrollment profiles: the MDM payload (`com.apple.mdm`), the identity payload it names (SCEP
//! or ACME), and the CA certificates the device should trust — and reading them back, as a
//! device does before it enrolls.

use crate::mdm::{Mdm, ServerCapabilitiesItems};
use crate::security_acme::SecurityAcme;
use crate::security_root::SecurityRoot;
use crate::security_scep::{self, SecurityScep};
use crate::{AnyPayload, Payload, Profile};

/// Every access right of the MDM payload's `AccessRights` (bits 1 to 4096).
pub const ALL_ACCESS_RIGHTS: i64 = 8191;

/// Why an enrollment profile could not be built, or a profile is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentError {
    /// The topic does not start with `com.apple.mgmt.` (the push certificate's UID does).
    #[error("the topic {0:?} does not start with \"com.apple.mgmt.\"")]
    Topic(String),
    /// A URL is empty or not http(s).
    #[error("{key} {url:?} is not an http(s) URL")]
    Url {
        /// `ServerURL`, `CheckInURL` or the SCEP `URL`.
        key: &'static str,
        /// The value.
        url: String,
    },
    /// `AccessRights` is 0, or sets a right without the one it depends on (2 without 1, 128
    /// without 64), or sets bits Apple does not define.
    #[error("AccessRights {0} is not a valid combination")]
    AccessRights(i64),
    /// The profile has no `com.apple.mdm` payload.
    #[error("the profile has no com.apple.mdm payload")]
    NoMdmPayload,
    /// No payload has the UUID the MDM payload's `IdentityCertificateUUID` names.
    #[error("no payload has the identity UUID {0}")]
    NoIdentityPayload(String),
}

/// The identity the device obtains for MDM.
#[derive(Clone, Debug, PartialEq)]
pub enum IdentityPayload {
    /// A SCEP payload (`com.apple.security.scep`): the device gets its identity from a SCEP
    /// server.
    Scep(SecurityScep),
    /// An ACME payload (`com.apple.security.acme`), possibly hardware-bound and attested.
    Acme(SecurityAcme),
}

impl IdentityPayload {
    /// A SCEP payload for `url` with `challenge`: a 2048-bit RSA key for signing and
    /// encryption, the subject `CN=<common_name>`.
    pub fn scep(url: impl Into<String>, challenge: impl Into<String>, common_name: &str) -> Self {
        let mut content = security_scep::PayloadContent::new(url.into());
        content.challenge = Some(challenge.into());
        content.keysize = Some(2048);
        content.key_type = Some("RSA".into());
        // 1 (signing) | 4 (encryption): the identity signs check-ins and decrypts profiles.
        content.key_usage = Some(5);
        content.subject = Some(vec![vec![vec!["CN".into(), common_name.into()]]]);
        Self::Scep(SecurityScep {
            payload_content: content,
        })
    }

    fn into_payload(self) -> AnyPayload {
        match self {
            Self::Scep(p) => p.into(),
            Self::Acme(p) => p.into(),
        }
    }
}

/// Builds an enrollment profile: the MDM payload, its identity payload and CA certificates.
///
/// ```
/// use mdm_profiles::{EnrollmentProfileBuilder, IdentityPayload};
///
/// let profile = EnrollmentProfileBuilder::new(
///     "com.example.enroll",
///     "https://mdm.example.com/mdm",
///     "com.apple.mgmt.External.2f8b5e8a-5f0c-4bd7-9e61-52a0f3b2d9a1",
///     IdentityPayload::scep("https://mdm.example.com/scep", "secret", "MDM identity"),
/// )
/// .check_in_url("https://mdm.example.com/checkin")
/// .build()
/// .unwrap();
/// let enrollment = profile.enrollment().unwrap();
/// assert_eq!(enrollment.mdm.server_url, "https://mdm.example.com/mdm");
/// assert_eq!(enrollment.scep().unwrap().challenge.as_deref(), Some("secret"));
/// ```
#[derive(Clone, Debug)]
pub struct EnrollmentProfileBuilder {
    identifier: String,
    display_name: String,
    organization: Option<String>,
    mdm: Mdm,
    identity: IdentityPayload,
    ca_certificates: Vec<Vec<u8>>,
}

impl EnrollmentProfileBuilder {
    /// A profile `identifier` enrolling into `server_url` with push `topic`, its identity
    /// from `identity`. Defaults: messages signed (`SignMessage`), every access right,
    /// `CheckOutWhenRemoved`, and the server capabilities `per-user-connections` and
    /// `bootstraptoken`.
    pub fn new(
        identifier: impl Into<String>,
        server_url: impl Into<String>,
        topic: impl Into<String>,
        identity: IdentityPayload,
    ) -> Self {
        let mut mdm = Mdm::new(String::new(), topic.into(), server_url.into());
        mdm.sign_message = Some(true);
        mdm.access_rights = Some(ALL_ACCESS_RIGHTS);
        mdm.check_out_when_removed = Some(true);
        mdm.server_capabilities = Some(vec![
            ServerCapabilitiesItems::ComAppleMdmPerUserConnections,
            ServerCapabilitiesItems::ComAppleMdmBootstraptoken,
        ]);
        Self {
            identifier: identifier.into(),
            display_name: "MDM enrollment".into(),
            organization: None,
            mdm,
            identity,
            ca_certificates: Vec::new(),
        }
    }

    /// Sets `CheckInURL` (check-ins go to `ServerURL` without it).
    pub fn check_in_url(mut self, url: impl Into<String>) -> Self {
        self.mdm.check_in_url = Some(url.into());
        self
    }

    /// Sets `SignMessage`: whether every request carries an `Mdm-Signature` header.
    pub fn sign_message(mut self, sign: bool) -> Self {
        self.mdm.sign_message = Some(sign);
        self
    }

    /// Sets `AccessRights` (a logical OR of the rights; see [`ALL_ACCESS_RIGHTS`]).
    pub fn access_rights(mut self, rights: i64) -> Self {
        self.mdm.access_rights = Some(rights);
        self
    }

    /// Sets `CheckOutWhenRemoved`: whether the device sends CheckOut when the profile goes.
    pub fn check_out_when_removed(mut self, check_out: bool) -> Self {
        self.mdm.check_out_when_removed = Some(check_out);
        self
    }

    /// Sets `ServerCapabilities`.
    pub fn server_capabilities(mut self, capabilities: Vec<ServerCapabilitiesItems>) -> Self {
        self.mdm.server_capabilities = Some(capabilities);
        self
    }

    /// Sets `UseDevelopmentAPNS` (macOS): push through Apple's development gateway.
    pub fn use_development_apns(mut self, development: bool) -> Self {
        self.mdm.use_development_apns = Some(development);
        self
    }

    /// Sets the profile's display name (default "MDM enrollment").
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = name.into();
        self
    }

    /// Sets the profile's organization.
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// Adds a CA certificate (DER) for the device to trust (`com.apple.security.root`): the
    /// server's TLS root when it is private, the SCEP CA.
    pub fn ca_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.ca_certificates.push(der.into());
        self
    }

    /// Any other change to the MDM payload (pinning, `ManagedAppleID`, `EnrollmentMode` …).
    pub fn mdm(mut self, edit: impl FnOnce(&mut Mdm)) -> Self {
        edit(&mut self.mdm);
        self
    }

    /// The profile: CA certificates first, then the identity, then the MDM payload naming it
    /// (devices install payloads in order, and the MDM payload needs its identity).
    pub fn build(self) -> Result<Profile, EnrollmentError> {
        let Self {
            identifier,
            display_name,
            organization,
            mut mdm,
            identity,
            ca_certificates,
        } = self;
        if !mdm.topic.starts_with("com.apple.mgmt.") {
            return Err(EnrollmentError::Topic(mdm.topic));
        }
        check_url("ServerURL", &mdm.server_url)?;
        if let Some(url) = &mdm.check_in_url {
            check_url("CheckInURL", url)?;
        }
        if let IdentityPayload::Scep(scep) = &identity {
            check_url("URL", &scep.payload_content.url)?;
        }
        if let Some(rights) = mdm.access_rights {
            let valid = rights > 0
                && rights & !ALL_ACCESS_RIGHTS == 0
                && (rights & 2 == 0 || rights & 1 != 0)
                && (rights & 128 == 0 || rights & 64 != 0);
            if !valid {
                return Err(EnrollmentError::AccessRights(rights));
            }
        }
        let mut profile = Profile::new(identifier.clone());
        profile.display_name = Some(display_name);
        profile.organization = organization;
        for (i, der) in ca_certificates.into_iter().enumerate() {
            profile.payloads.push(
                Payload::new(
                    format!("{identifier}.ca{}", i.saturating_add(1)),
                    SecurityRoot::new(der),
                )
                .with_display_name("CA certificate"),
            );
        }
        let identity = Payload::new(format!("{identifier}.identity"), identity.into_payload())
            .with_display_name("MDM identity");
        mdm.identity_certificate_uuid = identity.uuid.clone();
        profile.payloads.push(identity);
        profile
            .payloads
            .push(Payload::new(format!("{identifier}.mdm"), mdm).with_display_name("MDM"));
        Ok(profile)
    }
}

fn check_url(key: &'static str, url: &str) -> Result<(), EnrollmentError> {
    // Devices require https; http is allowed for local development servers and simulators.
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match host {
        Some(rest) if !rest.is_empty() => Ok(()),
        _ => Err(EnrollmentError::Url {
            key,
            url: url.to_owned(),
        }),
    }
}

/// What a device reads from an enrollment profile.
#[derive(Clone, Copy, Debug)]
pub struct Enrollment<'a> {
    /// The MDM payload.
    pub mdm: &'a Mdm,
    /// The identity payload it names.
    pub identity: &'a Payload,
    /// The whole profile.
    pub profile: &'a Profile,
}

impl<'a> Enrollment<'a> {
    /// The SCEP settings, when the identity comes by SCEP.
    pub fn scep(&self) -> Option<&'a security_scep::PayloadContent> {
        match &self.identity.content {
            AnyPayload::SecurityScep(scep) => Some(&scep.payload_content),
            _ => None,
        }
    }

    /// The ACME settings, when the identity comes by ACME.
    pub fn acme(&self) -> Option<&'a SecurityAcme> {
        match &self.identity.content {
            AnyPayload::SecurityAcme(acme) => Some(acme),
            _ => None,
        }
    }

    /// The DER of every CA certificate payload of the profile.
    pub fn ca_certificates(&self) -> impl Iterator<Item = &'a [u8]> {
        self.profile
            .payloads
            .iter()
            .filter_map(|p| match &p.content {
                AnyPayload::SecurityRoot(root) => Some(root.payload_content.as_slice()),
                _ => None,
            })
    }
}

impl Profile {
    /// The MDM payload and the identity payload it names, as a device reads them to enroll.
    pub fn enrollment(&self) -> Result<Enrollment<'_>, EnrollmentError> {
        let mdm = self
            .payloads
            .iter()
            .find_map(|p| match &p.content {
                AnyPayload::Mdm(mdm) => Some(mdm),
                _ => None,
            })
            .ok_or(EnrollmentError::NoMdmPayload)?;
        let identity = self
            .payloads
            .iter()
            .find(|p| p.uuid == mdm.identity_certificate_uuid)
            .ok_or_else(|| {
                EnrollmentError::NoIdentityPayload(mdm.identity_certificate_uuid.clone())
            })?;
        Ok(Enrollment {
            mdm,
            identity,
            profile: self,
        })
    }
}

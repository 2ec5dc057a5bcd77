//! Property lists the server sends back to check-ins.

use serde::Serialize;

use crate::Secret;

fn to_xml<T: Serialize>(value: &T) -> Vec<u8> {
    let mut xml = Vec::new();
    // The responses are this module's structs of strings, data and booleans written to memory:
    // no I/O and no value XML cannot carry, so serializing cannot fail.
    #[allow(clippy::expect_used)]
    plist::to_writer_xml(&mut xml, value)
        .expect("serializing a plain struct to memory cannot fail");
    xml
}

/// The answer to `GetBootstrapToken`: `{BootstrapToken: <data>}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BootstrapToken {
    /// The escrowed token.
    #[serde(rename = "BootstrapToken")]
    pub bootstrap_token: Secret<Vec<u8>>,
}

impl BootstrapToken {
    /// The answer carrying `bootstrap_token`.
    pub fn new(bootstrap_token: Secret<Vec<u8>>) -> Self {
        BootstrapToken { bootstrap_token }
    }

    /// The response body, as an XML property list.
    pub fn to_xml(&self) -> Vec<u8> {
        to_xml(self)
    }
}

/// The answer to `GetToken`: `{TokenData: <data>}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GetTokenResponse {
    /// The token for the requested service.
    #[serde(rename = "TokenData")]
    pub token_data: Secret<Vec<u8>>,
}

impl GetTokenResponse {
    /// The answer carrying `token_data`.
    pub fn new(token_data: Secret<Vec<u8>>) -> Self {
        GetTokenResponse { token_data }
    }

    /// The response body, as an XML property list.
    pub fn to_xml(&self) -> Vec<u8> {
        to_xml(self)
    }
}

/// The answer to `ReturnToService`: `{ReturnToService: {Enabled, …}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReturnToServiceResponse {
    /// `Enabled`: erase and re-enroll automatically.
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    /// `WiFiProfileData`: the Wi-Fi profile to install after erasure.
    #[serde(
        rename = "WiFiProfileData",
        with = "serde_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub wifi_profile_data: Option<Vec<u8>>,
    /// `MDMProfileData`: the MDM profile to install after erasure.
    #[serde(
        rename = "MDMProfileData",
        with = "serde_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub mdm_profile_data: Option<Vec<u8>>,
    /// `BootstrapToken`: for Return to Service with app preservation.
    #[serde(rename = "BootstrapToken", skip_serializing_if = "Option::is_none")]
    pub bootstrap_token: Option<Secret<Vec<u8>>>,
}

impl ReturnToServiceResponse {
    /// The response body, as an XML property list.
    pub fn to_xml(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            #[serde(rename = "ReturnToService")]
            return_to_service: &'a ReturnToServiceResponse,
        }
        to_xml(&Envelope {
            return_to_service: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plist::Value;

    fn parse(xml: &[u8]) -> plist::Dictionary {
        Value::from_reader_xml(xml)
            .unwrap()
            .into_dictionary()
            .unwrap()
    }

    #[test]
    fn responses_encode_data_as_data() {
        let d = parse(
            &BootstrapToken {
                bootstrap_token: Secret::new(b"tok".to_vec()),
            }
            .to_xml(),
        );
        assert_eq!(d.get("BootstrapToken"), Some(&Value::Data(b"tok".to_vec())));
        let d = parse(
            &GetTokenResponse {
                token_data: Secret::new(vec![1, 2]),
            }
            .to_xml(),
        );
        assert_eq!(d.get("TokenData"), Some(&Value::Data(vec![1, 2])));
    }

    #[test]
    fn return_to_service_omits_absent_keys() {
        let rts = ReturnToServiceResponse {
            enabled: true,
            wifi_profile_data: Some(b"wifi".to_vec()),
            ..Default::default()
        };
        let d = parse(&rts.to_xml());
        let inner = d.get("ReturnToService").unwrap().as_dictionary().unwrap();
        assert_eq!(inner.get("Enabled"), Some(&Value::Boolean(true)));
        assert_eq!(
            inner.get("WiFiProfileData"),
            Some(&Value::Data(b"wifi".to_vec()))
        );
        assert!(inner.get("MDMProfileData").is_none());
        assert!(inner.get("BootstrapToken").is_none());
    }
}

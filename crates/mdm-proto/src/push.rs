/// What APNs needs to wake one enrollment: the device token, the push magic the device expects in
/// the notification, and the topic of the MDM push certificate.
///
/// The token and push magic let anyone holding the push certificate wake the device, so `Debug`
/// shows only the topic.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushInfo {
    /// The APNs device token (binary; sent to APNs as lowercase hex).
    pub token: Vec<u8>,
    /// The `PushMagic` string the device sent in its TokenUpdate.
    pub push_magic: String,
    /// The push topic (`com.apple.mgmt.External.<uuid>`).
    pub topic: String,
}

impl std::fmt::Debug for PushInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushInfo")
            .field("token", &format_args!("[redacted]"))
            .field("push_magic", &format_args!("[redacted]"))
            .field("topic", &self.topic)
            .finish()
    }
}

impl PushInfo {
    /// Push info from a TokenUpdate's `Token`, `PushMagic` and `Topic`.
    pub fn new(token: Vec<u8>, push_magic: impl Into<String>, topic: impl Into<String>) -> Self {
        PushInfo {
            token,
            push_magic: push_magic.into(),
            topic: topic.into(),
        }
    }

    /// The device token as lowercase hex, as it appears in the APNs request path.
    pub fn token_hex(&self) -> String {
        hex::encode(&self.token)
    }

    /// Decodes a device token from hex (either case), as NanoMDM's databases store it.
    pub fn token_from_hex(token: &str) -> Result<Vec<u8>, hex::FromHexError> {
        hex::decode(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hex_round_trips_and_is_lowercase() {
        let info = PushInfo {
            token: vec![0xDE, 0xAD, 0x00, 0xBE, 0xEF],
            push_magic: "magic".into(),
            topic: "com.apple.mgmt.External.x".into(),
        };
        assert_eq!(info.token_hex(), "dead00beef");
        assert_eq!(PushInfo::token_from_hex("DEAD00BEEF").unwrap(), info.token);
        assert!(PushInfo::token_from_hex("xyz").is_err());
        let debug = format!("{info:?}");
        assert!(
            !debug.contains("\"magic\"") && !debug.contains("222"),
            "{debug}"
        );
        assert!(debug.contains("com.apple.mgmt.External.x"), "{debug}");
    }
}

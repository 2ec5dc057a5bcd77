/// What APNs needs to wake one enrollment: the device token, the push magic the device expects in
/// the notification, and the topic of the MDM push certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushInfo {
    /// The APNs device token (binary; sent to APNs as lowercase hex).
    pub token: Vec<u8>,
    /// The `PushMagic` string the device sent in its TokenUpdate.
    pub push_magic: String,
    /// The push topic (`com.apple.mgmt.External.<uuid>`).
    pub topic: String,
}

impl PushInfo {
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
    }
}

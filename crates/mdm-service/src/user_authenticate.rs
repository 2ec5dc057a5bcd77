/// How the service answers `UserAuthenticate` (macOS user channels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserAuthenticatePolicy {
    /// Decline management of the user: the first message gets 410 Gone and nothing is stored.
    /// NanoMDM's default.
    #[default]
    Decline,
    /// Answer the first message with a zero-length `DigestChallenge`, accepting the user without
    /// a real challenge; every message is stored. NanoMDM's `-ua-zl-dc`.
    ZeroLengthDigestChallenge,
}

/// The answer to a UserAuthenticate without `DigestResponse` under
/// [`UserAuthenticatePolicy::ZeroLengthDigestChallenge`], byte for byte as NanoMDM sends it.
pub(crate) const ZERO_LENGTH_DIGEST_CHALLENGE: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">
<plist version=\"1.0\">
<dict>
\t<key>DigestChallenge</key>
\t<string></string>
</dict>
</plist>";

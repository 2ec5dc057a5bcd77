//! PEM blocks (RFC 7468): a file may hold several (a CA certificate and its key, a chain).

use base64::Engine;

use crate::error::PemError;

/// One decoded PEM block.
pub(crate) struct PemBlock {
    /// The label between `-----BEGIN ` and `-----`.
    pub(crate) label: String,
    /// The decoded contents.
    pub(crate) der: Vec<u8>,
}

/// The PEM blocks of `text`, in order; text around and between them is ignored.
pub(crate) fn blocks(text: &str) -> impl Iterator<Item = Result<PemBlock, PemError>> + '_ {
    let mut rest = text;
    std::iter::from_fn(move || {
        let (_, after) = rest.split_once("-----BEGIN ")?;
        let Some((label, body)) = after.split_once("-----") else {
            rest = "";
            return Some(Err(PemError::Unterminated));
        };
        let label = label.to_owned();
        let end_marker = format!("-----END {label}-----");
        let Some((encoded, after_end)) = body.split_once(end_marker.as_str()) else {
            rest = "";
            return Some(Err(PemError::Unterminated));
        };
        let encoded: String = encoded
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        rest = after_end;
        if encoded.contains(':') {
            // RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`): an encrypted legacy key.
            return Some(Err(PemError::Headers));
        }
        Some(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map(|der| PemBlock { label, der })
                .map_err(|_| PemError::Base64),
        )
    })
}

/// Encodes `der` as a PEM block with 64-character lines.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_several_blocks_and_skips_text() {
        let text = format!(
            "Bag Attributes\n{}junk\n{}",
            encode("CERTIFICATE", b"\x30\x00"),
            encode("PRIVATE KEY", b"\x30\x01\x00")
        );
        let got: Vec<_> = blocks(&text).map(Result::unwrap).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].label, "CERTIFICATE");
        assert_eq!(got[1].der, b"\x30\x01\x00");
    }

    #[test]
    fn unterminated_and_bad_base64_are_errors() {
        assert!(matches!(
            blocks("-----BEGIN X-----\nAAAA\n").next(),
            Some(Err(PemError::Unterminated))
        ));
        assert!(matches!(
            blocks("-----BEGIN X-----\n!!!!\n-----END X-----\n").next(),
            Some(Err(PemError::Base64))
        ));
    }
}

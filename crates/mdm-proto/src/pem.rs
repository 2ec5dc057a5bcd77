//! PEM, the one reader and writer the workspace uses: certificates from proxy headers and CA
//! files, push certificates and keys from the API and the database.
//!
//! Lenient where proxies and other servers mangle PEM: the armor's label may separate words with
//! `+` (form-style escaping of a space, as Go's `url.QueryEscape` and some proxies produce),
//! blocks may be glued with no newline between them, and the base64 body may have any ASCII
//! whitespace, or none, between its characters. Strict where it matters: the body must be valid
//! base64 and the END label must match the BEGIN label. Text between blocks is skipped. Every
//! slice is taken with `get`/`split_at_checked`, so hostile input is an error, never a panic.
//!
//! (`rustls-pki-types` has a PEM reader too, but it reads line by line and refuses what real
//! inputs hold: a BEGIN line glued to the previous END line, `+` in the armor.)
//!
//! ```
//! let pem = mdm_proto::pem::encode("CERTIFICATE", &[1, 2, 3]);
//! let blocks: Vec<_> = mdm_proto::pem::blocks(pem.as_bytes()).collect::<Result<_, _>>().unwrap();
//! assert_eq!((blocks[0].label.as_str(), blocks[0].der.as_slice()), ("CERTIFICATE", &[1, 2, 3][..]));
//! ```

use base64::Engine;

const BEGIN: &[u8] = b"-----BEGIN";
const DASHES: &[u8] = b"-----";

/// A base64 engine for PEM bodies: standard alphabet, padding optional, trailing bits ignored
/// (as Go's `encoding/base64` does).
pub const LENIENT_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why PEM text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// A BEGIN line without its closing dashes.
    #[error("PEM BEGIN line is not closed by -----")]
    UnclosedBegin,
    /// A block without its END line.
    #[error("PEM block has no -----END {label}----- line")]
    MissingEnd {
        /// The block's label.
        label: String,
    },
    /// A block whose body is not base64.
    #[error("PEM block {label}: {error}")]
    Base64 {
        /// The block's label.
        label: String,
        /// What is wrong with the body.
        error: base64::DecodeError,
    },
}

/// One PEM block as it stands in the text: its label (words joined by single spaces), the whole
/// block from `-----BEGIN` to the END line's dashes, and its body (base64, maybe with headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<'a> {
    /// The label, e.g. `CERTIFICATE` or `RSA PRIVATE KEY`.
    pub label: String,
    /// The whole block, armor included.
    pub text: &'a [u8],
    /// What is between the armor lines.
    pub body: &'a [u8],
}

impl Section<'_> {
    /// The body, base64-decoded: whitespace and RFC 1421 header lines (`Name: value`, as OpenSSL
    /// writes before a legacy encrypted key) are skipped.
    pub fn decode(&self) -> Result<Vec<u8>, PemError> {
        let cleaned: Vec<u8> = self
            .body
            .split(|&b| b == b'\n')
            .filter(|line| !line.contains(&b':'))
            .flatten()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        LENIENT_BASE64
            .decode(&cleaned)
            .map_err(|error| PemError::Base64 {
                label: self.label.clone(),
                error,
            })
    }
}

impl Section<'_> {
    /// Whether the block holds an encrypted key: `ENCRYPTED PRIVATE KEY` (PKCS#8), or a legacy
    /// key with a `Proc-Type: 4,ENCRYPTED` header. Its body is ciphertext.
    pub fn is_encrypted(&self) -> bool {
        self.label.starts_with("ENCRYPTED")
            || self.body.split(|&b| b == b'\n').any(|line| {
                let line = String::from_utf8_lossy(line);
                line.split_once(':').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("Proc-Type") && value.contains("ENCRYPTED")
                })
            })
    }
}

/// One decoded PEM block: its label and its DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label, e.g. `CERTIFICATE`.
    pub label: String,
    /// The decoded body.
    pub der: Vec<u8>,
}

/// Iterates over the PEM blocks of `input` as they stand (undecoded), skipping any text between
/// them.
pub fn sections(input: &[u8]) -> impl Iterator<Item = Result<Section<'_>, PemError>> + '_ {
    let mut rest = input;
    std::iter::from_fn(move || {
        let start_len = rest.len();
        let (before, after_begin) = split_once(rest, BEGIN)?;
        let Some((raw_label, body_start)) = split_once(after_begin, DASHES) else {
            rest = &[];
            return Some(Err(PemError::UnclosedBegin));
        };
        let label = normalize_label(raw_label);
        let Some((body, after_end)) = find_end(body_start, &label) else {
            rest = &[];
            return Some(Err(PemError::MissingEnd { label }));
        };
        // The block is what lies between its BEGIN and the end of its END line's dashes.
        let block_start = before.len();
        let block_len = start_len
            .saturating_sub(after_end.len())
            .saturating_sub(block_start);
        let text = rest
            .get(block_start..)
            .and_then(|from| from.get(..block_len))
            .unwrap_or_default();
        rest = after_end;
        Some(Ok(Section { label, text, body }))
    })
}

/// Iterates over the decoded PEM blocks of `input`, skipping any text between them.
pub fn blocks(input: &[u8]) -> impl Iterator<Item = Result<Block, PemError>> + '_ {
    sections(input).map(|section| {
        let section = section?;
        let der = section.decode()?;
        Ok(Block {
            label: section.label,
            der,
        })
    })
}

/// Iterates over the DER of the `CERTIFICATE` blocks (other blocks are skipped).
pub fn certificates(input: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, PemError>> + '_ {
    blocks(input).filter_map(|block| match block {
        Ok(Block { label, der }) if label == "CERTIFICATE" => Some(Ok(der)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    })
}

/// Encodes DER as PEM with 64-column lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        // `windows(0)` would panic; an empty needle is found at once.
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Splits `haystack` around the first `needle`: what comes before it and what comes after it.
fn split_once<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let (before, from) = haystack.split_at_checked(find(haystack, needle)?)?;
    Some((before, from.get(needle.len()..)?))
}

/// `" CERTIFICATE"`, `"+CERTIFICATE"`, `" RSA PRIVATE KEY"` → words joined by one space.
fn normalize_label(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .split(|c: char| c == '+' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Finds `-----END <label>-----` (label words separated by spaces or `+`), returning the body
/// before it and the input after it.
fn find_end<'a>(input: &'a [u8], label: &str) -> Option<(&'a [u8], &'a [u8])> {
    const END: &[u8] = b"-----END";
    // `from` is at most one past a match inside the input; every slice is taken with `get`.
    let mut from = 0usize;
    while let Some(pos) = find(input.get(from..)?, END) {
        let at = from.checked_add(pos)?;
        let (body, marker) = input.split_at_checked(at)?;
        let after = marker.get(END.len()..)?;
        if let Some((raw_label, after_marker)) = split_once(after, DASHES)
            && normalize_label(raw_label) == label
        {
            return Some((body, after_marker));
        }
        from = at.checked_add(1)?;
    }
    None
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn encodes_64_column_lines_in_a_frame_that_reads_back() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = encode("CERTIFICATE", &der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        let body = &lines[1..lines.len() - 1];
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
        assert!(pem.ends_with("-----\n"));
        assert_eq!(certificates(pem.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap(), [der]);
    }

    #[test]
    fn reads_blocks_with_plus_armor_and_odd_whitespace() {
        let input = b"junk\n-----BEGIN+CERTIFICATE-----\nAQID\r\nBA==\n-----END+CERTIFICATE-----\n\
                      -----BEGIN PRIVATE KEY-----\t/w==-----END PRIVATE KEY-----";
        let blocks: Vec<_> = blocks(input).collect::<Result<_, _>>().unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der, [1, 2, 3, 4]);
        assert_eq!(blocks[1].label, "PRIVATE KEY");
        assert_eq!(blocks[1].der, [0xff]);
        let certs: Vec<_> = certificates(input).collect::<Result<_, _>>().unwrap();
        assert_eq!(certs, vec![vec![1, 2, 3, 4]]);
    }

    #[test]
    fn rejects_unclosed_and_bad_base64() {
        assert!(
            blocks(b"-----BEGIN CERTIFICATE-----AQID")
                .next()
                .unwrap()
                .is_err()
        );
        assert!(
            blocks(b"-----BEGIN CERTIFICATE-----A*ID-----END CERTIFICATE-----")
                .next()
                .unwrap()
                .is_err()
        );
        assert!(blocks(b"no pem here").next().is_none());
    }

    #[test]
    fn sections_keep_the_block_text_and_glued_blocks_split() {
        let input = b"junk -----BEGIN A-----\nQQ==\n-----END A----------BEGIN B-----Qg==-----END B----- tail";
        let sections: Vec<_> = sections(input).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            sections[0].text,
            b"-----BEGIN A-----\nQQ==\n-----END A-----"
        );
        assert_eq!(sections[1].text, b"-----BEGIN B-----Qg==-----END B-----");
        assert_eq!(sections[1].decode().unwrap(), b"B");
    }

    #[test]
    fn round_trip() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(certificates(pem.as_bytes()).next().unwrap().unwrap(), der);
    }
}

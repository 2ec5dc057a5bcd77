//! A lenient PEM reader for certificates, and a PEM writer.
//!
//! Lenient where proxies mangle PEM: the armor's label may separate words with `+` (form-style
//! escaping of a space, as Go's `url.QueryEscape` and some proxies produce), and the base64 body
//! may have any ASCII whitespace, or none, between its characters. Strict where it matters: the
//! body must be valid base64 and the END label must match the BEGIN label.

use base64::Engine;

use crate::{Error, HeaderError};

const BEGIN: &[u8] = b"-----BEGIN";
const DASHES: &[u8] = b"-----";

/// A base64 engine for PEM bodies and headers: standard alphabet, padding optional, trailing
/// bits ignored (as Go's `encoding/base64` does).
pub(crate) const LENIENT_BASE64: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );

/// One PEM block: its label (words joined by single spaces) and its decoded body.
pub(crate) struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// Iterates over the PEM blocks of `input`, skipping any text between them.
pub(crate) fn blocks(input: &[u8]) -> impl Iterator<Item = Result<Block, Error>> + '_ {
    let mut rest = input;
    std::iter::from_fn(move || {
        let (_, after_begin) = split_once(rest, BEGIN)?;
        let Some((raw_label, body_start)) = split_once(after_begin, DASHES) else {
            rest = &[];
            return Some(Err(Error::CertificateHeader(HeaderError::UnclosedBegin)));
        };
        let label = normalize_label(raw_label);
        let Some((body, after_end)) = find_end(body_start, &label) else {
            rest = &[];
            return Some(Err(Error::CertificateHeader(HeaderError::MissingEnd {
                label,
            })));
        };
        rest = after_end;
        let cleaned: Vec<u8> = body
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        Some(
            LENIENT_BASE64
                .decode(&cleaned)
                .map(|der| Block { label, der })
                .map_err(Error::Base64),
        )
    })
}

/// Iterates over the DER of the `CERTIFICATE` blocks (other blocks are skipped).
pub(crate) fn certificates(input: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, Error>> + '_ {
    blocks(input).filter_map(|block| match block {
        Ok(Block { label, der }) if label == "CERTIFICATE" => Some(Ok(der)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    })
}

/// Encodes DER as PEM with 64-column lines.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
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
    fn round_trip() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(certificates(pem.as_bytes()).next().unwrap().unwrap(), der);
    }
}

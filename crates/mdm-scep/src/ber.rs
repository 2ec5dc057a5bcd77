//! One BER form `der` 0.8 does not read: a constructed string with a *definite* length (it reads
//! the indefinite-length form only, see RustCrypto/formats#779). Go's `pkcs7` package — so
//! micromdm's `scepclient` and every Go SCEP client — writes the encrypted content of an
//! EnvelopedData that way, in 1 KiB chunks.
//!
//! [`indefinite_constructed`] rewrites every constructed element that holds (or contains) such
//! chunks into the indefinite-length form, which means the same thing in BER. Only length forms
//! change: tags and contents are copied as they are, and nothing is re-sorted. The decoders call
//! it only after `der` has refused an input as non-canonical, so well-formed DER never takes
//! this path.

/// Nesting deeper than this is refused (no CMS structure comes near it).
const MAX_DEPTH: usize = 32;

struct Header {
    /// The tag octets.
    tag_len: usize,
    constructed: bool,
    /// `None` for the indefinite form.
    len: Option<usize>,
    /// Tag and length octets.
    header_len: usize,
}

fn header(input: &[u8]) -> Option<Header> {
    let first = *input.first()?;
    let mut tag_len = 1usize;
    if first & 0x1f == 0x1f {
        loop {
            let b = *input.get(tag_len)?;
            tag_len = tag_len.checked_add(1)?;
            if b & 0x80 == 0 {
                break;
            }
            if tag_len > 5 {
                return None;
            }
        }
    }
    let l0 = *input.get(tag_len)?;
    let (len, header_len) = match l0 {
        0x80 => (None, tag_len.checked_add(1)?),
        l if l < 0x80 => (Some(usize::from(l)), tag_len.checked_add(1)?),
        l => {
            let n = usize::from(l & 0x7f);
            if n > 4 {
                return None;
            }
            let start = tag_len.checked_add(1)?;
            let bytes = input.get(start..start.checked_add(n)?)?;
            let len = bytes.iter().try_fold(0usize, |acc, &b| {
                acc.checked_mul(256)?.checked_add(usize::from(b))
            })?;
            (Some(len), start.checked_add(n)?)
        }
    };
    Some(Header {
        tag_len,
        constructed: first & 0x20 != 0,
        len,
        header_len,
    })
}

/// Rewrites `input` (one or more TLVs) so that constructed elements whose contents had to change
/// — a definite-length constructed string, or anything around one — use the indefinite form.
/// `None` when `input` is not well-formed BER.
pub(crate) fn indefinite_constructed(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len().saturating_add(64));
    let mut rest = input;
    while !rest.is_empty() {
        let used = element(rest, &mut out, 0)?;
        rest = rest.get(used..)?;
    }
    Some(out)
}

/// Copies one element of `input` into `out`, rewritten; returns the bytes it took in `input`.
fn element(input: &[u8], out: &mut Vec<u8>, depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    let h = header(input)?;
    let tag = input.get(..h.tag_len)?;
    if !h.constructed {
        let end = h.header_len.checked_add(h.len?)?;
        out.extend_from_slice(input.get(..end)?);
        return Some(end);
    }
    let mut children = Vec::new();
    let mut at = h.header_len;
    match h.len {
        Some(len) => {
            let end = at.checked_add(len)?;
            let content = input.get(at..end)?;
            let mut rest = content;
            let mut strings_only = true;
            while !rest.is_empty() {
                strings_only &= rest.first() == Some(&0x04);
                let used = element(rest, &mut children, depth.checked_add(1)?)?;
                rest = rest.get(used..)?;
            }
            if (content.is_empty() || !strings_only) && children == content {
                out.extend_from_slice(input.get(..end)?);
                return Some(end);
            }
            at = end;
        }
        None => loop {
            let rest = input.get(at..)?;
            if rest.starts_with(&[0, 0]) {
                at = at.checked_add(2)?;
                break;
            }
            let used = element(rest, &mut children, depth.checked_add(1)?)?;
            at = at.checked_add(used)?;
        },
    }
    out.extend_from_slice(tag);
    out.push(0x80);
    out.extend_from_slice(&children);
    out.extend_from_slice(&[0, 0]);
    Some(at)
}

/// Whether `e` is `der` refusing a constructed form it does not read (the cue to rewrite).
pub(crate) fn is_noncanonical(e: &der::Error) -> bool {
    matches!(e.kind(), der::ErrorKind::Noncanonical { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Decode, asn1::OctetString};

    // [0] IMPLICIT OCTET STRING, constructed, definite length, two chunks: as Go's pkcs7 writes
    // an EnvelopedData's encrypted content.
    const CHUNKED: &[u8] = &[
        0x30, 0x13, 0x80, 0x01, 0x07, 0xa0, 0x0b, 0x04, 0x03, b'a', b'b', b'c', 0x04, 0x02, b'd',
        b'e', 0x04, 0x00, 0x02, 0x01, 0x05,
    ];

    #[derive(der::Sequence)]
    struct Holder {
        #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
        first: OctetString,
        #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
        chunked: Option<OctetString>,
        n: u8,
    }

    #[test]
    fn der_refuses_definite_constructed_strings_and_the_rewrite_reads() {
        // Shows why this module exists: der 0.8 in BER mode refuses the definite form...
        let err = Holder::from_ber(CHUNKED).err().unwrap();
        assert!(is_noncanonical(&err), "{err:?}");
        // ...and reads the same value in the indefinite form.
        let fixed = indefinite_constructed(CHUNKED).unwrap();
        let h = Holder::from_ber(&fixed).unwrap();
        assert_eq!(h.first.as_bytes(), [0x07]);
        assert_eq!(h.chunked.unwrap().as_bytes(), b"abcde");
        assert_eq!(h.n, 5);
    }

    #[test]
    fn well_formed_der_is_unchanged() {
        let der = [0x30, 0x06, 0x04, 0x01, 0x00, 0x31, 0x01, 0x05];
        // `31 01 05` is a malformed (too short) SET: refused.
        assert_eq!(indefinite_constructed(&der), None);
        let der = [0x30, 0x08, 0x04, 0x01, 0x00, 0x31, 0x03, 0x02, 0x01, 0x05];
        assert_eq!(indefinite_constructed(&der).unwrap(), der);
    }

    #[test]
    fn hostile_inputs_are_refused_not_panics() {
        assert_eq!(
            indefinite_constructed(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(indefinite_constructed(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(indefinite_constructed(&[0x30, 0x80, 0x04, 0x01]), None);
        assert_eq!(
            indefinite_constructed(&[0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]),
            None
        );
        let deep: Vec<u8> = std::iter::repeat_n([0x30, 0x80], 1000).flatten().collect();
        assert_eq!(indefinite_constructed(&deep), None);
    }
}

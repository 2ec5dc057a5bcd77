//! A small BER reader and writer for the CMS envelope.
//!
//! Why not decode with `cms`/`der` types: verification needs the exact bytes that were signed or
//! hashed (each embedded certificate's DER, for the certificate hash and its issuer's signature;
//! the signed attributes in the order they were sent), and owned ASN.1 types re-encode instead.
//! Apple devices send BER with indefinite lengths, so this reader accepts both length forms and
//! hands out borrowed slices of the input. Inner values (OIDs, times, certificates) are decoded
//! with `der`/`x509-cert` from those slices.
//!
//! Limits: single-octet tags only (CMS and X.509 need no others), lengths up to 4 octets, and at
//! most [`MAX_DEPTH`] nested indefinite-length values, so hostile input cannot recurse deeply.

use crate::{Asn1Problem, Error};

/// Maximum nesting of indefinite-length values (Apple's signatures nest 5).
pub(crate) const MAX_DEPTH: usize = 32;

/// The universal and context-specific tags used here.
pub(crate) mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OCTET_STRING_CONSTRUCTED: u8 = 0x24;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[n]` constructed, context-specific.
    pub const fn context(n: u8) -> u8 {
        0xa0 | n
    }
    /// `[n]` primitive, context-specific.
    pub const fn context_primitive(n: u8) -> u8 {
        0x80 | n
    }
}

const CONSTRUCTED: u8 = 0x20;

/// One tag-length-value, borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet.
    pub tag: u8,
    /// The contents octets (for an indefinite length, without the end-of-contents octets).
    pub content: &'a [u8],
    /// The whole encoding: identifier, length, contents and any end-of-contents octets.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over this value's contents.
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(self.content)
    }

    pub fn is_constructed(&self) -> bool {
        self.tag & CONSTRUCTED != 0
    }
}

/// Reads consecutive TLVs from a slice.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next value, whatever its tag.
    pub fn read(&mut self, what: &'static str) -> Result<Tlv<'a>, Error> {
        let (tlv, len) = parse(self.rest, 0).map_err(|problem| Error::asn1(what, problem))?;
        // `parse` returns the length of a prefix of `rest` (`tlv.raw`), so this `get` never
        // fails; it is not indexed so that a bug there is an error, not a panic.
        self.rest = self
            .rest
            .get(len..)
            .ok_or_else(|| Error::asn1(what, Asn1Problem::LengthPastInput))?;
        Ok(tlv)
    }

    /// Reads the next value and checks its tag.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, Error> {
        match self.peek_tag() {
            None => Err(Error::asn1(what, Asn1Problem::UnexpectedEnd)),
            Some(found) if found != tag => Err(Error::asn1(
                what,
                Asn1Problem::WrongTag {
                    expected: tag,
                    found,
                },
            )),
            Some(_) => self.read(what),
        }
    }

    /// Reads the next value if it has this tag.
    pub fn optional(&mut self, tag: u8, what: &'static str) -> Result<Option<Tlv<'a>>, Error> {
        if self.peek_tag() == Some(tag) {
            self.read(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if anything is left.
    pub fn finish(&self, what: &'static str) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::asn1(
                what,
                Asn1Problem::TrailingData {
                    bytes: self.rest.len(),
                },
            ))
        }
    }
}

/// Parses one TLV at the start of `input`, returning it and its encoded length.
///
/// `depth` counts the indefinite-length values being scanned around this one. Every slice is
/// taken with `split_first`/`split_at_checked`/`get` and every sum is checked, so hostile lengths
/// give an error, never a panic or a wrapped number.
fn parse(input: &[u8], depth: usize) -> Result<(Tlv<'_>, usize), Asn1Problem> {
    let Some((&tag, after_tag)) = input.split_first() else {
        return Err(Asn1Problem::UnexpectedEnd);
    };
    if tag == 0 {
        return Err(Asn1Problem::UnexpectedEndOfContents);
    }
    if tag & 0x1f == 0x1f {
        return Err(Asn1Problem::HighTagNumber { tag });
    }
    let truncated = || Asn1Problem::Truncated { tag };
    // The lengths below are checked against the input before they are used; these errors are
    // for a bound that is wrong, never for input (the fuzz targets assert they are not reached).
    let too_long = || Asn1Problem::LengthPastInput;
    let Some((&first, after_first)) = after_tag.split_first() else {
        return Err(truncated());
    };
    if first == 0x80 {
        // Indefinite length: the contents run until the end-of-contents octets (00 00) at this
        // level, so nested values must be walked to find them.
        if tag & CONSTRUCTED == 0 {
            return Err(Asn1Problem::IndefinitePrimitive { tag });
        }
        if depth >= MAX_DEPTH {
            return Err(Asn1Problem::TooDeep { max: MAX_DEPTH });
        }
        // `inner` counts the contents octets walked so far; `rest` is what follows them.
        let mut inner = 0usize;
        let mut rest = after_first;
        loop {
            match rest {
                [0, 0, ..] => {
                    let (content, _) = after_first.split_at_checked(inner).ok_or_else(too_long)?;
                    // Identifier and length octet before the contents, end-of-contents after.
                    let total = inner.checked_add(4).ok_or_else(too_long)?;
                    let raw = input.get(..total).ok_or_else(too_long)?;
                    return Ok((Tlv { tag, content, raw }, total));
                }
                [_, _, ..] => {
                    // depth < MAX_DEPTH (checked above), so this adds 1 to a number below 32.
                    let (_, len) = parse(rest, depth.saturating_add(1))?;
                    rest = rest.get(len..).ok_or_else(too_long)?;
                    inner = inner.checked_add(len).ok_or_else(too_long)?;
                }
                _ => return Err(truncated()),
            }
        }
    }
    let (len, after_len) = if first < 0x80 {
        (usize::from(first), after_first)
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 {
            return Err(Asn1Problem::LengthTooLong { octets: n });
        }
        let Some((octets, after_len)) = after_first.split_at_checked(n) else {
            return Err(truncated());
        };
        let len = octets
            .iter()
            .try_fold(0usize, |acc, &b| {
                acc.checked_mul(256)?.checked_add(usize::from(b))
            })
            .ok_or(Asn1Problem::LengthTooLong { octets: n })?;
        (len, after_len)
    };
    let Some(content) = after_len.get(..len) else {
        return Err(truncated());
    };
    // The identifier and length octets are what `after_len` does not hold of `input` (a suffix
    // of it), so the subtraction cannot underflow; the sum is checked all the same.
    let end = input
        .len()
        .checked_sub(after_len.len())
        .and_then(|header_len| header_len.checked_add(len))
        .ok_or_else(too_long)?;
    let raw = input.get(..end).ok_or_else(too_long)?;
    Ok((Tlv { tag, content, raw }, end))
}

/// A readable name for a tag, for error messages.
pub(crate) fn tag_name(tag: u8) -> String {
    match tag {
        tag::INTEGER => "INTEGER".into(),
        tag::BIT_STRING => "BIT STRING".into(),
        tag::OCTET_STRING | tag::OCTET_STRING_CONSTRUCTED => "OCTET STRING".into(),
        tag::NULL => "NULL".into(),
        tag::OID => "OBJECT IDENTIFIER".into(),
        tag::UTC_TIME => "UTCTime".into(),
        tag::GENERALIZED_TIME => "GeneralizedTime".into(),
        tag::SEQUENCE => "SEQUENCE".into(),
        tag::SET => "SET".into(),
        t if t & 0xc0 == 0x80 => format!("[{}]", t & 0x1f),
        t => format!("tag 0x{t:02x}"),
    }
}

/// The bytes of an OCTET STRING, primitive or (BER) constructed of primitive segments.
pub(crate) fn octet_string<'a>(
    tlv: &Tlv<'a>,
    what: &'static str,
) -> Result<std::borrow::Cow<'a, [u8]>, Error> {
    match tlv.tag {
        tag::OCTET_STRING => Ok(std::borrow::Cow::Borrowed(tlv.content)),
        tag::OCTET_STRING_CONSTRUCTED => {
            let mut out = Vec::with_capacity(tlv.content.len());
            let mut r = tlv.reader();
            while !r.is_empty() {
                out.extend_from_slice(r.expect(tag::OCTET_STRING, what)?.content);
            }
            Ok(std::borrow::Cow::Owned(out))
        }
        found => Err(Error::asn1(
            what,
            Asn1Problem::WrongTag {
                expected: tag::OCTET_STRING,
                found,
            },
        )),
    }
}

/// Appends a DER length.
pub(crate) fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let mut significant = bytes.as_slice();
        while let [0, rest @ ..] = significant {
            significant = rest;
        }
        // At most size_of::<usize>() (8) octets, so the count fits the 7 bits it goes in.
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// Appends a definite-length TLV.
pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    write_length(out, content.len());
    out.extend_from_slice(content);
}

/// Re-encodes a value with minimal definite lengths, keeping the order of its elements and the
/// contents of its primitive values, optionally under another tag.
///
/// This is how the signed attributes are turned into the bytes the signature covers: RFC 5652
/// §5.4 signs them as a DER `SET OF`, and the signer's element order is what it signed, so the
/// order must not be changed (sorting would break signatures from signers that do not sort).
pub(crate) fn reencode(tlv: &Tlv<'_>, tag: u8, out: &mut Vec<u8>) -> Result<(), Error> {
    reencode_at(tlv, tag, out, 0)
}

fn reencode_at(tlv: &Tlv<'_>, tag: u8, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
    if !tlv.is_constructed() {
        write_tlv(out, tag, tlv.content);
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(Error::asn1(
            "signed attributes",
            Asn1Problem::TooDeep { max: MAX_DEPTH },
        ));
    }
    let mut inner = Vec::with_capacity(tlv.content.len());
    let mut r = tlv.reader();
    while !r.is_empty() {
        let child = r.read("signed attributes")?;
        // depth < MAX_DEPTH (checked above), so this adds 1 to a number below 32.
        reencode_at(&child, child.tag, &mut inner, depth.saturating_add(1))?;
    }
    write_tlv(out, tag, &inner);
    Ok(())
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
    fn definite_and_indefinite_lengths() {
        // SEQUENCE (indefinite) { INTEGER 1, SEQUENCE (indefinite) { NULL } } trailing 0xff
        let input = [
            0x30, 0x80, 0x02, 0x01, 0x01, 0x30, 0x80, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
        ];
        let mut r = Reader::new(&input);
        let seq = r.expect(tag::SEQUENCE, "test").unwrap();
        assert_eq!(seq.raw.len(), 13);
        assert_eq!(seq.content.len(), 9);
        let mut inner = seq.reader();
        assert_eq!(inner.expect(tag::INTEGER, "int").unwrap().content, &[1]);
        let nested = inner.expect(tag::SEQUENCE, "nested").unwrap();
        assert_eq!(nested.content, &[0x05, 0x00]);
        inner.finish("test").unwrap();
        assert!(r.finish("test").is_err());
    }

    #[test]
    fn long_form_lengths() {
        let mut input = vec![0x04, 0x82, 0x01, 0x00];
        input.extend(std::iter::repeat_n(7u8, 256));
        let tlv = Reader::new(&input).read("x").unwrap();
        assert_eq!(tlv.content.len(), 256);
    }

    #[test]
    fn rejects_malformed() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x30],
            &[0x30, 0x05, 0x00],
            &[0x30, 0x80, 0x02, 0x01, 0x01], // no end-of-contents
            &[0x04, 0x80, 0x00, 0x00],       // indefinite primitive
            &[0x1f, 0x01, 0x00],             // high tag number
            &[0x04, 0x85, 1, 0, 0, 0, 0],    // 5 length octets
            &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff], // huge length
            &[0x00, 0x00],                   // stray end-of-contents
            &[0x30, 0x80, 0x00],             // one octet where end-of-contents should be
            &[0x30, 0x80, 0x04, 0x05, 0x00, 0x00], // a child running past the end
            &[0x30, 0x80, 0x00, 0x01, 0x00, 0x00], // end-of-contents with a length
        ];
        for case in cases {
            assert!(Reader::new(case).read("x").is_err(), "{case:02x?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let mut input = Vec::new();
        for _ in 0..100 {
            input.extend_from_slice(&[0x30, 0x80]);
        }
        for _ in 0..100 {
            input.extend_from_slice(&[0x00, 0x00]);
        }
        let err = Reader::new(&input).read("deep").unwrap_err();
        assert!(err.to_string().contains("nested"), "{err}");
    }

    #[test]
    fn reencode_keeps_order_and_makes_lengths_definite() {
        // [0] (indefinite) { SEQUENCE { OID 2.5 } , SEQUENCE { NULL } } — second sorts first in DER
        let input = [
            0xa0, 0x80, 0x30, 0x03, 0x06, 0x01, 0x55, 0x30, 0x02, 0x05, 0x00, 0x00, 0x00,
        ];
        let tlv = Reader::new(&input).read("x").unwrap();
        let mut out = Vec::new();
        reencode(&tlv, tag::SET, &mut out).unwrap();
        assert_eq!(
            out,
            [
                0x31, 0x09, 0x30, 0x03, 0x06, 0x01, 0x55, 0x30, 0x02, 0x05, 0x00
            ]
        );
    }

    #[test]
    fn constructed_octet_string() {
        let input = [
            0x24, 0x80, 0x04, 0x01, 0xaa, 0x04, 0x02, 0xbb, 0xcc, 0x00, 0x00,
        ];
        let tlv = Reader::new(&input).read("x").unwrap();
        assert_eq!(&*octet_string(&tlv, "x").unwrap(), &[0xaa, 0xbb, 0xcc]);
    }

    #[test]
    fn write_lengths() {
        for (len, expected) in [
            (0usize, vec![0x00]),
            (0x7f, vec![0x7f]),
            (0x80, vec![0x81, 0x80]),
            (0x1234, vec![0x82, 0x12, 0x34]),
        ] {
            let mut out = Vec::new();
            write_length(&mut out, len);
            assert_eq!(out, expected);
        }
    }
}

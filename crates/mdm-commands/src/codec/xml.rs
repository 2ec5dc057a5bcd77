//! XML property lists read as events straight from the body, borrowing every string that holds
//! no entity reference.
//!
//! A tokenizer for exactly the XML property-list format, the format `mdm-proto` reads: the body
//! is UTF-8 (checked once, up front), elements are matched by local name (`<p:array>` is an
//! array, as `plist` and Go's `encoding/xml` read it), end tags must match their start tags,
//! only white space stands between elements, the five XML entities and character references
//! are resolved, comments, processing instructions, the declaration and the document type are
//! skipped. `<integer>` is decimal or `0x` hexadecimal, `<data>` base64 with white space,
//! `<date>` ISO 8601.
//!
//! It is written for the reports a server decodes by the thousand (an `InstalledApplicationList`
//! of megabytes): one pass, no copy of tags, no per-element UTF-8 check.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use plist::{Date, Integer};

use super::source::{Event, Source};
use crate::error::{Error, Result};

pub(crate) struct XmlSource<'a> {
    body: &'a [u8],
    /// The body as text (empty when it is not UTF-8).
    text: &'a str,
    /// Where the next token starts.
    pos: usize,
    /// The body is not UTF-8: the error to give at the first read.
    invalid: Option<usize>,
    /// Names of the open `plist`, `dict` and `array` elements, as their start tags wrote them.
    open: Vec<&'a str>,
    /// An empty `<dict/>` or `<array/>` was just started: its end comes next.
    pending_end: bool,
}

/// A start or end tag.
struct Tag<'a> {
    /// The local name (after any `prefix:`).
    name: &'a str,
    /// The name as written: an end tag must repeat its start tag's, prefix and all (as the
    /// reader `mdm-proto` uses requires).
    qualified: &'a str,
    is_end: bool,
    /// `<name/>`.
    is_empty: bool,
}

impl<'a> XmlSource<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        let (text, invalid) = match std::str::from_utf8(body) {
            Ok(text) => (text, None),
            Err(e) => ("", Some(e.valid_up_to())),
        };
        // A byte-order mark before the declaration.
        let pos = if body.starts_with("\u{feff}".as_bytes()) {
            3
        } else {
            0
        };
        Self {
            body,
            text,
            pos,
            invalid,
            open: Vec::new(),
            pending_end: false,
        }
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::plist(mdm_proto::DecodeError::MalformedXml {
            offset: self.pos as u64,
            reason: reason.into(),
        })
    }

    /// The body from `start` to `end`, as text (every index here is at an ASCII delimiter, so
    /// on a character boundary).
    fn text(&self, start: usize, end: usize) -> Result<&'a str> {
        self.text
            .get(start..end)
            .ok_or_else(|| self.error("a token splits a character"))
    }

    fn rest(&self) -> &'a [u8] {
        self.body.get(self.pos..).unwrap_or_default()
    }

    /// Moves past the next `pattern`, or fails with `what`.
    fn skip_past(&mut self, pattern: &[u8], what: &str) -> Result<()> {
        let at =
            find(self.rest(), pattern).ok_or_else(|| self.error(format!("{what} never ends")))?;
        self.pos = self.pos.saturating_add(at).saturating_add(pattern.len());
        Ok(())
    }

    /// Skips a comment, processing instruction, declaration or document type at `pos` (which is
    /// at `<`); returns false when `pos` is at a tag instead.
    fn skip_markup(&mut self) -> Result<bool> {
        let rest = self.rest();
        if rest.starts_with(b"<!--") {
            self.skip_past(b"-->", "a comment")?;
        } else if rest.starts_with(b"<?") {
            self.skip_past(b"?>", "a processing instruction")?;
        } else if rest.starts_with(b"<![CDATA[") {
            return Err(self.error("text outside a value"));
        } else if rest.starts_with(b"<!DOCTYPE") && rest.get(9).is_some_and(u8::is_ascii_whitespace)
        {
            // A document type: quoted literals, perhaps an internal subset in brackets.
            let mut depth = 0usize;
            let mut quote = None;
            let end = rest.iter().position(|&b| match (quote, b) {
                (Some(q), b) => {
                    if b == q {
                        quote = None;
                    }
                    false
                }
                (None, b'"' | b'\'') => {
                    quote = Some(b);
                    false
                }
                (None, b'[') => {
                    depth = depth.saturating_add(1);
                    false
                }
                (None, b']') => {
                    depth = depth.saturating_sub(1);
                    false
                }
                (None, b'>') => depth == 0,
                (None, _) => false,
            });
            let end = end.ok_or_else(|| self.error("a document type never ends"))?;
            self.pos = self.pos.saturating_add(end).saturating_add(1);
        } else if rest.starts_with(b"<!") {
            return Err(self.error("markup that is not a comment or a document type"));
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Reads the tag at `pos` (which is at `<`).
    fn tag(&mut self) -> Result<Tag<'a>> {
        let start = self.pos.saturating_add(1);
        let rest = self.body.get(start..).unwrap_or_default();
        let is_end = rest.first() == Some(&b'/');
        let name_start = start.saturating_add(usize::from(is_end));
        let name_len = self
            .body
            .get(name_start..)
            .unwrap_or_default()
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'>')
            .ok_or_else(|| self.error("a tag never ends"))?;
        let mut name_end = name_start.saturating_add(name_len);
        // Only the `/` of an empty tag's `/>` ends a name: `<true/e/>` is an element named
        // `true/e`, as the reader `mdm-proto` uses sees it, not `<true/>`.
        if name_len > 0
            && self.body.get(name_end) == Some(&b'>')
            && self.body.get(name_end.saturating_sub(1)) == Some(&b'/')
        {
            name_end = name_end.saturating_sub(1);
        }
        let qualified = self.text(name_start, name_end)?;
        if qualified.is_empty() {
            return Err(self.error("a tag without a name"));
        }
        // The prefix ends at the first `:`, as `mdm-proto`'s reader splits names: the local
        // name of `<a:b:plist>` is `b:plist`, no property-list element.
        let name = qualified
            .split_once(':')
            .map_or(qualified, |(_, local)| local);
        // Attributes, skipped; quoted values may hold `>`.
        let mut quote = None;
        let mut at = name_end;
        loop {
            let Some(&b) = self.body.get(at) else {
                return Err(self.error("a tag never ends"));
            };
            match (quote, b) {
                (Some(q), b) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(b),
                (None, b'>') => break,
                (None, b'<') => return Err(self.error("`<` inside a tag")),
                (None, _) => {}
            }
            at = at.saturating_add(1);
        }
        let is_empty = at > name_end && self.body.get(at.saturating_sub(1)) == Some(&b'/');
        if is_end && (is_empty || at > name_end && !self.only_space(name_end, at)) {
            return Err(self.error("an end tag with attributes"));
        }
        self.pos = at.saturating_add(1);
        Ok(Tag {
            name,
            qualified,
            is_end,
            is_empty,
        })
    }

    fn only_space(&self, start: usize, end: usize) -> bool {
        self.body
            .get(start..end)
            .is_some_and(|b| b.iter().all(u8::is_ascii_whitespace))
    }

    /// The text of the value element `qualified`, just opened, up to its end tag.
    fn content(&mut self, qualified: &str) -> Result<Cow<'a, str>> {
        let mut content: Option<Cow<'a, str>> = None;
        loop {
            let len = self
                .rest()
                .iter()
                .position(|&b| b == b'<')
                .ok_or_else(|| self.error("the body ends inside a value"))?;
            let end = self.pos.saturating_add(len);
            if len > 0 {
                let raw = self.text(self.pos, end)?;
                let piece = if raw.contains('&') {
                    Cow::Owned(self.unescape(raw)?)
                } else {
                    Cow::Borrowed(raw)
                };
                append(&mut content, piece);
            }
            self.pos = end;
            let rest = self.rest();
            if rest.starts_with(b"<![CDATA[") {
                let start = self.pos.saturating_add(9);
                let len = find(self.body.get(start..).unwrap_or_default(), b"]]>")
                    .ok_or_else(|| self.error("a CDATA section never ends"))?;
                let cdata = self.text(start, start.saturating_add(len))?;
                append(&mut content, Cow::Borrowed(cdata));
                self.pos = start.saturating_add(len).saturating_add(3);
                continue;
            }
            if self.skip_markup()? {
                continue;
            }
            let tag = self.tag()?;
            if !tag.is_end {
                return Err(self.error("an element inside a value"));
            }
            if tag.qualified != qualified {
                return Err(self.error(format!("</{}> closes <{qualified}>", tag.qualified)));
            }
            return Ok(content.unwrap_or(Cow::Borrowed("")));
        }
    }

    /// `raw` with its entity and character references resolved.
    fn unescape(&self, raw: &str) -> Result<String> {
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(amp) = rest.find('&') {
            out.push_str(rest.get(..amp).unwrap_or_default());
            let after = rest.get(amp.saturating_add(1)..).unwrap_or_default();
            let semi = after
                .find(';')
                .ok_or_else(|| self.error("an entity reference without `;`"))?;
            let name = after.get(..semi).unwrap_or_default();
            out.push(self.entity(name)?);
            rest = after.get(semi.saturating_add(1)..).unwrap_or_default();
        }
        out.push_str(rest);
        Ok(out)
    }

    fn entity(&self, name: &str) -> Result<char> {
        let code = match name {
            "lt" => return Ok('<'),
            "gt" => return Ok('>'),
            "amp" => return Ok('&'),
            "apos" => return Ok('\''),
            "quot" => return Ok('"'),
            _ => match name.strip_prefix('#') {
                Some(hex) if hex.starts_with('x') => {
                    u32::from_str_radix(hex.get(1..).unwrap_or_default(), 16).ok()
                }
                Some(decimal) => decimal.parse::<u32>().ok(),
                None => return Err(self.error(format!("unknown entity &{name};"))),
            },
        };
        code.filter(|&c| c != 0)
            .and_then(char::from_u32)
            .ok_or_else(|| self.error(format!("invalid character reference &{name};")))
    }

    /// The event of the value element `name` (written `qualified`), opened by a start tag or as
    /// an empty element.
    fn value(&mut self, name: &'a str, qualified: &'a str, empty: bool) -> Result<Event<'a>> {
        let text = |this: &mut Self| -> Result<Cow<'a, str>> {
            if empty {
                Ok(Cow::Borrowed(""))
            } else {
                this.content(qualified)
            }
        };
        Ok(match name {
            "key" | "string" => Event::String(text(self)?),
            "true" | "false" => {
                if !text(self)?.trim().is_empty() {
                    return Err(self.error("text inside a boolean"));
                }
                Event::Boolean(name == "true")
            }
            "integer" => {
                let text = text(self)?;
                let integer = parse_integer(text.trim())
                    .ok_or_else(|| self.error("<integer> is not an integer"))?;
                Event::Integer(integer)
            }
            "real" => {
                let text = text(self)?;
                let real = text
                    .trim()
                    .parse()
                    .map_err(|_| self.error("<real> is not a number"))?;
                Event::Real(real)
            }
            "date" => {
                let text = text(self)?;
                let date = Date::from_xml_format(text.trim())
                    .map_err(|_| self.error("<date> is not an ISO 8601 date"))?;
                Event::Date(date)
            }
            "data" => {
                let text = text(self)?;
                let data = if text.bytes().any(|b| b.is_ascii_whitespace()) {
                    let mut encoded = text.into_owned();
                    encoded.retain(|c| !c.is_ascii_whitespace());
                    STANDARD.decode(encoded)
                } else {
                    STANDARD.decode(text.as_bytes())
                };
                Event::Data(Cow::Owned(
                    data.map_err(|_| self.error("<data> is not base64"))?,
                ))
            }
            _ => return Err(self.error("an element that is not a property-list type")),
        })
    }
}

fn append<'a>(content: &mut Option<Cow<'a, str>>, piece: Cow<'a, str>) {
    match content {
        None => *content = Some(piece),
        Some(content) => content.to_mut().push_str(&piece),
    }
}

/// Where `pattern` first occurs in `haystack`.
fn find(haystack: &[u8], pattern: &[u8]) -> Option<usize> {
    let first = *pattern.first()?;
    let mut from = 0;
    while let Some(offset) = haystack
        .get(from..)
        .and_then(|h| h.iter().position(|&b| b == first))
    {
        let at = from.saturating_add(offset);
        if haystack.get(at..).is_some_and(|h| h.starts_with(pattern)) {
            return Some(at);
        }
        from = at.saturating_add(1);
    }
    None
}

impl<'a> Source<'a> for XmlSource<'a> {
    fn next(&mut self) -> Result<Option<Event<'a>>> {
        if let Some(at) = self.invalid {
            self.pos = at;
            return Err(self.error("the body is not UTF-8"));
        }
        if self.pending_end {
            self.pending_end = false;
            return Ok(Some(Event::End));
        }
        loop {
            // Text between elements: white space only (also as character references).
            let len = self
                .rest()
                .iter()
                .position(|&b| b == b'<')
                .unwrap_or(self.rest().len());
            let end = self.pos.saturating_add(len);
            if len > 0 {
                let text = self.text(self.pos, end)?;
                let text = if text.contains('&') {
                    Cow::Owned(self.unescape(text)?)
                } else {
                    Cow::Borrowed(text)
                };
                if !text.chars().all(char::is_whitespace) {
                    return Err(self.error("text outside a value"));
                }
            }
            self.pos = end;
            if self.pos >= self.body.len() {
                if !self.open.is_empty() {
                    return Err(self.error("the body ends inside an element"));
                }
                return Ok(None);
            }
            if self.skip_markup()? {
                continue;
            }
            let tag = self.tag()?;
            if tag.is_end {
                match self.open.pop() {
                    Some(open) if open == tag.qualified => {}
                    _ => return Err(self.error(format!("an unexpected </{}>", tag.qualified))),
                }
                if tag.name == "plist" {
                    continue;
                }
                return Ok(Some(Event::End));
            }
            let event = match tag.name {
                "plist" => {
                    if !tag.is_empty {
                        self.open.push(tag.qualified);
                    }
                    continue;
                }
                "dict" | "array" => {
                    if tag.is_empty {
                        self.pending_end = true;
                    } else {
                        self.open.push(tag.qualified);
                    }
                    if tag.name == "dict" {
                        Event::StartDictionary
                    } else {
                        Event::StartArray
                    }
                }
                name => self.value(name, tag.qualified, tag.is_empty)?,
            };
            return Ok(Some(event));
        }
    }
}

/// An `<integer>`: decimal, signed or not, or hexadecimal with `0x`.
fn parse_integer(text: &str) -> Option<Integer> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(Integer::from);
    }
    if text.starts_with('-') {
        text.parse::<i64>().ok().map(Integer::from)
    } else {
        text.parse::<u64>().ok().map(Integer::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(body: &str) -> Result<Vec<String>> {
        let mut source = XmlSource::new(body.as_bytes());
        let mut out = Vec::new();
        while let Some(event) = source.next()? {
            out.push(format!("{event:?}"));
        }
        Ok(out)
    }

    #[test]
    fn strings_borrow_unless_they_hold_references() {
        let body = "<plist><dict><key>a</key><string>plain</string>\
                    <key>b</key><string>x &amp; y&#33;&#x3f;</string></dict></plist>";
        let mut source = XmlSource::new(body.as_bytes());
        assert!(matches!(source.next(), Ok(Some(Event::StartDictionary))));
        assert!(matches!(
            source.next(),
            Ok(Some(Event::String(Cow::Borrowed("a"))))
        ));
        assert!(matches!(
            source.next(),
            Ok(Some(Event::String(Cow::Borrowed("plain"))))
        ));
        assert!(matches!(
            source.next(),
            Ok(Some(Event::String(Cow::Borrowed("b"))))
        ));
        match source.next() {
            Ok(Some(Event::String(s))) => assert_eq!(s, "x & y!?"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(source.next(), Ok(Some(Event::End))));
        assert!(matches!(source.next(), Ok(None)));
    }

    #[test]
    fn empty_elements_and_every_scalar() {
        let body = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \
            \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
            <plist version=\"1.0\"><!-- a <comment> --><dict>
            <key>e</key><array/><key>d</key><dict /><key>s</key><string/>
            <key>t</key><true/><key>f</key><false></false>
            <key>i</key><integer>-3</integer><key>h</key><integer>0x10</integer>
            <key>r</key><real>1.5</real><key>x</key><data>AAE
            C</data><key>w</key><date>2024-01-02T03:04:05Z</date>
            <key>c</key><string>a<![CDATA[<b>]]>c<!-- no --></string></dict></plist>\n";
        let events = events(body).unwrap();
        assert_eq!(events.len(), 26, "{events:?}");
        assert_eq!(events[2], "StartArray");
        assert_eq!(events[3], "End");
        assert_eq!(events[5], "StartDictionary");
        assert_eq!(events[6], "End");
        assert_eq!(events[8], "String(\"\")");
        assert_eq!(events[10], "Boolean(true)");
        assert_eq!(events[12], "Boolean(false)");
        assert!(events[14].contains("-3"));
        assert!(events[16].contains("16"));
        assert_eq!(events[18], "Real(1.5)");
        assert_eq!(events[20], "Data([0, 1, 2])");
        assert_eq!(events[24], "String(\"a<b>c\")");
    }

    #[test]
    fn prefixed_names_are_read_by_their_local_name() {
        let events = events("<p:plist><p:array><p:true/></p:array></p:plist>").unwrap();
        assert_eq!(events, ["StartArray", "Boolean(true)", "End"]);
    }

    #[test]
    fn malformed_xml_is_an_error() {
        for body in [
            "<plist><dict><key>a</key><string>x</dict></plist>",
            "<plist><dict>text</dict></plist>",
            "<plist><integer>x</integer></plist>",
            "<plist><data>!!</data></plist>",
            "<plist><date>yesterday</date></plist>",
            "<plist><foo/></plist>",
            "<plist><string><b/></string></plist>",
            "<plist><string>unterminated",
            "<plist><array></dict></plist>",
            "<plist><array>",
            "<plist><string>&bogus;</string></plist>",
            "<plist><string>&#0;</string></plist>",
            "<plist><string>&amp</string></plist>",
            "<plist><array/><!-- never closed",
            // End tags repeat their start tags' names, prefix and all; a name's prefix ends at
            // its first `:`.
            "<:plist><dict/></plist>",
            "<plist><p:array></array></plist>",
            "<plist><p:string>x</string></plist>",
            "<plist><a:b:array></a:b:array></plist>",
            "<plist><![CDATA[x]]></plist>",
            "<plist><string a=\">",
            "<plist></string></plist>",
            "<>",
            "<!Ddtd\"><plist><true/></plist>",
            "<!DOC TYPE plist><plist><true/></plist>",
            "<!DOCTYPE plist \"x.dtd'><plist><true/></plist>",
            // A `/` inside a name is part of it (a fuzzer's find: read as `<true/>` before).
            "<plist><true/e/></plist>",
            "<plist><true/ ></plist>",
        ] {
            assert!(events(body).is_err(), "{body}");
        }
        let mut latin1 = b"<plist><string>".to_vec();
        latin1.push(0xe9);
        latin1.extend(b"</string></plist>");
        let mut source = XmlSource::new(&latin1);
        assert!(source.next().is_err());
    }

    #[test]
    fn whitespace_references_between_elements_are_white_space() {
        assert_eq!(
            events("<plist>&#32;<true/>&#10;</plist>").unwrap(),
            ["Boolean(true)"]
        );
        assert!(events("<plist>&#65;<true/></plist>").is_err());
    }
}

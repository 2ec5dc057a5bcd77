//! XML property lists read as events straight from the body, borrowing every string that holds
//! no entity reference.
//!
//! The same format `mdm-proto` reads: elements matched by local name, white space only between
//! elements, the five XML entities and character references resolved, `<integer>` decimal or
//! `0x` hexadecimal, `<data>` base64 with white space, `<date>` ISO 8601.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use plist::{Date, Integer};
use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, Event as Xml};

use super::source::{Event, Source};
use crate::error::{Error, Result};

pub(crate) struct XmlSource<'a> {
    reader: Reader<&'a [u8]>,
    /// An empty `<dict/>` or `<array/>` was just started: its end comes next.
    pending_end: bool,
}

impl<'a> XmlSource<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        let mut reader = Reader::from_reader(body);
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        Self {
            reader,
            pending_end: false,
        }
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::plist(mdm_proto::DecodeError::MalformedXml {
            offset: self.reader.buffer_position(),
            reason: reason.into(),
        })
    }

    fn read(&mut self) -> Result<Xml<'a>> {
        self.reader
            .read_event()
            .map_err(|e| self.error(e.to_string()))
    }

    /// The text of the element just opened, up to its end tag.
    fn text(&mut self) -> Result<Cow<'a, str>> {
        let mut content: Option<Cow<'a, str>> = None;
        loop {
            let piece = match self.read()? {
                Xml::Text(text) => text.into_inner(),
                Xml::CData(cdata) => cdata.into_inner(),
                Xml::GeneralRef(reference) => Cow::Owned(self.resolve(&reference)?),
                Xml::End(_) => return Ok(content.unwrap_or(Cow::Borrowed(""))),
                Xml::Start(_) | Xml::Empty(_) => {
                    return Err(self.error("an element inside a value"));
                }
                Xml::Eof => return Err(self.error("the body ends inside a value")),
                Xml::Comment(_) | Xml::PI(_) | Xml::Decl(_) | Xml::DocType(_) => continue,
            };
            match &mut content {
                None => content = Some(piece),
                Some(content) => content.to_mut().push_str(&piece),
            }
        }
    }

    fn resolve(&self, reference: &BytesRef<'_>) -> Result<String> {
        match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            Ok(None) => resolve_xml_entity(reference)
                .map(str::to_owned)
                .ok_or_else(|| self.error(format!("unknown entity &{};", &**reference))),
            Err(e) => Err(self.error(e.to_string())),
        }
    }

    /// The event of a value element `name`, opened with a start tag (`empty` false, its text
    /// and end tag still to read) or as an empty element.
    fn value(&mut self, name: &str, empty: bool) -> Result<Option<Event<'a>>> {
        let text = |this: &mut Self| -> Result<Cow<'a, str>> {
            if empty {
                Ok(Cow::Borrowed(""))
            } else {
                this.text()
            }
        };
        let event = match name {
            "plist" => return Ok(None),
            "dict" | "array" => {
                self.pending_end = empty;
                if name == "dict" {
                    Event::StartDictionary
                } else {
                    Event::StartArray
                }
            }
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
                let mut encoded = text(self)?.into_owned();
                encoded.retain(|c| !c.is_ascii_whitespace());
                let data = STANDARD
                    .decode(encoded)
                    .map_err(|_| self.error("<data> is not base64"))?;
                Event::Data(Cow::Owned(data))
            }
            _ => return Err(self.error("an element that is not a property-list type")),
        };
        Ok(Some(event))
    }
}

impl<'a> Source<'a> for XmlSource<'a> {
    fn next(&mut self) -> Result<Option<Event<'a>>> {
        if self.pending_end {
            self.pending_end = false;
            return Ok(Some(Event::End));
        }
        loop {
            let event = match self.read()? {
                Xml::Start(start) => self.value(start.local_name().as_ref(), false)?,
                Xml::Empty(start) => self.value(start.local_name().as_ref(), true)?,
                Xml::End(end) => match end.local_name().as_ref() {
                    "array" | "dict" => Some(Event::End),
                    _ => None,
                },
                Xml::Text(text) if text.chars().all(char::is_whitespace) => None,
                Xml::GeneralRef(reference)
                    if self.resolve(&reference)?.chars().all(char::is_whitespace) =>
                {
                    None
                }
                Xml::Text(_) | Xml::GeneralRef(_) | Xml::CData(_) => {
                    return Err(self.error("text outside a value"));
                }
                Xml::Eof => return Ok(None),
                Xml::Comment(_) | Xml::PI(_) | Xml::Decl(_) | Xml::DocType(_) => None,
            };
            if let Some(event) = event {
                return Ok(Some(event));
            }
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

    fn events(body: &str) -> Vec<String> {
        let mut source = XmlSource::new(body.as_bytes());
        let mut out = Vec::new();
        while let Some(event) = source.next().unwrap() {
            out.push(format!("{event:?}"));
        }
        out
    }

    #[test]
    fn strings_borrow_unless_they_hold_references() {
        let body = "<plist><dict><key>a</key><string>plain</string>\
                    <key>b</key><string>x &amp; y&#33;</string></dict></plist>";
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
            Ok(Some(Event::String(s))) => assert_eq!(s, "x & y!"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(source.next(), Ok(Some(Event::End))));
        assert!(matches!(source.next(), Ok(None)));
    }

    #[test]
    fn empty_elements_and_every_scalar() {
        let body = r#"<?xml version="1.0"?><!DOCTYPE plist><plist version="1.0"><dict>
            <key>e</key><array/><key>d</key><dict/><key>s</key><string/>
            <key>t</key><true/><key>f</key><false></false>
            <key>i</key><integer>-3</integer><key>h</key><integer>0x10</integer>
            <key>r</key><real>1.5</real><key>x</key><data>AAE
            C</data><key>w</key><date>2024-01-02T03:04:05Z</date></dict></plist>"#;
        let events = events(body);
        assert_eq!(events.len(), 24, "{events:?}");
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
        ] {
            let mut source = XmlSource::new(body.as_bytes());
            let mut failed = false;
            for _ in 0..10 {
                match source.next() {
                    Err(_) => {
                        failed = true;
                        break;
                    }
                    Ok(None) => break,
                    Ok(Some(_)) => {}
                }
            }
            assert!(failed, "{body}");
        }
    }
}

//! XML property lists read as a stream of `plist` events, straight from the body's bytes.
//!
//! `plist`'s own XML reader appends every tag it reads to one buffer that it never clears, so it
//! holds a copy of the whole body by the end; this reader borrows from the body instead
//! (`quick-xml`'s slice reader) and allocates only the strings and data it returns. It reads
//! exactly the XML property-list format: elements are matched by local name (as `plist` and Go's
//! `encoding/xml` do), text between elements must be white space, and the five XML entities and
//! character references are resolved.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use plist::stream::{Event, OwnedEvent};
use plist::{Date, Integer};
use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, Event as Xml};

use crate::DecodeError;

/// The events of an XML property list, read from `body`.
pub(crate) struct XmlEvents<'a> {
    reader: Reader<&'a [u8]>,
    finished: bool,
}

impl<'a> XmlEvents<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        let mut reader = Reader::from_reader(body);
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = true;
        Self {
            reader,
            finished: false,
        }
    }

    fn error(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::MalformedXml {
            offset: self.reader.buffer_position(),
            reason: reason.into(),
        }
    }

    fn read(&mut self) -> Result<Xml<'a>, DecodeError> {
        self.reader
            .read_event()
            .map_err(|e| self.error(e.to_string()))
    }

    /// The text of the element just opened, up to its end tag.
    fn content(&mut self) -> Result<String, DecodeError> {
        let mut content = String::new();
        loop {
            match self.read()? {
                Xml::Text(text) => content.push_str(&text),
                Xml::CData(cdata) => content.push_str(&cdata),
                Xml::GeneralRef(reference) => content.push_str(&self.resolve(&reference)?),
                Xml::End(_) => return Ok(content),
                Xml::Start(_) => return Err(self.error("an element inside a value")),
                Xml::Eof => return Err(self.error("the body ends inside a value")),
                Xml::Comment(_) | Xml::PI(_) | Xml::Empty(_) | Xml::Decl(_) | Xml::DocType(_) => {}
            }
        }
    }

    fn resolve(&self, reference: &BytesRef<'_>) -> Result<String, DecodeError> {
        match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            Ok(None) => resolve_xml_entity(reference)
                .map(str::to_owned)
                .ok_or_else(|| self.error(format!("unknown entity &{};", &**reference))),
            Err(e) => Err(self.error(e.to_string())),
        }
    }

    fn next_event(&mut self) -> Result<Option<OwnedEvent>, DecodeError> {
        loop {
            let start = match self.read()? {
                Xml::Start(start) => start,
                Xml::End(end) => match end.local_name().as_ref() {
                    "array" | "dict" => return Ok(Some(Event::EndCollection)),
                    _ => continue,
                },
                Xml::Text(text) if text.chars().all(char::is_whitespace) => continue,
                Xml::GeneralRef(reference)
                    if self.resolve(&reference)?.chars().all(char::is_whitespace) =>
                {
                    continue;
                }
                Xml::Text(_) | Xml::GeneralRef(_) | Xml::CData(_) => {
                    return Err(self.error("text outside a value"));
                }
                Xml::Eof => return Ok(None),
                Xml::Comment(_) | Xml::PI(_) | Xml::Empty(_) | Xml::Decl(_) | Xml::DocType(_) => {
                    continue;
                }
            };
            let event = match start.local_name().as_ref() {
                "plist" => continue,
                "array" => Event::StartArray(None),
                "dict" => Event::StartDictionary(None),
                "key" | "string" => Event::String(self.content()?.into()),
                "true" => Event::Boolean(true),
                "false" => Event::Boolean(false),
                "data" => {
                    let mut encoded = self.content()?;
                    encoded.retain(|c| !c.is_ascii_whitespace());
                    let data = STANDARD
                        .decode(encoded)
                        .map_err(|_| self.error("<data> is not base64"))?;
                    Event::Data(data.into())
                }
                "date" => {
                    let text = self.content()?;
                    let date = Date::from_xml_format(text.trim())
                        .map_err(|_| self.error("<date> is not an ISO 8601 date"))?;
                    Event::Date(date)
                }
                "integer" => {
                    let text = self.content()?;
                    let integer = parse_integer(text.trim())
                        .ok_or_else(|| self.error("<integer> is not an integer"))?;
                    Event::Integer(integer)
                }
                "real" => {
                    let text = self.content()?;
                    let real = text
                        .trim()
                        .parse()
                        .map_err(|_| self.error("<real> is not a number"))?;
                    Event::Real(real)
                }
                _ => return Err(self.error("an element that is not a property-list type")),
            };
            return Ok(Some(event));
        }
    }
}

/// An `<integer>`: decimal, signed or not, or hexadecimal with `0x` (as `plist` reads it).
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

impl Iterator for XmlEvents<'_> {
    type Item = Result<OwnedEvent, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let event = self.next_event().transpose();
        if !matches!(event, Some(Ok(_))) {
            self.finished = true;
        }
        event
    }
}

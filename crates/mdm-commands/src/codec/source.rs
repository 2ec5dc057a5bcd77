//! The events typed decoding reads, whatever the input: an XML or binary property list streamed
//! from its bytes, a `plist::Value` tree, or a JSON tree.

use std::borrow::Cow;
use std::io::Cursor;

use plist::stream::{BinaryReader, Event as PlistEvent};

use crate::error::{Error, Result};

/// One step of a property-list document.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    StartDictionary,
    StartArray,
    /// The end of the innermost dictionary or array.
    End,
    /// A `<string>` or `<key>`; in JSON, every string (a `<data>` value is base64 there, a
    /// `<date>` RFC 3339).
    String(Cow<'a, str>),
    Data(Cow<'a, [u8]>),
    Date(plist::Date),
    Integer(plist::Integer),
    Real(f64),
    Boolean(bool),
    /// A binary property list's UID, which no MDM message holds.
    Uid,
    /// JSON's `null`, which no property list can hold.
    Null,
}

impl Event<'_> {
    /// What the event is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Event::StartDictionary => "a dictionary",
            Event::StartArray => "an array",
            Event::End => "the end of a container",
            Event::String(_) => "a string",
            Event::Data(_) => "data",
            Event::Date(_) => "a date",
            Event::Integer(_) => "an integer",
            Event::Real(_) => "a real",
            Event::Boolean(_) => "a boolean",
            Event::Uid => "a UID",
            Event::Null => "null",
        }
    }
}

/// What a tree source finds under a union's tag key in the dictionary it is about to read.
pub(crate) enum Tag<'a> {
    /// The next value is not a dictionary: the union's reader reports it.
    NotADictionary,
    /// The dictionary has no such key.
    Missing,
    /// The key holds something other than a string.
    WrongType(&'static str),
    Found(Cow<'a, str>),
}

/// A document read as events.
pub(crate) trait Source<'a> {
    /// The next event, or `None` after the top-level value.
    fn next(&mut self) -> Result<Option<Event<'a>>>;

    /// Whether this is JSON, whose strings stand for `<data>` (base64) and `<date>` (RFC 3339)
    /// values too.
    fn is_json(&self) -> bool {
        false
    }

    /// For a tree, the string under `key` in the dictionary that comes next (or, when `entered`,
    /// in the dictionary just started); `None` for a stream, which cannot look ahead (a union is
    /// then read from a buffered copy).
    fn peek_tag(&self, key: &str, entered: bool) -> Option<Tag<'a>> {
        let _ = (key, entered);
        None
    }
}

/// A binary property list, streamed with `plist`'s event reader.
///
/// The body must have passed `mdm-proto`'s checks first (its object graph bounded and acyclic):
/// this reader follows references.
pub(crate) struct BinarySource<'a> {
    reader: BinaryReader<Cursor<&'a [u8]>>,
}

impl<'a> BinarySource<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Self {
            reader: BinaryReader::new(Cursor::new(body)),
        }
    }
}

impl<'a> Source<'a> for BinarySource<'a> {
    fn next(&mut self) -> Result<Option<Event<'a>>> {
        let Some(event) = self.reader.next() else {
            return Ok(None);
        };
        let event = event.map_err(|e| Error::plist(mdm_proto::DecodeError::Plist(e)))?;
        Ok(Some(match event {
            PlistEvent::StartArray(_) => Event::StartArray,
            PlistEvent::StartDictionary(_) => Event::StartDictionary,
            PlistEvent::EndCollection => Event::End,
            PlistEvent::Boolean(b) => Event::Boolean(b),
            PlistEvent::Data(d) => Event::Data(Cow::Owned(d.into_owned())),
            PlistEvent::Date(d) => Event::Date(d),
            PlistEvent::Integer(i) => Event::Integer(i),
            PlistEvent::Real(r) => Event::Real(r),
            PlistEvent::String(s) => Event::String(Cow::Owned(s.into_owned())),
            PlistEvent::Uid(_) => Event::Uid,
            _ => return Err(Error::malformed("an element this crate does not know")),
        }))
    }
}

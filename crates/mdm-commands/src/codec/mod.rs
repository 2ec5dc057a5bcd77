//! The property-list codec the command and response types implement.
//!
//! Each type reads itself from a [`Decoder`] ([`Decode`]) and writes itself as a
//! [`plist::Value`] ([`Encode`]). A decoder reads events from one of several inputs — an XML or
//! binary property list streamed from its bytes, a `plist::Value` tree, a JSON tree — so one
//! implementation per type serves reports, queued commands and JSON commands alike. The schema's
//! types decide what every value must be: in JSON, a `<data>` value is a base64 string and a
//! `<date>` value an RFC 3339 string.
//!
//! Decoding is bounded: nesting depth and the number of objects by [`DecodeLimits`], and the
//! memory the decoded value takes by a budget proportional to the input. Nothing here recurses
//! per level of an untyped value (`<any>`, skipped keys); typed values nest only as deep as the
//! schema does, and within the depth limit.
//!
//! Commands are decoded strictly: a key the schema does not define is an error, because the
//! typed value could not carry it. Reports are decoded leniently: a newer OS's keys are skipped
//! (they stay in the raw bytes).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::mem::size_of;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mdm_proto::DecodeLimits;
use plist::{Date, Dictionary, Value};

pub(crate) mod source;
pub(crate) mod tree;
pub(crate) mod xml;

use source::{Event, Source, Tag};

use crate::error::Kind;
pub use crate::error::{Error, Result};

/// A type read from a property list (or JSON) through a [`Decoder`].
pub trait Decode: Sized {
    /// Reads one value.
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self>;
}

/// A type written as a property-list value.
pub trait Encode {
    /// The value as a property list.
    fn encode(&self) -> Value;
}

/// A string the schema restricts to a list of values (a `rangelist`, or the values its `subkeys`
/// name), as a Rust enum.
pub trait StringEnum: Sized {
    /// The values the schema lists, as Apple spells them.
    const VALUES: &'static [&'static str];

    /// The variant for `value`; `None` when the list is closed and does not hold it.
    fn from_wire(value: &str) -> Option<Self>;

    /// The value as it is sent.
    fn wire(&self) -> &str;
}

/// Reads a command's or a report's keys on behalf of the runtime (a report's envelope), before
/// the typed value sees them.
pub(crate) trait Intercept<'a> {
    /// Reads the value of `key` and answers true, or answers false and reads nothing.
    fn key(&mut self, key: &str, d: &mut Decoder<'a, '_>) -> Result<bool>;
}

/// How a decoder treats its input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Unknown keys are errors (commands) rather than skipped (reports).
    pub(crate) strict: bool,
    pub(crate) max_depth: usize,
    pub(crate) max_objects: usize,
    /// Bytes the decoded value may take.
    pub(crate) budget: usize,
}

impl Settings {
    /// For an input of `input_len` bytes: the decoded value may take four times as much, plus
    /// 64 KiB (a report's typed value takes less than twice its XML).
    pub(crate) fn new(strict: bool, limits: &DecodeLimits, input_len: usize) -> Self {
        Self {
            strict,
            max_depth: limits.max_depth,
            max_objects: limits.max_objects,
            budget: input_len.saturating_mul(4).saturating_add(64 * 1024),
        }
    }
}

/// Reads typed values from a stream of property-list events.
pub struct Decoder<'a, 's> {
    source: &'s mut dyn Source<'a>,
    settings: Settings,
    /// An event read ahead (the first event of an array item).
    peeked: Option<Event<'a>>,
    depth: usize,
    objects: usize,
    /// Bytes of budget left.
    budget: usize,
    /// A key the next dictionary read skips: a union's tag, or a command's `RequestType`.
    skip_key: Option<&'static str>,
    /// Offered every key of the next dictionary read first.
    intercept: Option<&'s mut dyn Intercept<'a>>,
    /// The stack `skip` uses, kept between skips.
    skipping: Vec<Option<bool>>,
}

impl<'a, 's> Decoder<'a, 's> {
    pub(crate) fn new(source: &'s mut dyn Source<'a>, settings: Settings) -> Self {
        Self {
            source,
            settings,
            peeked: None,
            depth: 0,
            objects: 0,
            budget: settings.budget,
            skip_key: None,
            intercept: None,
            skipping: Vec::new(),
        }
    }

    /// Skips `key` in the next dictionary read.
    pub(crate) fn skip_key(&mut self, key: &'static str) {
        self.skip_key = Some(key);
    }

    /// Offers every key of the next dictionary read to `intercept` first.
    pub(crate) fn intercept(&mut self, intercept: &'s mut dyn Intercept<'a>) {
        self.intercept = Some(intercept);
    }

    /// Whether the input is JSON.
    pub(crate) fn is_json(&self) -> bool {
        self.source.is_json()
    }

    /// Requires that the input holds nothing after the value read.
    pub(crate) fn finish(&mut self) -> Result<()> {
        if self.peeked.is_some() || self.source.next()?.is_some() {
            return Err(Error::malformed("more than one top-level value"));
        }
        Ok(())
    }

    fn next_event(&mut self) -> Result<Event<'a>> {
        if let Some(event) = self.peeked.take() {
            return Ok(event);
        }
        let event = self
            .source
            .next()?
            .ok_or_else(|| Error::malformed("the document ends inside a value"))?;
        match event {
            Event::End => {
                self.depth = self.depth.saturating_sub(1);
                return Ok(event);
            }
            Event::StartDictionary | Event::StartArray => {
                self.depth = self.depth.saturating_add(1);
                if self.depth > self.settings.max_depth {
                    return Err(Error::plist(mdm_proto::DecodeError::TooDeep {
                        limit: self.settings.max_depth,
                    }));
                }
            }
            _ => {}
        }
        self.objects = self.objects.saturating_add(1);
        if self.objects > self.settings.max_objects {
            return Err(Error::plist(mdm_proto::DecodeError::TooManyObjects {
                limit: self.settings.max_objects,
            }));
        }
        Ok(event)
    }

    /// Counts `bytes` of the decoded value against the budget.
    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| {
            Error::new(Kind::OverBudget {
                limit: self.settings.budget,
            })
        })?;
        Ok(())
    }

    fn wrong_type(&self, expected: &'static str, found: &Event<'_>) -> Error {
        Error::wrong_type(expected, found.kind())
    }

    /// Reads one value of type `T`.
    pub fn decode<T: Decode>(&mut self) -> Result<T> {
        T::decode(self)
    }

    /// Reads a dictionary, handing each key and its value to `field`, which answers whether it
    /// read the value. A key it does not read is an error in strict mode and skipped otherwise.
    /// Errors of a value are reported under its key.
    pub fn dictionary(
        &mut self,
        mut field: impl FnMut(&str, &mut Self) -> Result<bool>,
    ) -> Result<()> {
        // One loop for every struct, not one per closure: the generated code stays small to build.
        self.dictionary_dyn(&mut field)
    }

    fn dictionary_dyn(
        &mut self,
        field: &mut dyn FnMut(&str, &mut Self) -> Result<bool>,
    ) -> Result<()> {
        let skip_key = self.skip_key.take();
        let mut intercept = self.intercept.take();
        match self.next_event()? {
            Event::StartDictionary => {}
            other => return Err(self.wrong_type("a dictionary", &other)),
        }
        loop {
            let key = match self.next_event()? {
                Event::End => return Ok(()),
                Event::String(key) => key,
                _ => return Err(Error::malformed("a dictionary key is not a string")),
            };
            if skip_key == Some(&*key) {
                self.skip()?;
                continue;
            }
            if let Some(intercept) = intercept.as_deref_mut()
                && intercept.key(&key, self).map_err(|e| e.in_key(&key))?
            {
                continue;
            }
            match field(&key, self) {
                Ok(true) => {}
                Ok(false) if self.settings.strict => return Err(Error::unknown_key(&key)),
                Ok(false) => self.skip()?,
                Err(e) => return Err(e.in_key(&key)),
            }
        }
    }

    /// Reads an array, each item with `item`. Errors of an item are reported under its index.
    pub fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        match self.next_event()? {
            Event::StartArray => {}
            other => return Err(self.wrong_type("an array", &other)),
        }
        let mut items = Vec::new();
        loop {
            match self.next_event()? {
                Event::End => return Ok(items),
                event => self.peeked = Some(event),
            }
            self.charge(size_of::<T>())?;
            let index = items.len();
            items.push(item(self).map_err(|e| e.in_index(index))?);
        }
    }

    /// Reads a dictionary that is one of several kinds, told apart by the string under
    /// `tag_key` (a `Settings` item's `Item`). `variant` reads the dictionary for a tag (the tag
    /// key itself is skipped) and answers `None` for a tag it does not know, which is an error
    /// listing `tags`.
    pub fn tagged<T>(
        &mut self,
        tag_key: &'static str,
        tags: &'static [&'static str],
        variant: impl for<'x, 'y> FnOnce(&str, &mut Decoder<'x, 'y>) -> Result<Option<T>>,
    ) -> Result<T> {
        let tag = match &self.peeked {
            // An array item whose start was read ahead.
            Some(Event::StartDictionary) => self.source.peek_tag(tag_key, true),
            Some(_) => Some(Tag::NotADictionary),
            None => self.source.peek_tag(tag_key, false),
        };
        let tag = match tag {
            Some(Tag::Found(tag)) => tag,
            Some(Tag::Missing) => return Err(Error::missing_key(tag_key)),
            Some(Tag::WrongType(found)) => {
                return Err(Error::wrong_type("a string", found).in_key(tag_key));
            }
            Some(Tag::NotADictionary) => {
                let event = self.next_event()?;
                return Err(self.wrong_type("a dictionary", &event));
            }
            None => return self.buffered_tagged(tag_key, tags, variant),
        };
        self.skip_key = Some(tag_key);
        match variant(&tag, self)? {
            Some(value) => Ok(value),
            None => Err(Error::not_allowed(
                tag.into_owned(),
                tags.iter().map(|t| t.to_string()).collect(),
            )
            .in_key(tag_key)),
        }
    }

    /// A union read from a stream: the dictionary is buffered as a tree, then read from there.
    fn buffered_tagged<T>(
        &mut self,
        tag_key: &'static str,
        tags: &'static [&'static str],
        variant: impl for<'x, 'y> FnOnce(&str, &mut Decoder<'x, 'y>) -> Result<Option<T>>,
    ) -> Result<T> {
        let value = self.any()?;
        let mut source = tree::TreeSource::new(&value);
        let mut sub = Decoder::new(&mut source, self.settings);
        sub.depth = self.depth;
        sub.objects = self.objects;
        sub.budget = self.budget;
        let result = sub.tagged(tag_key, tags, variant);
        self.budget = sub.budget;
        result
    }

    /// Skips one value, however deep, without recursion, checking it as strictly as a value
    /// that is kept: every dictionary key a string, every key with a value.
    pub(crate) fn skip(&mut self) -> Result<()> {
        // The open containers: for a dictionary, whether its next event is a key (or its end).
        let mut open = std::mem::take(&mut self.skipping);
        open.clear();
        let result = self.skip_with(&mut open);
        self.skipping = open;
        result
    }

    fn skip_with(&mut self, open: &mut Vec<Option<bool>>) -> Result<()> {
        loop {
            let event = self.next_event()?;
            if let Some(Some(awaiting_key)) = open.last_mut() {
                if *awaiting_key {
                    match event {
                        Event::String(_) => {
                            *awaiting_key = false;
                            continue;
                        }
                        Event::End => {}
                        _ => return Err(Error::malformed("a dictionary key is not a string")),
                    }
                } else if matches!(event, Event::End) {
                    return Err(Error::malformed("a dictionary key has no value"));
                } else {
                    *awaiting_key = true;
                }
            }
            match event {
                Event::StartDictionary => open.push(Some(true)),
                Event::StartArray => open.push(None),
                Event::End => {
                    open.pop()
                        .ok_or_else(|| Error::malformed("a container ends that never began"))?;
                }
                _ => {}
            }
            if open.is_empty() {
                return Ok(());
            }
        }
    }

    /// A `<string>`.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>> {
        match self.next_event()? {
            Event::String(s) => {
                self.charge(s.len())?;
                Ok(s)
            }
            other => Err(self.wrong_type("a string", &other)),
        }
    }

    /// An `<integer>` that fits an `i64`.
    pub(crate) fn integer(&mut self) -> Result<i64> {
        match self.next_event()? {
            Event::Integer(i) => i
                .as_signed()
                .ok_or_else(|| Error::wrong_type("a signed 64-bit integer", "a larger integer")),
            other => Err(self.wrong_type("an integer", &other)),
        }
    }

    /// An `<integer>` that the schema restricts to `allowed`.
    pub fn integer_in(&mut self, allowed: &'static [i64]) -> Result<i64> {
        let value = self.integer()?;
        if allowed.contains(&value) {
            Ok(value)
        } else {
            Err(Error::not_allowed(
                value.to_string(),
                allowed.iter().map(i64::to_string).collect(),
            ))
        }
    }

    /// A `<real>`; an `<integer>` is taken as its value.
    pub(crate) fn real(&mut self) -> Result<f64> {
        match self.next_event()? {
            Event::Real(r) => Ok(r),
            Event::Integer(i) => Ok(match i.as_signed() {
                Some(i) => i as f64,
                None => i.as_unsigned().map_or(f64::NAN, |u| u as f64),
            }),
            other => Err(self.wrong_type("a real", &other)),
        }
    }

    /// A `<true/>` or `<false/>`.
    pub(crate) fn boolean(&mut self) -> Result<bool> {
        match self.next_event()? {
            Event::Boolean(b) => Ok(b),
            other => Err(self.wrong_type("a boolean", &other)),
        }
    }

    /// A `<data>`; in JSON, a base64 string.
    pub(crate) fn data(&mut self) -> Result<Vec<u8>> {
        match self.next_event()? {
            Event::Data(d) => {
                self.charge(d.len())?;
                Ok(d.into_owned())
            }
            Event::String(s) if self.is_json() => {
                self.charge(s.len())?;
                STANDARD
                    .decode(s.as_bytes())
                    .map_err(|_| Error::new(Kind::InvalidBase64))
            }
            other if self.is_json() => Err(self.wrong_type("a base64 string", &other)),
            other => Err(self.wrong_type("data", &other)),
        }
    }

    /// A `<date>`; in JSON, an RFC 3339 string.
    pub(crate) fn date(&mut self) -> Result<Date> {
        match self.next_event()? {
            Event::Date(d) => Ok(d),
            Event::String(s) if self.is_json() => {
                Date::from_xml_format(&s).map_err(|_| Error::new(Kind::InvalidDate(s.into_owned())))
            }
            other if self.is_json() => Err(self.wrong_type("an RFC 3339 date string", &other)),
            other => Err(self.wrong_type("a date", &other)),
        }
    }

    /// Any value (`<any>`), built without recursion.
    pub(crate) fn any(&mut self) -> Result<Value> {
        let mut stack: Vec<Open> = Vec::new();
        loop {
            if let Some(Open::Dictionary(_, key @ None)) = stack.last_mut() {
                match self.next_event()? {
                    Event::String(k) => {
                        let k = k.into_owned();
                        self.budget = self.budget.saturating_sub(k.len());
                        *key = Some(k);
                        continue;
                    }
                    Event::End => {}
                    _ => return Err(Error::malformed("a dictionary key is not a string")),
                }
                // The dictionary ends.
                let Some(Open::Dictionary(dict, _)) = stack.pop() else {
                    return Err(Error::malformed("a container ends that never began"));
                };
                if let Some(value) = deliver(&mut stack, Value::Dictionary(dict))? {
                    return Ok(value);
                }
                continue;
            }
            let value = match self.next_event()? {
                Event::StartDictionary => {
                    self.charge(size_of::<Value>())?;
                    stack.push(Open::Dictionary(Dictionary::new(), None));
                    continue;
                }
                Event::StartArray => {
                    self.charge(size_of::<Value>())?;
                    stack.push(Open::Array(Vec::new()));
                    continue;
                }
                Event::End => match stack.pop() {
                    Some(Open::Array(items)) => Value::Array(items),
                    _ => return Err(Error::malformed("a container ends that never began")),
                },
                Event::String(s) => {
                    self.charge(size_of::<Value>().saturating_add(s.len()))?;
                    Value::String(s.into_owned())
                }
                Event::Data(d) => {
                    self.charge(size_of::<Value>().saturating_add(d.len()))?;
                    Value::Data(d.into_owned())
                }
                Event::Date(d) => {
                    self.charge(size_of::<Value>())?;
                    Value::Date(d)
                }
                Event::Integer(i) => {
                    self.charge(size_of::<Value>())?;
                    Value::Integer(i)
                }
                Event::Real(r) => {
                    self.charge(size_of::<Value>())?;
                    Value::Real(r)
                }
                Event::Boolean(b) => {
                    self.charge(size_of::<Value>())?;
                    Value::Boolean(b)
                }
                event @ (Event::Uid | Event::Null) => {
                    return Err(self.wrong_type("a property-list value", &event));
                }
            };
            if let Some(value) = deliver(&mut stack, value)? {
                return Ok(value);
            }
        }
    }
}

/// A container of an `<any>` value being built.
enum Open {
    Array(Vec<Value>),
    /// A dictionary, and the key whose value comes next.
    Dictionary(Dictionary, Option<String>),
}

/// Puts a finished value into its parent; returns it when it is the top.
fn deliver(stack: &mut [Open], value: Value) -> Result<Option<Value>> {
    match stack.last_mut() {
        None => Ok(Some(value)),
        Some(Open::Array(items)) => {
            items.push(value);
            Ok(None)
        }
        Some(Open::Dictionary(dict, key)) => {
            let key = key
                .take()
                .ok_or_else(|| Error::malformed("a dictionary value has no key"))?;
            dict.insert(key, value);
            Ok(None)
        }
    }
}

/// The value of a required key, or the error that it is missing.
pub fn required<T>(value: Option<T>, key: &str) -> Result<T> {
    value.ok_or_else(|| Error::missing_key(key))
}

impl Decode for String {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.string().map(Cow::into_owned)
    }
}

impl Decode for i64 {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.integer()
    }
}

impl Decode for f64 {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.real()
    }
}

impl Decode for bool {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.boolean()
    }
}

impl Decode for Vec<u8> {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.data()
    }
}

impl Decode for Date {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.date()
    }
}

impl Decode for Value {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.any()
    }
}

impl Decode for Dictionary {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        let mut dict = Dictionary::new();
        d.dictionary(|key, d| {
            d.charge(key.len())?;
            dict.insert(key.to_owned(), d.any()?);
            Ok(true)
        })?;
        Ok(dict)
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.array(T::decode)
    }
}

impl<T: Decode> Decode for BTreeMap<String, T> {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        let mut map = BTreeMap::new();
        d.dictionary(|key, d| {
            d.charge(size_of::<(String, T)>().saturating_add(key.len()))?;
            map.insert(key.to_owned(), d.decode()?);
            Ok(true)
        })?;
        Ok(map)
    }
}

impl<T: Decode> Decode for Box<T> {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.decode().map(Box::new)
    }
}

/// The result of a command whose report carries no keys of its own: any dictionary, its keys
/// skipped.
impl Decode for () {
    fn decode(d: &mut Decoder<'_, '_>) -> Result<Self> {
        d.dictionary(|_, _| Ok(false))
    }
}

/// Reads a string enum; a value outside a closed list is an error that lists the allowed ones.
pub fn decode_enum<T: StringEnum>(d: &mut Decoder<'_, '_>) -> Result<T> {
    let value = d.string()?;
    T::from_wire(&value).ok_or_else(|| {
        Error::not_allowed(
            value.into_owned(),
            T::VALUES.iter().map(|v| v.to_string()).collect(),
        )
    })
}

impl Encode for String {
    fn encode(&self) -> Value {
        Value::String(self.clone())
    }
}

impl Encode for i64 {
    fn encode(&self) -> Value {
        Value::Integer((*self).into())
    }
}

impl Encode for f64 {
    fn encode(&self) -> Value {
        Value::Real(*self)
    }
}

impl Encode for bool {
    fn encode(&self) -> Value {
        Value::Boolean(*self)
    }
}

impl Encode for Vec<u8> {
    fn encode(&self) -> Value {
        Value::Data(self.clone())
    }
}

impl Encode for Date {
    fn encode(&self) -> Value {
        Value::Date(*self)
    }
}

impl Encode for Value {
    fn encode(&self) -> Value {
        self.clone()
    }
}

impl Encode for Dictionary {
    fn encode(&self) -> Value {
        Value::Dictionary(self.clone())
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self) -> Value {
        Value::Array(self.iter().map(Encode::encode).collect())
    }
}

impl<T: Encode> Encode for BTreeMap<String, T> {
    fn encode(&self) -> Value {
        Value::Dictionary(
            self.iter()
                .map(|(key, value)| (key.clone(), value.encode()))
                .collect(),
        )
    }
}

impl<T: Encode> Encode for Box<T> {
    fn encode(&self) -> Value {
        T::encode(self)
    }
}

impl Encode for () {
    fn encode(&self) -> Value {
        Value::Dictionary(Dictionary::new())
    }
}

/// Writes a string enum.
pub fn encode_enum<T: StringEnum>(value: &T) -> Value {
    Value::String(value.wire().to_owned())
}

/// A value that is written under a key, or left out: every [`Encode`] type, and `Option`s of
/// them (`None` is left out).
pub trait Field {
    /// Inserts the value under `key`, unless it is absent.
    fn insert_into(&self, key: &str, dict: &mut Dictionary);
}

impl<T: Encode> Field for T {
    fn insert_into(&self, key: &str, dict: &mut Dictionary) {
        dict.insert(key.to_owned(), self.encode());
    }
}

impl<T: Encode> Field for Option<T> {
    fn insert_into(&self, key: &str, dict: &mut Dictionary) {
        if let Some(value) = self {
            value.insert_into(key, dict);
        }
    }
}

/// Writes a dictionary key by key, in the schema's order.
#[derive(Debug, Default)]
pub struct Fields(Dictionary);

impl Fields {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` under `key` (nothing for `None`).
    pub fn field(mut self, key: &str, value: &impl Field) -> Self {
        value.insert_into(key, &mut self.0);
        self
    }

    /// The dictionary as a value.
    pub fn into_value(self) -> Value {
        Value::Dictionary(self.0)
    }
}

/// A union's variant written with its tag first (`Item` of a `Settings` item).
pub fn tagged(tag_key: &str, tag: &str, variant: &impl Encode) -> Value {
    let mut dict = Dictionary::new();
    dict.insert(tag_key.to_owned(), Value::String(tag.to_owned()));
    if let Value::Dictionary(fields) = variant.encode() {
        dict.extend(fields);
    }
    Value::Dictionary(dict)
}

/// The dictionary a struct encodes to (every generated struct encodes to one).
pub(crate) fn into_dictionary(value: Value) -> Dictionary {
    match value {
        Value::Dictionary(dict) => dict,
        // Generated structs write dictionaries only; anything else has no keys to give.
        _ => Dictionary::new(),
    }
}

/// What decoding does with a key the schema does not define.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownKeys {
    /// Refuse it ([`DecodeError::UnknownKey`](crate::DecodeError::UnknownKey)): for commands,
    /// whose typed value could not carry it.
    Reject,
    /// Skip it: for reports, where a newer OS adds keys.
    Skip,
}

/// Decodes a `T` (any command, response or nested type) from a property-list value.
pub fn from_value<T: Decode>(
    value: &Value,
    unknown_keys: UnknownKeys,
) -> Result<T, crate::DecodeError> {
    decode_tree(&mut tree::TreeSource::new(value), unknown_keys)
}

/// Decodes a `T` from a JSON value, with Apple's key names: the schema decides every value's
/// property-list type, so a `<data>` value is a base64 string, a `<date>` value an RFC 3339
/// string, and a `<real>` value takes a JSON integer too. [`to_json`] writes the same form.
pub fn from_json<T: Decode>(
    value: &serde_json::Value,
    unknown_keys: UnknownKeys,
) -> Result<T, crate::DecodeError> {
    decode_tree(&mut tree::TreeSource::new(value), unknown_keys)
}

fn decode_tree<'a, T: Decode>(
    source: &mut dyn Source<'a>,
    unknown_keys: UnknownKeys,
) -> Result<T, crate::DecodeError> {
    let limits = DecodeLimits::default();
    let settings = Settings::new(
        unknown_keys == UnknownKeys::Reject,
        &limits,
        limits.max_body_bytes,
    );
    let mut d = Decoder::new(source, settings);
    let decoded = d.decode()?;
    d.finish()?;
    Ok(decoded)
}

/// A property-list value as JSON, the form [`from_json`] reads: `<data>` as a base64 string,
/// `<date>` as an RFC 3339 string (`2024-10-21T00:00:00Z`), a UID as its number. Built without
/// recursion, so a deep value cannot exhaust the stack. A real that JSON cannot hold (NaN,
/// infinite) becomes `null`.
pub fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    /// A container being filled: its items so far and what is left of it.
    enum Open<'v> {
        Array(Vec<Json>, std::slice::Iter<'v, Value>),
        Dictionary(
            serde_json::Map<String, Json>,
            plist::dictionary::Iter<'v>,
            Option<&'v String>,
        ),
    }
    fn scalar(value: &Value) -> Json {
        match value {
            Value::Boolean(b) => Json::Bool(*b),
            Value::Data(bytes) => Json::String(STANDARD.encode(bytes)),
            Value::Date(date) => Json::String(date.to_xml_format()),
            Value::Real(r) => serde_json::Number::from_f64(*r).map_or(Json::Null, Json::Number),
            Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
                (Some(n), _) => Json::from(n),
                (None, Some(n)) => Json::from(n),
                (None, None) => Json::Null,
            },
            Value::String(s) => Json::String(s.clone()),
            Value::Uid(uid) => Json::from(uid.get()),
            // Containers are opened by the caller; a kind a later `plist` adds has no JSON form.
            _ => Json::Null,
        }
    }
    fn open(value: &Value) -> Option<Open<'_>> {
        match value {
            Value::Array(items) => Some(Open::Array(Vec::with_capacity(items.len()), items.iter())),
            Value::Dictionary(dict) => {
                Some(Open::Dictionary(serde_json::Map::new(), dict.iter(), None))
            }
            _ => None,
        }
    }
    let Some(first) = open(value) else {
        return scalar(value);
    };
    let mut stack = vec![first];
    loop {
        // The next child of the innermost container, or that container finished.
        let next = match stack.last_mut() {
            None => return Json::Null,
            Some(Open::Array(_, rest)) => rest.next(),
            Some(Open::Dictionary(_, rest, key)) => rest.next().map(|(k, v)| {
                *key = Some(k);
                v
            }),
        };
        let done = match next {
            Some(child) => match open(child) {
                Some(container) => {
                    stack.push(container);
                    continue;
                }
                None => scalar(child),
            },
            None => match stack.pop() {
                Some(Open::Array(items, _)) => Json::Array(items),
                Some(Open::Dictionary(map, _, _)) => Json::Object(map),
                None => return Json::Null,
            },
        };
        // Deliver a finished value to its parent, or return it when it is the top.
        match stack.last_mut() {
            Some(Open::Array(items, _)) => items.push(done),
            Some(Open::Dictionary(map, _, key)) => {
                if let Some(key) = key.take() {
                    map.insert(key.clone(), done);
                }
            }
            None => return done,
        }
    }
}

#[cfg(test)]
mod tests;

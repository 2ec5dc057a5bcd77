//! What the declaration types and status items (generated from Apple's schema, in
//! [`declarations`](crate::declarations) and [`status_items`](crate::status_items)) share: their
//! traits, their errors, and reading them from JSON.
//!
//! The types read and write themselves with `mdm-commands`' codec, the one the commands and
//! profile payloads use: the schema decides every value's type, and every error names its key
//! path. Declarations and status reports are JSON, so a `<data>` value is a base64 string and a
//! `<date>` value an RFC 3339 string.

use mdm_commands::codec::{self, Decode, Encode, UnknownKeys};
use mdm_commands::{Availability, DecodeError, KeyPath};

use crate::{AnyDeclaration, StatusItem};

/// How deep [`StatusItem::all_in`] follows a status report's nested `StatusItems`. Apple's
/// names have at most five parts; a status report nested deeper is refused there.
pub const MAX_STATUS_ITEM_DEPTH: usize = 32;

/// A declaration type of the schema: its `Payload` as a Rust type.
pub trait DeclarationPayload: Decode + Encode + Clone + std::fmt::Debug + PartialEq {
    /// The declaration's `Type` (`com.apple.configuration.passcode.settings`).
    const DECLARATION_TYPE: &'static str;
    /// Where the declaration type is available.
    const AVAILABILITY: Availability;
    /// The payload's keys that name assets, and the asset types each may name.
    const ASSET_REFERENCES: &'static [AssetReference];

    /// Reads a `Payload` of this type, checked against its schema (see
    /// [`AnyDeclaration::from_json_value`]).
    fn from_json_value(payload: &serde_json::Value) -> Result<Self, PayloadError> {
        payload_from_json(payload, UnknownKeys::Skip)
    }

    /// The payload as JSON, keys as Apple spells them.
    fn to_json_value(&self) -> serde_json::Value {
        codec::to_json(&self.encode())
    }
}

/// A status item of the schema: the type of its value.
pub trait StatusItemType: Decode + Encode + Clone + std::fmt::Debug + PartialEq {
    /// The item's dotted name (`device.operating-system.version`).
    const NAME: &'static str;
    /// Where the status item is available.
    const AVAILABILITY: Availability;

    /// Reads the item's value (the value alone, not the nested `StatusItems`).
    fn from_json_value(value: &serde_json::Value) -> Result<Self, StatusItemError> {
        status_value_from_json(Self::NAME, value)
    }

    /// The value as JSON, as a device reports it.
    fn to_json_value(&self) -> serde_json::Value {
        codec::to_json(&self.encode())
    }
}

/// A key of a declaration's payload whose value names assets by their `Identifier`s (the
/// schema's `assettypes`): a configuration's credentials, identity, data file…
///
/// A server checks that every asset a configuration names exists, and is of one of the types
/// the key allows, before it stores the configuration; a device reports
/// `Error.MissingAssets` otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AssetReference {
    /// The key's path from the top of the payload; `*` stands for every item of an array and
    /// every value of a dictionary keyed by names (`["AnchorCertificateAssetReferences", "*"]`,
    /// `["LaunchdConfigurations", "*", "FileAssetReference"]`).
    pub path: &'static [&'static str],
    /// The asset declaration types the key may name.
    pub asset_types: &'static [&'static str],
}

impl AssetReference {
    /// The asset identifiers this key holds in `payload`: the strings at its path. Values of
    /// another type are left out (reading the payload typed refuses them).
    pub fn identifiers_in<'p>(&self, payload: &'p serde_json::Value) -> Vec<&'p str> {
        let mut found = Vec::new();
        // Values reached so far, with how much of the path they have followed. The path is
        // static and short, so this is bounded by the payload's size.
        let mut stack = vec![(payload, 0_usize)];
        while let Some((value, depth)) = stack.pop() {
            let Some(segment) = self.path.get(depth) else {
                if let Some(identifier) = value.as_str() {
                    found.push(identifier);
                }
                continue;
            };
            let next = depth.saturating_add(1);
            match (*segment, value) {
                ("*", serde_json::Value::Array(items)) => {
                    stack.extend(items.iter().rev().map(|item| (item, next)));
                }
                ("*", serde_json::Value::Object(map)) => {
                    stack.extend(map.values().rev().map(|item| (item, next)));
                }
                (key, serde_json::Value::Object(map)) => {
                    if let Some(inner) = map.get(key) {
                        stack.push((inner, next));
                    }
                }
                _ => {}
            }
        }
        found
    }
}

/// Why a declaration's payload does not match its type's schema.
///
/// A server answers all of them with 400 Bad Request: storing such a declaration would only
/// make devices report it invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// A declaration type the schema does not define.
    #[error("unknown declaration type {0:?}")]
    UnknownType(String),
    /// The payload is not well-formed JSON.
    #[error(
        "the payload of {declaration_type} is not JSON: line {line}, column {column}: {reason}"
    )]
    Json {
        /// The declaration type.
        declaration_type: String,
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// What the JSON parser found wrong.
        reason: String,
    },
    /// The payload does not match the schema: a missing required key, a value of the wrong
    /// type, a value outside a closed list, … [`DecodeError::path`] names the key, from the
    /// top of the payload.
    #[error("{declaration_type} payload: {error}")]
    Invalid {
        /// The declaration type.
        declaration_type: &'static str,
        /// What is wrong, and where.
        error: DecodeError,
    },
}

impl PayloadError {
    /// The path of the offending value in the payload, when one value is at fault.
    pub fn path(&self) -> Option<&KeyPath> {
        match self {
            PayloadError::Invalid { error, .. } => error.path(),
            PayloadError::UnknownType(_) | PayloadError::Json { .. } => None,
        }
    }
}

/// Why a status item could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusItemError {
    /// The item's value does not have the type the schema gives it.
    #[error("status item {name}: {error}")]
    Invalid {
        /// The item's dotted name.
        name: String,
        /// What is wrong, and where in the value.
        error: DecodeError,
    },
    /// `StatusItems` (or a part of it that can only hold items) is not a dictionary.
    #[error("status items under {name:?} are not a dictionary")]
    NotADictionary {
        /// The dotted name of the part, empty for `StatusItems` itself.
        name: String,
    },
    /// `StatusItems` nests deeper than [`MAX_STATUS_ITEM_DEPTH`]; what is below is not read.
    #[error("status items under {name:?} nest deeper than {limit} levels")]
    TooDeep {
        /// The dotted name where the limit was reached.
        name: String,
        /// The limit.
        limit: usize,
    },
}

/// Reads a declaration payload of type `T`.
pub(crate) fn payload_from_json<T: DeclarationPayload>(
    payload: &serde_json::Value,
    unknown_keys: UnknownKeys,
) -> Result<T, PayloadError> {
    codec::from_json(payload, unknown_keys).map_err(|error| PayloadError::Invalid {
        declaration_type: T::DECLARATION_TYPE,
        error,
    })
}

/// Reads the value of the status item `name`; keys the schema does not define are skipped.
pub(crate) fn status_value_from_json<T: Decode>(
    name: &str,
    value: &serde_json::Value,
) -> Result<T, StatusItemError> {
    codec::from_json(value, UnknownKeys::Skip).map_err(|error| StatusItemError::Invalid {
        name: name.to_owned(),
        error,
    })
}

impl AnyDeclaration {
    /// Reads the `Payload` of a declaration of type `declaration_type`, checked against the
    /// type's schema: every required key present, every value of its type, every value of a
    /// closed list in the list. Keys the schema does not define (a newer OS's) are skipped, not
    /// refused; [`AnyDeclaration::from_json_value_with`] and [`UnknownKeys::Reject`] refuse
    /// them, to catch a misspelt key an operator meant.
    pub fn from_json_value(
        declaration_type: &str,
        payload: &serde_json::Value,
    ) -> Result<Self, PayloadError> {
        Self::from_json_value_with(declaration_type, payload, UnknownKeys::Skip)
    }

    /// The assets the payload names: each identifier, with the key that names it (its path
    /// and the asset types it allows), in the schema's order of keys.
    pub fn asset_references(&self) -> Vec<(String, AssetReference)> {
        let payload = self.to_json_value();
        let keys = Self::asset_references_of(self.declaration_type()).unwrap_or_default();
        keys.iter()
            .flat_map(|key| {
                key.identifiers_in(&payload)
                    .into_iter()
                    .map(|identifier| (identifier.to_owned(), *key))
            })
            .collect()
    }

    /// [`AnyDeclaration::from_json_value`] from the payload's JSON text.
    ///
    /// The text is parsed by `serde_json`, whose nesting limit (128) bounds the recursion; bound
    /// its size before (a declaration is a few kilobytes).
    pub fn from_json(declaration_type: &str, payload: &[u8]) -> Result<Self, PayloadError> {
        if !Self::DECLARATION_TYPES.contains(&declaration_type) {
            return Err(PayloadError::UnknownType(declaration_type.to_owned()));
        }
        let payload: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| PayloadError::Json {
                declaration_type: declaration_type.to_owned(),
                line: e.line(),
                column: e.column(),
                reason: e.to_string(),
            })?;
        Self::from_json_value(declaration_type, &payload)
    }
}

impl StatusItem {
    /// Reads the status item `name` from a status report's `StatusItems`, where it sits at the
    /// path its dotted name spells (`device.operating-system.version` is
    /// `{"device": {"operating-system": {"version": …}}}`). `None` when the report does not
    /// hold it; a name the schema does not define gives [`StatusItem::Other`].
    pub fn from_path(
        name: &str,
        status_items: &serde_json::Value,
    ) -> Result<Option<Self>, StatusItemError> {
        let mut value = status_items;
        for part in name.split('.') {
            match value.get(part) {
                Some(inner) => value = inner,
                None => return Ok(None),
            }
        }
        Self::from_value(name, value).map(Some)
    }

    /// Every status item of a status report's `StatusItems`, in the order of its keys: the
    /// items the schema defines typed, the rest as [`StatusItem::Other`] (an unknown
    /// dictionary is followed down to its values, each an item of its own), and an error for
    /// each item that does not read — one bad item does not hide the others.
    pub fn all_in(status_items: &serde_json::Value) -> Vec<Result<Self, StatusItemError>> {
        let mut items = Vec::new();
        let Some(top) = status_items.as_object() else {
            items.push(Err(StatusItemError::NotADictionary {
                name: String::new(),
            }));
            return items;
        };
        // The dictionaries being read: the dotted name of each, and what is left of it.
        let mut stack = vec![(String::new(), top.iter())];
        while let Some((prefix, rest)) = stack.last_mut() {
            let Some((key, value)) = rest.next() else {
                stack.pop();
                continue;
            };
            let name = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let known = Self::NAMES.binary_search(&name.as_str()).is_ok();
            match value.as_object() {
                Some(inner) if !known && !inner.is_empty() => {
                    if stack.len() >= MAX_STATUS_ITEM_DEPTH {
                        items.push(Err(StatusItemError::TooDeep {
                            name,
                            limit: MAX_STATUS_ITEM_DEPTH,
                        }));
                    } else {
                        stack.push((name, inner.iter()));
                    }
                }
                _ => items.push(Self::from_value(&name, value)),
            }
        }
        items
    }
}

/// `serde` for a generated type, through the codec: serializing writes its JSON (keys as Apple
/// spells them), deserializing reads a JSON value and checks it against the schema.
macro_rules! serde_via_codec {
    ($name:ident) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                serde::Serialize::serialize(
                    &mdm_commands::codec::to_json(&mdm_commands::codec::Encode::encode(self)),
                    serializer,
                )
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> std::result::Result<Self, D::Error> {
                let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
                mdm_commands::codec::from_json(&value, mdm_commands::codec::UnknownKeys::Skip)
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_via_codec;

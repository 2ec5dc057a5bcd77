//! A declaration: its type, identifier and payload, and the server token derived from them.

use serde_json::{Map, Value};

use crate::category::DeclarationCategory;
use crate::json::{self, BoundsError};
use crate::token::{ServerToken, TokenHasher};

/// The longest identifier accepted, in bytes. Apple asks for at most 64 octets
/// ([`RECOMMENDED_IDENTIFIER_BYTES`]) but does not say devices refuse longer ones, and KMFDDM
/// accepts any length; this bound only keeps hostile input small.
pub const MAX_IDENTIFIER_BYTES: usize = 1024;

/// The identifier length Apple's `declarationbase.yaml` recommends not to exceed, in bytes.
pub const RECOMMENDED_IDENTIFIER_BYTES: usize = 64;

/// The longest declaration type accepted, in bytes.
pub const MAX_TYPE_BYTES: usize = 256;

/// Limits on a declaration's JSON text, checked before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclarationLimits {
    /// The longest JSON text, in bytes. Default 1 MiB: declarations carry settings and
    /// references, large data travels as assets fetched from URLs.
    pub max_bytes: usize,
    /// The deepest nesting of arrays and objects, the declaration object itself counting 1.
    /// Default 64 (Apple's deepest declaration schemas nest under 10).
    pub max_depth: usize,
}

impl Default for DeclarationLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// Why a declaration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeclarationError {
    /// The JSON text is longer than [`DeclarationLimits::max_bytes`].
    #[error("the declaration is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The text's length.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Arrays and objects nest deeper than [`DeclarationLimits::max_depth`].
    #[error("the declaration nests deeper than {limit} levels (at byte {offset})")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// The byte offset of the bracket that went past it.
        offset: usize,
    },
    /// The text is not JSON.
    #[error("the declaration is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The JSON is not an object.
    #[error("a declaration is a JSON object")]
    NotAnObject,
    /// A required key (`Type`, `Identifier` or `Payload`) is absent.
    #[error("the declaration has no {key}")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A key holds the wrong kind of JSON value.
    #[error("the declaration's {key} is not {expected}")]
    WrongValueType {
        /// The key.
        key: &'static str,
        /// What it must be: `a string` or `an object`.
        expected: &'static str,
    },
    /// The identifier is empty.
    #[error("the declaration's Identifier is empty")]
    EmptyIdentifier,
    /// The identifier is longer than [`MAX_IDENTIFIER_BYTES`].
    #[error("the declaration's Identifier is {length} bytes, over the limit of {limit}")]
    IdentifierTooLong {
        /// Its length in bytes.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// The identifier contains a control character.
    #[error("the declaration's Identifier has a control character at byte {offset}")]
    IdentifierControlCharacter {
        /// The byte offset of the character.
        offset: usize,
    },
    /// The type is not `com.apple.<category>.<name>` with a known category.
    #[error(
        "the declaration's Type {declaration_type:?} does not start with com.apple.activation., \
         com.apple.asset., com.apple.configuration. or com.apple.management."
    )]
    UnknownCategory {
        /// The type given.
        declaration_type: String,
    },
    /// The type has an empty word, a character other than ASCII letters, digits, `-` and
    /// `_` in a word, or is longer than [`MAX_TYPE_BYTES`].
    #[error("the declaration's Type {declaration_type:?} is malformed at byte {offset}")]
    MalformedType {
        /// The type given.
        declaration_type: String,
        /// The byte offset of the first offending character (or the length, when too long).
        offset: usize,
    },
}

/// A declaration as the server keeps it: `Type`, `Identifier` and `Payload`.
///
/// The `ServerToken` is not part of it: it is derived from the content (and a touch count,
/// see [`server_token`](Self::server_token)), so a `ServerToken` in the JSON given to
/// [`from_json`](Self::from_json) is ignored, as KMFDDM ignores it.
///
/// The payload is kept as a JSON object and both the server token and the document a device
/// fetches use its canonical form (keys sorted, no whitespace): databases that store JSON
/// (PostgreSQL `jsonb`, MySQL `JSON`) give back neither the bytes nor the key order they were
/// given, and a token over the bytes would change on such a round trip, making every device
/// fetch an unchanged declaration again. Re-indenting or reordering a payload therefore does
/// not change its token, while any change of a value does.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    declaration_type: String,
    identifier: String,
    category: DeclarationCategory,
    payload: Map<String, Value>,
}

impl Declaration {
    /// A declaration from its parts, checked: the type must be `com.apple.<category>.<name>`
    /// with one of the four categories, the identifier non-empty, at most
    /// [`MAX_IDENTIFIER_BYTES`] and free of control characters.
    ///
    /// The payload's keys are not checked against the type's schema here; see
    /// [`validate_declaration`](crate::validate_declaration).
    pub fn new(
        declaration_type: impl Into<String>,
        identifier: impl Into<String>,
        payload: Map<String, Value>,
    ) -> Result<Self, DeclarationError> {
        let declaration_type = declaration_type.into();
        let identifier = identifier.into();
        check_identifier(&identifier)?;
        let category = check_type(&declaration_type)?;
        Ok(Self {
            declaration_type,
            identifier,
            category,
            payload,
        })
    }

    /// Parses a declaration's JSON (`{"Type", "Identifier", "Payload", …}`) with the default
    /// [`DeclarationLimits`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, DeclarationError> {
        Self::from_json_with(bytes, &DeclarationLimits::default())
    }

    /// Parses a declaration's JSON within `limits`. Keys other than `Type`, `Identifier` and
    /// `Payload` (a `ServerToken`, for one) are ignored.
    pub fn from_json_with(
        bytes: &[u8],
        limits: &DeclarationLimits,
    ) -> Result<Self, DeclarationError> {
        json::check_bounds(bytes, limits.max_bytes, limits.max_depth).map_err(|e| match e {
            BoundsError::TooLarge { size, limit } => DeclarationError::TooLarge { size, limit },
            BoundsError::TooDeep { limit, offset } => DeclarationError::TooDeep { limit, offset },
        })?;
        let value: Value = serde_json::from_slice(bytes).map_err(DeclarationError::Json)?;
        let Value::Object(mut object) = value else {
            return Err(DeclarationError::NotAnObject);
        };
        let declaration_type = take_string(&mut object, "Type")?;
        let identifier = take_string(&mut object, "Identifier")?;
        let payload = match object.remove("Payload") {
            None => return Err(DeclarationError::MissingKey { key: "Payload" }),
            Some(Value::Object(payload)) => payload,
            Some(_) => {
                return Err(DeclarationError::WrongValueType {
                    key: "Payload",
                    expected: "an object",
                });
            }
        };
        Self::new(declaration_type, identifier, payload)
    }

    /// The declaration's `Type`, e.g. `com.apple.configuration.passcode.settings`.
    pub fn declaration_type(&self) -> &str {
        &self.declaration_type
    }

    /// The declaration's `Identifier`.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The category of the declaration's type.
    pub fn category(&self) -> DeclarationCategory {
        self.category
    }

    /// The declaration's `Payload`.
    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }

    /// The payload in canonical form: keys sorted by their bytes, no whitespace.
    pub fn canonical_payload(&self) -> String {
        let mut out = String::new();
        json::write_canonical_object(&self.payload, &mut out);
        out
    }

    /// The declaration's server token: a SHA-256 over the type, the identifier, the canonical
    /// payload and `touch`, each length-prefixed under a version label, cut to 128 bits and
    /// written as 32 lowercase hexadecimal characters.
    ///
    /// Nothing else goes in (no creation time, no server name), so the same declaration has
    /// the same token on every server and after every restart, and a device never fetches an
    /// unchanged declaration again. `touch` is the number of times the declaration was
    /// touched (KMFDDM's `PUT /v1/declarations/{id}/touch`), 0 for a declaration never
    /// touched: raising it gives a new token for the same content, which makes devices fetch
    /// and apply the declaration again.
    pub fn server_token(&self, touch: u64) -> ServerToken {
        let mut hasher = TokenHasher::new("rootstock mdm-ddm server token v1");
        hasher.field(self.declaration_type.as_bytes());
        hasher.field(self.identifier.as_bytes());
        hasher.field(self.canonical_payload().as_bytes());
        hasher.number(touch);
        ServerToken::new(hasher.finish_hex())
    }

    /// The document a device fetches at `declaration/<category>/<identifier>`:
    /// `{"Identifier":…,"Type":…,"Payload":…,"ServerToken":…}`, compact, the payload in
    /// canonical form. KMFDDM answers the same four keys (in this order from its key-value
    /// stores).
    pub fn document(&self, server_token: &ServerToken) -> String {
        let mut out = String::from("{\"Identifier\":");
        json::write_string(&self.identifier, &mut out);
        out.push_str(",\"Type\":");
        json::write_string(&self.declaration_type, &mut out);
        out.push_str(",\"Payload\":");
        json::write_canonical_object(&self.payload, &mut out);
        out.push_str(",\"ServerToken\":");
        json::write_string(server_token.as_str(), &mut out);
        out.push('}');
        out
    }

    /// The `Endpoint` a device asks for to fetch this declaration:
    /// `declaration/<category>/<identifier>`.
    pub fn endpoint(&self) -> String {
        format!("declaration/{}/{}", self.category, self.identifier)
    }

    /// The declaration as the manifest entry of the declaration-items document, at the token
    /// for `touch`.
    pub fn item(&self, touch: u64) -> crate::DeclarationItem {
        crate::DeclarationItem {
            identifier: self.identifier.clone(),
            category: self.category,
            server_token: self.server_token(touch),
        }
    }
}

/// Reads the `Endpoint` of a declaration fetch, `declaration/<category>/<identifier>`, into the
/// category and the identifier (everything after the second `/`, which may itself hold `/`).
/// `None` when the endpoint has another form, an unknown category word or an empty
/// identifier; a server answers 404 then, as KMFDDM does for a declaration it does not find.
pub fn parse_declaration_endpoint(endpoint: &str) -> Option<(DeclarationCategory, &str)> {
    let rest = endpoint.strip_prefix("declaration/")?;
    let (word, identifier) = rest.split_once('/')?;
    let category = DeclarationCategory::from_endpoint_word(word)?;
    (!identifier.is_empty()).then_some((category, identifier))
}

fn take_string(
    object: &mut Map<String, Value>,
    key: &'static str,
) -> Result<String, DeclarationError> {
    match object.remove(key) {
        None => Err(DeclarationError::MissingKey { key }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(DeclarationError::WrongValueType {
            key,
            expected: "a string",
        }),
    }
}

fn check_identifier(identifier: &str) -> Result<(), DeclarationError> {
    if identifier.is_empty() {
        return Err(DeclarationError::EmptyIdentifier);
    }
    if identifier.len() > MAX_IDENTIFIER_BYTES {
        return Err(DeclarationError::IdentifierTooLong {
            length: identifier.len(),
            limit: MAX_IDENTIFIER_BYTES,
        });
    }
    if let Some((offset, _)) = identifier.char_indices().find(|(_, c)| c.is_control()) {
        return Err(DeclarationError::IdentifierControlCharacter { offset });
    }
    Ok(())
}

/// Checks `com.apple.<category>.<word>[.<word>…]`, each word non-empty ASCII letters,
/// digits, `-` or `_`.
fn check_type(declaration_type: &str) -> Result<DeclarationCategory, DeclarationError> {
    let malformed = |offset| DeclarationError::MalformedType {
        declaration_type: declaration_type.to_owned(),
        offset,
    };
    if declaration_type.len() > MAX_TYPE_BYTES {
        return Err(malformed(MAX_TYPE_BYTES));
    }
    let Some(category) = DeclarationCategory::of_declaration_type(declaration_type) else {
        return Err(DeclarationError::UnknownCategory {
            declaration_type: declaration_type.to_owned(),
        });
    };
    let mut word_start = true;
    for (offset, c) in declaration_type.char_indices() {
        if c == '.' {
            if word_start {
                return Err(malformed(offset));
            }
            word_start = true;
        } else if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            word_start = false;
        } else {
            return Err(malformed(offset));
        }
    }
    // `com.apple.<category>` alone, or a trailing dot, names no declaration type.
    let prefix_len = "com.apple."
        .len()
        .saturating_add(category.endpoint_word().len());
    if word_start || declaration_type.len() <= prefix_len {
        return Err(malformed(declaration_type.len()));
    }
    Ok(category)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passcode(payload: &str) -> Declaration {
        Declaration::from_json(
            format!(
                r#"{{"Type":"com.apple.configuration.passcode.settings","Identifier":"com.example.passcode","Payload":{payload}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn server_token_is_stable_and_ignores_formatting() {
        let a = passcode(r#"{"RequirePasscode":true,"MinimumLength":6}"#);
        let b = passcode("{\n  \"MinimumLength\" : 6,\n  \"RequirePasscode\" : true\n}");
        assert_eq!(a.server_token(0), b.server_token(0));
        assert_eq!(a.server_token(0), a.clone().server_token(0));
        assert_eq!(a.server_token(0).as_str().len(), 32);
        assert!(
            a.server_token(0)
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
        // Pinned: the token is part of what devices hold; changing the scheme makes every
        // device fetch every declaration once more.
        assert_eq!(a.server_token(0).as_str(), pinned_token());
    }

    fn pinned_token() -> &'static str {
        "1d6ddf3b196240a18e14b8a0173a68ff"
    }

    #[test]
    fn server_token_changes_with_content_and_touch() {
        let base = passcode(r#"{"RequirePasscode":true,"MinimumLength":6}"#);
        let t = base.server_token(0);
        assert_ne!(t, base.server_token(1));
        assert_ne!(base.server_token(1), base.server_token(2));
        assert_ne!(
            t,
            passcode(r#"{"RequirePasscode":true,"MinimumLength":7}"#).server_token(0)
        );
        assert_ne!(t, passcode(r#"{"RequirePasscode":true}"#).server_token(0));
        let other_id = Declaration::new(
            "com.apple.configuration.passcode.settings",
            "com.example.passcode2",
            base.payload().clone(),
        )
        .unwrap();
        assert_ne!(t, other_id.server_token(0));
        let other_type = Declaration::new(
            "com.apple.configuration.passcode.settings2",
            "com.example.passcode",
            base.payload().clone(),
        )
        .unwrap();
        assert_ne!(t, other_type.server_token(0));
    }

    #[test]
    fn document_has_the_four_keys_and_round_trips() {
        let d = passcode(r#"{"RequirePasscode":true}"#);
        let token = d.server_token(3);
        let doc = d.document(&token);
        assert_eq!(
            doc,
            format!(
                r#"{{"Identifier":"com.example.passcode","Type":"com.apple.configuration.passcode.settings","Payload":{{"RequirePasscode":true}},"ServerToken":"{token}"}}"#
            )
        );
        let back = Declaration::from_json(doc.as_bytes()).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.server_token(3), token);
    }

    #[test]
    fn refusals_are_precise() {
        type Check = fn(&DeclarationError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("[]", |e| matches!(e, DeclarationError::NotAnObject)),
            ("{", |e| matches!(e, DeclarationError::Json(_))),
            (r#"{"Identifier":"a","Payload":{}}"#, |e| {
                matches!(e, DeclarationError::MissingKey { key: "Type" })
            }),
            (
                r#"{"Type":"com.apple.activation.simple","Identifier":"a"}"#,
                |e| matches!(e, DeclarationError::MissingKey { key: "Payload" }),
            ),
            (
                r#"{"Type":"com.apple.activation.simple","Identifier":"a","Payload":[]}"#,
                |e| matches!(e, DeclarationError::WrongValueType { key: "Payload", .. }),
            ),
            (
                r#"{"Type":"com.apple.activation.simple","Identifier":1,"Payload":{}}"#,
                |e| {
                    matches!(
                        e,
                        DeclarationError::WrongValueType {
                            key: "Identifier",
                            ..
                        }
                    )
                },
            ),
            (
                r#"{"Type":"com.apple.activation.simple","Identifier":"","Payload":{}}"#,
                |e| matches!(e, DeclarationError::EmptyIdentifier),
            ),
            (
                r#"{"Type":"com.apple.activation.simple","Identifier":"a\nb","Payload":{}}"#,
                |e| {
                    matches!(
                        e,
                        DeclarationError::IdentifierControlCharacter { offset: 1 }
                    )
                },
            ),
            (
                r#"{"Type":"com.example.thing","Identifier":"a","Payload":{}}"#,
                |e| matches!(e, DeclarationError::UnknownCategory { .. }),
            ),
            (
                r#"{"Type":"com.apple.activation","Identifier":"a","Payload":{}}"#,
                |e| matches!(e, DeclarationError::MalformedType { offset: 20, .. }),
            ),
            (
                r#"{"Type":"com.apple.activation..x","Identifier":"a","Payload":{}}"#,
                |e| matches!(e, DeclarationError::MalformedType { offset: 21, .. }),
            ),
            (
                r#"{"Type":"com.apple.activation.sim ple","Identifier":"a","Payload":{}}"#,
                |e| matches!(e, DeclarationError::MalformedType { offset: 24, .. }),
            ),
        ];
        for (json, check) in cases {
            let error = Declaration::from_json(json.as_bytes()).unwrap_err();
            assert!(check(&error), "{json}: {error:?}");
            assert!(!error.to_string().is_empty());
        }
        let deep = format!(
            r#"{{"Type":"com.apple.activation.simple","Identifier":"a","Payload":{{"x":{}{}}}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(matches!(
            Declaration::from_json(deep.as_bytes()),
            Err(DeclarationError::TooDeep { limit: 64, .. })
        ));
    }

    #[test]
    fn endpoints() {
        let d = passcode("{}");
        assert_eq!(
            d.endpoint(),
            "declaration/configuration/com.example.passcode"
        );
        assert_eq!(
            parse_declaration_endpoint(&d.endpoint()),
            Some((DeclarationCategory::Configuration, "com.example.passcode"))
        );
        assert_eq!(
            parse_declaration_endpoint("declaration/asset/a/b"),
            Some((DeclarationCategory::Asset, "a/b"))
        );
        for bad in [
            "declaration/asset/",
            "declaration/asset",
            "declaration/thing/x",
            "tokens",
            "declaration//x",
        ] {
            assert_eq!(parse_declaration_endpoint(bad), None, "{bad}");
        }
    }

    #[test]
    fn categories_follow_the_type() {
        let d = Declaration::new("com.apple.asset.credential.scep", "a", Map::new()).unwrap();
        assert_eq!(d.category(), DeclarationCategory::Asset);
    }
}

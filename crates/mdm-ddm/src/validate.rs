//! Checking a declaration before it is stored: its payload against its type's schema, an
//! activation's predicate, and the declarations it refers to.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::category::DeclarationCategory;
use crate::declaration::Declaration;
use crate::predicate::{PredicateError, check_predicate};
use crate::{AnyDeclaration, PayloadError};

/// Checks a declaration's payload against the schema of its type.
///
/// [`AppleSchema`] is Apple's schema (the typed declarations of [`declarations`](crate::declarations));
/// [`AnyPayload`] accepts every payload, for declaration types of one's own that devices are
/// known to accept. Any `Fn(&Declaration) -> Result<(), PayloadError>` is a `PayloadSchema`.
pub trait PayloadSchema {
    /// `Ok` when the declaration's payload is valid for its type.
    fn check_payload(&self, declaration: &Declaration) -> Result<(), PayloadError>;
}

impl<F> PayloadSchema for F
where
    F: Fn(&Declaration) -> Result<(), PayloadError>,
{
    fn check_payload(&self, declaration: &Declaration) -> Result<(), PayloadError> {
        self(declaration)
    }
}

/// Apple's schema: [`AnyDeclaration::from_json_value`] refuses an unknown type, a missing
/// required key, a value of the wrong type and a value outside a closed list; keys the schema
/// does not define are let through (a newer OS adds keys).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppleSchema;

impl PayloadSchema for AppleSchema {
    fn check_payload(&self, declaration: &Declaration) -> Result<(), PayloadError> {
        let payload = Value::Object(declaration.payload().clone());
        AnyDeclaration::from_json_value(declaration.declaration_type(), &payload).map(|_| ())
    }
}

/// A [`PayloadSchema`] that accepts every payload: type and payload are not checked against
/// Apple's schema (predicates and references still are).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyPayload;

impl PayloadSchema for AnyPayload {
    fn check_payload(&self, _declaration: &Declaration) -> Result<(), PayloadError> {
        Ok(())
    }
}

/// The declarations a declaration will be stored with, as far as references need them: the
/// category of each identifier.
pub trait DeclarationLookup {
    /// The category of the declaration with this identifier, if there is one.
    fn category_of(&self, identifier: &str) -> Option<DeclarationCategory>;
}

impl DeclarationLookup for [Declaration] {
    fn category_of(&self, identifier: &str) -> Option<DeclarationCategory> {
        self.iter()
            .find(|d| d.identifier() == identifier)
            .map(Declaration::category)
    }
}

impl DeclarationLookup for BTreeMap<String, Declaration> {
    fn category_of(&self, identifier: &str) -> Option<DeclarationCategory> {
        self.get(identifier).map(Declaration::category)
    }
}

impl<S: std::hash::BuildHasher> DeclarationLookup for HashMap<String, Declaration, S> {
    fn category_of(&self, identifier: &str) -> Option<DeclarationCategory> {
        self.get(identifier).map(Declaration::category)
    }
}

impl DeclarationLookup for BTreeMap<String, DeclarationCategory> {
    fn category_of(&self, identifier: &str) -> Option<DeclarationCategory> {
        self.get(identifier).copied()
    }
}

impl<S: std::hash::BuildHasher> DeclarationLookup for HashMap<String, DeclarationCategory, S> {
    fn category_of(&self, identifier: &str) -> Option<DeclarationCategory> {
        self.get(identifier).copied()
    }
}

/// Why a declaration may not be stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The payload does not match its type's schema (see [`PayloadSchema`]).
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// A key this crate reads (`Predicate`, `StandardConfigurations`, an asset reference)
    /// holds the wrong kind of value.
    #[error("Payload.{key_path} is not {expected}")]
    WrongValueType {
        /// The key path inside the payload.
        key_path: String,
        /// What it must be.
        expected: &'static str,
    },
    /// An activation's `Predicate` does not parse.
    #[error("Payload.Predicate: {0}")]
    Predicate(#[source] PredicateError),
    /// An activation names a configuration that does not exist.
    #[error("Payload.{key_path} names {identifier:?}, which is not a declaration")]
    UnknownConfiguration {
        /// The key path (`StandardConfigurations[1]`).
        key_path: String,
        /// The identifier named.
        identifier: String,
    },
    /// An activation names a declaration that is not a configuration.
    #[error(
        "Payload.{key_path} names {identifier:?}, which is an {category} declaration, not a configuration"
    )]
    NotAConfiguration {
        /// The key path.
        key_path: String,
        /// The identifier named.
        identifier: String,
        /// What it is.
        category: DeclarationCategory,
    },
    /// A configuration names an asset that does not exist.
    #[error("Payload.{key_path} names {identifier:?}, which is not a declaration")]
    UnknownAsset {
        /// The key path (`IncomingServer.AuthenticationCredentialsAssetReference`).
        key_path: String,
        /// The identifier named.
        identifier: String,
    },
    /// A configuration names a declaration that is not an asset.
    #[error(
        "Payload.{key_path} names {identifier:?}, which is a {category} declaration, not an asset"
    )]
    NotAnAsset {
        /// The key path.
        key_path: String,
        /// The identifier named.
        identifier: String,
        /// What it is.
        category: DeclarationCategory,
    },
}

/// An asset a configuration names, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedAsset<'a> {
    /// Where in the payload (`CredentialAssetReference`,
    /// `LaunchdConfigurations[0].FileAssetReference`, `AnchorCertificateAssetReferences[1]`).
    pub key_path: String,
    /// The asset's identifier.
    pub identifier: &'a str,
}

/// The assets a configuration's payload names.
///
/// The rule, read from Apple's `declarative/declarations/configurations` schema (and checked
/// against it, [`AnyDeclaration::asset_references_of`], by a test): the keys that carry
/// `assettypes` are exactly the keys whose name ends in `AssetReference` (a string,
/// e.g. `CredentialAssetReference`, `IncomingServer.AuthenticationCredentialsAssetReference`,
/// `LaunchdConfigurations[].FileAssetReference`) or `AssetReferences` (an array of strings,
/// `AnchorCertificateAssetReferences`), at any depth, inside objects and arrays. Only
/// configurations refer to assets; other categories give none.
///
/// A key with such a name holding another kind of value is a
/// [`ValidationError::WrongValueType`].
pub fn named_assets(declaration: &Declaration) -> Result<Vec<NamedAsset<'_>>, ValidationError> {
    let mut references = Vec::new();
    if declaration.category() != DeclarationCategory::Configuration {
        return Ok(references);
    }
    // Depth-first without recursion; payload depth is bounded by the declaration's limits.
    // Each entry: key path, the member's key (None for an array element), value.
    let mut stack: Vec<(String, Option<&str>, &Value)> = declaration
        .payload()
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), Some(k.as_str()), v))
        .collect();
    while let Some((path, key, value)) = stack.pop() {
        if key.is_some_and(|k| k.ends_with("AssetReference")) {
            let Value::String(identifier) = value else {
                return Err(ValidationError::WrongValueType {
                    key_path: path,
                    expected: "a string",
                });
            };
            references.push(NamedAsset {
                key_path: path,
                identifier,
            });
            continue;
        }
        if key.is_some_and(|k| k.ends_with("AssetReferences")) {
            let Value::Array(items) = value else {
                return Err(ValidationError::WrongValueType {
                    key_path: path,
                    expected: "an array of strings",
                });
            };
            for (i, item) in items.iter().enumerate() {
                let key_path = format!("{path}[{i}]");
                let Value::String(identifier) = item else {
                    return Err(ValidationError::WrongValueType {
                        key_path,
                        expected: "a string",
                    });
                };
                references.push(NamedAsset {
                    key_path,
                    identifier,
                });
            }
            continue;
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter().rev() {
                    stack.push((format!("{path}.{k}"), Some(k.as_str()), v));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate().rev() {
                    stack.push((format!("{path}[{i}]"), None, v));
                }
            }
            _ => {}
        }
    }
    Ok(references)
}

/// Checks a declaration before it is stored beside `existing` (the declarations already
/// stored, or stored with it):
///
/// 1. its payload against its type's schema, by `schema` ([`AppleSchema`]; [`AnyPayload`]
///    skips it);
/// 2. an activation's `Predicate`, when present: a string that parses
///    ([`check_predicate`](crate::check_predicate));
/// 3. an activation's `StandardConfigurations`, when present: an array of strings, each the
///    identifier of a configuration in `existing`;
/// 4. the assets a configuration names ([`named_assets`]): each the identifier of an
///    asset in `existing`.
///
/// The first problem found is returned. The declaration's own type and identifier were
/// checked when it was made ([`Declaration::new`]).
pub fn validate_declaration<L, S>(
    declaration: &Declaration,
    existing: &L,
    schema: &S,
) -> Result<(), ValidationError>
where
    L: DeclarationLookup + ?Sized,
    S: PayloadSchema + ?Sized,
{
    schema.check_payload(declaration)?;
    match declaration.category() {
        DeclarationCategory::Activation => validate_activation(declaration, existing),
        DeclarationCategory::Configuration => {
            for reference in named_assets(declaration)? {
                let found = existing.category_of(reference.identifier);
                if found == Some(DeclarationCategory::Asset) {
                    continue;
                }
                let key_path = reference.key_path;
                let identifier = reference.identifier.to_owned();
                return Err(match found {
                    None => ValidationError::UnknownAsset {
                        key_path,
                        identifier,
                    },
                    Some(category) => ValidationError::NotAnAsset {
                        key_path,
                        identifier,
                        category,
                    },
                });
            }
            Ok(())
        }
        DeclarationCategory::Asset | DeclarationCategory::Management => Ok(()),
    }
}

fn validate_activation<L: DeclarationLookup + ?Sized>(
    declaration: &Declaration,
    existing: &L,
) -> Result<(), ValidationError> {
    let payload = declaration.payload();
    match payload.get("Predicate") {
        None => {}
        Some(Value::String(predicate)) => {
            check_predicate(predicate).map_err(ValidationError::Predicate)?;
        }
        Some(_) => {
            return Err(ValidationError::WrongValueType {
                key_path: "Predicate".to_owned(),
                expected: "a string",
            });
        }
    }
    let Some(configurations) = payload.get("StandardConfigurations") else {
        return Ok(());
    };
    let Value::Array(configurations) = configurations else {
        return Err(ValidationError::WrongValueType {
            key_path: "StandardConfigurations".to_owned(),
            expected: "an array of strings",
        });
    };
    for (i, item) in configurations.iter().enumerate() {
        let key_path = format!("StandardConfigurations[{i}]");
        let Value::String(identifier) = item else {
            return Err(ValidationError::WrongValueType {
                key_path,
                expected: "a string",
            });
        };
        let found = existing.category_of(identifier);
        if found == Some(DeclarationCategory::Configuration) {
            continue;
        }
        let identifier = identifier.clone();
        return Err(match found {
            None => ValidationError::UnknownConfiguration {
                key_path,
                identifier,
            },
            Some(category) => ValidationError::NotAConfiguration {
                key_path,
                identifier,
                category,
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;

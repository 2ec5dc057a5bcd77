//! Sets of declarations, an enrollment's effective declarations, and the documents built from
//! them.

use std::collections::{BTreeMap, BTreeSet};

use crate::category::DeclarationCategory;
use crate::protocol::{
    DeclarationItemsResponse, ManifestDeclaration, ManifestDeclarationItems, SyncTokens,
    TokensResponse,
};
use crate::token::{ServerToken, TokenHasher};

/// What the engine needs of a declaration to list it for a device: its identifier, category
/// and current server token (Apple's schema calls the listed entry a `DeclarationItem`).
///
/// A store can keep these beside the declarations and answer `tokens` and
/// `declaration-items` without reading any payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeclarationItem {
    /// The declaration's identifier.
    pub identifier: String,
    /// The category of its type.
    pub category: DeclarationCategory,
    /// Its current server token.
    pub server_token: ServerToken,
}

/// A named set of declarations, KMFDDM's unit of assignment: enrollments are assigned sets,
/// never single declarations. A declaration may be in many sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclarationSet {
    /// The set's name.
    pub name: String,
    /// The identifiers of its declarations.
    pub declarations: BTreeSet<String>,
}

impl DeclarationSet {
    /// An empty set.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            declarations: BTreeSet::new(),
        }
    }

    /// The identifiers in any of `sets`, each once, in identifier order: the declarations of
    /// an enrollment assigned those sets.
    pub fn union<'a>(sets: impl IntoIterator<Item = &'a DeclarationSet>) -> BTreeSet<&'a str> {
        sets.into_iter()
            .flat_map(|set| set.declarations.iter().map(String::as_str))
            .collect()
    }
}

/// The declarations an enrollment should hold: the union of its sets' declarations, each
/// once, kept in identifier order so every document built from it is deterministic.
///
/// ```
/// use mdm_ddm::{DeclarationCategory, DeclarationItem, EffectiveDeclarations, ServerToken};
///
/// let item = |id: &str, token: &str| DeclarationItem {
///     identifier: id.into(),
///     category: DeclarationCategory::Configuration,
///     server_token: ServerToken::new(token),
/// };
/// let a = EffectiveDeclarations::from_items([item("x", "1"), item("y", "2")]);
/// let b = EffectiveDeclarations::from_items([item("y", "2"), item("x", "1"), item("x", "1")]);
/// assert_eq!(a.declarations_token(), b.declarations_token());
/// assert_eq!(b.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectiveDeclarations {
    items: BTreeMap<String, DeclarationItem>,
}

impl EffectiveDeclarations {
    /// The effective declarations from the items of every declaration in the enrollment's
    /// sets, duplicates included (a declaration in two sets is listed once). Items with the
    /// same identifier are the same declaration read from one store; if they differ anyway,
    /// the first is kept.
    pub fn from_items(items: impl IntoIterator<Item = DeclarationItem>) -> Self {
        let mut map = BTreeMap::new();
        for item in items {
            map.entry(item.identifier.clone()).or_insert(item);
        }
        Self { items: map }
    }

    /// How many declarations.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item of a declaration, if it is among them.
    pub fn get(&self, identifier: &str) -> Option<&DeclarationItem> {
        self.items.get(identifier)
    }

    /// Whether a declaration of this identifier and category is among them: what a server
    /// checks before answering `declaration/<category>/<identifier>` (a device may fetch only
    /// what it was listed, under the category it was listed in).
    pub fn contains(&self, category: DeclarationCategory, identifier: &str) -> bool {
        self.items
            .get(identifier)
            .is_some_and(|item| item.category == category)
    }

    /// The items, in identifier order.
    pub fn iter(&self) -> impl Iterator<Item = &DeclarationItem> {
        self.items.values()
    }

    /// The `DeclarationsToken`: a SHA-256 over every (identifier, server token) pair in
    /// identifier order, under a version label, cut to 128 bits, 32 lowercase hexadecimal
    /// characters.
    ///
    /// The order the items came in does not matter; adding or removing a declaration, or any
    /// change of a member's server token, changes it. An empty set has a token too.
    pub fn declarations_token(&self) -> String {
        let mut hasher = TokenHasher::new("rootstock mdm-ddm declarations token v1");
        hasher.number(self.items.len() as u64);
        for item in self.items.values() {
            hasher.field(item.identifier.as_bytes());
            hasher.field(item.server_token.as_str().as_bytes());
        }
        hasher.finish_hex()
    }

    /// The `tokens` answer (and `DeclarativeManagement` command `Data`), stamped with
    /// `timestamp` (see [`rfc3339_utc`](crate::rfc3339_utc)).
    pub fn tokens_response(&self, timestamp: impl Into<String>) -> TokensResponse {
        TokensResponse {
            sync_tokens: SyncTokens {
                declarations_token: self.declarations_token(),
                timestamp: timestamp.into(),
            },
        }
    }

    /// The `declaration-items` answer: each declaration under its category, in identifier
    /// order, and the declarations token.
    pub fn declaration_items_response(&self) -> DeclarationItemsResponse {
        let mut lists = ManifestDeclarationItems::default();
        for item in self.items.values() {
            let list = match item.category {
                DeclarationCategory::Activation => &mut lists.activations,
                DeclarationCategory::Asset => &mut lists.assets,
                DeclarationCategory::Configuration => &mut lists.configurations,
                DeclarationCategory::Management => &mut lists.management,
            };
            list.push(ManifestDeclaration {
                identifier: item.identifier.clone(),
                server_token: item.server_token.clone(),
            });
        }
        DeclarationItemsResponse {
            declarations: lists,
            declarations_token: self.declarations_token(),
        }
    }
}

impl FromIterator<DeclarationItem> for EffectiveDeclarations {
    fn from_iter<T: IntoIterator<Item = DeclarationItem>>(iter: T) -> Self {
        Self::from_items(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn item(id: &str, category: DeclarationCategory, token: &str) -> DeclarationItem {
        DeclarationItem {
            identifier: id.into(),
            category,
            server_token: ServerToken::new(token),
        }
    }

    fn sample() -> Vec<DeclarationItem> {
        use DeclarationCategory::*;
        vec![
            item("com.example.act", Activation, "t1"),
            item("com.example.passcode", Configuration, "t2"),
            item("com.example.cred", Asset, "t3"),
            item("com.example.org", Management, "t4"),
            item("com.example.test", Configuration, "t5"),
        ]
    }

    #[test]
    fn declarations_token_ignores_order_and_duplicates() {
        let a = EffectiveDeclarations::from_items(sample());
        let mut reversed = sample();
        reversed.reverse();
        reversed.extend(sample());
        let b = EffectiveDeclarations::from_items(reversed);
        assert_eq!(a, b);
        assert_eq!(a.declarations_token(), b.declarations_token());
        assert_eq!(a.declarations_token().len(), 32);
    }

    #[test]
    fn declarations_token_changes_with_tokens_and_membership() {
        let base = EffectiveDeclarations::from_items(sample()).declarations_token();
        let mut changed = sample();
        changed[1].server_token = ServerToken::new("t2'");
        assert_ne!(
            base,
            EffectiveDeclarations::from_items(changed).declarations_token()
        );
        let mut fewer = sample();
        fewer.pop();
        assert_ne!(
            base,
            EffectiveDeclarations::from_items(fewer).declarations_token()
        );
        let mut more = sample();
        more.push(item("com.example.more", DeclarationCategory::Asset, "t6"));
        assert_ne!(
            base,
            EffectiveDeclarations::from_items(more).declarations_token()
        );
        // Field boundaries count: moving a character from identifier to token is a change.
        let x = EffectiveDeclarations::from_items([item("ab", DeclarationCategory::Asset, "c")]);
        let y = EffectiveDeclarations::from_items([item("a", DeclarationCategory::Asset, "bc")]);
        assert_ne!(x.declarations_token(), y.declarations_token());
        assert_ne!(
            EffectiveDeclarations::default().declarations_token(),
            x.declarations_token()
        );
    }

    #[test]
    fn union_of_sets() {
        let mut a = DeclarationSet::new("a");
        a.declarations.extend(["x".to_owned(), "y".to_owned()]);
        let mut b = DeclarationSet::new("b");
        b.declarations.extend(["y".to_owned(), "z".to_owned()]);
        let union: Vec<&str> = DeclarationSet::union([&a, &b]).into_iter().collect();
        assert_eq!(union, ["x", "y", "z"]);
    }

    #[test]
    fn documents_have_kmfddm_shapes() {
        let effective = EffectiveDeclarations::from_items(sample());
        let token = effective.declarations_token();
        let items = serde_json::to_string(&effective.declaration_items_response()).unwrap();
        // Key names and order as KMFDDM's `ddm.DeclarationItems` marshals them.
        assert_eq!(
            items,
            format!(
                concat!(
                    r#"{{"Declarations":{{"#,
                    r#""Activations":[{{"Identifier":"com.example.act","ServerToken":"t1"}}],"#,
                    r#""Assets":[{{"Identifier":"com.example.cred","ServerToken":"t3"}}],"#,
                    r#""Configurations":[{{"Identifier":"com.example.passcode","ServerToken":"t2"}},"#,
                    r#"{{"Identifier":"com.example.test","ServerToken":"t5"}}],"#,
                    r#""Management":[{{"Identifier":"com.example.org","ServerToken":"t4"}}]}},"#,
                    r#""DeclarationsToken":"{}"}}"#
                ),
                token
            )
        );
        let tokens =
            serde_json::to_string(&effective.tokens_response("2026-12-07T22:46:05Z")).unwrap();
        assert_eq!(
            tokens,
            format!(
                r#"{{"SyncTokens":{{"DeclarationsToken":"{token}","Timestamp":"2026-12-07T22:46:05Z"}}}}"#
            )
        );
        // No declarations: the four lists are still there, empty (Apple requires them).
        let empty: Value =
            serde_json::to_value(EffectiveDeclarations::default().declaration_items_response())
                .unwrap();
        assert_eq!(
            empty["Declarations"],
            json!({"Activations": [], "Assets": [], "Configurations": [], "Management": []})
        );
    }

    #[test]
    fn contains_checks_the_category() {
        let effective = EffectiveDeclarations::from_items(sample());
        assert!(effective.contains(DeclarationCategory::Configuration, "com.example.passcode"));
        assert!(!effective.contains(DeclarationCategory::Asset, "com.example.passcode"));
        assert!(!effective.contains(DeclarationCategory::Asset, "missing"));
    }
}

//! The four kinds of declaration, named by the word after `com.apple.` in a declaration's type.

use std::fmt;

/// What a declaration is, by the second word of its type (`com.apple.<category>.…`).
///
/// The category decides which list of the declaration-items document a declaration is listed
/// in, which endpoint a device fetches it from (`declaration/<category>/<identifier>`) and which
/// list of the `management.declarations` status item a device reports it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeclarationCategory {
    /// `com.apple.activation.*`: installs configurations, optionally under a predicate.
    Activation,
    /// `com.apple.asset.*`: data a configuration refers to (credentials, files, identities).
    Asset,
    /// `com.apple.configuration.*`: a policy the device applies when an activation names it.
    Configuration,
    /// `com.apple.management.*`: information about the management itself (organization,
    /// properties, server capabilities).
    Management,
}

impl DeclarationCategory {
    /// Every category, in the order the declaration-items document lists them.
    pub const ALL: [DeclarationCategory; 4] = [
        DeclarationCategory::Activation,
        DeclarationCategory::Asset,
        DeclarationCategory::Configuration,
        DeclarationCategory::Management,
    ];

    /// The category of a declaration type: the word after `com.apple.`, when it is one of the
    /// four (`com.apple.configuration.passcode.settings` → [`Configuration`](Self::Configuration)).
    ///
    /// This only reads the prefix; [`Declaration::new`](crate::Declaration::new) checks the
    /// whole type.
    pub fn of_declaration_type(declaration_type: &str) -> Option<Self> {
        let rest = declaration_type.strip_prefix("com.apple.")?;
        let word = rest.split('.').next().unwrap_or(rest);
        Self::from_endpoint_word(word)
    }

    /// The category named by the word a device uses in `declaration/<word>/<identifier>`
    /// (`activation`, `asset`, `configuration`, `management`).
    pub fn from_endpoint_word(word: &str) -> Option<Self> {
        match word {
            "activation" => Some(Self::Activation),
            "asset" => Some(Self::Asset),
            "configuration" => Some(Self::Configuration),
            "management" => Some(Self::Management),
            _ => None,
        }
    }

    /// The word of the type prefix and of the declaration endpoint: `activation`, `asset`,
    /// `configuration` or `management`.
    pub fn endpoint_word(self) -> &'static str {
        match self {
            Self::Activation => "activation",
            Self::Asset => "asset",
            Self::Configuration => "configuration",
            Self::Management => "management",
        }
    }

    /// The key of this category's list in the declaration-items document:
    /// `Activations`, `Assets`, `Configurations`, `Management`.
    pub fn items_key(self) -> &'static str {
        match self {
            Self::Activation => "Activations",
            Self::Asset => "Assets",
            Self::Configuration => "Configurations",
            Self::Management => "Management",
        }
    }

    /// The key of this category's list in the `management.declarations` status item:
    /// `activations`, `assets`, `configurations`, `management`.
    pub fn status_key(self) -> &'static str {
        match self {
            Self::Activation => "activations",
            Self::Asset => "assets",
            Self::Configuration => "configurations",
            Self::Management => "management",
        }
    }

    /// The category whose status list has this key (see [`status_key`](Self::status_key)).
    pub fn from_status_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.status_key() == key)
    }
}

impl fmt::Display for DeclarationCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.endpoint_word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_from_type_prefix() {
        use DeclarationCategory::*;
        for (t, c) in [
            ("com.apple.activation.simple", Some(Activation)),
            ("com.apple.asset.credential.scep", Some(Asset)),
            (
                "com.apple.configuration.passcode.settings",
                Some(Configuration),
            ),
            ("com.apple.management.properties", Some(Management)),
            ("com.apple.management", Some(Management)),
            ("com.apple.command.x", None),
            ("com.example.configuration.x", None),
            ("", None),
        ] {
            assert_eq!(DeclarationCategory::of_declaration_type(t), c, "{t}");
        }
    }

    #[test]
    fn keys_round_trip() {
        for c in DeclarationCategory::ALL {
            assert_eq!(
                DeclarationCategory::from_status_key(c.status_key()),
                Some(c)
            );
            assert_eq!(
                DeclarationCategory::from_endpoint_word(c.endpoint_word()),
                Some(c)
            );
        }
    }
}

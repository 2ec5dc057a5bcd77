//! NanoMDM's `-storage-options` strings: comma-separated `key=value` pairs, e.g. `delete=1`.

/// Why a storage-options string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A key the backend does not know.
    #[error("invalid storage option {0:?}")]
    UnknownOption(String),
    /// A known key with a value it does not take.
    #[error("invalid value {value:?} for storage option {key:?}")]
    InvalidValue {
        /// The option.
        key: String,
        /// The value given.
        value: String,
    },
}

/// Splits `delete=1,foo=bar` into pairs, as NanoMDM does: an empty string has no options, a
/// pair without `=` has an empty value.
pub(crate) fn split(options: &str) -> impl Iterator<Item = (&str, &str)> {
    options
        .split(',')
        .filter(|opt| !opt.is_empty())
        .map(|opt| opt.split_once('=').unwrap_or((opt, "")))
}

/// A `0`/`1` flag, as NanoMDM's `delete` takes.
pub(crate) fn flag(key: &str, value: &str) -> Result<bool, OptionsError> {
    match value {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(invalid(key, value)),
    }
}

pub(crate) fn invalid(key: &str, value: &str) -> OptionsError {
    OptionsError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_nanomdm() {
        let pairs: Vec<_> = split("delete=1,x,y=a=b").collect();
        assert_eq!(pairs, [("delete", "1"), ("x", ""), ("y", "a=b")]);
        assert_eq!(split("").count(), 0);
    }

    #[test]
    fn flags_take_only_0_and_1() {
        assert_eq!(flag("delete", "1"), Ok(true));
        assert_eq!(flag("delete", "0"), Ok(false));
        assert_eq!(
            flag("delete", "yes"),
            Err(OptionsError::InvalidValue {
                key: "delete".into(),
                value: "yes".into()
            })
        );
    }
}

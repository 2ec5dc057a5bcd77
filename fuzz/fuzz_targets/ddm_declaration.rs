//! DDM declarations (the body of `PUT /v1/declarations`) and activation predicates from
//! arbitrary bytes: never a panic, and what is accepted is stable and round-trips.
//!
//! The first byte picks the mode (its lowest bit); the rest is the input:
//!
//! * 0: a declaration's JSON, read by `Declaration::from_json` with its default limits. An
//!   accepted declaration has a 32-hex-digit server token that is the same when computed
//!   twice and changes with the touch count; the document a device fetches reads back to the
//!   same declaration with the same token; and `validate_declaration` (which parses an
//!   activation's predicate and checks references) runs against a small fixed store, an
//!   accepted activation naming only configurations of that store.
//! * 1: a predicate's text, read by `check_predicate`. A refusal points at a character
//!   boundary inside the text; an accepted predicate is still accepted in parentheses and
//!   negated, unless that crosses the length or depth limit.
//!
//! Seeds: `seeds/ddm_declaration` (Apple-style declarations of each category, one at the
//! nesting limit, and predicates from Apple's and KMFDDM's documentation, one at the depth
//! limit, one near the length limit).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use mdm_ddm::{
    AnyPayload, AppleSchema, Declaration, DeclarationCategory, DeclarationLimits, PayloadSchema,
    PredicateErrorKind, ValidationError, check_predicate, validate_declaration,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        declaration(input);
    } else if let Ok(text) = std::str::from_utf8(input) {
        predicate(text);
    }
});

fn store() -> BTreeMap<String, DeclarationCategory> {
    [
        ("cfg.passcode", DeclarationCategory::Configuration),
        ("cfg.test", DeclarationCategory::Configuration),
        ("asset.login", DeclarationCategory::Asset),
        ("asset.anchor", DeclarationCategory::Asset),
        ("act.base", DeclarationCategory::Activation),
        ("mgmt.org", DeclarationCategory::Management),
    ]
    .into_iter()
    .map(|(id, c)| (id.to_owned(), c))
    .collect()
}

fn declaration(input: &[u8]) {
    let declaration = match Declaration::from_json(input) {
        Ok(d) => d,
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    let token = declaration.server_token(0);
    assert_eq!(token.as_str().len(), 32);
    assert!(token.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(token, declaration.server_token(0));
    assert_ne!(token, declaration.server_token(1));
    assert_eq!(
        DeclarationCategory::of_declaration_type(declaration.declaration_type()),
        Some(declaration.category())
    );

    // The document a device fetches reads back to the same declaration (canonical numbers may
    // be longer than the input's, hence no size limit here).
    let document = declaration.document(&token);
    let roomy = DeclarationLimits {
        max_bytes: usize::MAX,
        ..DeclarationLimits::default()
    };
    let back = Declaration::from_json_with(document.as_bytes(), &roomy)
        .expect("a declaration's document reads back");
    assert_eq!(back, declaration);
    assert_eq!(back.server_token(0), token);

    // Apple's schema (the generated decoders) sees the payload as a server would take it.
    if let Err(error) = AppleSchema.check_payload(&declaration) {
        assert!(!error.to_string().is_empty());
    }
    let store = store();
    match validate_declaration(&declaration, &store, &AnyPayload) {
        Ok(()) => {
            if declaration.category() == DeclarationCategory::Activation {
                if let Some(serde_json::Value::Array(ids)) =
                    declaration.payload().get("StandardConfigurations")
                {
                    for id in ids {
                        let id = id.as_str().expect("accepted references are strings");
                        assert_eq!(store.get(id), Some(&DeclarationCategory::Configuration));
                    }
                }
                if let Some(p) = declaration.payload().get("Predicate") {
                    check_predicate(p.as_str().expect("an accepted predicate is a string"))
                        .expect("an accepted predicate parses");
                }
            }
        }
        Err(ValidationError::Predicate(error)) => {
            let text = declaration
                .payload()
                .get("Predicate")
                .and_then(|p| p.as_str())
                .expect("a refused predicate is a string");
            assert!(error.offset <= text.len());
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

fn predicate(text: &str) {
    match check_predicate(text) {
        Ok(()) => {
            for wrapped in [format!("({text})"), format!("NOT ({text})")] {
                match check_predicate(&wrapped) {
                    Ok(()) => {}
                    Err(e) => assert!(
                        matches!(
                            e.kind,
                            PredicateErrorKind::TooDeep | PredicateErrorKind::TooLong { .. }
                        ),
                        "{text:?} accepted, {wrapped:?} refused: {e}"
                    ),
                }
            }
        }
        Err(error) => {
            assert!(error.offset <= text.len(), "{text:?}: {error:?}");
            assert!(text.is_char_boundary(error.offset), "{text:?}: {error:?}");
            assert!(!error.to_string().is_empty());
        }
    }
}

//! Bounded JSON reading and the canonical JSON form server tokens are computed over.

use serde_json::{Map, Value};

/// Why a JSON text was refused before it was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BoundsError {
    /// The text is longer than the limit.
    TooLarge { size: usize, limit: usize },
    /// Arrays and objects nest deeper than the limit; `offset` is the byte that went past it.
    TooDeep { limit: usize, offset: usize },
}

/// Checks size and nesting depth without recursion: a scan that counts brackets outside
/// strings. A text that passes may still be invalid JSON; `serde_json` decides that, and its
/// own recursion never goes deeper than `max_depth` (kept well under its limit of 128).
pub(crate) fn check_bounds(
    bytes: &[u8],
    max_bytes: usize,
    max_depth: usize,
) -> Result<(), BoundsError> {
    if bytes.len() > max_bytes {
        return Err(BoundsError::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &byte) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth = depth.saturating_add(1);
                if depth > max_depth {
                    return Err(BoundsError::TooDeep {
                        limit: max_depth,
                        offset,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Writes `value` in canonical form: no whitespace, object keys sorted by their UTF-8 bytes,
/// strings and numbers as `serde_json` writes them. Two payloads that differ only in key order
/// or whitespace have the same canonical form, whatever order `serde_json::Map` keeps (the
/// workspace may enable `preserve_order` for another crate).
///
/// Recursive, but only over values that came through [`check_bounds`].
pub(crate) fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => write_canonical_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Null => out.push_str("null"),
    }
}

/// [`write_canonical`] for an object.
pub(crate) fn write_canonical_object(map: &Map<String, Value>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(key, out);
        out.push(':');
        write_canonical(value, out);
    }
    out.push('}');
}

/// A JSON string literal, escaped as `serde_json` escapes it.
pub(crate) fn write_string(s: &str, out: &mut String) {
    // Serializing a `str` cannot fail; the fallback keeps the output valid JSON regardless.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_outside_strings() {
        assert_eq!(check_bounds(br#"{"a":"[[[[[[["}"#, 100, 1), Ok(()));
        assert_eq!(check_bounds(br#"{"a":"\"[[[["}"#, 100, 1), Ok(()));
        assert_eq!(
            check_bounds(b"[[[", 100, 2),
            Err(BoundsError::TooDeep {
                limit: 2,
                offset: 2
            })
        );
        assert_eq!(
            check_bounds(b"[]", 1, 2),
            Err(BoundsError::TooLarge { size: 2, limit: 1 })
        );
    }

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let a: Value =
            serde_json::from_str(r#"{ "b": [1, 2.5, {"z": null, "a": true}], "a": "x\n" }"#)
                .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":"x\n","b":[1,2.5,{"a":true,"z":null}]}"#).unwrap();
        let mut sa = String::new();
        let mut sb = String::new();
        write_canonical(&a, &mut sa);
        write_canonical(&b, &mut sb);
        assert_eq!(sa, sb);
        assert_eq!(sa, r#"{"a":"x\n","b":[1,2.5,{"a":true,"z":null}]}"#);
    }
}

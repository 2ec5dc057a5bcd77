//! A bounded, non-recursive property-list parser that keeps only what a message reads.
//!
//! The limits are enforced on the very event stream the values are built from (`plist`'s XML and
//! binary readers), so no spelling of a container — a namespace prefix, an entity, another
//! encoding — can reach a value the depth and object counts did not see. Values are assembled on
//! an explicit stack, so nothing here recurses per nesting level.
//!
//! A message reads a handful of keys; a report can carry megabytes of others
//! (`InstalledApplicationList`). Those are parsed (the body must be a well-formed property list,
//! because it is stored and forwarded as is) but dropped as they stream past, so decoding costs
//! the body plus the few values kept, whatever the body holds.

use std::io::Cursor;

use plist::stream::{BinaryReader, Event, OwnedEvent};
use plist::{Dictionary, Value};

use crate::xml::XmlEvents;
use crate::{DecodeError, DecodeLimits, limits};

/// What decoding keeps of a value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Keep {
    /// The whole value.
    All,
    /// Of a dictionary, the listed keys (with what to keep of each value); the others are checked
    /// and dropped. A value that is not a dictionary is kept whole, so that the reader of the key
    /// can say what is wrong with it.
    Keys(&'static [&'static [(&'static str, Keep)]]),
}

impl Keep {
    /// What to keep of the value under `key`, or `None` to drop it.
    pub(crate) fn key(self, key: &str) -> Option<Keep> {
        match self {
            Keep::All => Some(Keep::All),
            Keep::Keys(groups) => groups
                .iter()
                .flat_map(|group| group.iter())
                .find(|(name, _)| *name == key)
                .map(|&(_, keep)| keep),
        }
    }
}

/// Parses `body` (after [`limits::check`]) into its top-level dictionary, keeping what `keep`
/// names.
pub(crate) fn dictionary(
    body: &[u8],
    limits: &DecodeLimits,
    keep: Keep,
) -> Result<Dictionary, DecodeError> {
    limits::check(body, limits)?;
    let mut builder = Builder::new(limits, keep);
    if limits::is_binary(body) {
        for event in BinaryReader::new(Cursor::new(body)) {
            builder.push(event?)?;
        }
    } else {
        // Only XML: the `plist` crate would also read OpenStep ("ASCII") property lists, which no
        // device sends and NanoMDM does not read.
        for event in XmlEvents::new(body) {
            builder.push(event?)?;
        }
    }
    match builder.finish()? {
        Value::Dictionary(dict) => Ok(dict),
        _ => Err(DecodeError::NotADictionary),
    }
}

/// An open array or dictionary.
struct Frame {
    /// For a dictionary, whether its next event is a key (or its end); always false for arrays.
    /// Tracked for dropped dictionaries too, so a dropped subtree is checked as strictly as a
    /// kept one.
    awaiting_key: bool,
    is_dictionary: bool,
    /// The value being built, or `None` when this container is dropped.
    node: Option<Node>,
    /// What to keep of this container's children.
    keep: Keep,
}

enum Node {
    Array(Vec<Value>),
    /// A dictionary, with the key whose value comes next and what to keep of that value (`None`
    /// drops it).
    Dictionary {
        dict: Dictionary,
        key: Option<(String, Option<Keep>)>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    /// The top-level value, once complete.
    root: Option<Value>,
    /// What to keep of the top-level value.
    root_keep: Keep,
    /// Whether a top-level value has started (a second one is malformed).
    started: bool,
    objects: usize,
    kept: usize,
    max_depth: usize,
    max_objects: usize,
    max_kept: usize,
}

impl Builder {
    fn new(limits: &DecodeLimits, root_keep: Keep) -> Self {
        Self {
            stack: Vec::new(),
            root: None,
            root_keep,
            started: false,
            objects: 0,
            kept: 0,
            max_depth: limits.max_depth,
            max_objects: limits.max_objects,
            max_kept: limits.max_kept_values,
        }
    }

    fn push(&mut self, event: OwnedEvent) -> Result<(), DecodeError> {
        if let Event::EndCollection = event {
            return self.close();
        }
        self.objects = self.objects.saturating_add(1);
        if self.objects > self.max_objects {
            return Err(DecodeError::TooManyObjects {
                limit: self.max_objects,
            });
        }
        // What to keep of this event's value: `None` drops it.
        let keep = match self.stack.last_mut() {
            None if self.started => {
                return Err(DecodeError::Malformed("more than one top-level value"));
            }
            None => {
                if !matches!(event, Event::StartDictionary(_)) {
                    return Err(DecodeError::NotADictionary);
                }
                self.started = true;
                Some(self.root_keep)
            }
            Some(frame) if frame.awaiting_key => {
                let Event::String(key) = event else {
                    return Err(DecodeError::Malformed("a dictionary key is not a string"));
                };
                frame.awaiting_key = false;
                if let Some(Node::Dictionary { key: pending, .. }) = &mut frame.node {
                    let keep = frame.keep.key(&key);
                    *pending = Some((key.into_owned(), keep));
                    if keep.is_some() {
                        return self.count_kept();
                    }
                }
                return Ok(());
            }
            Some(frame) => {
                // A dictionary's next event, after this value, is a key again (or its end).
                frame.awaiting_key = frame.is_dictionary;
                match &frame.node {
                    None => None,
                    Some(Node::Array(_)) => Some(frame.keep),
                    Some(Node::Dictionary { key, .. }) => key.as_ref().and_then(|(_, keep)| *keep),
                }
            }
        };
        let value = match event {
            Event::StartArray(_) | Event::StartDictionary(_) => {
                if self.stack.len() >= self.max_depth {
                    return Err(DecodeError::TooDeep {
                        limit: self.max_depth,
                    });
                }
                let is_dictionary = matches!(event, Event::StartDictionary(_));
                let node = match keep {
                    None => None,
                    Some(_) => {
                        self.count_kept()?;
                        Some(if is_dictionary {
                            Node::Dictionary {
                                dict: Dictionary::new(),
                                key: None,
                            }
                        } else {
                            Node::Array(Vec::new())
                        })
                    }
                };
                self.stack.push(Frame {
                    awaiting_key: is_dictionary,
                    is_dictionary,
                    node,
                    keep: keep.unwrap_or(Keep::All),
                });
                return Ok(());
            }
            Event::Boolean(b) => Value::Boolean(b),
            Event::Data(d) => Value::Data(d.into_owned()),
            Event::Date(d) => Value::Date(d),
            Event::Integer(i) => Value::Integer(i),
            Event::Real(r) => Value::Real(r),
            Event::String(s) => Value::String(s.into_owned()),
            Event::Uid(u) => Value::Uid(u),
            _ => {
                return Err(DecodeError::Malformed(
                    "an element this crate does not know",
                ));
            }
        };
        if keep.is_none() {
            return Ok(());
        }
        self.count_kept()?;
        self.deliver(value);
        Ok(())
    }

    /// Ends the innermost container and hands it to its parent.
    fn close(&mut self) -> Result<(), DecodeError> {
        let frame = self
            .stack
            .pop()
            .ok_or(DecodeError::Malformed("a container ends that never began"))?;
        if frame.is_dictionary && !frame.awaiting_key {
            return Err(DecodeError::Malformed("a dictionary key has no value"));
        }
        match frame.node {
            None => {}
            Some(Node::Array(items)) => self.deliver(Value::Array(items)),
            Some(Node::Dictionary { dict, .. }) => self.deliver(Value::Dictionary(dict)),
        }
        Ok(())
    }

    /// Puts a finished, kept value where it belongs: into its parent, or on top.
    fn deliver(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame {
                node: Some(Node::Array(items)),
                ..
            }) => items.push(value),
            Some(Frame {
                node: Some(Node::Dictionary { dict, key }),
                ..
            }) => {
                if let Some((key, _)) = key.take() {
                    dict.insert(key, value);
                }
            }
            // A kept value's parent is kept: nothing to do for a dropped one.
            Some(Frame { node: None, .. }) => {}
        }
    }

    fn count_kept(&mut self) -> Result<(), DecodeError> {
        self.kept = self.kept.saturating_add(1);
        if self.kept > self.max_kept {
            return Err(DecodeError::TooManyKeptValues {
                limit: self.max_kept,
            });
        }
        Ok(())
    }

    fn finish(self) -> Result<Value, DecodeError> {
        if !self.stack.is_empty() {
            return Err(DecodeError::Malformed("a container is never closed"));
        }
        self.root
            .ok_or(DecodeError::Malformed("no property list in the body"))
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    const KEEP_A: Keep =
        Keep::Keys(&[&[("a", Keep::All), ("n", Keep::Keys(&[&[("x", Keep::All)]]))]]);

    fn parse(body: &[u8], limits: &DecodeLimits) -> Result<Dictionary, DecodeError> {
        dictionary(body, limits, KEEP_A)
    }

    fn nested(open: &str, close: &str, levels: usize) -> Vec<u8> {
        format!(
            "<plist><dict><key>a</key>{}{}</dict></plist>",
            open.repeat(levels),
            close.repeat(levels)
        )
        .into_bytes()
    }

    fn limits(max_depth: usize) -> DecodeLimits {
        DecodeLimits {
            max_depth,
            ..Default::default()
        }
    }

    #[test]
    fn depth_at_the_limit_passes_and_one_more_fails() {
        // The top-level dictionary is one level.
        assert!(parse(&nested("<array>", "</array>", 9), &limits(10)).is_ok());
        assert!(matches!(
            parse(&nested("<array>", "</array>", 10), &limits(10)),
            Err(DecodeError::TooDeep { limit: 10 })
        ));
    }

    #[test]
    fn depth_counts_whatever_the_parser_reads_as_a_container() {
        // A namespace prefix, which the XML reader matches by local name.
        let prefixed = nested("<p:array>", "</p:array>", 50);
        assert!(matches!(
            parse(&prefixed, &limits(10)),
            Err(DecodeError::TooDeep { limit: 10 })
        ));
        // Dropped keys are counted as strictly as kept ones.
        let dropped = format!(
            "<plist><dict><key>z</key>{}{}</dict></plist>",
            "<dict><key>k</key>".repeat(50),
            "<true/></dict>".repeat(50)
        );
        assert!(matches!(
            parse(dropped.as_bytes(), &limits(10)),
            Err(DecodeError::TooDeep { limit: 10 })
        ));
    }

    #[test]
    fn empty_elements_comments_and_cdata_do_not_count() {
        let body = br#"<plist><dict><key>a</key><array/><key>b</key><dict />
            <!-- <array><array><array> --><key>c</key><string><![CDATA[<dict><dict><dict>]]></string>
            <key>d</key><array></array></dict></plist>"#;
        assert!(parse(body, &limits(2)).is_ok());
    }

    #[test]
    fn only_the_kept_keys_are_kept() {
        let body = br#"<plist><dict>
            <key>a</key><array><integer>1</integer><dict><key>q</key><true/></dict></array>
            <key>b</key><array><integer>2</integer></array>
            <key>n</key><dict><key>x</key><string>kept</string><key>y</key><string>no</string></dict>
            </dict></plist>"#;
        let dict = parse(body, &DecodeLimits::default()).unwrap();
        assert_eq!(dict.len(), 2);
        let a = dict["a"].as_array().unwrap();
        assert_eq!(a[0], Value::Integer(1.into()));
        assert_eq!(a[1].as_dictionary().unwrap()["q"], Value::Boolean(true));
        let n = dict["n"].as_dictionary().unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n["x"], Value::String("kept".into()));
        // Everything kept, the same body parses as the plist crate parses it.
        assert_eq!(
            Value::Dictionary(dictionary(body, &DecodeLimits::default(), Keep::All).unwrap()),
            Value::from_reader_xml(&body[..]).unwrap()
        );
    }

    #[test]
    fn objects_are_counted_in_dropped_keys_and_kept_values_separately() {
        let many = |key: &str, n: usize| {
            format!(
                "<plist><dict><key>{key}</key><array>{}</array></dict></plist>",
                "<true/>".repeat(n)
            )
            .into_bytes()
        };
        let limits = DecodeLimits {
            max_objects: 1000,
            max_kept_values: 100,
            ..Default::default()
        };
        assert!(parse(&many("z", 900), &limits).is_ok());
        assert!(matches!(
            parse(&many("z", 1000), &limits),
            Err(DecodeError::TooManyObjects { limit: 1000 })
        ));
        assert!(parse(&many("a", 90), &limits).is_ok());
        assert!(matches!(
            parse(&many("a", 101), &limits),
            Err(DecodeError::TooManyKeptValues { limit: 100 })
        ));
    }

    #[test]
    fn malformed_structure_is_refused_in_dropped_keys_too() {
        for body in [
            &b"<plist><dict><key>z</key><dict><true/></dict></dict></plist>"[..],
            b"<plist><dict><key>z</key><dict><key>k</key></dict></dict></plist>",
            b"<plist><dict><key>a</key></dict></plist>",
            b"<plist><array/></plist>",
            b"<plist></plist>",
            b"{ a = b; }",
        ] {
            assert!(
                parse(body, &DecodeLimits::default()).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

//! Trees walked as events, without recursion: a `plist::Value` and a JSON value.

use std::borrow::Cow;

use super::source::{Event, Source, Tag};
use crate::error::Result;

/// An open container of a tree.
enum Frame<'a, V, D: Iterator> {
    Array(&'a [V], usize),
    /// A dictionary, and its entries still to read.
    Dictionary(&'a V, D),
}

/// A tree as a [`Source`]. `V` is the tree's value type, `D` the iterator over a dictionary.
pub(crate) struct TreeSource<'a, V: Tree<'a>> {
    /// The value whose events come next (the root, or a dictionary value after its key).
    next_value: Option<&'a V>,
    stack: Vec<Frame<'a, V, V::Entries>>,
}

/// What a tree source needs of a tree's values.
pub(crate) trait Tree<'a>: Sized + 'a {
    type Entries: Iterator<Item = (&'a str, &'a Self)>;
    const JSON: bool;

    /// The value as a container or a scalar event.
    fn node(&'a self) -> Node<'a, Self>;

    /// The string under `key`, if this is a dictionary.
    fn tag(&'a self, key: &str) -> Tag<'a>;
}

pub(crate) enum Node<'a, V: Tree<'a>> {
    Array(&'a [V]),
    Dictionary(V::Entries),
    Scalar(Event<'a>),
}

impl<'a, V: Tree<'a>> TreeSource<'a, V> {
    pub(crate) fn new(root: &'a V) -> Self {
        Self {
            next_value: Some(root),
            stack: Vec::new(),
        }
    }

    fn enter(&mut self, value: &'a V) -> Event<'a> {
        match value.node() {
            Node::Array(items) => {
                self.stack.push(Frame::Array(items, 0));
                Event::StartArray
            }
            Node::Dictionary(entries) => {
                self.stack.push(Frame::Dictionary(value, entries));
                Event::StartDictionary
            }
            Node::Scalar(event) => event,
        }
    }

    /// The value whose events come next, if a value comes next.
    fn peek(&self) -> Option<&'a V> {
        if let Some(value) = self.next_value {
            return Some(value);
        }
        match self.stack.last() {
            Some(Frame::Array(items, next)) => items.get(*next),
            _ => None,
        }
    }
}

impl<'a, V: Tree<'a>> Source<'a> for TreeSource<'a, V> {
    fn next(&mut self) -> Result<Option<Event<'a>>> {
        if let Some(value) = self.next_value.take() {
            return Ok(Some(self.enter(value)));
        }
        let event = match self.stack.last_mut() {
            None => return Ok(None),
            Some(Frame::Array(items, next)) => match items.get(*next) {
                Some(item) => {
                    *next = next.saturating_add(1);
                    return Ok(Some(self.enter(item)));
                }
                None => None,
            },
            Some(Frame::Dictionary(_, entries)) => match entries.next() {
                Some((key, value)) => {
                    self.next_value = Some(value);
                    Some(Event::String(Cow::Borrowed(key)))
                }
                None => None,
            },
        };
        Ok(Some(event.unwrap_or_else(|| {
            self.stack.pop();
            Event::End
        })))
    }

    fn is_json(&self) -> bool {
        V::JSON
    }

    fn peek_tag(&self, key: &str, entered: bool) -> Option<Tag<'a>> {
        let value = if entered {
            match self.stack.last() {
                Some(Frame::Dictionary(dict, _)) => Some(*dict),
                _ => None,
            }
        } else {
            self.peek()
        };
        Some(value.map_or(Tag::NotADictionary, |value| value.tag(key)))
    }
}

impl<'a> Tree<'a> for plist::Value {
    type Entries = std::iter::Map<
        plist::dictionary::Iter<'a>,
        fn((&'a String, &'a plist::Value)) -> (&'a str, &'a plist::Value),
    >;
    const JSON: bool = false;

    fn node(&'a self) -> Node<'a, Self> {
        use plist::Value;
        Node::Scalar(match self {
            Value::Array(items) => return Node::Array(items),
            Value::Dictionary(dict) => {
                let entries: Self::Entries = dict.iter().map(|(k, v)| (k.as_str(), v));
                return Node::Dictionary(entries);
            }
            Value::Boolean(b) => Event::Boolean(*b),
            Value::Data(d) => Event::Data(Cow::Borrowed(d)),
            Value::Date(d) => Event::Date(*d),
            Value::Real(r) => Event::Real(*r),
            Value::Integer(i) => Event::Integer(*i),
            Value::String(s) => Event::String(Cow::Borrowed(s)),
            Value::Uid(_) => Event::Uid,
            _ => Event::Uid,
        })
    }

    fn tag(&'a self, key: &str) -> Tag<'a> {
        match self {
            plist::Value::Dictionary(dict) => match dict.get(key) {
                None => Tag::Missing,
                Some(plist::Value::String(s)) => Tag::Found(Cow::Borrowed(s)),
                Some(other) => Tag::WrongType(other.node().kind()),
            },
            _ => Tag::NotADictionary,
        }
    }
}

impl<'a> Tree<'a> for serde_json::Value {
    type Entries = std::iter::Map<
        serde_json::map::Iter<'a>,
        fn((&'a String, &'a serde_json::Value)) -> (&'a str, &'a serde_json::Value),
    >;
    const JSON: bool = true;

    fn node(&'a self) -> Node<'a, Self> {
        use serde_json::Value;
        Node::Scalar(match self {
            Value::Array(items) => return Node::Array(items),
            Value::Object(map) => {
                let entries: Self::Entries = map.iter().map(|(k, v)| (k.as_str(), v));
                return Node::Dictionary(entries);
            }
            Value::Null => Event::Null,
            Value::Bool(b) => Event::Boolean(*b),
            Value::String(s) => Event::String(Cow::Borrowed(s)),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Event::Integer(i.into())
                } else if let Some(u) = n.as_u64() {
                    Event::Integer(u.into())
                } else {
                    Event::Real(n.as_f64().unwrap_or(f64::NAN))
                }
            }
        })
    }

    fn tag(&'a self, key: &str) -> Tag<'a> {
        match self {
            serde_json::Value::Object(map) => match map.get(key) {
                None => Tag::Missing,
                Some(serde_json::Value::String(s)) => Tag::Found(Cow::Borrowed(s)),
                Some(other) => Tag::WrongType(other.node().kind()),
            },
            _ => Tag::NotADictionary,
        }
    }
}

impl<'a, V: Tree<'a>> Node<'a, V> {
    fn kind(&self) -> &'static str {
        match self {
            Node::Array(_) => "an array",
            Node::Dictionary(_) => "a dictionary",
            Node::Scalar(event) => event.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events<'a, V: Tree<'a>>(root: &'a V) -> Vec<String> {
        let mut source = TreeSource::new(root);
        let mut out = Vec::new();
        while let Some(event) = source.next().unwrap() {
            out.push(format!("{event:?}"));
        }
        out
    }

    #[test]
    fn json_and_plist_trees_give_the_same_events() {
        let json: serde_json::Value =
            serde_json::from_str(r#"{"a": [1, {"b": true}, []], "c": "x", "d": 1.5}"#).unwrap();
        let plist = plist::Value::from_reader_xml(
            &b"<plist><dict><key>a</key><array><integer>1</integer><dict><key>b</key><true/>\
               </dict><array/></array><key>c</key><string>x</string>\
               <key>d</key><real>1.5</real></dict></plist>"[..],
        )
        .unwrap();
        assert_eq!(events(&json), events(&plist));
        assert_eq!(events(&json).len(), 16);
    }

    #[test]
    fn a_tree_peeks_the_tag_of_the_next_dictionary() {
        let json: serde_json::Value =
            serde_json::from_str(r#"[{"Item": "A"}, {"Item": 1}, {}, 2]"#).unwrap();
        let mut source = TreeSource::new(&json);
        assert!(matches!(
            source.peek_tag("Item", false),
            Some(Tag::NotADictionary)
        ));
        source.next().unwrap();
        assert!(matches!(source.peek_tag("Item", false), Some(Tag::Found(s)) if s == "A"));
        for _ in 0..4 {
            source.next().unwrap();
        }
        assert!(matches!(
            source.peek_tag("Item", false),
            Some(Tag::WrongType("an integer"))
        ));
        for _ in 0..4 {
            source.next().unwrap();
        }
        assert!(matches!(source.peek_tag("Item", false), Some(Tag::Missing)));
    }
}

//! YAML read into a graph that keeps anchors: an alias is the very node it names, so keys that
//! Apple's schema shares (`subkeys: *id001`) stay one node, and recursive ones (a home-screen
//! folder holding icons) stay finite.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// The index of a node in a [`Yaml`] document.
pub type NodeId = usize;

/// A YAML node.
#[derive(Debug)]
pub enum Node {
    /// A scalar, with whether it was written plain (unquoted): `4.0` and `'4.0'` are both the
    /// text `4.0`, but only a plain `true` is a boolean.
    Scalar { text: String, plain: bool },
    /// A sequence.
    Sequence(Vec<NodeId>),
    /// A mapping, in document order. Keys are scalars.
    Mapping(Vec<(String, NodeId)>),
}

/// A parsed YAML document.
#[derive(Debug)]
pub struct Yaml {
    nodes: Vec<Node>,
    root: NodeId,
}

impl Yaml {
    /// Parses the first document of `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        enum Open {
            Sequence(NodeId, Vec<NodeId>),
            Mapping(NodeId, Vec<(String, NodeId)>, Option<String>),
        }
        let mut nodes: Vec<Node> = Vec::new();
        let mut anchors: HashMap<usize, NodeId> = HashMap::new();
        let mut stack: Vec<Open> = Vec::new();
        let mut root = None;

        // Places a finished node into its parent (or on top).
        let deliver = |nodes: &[Node],
                       stack: &mut Vec<Open>,
                       root: &mut Option<NodeId>,
                       id: NodeId|
         -> Result<(), String> {
            match stack.last_mut() {
                None => *root = Some(id),
                Some(Open::Sequence(_, items)) => items.push(id),
                Some(Open::Mapping(_, entries, key)) => match key.take() {
                    Some(key) => entries.push((key, id)),
                    None => match &nodes[id] {
                        Node::Scalar { text, .. } => *key = Some(text.clone()),
                        _ => return Err("a mapping key that is not a scalar".into()),
                    },
                },
            }
            Ok(())
        };

        for event in Parser::new_from_str(text) {
            let (event, span) = event.map_err(|e| e.to_string())?;
            let at = || format!("line {}", span.start.line());
            match event {
                Event::StreamEnd | Event::DocumentEnd if root.is_some() => break,
                Event::Scalar(value, style, anchor, _) => {
                    let id = nodes.len();
                    nodes.push(Node::Scalar {
                        text: value.into_owned(),
                        plain: matches!(style, saphyr_parser::ScalarStyle::Plain),
                    });
                    if anchor != 0 {
                        anchors.insert(anchor, id);
                    }
                    deliver(&nodes, &mut stack, &mut root, id)?;
                }
                Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                    let id = nodes.len();
                    let is_sequence = matches!(event, Event::SequenceStart(..));
                    // A placeholder until the end, so that an alias inside can name it.
                    nodes.push(Node::Sequence(Vec::new()));
                    if anchor != 0 {
                        anchors.insert(anchor, id);
                    }
                    stack.push(if is_sequence {
                        Open::Sequence(id, Vec::new())
                    } else {
                        Open::Mapping(id, Vec::new(), None)
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (id, node) = match stack.pop() {
                        Some(Open::Sequence(id, items)) => (id, Node::Sequence(items)),
                        Some(Open::Mapping(id, entries, None)) => (id, Node::Mapping(entries)),
                        _ => return Err(format!("unbalanced YAML at {}", at())),
                    };
                    nodes[id] = node;
                    deliver(&nodes, &mut stack, &mut root, id)?;
                }
                Event::Alias(anchor) => {
                    let id = *anchors
                        .get(&anchor)
                        .ok_or_else(|| format!("an alias to an unknown anchor at {}", at()))?;
                    deliver(&nodes, &mut stack, &mut root, id)?;
                }
                _ => {}
            }
        }
        let root = root.ok_or("an empty YAML document")?;
        Ok(Self { nodes, root })
    }

    /// The top node.
    pub fn root(&self) -> NodeId {
        self.root
    }

    /// The node `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_the_anchored_node_even_inside_it() {
        let yaml =
            Yaml::parse("a: &x\n  - k: 1\n    sub: *x\nb: *x\nc: '4.0'\nd: 4.2.6\n").unwrap();
        let Node::Mapping(top) = yaml.node(yaml.root()) else {
            panic!()
        };
        assert_eq!(top[0].0, "a");
        assert_eq!(top[0].1, top[1].1, "b is the node a names");
        let Node::Sequence(items) = yaml.node(top[0].1) else {
            panic!()
        };
        let Node::Mapping(item) = yaml.node(items[0]) else {
            panic!()
        };
        assert_eq!(
            item[1].1, top[0].1,
            "the recursive alias is the sequence itself"
        );
        assert!(
            matches!(yaml.node(top[2].1), Node::Scalar { text, plain: false } if text == "4.0")
        );
        assert!(
            matches!(yaml.node(top[3].1), Node::Scalar { text, plain: true } if text == "4.2.6")
        );
    }

    #[test]
    fn bad_yaml_is_an_error() {
        assert!(Yaml::parse("a: [1, 2").is_err());
        assert!(Yaml::parse("a: *nowhere").is_err());
        assert!(Yaml::parse("").is_err());
    }
}

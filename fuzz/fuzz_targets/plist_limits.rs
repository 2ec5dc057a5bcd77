//! Decoding limits on structured, deep and large property lists, XML and binary.
//!
//! Byte-level fuzzing cannot reach deep nesting within a short input, so this target generates
//! trees (`Node`) where one node can wrap its child in thousands of containers, and renders them
//! in the spellings a parser accepts: namespace prefixes, entities, comments, CDATA, white space,
//! or a binary property list with shared objects. Bodies reach a few megabytes.
//!
//! Properties: decoding never panics or overflows the stack (a 2 MiB thread, as a tokio worker
//! has); whatever it accepts nests no deeper than the limit and holds no more values than the
//! limits allow; and what it accepts, the `plist` crate reads as the same value.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{CheckIn, CommandReport, DecodeError, DecodeLimits};

/// Largest body rendered.
const MAX_BODY: usize = 4 << 20;

#[derive(Arbitrary, Debug)]
enum Node {
    Bool(bool),
    Int(i64),
    Real(f64),
    Str(String),
    Data(Vec<u8>),
    Array(Vec<Node>),
    Dict(Vec<(String, Node)>),
    /// `levels` arrays (or single-key dictionaries) around `inner`.
    Nest {
        levels: u16,
        dict: bool,
        inner: Box<Node>,
    },
    /// `times` copies of `inner` (in binary, one object referred to `times` times).
    Repeat {
        times: u16,
        inner: Box<Node>,
    },
}

#[derive(Arbitrary, Debug)]
struct Spelling {
    /// A namespace prefix on container tags.
    prefix: Option<u8>,
    /// Escape text with character references.
    char_refs: bool,
    /// Comments and white space between elements.
    noise: bool,
    /// Strings as CDATA sections.
    cdata: bool,
    /// Leave out the closing tags of the outermost `unclosed` containers.
    unclosed: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// The top-level dictionary; the check-in and report keys are added first.
    entries: Vec<(String, Node)>,
    message_type: u8,
    binary: bool,
    spelling: Spelling,
    max_depth: u8,
    max_kept: u16,
}

fuzz_target!(|input: Input| {
    let limits = DecodeLimits::default()
        .max_body_bytes(MAX_BODY)
        .max_depth(usize::from(input.max_depth % 80) + 1)
        .max_objects(1 << 20)
        .max_kept_values(usize::from(input.max_kept) + 1);
    let Some(body) = render(&input) else {
        return;
    };
    // `plist`'s XML reader drops CDATA sections inside strings; ours keeps them, as XML means.
    let compare = input.binary || !input.spelling.cdata;
    // A tokio worker's stack: whatever the body, decoding must return on it.
    let result = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || check(&body, &limits, compare))
        .expect("spawn")
        .join();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
});

fn check(body: &[u8], limits: &DecodeLimits, compare: bool) {
    let whole = mdm_proto::decode_dictionary(body, limits);
    if let Ok(dict) = &whole {
        let (depth, values) = measure(dict);
        assert!(
            depth <= limits.max_depth,
            "depth {depth} over {}",
            limits.max_depth
        );
        assert!(values <= limits.max_kept_values, "{values} values kept");
        // Within the limits, the plist crate's own reader agrees (its recursion is bounded now).
        if !compare {
            return;
        }
        let theirs = Value::from_reader(std::io::Cursor::new(body)).expect("plist reads it too");
        let ours = Value::Dictionary(dict.clone());
        assert!(same(&ours, &theirs), "{ours:?} != {theirs:?}");
    }
    // The typed decoders keep less than the whole, so they may accept what the whole does not
    // keep, but never what is too deep or too large.
    let checkin = CheckIn::decode_with(body.to_vec(), limits);
    let report = CommandReport::decode_with(body.to_vec(), limits);
    for refused in [checkin.err(), report.err()].into_iter().flatten() {
        if whole.is_ok() {
            assert!(
                !matches!(
                    refused,
                    DecodeError::TooDeep { .. } | DecodeError::TooManyObjects { .. }
                ),
                "the whole list passed but a message refused it: {refused}"
            );
        }
    }
    if let Err(DecodeError::TooDeep { .. }) = whole {
        // Depth does not depend on what is kept.
        assert!(matches!(
            CommandReport::decode_with(body.to_vec(), limits),
            Err(DecodeError::TooDeep { .. } | DecodeError::TooManyObjects { .. })
        ));
    }
}

/// Depth (containers) and number of values and keys, without recursion.
fn measure(dict: &Dictionary) -> (usize, usize) {
    let mut stack: Vec<(&Value, usize)> = dict.values().map(|v| (v, 2)).collect();
    let (mut depth, mut values) = (1, 1 + 2 * dict.len());
    while let Some((value, level)) = stack.pop() {
        match value {
            Value::Array(items) => {
                depth = depth.max(level);
                values += items.len();
                stack.extend(items.iter().map(|v| (v, level + 1)));
            }
            Value::Dictionary(d) => {
                depth = depth.max(level);
                values += 2 * d.len();
                stack.extend(d.values().map(|v| (v, level + 1)));
            }
            _ => {}
        }
    }
    (depth, values)
}

fn render(input: &Input) -> Option<Vec<u8>> {
    let message_type = [
        "Authenticate",
        "TokenUpdate",
        "CheckOut",
        "DeclarativeManagement",
    ][usize::from(input.message_type % 4)];
    let root_node = Node::Dict(vec![
        ("MessageType".to_owned(), Node::Str(message_type.into())),
        ("UDID".to_owned(), Node::Str("UDID".into())),
        ("Status".to_owned(), Node::Str("Idle".into())),
    ]);
    let mut out = if input.binary {
        Binary::render(&root_node, &input.entries)?
    } else {
        Xml::render(&root_node, &input.entries, &input.spelling)?
    };
    out.truncate(MAX_BODY);
    Some(out)
}

/// A budget of bytes for rendering, so a tiny input cannot ask for gigabytes.
struct Budget(usize);

impl Budget {
    fn spend(&mut self, n: usize) -> Option<()> {
        self.0 = self.0.checked_sub(n)?;
        Some(())
    }
}

struct Xml<'a> {
    out: Vec<u8>,
    spelling: &'a Spelling,
    budget: Budget,
}

impl Xml<'_> {
    fn render(root: &Node, extra: &[(String, Node)], spelling: &Spelling) -> Option<Vec<u8>> {
        let mut xml = Xml {
            out: b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><plist version=\"1.0\">".to_vec(),
            spelling,
            budget: Budget(MAX_BODY),
        };
        let Node::Dict(entries) = root else {
            return None;
        };
        xml.open("dict");
        for (key, value) in entries.iter().chain(extra) {
            xml.key(key)?;
            xml.node(value, 0)?;
        }
        xml.close("dict");
        xml.out.extend_from_slice(b"</plist>");
        Some(xml.out)
    }

    fn tag(&mut self, name: &str, closing: bool, container: bool) {
        self.out.push(b'<');
        if closing {
            self.out.push(b'/');
        }
        if container && let Some(p) = self.spelling.prefix {
            self.out.push(b'a' + p % 26);
            self.out.push(b':');
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
        // Not inside a value: white space there is part of a string, and `plist` refuses it
        // around numbers, where this crate trims it.
        if self.spelling.noise && (container || closing) {
            self.out.extend_from_slice(b"\n <!-- x -->\t");
        }
    }

    fn open(&mut self, name: &str) {
        self.tag(name, false, true);
    }

    fn close(&mut self, name: &str) {
        self.tag(name, true, true);
    }

    fn text(&mut self, element: &str, text: &str) -> Option<()> {
        self.budget.spend(text.len() * 8 + 32)?;
        self.tag(element, false, false);
        if self.spelling.cdata && !text.contains("]]>") {
            self.out.extend_from_slice(b"<![CDATA[");
            self.out.extend_from_slice(text.as_bytes());
            self.out.extend_from_slice(b"]]>");
        } else {
            for c in text.chars() {
                match c {
                    '<' => self.out.extend_from_slice(b"&lt;"),
                    '&' => self.out.extend_from_slice(b"&amp;"),
                    '>' => self.out.extend_from_slice(b"&gt;"),
                    c if self.spelling.char_refs || c == '\r' => self
                        .out
                        .extend_from_slice(format!("&#x{:x};", c as u32).as_bytes()),
                    c => self
                        .out
                        .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
        }
        self.tag(element, true, false);
        Some(())
    }

    fn key(&mut self, key: &str) -> Option<()> {
        self.text("key", key)
    }

    fn node(&mut self, node: &Node, depth: usize) -> Option<()> {
        self.budget.spend(16)?;
        match node {
            Node::Bool(b) => self.text(if *b { "true" } else { "false" }, "")?,
            Node::Int(i) => self.text("integer", &i.to_string())?,
            Node::Real(r) if r.is_finite() => self.text("real", &r.to_string())?,
            Node::Real(_) => self.text("real", "0")?,
            Node::Str(s) => self.text("string", s)?,
            Node::Data(d) => {
                use base64::Engine;
                self.text("data", &base64::engine::general_purpose::STANDARD.encode(d))?
            }
            Node::Array(items) => {
                self.open("array");
                for item in items {
                    self.node(item, depth + 1)?;
                }
                self.close("array");
            }
            Node::Dict(entries) => {
                self.open("dict");
                for (k, v) in entries {
                    self.key(k)?;
                    self.node(v, depth + 1)?;
                }
                self.close("dict");
            }
            Node::Nest {
                levels,
                dict,
                inner,
            } => {
                let name = if *dict { "dict" } else { "array" };
                for _ in 0..*levels {
                    self.budget.spend(24)?;
                    self.open(name);
                    if *dict {
                        self.key("k")?;
                    }
                }
                // The generator's own recursion stays shallow: a nest's inner node is rendered
                // only near the top.
                if depth < 8 {
                    self.node(inner, depth + 1)?;
                } else {
                    self.text("true", "")?;
                }
                let unclosed = usize::from(self.spelling.unclosed % 4);
                for i in 0..*levels {
                    if usize::from(*levels) - usize::from(i) > unclosed || depth > 0 {
                        self.close(name);
                    }
                }
            }
            Node::Repeat { times, inner } => {
                for _ in 0..*times {
                    if depth < 8 {
                        self.node(inner, depth + 1)?;
                    }
                }
            }
        }
        Some(())
    }
}

/// A binary property list writer with no recursion on the generated nesting, and shared objects
/// for `Repeat`.
struct Binary {
    objects: Vec<Vec<u8>>,
    /// Each object's references, filled in once all objects are numbered.
    refs: Vec<Vec<usize>>,
    budget: Budget,
}

impl Binary {
    fn render(root: &Node, extra: &[(String, Node)]) -> Option<Vec<u8>> {
        let mut bin = Binary {
            objects: Vec::new(),
            refs: Vec::new(),
            budget: Budget(MAX_BODY / 4),
        };
        let Node::Dict(entries) = root else {
            return None;
        };
        let all: Vec<&(String, Node)> = entries.iter().chain(extra).collect();
        let top = bin.reserve(0xD0, all.len())?;
        let mut refs = Vec::new();
        let mut values = Vec::new();
        for (k, v) in all {
            refs.push(bin.string(k)?);
            values.push(bin.node(v, 0)?);
        }
        refs.extend(values);
        bin.refs[top] = refs;
        Some(bin.finish(top))
    }

    fn reserve(&mut self, marker: u8, count: usize) -> Option<usize> {
        self.budget.spend(16 + count * 4)?;
        let mut head = Vec::new();
        push_marker(&mut head, marker, count);
        self.objects.push(head);
        self.refs.push(Vec::new());
        Some(self.objects.len() - 1)
    }

    fn scalar(&mut self, bytes: Vec<u8>) -> Option<usize> {
        self.budget.spend(bytes.len() + 8)?;
        self.objects.push(bytes);
        self.refs.push(Vec::new());
        Some(self.objects.len() - 1)
    }

    fn string(&mut self, s: &str) -> Option<usize> {
        let mut bytes = Vec::new();
        if s.is_ascii() {
            push_marker(&mut bytes, 0x50, s.len());
            bytes.extend_from_slice(s.as_bytes());
        } else {
            let units: Vec<u16> = s.encode_utf16().collect();
            push_marker(&mut bytes, 0x60, units.len());
            units.iter().for_each(|u| bytes.extend(u.to_be_bytes()));
        }
        self.scalar(bytes)
    }

    fn node(&mut self, node: &Node, depth: usize) -> Option<usize> {
        match node {
            Node::Bool(b) => self.scalar(vec![if *b { 0x09 } else { 0x08 }]),
            Node::Int(i) => {
                let mut bytes = vec![0x13];
                bytes.extend(i.to_be_bytes());
                self.scalar(bytes)
            }
            Node::Real(r) => {
                let mut bytes = vec![0x23];
                bytes.extend(r.to_be_bytes());
                self.scalar(bytes)
            }
            Node::Str(s) => self.string(s),
            Node::Data(d) => {
                let mut bytes = Vec::new();
                push_marker(&mut bytes, 0x40, d.len());
                bytes.extend_from_slice(d);
                self.scalar(bytes)
            }
            Node::Array(items) => {
                let at = self.reserve(0xA0, items.len())?;
                let refs = items
                    .iter()
                    .map(|item| self.node(item, depth + 1))
                    .collect::<Option<Vec<_>>>()?;
                self.refs[at] = refs;
                Some(at)
            }
            Node::Dict(entries) => {
                let at = self.reserve(0xD0, entries.len())?;
                let mut refs = Vec::new();
                let mut values = Vec::new();
                for (k, v) in entries {
                    refs.push(self.string(k)?);
                    values.push(self.node(v, depth + 1)?);
                }
                refs.extend(values);
                self.refs[at] = refs;
                Some(at)
            }
            Node::Nest {
                levels,
                dict,
                inner,
            } => {
                let inner = if depth < 8 {
                    self.node(inner, depth + 1)?
                } else {
                    self.scalar(vec![0x09])?
                };
                let key = if *dict { Some(self.string("k")?) } else { None };
                let mut current = inner;
                for _ in 0..*levels {
                    let at = self.reserve(if *dict { 0xD0 } else { 0xA0 }, 1)?;
                    self.refs[at] = key.into_iter().chain([current]).collect();
                    current = at;
                }
                Some(current)
            }
            Node::Repeat { times, inner } => {
                let shared = if depth < 8 {
                    self.node(inner, depth + 1)?
                } else {
                    self.scalar(vec![0x08])?
                };
                let at = self.reserve(0xA0, usize::from(*times))?;
                self.refs[at] = vec![shared; usize::from(*times)];
                Some(at)
            }
        }
    }

    fn finish(self, top: usize) -> Vec<u8> {
        let ref_size = if self.objects.len() <= 0xFF {
            1
        } else if self.objects.len() <= 0xFFFF {
            2
        } else {
            4
        };
        let mut out = b"bplist00".to_vec();
        let mut offsets = Vec::with_capacity(self.objects.len());
        for (object, refs) in self.objects.iter().zip(&self.refs) {
            offsets.push(out.len());
            out.extend_from_slice(object);
            for r in refs {
                out.extend_from_slice(&r.to_be_bytes()[8 - ref_size..]);
            }
        }
        let table = out.len();
        for offset in &offsets {
            out.extend((*offset as u64).to_be_bytes());
        }
        out.extend([0u8; 6]);
        out.extend([8u8, ref_size as u8]);
        out.extend((self.objects.len() as u64).to_be_bytes());
        out.extend((top as u64).to_be_bytes());
        out.extend((table as u64).to_be_bytes());
        out
    }
}

/// An object marker with its count: in the low nibble, or `0x_F` and an integer object.
fn push_marker(out: &mut Vec<u8>, marker: u8, count: usize) {
    if count < 15 {
        out.push(marker | count as u8);
    } else {
        out.push(marker | 0x0F);
        out.push(0x13);
        out.extend((count as u64).to_be_bytes());
    }
}

/// Equality of values with reals compared by their bits: a NaN read by both readers is the same
/// value, though `NaN != NaN`.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Dictionary(x), Value::Dictionary(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

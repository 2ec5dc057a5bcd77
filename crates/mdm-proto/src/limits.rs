//! Bounds on what decoding an untrusted body may cost.
//!
//! Property-list parsers (and serde) recurse once per nesting level, so a few kilobytes of nested
//! `<array>`s overflow a thread stack and abort the process. Binary property lists can also share
//! objects by reference, so a small body can expand into billions of values. Both are measured
//! here, without recursion, before a parser sees the body.

use crate::DecodeError;

/// Limits applied to every body before it is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted body, in bytes. The default (32 MiB) fits a large
    /// `InstalledApplicationList` report.
    pub max_body_bytes: usize,
    /// Deepest accepted nesting of arrays and dictionaries. Real messages nest fewer than 16
    /// levels; the default is 64.
    pub max_depth: usize,
    /// Most objects a binary property list may expand into once shared references are followed.
    /// The default is 4 Mi objects.
    pub max_objects: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_depth: 64,
            max_objects: 4 * 1024 * 1024,
        }
    }
}

const BINARY_MAGIC: &[u8] = b"bplist00";

/// Checks `body` against `limits` without parsing it recursively.
pub(crate) fn check(body: &[u8], limits: &DecodeLimits) -> Result<(), DecodeError> {
    if body.len() > limits.max_body_bytes {
        return Err(DecodeError::TooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    if body.starts_with(BINARY_MAGIC) {
        check_binary(body, limits)
    } else {
        check_xml_depth(body, limits.max_depth)
    }
}

/// Counts open `<dict>`/`<array>` elements. Text and attribute values cannot contain a raw `<`
/// in well-formed XML, so a tag scan is exact for well-formed input and conservative otherwise
/// (the parser rejects what the scan lets through).
fn check_xml_depth(body: &[u8], max_depth: usize) -> Result<(), DecodeError> {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(offset) = body[i..].iter().position(|&b| b == b'<') {
        let start = i + offset;
        let rest = &body[start..];
        if rest.starts_with(b"<!--") {
            i = skip_past(body, start + 4, b"-->");
            continue;
        }
        if rest.starts_with(b"<![CDATA[") {
            i = skip_past(body, start + 9, b"]]>");
            continue;
        }
        let end = skip_past(body, start + 1, b">");
        let tag = &body[start + 1..end.saturating_sub(1).max(start + 1)];
        i = end;
        let (closing, name) = match tag.strip_prefix(b"/") {
            Some(name) => (true, name),
            None => (false, tag),
        };
        let name_end = name
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/')
            .unwrap_or(name.len());
        if !matches!(&name[..name_end], b"dict" | b"array") {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else if !tag.ends_with(b"/") {
            depth += 1;
            if depth > max_depth {
                return Err(DecodeError::TooDeep { limit: max_depth });
            }
        }
    }
    Ok(())
}

/// Index just past the next `needle` at or after `from`, or the end of `body`.
fn skip_past(body: &[u8], from: usize, needle: &[u8]) -> usize {
    body.get(from..)
        .and_then(|rest| rest.windows(needle.len()).position(|w| w == needle))
        .map_or(body.len(), |p| from + p + needle.len())
}

/// Walks the object graph of a binary property list (`bplist00`) iteratively, memoizing each
/// object's depth and expanded size, and refusing cycles.
fn check_binary(body: &[u8], limits: &DecodeLimits) -> Result<(), DecodeError> {
    let bin = Binary::parse(body)?;
    let n = bin.num_objects;
    #[derive(Clone, Copy)]
    enum State {
        Unvisited,
        InProgress,
        Done { depth: usize, objects: usize },
    }
    let mut state = vec![State::Unvisited; n];
    // (object, its children, index of the next child to visit, depth and size so far)
    struct Frame {
        object: usize,
        children: Vec<usize>,
        next: usize,
        depth: usize,
        objects: usize,
    }
    let mut stack: Vec<Frame> = Vec::new();
    let root = bin.top_object;
    state[root] = State::InProgress;
    stack.push(Frame {
        object: root,
        children: bin.children(root)?,
        next: 0,
        depth: 0,
        objects: 1,
    });
    while let Some(frame) = stack.last_mut() {
        if frame.next == frame.children.len() {
            let done = stack.pop().expect("stack is not empty");
            let depth = done.depth + usize::from(!done.children.is_empty());
            state[done.object] = State::Done {
                depth,
                objects: done.objects,
            };
            if let Some(parent) = stack.last_mut() {
                parent.depth = parent.depth.max(depth);
                parent.objects = parent.objects.saturating_add(done.objects);
                if parent.objects > limits.max_objects {
                    return Err(DecodeError::TooManyObjects {
                        limit: limits.max_objects,
                    });
                }
            }
            continue;
        }
        let child = frame.children[frame.next];
        frame.next += 1;
        match state[child] {
            State::InProgress => {
                return Err(DecodeError::MalformedBinary("object graph has a cycle"));
            }
            State::Done { depth, objects } => {
                frame.depth = frame.depth.max(depth);
                frame.objects = frame.objects.saturating_add(objects);
                if frame.objects > limits.max_objects {
                    return Err(DecodeError::TooManyObjects {
                        limit: limits.max_objects,
                    });
                }
            }
            State::Unvisited => {
                let children = bin.children(child)?;
                if !children.is_empty() && stack.len() >= limits.max_depth {
                    return Err(DecodeError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                state[child] = State::InProgress;
                stack.push(Frame {
                    object: child,
                    children,
                    next: 0,
                    depth: 0,
                    objects: 1,
                });
            }
        }
    }
    match state[root] {
        State::Done { depth, .. } if depth > limits.max_depth => Err(DecodeError::TooDeep {
            limit: limits.max_depth,
        }),
        _ => Ok(()),
    }
}

/// The trailer and offset table of a binary property list.
struct Binary<'a> {
    body: &'a [u8],
    offset_size: usize,
    ref_size: usize,
    num_objects: usize,
    top_object: usize,
    offset_table: usize,
}

impl<'a> Binary<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        const TRAILER: usize = 32;
        let malformed = DecodeError::MalformedBinary;
        if body.len() < BINARY_MAGIC.len() + TRAILER {
            return Err(malformed("shorter than header and trailer"));
        }
        let trailer = &body[body.len() - TRAILER..];
        let offset_size = usize::from(trailer[6]);
        let ref_size = usize::from(trailer[7]);
        let num_objects = be_u64(&trailer[8..16]);
        let top_object = be_u64(&trailer[16..24]);
        let offset_table = be_u64(&trailer[24..32]);
        if !(1..=8).contains(&offset_size) || !(1..=8).contains(&ref_size) {
            return Err(malformed("bad offset or reference size"));
        }
        // Every object takes at least one byte, so a count larger than the body is a lie; this
        // also bounds the memory the walk allocates.
        let table_end = body.len() - TRAILER;
        let num_objects = usize::try_from(num_objects)
            .ok()
            .filter(|&n| n > 0 && n <= body.len())
            .ok_or(malformed("bad object count"))?;
        let top_object = usize::try_from(top_object)
            .ok()
            .filter(|&t| t < num_objects)
            .ok_or(malformed("bad top object"))?;
        let offset_table = usize::try_from(offset_table)
            .ok()
            .filter(|&o| {
                o >= BINARY_MAGIC.len()
                    && num_objects
                        .checked_mul(offset_size)
                        .and_then(|len| o.checked_add(len))
                        .is_some_and(|end| end <= table_end)
            })
            .ok_or(malformed("bad offset table"))?;
        Ok(Self {
            body,
            offset_size,
            ref_size,
            num_objects,
            top_object,
            offset_table,
        })
    }

    fn object_offset(&self, object: usize) -> Result<usize, DecodeError> {
        let at = self.offset_table + object * self.offset_size;
        let offset = be_u64(&self.body[at..at + self.offset_size]);
        usize::try_from(offset)
            .ok()
            .filter(|&o| o >= BINARY_MAGIC.len() && o < self.offset_table)
            .ok_or(DecodeError::MalformedBinary("object offset out of range"))
    }

    /// The objects an array, set or dictionary refers to (keys and values); empty for scalars.
    fn children(&self, object: usize) -> Result<Vec<usize>, DecodeError> {
        let malformed = DecodeError::MalformedBinary;
        let mut at = self.object_offset(object)?;
        let marker = self.body[at];
        let per_entry = match marker >> 4 {
            0xA | 0xC => 1,
            0xD => 2,
            _ => return Ok(Vec::new()),
        };
        at += 1;
        let mut count = usize::from(marker & 0x0F);
        if count == 0x0F {
            // The count follows as an integer object: marker 0x1n, then 2^n bytes.
            let int_marker = *self.body.get(at).ok_or(malformed("truncated count"))?;
            if int_marker >> 4 != 0x1 || int_marker & 0x0F > 3 {
                return Err(malformed("bad count"));
            }
            let len = 1usize << (int_marker & 0x0F);
            let bytes = self
                .body
                .get(at + 1..at + 1 + len)
                .ok_or(malformed("truncated count"))?;
            count = usize::try_from(be_u64(bytes)).map_err(|_| malformed("bad count"))?;
            at += 1 + len;
        }
        let refs_len = count
            .checked_mul(per_entry * self.ref_size)
            .filter(|&len| at + len <= self.offset_table)
            .ok_or(malformed("container runs past the object area"))?;
        self.body[at..at + refs_len]
            .chunks_exact(self.ref_size)
            .map(|r| {
                usize::try_from(be_u64(r))
                    .ok()
                    .filter(|&o| o < self.num_objects)
                    .ok_or(malformed("reference to a missing object"))
            })
            .collect()
    }
}

/// Big-endian unsigned integer of 1 to 8 bytes.
fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_xml(levels: usize) -> Vec<u8> {
        let mut s = String::from(r#"<?xml version="1.0"?><plist version="1.0">"#);
        s.push_str(&"<array>".repeat(levels));
        s.push_str(&"</array>".repeat(levels));
        s.push_str("</plist>");
        s.into_bytes()
    }

    #[test]
    fn xml_depth_at_the_limit_passes_and_one_more_fails() {
        let limits = DecodeLimits {
            max_depth: 10,
            ..Default::default()
        };
        assert!(check(&nested_xml(10), &limits).is_ok());
        assert!(matches!(
            check(&nested_xml(11), &limits),
            Err(DecodeError::TooDeep { limit: 10 })
        ));
    }

    #[test]
    fn xml_empty_elements_comments_and_cdata_do_not_count() {
        let limits = DecodeLimits {
            max_depth: 2,
            ..Default::default()
        };
        let body = br#"<plist><dict><key>a</key><array/><key>b</key><dict />
            <!-- <array><array><array> --><string><![CDATA[<dict><dict><dict>]]></string>
            <array></array></dict></plist>"#;
        assert!(check(body, &limits).is_ok());
    }

    #[test]
    fn body_over_the_size_limit_is_refused() {
        let limits = DecodeLimits {
            max_body_bytes: 8,
            ..Default::default()
        };
        assert!(matches!(
            check(b"123456789", &limits),
            Err(DecodeError::TooLarge { size: 9, limit: 8 })
        ));
    }

    /// A binary plist of `n` arrays, each holding the next one `fanout` times (object 0 on top).
    fn shared_binary(n: usize, fanout: usize) -> Vec<u8> {
        let mut body = BINARY_MAGIC.to_vec();
        let mut offsets = Vec::new();
        for i in 0..n {
            offsets.push(body.len() as u16);
            if i + 1 == n {
                body.push(0xA0); // empty array
            } else {
                body.push(0xA0 | fanout as u8);
                body.extend(std::iter::repeat_n((i + 1) as u16, fanout).flat_map(u16::to_be_bytes));
            }
        }
        let table = body.len() as u64;
        body.extend(offsets.iter().flat_map(|o| o.to_be_bytes()));
        body.extend([0u8; 6]);
        body.extend([2u8, 2u8]);
        body.extend((n as u64).to_be_bytes());
        body.extend(0u64.to_be_bytes());
        body.extend(table.to_be_bytes());
        body
    }

    #[test]
    fn binary_depth_and_expansion_are_bounded() {
        let limits = DecodeLimits {
            max_depth: 20,
            max_objects: 10_000,
            ..Default::default()
        };
        // 15 levels, no sharing: fine, and the plist crate agrees it is a valid list.
        let chain = shared_binary(15, 1);
        assert!(check(&chain, &limits).is_ok());
        assert!(plist::Value::from_reader(std::io::Cursor::new(&chain)).is_ok());
        // 30 levels deep.
        assert!(matches!(
            check(&shared_binary(30, 1), &limits),
            Err(DecodeError::TooDeep { limit: 20 })
        ));
        // 18 levels, each referring to the next twice: 2^18 objects from a tiny body.
        assert!(matches!(
            check(&shared_binary(18, 2), &limits),
            Err(DecodeError::TooManyObjects { limit: 10_000 })
        ));
    }

    #[test]
    fn binary_cycles_and_bad_trailers_are_malformed() {
        let limits = DecodeLimits::default();
        // Object 0 is an array holding itself.
        let mut cyclic = shared_binary(2, 1);
        let len = cyclic.len();
        cyclic[len - 32 + 15] = 1; // claim one object only: the reference to 1 becomes invalid
        assert!(matches!(
            check(&cyclic, &limits),
            Err(DecodeError::MalformedBinary(_))
        ));
        let mut self_ref = BINARY_MAGIC.to_vec();
        self_ref.extend([0xA1, 0x00]);
        self_ref.push(8); // offset table: object 0 at 8
        self_ref.extend([0u8; 6]);
        self_ref.extend([1u8, 1u8]);
        self_ref.extend(1u64.to_be_bytes());
        self_ref.extend(0u64.to_be_bytes());
        self_ref.extend(10u64.to_be_bytes());
        assert!(matches!(
            check(&self_ref, &limits),
            Err(DecodeError::MalformedBinary("object graph has a cycle"))
        ));
        assert!(matches!(
            check(b"bplist00garbage", &limits),
            Err(DecodeError::MalformedBinary(_))
        ));
    }
}

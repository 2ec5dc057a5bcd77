//! Bounds on what decoding an untrusted body may cost.
//!
//! Property-list parsers (and serde) recurse once per nesting level, so a few kilobytes of nested
//! `<array>`s overflow a thread stack and abort the process; a body of small values can become a
//! tree many times its size; and binary property lists can share objects by reference, so a
//! small body can expand into billions of values. Decoding is bounded against all three on the
//! parser's own event stream (`crate::parse`); binary lists are also measured here first, without
//! following references, so an expanding graph is refused before any of it is walked.

use crate::DecodeError;

/// Limits applied to every body that is decoded.
///
/// Start from the defaults and change what you need; new limits may be added:
///
/// ```
/// let limits = mdm_proto::DecodeLimits::default().max_body_bytes(1 << 20).max_depth(32);
/// assert_eq!(limits.max_depth, 32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Largest accepted body, in bytes. The default (32 MiB) fits a large
    /// `InstalledApplicationList` report.
    pub max_body_bytes: usize,
    /// Deepest accepted nesting of arrays and dictionaries. Real messages nest fewer than 16
    /// levels; the default is 64.
    pub max_depth: usize,
    /// Most objects (values and dictionary keys) a property list may hold, counting a binary
    /// list's shared objects once per reference. The default, 4 Mi, is about twice what a 32 MiB
    /// XML `InstalledApplicationList` holds.
    pub max_objects: usize,
    /// Most values (and keys) decoding keeps: the keys a message reads and everything under them
    /// (`ErrorChain` entries, `TokenParameters`). Everything else is checked and dropped as it is
    /// parsed, and counts only against [`max_objects`](Self::max_objects). The default is 64 Ki;
    /// real messages keep fewer than a hundred.
    pub max_kept_values: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_depth: 64,
            max_objects: 4 * 1024 * 1024,
            max_kept_values: 64 * 1024,
        }
    }
}

impl DecodeLimits {
    /// Sets [`max_body_bytes`](Self::max_body_bytes).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets [`max_depth`](Self::max_depth).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Sets [`max_objects`](Self::max_objects).
    pub fn max_objects(mut self, objects: usize) -> Self {
        self.max_objects = objects;
        self
    }

    /// Sets [`max_kept_values`](Self::max_kept_values).
    pub fn max_kept_values(mut self, values: usize) -> Self {
        self.max_kept_values = values;
        self
    }
}

const BINARY_MAGIC: &[u8] = b"bplist00";

/// Whether `body` is a binary property list.
pub(crate) fn is_binary(body: &[u8]) -> bool {
    body.starts_with(BINARY_MAGIC)
}

/// Checks what can be checked of `body` against `limits` before it is parsed: its size and, for a
/// binary property list, the depth and expanded size of its object graph.
pub(crate) fn check(body: &[u8], limits: &DecodeLimits) -> Result<(), DecodeError> {
    if body.len() > limits.max_body_bytes {
        return Err(DecodeError::TooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    if is_binary(body) {
        check_binary(body, limits)?;
    }
    Ok(())
}

/// Walks the object graph of a binary property list (`bplist00`) iteratively, memoizing each
/// object's depth and expanded size, and refusing cycles.
fn check_binary(body: &[u8], limits: &DecodeLimits) -> Result<(), DecodeError> {
    // Compact (8 bytes), since there is one per object in the table: depth and size saturate,
    // and both limits are far below `u32::MAX`.
    #[derive(Clone, Copy)]
    enum State {
        Unvisited,
        InProgress,
        Done { depth: u16, objects: u32 },
    }
    let narrow_depth = |d: usize| u16::try_from(d).unwrap_or(u16::MAX);
    let narrow_objects = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    // An object, its children, the index of the next child to visit, and depth and size so far.
    struct Frame {
        object: usize,
        children: Vec<usize>,
        next: usize,
        depth: usize,
        objects: usize,
    }
    let too_many = || DecodeError::TooManyObjects {
        limit: limits.max_objects,
    };
    let too_deep = || DecodeError::TooDeep {
        limit: limits.max_depth,
    };
    // `Binary::parse` bounds every object index below `num_objects`, the length of `state`, so
    // the lookups below cannot miss; they still answer an error rather than panic.
    let missing = || DecodeError::MalformedBinary("reference to a missing object");
    let bin = Binary::parse(body)?;
    // The reader allocates per object in the table, reachable or not.
    if bin.num_objects > limits.max_objects {
        return Err(too_many());
    }
    let mut state = vec![State::Unvisited; bin.num_objects];
    let mut stack: Vec<Frame> = Vec::new();
    let root = bin.top_object;
    *state.get_mut(root).ok_or_else(missing)? = State::InProgress;
    stack.push(Frame {
        object: root,
        children: bin.children(root)?,
        next: 0,
        depth: 0,
        objects: 1,
    });
    while let Some(frame) = stack.last_mut() {
        let Some(&child) = frame.children.get(frame.next) else {
            let depth = frame
                .depth
                .saturating_add(usize::from(!frame.children.is_empty()));
            let (object, objects) = (frame.object, frame.objects);
            stack.pop();
            *state.get_mut(object).ok_or_else(missing)? = State::Done {
                depth: narrow_depth(depth),
                objects: narrow_objects(objects),
            };
            if let Some(parent) = stack.last_mut() {
                parent.depth = parent.depth.max(depth);
                parent.objects = parent.objects.saturating_add(objects);
                if parent.objects > limits.max_objects {
                    return Err(too_many());
                }
            }
            continue;
        };
        frame.next = frame.next.saturating_add(1);
        let child_state = state.get_mut(child).ok_or_else(missing)?;
        match *child_state {
            State::InProgress => {
                return Err(DecodeError::MalformedBinary("object graph has a cycle"));
            }
            State::Done { depth, objects } => {
                frame.depth = frame.depth.max(usize::from(depth));
                frame.objects = frame
                    .objects
                    .saturating_add(usize::try_from(objects).unwrap_or(usize::MAX));
                if frame.objects > limits.max_objects {
                    return Err(too_many());
                }
            }
            State::Unvisited => {
                let children = bin.children(child)?;
                if !children.is_empty() && stack.len() >= limits.max_depth {
                    return Err(too_deep());
                }
                *child_state = State::InProgress;
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
    match state.get(root) {
        Some(State::Done { depth, .. }) if usize::from(*depth) > limits.max_depth => {
            Err(too_deep())
        }
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
        let table_end = body
            .len()
            .checked_sub(TRAILER)
            .filter(|&end| end >= BINARY_MAGIC.len())
            .ok_or(malformed("shorter than header and trailer"))?;
        let trailer = body.get(table_end..).unwrap_or_default();
        let field = |range: std::ops::Range<usize>| {
            trailer
                .get(range)
                .map(be_u64)
                .ok_or(malformed("short trailer"))
        };
        let offset_size = usize::try_from(field(6..7)?).unwrap_or(0);
        let ref_size = usize::try_from(field(7..8)?).unwrap_or(0);
        let num_objects = field(8..16)?;
        let top_object = field(16..24)?;
        let offset_table = field(24..32)?;
        if !(1..=8).contains(&offset_size) || !(1..=8).contains(&ref_size) {
            return Err(malformed("bad offset or reference size"));
        }
        // Every object takes at least one byte, so a count larger than the body is a lie; this
        // also bounds the memory the walk allocates.
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
        let bad = || DecodeError::MalformedBinary("object offset out of range");
        let at = object
            .checked_mul(self.offset_size)
            .and_then(|o| o.checked_add(self.offset_table))
            .ok_or_else(bad)?;
        let end = at.checked_add(self.offset_size).ok_or_else(bad)?;
        let offset = be_u64(self.body.get(at..end).ok_or_else(bad)?);
        usize::try_from(offset)
            .ok()
            .filter(|&o| o >= BINARY_MAGIC.len() && o < self.offset_table)
            .ok_or_else(bad)
    }

    /// The objects an array, set or dictionary refers to (keys and values); empty for scalars.
    fn children(&self, object: usize) -> Result<Vec<usize>, DecodeError> {
        let malformed = DecodeError::MalformedBinary;
        let past = || malformed("container runs past the object area");
        let at = self.object_offset(object)?;
        let marker = *self.body.get(at).ok_or_else(past)?;
        let per_entry: usize = match marker >> 4 {
            0xA | 0xC => 1,
            0xD => 2,
            _ => return Ok(Vec::new()),
        };
        let mut at = at.checked_add(1).ok_or_else(past)?;
        let mut count = usize::from(marker & 0x0F);
        if count == 0x0F {
            // The count follows as an integer object: marker 0x1n, then 2^n bytes.
            let int_marker = *self.body.get(at).ok_or(malformed("truncated count"))?;
            if int_marker >> 4 != 0x1 || int_marker & 0x0F > 3 {
                return Err(malformed("bad count"));
            }
            let len: usize = match int_marker & 0x0F {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => 8,
            };
            let start = at.checked_add(1).ok_or_else(past)?;
            let end = start.checked_add(len).ok_or_else(past)?;
            let bytes = self
                .body
                .get(start..end)
                .ok_or(malformed("truncated count"))?;
            count = usize::try_from(be_u64(bytes)).map_err(|_| malformed("bad count"))?;
            at = end;
        }
        // Counts near 2^64 must not wrap: every step is checked, and the references must lie
        // wholly before the offset table.
        let end = count
            .checked_mul(per_entry)
            .and_then(|n| n.checked_mul(self.ref_size))
            .and_then(|len| at.checked_add(len))
            .filter(|&end| end <= self.offset_table)
            .ok_or_else(past)?;
        self.body
            .get(at..end)
            .ok_or_else(past)?
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

/// Big-endian unsigned integer of 1 to 8 bytes (longer input keeps its last 8 bytes).
fn be_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0, |acc, &b| acc.checked_shl(8).unwrap_or(0) | u64::from(b))
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

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

    /// One array whose count is given as an 8-byte integer, in a 51-byte body.
    fn wrapping_count(marker: u8, count: u64) -> Vec<u8> {
        let mut body = BINARY_MAGIC.to_vec();
        body.push(marker);
        body.push(0x13);
        body.extend(count.to_be_bytes());
        let table = body.len() as u64;
        body.push(8);
        body.extend([0u8; 6]);
        body.extend([1u8, 1u8]);
        body.extend(1u64.to_be_bytes());
        body.extend(0u64.to_be_bytes());
        body.extend(table.to_be_bytes());
        body
    }

    #[test]
    fn binary_counts_near_2_pow_64_are_malformed_not_a_panic() {
        let limits = DecodeLimits::default();
        for (marker, count) in [
            (0xAF, u64::MAX - 2),
            (0xAF, u64::MAX),
            (0xDF, (1 << 63) - 1),
            (0xDF, u64::MAX / 2 + 1),
            (0xCF, u64::MAX / 8 + 1),
        ] {
            let body = wrapping_count(marker, count);
            assert_eq!(body.len(), 51);
            assert!(
                matches!(check(&body, &limits), Err(DecodeError::MalformedBinary(_))),
                "marker {marker:#x} count {count}"
            );
        }
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

//! The memory store's command queues, laid out for the next-command lookup.
//!
//! Asking for an enrollment's next command is the hot path: a device does it on every
//! command-channel request. Once the queues outgrow the CPU caches, what a lookup costs is
//! mostly how many separate places in memory it reads, each a likely cache and TLB miss, and
//! how big the region is that those reads land in (see BENCHMARKS.md, "Command queue"). A
//! `HashMap<String, VecDeque<_>>` reads three places past the table's control bytes: the table
//! slot, the key's bytes in their own allocation (compared on every hit) and the ring buffer
//! holding the head. Here one 64-byte slot holds the key (for every id up to [`INLINE`] bytes)
//! and the head command's handle, so a lookup reads that slot and nothing else of the queue
//! before it copies the command out (one shared copy however many devices it was sent to). The
//! slot is kept that small so that 100,000 enrollments' slots take 8 MiB rather than 13 or more.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::iter;
use std::sync::Arc;

use mdm_proto::{Command, Raw};

/// Ids up to this many bytes are kept in the table slot: UDIDs of current devices (25 bytes,
/// `00008101-000A1B2C3D4E001E`) and Macs' (36). It is what fits a [`Key`] into 40 bytes, which
/// with the 24-byte [`Queue`] makes the 64-byte slot. Longer ids (40-character UDIDs of older
/// devices, user channels `<device id>:<user id>`) cost a lookup one more read.
const INLINE: usize = 38;

// The point of the layout: a table slot is 64 bytes, a cache line's worth.
const _: () = assert!(size_of::<(Key, Queue)>() <= 64);

/// An enrollment id as a queue-table key: in the slot itself when it is at most [`INLINE`]
/// bytes, so that comparing it on a lookup reads no other allocation; otherwise on the heap.
#[derive(Debug)]
pub(super) enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    pub(super) fn new(id: &str) -> Self {
        let id = id.as_bytes();
        if id.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..id.len()].copy_from_slice(id);
            // At most INLINE (< 256) bytes.
            let len = id.len() as u8;
            Key::Inline { len, bytes }
        } else {
            Key::Heap(id.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Heap(bytes) => bytes,
        }
    }
}

// A key hashes and compares as its bytes, so the table can be searched with `id.as_bytes()`
// without building a `Key`.
impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

/// A command waiting for one enrollment.
#[derive(Debug)]
pub(super) struct Pending {
    /// Shared by every enrollment the command was enqueued for.
    pub(super) command: Arc<Raw<Command>>,
    pub(super) priority: i8,
    pub(super) not_now: bool,
}

/// One enrollment's waiting commands in delivery order: priority (highest first), then enqueue
/// order (FIFO). Never empty: an enrollment with nothing waiting has no queue.
///
/// The first command is held apart so that it sits in the table slot: it is what a device asks
/// for, and nearly always what it answers next. The rest are behind one pointer (8 bytes of the
/// slot rather than a 32-byte `VecDeque`), read only when a command is added behind the head, the
/// head is answered, or the head is being skipped; a ring buffer, so promoting the next command
/// and appending (the common insert) are both O(1).
#[derive(Debug)]
pub(super) struct Queue {
    head: Pending,
    #[expect(
        clippy::box_collection,
        reason = "8 bytes in the table slot instead of 32: what keeps the slot at 64 bytes"
    )]
    rest: Option<Box<VecDeque<Pending>>>,
}

impl Queue {
    pub(super) fn new(first: Pending) -> Self {
        Queue {
            head: first,
            rest: None,
        }
    }

    fn rest(&self) -> impl Iterator<Item = &Pending> {
        self.rest.iter().flat_map(|rest| rest.iter())
    }

    /// The commands in delivery order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Pending> {
        iter::once(&self.head).chain(self.rest())
    }

    /// The command to deliver next, passing over those answered `NotNow` if `skip_not_now`.
    pub(super) fn next(&self, skip_not_now: bool) -> Option<&Pending> {
        // The head unless it is being skipped: then nothing outside the slot is read.
        if !(skip_not_now && self.head.not_now) {
            return Some(&self.head);
        }
        self.rest().find(|p| !p.not_now)
    }

    /// Adds `pending`, enqueued after everything already queued: it goes behind every command of
    /// its priority or higher. (Enqueue order stands in for a sequence number: a new command is
    /// always the newest.)
    pub(super) fn insert(&mut self, pending: Pending) {
        let rest = self.rest.get_or_insert_default();
        if pending.priority > self.head.priority {
            let old = std::mem::replace(&mut self.head, pending);
            rest.push_front(old);
        } else {
            let at = rest.partition_point(|p| p.priority >= pending.priority);
            rest.insert(at, pending);
        }
    }

    /// The position in delivery order of the command `uuid`.
    pub(super) fn position(&self, uuid: &str) -> Option<usize> {
        self.iter().position(|p| p.command.command_uuid == uuid)
    }

    /// The command at `at` in delivery order, if there is one.
    pub(super) fn get_mut(&mut self, at: usize) -> Option<&mut Pending> {
        match at {
            0 => Some(&mut self.head),
            _ => self.rest.as_mut()?.get_mut(at - 1),
        }
    }

    /// Removes the command at `at` in delivery order. Returns `false` when that was the last
    /// command: the queue is then spent and the caller drops it.
    pub(super) fn remove(&mut self, at: usize) -> bool {
        let rest = self.rest.as_deref_mut();
        if at > 0 {
            rest.and_then(|rest| rest.remove(at - 1));
            return true;
        }
        match rest.and_then(VecDeque::pop_front) {
            Some(next) => {
                self.head = next;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use mdm_proto::plist::Dictionary;

    use super::*;

    fn pending(priority: i8, n: u32) -> Pending {
        let command = Command::build(format!("CMD-{n}"), "DeviceInformation", Dictionary::new());
        Pending {
            command: Arc::new(command),
            priority,
            not_now: false,
        }
    }

    fn order(queue: &Queue) -> Vec<&str> {
        queue.iter().map(|p| &*p.command.command_uuid).collect()
    }

    #[test]
    fn orders_by_priority_then_fifo_across_head_and_rest() {
        let mut queue = Queue::new(pending(0, 1));
        queue.insert(pending(0, 2));
        queue.insert(pending(5, 3)); // goes before the head
        queue.insert(pending(-1, 4));
        queue.insert(pending(5, 5));
        assert_eq!(order(&queue), ["CMD-3", "CMD-5", "CMD-1", "CMD-2", "CMD-4"]);

        assert!(queue.remove(0));
        assert_eq!(order(&queue), ["CMD-5", "CMD-1", "CMD-2", "CMD-4"]);
        assert!(queue.remove(2));
        assert_eq!(order(&queue), ["CMD-5", "CMD-1", "CMD-4"]);
        assert_eq!(queue.position("CMD-4"), Some(2));
        assert!(queue.remove(0) && queue.remove(0));
        assert!(!queue.remove(0), "the last command leaves the queue spent");

        let mut single = Queue::new(pending(0, 6));
        assert!(!single.remove(0));
    }

    #[test]
    fn next_passes_over_not_now_only_when_asked() {
        let mut queue = Queue::new(pending(0, 1));
        queue.insert(pending(0, 2));
        let uuid = |p: Option<&Pending>| p.map(|p| p.command.command_uuid.clone());
        queue.get_mut(0).unwrap().not_now = true;
        assert_eq!(uuid(queue.next(false)), Some("CMD-1".into()));
        assert_eq!(uuid(queue.next(true)), Some("CMD-2".into()));
        queue.get_mut(1).unwrap().not_now = true;
        assert!(queue.next(true).is_none());
        assert!(queue.get_mut(2).is_none());
    }

    #[test]
    fn keys_compare_as_their_bytes_inline_or_not() {
        let short = "00008101-000A1B2C3D4E001E";
        let long = format!("{short}:{}", "A".repeat(36));
        assert!(matches!(Key::new(short), Key::Inline { .. }));
        assert!(matches!(Key::new(&long), Key::Heap(_)));
        assert_eq!(Key::new(short).as_bytes(), short.as_bytes());
        assert_eq!(Key::new(&long).as_bytes(), long.as_bytes());
        assert!(Key::new(&"x".repeat(INLINE)) != Key::new(&"x".repeat(INLINE + 1)));
    }
}

//! What decoding a large hostile body costs in memory, measured by a counting allocator.
//!
//! A body of tiny values (`<true/>`, 7 bytes) would become a tree many times its size if it were
//! all built: each one a `plist::Value` of tens of bytes. Decoding keeps only the keys a message
//! reads, so a report's memory is its bytes and little more.

// A global allocator is an unsafe trait; this one only counts and hands every call to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use mdm_proto::{CheckIn, CommandReport, DecodeError, DecodeLimits};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests measure one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Bytes allocated at the peak of `f`, above what was allocated before it.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - before)
}

fn report_with(key: &str, values: usize) -> bytes::Bytes {
    let mut body = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>\
         <key>UDID</key><string>X</string><key>Status</key><string>Acknowledged</string>\
         <key>CommandUUID</key><string>c</string><key>{key}</key><array>"
    );
    body.push_str(&"<true/>".repeat(values));
    body.push_str("</array></dict></plist>");
    body.into_bytes().into()
}

const MIB: usize = 1024 * 1024;

#[test]
fn a_large_report_costs_little_beyond_its_bytes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 4 million values, 28 MB: under the default object limit.
    let body = report_with("InstalledApplicationList", 4_000_000);
    assert!(body.len() > 26 * MIB);
    let (report, peak) = peak_during(|| CommandReport::decode(body.clone()));
    let report = report.unwrap();
    assert_eq!(report.command_uuid.as_deref(), Some("c"));
    // Built whole, the values alone would take over 100 MB.
    assert!(peak < 4 * MIB, "decoding peaked at {} bytes", peak);
}

#[test]
fn a_body_of_more_objects_than_the_limit_is_refused_cheaply() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A 32 MiB body of `<true/>`: more objects than the default limit.
    let body = report_with("Junk", 32 * MIB / 7 - 100);
    let (result, peak) = peak_during(|| CheckIn::decode(body.clone()));
    assert!(matches!(result, Err(DecodeError::TooManyObjects { .. })));
    assert!(peak < 4 * MIB, "decoding peaked at {} bytes", peak);
}

#[test]
fn the_values_a_message_keeps_are_bounded_too() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // `ErrorChain` is read, so its entries are kept: they count against `max_kept_values`.
    let body = report_with("ErrorChain", 1_000_000);
    let (result, peak) = peak_during(|| CommandReport::decode(body.clone()));
    let limit = DecodeLimits::default().max_kept_values;
    assert!(matches!(result, Err(DecodeError::TooManyKeptValues { limit: l }) if l == limit));
    assert!(peak < 16 * MIB, "decoding peaked at {} bytes", peak);
}

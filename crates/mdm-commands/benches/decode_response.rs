//! Decoding a ~2 MB `InstalledApplicationList` report into its type: throughput, and the heap
//! the decoded value and the decoding take beside the body.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdm_commands::MdmCommand;
use mdm_commands::codec::{UnknownKeys, from_value};
use mdm_commands::installed_application_list::{
    InstalledApplicationList, InstalledApplicationListResponse,
};
use mdm_proto::{CommandReport, DecodeLimits};

/// Counts the heap in use and its peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's layout is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = IN_USE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap (beyond what was in use before) while `f` runs, and what stays allocated after.
fn heap<T>(f: impl FnOnce() -> T) -> (usize, usize, T) {
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let value = f();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let kept = IN_USE.load(Ordering::Relaxed).saturating_sub(before);
    (peak, kept, value)
}

/// User and system CPU time of this thread, from `/proc/thread-self/stat` (Linux; 0 elsewhere).
fn thread_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    // The fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th of them, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// An `InstalledApplicationList` report of `n` apps, as a Mac with many apps sends it.
fn report(n: usize) -> Bytes {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\
         \t<key>CommandUUID</key>\n\t<string>0F0A7C1E-5D3B-4B8E-A6C1-9E2D4F6A8B0C</string>\n\
         \t<key>InstalledApplicationList</key>\n\t<array>\n",
    );
    for i in 0..n {
        body.push_str(&format!(
            "\t\t<dict>\n\
             \t\t\t<key>AdHocCodeSigned</key>\n\t\t\t<false/>\n\
             \t\t\t<key>AppStoreVendable</key>\n\t\t\t<{vendable}/>\n\
             \t\t\t<key>BetaApp</key>\n\t\t\t<false/>\n\
             \t\t\t<key>BundleSize</key>\n\t\t\t<integer>{size}</integer>\n\
             \t\t\t<key>DeviceBasedVPP</key>\n\t\t\t<false/>\n\
             \t\t\t<key>DynamicSize</key>\n\t\t\t<integer>0</integer>\n\
             \t\t\t<key>ExternalVersionIdentifier</key>\n\t\t\t<integer>{external}</integer>\n\
             \t\t\t<key>HasUpdateAvailable</key>\n\t\t\t<false/>\n\
             \t\t\t<key>Identifier</key>\n\t\t\t<string>com.example.app{i}</string>\n\
             \t\t\t<key>Installing</key>\n\t\t\t<false/>\n\
             \t\t\t<key>IsValidated</key>\n\t\t\t<true/>\n\
             \t\t\t<key>Name</key>\n\t\t\t<string>Example App {i}</string>\n\
             \t\t\t<key>ShortVersion</key>\n\t\t\t<string>1.{i}</string>\n\
             \t\t\t<key>Version</key>\n\t\t\t<string>{i}</string>\n\
             \t\t</dict>\n",
            vendable = i % 2 == 0,
            size = 1_000_000 + i * 37,
            external = 800_000_000 + i,
        ));
    }
    body.push_str(
        "\t</array>\n\t<key>Status</key>\n\t<string>Acknowledged</string>\n\
         \t<key>UDID</key>\n\t<string>00008030-001A2B3C4D5E6F70</string>\n</dict>\n</plist>\n",
    );
    body.into_bytes().into()
}

fn decode(c: &mut Criterion) {
    let apps = 2_900;
    let body = report(apps);
    let size = body.len();

    let (peak, kept, response) =
        heap(|| InstalledApplicationList::decode_response(body.clone()).unwrap());
    let count = response
        .result()
        .and_then(|r| r.installed_application_list.as_ref())
        .map_or(0, Vec::len);
    assert_eq!(count, apps);
    drop(response);
    println!(
        "InstalledApplicationList of {apps} apps, {size} bytes: decoding peaks at {peak} bytes \
         of heap beside the body ({:.2}x the body), the decoded value keeps {kept} ({:.2}x)",
        peak as f64 / size as f64,
        kept as f64 / size as f64,
    );
    // The same through a property-list tree first, for comparison.
    let limits = DecodeLimits::default().max_kept_values(usize::MAX);
    let (tree_peak, _, _) = heap(|| {
        let tree = mdm_proto::decode_dictionary(&body, &limits).unwrap();
        from_value::<InstalledApplicationListResponse>(
            &mdm_commands::plist::Value::Dictionary(tree),
            UnknownKeys::Skip,
        )
        .unwrap()
    });
    println!(
        "through a plist::Value tree: peaks at {tree_peak} bytes ({:.2}x the body)",
        tree_peak as f64 / size as f64
    );

    // CPU time, which other processes on the machine do not inflate the way they do wall time.
    let runs = 200;
    let cpu = thread_cpu_seconds();
    for _ in 0..runs {
        std::hint::black_box(InstalledApplicationList::decode_response(body.clone()).unwrap());
    }
    let cpu = (thread_cpu_seconds() - cpu) / f64::from(runs);
    println!(
        "CPU time per decode, over {runs} decodes: {:.2} ms, {:.0} MB/s on one core",
        cpu * 1e3,
        size as f64 / cpu / 1e6
    );

    let mut group = c.benchmark_group("decode_response");
    group.throughput(Throughput::Bytes(size as u64));
    group.bench_function(
        format!("installed_application_list/typed ({size} bytes)"),
        |b| b.iter(|| InstalledApplicationList::decode_response(body.clone()).unwrap()),
    );
    group.bench_function(
        format!("installed_application_list/plist tree then typed ({size} bytes)"),
        |b| {
            b.iter(|| {
                let tree = mdm_proto::decode_dictionary(&body, &limits).unwrap();
                from_value::<InstalledApplicationListResponse>(
                    &mdm_commands::plist::Value::Dictionary(tree),
                    UnknownKeys::Skip,
                )
                .unwrap()
            })
        },
    );
    group.bench_function(
        format!("installed_application_list/mdm-proto envelope only ({size} bytes)"),
        |b| b.iter(|| CommandReport::decode(body.clone()).unwrap()),
    );
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);

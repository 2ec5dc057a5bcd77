//! Next-command retrieval and the report + next-command cycle on `MemoryStore`, with 10k and
//! with 1M queued rows across 100k enrollments (the same shapes as `mdm-storage-sql`'s SQLite
//! benchmark).
//!
//! Each timed call asks for a different enrollment, drawn in a shuffled order over every
//! enrollment that has commands at that size (10,000 or 100,000), so neither size is served from
//! a small hot subset and the store sees no access pattern a prefetcher could follow. The ids are
//! shaped like real UDIDs (25 bytes) rather than short labels.
//!
//! `cargo bench -p mdm-storage --bench memory_queue`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use mdm_enrollment::{EnrollId, EnrollmentId};
use mdm_proto::{Authenticate, Enrollment, PushInfo, Status, TokenUpdate};
use mdm_storage::conformance::fixtures::{command, report};
use mdm_storage::{CheckInStore, CommandQueue, MemoryStore, ReportOutcome};
use tokio::runtime::Runtime;

const ENROLLMENTS: usize = 100_000;

/// (label, enrollments with commands, commands each): 10k and 1M queued rows.
const SIZES: [(&str, usize, usize); 2] = [("10k", 10_000, 1), ("1M", ENROLLMENTS, 10)];

fn device(i: usize) -> EnrollId {
    // The shape of a current iOS/macOS UDID, e.g. `00008101-000A1B2C3D4E001E`.
    EnrollId::device(format!("00008101-{i:016X}"))
}

/// `ids` in a fixed pseudo-random order (Fisher–Yates with splitmix64), cloned in that order: the
/// bench then reads its own ids front to back, as a server has the id of the request it just
/// parsed at hand, while the store is asked for enrollments in no particular order.
fn shuffled(ids: &[EnrollId]) -> Vec<EnrollId> {
    let mut state = 0x5EED_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..ids.len()).collect();
    for i in (1..order.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order.into_iter().map(|i| ids[i].clone()).collect()
}

async fn fill(store: &MemoryStore, ids: &[EnrollId], queued: usize, per_enrollment: usize) {
    // The memory store keeps messages as given; plain values make the fill fast.
    let authenticate = Authenticate::default();
    let token_update = TokenUpdate::new(
        Enrollment::default(),
        PushInfo::new(vec![0xAB; 32], "magic", "com.apple.mgmt.External.bench"),
    );
    for id in ids {
        store
            .store_authenticate(id, &authenticate, b"<authenticate/>", None)
            .await
            .unwrap();
        store
            .store_token_update(id, &token_update, b"<token-update/>")
            .await
            .unwrap();
    }
    let targets: Vec<EnrollmentId> = ids[..queued].iter().map(|id| id.id().clone()).collect();
    for k in 0..per_enrollment {
        let failed = store
            .enqueue_command(&targets, &command(&format!("BULK-{k:02}")), 0)
            .await
            .unwrap();
        assert!(failed.is_empty());
    }
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let mut group = c.benchmark_group("memory");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let all: Vec<EnrollId> = (0..ENROLLMENTS).map(device).collect();
    // Both orders are made before any store is filled, so that the bench's own ids lie together
    // in memory at both sizes rather than in whatever gaps a fill left.
    let orders = SIZES.map(|(_, queued, _)| shuffled(&all[..queued]));
    for ((label, queued, per_enrollment), ids) in SIZES.into_iter().zip(&orders) {
        let store = MemoryStore::new();
        rt.block_on(fill(&store, &all, queued, per_enrollment));

        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("next_command", label), |b| {
            b.iter(|| {
                i = (i + 1) % ids.len();
                let next = rt.block_on(store.retrieve_next_command(&ids[i], false));
                black_box(next.unwrap().expect("queued"))
            })
        });

        // Each cycle answers the oldest command of an enrollment and fetches the next; the
        // untimed setup enqueues a replacement, so the queue keeps its size.
        let mut i = 0usize;
        let mut fresh = 0usize;
        group.bench_function(BenchmarkId::new("report_and_next", label), |b| {
            b.iter_batched(
                || {
                    i = (i + 1) % ids.len();
                    fresh += 1;
                    let refill = command(&format!("REFILL-{label}-{fresh:09}"));
                    let failed = rt
                        .block_on(store.enqueue_command(
                            std::slice::from_ref(ids[i].id()),
                            &refill,
                            0,
                        ))
                        .unwrap();
                    assert!(failed.is_empty());
                    let head = rt
                        .block_on(store.retrieve_next_command(&ids[i], false))
                        .unwrap()
                        .expect("queued");
                    let (msg, raw) =
                        report(&ids[i], Some(&head.command_uuid), Status::Acknowledged);
                    (&ids[i], msg, raw)
                },
                |(id, msg, raw)| {
                    rt.block_on(async {
                        let (outcome, next) =
                            store.report_and_next_command(id, &msg, &raw).await.unwrap();
                        assert_eq!(outcome, ReportOutcome::Final);
                        black_box(next)
                    })
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

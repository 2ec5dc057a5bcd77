//! Check-in and report decode throughput.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdm_proto::{CheckIn, CommandReport};

fn fixture(name: &str) -> bytes::Bytes {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .into()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    for name in [
        "ipad_tokenupdate.plist",
        "ipad_tokenupdate_binary.plist",
        "ipad_authenticate.plist",
    ] {
        let body = fixture(name);
        group.bench_function(format!("check_in/{name} ({} bytes)", body.len()), |b| {
            b.iter(|| CheckIn::decode(body.clone()).unwrap())
        });
    }
    let report = fixture("device_information_report.plist");
    group.bench_function(
        format!("report/device_information ({} bytes)", report.len()),
        |b| b.iter(|| CommandReport::decode(report.clone()).unwrap()),
    );
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);

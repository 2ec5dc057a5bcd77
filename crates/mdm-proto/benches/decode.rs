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
    let apps = installed_application_list(2_000);
    group.bench_function(
        format!("report/installed_application_list ({} bytes)", apps.len()),
        |b| b.iter(|| CommandReport::decode(apps.clone()).unwrap()),
    );
    group.finish();
}

/// An `InstalledApplicationList` answer listing `n` apps, as a Mac with many apps sends it.
fn installed_application_list(n: usize) -> bytes::Bytes {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\
         \t<key>CommandUUID</key>\n\t<string>0f0a7c1e-5d3b-4b8e-a6c1-9e2d4f6a8b0c</string>\n\
         \t<key>InstalledApplicationList</key>\n\t<array>\n",
    );
    for i in 0..n {
        body.push_str(&format!(
            "\t\t<dict>\n\t\t\t<key>BundleSize</key>\n\t\t\t<integer>{}</integer>\n\
             \t\t\t<key>DynamicSize</key>\n\t\t\t<integer>0</integer>\n\
             \t\t\t<key>Identifier</key>\n\t\t\t<string>com.example.app{i}</string>\n\
             \t\t\t<key>IsValidated</key>\n\t\t\t<false/>\n\
             \t\t\t<key>Name</key>\n\t\t\t<string>Example App {i}</string>\n\
             \t\t\t<key>ShortVersion</key>\n\t\t\t<string>1.{i}</string>\n\
             \t\t\t<key>Version</key>\n\t\t\t<string>{i}</string>\n\t\t</dict>\n",
            1000 + i
        ));
    }
    body.push_str(
        "\t</array>\n\t<key>Status</key>\n\t<string>Acknowledged</string>\n\
         \t<key>UDID</key>\n\t<string>00008030-001A2B3C4D5E6F70</string>\n</dict>\n</plist>\n",
    );
    body.into_bytes().into()
}

criterion_group!(benches, decode);
criterion_main!(benches);

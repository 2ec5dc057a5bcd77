//! Writes a NanoMDM v0.9 `filekv` directory of `DEVICES` enrolled devices with `COMMANDS`
//! queued commands each (every command its own), for benchmarking the import:
//!
//! ```text
//! cargo run --release -p mdm-import --example filekv_fixture -- /tmp/dbkv 100000 10
//! ```

use std::process::ExitCode;

use mdm_import::fixture::FileKvWriter;

const TOPIC: &str = "com.apple.mgmt.External.7d2f5c1e-4b3a-4c8d-9e6f-0a1b2c3d4e5f";

fn plist(body: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>{body}</dict></plist>\n"
    )
    .into_bytes()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, devices, commands] = args.as_slice() else {
        eprintln!("usage: filekv_fixture DIR DEVICES COMMANDS");
        return ExitCode::from(2);
    };
    let (Ok(devices), Ok(commands)) = (devices.parse::<u64>(), commands.parse::<u64>()) else {
        eprintln!("DEVICES and COMMANDS are numbers");
        return ExitCode::from(2);
    };
    let w = FileKvWriter::new(dir);
    for n in 0..devices {
        // UUID-shaped UDIDs spread over the directory levels as real ones do.
        let udid = format!(
            "{:08X}-{:04X}-4000-8000-{:012X}",
            (n.wrapping_mul(2_654_435_761)) & 0xFFFF_FFFF,
            n & 0xFFFF,
            n
        );
        let auth = plist(&format!(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{udid}</string>\
             <key>Topic</key><string>{TOPIC}</string><key>SerialNumber</key><string>C{n:010}</string>"
        ));
        let tok = plist(&format!(
            "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{udid}</string>\
             <key>Topic</key><string>{TOPIC}</string><key>PushMagic</key><string>magic-{n}</string>\
             <key>Token</key><data>AQIDBAUGBwgJCgsMDQ4PEA==</data>"
        ));
        let result = (|| -> std::io::Result<()> {
            w.authenticate(&udid, &auth, None, Some(&format!("C{n:010}")))?;
            let token = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
            let magic = format!("magic-{n}");
            w.token_update(
                &udid,
                None,
                "Device",
                &tok,
                (TOPIC, &magic, &token),
                None,
                1_733_577_600_000_000,
            )?;
            w.bind_cert_hash(&udid, &format!("{:064x}", u128::from(n) + 1))?;
            for c in 0..commands {
                let uuid = format!("{udid}-cmd-{c}");
                let raw = plist(&format!(
                    "<key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
                     <key>RequestType</key><string>DeviceInformation</string></dict>"
                ));
                w.enqueue(&[&udid], &uuid, "DeviceInformation", &raw)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            eprintln!("filekv_fixture: {dir}: {e}");
            return ExitCode::FAILURE;
        }
        if n % 10_000 == 0 {
            eprint!("\r{n}/{devices}");
        }
    }
    eprintln!("\r{devices}/{devices}");
    ExitCode::SUCCESS
}

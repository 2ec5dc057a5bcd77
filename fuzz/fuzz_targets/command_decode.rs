//! Command-report and command-envelope decoding of arbitrary bytes: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_proto::{Command, CommandReport, DecodeLimits};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default().max_body_bytes(1 << 20);
    if let Ok(report) = CommandReport::decode_with(data.to_vec(), &limits) {
        assert_eq!(report.bytes().as_ref(), data);
        // Only an Idle report may omit CommandUUID.
        assert!(report.command_uuid.is_some() || report.status == mdm_proto::Status::Idle);
    }
    if let Ok(command) = Command::decode_with(data.to_vec(), &limits) {
        assert_eq!(command.bytes().as_ref(), data);
        assert!(command.payload().is_ok());
    }
});

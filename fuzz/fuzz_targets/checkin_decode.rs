//! Check-in decoding of arbitrary bytes: never a panic, and a decoded check-in keeps its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_proto::{CheckIn, DecodeLimits};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default().max_body_bytes(1 << 20);
    if let Ok(check_in) = CheckIn::decode_with(data.to_vec(), &limits) {
        assert_eq!(check_in.bytes().as_ref(), data);
        let _ = check_in.enrollment();
    }
});

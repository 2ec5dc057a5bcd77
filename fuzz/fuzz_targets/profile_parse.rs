//! Configuration profiles of arbitrary input (up to 2 MiB), signed or not: never a panic.
//!
//! The bytes go through `read_any_profile` (a property list is read as a profile, anything else
//! as a CMS SignedData whose content is then read), through the strict reader (unknown keys
//! refused), and through the signed-profile verifier directly. A profile that reads is written
//! out again, which must not panic either. Seeds: `seeds/profile_parse` (an enrollment profile,
//! unsigned and signed with RSA and ECDSA, written by
//! `cargo test -p mdm-profiles --test enrollment -- --ignored write_fuzz_seeds`).
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use mdm_profiles::{Profile, UnknownKeys, read_any_profile, verify_signed_profile};

fuzz_target!(|data: &[u8]| {
    if let Ok(profile) = read_any_profile(data) {
        let _ = profile.to_xml();
    }
    let _ = Profile::from_bytes_with(data, &Default::default(), UnknownKeys::Reject);
    let _ = verify_signed_profile(data, None, SystemTime::UNIX_EPOCH);
});

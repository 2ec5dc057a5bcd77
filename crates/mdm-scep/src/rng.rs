//! Random bytes from aws-lc-rs's system source.

/// Fills `out` with random bytes.
pub(crate) fn fill(out: &mut [u8]) {
    // The system source failing is not something input can cause, and nothing sound can go on
    // without randomness (keys, IVs, nonces, serial numbers): stop here.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(out).expect("the system random source failed");
}

/// `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0; N];
    fill(&mut out);
    out
}

//! The system random source (aws-lc-rs) as the `rand_core` generator the `cms` builder asks for.

use std::convert::Infallible;

/// Random bytes from aws-lc-rs's system source.
pub(crate) struct SystemRng;

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

impl rand_core::TryRng for SystemRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::from_le_bytes(bytes()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::from_le_bytes(bytes()))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SystemRng {}

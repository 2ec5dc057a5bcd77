//! Rootstock's end-to-end tests, in one place (`tests/*.rs` of this package), and what they
//! share:
//!
//! * [`harness`]: the reference server in-process on a loopback port, with a mock APNs,
//!   simulated devices and recording upstreams (webhook, DM server, auth-proxy target);
//! * [`process`]: the compiled server as a process (SIGTERM, SIGKILL, its log), for the
//!   reliability and load tests.
//!
//! CONTRIBUTING.md says which test goes where.

pub mod harness;
pub mod process;

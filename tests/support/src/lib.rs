//! What Rootstock's tests share below the reference server, so that storage tests and the
//! end-to-end tests use one copy: [`proxy::Proxy`], a TCP proxy that makes a database go away
//! and come back.
//!
//! It depends on none of the workspace's crates, so any of them can use it as a
//! dev-dependency.

pub mod proxy;

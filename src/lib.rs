//! Rootstock: Apple MDM protocol libraries.
//!
//! This root crate re-exports the workspace's crates behind features, so a user can depend on one
//! crate and pick the parts they need. Each crate can also be used on its own.

#![deny(missing_docs)]

#[cfg(feature = "commands")]
pub use mdm_commands as commands;
#[cfg(feature = "enrollment")]
pub use mdm_enrollment as enrollment;
#[cfg(feature = "http")]
pub use mdm_http as http;
#[cfg(feature = "proto")]
pub use mdm_proto as proto;
#[cfg(feature = "signature")]
pub use mdm_signature as signature;
#[cfg(feature = "sim")]
pub use mdm_sim as sim;

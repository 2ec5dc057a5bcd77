//! Rootstock: Apple MDM protocol libraries.
//!
//! This root crate re-exports the workspace's crates behind features, so a user can depend on
//! one crate and pick the parts they need; every type in a public signature of a re-exported
//! crate is reachable from here (the `http` feature brings the storage, service and push types
//! its builder takes). Each crate can also be used on its own.
//!
//! | feature | module | crate |
//! |---|---|---|
//! | `proto` (default) | [`proto`] | `mdm-proto`: messages and bounded decoding |
//! | `enrollment` (default) | [`enrollment`] | `mdm-enrollment`: enrollment ids |
//! | `signature` (default) | [`signature`] | `mdm-signature`: `Mdm-Signature` and device certificates |
//! | `storage` | [`storage`] | `mdm-storage`: storage traits, memory store, multi-store |
//! | `storage-sql`, `postgres`, `mysql` | [`storage_sql`] | `mdm-storage-sql`: SQLite, PostgreSQL, MySQL |
//! | `push` | [`push`] | `mdm-push`: push certificates, APNs client |
//! | `service` | [`service`] | `mdm-service`: the core as a tower service, its layers, pushing |
//! | `http` | [`http`] | `mdm-http`: the axum adapter and NanoMDM's API |
//! | `scep` | [`scep`] | `mdm-scep`: a SCEP server |
//! | `profiles` | [`profiles`] | `mdm-profiles`: configuration profiles, signing, enrollment profiles |
//! | `ddm` | [`ddm`] | `mdm-ddm`: Declarative Device Management: declarations, status, tokens |
//! | `server` | [`server`] | `rootstock-server`: the reference server |
//! | `sim` | [`sim`] | `mdm-sim`: simulated devices |

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[cfg(feature = "commands")]
pub use mdm_commands as commands;
#[cfg(feature = "ddm")]
pub use mdm_ddm as ddm;
#[cfg(feature = "enrollment")]
pub use mdm_enrollment as enrollment;
#[cfg(feature = "http")]
pub use mdm_http as http;
#[cfg(feature = "profiles")]
pub use mdm_profiles as profiles;
#[cfg(feature = "proto")]
pub use mdm_proto as proto;
#[cfg(feature = "push")]
pub use mdm_push as push;
#[cfg(feature = "scep")]
pub use mdm_scep as scep;
#[cfg(feature = "service")]
pub use mdm_service as service;
#[cfg(feature = "signature")]
pub use mdm_signature as signature;
#[cfg(feature = "sim")]
pub use mdm_sim as sim;
#[cfg(feature = "storage")]
pub use mdm_storage as storage;
#[cfg(feature = "storage-sql")]
pub use mdm_storage_sql as storage_sql;
#[cfg(feature = "server")]
pub use rootstock_server as server;

//! The reference server: a drop-in replacement for NanoMDM v0.9, same command line, same
//! `NANOMDM_*` environment variables, same endpoints, status codes and JSON.
//!
//! ```text
//! # first run, nothing to set up (development only: creates a CA and an API key in ./rootstock-dev)
//! cargo run --release --example server -- --dev
//!
//! # NanoMDM's command line, unchanged
//! cargo run --release --example server -- -api KEY -ca ca.pem -listen 127.0.0.1:9000 \
//!     -storage sqlite -storage-dsn db.sqlite
//! ```
//!
//! `-h` lists every flag with its environment variable. The server itself is the
//! `rootstock-server` crate; this file only hands it the command line and the environment.

use std::collections::HashMap;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Variables that are not UTF-8 cannot be NANOMDM_* settings; skip them rather than panic.
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    rootstock_server::main(args, env).await
}

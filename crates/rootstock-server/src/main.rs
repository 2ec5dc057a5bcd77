//! `rootstock-server`: the reference server's program. Everything is in the library
//! ([`rootstock_server::main`]); this hands it the command line and the environment.

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

//! The reference server, built as this package's binary so that the tests that run it as a
//! process get its path from cargo (`CARGO_BIN_EXE_server-under-test`).

use std::collections::HashMap;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    rootstock_server::main(args, env).await
}

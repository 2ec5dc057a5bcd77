//! Moves enrollments from one of our stores to another server's `/migration` endpoint, as
//! NanoMDM's `nano2nano`: every device's Authenticate and TokenUpdate, then every user channel's
//! TokenUpdate. The receiving server (ours or NanoMDM) needs `-api` and `-migration`.
//!
//! ```text
//! cargo run --example migrate -- -storage sqlite -storage-dsn old.sqlite \
//!     -url http://new-server:9000/migration -key API_KEY
//! ```
//!
//! Storage flags are the server's (`-storage`, `-storage-dsn`, `-storage-options`, repeatable;
//! default SQLite `nanomdm.sqlite`); each may also come from its `NANOMDM_*` variable. The
//! receiving server replays the check-ins into its core without binding device certificates, so
//! run it with `-retro` if devices should keep working without re-enrolling.

use std::path::Path;
use std::process::ExitCode;

use rootstock_server::{env_name, open_storage, storage_specs};

const USAGE: &str = "\
usage: migrate -url URL -key API_KEY [-storage NAME -storage-dsn DSN [-storage-options OPTS]]…

  -url URL               the other server's migration endpoint (http://host:9000/migration)
  -key KEY               its API key (HTTP Basic auth as user nanomdm)
  -storage NAME          where the enrollments are: sqlite (default), inmem, pgsql, mysql
  -storage-dsn DSN       its DSN (sqlite: the database file, default nanomdm.sqlite)
  -storage-options OPTS  its options
  -debug                 log every check-in sent
";

struct Args {
    url: String,
    key: String,
    storage: Vec<String>,
    dsn: Vec<String>,
    options: Vec<String>,
    debug: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        key: String::new(),
        storage: Vec::new(),
        dsn: Vec::new(),
        options: Vec::new(),
        debug: false,
    };
    // Environment first, then the command line (which adds to the repeatable flags), as the
    // server does.
    let env = |flag: &str| std::env::var(env_name(flag)).ok();
    args.storage.extend(env("storage"));
    args.dsn.extend(env("storage-dsn"));
    args.options.extend(env("storage-options"));
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let body = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .ok_or_else(|| format!("unexpected argument {arg}"))?;
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (body, None),
        };
        if name == "debug" {
            args.debug = inline.as_deref().is_none_or(|v| v == "true" || v == "1");
            continue;
        }
        if name == "h" || name == "help" {
            return Err("help".into());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("flag needs an argument: -{name}"))
        };
        match name {
            "url" => args.url = value()?,
            "key" => args.key = value()?,
            "storage" => args.storage.push(value()?),
            "storage-dsn" | "dsn" => args.dsn.push(value()?),
            "storage-options" => args.options.push(value()?),
            _ => return Err(format!("flag provided but not defined: -{name}")),
        }
    }
    if args.url.is_empty() || args.key.is_empty() {
        return Err("-url and -key are required".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) if message == "help" => {
            eprint!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("migrate: {message}\n");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    rootstock_server::init_logging(args.debug);
    let url = match url::Url::parse(&args.url) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("migrate: invalid -url {:?}: {e}", args.url);
            return ExitCode::from(2);
        }
    };
    let specs = match storage_specs(
        &args.storage,
        &args.dsn,
        &args.options,
        Path::new(rootstock_server::DEFAULT_SQLITE_PATH),
    ) {
        Ok(specs) => specs,
        Err(e) => {
            eprintln!("migrate: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match open_storage(&specs).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("migrate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = reqwest::Client::new();
    match mdm_http::migrate::migrate(&store, &url, &args.key, &client).await {
        Ok(report) => {
            println!(
                "migrate: {} check-ins sent, {} refused",
                report.sent, report.failed
            );
            if report.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("migrate: reading the store failed: {e}");
            ExitCode::FAILURE
        }
    }
}

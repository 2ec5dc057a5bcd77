//! Moves enrollments between servers, two ways.
//!
//! To another server's `/migration` endpoint, as NanoMDM's `nano2nano`: every device's
//! Authenticate and TokenUpdate, then every user channel's TokenUpdate. The receiving server
//! (ours or NanoMDM) needs `-api` and `-migration`.
//!
//! ```text
//! cargo run --example migrate -- -storage sqlite -storage-dsn old.sqlite \
//!     -url http://new-server:9000/migration -key API_KEY
//! ```
//!
//! From NanoMDM's `filekv` directory into the backend the storage flags name, with everything
//! devices need to carry on (queues in order with their NotNow marks, certificate bindings,
//! bootstrap and unlock tokens, push certificates); idempotent, `--dry-run` to check first:
//!
//! ```text
//! cargo run --example migrate -- -from-filekv /var/lib/nanomdm/dbkv \
//!     -storage sqlite -storage-dsn nanomdm.sqlite
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
       migrate -from-filekv DIR | -from-file DIR [--dry-run] [-storage NAME -storage-dsn DSN [-storage-options OPTS]]

  -url URL               the other server's migration endpoint (http://host:9000/migration)
  -key KEY               its API key (HTTP Basic auth as user nanomdm)
  -from-filekv DIR       import NanoMDM's filekv directory (its -storage-dsn, default dbkv)
                         into the backend the storage flags name
  -from-file DIR         the same for NanoMDM's deprecated file backend's directory
  --dry-run              with -from-filekv or -from-file: read and check everything, write nothing (the
                         backend is not even opened)
  -storage NAME          where the enrollments are (or go, with -from-filekv): sqlite
                         (default), inmem, pgsql, mysql
  -storage-dsn DSN       its DSN (sqlite: the database file, default nanomdm.sqlite)
  -storage-options OPTS  its options
  -debug                 log every check-in sent
";

struct Args {
    from_filekv: Option<String>,
    from_file: Option<String>,
    dry_run: bool,
    url: String,
    key: String,
    storage: Vec<String>,
    dsn: Vec<String>,
    options: Vec<String>,
    debug: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        from_filekv: None,
        from_file: None,
        dry_run: false,
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
        if name == "dry-run" {
            args.dry_run = inline.as_deref().is_none_or(|v| v == "true" || v == "1");
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
            "from-filekv" => args.from_filekv = Some(value()?),
            "from-file" => args.from_file = Some(value()?),
            _ => return Err(format!("flag provided but not defined: -{name}")),
        }
    }
    if args.from_filekv.is_some() && args.from_file.is_some() {
        return Err("one of -from-filekv and -from-file".into());
    }
    if args.from_filekv.is_some() || args.from_file.is_some() {
        if !args.url.is_empty() {
            return Err("an import writes into the storage flags' backend; drop -url".into());
        }
        return Ok(args);
    }
    if args.dry_run {
        return Err("--dry-run goes with -from-filekv or -from-file".into());
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
    if let Some(dir) = &args.from_filekv {
        return import(&args, Path::new(dir), Source::FileKv).await;
    }
    if let Some(dir) = &args.from_file {
        return import(&args, Path::new(dir), Source::File).await;
    }
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

/// Which NanoMDM backend wrote the directory.
#[derive(Clone, Copy)]
enum Source {
    FileKv,
    File,
}

/// `-from-filekv` / `-from-file`: imports the directory, printing progress on one line and a
/// summary.
async fn import(args: &Args, dir: &Path, source: Source) -> ExitCode {
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
    // A dry run writes nothing, not even a new database's schema: the flags are checked, the
    // backend is not opened, and the import runs against a store it never writes to.
    let specs = if args.dry_run {
        vec![rootstock_server::StorageSpec {
            name: "inmem".into(),
            dsn: String::new(),
            options: String::new(),
        }]
    } else {
        specs
    };
    let target = match rootstock_server::open_import_storage(&specs).await {
        Ok(target) => target,
        Err(e) => {
            eprintln!("migrate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = mdm_import::ImportOptions {
        dry_run: args.dry_run,
    };
    let started = std::time::Instant::now();
    let mut last_shown = std::time::Instant::now();
    let progress = |p: mdm_import::Progress| {
        // One line, rewritten at most a few times a second (and at the end).
        if p.done == p.total || last_shown.elapsed().as_millis() >= 250 {
            last_shown = std::time::Instant::now();
            eprint!("\rmigrate: {}/{} devices", p.done, p.total);
            if p.done == p.total {
                eprintln!();
            }
        }
    };
    let (storage, importer) = (&target.storage, &target.import);
    let imported = match source {
        Source::FileKv => {
            mdm_import::import_filekv(dir, storage, importer, options, progress).await
        }
        Source::File => mdm_import::import_file(dir, storage, importer, options, progress).await,
    };
    let report = match imported {
        Ok(report) => report,
        Err(e) => {
            eprintln!("migrate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let verb = if args.dry_run {
        "would import"
    } else {
        "imported"
    };
    println!(
        "migrate: {verb} from {} in {:.1}s: {} devices, {} user channels, {} check-ins, \
         {} enrollment states, {} queued commands ({} NotNow, {} already queued), \
         {} command results, {} bootstrap tokens, {} unlock tokens, {} certificate bindings, \
         {} push certificates ({} unchanged)",
        dir.display(),
        started.elapsed().as_secs_f64(),
        report.devices,
        report.user_channels,
        report.check_ins,
        report.enrollment_states,
        report.queued_commands,
        report.not_now,
        report.already_queued,
        report.command_results,
        report.bootstrap_tokens,
        report.unlock_tokens,
        report.cert_bindings,
        report.push_certs,
        report.push_certs_unchanged,
    );
    for skipped in &report.skipped {
        println!("migrate: skipped {}: {}", skipped.what, skipped.reason);
    }
    for failure in &report.failures {
        eprintln!("migrate: FAILED {}: {}", failure.id, failure.error);
    }
    if report.is_complete() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "migrate: {} devices failed; fix them and run again (what was imported stays)",
            report.failures.len()
        );
        ExitCode::FAILURE
    }
}

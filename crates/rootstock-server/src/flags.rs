//! NanoMDM's command line and `NANOMDM_*` environment variables, parsed the way Go's `flag`
//! package and nanolib's `envflag` do.
//!
//! * `-flag value`, `-flag=value`, `--flag value`, `--flag=value`; booleans as `-flag` or
//!   `-flag=true` (any `strconv.ParseBool` spelling). Parsing stops at the first argument that
//!   is not a flag, or after `--`.
//! * Every flag except `-version` and `-dsn` also reads `NANOMDM_<FLAG>` (upper-cased, `-` → `_`),
//!   applied before the command line: the command line overrides single values, and for the
//!   repeatable `-storage`, `-storage-dsn` and `-storage-options` the two add up (environment
//!   first). A set but empty variable is applied too (an error for a boolean).

use std::collections::HashMap;
use std::time::Duration;

use mdm_http::DEFAULT_BODY_LIMIT;
use mdm_proto::Secret;

/// The prefix of the environment variables.
pub const ENV_PREFIX: &str = "NANOMDM_";

/// Every setting of the reference server: NanoMDM v0.9's flags, then Rootstock's additions.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Flags {
    /// `-api`: the API key (Basic-auth password of user `nanomdm`); empty disables the API.
    pub api: Secret<String>,
    /// `-auth-proxy-url`: enables `/authproxy/` to this URL.
    pub auth_proxy_url: String,
    /// `-ca`: PEM file of the CAs that issue device identities.
    pub ca: String,
    /// `-cert-header`: read the device certificate from this header instead of `Mdm-Signature`.
    pub cert_header: String,
    /// `-checkin`: a separate `/checkin` endpoint.
    pub checkin: bool,
    /// `-debug`: debug logging.
    pub debug: bool,
    /// `-disable-mdm`: no device endpoints (API only).
    pub disable_mdm: bool,
    /// `-dm`: Declarative Management base URL.
    pub dm: String,
    /// `-dm-recv-hmac-key`: verify `X-Hmac-Signature` on DM responses.
    pub dm_recv_hmac_key: Secret<String>,
    /// `-dm-send-hmac-key`: sign DM requests.
    pub dm_send_hmac_key: Secret<String>,
    /// `-dump`: write device requests and responses to stdout.
    pub dump: bool,
    /// `-intermediate`: PEM file of intermediate CAs.
    pub intermediate: String,
    /// `-listen`: the listen address; `None` when not given (`:9000`, or `127.0.0.1:9000` with
    /// `--dev`).
    pub listen: Option<String>,
    /// `-migration`: enable `/migration`.
    pub migration: bool,
    /// `-metrics`: serve `GET /metrics` (Prometheus text format) on the listener.
    pub metrics: bool,
    /// `-metrics-auth`: `/metrics` needs the API key, as the API does.
    pub metrics_auth: bool,
    /// `-retro`: retroactive certificate binding.
    pub retro: bool,
    /// `-storage` (repeatable): backend names.
    pub storage: Vec<String>,
    /// `-storage-dsn` and the deprecated `-dsn` (repeatable): backend DSNs, paired by position.
    pub storage_dsn: Vec<String>,
    /// `-storage-options` (repeatable): backend options, paired by position.
    pub storage_options: Vec<String>,
    /// `-ua-zl-dc`: answer UserAuthenticate with a zero-length DigestChallenge.
    pub ua_zl_dc: bool,
    /// `-version`: print the version and exit.
    pub version: bool,
    /// `-webhook-hmac-key`: sign webhook bodies.
    pub webhook_hmac_key: Secret<String>,
    /// `-webhook-url`: send webhook events here.
    pub webhook_url: String,

    /// `-dev` (Rootstock): zero-setup development mode.
    pub dev: bool,
    /// `-data-dir` (Rootstock): where `-dev` keeps its CA, API key and database.
    pub data_dir: String,
    /// `-body-limit` (Rootstock): largest request body, in bytes (`32MiB`, `4096`, `512k`).
    pub body_limit: usize,
    /// `-body-budget` (Rootstock): request-body bytes all requests in flight may hold together.
    pub body_budget: usize,
    /// `-header-timeout` (Rootstock): time allowed to send request headers.
    pub header_timeout: Duration,
    /// `-body-timeout` (Rootstock): time allowed to send a whole request body.
    pub body_timeout: Duration,
    /// `-shutdown-timeout` (Rootstock): how long requests in flight may finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// `-command-retention` (Rootstock): how long answered commands and their results are kept
    /// after they were enqueued; `None` (unset, or 0) keeps them, as NanoMDM does.
    pub command_retention: Option<Duration>,
    /// `-apns-url` (Rootstock): APNs base URL (default Apple's production service).
    pub apns_url: String,
    /// `-apns-root-ca` (Rootstock): PEM file of CAs to trust for APNs instead of the system's.
    pub apns_root_ca: String,
    /// `-escrow-url` (Rootstock): the escrow key unlock endpoint (default Apple's).
    pub escrow_url: String,
    /// `-scep-ca` (Rootstock): PEM file of the CA certificate and key that `/scep` issues
    /// device identities from.
    pub scep_ca: String,
    /// `-scep-challenge` (Rootstock): the challenge password `/scep` requires.
    pub scep_challenge: Secret<String>,
    /// `-enroll-signer` (Rootstock): PEM file (certificate, chain, key) that signs the profile
    /// `/enroll` serves.
    pub enroll_signer: String,
    /// `-server-url` (Rootstock): the server's public base URL, for the enrollment profile.
    pub server_url: String,
    /// `-enroll-topic` (Rootstock): the push topic the enrollment profile names until a push
    /// certificate is uploaded to this process (a store cannot list its topics, so after a
    /// restart the topic is otherwise unknown).
    pub enroll_topic: String,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            api: Secret::default(),
            auth_proxy_url: String::new(),
            ca: String::new(),
            cert_header: String::new(),
            checkin: false,
            debug: false,
            disable_mdm: false,
            dm: String::new(),
            dm_recv_hmac_key: Secret::default(),
            dm_send_hmac_key: Secret::default(),
            dump: false,
            intermediate: String::new(),
            listen: None,
            migration: false,
            metrics: false,
            metrics_auth: false,
            retro: false,
            storage: Vec::new(),
            storage_dsn: Vec::new(),
            storage_options: Vec::new(),
            ua_zl_dc: false,
            version: false,
            webhook_hmac_key: Secret::default(),
            webhook_url: String::new(),
            dev: false,
            data_dir: "rootstock-dev".into(),
            body_limit: DEFAULT_BODY_LIMIT,
            body_budget: mdm_http::DEFAULT_BODY_BUDGET,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            command_retention: None,
            apns_url: String::new(),
            apns_root_ca: String::new(),
            escrow_url: String::new(),
            scep_ca: String::new(),
            scep_challenge: Secret::default(),
            enroll_signer: String::new(),
            server_url: String::new(),
            enroll_topic: String::new(),
        }
    }
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Run the server with these settings.
    Run(Box<Flags>),
    /// Print the version (`-version`).
    Version,
    /// Print the usage (`-h`, `-help`).
    Help,
}

/// A command line or environment variable that could not be parsed. The server prints it with
/// the usage and exits with status 2, as Go's `flag` package.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlagError(String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Text,
    List,
    Size,
    Duration,
}

struct Def {
    name: &'static str,
    kind: Kind,
    /// Whether `NANOMDM_<NAME>` is read (all but `version` and `dsn`, as NanoMDM).
    env: bool,
    usage: &'static str,
}

const fn def(name: &'static str, kind: Kind, usage: &'static str) -> Def {
    Def {
        name,
        kind,
        env: true,
        usage,
    }
}

const DEFS: &[Def] = &[
    def("api", Kind::Text, "API key for API endpoints"),
    def(
        "auth-proxy-url",
        Kind::Text,
        "Reverse proxy URL target for MDM-authenticated HTTP requests",
    ),
    def(
        "ca",
        Kind::Text,
        "path to PEM CA cert(s) (required unless -dev)",
    ),
    def(
        "cert-header",
        Kind::Text,
        "HTTP header containing TLS client certificate (RFC 9440 or URL-escaped PEM)",
    ),
    def(
        "checkin",
        Kind::Bool,
        "enable separate HTTP endpoint for MDM check-ins",
    ),
    def("debug", Kind::Bool, "log debug messages"),
    def("disable-mdm", Kind::Bool, "disable MDM HTTP endpoint"),
    def(
        "dm",
        Kind::Text,
        "URL to send Declarative Management requests to",
    ),
    def(
        "dm-recv-hmac-key",
        Kind::Text,
        "verify X-Hmac-Signature on Declarative Management responses with this key",
    ),
    def(
        "dm-send-hmac-key",
        Kind::Text,
        "sign Declarative Management requests (X-Hmac-Signature) with this key",
    ),
    Def {
        name: "dsn",
        kind: Kind::List,
        env: false,
        usage: "deprecated: use -storage-dsn",
    },
    def(
        "dump",
        Kind::Bool,
        "dump MDM requests and responses to stdout",
    ),
    def(
        "intermediate",
        Kind::Text,
        "path to PEM intermediate cert(s)",
    ),
    def(
        "listen",
        Kind::Text,
        "HTTP listen address (default \":9000\"; \"127.0.0.1:9000\" with -dev)",
    ),
    def(
        "metrics",
        Kind::Bool,
        "serve Prometheus metrics at /metrics (Rootstock)",
    ),
    def(
        "metrics-auth",
        Kind::Bool,
        "require the API key for /metrics (Rootstock)",
    ),
    def(
        "migration",
        Kind::Bool,
        "HTTP endpoint for enrollment migrations",
    ),
    def(
        "retro",
        Kind::Bool,
        "Allow retroactive certificate-authorization association",
    ),
    def(
        "storage",
        Kind::List,
        "storage backend: sqlite (default), inmem, pgsql, mysql; repeat for a multi-store",
    ),
    def(
        "storage-dsn",
        Kind::List,
        "storage backend data source name (sqlite: a file path, default nanomdm.sqlite)",
    ),
    def("storage-options", Kind::List, "storage backend options"),
    def(
        "ua-zl-dc",
        Kind::Bool,
        "reply with zero-length DigestChallenge for UserAuthenticate",
    ),
    Def {
        name: "version",
        kind: Kind::Bool,
        env: false,
        usage: "print version and exit",
    },
    def(
        "webhook-hmac-key",
        Kind::Text,
        "Sign webhook bodies (X-Hmac-Signature) with this key",
    ),
    def("webhook-url", Kind::Text, "URL to send requests to"),
    def(
        "dev",
        Kind::Bool,
        "Rootstock: development mode; creates a CA and API key in -data-dir (never in production)",
    ),
    def(
        "data-dir",
        Kind::Text,
        "Rootstock: directory -dev keeps its CA, API key and database in (default \"rootstock-dev\")",
    ),
    def(
        "body-limit",
        Kind::Size,
        "Rootstock: largest request body, e.g. 32MiB, 512k, 4096 (default 32MiB)",
    ),
    def(
        "body-budget",
        Kind::Size,
        "Rootstock: request-body bytes all requests in flight may hold together; beyond it 503 \
         with Retry-After (default 256MiB)",
    ),
    def(
        "header-timeout",
        Kind::Duration,
        "Rootstock: time allowed to send request headers (default 30s)",
    ),
    def(
        "body-timeout",
        Kind::Duration,
        "Rootstock: time allowed to send a whole request body (default 60s)",
    ),
    def(
        "shutdown-timeout",
        Kind::Duration,
        "Rootstock: time requests in flight get to finish on SIGTERM (default 30s)",
    ),
    def(
        "command-retention",
        Kind::Duration,
        "Rootstock: delete answered commands and their results this long after they were \
         enqueued, e.g. 720h (default: keep them, as NanoMDM does)",
    ),
    def(
        "apns-url",
        Kind::Text,
        "Rootstock: APNs base URL (default https://api.push.apple.com)",
    ),
    def(
        "apns-root-ca",
        Kind::Text,
        "Rootstock: PEM file of CAs to trust for APNs instead of the system roots",
    ),
    def(
        "escrow-url",
        Kind::Text,
        "Rootstock: escrow key unlock URL (default Apple's)",
    ),
    def(
        "scep-ca",
        Kind::Text,
        "Rootstock: PEM file of a CA certificate and key; serves SCEP at /scep (needs -scep-challenge)",
    ),
    def(
        "scep-challenge",
        Kind::Text,
        "Rootstock: the SCEP challenge password",
    ),
    def(
        "enroll-signer",
        Kind::Text,
        "Rootstock: PEM file (certificate, chain, key) signing the enrollment profile at /enroll",
    ),
    def(
        "server-url",
        Kind::Text,
        "Rootstock: public base URL of this server; serves an enrollment profile at /enroll \
         (with -scep-ca)",
    ),
    def(
        "enroll-topic",
        Kind::Text,
        "Rootstock: push topic of the profile at /enroll until a push certificate is uploaded \
         (com.apple.mgmt.…)",
    ),
];

/// `NANOMDM_` + the flag name upper-cased, every character but `A-Z0-9` as `_`.
pub fn env_name(flag: &str) -> String {
    let mut name = String::from(ENV_PREFIX);
    name.extend(flag.chars().map(|c| {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_uppercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        }
    }));
    name
}

/// Parses `args` (without the program name) over the environment `env`.
pub fn parse<I, S>(args: I, env: &HashMap<String, String>) -> Result<Invocation, FlagError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut flags = Flags::default();
    for def in DEFS.iter().filter(|d| d.env) {
        let var = env_name(def.name);
        if let Some(value) = env.get(&var) {
            set(&mut flags, def, value).map_err(|e| {
                FlagError(format!(
                    "failed to set flag {:?} with value of env var {var}: {e}",
                    def.name
                ))
            })?;
        }
    }
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        if arg == "--" || arg == "-" || !arg.starts_with('-') {
            // Go stops at the first non-flag argument; NanoMDM ignores what follows.
            break;
        }
        let body = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .unwrap_or(&arg);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(FlagError(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (body, None),
        };
        let Some(def) = DEFS.iter().find(|d| d.name == name) else {
            if name == "h" || name == "help" {
                return Ok(Invocation::Help);
            }
            return Err(FlagError(format!("flag provided but not defined: -{name}")));
        };
        let value = match (def.kind, inline) {
            (_, Some(value)) => value,
            (Kind::Bool, None) => "true".to_owned(),
            (_, None) => args
                .next()
                .ok_or_else(|| FlagError(format!("flag needs an argument: -{name}")))?,
        };
        set(&mut flags, def, &value)
            .map_err(|e| FlagError(format!("invalid value {value:?} for flag -{name}: {e}")))?;
    }
    if flags.version {
        return Ok(Invocation::Version);
    }
    Ok(Invocation::Run(Box::new(flags)))
}

fn set(flags: &mut Flags, def: &Def, value: &str) -> Result<(), String> {
    let text = || value.to_owned();
    match def.kind {
        Kind::Bool => {
            let b = parse_bool(value)?;
            match def.name {
                "checkin" => flags.checkin = b,
                "debug" => flags.debug = b,
                "disable-mdm" => flags.disable_mdm = b,
                "dump" => flags.dump = b,
                "migration" => flags.migration = b,
                "metrics" => flags.metrics = b,
                "metrics-auth" => flags.metrics_auth = b,
                "retro" => flags.retro = b,
                "ua-zl-dc" => flags.ua_zl_dc = b,
                "version" => flags.version = b,
                "dev" => flags.dev = b,
                other => unreachable!("bool flag {other} not wired"),
            }
        }
        Kind::Text => match def.name {
            "api" => flags.api = Secret::new(text()),
            "auth-proxy-url" => flags.auth_proxy_url = text(),
            "ca" => flags.ca = text(),
            "cert-header" => flags.cert_header = text(),
            "dm" => flags.dm = text(),
            "dm-recv-hmac-key" => flags.dm_recv_hmac_key = Secret::new(text()),
            "dm-send-hmac-key" => flags.dm_send_hmac_key = Secret::new(text()),
            "intermediate" => flags.intermediate = text(),
            "listen" => flags.listen = Some(text()),
            "webhook-hmac-key" => flags.webhook_hmac_key = Secret::new(text()),
            "webhook-url" => flags.webhook_url = text(),
            "data-dir" => flags.data_dir = text(),
            "apns-url" => flags.apns_url = text(),
            "apns-root-ca" => flags.apns_root_ca = text(),
            "escrow-url" => flags.escrow_url = text(),
            "scep-ca" => flags.scep_ca = text(),
            "scep-challenge" => flags.scep_challenge = Secret::new(text()),
            "enroll-signer" => flags.enroll_signer = text(),
            "server-url" => flags.server_url = text(),
            "enroll-topic" => flags.enroll_topic = text(),
            other => unreachable!("text flag {other} not wired"),
        },
        Kind::List => match def.name {
            "storage" => flags.storage.push(text()),
            "storage-dsn" | "dsn" => flags.storage_dsn.push(text()),
            "storage-options" => flags.storage_options.push(text()),
            other => unreachable!("list flag {other} not wired"),
        },
        Kind::Size => match def.name {
            "body-limit" => flags.body_limit = parse_size(value)?,
            "body-budget" => flags.body_budget = parse_size(value)?,
            other => unreachable!("size flag {other} not wired"),
        },
        Kind::Duration => {
            let d = parse_duration(value)?;
            match def.name {
                "header-timeout" => flags.header_timeout = d,
                "body-timeout" => flags.body_timeout = d,
                "shutdown-timeout" => flags.shutdown_timeout = d,
                "command-retention" => flags.command_retention = (!d.is_zero()).then_some(d),
                other => unreachable!("duration flag {other} not wired"),
            }
        }
    }
    Ok(())
}

/// Go's `strconv.ParseBool`.
fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err("parse error".into()),
    }
}

/// Bytes, with an optional binary suffix: `4096`, `512k`, `32M`, `32MiB`, `1GB`.
fn parse_size(value: &str) -> Result<usize, String> {
    let value = value.trim();
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(digits);
    let number: usize = number
        .parse()
        .map_err(|_| "not a size (e.g. 32MiB)".to_owned())?;
    let multiplier: usize = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown size unit {suffix:?}")),
    };
    number
        .checked_mul(multiplier)
        .filter(|n| *n > 0)
        .ok_or_else(|| "size out of range".to_owned())
}

/// A Go duration (`30s`, `1m30s`, `500ms`, `2h`) or a number of seconds.
fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = value;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {value:?}"))?;
        let number: f64 = rest[..end]
            .parse()
            .map_err(|_| format!("invalid duration {value:?}"))?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("unknown unit {unit:?} in duration {value:?}")),
        };
        rest = &rest[unit_end..];
        total = Duration::try_from_secs_f64(number * seconds)
            .ok()
            .and_then(|d| total.checked_add(d))
            .ok_or_else(|| format!("invalid duration {value:?}"))?;
    }
    Ok(total)
}

/// The usage text, as Go's `flag` prints it, with the environment variable of each flag (and
/// whether it is set; never its value).
pub fn usage(program: &str, env: &HashMap<String, String>) -> String {
    let mut out = format!("Usage of {program}:\n");
    for def in DEFS {
        let kind = match def.kind {
            Kind::Bool => "",
            Kind::Text | Kind::List => " string",
            Kind::Size => " size",
            Kind::Duration => " duration",
        };
        out.push_str(&format!("  -{}{kind}\n    \t{}", def.name, def.usage));
        if def.env {
            let var = env_name(def.name);
            if env.contains_key(&var) {
                out.push_str(&format!(" [{var} is set]"));
            } else {
                out.push_str(&format!(" [{var}]"));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Flags, FlagError> {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        match parse(args.iter().copied(), &env)? {
            Invocation::Run(flags) => Ok(*flags),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nanomdm_command_line() {
        let f = run(
            &[
                "-api",
                "KEY",
                "-ca",
                "ca.pem",
                "-listen",
                "127.0.0.1:9000",
                "-storage",
                "sqlite",
                "-storage-dsn",
                "db.sqlite",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(f.api.expose(), "KEY");
        assert_eq!(f.ca, "ca.pem");
        assert_eq!(f.listen.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(f.storage, ["sqlite"]);
        assert_eq!(f.storage_dsn, ["db.sqlite"]);
    }

    #[test]
    fn every_spelling() {
        let f = run(
            &[
                "--api=K",
                "-ca=c",
                "--listen",
                ":1",
                "-retro",
                "--checkin",
                "-dump=true",
                "-debug=1",
                "-ua-zl-dc=F",
                "-dsn",
                "a",
                "-storage-dsn=b",
            ],
            &[],
        )
        .unwrap();
        assert_eq!((f.api.expose().as_str(), f.ca.as_str()), ("K", "c"));
        assert_eq!(f.listen.as_deref(), Some(":1"));
        assert!(f.retro && f.checkin && f.dump && f.debug && !f.ua_zl_dc);
        assert_eq!(f.storage_dsn, ["a", "b"]);
    }

    #[test]
    fn environment_then_command_line() {
        let env = [
            ("NANOMDM_API", "from-env"),
            ("NANOMDM_CA", "env-ca.pem"),
            ("NANOMDM_STORAGE", "sqlite"),
            ("NANOMDM_STORAGE_DSN", "env.sqlite"),
            ("NANOMDM_UA_ZL_DC", "true"),
            ("NANOMDM_VERSION", "true"),
            ("NANOMDM_DSN", "ignored"),
            ("NANOMDM_WEBHOOK_URL", ""),
        ];
        let f = run(&["-api", "from-cli", "-storage", "inmem"], &env).unwrap();
        assert_eq!(f.api.expose(), "from-cli");
        assert_eq!(f.ca, "env-ca.pem");
        assert_eq!(f.storage, ["sqlite", "inmem"]);
        assert_eq!(f.storage_dsn, ["env.sqlite"]);
        assert!(f.ua_zl_dc);
        assert!(!f.version, "-version has no environment variable");
        assert_eq!(f.webhook_url, "");
    }

    #[test]
    fn errors_like_go() {
        assert_eq!(
            run(&["-nope"], &[]).unwrap_err().to_string(),
            "flag provided but not defined: -nope"
        );
        assert_eq!(
            run(&["-api"], &[]).unwrap_err().to_string(),
            "flag needs an argument: -api"
        );
        assert!(run(&["-retro=maybe"], &[]).is_err());
        assert!(run(&["---api", "x"], &[]).is_err());
        let empty_bool = run(&[], &[("NANOMDM_RETRO", "")]).unwrap_err().to_string();
        assert!(empty_bool.contains("NANOMDM_RETRO"), "{empty_bool}");
        let env = HashMap::new();
        assert_eq!(parse(["-h"], &env).unwrap(), Invocation::Help);
        assert_eq!(parse(["--help"], &env).unwrap(), Invocation::Help);
        assert_eq!(parse(["-version"], &env).unwrap(), Invocation::Version);
    }

    #[test]
    fn enrollment_flags() {
        let f = run(
            &[
                "-scep-ca",
                "scep.pem",
                "-scep-challenge",
                "s3cret",
                "-enroll-signer",
                "signer.pem",
                "-enroll-topic",
                "com.apple.mgmt.External.1",
            ],
            &[("NANOMDM_SERVER_URL", "https://mdm.example.com")],
        )
        .unwrap();
        assert_eq!(f.scep_ca, "scep.pem");
        assert_eq!(f.scep_challenge.expose(), "s3cret");
        assert_eq!(f.enroll_signer, "signer.pem");
        assert_eq!(f.server_url, "https://mdm.example.com");
        assert_eq!(f.enroll_topic, "com.apple.mgmt.External.1");
        assert!(
            !format!("{f:?}").contains("s3cret"),
            "the challenge is a secret"
        );
    }

    #[test]
    fn stops_at_first_non_flag() {
        let f = run(&["-api", "k", "extra", "-ca", "x"], &[]).unwrap();
        assert_eq!(f.api.expose(), "k");
        assert_eq!(f.ca, "");
        // A boolean takes no separate value: `false` ends the flags.
        let f = run(&["-retro", "false", "-api", "k"], &[]).unwrap();
        assert!(f.retro);
        assert_eq!(f.api.expose(), "");
    }

    #[test]
    fn env_names() {
        assert_eq!(env_name("storage-dsn"), "NANOMDM_STORAGE_DSN");
        assert_eq!(env_name("ua-zl-dc"), "NANOMDM_UA_ZL_DC");
        assert_eq!(env_name("auth-proxy-url"), "NANOMDM_AUTH_PROXY_URL");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("32MiB").unwrap(), 32 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12x").is_err());
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn usage_names_env_vars_without_values() {
        let env = [("NANOMDM_API".to_owned(), "secret".to_owned())].into();
        let text = usage("server", &env);
        assert!(text.contains("-api string"));
        assert!(text.contains("[NANOMDM_API is set]"));
        assert!(!text.contains("secret"));
        assert!(text.contains("[NANOMDM_STORAGE_DSN]"));
    }
}

//! Why does my device get 400? Verify an `Mdm-Signature` header offline.
//!
//! ```text
//! cargo run --example verify-signature -- HEADER_FILE BODY_FILE [--ca CA_PEM]
//! ```
//!
//! `HEADER_FILE` holds the header value as a proxy log shows it: the base64, optionally preceded by
//! `Mdm-Signature:` and wrapped in quotes or across lines. `BODY_FILE` holds the request body,
//! byte for byte. With `--ca`, the signer's certificate must also chain to a root in `CA_PEM` now
//! (further CERTIFICATE blocks in the file after the first root count as roots too; intermediates
//! must be in the file, not only in the signature).
//!
//! Prints the signer certificate's subject, issuer, serial, validity and hash and exits 0, or says
//! why verification failed and exits 1. Exit status 2 means the command line or a file was wrong.

use std::process::ExitCode;
use std::time::SystemTime;

use rootstock::signature::x509_cert::der::DateTime;
use rootstock::signature::{
    CaPool, CertVerifier, Error, IdentityCertificate, verify_mdm_signature,
};

const USAGE: &str = "usage: verify-signature HEADER_FILE BODY_FILE [--ca CA_PEM]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (header_path, body_path, ca_path) = match parse_args(&args) {
        Ok(paths) => paths,
        Err(msg) => {
            eprintln!("{msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let read = |path: &str| std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"));
    let inputs = (|| {
        Ok::<_, String>((
            read(header_path)?,
            read(body_path)?,
            ca_path.map(read).transpose()?,
        ))
    })();
    let (header, body, ca) = match inputs {
        Ok(inputs) => inputs,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let pool = match ca.map(CaPool::from_pem).transpose() {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("cannot load the CA file: {e}");
            return ExitCode::from(2);
        }
    };

    let header = clean_header(&header);
    let cert = match verify_mdm_signature(&header, &body) {
        Ok(cert) => cert,
        Err(e) => {
            eprintln!("signature INVALID: {e}");
            if let Some(hint) = hint(&e) {
                eprintln!("hint: {hint}");
            }
            return ExitCode::from(1);
        }
    };
    println!("signature: valid ({} byte body)", body.len());
    print_certificate(&cert);

    let now = SystemTime::now();
    match pool {
        Some(pool) => match pool.verify_cert(&cert, now) {
            Ok(chain) => {
                let path: Vec<String> = chain
                    .path
                    .iter()
                    .skip(1)
                    .map(|c| quoted(&c.subject()))
                    .collect();
                println!("chain:     trusted via {}", path.join(" -> "));
            }
            Err(e) => {
                eprintln!("chain UNTRUSTED: {e}");
                return ExitCode::from(1);
            }
        },
        None => {
            if let Err(e) = cert.check_validity(now) {
                println!("note:      {e} (a server checking the CA would refuse it)");
            }
            println!("chain:     not checked (pass --ca CA_PEM to check it)");
        }
    }
    ExitCode::SUCCESS
}

fn parse_args(args: &[String]) -> Result<(&str, &str, Option<&str>), String> {
    let mut positional = Vec::new();
    let mut ca = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--ca" => ca = Some(it.next().ok_or("--ca needs a file")?.as_str()),
            "-h" | "--help" => return Err("verify an Mdm-Signature header".into()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path => positional.push(path),
        }
    }
    match positional[..] {
        [header, body] => Ok((header, body, ca)),
        _ => Err("expected HEADER_FILE and BODY_FILE".into()),
    }
}

/// The base64 out of a log line: drops an `Mdm-Signature:` prefix, quotes and all whitespace
/// (log viewers wrap long lines). Devices themselves send none of these, so the library does not
/// accept them.
fn clean_header(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut text = text.trim();
    if text.len() >= 14 && text[..14].eq_ignore_ascii_case("mdm-signature:") {
        text = &text[14..];
    }
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
        .collect()
}

/// What an operator can check next, for the failures that have a usual cause.
fn hint(e: &Error) -> Option<&'static str> {
    match e {
        Error::BadSignature | Error::MessageDigestMismatch => Some(
            "the signature does not cover these bytes: check that BODY_FILE is the exact \
             request body (no added newline, no re-encoding by a proxy) and that the header \
             belongs to the same request",
        ),
        Error::Base64(_) | Error::Asn1 { .. } => Some(
            "the header is damaged or truncated: proxies and log viewers can cut long header \
             values; check the full value reached the server",
        ),
        Error::NotDetached | Error::SignerCount(_) | Error::SignerCertificateNotFound => Some(
            "this is not what Apple devices send; the client is not an MDM device or a \
             simulator with a bug",
        ),
        _ => None,
    }
}

fn print_certificate(cert: &IdentityCertificate) {
    println!("subject:   {}", quoted(&cert.subject()));
    println!("issuer:    {}", quoted(&cert.issuer()));
    println!("serial:    {}", cert.serial_hex());
    println!(
        "validity:  {} .. {}",
        time(cert.not_before()),
        time(cert.not_after())
    );
    println!("cert hash: {}", cert.cert_hash());
}

fn quoted(name: &str) -> String {
    if name.is_empty() {
        "(empty)".into()
    } else {
        format!("\"{name}\"")
    }
}

fn time(t: SystemTime) -> String {
    DateTime::from_system_time(t).map_or_else(|_| format!("{t:?}"), |dt| dt.to_string())
}

//! Real third-party SCEP clients against the axum adapter on an ephemeral loopback port, the
//! certificates they obtain checked by `openssl verify`:
//!
//! * micromdm's `scepclient` (Debian package `scep`): PKCSReq over POST with SHA-1 and single
//!   DES (Go's `pkcs7` defaults), then a RenewalReq signed by the certificate it obtained;
//! * certmonger (Debian package `certmonger`): the daemon on a private D-Bus session builds the
//!   request and `/usr/lib/certmonger/scep-submit` sends it (GET, SHA-256, AES). certmonger
//!   verifies a CertRep against the *CA* certificate of the GetCACert chain only, which it has
//!   only when the chain has an RA distinct from the CA: the server here has one;
//! * `openssl` (Debian package `openssl`).
//!
//! A test whose client is not installed says so and passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use common::{CHALLENGE, Pki};
use mdm_scep::{ServerOptions, StaticChallenge};

const SCEPCLIENT: &str = "scepclient";
const SCEP_SUBMIT: &str = "/usr/lib/certmonger/scep-submit";

fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Whether every program is installed; prints what is skipped otherwise.
fn have(test: &str, programs: &[(&str, &str)]) -> bool {
    for (program, package) in programs {
        if find_program(program).is_none() {
            println!("{test}: skipped, {program} is not installed (apt-get install {package})");
            return false;
        }
    }
    true
}

/// A server on loopback and a temporary directory holding its CA certificate.
struct Session {
    pki: Pki,
    url: String,
    dir: tempfile::TempDir,
    ca_pem: PathBuf,
}

impl Session {
    async fn start(pki: Pki) -> Self {
        let url = serve(&pki).await;
        let dir = tempfile::tempdir().unwrap();
        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, pki.ca_cert_pem()).unwrap();
        Self {
            pki,
            url,
            dir,
            ca_pem,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Serves `pki` with a static challenge at `/scep` on 127.0.0.1; returns the URL.
async fn serve(pki: &Pki) -> String {
    let scep = Arc::new(pki.scep(StaticChallenge::new(CHALLENGE), ServerOptions::default()));
    let app = axum::Router::new().nest_service("/scep", mdm_scep::http::router(scep));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/scep")
}

async fn run(program: &str, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} timed out"))
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `openssl verify -CAfile ca cert`, and the certificate's subject.
async fn openssl_verify(ca_pem: &Path, cert_pem: &Path) -> String {
    let out = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            ca_pem.to_str().unwrap(),
            cert_pem.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "openssl verify failed: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim_end()
            .ends_with(": OK")
    );
    let out = run(
        "openssl",
        &[
            "x509",
            "-in",
            cert_pem.to_str().unwrap(),
            "-noout",
            "-subject",
            "-serial",
            "-ext",
            "extendedKeyUsage,keyUsage,basicConstraints",
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `scepclient` with `args` (and `-server-url`, `-private-key key.pem`).
async fn scepclient(s: &Session, args: &[&str]) -> Output {
    let key = s.path("key.pem");
    let mut all = vec!["-server-url", &s.url, "-private-key", key.to_str().unwrap()];
    all.extend_from_slice(args);
    run(SCEPCLIENT, &all, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scepclient_enrolls_and_renews() {
    if !have(
        "scepclient_enrolls_and_renews",
        &[(SCEPCLIENT, "scep"), ("openssl", "openssl")],
    ) {
        return;
    }
    let s = Session::start(Pki::rsa()).await;
    let cert = s.path("client.pem");

    // PKCSReq: scepclient makes a key, a CSR and a self-signed certificate.
    let out = scepclient(
        &s,
        &[
            "-challenge",
            CHALLENGE,
            "-cn",
            "scepclient-device",
            "-debug",
        ],
    )
    .await;
    assert!(out.status.success(), "scepclient PKCSReq: {}", text(&out));
    let first = openssl_verify(&s.ca_pem, &cert).await;
    assert!(
        first.contains("CN=scepclient-device") || first.contains("CN = scepclient-device"),
        "{first}"
    );
    assert!(first.contains("TLS Web Client Authentication"), "{first}");
    assert!(
        first.contains("Digital Signature, Key Encipherment"),
        "{first}"
    );
    assert!(first.contains("CA:FALSE"), "{first}");

    // RenewalReq: with -certificate pointing at an existing certificate, scepclient signs the
    // request with it.
    let out = scepclient(&s, &["-certificate", cert.to_str().unwrap()]).await;
    assert!(
        out.status.success(),
        "scepclient RenewalReq: {}",
        text(&out)
    );
    let renewed = openssl_verify(&s.ca_pem, &cert).await;
    let serial = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("serial="))
            .map(str::to_owned)
    };
    assert_ne!(
        serial(&first),
        serial(&renewed),
        "the renewal is a new certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scepclient_with_a_wrong_challenge_is_refused() {
    if !have(
        "scepclient_with_a_wrong_challenge_is_refused",
        &[(SCEPCLIENT, "scep")],
    ) {
        return;
    }
    let s = Session::start(Pki::rsa()).await;
    let out = scepclient(&s, &["-challenge", "wrong"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("badRequest"), "{}", text(&out));
    assert!(!s.path("client.pem").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scepclient_enrolls_with_an_ecdsa_ca_through_its_ra() {
    if !have(
        "scepclient_enrolls_with_an_ecdsa_ca_through_its_ra",
        &[(SCEPCLIENT, "scep"), ("openssl", "openssl")],
    ) {
        return;
    }
    let s = Session::start(Pki::ecdsa_with_ra()).await;
    // scepclient 2.1 encrypts to every certificate GetCACert returns unless told which: the
    // RA's SHA-256 fingerprint picks it.
    let fingerprint = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &s.pki.exchange_der,
    ));
    let out = scepclient(
        &s,
        &[
            "-challenge",
            CHALLENGE,
            "-cn",
            "ec-device",
            "-ca-fingerprint",
            &fingerprint,
        ],
    )
    .await;
    assert!(out.status.success(), "scepclient: {}", text(&out));
    openssl_verify(&s.ca_pem, &s.path("client.pem")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scep_submit_reads_caps_and_ca_certificate() {
    if !have(
        "scep_submit_reads_caps_and_ca_certificate",
        &[(SCEP_SUBMIT, "certmonger")],
    ) {
        return;
    }
    let s = Session::start(Pki::rsa()).await;
    let out = run(SCEP_SUBMIT, &["-u", &s.url, "-c"], &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("POSTPKIOperation"));
    let out = run(SCEP_SUBMIT, &["-u", &s.url, "-C"], &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(s.pki.ca_cert_pem().lines().nth(1).unwrap())
    );
}

/// Runs `script` under a private D-Bus session with a certmonger daemon (`-s`), all its state
/// (CAs, requests, configuration) kept in `home` — never in the machine's `/var/lib/certmonger`.
async fn certmonger_session(home: &Path, script: &str) -> Output {
    let dirs = ["cas", "requests", "config", "local", "tmp"].map(|d| home.join(d));
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let wrapped = format!(
        "certmonger -s -n > \"$HOME/daemon.log\" 2>&1 & CM=$!\n\
         for _ in $(seq 50); do getcert list-cas -s >/dev/null 2>&1 && break; sleep 0.1; done\n\
         {script}\nstatus=$?\nkill $CM\nexit $status\n"
    );
    run(
        "dbus-run-session",
        &["--", "bash", "-c", &wrapped],
        &[
            ("HOME", home),
            ("XDG_CONFIG_HOME", &dirs[2]),
            ("XDG_DATA_HOME", home),
            ("CERTMONGER_CAS_DIR", &dirs[0]),
            ("CERTMONGER_REQUESTS_DIR", &dirs[1]),
            ("CERTMONGER_CONFIG_DIR", &dirs[2]),
            ("CERTMONGER_LOCAL_CA_DIR", &dirs[3]),
            ("CERTMONGER_TMPDIR", &dirs[4]),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certmonger_enrolls_and_is_refused_with_a_wrong_challenge() {
    if !have(
        "certmonger_enrolls_and_is_refused_with_a_wrong_challenge",
        &[
            ("certmonger", "certmonger"),
            ("getcert", "certmonger"),
            (SCEP_SUBMIT, "certmonger"),
            ("dbus-run-session", "dbus"),
            ("openssl", "openssl"),
        ],
    ) {
        return;
    }
    let s = Session::start(Pki::rsa_with_ra()).await;
    let (url, h, ca_pem) = (&s.url, s.dir.path(), &s.ca_pem);
    let script = format!(
        "set -x\n\
         getcert add-scep-ca -s -c rootstock -u {url} || exit 1\n\
         getcert request -s -c rootstock -I good -k {h}/good.key -f {h}/good.pem -N CN=certmonger-device -L {CHALLENGE} -w -v\n\
         getcert request -s -c rootstock -I bad -k {h}/bad.key -f {h}/bad.pem -N CN=certmonger-bad -L wrong -w -v\n\
         getcert list -s\n",
        h = h.display()
    );
    let out = certmonger_session(h, &script).await;
    let all = text(&out);
    let daemon = std::fs::read_to_string(h.join("daemon.log")).unwrap_or_default();
    assert!(
        h.join("good.pem").exists(),
        "certmonger got no certificate:\n{all}\ndaemon:\n{daemon}"
    );
    let subject = openssl_verify(ca_pem, &h.join("good.pem")).await;
    assert!(subject.contains("certmonger-device"), "{subject}");
    // The refused request: a CertRep FAILURE with badRequest, which certmonger reports and
    // does not retry.
    assert!(!h.join("bad.pem").exists());
    assert!(all.contains("CA_REJECTED"), "{all}");
    assert!(
        all.contains("Transaction either is not permitted or is not supported by server"),
        "{all}"
    );
}

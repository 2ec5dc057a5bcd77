//! SCEP PKIOperation messages of arbitrary input (up to 2 MiB): never a panic, never an internal
//! error; a refusal always yields a CertRep the server can build.
//!
//! The first byte picks the mode: even — the rest is the PKIMessage (the body of a POST), run
//! through the message decoder alone and through the server's full check (signature, envelope,
//! PKCS #10) with the test PKI of `crates/mdm-scep/tests/fixtures`; odd — the rest is the query
//! string of a GET request (`operation=PKIOperation&message=...`), decoded as the HTTP adapter
//! does. Seed it with `seeds/scep_message`, made from the captured client messages with:
//!
//! ```text
//! cd fuzz && python3 -c 'import base64,urllib.parse as u
//! for n in ["scepclient-pkcsreq","scepclient-renewalreq","certmonger-pkcsreq"]:
//!  b=open(f"../crates/mdm-scep/tests/fixtures/{n}.der","rb").read()
//!  open(f"seeds/scep_message/{n}-post","wb").write(b"\0"+b)
//!  q="operation=PKIOperation&message="+u.quote(base64.b64encode(b).decode(),safe="")
//!  open(f"seeds/scep_message/{n}-get","wb").write(b"\1"+q.encode())'
//! ```
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use mdm_scep::{
    DEFAULT_MAX_MESSAGE_LEN, Decoded, FileCa, IssueOptions, Method, PkiMessage, ScepIdentity,
    ScepRequest, ScepServer, ServerOptions,
};

fn server() -> &'static ScepServer {
    static SERVER: OnceLock<ScepServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let ca = FileCa::from_pem(
            include_str!("../../crates/mdm-scep/tests/fixtures/ca.pem"),
            IssueOptions::default(),
        )
        .unwrap();
        let ra =
            ScepIdentity::from_pem(include_str!("../../crates/mdm-scep/tests/fixtures/ra.pem"))
                .unwrap();
        ScepServer::new(ra, &ca.chain(), ServerOptions::default()).unwrap()
    })
}

fn check_message(message: &[u8]) {
    let _ = PkiMessage::decode(message, DEFAULT_MAX_MESSAGE_LEN);
    // The fixtures' capture date, so their certificates are in their validity.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_640_000);
    match server().decode(message, now) {
        Ok(Decoded::Refused(refused)) => {
            server()
                .reply_refused(&refused)
                .expect("a refusal is always answerable");
        }
        Ok(Decoded::Request(_)) | Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        check_message(rest);
    } else {
        let query = String::from_utf8_lossy(rest);
        if let Ok(ScepRequest::PkiOperation(message)) =
            ScepRequest::from_http(Method::Get, Some(&query), b"", DEFAULT_MAX_MESSAGE_LEN)
        {
            check_message(&message);
        }
    }
});

#!/usr/bin/env bash
# A new Cargo project outside the repository, with no lockfile of ours, that depends on every
# crate of the workspace with all features (as a user depending on them by path would), builds,
# and runs an embedding program: the standard stack with a layer of its own, the HTTP router,
# a request to /version and a simulated device enrolling. Proves a fresh resolve builds.
#
#   scripts/outside-project.sh            (CARGO_TARGET_DIR is honoured)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/outside/src"
deps=""
for manifest in "$repo"/crates/*/Cargo.toml; do
  dir="$(dirname "$manifest")"
  name="$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n1)"
  deps+="$name = { path = \"$dir\", features = $(python3 - "$manifest" <<'PY'
import sys, tomllib
features = tomllib.load(open(sys.argv[1], "rb")).get("features", {})
print("[" + ", ".join(f'"{f}"' for f in features if f != "default") + "]")
PY
) }"$'\n'
done
cat > "$work/outside/Cargo.toml" <<TOML
[package]
name = "outside"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
$deps
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
reqwest = { version = "0.13", default-features = false }
tower = { version = "0.5", features = ["util"] }
serde_json = "1"

[workspace]
TOML
cat > "$work/outside/src/main.rs" <<'RS'
//! An embedding program, as a user writes one from the crates' documentation.
use std::sync::Arc;

use mdm_http::{MdmHttp, ServeOptions, serve};
use mdm_service::{MdmError, MdmRequest, MdmService, StackBuilder, StackPosition};
use mdm_signature::{CaPool, CachedVerifier, CertVerifier};
use mdm_sim::{CertPresentation, Channel, Device, DeviceKind, HttpDriver, Identity, KeyKind,
    MdmClient, MdmPayload, TestCa};
use mdm_storage::{DynStorage, MemoryStore};
use tower::ServiceExt;

#[tokio::main]
async fn main() {
    let ca = TestCa::generate(KeyKind::P256, "outside CA").unwrap();
    let store = DynStorage::new(MemoryStore::new());
    let refuse_nobody = tower::layer::layer_fn(|inner: mdm_service::BoxMdmService| {
        tower::service_fn(move |request: MdmRequest| {
            let inner = inner.clone();
            async move {
                if request.enroll_id.id() == "BLOCKED" {
                    return Err(MdmError::refused(403));
                }
                inner.oneshot(request).await
            }
        })
    });
    let stack = StackBuilder::new(MdmService::new(store.clone()))
        .layer(StackPosition::BeforeCertAuth, refuse_nobody)
        .build();
    let verifier: Arc<dyn CertVerifier> =
        Arc::new(CachedVerifier::new(CaPool::from_pem(ca.cert_pem()).unwrap(), 100));
    let router = MdmHttp::builder(store).mdm(stack.service, verifier).api("key").build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, router, ServeOptions::default(), std::future::pending()));

    let version: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!("{base}/version")).await.unwrap().text().await.unwrap(),
    )
    .unwrap();
    assert!(version["version"].is_string());

    let device = Device::generate(DeviceKind::Ios, 1);
    let id = device.enroll_id(Channel::Device).unwrap().id().to_string();
    let identity = Identity::issue(&ca, KeyKind::P256, &id).unwrap();
    let mut client = MdmClient::new(device, MdmPayload::new(format!("{base}/mdm"), "com.apple.mgmt.External.x"))
        .with_identity(identity, CertPresentation::MdmSignature);
    client.enroll();
    HttpDriver::new().unwrap().run(&mut client).await.unwrap();
    assert!(client.is_enrolled(Channel::Device));
    println!("outside project: served {version} and enrolled {id}");
}
RS
cd "$work/outside"
cargo generate-lockfile --quiet
cargo run --quiet

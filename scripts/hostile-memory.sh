#!/usr/bin/env bash
# Peak server memory under maximum-size hostile bodies (docs/security.md §1): starts the release
# server in development mode on loopback, sends each kind of hostile body CONCURRENCY times at
# once (through the API and, with a certificate header, to /mdm), and prints the server's peak RSS
# for each round. Bounded: one round per body kind, each request at most 60 s.
#
#   scripts/hostile-memory.sh [CONCURRENCY]      (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
concurrency="${1:-3}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --example server >/dev/null
server="$target/release/examples/server"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))

"$server" -dev -data-dir "$work/dev" -listen "127.0.0.1:$port" -cert-header X-Client-Cert \
  >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  [ -s "$work/dev/api.key" ] && curl -fs "http://127.0.0.1:$port/version" >/dev/null && break
  sleep 0.2
done
key="$(cat "$work/dev/api.key")"

# A device certificate from the development CA, sent as URL-escaped PEM (nginx's form).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=hostile" \
  -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n' \
  >"$work/leaf.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/dev/ca.pem" -CAkey "$work/dev/ca.key" \
  -CAcreateserial -days 1 -extfile "$work/leaf.ext" -out "$work/leaf.pem" 2>/dev/null
cert="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read()))' "$work/leaf.pem")"

python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
limit = 32 * 1024 * 1024
head = ('<?xml version="1.0"?><plist version="1.0"><dict>'
        '<key>MessageType</key><string>Authenticate</string>'
        '<key>UDID</key><string>HOSTILE</string><key>Topic</key><string>t</string>'
        '<key>CommandUUID</key><string>c</string><key>Status</key><string>Idle</string>'
        '<key>Command</key><dict><key>RequestType</key><string>ProfileList</string></dict>'
        '<key>X</key>')
tail = '</dict></plist>'
def write(name, middle):
    body = (head + middle + tail).encode()
    assert len(body) <= limit, (name, len(body))
    open(f"{work}/{name}", "wb").write(body)
room = limit - len(head) - len(tail) - len('<array></array>')
write("true-over-limit", "<array>" + "<true/>" * (room // 7) + "</array>")
write("true-under-limit", "<array>" + "<true/>" * 4_000_000 + "</array>")
levels = 50_000
write("prefixed-nesting", "<p:array>" * levels + "</p:array>" * levels)
PY

peak() { awk '/VmHWM/ {print $2 / 1024 " MB"}' "/proc/$pid/status"; }
echo "server idle: $(peak)"
for body in true-over-limit true-under-limit prefixed-nesting; do
  for path in "/v1/enqueue/HOSTILE?nopush=1" "/mdm"; do
    echo 5 >"/proc/$pid/clear_refs"
    for _ in $(seq "$concurrency"); do
      if [ "$path" = /mdm ]; then
        curl -s -o /dev/null -w '%{http_code} ' --max-time 60 -T "$work/$body" \
          -H "X-Client-Cert: $cert" -H 'Content-Type: application/x-apple-aspen-mdm-checkin' \
          "http://127.0.0.1:$port$path" &
      else
        curl -s -o /dev/null -w '%{http_code} ' --max-time 60 -T "$work/$body" \
          -u "nanomdm:$key" "http://127.0.0.1:$port$path" &
      fi
    done
    wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
    echo "<- $concurrency x $body ($(stat -c %s "$work/$body") bytes) to $path: peak RSS $(peak)"
  done
done
kill -0 "$pid" && echo "server still running"

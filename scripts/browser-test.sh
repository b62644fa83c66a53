#!/usr/bin/env bash
# The web page of `xlqa serve` in headless Chromium (Debian's chromium,
# driven by playwright-core from npm; no browser download): indexes the demo
# collection, starts the server on a free loopback port, runs
# crates/xlqa-serve/tests/browser/page.test.mjs, stops the server by pid.
# Installs chromium with apt-get when it is missing and this runs as root;
# where it cannot be installed, says so and exits 1 (set
# XLQA_BROWSER_OPTIONAL=1 to make that a skip). Screenshots go to
# $XLQA_SCREENSHOTS (default: a temporary folder; docs/ keeps the committed ones).
set -euo pipefail
cd "$(dirname "$0")/.."
xlqa=${CARGO_TARGET_DIR:-target}/release/xlqa
[ -x "$xlqa" ] || cargo build --release -q -p xlqa-cli

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "browser test: installing chromium (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  fi
fi
if [ ! -x /usr/bin/chromium ] || ! command -v npm >/dev/null; then
  echo "SKIP browser test: /usr/bin/chromium or npm is missing and could not be installed (apt-get install chromium; Node.js with npm)"
  [ "${XLQA_BROWSER_OPTIONAL:-0}" = 1 ] && exit 0 || exit 1
fi

(cd crates/xlqa-serve/tests/browser && npm ci --no-audit --no-fund --loglevel=error)

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$xlqa" index data/demo/collection.jsonl --out "$tmp/idx" --quiet
"$xlqa" serve "$tmp/idx" --addr 127.0.0.1:0 2>"$tmp/serve.log" &
pid=$!
addr=
for _ in $(seq 1 600); do
  addr=$(sed -n 's|.*listening on http://\([^/]*\)/.*|\1|p' "$tmp/serve.log")
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log"; echo "xlqa serve exited"; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/serve.log"; echo "xlqa serve did not listen within 60 s"; exit 1; }
shots=${XLQA_SCREENSHOTS:-$tmp}
mkdir -p "$shots"
node crates/xlqa-serve/tests/browser/page.test.mjs "http://$addr" "$shots"
kill -TERM "$pid"
wait "$pid"
pid=
echo "browser test passed (screenshots: $shots)"

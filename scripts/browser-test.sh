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
. scripts/demo-server.sh

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
trap 'stop_demo_server; rm -rf "$tmp"' EXIT
start_demo_server "$tmp"
shots=${XLQA_SCREENSHOTS:-$tmp}
mkdir -p "$shots"
node crates/xlqa-serve/tests/browser/page.test.mjs "http://$addr" "$shots"
kill -TERM "$pid"
wait "$pid"
pid=
echo "browser test passed (screenshots: $shots)"

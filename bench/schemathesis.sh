#!/usr/bin/env bash
# Property-based API testing of `xlqa serve` with schemathesis (PyPI) against
# its own /openapi.json: every check, a bounded number of generated cases per
# operation, on the demo index. Installs schemathesis into a virtual
# environment (default /tmp/xlqa-schemathesis; SCHEMATHESIS_VENV to change).
#
#   bash bench/schemathesis.sh [MAX_EXAMPLES=100] [SEED=1]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
seed=${2:-1}
venv=${SCHEMATHESIS_VENV:-/tmp/xlqa-schemathesis}
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q schemathesis; }
xlqa=${CARGO_TARGET_DIR:-target}/release/xlqa
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$xlqa" index data/demo/collection.jsonl --out "$tmp/idx" --quiet
"$xlqa" serve "$tmp/idx" --addr 127.0.0.1:0 2>"$tmp/serve.log" &
pid=$!
addr=
for _ in $(seq 1 600); do
  addr=$(sed -n 's|.*listening on http://\([^/]*\)/.*|\1|p' "$tmp/serve.log"); [ -n "$addr" ] && break; sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/serve.log"; exit 1; }
"$venv/bin/schemathesis" --version
set +e
"$venv/bin/schemathesis" run "http://$addr/openapi.json" --checks all -n "$n" --seed "$seed" \
  --workers 2 --max-response-time 30
rc=$?
set -e
echo "server log: $(grep -c 'error id=' "$tmp/serve.log") internal errors logged"
grep 'error id=' "$tmp/serve.log" | head -5 || true
exit $rc

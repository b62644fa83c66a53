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
. scripts/demo-server.sh
tmp=$(mktemp -d)
pid=
trap 'stop_demo_server; rm -rf "$tmp"' EXIT
start_demo_server "$tmp"
"$venv/bin/schemathesis" --version
set +e
"$venv/bin/schemathesis" run "http://$addr/openapi.json" --checks all -n "$n" --seed "$seed" \
  --workers 2 --max-response-time 30
rc=$?
set -e
echo "server log: $(grep -c 'error id=' "$tmp/serve.log") internal errors logged"
grep 'error id=' "$tmp/serve.log" | head -5 || true
exit $rc

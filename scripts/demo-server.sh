# Sourced by scripts/browser-test.sh and bench/schemathesis.sh:
# `start_demo_server TMPDIR` indexes the demo collection into TMPDIR/idx,
# starts `xlqa serve` on a free loopback port and sets $pid and $addr;
# `stop_demo_server` stops it by pid (SIGTERM, then waits).
xlqa=${CARGO_TARGET_DIR:-target}/release/xlqa
[ -x "$xlqa" ] || cargo build --release -q -p xlqa-cli

start_demo_server() {
  local tmp=$1
  "$xlqa" index data/demo/collection.jsonl --out "$tmp/idx" --quiet
  "$xlqa" serve "$tmp/idx" --addr 127.0.0.1:0 2>"$tmp/serve.log" &
  pid=$!
  addr=
  for _ in $(seq 1 600); do
    addr=$(sed -n 's|.*listening on http://\([^/]*\)/.*|\1|p' "$tmp/serve.log")
    [ -n "$addr" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log"; echo "xlqa serve exited"; return 1; }
    sleep 0.1
  done
  cat "$tmp/serve.log"
  echo "xlqa serve did not listen within 60 s"
  return 1
}

stop_demo_server() {
  [ -n "${pid:-}" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true
  pid=
}

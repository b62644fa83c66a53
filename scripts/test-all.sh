#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): every Rust test with the
# real data required (XLQA_REQUIRE_DATA=1: a missing ../shared/data file
# fails instead of skipping), then the web page in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
XLQA_REQUIRE_DATA=1 cargo test --release --workspace
bash scripts/browser-test.sh
# live index updates killed with SIGKILL at random moments (20 kills)
python3 bench/update_crash.py --kills 20
# xlqa serve killed with SIGKILL during a stream of document adds and deletes (5 kills)
python3 bench/serve_crash.py --kills 5

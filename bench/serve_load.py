#!/usr/bin/env python3
"""Load on `xlqa serve` with wrk: throughput, latency percentiles, non-2xx
counts and the server's RSS, for several client counts; optionally a soak
(RSS sampled every 30 s) and a check that the server answers exactly as
`xlqa ask --json` (timings aside).

    python3 bench/serve_load.py INDEX [--clients 1,8,50] [--seconds 60]
        [--soak-seconds 600] [--same-as-cli 200] [--data ../shared/data]
        [--serve-args "--workers 2"]

Questions: XQuAD questions of the 12 languages, interleaved (language
detected, as a user would ask); wrk cycles through them. Needs wrk
(Debian package `wrk`). Prints markdown tables.
"""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANGS = "ar de el en es hi ro ru th tr vi zh".split()

LUA = r"""
local qs = {%s}
local i = 0
local statuses = {}
request = function()
  i = i %% #qs + 1
  return wrk.format("POST", "/v1/ask", {["Content-Type"] = "application/json"}, qs[i])
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  local parts = {}
  for _, p in ipairs({50, 95, 99}) do
    table.insert(parts, string.format("p%%d=%%.1f", p, latency:percentile(p) / 1000))
  end
  io.write("LAT " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("NON2XX_SOCKET errors connect=%%d read=%%d write=%%d timeout=%%d status=%%d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
end
"""


def questions(data, n):
    per_lang = {}
    for l in LANGS:
        d = json.load(open(data / "xquad" / f"xquad.{l}.json", encoding="utf-8"))
        per_lang[l] = [q["question"] for a in d["data"] for p in a["paragraphs"] for q in p["qas"]]
    out = []
    for k in range(max(len(v) for v in per_lang.values())):
        for l in LANGS:
            if k < len(per_lang[l]) and len(out) < n:
                out.append({"id": f"{l}-{k}", "question": per_lang[l][k]})
    return out


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(exe, index, extra):
    p = subprocess.Popen([exe, "serve", index, "--addr", "127.0.0.1:0"] + extra,
                         stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r"listening on http://([^/]+)/", line)
        if m:
            return p, m.group(1)
    raise SystemExit("xlqa serve ended before it listened")


def post(addr, body):
    req = urllib.request.Request(f"http://{addr}/v1/ask", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def run_wrk(addr, lua, clients, seconds):
    out = subprocess.run(["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{seconds}s",
                          "--timeout", "60s", "-s", lua, f"http://{addr}"],
                         check=True, capture_output=True, text=True).stdout
    req = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    lat = re.search(r"LAT p50=([\d.]+) p95=([\d.]+) p99=([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"errors connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+)", out)
    return {
        "requests": int(req.group(1)), "rps": float(rps.group(1)),
        "p50": float(lat.group(1)), "p95": float(lat.group(2)), "p99": float(lat.group(3)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in errs.groups()) if errs else 0,
    }


def status_counts(addr):
    text = urllib.request.urlopen(f"http://{addr}/v1/metrics").read().decode()
    out = {}
    for m in re.finditer(r'xlqa_http_requests_total\{endpoint="/v1/ask",status="(\d+)"\} (\d+)', text):
        out[m.group(1)] = int(m.group(2))
    return out


def same_as_cli(exe, index, addr, qs):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for q in qs:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    cli = subprocess.run([exe, "ask", index, "--questions", f.name, "--json"], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    same = 0
    for q, line in zip(qs, cli):
        a, b = post(addr, q), json.loads(line)
        a.pop("timings"), b.pop("timings")
        same += a == b
    return same, len(qs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("index")
    ap.add_argument("--clients", default="1,8,50")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--soak-seconds", type=int, default=0)
    ap.add_argument("--same-as-cli", type=int, default=0, help="questions to compare with `xlqa ask --json`")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--serve-args", default="")
    a = ap.parse_args()
    exe = str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "xlqa")
    qs = questions(a.data, 1200)
    lua_qs = ",".join("[==[" + json.dumps({"question": q["question"]}, ensure_ascii=False) + "]==]" for q in qs)
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8")
    lua.write(LUA % lua_qs)
    lua.close()
    server, addr = start_server(exe, a.index, a.serve_args.split())
    try:
        if a.same_as_cli:
            same, n = same_as_cli(exe, a.index, addr, qs[: a.same_as_cli])
            print(f"server vs CLI: {same} of {n} answers identical (timings aside)\n")
        print(f"index {a.index}, server pid {server.pid}, RSS at start {rss_mb(server.pid):.0f} MB\n")
        print("| clients | s | requests | req/s | p50 ms | p95 ms | p99 ms | non-2xx | socket errors | RSS after MB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in [int(x) for x in a.clients.split(",")]:
            r = run_wrk(addr, lua.name, c, a.seconds)
            print(f"| {c} | {a.seconds} | {r['requests']} | {r['rps']:.2f} | {r['p50']:.0f} | {r['p95']:.0f} "
                  f"| {r['p99']:.0f} | {r['non2xx']} | {r['socket_errors']} | {rss_mb(server.pid):.0f} |", flush=True)
        print(f"\n/v1/ask statuses so far (server metrics): {status_counts(addr)}")
        if a.soak_seconds:
            print(f"\nsoak: 8 clients for {a.soak_seconds} s, RSS every 30 s (MB):")
            samples = []
            t0 = time.time()
            while time.time() - t0 < a.soak_seconds:
                run_wrk(addr, lua.name, 8, 30)
                samples.append(rss_mb(server.pid))
                print(f"  {time.time() - t0:5.0f} s  {samples[-1]:.0f}", flush=True)
            print(f"statuses after the soak: {status_counts(addr)}")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Run each HTTP server, load it with wrk, and print req/s, p99 latency and server CPU
time per request side by side, with ratios against the tokio reference measured in the
same run. Every run is bounded in time; servers are stopped with SIGTERM (then SIGKILL)."""

import argparse
import os
import re
import subprocess
import sys
import time

from servers import start, stop

TICKS = os.sysconf("SC_CLK_TCK")


def servers(bin_dir, conns):
    threads = str(max(conns) + 100)
    return [
        ("net", [f"{bin_dir}/http-net", "--addr", "127.0.0.1:0", "--threads", threads,
                 "--queue", threads, "--max-connections", "8192"]),
        # evnet's defaults: one loop and one worker per core (2 and 2 here).
        ("evnet", [f"{bin_dir}/http-evnet", "--addr", "127.0.0.1:0", "--max-connections", "8192"]),
        ("evnet 1 loop", [f"{bin_dir}/http-evnet", "--addr", "127.0.0.1:0", "--loops", "1",
                          "--workers", "2", "--max-connections", "8192"]),
        ("evnet inline", [f"{bin_dir}/http-evnet", "--addr", "127.0.0.1:0", "--dispatch",
                          "inline", "--max-connections", "8192"]),
        ("std", [f"{bin_dir}/std_http", "--addr", "127.0.0.1:0"]),
        ("tokio", [f"{bin_dir}/tokio_http", "--addr", "127.0.0.1:0", "--threads", "2"]),
    ]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port, conns, duration):
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "5s",
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=duration + 60).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return {"reqs": reqs, "rps": rps, "p99": to_ms(*p99.groups()) if p99 else float("nan"),
            "errors": errors}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", default="50,2000")
    args = ap.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    results = {}
    for name, cmd in servers(args.bin_dir, conns):
        proc, port = start(cmd)
        try:
            wrk(port, min(conns), 1)  # warm-up
            for c in conns:
                before = cpu_seconds(proc.pid)
                r = wrk(port, c, args.duration)
                r["cpu_us_per_req"] = (cpu_seconds(proc.pid) - before) / max(r["reqs"], 1) * 1e6
                results[(name, c)] = r
                print(f"{name:12} c={c:<5} {r['rps']:>10.0f} req/s  p99 {r['p99']:8.2f} ms  "
                      f"cpu {r['cpu_us_per_req']:6.2f} us/req  errors {r['errors']}",
                      file=sys.stderr)
        finally:
            stop(proc)
    print()
    print("| server | conns | req/s | × tokio | p99 ms | server CPU µs/req | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (name, c), r in results.items():
        ref = results.get(("tokio", c))
        ratio = r["rps"] / ref["rps"] if ref and ref["rps"] else float("nan")
        print(f"| {name} | {c} | {r['rps']:.0f} | {ratio:.2f} | {r['p99']:.2f} | "
              f"{r['cpu_us_per_req']:.2f} | {r['errors']} |")
    print()
    print("wrk -t1, GET / (13-byte body), keep-alive; the load generator shares the 2 cores.")


if __name__ == "__main__":
    main()

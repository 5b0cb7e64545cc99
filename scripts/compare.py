#!/usr/bin/env python3
"""Run each HTTP server, load it with wrk, and print req/s, p99 latency and server CPU
time per request side by side, with req/s against the tokio and hyper references and CPU
time against evnet inline, all measured in the same run at the same connection count.
`--servers` runs a subset. Every run is bounded in time; servers are stopped with SIGTERM
(then SIGKILL)."""

import argparse
import os
import re
import subprocess
import sys
import time

from servers import start, stop

TICKS = os.sysconf("SC_CLK_TCK")


def servers(bin_dir, conns):
    """(name, command) of every server, in the order they run and are reported."""
    threads = str(max(conns) + 100)
    return [
        # The floor: raw epoll in C, one SO_REUSEPORT listener and epoll fd per thread.
        ("epoll floor", [f"{bin_dir}/epoll_floor", "--addr", "127.0.0.1:0", "--threads", "2"]),
        ("tokio", [f"{bin_dir}/tokio_http", "--addr", "127.0.0.1:0", "--threads", "2"]),
        ("hyper", [f"{bin_dir}/hyper_http", "--addr", "127.0.0.1:0", "--threads", "2"]),
        ("evnet inline", [f"{bin_dir}/http-evnet", "--addr", "127.0.0.1:0", "--dispatch",
                          "inline", "--max-connections", "8192"]),
        # The topology evnet had by default before: one loop per core (2 loops + 2 workers).
        ("evnet 2 loops", [f"{bin_dir}/http-evnet", "--addr", "127.0.0.1:0", "--loops", "2",
                           "--workers", "2", "--max-connections", "8192"]),
        # evnet's defaults: one worker per core, one loop per two cores (1 + 2 here).
        ("evnet", [f"{bin_dir}/http-evnet", "--addr", "127.0.0.1:0", "--max-connections", "8192"]),
        ("net", [f"{bin_dir}/http-net", "--addr", "127.0.0.1:0", "--threads", threads,
                 "--queue", threads, "--max-connections", "8192"]),
        ("std", [f"{bin_dir}/std_http", "--addr", "127.0.0.1:0"]),
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


def ratio(num, den):
    """`num / den` to two decimals, or a dash when the reference was not measured."""
    return f"{num / den:.2f}" if den else "–"


def main():
    names = [name for name, _ in servers("", [0])]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--duration", type=int, default=5, help="seconds of load per run")
    ap.add_argument("--connections", default="50,2000",
                    help="comma-separated wrk connection counts (default 50,2000)")
    ap.add_argument("--servers", default=",".join(names),
                    help="comma-separated servers to run, in the order listed here (default "
                         "all): " + ", ".join(names))
    args = ap.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    chosen = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in names]
    if unknown or not chosen:
        ap.error(f"--servers: unknown {unknown}; choose among {', '.join(names)}")
    todo = [(name, cmd) for name, cmd in servers(args.bin_dir, conns) if name in chosen]
    missing = [cmd[0] for _, cmd in todo if not os.access(cmd[0], os.X_OK)]
    if missing:
        sys.exit(f"not built: {', '.join(missing)} (scripts/compare.sh builds them)")
    results = {}
    for name, cmd in todo:
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
    print("| server | conns | req/s | × tokio | × hyper | p99 ms | server CPU µs/req "
          "| × Inline CPU | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (name, c), r in results.items():
        tokio = results.get(("tokio", c), {}).get("rps")
        hyper = results.get(("hyper", c), {}).get("rps")
        inline = results.get(("evnet inline", c), {}).get("cpu_us_per_req")
        print(f"| {name} | {c} | {r['rps']:.0f} | {ratio(r['rps'], tokio)} | "
              f"{ratio(r['rps'], hyper)} | {r['p99']:.2f} | {r['cpu_us_per_req']:.2f} | "
              f"{ratio(r['cpu_us_per_req'], inline)} | {r['errors']} |")
    print()
    print("× tokio, × hyper: req/s over theirs; × Inline CPU: server CPU µs/req over evnet "
          "inline's; each at the same connection count.")
    print("wrk -t1, GET / (13-byte body), keep-alive; the load generator shares the 2 cores.")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compare two builds of the evented http example on the fast path (GET / keep-alive, wrk
-t1), interleaved (A B A B ...) so that the machine's noise falls on both alike. Prints
req/s, p99 and server CPU µs per request for each build, mode and connection count, as
the median of the rounds, and the after/before ratio.

Usage: scripts/fastpath.py --before BIN --after BIN [--rounds 3] [--duration 5]
       [--modes workers,inline,2loops] [--connections 50,2000]
(for example, BIN built from an older commit with
`cargo build --release -p examples --features evented --bin http`)."""

import argparse
import statistics
import sys

from compare import cpu_seconds, wrk
from servers import start, stop

MODES = {
    "workers": [],
    "inline": ["--dispatch", "inline"],
    "2loops": ["--loops", "2", "--workers", "2"],
}


def measure(binary, mode_flags, conns, duration):
    proc, port = start([binary, "--addr", "127.0.0.1:0", "--max-connections", "8192",
                        *mode_flags])
    try:
        wrk(port, 50, 1)  # warm-up
        before = cpu_seconds(proc.pid)
        r = wrk(port, conns, duration)
        r["cpu"] = (cpu_seconds(proc.pid) - before) / max(r["reqs"], 1) * 1e6
        return r
    finally:
        stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", default="50,2000")
    ap.add_argument("--modes", default="workers,inline",
                    help=f"comma-separated, of: {', '.join(MODES)}")
    args = ap.parse_args()
    modes = [(m, MODES[m]) for m in args.modes.split(",") if m in MODES]
    if len(modes) != len(args.modes.split(",")):
        print(f"fastpath: --modes takes {', '.join(MODES)}", file=sys.stderr)
        sys.exit(2)
    if args.rounds < 1 or args.duration < 1:
        print("fastpath: --rounds and --duration must be at least 1", file=sys.stderr)
        sys.exit(2)
    conns = [int(c) for c in args.connections.split(",")]
    runs = {}
    for rnd in range(args.rounds):
        for mode, flags in modes:
            for c in conns:
                for label, binary in (("before", args.before), ("after", args.after)):
                    r = measure(binary, flags, c, args.duration)
                    runs.setdefault((mode, c, label), []).append(r)
                    print(f"round {rnd + 1} {mode:8} c={c:<5} {label:6} {r['rps']:>9.0f} req/s "
                          f"p99 {r['p99']:7.2f} ms cpu {r['cpu']:6.2f} us/req "
                          f"errors {r['errors']}", file=sys.stderr)
    print("| mode | conns | build | req/s | p99 ms | server CPU µs/req | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mode, _ in modes:
        for c in conns:
            med = {}
            for label in ("before", "after"):
                rs = runs[(mode, c, label)]
                med[label] = {k: statistics.median(r[k] for r in rs)
                              for k in ("rps", "p99", "cpu")}
                errors = sum(r["errors"] for r in rs)
                m = med[label]
                print(f"| {mode} | {c} | {label} | {m['rps']:.0f} | {m['p99']:.2f} | "
                      f"{m['cpu']:.2f} | {errors} |")
            ratio = med["after"]["rps"] / med["before"]["rps"]
            cpu = med["after"]["cpu"] / med["before"]["cpu"]
            print(f"| {mode} | {c} | after/before | {ratio:.2f}× | | {cpu:.2f}× | |")
    print()
    print(f"median of {args.rounds} interleaved rounds, wrk -t1 {args.duration}s, GET /")


if __name__ == "__main__":
    main()

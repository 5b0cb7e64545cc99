#!/usr/bin/env python3
"""Hold many idle keep-alive connections on the evented echo server and report what they
cost it: threads, user-space memory (RSS) per connection, and whether every connection is
served again after idling. Bounded: each phase has a deadline; the server is stopped at
the end. Usage: idle.py --bin target/compare/echo-evnet [--connections 19000]"""

import argparse
import os
import selectors
import socket
import sys
import time

from servers import start, stop


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def echo_all(socks, payload, deadline):
    """Send `payload` on every socket, then read it back from each; True if all answered."""
    for s in socks:
        s.sendall(payload)
    sel = selectors.DefaultSelector()
    pending = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        pending[s] = b""
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            data = s.recv(256)
            if not data:
                raise SystemExit("a connection was closed by the server")
            pending[s] += data
            if pending[s] == payload:
                del pending[s]
                sel.unregister(s)
    sel.close()
    return not pending


def start_echo(binary, max_connections):
    proc, port = start(
        [binary, "--addr", "127.0.0.1:0", "--max-connections", str(max_connections),
         "--keep-alive-timeout", "300s", "--backlog", "4096"])
    time.sleep(0.2)
    return proc, port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--connections", type=int, default=19000)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    n = args.connections
    # Baseline: the same server with (almost) no slots.
    proc, _ = start_echo(args.bin, 100)
    base = status(proc.pid, "VmRSS")
    stop(proc)
    # evnet splits max_connections evenly across its loops and the kernel spreads new
    # connections over the loops' SO_REUSEPORT listeners by a hash, so one loop can get a
    # few hundred more than its share: leave headroom (1,000 slots here).
    slots = n + 1000
    proc, port = start_echo(args.bin, slots)
    try:
        rss0 = status(proc.pid, "VmRSS")
        socks = []
        deadline = time.monotonic() + 120
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
            if time.monotonic() > deadline:
                raise SystemExit(f"connecting took too long ({i} connected)")
        for s in socks:
            s.setblocking(False)
        # First requests in batches, as connections arrive in real life; the second
        # round below hits all of them at once.
        for i in range(0, n, args.batch):
            if not echo_all(socks[i:i + args.batch], b"first\n", time.monotonic() + 120):
                raise SystemExit("not every connection was served")
        time.sleep(args.idle)
        rss1 = status(proc.pid, "VmRSS")
        threads = status(proc.pid, "Threads")
        fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
        again = echo_all(socks, b"again\n", time.monotonic() + 120)
        rss2 = status(proc.pid, "VmRSS")
        print(f"| idle connections held | {n} (server fds: {fds}) |")
        print(f"| served again after {args.idle:.0f} s idle | {'all' if again else 'NOT ALL'} |")
        print(f"| server threads while holding them | {threads} (incl. main) |")
        print(f"| server RSS: 100 slots / {slots} slots empty / {n} idle | "
              f"{base} / {rss0} / {rss1} KiB |")
        print(f"| user-space memory per idle connection (slot included) | "
              f"{(rss1 - base) * 1024 / n:.0f} bytes |")
        print(f"| server RSS after all {n} answered at once | {rss2} KiB |")
        for s in socks:
            s.close()
    finally:
        stop(proc)


if __name__ == "__main__":
    sys.exit(main())

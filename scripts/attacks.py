#!/usr/bin/env python3
"""Normal clients under attack: run the HTTP example on each server, measure normal clients
alone, then during each attack, and print a markdown table (issue 6's closing measurement).

Normal clients are `wrk -t1 -c50 --latency` (req/s, p99) plus a probe: a fresh connection
sending `GET /` with `Connection: close` about 20 times a second, each with a 1 s deadline,
counted as a success only on a complete 200 response. The probe sees what wrk cannot: wrk
does not count a connection that is never answered, so it can report full throughput during
a partial outage.

Attacks (each started `--lead` seconds before the measurement and stopped right after it):

  pipeline-2, pipeline-200  clients writing `GET /` requests back to back, never reading
  echo16m-2                 clients writing `POST /echo` requests with 16 MiB bodies, never
                            reading (the server gets flags so that such a request is served)
  slowloris-200             clients sending a request head one byte every 200 ms
  slowbody-2                `POST /echo` with Content-Length 200000: head + 70 KiB at once,
                            then one byte a second

Every attacker reconnects when the server closes it; the table shows how many connections the
server closed and how long they had lived. Attackers run in a separate Python process (one
poll loop for all of them) so that they do not share a GIL with the probe.

Each (server, scenario) pair gets a freshly started server. Everything is bounded in time:
wrk runs `--duration` seconds, attackers stop by themselves at a hard deadline even if not
told, servers are stopped with SIGTERM, then SIGKILL.

Usage: attacks.py --bin-dir target/attacks [--duration 5] [--servers net,evnet-workers,...]
                  [--scenarios pipeline-2,...] [--json out.json]
Bad arguments exit with status 2, a server that does not start with status 1 (after the
other rows). Stdlib only (Python 3.11); needs wrk on PATH.
"""

import argparse
import errno
import heapq
import json
import multiprocessing
import os
import re
import select
import socket
import statistics
import subprocess
import sys
import threading
import time

from servers import start, stop

# ---------------------------------------------------------------------------------------
# What is sent

KIB = 1024
MIB = 1024 * KIB

# The normal clients' request (wrk sends the same, keep-alive) and the probe's.
PROBE_REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
# The pipeliners' request, repeated without end.
PIPELINE_REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

ECHO_BODY = 16 * MIB  # the echo attackers' body size
ECHO_OUTPUT_LIMIT = 17 * MIB  # output / request buffer limits given to the server, if it has them

SLOW_BODY_LENGTH = 200_000  # declared Content-Length of a slow body
SLOW_BODY_FAST = 70 * KIB  # body bytes sent at once, past the loop's 64 KiB buffer limit


def slowloris_head():
    """A valid request head of about 4 KB (under the example's 8 KiB head limit): at one
    byte every 200 ms it takes over 13 minutes, so it is never completed within a run."""
    lines = [b"GET / HTTP/1.1\r\n", b"Host: x\r\n"]
    i = 0
    while sum(map(len, lines)) < 4000:
        lines.append(b"X-Slow-%04d: %s\r\n" % (i, b"y" * 20))
        i += 1
    lines.append(b"\r\n")
    return b"".join(lines)


# ---------------------------------------------------------------------------------------
# Servers and scenarios

# name -> (label in the table, binary in --bin-dir, extra flags)
SERVERS = {
    "net": ("net", "http-net", []),
    "evnet-workers": ("evnet Workers", "http-evnet", []),
    "evnet-inline": ("evnet Inline", "http-evnet", ["--dispatch", "inline"]),
}

# name -> (attack kind, number of attackers); "baseline" has no attack.
SCENARIOS = {
    "baseline": (None, 0),
    "pipeline-2": ("pipeline", 2),
    "pipeline-200": ("pipeline", 200),
    "echo16m-2": ("echo", 2),
    "slowloris-200": ("slowloris", 200),
    "slowbody-2": ("slowbody", 2),
}

# Known spellings of the flags the echo scenario wants, best first. The loop-owned output
# buffer (issue 6) may not exist yet; the script looks for it in `--help` and says so.
BODY_FLAGS = ["--max-body-bytes", "--max-body"]
OUTPUT_FLAGS = ["--max-output-buffer", "--max-output-bytes", "--max-output", "--output-limit",
                "--max-write-buffer"]
REQUEST_BUFFER_FLAGS = ["--max-request-buffer", "--max-request-bytes", "--max-input-buffer",
                        "--max-read-buffer", "--request-buffer-limit"]


def help_flags(binary):
    """The long flags a server binary lists in `--help` (aliases included)."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30).stdout
    return set(re.findall(r"--[a-z0-9][a-z0-9-]*", out))


def pick_flag(flags, known, pattern):
    """The first of `known` that `flags` has, else a per-connection flag matching `pattern`
    (a per-loop budget is not what we want), else None."""
    for flag in known:
        if flag in flags:
            return flag
    for flag in sorted(flags):
        if re.search(pattern, flag) and not re.search(r"loop|budget|total", flag):
            return flag
    return None


def echo_flags(flags):
    """Flags for the 16 MiB echo scenario, and notes on what the server lacks."""
    extra, notes = [], []
    body = pick_flag(flags, BODY_FLAGS, r"^--max-body")
    if body:
        extra += [body, str(ECHO_BODY)]
    else:
        notes.append("no max-body flag: 16 MiB bodies are answered 413 and closed")
    for known, pattern, what in (
        (OUTPUT_FLAGS, r"^--max-output|output-(limit|buffer)", "output buffer limit"),
        (REQUEST_BUFFER_FLAGS, r"^--max-(request|input|read)-buffer", "request buffer limit"),
    ):
        flag = pick_flag(flags, known, pattern)
        if flag:
            extra += [flag, str(ECHO_OUTPUT_LIMIT)]
        else:
            notes.append(f"no {what} flag in --help: echo16m-2 runs with the default")
    return extra, notes


# ---------------------------------------------------------------------------------------
# wrk

def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(port, conns, duration):
    """Run wrk and return req/s, p99 (ms), requests and errors (socket errors and non-2xx)."""
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "5s",
           f"http://127.0.0.1:{port}/"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    except subprocess.TimeoutExpired:
        return {"reqs": 0, "rps": 0.0, "p99_ms": None, "errors": None, "error": "wrk hung"}
    m = re.search(r"(\d+) requests in", out)
    reqs = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    rps = float(m.group(1)) if m else 0.0
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    p99 = to_ms(*m.groups()) if m and reqs else None
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             (int(x) for x in m.groups()))) if m else {}
    errors += sum(socket_errors.values())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    errors += non2xx
    return {"reqs": reqs, "rps": rps, "p99_ms": p99, "errors": errors,
            "socket_errors": socket_errors, "non_2xx": non2xx}


# ---------------------------------------------------------------------------------------
# The probe: a fresh connection every 1/rate s, each with its own deadline

class ProbeConn:
    __slots__ = ("sock", "started", "deadline", "connecting", "buf")


def response_status(buf):
    """(complete, status) of an HTTP response read so far (Content-Length framed)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False, None
    head = buf[:end].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split()[1])
    except (IndexError, ValueError):
        return True, None
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return len(buf) >= end + 4 + int(value.strip()), status
    return False, status  # no Content-Length: complete at EOF


class Prober(threading.Thread):
    """Starts a probe every `interval` s until stopped, then lets the ones in flight finish
    (at most `timeout` s). Each result: (start offset s, ok, latency s, failure reason)."""

    def __init__(self, port, interval, timeout):
        super().__init__(daemon=True)
        self.port, self.interval, self.timeout = port, interval, timeout
        self.results = []
        self.stopping = threading.Event()
        self.t0 = None

    def stop(self):
        self.stopping.set()
        self.join()
        return summarize_probes(self.results)

    def run(self):
        poller = select.poll()
        active = {}  # fd -> ProbeConn
        self.t0 = next_start = time.monotonic()

        def finish(fd, ok, reason):
            p = active.pop(fd)
            poller.unregister(fd)
            p.sock.close()
            now = time.monotonic()
            self.results.append((p.started - self.t0, ok, now - p.started, reason))

        while True:
            now = time.monotonic()
            if not self.stopping.is_set():
                if next_start < now - self.interval:
                    next_start = now  # this thread was starved: do not start a burst
                while next_start <= now:
                    next_start += self.interval
                    p = ProbeConn()
                    p.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    p.sock.setblocking(False)
                    p.started, p.deadline = now, now + self.timeout
                    p.connecting, p.buf = True, b""
                    fd = p.sock.fileno()
                    active[fd] = p
                    poller.register(fd, select.POLLOUT)
                    err = p.sock.connect_ex(("127.0.0.1", self.port))
                    if err not in (0, errno.EINPROGRESS):
                        finish(fd, False, f"connect {errno.errorcode.get(err, err)}")
            elif not active:
                return
            for fd in [fd for fd, p in active.items() if now >= p.deadline]:
                finish(fd, False, "timeout")
            wakeups = [p.deadline for p in active.values()]
            if not self.stopping.is_set():
                wakeups.append(next_start)
            wait = min(wakeups) - now if wakeups else 0.05
            for fd, ev in poller.poll(max(0.0, min(wait, 0.05)) * 1000):
                p = active.get(fd)
                if p is None:
                    continue
                try:
                    if p.connecting:
                        err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            finish(fd, False, f"connect {errno.errorcode.get(err, err)}")
                            continue
                        p.connecting = False
                        p.sock.send(PROBE_REQUEST)  # 50 bytes: fits any send buffer
                        poller.modify(fd, select.POLLIN)
                        continue
                    data = p.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    finish(fd, False, errno.errorcode.get(e.errno, str(e)))
                    continue
                p.buf += data
                complete, status = response_status(p.buf)
                if complete or not data:
                    if status == 200 and complete:
                        finish(fd, True, None)
                    elif status is None:
                        finish(fd, False, "closed before a response" if not data
                               else "bad response")
                    else:
                        finish(fd, False, f"status {status}" if complete
                               else "closed mid-response")


def summarize_probes(results):
    """ok/total, latency of the successes, failure reasons, and the longest outage: from a
    failing probe's start to the next success's start (or the last probe's end)."""
    results = sorted(results)
    ok = [r for r in results if r[1]]
    reasons = {}
    for r in results:
        if not r[1]:
            reasons[r[3]] = reasons.get(r[3], 0) + 1
    longest, first_fail = 0.0, None
    for start_s, good, latency, _ in results:
        if good:
            if first_fail is not None:
                longest = max(longest, start_s - first_fail)
                first_fail = None
        elif first_fail is None:
            first_fail = start_s
    if first_fail is not None:
        longest = max(longest, max(s + lat for s, _, lat, _ in results) - first_fail)
    latencies = sorted(r[2] for r in ok)
    return {
        "ok": len(ok), "total": len(results), "failures": reasons,
        "longest_outage_s": round(longest, 3),
        "median_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
    }


def probe_for(port, seconds, rate, timeout):
    """Probe alone for `seconds` (after an attack: is the server whole again?)."""
    prober = Prober(port, 1.0 / rate, timeout)
    prober.start()
    time.sleep(seconds)
    return prober.stop()


# ---------------------------------------------------------------------------------------
# Attackers: one poll loop in a child process drives every attacking connection

RECONNECT_DELAY = 0.1  # after the server closed a connection (bounds a refusal loop's rate)
CONNECT_TIMEOUT = 3.0  # a connect that takes longer (full backlog) is abandoned and retried
FULL_RETRY = 0.1  # a non-reader whose socket is full tries again this much later
SENDS_PER_TURN = 8  # a flooding connection yields to the others after this many sends
INSTANT = 0.1  # a close this soon after connecting is a refusal, not a deadline


class RepeatStream:
    """An endless stream of one request repeated (the pipeliners)."""

    def __init__(self, request):
        self.size = len(request)
        self.buf = memoryview(request * max(1, 64 * KIB // self.size))
        self.pos = 0
        self.requests = 0  # requests fully written

    def peek(self):
        return self.buf[self.pos:]

    def advance(self, n):
        total = self.pos + n
        self.requests += total // self.size - self.pos // self.size
        self.pos = total % len(self.buf)


class EchoStream:
    """An endless stream of `POST /echo` requests, each with a body of `size` bytes."""

    FILLER = memoryview(b"x" * (64 * KIB))

    def __init__(self, size):
        self.head = memoryview(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                               % size)
        self.size = size
        self.head_pos = 0
        self.body_left = 0
        self.requests = 0

    def peek(self):
        if self.head_pos < len(self.head):
            return self.head[self.head_pos:]
        return self.FILLER[:min(len(self.FILLER), self.body_left)]

    def advance(self, n):
        if self.head_pos < len(self.head):
            self.head_pos += n
            if self.head_pos == len(self.head):
                self.body_left = self.size
        else:
            self.body_left -= n
            if self.body_left == 0:
                self.requests += 1
                self.head_pos = 0


class Flood:
    """Writes its stream as fast as the socket takes it and never reads; when the socket is
    full it keeps it open and tries again every FULL_RETRY s."""

    def __init__(self, make_stream):
        self.make_stream = make_stream

    def open(self, conn, now):
        conn.stream = self.make_stream()
        return now

    def due(self, conn, now):
        for _ in range(SENDS_PER_TURN):
            try:
                n = conn.sock.send(conn.stream.peek())
            except BlockingIOError:
                return now + FULL_RETRY
            conn.stream.advance(n)
            conn.sent += n
        return now  # still taking data: again after the other connections' turns

    def requests(self, conn):
        return conn.stream.requests


class Trickle:
    """Sends `fast` at once (retrying every 10 ms while the socket is full), then `slow` one
    byte every `interval` s; starts over if it ever gets to the end."""

    def __init__(self, fast, slow, interval):
        self.fast, self.slow, self.interval = memoryview(fast), memoryview(slow), interval

    def open(self, conn, now):
        conn.pos = 0
        return now

    def due(self, conn, now):
        nfast = len(self.fast)
        if conn.pos < nfast:
            for _ in range(SENDS_PER_TURN):
                try:
                    n = conn.sock.send(self.fast[conn.pos:])
                except BlockingIOError:
                    return now + 0.01
                conn.pos += n
                conn.sent += n
                if conn.pos == nfast:
                    return now + self.interval
            return now
        i = conn.pos - nfast
        try:
            conn.sent += conn.sock.send(self.slow[i:i + 1])
        except BlockingIOError:
            return now + self.interval
        conn.pos += 1
        if conn.pos == nfast + len(self.slow):
            conn.pos = 0
        return now + self.interval

    def requests(self, conn):
        return 0


def behaviour(kind):
    if kind == "pipeline":
        return Flood(lambda: RepeatStream(PIPELINE_REQUEST))
    if kind == "echo":
        return Flood(lambda: EchoStream(ECHO_BODY))
    if kind == "slowloris":
        return Trickle(b"", slowloris_head(), 0.2)
    if kind == "slowbody":
        head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % SLOW_BODY_LENGTH
        return Trickle(head + b"b" * SLOW_BODY_FAST, b"b" * (SLOW_BODY_LENGTH - SLOW_BODY_FAST),
                       1.0)
    raise ValueError(kind)


class AttackConn:
    __slots__ = ("sock", "fd", "connecting", "closed", "started", "opened", "sent", "stream",
                 "pos")


class Attack:
    """`count` attacking connections of one kind, each reconnecting when it is closed."""

    def __init__(self, kind, count, port):
        self.behaviour = behaviour(kind)
        self.count, self.port = count, port
        self.poller = select.poll()
        self.conns = {}  # fd -> AttackConn
        self.timers = []  # heap of (due, seq, action, conn or None)
        self.seq = 0
        # Counters for the report.
        self.established = 0
        self.connect_failures = {}
        self.lifetimes = []  # seconds from connect to the server's close, per closed connection
        self.sent = 0
        self.requests = 0

    def at(self, due, action, conn=None):
        self.seq += 1
        heapq.heappush(self.timers, (due, self.seq, action, conn))

    def connect(self, now):
        c = AttackConn()
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.setblocking(False)
        c.fd, c.connecting, c.closed = c.sock.fileno(), True, False
        c.started, c.opened, c.sent = now, None, 0
        self.conns[c.fd] = c
        self.poller.register(c.fd, select.POLLOUT)
        err = c.sock.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            self.failed(c, now, errno.errorcode.get(err, str(err)))
        else:
            self.at(now + CONNECT_TIMEOUT, "connect-timeout", c)

    def drop(self, c, now):
        """Forget `c` and schedule its replacement."""
        c.closed = True
        del self.conns[c.fd]
        self.poller.unregister(c.fd)
        self.sent += c.sent
        if c.opened is not None:
            self.requests += self.behaviour.requests(c)
        c.sock.close()  # with unread responses queued this sends RST: the server lets go at once
        self.at(now + RECONNECT_DELAY, "connect")

    def failed(self, c, now, reason):
        self.connect_failures[reason] = self.connect_failures.get(reason, 0) + 1
        self.drop(c, now)

    def closed_by_server(self, c, now):
        self.lifetimes.append(now - c.opened)
        self.drop(c, now)

    def event(self, c, ev, now):
        if c.connecting:
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err or ev & (select.POLLERR | select.POLLHUP):
                self.failed(c, now, errno.errorcode.get(err, "hang-up"))
                return
            c.connecting, c.opened = False, now
            self.established += 1
            # From now on only the server's close is watched (FIN, RST): never POLLIN.
            self.poller.modify(c.fd, select.POLLRDHUP)
            self.at(self.behaviour.open(c, now), "due", c)
        elif ev & (select.POLLERR | select.POLLHUP | select.POLLRDHUP):
            self.closed_by_server(c, now)

    def timer(self, action, c, now):
        if action == "connect":
            self.connect(now)
        elif c.closed:
            pass  # a stale timer of a connection already gone
        elif action == "connect-timeout":
            if c.connecting:
                self.failed(c, now, "timeout")
        elif action == "due":
            try:
                self.at(self.behaviour.due(c, now), "due", c)
            except OSError:  # EPIPE, ECONNRESET: the server has closed it
                self.closed_by_server(c, now)

    def run(self, stop_event, deadline):
        now = time.monotonic()
        for _ in range(self.count):
            self.connect(now)
        while not stop_event.is_set() and now < deadline:
            # Take the due timers first: those they schedule for `now` wait for the next turn.
            due = []
            while self.timers and self.timers[0][0] <= now:
                due.append(heapq.heappop(self.timers))
            for _, _, action, c in due:
                self.timer(action, c, now)
            wait = self.timers[0][0] - time.monotonic() if self.timers else 0.05
            for fd, ev in self.poller.poll(max(0.0, min(wait, 0.05)) * 1000):
                c = self.conns.get(fd)
                if c is not None:
                    self.event(c, ev, time.monotonic())
            now = time.monotonic()
        return self.report(now)

    def report(self, now):
        open_ages = sorted(now - c.opened for c in self.conns.values() if c.opened is not None)
        for c in list(self.conns.values()):
            self.sent += c.sent
            if c.opened is not None:
                self.requests += self.behaviour.requests(c)
            c.sock.close()
        life = sorted(self.lifetimes)
        # Closed within INSTANT s of connecting: refused (net's full queue) rather than cut.
        lasting = [t for t in life if t >= INSTANT]

        def q(p):
            return round(life[min(len(life) - 1, int(p * len(life)))], 3) if life else None

        return {
            "attackers": self.count,
            "established": self.established,
            "server_closes": len(life),
            "instant_closes": len(life) - len(lasting),
            "median_lasting_s": round(statistics.median(lasting), 3) if lasting else None,
            "lifetime_s": {"median": round(statistics.median(life), 3) if life else None,
                           "p10": q(0.10), "p90": q(0.90),
                           "min": round(life[0], 3) if life else None,
                           "max": round(life[-1], 3) if life else None},
            "open_at_end": len(open_ages),
            "oldest_open_s": round(open_ages[-1], 3) if open_ages else None,
            "connect_failures": self.connect_failures,
            "bytes_sent": self.sent,
            "requests_written": self.requests,
        }


def attacker_process(kind, count, port, budget, stop_event, pipe):
    """Child process: attack until told to stop, or until `budget` s have passed."""
    try:
        report = Attack(kind, count, port).run(stop_event, time.monotonic() + budget)
    except Exception as e:  # report it rather than leave the parent waiting
        report = {"error": repr(e)}
    pipe.send(report)
    pipe.close()


class Attacker:
    """The parent's handle on an attacker process."""

    def __init__(self, kind, count, port, budget):
        ctx = multiprocessing.get_context("fork")
        self.stop_event = ctx.Event()
        self.parent_end, child_end = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=attacker_process, daemon=True,
                                args=(kind, count, port, budget, self.stop_event, child_end))
        self.proc.start()
        child_end.close()

    def stop(self):
        self.stop_event.set()
        report = {"error": "the attacker process did not report"}
        if self.parent_end.poll(15):
            try:
                report = self.parent_end.recv()
            except EOFError:
                pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.terminate()  # our own child, by its pid
            self.proc.join()
        return report


# ---------------------------------------------------------------------------------------
# One (server, scenario) run

def server_cmd(binary, extra, args):
    return [binary, "--addr", "127.0.0.1:0", "--read-timeout", args.read_timeout,
            "--write-timeout", args.write_timeout, "--shutdown-deadline",
            args.shutdown_deadline] + extra + args.server_arg


def why_not_started(cmd):
    """The last line a server that failed to start printed on stderr (a rejected flag)."""
    try:
        err = subprocess.run(cmd, capture_output=True, text=True, timeout=5).stderr
    except subprocess.TimeoutExpired:  # it started this time (and has been killed)
        return None
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error")]
    return (errors or lines or [None])[-1]


def run_one(label, cmd, scenario, args, log):
    """Start the server, warm it up, attack it (if the scenario has an attack), measure
    normal clients, stop everything; return the result row."""
    kind, count = SCENARIOS[scenario]
    row = {"server": label, "scenario": scenario, "cmd": cmd}
    try:
        proc, port = start(cmd)
    except SystemExit as e:
        row["error"] = f"server did not start: {why_not_started(cmd) or e}"
        log(f"{label:14} {scenario:14} {row['error']}")
        return row
    attacker = None
    try:
        if args.warmup:
            wrk(port, args.connections, args.warmup)
        if kind:
            budget = args.lead + args.duration + 20
            attacker = Attacker(kind, count, port, budget)
            time.sleep(args.lead)
        prober = Prober(port, 1.0 / args.probe_rate, args.probe_timeout)
        prober.start()
        row["wrk"] = wrk(port, args.connections, args.duration)
        row["probe"] = prober.stop()
        if attacker:
            row["attack"] = attacker.stop()
            attacker = None
            row["probe_after"] = probe_for(port, args.after, args.probe_rate, args.probe_timeout)
        if proc.poll() is not None:
            row["error"] = f"server exited with status {proc.returncode} during the run"
    finally:
        if attacker:
            attacker.stop()
        t0 = time.monotonic()
        if proc.poll() is None:
            stop(proc, timeout=15)
        row["shutdown_s"] = round(time.monotonic() - t0, 2)
        rest = proc.stdout.read() if proc.stdout else ""
        m = re.search(r"^stats: .*$", rest or "", re.M)
        row["server_stats"] = m.group(0) if m else None
        row["exit_status"] = proc.returncode
    log(one_line(row))
    return row


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def one_line(row):
    w, p, a = row.get("wrk", {}), row.get("probe", {}), row.get("attack", {})
    text = (f"{row['server']:14} {row['scenario']:14} {fmt(w.get('rps'), '10.0f')} req/s  "
            f"p99 {fmt(w.get('p99_ms'), '8.2f')} ms  probe {p.get('ok', 0)}/{p.get('total', 0)}")
    if a:
        text += (f"  closes {a.get('server_closes')} ({a.get('instant_closes')} instant; "
                 f"others' median life {fmt(a.get('median_lasting_s'), '.2f')} s)")
    if row.get("error"):
        text += f"  [{row['error']}]"
    return text


def table(rows):
    """The markdown table: one row per (server, scenario), ratio to that server's baseline."""
    base = {r["server"]: r["wrk"]["rps"] for r in rows
            if r["scenario"] == "baseline" and r.get("wrk")}
    lines = [
        "| server | scenario | req/s | × alone | p99 ms | wrk errors | probe ok/total "
        "| longest outage s | probe after | attacker conns | server closes (instant) "
        "| median life s | open at end (oldest) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        w, p = r.get("wrk"), r.get("probe")
        if not w:
            lines.append(f"| {r['server']} | {r['scenario']} | {r.get('error', 'n/a')} "
                         "|  |  |  |  |  |  |  |  |  |  |")
            continue
        ratio = w["rps"] / base[r["server"]] if base.get(r["server"]) else None
        a, after = r.get("attack"), r.get("probe_after")
        after_col = f"{after['ok']}/{after['total']}" if after else "–"
        if a and "error" not in a:
            oldest = f" ({a['oldest_open_s']:.1f} s)" if a["open_at_end"] else ""
            attack_cols = (f"{a['established']} | {a['server_closes']} "
                           f"({a['instant_closes']}) | {fmt(a['median_lasting_s'], '.2f')} | "
                           f"{a['open_at_end']}{oldest}")
        elif a:
            attack_cols = f"{a['error']} |  |  | "
        else:
            attack_cols = "– | – | – | –"
        lines.append(
            f"| {r['server']} | {r['scenario']} | {w['rps']:.0f} | {fmt(ratio, '.2f')} | "
            f"{fmt(w['p99_ms'], '.2f')} | {fmt(w['errors'], 'd')} | {p['ok']}/{p['total']} | "
            f"{p['longest_outage_s']:.2f} | {after_col} | {attack_cols} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Arguments

def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Measure normal clients of the HTTP example alone and under attack "
                    "(non-reading pipeliners, non-reading 16 MiB echoes, slowloris, slow "
                    "bodies) on net, evnet Workers and evnet Inline.")
    ap.add_argument("--bin-dir", help="directory with http-net and http-evnet "
                    "(scripts/attacks.sh builds them into target/attacks)")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help=f"comma-separated, of: {', '.join(SERVERS)} (default: all)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma-separated, of: {', '.join(SCENARIOS)} (default: all; "
                         "baseline is always measured first, for the ratio)")
    ap.add_argument("--duration", type=int, default=5,
                    help="seconds of wrk per measurement (default 5)")
    ap.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="seconds of wrk on each fresh server before measuring (0: none)")
    ap.add_argument("--lead", type=float, default=1.0,
                    help="seconds an attack runs before the measurement starts (default 1)")
    ap.add_argument("--after", type=float, default=1.0,
                    help="seconds of probing after an attack is stopped (default 1)")
    ap.add_argument("--probe-rate", type=float, default=20.0, help="probes per second")
    ap.add_argument("--probe-timeout", type=float, default=1.0, help="seconds per probe")
    ap.add_argument("--read-timeout", default="3s", help="server --read-timeout (default 3s)")
    ap.add_argument("--write-timeout", default="3s", help="server --write-timeout (default 3s)")
    ap.add_argument("--shutdown-deadline", default="2s",
                    help="server --shutdown-deadline (default 2s)")
    ap.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for every server (repeat for each)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    ap.add_argument("--check-args", action="store_true",
                    help="only validate the arguments (not --bin-dir) and exit")
    args = ap.parse_args(argv)

    def names(text, known, what):
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in known]
        if bad or not items:
            ap.error(f"unknown {what} {', '.join(bad) or '(none given)'}; "
                     f"choose from {', '.join(known)}")
        return list(dict.fromkeys(items))

    args.servers = names(args.servers, SERVERS, "server")
    scenarios = names(args.scenarios, SCENARIOS, "scenario")
    args.scenarios = ["baseline"] + [s for s in scenarios if s != "baseline"]
    if not 1 <= args.duration <= 600:
        ap.error("--duration must be 1..600 seconds")
    if not 1 <= args.connections <= 10000:
        ap.error("--connections must be 1..10000")
    if not 0 <= args.warmup <= 60:
        ap.error("--warmup must be 0..60 seconds")
    for name in ("lead", "after"):
        if not 0 <= getattr(args, name) <= 60:
            ap.error(f"--{name} must be 0..60 seconds")
    if not 0 < args.probe_rate <= 200:
        ap.error("--probe-rate must be in (0, 200]")
    if not 0 < args.probe_timeout <= 30:
        ap.error("--probe-timeout must be in (0, 30]")
    for name in ("read_timeout", "write_timeout", "shutdown_deadline"):
        # The servers need a unit: a bare number is refused (exit 2) rather than guessed.
        if not re.fullmatch(r"\d+(\.\d+)?(ms|s|m)", getattr(args, name)):
            ap.error(f"--{name.replace('_', '-')}: not a duration with a unit (try 3s or 500ms)")
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        ap.error(f"--json: no directory for {args.json}")
    if args.check_args:
        return args
    if not args.bin_dir:
        ap.error("--bin-dir is required")
    for name in args.servers:
        binary = os.path.join(args.bin_dir, SERVERS[name][1])
        if not os.access(binary, os.X_OK):
            ap.error(f"no executable {binary} (scripts/attacks.sh builds it)")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.check_args:
        return 0
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode:
        print("attacks.py: wrk is not installed (scripts/ensure-deps.sh wrk)", file=sys.stderr)
        return 1

    def log(text):
        print(text, file=sys.stderr, flush=True)

    rows, notes = [], []
    for name in args.servers:
        label, binary, extra = SERVERS[name]
        binary = os.path.join(args.bin_dir, binary)
        flags = help_flags(binary)
        if name != "net" and "--dispatch" not in flags:
            notes.append(f"{label}: {binary} has no --dispatch flag (not an evented build?)")
        echo_extra, echo_notes = echo_flags(flags)
        if "echo16m-2" in args.scenarios:
            notes += [f"{label}: {n}" for n in echo_notes]
            notes.append(f"{label}: echo16m-2 adds {' '.join(echo_extra) or 'no flags'}")
        for scenario in args.scenarios:
            more = echo_extra if scenario == "echo16m-2" else []
            rows.append(run_one(label, server_cmd(binary, extra + more, args), scenario, args,
                                log))

    print()
    print(table(rows))
    print()
    print(f"Normal clients: wrk -t1 -c{args.connections} -d{args.duration}s GET / (keep-alive) "
          f"and a probe (fresh connection, GET / with Connection: close, "
          f"{args.probe_timeout:g} s deadline, {args.probe_rate:g}/s); \"probe after\": "
          f"{args.after:g} s of probes once the attack stopped. Attacks start {args.lead:g} s "
          f"before the measurement. Servers: --read-timeout {args.read_timeout} "
          f"--write-timeout {args.write_timeout}, a fresh server per row. \"server closes\": "
          f"attacker connections the server closed (each attacker reconnects "
          f"{RECONNECT_DELAY:g} s later), in brackets those closed within {INSTANT:g} s of "
          f"connecting (refused); \"median life s\": from connect to the server's close, of "
          f"the others; \"open at end\": attacker connections still open when the attack "
          f"stopped, and the oldest one's age.")
    for note in notes:
        print(f"- {note}")
    for r in rows:
        if r.get("error"):
            print(f"- {r['server']} {r['scenario']}: {r['error']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"argv": sys.argv, "args": {k: v for k, v in vars(args).items()},
                       "cores": os.cpu_count(), "notes": notes, "results": rows}, f, indent=2)
            f.write("\n")
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

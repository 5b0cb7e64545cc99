"""Starting and stopping the example server binaries, shared by compare.py and idle.py."""

import re
import signal
import subprocess


def start(cmd):
    """Run `cmd` (a server binary and its flags); read the address it prints first and
    return (process, port)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r"(\d+\.\d+\.\d+\.\d+):(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"could not read the address from {cmd[0]}: {line!r}")
    return proc, int(m.group(2))


def stop(proc, timeout=20):
    """SIGTERM (a graceful shutdown), then SIGKILL if it takes longer than `timeout` s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

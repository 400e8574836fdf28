"""`python ray_watchdog.py DRIVER_PID`: ends what a Ray driver started once the driver is gone.

ray_engine.py starts it beside a local Ray cluster, its stdin a pipe from the driver. Every half
second it notes the driver's descendants (the Ray processes and theirs). "done" on stdin: the
driver shut Ray down itself, nothing to do. End of input without it: the driver died (kill -9),
so every process noted is killed, unless its pid now belongs to another process (its start time
differs). Standard library only, and Linux only (/proc): it runs as a file, outside the package.
"""
from __future__ import annotations

import os
import select
import signal
import sys
from pathlib import Path

POLL_SECONDS = 0.5


def processes() -> dict[int, tuple[int, str]]:
    """Every process: pid -> (parent pid, start time)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[int(entry.name)] = (int(fields[1]), fields[19])  # ppid, starttime (fields 4 and 22 of stat)
    return found


def descendants(root: int, table: dict[int, tuple[int, str]]) -> dict[int, str]:
    """The descendants of `root`: pid -> start time."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = table[pid][1]
        todo += children.get(pid, [])
    return found


def watch(driver: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the driver's group: the driver decides
    noted: dict[int, str] = {}
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], POLL_SECONDS)
        if ready:
            line = sys.stdin.readline()
            if line.strip() == "done":
                return
            if not line:
                break
        noted.update(descendants(driver, processes()))
    now = processes()
    for pid, started in noted.items():
        if pid != os.getpid() and pid in now and now[pid][1] == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    watch(int(sys.argv[1]))

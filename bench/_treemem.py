"""Peak memory of a whole process tree, sampled from /proc (``/usr/bin/time -v`` sees one process).

A ``nesyflow batch`` is several processes: the CLI (or the fork server's child that runs it),
engine worker processes, prover subprocesses. ``run_sampled`` starts a command and, every
``interval`` seconds, sums the RSS and the PSS (shared pages divided among their sharers: a fork
server's child shares its imports copy-on-write) of every process that is a descendant of the
command or a child the fork server forked for the command (the child holds the command's own stdout
pipe: the fork server passes the caller's stdin/stdout/stderr). It reports the peaks.

A fork server child is matched by that pipe, not by when it started: the server forks for every
``nesyflow`` run on the machine, and counting every child started after the command counted other
people's runs too (a whole-1M bench once reported 921 MB over 10 processes while tests ran beside it).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

__all__ = ["run_sampled", "tree_memory", "cpu_seconds", "stat_fields", "stdout_of"]


_CPU: dict[tuple[int, float], int] = {}  # (pid, start) -> user+system ticks, the last seen
_TICKS: dict[int, int] = {}  # pid -> user+system ticks at its last ``_stat``


def stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name (field 3 on), or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (fields 14 and 15), or None once it is gone."""
    fields = stat_fields(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, start time in clock ticks) of a process, or None once it is gone."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    _TICKS[pid] = int(fields[11]) + int(fields[12])
    return int(fields[1]), float(fields[19])


def _mem_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in kB (0, 0 when it is gone)."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _forkservers(python: str) -> set[int]:
    """This checkout's fork server and the children it forked (their command line is the server's)."""
    found = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes()
            except OSError:
                continue
            if b"flows.cli.forkserver" in cmd and cmd.startswith(python.encode()):
                found.add(int(d))
    return found


def stdout_of(pid: int) -> str | None:
    """What a process's fd 1 is (``pipe:[inode]`` for a pipe), or None once it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/fd/1")
    except OSError:
        return None


def tree_memory(root: int, servers: set[int], after_ticks: float, stdout: str | None = None) -> tuple[int, int, int]:
    """(RSS kB, PSS kB, processes) of ``root``'s descendants and the servers' children started after
    ``after_ticks`` whose stdout is ``stdout`` (the root's: the child forked for it)."""
    parents: dict[int, int] = {}
    started: dict[int, float] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                parents[int(d)], started[int(d)] = st
    members = {root} | {p for p, pp in parents.items()
                        if pp in servers and started[p] >= after_ticks and stdout is not None and stdout_of(p) == stdout}
    changed = True
    while changed:
        changed = False
        for p, pp in parents.items():
            if pp in members and p not in members:
                members.add(p)
                changed = True
    rss = pss = 0
    for p in members:
        _CPU[(p, started.get(p, 0.0))] = _TICKS.get(p, 0)
        r, s = _mem_kb(p)
        rss, pss = rss + r, pss + s
    return rss, pss, len(members)


def run_sampled(argv: list[str], env: dict | None = None, cwd: str | None = None, interval: float = 0.2,
                on_sample=None, python: str = "") -> dict:
    """Run ``argv``; return wall seconds, exit code, output tails and peak tree RSS/PSS (MB).
    ``python``: the interpreter path whose fork server's children count (another checkout's do not)."""
    with open("/proc/uptime") as fh:
        ticks = (float(fh.read().split()[0]) - 1) * os.sysconf("SC_CLK_TCK")
    servers = _forkservers(python) if python else set()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"rss": 0, "pss": 0, "procs": 0, "rss_at": 0.0}
    minutes: list[list[float]] = []  # [minute, peak RSS MB, peak PSS MB] within each minute: when memory grew
    done = threading.Event()
    stdout = stdout_of(proc.pid)  # the pipe we read: the fork server's child for this command writes to it

    def sample() -> None:
        while not done.is_set():
            rss, pss, n = tree_memory(proc.pid, servers | (_forkservers(python) if python else set()), ticks, stdout)
            at = time.perf_counter() - t0
            if rss > peak["rss"]:
                peak["rss_at"] = at
            peak["rss"], peak["pss"], peak["procs"] = max(peak["rss"], rss), max(peak["pss"], pss), max(peak["procs"], n)
            minute = int(at // 60)
            if not minutes or minutes[-1][0] != minute:
                minutes.append([minute, 0.0, 0.0])
            minutes[-1][1], minutes[-1][2] = max(minutes[-1][1], round(rss / 1024, 1)), max(minutes[-1][2], round(pss / 1024, 1))
            if on_sample:
                on_sample(time.perf_counter() - t0)
            done.wait(interval)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    cpu_s = sum(_CPU.values()) / os.sysconf("SC_CLK_TCK")  # sampled: a process's last interval is missed
    _CPU.clear()
    return {"sampled_cpu_s": round(cpu_s, 1), "wall_s": round(wall, 2), "rc": proc.returncode, "peak_rss_mb": round(peak["rss"] / 1024, 1),
            "peak_pss_mb": round(peak["pss"] / 1024, 1), "peak_rss_at_s": round(peak["rss_at"], 1),
            "memory_mb_each_minute": minutes, "max_processes": peak["procs"], "stdout": out[-3000:],
            "stderr": err[-3000:]}

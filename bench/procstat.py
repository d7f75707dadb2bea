"""CPU time and peak resident memory of other processes (the worker, the broker, ourselves).

Reads ``/proc`` on Linux (peak RSS is the kernel's ``VmHWM``, exact even between samples); elsewhere
uses psutil when it is installed (peak RSS is then the largest RSS seen at a sample); else nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


def _clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


_TICKS = _clock_ticks()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process has used so far; None if it cannot be read."""
    stat = _PROC / str(pid) / "stat"
    try:
        text = stat.read_text()
    except OSError:
        return _psutil_cpu(pid)
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident set size so far, MiB; None if it cannot be read."""
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _psutil_rss(pid)


def _psutil_cpu(pid: int) -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def _psutil_rss(pid: int) -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    try:
        return float(psutil.Process(pid).memory_info().rss) / (1024.0 * 1024.0)
    except psutil.Error:
        return None


@dataclass(frozen=True, slots=True)
class CpuWindow:
    """CPU used by ``pid`` between two instants, as % of one core (200% = both of two cores)."""

    pid: int
    started_s: float
    cpu_at_start: float | None

    @classmethod
    def open(cls, pid: int) -> CpuWindow:
        return cls(pid, time.monotonic(), cpu_seconds(pid))

    def percent(self) -> float | None:
        end = cpu_seconds(self.pid)
        wall = time.monotonic() - self.started_s
        if end is None or self.cpu_at_start is None or wall <= 0:
            return None
        return 100.0 * (end - self.cpu_at_start) / wall

"""Child processes of ``streamguard run`` that cannot outlive it.

Each child asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), so even a
``kill -9`` of ``streamguard run`` leaves no orphan worker or producer behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the parent still stops its children on a normal exit


def spawn(args: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m pipeline.cli ARGS`` as a child tied to this process's life."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args],
        env={**os.environ, **(env or {})},
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def stop_all(children: Sequence[subprocess.Popen[bytes]], timeout_s: float = 15.0) -> None:
    """SIGINT (a graceful stop), then SIGKILL whatever has not exited in time."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children:
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

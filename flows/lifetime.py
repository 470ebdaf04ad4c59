"""Child processes that must not outlive the process that started them.

``PR_SET_PDEATHSIG`` asks Linux to signal a child when its parent exits, however the parent ends
(``kill -9`` included), where a parent's own clean-up code would not run. It fires when the
*thread* that forked the child exits, so the parent forks from a thread that lives as long as it does.
"""

from __future__ import annotations

import ctypes
import os
import signal

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> bool:
    """Ask for ``sig`` when the parent exits. ``parent``: the pid the child was started by; if it is
    already gone (it died before the request was made), the signal is raised now. False where the
    request is not available (not Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig)) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True

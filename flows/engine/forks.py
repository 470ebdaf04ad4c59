"""The epilogue every forked child of ours shares (a fork server's command, a pre-spawned engine
process): close what it inherited, run its body, and leave with its exit code — never return into
the code of the parent that forked it. Standard library only: the entry point uses this before
anything heavy is imported.
"""

from __future__ import annotations

import os
import sys

__all__ = ["close_quietly", "exit_after"]


def close_quietly(fds) -> None:
    """Close what a forked child inherited and must not hold (None and closed fds are skipped)."""
    for fd in fds:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def exit_after(body) -> None:
    """In a forked child: run ``body`` and leave with its exit code (None: 0), reporting whatever
    escapes it — never return into the parent's code that forked us."""
    code = 1
    try:
        code = body() or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - reported here; the child ends either way
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

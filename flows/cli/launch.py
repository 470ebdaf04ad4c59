"""The ``nesyflow`` entry point: start a batch's engine processes first, then the CLI.

A batch's engine runs in worker processes (``flows.engine.pool``) that spend ~0.3 s importing before
they can solve anything; the CLI spends about as long importing its own modules before it can
parse its arguments. Started here, from the raw argument list and before anything heavy is
imported, the workers' start-up overlaps the CLI's. Anything unusual (another command, a bad
argument, ``--workers 0``, Dask) just goes to ``flows.cli`` unchanged, which validates and errs.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main", "run_here"]

def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _prespawn(argv: list[str]) -> None:
    if not argv or argv[0] != "batch" or len(argv) < 2 or not os.path.isfile(argv[1]):
        return
    if (_option(argv, "--task-runner") or "threads") != "threads" or "-h" in argv or "--help" in argv:
        return
    from flows.engine import default_processes  # the package only: no engine imported yet

    workers = _option(argv, "--workers")
    if workers is None:
        count = default_processes(_option(argv, "--parser") or "gold")
    elif workers.isdigit():
        count = int(workers)
    else:
        return
    if count > 0:
        from flows.engine.prespawn import prespawn

        prespawn(count, verbose="--verbose" in argv)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from flows.cli.forkclient import run_in_server

    code = run_in_server(args)
    return run_here(args) if code is None else code


def run_here(args: list[str]) -> int:
    """The CLI in this process (a fork server's child comes here directly)."""
    _prespawn(args)
    from flows.cli.commands import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())

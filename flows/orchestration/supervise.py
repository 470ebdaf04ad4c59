"""Keep a flow run from outliving its server: the flow runs in a thread, the caller watches.

Losing the Prefect server used to hang a batch for minutes (the client retries every call) and
end it with a screen of httpx tracebacks and no results file. Here the flow runs in a daemon
thread while the calling thread checks the server's ``/health`` every two seconds: when it has
not answered for ``grace_s`` seconds, or when the flow fails on a server error (a 503 its
retries did not get past), the caller gets one line saying so, within a bounded time, and
writes what finished. The engine keeps results as they finish, so nothing finished is lost and
a rerun resumes. Nothing here imports Prefect.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable, TypeVar

from flows.orchestration.server import healthy

__all__ = ["supervise", "hard_exit", "describe_server_failure", "Stopped"]

T = TypeVar("T")


class Stopped(Exception):
    """The flow could not finish: the server went away or failed. ``str()`` is one line."""


def describe_server_failure(exc: BaseException, api_url: str) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if "failed to reach api" in first.lower() or not status and _server_error(exc):
        return f"lost the Prefect server at {api_url} ({first})"
    if status:
        return f"the Prefect server at {api_url} failed (HTTP {status}) while recording the run: {first}"
    return f"the flow run failed on {api_url}: {type(exc).__name__}: {first}"


def _server_error(exc: BaseException) -> bool:
    if "failed to reach api" in str(exc).lower():
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"PrefectHTTPStatusError", "HTTPStatusError", "ConnectError", "ReadTimeout", "ConnectTimeout",
                "RemoteProtocolError", "ReadError", "PoolTimeout", "WriteError"}:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and _server_error(cause)


def supervise(target: Callable[[], T], api_url: str, grace_s: float = 15.0, poll_s: float = 2.0) -> T:
    """Run ``target`` (a flow call) in a thread; return its value, or raise ``Stopped`` when the
    server stops answering for ``grace_s`` seconds or the flow fails on a server error. Any other
    exception from the flow is re-raised as is."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = target()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name="nesyflow-flow", daemon=True)
    thread.start()
    lost_since: float | None = None
    next_check = time.monotonic() + poll_s
    while thread.is_alive():
        thread.join(0.2)
        if not thread.is_alive() or time.monotonic() < next_check:
            continue
        next_check = time.monotonic() + poll_s
        if healthy(api_url, timeout=min(poll_s, 2.0)):
            lost_since = None
            continue
        lost_since = lost_since or time.monotonic()
        if time.monotonic() - lost_since >= grace_s:
            raise Stopped(f"lost the Prefect server at {api_url} (no answer for {grace_s:.0f} s)")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, Exception) and _server_error(exc):
            raise Stopped(describe_server_failure(exc, api_url)) from None
        raise exc  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def hard_exit(code: int) -> None:
    """Leave now: the flow thread may be stuck in a client retry that no server will answer.
    Our files are written and flushed before this is called; solver workers are stopped."""
    try:
        from solvers.warm import _shutdown

        _shutdown()
    except Exception:
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

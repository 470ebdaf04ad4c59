"""REST calls to the test session's Prefect server, with its credential, and the waits and stops
the tests that serve deployments share (tests/ is on sys.path)."""

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

__all__ = ["api", "wait_for", "stop_serving"]


def api(base, method, path, body=None, auth: str | None = "env"):
    """One REST call, with the session's credential (``auth="env"``), another, or none; 429/502/503
    are retried with backoff, as Prefect's own client does (a SQLite server answers 503 while its
    database is busy, e.g. when ``serve`` is registering deployments)."""
    auth = os.environ.get("PREFECT_API_AUTH_STRING") if auth == "env" else auth
    headers = {"content-type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    for attempt in range(5):
        req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            code, payload = err.code, json.loads(err.read() or b"null")
        if code not in (429, 502, 503) or attempt == 4:
            return code, payload
        time.sleep(2 ** attempt)


def wait_for(fn, timeout, what):
    """``fn()``'s first true value within ``timeout`` seconds, else the test fails saying what it waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def stop_serving(proc: subprocess.Popen) -> None:
    """Stop a ``nesyflow serve`` started in its own session as Ctrl-C would, then for good."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)

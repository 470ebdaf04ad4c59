"""REST calls to the test session's Prefect server, with its credential (tests/ is on sys.path)."""

import base64
import json
import os
import time
import urllib.error
import urllib.request

__all__ = ["api"]


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

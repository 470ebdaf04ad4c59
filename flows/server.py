"""A local Prefect server for the CLI: started once, reused after, bound to 127.0.0.1.

When ``PREFECT_API_URL`` is set the CLI uses that server and this module does nothing. Otherwise
it reuses the server recorded in ``<home>/server.json`` if it answers, or starts one (SQLite
under ``<home>/prefect``) in its own session so it outlives the CLI, and records it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from parsers.errors import NesyflowError

__all__ = ["offline_env", "ensure_server", "stop_server", "healthy", "ui_url", "ServerError"]


class ServerError(NesyflowError):
    """The local Prefect server could not be started."""


def offline_env(home: Path) -> dict[str, str]:
    """Settings for a machine with no internet (DESIGN.md §9), and project-local state."""
    return {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "results"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "LITELLM_OFFLINE_MODE": "true",
    }


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def ui_url(api_url: str, flow_run_id: str | None = None) -> str:
    """The run's page in the default (V2) UI; ``/runs/flow-run/<id>`` is not a route there."""
    base = api_url.rstrip("/")
    base = base[: -len("/api")] if base.endswith("/api") else base
    return f"{base}/v2/runs/flow-run/{flow_run_id}" if flow_run_id else f"{base}/v2/runs"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_server(home: Path, port: int = 4200, wait_s: float = 120.0) -> str:
    """The API URL of a running local server: the recorded one if it answers, else a new one."""
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    record = home / "server.json"
    if record.exists():
        try:
            info = json.loads(record.read_text())
            if healthy(info["api_url"]):
                return info["api_url"]
        except (json.JSONDecodeError, KeyError, OSError):
            pass
    if not _port_free(port):
        port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, **offline_env(home)}
    env.pop("PREFECT_API_URL", None)
    # The UI asks /ui-settings where the API is; without these it says port 4200 whatever --port is.
    env.update({"PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port), "PREFECT_UI_API_URL": api_url})
    log = open(home / "server.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"the Prefect server exited with code {proc.returncode}; see {home / 'server.log'}")
        if healthy(api_url, timeout=1.0):
            record.write_text(json.dumps({"api_url": api_url, "pid": proc.pid, "port": port}))
            return api_url
        time.sleep(0.5)
    proc.kill()
    raise ServerError(f"the Prefect server did not answer within {wait_s:.0f} s; see {home / 'server.log'}")


def stop_server(home: Path) -> bool:
    """Stop the server this project started (if any). True when one was stopped."""
    record = home.resolve() / "server.json"
    if not record.exists():
        return False
    try:
        info = json.loads(record.read_text())
        os.killpg(int(info["pid"]), 15)
        stopped = True
    except (ProcessLookupError, PermissionError, KeyError, ValueError, json.JSONDecodeError):
        stopped = False
    record.unlink(missing_ok=True)
    return stopped

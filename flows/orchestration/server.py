"""A local Prefect server for the CLI: started once, reused after, on a port that stays the same.

When ``PREFECT_API_URL`` is set the CLI uses that server and this module does nothing. Otherwise
it reuses the server recorded in ``<home>/server.json`` if it answers, or starts one (SQLite
under ``<home>/prefect``) in its own session so it outlives the CLI, and records it. The port is
4200 (``NESYFLOW_SERVER_PORT``), or the next free one if another program holds it, and once
chosen it is kept in the record across stops and restarts, so every UI link printed before
stays valid. The server binds to 127.0.0.1; binding to anything else needs basic auth
(``PREFECT_SERVER_API_AUTH_STRING``), or it is refused.
"""

from __future__ import annotations

import base64
import ipaddress
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

from flows.store import private_dir

__all__ = ["offline_env", "QUIET_CONSOLE", "ensure_server", "stop_server", "healthy", "ui_url", "server_record", "check_host",
           "ServerError", "LOOPBACK"]

LOOPBACK = "127.0.0.1"
PORT_RANGE = 100


class ServerError(NesyflowError):
    """The local Prefect server could not be started."""


# Prefect's console handlers at WARNING: what a CLI run without --verbose uses (cli._setup_env), and
# what the fork server imports Prefect under, so that such a run need not set logging up again.
QUIET_CONSOLE = {f"PREFECT_LOGGING_HANDLERS_CONSOLE{part}_LEVEL": "WARNING" for part in ("", "_FLOW_RUNS", "_TASK_RUNS")}


def offline_env(home: Path) -> dict[str, str]:
    """Settings for a machine with no internet (DESIGN.md §9), and project-local state."""
    return {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "results"),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "LITELLM_OFFLINE_MODE": "true",
    }


def _auth_header() -> dict[str, str]:
    auth = os.environ.get("PREFECT_API_AUTH_STRING")
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        req = urllib.request.Request(api_url.rstrip("/") + "/health", headers=_auth_header())
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def ui_url(api_url: str, flow_run_id: str | None = None) -> str:
    """The run's page in the default (V2) UI; ``/runs/flow-run/<id>`` is not a route there."""
    base = api_url.rstrip("/")
    base = base[: -len("/api")] if base.endswith("/api") else base
    return f"{base}/v2/runs/flow-run/{flow_run_id}" if flow_run_id else f"{base}/v2/runs"


def check_host(host: str) -> None:
    """Loopback is always allowed; any other address only behind basic auth."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
        raise ServerError(f"--host {host} exposes the Prefect server (and every run) beyond this machine: set "
                          "PREFECT_SERVER_API_AUTH_STRING=user:password to require basic auth (clients then set "
                          "PREFECT_API_AUTH_STRING to the same value), or bind to 127.0.0.1")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def server_record(home: Path) -> dict:
    try:
        data = json.loads((home.resolve() / "server.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_record(home: Path, data: dict) -> None:
    path = home.resolve() / "server.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.chmod(0o600)
    tmp.replace(path)


def _choose_port(host: str, preferred: int) -> int:
    for port in range(preferred, min(preferred + PORT_RANGE, 65536)):
        if _port_free(host, port):
            return port
    raise ServerError(f"no free port in {preferred}–{preferred + PORT_RANGE - 1} on {host}; set NESYFLOW_SERVER_PORT")


def ensure_server(home: Path, port: int = 4200, wait_s: float = 120.0, host: str = LOOPBACK) -> str:
    """The API URL of a running local server: the recorded one if it answers, else a new one on
    the recorded port (or ``port``, or the next free one after it)."""
    check_host(host)
    home = private_dir(Path(home).resolve())
    record = server_record(home)
    if record.get("api_url") and record.get("pid") and healthy(record["api_url"]):
        return record["api_url"]
    preferred = int(record.get("port") or port)
    chosen = _choose_port(host, preferred)
    url_host = LOOPBACK if host in ("0.0.0.0", "::") else host
    api_url = f"http://{url_host}:{chosen}/api"
    env = {**os.environ, **offline_env(home)}
    env.pop("PREFECT_API_URL", None)
    # The UI asks /ui-settings where the API is; without these it says port 4200 whatever --port is.
    env.update({"PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(chosen), "PREFECT_UI_API_URL": api_url})
    private_dir(home / "prefect")
    log = open(home / "server.log", "ab")
    os.chmod(home / "server.log", 0o600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(chosen)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"the Prefect server exited with code {proc.returncode}; see {home / 'server.log'}")
        if healthy(api_url, timeout=1.0):
            _write_record(home, {"api_url": api_url, "pid": proc.pid, "port": chosen, "host": host})
            return api_url
        time.sleep(0.3)
    proc.kill()
    raise ServerError(f"the Prefect server did not answer within {wait_s:.0f} s; see {home / 'server.log'}")


def stop_server(home: Path) -> bool:
    """Stop the server this project started (if any). True when one was stopped. The record
    keeps its port, so the next start serves the same URLs."""
    record = server_record(home)
    if not record.get("pid"):
        return False
    pid = int(record["pid"])
    try:
        os.killpg(pid, 15)
        stopped = True
    except (ProcessLookupError, PermissionError, ValueError):
        stopped = False
    deadline = time.monotonic() + 15
    while stopped and time.monotonic() < deadline and _exists(pid):  # free the port before a restart wants it
        time.sleep(0.1)
    if stopped and _exists(pid):
        try:
            os.killpg(pid, 9)
        except OSError:
            pass
    _write_record(home, {**record, "pid": None})
    return stopped


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie we cannot reap (not our child) is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False

"""A local Prefect server for the CLI: started once, reused after, on a port that stays the same.

When ``PREFECT_API_URL`` is set the CLI uses that server and this module does nothing. Otherwise
it reuses the server recorded in ``<home>/server.json`` if it answers, or starts one (SQLite
under ``<home>/prefect``) in its own session so it outlives the CLI, and records it. The port is
4200 (``NESYFLOW_SERVER_PORT``), or the next free one if another program holds it, and once
chosen it is kept in the record across stops and restarts, so every UI link printed before
stays valid. The server binds to 127.0.0.1.

Its API needs basic auth, on loopback too (the Jupyter-token model): every local user and process
can reach 127.0.0.1, and a flow run runs as the serving user. The first start creates a random
credential, ``<home>/api-auth`` (``nesyflow:<token>``, mode 0600), and ``<home>/api.netrc`` for
curl; the server gets it as ``PREFECT_SERVER_API_AUTH_STRING``, and every nesyflow command that
talks to this server sets ``PREFECT_API_AUTH_STRING`` from it (``client_env``). A server found
running with other auth than asked for (one started before auth was on) is restarted.
``NESYFLOW_API_AUTH=off`` turns it off on a single-user machine, and then only loopback is allowed.
"""

from __future__ import annotations

import base64
import errno
import ipaddress
import json
import os
import secrets
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
           "ServerError", "LOOPBACK", "api_auth", "client_env", "auth_paths", "AUTH_USER"]

LOOPBACK = "127.0.0.1"
PORT_RANGE = 100
AUTH_USER = "nesyflow"


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


def _auth_header(auth: str | None = None) -> dict[str, str]:
    auth = auth if auth is not None else os.environ.get("PREFECT_API_AUTH_STRING")
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}


def auth_paths(home: Path) -> tuple[Path, Path]:
    """The credential (``user:token``, what the UI's login and ``PREFECT_API_AUTH_STRING`` take)
    and the same for curl (``--netrc-file``)."""
    home = Path(home).resolve()
    return home / "api-auth", home / "api.netrc"


def _private_file(path: Path, text: str) -> None:
    """Write an owner-only file at once, never through a link."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def api_auth(home: Path) -> str | None:
    """The local server's credential, created on first use; None when auth is off
    (``NESYFLOW_API_AUTH=off``). A credential file that others could read is not used."""
    from flows.settings import get_settings

    if not get_settings().api_auth:
        return None
    home = private_dir(Path(home).resolve())
    path, _ = auth_paths(home)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        _private_file(path, f"{AUTH_USER}:{secrets.token_urlsafe(24)}\n")
        return api_auth(home)
    except OSError as exc:
        raise ServerError(f"{path}: cannot read the API credential ({exc.strerror if exc.errno != errno.ELOOP else 'a link'})") from None
    with os.fdopen(fd) as fh:
        st = os.fstat(fh.fileno())
        text = fh.read().strip()
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise ServerError(f"{path}: the API credential must be the user's own, mode 0600 (it is "
                          f"{oct(st.st_mode & 0o777)}); remove it and a new one is made")
    if ":" not in text or "\n" in text:
        raise ServerError(f"{path}: expected one line user:password; remove it and a new one is made")
    return text


def _write_netrc(home: Path, auth: str, api_url: str) -> None:
    from urllib.parse import urlsplit

    user, password = auth.split(":", 1)
    hosts = {urlsplit(api_url).hostname or LOOPBACK, LOOPBACK, "localhost"}
    _private_file(auth_paths(home)[1], "".join(f"machine {h} login {user} password {password}\n" for h in sorted(hosts)))


def client_env(home: Path, api_url: str) -> dict[str, str]:
    """What a client of ``api_url`` needs when that is this project's own server: its credential
    as ``PREFECT_API_AUTH_STRING``. Another server's URL gets nothing of ours."""
    record = server_record(home)
    if not record.get("auth") or (record.get("api_url") or "").rstrip("/") != api_url.rstrip("/"):
        return {}
    auth = api_auth(home)
    return {"PREFECT_API_AUTH_STRING": auth} if auth else {}


def _auth_as_asked(api_url: str, auth: str | None) -> bool:
    """Does the running server require exactly ``auth`` (or nothing, when None)?"""
    def status(headers: dict[str, str]) -> int:
        req = urllib.request.Request(api_url.rstrip("/") + "/admin/version", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError, ValueError):
            return 0
    if auth is None:
        return status({}) == 200
    return status({}) == 401 and status(_auth_header(auth)) == 200


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    """``/health`` answers (Prefect serves it without auth, for probes)."""
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
    """Loopback is always allowed; any other address only with auth on."""
    from flows.settings import get_settings

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not get_settings().api_auth:
        raise ServerError(f"--host {host} exposes the Prefect server (and every run) beyond this machine, and "
                          "NESYFLOW_API_AUTH is off: turn it on (basic auth with the credential in <home>/api-auth), "
                          "or bind to 127.0.0.1")


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


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on ``port`` (any address), from /proc/net."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    return inodes


def _listens(pid: int, port: int) -> bool:
    """Does the process ``pid`` (or one of its session, which it leads) hold the socket listening
    on ``port``? Another program can bind a port between our check that it is free and our
    server's bind; then ``/health`` on it answers, but not for our server. True when /proc
    cannot tell (not Linux)."""
    inodes = _listening_inodes(port)
    if not Path("/proc/self/fd").is_dir():
        return True
    if not inodes:
        return False
    wanted = {f"socket:[{i}]" for i in inodes}

    def holds(p: int) -> bool:
        try:
            fds = list(Path(f"/proc/{p}/fd").iterdir())
        except OSError:
            return False
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    return True
            except OSError:
                continue
        return False

    if holds(pid):
        return True
    for entry in Path("/proc").iterdir():  # a child of its session (the server leads one)
        if entry.name.isdigit() and entry.name != str(pid):
            try:
                session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3])
            except (OSError, IndexError, ValueError):
                continue
            if session == pid and holds(int(entry.name)):
                return True
    return False


def ensure_server(home: Path, port: int = 4200, wait_s: float = 120.0, host: str = LOOPBACK) -> str:
    """The API URL of a running local server: the recorded one if it answers, else a new one on
    the recorded port (or ``port``, or the next free one after it). A port taken between our
    check and our server's bind (two checkouts starting at once) is given up for the next one."""
    check_host(host)
    home = private_dir(Path(home).resolve())
    auth = api_auth(home)
    record = server_record(home)
    if record.get("api_url") and record.get("pid") and healthy(record["api_url"]):
        if not _listens(int(record["pid"]), int(record.get("port") or 0)):
            _write_record(home, {**record, "pid": None})  # what answers there is another program's
        elif _auth_as_asked(record["api_url"], auth):
            return record["api_url"]
        else:
            stop_server(home)  # started with other auth (before auth was on, say): start it as asked
        record = server_record(home)
    preferred = int(record.get("port") or port)
    deadline = time.monotonic() + wait_s
    for _attempt in range(5):
        chosen = _choose_port(host, preferred)
        proc, api_url = _start(home, host, chosen, auth)
        if _wait_for(proc, api_url, chosen, host, deadline, home / "server.log"):
            _write_record(home, {"api_url": api_url, "pid": proc.pid, "port": chosen, "host": host, "auth": bool(auth)})
            return api_url
        preferred = chosen + 1  # another program bound it first: the next one
    raise ServerError(f"other programs took every port the Prefect server tried, up to {preferred - 1}, before it "
                      f"could bind; set NESYFLOW_SERVER_PORT; see {home / 'server.log'}")


def _start(home: Path, host: str, chosen: int, auth: str | None) -> tuple[subprocess.Popen, str]:
    url_host = LOOPBACK if host in ("0.0.0.0", "::") else host
    api_url = f"http://{url_host}:{chosen}/api"
    env = {**os.environ, **offline_env(home)}
    for key in ("PREFECT_API_URL", "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_AUTH_STRING", "PREFECT_API_KEY"):
        env.pop(key, None)
    if auth:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth
        _write_netrc(home, auth, api_url)
    # The UI asks /ui-settings where the API is; without these it says port 4200 whatever --port is.
    env.update({"PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(chosen), "PREFECT_UI_API_URL": api_url})
    private_dir(home / "prefect")
    with open(home / "server.log", "ab") as log:
        os.chmod(home / "server.log", 0o600)
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(chosen)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
    return proc, api_url


def _wait_for(proc: subprocess.Popen, api_url: str, port: int, host: str, deadline: float, log: Path) -> bool:
    """True once the server just started answers on ``api_url`` from its own socket; False when it
    exited while another program holds its port (what answered there was not ours)."""
    wait_s = max(0.0, deadline - time.monotonic())
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if not _port_free(host, port):
                return False
            raise ServerError(f"the Prefect server exited with code {proc.returncode}; see {log}")
        if healthy(api_url, timeout=1.0) and _listens(proc.pid, port):
            return True
        time.sleep(0.3)
    proc.kill()
    raise ServerError(f"the Prefect server did not answer within {wait_s:.0f} s; see {log}")


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

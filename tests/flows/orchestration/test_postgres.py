"""A Prefect server backed by PostgreSQL (Debian's postgresql), recording a batch.

The test starts a private cluster in a temporary directory (as the postgres user when run as
root), a second Prefect server on it, runs the demo batch against that server and reads the run
back. Skipped where PostgreSQL is not installed; .ci/run installs it.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import unavailable

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture()
def postgres_url():
    pg = _pg_bin()
    if pg is None:
        unavailable("PostgreSQL is not installed (.ci/run installs Debian's postgresql)",
                    "PostgreSQL not installed here (apt-get install postgresql)")
    data = Path(tempfile.mkdtemp(prefix="nesyflow-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    run = lambda cmd: subprocess.run(_as_postgres(cmd), check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
    run([str(pg / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres"])
    run([str(pg / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
         f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"])
    try:
        run([str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "prefect"])
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
    finally:
        subprocess.run(_as_postgres([str(pg / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "stop"]),
                       capture_output=True, timeout=120)
        shutil.rmtree(data, ignore_errors=True)


def test_batch_recorded_by_a_postgres_backed_server(postgres_url, tmp_path):
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_DATABASE_CONNECTION_URL": postgres_url,
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen([sys_exe(), "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=open(tmp_path / "server.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        from flows.orchestration.server import healthy

        deadline = time.monotonic() + 180
        while not healthy(api) and time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            time.sleep(0.5)
        assert healthy(api)
        out = subprocess.run(
            [sys_exe(), "-m", "flows.cli", "batch", str(ROOT / "examples" / "demo.jsonl"), "--solver", "z3",
             "--timeout", "6", "--summary-json", str(tmp_path / "s.json")],
            cwd=ROOT, env={**os.environ, "PREFECT_API_URL": api, "NESYFLOW_HOME": str(tmp_path / "nf")},
            capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        import json
        import urllib.request

        summary = json.loads((tmp_path / "s.json").read_text())
        assert summary["n"] == 15 and summary["correct"] == 14
        with urllib.request.urlopen(f"{api}/flow_runs/{summary['flow_run_id']}") as resp:
            run = json.loads(resp.read())
        assert run["state"]["type"] == "COMPLETED"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)


def sys_exe() -> str:
    import sys

    return sys.executable

"""The local server's basic auth (issue 19): on by default, also on loopback; the explicit opt-out
for a single-user machine; a server running with other auth than asked for is restarted."""

from __future__ import annotations

import base64
import os
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(api: str, auth: str | None = None) -> int:
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(api + "/admin/version", headers=headers), timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def cli(args: list[str], home: Path, **extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING")}
    env.update({"NESYFLOW_HOME": str(home), "XDG_RUNTIME_DIR": str(home.parent), **extra})  # its own fork server, if any
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)


def test_auth_is_on_by_default_the_opt_out_is_explicit_and_a_server_is_restarted_to_match(tmp_path):
    home, port = tmp_path / "home", str(free_port())
    try:
        off = cli(["server", "start"], home, NESYFLOW_API_AUTH="off", NESYFLOW_SERVER_PORT=port)
        assert off.returncode == 0, off.stderr
        api = off.stdout.strip()
        assert status(api) == 200  # opted out: anyone on the machine gets in
        assert not (home / "api-auth").exists()
        shown = cli(["server", "status"], home, NESYFLOW_API_AUTH="off")
        assert "auth: off (NESYFLOW_API_AUTH=off)" in shown.stdout
        assert cli(["server", "status", "--netrc"], home, NESYFLOW_API_AUTH="off").stdout.strip() == os.devnull

        on = cli(["server", "start"], home)  # the default again: the running server is restarted with auth
        assert on.returncode == 0 and on.stdout.strip() == api, on.stderr
        credential = (home / "api-auth").read_text().strip()
        assert credential.startswith("nesyflow:") and len(credential) > 30
        for name in ("api-auth", "api.netrc"):
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
        assert status(api) == 401 and status(api, "nesyflow:wrong") == 401 and status(api, credential) == 200
        assert f"password {credential.split(':', 1)[1]}" in (home / "api.netrc").read_text()
        shown = cli(["server", "status"], home)
        assert f"user:password in {home / 'api-auth'}" in shown.stdout and "curl --netrc-file" in shown.stdout
        netrc = cli(["server", "status", "--netrc"], home).stdout.strip()
        curl = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--netrc-file", netrc,
                               api + "/admin/version"], capture_output=True, text=True, timeout=60)
        assert curl.stdout == "200"
        again = cli(["solve", "--premise", "P(a)", "--conclusion", "P(a)"], home, NESYFLOW_FORKSERVER="0")
        assert again.returncode == 0 and again.stdout.startswith("True"), again.stderr  # the CLI uses the credential
    finally:
        cli(["server", "stop"], home)

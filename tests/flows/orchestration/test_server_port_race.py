"""Two checkouts starting their servers at once both find 4200 free; one binds it, the other's
server exits — and ``/health`` on 4200 still answers, for the first one. The second checkout
must not take that for its own server (its every call was then HTTP 401): it moves on to the
next port. Found by two fresh clones running ``make demo`` at the same time."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

FAKE_SERVER = '''
import base64, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port = int(sys.argv[sys.argv.index("--port") + 1])
auth = os.environ.get("PREFECT_SERVER_API_AUTH_STRING")
want = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path.endswith("/health") or want is None or self.headers.get("Authorization") == want
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
try:
    srv = HTTPServer(("127.0.0.1", port), H)
except OSError:
    sys.exit(1)  # what `prefect server start` does when the port is taken
srv.serve_forever()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str, auth: str) -> int:
    req = urllib.request.Request(url + "/admin/version",
                                 headers={"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_port_taken_between_the_check_and_the_bind_is_not_mistaken_for_our_server(tmp_path, monkeypatch):
    from flows.orchestration import server

    fake = tmp_path / "fake_prefect_server.py"
    fake.write_text(FAKE_SERVER)
    taken = free_port()
    other = subprocess.Popen([sys.executable, str(fake), "--port", str(taken)],
                             env={"PREFECT_SERVER_API_AUTH_STRING": "someone:else"})
    real_popen, real_free = subprocess.Popen, server._port_free
    raced = []

    def popen(args, **kw):  # our "prefect server start" is the fake, with the env and --port it was given
        return real_popen([sys.executable, str(fake), "--port", args[args.index("--port") + 1]], **kw)

    def port_free(host, port):  # the race: the port was free when we looked
        if port == taken and not raced:
            raced.append(port)
            return True
        return real_free(host, port)

    home = tmp_path / "home"
    try:
        deadline = time.monotonic() + 20
        while not server.healthy(f"http://127.0.0.1:{taken}/api") and time.monotonic() < deadline:
            time.sleep(0.1)
        monkeypatch.setattr(server.subprocess, "Popen", popen)
        monkeypatch.setattr(server, "_port_free", port_free)
        monkeypatch.delenv("NESYFLOW_API_AUTH", raising=False)
        url = server.ensure_server(home, port=taken, wait_s=30)
        auth = server.api_auth(home)
        assert raced == [taken]
        assert url != f"http://127.0.0.1:{taken}/api"
        assert status(url, auth) == 200  # our own server, with our credential
        assert server.server_record(home)["port"] != taken
        assert server.ensure_server(home, port=taken, wait_s=30) == url  # and it is reused
    finally:
        server.stop_server(home)
        other.kill()
        other.wait()


def test_a_recorded_port_another_program_now_answers_on_is_not_reused(tmp_path, monkeypatch):
    """The record names a port whose server stopped, and another program serves it now."""
    from flows.orchestration import server

    fake = tmp_path / "fake_prefect_server.py"
    fake.write_text(FAKE_SERVER)
    taken = free_port()
    other = subprocess.Popen([sys.executable, str(fake), "--port", str(taken)], env={})  # no auth: 200 to anyone
    real_popen = subprocess.Popen
    monkeypatch.setattr(server.subprocess, "Popen",
                        lambda args, **kw: real_popen([sys.executable, str(fake), "--port", args[args.index("--port") + 1]], **kw))
    monkeypatch.setenv("NESYFLOW_API_AUTH", "off")
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    dead = real_popen([sys.executable, "-c", "pass"])
    dead.wait()
    (home / "server.json").write_text(f'{{"api_url": "http://127.0.0.1:{taken}/api", "pid": {dead.pid}, "port": {taken}, '
                                      f'"host": "127.0.0.1", "auth": false}}')
    try:
        deadline = time.monotonic() + 20
        while not server.healthy(f"http://127.0.0.1:{taken}/api") and time.monotonic() < deadline:
            time.sleep(0.1)
        url = server.ensure_server(home, port=taken, wait_s=30)
        assert url != f"http://127.0.0.1:{taken}/api"
        assert Path(f"/proc/{server.server_record(home)['pid']}").exists()
    finally:
        server.stop_server(home)
        other.kill()
        other.wait()

"""``nesyflow serve`` as another local user and a hostile REST caller meet it (issue 19).

The serving process runs as root with an API key in its environment. Another uid (``setpriv``)
and a client without the credential get 401 for everything. A client *with* the credential
tries what the issue found: results and summary paths outside, a symlink planted at the run's
results location, ``api_base`` pointing at a listener that records headers, a path to another
user's 0600 file, /dev/zero, a FIFO, a JSON file of keys, ``timeout_s=1e6``, ``samples=10**6`` —
through Prefect's schema (409) and around it (``enforce_parameter_schema: false``, so the flow's
own checks answer). Each is refused with a one-line reason; no file appears outside the run
folders, no key reaches the listener, no file content or key name leaks into the API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rest_api import api, stop_serving

from conftest import unavailable

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[3]
KEY = "sk-nesyflow-serving-users-key-0123456789"
SECRETS = (KEY, "TOPSECRET", "aws_access_key_id", "AKIAEXAMPLEKEY")
GOOD = ("TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is a man.\nFOL:\tMan(Socrates)"
        "\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)")


class Endpoint:
    """An OpenAI-compatible endpoint on 127.0.0.1 that records every request's headers."""

    def __init__(self):
        self.seen: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                   "body": body.decode(errors="replace")})
                reply = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": GOOD}}],
                                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def call(base: str, method: str, path: str, body=None, auth: str | None = None):
    """A REST call with exactly the credential given (None: none)."""
    return api(base, method, path, body, auth=auth)


@pytest.fixture(scope="module")
def served(prefect_api, tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        unavailable("these tests run as root with setpriv (another user's files and uid)",
                    "needs root and setpriv (another user's 0600 file, another uid)")
    auth = os.environ["PREFECT_API_AUTH_STRING"]
    base = tmp_path_factory.mktemp("hostile")
    data, outside, home = base / "data", base / "outside", base / "home"
    for d in (data, outside):
        d.mkdir()
    shutil.copy(ROOT / "examples" / "demo.jsonl", data / "demo.jsonl")
    problem = {"id": "s1", "premises": ["All men are mortal.", "Socrates is a man."], "conclusion": "Socrates is mortal.",
               "answer": "True"}
    (data / "one.jsonl").write_text(json.dumps(problem) + "\n")
    theirs = data / "other-user.jsonl"  # another user's private file, inside a folder the server reads
    theirs.write_text(json.dumps({**problem, "premises": ["TOPSECRET of uid 65534."]}) + "\n")
    os.chown(theirs, 65534, 65534)
    theirs.chmod(0o600)
    (outside / "root-only.jsonl").write_text(json.dumps({**problem, "premises": ["TOPSECRET of root."]}) + "\n")
    (outside / "root-only.jsonl").chmod(0o600)
    (data / "keys.json").write_text(json.dumps({"aws_access_key_id": "AKIAEXAMPLEKEY", "region": "x"}))
    os.mkfifo(data / "fifo.jsonl")
    (data / "zero.jsonl").symlink_to("/dev/zero")
    offered, trap = Endpoint(), Endpoint()
    env = {**os.environ, "NESYFLOW_HOME": str(home), "OPENAI_API_KEY": KEY, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    log = open(base / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--read-root", str(data), "--model", "openai/offered",
                             "--api-base", offered.url], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:  # registered by this serve: model is offered as an enum, nothing beyond the flow's parameters
            code, dep = call(prefect_api, "GET", "/deployments/name/batch/on-demand", auth=auth)
            schema = dep.get("parameter_openapi_schema", {}) if code == 200 else {}
            if {"type": "string", "enum": ["openai/offered"]} in schema.get("properties", {}).get("model", {}).get("anyOf", []):
                break
            assert time.monotonic() < deadline and proc.poll() is None, (base / "serve.log").read_text()[-3000:]
            time.sleep(1)
        assert schema["additionalProperties"] is False
        yield {"api": prefect_api, "auth": auth, "dep": dep["id"], "data": data, "outside": outside, "home": home,
               "offered": offered, "trap": trap, "log": base / "serve.log"}
    finally:
        stop_serving(proc)
        offered.close()
        trap.close()


def runs_of(s, dep_id) -> list[dict]:
    code, runs = call(s["api"], "POST", "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep_id]}}}, s["auth"])
    assert code == 200
    return runs


def test_another_uid_and_an_unauthenticated_client_get_401(served):
    s = served
    before = len(runs_of(s, s["dep"]))
    hostile = {"parameters": {"path": "/etc/shadow", "results_path": "/root/.profile"}}
    probe = f"""
import base64, json, sys, urllib.request, urllib.error
api, dep, home = sys.argv[1:4]
def status(method, path, body=None, auth=None):
    headers = {{"content-type": "application/json"}}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    req = urllib.request.Request(api + path, method=method, headers=headers, data=json.dumps(body).encode() if body else None)
    try:
        return urllib.request.urlopen(req, timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code
try:
    open(home + "/api-auth").read(); cred = "read"
except OSError as e:
    cred = type(e).__name__
print(json.dumps({{"credential": cred,
    "read": status("GET", "/deployments/name/batch/on-demand"),
    "create": status("POST", f"/deployments/{{dep}}/create_flow_run", {json.dumps(hostile)}),
    "runs": status("POST", "/flow_runs/filter", {{}}),
    "guess": status("POST", f"/deployments/{{dep}}/create_flow_run", {json.dumps(hostile)}, auth="nesyflow:guess"),
    "health": status("GET", "/health")}}))
"""
    home = str(Path(os.environ["NESYFLOW_HOME"]))  # the session server's credential lives here
    other = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3", "-c", probe,
                            s["api"], s["dep"], home], capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    seen = json.loads(other.stdout)
    assert seen == {"credential": "PermissionError", "read": 401, "create": 401, "runs": 401, "guess": 401, "health": 200}
    same_uid = subprocess.run([sys.executable, "-c", probe, s["api"], s["dep"], "/nonexistent"], capture_output=True,
                              text=True, timeout=120)
    assert json.loads(same_uid.stdout) | {"credential": None} == {**seen, "credential": None}  # no credential, no entry
    assert len(runs_of(s, s["dep"])) == before, "an unauthenticated call created a flow run"

    # the event stream (every run's events, live) wants the credential too
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    events = s["api"].replace("http://", "ws://") + "/events/out"
    with pytest.raises(InvalidStatus):
        connect(events, open_timeout=30)
    with connect(events, subprotocols=["prefect"], open_timeout=30) as ws:
        ws.send(json.dumps({"type": "auth", "token": "nesyflow:guess"}))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)


def _create(s, params: dict, enforce: bool = True, **extra):
    body = {"parameters": params, **extra}
    if not enforce:
        body["enforce_parameter_schema"] = False
    return call(s["api"], "POST", f"/deployments/{s['dep']}/create_flow_run", body, s["auth"])


def _finished(s, run_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, run = call(s["api"], "GET", f"/flow_runs/{run_id}", auth=s["auth"])
        if code == 200 and run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(1)
    pytest.fail(f"flow run {run_id} did not finish; serve log: {s['log'].read_text()[-3000:]}")


def _said(s, run_id: str) -> str:
    """Everything the API tells a caller about a run: its state, logs and artifacts."""
    _, run = call(s["api"], "GET", f"/flow_runs/{run_id}", auth=s["auth"])
    _, logs = call(s["api"], "POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}}, s["auth"])
    _, arts = call(s["api"], "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}}, s["auth"])
    return json.dumps([run, logs, arts])


def test_hostile_parameters_are_refused_in_one_line_and_touch_nothing(served):
    s = served
    data, outside, trap = s["data"], s["outside"], s["trap"]
    llm = {"parser": "llm", "model": "openai/offered"}
    schema_cases = {  # refused by Prefect at create_flow_run (HTTP 409), and by the flow when the schema is skipped
        "results_path": ({"path": "demo.jsonl", "results_path": str(outside / "profile-snippet.sh")}, "results_path"),
        "summary_path": ({"path": "demo.jsonl", "summary_path": str(outside / "new-dir" / "summary.json")}, "summary_path"),
        "api_base": ({"path": str(data / "one.jsonl"), **llm, "api_base": trap.url}, "api_base"),
        "model": ({"path": str(data / "one.jsonl"), "parser": "llm", "model": "openai/gpt-4o"}, "model"),
        "timeout_s": ({"path": "demo.jsonl", "timeout_s": 1e6}, "timeout_s"),
        "samples": ({"path": "demo.jsonl", "samples": 10**6}, "samples"),
    }
    for name, (params, field) in schema_cases.items():
        params = {**params, "path": str(data / params["path"]) if "/" not in params["path"] else params["path"]}
        code, body = _create(s, params)
        assert code == 409, (name, code, body)
        assert field in body["detail"] and "\n" not in body["detail"], (name, body)

    flow_cases = {  # (parameters, what the one-line reason says); the schema lets these through
        **{f"{n} (schema skipped)": (dict(p, path=str(data / p["path"]) if "/" not in p["path"] else p["path"]), f)
           for n, (p, f) in schema_cases.items()},
        "another user's 0600 file": ({"path": str(data / "other-user.jsonl")}, "private to its owner (uid 65534)"),
        "a root-only file outside": ({"path": str(outside / "root-only.jsonl")}, "outside the folders this server reads"),
        "/dev/zero": ({"path": "/dev/zero"}, "outside the folders this server reads"),
        "a link to /dev/zero": ({"path": str(data / "zero.jsonl")}, "outside the folders this server reads"),
        "a FIFO": ({"path": str(data / "fifo.jsonl")}, "not a regular file"),
        "a file of keys": ({"path": str(data / "keys.json")}, "record 1: cannot tell the format from its keys"),
    }
    started = {}
    for name, (params, _) in flow_cases.items():
        code, run = _create(s, params, enforce="schema skipped" not in name)
        assert code in (200, 201), (name, code, run)
        started[name] = run["id"]
    # A link planted at the results location: the run is created far in the future, the link
    # planted at its folder, then the run is scheduled for now.
    code, run = _create(s, {"path": str(data / "demo.jsonl")},
                        state={"type": "SCHEDULED", "state_details": {
                            "scheduled_time": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()}})
    assert code in (200, 201), run
    planted = outside / "planted"
    planted.mkdir()
    runs_dir = s["home"] / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    runs_dir.chmod(0o700)
    (runs_dir / run["id"]).symlink_to(planted)
    code, _ = call(s["api"], "POST", f"/flow_runs/{run['id']}/set_state",
                   {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": datetime.now(timezone.utc).isoformat()}},
                    "force": True}, s["auth"])
    assert code in (200, 201)
    started["a link planted at the run folder"] = run["id"]
    flow_cases["a link planted at the run folder"] = ({}, "not a directory of the serving user")

    wrong = []
    for name, run_id in started.items():
        final = _finished(s, run_id)
        message = final["state"]["message"] or ""
        leaked = [x for x in SECRETS if x in _said(s, run_id)]
        if (final["state"]["type"] != "FAILED" or flow_cases[name][1] not in message or "\n" in message.strip()
                or leaked):
            wrong.append((name, final["state"]["type"], message, leaked))
    assert not wrong, "\n".join(map(repr, wrong))

    assert sorted(p.name for p in outside.iterdir()) == ["planted", "root-only.jsonl"] and not any(planted.iterdir())
    assert trap.seen == [], "the caller's endpoint was sent a request (and the key)"
    assert not s["offered"].seen, "no refused run may reach even the offered endpoint"
    assert KEY not in s["log"].read_text()


def test_a_served_batch_writes_only_its_own_run_folder_owner_only(served):
    s = served
    code, run = _create(s, {"path": "demo.jsonl", "solver": "z3"})  # relative: to the first folder served
    assert code in (200, 201), run
    code, llm = _create(s, {"path": str(s["data"] / "one.jsonl"), "parser": "llm", "solver": "z3"})
    assert code in (200, 201), llm
    for r in (run, llm):
        final = _finished(s, r["id"])
        assert final["state"]["type"] == "COMPLETED", final["state"]
        folder = s["home"] / "runs" / r["id"]
        assert oct(folder.lstat().st_mode & 0o777) == "0o700"
        assert sorted(p.name for p in folder.iterdir()) == ["results.jsonl", "summary.json"]
        assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {"0o600"}
    summary = json.loads((s["home"] / "runs" / run["id"] / "summary.json").read_text())
    assert summary["n"] == 15 and summary["correct"] == 14
    assert len((s["home"] / "runs" / run["id"] / "results.jsonl").read_text().splitlines()) == 15
    # the operator's model and endpoint: the one place the key may go
    assert json.loads((s["home"] / "runs" / llm["id"] / "summary.json").read_text())["correct"] == 1
    assert s["offered"].seen and s["offered"].seen[0]["headers"].get("authorization") == f"Bearer {KEY}"
    assert s["trap"].seen == []

"""``nesyflow serve`` as an operator runs it (issue 20): options that configure the scheduled batch,
REST ``reason`` runs with repeated parameters, their names and JSON verdicts, and ``kill -TERM``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_api import api, wait_for

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[3]



def descendants(pid: int) -> set[int]:
    """Live processes below ``pid`` (from /proc: parent links), zombies left out."""
    parent, state = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parent[int(stat.parent.name)], state[int(stat.parent.name)] = int(fields[1]), fields[0]
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier and p not in out}
        out |= frontier
    return {p for p in out if state.get(p) not in ("Z", "X")}


def alive(pids: set[int]) -> set[int]:
    left = set()
    for p in pids:
        try:
            if Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                left.add(p)
        except (OSError, IndexError):
            pass
    return left


def final_state(base, run_id, timeout=240):
    return wait_for(lambda: (lambda r: r[1]["state"] if r[1]["state"]["type"] not in ("SCHEDULED", "PENDING", "RUNNING")
                             else None)(api(base, "GET", f"/flow_runs/{run_id}")), timeout, f"flow run {run_id} to end")


def test_the_serving_child_does_not_outlive_a_killed_serve(prefect_api, tmp_path):
    """``kill -9`` of ``nesyflow serve`` (no clean-up runs) left its serving child polling the
    server: runs meant for the next ``serve`` went to the orphan, which read them with the old
    policy. The child now dies with its parent. (First in the module: before ``serving`` starts.)"""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_RUNNER_POLL_FREQUENCY"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--parser", "gold"], cwd=ROOT, env=env,
                            stdout=open(tmp_path / "serve.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    child = set()
    try:
        def cmdline(pid: int) -> bytes:
            try:
                return Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                return b""

        def serving_child():
            found = {p for p in descendants(proc.pid) if b"flows.orchestration.serve" in cmdline(p)}
            return found if found and api(prefect_api, "GET", "/deployments/name/reason/reason")[0] == 200 else None

        child = wait_for(serving_child, 180, "serve to start its serving child")
        os.kill(proc.pid, signal.SIGKILL)  # the supervisor only, as the kernel's OOM killer or `kill -9 <pid>` would
        proc.wait(timeout=30)
        wait_for(lambda: not alive(child), 30, f"the serving child {child} to end with its parent")
    finally:
        for p in alive(child):
            os.kill(p, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def serving(prefect_api, tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # the README's line: the recorded server
    env["PREFECT_RUNNER_POLL_FREQUENCY"] = "1"
    log = open(tmp_path_factory.mktemp("serve") / "serve.log", "w")
    data = tmp_path_factory.mktemp("served-data")  # a served run reads datasets only under a --read-root
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--dataset", str(ROOT / "examples" / "demo.jsonl"),
                             "--cron", "0 3 * * *", "--parser", "gold", "--timeout", "5", "--language", "fol",
                             "--api-base", "http://127.0.0.1:9/v1", "--read-root", str(ROOT), "--read-root", str(data)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def scheduled():
        code, dep = api(prefect_api, "GET", "/deployments/name/batch/scheduled")
        return dep if code == 200 and dep["parameters"].get("timeout_s") == 5.0 else None

    try:
        dep = wait_for(scheduled, 180, "serve to register batch/scheduled with its options")
        wait_for(lambda: api(prefect_api, "GET", "/deployments/name/reason/reason")[0] == 200, 60, "reason/reason")
        yield prefect_api, proc, dep, data
    finally:
        below = descendants(proc.pid)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for p in alive(below):
            os.kill(p, signal.SIGKILL)


def test_serve_options_reach_the_scheduled_batch(serving):
    _, _, dep, _ = serving
    p = dep["parameters"]
    assert (p["timeout_s"], p["language"], p["api_base"], p["parser"]) == (5.0, "fol", "http://127.0.0.1:9/v1", "gold")


def test_rest_reason_with_repeated_parameters_named_with_a_json_verdict(serving):
    """The second run reads the problem back from the store: it used to end Failed (too many
    values to unpack). Each run is named by its problem; the verdict is JSON (the reason-result
    artifact, and the flow's result), not only markdown."""
    base, _, _, _ = serving
    _, dep = api(base, "GET", "/deployments/name/reason/reason")
    params = {"premises": ["all x. (Bird(x) -> Animal(x))", "Bird(tweety)"], "conclusion": "Animal(tweety)"}
    runs = []
    for key in ("repeat-1", "repeat-2"):
        code, run = api(base, "POST", f"/deployments/{dep['id']}/create_flow_run",
                        {"parameters": params, "idempotency_key": f"{key}-{time.time()}"})
        assert code in (200, 201), run
        runs.append(run["id"])
        state = final_state(base, run["id"])
        assert state["type"] == "COMPLETED", (key, state)
    for run_id in runs:
        _, run = api(base, "GET", f"/flow_runs/{run_id}")
        assert run["name"] == "reason: Animal(tweety)"
        assert run["state"]["data"]["serializer"]["type"] == "json"  # the flow's result, kept as JSON
        _, arts = api(base, "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
        (row,) = json.loads(next(a for a in arts if a["key"] == "reason-result")["data"])
        assert (row["status"], row["predicted"], row["used_premises"]) == ("True", "True", [0, 1])


def test_kill_term_stops_serve_and_the_runs_it_started(serving):
    """``kill -TERM`` of ``nesyflow serve`` used to leave its serving child running as an orphan,
    which went on executing flow runs."""
    base, proc, _, served_data = serving
    rows = [{"id": f"slow{i:03d}", "kind": "math", "question": f"q{i}", "answer": str(i),
             "formal": {"language": "python", "premises": [f"import time\ntime.sleep(0.5)\nanswer = {i}\n"], "conclusion": ""}}
            for i in range(60)]
    data = served_data / "slow.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, dep = api(base, "GET", "/deployments/name/batch/on-demand")
    code, run = api(base, "POST", f"/deployments/{dep['id']}/create_flow_run",
                    {"parameters": {"path": str(data), "concurrency": 1}, "idempotency_key": f"term-{time.time()}"})
    assert code in (200, 201), run
    wait_for(lambda: api(base, "GET", f"/flow_runs/{run['id']}")[1]["state"]["type"] == "RUNNING", 180, "the batch to run")
    below = descendants(proc.pid)
    assert len(below) >= 2, "the serving child and the flow run's process"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    wait_for(lambda: not alive(below), 30, f"processes {alive(below)} that serve started to end")
    assert final_state(base, run["id"], timeout=60)["type"] in ("CANCELLED", "CRASHED")

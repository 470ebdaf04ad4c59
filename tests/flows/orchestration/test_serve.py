"""Deployments served against a real Prefect server, triggered over HTTP (marker ``prefect``)."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_api import api, stop_serving, wait_for

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[3]



@pytest.fixture()
def served(prefect_api, tmp_path):
    # The README's line as a user types it: no PREFECT_API_URL, so the CLI finds the local server it
    # recorded (here the session's). Importing Prefect before that was set once registered the
    # deployments on a hidden ephemeral server.
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_RUNNER_POLL_FREQUENCY"] = "1"
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--dataset", str(ROOT / "examples" / "demo.jsonl"),
                             "--cron", "0 3 * * *", "--parser", "gold"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def registered(name):
            return wait_for(lambda: (lambda r: r[1] if r[0] == 200 else None)(api(prefect_api, "GET", f"/deployments/name/{name}")),
                            120, f"the {name} deployment")

        dep = registered("reason/reason")
        registered("batch/scheduled")  # serve registers them one after another
        yield prefect_api, dep
    finally:
        stop_serving(proc)


def test_trigger_over_http_idempotent_and_validated(served):
    base, dep = served
    code, sched = api(base, "GET", "/deployments/name/batch/scheduled")
    assert code == 200 and sched["schedules"][0]["schedule"]["cron"] == "0 3 * * *"
    assert sched["parameters"]["path"].endswith("examples/demo.jsonl")

    body = {"parameters": {"premises": ["all x. (Man(x) -> Mortal(x))", "Man(socrates)"], "conclusion": "Mortal(socrates)",
                           "problem_id": "http-socrates"}, "idempotency_key": "test-socrates-1"}
    t0 = time.monotonic()
    code, run = api(base, "POST", f"/deployments/{dep['id']}/create_flow_run", body)
    assert code in (200, 201), (code, run)
    code, again = api(base, "POST", f"/deployments/{dep['id']}/create_flow_run", body)
    assert code in (200, 201), (code, again)
    assert again["id"] == run["id"], "a repeated idempotency key must not make a second run"

    code, bad = api(base, "POST", f"/deployments/{dep['id']}/create_flow_run",
                    {"parameters": {"premises": "not a list", "conclusion": "x"}})
    assert code == 409 and "premises" in bad["detail"] and "not of type 'array'" in bad["detail"]

    final = wait_for(lambda: (lambda r: r[1] if r[1]["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") else None)(
        api(base, "GET", f"/flow_runs/{run['id']}")), 180, "the triggered run to finish")
    elapsed = time.monotonic() - t0
    assert final["state"]["type"] == "COMPLETED", final["state"]
    code, arts = api(base, "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
    verdict = next(a for a in arts if a["key"] == "reason-verdict")
    assert verdict["data"].startswith("**True**")
    print(f"\nHTTP-triggered run {run['id']} completed {elapsed:.1f} s after the trigger")
    (ROOT / ".nesyflow").mkdir(exist_ok=True)
    (ROOT / ".nesyflow" / "last-http-run.json").write_text(json.dumps({"flow_run_id": run["id"], "seconds": round(elapsed, 2)}))


def test_scheduled_deployment_triggered_the_readme_way_completes(served):
    """README: the API URL from `nesyflow server status --url`, then POST create_flow_run."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    status = subprocess.run([sys.executable, "-m", "flows.cli", "server", "status", "--url"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    base = status.stdout.strip()
    assert status.returncode == 0 and base == served[0]
    code, dep = api(base, "GET", "/deployments/name/batch/scheduled")
    assert code == 200
    code, run = api(base, "POST", f"/deployments/{dep['id']}/create_flow_run", {"idempotency_key": f"sched-{time.time()}"})
    assert code in (200, 201), run
    final = wait_for(lambda: (lambda r: r[1] if r[1]["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") else None)(
        api(base, "GET", f"/flow_runs/{run['id']}")), 240, "the scheduled batch to finish")
    assert final["state"]["type"] == "COMPLETED", final["state"]
    code, arts = api(base, "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
    summary = next(a for a in arts if a["key"] == "batch-summary")
    assert "| accuracy | 93.3 % |" in summary["data"]


def test_the_readme_rest_example_works_verbatim_with_auth_on(served):
    """README, "Trigger from outside": the block as printed, in bash, from the checkout, with
    nothing in the environment but what a user's shell has (no API URL, no credential)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Trigger from outside**"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    assert "--netrc-file" in block and "create_flow_run" in block
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    out = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    assert run.get("parameters", {}).get("conclusion") == "Mortal(socrates)", run
    base = served[0]
    final = wait_for(lambda: (lambda r: r[1] if r[1]["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") else None)(
        api(base, "GET", f"/flow_runs/{run['id']}")), 180, "the README's run to finish")
    assert final["state"]["type"] == "COMPLETED", final["state"]
    code, arts = api(base, "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
    assert next(a for a in arts if a["key"] == "reason-verdict")["data"].startswith("**True**")
    # the README's next block, in the same shell (API, NETRC), its RUN=... placeholder filled in
    after = section[section.index(block) + len(block):]
    fetch = re.search(r"```bash\n(.*?)```", after, re.S).group(1)
    assert "RUN=..." in fetch and "reason-result" in fetch
    head = "\n".join(line for line in block.splitlines() if line.startswith(("API=", "NETRC=")))
    script = head + "\n" + fetch.replace("RUN=...", f"RUN={run['id']}")
    out = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "'predicted': 'True'" in out.stdout and "'status': 'True'" in out.stdout, out.stdout
    # the same calls without the credential are refused
    bare = subprocess.run(["bash", "-c", "curl -s -o /dev/null -w '%{http_code}' $(.venv/bin/nesyflow server status --url)"
                           "/deployments/name/reason/reason"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bare.stdout == "401", bare

"""The Prefect UI in a real browser: a batch's run page, task graph and artifacts render.

Headless Debian Chromium (installed by .ci/run) loads the V2 flow-run page of a batch run on the
session's server; the assertions read the rendered DOM, and the screenshot is kept under
.nesyflow/test-artifacts/.
"""

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import unavailable

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[3]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--window-size=1400,1000", "--virtual-time-budget=30000"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("chromium is not installed (.ci/run installs Debian's chromium)",
                    "chromium not installed here (apt-get install chromium); CI installs it")
    return path


def render(url: str, *extra: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
                             capture_output=True, text=True, timeout=180)
    return out.stdout


def text_of(dom: str) -> str:
    dom = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_run_page_task_graph_and_artifacts_render(prefect_api, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter

    from flows.orchestration.batch import drain, run_batch
    from flows.orchestration.server import ui_url

    report = run_batch(path=str(ROOT / "examples" / "demo.jsonl"), concurrency=2, chunk_size=4, solver="z3",
                       dataset_name="ui-demo")
    drain()
    run_id = report.summary.flow_run_id
    with get_client(sync_client=True) as client:  # the server records task runs a little behind the client
        for _ in range(120):
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [run_id]}))
            if len(runs) == 4 and all(r.state_name == "Completed" for r in runs):
                break
            time.sleep(0.5)

    url = ui_url(prefect_api, run_id)
    assert url.endswith(f"/v2/runs/flow-run/{run_id}")
    dom = render(url, "--dump-dom")
    page = text_of(dom)
    assert "batch ui-demo [gold]" in page and "Completed" in page
    assert "4 Task runs" in page  # one per chunk of four problems
    assert "<canvas" in dom, "the task graph is drawn on a canvas"
    assert "demo-socrates → True (label True)" in page  # a chunk's log: each problem and its stages
    assert "solve: z3 → True" in page

    arts = text_of(render(url + "?tab=Artifacts", "--dump-dom"))
    for key in ("batch-summary", "batch-results", "batch-chart"):
        assert key in arts

    shots = ROOT / ".nesyflow" / "test-artifacts"
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "ui-flow-run.png"
    shot.unlink(missing_ok=True)
    render(url, f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000, "a rendered page, not a blank one"

"""The Prefect UI in a real browser: a person logs in, then a batch's run page, task graph and
artifacts render.

The API requires basic auth (the credential nesyflow made, ``<home>/api-auth``), so the UI first
shows its login page. Headless Debian Chromium (installed by .ci/run) is driven over the DevTools
protocol: the test types the credential into that page as a person pastes it, then loads the V2
flow-run page of a batch run on the session's server; the assertions read the rendered DOM, and
the screenshot is kept under .nesyflow/test-artifacts/.
"""

import base64
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import unavailable

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

from _browser import browser as _browser, log_in  # noqa: E402  (one DevTools driver for this test and the growth bench)

pytestmark = pytest.mark.prefect


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("chromium is not installed (.ci/run installs Debian's chromium)",
                    "chromium not installed here (apt-get install chromium); CI installs it")
    return path


def browser():
    return _browser(chromium())


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
    credential = (Path(os.environ["NESYFLOW_HOME"]) / "api-auth").read_text().strip()
    with browser() as page:
        page.open(url)  # not logged in: the login page, and nothing of the run
        page.wait("!!document.querySelector('input[type=password]')", "the UI's login page")
        assert "demo-socrates" not in page.text()

        log_in(page, url, credential)
        page.open(url)
        page.wait("document.body.textContent.includes('solve: z3 → True')", "the run page with its chunks' logs")
        page.wait("document.body.textContent.includes('4 Task runs')", "the task-run count")
        page.wait("!!document.querySelector('canvas')", "the task graph, drawn on a canvas after the page's text")
        text = page.text()
        dom = page.js("document.documentElement.outerHTML")
        assert "batch ui-demo [gold]" in text and "Completed" in text
        assert "4 Task runs" in text  # one per chunk of four problems
        assert "<canvas" in dom, "the task graph is drawn on a canvas"
        assert "demo-socrates → True (label True)" in text  # a chunk's log: each problem and its stages

        page.open(url + "?tab=Artifacts")
        page.wait("document.body.textContent.includes('batch-chart')", "the artifacts tab")
        arts = page.text()
        for key in ("batch-summary", "batch-results", "batch-chart"):
            assert key in arts

        page.open(url)
        page.wait("document.body.textContent.includes('solve: z3 → True')", "the run page again")
        shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    shots = ROOT / ".nesyflow" / "test-artifacts"
    shots.mkdir(parents=True, exist_ok=True)
    (shots / "ui-flow-run.png").write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 30_000, "a rendered page, not a blank one"

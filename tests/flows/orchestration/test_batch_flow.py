"""The flows against the real Prefect server the session starts (marker ``prefect``)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from solvers.process import spawn_count

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "examples" / "demo.jsonl"


def task_runs(flow_run_id, expect: int, states: set[str], wait_s: float = 60):
    """The flow run's task runs once the server has recorded ``expect`` of them in ``states``:
    the server records task runs from events, a few seconds behind the client."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter

    deadline = time.monotonic() + wait_s
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}))
            if (len(runs) >= expect and {r.state_name for r in runs} <= states) or time.monotonic() > deadline:
                return runs
            time.sleep(0.5)


def artifact_keys(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id={"any_": [flow_run_id]}))
    return {a.key: a for a in arts}


def test_batch_on_demo_then_rerun_is_fully_cached(prefect_api, tmp_path):
    from flows.orchestration.batch import run_batch

    progress = []
    first = run_batch(path=str(DEMO), concurrency=2, chunk_size=4, results_path=str(tmp_path / "r.jsonl"),
                      summary_path=str(tmp_path / "s.json"), progress=lambda done, total: progress.append((done, total)))
    s = first.summary
    assert (s.n, s.correct, s.errors, s.contradictory, s.undetermined) == (15, 14, 1, 1, 0)
    assert s.exe_rate == round(14 / 15, 4) and s.exe_acc == 1.0 and s.accuracy == round(14 / 15, 4)
    assert progress[-1] == (15, 15) and len(progress) == 15  # one step per problem, as each finishes

    lines = [json.loads(l) for l in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [l["id"] for l in lines] == [r.id for r in first.results]
    assert set(lines[0]) >= {"id", "gold", "predicted", "status", "solver", "samples", "repair_rounds", "error"}
    summary_file = json.loads((tmp_path / "s.json").read_text())
    for key in ("n", "correct", "accuracy", "decided", "exe_rate", "exe_acc", "errors", "undetermined", "llm_calls",
                "prompt_tokens", "completion_tokens", "cost_usd", "wall_s"):
        assert key in summary_file

    runs = task_runs(s.flow_run_id, expect=4, states={"Completed"})
    assert len(runs) == 4  # four chunks of four problems: one task run each, whatever the stages inside
    assert {r.state_name for r in runs} == {"Completed"}
    assert sorted(r.name for r in runs)[0] == "problems[demo-contradiction..demo-equality]" or all(
        r.name.startswith("problems[") for r in runs)
    arts = artifact_keys(s.flow_run_id)
    assert {"batch-summary", "batch-results", "batch-chart"} <= set(arts)
    assert "| accuracy | 93.3 % |" in arts["batch-summary"].data
    table = json.loads(arts["batch-results"].data)
    assert {"formalize", "check", "solve", "vote"} <= set(table[0]) and table[0]["check"] == "ok"

    before = spawn_count()
    second = run_batch(path=str(DEMO), concurrency=2, chunk_size=4)
    assert spawn_count() == before, "a cached rerun must start no solver process"
    assert second.summary.cached_problems == 15
    rerun = task_runs(second.summary.flow_run_id, expect=4, states={"Cached"})
    assert len(rerun) == 4 and {r.state_name for r in rerun} == {"Cached"}
    assert [r.model_dump() for r in second.results] == [r.model_dump() for r in first.results]


def flow_logs(flow_run_id, contains: str, wait_s: float = 60) -> list[str]:
    """The flow run's log messages once one holds ``contains`` (the server takes logs in batches)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter

    deadline = time.monotonic() + wait_s
    with get_client(sync_client=True) as client:
        while True:
            logs = [log.message for log in client.read_logs(log_filter=LogFilter(flow_run_id={"any_": [flow_run_id]}))]
            if any(contains in m for m in logs) or time.monotonic() > deadline:
                return logs
            time.sleep(0.5)


def test_a_rerun_the_store_answers_is_one_task_run_whose_log_lists_every_problem(prefect_api, tmp_path):
    from flows.orchestration.batch import run_batch

    data = tmp_path / "many.jsonl"
    with data.open("w") as fh:
        for i in range(120):
            formal = {"language": "fol", "premises": [f"Q{i}(a)"], "conclusion": f"Q{i}(a)"}
            fh.write(json.dumps({"id": f"whole{i}", "premises": ["p"], "conclusion": "c", "answer": "True",
                                 "formal": formal}) + "\n")
    first = run_batch(path=str(data), concurrency=2, solver="z3")
    assert first.summary.correct == 120
    assert len(task_runs(first.summary.flow_run_id, expect=4, states={"Completed"})) == 4  # automatic: 30 a chunk
    second = run_batch(path=str(data), concurrency=2, solver="z3")
    assert second.summary.cached_problems == 120
    (run,) = task_runs(second.summary.flow_run_id, expect=1, states={"Cached"})
    assert run.name == "problems[whole0..whole119]"
    logs = flow_logs(second.summary.flow_run_id, "problems 101-120 of 120")
    listed = [m for m in logs if " of 120\n" in m]
    assert [m.split("\n")[0] for m in listed] == ["problems 1-50 of 120", "problems 51-100 of 120", "problems 101-120 of 120"]
    assert all(f"whole{i} → True (label True) [from the store]" in "\n".join(listed) for i in range(120))
    assert [r.model_dump() for r in second.results] == [r.model_dump() for r in first.results]


def test_reason_flow_decides_one_problem(prefect_api):
    from flows.orchestration.batch import run_reason

    result = run_reason(premises=["all x. (Man(x) -> Mortal(x))", "Man(socrates)"], conclusion="Mortal(socrates)",
                        solver="z3", problem_id="socrates")
    assert result.status == "True" and result.used_premises == [0, 1]


def test_cli_batch_end_to_end(prefect_api, tmp_path):
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    out = subprocess.run(
        [sys.executable, "-m", "flows.cli", "batch", str(DEMO), "--solver", "eprover", "--limit", "5",
         "--summary-json", str(tmp_path / "s.json")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "correct       5  (100.0 %)" in out.stdout
    assert "Prefect UI: http://127.0.0.1:" in out.stdout
    assert json.loads((tmp_path / "s.json").read_text())["n"] == 5


def test_a_finished_chunk_leaves_nothing_behind_in_the_flow_run(prefect_api):
    """What Prefect keeps per task run for the flow's lifetime (results' states, the asset set, the
    thread pool's cancel event) grew 1.6 KB a chunk: 32 MB over a million-problem batch. The control
    half (kept, not dropped) fails if Prefect stops keeping them, or keeps them somewhere else."""
    from prefect import flow, task
    from prefect.context import FlowRunContext
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.orchestration.batch import _unlink

    @task(persist_result=False)
    def chunk(i: int) -> list[dict]:
        return [{"i": i}]

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2), persist_result=False)
    def kept_and_dropped() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        ctx = FlowRunContext.get()
        sizes = lambda: (len(ctx.run_results), len(ctx.task_run_assets), len(ctx.task_runner._cancel_events))  # noqa: E731
        futures = [chunk.submit(i) for i in range(6)]
        results = [(f.result(), f.task_run_id) for f in futures]
        kept = sizes()
        for result, run_id in results:
            _unlink(result, run_id)
        return kept, sizes()

    kept, dropped = kept_and_dropped()
    assert kept[1:] == (6, 6) and kept[0] >= 6
    assert dropped == (0, 0, 0)

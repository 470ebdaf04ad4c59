"""The batch flow unchanged on a Dask LocalCluster (prefect-dask): same summary as threads."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.prefect
DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo.jsonl"
VOLATILE = {"wall_s", "flow_run_id", "ui_url"}


def test_dask_summary_equals_thread_pool_summary(prefect_api):
    from flows.orchestration.batch import run_batch
    from solvers.process import spawn_count

    # different timeouts → different cache keys: both runs compute, neither reads the other's results
    threads = run_batch(path=str(DEMO), concurrency=2, timeout_s=9, solver="portfolio")
    before = spawn_count()
    dask = run_batch(path=str(DEMO), concurrency=2, timeout_s=8, solver="portfolio", task_runner="dask")
    assert spawn_count() == before, "the solvers ran in the Dask workers, not in this process"
    a = threads.summary.model_dump(exclude=VOLATILE)
    b = dask.summary.model_dump(exclude=VOLATILE)
    assert a == b and a["n"] == 15 and a["correct"] == 14
    assert [r.predicted for r in threads.results] == [r.predicted for r in dask.results]

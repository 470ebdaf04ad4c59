"""The engine in worker processes (``flows.engine.pool.EnginePool``): the same records as an in-process
engine, problems handed to whichever worker has room, and a worker that dies costs only the
problems it held — the rest of the batch goes to the others."""

from __future__ import annotations

import time
from pathlib import Path

from flows.datasets import load_problems
from flows.engine.core import Engine
from flows.engine.pool import EnginePool
from flows.engine.runs import BatchParams, _config
from flows.models import Problem, RunConfig
from flows.store import Store

ROOT = Path(__file__).resolve().parents[3]


def gold_config(problems: list[Problem]) -> RunConfig:
    return _config(BatchParams(path="x", parser="gold", solver="portfolio"), problems)


def test_workers_give_the_in_process_engines_records(tmp_path):
    problems = load_problems(str(ROOT / "examples" / "demo.jsonl"), "auto")
    cfg = gold_config(problems)
    pool = EnginePool(cfg, str(tmp_path / "a"), concurrency=2, processes=2)
    pool.submit(problems)
    pooled = pool.records([p.id for p in problems], timeout=120)
    pool.close()
    engine = Engine(cfg, Store(tmp_path / "b"), concurrency=2)
    engine.submit(problems)
    local = engine.records([p.id for p in problems], timeout=120)
    engine.close()
    assert [(r.result.id, r.result.status, r.result.predicted) for r in pooled] == \
           [(r.result.id, r.result.status, r.result.predicted) for r in local]
    assert pool.stats["computed"] == len(problems)


def sleepers(n: int, seconds: float = 0.3) -> list[Problem]:
    from flows.models import Formal

    return [Problem(id=f"s{i:02d}", kind="math", question=f"q{i}", answer=str(i),
                    formal=Formal(language="python", premises=[f"import time\ntime.sleep({seconds})\nanswer = {i}\n"],
                                  conclusion="")) for i in range(n)]


def test_a_dead_worker_costs_only_what_it_held_and_the_rest_goes_on(tmp_path):
    problems = sleepers(16)
    cfg = gold_config(problems)
    pool = EnginePool(cfg, str(tmp_path), concurrency=1, processes=2)
    pool.submit(problems)
    deadline = time.monotonic() + 120
    while pool.stats["computed"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    victim = pool._workers[0]
    held = set(victim.pending)
    assert 0 < len(held) <= pool._cap  # it never held the whole batch: the rest waited for room
    victim.proc.kill()
    records = {r.result.id: r.result for r in pool.records([p.id for p in problems], timeout=180)}
    pool.close()
    errors = {pid for pid, r in records.items() if r.status == "error"}
    assert errors and errors <= held, (errors, held)
    assert all("engine process 0 ended" in records[pid].error for pid in errors)
    assert all(r.predicted == r.gold for pid, r in records.items() if pid not in errors)
    assert len(records) - len(errors) >= 16 - pool._cap

"""An engine process: ``python -m flows.engine.worker``, driven by ``flows.engine.pool.EnginePool``.

It runs an ``Engine`` over the problems it is sent and answers with their records, as JSON lines
on stdin/stdout (validated by their pydantic models on both ends; no pickles):

    → {"config": RunConfig, "store": path, "concurrency": C, "verbose": bool}    once
    → {"problems": [Problem, ...]}                                               any number of times
    ← {"id": problem id, "record": ProblemRecord}                                as each finishes
    ← {"log": text}                                                              internal errors

The process dies with its parent (``PR_SET_PDEATHSIG``), so a killed CLI leaves no engine behind;
what it finished is already in the store. No Prefect here.
"""

from __future__ import annotations

import json
import sys
import threading

from flows.lifetime import die_with_parent

__all__ = ["main"]


def main() -> None:
    die_with_parent()
    from flows.engine.core import Engine
    from flows.llm.factory import make_client
    from flows.models import Problem, ProblemRecord, RunConfig
    from flows.store import Store

    out_lock = threading.Lock()

    def emit(obj: dict) -> None:
        line = json.dumps(obj, ensure_ascii=False)
        with out_lock:
            try:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            except (BrokenPipeError, OSError):  # the parent is gone
                import os

                os._exit(0)

    def on_record(pid: str, record: ProblemRecord) -> None:
        emit({"id": pid, "record": json.loads(record.model_dump_json())})
        engine.release([pid])  # sent: this process holds its window, not every problem of the batch

    header_line = sys.stdin.readline()  # a prespawned worker waits here with its imports done
    if not header_line:
        return
    header = json.loads(header_line)
    cfg = RunConfig.model_validate(header["config"])
    concurrency = int(header["concurrency"])
    engine = Engine(cfg, Store(header["store"]), concurrency=concurrency, workers=header.get("threads"),
                    client=make_client(cfg, concurrency, verbose=bool(header.get("verbose"))),
                    on_record=on_record, log=lambda text: emit({"log": text}))
    for line in sys.stdin:
        if not line.strip():
            continue
        problems = [Problem.model_validate(p) for p in json.loads(line)["problems"]]
        if hasattr(engine.client, "add"):  # replay: serve the completions that came with the problems
            engine.client.add(cfg.model, problems)
        engine.submit(problems)
    # stdin closed: the parent has sent everything; finish what was submitted, then leave
    for fut in list(engine._futures.values()):
        try:
            fut.result()
        except Exception:
            pass
    sys.stdout.flush()


if __name__ == "__main__":
    main()

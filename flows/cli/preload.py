"""What the fork server imports (and builds) once, before it serves: everything a batch or a
solve would import and build on first use, so each forked child starts computing at once.
Code only: nothing here reads settings or data (``flows.cli.forkserver``).
"""

from __future__ import annotations

__all__ = ["preload", "complete_models"]

# What a batch's flow run imports on its way (measured: 139 modules, ~0.2 s), beyond ``preload``'s
# own imports. A module missing from another Prefect version is skipped.
_LAZY = ("prefect.engine", "prefect.flow_engine", "prefect.task_engine", "prefect.utilities.visualization",
         "prefect.telemetry.run_telemetry", "prefect._internal.control_listener", "prefect._internal.attempt_control",
         "prefect._internal.metrics", "prefect.concurrency.v1.context", "prefect.concurrency.context",
         "prefect.artifacts", "prefect.events.worker", "prefect.logging.handlers", "fastapi.encoders",
         "anyio._backends._asyncio", "encodings.idna", "flows.llm.replay")


def preload() -> None:
    """Import what a batch or a solve imports. Code only: nothing here reads settings or data."""
    import importlib

    from flows.cli import commands  # noqa: F401
    from flows.engine import core, pipeline, pool, worker  # noqa: F401
    from flows.orchestration import batch, recovery, report, server, supervise  # noqa: F401

    for name in _LAZY:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    complete_models()
    # Built on first use otherwise, in the child and again in each engine worker (~60 ms before a
    # worker's first answer): the FOL grammar's parse tables, the prompt templates, the code hash.
    import prompts
    from parsers.fol.reader import parse_formula

    from flows.store import code_version

    parse_formula("P(a)")
    # The English parser's dictionary (lemminflect's tables and numpy: ~0.8 s, ~50 MB shared by the children).
    from parsers.lemmas import noun_lemmas

    noun_lemmas("men")
    prompts.compile_all()
    code_version()
    # Prefect's settings models cost ~0.1 s the first time they are built, ~0.02 s after: build
    # them once here (from this process's environment, then dropped; a child builds its own).
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
    with batch.quiet_heartbeat():
        pass
    batch.batch_flow("threads", 1)  # the CLI's flow object, built once for every child


def complete_models() -> None:
    """Build the validators pydantic defers to a model's first use (Prefect's client schemas:
    ~0.1 s of every flow run otherwise), so each child does not build them again."""
    import pydantic

    seen: set[type] = set()
    todo = [pydantic.BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    for cls in seen:
        if not getattr(cls, "__pydantic_complete__", True) or type(getattr(cls, "__pydantic_validator__", None)).__name__ == "MockValSer":
            try:
                cls.model_rebuild(raise_errors=False)
            except Exception:  # noqa: BLE001 - a model that cannot be built now is built on first use, as before
                pass

"""Problems through their stages, concurrently, without Prefect (DESIGN.md §2).

``pipeline`` (formalize → check → solve → vote, as plain functions), ``dialogue`` (one problem
through an LLM: samples, repair), ``checks`` and ``languages``; ``core.Engine`` runs them in this
process, ``pool.EnginePool`` in ``worker`` processes (``prespawn`` starts them early); ``runs``
prepares a batch and ``outputs`` writes its files. Nothing here imports Prefect.

The two rules below are here, not in ``runs``, because the entry point (``flows.cli.launch``)
applies them before anything heavy is imported, to start the engine processes a batch will use.
"""

import os

__all__ = ["LLM_PARSERS", "default_processes"]

LLM_PARSERS = ("llm", "replay")


def default_processes(parser: str) -> int:
    """Engine processes when the CLI runs a batch: one for deterministic parsers (it leaves this
    process to Prefect), one per core for LLM parsers (litellm and parsing are CPU-bound)."""
    return (os.cpu_count() or 2) if parser in LLM_PARSERS else 1

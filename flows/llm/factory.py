"""The client a run's parser needs: recordings for ``replay``, litellm for ``llm``, none otherwise.

Here, not in ``flows.engine.runs``, so an engine worker process can build its client without
importing the batch preparation that starts engine processes.
"""

from __future__ import annotations

from flows.models import Problem, RunConfig

__all__ = ["make_client"]


def make_client(cfg: RunConfig, concurrency: int, problems: list[Problem] | None = None, verbose: bool = False):
    if cfg.parser == "replay":
        from flows.llm.replay import ReplayClient

        client = ReplayClient()
        if problems is not None:
            client.add(cfg.model, problems)
        return client
    if cfg.parser == "llm":
        from flows.llm.clients import LiteLLMClient

        return LiteLLMClient(concurrency=concurrency, verbose=verbose)
    return None

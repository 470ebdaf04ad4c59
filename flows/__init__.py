"""The Prefect-aware layer: the flows, their engine, where completions come from, and the CLI.

    engine/         problems through their stages without Prefect: pipeline, LLM dialogue,
                    checks, the in-process engine and its worker processes, a batch's files
    llm/            where completions come from: litellm, replayed recordings, test doubles
    orchestration/  Prefect: the batch and reason flows, their task, reports and artifacts,
                    deployments, the local server, crashed-run recovery
    cli/            ``nesyflow``: commands, the entry point, the fork server, ``doctor``
    datasets.py, models.py, settings.py, store.py   what every group reads: problems, the typed
                    values that cross stages, settings, the result store

Importing this package does not import Prefect; ``flows.orchestration`` does.
"""

from pathlib import Path

__all__ = ["cli", "datasets", "engine", "llm", "models", "orchestration", "settings", "store", "ROOT", "SOURCE_PACKAGES"]

ROOT = Path(__file__).resolve().parent.parent
"""The checkout: what holds the source packages (and where engine and fork-server processes start)."""
SOURCE_PACKAGES = ("flows", "parsers", "solvers", "prompts")
"""Our own code, templates and data files: what the store's code version and the fork server's
fingerprint are computed from."""

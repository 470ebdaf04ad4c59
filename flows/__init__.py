"""The Prefect-aware layer: tasks, flows, datasets, reports, the local server and the CLI.

Importing this package does not import Prefect; ``flows.batch`` and ``flows.tasks`` do.
"""

__all__ = ["datasets", "models", "pipeline", "report", "settings"]

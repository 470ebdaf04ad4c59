"""Prefect's settings in a fork server's child (``flows.cli.forkserver``): Prefect read them, and
configured logging, when the server imported it, under the server's environment; a child re-reads
them from its caller's (``refresh_prefect``, which ``flows.cli.commands`` calls before any Prefect work).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["refresh_prefect", "remember_import_logging", "logging_inputs"]

_IMPORT_LOGGING: tuple | None = None
"""What logging was configured from in the fork server, if this process is its child."""
def logging_inputs() -> tuple:
    """What Prefect's logging set-up reads: PREFECT_LOGGING_* and a logging.yml in PREFECT_HOME."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("PREFECT_LOGGING_")))
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    return env, (home / "logging.yml").exists()


def refresh_prefect() -> None:
    """Prefect read its settings and configured logging at import; in a fork server's child that
    import happened under the server's environment. Re-read the settings from this one, and set
    logging up again unless it would come out the same (a quiet CLI run: ~45 ms saved)."""
    if "prefect.context" not in sys.modules:
        return
    from prefect.context import refresh_global_settings_context
    from prefect.logging.configuration import setup_logging

    refresh_global_settings_context()
    if _IMPORT_LOGGING is None or logging_inputs() != _IMPORT_LOGGING:
        setup_logging(incremental=False)



def remember_import_logging() -> None:
    """In the fork server, once its imports configured logging: what they configured it from,
    so that each child sets logging up again only when its caller's settings differ."""
    global _IMPORT_LOGGING
    _IMPORT_LOGGING = logging_inputs()

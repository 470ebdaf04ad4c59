"""Serve the flows as deployments against the configured Prefect server: a scheduled batch
(cron), an on-demand batch and an on-demand ``reason``. ``prefect.serve`` runs each flow run in a
subprocess of this process; trigger them from the UI, ``prefect deployment run`` or the REST API
(README, "Operating nesyflow as a service")."""

from __future__ import annotations

from typing import Any

__all__ = ["deployments", "serve_forever"]


def deployments(dataset: str | None = None, cron: str | None = None, params: dict[str, Any] | None = None) -> list:
    from .batch import batch, reason

    out = [
        batch.to_deployment(name="on-demand", description="Decide a dataset; pass path and options as parameters.",
                            tags=["nesyflow"]),
        reason.to_deployment(name="reason", description="Decide one problem: premises, conclusion, parser, solver.",
                             tags=["nesyflow"]),
    ]
    if dataset and cron:
        out.append(batch.to_deployment(name="scheduled", cron=cron, parameters={"path": dataset, **(params or {})},
                                       description=f"Scheduled batch over {dataset} ({cron}).", tags=["nesyflow"]))
    return out


def serve_forever(dataset: str | None = None, cron: str | None = None, params: dict[str, Any] | None = None,
                  limit: int | None = None) -> None:
    from prefect import serve

    serve(*deployments(dataset, cron, params), limit=limit, print_starting_message=True)

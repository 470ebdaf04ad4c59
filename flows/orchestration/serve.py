"""Serve the flows as deployments against the configured Prefect server: a scheduled batch
(cron), an on-demand batch and an on-demand ``reason``. ``prefect.serve`` runs each flow run in a
subprocess of the serving process; trigger them from the UI, ``prefect deployment run`` or the
REST API (README, "Operating nesyflow as a service").

What a caller may choose is the operator's: ``serve`` puts its ``--read-root``, ``--results-root``,
``--model`` and ``--api-base`` into the settings of its flow runs (``policy_env``), each served
run holds its parameters to them (``flows.engine.contract``), and the deployments' parameter
schemas say as much as a schema can — bounds, choices, the offered models and endpoints, no
parameter beyond the flow's — so Prefect refuses the rest with HTTP 409 at ``create_flow_run``.

``nesyflow serve`` supervises the serving process: when the server stops answering it says so in
one line, stops serving, waits for the server to come back, and serves again (the deployments
are registered anew) — instead of dying with a screen of tracebacks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["deployments", "serve_forever", "supervise_serve", "policy_env", "close_schema"]


def policy_env(read_roots: list[str] | None = None, results_root: str | None = None, models: list[str] | None = None,
               api_bases: list[str] | None = None, dataset: str | None = None) -> dict[str, str]:
    """The operator's choices as the settings (``NESYFLOW_*``) of the serving process and its flow
    runs. The scheduled dataset is readable as well (that file, not its folder)."""
    from flows.engine.contract import default_read_roots

    env: dict[str, str] = {}
    roots = [str(Path(r).resolve()) for r in (read_roots or [])] or [str(r) for r in default_read_roots()]
    if dataset:
        roots.append(str(Path(dataset).resolve()))
    env["NESYFLOW_READ_ROOTS"] = json.dumps(roots)
    if results_root:
        env["NESYFLOW_RESULTS_ROOT"] = str(Path(results_root).resolve())
    env["NESYFLOW_MODELS"] = json.dumps(list(models or []))
    env["NESYFLOW_API_BASES"] = json.dumps(list(api_bases or []))
    return env


def close_schema(dep, models: list[str], api_bases: list[str]):
    """A deployment's parameter schema, closed: no parameter beyond what a caller may set (so
    ``results_path`` and the like are refused, 409: the batch flow names them only to refuse them
    itself), and ``model``/``api_base`` only among what the operator offers."""
    from prefect.utilities.callables import ParameterSchema
    from pydantic import ConfigDict

    class Closed(ParameterSchema):
        model_config = ConfigDict(extra="allow")

    schema = dep._parameter_openapi_schema
    props = {k: dict(v) for k, v in schema.properties.items() if k not in ("results_path", "summary_path")}
    for name, offered in (("model", models), ("api_base", api_bases)):
        if name in props:
            keep = {k: v for k, v in props[name].items() if k not in ("anyOf", "type")}
            props[name] = {**keep, "anyOf": [{"type": "string", "enum": list(offered)}, {"type": "null"}] if offered
                           else [{"type": "null"}]}
    dep._parameter_openapi_schema = Closed(**{**schema.model_dump(), "properties": props}, additionalProperties=False)
    return dep


def deployments(dataset: str | None = None, cron: str | None = None, params: dict[str, Any] | None = None) -> list:
    from flows.orchestration.batch import batch, reason
    from flows.settings import get_settings

    settings = get_settings()
    out = [
        batch.to_deployment(name="on-demand", description="Decide a dataset; pass path and options as parameters.",
                            tags=["nesyflow"]),
        reason.to_deployment(name="reason", description="Decide one problem: premises, conclusion, parser, solver.",
                             tags=["nesyflow"]),
    ]
    if dataset and cron:
        out.append(batch.to_deployment(name="scheduled", cron=cron, parameters={"path": dataset, **(params or {})},
                                       description=f"Scheduled batch over {dataset} ({cron}).", tags=["nesyflow"]))
    return [close_schema(d, settings.models, settings.api_bases) for d in out]


def serve_forever(dataset: str | None = None, cron: str | None = None, params: dict[str, Any] | None = None,
                  limit: int | None = None) -> None:
    from prefect import serve

    serve(*deployments(dataset, cron, params), limit=limit, print_starting_message=True)


def supervise_serve(api_url: str, dataset: str | None, cron: str | None, params: dict[str, Any], limit: int | None = None,
                    grace_s: float | None = None, poll_s: float = 2.0, env: dict[str, str] | None = None) -> int:
    """Run ``serve_forever`` in a child process (with ``env`` added to its environment: the
    operator's policy) and keep it running across server outages."""
    from flows.orchestration.server import healthy
    from flows.settings import get_settings

    grace_s = grace_s if grace_s is not None else get_settings().server_grace_s
    spec = json.dumps({"dataset": dataset, "cron": cron, "params": params, "limit": limit, "parent": os.getpid()})
    child = None
    try:
        while True:
            # its own process group: stopping it stops the flow runs it started too (they would run on as orphans)
            child = subprocess.Popen([sys.executable, "-m", "flows.orchestration.serve", spec],
                                     env={**os.environ, **(env or {})}, start_new_session=True)
            lost_since = None
            while child.poll() is None:
                time.sleep(poll_s)
                if healthy(api_url):
                    lost_since = None
                    continue
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since >= grace_s:
                    break
            if child.poll() is None:  # the server went away: stop serving until it is back
                _stop(child)
            elif healthy(api_url):  # it ended on its own, with the server up: that is the answer
                if child.returncode:
                    print(f"nesyflow: error: the serving process exited with code {child.returncode}", file=sys.stderr)
                return child.returncode
            print(f"nesyflow: lost the Prefect server at {api_url}; serving stops until it answers again "
                  "(Ctrl-C to quit)", file=sys.stderr, flush=True)
            while not healthy(api_url):
                time.sleep(poll_s)
            print(f"nesyflow: the Prefect server at {api_url} answers again; serving the deployments again",
                  file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        if child is not None:
            _stop(child)
        return 130


def _stop(child: subprocess.Popen) -> None:
    """SIGTERM to the serving process and the flow runs it started (its process group; a run so
    stopped ends Crashed), SIGKILL to whatever is left after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            child.poll()  # reap the leader; the others are reparented and reaped when they end
            try:
                os.killpg(child.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)


def _parent_gone(_signum, _frame) -> None:
    """``nesyflow serve`` ended without stopping us (``kill -9``): serving on alone would take runs
    meant for its successor, with a policy nobody runs any more. Stop our flow runs (our process
    group) and leave."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(0, signal.SIGTERM)
    finally:
        os._exit(128 + signal.SIGHUP)


if __name__ == "__main__":  # the serving child of ``nesyflow serve``
    from flows.lifetime import die_with_parent

    spec = json.loads(sys.argv[1])
    signal.signal(signal.SIGHUP, _parent_gone)
    die_with_parent(signal.SIGHUP, spec.get("parent"))
    try:
        serve_forever(spec["dataset"], spec["cron"], spec["params"], limit=spec["limit"])
    except KeyboardInterrupt:
        sys.exit(130)

"""``nesyflow doctor``: every back end, its binary and version, and whether it works — each one
decides a tiny problem — plus the sandbox, Lean (which kind: a full toolchain, with or without
Mathlib, or the core-less kernel) and the Prefect server. The exit code says whether the default
job (``make demo``: gold FOL on the portfolio, controlled English, the other formal languages
with SymPy in the sandbox, and the Lean demo) can run: 0 yes, 1 no (what is missing is listed).
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import time
from dataclasses import dataclass
from typing import Callable

__all__ = ["Check", "run_checks", "report"]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    needed: bool = True
    """Whether the default job needs it (a missing optional piece does not fail the doctor)."""


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0][:80]


def _timed(fn: Callable[[], str]) -> tuple[bool, str]:
    t0 = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:  # a doctor reports, it does not crash
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return True, f"{detail} ({(time.perf_counter() - t0) * 1000:.0f} ms)"


def _fol(name: str) -> Callable[[], str]:
    def run() -> str:
        from parsers.fol.reader import parse_formula
        from solvers import FolProblem, Limits, make_solver

        problem = FolProblem((parse_formula("all x. (Man(x) -> Mortal(x))"), parse_formula("Man(socrates)")),
                             parse_formula("Mortal(socrates)"))
        result = make_solver(name).solve(problem, Limits(timeout_s=10))
        if result.status.value != "True":
            raise RuntimeError(f"decided {result.status.value} where True was expected: {result.reason[:120]}")
        return "decided the Socrates syllogism: True"

    return run


def _sandbox() -> str:
    from solvers.base import Limits
    from solvers.math import PythonSandbox
    from solvers.sandbox import sandbox_uids

    out = PythonSandbox().solve("import os\nanswer = os.getuid()\n", Limits(timeout_s=10))
    if not (out.answer or "").isdigit() or int(out.answer) not in sandbox_uids():
        raise RuntimeError(out.reason)
    return f"ran a program as uid {out.answer} in its own namespaces"


def _sympy() -> str:
    from parsers.programs.math_program import parse_math_program
    from solvers import math as m
    from solvers.base import Limits

    out = m.SympySolver().solve(parse_math_program("x ** 2 = 16\nAnswer: x"), Limits(timeout_s=20))
    if out.answer != "4":
        raise RuntimeError(out.reason)
    return "solved x² = 16 in the sandbox: 4"


def _lean() -> str:
    from parsers.programs.lean import read_lean_output
    from solvers.base import Limits
    from solvers.lean import LeanSolver

    out = LeanSolver().solve(read_lean_output("fun hp _ => hp", "(p q : Prop) : p → q → p"), Limits(timeout_s=20))
    if out.answer != "proved":
        raise RuntimeError(out.reason)
    return "checked a proof"


def run_checks() -> list[Check]:
    from solvers.binaries import eprover_binary, prover9_binary, z3_binary
    from solvers.lean import toolchain
    from solvers.sandbox import _bwrap, sandbox_status

    checks: list[Check] = []
    for name, finder, version in (("z3", z3_binary, ["--version"]), ("eprover", eprover_binary, ["--version"]),
                                  ("prover9", prover9_binary, None)):
        try:
            path = finder()
        except Exception as exc:
            checks.append(Check(name, False, str(exc)))
            continue
        ok, detail = _timed(_fol(name))
        ver = _version([path, *version]) if version else "LADR (no --version)"
        checks.append(Check(name, ok, f"{ver} · {path} · {detail}"))
    ok, detail = _timed(_fol("portfolio"))
    checks.append(Check("portfolio", ok, f"Z3 decides, E confirms, Prover9 breaks ties · {detail}"))
    why = sandbox_status()
    if why:
        checks.append(Check("sandbox", False, why))
    else:
        ok, detail = _timed(_sandbox)
        checks.append(Check("sandbox", ok, f"{_version([_bwrap(), '--version'])} · {detail}"))
    ok, detail = _timed(_sympy) if not why else (False, "needs the sandbox")
    checks.append(Check("sympy", ok, f"SymPy {importlib.metadata.version('sympy')} · {detail}"))
    chain = toolchain()
    if chain is None:
        checks.append(Check("lean", False, "no Lean: `make install` builds the core-less kernel (Linux x86_64, needs cc); "
                                           "or set NESYFLOW_LEAN / NESYFLOW_LEAN_PROJECT"))
    else:
        kind = {"mathlib": "a Lake project with Mathlib", "full": "a full toolchain (Init, no Mathlib)",
                "core-less": "the core-less kernel (prelude files only; no tactics, no Mathlib)"}[chain.kind]
        ok, detail = _timed(_lean) if not why else (False, "needs the sandbox")
        import re

        version = (re.search(r"version ([\w.\-]+)", chain.version) or re.search(r"(.+)", chain.version)).group(1)
        checks.append(Check("lean", ok, f"Lean {version} · {kind} · from {chain.source} · {chain.lean} · {detail}"))
    checks.append(Check("litellm", True, f"litellm {importlib.metadata.version('litellm')} (imported only by --parser llm)",
                        needed=False))
    checks.append(_prefect_check())
    checks.append(_forkserver_check())
    return checks


def _prefect_check() -> Check:
    import os

    from flows.orchestration.server import auth_paths, healthy, server_record
    from flows.settings import get_settings

    version = importlib.metadata.version("prefect")
    home = get_settings().home
    record = server_record(home)
    api = os.environ.get("PREFECT_API_URL") or record.get("api_url", "")
    auth = ("auth off (NESYFLOW_API_AUTH=off)" if not get_settings().api_auth
            else f"basic auth, credential {auth_paths(home)[0]}")
    if not api:
        return Check("prefect", True, f"Prefect {version} · no server yet (batch, solve and serve start one on 127.0.0.1, "
                                      f"{auth})", needed=False)
    state = "up" if healthy(api) else "down (batch, solve and serve restart it on the same port)"
    if api.rstrip("/") == (record.get("api_url") or "").rstrip("/"):
        state += f" · {auth}" if record.get("auth") == get_settings().api_auth else " · restarted with " + auth + " on next use"
    return Check("prefect", True, f"Prefect {version} · server {api} {state}", needed=False)


def _forkserver_check() -> Check:
    import os

    from flows.cli import forkclient

    if not forkclient.enabled(["batch"]):
        return Check("fork server", True, "off (NESYFLOW_FORKSERVER=0): commands run in-process", needed=False)
    path = forkclient.socket_path()
    if path is None:
        return Check("fork server", True, "no private runtime directory (or its path is too long for a socket): "
                                          "commands run in-process", needed=False)
    state = "running" if path.exists() else "starts with the next batch or solve"
    idle = os.environ.get("NESYFLOW_FORKSERVER_IDLE_S", "900")
    return Check("fork server", True, f"{state} · {path} · ends after {idle} s idle", needed=False)


def report(checks: list[Check]) -> tuple[str, int]:
    width = max(len(c.name) for c in checks)
    lines = [f"{'ok ' if c.ok else 'NO '} {c.name:<{width}}  {c.detail}" for c in checks]
    missing = [c.name for c in checks if c.needed and not c.ok]
    if missing:
        lines.append(f"the default job (make demo) cannot run: {', '.join(missing)} missing or failing")
    else:
        lines.append("the default job (make demo) can run")
    return "\n".join(lines), 1 if missing else 0

"""What a batch's caller may choose: one definition of every parameter's bounds and choices, and
what a *served* flow run (one a deployment started, for a REST or UI caller) may touch.

The CLI's argument types, ``BatchParams`` and the flows' signatures all use the types below, so
the JSON schema Prefect validates a REST caller's parameters against says the same as
``--help``: out of bounds is HTTP 409 at ``create_flow_run``. A served run checks again itself
(a caller can ask Prefect not to enforce the schema), and applies what no schema can say:

* a dataset is read only from the folders the operator named at ``serve`` time (default: the
  project and its data folder), never from nesyflow's own state or a hidden path, only as a
  regular file the serving user could read without privilege (not another user's private file);
* results and the summary go to ``<results root>/<flow-run-id>/`` (default ``<home>/runs``),
  never to a path the caller names, written owner-only and never through a link;
* ``model`` and ``api_base`` are picked from what the operator offers: a caller cannot point the
  serving user's API key at an endpoint of its choosing.

Every refusal is one line (``Refused``). Nothing here imports Prefect or the engine.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from parsers.errors import NesyflowError
from prompts import PROMPTS
from solvers import SOLVER_NAMES

from flows import ROOT
from flows.datasets import FORMATS
from flows.engine.languages import LANGUAGE_CHOICES

__all__ = ["Bound", "BOUNDS", "Refused", "validated", "ReasonParams", "ServePolicy", "serve_policy", "dataset_path", "run_folder", "pick_model",
           "dataset_error", "Seconds", "Samples", "RepairRounds", "Concurrency", "ChunkSize", "Limit", "Temperature", "MaxTokens",
           "Workers", "Text", "Name", "PathText", "ModelName", "Url", "Premises", "FormatName", "BatchParser",
           "ReasonParser", "SolverName", "LanguageName", "PromptName", "Fallback", "Contradictory", "SOLVERS", "BATCH_PARSERS",
           "MAX_DATASET_MB"]


@dataclass(frozen=True)
class Bound:
    """A number's bounds: ``lo`` (exclusive when ``lo_open``) to ``hi``."""

    kind: type
    lo: float
    hi: float
    lo_open: bool = False
    unit: str = ""

    def contains(self, value: float) -> bool:
        return (value > self.lo if self.lo_open else value >= self.lo) and value <= self.hi

    def problem(self, value: float) -> str | None:
        """What is wrong with ``value`` in words (the CLI's message), or None."""
        if self.contains(value):
            return None
        unit = f" {self.unit}" if self.unit else ""
        if self.kind is int and value < self.lo:
            return f"must be at least {self.lo:g}{unit}, got {value}"
        if self.kind is int:
            return f"must be at most {self.hi:g}{unit}, got {value}"
        return f"must be between {self.lo:g} and {self.hi:g}{unit}, got {value}"

    def field(self):
        lower = {"gt": self.kind(self.lo)} if self.lo_open else {"ge": self.kind(self.lo)}
        return Field(**lower, le=self.kind(self.hi))


BOUNDS = {
    "seconds": Bound(float, 0, 3600, lo_open=True, unit="seconds"),
    "samples": Bound(int, 1, 100),
    "repair_rounds": Bound(int, 0, 10),
    "concurrency": Bound(int, 1, 256),
    "chunk_size": Bound(int, 0, 1000),
    "workers": Bound(int, 0, 64),
    "limit": Bound(int, 1, 10_000_000),
    "temperature": Bound(float, 0, 2),
    "max_tokens": Bound(int, 16, 1_000_000),
}

Seconds = Annotated[float, BOUNDS["seconds"].field()]
Samples = Annotated[int, BOUNDS["samples"].field()]
RepairRounds = Annotated[int, BOUNDS["repair_rounds"].field()]
Concurrency = Annotated[int, BOUNDS["concurrency"].field()]
ChunkSize = Annotated[int, BOUNDS["chunk_size"].field()]
Workers = Annotated[int, BOUNDS["workers"].field()]
Limit = Annotated[int, BOUNDS["limit"].field()]
Temperature = Annotated[float, BOUNDS["temperature"].field()]
MaxTokens = Annotated[int, BOUNDS["max_tokens"].field()]
Text = Annotated[str, Field(max_length=10_000)]
Name = Annotated[str, Field(max_length=200)]
PathText = Annotated[str, Field(min_length=1, max_length=4096)]
ModelName = Annotated[str, Field(min_length=1, max_length=200)]
Url = Annotated[str, Field(min_length=1, max_length=2000)]
Premises = Annotated[list[Text], Field(min_length=1, max_length=500)]

SOLVERS = SOLVER_NAMES
BATCH_PARSERS = ("gold", "english", "llm", "replay")
FormatName = Literal[FORMATS]
BatchParser = Literal[BATCH_PARSERS]
ReasonParser = Literal["gold", "english", "llm", "fol"]
"""``fol``: the name ``solve --parser`` had for ``gold``."""
SolverName = Literal[SOLVERS]
LanguageName = Literal[LANGUAGE_CHOICES]
PromptName = Literal[tuple(n for n in PROMPTS if n != "repair")]
Fallback = Literal["none", "unknown"]
Contradictory = Literal["auto", "reject", "answer"]

MAX_DATASET_MB = 256


class Refused(NesyflowError, ValueError):
    """A served run's parameter outside what the operator allows; ``str()`` is one line."""


def validated(model: type[BaseModel], values: dict) -> BaseModel:
    """``model(**values)``, or ``Refused`` naming each bad field in one line. The flows check
    their parameters this way rather than with Prefect's ``validate_parameters``, whose message
    spans lines (and whose signature mismatch crashed a served run's process)."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as exc:
        parts = [f"{'.'.join(map(str, e['loc'])) or 'parameters'}: {e['msg']}" for e in exc.errors()[:3]]
        raise Refused("invalid parameters: " + "; ".join(parts)) from None


class ReasonParams(BaseModel):
    """The reason flow's parameters (its signature, with the same types)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    premises: Premises
    conclusion: Text
    parser: ReasonParser = "gold"
    solver: SolverName | None = None
    timeout_s: Seconds | None = None
    problem_id: Name = ""
    model: ModelName | None = None
    api_base: Url | None = None
    llm_timeout_s: Seconds = 120.0
    contradictory: Contradictory = "auto"


class ServePolicy(BaseModel):
    """What the operator allows a served run (``nesyflow serve`` puts it in its flow runs' settings)."""

    model_config = ConfigDict(frozen=True)

    read_roots: tuple[Path, ...]
    results_root: Path
    home: Path
    models: tuple[str, ...] = ()
    api_bases: tuple[str, ...] = ()


def default_read_roots() -> list[Path]:
    """The project and its data folder (``NESYFLOW_SHARED_DATA``, else ``../shared/data``)."""
    data = os.environ.get("NESYFLOW_SHARED_DATA") or str(ROOT.parent / "shared" / "data")
    return [ROOT, Path(data)]


def serve_policy() -> ServePolicy:
    from flows.settings import get_settings

    s = get_settings()
    home = s.home.resolve()
    roots = s.read_roots or default_read_roots()
    return ServePolicy(read_roots=tuple(Path(os.path.realpath(r)) for r in roots), home=home,
                       results_root=Path(os.path.realpath(s.results_root or home / "runs")),
                       models=tuple(s.models), api_bases=tuple(s.api_bases))


def _permits(st: os.stat_result, owner: int, group: int, other: int) -> bool:
    """Would the serving user have this permission without privilege (root bypasses the bits)?"""
    if st.st_uid == os.geteuid():
        return bool(st.st_mode & owner)
    if st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        return bool(st.st_mode & group)
    return bool(st.st_mode & other)


def dataset_path(text: str, policy: ServePolicy) -> Path:
    """The dataset a served run may read for ``text``, resolved; else ``Refused``."""
    shown = repr(text[:200])
    if "\x00" in text:
        raise Refused(f"path {shown}: contains a NUL byte")
    given = Path(text)
    real = Path(os.path.realpath(given if given.is_absolute() else policy.read_roots[0] / given))
    root = next((r for r in policy.read_roots if real == r or real.is_relative_to(r)), None)
    if root is None:
        raise Refused(f"path {shown}: outside the folders this server reads datasets from "
                      f"({', '.join(map(str, policy.read_roots))}; the operator adds one with nesyflow serve --read-root)")
    if real == policy.home or real.is_relative_to(policy.home) or real.is_relative_to(policy.results_root):
        raise Refused(f"path {shown}: inside nesyflow's own state ({policy.home}), which is never read as a dataset")
    if any(part.startswith(".") for part in real.relative_to(root).parts):
        raise Refused(f"path {shown}: a hidden file or folder, which a served run does not read")
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise Refused(f"path {shown}: no such file") from None
    except OSError as exc:
        raise Refused(f"path {shown}: cannot be examined ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"path {shown}: not a regular file (a folder, device, FIFO or socket is never read)")
    folders = [real.parents[i] for i in range(len(real.relative_to(root).parts) - 1)]
    if not _permits(st, stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH) or not all(
            _permits(os.stat(d), stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH) for d in folders):
        raise Refused(f"path {shown}: private to its owner (uid {st.st_uid}); a served run does not read files "
                      "with the server's privileges")
    if st.st_size > MAX_DATASET_MB << 20:
        raise Refused(f"path {shown}: {st.st_size >> 20} MB, more than the {MAX_DATASET_MB} MB a served run reads")
    return real


_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def run_folder(policy: ServePolicy, flow_run_id: str | None) -> Path:
    """``<results root>/<flow-run-id>/``, created owner-only; refused if a link or anything but
    our own directory sits there."""
    from flows.store import private_dir

    if not flow_run_id or not _RUN_ID.fullmatch(flow_run_id):
        raise Refused(f"a served batch writes to a folder named by its flow run id, and this run has none ({flow_run_id!r})")
    root = private_dir(policy.results_root)
    folder = root / flow_run_id
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    for path in (root, folder):
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            raise Refused(f"{path}: not a directory of the serving user (a link or file sits there); nothing written")
    return folder


def pick_model(model: str | None, api_base: str | None, policy: ServePolicy) -> tuple[str, str | None]:
    """The operator's model and endpoint for a served ``llm`` run: the caller's choice among them,
    else the first of each. A URL the operator did not name would receive the server's key."""
    if not policy.models:
        raise Refused("parser llm: this server offers no model (the operator names them: nesyflow serve --model M)")
    model = model or policy.models[0]
    if model not in policy.models:
        raise Refused(f"model {model[:200]!r}: not offered by this server; choose one of {', '.join(policy.models)}")
    if api_base is None:
        return model, policy.api_bases[0] if policy.api_bases else None
    if api_base not in policy.api_bases:
        offered = ", ".join(policy.api_bases) or "none: the provider's own endpoint only"
        raise Refused(f"api_base {api_base[:200]!r}: not an endpoint this server sends requests (and its key) to; "
                      f"offered: {offered}")
    return model, api_base


# Messages of ``flows.datasets.DatasetError`` that name places, never a file's content or keys.
_SAFE = re.compile(r"no such file|file is empty|invalid JSON at line \d+, column \d+|expected a JSON list or JSON lines"
                   r"|a LINC file is named|gold labels not found|\d+ problems but \d+ labels")


def dataset_error(exc: Exception, path: Path) -> Refused:
    """A served run's unreadable dataset, located but without what the file holds: the caller
    may not read the file, only learn that (and where) it is not a dataset."""
    text = str(exc)
    if "cannot tell the format from the keys" in text:
        return Refused(f"{path}: record 1: cannot tell the format from its keys; pass format")
    found = _SAFE.search(text)
    if found is None:
        return Refused(f"{path}: not a dataset nesyflow reads (run nesyflow batch on it on the server to see why)")
    rest = text[found.start():]
    return Refused(f"{path}: {rest if found.group(0).startswith('invalid JSON') else found.group(0)}")

"""Recorded completions served as an ``LLMClient``, so replay takes the path a live model's output
takes (call cache aside: extraction, checks, solving, voting, results) with none of the transport.

The request's ``model`` is ``replay/<recording>`` (the file stem and a hash of its completions, so
two recordings never share a result) and its ``api_base`` the recording file
(``file:///…/x_generations_raw.json?format=linc``); ``problem_id`` and ``sample`` select the
completion. Any process can serve a request: the file is loaded the first time it is named.
litellm is not imported for replay: it would add ~3.5 s of start-up to a run that makes no call.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

from flows.llm.clients import LLMCallError, LLMClient, LLMRequest, LLMResponse

__all__ = ["recording_name", "recording_url", "ReplayClient", "PROVIDER"]

PROVIDER = "replay"


def recording_name(path_stem: str, problems) -> str:
    h = hashlib.sha256()
    for p in problems:
        for text in p.recorded or []:
            h.update(text.encode("utf-8"))
    return f"{path_stem}-{h.hexdigest()[:10]}"


def recording_url(path: str | Path, fmt: str) -> str:
    return f"file://{quote(str(Path(path).resolve()))}?format={fmt}"


class ReplayClient(LLMClient):
    """Serves ``problem.recorded[sample]``; a recording already is a store, so nothing is cached again."""

    cacheable = False

    def __init__(self) -> None:
        self._store: dict[tuple[str, str], list[str]] = {}
        self._loaded: set[str] = set()
        self._lock = threading.Lock()

    def add(self, model: str, problems) -> None:
        """Serve these problems' recorded completions under ``model`` (no file read needed)."""
        with self._lock:
            for p in problems:
                if p.recorded is not None:
                    self._store[(model, p.id)] = list(p.recorded)

    def _load(self, model: str, url: str) -> None:
        from flows.datasets import load_problems

        with self._lock:
            if url in self._loaded:
                return
            parsed = urlparse(url)
            fmt = parse_qs(parsed.query).get("format", ["auto"])[0]
            problems = load_problems(unquote(parsed.path), fmt)
            self._loaded.add(url)
        self.add(model, problems)

    async def complete(self, req: LLMRequest) -> LLMResponse:
        key = (req.model, req.problem_id)
        if key not in self._store and req.api_base:
            self._load(req.model, req.api_base)
        samples = self._store.get(key)
        if samples is None:
            raise LLMCallError(f"the recording {req.model!r} has no completion for problem {req.problem_id!r}")
        if req.sample >= len(samples):
            raise LLMCallError(f"the recording has {len(samples)} samples for {req.problem_id!r}; sample {req.sample} asked")
        text = samples[req.sample]
        return LLMResponse(text=text if isinstance(text, str) else "")

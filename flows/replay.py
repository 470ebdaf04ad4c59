"""Recorded completions served through litellm, so replay takes the exact path a live model's
output takes (LLM task, cache, extraction, check, solve, vote).

``replay/<recording>`` is a litellm custom provider. The request's ``api_base`` is the recording
file (``file:///…/x_generations_raw.json?format=linc``) and its metadata (problem id, sample
index) selects the completion, so any process — a Dask worker included — can serve it: the
provider loads the file the first time it sees it. The recording name (file stem and a hash of
its completions) is part of the model string, so two recordings never share a cache entry.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

__all__ = ["recording_name", "recording_url", "ensure_provider", "PROVIDER"]

PROVIDER = "replay"
_STORE: dict[tuple[str, str], list[str]] = {}
_LOADED: set[str] = set()
_LOCK = threading.Lock()


def recording_name(path_stem: str, problems) -> str:
    h = hashlib.sha256()
    for p in problems:
        for text in p.recorded or []:
            h.update(text.encode("utf-8"))
    return f"{path_stem}-{h.hexdigest()[:10]}"


def recording_url(path: str | Path, fmt: str) -> str:
    return f"file://{quote(str(Path(path).resolve()))}?format={fmt}"


def _load(name: str, url: str) -> None:
    """Read the recording named in a request (once per process)."""
    from .datasets import load_problems

    with _LOCK:
        if url in _LOADED:
            return
        parsed = urlparse(url)
        fmt = parse_qs(parsed.query).get("format", ["auto"])[0]
        for p in load_problems(parsed.path, fmt):
            if p.recorded is not None:
                _STORE[(name, p.id)] = list(p.recorded)
        _LOADED.add(url)


def ensure_provider() -> None:
    import litellm
    from litellm import CustomLLM

    class ReplayLLM(CustomLLM):
        def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                       api_key, logging_obj, optional_params, acompletion=None, litellm_params=None, logger_fn=None,
                       headers={}, timeout=None, client=None):
            meta = (litellm_params or {}).get("metadata") or {}
            key = (model, str(meta.get("problem_id")))
            if key not in _STORE and api_base:
                _load(model, api_base)
            samples = _STORE.get(key)
            if samples is None:
                raise litellm.exceptions.BadRequestError(
                    message=f"no recording {model!r} for problem {meta.get('problem_id')!r}", model=model,
                    llm_provider=PROVIDER)
            k = int(meta.get("sample", 0))
            if k >= len(samples):
                raise litellm.exceptions.BadRequestError(
                    message=f"recording has {len(samples)} samples, sample {k} asked", model=model, llm_provider=PROVIDER)
            return litellm.ModelResponse(
                model=f"{PROVIDER}/{model}",
                choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": samples[k]}}],
                usage=litellm.Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0),
            )

    with _LOCK:
        if not any(entry.get("provider") == PROVIDER for entry in litellm.custom_provider_map):
            # litellm reads the map on every completion call; registering it is all that's needed
            litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": PROVIDER, "custom_handler": ReplayLLM()}]

"""Recorded completions served through litellm, so replay takes the exact path a live model's
output takes (LLM task, cache, extraction, check, solve, vote).

``replay/<recording>`` is a litellm custom provider; the request's metadata (problem id,
sample index) selects the completion. The recording name is part of the model string, so two
recordings of the same problems never share a cache entry.
"""

from __future__ import annotations

import hashlib
import threading

__all__ = ["register_recording", "recording_name", "ensure_provider", "PROVIDER"]

PROVIDER = "replay"
_STORE: dict[tuple[str, str], list[str]] = {}
_LOCK = threading.Lock()


def recording_name(path_stem: str, problems) -> str:
    """``<file stem>-<hash of the completions>``: names the recording in model strings and cache keys."""
    h = hashlib.sha256()
    for p in problems:
        for text in p.recorded or []:
            h.update(text.encode("utf-8"))
    return f"{path_stem}-{h.hexdigest()[:10]}"


def register_recording(name: str, problems) -> None:
    with _LOCK:
        for p in problems:
            if p.recorded is not None:
                _STORE[(name, p.id)] = list(p.recorded)


def ensure_provider() -> None:
    import litellm
    from litellm import CustomLLM

    class ReplayLLM(CustomLLM):
        def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                       api_key, logging_obj, optional_params, acompletion=None, litellm_params=None, logger_fn=None,
                       headers={}, timeout=None, client=None):
            meta = (litellm_params or {}).get("metadata") or {}
            samples = _STORE.get((model, str(meta.get("problem_id"))))
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

"""A scripted in-process model behind litellm's provider interface: the test double for every
LLM path (repair dialogues, diverse samples, transient and permanent failures), no network.

    model = ScriptedModel(lambda messages, meta: "TEXT: ...\\nFOL: ...")
    model.install("scripted")            # then --model scripted/anything
    model.calls                          # [(messages, metadata), ...] the provider received

The script may raise a litellm exception to simulate a failure.
"""

from __future__ import annotations

import threading
from typing import Callable

__all__ = ["ScriptedModel"]

Script = Callable[[list[dict], dict], str]


class ScriptedModel:
    def __init__(self, script: Script, prompt_tokens: int = 100, completion_tokens: int = 50):
        self.script = script
        self.calls: list[tuple[list[dict], dict]] = []
        self.prompt_tokens, self.completion_tokens = prompt_tokens, completion_tokens
        self._lock = threading.Lock()

    def install(self, provider: str = "scripted") -> None:
        import litellm
        from litellm import CustomLLM

        outer = self

        class _Provider(CustomLLM):
            async def acompletion(self, *args, **kwargs):  # the path batches take (litellm.acompletion)
                return self.completion(*args, **kwargs)

            def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                           api_key, logging_obj, optional_params, acompletion=None, litellm_params=None, logger_fn=None,
                           headers={}, timeout=None, client=None):
                meta = dict((litellm_params or {}).get("metadata") or {})
                meta["seed"] = optional_params.get("seed")
                meta["temperature"] = optional_params.get("temperature")
                with outer._lock:
                    outer.calls.append(([dict(m) for m in messages], meta))
                text = outer.script(messages, meta)
                return litellm.ModelResponse(
                    model=model,
                    choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                    usage=litellm.Usage(prompt_tokens=outer.prompt_tokens, completion_tokens=outer.completion_tokens,
                                        total_tokens=outer.prompt_tokens + outer.completion_tokens),
                )

        others = [e for e in litellm.custom_provider_map if e.get("provider") != provider]
        litellm.custom_provider_map = [*others, {"provider": provider, "custom_handler": _Provider()}]

"""One LLM call through litellm, and the predicate that says which failures are worth a retry.

litellm is imported inside the call (importing it costs ~5 s). Its own retries and the OpenAI
SDK's are off (``max_retries=0, num_retries=0``): Prefect retries the task, and only on
transport failures. The API key comes from the provider's environment variable and never
appears in a request, a cache key, a log or a result.
"""

from __future__ import annotations

import os
import time

from pydantic import BaseModel, ConfigDict

__all__ = ["LLMRequest", "LLMResponse", "call_llm", "is_transient"]

os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")  # never fetch the price list at import


class LLMRequest(BaseModel):
    """Everything that determines a completion (and so its cache key); no secrets."""

    model_config = ConfigDict(frozen=True)

    problem_id: str
    model: str
    api_base: str | None = None
    messages: list[dict[str, str]]
    temperature: float = 0.0
    seed: int | None = None
    sample: int = 0
    round: int = 0
    prompt_version: str = ""
    timeout_s: float = 120.0


class LLMResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0


def call_llm(req: LLMRequest) -> LLMResponse:
    import litellm  # lazy: ~5 s

    litellm.suppress_debug_info = True  # no "Provider List" banners when an unknown model has no price
    if req.model.startswith("replay/"):  # recorded completions, served in whichever process runs this
        from .replay import ensure_provider

        ensure_provider()
    kwargs = dict(
        model=req.model, messages=req.messages, temperature=req.temperature, timeout=req.timeout_s,
        max_retries=0, num_retries=0,
        metadata={"problem_id": req.problem_id, "sample": req.sample, "round": req.round},
    )
    if req.seed is not None:
        kwargs["seed"] = req.seed
    if req.api_base:
        kwargs["api_base"] = req.api_base  # for replay: the recording file
        if req.model.startswith(("openai/", "hosted_vllm/")) and not os.environ.get("OPENAI_API_KEY"):
            kwargs["api_key"] = "no-key"  # a local endpoint without auth; the SDK insists on some key
    t0 = time.perf_counter()
    response = litellm.completion(**kwargs)
    latency = time.perf_counter() - t0
    text = response.choices[0].message.content or ""
    usage = getattr(response, "usage", None)
    try:
        cost = float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # unknown model: tokens recorded, cost 0
        cost = 0.0
    return LLMResponse(
        text=text,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cost_usd=cost,
        latency_s=round(latency, 4),
    )


def is_transient(exc: BaseException) -> bool:
    """Retry rate limits, timeouts, connection failures and 5xx; never bad requests, context
    window overflows, authentication or permission errors."""
    import litellm

    never = (litellm.exceptions.BadRequestError, litellm.exceptions.ContextWindowExceededError,
             litellm.exceptions.AuthenticationError, litellm.exceptions.PermissionDeniedError,
             litellm.exceptions.NotFoundError, litellm.exceptions.UnprocessableEntityError)
    transient = (litellm.exceptions.RateLimitError, litellm.exceptions.Timeout, litellm.exceptions.APIConnectionError,
                 litellm.exceptions.InternalServerError, litellm.exceptions.ServiceUnavailableError,
                 litellm.exceptions.BadGatewayError)
    if isinstance(exc, never):
        return False
    text = str(exc).lower()
    if "credential" in text or "api key" in text or "api_key" in text:  # litellm maps these to 5xx at times
        return False
    if isinstance(exc, transient):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status >= 500

"""OpenAI-compatible chat endpoints without ``litellm.acompletion``'s per-call machinery.

Measured on an engine worker (py-spy, 5,000 calls against a loopback endpoint): 50 % of its CPU
was inside ``litellm.acompletion`` — the dispatcher, a synchronous ``completion`` run in the
event loop's thread pool (each result crossing back with ``call_soon_threadsafe``), per-call
``completion_cost`` (12 %), ``_hidden_params`` and logging objects built for callbacks we do not
have. None of it decides anything for us. Here litellm still does what a provider layer is for,
once per (model, API base) rather than per call: ``get_llm_provider`` resolves the provider, its
chat config (``ProviderConfigManager``) builds the URL, the headers and the request body, and
``get_optional_params`` maps temperature / max_tokens / seed to what the provider takes (cached per
distinct value). An error reply is mapped by litellm's own ``exception_type`` to the same
``litellm.exceptions`` classes as before, so retries and messages do not change. The price per
token is looked up once (``litellm.get_model_info``); cost is usage × price.

Every request goes through one pooled HTTP session per engine (``session``: keep-alive
connections, at most ``concurrency``), on the engine's own event loop: no thread hop. The body is
read in chunks and refused past ``MAX_RESPONSE_BYTES`` (a 100 MB reply is not read whole).

Only providers whose chat endpoint *is* the OpenAI wire format (``openai``, ``hosted_vllm``) take
this path; every other provider (and a custom one registered in ``litellm.custom_provider_map``)
goes through ``litellm.acompletion`` as before.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

__all__ = ["DirectRoute", "route_for", "session", "post", "MAX_RESPONSE_BYTES", "ResponseTooLarge", "NotACompletion"]

MAX_RESPONSE_BYTES = 8 * 2**20
"""Bytes of one reply read at most: a completion is cut at 100,000 characters anyway (≤ 600 KB as JSON)."""
DIRECT_PROVIDERS = ("openai", "hosted_vllm")


class ResponseTooLarge(Exception):
    """The reply's body is over ``MAX_RESPONSE_BYTES``: not read further, not a completion."""


class NotACompletion(Exception):
    """The endpoint answered 2xx with something that is not a chat completion (reported as litellm does)."""


@dataclass
class DirectRoute:
    """What litellm resolved once for one (model, API base): where to post, how, at what price."""

    model: str
    provider: str
    url: str
    headers: dict[str, str]
    config: object
    price_in: float = 0.0
    price_out: float = 0.0
    _params: dict = field(default_factory=dict)

    def optional_params(self, temperature: float, max_tokens: int | None, seed: int | None) -> dict:
        """The provider's parameters for these values (litellm's mapping, cached per distinct values)."""
        key = (temperature, max_tokens, seed)
        hit = self._params.get(key)
        if hit is None:
            from litellm.utils import get_optional_params

            hit = get_optional_params(model=self.model, custom_llm_provider=self.provider, temperature=temperature,
                                      max_tokens=max_tokens, seed=seed)
            hit = {k: v for k, v in hit.items() if v is not None}
            self._params[key] = hit
        return dict(hit)

    def body(self, messages: list[dict[str, str]], temperature: float, max_tokens: int | None, seed: int | None) -> bytes:
        params = self.optional_params(temperature, max_tokens, seed)
        extra = params.pop("extra_body", None) or {}  # the OpenAI SDK merges these into the body
        if params.get("stream") is False:
            params.pop("stream")  # not streamed: the SDK leaves it out
        data = self.config.transform_request(model=self.model, messages=messages, optional_params=params,
                                             litellm_params={}, headers=dict(self.headers))
        if isinstance(extra, dict):
            data.update(extra)
        return json.dumps(data, ensure_ascii=False).encode("utf-8")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.price_in + completion_tokens * self.price_out

    def error(self, status: int, text: str, headers) -> BaseException:
        """litellm's exception for an error reply, as ``acompletion`` would have raised it."""
        from litellm.litellm_core_utils.exception_mapping_utils import exception_type

        original = self.config.get_error_class(error_message=text, status_code=status, headers=headers)
        try:
            mapped = exception_type(model=self.model, original_exception=original, custom_llm_provider=self.provider)
        except Exception as exc:  # noqa: BLE001 - exception_type raises the mapped exception
            return exc
        return mapped if isinstance(mapped, BaseException) else original


def _price(model: str, provider: str) -> tuple[float, float]:
    """(input, output) USD per token from litellm's price list, or zeros for a model it does not know."""
    try:
        import litellm

        info = litellm.get_model_info(model=model, custom_llm_provider=provider)
    except Exception:  # noqa: BLE001 - unknown models are priced 0 (tokens are still recorded)
        return 0.0, 0.0

    def num(value) -> float:
        try:
            v = float(value or 0)
        except (TypeError, ValueError):
            return 0.0
        return v if v == v and 0 <= v < 1 else 0.0

    return num(info.get("input_cost_per_token")), num(info.get("output_cost_per_token"))


def route_for(model: str, api_base: str | None) -> DirectRoute | None:
    """The direct route for this model, or None when litellm.acompletion must serve it (another
    provider, a custom one, no key for the public API)."""
    import litellm
    from litellm.types.utils import LlmProviders
    from litellm.utils import ProviderConfigManager

    if any(model.startswith(f"{p['provider']}/") for p in (litellm.custom_provider_map or []) if isinstance(p, dict)):
        return None
    try:
        name, provider, dyn_key, dyn_base = litellm.get_llm_provider(model=model, api_base=api_base)
    except Exception:  # noqa: BLE001 - litellm.acompletion reports it, as before
        return None
    if provider not in DIRECT_PROVIDERS:
        return None
    from litellm.llms.openai.chat.gpt_transformation import OpenAIGPTConfig

    config = ProviderConfigManager.get_provider_chat_config(model=name, provider=LlmProviders(provider))
    if not isinstance(config, OpenAIGPTConfig):
        return None
    base = api_base or dyn_base
    if provider == "openai":
        key = dyn_key or litellm.api_key or litellm.openai_key or os.environ.get("OPENAI_API_KEY")
        base = base or litellm.api_base or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") \
            or "https://api.openai.com/v1"
    else:
        key = dyn_key or os.environ.get("HOSTED_VLLM_API_KEY")
    if not base:
        return None
    if not key:
        if not api_base:
            return None  # the public API without a key: litellm says what is missing
        key = "no-key"  # a local endpoint without auth
    url = config.get_complete_url(api_base=base, api_key=key, model=name, optional_params={}, litellm_params={})
    headers = config.validate_environment(headers={}, model=name, messages=[], optional_params={}, litellm_params={},
                                          api_key=key, api_base=base)
    price_in, price_out = _price(name, provider)
    return DirectRoute(model=name, provider=provider, url=url, headers=dict(headers), config=config,
                       price_in=price_in, price_out=price_out)


def session(concurrency: int):
    """One pooled HTTP session for the direct routes, bound to the running event loop.

    aiohttp, not httpx: measured here (2,000 calls, 32 at a time, against the loopback endpoint in
    its own process), a call cost 3.4 ms of the caller's CPU through ``httpx.AsyncClient`` (its
    pool checks every connection's socket on each assignment, and builds headers per request),
    0.83 ms through httpx over litellm's aiohttp transport (litellm's own default), 0.23 ms
    through ``aiohttp.ClientSession`` directly. aiohttp is one of litellm's own dependencies."""
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(1, concurrency)), auto_decompress=True,
                                 skip_auto_headers=("User-Agent",))


async def post(client, route: DirectRoute, body: bytes, timeout_s: float) -> dict:
    """POST one request on ``client`` (``session``); the reply's JSON object, or litellm's exception
    for an error reply. Reads at most ``MAX_RESPONSE_BYTES`` (decompressed)."""
    import asyncio

    import aiohttp
    import litellm

    cap = MAX_RESPONSE_BYTES
    try:
        async with client.post(route.url, data=body, headers=route.headers,
                               timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            declared = resp.content_length
            if declared is not None and declared > cap:
                raise ResponseTooLarge(declared)
            chunks, size = [], 0
            async for chunk in resp.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > cap:
                    raise ResponseTooLarge(size)
                chunks.append(chunk)
            raw = b"".join(chunks)
            status, headers = resp.status, dict(resp.headers)
    except asyncio.TimeoutError as exc:
        raise litellm.exceptions.Timeout(message=f"Request timed out after {timeout_s:g} s", model=route.model,
                                         llm_provider=route.provider) from exc
    except aiohttp.ClientError as exc:  # refused, reset, DNS, a broken reply
        cause = getattr(exc, "os_error", None)
        why = f"{exc!r}" + (f" ({type(cause).__name__}: {cause})" if cause is not None else "")
        raise litellm.exceptions.APIConnectionError(message=f"Connection error: {why}", llm_provider=route.provider,
                                                    model=route.model) from exc
    if status >= 400 or status < 200:
        text = raw[:4096].decode("utf-8", "replace")
        raise route.error(status, text, headers)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotACompletion(f"JSONDecodeError: {exc}") from None
    if not isinstance(data, dict):
        raise NotACompletion("the reply is not a JSON object")
    return data

"""Where completions come from: one small interface, ``LLMClient``, and its implementations.

``LiteLLMClient`` asks a live model through litellm's async API (imported lazily: ~3.5 s),
``ReplayClient`` (``flows.llm.replay``) serves recorded completions. Everything above the client —
the call cache, extraction, checks, solving, voting, repair — is the same code for both.

Retries are ours, not litellm's or the OpenAI SDK's (``max_retries=0, num_retries=0``):
``tenacity`` retries rate limits, timeouts, connection failures and 5xx with backoff, never bad
requests, context-window overflows or authentication errors. Every failure that reaches the
caller is an ``LLMCallError`` with one line that names the endpoint and what to do; when an
endpoint refuses connections before it ever answered, the client stops asking (a circuit
breaker) so a batch against a dead endpoint ends in seconds, not after every call's retries.
The API key comes from the provider's environment variable and never appears in a request
record, a cache key, a log or a result.

Every call is bounded: ``max_tokens`` is sent with it, ``timeout_s`` is a deadline for the whole
call (retries included, ``asyncio.wait_for``; the SDK's own timeout is per read, which an endpoint
that sends a byte a second never trips), and a completion longer than ``MAX_COMPLETION_CHARS`` is
cut before it is stored (``LLMResponse.chars`` keeps its length, so the reader can refuse it).
A reply without a completion in it (no choices, no message, content that is not text) is an
``LLMCallError`` too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from abc import ABC, abstractmethod

from pydantic import BaseModel, ConfigDict

from parsers.errors import NesyflowError
from parsers.llm_output import MAX_OUTPUT_CHARS

from flows.settings import DEFAULT_MAX_TOKENS
from flows.text import without_surrogates

__all__ = ["LLMRequest", "LLMResponse", "LLMCallError", "LLMClient", "LiteLLMClient", "is_transient", "describe_failure",
           "completion_text", "RETRY_WAITS", "MAX_COMPLETION_CHARS"]

os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")  # never fetch the price list at import
RETRY_WAITS = (1.0, 4.0, 10.0)
"""Seconds before each retry of a transient failure (three retries)."""
MAX_COMPLETION_CHARS = MAX_OUTPUT_CHARS
"""Characters of a completion kept: the readers refuse anything longer (``parsers.llm_output``)."""


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
    max_tokens: int | None = DEFAULT_MAX_TOKENS
    """Sent with the call (None: the provider's default); part of the cache key, as it can cut a completion."""
    timeout_s: float = 120.0
    """The whole call, retries included."""


class LLMResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    chars: int = 0
    """The completion's length as received, when it was longer than ``text`` (cut at ``MAX_COMPLETION_CHARS``)."""
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0


class LLMCallError(NesyflowError):
    """A call that failed for good (after its retries): ``message`` is one line naming the endpoint."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.message = message
        self.transient = transient


class LLMClient(ABC):
    """One operation: a request in, a completion out (or ``LLMCallError``)."""

    cacheable: bool = True
    """Whether completions are worth storing (a recording is already stored)."""

    @abstractmethod
    async def complete(self, req: LLMRequest) -> LLMResponse: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        pass


def _endpoint(req: LLMRequest) -> str:
    if req.api_base:
        return req.api_base
    provider = req.model.split("/", 1)[0] if "/" in req.model else "openai"
    return f"the {provider} API"


_MALFORMED = ("invalid response object", "provider returned a response", "expecting value", "jsondecodeerror",
              "unterminated string", "expecting ',' delimiter", "extra data")


_EXC_PREFIX = re.compile(r"^(?:[\w.]{1,60}(?:Error|Exception)\s?[:-]\s?)+")


def malformed_reply(exc: BaseException) -> bool:
    """The endpoint answered, but not with a chat completion (litellm reports these as HTTP 500)."""
    chain = _chain(exc)
    return any(marker in chain for marker in _MALFORMED)


def is_transient(exc: BaseException) -> bool:
    """Retry rate limits, timeouts, connection failures and 5xx; never bad requests, context
    window overflows, authentication or permission errors, nor a reply that is not a completion."""
    import litellm

    never = (litellm.exceptions.BadRequestError, litellm.exceptions.ContextWindowExceededError,
             litellm.exceptions.AuthenticationError, litellm.exceptions.PermissionDeniedError,
             litellm.exceptions.NotFoundError, litellm.exceptions.UnprocessableEntityError)
    transient = (litellm.exceptions.RateLimitError, litellm.exceptions.Timeout, litellm.exceptions.APIConnectionError,
                 litellm.exceptions.InternalServerError, litellm.exceptions.ServiceUnavailableError,
                 litellm.exceptions.BadGatewayError)
    if isinstance(exc, never) or malformed_reply(exc):
        return False
    text = str(exc).lower()
    if "credential" in text or "api key" in text or "api_key" in text:  # litellm maps these to 5xx at times
        return False
    if isinstance(exc, transient):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status >= 500


def _chain(exc: BaseException) -> str:
    """The text of an exception and its causes (where "Connection refused" usually hides)."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " | ".join(parts).lower()


def describe_failure(exc: BaseException, req: LLMRequest, attempts: int = 1) -> str:
    """One line: what failed, where, and what to do."""
    import litellm

    where, chain = _endpoint(req), _chain(exc)
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    if malformed_reply(exc):
        why = _EXC_PREFIX.sub("", first).split(" Traceback")[0].strip()[:120]
        return f"{where} answered with something that is not a chat completion ({why}); check the endpoint"
    if isinstance(exc, litellm.exceptions.Timeout) or "timed out" in chain or "timeout" in type(exc).__name__.lower():
        return f"{where} did not answer within {req.timeout_s:g} s{tries}; raise --llm-timeout or check the server"
    if isinstance(exc, litellm.exceptions.APIConnectionError) or "connection" in chain:
        if "refused" in chain:
            return f"cannot connect to {where}: connection refused{tries} — is the server running?"
        if "name or service not known" in chain or "nodename nor servname" in chain or "getaddrinfo" in chain:
            return f"cannot connect to {where}: host name not found{tries}"
        return f"cannot connect to {where}{tries}: {first}"
    if isinstance(exc, litellm.exceptions.AuthenticationError):
        return f"{where} refused the credentials (HTTP 401): set the provider's API key (e.g. OPENAI_API_KEY)"
    if isinstance(exc, litellm.exceptions.NotFoundError):
        return f"{where}: model {req.model!r} not found (HTTP 404)"
    if isinstance(exc, litellm.exceptions.RateLimitError):
        return f"{where} rate-limited the call (HTTP 429){tries}; lower --concurrency"
    if isinstance(exc, litellm.exceptions.ContextWindowExceededError):
        return f"{where}: the prompt exceeds the model's context window ({first})"
    if isinstance(exc, litellm.exceptions.BadRequestError):
        return f"{where} rejected the request (HTTP 400): {first}"
    status = getattr(exc, "status_code", None)
    code = f"HTTP {status}" if status else type(exc).__name__
    return f"{where} failed ({code}){tries}: {first}"


def _quiet_litellm(verbose: bool) -> None:
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners
    if not verbose:
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


class LiteLLMClient(LLMClient):
    """Live models through ``litellm.acompletion``: at most ``concurrency`` calls in flight."""

    def __init__(self, concurrency: int = 8, waits: tuple[float, ...] = RETRY_WAITS, verbose: bool = False):
        self.concurrency = concurrency
        self.waits = waits
        self.verbose = verbose
        self._sem: asyncio.Semaphore | None = None
        self._answered = False
        self._down: str | None = None
        """Set when the endpoint refused connections before it ever answered: later calls fail at once."""
        self._routes: dict[tuple[str, str | None], object] = {}
        """(model, API base) → its ``flows.llm.direct.DirectRoute``, or None for ``litellm.acompletion``."""
        self._http = None
        """One pooled HTTP session for the direct routes (``flows.llm.direct.session``), and its loop."""
        self._http_loop = None
        self._quieted = False

    def _route(self, req: LLMRequest):
        key = (req.model, req.api_base)
        if key not in self._routes:
            from flows.llm.direct import route_for

            try:
                self._routes[key] = route_for(req.model, req.api_base)
            except Exception:  # noqa: BLE001 - litellm.acompletion serves it and reports what is wrong
                self._routes[key] = None
        return self._routes[key]

    def _client(self):
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop:  # a session belongs to one event loop
            from flows.llm.direct import session

            self._http, self._http_loop = session(self.concurrency), loop
        return self._http

    async def aclose(self) -> None:
        if self._http is not None and self._http_loop is asyncio.get_running_loop():
            await self._http.close()
        self._http = self._http_loop = None

    async def complete(self, req: LLMRequest) -> LLMResponse:
        import litellm
        from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt, wait_chain, wait_fixed

        from flows.llm.direct import MAX_RESPONSE_BYTES, ResponseTooLarge, post

        if not self._quieted:
            _quiet_litellm(self.verbose)
            self._quieted = True
        if req.model.startswith("replay/"):
            raise LLMCallError("replay/… models are served by the replay client, not litellm")
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        if self._down:
            raise LLMCallError(self._down)
        route = self._route(req)
        kwargs = dict(model=req.model, messages=req.messages, temperature=req.temperature, timeout=req.timeout_s,
                      max_retries=0, num_retries=0,
                      metadata={"problem_id": req.problem_id, "sample": req.sample, "round": req.round})
        if req.max_tokens is not None:
            kwargs["max_tokens"] = req.max_tokens
        if req.seed is not None:
            kwargs["seed"] = req.seed
        if req.api_base:
            kwargs["api_base"] = req.api_base
            if req.model.startswith(("openai/", "hosted_vllm/")) and not os.environ.get("OPENAI_API_KEY"):
                kwargs["api_key"] = "no-key"  # a local endpoint without auth; the SDK insists on some key
        attempts = 0

        def retryable(exc: BaseException) -> bool:
            if self._down or not is_transient(exc):
                return False
            if not self._answered and attempts >= 2 and "refused" in _chain(exc):
                self._down = describe_failure(exc, req, attempts)  # a wrong URL or a stopped server: stop asking
                return False
            return True

        async def call():
            nonlocal attempts
            body = route.body(req.messages, req.temperature, req.max_tokens, req.seed) if route is not None else None
            async for attempt in AsyncRetrying(stop=stop_after_attempt(len(self.waits) + 1),
                                               wait=wait_chain(*(wait_fixed(w) for w in self.waits)),
                                               retry=retry_if_exception(retryable), reraise=True):
                with attempt:
                    attempts += 1
                    if self._down:
                        raise LLMCallError(self._down)
                    if route is not None:
                        data = await post(self._client(), route, body, req.timeout_s)
                        self._answered = True
                        return reply_text(data, req)
                    return await litellm.acompletion(**kwargs)

        async with self._sem:
            t0 = time.perf_counter()
            try:
                response = await asyncio.wait_for(call(), timeout=req.timeout_s)
            except asyncio.TimeoutError:
                tries = f" ({attempts} attempts)" if attempts > 1 else ""
                raise LLMCallError(f"{_endpoint(req)} did not complete the call within {req.timeout_s:g} s{tries}; raise "
                                   "--llm-timeout or check the server", transient=True) from None
            except LLMCallError:
                raise
            except ResponseTooLarge as exc:
                raise LLMCallError(f"{_endpoint(req)} sent a reply of more than {MAX_RESPONSE_BYTES / 2**20:g} MiB "
                                   f"({exc.args[0]:,} bytes read or declared); a completion is at most "
                                   f"{MAX_COMPLETION_CHARS:,} characters — check the endpoint") from None
            except (RetryError, Exception) as exc:  # noqa: B014 - RetryError only without reraise
                message = describe_failure(exc, req, attempts)
                if not self._answered and "cannot connect" in message and is_transient(exc):
                    self._down = message  # nothing ever answered: stop asking
                # a malformed reply is not retried, but neither is it kept: the endpoint may be fixed
                raise LLMCallError(message, transient=is_transient(exc) or malformed_reply(exc)) from None
        self._answered = True
        latency = time.perf_counter() - t0
        if route is not None:
            text, finish, usage = response
            prompt_tokens = _count(usage.get("prompt_tokens"))
            completion_tokens = _count(usage.get("completion_tokens"))
            cost = _count(route.cost(prompt_tokens, completion_tokens), float)
        else:
            text, finish = completion_text(response, req)
            usage = getattr(response, "usage", None)
            hidden = getattr(response, "_hidden_params", None) or {}
            prompt_tokens = _count(getattr(usage, "prompt_tokens", 0))
            completion_tokens = _count(getattr(usage, "completion_tokens", 0))
            cost = _count(hidden.get("response_cost") if isinstance(hidden, dict) else 0, float)
        return LLMResponse(text=text[:MAX_COMPLETION_CHARS], chars=len(text) if len(text) > MAX_COMPLETION_CHARS else 0,
                           finish_reason=finish, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                           cost_usd=cost, latency_s=round(latency, 4))


def _count(value, kind=int):
    """A usage figure as the endpoint reported it, or 0 when it is missing or not a number."""
    try:
        number = kind(value or 0)
    except (TypeError, ValueError, OverflowError):
        return kind(0)
    return number if number == number and 0 <= number < 10**12 else kind(0)  # no nan, no negative, no absurd


def reply_text(data: dict, req: LLMRequest) -> tuple[str, str, dict]:
    """A chat completion's JSON (the direct route): its text, finish reason and usage block, or
    ``LLMCallError`` as ``completion_text`` gives it. A choice that is not an object, or has no
    message, is not a chat completion (what litellm's response parser said of it)."""
    from flows.llm.direct import NotACompletion

    choices = data.get("choices")
    if not choices or not isinstance(choices, list):
        raise LLMCallError(f"{_endpoint(req)} answered without a completion (no choices in the reply)", transient=True)
    first = choices[0]
    if not isinstance(first, dict) or not isinstance(first.get("message"), dict):
        raise NotACompletion("invalid response object: the first choice has no message")
    text, finish = _message_text(first["message"].get("content"), first.get("finish_reason"), req)
    usage = data.get("usage")
    return text, finish, usage if isinstance(usage, dict) else {}


def completion_text(response, req: LLMRequest) -> tuple[str, str]:
    """The completion's text and finish reason, or ``LLMCallError`` naming what the reply lacked
    (an endpoint may answer 200 with no choices, a message without content, or content that is
    not text)."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise LLMCallError(f"{_endpoint(req)} answered without a completion (no choices in the reply)", transient=True)
    first = choices[0]
    message = getattr(first, "message", None)
    if message is None:
        raise LLMCallError(f"{_endpoint(req)} answered without a message in its first choice", transient=True)
    return _message_text(getattr(message, "content", None), getattr(first, "finish_reason", None), req)


def _message_text(content, finish, req: LLMRequest) -> tuple[str, str]:
    """A first choice's content and finish reason, read alike from litellm's objects and from the
    direct route's JSON."""
    if isinstance(content, list):  # content parts: the text ones, in order
        parts = [p.get("text") if isinstance(p, dict) else getattr(p, "text", None) for p in content]
        content = "".join(p for p in parts if isinstance(p, str))
    if content is None:
        content = ""  # no text (a refusal, a tool call): read as an empty output, a located error
    if not isinstance(content, str):
        raise LLMCallError(f"{_endpoint(req)} answered with {type(content).__name__} content, not text", transient=True)
    # JSON may spell an unpaired surrogate ("\ud800"); such text cannot be stored or written as UTF-8
    return without_surrogates(content)[0], without_surrogates(finish)[0] if isinstance(finish, str) else ""

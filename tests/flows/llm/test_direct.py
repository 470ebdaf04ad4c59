"""The direct route to OpenAI-compatible endpoints (``flows.llm.direct``): what it sends is what
``litellm.acompletion`` sent, its cost is litellm's price × usage, and a reply is read only up to a cap."""

from __future__ import annotations

import asyncio

import pytest

from flows.llm import direct
from flows.llm.clients import LiteLLMClient, LLMCallError, LLMRequest
from flows.llm.fake_openai import FakeOpenAI

GOOD = "TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))"


def _requests(api_base: str, n: int = 3) -> list[LLMRequest]:
    msgs = [{"role": "user", "content": "Translate: All men are mortal."}]
    return [LLMRequest(problem_id="p", model="openai/local-model", api_base=api_base, messages=msgs, temperature=0.8,
                       seed=s, sample=s, max_tokens=300) for s in range(n)]


async def _ask(client: LiteLLMClient, reqs: list[LLMRequest]):
    try:
        return await asyncio.gather(*(client.complete(r) for r in reqs))
    finally:
        await client.aclose()


def test_the_direct_route_sends_what_litellm_acompletion_sent(monkeypatch):
    with FakeOpenAI(lambda messages: GOOD) as server:
        fast = asyncio.run(_ask(LiteLLMClient(), _requests(server.api_base)))
        direct_bodies = list(server.requests)
        server.requests.clear()
        monkeypatch.setattr(direct, "route_for", lambda model, api_base: None)  # every call through acompletion
        slow = asyncio.run(_ask(LiteLLMClient(), _requests(server.api_base)))
        litellm_bodies = list(server.requests)
    key = lambda body: body["seed"]  # noqa: E731 - concurrent calls arrive in any order
    assert sorted(direct_bodies, key=key) == sorted(litellm_bodies, key=key)
    assert direct_bodies[0]["max_tokens"] == 300 and direct_bodies[0]["model"] == "local-model"
    for a, b in zip(fast, slow):
        assert (a.text, a.finish_reason, a.prompt_tokens, a.completion_tokens, a.cost_usd) == \
               (b.text, b.finish_reason, b.prompt_tokens, b.completion_tokens, b.cost_usd)


def test_cost_is_usage_times_litellms_price_looked_up_once(monkeypatch):
    import litellm

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    route = direct.route_for("openai/gpt-4o", "http://127.0.0.1:9/v1")
    assert route is not None and route.url == "http://127.0.0.1:9/v1/chat/completions"
    prompt_cost, completion_cost = litellm.cost_per_token(model="gpt-4o", prompt_tokens=1200, completion_tokens=300)
    assert route.price_in > 0 and route.cost(1200, 300) == pytest.approx(prompt_cost + completion_cost)
    assert direct.route_for("openai/no-such-model-anywhere", "http://127.0.0.1:9/v1").cost(1000, 1000) == 0.0


def test_custom_and_other_providers_keep_litellm_acompletion():
    assert direct.route_for("anthropic/claude-3-5-sonnet-20240620", None) is None


def test_a_reply_over_the_byte_cap_is_a_failed_call_not_read_whole(monkeypatch):
    monkeypatch.setattr(direct, "MAX_RESPONSE_BYTES", 64 * 1024)
    with FakeOpenAI(lambda messages: GOOD + "x" * 200_000) as server:
        with pytest.raises(LLMCallError) as info:
            asyncio.run(_ask(LiteLLMClient(), _requests(server.api_base, n=1)))
    assert "sent a reply of more than" in info.value.message and not info.value.transient


class _StatusServer:
    """Answers each POST with the next (status, body) of a script, then with a completion."""

    def __init__(self, script: list[tuple[int, dict]]):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.script, self.seen = list(script), 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.seen += 1
                status, payload = outer.script.pop(0) if outer.script else (200, {
                    "id": "x", "object": "chat.completion", "created": 1, "model": "m",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": GOOD}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.api_base = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


def _error(code: str, message: str) -> dict:
    return {"error": {"message": message, "type": code, "code": code}}


@pytest.mark.parametrize("through", ["direct", "acompletion"])
def test_error_replies_are_mapped_as_litellm_maps_them(monkeypatch, through):
    """A 429 is retried and then answered; a 400 is not retried and names the rejection."""
    if through == "acompletion":
        monkeypatch.setattr(direct, "route_for", lambda model, api_base: None)
    with _StatusServer([(429, _error("rate_limit_exceeded", "slow down"))]) as server:
        (resp,) = asyncio.run(_ask(LiteLLMClient(waits=(0.05, 0.05, 0.05)), _requests(server.api_base, n=1)))
        assert resp.text == GOOD and server.seen == 2
    with _StatusServer([(400, _error("invalid_request_error", "bad prompt"))] * 4) as server:
        with pytest.raises(LLMCallError) as info:
            asyncio.run(_ask(LiteLLMClient(waits=(0.05, 0.05, 0.05)), _requests(server.api_base, n=1)))
        assert server.seen == 1
    assert "rejected the request (HTTP 400)" in info.value.message and "bad prompt" in info.value.message

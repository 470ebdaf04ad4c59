"""A minimal OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

Real HTTP (litellm's ``openai/<name>`` provider with ``api_base``), a configurable latency,
and a responder that maps the request's messages to a completion text. Threaded, so N
concurrent requests each wait their latency in parallel, as a real endpoint would.

    with FakeOpenAI(lambda messages: "TEXT: ...", latency_s=1.0) as server:
        server.api_base   # http://127.0.0.1:<port>/v1

Misbehaving endpoints, for the client's bounds: a responder may return the whole reply instead of
a completion text — a ``dict`` (sent as the JSON body: no choices, no content, …) or ``bytes``
(sent as they are: malformed JSON) — and ``drip_s`` sends the body one byte every ``drip_s``
seconds (a read timeout never fires; only a deadline on the whole call ends it).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Union

__all__ = ["FakeOpenAI", "main"]


Reply = Union[str, dict, bytes]


class FakeOpenAI:
    def __init__(self, responder: Callable[[list[dict]], Reply], latency_s: float = 0.0, drip_s: float = 0.0,
                 port: int = 0):
        self.responder = responder
        self.latency_s = latency_s
        self.drip_s = drip_s
        self.requests: list[dict] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request, to see start-up and gaps
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connections, as with a real API
            # headers and body go out in two writes: with Nagle's algorithm on, the body waits for the
            # client's delayed ACK (~40 ms a call) — a cost of this server, not of any real endpoint
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/stats"):
                    with outer._lock:
                        arr = list(outer.arrivals)
                    self._send(200, {"requests": len(arr), "first": arr[0] if arr else None, "last": arr[-1] if arr else None})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.requests.append(body)
                    outer.arrivals.append(time.monotonic())
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                time.sleep(outer.latency_s)
                reply = outer.responder(body.get("messages", []))
                if isinstance(reply, str):
                    reply = {
                        "id": f"chatcmpl-{len(outer.requests)}", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply}}],
                        "usage": {"prompt_tokens": 120, "completion_tokens": 60, "total_tokens": 180},
                    }
                self._send(200, reply, drip_s=outer.drip_s)

            def _send(self, code, payload, drip_s: float = 0.0):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not drip_s:
                    self.wfile.write(data)
                    return
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(drip_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: what a slow endpoint's client should do

        class Server(ThreadingHTTPServer):
            # a real endpoint accepts many connections at once; the stdlib's backlog of 5 drops the
            # rest of a burst of new connections, and each dropped SYN costs the client a 1 s retry
            request_queue_size = 1024

        self._server = Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    """``python -m flows.llm.fake_openai --latency 0.02 --reply FILE [--port N]``: serve until killed, printing the
    API base on the first line of stdout. ``GET /v1/stats`` tells how many requests arrived and when
    (``time.monotonic()``, comparable across processes on one machine)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="a loopback OpenAI-compatible server with a fixed latency and reply")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    ap.add_argument("--reply", required=True, help="file whose text is every completion")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 [any free one]")
    args = ap.parse_args(argv)
    text = open(args.reply, encoding="utf-8").read()
    with FakeOpenAI(lambda messages: text, latency_s=args.latency, port=args.port) as server:
        print(server.api_base, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            sys.exit(0)


if __name__ == "__main__":
    main()

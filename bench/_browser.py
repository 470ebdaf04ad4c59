"""Headless Chromium driven over the DevTools protocol: the UI test and the growth bench load the
Prefect UI as a person does (log in, open a run's page, wait for what it renders), not by
fetching the single-page app's HTML, which says nothing about the API calls behind the page.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager

__all__ = ["Page", "browser", "log_in", "FLAGS"]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--window-size=1400,1000", "--remote-debugging-port=0", "--remote-allow-origins=*"]


class Page:
    """One browser tab over the DevTools protocol (a websocket to headless Chromium)."""

    def __init__(self, ws):
        self.ws, self.ids = ws, itertools.count(1)

    def call(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait(self, expression: str, what: str, timeout: float = 90, poll: float = 0.5):
        """The expression's first truthy value; TimeoutError naming ``what`` and the page's text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(poll)
        raise TimeoutError(f"timed out waiting for {what}; the page says: {self.text()[:500]}")

    def text(self) -> str:
        return self.js("document.body ? document.body.textContent : ''") or ""

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)


@contextmanager
def browser(executable: str):
    from websockets.sync.client import connect

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:  # chromium may still be writing it
        proc = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            port = None
            for line in proc.stderr:  # "DevTools listening on ws://127.0.0.1:<port>/devtools/browser/<id>"
                found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
                if found:
                    port = int(found.group(1))
                    break
            if not port:
                raise RuntimeError("chromium did not open its DevTools port")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as resp:
                target = next(t for t in json.loads(resp.read()) if t["type"] == "page")
            with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
                page = Page(ws)
                page.call("Page.enable")
                page.call("Runtime.enable")
                yield page
        finally:
            proc.kill()
            proc.wait(30)


def log_in(page: Page, url: str, credential: str) -> None:
    """What a person does: open the UI, paste the credential into its login box, press Login."""
    page.open(url)
    page.wait("!!document.querySelector('input[type=password]')", "the UI's login page")
    page.js("document.querySelector('input[type=password]').focus()")
    page.call("Input.insertText", text=credential)
    page.js("document.querySelector('button[type=submit]').click()")
    page.wait("!document.querySelector('input[type=password]')", "the login to go through")

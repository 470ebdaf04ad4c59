"""Issue 10's attacks through the real CLI and flow: Program-of-Thought payloads as a dataset's
gold programs and as a model's output, with an API key in the environment, then state files
poisoned with pickle payloads before a rerun. Nothing may escape, leak or execute. Issue 18's
output bomb and oversized messages: the engine stays small, the batch goes on.

Wall limits are generous (``--timeout 60``): these tests are not about timing, and a trivial
program that misses a tight limit on a loaded machine would pass for a contained payload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from security_payloads import payloads, plant_pickles, survivors

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[2]
CANARY = "sk-canary-9d8e7f6a5b4c3d2e1f"


def _everything_under(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.rglob("*") if p.is_file())


def test_payloads_through_the_cli_escape_nothing_leak_nothing_and_poison_nothing(prefect_api, tmp_path, listener):
    port, hits = listener
    home, markers = tmp_path / "home", tmp_path / "markers"
    markers.mkdir()
    programs = payloads(markers, home, CANARY, port)
    data = tmp_path / "payloads.jsonl"
    data.write_text("".join(json.dumps({"id": name, "kind": "math", "question": name, "answer": "0",
                                        "formal": {"language": "python", "premises": [code], "conclusion": ""}}) + "\n"
                            for name, code in programs.items()))
    env = {**os.environ, "NESYFLOW_HOME": str(home), "OPENAI_API_KEY": CANARY}
    args = [sys.executable, "-m", "flows.cli", "batch", str(data), "--parser", "gold", "--timeout", "60",
            "--results", str(tmp_path / "r.jsonl"), "--summary-json", str(tmp_path / "s.json")]
    first = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    results = {r["id"]: r for r in map(json.loads, (tmp_path / "r.jsonl").read_text().splitlines())}
    assert set(results) == set(programs)
    for name, r in results.items():  # each program ran and achieved nothing
        assert r["predicted"] == "0", (name, r["status"], r["error"])
    time.sleep(0.5)
    assert list(markers.iterdir()) == [] and hits == [] and survivors() == []

    # An attacker who could write the state would plant pickles in every result and cache file.
    planted = plant_pickles(home, markers / "unpickled")
    assert planted > 0 and not (home / "results").exists()  # Prefect persists no results at all
    second = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert not (markers / "unpickled").exists(), "a planted pickle was loaded"
    again = {r["id"]: r["predicted"] for r in map(json.loads, (tmp_path / "r.jsonl").read_text().splitlines())}
    assert again == {name: "0" for name in programs}  # poisoned records were misses: recomputed, same answers
    assert json.loads((tmp_path / "s.json").read_text())["cached_problems"] == 0

    # The key is nowhere: not in results, summaries, the store, the CLI's output, or the Prefect database.
    for blob in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert CANARY not in blob
    assert CANARY.encode() not in _everything_under(home) + _everything_under(tmp_path / "markers")
    assert CANARY.encode() not in (tmp_path / "r.jsonl").read_bytes() + (tmp_path / "s.json").read_bytes()
    db = Path(os.environ["NESYFLOW_HOME"]) / "prefect" / "prefect.db"  # the session server's database
    assert db.exists() and CANARY.encode() not in db.read_bytes()


def test_model_written_payload_is_contained_too(prefect_api, tmp_path):
    """The same sandbox for a program a (scripted) model writes, through the LLM path."""
    from flows.llm.scripted import ScriptedModel
    from flows.orchestration.batch import run_batch

    markers = tmp_path / "markers"
    markers.mkdir()
    code = payloads(markers, tmp_path / "state", CANARY, 9)["write_outside"]
    ScriptedModel(lambda messages, meta: f"```python\n{code}\n```").install("scripted-payload")
    data = tmp_path / "m.jsonl"
    data.write_text(json.dumps({"id": "m1", "kind": "math", "question": "What is 0?", "answer": "0"}) + "\n")
    report = run_batch(path=str(data), parser="llm", model="scripted-payload/m", language="python", concurrency=2,
                       timeout_s=60)
    (r,) = report.results
    assert r.predicted == "0" and r.language == "python"
    assert list(markers.iterdir()) == []


_PEAK_RSS = """
import ctypes, os, resource, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned engine workers are reaped (and counted) here
code = subprocess.run(sys.argv[1:]).returncode
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        if os.waitpid(-1, os.WNOHANG)[0] == 0:
            time.sleep(0.05)
    except ChildProcessError:
        break
print(f"peak-rss-kb {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
sys.exit(code)
"""
"""Runs the CLI and prints the largest resident set of any process under it (CLI, engine workers,
sandboxes): ``RUSAGE_CHILDREN`` covers every descendant reaped here, and as a subreaper this
process also reaps the engine workers the CLI leaves behind when it exits."""


def test_a_2_gib_output_bomb_through_the_cli_leaves_the_engine_small_and_the_batch_goes_on(prefect_api, tmp_path):
    bomb = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(2048):\n    sys.stdout.write(chunk)\nanswer = 1\n"
    loud = ("import json, os, sys\nsys.stdout.write(json.dumps({'status': 'error', 'message': 'E' * 3_000_000}) + '\\n')\n"
            "sys.stdout.flush()\nos._exit(0)\n")
    records = [("bomb", bomb, "1"), ("loud", loud, "0"), ("honest", "answer = 6 * 7\n", "42")]
    data = tmp_path / "bombs.jsonl"
    data.write_text("".join(json.dumps({"id": name, "kind": "math", "question": name, "answer": gold,
                                        "formal": {"language": "python", "premises": [code], "conclusion": ""}}) + "\n"
                            for name, code, gold in records))
    home = tmp_path / "home"
    env = {**os.environ, "NESYFLOW_HOME": str(home), "NESYFLOW_FORKSERVER": "0"}  # the engine is our descendant
    cli = Path(sys.executable).with_name("nesyflow")
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(cli), "batch", str(data), "--parser", "gold", "--timeout", "60",
                          "--results", str(tmp_path / "r.jsonl")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    peak_mb = int(out.stdout.rsplit("peak-rss-kb ", 1)[1]) / 1024
    assert peak_mb < 512, f"a process of the batch reached {peak_mb:.0f} MB (collecting 2 GiB would be over 2,048)"
    results = {r["id"]: r for r in map(json.loads, (tmp_path / "r.jsonl").read_text().splitlines())}
    assert results["honest"]["predicted"] == "42"  # the batch went on
    assert results["bomb"]["status"] == "error" and results["bomb"]["predicted"] is None
    assert results["bomb"]["reason"] == "output limit: more than 4,194,304 bytes written to stdout"
    assert results["bomb"]["error"].startswith("solve error at program: the program was stopped: output limit")
    loud_r = results["loud"]
    assert loud_r["status"] == "error" and len(loud_r["reason"]) < 2100
    assert loud_r["reason"].endswith("(3,000,000 chars)")
    assert (tmp_path / "r.jsonl").stat().st_size < 100_000
    store = sum(p.stat().st_size for p in (home / "cache").glob("store.sqlite*"))
    assert store < 1_000_000, f"the store holds {store:,} bytes"

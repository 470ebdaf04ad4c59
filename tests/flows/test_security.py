"""Issue 10's attacks through the real CLI and flow: Program-of-Thought payloads as a dataset's
gold programs and as a model's output, with an API key in the environment, then state files
poisoned with pickle payloads before a rerun. Nothing may escape, leak or execute."""

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
    args = [sys.executable, "-m", "flows.cli", "batch", str(data), "--parser", "gold", "--results", str(tmp_path / "r.jsonl"),
            "--summary-json", str(tmp_path / "s.json")]
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
    report = run_batch(path=str(data), parser="llm", model="scripted-payload/m", language="python", concurrency=2)
    (r,) = report.results
    assert r.predicted == "0" and r.language == "python"
    assert list(markers.iterdir()) == []

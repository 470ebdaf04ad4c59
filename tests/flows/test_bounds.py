"""Issue 18, items 3 and 4 through the real CLI: what a dataset or an endpoint can send is bounded.

A deep JSON line is that record's error; deep formulas are located parse errors; a completion of
blank lines is read within the problem's budget; every call carries ``max_tokens``; a slow-drip
endpoint is cut at ``--llm-timeout``; replies that are not completions are formalize errors; an
oversized completion is refused and not stored whole; control characters never reach the
terminal raw; ``nan``/``inf`` answer nothing; message fields are capped in results and store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.llm.fake_openai import FakeOpenAI

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[2]
NESYFLOW = str(Path(sys.executable).with_name("nesyflow"))
GOOD = ("TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is a man.\nFOL:\tMan(Socrates)\n"
        "TEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)")


def batch(tmp_path: Path, rows: list[dict], *args: str, timeout: float = 240) -> tuple[subprocess.CompletedProcess, dict, float]:
    """``nesyflow batch`` (the installed entry point, in-process) over ``rows``; its results by id."""
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_cli(tmp_path, ["batch", str(data), *args], timeout=timeout)


def run_cli(tmp_path: Path, argv: list[str], timeout: float = 240):
    results = tmp_path / "results.jsonl"
    env = {**os.environ, "NESYFLOW_HOME": str(tmp_path / "home"), "NESYFLOW_FORKSERVER": "0"}
    extra = ["--results", str(results)] if argv[0] == "batch" else []
    t0 = time.monotonic()
    proc = subprocess.run([NESYFLOW, *argv, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    out = {r["id"]: r for r in map(json.loads, results.read_text().splitlines())} if results.exists() else {}
    return proc, out, elapsed


def entailment(pid: str, premise: str = "All men are mortal.") -> dict:
    return {"id": pid, "premises": [premise, "Socrates is a man."], "conclusion": "Socrates is mortal.", "answer": "True"}


def gold(pid: str, premises: list[str], conclusion: str = "P(a)") -> dict:
    return {"id": pid, "premises": ["p"] * len(premises), "conclusion": "c", "answer": "True",
            "formal": {"language": "fol", "premises": premises, "conclusion": conclusion}}


# ---- datasets and formulas ---------------------------------------------------------------------

@pytest.mark.parametrize("deep_first", [False, True])
def test_a_deeply_nested_json_line_is_that_records_error(prefect_api, tmp_path, deep_first):
    lines = [json.dumps(gold("ok1", ["P(a)"])), "[" * 100_000, json.dumps(gold("ok2", ["all x. (Q(x) -> P(x))", "Q(a)"]))]
    if deep_first:
        lines = [lines[1], lines[0], lines[2]]
    data = tmp_path / "deep.jsonl"
    data.write_text("\n".join(lines) + "\n")
    proc, out, _ = run_cli(tmp_path, ["batch", str(data), "--parser", "gold"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out["ok1"]["predicted"] == "True" and out["ok2"]["predicted"] == "True"
    (bad,) = [r for pid, r in out.items() if pid not in ("ok1", "ok2")]
    assert bad["status"] == "error" and "nested deeper than 64 levels" in bad["error"], bad["error"]
    assert f"line {1 if deep_first else 2}" in bad["error"]


def test_deep_or_huge_formulas_are_located_errors_not_internal_errors(prefect_api, tmp_path):
    rows = [gold("negations", ["-" * 4000 + "P(a)"]), gold("parens", ["(" * 4000 + "P(a)" + ")" * 4000]),
            gold("quantifiers", ["all x. " * 1500 + "P(x)"]), gold("implications", ["P(a) -> " * 1500 + "P(a)"]),
            gold("fine", ["P(a)"]), gold("huge", ["P(a)"] * 30_000)]
    proc, out, _ = batch(tmp_path, rows, "--parser", "gold")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out["fine"]["predicted"] == "True"
    assert out["huge"]["status"] == "error" and "the gold formalization is 120,004 characters" in out["huge"]["error"]
    for pid in ("negations", "parens", "quantifiers", "implications"):
        r = out[pid]
        assert r["status"] == "error" and "internal error" not in (r["error"] or ""), (pid, r["error"])
        assert r["error"].startswith("parse error at premise 1") and "nest" in r["error"], (pid, r["error"])


# ---- the LLM path --------------------------------------------------------------------------------

def _reply(messages) -> str | dict | bytes:
    """One misbehaving endpoint, whose reply depends on the problem's first premise."""
    prompt = messages[0]["content"]
    if "Blank lines follow." in prompt:
        return "\n" * 3000 + GOOD  # detect_style was cubic on blank lines: 2 KB took 289 s
    if "No choices." in prompt:
        return {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
    if "No message." in prompt:
        return {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop"}]}
    if "Malformed." in prompt:
        return b'{"id": "x", "choices": ['
    if "Huge." in prompt:
        return GOOD + "\n" + "x" * 1_000_000
    return GOOD


def test_misbehaving_endpoint_replies_are_bounded_located_errors(prefect_api, tmp_path):
    rows = [entailment("blank", "Blank lines follow."), entailment("nochoices", "No choices."),
            entailment("nomessage", "No message."), entailment("malformed", "Malformed."), entailment("huge", "Huge."),
            entailment("good")]
    with FakeOpenAI(_reply) as server:
        proc, out, elapsed = batch(tmp_path, rows, "--parser", "llm", "--model", "openai/m", "--api-base", server.api_base,
                                   "--problem-timeout", "5", "--llm-timeout", "30", "--solver", "z3")
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert elapsed < 90, f"the batch took {elapsed:.0f} s"
    assert out["good"]["predicted"] == "True" and out["blank"]["predicted"] == "True"  # blank lines read, fast
    for pid, expected in (("nochoices", "no choices in the reply"), ("nomessage", "not a chat completion"),
                          ("malformed", "not a chat completion"), ("huge", "at most 100,000 are read")):
        r = out[pid]
        assert r["status"] == "error" and r["error"].startswith("formalize error"), (pid, r["error"])
        assert expected in r["error"] and "internal error" not in r["error"], (pid, r["error"])
    assert f"the output is {len(GOOD) + 1_000_001:,} characters" in out["huge"]["error"]  # its length as received
    assert requests and all(body.get("max_tokens") == 2048 for body in requests)
    with sqlite3.connect(tmp_path / "home" / "cache" / "store.sqlite") as db:
        sizes = dict(db.execute("SELECT kind, max(length(value)) FROM records GROUP BY kind").fetchall())
    assert sizes["llm"] < 120_000, sizes  # the completion was cut before it was stored


def test_max_tokens_flag_is_sent_on_every_call_repairs_included(prefect_api, tmp_path):
    clash = GOOD.replace("Man(Socrates)", "Man(Socrates, Athens)", 1)
    with FakeOpenAI(lambda messages: clash if len(messages) == 1 else GOOD) as server:
        proc, out, _ = batch(tmp_path, [entailment("p")], "--parser", "llm", "--model", "openai/m", "--api-base",
                             server.api_base, "--max-tokens", "300", "--repair-rounds", "1", "--solver", "z3")
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out["p"]["predicted"] == "True" and out["p"]["repair_rounds"] == 1
    assert [body.get("max_tokens") for body in requests] == [300, 300]


def test_a_slow_drip_endpoint_is_cut_at_the_llm_timeout(prefect_api, tmp_path):
    with FakeOpenAI(lambda messages: GOOD, drip_s=0.5) as server:  # ~600 bytes: 5 minutes at a byte per 0.5 s
        proc, out, elapsed = batch(tmp_path, [entailment("p")], "--parser", "llm", "--model", "openai/m", "--api-base",
                                   server.api_base, "--llm-timeout", "3", "--solver", "z3", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert elapsed < 60, f"the batch took {elapsed:.0f} s"
    r = out["p"]
    assert r["status"] == "error" and "did not complete the call within 3 s" in r["error"], r["error"]


# ---- what reaches the terminal, results and the store ---------------------------------------------

def test_control_characters_are_escaped_on_the_terminal(prefect_api, tmp_path):
    evil_id = "evil\x1b[2J\x1b]0;pwned\x07"
    rows = [gold(evil_id, ["P(a) \x1b[31m"]), gold("ok", ["P(a)"])]
    proc, out, _ = batch(tmp_path, rows, "--parser", "gold", "--verbose")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out[evil_id]["status"] == "error"  # the results file keeps the id as it is (JSON escapes it)
    for stream in (proc.stdout, proc.stderr):
        assert "\x1b[2J" not in stream and "\x1b]0;" not in stream and "\x07" not in stream and "\x1b[31m" not in stream
    assert "evil\\x1b[2J" in proc.stderr  # the id was printed, escaped
    solved = subprocess.run([NESYFLOW, "solve", "--premise", "P(a) \x1b[2J", "--conclusion", "P(a)"], cwd=ROOT,
                            env={**os.environ, "NESYFLOW_HOME": str(tmp_path / "home"), "NESYFLOW_FORKSERVER": "0"},
                            capture_output=True, text=True, timeout=240)
    assert "\x1b[2J" not in solved.stdout + solved.stderr and "\\x1b[2J" in solved.stdout, solved.stdout


def test_non_finite_math_answers_answer_nothing(prefect_api, tmp_path):
    rows = [{"id": name, "kind": "math", "question": "q", "answer": gold_answer,
             "formal": {"language": "python", "premises": [f"answer = float({value!r})"], "conclusion": ""}}
            for name, value, gold_answer in (("inf", "inf", "inf"), ("nan", "nan", "nan"), ("minus-inf", "-inf", "-inf"))]
    rows.append({"id": "finite", "kind": "math", "question": "q", "answer": "2.5",
                 "formal": {"language": "python", "premises": ["answer = 5 / 2"], "conclusion": ""}})
    proc, out, _ = batch(tmp_path, rows, "--parser", "gold")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out["finite"]["predicted"] == "2.5" and out["finite"]["correct"]
    for pid in ("inf", "nan", "minus-inf"):
        r = out[pid]
        assert r["status"] == "error" and not r["correct"] and r["predicted"] is None, (pid, r)
        assert "not a finite number" in r["error"], r["error"]


def test_message_fields_are_capped_in_results_and_store(prefect_api, tmp_path):
    """A sandboxed program prints its own result line with a 100 KB message and exits before ours."""
    program = ("import json, os, sys\nsys.stdout.write('\\n' + json.dumps({'status': 'error', 'message': 'm' * 100_000})"
               " + '\\n')\nsys.stdout.flush()\nos._exit(0)\n")
    rows = [{"id": "loud", "kind": "math", "question": "q", "answer": "1",
             "formal": {"language": "python", "premises": [program], "conclusion": ""}}]
    proc, out, _ = batch(tmp_path, rows, "--parser", "gold")
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = out["loud"]
    assert r["status"] == "error"
    assert len(r["reason"]) <= 2000 and r["reason"].endswith("(100,000 chars)"), r["reason"][-80:]
    assert len(json.dumps(r)) < 20_000
    with sqlite3.connect(tmp_path / "home" / "cache" / "store.sqlite") as db:
        (largest,) = db.execute("SELECT max(length(value)) FROM records").fetchone()
    assert largest < 20_000


def test_each_problem_reports_its_own_verdict_when_ids_repeat(tmp_path):
    """A dataset with ids a, a, a#2: the second a was renamed a#2 and its verdict (False) stood in
    the results twice, for the real a#2 (Unknown) too — counted correct against the wrong gold."""
    rows = [{**gold("a", ["P(a)"], "P(a)"), "answer": "True"}, {**gold("a", ["P(a)"], "-P(a)"), "answer": "False"},
            {**gold("a#2", ["P(a)"], "Q(a)"), "answer": "Unknown"}]
    proc, _, _ = batch(tmp_path, rows, "--parser", "gold")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len({r["id"] for r in lines}) == 3, [r["id"] for r in lines]
    assert sorted((r["gold"], r["predicted"]) for r in lines) == [("False", "False"), ("True", "True"), ("Unknown", "Unknown")]

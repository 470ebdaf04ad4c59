"""The benchmarks' baselines run (their numbers are only as good as the code that makes them)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _json_line(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_linc_stack_on_folio_gold_and_a_linc_recording(shared_data):
    folio = _json_line(["bench/linc_stack.py", "folio", str(shared_data / "folio" / "folio-validation.jsonl"), "--limit", "6"])
    assert folio["problems"] == 6 and folio["correct"] >= 3
    rec = shared_data / "recorded" / "linc" / "gpt-4-0613_proofwriter-neurosymbolic-8shot_generations_raw.json"
    replay = _json_line(["bench/linc_stack.py", "replay", str(rec), "--limit", "6"])
    assert replay["problems"] == 6 and replay["correct"] >= 4


def test_plain_loop_on_a_logic_lm_recording(shared_data):
    rec = shared_data / "recorded" / "logic_lm" / "LogicalDeduction_dev_gpt-4.json"
    loop = _json_line(["bench/plain_loop.py", str(rec)])
    assert loop["problems"] == 299 and loop["correct"] >= 250

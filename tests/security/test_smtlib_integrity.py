"""Issue 18, SMT-LIB: untrusted SMT-LIB must not make z3 run commands or forge a verdict — its own or
the next problem's. Each payload (``smtlib_payloads``) goes through the real CLI, as a dataset's gold
formalization and as a model's answer; then each layer behind the reader is attacked on its own,
with the reader bypassed: the sandboxed worker, the nonce framing, the per-check accounting."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from parsers import parse_formula
from parsers.programs.smt_program import Query, SmtProgram
from parsers.programs.smtlib import parse_smtlib_program
from smtlib_payloads import VICTIM, forge_by_error, poisoner, write_file
from solvers.base import FolProblem, Limits, Status
from solvers.sandbox import SandboxUnavailable
from solvers.smt import SmtSolver
from solvers.warm import WarmZ3

ROOT = Path(__file__).resolve().parents[2]
NESYFLOW = str(Path(sys.executable).with_name("nesyflow"))
ENTAIL = [Query(label="conclusion", check="entail", terms=["conclusion"], source="conclusion")]


def _payloads(target: Path) -> dict[str, tuple[str, str]]:
    """id -> (script, true answer); the poisoner runs right before its victim."""
    return {"write": (write_file(target), "False"), "poisoner": (poisoner(), "True"), "victim": (VICTIM, "False"),
            "forge": (forge_by_error(), "False")}


def _records(path: Path, payloads: dict, gold: bool) -> None:
    rows = []
    for name, (script, answer) in payloads.items():
        row = {"id": name, "premises": [f"Problem {name}: every x is small."], "conclusion": "y is big.", "answer": answer}
        if gold:
            row["formal"] = {"language": "smtlib", "premises": [script], "conclusion": ""}
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _batch(data: Path, home: Path, results: Path, *extra: str) -> dict[str, dict]:
    args = [NESYFLOW, "batch", str(data), "--concurrency", "1", "--workers", "0", "--results", str(results), *extra]
    out = subprocess.run(args, cwd=ROOT, env={**os.environ, "NESYFLOW_HOME": str(home)}, capture_output=True, text=True,
                         timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    return {r["id"]: r for r in map(json.loads, results.read_text().splitlines())}


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*")]


def _assert_nothing_got_through(results: dict[str, dict], target_dir: Path) -> None:
    assert _files_under(target_dir) == [], "z3 wrote a file"
    assert results["victim"]["predicted"] == "False", results["victim"]
    for name in ("write", "poisoner", "forge"):
        r = results[name]
        assert r["status"] == "error" and r["predicted"] in (None, ""), (name, r["status"], r["predicted"], r.get("reason"))


@pytest.mark.prefect
def test_gold_smtlib_payloads_through_the_cli_run_nothing_and_forge_nothing(prefect_api, tmp_path):
    target_dir = tmp_path / "z3-target"
    target_dir.mkdir()
    os.chmod(target_dir, 0o777)  # even a sandbox uid could write here, were the path visible to it
    data, home = tmp_path / "gold.jsonl", tmp_path / "home"
    _records(data, _payloads(target_dir / "written-by-z3"), gold=True)
    first = _batch(data, home, tmp_path / "r1.jsonl", "--parser", "gold")
    _assert_nothing_got_through(first, target_dir)
    assert "unexpected character '\\\\'" in first["write"]["reason"] and "line 2" in first["write"]["reason"]
    assert "quoted symbol" in first["forge"]["reason"]
    again = _batch(data, home, tmp_path / "r2.jsonl", "--parser", "gold")  # the store serves what it keeps
    _assert_nothing_got_through(again, target_dir)
    assert again["victim"]["predicted"] == "False"


@pytest.mark.prefect
@pytest.mark.http
def test_model_written_smtlib_payloads_through_the_cli_run_nothing_and_forge_nothing(prefect_api, tmp_path):
    from flows.llm.fake_openai import FakeOpenAI

    target_dir = tmp_path / "z3-target"
    target_dir.mkdir()
    payloads = _payloads(target_dir / "written-by-z3")

    def model(messages: list[dict]) -> str:
        last = messages[-1]["content"]
        name = next(n for n in payloads if f"Problem {n}:" in last)
        return payloads[name][0]

    data, home = tmp_path / "llm.jsonl", tmp_path / "home"
    _records(data, payloads, gold=False)
    with FakeOpenAI(model) as server:
        args = ("--parser", "llm", "--language", "smtlib", "--model", "openai/fake", "--api-base", server.api_base)
        first = _batch(data, home, tmp_path / "r1.jsonl", *args)
        _assert_nothing_got_through(first, target_dir)
        again = _batch(data, home, tmp_path / "r2.jsonl", *args)
    _assert_nothing_got_through(again, target_dir)


# ---- the layers behind the reader, each attacked with the reader bypassed -------------------------

def _program(script: str) -> SmtProgram:
    return SmtProgram(script=script, queries=ENTAIL, user_lines=script.count("\n"))


def test_a_script_past_the_reader_still_cannot_write_a_file(tmp_path):
    target_dir = tmp_path / "z3-target"
    target_dir.mkdir()
    os.chmod(target_dir, stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
    in_tmp = Path(f"/tmp/nesyflow-test-{uuid.uuid4().hex}")
    script = (f'(set-option :regular-output-channel "{target_dir}/a")\n(echo "text an attacker chose")\n'
              f'(set-option :regular-output-channel "{in_tmp}")\n(echo "text an attacker chose")\n' + VICTIM)
    for warm in (True, False):
        out = SmtSolver(warm=warm).solve(_program(script), Limits(timeout_s=2))
        assert out.status == Status.ERROR.value and out.answer is None, out  # z3 refused the path, or died writing to /tmp
    assert _files_under(target_dir) == [] and not in_tmp.exists()


def test_a_poisoner_past_the_reader_cannot_answer_for_the_next_problem():
    # the poisoner's commands at top level, as z3 ran them once the reader was fooled
    script = poisoner().replace("(assert (foo) \\ ", "").replace(' "")\n(define-fun', "\n(define-fun")
    first = SmtSolver().solve(_program(script), Limits(timeout_s=1))  # its output goes to /dev/null: the wall clock
    assert first.status in (Status.ERROR.value, Status.UNDETERMINED.value), first
    victim = SmtSolver().solve(parse_smtlib_program(VICTIM), Limits(timeout_s=3))
    assert victim.status == "False", victim


def test_answer_lines_inside_an_error_message_are_not_answers():
    out = SmtSolver().solve(_program(forge_by_error()), Limits(timeout_s=3))
    assert out.status == Status.ERROR.value and "unknown constant" in out.reason, out


@pytest.fixture
def chatty_z3(tmp_path) -> str:
    """A stand-in z3 that answers each echo, and adds a line nobody asked for (in the same write)."""
    fake = tmp_path / "fake-z3"
    fake.write_text(f"#!{sys.executable}\nimport re, sys\nfor line in sys.stdin:\n"
                    "    m = re.search(r'[(]echo \"([^\"]*)\"[)]', line)\n"
                    "    if m:\n        sys.stdout.write(m.group(1) + '\\nsat\\n')\n        sys.stdout.flush()\n")
    fake.chmod(0o755)
    return str(fake)


def test_a_worker_printing_past_its_end_marker_is_replaced(chatty_z3, monkeypatch):
    pool = WarmZ3(chatty_z3)
    out = pool.run("(assert true)\n", wall_s=5, memory_mb=256)
    assert out.integrity and "after this problem's end marker" in out.integrity
    assert getattr(pool._local, "worker", None) is None  # killed; the next problem gets a new one
    import solvers.z3 as z3

    monkeypatch.setattr(z3, "z3_binary", lambda: chatty_z3)  # the FOL back end reads no verdict from such a worker
    result = z3.Z3Solver().solve(FolProblem((parse_formula("P(a)"),), parse_formula("Q(a)")), Limits(timeout_s=2))
    assert result.status is Status.UNDETERMINED and "end marker" in result.reason, result


def test_without_a_sandbox_text_we_did_not_write_is_not_run(monkeypatch):
    import solvers.smt as smt

    def unavailable() -> None:
        raise SandboxUnavailable("refusing to run generated code without a sandbox: bubblewrap is not installed")

    monkeypatch.setattr(smt, "sandbox_status", lambda: "bubblewrap is not installed")
    monkeypatch.setattr(smt, "_WARM", {})
    monkeypatch.setattr("solvers.sandbox.require_sandbox", unavailable)
    for solver in (SmtSolver(), SmtSolver(warm=False)):
        with pytest.raises(SandboxUnavailable):
            solver.solve(parse_smtlib_program(VICTIM), Limits(timeout_s=2))
    ours = parse_smtlib_program(VICTIM).model_copy(update={"printed_by_us": True})  # as CSP / Z3-DSL build it
    assert SmtSolver().solve(ours, Limits(timeout_s=2)).status == "False"


def _descendant_uids(pid: int) -> set[int]:
    uids, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            status = open(f"/proc/{p}/status").read()
            children = open(f"/proc/{p}/task/{p}/children").read().split()
        except OSError:
            continue
        uids.add(int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]))
        todo += [int(c) for c in children]
    return uids


def test_confined_warm_workers_each_hold_a_uid_of_their_own():
    """Two confined workers never share a uid (RLIMIT_NPROC would be shared), and the lease is
    released when the worker is killed."""
    import os

    from solvers.binaries import z3_binary
    from solvers.warm import _Worker

    if os.geteuid() != 0:
        pytest.skip("per-sandbox uids are leased in root mode only")
    a, b = _Worker(z3_binary(), 256, confined=True), _Worker(z3_binary(), 256, confined=True)
    try:
        assert a.run("(assert true)\n", 20).returncode == 0 and b.run("(assert true)\n", 20).returncode == 0
        ua, ub = _descendant_uids(a.proc.pid) - {0}, _descendant_uids(b.proc.pid) - {0}
        assert len(ua) == 1 and len(ub) == 1 and ua != ub, (ua, ub)
    finally:
        a.kill()
        b.kill()
    assert a._lease is None and b._lease is None


def test_a_script_whose_errors_fill_the_pipe_is_answered_within_its_wall_clock():
    """4,000 rejected asserts: z3 prints an error for each while the rest of the script is still being
    sent; with both pipes full a blocking write never returned (the wall clock never fired)."""
    import time

    text = "(declare-const x Int)\n" + "".join(f"(assert (> undeclared_{i} x))\n" for i in range(4000))
    program = parse_smtlib_program(text + "(define-fun conclusion () Bool (> x 0))\n")
    t0 = time.perf_counter()
    result = SmtSolver().solve(program, Limits(timeout_s=2))
    assert time.perf_counter() - t0 < 30 and result.status == "error" and "undeclared_0" in str(result.errors[0]), result

"""A newcomer's first hour (issue 20), through the real CLI: the README's commands run twice,
a transient failure followed by recovery, what the console says when a whole batch fails."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[3]
SOCRATES = ["--premise", "all x. (Man(x) -> Mortal(x))", "--premise", "Man(Socrates)", "--conclusion", "Mortal(Socrates)"]


def nesyflow(args: list[str], api: str, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    """``nesyflow …`` in a fresh process, on the session's server, as a user types it."""
    full = {**os.environ, "PREFECT_API_URL": api, "NESYFLOW_FORKSERVER": "0", **env}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readme_solve_twice_answers_twice(prefect_api):
    """The second run reads the problem back from the store (a ``Cached`` task state): it used to
    crash with ``too many values to unpack``."""
    for run in ("first", "second"):
        out = nesyflow(["solve", *SOCRATES], prefect_api)
        assert out.returncode == 0, (run, out.stderr[-2000:])
        assert out.stdout.startswith("True  (portfolio"), (run, out.stdout)
        assert "Traceback" not in out.stderr and "marked Crashed" not in out.stderr, (run, out.stderr[-2000:])


def test_reason_runs_in_one_process_answer_their_own_problems(prefect_api):
    """Successive ``reason`` runs in one process (a notebook, a script, a test) share the engine
    of their settings: the second, with the same (default) problem id and another conclusion,
    used to get the first one's answer."""
    from flows.orchestration.batch import run_reason

    premises = ["all x. (Cat(x) -> Animal(x))", "Cat(tom)"]
    answers = [run_reason(premises=premises, conclusion=c, solver="z3").status for c in ("Animal(tom)", "-Animal(tom)")]
    assert answers == ["True", "False"]


THREE = [
    {"id": "t1", "premises": ["All men are mortal.", "Socrates is a man."], "conclusion": "Socrates is mortal.", "answer": "True"},
    {"id": "t2", "premises": ["All cats are animals.", "Tom is a cat."], "conclusion": "Tom is an animal.", "answer": "True"},
    {"id": "t3", "premises": ["No fish can fly.", "Nemo is a fish."], "conclusion": "Nemo can fly.", "answer": "False"},
]
REPLY = ("TEXT: All men are mortal.\nFOL: all x. (Man(x) -> Mortal(x))\nTEXT: Socrates is a man.\nFOL: Man(Socrates)\n"
         "TEXT: Socrates is mortal.\nFOL: Mortal(Socrates)\n")


def test_endpoint_down_then_up_every_problem_is_asked_again(prefect_api, tmp_path):
    """Three problems against a port where nothing listens, then the endpoint started on that
    port (``flows/llm/fake_openai.py``, as a user would start a local server): the rerun asks the
    model for every problem. A failed call used to be stored as that problem's answer."""
    data = tmp_path / "three.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in THREE))
    port = free_port()
    args = ["batch", str(data), "--parser", "llm", "--model", "openai/local", "--api-base", f"http://127.0.0.1:{port}/v1",
            "--workers", "2", "--concurrency", "3"]
    down = nesyflow([*args, "--results", str(tmp_path / "down.jsonl")], prefect_api)
    assert down.returncode == 0, down.stderr[-2000:]
    failed = [json.loads(x) for x in (tmp_path / "down.jsonl").read_text().splitlines()]
    assert [r["status"] for r in failed] == ["error"] * 3 and all("cannot connect" in r["error"] for r in failed), failed
    assert f"no answer     3 × error: formalize error: LLM call failed: cannot connect to http://127.0.0.1:{port}/v1" in down.stdout

    reply = tmp_path / "reply.txt"
    reply.write_text(REPLY)
    server = subprocess.Popen([sys.executable, "-m", "flows.llm.fake_openai", "--reply", str(reply), "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == f"http://127.0.0.1:{port}/v1"
        up = nesyflow([*args, "--results", str(tmp_path / "up.jsonl")], prefect_api)
    finally:
        server.terminate()
        server.wait(10)
    assert up.returncode == 0, up.stderr[-2000:]
    rows = [json.loads(x) for x in (tmp_path / "up.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["True", "True", "True"], [(r["id"], r["error"]) for r in rows]
    assert "LLM calls     3   cached 0   failed 0" in up.stdout and "from store    0 of 3" in up.stdout, up.stdout


def _rest(base: str, method: str, path: str, body: dict | None = None):
    from rest_api import api

    code, payload = api(base, method, path, body)
    assert code < 300, (code, payload)
    return payload


def test_next_command_names_only_runs_it_crashed(prefect_api):
    """Two runs whose process is gone, one left Running and one that ended Failed: the next
    command marks and names the first only (it used to claim both were left Running)."""
    from flows.settings import get_settings

    flow = _rest(prefect_api, "POST", "/flows/", {"name": "left-behind"})
    runs = {kind: _rest(prefect_api, "POST", "/flow_runs/", {"flow_id": flow["id"], "state": {"type": kind, "name": kind.title()}})["id"]
            for kind in ("RUNNING", "FAILED")}
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    notes = get_settings().home.resolve() / "runs"
    notes.mkdir(parents=True, exist_ok=True)
    for run_id in runs.values():
        (notes / f"{run_id}.json").write_text(json.dumps({"flow_run_id": run_id, "pid": int(dead.stdout), "start": None,
                                                          "api_url": prefect_api}))
    out = nesyflow(["solve", *SOCRATES], prefect_api)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"flow run {runs['RUNNING']} was left Running" in out.stderr
    assert runs["FAILED"] not in out.stderr, out.stderr
    states = {kind: _rest(prefect_api, "GET", f"/flow_runs/{run_id}")["state"]["type"] for kind, run_id in runs.items()}
    assert states == {"RUNNING": "CRASHED", "FAILED": "FAILED"}
    assert not any((notes / f"{run_id}.json").exists() for run_id in runs.values())


@pytest.mark.parametrize("premise, expected", [
    ("all x. (Man(x), Mortal(x))", "parse error at premise 1, col 15: unexpected ','"),
    ("all x. (Man(x) -> Mortal(x)", "parse error at premise 1, col 28: unexpected end of formula; expected ')'"),
])
def test_solve_reads_a_typed_formula_as_written(prefect_api, premise, expected):
    """The lenient gold reader is for datasets' annotation slips; a person at the prompt gets the
    located error (the comma used to be read as ∧ and answer True, the missing ')' added silently)."""
    out = nesyflow(["solve", "--premise", premise, "--premise", "Man(Socrates)", "--conclusion", "Mortal(Socrates)"],
                   prefect_api)
    assert out.returncode == 1, (out.stdout, out.stderr[-2000:])
    lines = out.stdout.splitlines()
    assert lines[0] == "error  (portfolio)" and lines[1].startswith(expected) and lines[2] == premise, lines
    assert lines[3].endswith("^") and "premises used" not in out.stdout, lines


def test_solve_with_a_model(prefect_api):
    """solve --parser llm --model --api-base: the options it offers are used."""
    from flows.llm.fake_openai import FakeOpenAI

    with FakeOpenAI(lambda messages: REPLY) as server:
        out = nesyflow(["solve", "--parser", "llm", "--model", "openai/local", "--api-base", server.api_base,
                        "--premise", "All men are mortal.", "--premise", "Socrates is a man.",
                        "--conclusion", "Socrates is mortal.", "--json"], prefect_api)
        asked = len(server.requests)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert (result["status"], result["stages"]["formalize"]) == ("True", "1 sample, 1 call") and asked == 1


def test_question_is_the_conclusion_in_our_own_format(prefect_api, tmp_path):
    """README: ``"conclusion" | "question"``. A context and a question used to give "the problem has
    no premises or no conclusion"; the statement after the question mark is the conclusion."""
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"id": "q1", "context": "Bob is big. If someone is big then they are kind.",
                                "question": "Based on the above information, is the following statement true, false, "
                                            "or unknown? Bob is kind.", "answer": "True"}) + "\n")
    out = nesyflow(["batch", str(data), "--parser", "english", "--results", str(tmp_path / "r.jsonl")], prefect_api)
    assert out.returncode == 0, out.stderr[-2000:]
    (row,) = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert (row["predicted"], row["correct"]) == ("True", True), row["error"]


DEMO = ROOT / "examples" / "demo.jsonl"


@pytest.mark.parametrize("args, line", [
    ([], "no answer     1 × error: signature error at premise 2: predicate Student used with 2 arguments; "
         "premise 1 uses it with 1  [demo-arity-clash]"),
    (["--format", "folio"], "no answer     15 × error: formalize error at input record: the problem carries no gold "
                            "formalization  [demo-socrates, demo-penguin, demo-open-world +12 more]"),
    (["--parser", "replay"], "no answer     15 × error: formalize error at input record: no recorded completion for "
                             "this problem  [demo-socrates, demo-penguin, demo-open-world +12 more]"),
])
def test_console_says_why_problems_got_no_answer(prefect_api, args, line):
    """The demo names the problem that erred and why; a batch that fails as a whole (the wrong
    --format, replay on a file without recordings) says why on the console, not only in the files."""
    out = nesyflow(["batch", str(DEMO), *args], prefect_api)
    assert out.returncode == 0, out.stderr[-2000:]
    assert line in out.stdout.splitlines(), out.stdout


def test_server_lost_after_every_problem_finished_says_so_in_one_line(tmp_path):
    """The server stops answering (SIGSTOP) while the engine finishes every problem: the one line
    says all finished and the record in Prefect is incomplete (it used to say "stopped after 15 of
    15 problems — rerun … to finish the rest"), starts a line of its own, and nothing of Prefect's
    background services' error dumps comes before it."""
    import signal

    from flows.orchestration.server import ensure_server, server_record, stop_server

    home = tmp_path / "home"
    api = ensure_server(home, free_port(), wait_s=180)
    pid = server_record(home)["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        out = nesyflow(["batch", str(DEMO), "--results", str(tmp_path / "r.jsonl")], api, timeout=240,
                       NESYFLOW_HOME=str(home), NESYFLOW_SERVER_GRACE_S="4")
    finally:
        os.kill(pid, signal.SIGCONT)
        stop_server(home)
    assert out.returncode == 3, (out.stdout, out.stderr[-3000:])
    errors = [x for x in out.stderr.splitlines() if "nesyflow: error:" in x]
    assert len(errors) == 1 and errors[0].startswith("nesyflow: error: lost the Prefect server"), out.stderr[-3000:]
    assert "all 15 problems finished, but the run's record in Prefect is incomplete" in errors[0], errors[0]
    assert "finish the rest" not in errors[0] and len(out.stderr) < 2000, out.stderr[-3000:]
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 15

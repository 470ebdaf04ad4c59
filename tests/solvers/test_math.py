"""SymPy in a limited process, and Program-of-Thought in the sandbox: answers, errors, limits."""

import time

import pytest

from parsers.programs.math_program import parse_math_program
from solvers.base import Limits
from solvers.math import PythonSandbox, SympySolver

LIMITS = Limits(timeout_s=10, cpu_s=10, memory_mb=1024)


@pytest.mark.parametrize("text,answer", [
    ("eggs = 16 - 3 - 4\nrevenue = eggs * 2\nAnswer: revenue", "18"),
    ("2 * x + 3 = 11\nAnswer: x ** 2", "16"),
    ("x ** 2 = 16\nAnswer: x", "4"),  # the non-negative root of several
    ("a = 7 / 2\nAnswer: a", "3.5"),
    ("a + b = 10\na - b = 4\nAnswer: a * b", "21"),
    ("price = 80000 + 50000\nvalue = 80000 * (1 + 150 / 100)\nAnswer: value - price", "70000"),
])
def test_sympy_answers(text, answer):
    out = SympySolver().solve(parse_math_program(text), LIMITS)
    assert (out.status, out.answer) == ("answered", answer), out.reason


@pytest.mark.parametrize("text,message", [
    ("a = b + 1\nAnswer: a", "depends on b"),
    ("x = 1\nx = 2\nAnswer: x", "contradict"),
    ("x = 1 / 0\nAnswer: x", "undefined"),
])
def test_sympy_errors(text, message):
    out = SympySolver().solve(parse_math_program(text), LIMITS)
    assert out.status == "error" and message in out.reason, out.reason


def test_pot_answer_and_runtime_error_line():
    out = PythonSandbox().solve("def solution():\n    return 3 * 12 - 8\n", LIMITS)
    assert (out.status, out.answer) == ("answered", "28")
    out = PythonSandbox().solve("def solution():\n    x = 1\n    return x / 0\n", LIMITS)
    assert out.status == "error" and "ZeroDivisionError" in out.reason and out.errors[0].where == "program line 3"


def test_pot_infinite_loop_is_stopped_within_its_limit():
    t0 = time.perf_counter()
    out = PythonSandbox().solve("while True:\n    pass\n", Limits(timeout_s=3, cpu_s=1, memory_mb=512))
    assert out.status == "error" and ("CPU" in out.reason or "wall" in out.reason)
    assert time.perf_counter() - t0 < 6


def test_pot_sleeping_program_is_killed_on_the_wall_clock():
    t0 = time.perf_counter()
    out = PythonSandbox().solve("import time\ntime.sleep(60)\nanswer = 1\n", Limits(timeout_s=1.5, cpu_s=5, memory_mb=512))
    assert out.status == "error" and "wall-clock" in out.reason
    assert time.perf_counter() - t0 < 5


def test_pot_memory_bomb_stays_within_its_limit():
    out = PythonSandbox().solve("x = bytearray(4 * 1024 ** 3)\nanswer = len(x)\n", LIMITS)
    assert out.status == "error" and "MemoryError" in out.reason


def test_pot_runs_without_environment_or_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    out = PythonSandbox().solve("import os\nanswer = len(os.environ.get('SECRET_TOKEN', ''))\n", LIMITS)
    assert out.answer == "0"
    out = PythonSandbox().solve("open('/tmp/big', 'w').write('a' * (8 * 1024 * 1024))\nanswer = 1\n", LIMITS)
    assert out.status == "error" and "File too large" in out.reason


def test_pot_has_no_network():
    code = "import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', 9))\nanswer = 1\n"
    out = PythonSandbox().solve(code, LIMITS)
    assert out.status == "error" and "Address family not supported" in out.reason, out.reason  # seccomp: no AF_INET


@pytest.mark.parametrize("text", [
    "eggs = 16 - 3 - 4\nrevenue = eggs * 2\nAnswer: revenue",
    "a = 7 / 2\nb = a // 1 + a % 2\nAnswer: b * 3",
    "a = -2 ** 2\nb = (-2) ** 3\nAnswer: a - b",
    "a = 10 / 4\nAnswer: Max(a, 2) + floor(a) + ceiling(a) + abs(-a)",
    "price = 80000 + 50000\nvalue = 80000 * (1 + 150 / 100)\nAnswer: value - price",
])
def test_exact_fast_path_agrees_with_the_sympy_process(text, monkeypatch):
    from solvers import math as m

    program = parse_math_program(text)
    fast = m.exact_answer(program)
    assert fast is not None
    monkeypatch.setattr(m, "exact_answer", lambda program: None)  # force the SymPy process
    slow = SympySolver().solve(program, LIMITS)
    assert slow.status == "answered" and float(slow.answer) == pytest.approx(float(fast)), (fast, slow)


def test_exact_fast_path_declines_what_needs_sympy():
    from solvers.math import exact_answer

    for text in ("2 * x = 6\nAnswer: x", "a = sqrt(2)\nAnswer: a", "a = 1\na = 2\nAnswer: a", "a = 10 ** 100\nAnswer: a"):
        assert exact_answer(parse_math_program(text)) is None


def test_sympy_hard_system_stops_at_its_limit():
    program = parse_math_program("(x + 1)**100 * (x + 2)**100 * (x + 3)**100 = 5 * x + 7\nAnswer: x")
    t0 = time.perf_counter()
    out = SympySolver().solve(program, Limits(timeout_s=2, cpu_s=2, memory_mb=1024))
    assert out.status == "undetermined" and ("CPU" in out.reason or "wall" in out.reason), out.reason
    assert time.perf_counter() - t0 < 20  # the worker's start (SymPy's import) counts too: ~7 s on a loaded machine

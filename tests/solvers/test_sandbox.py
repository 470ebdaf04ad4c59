"""The bubblewrap sandbox under attack: every payload of ``tests/security_payloads.py`` through the
Program-of-Thought runner and through the SymPy worker's sandbox, with host-side evidence."""

from __future__ import annotations

import os
import time

import pytest

from security_payloads import payloads, survivors
from solvers import sandbox as sb
from solvers.base import Limits
from solvers.math import _RUNNER, PythonSandbox, pot_sandbox, sympy_sandbox

LIMITS = Limits(timeout_s=8, cpu_s=5, memory_mb=512)
CANARY = "sk-canary-5ea1ed-7f3c9b"


def _run_in(box_and_python, code: str):
    box, python = box_and_python
    out = sb.run_sandboxed([python, "-I", "-S", "-B", "-c", _RUNNER], code, box, wall_s=LIMITS.timeout_s,
                           cpu_s=LIMITS.cpu_s, memory_mb=LIMITS.memory_mb)
    from solvers.math import _last_json

    return _last_json(out.stdout), out


@pytest.mark.parametrize("which", ["pot", "sympy-worker"])
def test_every_payload_is_contained(which, tmp_path, monkeypatch, listener):
    port, hits = listener
    marker_dir, state = tmp_path / "markers", tmp_path / "state"
    for d in (marker_dir, state / "results", state / "cache", state / "prefect"):
        d.mkdir(parents=True)
    (state / "results" / "existing").write_text("{}")
    before = {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)  # in our environment; the sandbox must not see it
    box = pot_sandbox() if which == "pot" else sympy_sandbox()
    for name, code in payloads(marker_dir, state, CANARY, port).items():
        result, proc = _run_in(box, code)
        assert result is not None, f"{name} did not run: {proc.stderr[-300:]}"
        assert result["status"] == "ok" and result["value"] == "0", f"{name} achieved something: {result}"
        assert CANARY not in proc.stdout + proc.stderr
    assert list(marker_dir.iterdir()) == []
    assert {p: p.read_bytes() for p in state.rglob("*") if p.is_file()} == before
    assert hits == []
    time.sleep(0.5)
    assert survivors() == [], "a process of the sandbox outlived it"


def test_fork_bomb_is_stopped_by_the_process_limit():
    out = PythonSandbox().solve("import os\nn = 0\ntry:\n    while n < 1000:\n        if os.fork() == 0:\n"
                                "            import time; time.sleep(20); os._exit(0)\n        n += 1\nexcept OSError:\n"
                                "    pass\nanswer = n\n", LIMITS)
    assert out.status == "answered" and int(out.answer) < sb.Sandbox().nproc, out


def test_program_sees_only_its_tmpfs_and_runs_as_nobody():
    code = ("import os\nroots = sorted(os.listdir('/'))\nwritable = [d for d in roots if os.access('/' + d, os.W_OK)]\n"
            "assert writable == ['tmp'], writable\nassert os.getuid() == 65534 and os.getgid() == 65534\n"
            "assert sorted(p for p in os.listdir('/proc') if p.isdigit()) == ['1', '2']\nanswer = len(roots)\n")
    out = PythonSandbox().solve(code, LIMITS)
    assert out.status == "answered", out.reason


def test_a_tree_bound_from_under_tmp_is_visible_and_read_only(tmp_path):
    """A checkout or venv under /tmp (CI clones, pytest's tmp_path) is bound on top of the private
    /tmp, not hidden by it; the program still writes only to the tmpfs."""
    tree = tmp_path / "pkg"
    tree.mkdir()
    (tree / "data.txt").write_text("visible")
    box = sb.Sandbox(ro_binds=((str(tree), str(tree)),))
    code = (f"import os\nassert open({str(tree / 'data.txt')!r}).read() == 'visible'\n"
            f"assert not os.access({str(tree)!r}, os.W_OK)\nopen('/tmp/scratch.txt', 'w').write('ok')\nprint('fine')\n")
    out = sb.run_sandboxed(["/usr/bin/python3", "-I", "-S", "-c", code], "", box, wall_s=10, cpu_s=5, memory_mb=512)
    assert out.returncode == 0 and out.stdout.strip() == "fine", out.stderr
    assert not (tree / "scratch.txt").exists()


def test_the_wall_clock_kills_the_whole_sandbox():
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    os.execv('/usr/bin/sleep', ['sleep', '4242.125'])\n"
            "time.sleep(60)\nanswer = 1\n")
    t0 = time.perf_counter()
    out = PythonSandbox().solve(code, Limits(timeout_s=1.5, cpu_s=5, memory_mb=512))
    assert out.status == "error" and "wall-clock" in out.reason
    assert time.perf_counter() - t0 < 5
    time.sleep(0.5)
    assert survivors() == []


def test_missing_bubblewrap_refuses_instead_of_running_unconfined(monkeypatch):
    monkeypatch.setenv("NESYFLOW_BWRAP", "/nonexistent/bwrap")
    sb._bwrap.cache_clear()
    sb.sandbox_status.cache_clear()
    try:
        with pytest.raises(sb.SandboxUnavailable, match="bubblewrap"):
            PythonSandbox().solve("answer = 1\n", LIMITS)
    finally:
        monkeypatch.delenv("NESYFLOW_BWRAP")
        sb._bwrap.cache_clear()
        sb.sandbox_status.cache_clear()
    assert sb.sandbox_status() is None


def test_bwrap_starts_with_no_secret_in_its_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    argv = sb.bwrap_argv(["/bin/true"], sb.Sandbox(), cpu_s=1, memory_mb=64)
    assert CANARY not in " ".join(argv)
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    assert os.environ["OPENAI_API_KEY"] == CANARY  # ours is untouched

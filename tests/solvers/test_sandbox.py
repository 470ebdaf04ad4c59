"""The bubblewrap sandbox under attack: every payload of ``tests/security_payloads.py`` through the
Program-of-Thought runner and through the SymPy worker's sandbox, with host-side evidence; output
bombs, one sandbox's process hog against another, the seccomp filter, malformed results.

Limits here are generous where a test is not about timing: on a loaded machine a trivial
sandboxed program can take seconds to start, and a missed limit would pass for containment."""

from __future__ import annotations

import json
import os
import resource
import signal
import struct
import threading
import time
from pathlib import Path

import pytest

from parsers.programs.math_program import parse_math_program
from security_payloads import payloads, survivors
from solvers import math as m
from solvers import sandbox as sb
from solvers import seccomp
from solvers.base import Limits
from solvers.math import _RUNNER, PythonSandbox, SympySolver, pot_sandbox, sympy_sandbox
from solvers.process import ProcOutcome

LIMITS = Limits(timeout_s=60, cpu_s=10, memory_mb=512)
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
    uids = sb.sandbox_uids()
    code = ("import os\nroots = sorted(os.listdir('/'))\nwritable = [d for d in roots if os.access('/' + d, os.W_OK)]\n"
            f"assert writable == ['tmp'], writable\nassert os.getuid() in range({uids.start}, {uids.stop})\n"
            "assert os.getgid() == os.getuid() and set(os.getgroups()) <= {os.getgid()}\n"
            "assert sorted(p for p in os.listdir('/proc') if p.isdigit()) == ['1', '2']\nanswer = len(roots)\n")
    out = PythonSandbox().solve(code, LIMITS)
    assert out.status == "answered", out.reason
    assert 0 not in uids and os.getuid() not in uids


def test_a_tree_bound_from_under_tmp_is_visible_and_read_only(tmp_path):
    """A checkout or venv under /tmp (CI clones, pytest's tmp_path) is bound on top of the private
    /tmp, not hidden by it; the program still writes only to the tmpfs."""
    tree = tmp_path / "pkg"
    tree.mkdir()
    (tree / "data.txt").write_text("visible")
    box = sb.Sandbox(ro_binds=((str(tree), str(tree)),))
    code = (f"import os\nassert open({str(tree / 'data.txt')!r}).read() == 'visible'\n"
            f"assert not os.access({str(tree)!r}, os.W_OK)\nopen('/tmp/scratch.txt', 'w').write('ok')\nprint('fine')\n")
    out = sb.run_sandboxed(["/usr/bin/python3", "-I", "-S", "-c", code], "", box, wall_s=60, cpu_s=10, memory_mb=512)
    assert out.returncode == 0 and out.stdout.strip() == "fine", out.stderr
    assert not (tree / "scratch.txt").exists()


def test_the_wall_clock_kills_the_whole_sandbox():
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    os.execv('/usr/bin/sleep', ['sleep', '4242.125'])\n"
            "time.sleep(60)\nanswer = 1\n")
    t0 = time.perf_counter()
    out = PythonSandbox().solve(code, Limits(timeout_s=1.5, cpu_s=5, memory_mb=512))
    assert out.status == "error" and "wall-clock" in out.reason
    assert time.perf_counter() - t0 < 30  # the program sleeps 60 s: anything well below is the wall clock
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
    assert "--seccomp" in sb.bwrap_argv(["/bin/true"], sb.Sandbox(), cpu_s=1, memory_mb=64, seccomp_fd=7)
    assert os.environ["OPENAI_API_KEY"] == CANARY  # ours is untouched


# ---- output bounds ----------------------------------------------------------------------------

@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_2_gib_output_bomb_is_cut_at_the_budget_and_reported(stream):
    """RLIMIT_FSIZE does not cover pipes: the parent reads against a byte budget and kills the
    sandbox on overflow (it used to collect all 2 GiB: 6.2 GB RSS)."""
    code = (f"import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(2048):\n    sys.{stream}.write(chunk)\n"
            "sys.stdout.write('\\n{\"status\": \"ok\", \"value\": \"1\"}\\n')\nanswer = 1\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = PythonSandbox().solve(code, LIMITS)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    limit = sb.Sandbox().max_output
    assert out.status == "error" and out.answer is None
    assert out.reason == f"output limit: more than {limit:,} bytes written to {stream}"
    (err,) = out.errors
    assert err.stage == "solve" and err.where == "program" and f"{limit:,} bytes" in err.message
    assert grown_mb < 64, f"the parent grew by {grown_mb:.0f} MB"


def test_output_within_the_budget_is_read_whole():
    box = sb.Sandbox(max_output=100_000)
    code = "import sys\nsys.stdout.write('y' * 99_999 + '\\n')\nsys.stderr.write('e' * 50_000)\n"
    out = sb.run_sandboxed(["/usr/bin/python3", "-I", "-S", "-c", code], "", box, wall_s=60, cpu_s=10, memory_mb=512)
    assert (out.returncode, out.stdout, out.stderr, out.output_exceeded) == (0, "y" * 99_999 + "\n", "e" * 50_000, "")
    over = sb.run_sandboxed(["/usr/bin/python3", "-I", "-S", "-c", code.replace("99_999", "100_000")], "", box,
                            wall_s=60, cpu_s=10, memory_mb=512)
    assert over.output_exceeded == "stdout" and over.stdout == "" and "100,000 bytes" in over.limit_reason()


def test_a_large_stdin_reaches_a_program_that_answers_while_reading():
    """stdin is written as the program reads (no deadlock with a full output pipe)."""
    data = "z" * (8 << 20)
    code = ("import sys\nn = 0\nwhile True:\n    b = sys.stdin.read(65536)\n    if not b:\n        break\n"
            "    n += len(b)\n    sys.stdout.write('.' * 1024)\nprint()\nprint(n)\n")
    out = sb.run_sandboxed(["/usr/bin/python3", "-I", "-S", "-c", code], data, sb.Sandbox(), wall_s=60, cpu_s=10,
                           memory_mb=512)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == str(len(data)), out.stderr[-300:]


# ---- sandboxes isolated from each other -------------------------------------------------------

HOG_SLEEP = "4243.25"


def _hog_pids() -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if HOG_SLEEP.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def test_a_process_hog_does_not_starve_a_concurrent_sandbox():
    """RLIMIT_NPROC counts a uid's processes: when every sandbox was uid 65534, one program with
    30 sleeping children made every other sandbox on the machine fail (and blamed its program)."""
    hog = ("import os\nkids = []\nwhile len(kids) < 40:\n    try:\n        pid = os.fork()\n    except OSError:\n"
           "        break\n    if pid == 0:\n        os.execv('/usr/bin/sleep', ['sleep', " + repr(HOG_SLEEP) + "])\n"
           "    kids.append(pid)\nfor pid in kids:\n    os.waitpid(pid, 0)\nanswer = len(kids)\n")
    victim = ("import os\nkids = []\nfor _ in range(5):\n    pid = os.fork()\n    if pid == 0:\n        os._exit(0)\n"
              "    kids.append(pid)\nfor pid in kids:\n    os.waitpid(pid, 0)\nanswer = len(kids)\n")
    hog_out: list = []
    worker = threading.Thread(target=lambda: hog_out.append(PythonSandbox().solve(hog, LIMITS)))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while len(_hog_pids()) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_hog_pids()) >= 30, "the hog did not start its children"
        out = PythonSandbox().solve(victim, LIMITS)
    finally:
        for pid in _hog_pids():
            os.kill(pid, signal.SIGKILL)
        worker.join(60)
    assert (out.status, out.answer) == ("answered", "5"), out.reason
    (hog_result,) = hog_out
    assert hog_result.status == "answered" and 30 <= int(hog_result.answer) < sb.Sandbox().nproc, hog_result.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="uids are leased in root mode only (else each sandbox has a user namespace)")
def test_concurrent_sandboxes_never_share_a_uid(monkeypatch):
    first = sb.sandbox_uids().start
    monkeypatch.setenv("NESYFLOW_SANDBOX_UIDS", f"{first}:2")
    with sb._leased_uid() as a, sb._leased_uid() as b:
        assert a != b and {a, b} == {first, first + 1}
        with pytest.raises(sb.SandboxUnavailable, match="all 2 sandbox uids are in use"):
            with sb._leased_uid():
                pass
    with sb._leased_uid() as c:  # released: usable again
        assert c in (first, first + 1)


# ---- the seccomp filter -----------------------------------------------------------------------

_PROBE = r"""
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(f, *args):
    r = f(*args)
    return 0 if r >= 0 else ctypes.get_errno()
out = {"unshare_user": call(libc.unshare, 0x10000000), "unshare_net": call(libc.unshare, 0x40000000)}
CLONE = 56 if os.uname().machine == "x86_64" else 220
r = libc.syscall(CLONE, 0x10000000 | 17, 0, 0, 0, 0)
if r == 0:
    os._exit(0)
out["clone_newuser"] = 0 if r > 0 else ctypes.get_errno()
out["clone3"] = call(libc.syscall, 435, 0, 0)
fd = os.open("/proc/self/ns/user", os.O_RDONLY)
out["setns"] = call(libc.setns, fd, 0)
for family in ("AF_INET", "AF_INET6", "AF_NETLINK", "AF_VSOCK", "AF_PACKET"):
    try:
        socket.socket(getattr(socket, family), socket.SOCK_DGRAM).close()
        out[family] = 0
    except OSError as exc:
        out[family] = exc.errno
socket.socket(socket.AF_UNIX).close()
pid = os.fork()  # plain fork, threads (clone without namespace flags) still work
if pid == 0:
    os._exit(7)
out["fork"] = os.waitpid(pid, 0)[1] >> 8
import threading
t = threading.Thread(target=lambda: None); t.start(); t.join()
print(__import__("json").dumps(out))
"""


@pytest.mark.parametrize("which", ["pot", "sympy-worker"])
def test_seccomp_refuses_namespaces_and_foreign_socket_families(which):
    box, python = pot_sandbox() if which == "pot" else sympy_sandbox()
    out = sb.run_sandboxed([python, "-I", "-S", "-B", "-c", _PROBE], "", box, wall_s=60, cpu_s=10, memory_mb=512)
    assert out.returncode == 0, out.stderr[-500:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    import errno
    assert got == {"unshare_user": errno.EPERM, "unshare_net": errno.EPERM, "clone_newuser": errno.EPERM,
                   "clone3": errno.ENOSYS, "setns": errno.EPERM, "AF_INET": errno.EAFNOSUPPORT,
                   "AF_INET6": errno.EAFNOSUPPORT, "AF_NETLINK": errno.EAFNOSUPPORT, "AF_VSOCK": errno.EAFNOSUPPORT,
                   "AF_PACKET": errno.EAFNOSUPPORT, "fork": 7}


def _run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """A classic-BPF interpreter for the opcodes the filter uses, over one ``seccomp_data``."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    ops = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = ops[pc]
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x06:
            return k
        elif code in (0x15, 0x35, 0x45):
            hit = acc == k if code == 0x15 else acc >= k if code == 0x35 else bool(acc & k)
            pc += jt if hit else jf
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        pc += 1


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_the_filter_program_decides_each_call_as_documented(machine):
    prog = seccomp.filter_program(machine)
    audit, x32, nr = seccomp.ARCHES[machine]
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys, eafnosupport = 0x50001, 0x50000 | 38, 0x50000 | 97
    assert _run_bpf(prog, 0, audit) == allow  # an ordinary call (read / io_setup)
    assert _run_bpf(prog, nr["unshare"], 0x40000003) == kill  # i386 ABI: other numbers, not judged
    if x32:
        assert _run_bpf(prog, 0x40000000 | nr["unshare"], audit) == kill
    assert _run_bpf(prog, nr["unshare"], audit) == eperm
    assert _run_bpf(prog, nr["setns"], audit) == eperm
    assert _run_bpf(prog, nr["clone3"], audit) == enosys
    assert _run_bpf(prog, nr["clone"], audit, (0x01200011,)) == allow  # fork(): CLONE_CHILD_SETTID|CLEARTID|SIGCHLD
    assert _run_bpf(prog, nr["clone"], audit, (0x003D0F00,)) == allow  # a thread
    for flag in (0x10000000, 0x40000000, 0x20000, 0x20000000, 0x08000000, 0x04000000, 0x02000000):
        assert _run_bpf(prog, nr["clone"], audit, (flag | 17,)) == eperm
    for name in ("socket", "socketpair"):
        assert _run_bpf(prog, nr[name], audit, (1, 1)) == allow  # AF_UNIX
        for family in (2, 10, 16, 17, 40, 38):
            assert _run_bpf(prog, nr[name], audit, (family, 2)) == eafnosupport
    assert _run_bpf(prog, nr["bpf"], audit) == eperm and _run_bpf(prog, nr["io_uring_setup"], audit) == enosys


def test_there_is_no_filter_for_an_unknown_architecture():
    assert seccomp.filter_program("mips") is None


# ---- malformed results ------------------------------------------------------------------------

MALFORMED = {
    "empty object": "{}",
    "dict message": '{"status": "error", "message": {"text": "boom"}}',
    "numeric value": '{"status": "ok", "value": 5}',
    "unknown status": '{"status": "maybe", "value": "5"}',
    "not JSON": "the answer is 5",
    "truncated JSON": '{"status": "ok", "val',
    "deep nesting": "{\"status\": \"ok\", \"value\": " + "[" * 100_000,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_program_result_is_a_located_solve_error(name):
    code = f"import os, sys\nsys.stdout.write({MALFORMED[name]!r} + '\\n')\nsys.stdout.flush()\nos._exit(0)\n"
    out = PythonSandbox().solve(code, LIMITS)
    assert out.status == "error" and out.answer is None, out
    (err,) = out.errors
    assert err.stage == "solve" and err.where == "program" and "internal" not in out.reason
    assert ("malformed" in out.reason) == (name not in ("not JSON", "truncated JSON", "deep nesting")), out.reason


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_sympy_worker_reply_is_a_located_solve_error(name, monkeypatch):
    monkeypatch.setattr(m, "run_sandboxed", lambda *a, **k: ProcOutcome(MALFORMED[name] + "\n", "", 0, 0.1))
    out = SympySolver().solve(parse_math_program("x ** 2 = 16\nAnswer: x"), LIMITS)
    assert out.status == "undetermined" and out.answer is None, out  # our worker's fault, not the equations'
    (err,) = out.errors
    assert err.stage == "solve" and err.where == "sympy worker", err


def test_a_huge_message_from_a_sandbox_is_clipped_with_its_size():
    code = ("import json, os, sys\nsys.stdout.write(json.dumps({'status': 'error', 'message': 'E' * 3_000_000}) + '\\n')\n"
            "sys.stdout.flush()\nos._exit(0)\n")
    out = PythonSandbox().solve(code, LIMITS)
    assert out.status == "error" and len(out.reason) < m.MAX_REPLY_TEXT + 100, len(out.reason)
    assert out.reason.endswith("(3,000,000 chars)")
    big = json.dumps({"status": "error", "message": "E" * 20_000_000})
    monkeypatch_out = ProcOutcome(big + "\n", "", 0, 0.1)
    reply = m.read_reply(json.loads(monkeypatch_out.stdout))
    assert len(reply.message) < m.MAX_REPLY_TEXT + 100 and "20,000,000 chars" in reply.message


@pytest.mark.parametrize("value", ["float('nan')", "float('inf')", "-float('inf')"])
def test_a_non_finite_answer_is_not_a_number(value):
    out = PythonSandbox().solve(f"answer = {value}\n", LIMITS)
    assert out.status == "error" and "not a finite number" in out.reason, out.reason


def test_lean_output_over_the_budget_is_a_located_solve_error(monkeypatch):
    from parsers.programs.lean import read_lean_output
    from solvers import lean

    chain = lean.Toolchain(lean="/nonexistent/lean", kind="full", version="Lean (version 4.0.0)", source="test")
    over = ProcOutcome("", "", -9, 0.2, output_exceeded="stdout", output_limit=sb.Sandbox().max_output)
    monkeypatch.setattr(lean.LeanSolver, "_run", lambda self, chain, source, limits: over)
    out = lean.LeanSolver(chain).solve(read_lean_output("fun hp _ => hp", "(p q : Prop) : p → q → p"), LIMITS)
    assert out.status == "error" and out.answer is None
    (err,) = out.errors
    assert err.stage == "solve" and err.message == "Lean was stopped: output limit: more than 4,194,304 bytes written to stdout"

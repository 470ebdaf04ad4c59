"""The fork server (``flows.cli.forkserver``): ``nesyflow`` runs the same CLI in a child of a process
whose imports are done. Driven through the installed ``nesyflow`` entry point, as a user runs it:
same files, output and exit codes as in-process; the caller's environment, directory and streams;
signals relayed; a killed caller takes its run with it; only its own user gets in."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flows.cli import forkclient

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[3]
NESYFLOW = str(Path(sys.executable).with_name("nesyflow"))
DEMO = ROOT / "examples" / "demo.jsonl"
VIA = "running in the fork server"


def run(args: list[str], env: dict, cwd: Path = ROOT, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([NESYFLOW, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kw)


def results(path: Path) -> list[tuple]:
    return [(r["id"], r["status"], r["predicted"]) for r in map(json.loads, path.read_text().splitlines())]


def test_batch_in_the_fork_server_matches_in_process_in_the_callers_directory_and_environment(prefect_api, fork_env,
                                                                                           tmp_path):
    cwd = tmp_path / "work"
    cwd.mkdir()
    shutil.copy(DEMO, cwd / "demo.jsonl")
    forked = run(["batch", "demo.jsonl", "--verbose", "--results", "r.jsonl", "--summary-json", "s.json"],
                 {**fork_env, "NESYFLOW_HOME": str(tmp_path / "home-a")}, cwd=cwd)
    assert forked.returncode == 0, forked.stderr
    assert VIA in forked.stderr and "Prefect UI:" in forked.stdout  # the caller's stdout and stderr
    assert "| INFO" in forked.stderr  # --verbose: the child set Prefect's logging up for this caller
    assert (tmp_path / "home-a" / "cache").is_dir()  # the caller's NESYFLOW_HOME, relative paths from its cwd
    plain = run(["batch", str(DEMO), "--results", str(tmp_path / "r0.jsonl"), "--summary-json", str(tmp_path / "s0.json")],
                {**fork_env, "NESYFLOW_FORKSERVER": "0", "NESYFLOW_HOME": str(tmp_path / "home-b")})
    assert plain.returncode == 0 and VIA not in plain.stderr, plain.stderr
    quiet = run(["batch", "demo.jsonl"], {**fork_env, "NESYFLOW_HOME": str(tmp_path / "home-a")}, cwd=cwd)
    assert quiet.returncode == 0 and "| INFO" not in quiet.stderr, quiet.stderr  # and quiet again for the next
    assert results(cwd / "r.jsonl") == results(tmp_path / "r0.jsonl")
    a, b = json.loads((cwd / "s.json").read_text()), json.loads((tmp_path / "s0.json").read_text())
    assert (a["n"], a["correct"], a["errors"]) == (b["n"], b["correct"], b["errors"]) and a["n"] == 15

    # the flow run went to the caller's Prefect server, and is complete when the command returns
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(a["flow_run_id"])
    assert flow_run.state.is_completed()


def test_exit_codes_and_one_line_errors_are_the_childs(prefect_api, fork_env, tmp_path):
    env = {**fork_env, "NESYFLOW_HOME": str(tmp_path / "home")}
    missing = run(["batch", str(tmp_path / "nope.jsonl")], env)
    assert missing.returncode == 2 and missing.stderr.strip() == f"nesyflow: error: {tmp_path / 'nope.jsonl'}: no such file"
    bad = run(["batch", str(DEMO), "--bogus"], env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    ok = run(["solve", "--premise", "P(a)", "--conclusion", "P(a)", "--verbose"], env)
    assert ok.returncode == 0 and ok.stdout.startswith("True") and VIA in ok.stderr, ok.stderr
    arity = run(["solve", "--premise", "P(a)", "--premise", "P(a, b)", "--conclusion", "P(a)"], env)
    assert arity.returncode == 1 and "premise 2" in arity.stdout


def slow_problems(path: Path, n: int) -> Path:
    rows = [{"id": f"slow{i:03d}", "kind": "math", "question": f"q{i}", "answer": str(i),
             "formal": {"language": "python", "premises": [f"import time\ntime.sleep(0.3)\nanswer = {i}\n"],
                        "conclusion": ""}} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def start_slow(tmp_path: Path, env: dict, n: int = 40) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen([NESYFLOW, "batch", str(slow_problems(tmp_path / "slow.jsonl", n)), "--workers", "1",
                             "--concurrency", "1", "--results", str(out), "--verbose"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not out.exists() or len(out.read_text().splitlines()) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    return proc, out


def noted_pid(runs: Path, proc: subprocess.Popen) -> int:
    """The pid in the flow run's note, once it is written: solving starts before the run is noted,
    so on a loaded machine results come first."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return json.loads(next(runs.glob("*.json")).read_text())["pid"]
        except (StopIteration, ValueError):  # not there yet, or being written
            assert time.monotonic() < deadline and proc.poll() is None, "the flow run notes the process that runs it"
            time.sleep(0.05)


def descendants_running(marker: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in ps if marker in line and "ps -eo" not in line]


def test_ctrl_c_is_relayed_and_ends_the_run_with_its_results(prefect_api, fork_env, tmp_path):
    proc, out = start_slow(tmp_path, {**fork_env, "NESYFLOW_HOME": str(tmp_path / "home")})
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert VIA in stderr
    assert proc.returncode == 130, stderr
    assert "interrupted (Ctrl-C)" in stderr and "rerun the same command" in stderr
    assert 3 <= len(out.read_text().splitlines()) < 40


def test_a_killed_caller_takes_its_run_and_engine_with_it(prefect_api, fork_env, tmp_path):
    env = {**fork_env, "NESYFLOW_HOME": str(tmp_path / "home")}
    proc, out = start_slow(tmp_path, env)
    child = noted_pid(tmp_path / "home" / "runs", proc)
    assert child != proc.pid  # the run is the fork server's child, not the caller
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while Path(f"/proc/{child}").exists() and Path(f"/proc/{child}/stat").read_text().split(")")[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the killed caller's run is still going"
        time.sleep(0.05)
    time.sleep(1)
    assert not descendants_running(str(tmp_path / "slow.jsonl")), "nothing of the killed run may be left"
    rerun = run(["batch", str(tmp_path / "slow.jsonl"), "--workers", "1", "--results", str(out)], env)
    assert rerun.returncode == 0 and "marked Crashed" in rerun.stderr, rerun.stderr


def test_only_its_user_gets_in_and_the_directory_must_be_private(fork_env, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", fork_env["XDG_RUNTIME_DIR"])
    path = forkclient.ensure()
    assert path is not None and oct(path.parent.stat().st_mode & 0o777) == "0o700" and oct(path.stat().st_mode & 0o777) == "0o600"
    if os.getuid() == 0 and shutil.which("setpriv"):  # another user cannot even reach the socket
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1]); print('in')\n"
                 "except PermissionError:\n print('refused')")
        out = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable, "-c",
                              probe, str(path)], capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == "refused", out
    # a shared or foreign directory is never used: no fork server, the CLI runs in-process
    open_dir = tmp_path / "open"
    (open_dir / "nesyflow").mkdir(parents=True)
    (open_dir / "nesyflow").chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(open_dir))
    assert forkclient.socket_path() is None and forkclient.run_in_server(["batch", str(DEMO)]) is None
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/tmp/" + "x" * 120)  # no room for a socket path: in-process too
    monkeypatch.setenv("TMPDIR", "/tmp/" + "y" * 120)
    assert forkclient.socket_path() is None


def test_a_request_from_a_caller_without_its_streams_starts_nothing(fork_env, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", fork_env["XDG_RUNTIME_DIR"])
    path = forkclient.ensure()
    with socket.socket(socket.AF_UNIX) as s:  # no file descriptors, garbage payload: dropped, server fine
        s.connect(str(path))
        s.sendall(b"\x00\x00\x00\x05hello")
        s.settimeout(10)
        assert s.recv(100) == b""
    assert forkclient.ensure() == path


def test_a_new_server_retires_the_checkouts_older_ones(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    older = [run_dir / "fs-abcd1234-000000000000000000000001.sock", run_dir / "fs-abcd1234-000000000000000000000001.lock"]
    other_checkout = run_dir / "fs-99999999-000000000000000000000002.sock"
    for p in (*older, other_checkout):
        p.touch()
    current = run_dir / "fs-abcd1234-000000000000000000000003.sock"
    current.touch()
    current.with_suffix(".lock").touch()
    forkclient.retire_older(current)
    assert not any(p.exists() for p in older)
    assert other_checkout.exists() and current.exists() and current.with_suffix(".lock").exists()


def test_the_fingerprint_covers_this_checkouts_sources():
    """ROOT is the checkout, wherever the module sits: after flows/ was regrouped it pointed at
    flows/ itself, the walk found nothing, and edited code kept its old server."""
    from flows import SOURCE_PACKAGES

    assert (forkclient.ROOT / "flows" / "cli" / "forkserver.py").is_file()
    assert all((forkclient.ROOT / pkg).is_dir() for pkg in SOURCE_PACKAGES)
    assert forkclient.ROOT == Path(__file__).resolve().parents[3]


def test_edited_code_gets_a_fresh_server(tmp_path, monkeypatch):
    for pkg in ("flows", "parsers", "solvers", "prompts"):
        (tmp_path / pkg).mkdir()
    source = tmp_path / "flows" / "x.py"
    source.write_text("A = 1\n")
    monkeypatch.setattr(forkclient, "ROOT", tmp_path)
    before = forkclient.fingerprint()
    source.write_text("A = 22\n")
    assert forkclient.fingerprint() != before
    # the server preloads prompts and their few-shot data: editing those is a new server too
    for name in ("p.jinja", "fewshot.jsonl", "grammar.lark"):
        data = tmp_path / ("prompts" if name != "grammar.lark" else "parsers") / name
        data.write_text("x\n")
        before = forkclient.fingerprint()
        data.write_text("xy\n")
        assert forkclient.fingerprint() != before, name


def test_stop_and_idle_retire_the_server(fork_env, tmp_path, monkeypatch):
    run_dir = Path("/tmp") / f"nf-idle-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
        monkeypatch.setenv("NESYFLOW_FORKSERVER_IDLE_S", "2")
        path = forkclient.ensure()
        assert path is not None and path.exists()
        deadline = time.monotonic() + 30
        while path.exists():  # idle: it ends and removes its socket
            assert time.monotonic() < deadline, "an idle fork server did not end"
            time.sleep(0.2)
        monkeypatch.setenv("NESYFLOW_FORKSERVER_IDLE_S", "300")
        path = forkclient.ensure()
        assert path is not None and forkclient.stop() and not path.exists()
        lock = path.with_suffix(".lock")
        deadline = time.monotonic() + 30
        while True:  # stopped: the lock is released at once (a fresh server may start)
            import fcntl

            with open(lock, "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    assert time.monotonic() < deadline, "a stopped fork server kept its lock"
                    time.sleep(0.2)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def test_the_server_runs_as_the_module_its_children_import(tmp_path):
    """``python -m flows.cli.forkserver`` must serve from ``flows.cli.forkserver``, not from ``__main__``:
    the CLI in a child reads what the server recorded there (the logging inputs it skips
    reconfiguring for) — served from ``__main__`` it saw none and set logging up again (~70 ms)."""
    probe = ("import runpy, sys\n"
             "from flows.cli import forkserver\n"
             "forkserver.serve = lambda path: print('served by', forkserver.__name__, path.name)\n"
             f"sys.argv = ['forkserver', {str(tmp_path / 'x.sock')!r}]\n"
             "runpy.run_module('flows.cli.forkserver', run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "served by flows.cli.forkserver x.sock"


def flow_runs_named(name: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name)))


def raw_request(path: Path, argv: list[str], cwd: Path, env: dict) -> socket.socket:
    """A same-user client speaking the fork server's protocol by hand: the header, our streams,
    the request; returns the connection (nothing more sent)."""
    payload = json.dumps({"argv": argv, "cwd": str(cwd), "env": env, "umask": 0o022}).encode()
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(path))
    devnull = os.open(os.devnull, os.O_RDWR)
    socket.send_fds(s, [struct.pack("!I", len(payload))], [devnull, devnull, devnull])
    os.close(devnull)
    s.sendall(payload)
    return s


def test_a_stalled_client_holds_up_no_one_and_each_request_runs_once(prefect_api, fork_env, tmp_path, monkeypatch):
    """A client that sends its request a byte every two seconds (a Ctrl-Z'd caller, or a hostile
    one) held the accept loop: the real caller gave up after 30 s and ran in-process, and when the
    stall ended the server ran the queued request too — two flow runs, the results written twice."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", fork_env["XDG_RUNTIME_DIR"])
    path = forkclient.ensure()
    payload = b"x" * 4096
    stalled = socket.socket(socket.AF_UNIX)
    stalled.connect(str(path))
    devnull = os.open(os.devnull, os.O_RDWR)
    socket.send_fds(stalled, [struct.pack("!I", len(payload))], [devnull, devnull, devnull])
    os.close(devnull)
    stop = threading.Event()

    def trickle():
        for byte in payload:
            if stop.wait(2):
                return
            try:
                stalled.send(bytes([byte]))
            except OSError:
                return

    feeder = threading.Thread(target=trickle, daemon=True)
    feeder.start()
    try:
        time.sleep(1)
        data = tmp_path / "once-only.jsonl"
        shutil.copy(DEMO, data)
        t0 = time.monotonic()
        out = run(["batch", str(data), "--limit", "3", "--results", str(tmp_path / "r.jsonl"), "--verbose"],
                  {**fork_env, "NESYFLOW_HOME": str(tmp_path / "home")})
        took = time.monotonic() - t0
        assert out.returncode == 0, out.stderr
        assert VIA in out.stderr, "the caller fell back to running in-process"
        assert took < 20, f"a stalled client held the caller up for {took:.0f} s"
    finally:
        stop.set()
        stalled.close()
        feeder.join(5)
    time.sleep(4)  # a request queued behind the stall would have been run by now
    assert len(flow_runs_named("once-only.jsonl")) == 1
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 3


def test_a_request_its_caller_abandons_before_go_is_never_forked(fork_env, tmp_path, monkeypatch):
    """The hand-over is ready/go: a caller that gives up (closes) before saying go leaves nothing
    running, so its in-process fall-back is the only run."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", fork_env["XDG_RUNTIME_DIR"])
    path = forkclient.ensure()
    marker = tmp_path / "should-not-exist.jsonl"
    env = {**fork_env, "NESYFLOW_HOME": str(tmp_path / "home"), "NESYFLOW_FORKSERVER": "1"}
    conn = raw_request(path, ["batch", str(DEMO), "--limit", "1", "--results", str(marker)], ROOT, env)
    conn.settimeout(30)
    first = conn.makefile("r").readline()
    assert json.loads(first) == {"ready": True}, first
    conn.close()  # gave up: no go
    time.sleep(5)
    assert not marker.exists(), "the fork server ran a request its caller had abandoned"
    assert forkclient.ensure() == path  # and serves the next one


def test_an_llm_batch_in_the_fork_server_stays_offline_without_the_callers_setting(prefect_api, fork_env, tmp_path,
                                                                                  listener):
    """LITELLM_OFFLINE_MODE was set by an import in the server and lost when the child took its
    caller's environment: outside ``make`` an LLM batch's workers fetched litellm's price list
    (16 "model cost map fetch" lines with --verbose, DNS lookups from every worker). Here the
    price list's URL points at a local listener that records any connection."""
    from flows.llm.fake_openai import FakeOpenAI

    port, hits = listener
    good = ("TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is a man.\nFOL:\tMan(Socrates)"
            "\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)")
    data = tmp_path / "p.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "premises": ["All men are mortal.", "Socrates is a man."],
                                        "conclusion": "Socrates is mortal.", "answer": "True"}) + "\n" for i in range(3)))
    env = {k: v for k, v in fork_env.items() if k != "LITELLM_OFFLINE_MODE"}
    here = f"http://127.0.0.1:{port}"
    env.update({"NESYFLOW_HOME": str(tmp_path / "home"), "LITELLM_MODEL_COST_MAP_URL": f"{here}/cost.json",
                "LITELLM_BLOG_POSTS_URL": f"{here}/rss.xml", "LITELLM_ANTHROPIC_BETA_HEADERS_URL": f"{here}/beta.json"})
    with FakeOpenAI(lambda messages: good) as model:
        out = run(["batch", str(data), "--parser", "llm", "--model", "openai/local", "--api-base", model.api_base,
                   "--workers", "2", "--verbose", "--summary-json", str(tmp_path / "s.json")], env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert VIA in out.stderr
    assert json.loads((tmp_path / "s.json").read_text())["correct"] == 3
    assert "cost map fetch" not in out.stderr
    assert hits == [], f"{len(hits)} connection(s) to litellm's price-list URL"

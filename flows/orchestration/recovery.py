"""Flow runs whose process died: marked Crashed on the CLI's next start instead of staying
``Running`` in the UI forever.

A flow run notes itself in ``<home>/runs/<id>.json`` (its pid, the process start time, the API)
while it runs and removes the note when it ends, however it ends in Python. A process killed
with SIGKILL (or a machine that lost power, or a server that went away mid-run) leaves the note
behind; the next ``nesyflow`` command finds it, sees that the process is gone, and sets the run
and its running task runs to Crashed through the REST API. Prefect's own heartbeat-based zombie
detection needs an automation on the server and a heartbeat that costs each sync flow run ~1 s;
this needs neither. No Prefect import: plain HTTP.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from flows.settings import get_settings
from flows.store import private_dir

__all__ = ["running", "mark_crashed_runs", "set_crashed"]


def _runs_dir() -> Path:
    return private_dir(get_settings().home.resolve() / "runs")


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name: [0] the state, [19] the start time in clock
    ticks since boot (tells a reused pid from ours); None when there is no such process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 19 else None


def _start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields else None


@contextmanager
def running(flow_run_id: str | None):
    if not flow_run_id:
        yield
        return
    from prefect.settings import PREFECT_API_URL

    note = _runs_dir() / f"{flow_run_id}.json"
    note.write_text(json.dumps({"flow_run_id": flow_run_id, "pid": os.getpid(), "start": _start_time(os.getpid()),
                                "api_url": PREFECT_API_URL.value()}))
    yield
    # Only a body that finished removes the note: after an exception (a lost server, say) Prefect
    # may not have been able to record the end, and the next start checks.
    note.unlink(missing_ok=True)


def _alive(pid: int, start: str | None) -> bool:
    fields = _stat(pid)
    if fields is None:
        return False
    if fields[0] in ("Z", "X"):  # killed, not yet reaped (a fork server reaps its children a moment later)
        return False
    return start is None or fields[19] == start


def _request(url: str, method: str = "GET", body: dict | None = None, timeout: float = 5.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    auth = os.environ.get("PREFECT_API_AUTH_STRING")
    if auth:
        import base64

        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def set_crashed(api_url: str, flow_run_id: str, message: str) -> str | None:
    """Crash the flow run if it still says Running (and its task runs that do). Returns
    ``"crashed"`` when it was changed, ``"ended"`` when the server already records an end
    (Completed, Failed, …: nothing to correct), ``"unknown"`` when the server has no such run,
    None when the server did not answer (try again next time)."""
    base = api_url.rstrip("/")
    state = {"type": "CRASHED", "name": "Crashed", "message": message}
    try:
        run = _request(f"{base}/flow_runs/{flow_run_id}")
        if (run or {}).get("state_type") not in ("RUNNING", "PENDING", "SCHEDULED", "PAUSED"):
            return "ended"
        tasks = _request(f"{base}/task_runs/filter", "POST", {"task_runs": {"flow_run_id": {"any_": [flow_run_id]},
                                                                            "state": {"type": {"any_": ["RUNNING", "PENDING"]}}}})
        for tr in tasks or []:
            _request(f"{base}/task_runs/{tr['id']}/set_state", "POST", {"state": state, "force": True})
        _request(f"{base}/flow_runs/{flow_run_id}/set_state", "POST", {"state": state, "force": True})
        return "crashed"
    except urllib.error.HTTPError as exc:
        return "unknown" if exc.code == 404 else None  # 404: not a run of this server's database
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
        return None


def mark_crashed_runs(api_url: str) -> list[str]:
    """Crash every noted run whose process is gone (on this server); returns the ids of those it
    changed. A note whose run already ended on the record (a flow that failed, say) is just
    removed: the run says how it ended."""
    crashed = []
    for note in sorted(_runs_dir().glob("*.json")):
        try:
            info = json.loads(note.read_text())
            pid, run_id = int(info["pid"]), str(info["flow_run_id"])
        except (OSError, ValueError, KeyError, TypeError):
            note.unlink(missing_ok=True)
            continue
        if _alive(pid, info.get("start")):
            continue
        target = info.get("api_url") or api_url
        if target.rstrip("/") != api_url.rstrip("/"):
            continue  # another server's run: leave it for a command that talks to that server
        outcome = set_crashed(api_url, run_id, f"the nesyflow process (pid {pid}) ended without finishing this run; "
                                                "rerun the same command to resume")
        if outcome is not None:
            note.unlink(missing_ok=True)
        if outcome == "crashed":
            crashed.append(run_id)
    return crashed

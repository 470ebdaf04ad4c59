"""How a batch's cost grows with its size: 1k / 10k / 100k problems, gold FOL and a simulated LLM.

    python bench/bench_growth.py                      # 1000,10000,100000; gold and llm
    python bench/bench_growth.py --sizes 1000,10000 --kinds gold

Per run (a fresh NESYFLOW_HOME, cold store; the benches' own Prefect server): whole wall time,
CPU of the process tree (user + system of the CLI and every process it waited for: it runs
in-process, ``python -m flows.cli``, so none of it is in a fork server), peak RSS and PSS of the
tree (``bench/_treemem.py``), the growth of the Prefect server's database (``prefect.db`` and its
WAL under the server's home) per problem, and the server's responsiveness during the batch: every
few seconds, the time of ``GET /api/flow_runs/<id>`` of the running batch, and every 20 s the time
a logged-in headless Chromium takes to render the run's UI page (its first log line and its
task-run count; ``bench/_browser.py``; skipped with a note where no chromium is installed), two
ways: a full load (typing the run's URL: the UI's ~11 MB of JavaScript is evaluated again, from the
browser's cache) and a click on the run in the UI's runs list (what a person does with the UI open:
only the run page's own API calls and rendering). On two cores the full load's JavaScript start-up
alone takes ~2 s, with or without a batch beside it; the click is the server's part.
The goal is linear time (CPU per problem flat) and flat memory. Problems: ``make_big_jsonl``'s
synthetic gold FOL (``--parser gold``), and for ``llm`` the same problems' sentences sent to
``flows.llm.fake_openai`` (fixed latency, one FOL reply) with ``--parser llm``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _browser import browser, log_in  # noqa: E402
from _common import ROOT, bench_server, cleanup, write_report  # noqa: E402
from _treemem import run_sampled  # noqa: E402
from make_big_jsonl import problem  # noqa: E402

REPLY = ("TEXT:\tpremise\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tpremise\nFOL:\tMan(Socrates)\n"
         "TEXT:\tconclusion\nFOL:\tMortal(Socrates)\n")


def _get(url: str, timeout: float = 30.0) -> tuple[float, bytes]:
    headers = {}
    if os.environ.get("PREFECT_API_AUTH_STRING"):
        headers["Authorization"] = "Basic " + base64.b64encode(os.environ["PREFECT_API_AUTH_STRING"].encode()).decode()
    req = urllib.request.Request(url, headers=headers)
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read()
    return time.perf_counter() - t0, body


def _newest_run(api_url: str, after: str) -> str | None:
    headers = {"Content-Type": "application/json"}
    if os.environ.get("PREFECT_API_AUTH_STRING"):
        headers["Authorization"] = "Basic " + base64.b64encode(os.environ["PREFECT_API_AUTH_STRING"].encode()).decode()
    body = json.dumps({"sort": "EXPECTED_START_TIME_DESC", "limit": 1,
                       "flow_runs": {"expected_start_time": {"after_": after}}}).encode()
    req = urllib.request.Request(api_url + "/flow_runs/filter", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        runs = json.loads(resp.read())
    return runs[0]["id"] if runs else None


# The run's page has rendered what a person waits for: its first log line and its task-run count.
RUN_PAGE_SHOWN = ("document.body && document.body.textContent.includes('problems from') && "
                  "/\\d[\\d,]* Task runs?/.test(document.body.textContent)")


def _ui(page, api_url: str, run_id: str) -> float:
    """Seconds from navigating to the run's page in the UI (a logged-in headless Chromium) until it
    shows the run's own first log line and its task-run count: what a person waits for."""
    from flows.orchestration.server import ui_url

    page.open("about:blank")
    t0 = time.perf_counter()
    page.open(ui_url(api_url, run_id))
    page.wait(RUN_PAGE_SHOWN, "the run page", timeout=60, poll=0.05)
    seconds = round(time.perf_counter() - t0, 3)
    page.open("about:blank")  # a page left open polls the API and renders: it would load the machine it measures
    return seconds


def _ui_click(page, api_url: str, run_id: str) -> float:
    """Seconds from clicking the run in the UI's runs list until its page shows ``RUN_PAGE_SHOWN``."""
    from flows.orchestration.server import ui_url

    page.open("about:blank")
    page.open(ui_url(api_url))
    link = f"a[href*='/runs/flow-run/{run_id}']"
    page.wait(f"!!document.querySelector(\"{link}\")", "the run's link in the runs list", timeout=60, poll=0.05)
    t0 = time.perf_counter()
    page.js(f"document.querySelector(\"{link}\").click()")
    page.wait(f"location.pathname.includes('/runs/flow-run/') && {RUN_PAGE_SHOWN}", "the run page after the click",
              timeout=60, poll=0.05)
    seconds = round(time.perf_counter() - t0, 3)
    page.open("about:blank")
    return seconds


def _db_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "prefect").glob("prefect.db*") if p.is_file())


def one_run(kind: str, n: int, api_url: str, server_home: Path, api_base: str | None, tmp: Path, page=None) -> dict:
    data = tmp / f"{kind}-{n}.jsonl"
    with data.open("w") as fh:
        for i in range(n):
            rec = problem(i)
            if kind == "llm":
                rec.pop("formal")
            fh.write(json.dumps(rec) + "\n")
    home = tmp / f"home-{kind}-{n}"
    env = {**os.environ, "NESYFLOW_HOME": str(home), "PREFECT_API_URL": api_url, "LITELLM_OFFLINE_MODE": "true",
           "PYTHONPATH": str(ROOT)}
    opts = ["--parser", "gold"] if kind == "gold" else ["--parser", "llm", "--model", "openai/simulated", "--api-base", api_base,
                                                        "--solver", "z3", "--concurrency", "16"]
    argv = [sys.executable, "-m", "flows.cli", "batch", str(data), *opts, "--results", str(home / "results.jsonl"),
            "--summary-json", str(home / "summary.json")]
    db0 = _db_bytes(server_home)
    probes: list[tuple[float, float | None, float | None]] = []  # (API GET s, UI full load s, UI click s)
    stop = threading.Event()
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 2))

    def probe() -> None:
        run_id, k = None, 0
        while not stop.wait(5.0):
            k += 1
            with_ui = page is not None and k % 4 == 1
            try:
                run_id = run_id or _newest_run(api_url, started)
                if run_id:
                    api_s, _ = _get(f"{api_url}/flow_runs/{run_id}")
                    probes.append((round(api_s, 3), _ui(page, api_url, run_id) if with_ui else None,
                                   _ui_click(page, api_url, run_id) if with_ui else None))
            except Exception as exc:  # a probe that fails is a figure too
                probes.append((float("inf"), float("inf") if with_ui else None, float("inf") if with_ui else None))
                print(f"probe failed: {exc!r}", file=sys.stderr)

    th = threading.Thread(target=probe, daemon=True)
    th.start()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    out = run_sampled(argv, env=env, cwd=str(ROOT))
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop.set()
    th.join()
    db1 = _db_bytes(server_home)
    summary = json.loads((home / "summary.json").read_text()) if (home / "summary.json").exists() else {}
    # the larger of: what the CLI's waited-for children used, and the tree sampled from /proc
    cpu = max((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), out["sampled_cpu_s"])
    api = [a for a, _, _ in probes]
    ui = [u for _, u, _ in probes if u is not None]
    clicks = [c for _, _, c in probes if c is not None]
    row = {"kind": kind, "n": n, "rc": out["rc"], "wall_s": out["wall_s"], "cpu_s": round(cpu, 1),
           "cpu_ms_per_problem": round(1000 * cpu / n, 2), "wall_ms_per_problem": round(1000 * out["wall_s"] / n, 2),
           "peak_rss_mb": out["peak_rss_mb"], "peak_pss_mb": out["peak_pss_mb"],
           "db_growth_bytes_per_problem": round((db1 - db0) / n, 1), "db_growth_mb": round((db1 - db0) / 1e6, 1),
           "probes": len(probes), "api_get_s_max": max(api, default=None),
           "api_get_s_median": statistics.median(api) if api else None, "ui_page_s_max": max(ui, default=None),
           "ui_page_s_median": statistics.median(ui) if ui else None, "ui_pages": len(ui),
           "ui_page_s_each": ui, "ui_page_s_over_3": sum(u > 3 for u in ui),
           "ui_click_s_median": statistics.median(clicks) if clicks else None, "ui_click_s_max": max(clicks, default=None),
           "ui_click_s_each": clicks, "ui_click_s_over_3": sum(c > 3 for c in clicks),
           "summary_n": summary.get("n"), "correct": summary.get("correct"), "llm_calls": summary.get("llm_calls"),
           "load_before": load}
    if out["rc"] != 0:
        row["stderr"] = out["stderr"][-1500:]
    cleanup(home)
    data.unlink()
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--kinds", default="gold,llm")
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--no-ui", action="store_true", help="no browser probe of the run's UI page")
    args = ap.parse_args()
    api_url = bench_server()
    server_home = ROOT / ".nesyflow" / "bench"
    tmp = Path(tempfile.mkdtemp(prefix="nesyflow-growth-"))
    fake = api_base = None
    kinds = args.kinds.split(",")
    if "llm" in kinds:
        reply = tmp / "reply.txt"
        reply.write_text(REPLY)
        fake = subprocess.Popen([sys.executable, "-m", "flows.llm.fake_openai", "--latency", str(args.latency),
                                 "--reply", str(reply)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        api_base = fake.stdout.readline().strip()
    rows = []
    chromium = None if args.no_ui else (shutil.which("chromium") or shutil.which("chromium-browser"))
    if chromium is None and not args.no_ui:
        print("no chromium here: the UI page is not timed (apt-get install chromium)", file=sys.stderr)
    try:
        with (browser(chromium) if chromium else contextlib.nullcontext()) as page:
            if page is not None:
                from flows.orchestration.server import ui_url

                log_in(page, ui_url(api_url), os.environ["PREFECT_API_AUTH_STRING"])
            for kind in kinds:
                for n in (int(x) for x in args.sizes.split(",")):
                    rows.append(one_run(kind, n, api_url, server_home, api_base, tmp, page))
    finally:
        if fake is not None:
            fake.terminate()
        cleanup(tmp)
    out = write_report(f"growth_{args.kinds.replace(',', '_')}_{args.sizes.replace(',', '_')}", {"rows": rows})
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``nesyflow``: the command line of DESIGN.md §4.

Prefect is imported only after the arguments are checked and the environment is set (a local
server started or reused, offline settings applied), so ``--help`` and argument errors are
instant and every error is one line with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import get_args
from pathlib import Path

from parsers.errors import NesyflowError
from prompts import PROMPTS as _PROMPTS

from flows.datasets import FORMATS
from flows.engine.contract import BATCH_PARSERS, BOUNDS, SOLVERS, Bound, Contradictory
from flows.engine.languages import LANGUAGE_CHOICES
from flows.text import escape_log_records, printable

__all__ = ["main", "build_parser"]

PROMPT_NAMES = tuple(_PROMPTS)
SOLVE_PARSERS = ("gold", "english", "llm", "fol")
"""``fol``: what solve's ``gold`` was called before (kept for scripts); not shown in --help."""
CONTRADICTORY = get_args(Contradictory)


class CliError(Exception):
    """A bad argument or unreadable input: printed as one line, exit code 2."""


def _number(bound: Bound, kind: str):
    """An argparse type: the text read as ``bound.kind`` and kept within ``bound`` (the bounds the
    flows share, ``flows.engine.contract``), else one line saying what was expected (argparse
    puts the option's name in front)."""

    def conv(text: str):
        try:
            value = bound.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        problem = bound.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    return conv


_seconds = _number(BOUNDS["seconds"], "a number of seconds")
_samples = _number(BOUNDS["samples"], "a whole number")
_rounds = _number(BOUNDS["repair_rounds"], "a whole number")
_concurrency = _number(BOUNDS["concurrency"], "a whole number")
_chunk = _number(BOUNDS["chunk_size"], "a whole number")
_workers = _number(BOUNDS["workers"], "a whole number")
_limit = _number(BOUNDS["limit"], "a whole number")
_temperature = _number(BOUNDS["temperature"], "a number")
_positive = _number(Bound(int, 1, 1_000_000), "a whole number")
_tokens = _number(BOUNDS["max_tokens"], "a whole number")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(2, f"nesyflow: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nesyflow", description="Neurosymbolic reasoning on Prefect: formalize, check, prove, vote.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    common = _Parser(add_help=False)
    common.add_argument("--solver", choices=SOLVERS, default=None,
                        help="back end: z3, eprover, prover9, portfolio (all three provers, first definitive answer, "
                             "disagreements recorded), or rules (forward chaining with strong negation, ProofWriter's "
                             "semantics) [portfolio for formulas, rules for --parser english]")
    common.add_argument("--timeout", type=_seconds, default=None, metavar="S",
                        help="wall-clock and CPU seconds per prover run [NESYFLOW_TIMEOUT_S or 10]")
    common.add_argument("--problem-timeout", type=_seconds, default=None, metavar="S",
                        help="wall-clock seconds one problem may spend in back ends, across all of them (portfolio "
                             "members, both goals); each run still gets --timeout at most [3 × --timeout]")
    common.add_argument("--model", default=None, metavar="M",
                        help="litellm model string for --parser llm, e.g. openai/gpt-4o or ollama/llama3; the API key "
                             "comes from the provider's environment variable (e.g. OPENAI_API_KEY)")
    common.add_argument("--api-base", default=None, metavar="URL", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    common.add_argument("--verbose", action="store_true",
                        help="show Prefect's and litellm's own log lines and full tracebacks on the console")

    s = sub.add_parser("solve", parents=[common], help="decide one problem given on the command line",
                       description="Decide whether the premises entail the conclusion (True), its negation (False), or neither (Unknown).")
    s.add_argument("--premise", action="append", required=True, metavar="TEXT",
                   help="a premise; repeat for several. With --parser gold: a formula in NLTK or Unicode syntax")
    s.add_argument("--conclusion", required=True, metavar="TEXT", help="the statement to decide")
    s.add_argument("--parser", choices=SOLVE_PARSERS, default="gold", metavar="{gold,english,llm}",
                   help="how the text becomes logic: gold (the text already is first-order logic, read exactly as "
                        "typed: a slip is a located error, never silently edited), english (controlled English, see "
                        "README), or llm (a model translates the sentences: --model, --api-base) [gold]")
    s.add_argument("--llm-timeout", type=_seconds, default=120.0, metavar="S",
                   help="seconds per LLM call (--parser llm) [120]")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")

    b = sub.add_parser("batch", parents=[common], help="decide every problem of a dataset",
                       description="Run the batch flow over a dataset and report accuracy, execution rate and per-problem results.")
    b.add_argument("path", help="problem file: nesyflow JSONL, Logic-LM JSON (with recorded programs for replay), FOLIO JSONL, "
                               "LINC *_generations_raw.json, GSM8K JSONL, or miniF2F Lean 4 JSONL")
    b.add_argument("--format", choices=FORMATS, default="auto", help="input format; auto detects it from the records [auto]")
    b.add_argument("--parser", choices=BATCH_PARSERS, default="gold",
                   help="formalizer: gold (the formalization the problem carries, e.g. FOLIO's premises-FOL), "
                        "english (the offline controlled-English parser), llm (a model through litellm, --model), "
                        "or replay (the completions recorded in the input file, through the same LLM path) [gold]")
    b.add_argument("--language", choices=LANGUAGE_CHOICES, default="auto",
                   help="formal language the LLM writes (llm/replay parsers): fol, logic-program (Facts/Rules/Query), "
                        "smtlib, csp (Domain/Variables/Constraints/Query), z3dsl (# Declarations/# Constraints/# Options), "
                        "sympy (equations), python (Program-of-Thought, run sandboxed); logic-lm = Logic-LM's format for "
                        "the dataset named in the file name; auto = by problem kind (entailment fol, choice z3dsl, "
                        "math sympy), and for replay each recorded output's own format [auto]")
    b.add_argument("--prompt", choices=tuple(n for n in PROMPT_NAMES if n != "repair"), default=None,
                   help="override the prompt template in prompts/ that --language picks")
    b.add_argument("--temperature", type=_temperature, default=None, metavar="T",
                   help="sampling temperature [0 with one sample, 0.8 with several]")
    b.add_argument("--fallback", choices=("none", "unknown"), default="none",
                   help="when every sample of a problem fails: none (no answer, counted wrong) or unknown [none]")
    b.add_argument("--llm-timeout", type=_seconds, default=120.0, metavar="S",
                   help="seconds per LLM call, retries included [120]")
    b.add_argument("--max-tokens", type=_tokens, default=None, metavar="N",
                   help="completion tokens asked for at most on every LLM call [NESYFLOW_MAX_TOKENS or 2048]")
    b.add_argument("--contradictory", choices=CONTRADICTORY, default="auto",
                   help="a model's formalization whose premises contradict each other (llm/replay, entailment problems): "
                        "reject it as a mistranslation (repaired, no vote), or take 'contradictory' as its answer; auto "
                        "rejects it where the dataset is known consistent (FOLIO, LINC and Logic-LM files) [auto]")
    b.add_argument("--samples", type=_samples, default=1, metavar="K",
                   help="translations per problem, majority vote over decided answers (deterministic parsers use 1) [1]")
    b.add_argument("--repair-rounds", type=_rounds, default=0, metavar="R",
                   help="repair prompts after a located error (LLM parsers only) [0]")
    b.add_argument("--concurrency", type=_concurrency, default=None, metavar="C",
                   help="chunks solved at once; each runs solver subprocesses [number of cores]")
    b.add_argument("--chunk-size", type=_chunk, default=None, metavar="N",
                   help="problems per task run (what the Prefect UI shows as one box); 0 = automatic: at most 50, "
                        "up to 500 over problems the store already answers [0]")
    b.add_argument("--workers", type=_workers, default=None, metavar="N",
                   help="engine processes that compute the batch while this one records it in Prefect; 0 = compute "
                        "in this process [1, or one per core for --parser llm/replay]")
    b.add_argument("--limit", type=_limit, default=None, metavar="N", help="only the first N problems")
    b.add_argument("--task-runner", choices=("threads", "dask"), default="threads",
                   help="where tasks run: threads in this process, or Dask (prefect-dask) [threads]")
    b.add_argument("--dask-address", default=None, metavar="ADDR",
                   help="scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786; without it --task-runner dask "
                        "starts a LocalCluster with one worker process per core")
    b.add_argument("--results", default=None, metavar="FILE.jsonl",
                   help="write one JSON line per problem: id, gold, predicted, status, solver, samples, repair_rounds, error, and the evidence")
    b.add_argument("--summary-json", default=None, metavar="FILE.json",
                   help="write the summary: n, correct, accuracy, decided, exe_rate, exe_acc, errors, undetermined, llm_calls, tokens, cost_usd, wall_s")

    srv = sub.add_parser("server", help="the local Prefect server the CLI starts (status, start, stop)",
                         description="The local Prefect server (SQLite under .nesyflow/prefect) that batch, solve and serve "
                                     "start on first use: port 4200, or the next free one, kept across restarts. start "
                                     "and stop also start and retire the CLI's fork server (see README; "
                                     "NESYFLOW_FORKSERVER=0 runs commands in-process).")
    srv.add_argument("action", choices=("status", "start", "stop"),
                     help="status: print the API URL and up/down; start: start it (or print the running one's URL) "
                          "and the fork server; stop: both")
    srv.add_argument("--url", action="store_true", help="status: print only the API URL (for scripts), exit 1 when it is down")
    srv.add_argument("--netrc", action="store_true",
                     help="status: print only the path of the API credential for curl (curl --netrc-file PATH)")
    srv.add_argument("--host", default="127.0.0.1",
                     help="start: address to bind; anything but loopback requires auth on (NESYFLOW_API_AUTH) [127.0.0.1]")

    sub.add_parser("doctor", help="check every back end, the sandbox, Lean and the Prefect server",
                   description="Each back end decides a tiny problem; the exit code says whether the default job "
                               "(make demo) can run: 0 yes, 1 no.")

    sv = sub.add_parser("serve", help="serve the flows as deployments (scheduled batch, on-demand batch, reason)",
                        description="Register deployments on the Prefect server and run their flow runs until stopped "
                                    "(Ctrl-C). Trigger them from the UI, `prefect deployment run`, or the REST API.")
    sv.add_argument("--dataset", default=None, metavar="PATH", help="dataset of the scheduled batch (with --cron)")
    sv.add_argument("--cron", default=None, metavar="EXPR", help="schedule of the batch, e.g. '0 3 * * *' (daily at 03:00)")
    sv.add_argument("--format", choices=FORMATS, default="auto", help="format of --dataset [auto]")
    sv.add_argument("--parser", choices=BATCH_PARSERS, default="gold", help="formalizer of the scheduled batch [gold]")
    sv.add_argument("--model", action="append", default=None, metavar="M",
                    help="a litellm model string callers may pick for --parser llm; repeat for several (the first is "
                         "the default and the scheduled batch's); without one, served runs refuse --parser llm")
    sv.add_argument("--api-base", action="append", default=None, metavar="URL",
                    help="an endpoint callers may pick for those models; repeat for several (the first is the default) "
                         "[the provider's own]. A caller can never name another: it would receive the API key")
    sv.add_argument("--read-root", action="append", default=None, metavar="DIR",
                    help="a folder served runs may read datasets from; repeat for several [the project and its data "
                         "folder]")
    sv.add_argument("--results-root", default=None, metavar="DIR",
                    help="where served runs write results and summary, in DIR/<flow-run-id>/ [<home>/runs]")
    sv.add_argument("--language", choices=LANGUAGE_CHOICES, default=None,
                    help="formal language the model writes (see batch --help) [auto]")
    sv.add_argument("--solver", choices=SOLVERS, default=None, help="back end of the scheduled batch")
    sv.add_argument("--timeout", type=_seconds, default=None, metavar="S",
                    help="wall-clock and CPU seconds per prover run [NESYFLOW_TIMEOUT_S or 10]")
    sv.add_argument("--samples", type=_samples, default=1, metavar="K", help="samples per problem [1]")
    sv.add_argument("--repair-rounds", type=_rounds, default=0, metavar="R", help="repair rounds [0]")
    sv.add_argument("--concurrency", type=_concurrency, default=None, metavar="C", help="chunks/calls at once")
    sv.add_argument("--max-tokens", type=_tokens, default=None, metavar="N",
                    help="completion tokens asked for at most on every LLM call [NESYFLOW_MAX_TOKENS or 2048]")
    sv.add_argument("--max-runs", type=_positive, default=None, metavar="N",
                    help="flow runs executed at the same time (default: no limit)")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address of the local server if serve starts it; anything but loopback requires auth on "
                         "(NESYFLOW_API_AUTH) [127.0.0.1]")
    sv.add_argument("--verbose", action="store_true", help="show Prefect's own log lines on the console")
    return p


def _setup_env(verbose: bool, host: str = "127.0.0.1") -> str:
    """Apply offline settings and point Prefect at a server; return the API URL. Runs left
    ``Running`` by a killed nesyflow process are marked Crashed here."""
    from flows.orchestration.recovery import mark_crashed_runs
    from flows.orchestration.server import QUIET_CONSOLE, client_env, ensure_server, offline_env
    from flows.settings import get_settings
    from flows.store import private_dir

    settings = get_settings()
    private_dir(settings.home.resolve())
    for key, value in offline_env(settings.home.resolve()).items():
        if key == "PREFECT_HOME" and os.environ.get("PREFECT_API_URL"):
            continue  # a user-chosen server keeps the user's Prefect home
        os.environ.setdefault(key, value)
    if not verbose:
        for key, value in QUIET_CONSOLE.items():
            os.environ.setdefault(key, value)
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        print("starting or reusing the local Prefect server…", file=sys.stderr, flush=True)
        api_url = ensure_server(settings.home, settings.server_port, host=host)
        os.environ["PREFECT_API_URL"] = api_url
    os.environ.update(client_env(settings.home, api_url))  # our own server's credential (basic auth)
    from flows.cli.prefect_env import refresh_prefect

    refresh_prefect()  # in a fork server's child Prefect was imported before this environment was set
    if not verbose:
        _quiet_prefect_services()
    for run_id in mark_crashed_runs(api_url):
        print(f"note: flow run {run_id} was left Running by a process that was killed; marked Crashed", file=sys.stderr)
    return api_url


def _quiet_prefect_services() -> None:
    """When the server goes away, Prefect's background services (events, API logs) report each item
    they could not send — an event's whole repr, kilobytes each — and its log worker writes
    ``--- Error logging to API ---`` without a newline. Our one line says what happened; --verbose
    shows theirs."""
    import logging

    for handler in logging.getLogger("prefect._internal").handlers:  # its loggers ignore their own level
        handler.setLevel(logging.CRITICAL)
    logging.getLogger("prefect.events").setLevel(logging.ERROR)  # "Unable to connect to the events socket"
    logging.raiseExceptions = False  # what Prefect's API log worker checks before writing to stderr


class _LineTracker:
    """``sys.stderr`` that knows whether the last text written to it ended a line, so that our
    one ``nesyflow: error:`` line always starts one (Prefect writes some messages without a newline)."""

    def __init__(self, stream):
        self._stream = stream
        self.at_line_start = True

    def write(self, text: str) -> int:
        n = self._stream.write(text)
        if text:
            self.at_line_start = text.endswith("\n")
        return n

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _error_line(message: str) -> None:
    """``nesyflow: error: <message>`` as one line of its own on stderr, control characters escaped."""
    stream = sys.stderr
    start = "" if getattr(stream, "at_line_start", True) else "\n"
    print(f"{start}nesyflow: error: {printable(message)}", file=stream, flush=True)


def _check_solver(name: str | None, parser: str) -> str:
    from solvers import make_solver

    from flows.engine.pipeline import DEFAULT_SOLVER

    name = name or DEFAULT_SOLVER[parser]
    solver = make_solver(name)
    if not solver.available():
        raise CliError(f"solver {name!r} is not available on this machine (binary not found); run `make install`")
    return name


def _progress():
    """A progress callback for batches: a live bar on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        import threading

        bar = Progress("solving", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
        task = None
        lock = threading.Lock()

        def update(done: int, total: int) -> None:  # called from the engine's threads
            nonlocal task
            with lock:
                if task is None:
                    bar.start()
                    task = bar.add_task("solving", total=total)
                bar.update(task, completed=done)
                if done >= total:
                    bar.stop()

        return update

    import time

    last = [0.0, -1]

    import threading

    lock = threading.Lock()

    def lines(done: int, total: int) -> None:  # at most one line a second, and the last one
        with lock:
            now = time.monotonic()
            if done < total and now - last[0] < 1.0:
                return
            if done > last[1]:
                print(f"progress: {done}/{total} problems", file=sys.stderr, flush=True)
                last[0], last[1] = now, done

    return lines


def _problem_file(arg: str) -> Path:
    """The problem file named on the command line, or a one-line reason why it is not one."""
    path = Path(arg)
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".jsonl")
                       and p.name.isprintable())
        some = f" (it holds {', '.join(names[:4])}{', …' if len(names) > 4 else ''})" if names else ""
        raise CliError(f"{arg}: is a directory; give a problem file{some}")
    if not path.exists():
        raise CliError(f"{arg}: no such file")
    if not path.is_file():
        raise CliError(f"{arg}: not a regular file")
    return path


def _cmd_batch(args) -> int:
    from flows.engine.runs import BatchParams, prepare

    path = _problem_file(args.path)
    if args.dask_address and args.task_runner != "dask":
        raise CliError("--dask-address goes with --task-runner dask")
    solver = _check_solver(args.solver, args.parser)
    if (args.model or args.api_base) and args.parser != "llm":
        print(f"note: --model/--api-base are used by --parser llm only; ignored with --parser {args.parser}", file=sys.stderr)
    samples = args.samples
    if args.parser == "llm" and not args.model:
        raise CliError("--parser llm needs --model (a litellm model string, e.g. openai/gpt-4o)")
    if args.parser == "replay" and args.repair_rounds:
        print("note: repair rounds are unavailable in replay (there is no model to ask); running without", file=sys.stderr)
    if args.parser in ("gold", "english") and samples > 1:
        print(f"note: the {args.parser} parser is deterministic; using 1 sample", file=sys.stderr)
        samples = 1
    params = BatchParams(path=str(path), format=args.format, parser=args.parser, solver=solver, samples=samples,
                         repair_rounds=args.repair_rounds, limit=args.limit, timeout_s=args.timeout,
                         problem_timeout_s=args.problem_timeout, results_path=args.results, summary_path=args.summary_json,
                         concurrency=args.concurrency, chunk_size=args.chunk_size, model=args.model, api_base=args.api_base,
                         prompt=args.prompt, language=args.language, temperature=args.temperature, fallback=args.fallback,
                         llm_timeout_s=args.llm_timeout, max_tokens=args.max_tokens, contradictory=args.contradictory)
    # Solving starts here, before Prefect is imported (~1 s) and the server is reached: the two overlap.
    run = prepare(params, progress=_progress(), start=args.task_runner == "threads", verbose=args.verbose,
                  log=(lambda m: print(printable(m), file=sys.stderr)) if args.verbose else None,
                  processes=0 if args.task_runner == "dask" else args.workers)
    if run.feed.empty:
        raise CliError(f"{args.path}: no problems in the file")
    try:
        api_url = _setup_env(args.verbose)
    except BaseException:
        run.engine.cancel()
        raise
    from flows.orchestration.batch import batch_flow, drain, quiet_heartbeat
    from flows.orchestration.report import summary_text
    from flows.orchestration.server import ui_url
    from flows.orchestration.supervise import Stopped, hard_exit, supervise
    from flows.settings import get_settings

    flow_fn = batch_flow(args.task_runner, run.concurrency, args.dask_address)

    def flow_call():
        with quiet_heartbeat():
            return flow_fn(**params.flow_kwargs())

    try:
        report = supervise(flow_call, api_url, grace_s=get_settings().server_grace_s)
    except Stopped as exc:
        _stop_early(run, f"{exc}", args)
        hard_exit(3)
    except KeyboardInterrupt:
        _stop_early(run, "interrupted (Ctrl-C)", args)
        hard_exit(130)
    drain(timeout=10)
    summary = report.summary
    print(summary_text(summary))
    if summary.flow_run_id:
        print(f"Prefect UI: {ui_url(api_url, summary.flow_run_id)}")
    run.engine.close(wait=False)
    # Files are written and Prefect's logs and events shipped (drain): skip the interpreter's
    # teardown of Prefect's worker threads and clients (~0.3 s of a short batch).
    hard_exit(0)
    return 0


def _stop_early(run, why: str, args) -> None:
    """Write what finished, say so in one line (the caller exits at once)."""
    import logging

    from flows.orchestration.batch import publish_files, summary_of
    from flows.orchestration.report import summary_text

    logging.disable(logging.CRITICAL)  # the flow thread's chunk tasks now fail on cancelled work: no tracebacks
    run.stopped.set()  # the flow thread adds no placeholder for work cancelled here
    run.engine.cancel()
    run.sink.finish()  # what finished ahead of an unfinished problem is written too, in input order
    done = run.sink.tally.n
    total = run.sink.total or run.feed.read
    if done == total and run.feed.exhausted:
        how = (f"{why}; all {total} problems finished, but the run's record in Prefect is incomplete — rerun the same "
               "command to record it (every problem is read back from the store, nothing is recomputed)")
    else:
        how = (f"{why}; stopped after {done} of {total} problems — rerun the same command to finish "
               f"the rest (finished problems are read back, not recomputed)")
    summary = summary_of(run, interrupted=how)
    try:
        publish_files(run, summary)
    except OSError as exc:
        how += f"; writing the results failed: {exc}"
    print(summary_text(summary))
    where = f" Results{' so far' if done < total else ''}: {args.results}." if args.results else ""
    _error_line(f"{how}.{where}")


def _cmd_solve(args) -> int:
    parser = "gold" if args.parser == "fol" else args.parser
    solver = _check_solver(args.solver, parser)
    premises = [p for p in args.premise]
    if any(not p.strip() for p in premises) or not args.conclusion.strip():
        raise CliError("premises and the conclusion must not be empty")
    if parser == "llm" and not args.model:
        raise CliError("--parser llm needs --model (a litellm model string, e.g. openai/gpt-4o)")
    if (args.model or args.api_base) and parser != "llm":
        print(f"note: --model/--api-base are used by --parser llm only; ignored with --parser {parser}", file=sys.stderr)
    api_url = _setup_env(args.verbose)
    from flows.orchestration.batch import drain, quiet_heartbeat, reason_here
    from flows.orchestration.supervise import Stopped, supervise
    from flows.settings import get_settings

    llm = dict(model=args.model, api_base=args.api_base, llm_timeout_s=args.llm_timeout) if parser == "llm" else {}

    def flow_call():
        with quiet_heartbeat():
            return reason_here()(premises=premises, conclusion=args.conclusion, parser=parser, solver=solver,
                                 timeout_s=args.timeout, **llm)

    try:
        result = supervise(flow_call, api_url, grace_s=get_settings().server_grace_s)
    except Stopped as exc:
        _error_line(f"{exc}")
        return 3
    drain(timeout=10)
    if args.json:
        print(result.model_dump_json())
    else:
        print(f"{result.status}  ({result.solver})")
        if result.error:
            print(printable(result.error))
        elif result.reason:
            print(printable(f"  {result.reason}"))
        if result.used_premises:
            print("  premises used: " + ", ".join(str(i + 1) for i in result.used_premises))
        if result.disagreement:
            print(printable(f"  back ends disagree: {result.disagreement}"))
        if args.parser == "english" and result.formal_conclusion:  # the translation the answer rests on
            print("  read as:")
            for i, formula in enumerate(result.formal_premises, 1):
                print(printable(f"    {i}. {formula}"))
            print(printable(f"    ⊢ {result.formal_conclusion}"))
        for note in result.notes:
            print(printable(f"  note: {note}"))
    return 0 if result.status in ("True", "False", "Unknown", "contradictory") else 1


def _cmd_server(args) -> int:
    from flows.cli import forkclient
    from flows.orchestration.server import auth_paths, check_host, ensure_server, healthy, server_record, stop_server
    from flows.settings import get_settings
    from flows.store import private_dir

    home = get_settings().home
    if args.action == "start":
        check_host(args.host)
        private_dir(home.resolve())
        print(ensure_server(home, get_settings().server_port, host=args.host))
        forkclient.ensure()  # so that the first batch does not pay the imports either
        return 0
    if args.action == "stop":
        print("stopped" if stop_server(home) else "no server running")
        forkclient.stop()
        return 0
    record = server_record(home)
    url = record.get("api_url", "")
    up = bool(url and record.get("pid") and healthy(url))
    auth_file, netrc = auth_paths(home)
    if args.netrc:  # with auth off there is nothing to send: /dev/null keeps a curl line working
        print(netrc if record.get("auth") else os.devnull)
        return 0 if up else 1
    if args.url:
        if url:
            print(url)
        return 0 if up else 1
    print(f"{url} {'up' if up else 'down'}" if url else "no server recorded (it starts on first use)")
    if url and record.get("auth"):
        print(f"auth: basic, user:password in {auth_file} (the UI's login; PREFECT_API_AUTH_STRING for prefect "
              f"commands); curl --netrc-file {netrc}")
    elif url:
        print("auth: off (NESYFLOW_API_AUTH=off): any local user or process can use this server")
    return 0


def _cmd_serve(args) -> int:
    if bool(args.dataset) != bool(args.cron):
        raise CliError("--dataset and --cron go together (the scheduled batch needs both)")
    if args.dataset:
        _problem_file(args.dataset)
    if args.dataset and args.parser == "llm" and not args.model:
        raise CliError("--parser llm needs --model (a litellm model string, e.g. openai/gpt-4o)")
    # The server comes first: importing Prefect before PREFECT_API_URL is set would register the
    # deployments on a hidden ephemeral server.
    api_url = _setup_env(args.verbose, host=args.host)
    from prefect.client.schemas.schedules import CronSchedule

    if args.cron:
        try:
            CronSchedule(cron=args.cron)
        except ValueError:
            raise CliError(f"--cron {args.cron!r} is not a valid cron expression (e.g. '0 3 * * *')") from None
    from flows.orchestration.serve import policy_env, supervise_serve

    params = {k: v for k, v in dict(format=args.format, parser=args.parser, model=(args.model or [None])[0],
                                    api_base=(args.api_base or [None])[0], language=args.language, solver=args.solver,
                                    timeout_s=args.timeout, samples=args.samples, repair_rounds=args.repair_rounds,
                                    concurrency=args.concurrency, max_tokens=args.max_tokens).items() if v is not None}
    if args.dataset:
        params["dataset_name"] = Path(args.dataset).name
        args.dataset = str(Path(args.dataset).resolve())
    policy = policy_env(read_roots=args.read_root, results_root=args.results_root, models=args.model,
                        api_bases=args.api_base, dataset=args.dataset)
    print(f"serving deployments on {api_url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    terminated = []

    def on_term(signum, _frame):  # `kill` as Ctrl-C: stop the serving child (and its runs), then leave
        if terminated:
            return  # a second one while stopping: the stop is under way
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        code = supervise_serve(api_url, args.dataset, args.cron, params, limit=args.max_runs, env=policy)
    finally:
        signal.signal(signal.SIGTERM, previous)
    from flows.orchestration.recovery import mark_crashed_runs

    for run_id in mark_crashed_runs(api_url):  # the runs it was executing, stopped with it
        print(f"note: flow run {run_id} was stopped with serve; marked Crashed", file=sys.stderr)
    return 128 + terminated[0] if terminated else code


def _cmd_doctor(args) -> int:
    from flows.cli.doctor import report, run_checks

    text, code = report(run_checks())
    print(text)
    return code


def _undecodable_argument(argv: list[str]) -> str | None:
    """Python reads a non-UTF-8 argument as lone surrogates (byte b as U+DC00+b); such text cannot
    be sent to Prefect or stored, so it is refused here, by position, rather than mid-run."""
    for i, arg in enumerate(argv):
        for pos, ch in enumerate(arg):
            if "\ud800" <= ch <= "\udfff":
                byte = f"byte 0x{ord(ch) - 0xDC00:02x}" if ord(ch) >= 0xDC80 else f"U+{ord(ch):04X}"
                shown = printable(arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:60])
                return (f"argument {i + 1} ({shown!r}) is not valid UTF-8 ({byte} at character {pos + 1}); nesyflow "
                        f"reads its arguments and file names as UTF-8")
    return None


def main(argv: list[str] | None = None) -> int:
    bad = _undecodable_argument(sys.argv[1:] if argv is None else argv)
    if bad:
        _error_line(bad)
        return 2
    args = build_parser().parse_args(argv)
    escape_log_records()  # ids, formulas and messages in log lines: control characters escaped
    stderr = sys.stderr
    sys.stderr = stderr if isinstance(stderr, _LineTracker) else _LineTracker(stderr)
    try:
        return {"batch": _cmd_batch, "solve": _cmd_solve, "server": _cmd_server, "serve": _cmd_serve,
                "doctor": _cmd_doctor}[args.command](args)
    except (CliError, NesyflowError) as exc:
        _error_line(f"{exc}".splitlines()[0])
        return 2
    except KeyboardInterrupt:
        print("nesyflow: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stderr = stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

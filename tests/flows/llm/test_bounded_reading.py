"""Reading a completion is charged to the problem's budget and bounded in size (issue 18, item 3),
and what results keep or print of it is capped and escaped (item 4). Fast: no Prefect, no HTTP."""

from __future__ import annotations

import asyncio
import threading
import time

from flows.engine import dialogue
from flows.engine.languages import language_plans
from flows.engine.pipeline import formalize_output
from flows.llm.clients import LLMClient, LLMRequest, LLMResponse
from flows.models import Checked, Problem, ProblemResult, RunConfig, Verdict
from flows.store import Store
from flows.text import printable
from parsers.errors import LocatedError

GOOD = "TEXT:\tAll men are mortal.\nFOL:\tall x. (Man(x) -> Mortal(x))\nTEXT:\tSocrates is mortal.\nFOL:\tMortal(Socrates)"
PROBLEM = Problem(id="p", premises=["All men are mortal."], conclusion="Socrates is mortal.", answer="True")


class _Fixed(LLMClient):
    cacheable = False

    def __init__(self, text: str):
        self.text = text

    async def complete(self, req: LLMRequest) -> LLMResponse:
        self.answered = time.monotonic()
        return LLMResponse(text=self.text)


def test_the_attempt_deadline_is_set_before_its_output_is_read_and_reading_is_off_the_loop(tmp_path, monkeypatch):
    reads: list[str] = []

    def slow_read(*args, **kwargs):
        reads.append(threading.current_thread().name)
        time.sleep(0.5)  # a reader that takes its time: the time must come out of the problem's budget
        return formalize_output(*args, **kwargs)

    monkeypatch.setattr(dialogue, "formalize_output", slow_read)
    seen: dict[str, float | None] = {}

    async def check_and_solve(form, close_free, deadline=None):
        seen["deadline"], seen["at"] = deadline, time.monotonic()
        return Checked(problem_id=form.problem_id, ok=False), Verdict(problem_id=form.problem_id, status="error", solver="z3")

    cfg = RunConfig(parser="llm", model="m", problem_timeout_s=2.0,
                    plans=language_plans("auto", {"entailment"}, "p.jsonl", "auto", None))
    loop_thread: list[str] = []
    client = _Fixed(GOOD)

    async def run():
        loop_thread.append(threading.current_thread().name)
        return await dialogue.converse(PROBLEM, cfg, client, Store(tmp_path), check_and_solve)

    asyncio.run(run())
    assert seen["deadline"] is not None, "check_and_solve got no deadline: reading was not in the budget"
    assert seen["deadline"] <= client.answered + 2.0 + 0.05
    assert seen["deadline"] - seen["at"] <= 2.0 - 0.45  # the half second of reading was already spent
    assert reads and reads[0] != loop_thread[0]  # read in the pool, never on the event loop


def test_an_output_over_the_size_cap_is_refused_with_its_length():
    form = formalize_output(PROBLEM, GOOD + "\n" + "x" * 200_000, "auto", "p", "replay")  # a recording, say
    (err,) = form.errors
    assert err.stage == "formalize" and f"the output is {len(GOOD) + 200_001:,} characters" in err.message
    assert "at most 100,000 are read" in err.message


def test_message_fields_are_capped_on_construction_and_on_copy():
    big = "x" * 1_000_000
    v = Verdict(problem_id="p", status="error", solver="z3", reason=big,
                errors=[LocatedError(stage="solve", message=big, hint=big)])
    assert len(v.reason) == 2000 and v.reason.endswith("(1,000,000 chars)")
    assert len(v.errors[0].message) == 2000 and len(v.errors[0].hint) == 2000
    copied = v.model_copy(update={"reason": big, "per_backend": {"z3": big}})
    assert len(copied.reason) == 2000 and len(copied.per_backend["z3"]) == 2000
    r = ProblemResult(id="p", gold=None, predicted=None, status="error", solver="z3", error=big, notes=[big])
    r = r.model_copy(update={"stages": {"solve": big}, "mismatch": big})
    assert {len(r.error), len(r.notes[0]), len(r.stages["solve"]), len(r.mismatch)} == {2000}
    assert len(r.model_dump_json()) < 10_000


def test_printable_escapes_every_control_character():
    text = "id\x1b[2J\x1b]0;title\x07\r\x08\x9b31m\u202etxt.exe\u200b\nnext\tline"
    out = printable(text)
    assert out == "id\\x1b[2J\\x1b]0;title\\x07\\x0d\\x08\\x9b31m\\u202etxt.exe\\u200b\nnext\tline"
    assert printable("a\nb\tc", newlines=False) == "a\\x0ab\\x09c"
    assert printable("∀x (P(x) → Q(x)) ünïcode") == "∀x (P(x) → Q(x)) ünïcode"


def test_problem_timeout_is_the_problems_across_repair_rounds_not_each_attempts(tmp_path):
    """Every attempt used to get the whole --problem-timeout: with 2 repair rounds a problem could
    spend 3 budgets. Each round now has what the earlier ones left; once it is spent, the round is
    undetermined with a located reason (and the record is not final, so a rerun tries again)."""
    from parsers.errors import locate

    deadlines: list[float] = []

    async def check_and_solve(form, close_free, deadline=None):
        deadlines.append(deadline - time.monotonic())
        await asyncio.sleep(0.6)  # the back end works for 0.6 s, then finds a repairable error
        err = locate("parse", "unexpected ','", where="premise 1")
        return (Checked(problem_id=form.problem_id, ok=False, errors=[err]),
                Verdict(problem_id=form.problem_id, status="error", solver="z3", errors=[err]))

    cfg = RunConfig(parser="llm", model="m", problem_timeout_s=1.0, repair_rounds=2,
                    plans=language_plans("auto", {"entailment"}, "p.jsonl", "auto", None))
    record = asyncio.run(dialogue.converse(PROBLEM, cfg, _Fixed(GOOD), Store(tmp_path), check_and_solve))
    assert len(deadlines) == 2, deadlines  # rounds 0 and 1 ran; round 2 found the budget spent
    assert 0.9 < deadlines[0] <= 1.0 and deadlines[1] < 0.45, deadlines
    assert record.result.status == "undetermined" and "--problem-timeout (1 s) was spent" in record.result.reason, record.result
    assert not record.final

"""Streamed batches (issue 21): the loader reads what is asked for, one bad line is that line's
error, ids stay unique across chunks, and the results file is in input order whatever finishes
first. No Prefect; every test is a fraction of a second."""

from __future__ import annotations

import json
import random

import pytest

from flows.datasets import DatasetError, stream_problems
from flows.engine.outputs import ResultsSink
from flows.engine.runs import Feed
from flows.models import ProblemRecord, ProblemResult


def line(i: int, pid: str | None = None) -> bytes:
    rec = {"id": pid or f"p{i}", "premises": ["a"], "conclusion": "b",
           "formal": {"language": "fol", "premises": ["P(a)"], "conclusion": "P(a)"}}
    return (json.dumps(rec) + "\n").encode()


def test_limit_reads_only_the_records_asked_for(tmp_path):
    def lines():
        for i in range(5):
            yield line(i)
        raise AssertionError("read past the limit")  # a million more lines would follow

    problems = list(stream_problems(tmp_path / "big.jsonl", limit=5, lines=lines()))
    assert [p.id for p in problems] == [f"p{i}" for i in range(5)]


def test_a_stream_is_read_as_it_is_consumed(tmp_path):
    read = []

    def lines():
        for i in range(10_000):
            read.append(i)
            yield line(i)

    stream = stream_problems(tmp_path / "big.jsonl", lines=lines())
    assert len(read) <= 5  # opening reads what tells the format
    assert next(stream).id == "p0" and [next(stream).id for _ in range(20)][-1] == "p20"
    assert len(read) <= 21


def test_a_bad_line_mid_stream_is_located_and_the_rest_are_read(tmp_path):
    path = tmp_path / "mid.jsonl"
    path.write_bytes(b"".join([line(i) for i in range(50)] + [b'{"id": "x", oops\n', b"[" * 100_000 + b"\n",
                                                                   b'{"id": "bad\xe9"}\n'] + [line(i) for i in range(50, 100)]))
    problems = list(stream_problems(path))
    assert len(problems) == 103
    errors = [p.load_error for p in problems if p.load_error]
    assert errors[0].startswith("line 51: invalid JSON at column 13")
    assert errors[1].startswith("line 52: JSON nested deeper than 64 levels")
    assert errors[2].startswith("line 53: not valid UTF-8 (byte 0xE9")
    assert [p.id for p in problems if not p.load_error] == [f"p{i}" for i in range(100)]


def test_ids_are_deduplicated_across_chunks_and_renames_do_not_collide(tmp_path):
    lines = [line(0, "a"), line(1, "b")] + [line(i) for i in range(2, 300)] + [line(300, "a"), line(301, "a#2"),
                                                                              line(302, "a")]
    sink = ResultsSink()
    feed = Feed(stream_problems(tmp_path / "d.jsonl", lines=iter(lines)), sink, concurrency=1, chunk_size=7)
    ids = []
    while (chunk := feed.next_chunk()) is not None:
        assert len(chunk) <= 7
        ids += [p.id for p in chunk]
    assert len(ids) == len(set(ids)) == 303
    assert ids[-3:] == ["a#2", "a#2#2", "a#3"]  # the file's own "a#2" is kept unique too
    assert feed.exhausted and sink.total == 303


def test_a_json_array_over_the_cap_is_refused_with_a_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("NESYFLOW_MAX_JSON_FILE_MB", "1")
    path = tmp_path / "dev.json"
    path.write_text(json.dumps([{"id": f"p{i}", "context": "x" * 200, "question": "q", "options": []} for i in range(6000)]))
    with pytest.raises(DatasetError, match=r"dev.json: a JSON array .* over 1 MB .* write it as JSONL"):
        stream_problems(path)


def test_a_line_longer_than_a_record_may_be_is_that_lines_error_and_never_held(tmp_path, monkeypatch):
    import resource

    monkeypatch.setenv("NESYFLOW_MAX_RECORD_MB", "1")
    monkeypatch.setenv("NESYFLOW_MAX_JSON_FILE_MB", "1")
    path = tmp_path / "d.jsonl"
    huge = json.dumps({"id": "huge", "premises": ["x" * (120 << 20)], "conclusion": "c"}) + "\n"
    path.write_bytes(line(0) + huge.encode() + b"\n" + line(2) + huge.encode().rstrip(b"\n"))  # the last has no newline
    del huge
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    problems = list(stream_problems(path))
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert [p.id for p in problems] == ["p0", "d_1", "p2", "d_3"]
    assert problems[1].load_error.startswith("line 2: 120.0 MB on one line, over the 1 MB a record may be "
                                             "(NESYFLOW_MAX_RECORD_MB)")
    assert problems[3].load_error.startswith("line 5: 120.0 MB on one line")  # the blank line 3 still counts
    assert problems[0].load_error is None and problems[2].formal is not None
    assert grew_mb < 60, f"reading past a 120 MB line grew the process by {grew_mb:.0f} MB"


def test_a_one_line_json_array_is_read_whole_within_its_cap_and_refused_above_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NESYFLOW_MAX_RECORD_MB", "1")
    monkeypatch.setenv("NESYFLOW_MAX_JSON_FILE_MB", "4")
    recs = [{"id": f"p{i}", "context": "x" * 200, "question": "q", "options": [], "answer": "A"} for i in range(9000)]
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(recs))  # ~2.2 MB on one line: over the record cap, within the array cap
    assert len(list(stream_problems(path))) == 9000
    path.write_text(json.dumps(recs * 3))  # ~6.6 MB on one line
    with pytest.raises(DatasetError, match=r"dev.json: a JSON array .* over 4 MB .* write it as JSONL"):
        stream_problems(path)
    path.write_text("\n" + json.dumps(recs[:2000]) + "\n")  # blank line first: the array is still found
    assert len(list(stream_problems(path))) == 2000


def result(pid: str) -> ProblemRecord:
    return ProblemRecord(result=ProblemResult(id=pid, gold="True", predicted="True", status="True", solver="z3", correct=True))


def test_results_are_written_in_input_order_as_they_finish(tmp_path):
    out = tmp_path / "results.jsonl"
    seen = []
    sink = ResultsSink(None, str(out), progress=lambda done, total: seen.append(done))
    ids = [f"p{i}" for i in range(200)]
    for start in range(0, 200, 50):  # announced chunk by chunk, as a feed does
        sink.expect(ids[start:start + 50])
    finish = ids[:]
    random.Random(7).shuffle(finish)
    for k, pid in enumerate(finish):
        sink.add(pid, result(pid))
        sink.add(pid, result(pid))  # a chunk's records handed over again: written once
        written = [json.loads(x)["id"] for x in out.read_text().splitlines()]
        assert written == ids[: len(written)]  # always a prefix, in input order
        assert len(sink._ahead) <= k + 1
    sink.finish()
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ids
    assert sink.tally.n == 200 and sink.tally.correct == 200 and seen[-1] == 200 and not sink._pending


def test_a_stopped_batch_writes_what_finished_after_a_gap(tmp_path):
    out = tmp_path / "results.jsonl"
    sink = ResultsSink(["a", "b", "c", "d"], str(out))
    sink.add("b", result("b"))
    sink.add("d", result("d"))
    assert out.read_text() == ""
    sink.finish()
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["b", "d"]


def test_a_run_of_problems_the_store_answers_is_one_chunk_and_the_rest_keep_their_size(tmp_path):
    lines = [line(i) for i in range(1300)]
    held = {f"p{i}" for i in range(1200) if i != 700}  # the store answers all but p700 and p1200+
    asked = []

    def cached(problems):
        asked.append(len(problems))
        return {p.id for p in problems} & held

    feed = Feed(stream_problems(tmp_path / "d.jsonl", lines=iter(lines)), ResultsSink(), concurrency=1)
    feed.cached = cached
    sizes, ids = [], []
    while (chunk := feed.next_chunk()) is not None:
        sizes.append(len(chunk))
        ids += [p.id for p in chunk]
    assert ids == [f"p{i}" for i in range(1300)]  # every problem once, in order
    # up to 500 answered ones; then up to the first unanswered one (p700), which starts an ordinary
    # chunk; then the answered p750-p1199; p1200+ are not answered: ordinary chunks
    assert sizes == [500, 200, 50, 450, 50, 50]
    assert max(asked) <= 50  # the store is asked in chunk-sized steps

    fixed = Feed(stream_problems(tmp_path / "d.jsonl", lines=iter(lines)), ResultsSink(), concurrency=1, chunk_size=7)
    fixed.cached = cached
    assert len(fixed.next_chunk()) == 7  # a size the user chose is kept

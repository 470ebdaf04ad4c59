"""Read problem files in every format we know into ``Problem`` values.

Formats (DESIGN.md §3): the project's JSONL, Logic-LM's JSON lists (with their recorded
``raw_logic_programs`` when present), FOLIO's JSONL, and LINC's ``*_generations_raw.json``
(K recorded completions per problem; gold labels from the sibling ``*_references.json``). ``auto``
picks by content, not by file name. A malformed record becomes a problem carrying
``load_error`` (the batch reports it and goes on); an unreadable file raises ``DatasetError``
with a one-line reason.

JSONL is streamed (``stream_problems``): records are read line by line as the batch asks for them,
so ``--limit N`` reads N records and a batch's memory is its window, not its file. The format is
detected from the first records, the encoding from the first ``SAMPLE_BYTES`` (the whole of any
smaller file, so small files read as they always did), and ids are de-duplicated with a set of
64-bit hashes (~70 MB for 1M ids). A JSON array (Logic-LM's, LINC's) is one value: it is read
whole, and refused above ``Settings.max_json_file_mb`` with a message suggesting JSONL.
"""

from __future__ import annotations

import collections
import itertools
import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from parsers.errors import NesyflowError

from flows.json_depth import MAX_JSON_DEPTH, array_elements, position, too_deep
from flows.models import Formal, Problem

__all__ = ["DatasetError", "load_problems", "stream_problems", "ProblemStream", "detect_format", "FORMATS",
           "normalise_label", "statement_of", "SAMPLE_BYTES"]

SAMPLE_BYTES = 4 << 20
"""A JSONL file's encoding (UTF-8, or GB18030 when several lines are not UTF-8) is decided from
this much of its start: all of a smaller file, as when files were read whole."""
_DETECT_ERRORS = 1000
"""Records that are all load errors before the format is refused as not JSON at all."""

FORMATS = ("auto", "nesyflow", "logic-lm", "folio", "linc", "gsm8k", "minif2f")
_LABEL = {"true": "True", "false": "False", "unknown": "Unknown", "uncertain": "Unknown"}


class DatasetError(NesyflowError):
    """The input file cannot be read at all (missing, not JSON, unknown format)."""


class _Oversized(bytes):
    """Stands for a line longer than a record may be: read past, never held. Its bytes (``{}``)
    make ``_head`` take it for a JSONL record; ``head`` is the line's start (a JSON array's '[')."""

    def __new__(cls, size: int, head: bytes):
        obj = super().__new__(cls, b"{}")
        obj.size, obj.head = size, head
        return obj


def normalise_label(value: Any) -> str | None:
    if value is None:
        return None
    return _LABEL.get(str(value).strip().lower(), str(value).strip())


def _decode(raw: bytes, path: Path) -> tuple[str, str | None]:
    """The file's text and, when it was not UTF-8, a note saying how it was read.

    UTF-8 (with or without a BOM) and UTF-16 with a BOM are read as they are. A file that is not
    UTF-8 on several lines but is valid GB18030 throughout (a superset of GBK and GB2312, what
    Chinese-language tools write) is read as GB18030, with a note. Otherwise the text is decoded
    with ``surrogateescape``: the records holding undecodable bytes are reported one by one, and
    the rest of the file is read."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), f"{path.name} is UTF-16; read as such"
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    bad_lines = 0
    for line in raw.split(b"\n"):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines += 1
    if bad_lines > 1:
        try:
            return raw.decode("gb18030"), f"{path.name} is not UTF-8 ({bad_lines} lines); read as GB18030 (GBK)"
        except UnicodeDecodeError:
            pass
    return raw.decode("utf-8", errors="surrogateescape"), None


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8-sig")
        return True
    except UnicodeDecodeError:
        return False


def _undecodable(value: Any) -> str | None:
    """Where a record holds bytes that were not UTF-8 (surrogate-escaped), as 'field: byte 0xE9'."""
    if isinstance(value, str):
        for i, ch in enumerate(value):
            if 0xDC80 <= ord(ch) <= 0xDCFF:
                return f"byte 0x{ord(ch) - 0xDC00:02X} at character {i + 1}"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            where = _undecodable(v)
            if where:
                return f"field {k!r}: {where}"
    if isinstance(value, list):
        for i, v in enumerate(value):
            where = _undecodable(v)
            if where:
                return f"item {i + 1}: {where}"
    return None


def _records(path: Path, notes: list[str] | None = None) -> tuple[list[Any], bool]:
    """``_records_of`` a whole file (LINC's references)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    return _records_of(raw, path, notes)


def _records_of(raw: bytes, path: Path, notes: list[str] | None = None) -> tuple[list[Any], bool]:
    """Records of a JSON list or JSONL file read whole; ``True`` when the file is JSONL. A record that is
    not valid JSON, or holds bytes that are not text, becomes a ``__load_error__`` record."""
    text, note = _decode(raw, path)
    if note and notes is not None:
        notes.append(note)
    escaped = note is None and not _utf8(raw)  # decoded with surrogateescape: some records hold bad bytes
    stripped = text.lstrip()
    if not stripped:
        raise DatasetError(f"{path}: file is empty")
    data = _json_list(text, path) if stripped[0] == "[" else None
    if data is not None:
        if isinstance(data, list) and escaped:
            for i, rec in enumerate(data):
                where = _undecodable(rec)
                if where:
                    data[i] = {"__load_error__": f"record {i + 1}: not valid UTF-8 ({where}); the other records are read",
                               "__id__": rec.get("id") if isinstance(rec, dict) and isinstance(rec.get("id"), (str, int)) else None}
        return data, False
    records: list[Any] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = _undecodable(line) if escaped else None
        if where:
            records.append({"__load_error__": f"line {lineno}: not valid UTF-8 ({where}); the other lines are read",
                            "__line__": lineno})
            continue
        deep = too_deep(line)
        if deep is not None:
            records.append({"__load_error__": f"line {lineno}: JSON nested deeper than {MAX_JSON_DEPTH} levels at column "
                                              f"{deep + 1}; the other lines are read", "__line__": lineno})
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            records.append({"__load_error__": f"line {lineno}: invalid JSON at column {exc.colno}: {exc.msg}", "__line__": lineno})
    if all(isinstance(r, dict) and "__load_error__" in r for r in records):
        raise DatasetError(f"{path}: not JSON or JSONL (first problem: {records[0]['__load_error__']})")
    return records, True


def _json_list(text: str, path: Path) -> list[Any] | None:
    """A file that starts with '[': one JSON value, its elements read one by one when one of them
    is nested too deep (that one becomes a load error). None: not one array but lines of JSON."""
    if too_deep(text) is None:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    spans = array_elements(text)
    if spans is None:
        if "\n" in text.strip():
            return None  # JSON lines, the first of them too deep: read line by line
        line, col = position(text, too_deep(text))
        raise DatasetError(f"{path}: JSON nested deeper than {MAX_JSON_DEPTH} levels at line {line}, column {col}")
    data: list[Any] = []
    for i, (start, end) in enumerate(spans):
        deep = too_deep(text, start, end)
        if deep is not None:
            line, col = position(text, deep)
            data.append({"__load_error__": f"record {i + 1}: JSON nested deeper than {MAX_JSON_DEPTH} levels at line {line}, "
                                           f"column {col}; the other records are read", "__id__": None})
            continue
        try:
            data.append(json.loads(text[start:end]))
        except json.JSONDecodeError as exc:
            line, col = position(text, start + exc.pos)
            raise DatasetError(f"{path}: invalid JSON at line {line}, column {col}: {exc.msg}") from None
    return data


def detect_format(records: list[Any]) -> str:
    if records and all(isinstance(r, list) for r in records[:5]) and all(isinstance(s, str) for r in records[:5] for s in r):
        return "linc"
    first = next((r for r in records if isinstance(r, dict) and "__load_error__" not in r), None)
    if first is None:
        raise DatasetError("no usable record to detect the format from")
    keys = set(first)
    if "premises-FOL" in keys or ("label" in keys and "premises" in keys and "conclusion" in keys and "id" not in keys):
        return "folio"
    if "context" in keys and "question" in keys and "options" in keys:
        return "logic-lm"
    if keys >= {"question", "answer"} and "#### " in str(first.get("answer", "")) and "id" not in keys:
        return "gsm8k"
    if keys >= {"name", "lean4"}:
        return "minif2f"
    if "id" in keys and keys & {"premises", "context", "formal", "question", "kind"}:
        return "nesyflow"
    raise DatasetError(f"cannot tell the format from the keys {sorted(keys)}; pass --format")


def load_problems(path: str | Path, fmt: str = "auto", limit: int | None = None) -> list[Problem]:
    """Every problem of a file (the first ``limit``) as a list: ``stream_problems``, read to the end."""
    return list(stream_problems(path, fmt, limit))


def stream_problems(path: str | Path, fmt: str = "auto", limit: int | None = None,
                    lines: Iterable[bytes] | None = None) -> "ProblemStream":
    """The problems of a file, read as they are asked for. The file is opened, its encoding and
    format decided and its first records read now (an unreadable file raises ``DatasetError``
    here, not mid-batch). ``lines``: the file's lines as bytes instead of opening ``path`` (tests:
    a generator shows what is read)."""
    return ProblemStream(Path(path), fmt, limit, lines)


class ProblemStream(Iterator[Problem]):
    """An iterator of a file's problems, ids de-duplicated as they go. ``fmt`` is the format found,
    ``notes`` what was noted about the file (its encoding), ``records`` how many records were read."""

    def __init__(self, path: Path, fmt: str, limit: int | None, lines: Iterable[bytes] | None):
        if fmt not in FORMATS:
            raise DatasetError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.path, self.limit, self.notes, self.records = path, limit, [], 0
        self._fh = None
        from flows.settings import get_settings

        settings = get_settings()
        # the first line may be a whole JSON array on one line (read whole, up to its cap); after
        # it, a JSONL line is one record, held up to the record cap
        self._json_cap, self._record_cap = settings.max_json_file_mb << 20, settings.max_record_mb << 20
        self._line_cap = max(self._json_cap, self._record_cap)
        self._seen: set[int] = set()  # hash(id): 64 bits, ~70 MB for 1M ids; a collision renames a unique id
        self._counts: dict[str, int] = {}  # ids seen more than once, for their "#2", "#3"
        source = self._lines(lines)
        head, rest, whole = _head(source, path)
        if whole:
            self._whole(head, rest, fmt)
            return
        self._line_cap = self._record_cap
        every = _jsonl_records(itertools.chain(head, rest), path, self.notes, self._record_cap)
        records = every if limit is None else itertools.islice(every, limit)
        first: list[tuple[int, Any]] = []
        for item in records:  # enough records to tell the format: five, and one that is not a load error
            first.append(item)
            usable = any(not (isinstance(r, dict) and "__load_error__" in r) for _, r in first)
            if (len(first) >= 5 and usable) or len(first) >= _DETECT_ERRORS:
                break
        if not first:
            raise DatasetError(f"{path}: file is empty")
        if all(isinstance(r, dict) and "__load_error__" in r for _, r in first):
            if len(first) < _DETECT_ERRORS and limit is not None and len(first) == limit and fmt == "auto":
                raise DatasetError("no usable record to detect the format from")
            if len(first) < (limit or _DETECT_ERRORS):
                raise DatasetError(f"{path}: not JSON or JSONL (first problem: {first[0][1]['__load_error__']})")
            raise DatasetError(f"{path}: not JSON or JSONL (its first {len(first)} records are not; first: "
                               f"{first[0][1]['__load_error__']})")
        self.fmt = detect_format([r for _, r in first]) if fmt == "auto" else fmt
        if self.fmt == "linc":  # LINC's files are JSON arrays; lines of lists under that name are read whole too
            kept = [r for _, r in itertools.chain(first, records)]
            self._whole_records(kept, len(kept) + sum(1 for _ in every))
            return
        self._problems = self._convert(itertools.chain(first, records))

    # -- reading -------------------------------------------------------------------------------
    def _lines(self, lines: Iterable[bytes] | None) -> Iterator[bytes]:
        if lines is not None:
            return iter(lines)
        try:
            self._fh = self.path.open("rb")
        except FileNotFoundError:
            raise DatasetError(f"{self.path}: no such file") from None
        except OSError as exc:
            raise DatasetError(f"{self.path}: cannot read ({exc.__class__.__name__}: {exc})") from None
        return self._read_lines()

    def _read_lines(self) -> Iterator[bytes]:
        """The file's lines; one longer than ``_line_cap`` bytes (read as each line starts: the head's
        cap, then a record's) is read past in 1 MB pieces and stands as an ``_Oversized``: a 1 GB
        line costs at most the cap of memory, not ten times its size in ``json.loads``."""
        fh = self._fh
        try:
            while True:
                cap = self._line_cap
                line = fh.readline(cap + 1)
                if not line:
                    return
                if len(line) <= cap or line.endswith(b"\n"):  # cap bytes and its newline still fit
                    yield line
                    continue
                size, head = len(line), line[:64]
                del line
                while not (piece := fh.readline(1 << 20)).endswith(b"\n") and piece:
                    size += len(piece)
                size += len(piece)
                yield _Oversized(size, head)
        except OSError as exc:
            raise DatasetError(f"{self.path}: cannot read ({exc.__class__.__name__}: {exc})") from None

    def _whole(self, head: list[bytes], rest: Iterator[bytes], fmt: str) -> None:
        """A JSON array (or a UTF-16 file): one value, read whole, within the size allowed."""
        cap = self._json_cap
        raw, size = bytearray(), 0
        for line in itertools.chain(head, rest):
            size += line.size if isinstance(line, _Oversized) else len(line)
            if size > cap:
                self.close()
                raise DatasetError(f"{self.path}: a JSON array (or UTF-16 file) over {cap >> 20} MB is read whole, and this "
                                   f"one is larger; write it as JSONL (UTF-8, one problem per line) to stream it, or raise "
                                   f"NESYFLOW_MAX_JSON_FILE_MB")
            raw += line
        self.close()
        records, _ = _records_of(bytes(raw), self.path, self.notes)
        if not isinstance(records, list):
            raise DatasetError(f"{self.path}: expected a JSON list or JSON lines, got {type(records).__name__}")
        full_count = len(records)
        if self.limit is not None:
            records = records[: self.limit]
        self.fmt = detect_format(records) if fmt == "auto" else fmt
        self._whole_records(records, full_count)

    def _whole_records(self, records: list[Any], full_count: int) -> None:
        self.close()
        if self.fmt == "linc":
            self._problems = iter(self._dedupe(p) for p in _linc(self.path, records, full_count))
            self.records = len(records)
            return
        self._problems = self._convert(enumerate(records, 1))

    def _convert(self, records: Iterable[tuple[int, Any]]) -> Iterator[Problem]:
        reader = {"nesyflow": _nesyflow, "logic-lm": _logic_lm, "folio": _folio, "gsm8k": _gsm8k, "minif2f": _minif2f}[self.fmt]
        stem = self.path.stem
        for i, (_, rec) in enumerate(records):
            self.records = i + 1
            if isinstance(rec, dict) and "__load_error__" in rec:
                pid = str(rec["__id__"]) if rec.get("__id__") is not None else f"{stem}_{i}"
                problem = Problem(id=pid, load_error=rec["__load_error__"])
            else:
                try:
                    problem = reader(rec, i, stem)
                except (KeyError, TypeError, ValueError) as exc:
                    problem = Problem(id=_safe_id(rec, f"{stem}_{i}"), load_error=f"record {i + 1}: {_why(exc)}")
            yield self._dedupe(problem)
        self.close()

    def _dedupe(self, p: Problem) -> Problem:
        """The first of an id keeps it; the next are ``id#2``, ``id#3``, … (skipping any id the file
        already used), so every problem's result has its own line and store entry."""
        h = hash(p.id)
        if h not in self._seen:
            self._seen.add(h)
            update: dict[str, Any] = {}
        else:
            k = self._counts.get(p.id, 1)
            while True:
                k += 1
                candidate = f"{p.id}#{k}"
                if hash(candidate) not in self._seen:
                    break
            self._counts[p.id] = k
            self._seen.add(hash(candidate))
            update = {"id": candidate}
        if self.notes:
            update["notes"] = [*self.notes, *p.notes]
        return p.model_copy(update=update) if update else p

    # -- the iterator --------------------------------------------------------------------------
    def __iter__(self) -> "ProblemStream":
        return self

    def __next__(self) -> Problem:
        return next(self._problems)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _head(lines: Iterator[bytes], path: Path) -> tuple[list[bytes], Iterator[bytes], bool]:
    """The lines up to the first that is not blank, the rest, and whether the file must be read
    whole: a JSON array (its first character is '['), or UTF-16 (its lines are not split by b'\\n')."""
    head: list[bytes] = []
    for line in lines:
        head.append(line)
        if len(head) == 1 and line.startswith((b"\xff\xfe", b"\xfe\xff")):
            return head, lines, True
        text = line[3:] if len(head) == 1 and line.startswith(b"\xef\xbb\xbf") else line
        if isinstance(line, _Oversized):
            return head, lines, line.head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")
        if text.strip():
            return head, lines, text.lstrip().startswith(b"[")
    return head, lines, False


def _decoded(lines: Iterator[bytes], path: Path, notes: list[str]) -> Iterator[tuple[str, bool]]:
    """(text, escaped) of each line: UTF-8, or GB18030 when several lines of the file's first
    ``SAMPLE_BYTES`` are not UTF-8 and all of those are GB18030 (``_decode``'s rule, on that sample:
    the whole of a smaller file). The sample is looked at only when a line is not UTF-8, so a file
    that is (a ``--limit`` run's first lines) is read no further than asked. ``escaped``: the line
    was not text in that encoding and was read with ``surrogateescape``."""
    encoding, decided = "utf-8", False
    seen: list[bytes] = []  # the lines read while within the sample, for the decision
    size = 0
    pending: collections.deque[bytes] = collections.deque()
    first = True
    while True:
        raw = pending.popleft() if pending else next(lines, None)
        if raw is None:
            return
        if isinstance(raw, _Oversized):
            first = False
            yield raw, False
            continue
        if first and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        first = False
        if not decided:
            try:
                raw.decode("utf-8")
                seen.append(raw)
                size += len(raw)
                if size >= SAMPLE_BYTES:
                    decided, seen = True, []
            except UnicodeDecodeError:
                sample, total = [*seen, raw], size + len(raw)
                while total < SAMPLE_BYTES:
                    nxt = next(lines, None)
                    if nxt is None:
                        break
                    pending.append(nxt)
                    sample.append(nxt)
                    total += len(nxt)
                encoding = _sample_encoding(sample, total >= SAMPLE_BYTES, path, notes)
                decided, seen = True, []
        try:
            yield raw.decode(encoding), False
        except UnicodeDecodeError:
            yield raw.decode("utf-8", errors="surrogateescape"), True


def _sample_encoding(sample: list[bytes], truncated: bool, path: Path, notes: list[str]) -> str:
    bad = 0
    for line in sample:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    if bad > 1:
        try:
            b"".join(sample).decode("gb18030")
        except UnicodeDecodeError:
            return "utf-8"
        more = f" in its first {SAMPLE_BYTES >> 20} MB" if truncated else ""
        notes.append(f"{path.name} is not UTF-8 ({bad} lines{more}); read as GB18030 (GBK)")
        return "gb18030"
    return "utf-8"


def _jsonl_records(lines: Iterator[bytes], path: Path, notes: list[str], cap: int) -> Iterator[tuple[int, Any]]:
    """(line number, record) of JSON lines; a line that is not JSON, is nested too deep, is longer
    than a record may be or holds bytes that are not text becomes a ``__load_error__`` record and
    the others are read."""
    lineno = 0
    for text, escaped in _decoded(lines, path, notes):
        if isinstance(text, _Oversized):
            lineno += 1
            yield lineno, {"__load_error__": f"line {lineno}: {text.size / 2**20:.1f} MB on one line, over the "
                                             f"{cap >> 20} MB a record may be (NESYFLOW_MAX_RECORD_MB); not read, the "
                                             f"other lines are", "__line__": lineno}
            continue
        for line in text.splitlines():  # as whole files were split: the same line numbers
            lineno += 1
            if not line.strip():
                continue
            where = _undecodable(line) if escaped else None
            if where:
                yield lineno, {"__load_error__": f"line {lineno}: not valid UTF-8 ({where}); the other lines are read",
                               "__line__": lineno}
                continue
            deep = too_deep(line)
            if deep is not None:
                yield lineno, {"__load_error__": f"line {lineno}: JSON nested deeper than {MAX_JSON_DEPTH} levels at column "
                                                 f"{deep + 1}; the other lines are read", "__line__": lineno}
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, {"__load_error__": f"line {lineno}: invalid JSON at column {exc.colno}: {exc.msg}",
                               "__line__": lineno}


def _why(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc).splitlines()[0][:200]


def _safe_id(rec: Any, default: str) -> str:
    if isinstance(rec, dict) and isinstance(rec.get("id"), (str, int)):
        return str(rec["id"])
    return default


def _str_list(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {field!r} must be a list of strings")
    return value


def _nesyflow(rec: dict, i: int, stem: str) -> Problem:
    if not isinstance(rec, dict):
        raise TypeError("record is not a JSON object")
    data = dict(rec)
    data["id"] = str(data.get("id", f"{stem}_{i}"))
    data["answer"] = normalise_label(data.get("answer"))
    if "premises" in data:
        data["premises"] = _str_list(data["premises"], "premises")
    if data.get("kind", "entailment") == "entailment" and not data.get("conclusion") and isinstance(data.get("question"), str):
        data["conclusion"] = statement_of(data["question"])  # "… true, false, or unknown? Charlie is kind."
    return Problem.model_validate(data)


def _folio(rec: dict, i: int, stem: str) -> Problem:
    premises = _str_list(rec["premises"], "premises")
    formal = None
    if "premises-FOL" in rec and "conclusion-FOL" in rec:
        formal = Formal(language="fol", premises=_str_list(rec["premises-FOL"], "premises-FOL"), conclusion=str(rec["conclusion-FOL"]))
    pid = str(rec.get("example_id", rec.get("id", f"{stem}_{i}")))
    return Problem(id=pid, premises=premises, conclusion=str(rec["conclusion"]), answer=normalise_label(rec.get("label")), formal=formal,
                   consistent=True)  # FOLIO's stories are consistent: its labels are True, False, Uncertain


_OPTION = re.compile(r"^\s*([A-Z])\s*[).:]\s*(.*)$")
_STATEMENT = re.compile(r"\?\s*(.+)$", re.S)


def statement_of(question: str) -> str:
    """The statement an entailment question asks about: the text after its question mark ("Based on
    the above information, is the following statement true, false, or unknown? Charlie is kind."),
    or the whole question when nothing follows one."""
    m = _STATEMENT.search(question)
    return m.group(1).strip() if m else question.strip()


def _logic_lm(rec: dict, i: int, stem: str) -> Problem:
    options = _str_list(rec.get("options", []), "options")
    letters = {}
    for opt in options:
        m = _OPTION.match(opt)
        if m:
            letters[m.group(1)] = m.group(2).strip()
    answer = rec.get("answer")
    option_texts = {normalise_label(t) for t in letters.values()}
    entailment = bool(letters) and option_texts <= {"True", "False", "Unknown"}
    gold = normalise_label(letters.get(str(answer), answer)) if entailment else answer
    question = str(rec["question"])
    conclusion = statement_of(question) if entailment else None
    recorded = rec.get("raw_logic_programs")
    notes = []
    if isinstance(recorded, list) and None in recorded:  # the model returned nothing: an empty output, noted
        notes.append(f"{recorded.count(None)} recorded completion(s) are null (read as empty outputs)")
        recorded = ["" if r is None else r for r in recorded]
    if recorded is not None:
        recorded = _str_list(recorded, "raw_logic_programs")
    return Problem(
        notes=notes,
        id=str(rec.get("id", f"{stem}_{i}")),
        recorded=recorded,
        context=str(rec["context"]),
        question=question,
        conclusion=conclusion,
        options=options,
        answer=gold,
        kind="entailment" if entailment else "choice",
        consistent=True,  # each was built consistent: ProntoQA, ProofWriter, FOLIO, LogicalDeduction, AR-LSAT
    )


# "[\d,]*\.?\d+" with possessive runs: the same numbers, without trying every split of a long one
_FINAL = re.compile(r"####\s*+([-+]?(?:[\d,]*+\.\d++|[\d,]*+(?<=\d)))\s*+$")


def _gsm8k(rec: dict, i: int, stem: str) -> Problem:
    """GSM8K: the worked solution ends with ``#### <number>``; only that number is kept as the label."""
    m = _FINAL.search(str(rec["answer"]).strip())
    if not m:
        raise ValueError("the answer does not end with '#### <number>'")
    return Problem(id=str(rec.get("id", f"{stem}_{i}")), question=str(rec["question"]), context=str(rec["question"]),
                   answer=m.group(1).replace(",", ""), kind="math")


def _minif2f(rec: dict, i: int, stem: str) -> Problem:
    """miniF2F in Lean 4: one file per theorem (imports, options, ``theorem name sig := by sorry``).
    The header and the statement are the problem's; the file's own proof (``by sorry``) is its
    gold proof, which proves nothing."""
    from parsers.programs.lean import split_theorem

    header, name, signature, proof = split_theorem(str(rec["lean4"]))
    pid = str(rec.get("name") or name or f"{stem}_{i}")
    return Problem(id=pid, kind="theorem", answer="proved", question=f"Prove {pid} ({rec.get('split', '')}).",
                   formal=Formal(language="lean", header=header, conclusion=signature, premises=[proof]))


_TEXT = re.compile(r"^[^\S\n]*+TEXT\s*+:\s*+(.*)$", re.I | re.M)  # "^\s*" would rescan every blank line below
_RAW_SUFFIX = "_generations_raw.json"


def _linc(path: Path, records: list, full_count: int) -> list[Problem]:
    """LINC's raw generations: problem i has K completions; its gold label is line i of the
    sibling ``*_references.json``; its text comes from the TEXT lines (the last is the conclusion)."""
    if not path.name.endswith(_RAW_SUFFIX):
        raise DatasetError(f"{path}: a LINC file is named *{_RAW_SUFFIX} (its labels are in *_references.json)")
    ref_path = path.with_name(path.name[: -len(_RAW_SUFFIX)] + "_references.json")
    refs, _ = _records(ref_path) if ref_path.exists() else (None, None)
    if refs is None:
        raise DatasetError(f"{path}: gold labels not found: expected {ref_path.name} beside it")
    if len(refs) != full_count:
        raise DatasetError(f"{path}: {full_count} problems but {len(refs)} labels in {ref_path.name}")
    stem = path.name[: -len(_RAW_SUFFIX)]
    problems = []
    for i, samples in enumerate(records):
        pid = f"{stem}_{i}"
        if isinstance(samples, dict) and "__load_error__" in samples:
            problems.append(Problem(id=pid, load_error=samples["__load_error__"]))
            continue
        if not isinstance(samples, list) or not all(isinstance(s, str) for s in samples):
            problems.append(Problem(id=pid, load_error=f"record {i + 1}: expected a list of completion strings"))
            continue
        texts = next((t for t in (_TEXT.findall(s) for s in samples) if len(t) >= 2), [])
        problems.append(Problem(
            id=pid, premises=[t.strip() for t in texts[:-1]], conclusion=texts[-1].strip() if texts else None,
            answer=normalise_label(refs[i]), recorded=samples, consistent=True,  # LINC's FOLIO and ProofWriter
        ))
    return problems

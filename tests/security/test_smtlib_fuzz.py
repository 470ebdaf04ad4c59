"""The SMT-LIB reader fuzzed against the real z3 binary (issue 18): whatever it accepts, z3 runs no
command we did not emit. A fixed seed and a 25 s budget here; ``bench/fuzz_smtlib.py --seconds 600``
runs longer. The reader of cbb78db let hundreds of these through in that budget."""

from __future__ import annotations

import sys
from pathlib import Path

from parsers.programs.smtlib import parse_smtlib_program
from solvers.binaries import z3_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from fuzz_smtlib import Fuzzer  # noqa: E402

SECONDS = 25
SEED = 18


def test_whatever_the_reader_accepts_z3_runs_only_our_commands(tmp_path):
    report = Fuzzer(lambda text: parse_smtlib_program(text).script, z3_binary(), tmp_path).run(SECONDS, SEED)
    assert report.bypasses == [], report.bypasses[:3]
    assert report.accepted >= 100, report.summary()  # the oracle did run: z3 saw accepted scripts
    assert report.generated - report.accepted >= 100, report.summary()  # and the hazards were tried

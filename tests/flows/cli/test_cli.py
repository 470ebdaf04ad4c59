import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli.commands import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("argv, message", [
    (["batch", "/no/such/file.jsonl"], "no such file"),
    (["batch", "x.jsonl", "--samples", "0"], "argument --samples: must be at least 1, got 0"),
    (["batch", "x.jsonl", "--solver", "vampire"], "invalid choice: 'vampire'"),
    (["batch", "x.jsonl", "--format", "csv"], "invalid choice: 'csv'"),
    (["batch", "x.jsonl", "--timeout", "-3"], "between 0 and 3600"),
    (["solve", "--premise", "P(a)"], "the following arguments are required: --conclusion"),
    (["solve", "--premise", " ", "--conclusion", "P(a)"], "must not be empty"),
])
def test_bad_arguments_are_one_line_and_nonzero(argv, message, capsys):
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def exit_code(argv) -> int:
    """main() returns the code for our own checks; argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_unreadable_input_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert main(["batch", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"nesyflow: error: {bad}: invalid JSON at line 1, column 6: Expecting ',' delimiter"


def test_help_explains_every_flag():
    out = subprocess.run([sys.executable, "-m", "flows.cli", "batch", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for flag in ("--format", "--parser", "--model", "--solver", "--samples", "--repair-rounds", "--concurrency", "--limit",
                 "--results", "--summary-json", "--timeout"):
        assert flag in out.stdout
    assert "import prefect" not in out.stderr

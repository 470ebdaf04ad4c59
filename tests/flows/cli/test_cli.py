import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli.commands import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("argv, message", [
    (["batch", "/no/such/file.jsonl"], "no such file"),
    (["batch", str(ROOT / "examples")], "examples: is a directory; give a problem file (it holds demo-english.jsonl, "),
    (["serve", "--dataset", str(ROOT / "examples"), "--cron", "0 3 * * *"], "examples: is a directory"),
    (["serve", "--dataset", str(ROOT / "examples" / "demo.jsonl"), "--cron", "0 3 * * *", "--parser", "llm"],
     "--parser llm needs --model"),
    (["solve", "--premise", "P(a)", "--conclusion", "P(a)", "--parser", "llm"], "--parser llm needs --model"),
    (["batch", "x.jsonl", "--samples", "0"], "argument --samples: must be at least 1, got 0"),
    (["batch", "x.jsonl", "--solver", "vampire"], "invalid choice: 'vampire'"),
    (["batch", "x.jsonl", "--format", "csv"], "invalid choice: 'csv'"),
    (["batch", "x.jsonl", "--timeout", "-3"], "between 0 and 3600"),
    (["solve", "--premise", "P(a)"], "the following arguments are required: --conclusion"),
    (["solve", "--premise", " ", "--conclusion", "P(a)"], "must not be empty"),
    # a non-UTF-8 argument (Python reads byte 0xff as U+DCFF): refused by position, not a traceback mid-run
    (["solve", "--premise", "all x. (P(x) -> Q(x)) \udcff", "--conclusion", "Q(a)"],
     "argument 3 ('all x. (P(x) -> Q(x)) \ufffd') is not valid UTF-8 (byte 0xff at character 23)"),
    (["batch", "caf\udce9.jsonl"], "argument 2 ('caf\ufffd.jsonl') is not valid UTF-8 (byte 0xe9 at character 4)"),
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
                 "--results", "--summary-json", "--timeout", "--contradictory"):
        assert flag in out.stdout
    assert "import prefect" not in out.stderr
    assert "miniF2F" in " ".join(out.stdout.split()), "every format --format offers is named where PATH is"


def help_text(command: str) -> str:
    out = subprocess.run([sys.executable, "-m", "flows.cli", command, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    return " ".join(out.stdout.split())


def test_solve_names_its_parsers_as_batch_does():
    text = help_text("solve")
    assert "--parser {gold,english,llm}" in text and "gold (the text already is first-order logic, read exactly as typed" in text
    assert "fol (" not in text and "--llm-timeout" in text


def test_serve_configures_a_scheduled_batch_against_a_local_endpoint():
    text = help_text("serve")
    for flag in ("--api-base URL", "--language", "--timeout S", "--model M"):
        assert flag in text, flag

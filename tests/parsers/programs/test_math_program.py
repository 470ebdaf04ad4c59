"""Math equations through the whitelist grammar: what is accepted, and payloads that are refused."""

import pytest

from parsers.errors import FormalizationError
from parsers.programs.math_program import parse_math_program


def test_assignments_equations_and_answer_line():
    p = parse_math_program("Equations:\neggs = 16 - 3 - 4  # left\n2 * x + 3 = 11\nAnswer: eggs * x\n")
    assert p.equations == [("eggs", "((16 - 3) - 4)"), ("((2 * x) + 3)", "11")]
    assert p.answer == "(eggs * x)"
    assert parse_math_program("a = 2\nb = a ** 2").answer == "b"  # default: the last name assigned


@pytest.mark.parametrize("text,message,column", [
    ("x = 3 +", "expression ends too early", 8),
    ("x = y == 2", "a comparison is not allowed", 7),
    ("x = 2 ** y", "an exponent must be a number", 10),
    ("x = 2 ** 1000", "an exponent must be a number", 10),
    ("x = log(3)", "function 'log' is not allowed", 5),
    ("x = 3\ny = 4 = 5", "only one '='", 1),
    ("x = 10000000000000000000000000000000000", "longer than 30 digits", 5),
])
def test_located_errors(text, message, column):
    with pytest.raises(FormalizationError) as exc:
        parse_math_program(text)
    err = exc.value.errors[0]
    assert message in err.message and err.column == column, err.render()


PAYLOADS = [
    "x = __import__('os').system('touch {marker}')",
    "x = ().__class__.__base__.__subclasses__()",
    "x = (1).__class__",
    "x = open('{marker}', 'w')",
    "x = eval('1+1')",
    "x = [y for y in range(3)]",
    "x = lambda: 0",
    "import os",
    "x = {{}}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sympify_payloads_are_rejected_and_nothing_runs(payload, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(FormalizationError) as exc:
        parse_math_program(payload.format(marker=marker) + "\nAnswer: x")
    assert exc.value.errors[0].stage == "parse" and exc.value.errors[0].where.startswith("output line 1")
    assert not marker.exists()


def test_currency_thousands_and_percentages():
    p = parse_math_program("cost = $80,000 + $50,000\nrise = 150%\nrest = 17 % 5\nAnswer: cost * rise")
    assert p.equations == [("cost", "(80000 + 50000)"), ("rise", "(150 / 100)"), ("rest", "(17 % 5)")]

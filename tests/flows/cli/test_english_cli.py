"""The controlled-English parser through the installed ``nesyflow`` command, as a user meets it: the
textbook syllogism and other irregular plurals decide, and the formulas the answer rests on are shown
(console, ``--json``, ``--results``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.prefect
NESYFLOW = str(Path(sys.executable).with_name("nesyflow"))

# (plural, singular): the problem says "All <plural> are mortal. Socrates is a <singular>."
NOUNS = [("women", "woman"), ("children", "child"), ("mice", "mouse"), ("geese", "goose"), ("feet", "foot"),
         ("teeth", "tooth"), ("oxen", "ox"), ("cacti", "cactus"), ("fungi", "fungus"), ("criteria", "criterion"),
         ("phenomena", "phenomenon"), ("cities", "city"), ("foxes", "fox"), ("wumpuses", "wumpus")]


def nesyflow(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([NESYFLOW, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_solve_decides_the_syllogism_and_shows_what_it_read(prefect_api, fork_env, tmp_path):
    env = {**fork_env, "NESYFLOW_HOME": str(tmp_path / "home")}
    out = nesyflow(["solve", "--parser", "english", "--premise", "All men are mortal.", "--premise", "Socrates is a man.",
                    "--conclusion", "Socrates is mortal."], env, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "True  (rules)"
    assert lines[-4:] == ["  read as:", "    1. ∀x (Man(x) → Mortal(x))", "    2. Man(Socrates)", "    ⊢ Mortal(Socrates)"]

    js = nesyflow(["solve", "--parser", "english", "--premise", "Mice are not big. Jerry is a mouse.",
                   "--conclusion", "Jerry is big.", "--json"], env, tmp_path)
    assert js.returncode == 0, js.stderr
    result = json.loads(js.stdout)
    assert result["status"] == "False"
    assert result["formal_premises"] == ["∀x (Mouse(x) → ¬Big(x))", "Mouse(Jerry)"]
    assert result["formal_conclusion"] == "Big(Jerry)"


def test_batch_decides_irregular_plurals_and_writes_the_formulas(prefect_api, fork_env, tmp_path):
    problems = tmp_path / "plurals.jsonl"
    with problems.open("w") as f:
        for plural, singular in NOUNS:
            a = "an" if singular[0] in "aeiou" else "a"
            f.write(json.dumps({"id": plural, "context": f"All {plural} are mortal. Socrates is {a} {singular}.",
                                "conclusion": "Socrates is mortal.", "answer": "True"}) + "\n")
    env = {**fork_env, "NESYFLOW_HOME": str(tmp_path / "home")}
    out = nesyflow(["batch", str(problems), "--parser", "english", "--results", "r.jsonl"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "r.jsonl").read_text().splitlines())}
    assert {pid: r["predicted"] for pid, r in rows.items()} == {plural: "True" for plural, _ in NOUNS}
    for plural, singular in NOUNS:
        pred = singular.capitalize()
        assert rows[plural]["formal_premises"] == [f"∀x ({pred}(x) → Mortal(x))", f"{pred}(Socrates)"], plural
        assert rows[plural]["formal_conclusion"] == "Mortal(Socrates)"

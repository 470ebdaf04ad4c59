"""Which formal language (output format and prompt) a problem is translated into.

``--language`` names one for the whole run, or ``auto`` (the default) picks by problem kind:
entailment → FOL, choice → the Z3 DSL, math → SymPy equations, theorem → a Lean 4 proof (always:
a theorem's statement is Lean, so its proof is too). ``logic-lm`` picks Logic-LM's own
format for the dataset (its name is in the file name, as Logic-LM's releases are): logic programs for
ProntoQA/ProofWriter, FOL sections for FOLIO, CSP for LogicalDeduction, the Z3 DSL for AR-LSAT.
Replay always reads each recorded output's own markers.
"""

from __future__ import annotations

from flows.models import Plan

__all__ = ["LANGUAGE_CHOICES", "Plan", "plan_for", "language_plans"]

LANGUAGE_CHOICES = ("auto", "logic-lm", "fol", "logic-program", "smtlib", "csp", "z3dsl", "sympy", "python", "lean")


_BY_LANGUAGE = {
    "fol": Plan(style="auto", prompt="linc_fol", expected="linc"),
    "logic-program": Plan(style="program", prompt="logic_program"),
    "smtlib": Plan(style="smtlib", prompt="smtlib"),
    "csp": Plan(style="csp", prompt="csp"),
    "z3dsl": Plan(style="z3dsl", prompt="z3dsl"),
    "sympy": Plan(style="sympy", prompt="sympy"),
    "python": Plan(style="python", prompt="pot"),
    "lean": Plan(style="lean", prompt="lean"),
    "fol-sections": Plan(style="auto", prompt="logiclm_fol", expected="logiclm"),  # Logic-LM's Predicates/Premises/Conclusion FOL
}
_AUTO = {"entailment": "fol", "choice": "z3dsl", "math": "sympy", "theorem": "lean"}
_LOGIC_LM = (("prontoqa", "logic-program"), ("proofwriter", "logic-program"), ("folio", "fol-sections"),
             ("logicaldeduction", "csp"), ("logical_deduction", "csp"), ("ar-lsat", "z3dsl"), ("ar_lsat", "z3dsl"))


def plan_for(language: str, kind: str, dataset: str = "", fmt: str = "auto", prompt: str | None = None) -> Plan:
    if language not in LANGUAGE_CHOICES:
        raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGE_CHOICES)}")
    if kind == "theorem":
        return _BY_LANGUAGE["lean"]
    if language == "lean":
        raise ValueError(f"--language lean proves theorem problems; this run has {kind!r} problems")
    if language == "logic-lm":  # the dataset's own Logic-LM format, else what auto picks in Logic-LM style
        language = next((lang for key, lang in _LOGIC_LM if key in dataset.lower()), "auto")
        fmt = "logic-lm"
    if language == "auto":
        language = _AUTO.get(kind, "fol")
        if language == "fol" and fmt == "logic-lm":
            language = "fol-sections"
    plan = _BY_LANGUAGE[language]
    return plan.model_copy(update={"prompt": prompt}) if prompt else plan


def language_plans(language: str, kinds: set[str], dataset: str = "", fmt: str = "auto",
                   prompt: str | None = None) -> dict[str, Plan]:
    """One plan per problem kind present in the run."""
    return {k: plan_for(language, k, dataset, fmt, prompt) for k in kinds}

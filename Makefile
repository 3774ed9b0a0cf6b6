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

test: install
	$(BIN)/python -m pytest -q

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

clean:
	rm -rf $(VENV) demo

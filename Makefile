# Every target creates or reuses .venv by itself, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench matrix realpanel realhttp clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m gateway.demo

test: $(STAMP)
	./scripts/ensure-test-tools.sh
	$(BIN)/ruff check gateway tests bench
	$(BIN)/mypy
	./scripts/pytest-strict.sh $(BIN)/python -m pytest

# Parts of `make test`, one at a time.
lint: $(STAMP)
	$(BIN)/ruff check gateway tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	./scripts/pytest-strict.sh $(BIN)/python -m pytest tests/unit

# docs/matrix.md from the catalogue and the dialects (tests/unit/test_matrix_doc.py holds it current).
matrix: $(STAMP)
	$(BIN)/python -m gateway matrix --markdown > docs/matrix.md

# Never part of `make test`: wrk/nginx from Debian (installed when root), py-spy from PyPI for the profile.
bench: $(STAMP)
	./scripts/ensure-bench-tools.sh
	test -x $(BIN)/py-spy || $(BIN)/pip install --quiet py-spy
	$(BIN)/python -m bench

# Opt-in, never part of `make test`: the gateway against a real XUI.one panel (XC_VM, ../shared/realpanel), whose
# up.sh writes PANEL_ENV.
realpanel: $(STAMP)
	test -n "$(PANEL_ENV)" || { echo "usage: make realpanel PANEL_ENV=/path/to/panel.env" >&2; exit 2; }
	PANELGATE_REALPANEL_ENV=$(PANEL_ENV) ./scripts/pytest-strict.sh $(BIN)/python -m pytest tests/realpanel -v

# Opt-in, never part of `make test`: the admin API's HTTP client and the gateway against a real nginx with php-fpm
# (installed from Debian when root; run from generated configs in a temp dir).
realhttp: $(STAMP)
	./scripts/ensure-realhttp-tools.sh
	PANELGATE_REALHTTP=1 ./scripts/pytest-strict.sh $(BIN)/python -m pytest tests/realhttp -v

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info

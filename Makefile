# Seawall's tasks. `make run` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= examples/seawall.yaml
CVENV  ?= .venv-compiled
SINK_PORT ?= 9100

.PHONY: run test test-compiled compiled-venv wheel demo lint typecheck format bench browser-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start a local vendor sink on :$(SINK_PORT) and the gateway with the example config.
run: $(STAMP)
	@mkdir -p .seawall
	@echo "Vendor sink on 127.0.0.1:$(SINK_PORT), writing .seawall/sink.ndjson"
	@trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	  $(BIN)/seawall sink --port $(SINK_PORT) --out .seawall/sink.ndjson & \
	  $(BIN)/seawall serve --config $(CONFIG)

## The whole suite (SQLite always; PostgreSQL when SEAWALL_TEST_POSTGRES_URL is set).
test: $(STAMP) browser-deps
	$(BIN)/pytest -q

## A wheel with the gateway's hot path compiled by mypyc (setup.py): what a deployment
## installs. Built in the dev venv, which has mypy and every dependency mypyc reads.
wheel: $(STAMP)
	$(BIN)/pip install --quiet 'setuptools>=77' wheel
	rm -rf build dist
	SEAWALL_MYPYC=1 $(BIN)/pip wheel --quiet --no-build-isolation --no-deps -w dist .

## The whole suite again, against that wheel installed in a venv of its own: compiled
## code can differ from Python (mypyc checks types at run time).
test-compiled: compiled-venv browser-deps
	$(CVENV)/bin/pytest -q

## $(CVENV): that wheel installed with the dev tools, no editable install.
compiled-venv: wheel
	rm -rf $(CVENV)
	$(PYTHON) -m venv $(CVENV)
	$(CVENV)/bin/pip install --quiet --upgrade pip
	$(CVENV)/bin/pip install --quiet "$$(ls dist/seawall-*.whl)[dev]"
	test "$$($(CVENV)/bin/python -c 'from seawall.hotpath import build_name; print(build_name())')" = compiled

## The breach drill: gateway, two local vendors, a breach and the whole response.
demo: $(STAMP)
	$(BIN)/seawall demo

browser-deps:
	@if command -v npm >/dev/null 2>&1; then \
	  cd tests/browser && npm ci --silent --no-audit --no-fund >/dev/null 2>&1 || npm install --silent --no-audit --no-fund; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check setup.py src tests bench
	$(BIN)/ruff format --check setup.py src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format setup.py src tests bench
	$(BIN)/ruff check --fix setup.py src tests bench

## The gateway as deployed (the compiled wheel), then the PII engine.
bench: compiled-venv
	$(CVENV)/bin/pip install --quiet "$$(ls dist/seawall-*.whl)[bench]"
	$(CVENV)/bin/python bench/gateway.py
	$(CVENV)/bin/python bench/pii.py

clean:
	rm -rf $(VENV) $(CVENV) build dist .seawall seawall.db* examples/.seawall examples/seawall.db* tests/browser/node_modules

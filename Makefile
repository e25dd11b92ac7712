# amoerp — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench pilot pilot-check lint venv clean widget

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	cd $(CURDIR) && DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv --verbosity 0
	touch $(STAMP)

## make demo [ERP=1c|cml] — migrate SQLite, start the sandboxes, load the demo company, sync, serve admin + API + worker
## (ERP=1c: the 1C:Enterprise OData sandbox, УТ 11, instead of MoySklad; ERP=cml: 1C's CommerceML exchange, played
## by the 1C client simulator against the exchange URL)
demo: venv
	DEBUG=1 $(PY) manage.py $(if $(filter 1c,$(ERP)),demo_onec,$(if $(filter cml,$(ERP)),demo_cml,demo))

## make test — the whole suite on a throwaway PostgreSQL cluster and a throwaway Redis
test: venv
	DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv --verbosity 0
	tests/ensure_chromium.sh
	tests/ensure_redis.sh
	tests/with_postgres.sh tests/with_redis.sh $(PY) -m tests.run_suite

## make bench [BENCH=name] — one JSON line per scenario
bench: venv
	tests/with_postgres.sh tests/with_redis.sh $(PY) -m tests.bench $(BENCH)

## make pilot [PILOT_ARGS="--days 1 --faults none"] — a simulated week of trading with faults, then the audit
PILOT_ARGS ?= --days 7 --managers 20 --deals-per-day 60 --faults standard
pilot: venv
	tests/with_postgres.sh env DEBUG=1 $(PY) manage.py simulate_pilot $(PILOT_ARGS)

## make pilot-check — the CI pilot day (1 day, 5 managers, standard faults) and its assertions, on PostgreSQL
pilot-check: venv
	tests/with_postgres.sh $(PY) -m pytest tests/pilot -m pilot

## make widget [VERSION=1.0.1] — check widget/ and write dist/widget.zip to upload in amoMarket
widget: venv
	DEBUG=1 $(PY) manage.py build_widget $(if $(VERSION),--version $(VERSION))

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var

# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Running needs requirements.txt and taskhub itself (installed as a host installs it);
# tests, lint and benchmarks add requirements-dev.txt.
RUN_STAMP := $(VENV)/.run-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)
FLOWER_AUTH_FILE := var/flower-basic-auth
BENCH_PY313 := var/bench/py313
# The version matrix is noxfile.py: `make test` runs its cells tagged fast after this
# venv's suite, `make matrix` all of them. tools/python-path puts Python 3.12 and 3.13 on
# PATH (from pyenv, or CPython 3.13 built once).
NOX := PATH="$$(tools/python-path)" $(BIN)/nox

.PHONY: install install-dev run worker test matrix soak dist lint docs format bench clean

$(RUN_STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	rm -f $(VENV)/.run-* && touch $@

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.dev-* && touch $@

install: $(RUN_STAMP)
install-dev: $(DEV_STAMP)

$(FLOWER_AUTH_FILE):
	mkdir -p var
	echo "admin:$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(12))')" > $@
	chmod 600 $@

# Web, a worker for `high`, a worker for `normal,low`, beat and Flower, in the foreground;
# Ctrl-C gives them RUN_GRACE seconds (30) to stop: see project/run.py.
# Flower always asks for a password: FLOWER_BASIC_AUTH, or one generated into var/.
run: $(RUN_STAMP) $(FLOWER_AUTH_FILE)
	$(BIN)/python manage.py migrate --noinput
	@echo "web      http://127.0.0.1:$${WEB_PORT:-8000}/"
	@echo "admin    http://127.0.0.1:$${WEB_PORT:-8000}/admin/ ($(BIN)/python manage.py createsuperuser)"
	@echo "flower   http://127.0.0.1:$${FLOWER_PORT:-5555}/ (user:password in $(FLOWER_AUTH_FILE) unless FLOWER_BASIC_AUTH is set)"
	@echo "broker   $${CELERY_BROKER_URL:-filesystem://localhost/ under var/broker/}"
	FLOWER_BASIC_AUTH="$${FLOWER_BASIC_AUTH:-$$(cat $(FLOWER_AUTH_FILE))}" PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/python -m project.run

# One worker, as in production: make worker Q=high ARGS="--pool threads -c 16"
worker: $(RUN_STAMP)
	$(BIN)/celery -A project worker -Q $(Q) --loglevel INFO $(ARGS)

# Debian's packages and the servers the tests use, installed and started when missing.
test: $(DEV_STAMP)
	tools/test-prerequisites
	$(BIN)/python -m pytest
	$(NOX) --tags fast

matrix: $(DEV_STAMP)
	tools/test-prerequisites
	$(BIN)/python -m pytest
	$(NOX)

# The broker faults again and again (default 20 rounds: SOAK_RUNS=50 make soak): a Redis
# restart under load and under long tasks, a RabbitMQ cluster losing a queue's leader, a
# worker stopped by SIGTERM to its whole process group (STOP_ROUNDS, 4 per round and
# broker), 50 Redis restarts under plain publishes (REDIS_RESTARTS) and 3 Sentinel
# failovers (SENTINEL_FAILOVERS) (SOAK_TESTS="..." for some of them). Each round's figures, and only that
# round's, are appended to test-artifacts/soak.jsonl; docs/reliability.md.
SOAK_TESTS := tests/delivery/test_cluster.py \
	tests/delivery/test_faults.py::test_a_redis_restart_under_a_consuming_worker_loses_nothing \
	tests/delivery/test_faults.py::test_a_redis_restart_under_long_tasks_stops_them_and_runs_each_to_its_end_once \
	tests/worker/test_pool.py::test_sigterm_to_the_whole_process_group_always_stops_the_worker \
	tests/delivery/test_redis_faults.py
soak: $(DEV_STAMP)
	mkdir -p test-artifacts
	for round in $$(seq $${SOAK_RUNS:-20}); do \
		rm -f test-artifacts/reliability.json; \
		REDIS_RESTARTS=$${REDIS_RESTARTS:-50} SENTINEL_FAILOVERS=$${SENTINEL_FAILOVERS:-3} \
		$(BIN)/python -m pytest -q -p no:cacheprovider $(SOAK_TESTS) || exit 1; \
		$(BIN)/python -c "import json; print(json.dumps(json.load(open('test-artifacts/reliability.json'))))" >> test-artifacts/soak.jsonl; \
	done

# A release: sdist and wheel in dist/, checked by twine, the wheel installed into a fresh
# virtualenv (with its dependencies, from the index) and imported there.
dist: $(DEV_STAMP)
	rm -rf dist build/dist-check
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python -m venv build/dist-check
	build/dist-check/bin/python -m pip install --quiet dist/*.whl
	cd build && dist-check/bin/python -c "import taskhub; print('taskhub', taskhub.__version__, 'from', taskhub.__file__)"

# mypy checks taskhub (pyproject.toml's [tool.mypy]: strict for what hosts import), its
# django-stubs plugin loading project.settings.
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The documentation site (docs/) into build/docs, warnings as errors: its reference is read
# from the code (docs/_ext/taskhub_docs.py), so a setting, a check or a URL that a page
# names and the code no longer has, or the reverse, fails the build.
docs: $(DEV_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html docs build/docs

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Not part of `make test`: real Redis and PostgreSQL, minutes of load. See benchmarks/README.md.
# B12 runs django-vtasks (Python 3.12+, Django 6.0+) from a venv of its own.
bench: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -r benchmarks/requirements-nodeps.txt
	test -x $(BENCH_PY313)/bin/python || PATH="$$(tools/python-path)" python3.13 -m venv $(BENCH_PY313)
	$(BENCH_PY313)/bin/python -m pip install --quiet -r benchmarks/requirements-py313.txt
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .nox var .pytest_cache .ruff_cache .mypy_cache build dist *.egg-info

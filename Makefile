# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Running needs requirements.txt and taskhub itself (installed as a host installs it);
# tests, lint and benchmarks add requirements-dev.txt.
RUN_STAMP := $(VENV)/.run-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)
FLOWER_AUTH_FILE := var/flower-basic-auth
# Django 6 has the Tasks API built in and needs Python 3.12+ (tools/newer-python finds or
# builds one). `make test` runs the suite there too, without the django-tasks backport,
# except what tests brokers and processes rather than Django: the fault tests, the
# RabbitMQ cluster and the quick start (which runs `make run` on this venv's Python).
DJANGO6 := 6.0.10
VENV6 := .venv-django6
DJANGO6_STAMP := $(VENV6)/.dev-$(DJANGO6)-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)
# The real-host test makes a Django 6.1 host of its own whichever venv runs it: once is enough.
DJANGO6_TESTS := -m "not faults" --ignore=tests/delivery/test_cluster.py --ignore=tests/test_quickstart.py \
	--ignore=tests/test_real_host.py

.PHONY: install install-dev run worker test test-django6 soak lint format bench clean

$(RUN_STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	rm -f $(VENV)/.run-* && touch $@

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.dev-* && touch $@

$(DJANGO6_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(VENV6)/bin/python || "$$(tools/newer-python)" -m venv $(VENV6)
	$(VENV6)/bin/python -m pip install --quiet --upgrade pip
	$(VENV6)/bin/python -m pip install --quiet -r requirements-dev.txt
	$(VENV6)/bin/python -m pip install --quiet Django==$(DJANGO6)
	$(VENV6)/bin/python -m pip uninstall --quiet --yes django-tasks
	$(VENV6)/bin/python -m pip install --quiet --no-deps --editable .
	rm -f $(VENV6)/.dev-* && touch $@

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
	@echo "admin    http://127.0.0.1:$${WEB_PORT:-8000}/admin/ (python manage.py createsuperuser)"
	@echo "flower   http://127.0.0.1:$${FLOWER_PORT:-5555}/ (user:password in $(FLOWER_AUTH_FILE) unless FLOWER_BASIC_AUTH is set)"
	@echo "broker   $${CELERY_BROKER_URL:-filesystem://localhost/ under var/broker/}"
	FLOWER_BASIC_AUTH="$${FLOWER_BASIC_AUTH:-$$(cat $(FLOWER_AUTH_FILE))}" PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/python -m project.run

# One worker, as in production: make worker Q=high ARGS="--pool threads -c 16"
worker: $(RUN_STAMP)
	$(BIN)/celery -A project worker -Q $(Q) --loglevel INFO $(ARGS)

test: $(DEV_STAMP)
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-django6

test-django6: $(DJANGO6_STAMP)
	$(VENV6)/bin/python -m pytest -p no:cacheprovider $(DJANGO6_TESTS)

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

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Not part of `make test`: real Redis and PostgreSQL, minutes of load. See benchmarks/README.md.
bench: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(VENV6) var .pytest_cache .ruff_cache build dist *.egg-info

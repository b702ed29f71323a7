# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PORT ?= 8080
MODE ?= embedded
VENV := .venv
PYTHON := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR):$(CURDIR)/plugins

.PHONY: help setup run stop status test test-unit test-e2e test-production lint lock bench bench-quick clean mutation \
	usecase-init usecase-check usecase-suite usecase-list settings

help:
	@echo "make run     start the lifecycle platform (Airflow UI on http://127.0.0.1:$(PORT))"
	@echo "make stop    stop what make run started"
	@echo "make test    run the whole test suite"
	@echo "make status | lint | lock | bench | bench-quick | test-production | mutation | clean"
	@echo "make usecase-init DATA=x.csv TARGET=t ID=id POSITIVE=p [NAME=n]   scaffold a use case from a CSV"
	@echo "make usecase-check NAME=n | usecase-suite NAME=n | usecase-list"

$(VENV)/.installed: requirements.lock
	@bash scripts/setup.sh

setup: $(VENV)/.installed

run: setup
	@$(PYTHON) scripts/lifecycle_platform.py start --port $(PORT) --mode $(MODE)

stop:
	@$(PYTHON) scripts/lifecycle_platform.py stop --port $(PORT) --mode $(MODE)

settings:
	@$(PYTHON) scripts/lifecycle_platform.py settings --port $(PORT) --mode $(MODE)

status:
	@$(PYTHON) scripts/lifecycle_platform.py status --port $(PORT) --mode $(MODE)

test: setup
	@bash scripts/run_tests.sh

test-unit: setup
	@$(PYTHON) -m pytest tests/unit tests/dags

test-e2e: setup
	@$(PYTHON) -m pytest tests/e2e

test-production: setup
	@$(PYTHON) -m pytest -m production tests/integration

lint: setup
	@$(VENV)/bin/ruff check .

lock:
	@$(VENV)/bin/uv pip compile requirements.txt --python-version 3.11 -o requirements.lock

# Mutation testing of the decision modules (mutmut, at nice 15; tests/MUTATION.md has each module's minutes): not part of `make test`.
# MUTATION_ARGS="--module retraining" runs one module; "--fresh" forgets cached verdicts.
mutation: setup
	@$(PYTHON) scripts/mutation.py --max-children $(or $(MUTATION_CHILDREN),1) $(MUTATION_ARGS)

bench: setup
	@$(PYTHON) bench/run.py

bench-quick: setup
	@$(PYTHON) bench/run.py --quick

usecase-init: setup
	@$(PYTHON) -m include.lifecycle.usecase init --data "$(DATA)" --target "$(TARGET)" --id "$(ID)" \
		--positive "$(POSITIVE)" $(if $(NAME),--name "$(NAME)")

usecase-check: setup
	@$(PYTHON) -m include.lifecycle.usecase check $(or $(NAME),$(shell $(PYTHON) -c "from include.lifecycle.config import list_use_cases as l; print(' '.join(l()))"))

usecase-suite: setup
	@$(PYTHON) -m include.lifecycle.usecase suite $(NAME)

usecase-list: setup
	@$(PYTHON) -m include.lifecycle.usecase list

clean: stop
	rm -rf .airflow .artifacts

# station-scorer: every command sets up what it needs from the project's own files.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA_VERSION ?= 3.9.1
KAFKA4_VERSION ?= 4.1.1
export KAFKA_VERSION

MODEL_DIR ?= out/model
CUSTOMER_DIR ?= out/customers
CDNOW_WHEEL := .cache/cdnow/Lifetimes-0.11.3-py3-none-any.whl
EVAL_DIR ?= out/eval
OUTLOOK_DIR ?= out/outlook
SESSIONS ?= 1400000
SEED ?= 20240701

.PHONY: help setup system-deps jars broker broker-stop broker-status topics demo test \
        test-unit test-kafka4 lint clean model train evaluate worker simulate bench bench-ab \
        bench-ab-base soak cdnow customers outlook docs docs-serve reference

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

system-deps: ## Install Java 17, Maven, Prometheus and Chromium through apt-get when missing
	@missing=""; command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing with apt-get ..."; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV) with $(PYTHON) (torch is a large download the first time) ..."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) -e ".[dev]"
	@touch $@

setup: system-deps $(STAMP) ## Create the virtual environment with every package

# The benchmark's Quix Streams peer pins older confluent-kafka and pydantic: its own venv.
QUIX_VENV := .venv-quix
$(QUIX_VENV)/.installed: pyproject.toml $(STAMP)
	$(VENV)/bin/uv venv --quiet --allow-existing --python $(PYTHON) $(QUIX_VENV)
	$(VENV)/bin/uv pip install --quiet --python $(QUIX_VENV)/bin/python -e ".[quix]"
	@touch $@

# The CDNOW data of the published BG/NBD and Gamma-Gamma fits ships inside this wheel
# (model/customers/cdnow.py checks its SHA-256 and reads the files from it).
$(CDNOW_WHEEL): | $(STAMP)
	$(VENV)/bin/pip download --quiet --no-deps --only-binary :all: --dest $(@D) lifetimes==0.11.3

cdnow: setup $(CDNOW_WHEEL) ## Fetch the CDNOW data (the Lifetimes 0.11.3 wheel) through pip

jars: setup ## Fetch the Kafka broker jars through Maven (both tested releases)
	@KAFKA_VERSION=$(KAFKA_VERSION) $(PY) -c "from infra.dev.broker import ensure_jars as e; e('$(KAFKA_VERSION)')"
	@KAFKA_VERSION=$(KAFKA4_VERSION) $(PY) -c "from infra.dev.broker import ensure_jars as e; e('$(KAFKA4_VERSION)')"

broker: setup ## Start the local Kafka broker (no-op when it runs) and print its address
	@$(PY) -m infra.dev.broker start

broker-stop: setup ## Stop the local Kafka broker
	@$(PY) -m infra.dev.broker stop

broker-status: setup ## Tell whether the local Kafka broker runs, and where
	@$(PY) -m infra.dev.broker status

worker: setup model customers ## Run one scorer worker in the foreground (web on :8827)
	@$(PY) -m infra.dev.broker start >/dev/null 2>&1 || true
	SCORER_MODEL_DIR=$(MODEL_DIR) SCORER_CUSTOMER_MODEL_DIR=$(CUSTOMER_DIR) \
	  SCORER_OUTLOOK_DIR=$(OUTLOOK_DIR) $(PY) -m streams.worker

simulate: setup ## Run the station simulator (ARGS="--rate 50 --duration 60 ...")
	$(PY) -m stations.simulator $(ARGS)

topics: setup ## Create the product's topics (idempotent)
	@$(PY) -m infra.kafka.admin create-topics

demo: setup ## The product end to end on the local broker, with a summary
	@started=0; \
	if [ -z "$$KAFKA_BOOTSTRAP_SERVERS" ] && ! $(PY) -m infra.dev.broker status >/dev/null; then \
	  started=1; fi; \
	[ -n "$$KAFKA_BOOTSTRAP_SERVERS" ] || $(PY) -m infra.dev.broker start || exit 1; \
	$(PY) -m stations.demo; rc=$$?; \
	if [ $$started = 1 ]; then $(PY) -m infra.dev.broker stop; fi; \
	exit $$rc

# Runs the command $(1) on KAFKA_BOOTSTRAP_SERVERS when set, else on a fresh local broker
# of its own, stopped and removed afterwards.
with_bench_broker = if [ -n "$$KAFKA_BOOTSTRAP_SERVERS" ]; then $(1); exit $$?; fi; \
	export SCORER_BROKER_DIR=$(CURDIR)/.cache/broker-bench; \
	$(PY) -m infra.dev.broker stop >/dev/null; rm -rf $$SCORER_BROKER_DIR; \
	$(PY) -m infra.dev.broker start || exit 1; \
	$(1); rc=$$?; \
	$(PY) -m infra.dev.broker stop; rm -rf $$SCORER_BROKER_DIR; exit $$rc

bench: setup jars model customers $(QUIX_VENV)/.installed ## The benchmark into out/bench/ (BENCH_QUICK=1: a short run)
	@$(call with_bench_broker,$(PY) -m tests.bench.run --model $(MODEL_DIR) --customers $(CUSTOMER_DIR) $(ARGS))

bench-ab: bench-ab-base setup jars model customers ## The scorer of BASE=<commit> and of this tree draining side by side (out/bench/paired.json)
	@$(call with_bench_broker,$(PY) -m tests.bench.paired --base "$(BASE)" --model $(MODEL_DIR) --customers $(CUSTOMER_DIR))

bench-ab-base:
	@if [ -z "$(BASE)" ]; then echo "make bench-ab needs BASE=<commit>, the commit to compare with" >&2; exit 2; fi

train: setup ## Train the MLP on SESSIONS generated sessions into MODEL_DIR (overwrites)
	$(PY) -m model train --sessions $(SESSIONS) --seed $(SEED) --out $(MODEL_DIR)

soak: setup jars model customers ## 20 minutes under load with workers killed and the broker restarted (out/soak/)
	$(PY) -m tests.soak.run --model $(MODEL_DIR) --customers $(CUSTOMER_DIR) $(ARGS)

model: setup ## Train the model unless MODEL_DIR already holds one
	@if [ -f $(MODEL_DIR)/artifact.json ]; then echo "Model: $(MODEL_DIR) (exists)"; \
	else $(PY) -m model train --sessions $(SESSIONS) --seed $(SEED) --out $(MODEL_DIR); fi

customers: setup ## Fit the customer model (RFM, BG/NBD, Gamma-Gamma) unless CUSTOMER_DIR holds one
	@if [ -f $(CUSTOMER_DIR)/customers.json ]; then echo "Customer model: $(CUSTOMER_DIR) (exists)"; \
	else $(PY) -m model customers fit --seed $(SEED) --out $(CUSTOMER_DIR); fi

outlook: setup ## Train the outlook (next month's class, loyalty) into OUTLOOK_DIR and write its report
	$(PY) -m model customers train-outlook --seed $(SEED) --out $(OUTLOOK_DIR)
	$(PY) -m model customers evaluate --model $(OUTLOOK_DIR) --out $(OUTLOOK_DIR)/report

evaluate: model ## Write the evaluation report of MODEL_DIR to EVAL_DIR
	$(PY) -m model evaluate --model $(MODEL_DIR) --out $(EVAL_DIR)

# Three runs side by side: the two broker versions' passes, each on a broker of its own,
# and tests/model (no broker). Most of a Kafka test's time is waiting on its load, not the
# CPU: one after the other they took 46 min.
test: setup jars cdnow lint ## The whole suite: Kafka $(KAFKA_VERSION), and beside it Kafka $(KAFKA4_VERSION) and tests/model
	@mkdir -p out; \
	$(MAKE) --no-print-directory test-kafka4 > out/test-kafka4.log 2>&1 & k4=$$!; \
	$(PY) -m pytest tests/model --durations=10 > out/test-model.log 2>&1 & model=$$!; \
	trap 'kill $$k4 $$model 2>/dev/null' INT TERM; \
	echo "Beside this pass: Kafka $(KAFKA4_VERSION) (out/test-kafka4.log), tests/model (out/test-model.log)"; \
	$(PY) -m pytest --ignore=tests/model --durations=25; rc=$$?; \
	wait $$k4; rc4=$$?; wait $$model; rcm=$$?; \
	for log in out/test-kafka4.log out/test-model.log; do echo; echo "==== $$log ===="; cat $$log; done; \
	echo "Kafka $(KAFKA_VERSION) pass: exit $$rc; Kafka $(KAFKA4_VERSION) pass: exit $$rc4; tests/model: exit $$rcm"; \
	[ $$rc -eq 0 ] && [ $$rc4 -eq 0 ] && [ $$rcm -eq 0 ]

test-unit: setup ## Only the tests that need no broker
	$(PY) -m pytest -m "not kafka"

test-kafka4: setup ## The Kafka tests against a Kafka $(KAFKA4_VERSION) broker of their own
	@if [ -n "$$KAFKA_BOOTSTRAP_SERVERS" ]; then echo "KAFKA_BOOTSTRAP_SERVERS is set: skipping the 4.x pass"; exit 0; fi; \
	KAFKA_VERSION=$(KAFKA4_VERSION) SCORER_BROKER_DIR=$(CURDIR)/.cache/broker-kafka4 SCORER_BROKER_PORT=9192 \
	  $(PY) -m pytest -m kafka --durations=25

lint: setup ## ruff, mypy and the docs build (a dead link fails it)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy streams schemas model infra stations tests
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

docs: setup ## Build the docs site into out/site (make docs-serve: on http://127.0.0.1:8000)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

reference: setup ## Write the reference pages of the docs again from the code
	$(PY) -m infra.dev.reference

clean: ## Stop the broker and remove caches, state and outputs (keeps the venv)
	-@$(PY) -m infra.dev.broker stop 2>/dev/null
	rm -rf .cache/broker .cache/broker-kafka4 .cache/broker-bench out .pytest_cache .mypy_cache .ruff_cache

# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
KAFKA_PORT  ?= 9092
KAFKA_NODES ?= 1
STAMP  := $(VENV)/.installed-stamp
CONSOLE_WEB    := exchange/console/web
CONSOLE_VENDOR := exchange/console/static/vendor

.PHONY: install run test lint typecheck pytest bench bench-cores bench-soak clean kafka-jars kafka-up kafka-down console-assets

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) console-assets

## the console's chart library (uPlot) from the npm registry, by its lockfile, into
## exchange/console/static/vendor/ (not in git); without npm the console says what to run
console-assets: $(CONSOLE_VENDOR)/.installed-stamp

$(CONSOLE_VENDOR)/.installed-stamp: $(CONSOLE_WEB)/package.json $(CONSOLE_WEB)/package-lock.json
	@if ! command -v npm >/dev/null; then \
	  echo "npm is missing, so the console has no charts: apt-get install npm, then make console-assets" >&2; \
	else \
	  cd $(CONSOLE_WEB) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && cd - >/dev/null && \
	  mkdir -p $(CONSOLE_VENDOR) && \
	  cp $(CONSOLE_WEB)/node_modules/uplot/dist/uPlot.iife.min.js \
	     $(CONSOLE_WEB)/node_modules/uplot/dist/uPlot.min.css $(CONSOLE_VENDOR)/ && \
	  touch $@; \
	fi

## run the hub on http://127.0.0.1:8000 with the demo schemas, adapters, routes and receivers
run: install
	$(BIN)/exchange serve --demo

## lint, type-check and run every test (they start their own PostgreSQL and Kafka brokers)
test: lint pytest

lint: install
	$(BIN)/ruff check exchange tests bench tools
	$(BIN)/ruff format --check exchange tests bench tools
	$(BIN)/mypy exchange tools

pytest: install
	$(BIN)/python -m pytest -q

## end-to-end throughput and latency on the embedded backbone and on Kafka, fan-out to 3
## receivers, a 100 KB document, the open-loop latency curve (embedded), the 1 -> 2 core
## scaling, then SOAP vs REST ingress
bench: install
	$(BIN)/python -m bench.e2e --backbone embedded,kafka
	$(BIN)/python -m bench.e2e --fan-out --messages 5000
	$(BIN)/python -m bench.e2e --document-kb 100 --messages 1500 --warmup 100
	$(BIN)/python -m bench.e2e --curve
	$(BIN)/python -m bench.e2e --cores-scaling
	$(BIN)/python -m bench.soap_ingress

## the hub pinned to 1 core, then to 2: the scaling ratio against its 1.7x target
bench-cores: install
	$(BIN)/python -m bench.e2e --cores-scaling

## a long steady run (300,000 messages at 300 msg/s, short retention): disk, memory, CPU and
## read latency levelling off; not part of `make bench` (about 17 minutes)
bench-soak: install
	$(BIN)/python -m bench.soak

## Apache Kafka from Maven Central jars (Java 17+; Maven for the first fetch): see README
kafka-jars: install
	$(BIN)/python -m tools.kafka_broker jars

## a Kafka broker on 127.0.0.1:9092, data and logs in var/kafka (KAFKA_NODES=3 for a cluster)
kafka-up: install
	$(BIN)/python -m tools.kafka_broker up --data var/kafka --port $(KAFKA_PORT) --nodes $(KAFKA_NODES)

kafka-down: install
	$(BIN)/python -m tools.kafka_broker down --data var/kafka

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(CONSOLE_VENDOR) $(CONSOLE_WEB)/node_modules

# The two commands of the contract: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install models run test lint unit integration integration-kafka chaos clean

install: $(STAMP)

# Reinstall only when the dependencies change. torch is pinned (==2.13.0) in the build extra:
# a bare requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[build,dev]"
	touch $(STAMP)

# Builds whichever model is missing (cached in ./models afterwards).
models: install
	$(BIN)/streamguard models build

run: install
	$(BIN)/streamguard run

lint: install
	$(BIN)/ruff check pipeline agents schemas tests
	$(BIN)/mypy pipeline agents schemas

test: install models lint
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest tests/unit tests/agents

integration: install models
	$(BIN)/python -m pytest tests/integration

# The integration suite against Apache Kafka in a container (needs a Docker engine).
integration-kafka: install models
	STREAMGUARD_TEST_BROKER=apache-kafka $(BIN)/python -m pytest tests/integration

# The long versions of the robustness tests (make test runs short ones).
chaos: install models
	STREAMGUARD_CHAOS_EXAMPLES=700 $(BIN)/python -m pytest tests/integration/test_bad_input.py -s

clean:
	rm -rf $(VENV) models/fraud models/.cache .pytest_cache .mypy_cache .ruff_cache .hypothesis

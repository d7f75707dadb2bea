# The two commands of the contract: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
TRAIN_STAMP := $(VENV)/.installed-train-stamp
# The ONNX Runtime extra: cpu (onnxruntime) or gpu (onnxruntime-gpu), never both in one venv.
RUNTIME ?= cpu

.PHONY: install install-train models run test lint unit integration integration-kafka chaos bench gpu-check clean

# Serving only (what `make run` needs): no torch, transformers, onnx or matplotlib.
install: $(STAMP)

# Reinstall only when the dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(RUNTIME)]"
	touch $(STAMP)

# Adds the model build (torch is pinned, ==2.13.0: a bare requirement would pull a multi-GB CUDA
# build), the test and lint tools and the bench plots to the same venv.
install-train: $(TRAIN_STAMP)

$(TRAIN_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[$(RUNTIME),build,dev,bench]"
	touch $(TRAIN_STAMP)

# Builds whichever model is missing (cached in ./models afterwards).
models: install-train
	$(BIN)/streamguard models build

run: install
	$(BIN)/streamguard run

lint: install-train
	$(BIN)/ruff check pipeline agents schemas bench tests
	$(BIN)/mypy pipeline agents schemas bench

test: install-train models lint
	$(BIN)/python -m pytest

unit: install-train
	$(BIN)/python -m pytest tests/unit tests/agents tests/test_layout.py

integration: install-train models
	$(BIN)/python -m pytest tests/integration

# The integration suite against Apache Kafka in a container (needs a Docker engine).
integration-kafka: install-train models
	STREAMGUARD_TEST_BROKER=apache-kafka $(BIN)/python -m pytest tests/integration

# The long versions of the robustness tests (make test runs short ones): worker crash with 20,000
# events, fail-over, broker restart, a 30 s overload burst per policy, >= 10,000 malformed messages per input topic.
chaos: install-train models
	STREAMGUARD_CHAOS=1 $(BIN)/python -m pytest -s -k "killed or lane_that_dies or takes_over or broker_restart or burst or malformed or huge" \
		tests/integration/test_pipeline.py tests/integration/test_failover.py \
		tests/integration/test_broker_restart.py tests/integration/test_overload.py tests/integration/test_bad_input.py

# StreamGuard vs its broker/model floors and baselines; writes bench/results/<time>/.
bench: install-train models
	$(BIN)/streamguard bench

# On a CUDA machine (the venv holding onnxruntime-gpu, the `gpu` extra): device, model floors per
# batch size on the GPU and CPU graphs, batch independence on the GPU, the bench with a GPU worker,
# within 8 minutes; writes bench/results/gpu-<time>/. Without a CUDA device: one line, exit 2.
# Install the venv with `make install-train RUNTIME=gpu` on that machine.
gpu-check: install-train
	$(BIN)/python -m bench.gpu_check

clean:
	rm -rf $(VENV) models/.cache .pytest_cache .mypy_cache .ruff_cache .hypothesis

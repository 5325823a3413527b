# Two entry points (see README): `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MNIST := $(BIN)/mnist
# Where to fetch MNIST from; empty means the public mirrors. A directory works too.
MNIST_MIRROR ?=
export MNIST_MIRROR

.PHONY: install demo test lint completions fixtures benchmarks bundled-model clean

$(BIN)/mnist: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/mnist

# The main job: download MNIST, train, evaluate, predict the fixture images.
demo: install
	$(MNIST) download
	RUN=$$($(MNIST) train --model cnn) && \
	$(MNIST) evaluate "$$RUN" && \
	$(MNIST) predict --model "$$RUN" fixtures/images

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

completions: install
	$(BIN)/python -m mnistcli.completions completions

fixtures: install
	$(BIN)/python fixtures/make_fixtures.py

benchmarks: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache

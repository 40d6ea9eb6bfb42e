# The few commands people type. `make labs` and `make test` set everything up on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
LABS   ?=
PROFILE ?=
## JOBS: pytest workers for `make test` (pytest-xdist, --dist loadscope: a notebook's cells, and a test file's tests, stay on one worker)
JOBS   ?= 2
## With several workers, one thread each: OpenMP's threads (PyTorch, scikit-learn) spin while they wait
## for a core, and two workers with two threads each on two cores ran the smoke notebooks 4x slower
TEST_THREADS = $(if $(filter 1,$(JOBS)),,OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1)

.PHONY: setup labs test student lint clean

setup: $(VENV)/.installed

## CPU=1: PyTorch's CPU-only wheels (a laptop without an NVIDIA GPU: about 1 GB instead of 7 GB)
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(CPU),$(PY) -m pip install --quiet --index-url https://download.pytorch.org/whl/cpu \
		$(shell grep -E '^torch(vision)?==' requirements.txt))
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

## Run every lab (or LABS="01 04") under the default profile (or PROFILE=smoke|fast|full), print the report
labs: setup
	$(PY) -m utils.run $(LABS) $(if $(PROFILE),--profile $(PROFILE))

## Unit tests (with the browser and nbgrader tests), every solution notebook under the smoke profile with
## nbval, then every Keras notebook again on Keras's PyTorch backend (a machine without TensorFlow)
test: setup
	$(TEST_THREADS) DLLABS_PROFILE=smoke $(PY) -m pytest tests labs_solutions --nbval-lax --nbval-current-env -p no:cacheprovider \
		-n $(JOBS) --dist loadscope --durations=25
	$(TEST_THREADS) DLLABS_PROFILE=smoke KERAS_BACKEND=torch $(PY) -m pytest labs_solutions/*_keras.ipynb --nbval-lax \
		--nbval-current-env -p no:cacheprovider -n $(JOBS) --dist loadscope

## Regenerate the student notebooks in notebooks/ from labs_solutions/ (FORCE=1 overwrites edited ones)
student: setup
	$(PY) -m utils.course
	$(PY) -m utils.student $(if $(FORCE),--force)

lint: setup
	$(PY) -m ruff check utils tests bench

clean:
	rm -rf build .pytest_cache

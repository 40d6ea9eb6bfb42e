# The few commands people type. `make labs` and `make test` set everything up on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
LABS   ?=
PROFILE ?=

.PHONY: setup labs test student lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

## Run every lab (or LABS="01 04") under the default profile (or PROFILE=smoke|fast|full), print the report
labs: setup
	$(PY) -m utils.run $(LABS) $(if $(PROFILE),--profile $(PROFILE))

## Unit tests, every solution notebook under the smoke profile with nbval, the student-notebook sync check
test: setup
	DLLABS_PROFILE=smoke $(PY) -m pytest tests labs_solutions --nbval-lax --nbval-current-env -p no:cacheprovider

## Regenerate the student notebooks in notebooks/ from labs_solutions/ (FORCE=1 overwrites edited ones)
student: setup
	$(PY) -m utils.course
	$(PY) -m utils.student $(if $(FORCE),--force)

lint: setup
	$(PY) -m ruff check utils tests bench

clean:
	rm -rf build .pytest_cache

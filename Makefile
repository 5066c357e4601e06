# Two entry points on a fresh machine: `make demo` and `make test`.
# Both create .venv on first use and are safe to run again.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A CPU build of torch, installed before the package so that its open
# `torch>=2.1` requirement does not pull a multi-GB CUDA build. Override
# for a GPU machine, e.g. `make demo TORCH="torch --index-url https://download.pytorch.org/whl/cu124"`.
TORCH  ?= torch==2.13.0
# tests/test_packaging.py installs the built wheel into a clean environment,
# with this torch first, as here
export NUSET_TEST_TORCH = $(TORCH)

# CellProfiler 5 pins numpy<2 and scipy<1.11, so its module is tested in a
# second environment; this also runs the engine's tests on numpy 1.26.
CP_VENV := .venv-cellprofiler
CP_BIN  := $(CP_VENV)/bin
CP_VERSION := 5.0.0.dev784

.PHONY: demo test test-main test-cellprofiler test-floors test-quick install install-dev system-deps clean

# The Fiji tests run the real ImageJ 1.x (Debian's libij-java) under Xvfb and
# build the plugin with a JDK. Installed from Debian when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@if [ ! -f /usr/share/java/ij.jar ] || ! command -v xvfb-run >/dev/null || ! command -v javac >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
			libij-java xvfb xauth default-jdk-headless >/dev/null; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	touch $@

$(VENV)/.installed: setup.cfg pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev,export,bioimageio,openvino,tracking]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Segment the bundled sample image with the shipped model.
demo: install
	$(BIN)/nuset segment nuset_engine/sample/img2d.tif --output demo-output --overwrite

$(CP_VENV)/.installed: setup.cfg pyproject.toml
	test -x $(CP_BIN)/python || $(PYTHON) -m venv $(CP_VENV)
	$(CP_BIN)/pip install --quiet --upgrade pip
	$(CP_BIN)/pip install --quiet $(TORCH)
	$(CP_BIN)/pip install --quiet cellprofiler-core-nightly==$(CP_VERSION) cellprofiler-library-nightly==$(CP_VERSION) \
		centriole-nightly==$(CP_VERSION) docutils==0.15.2 imageio Jinja2 joblib Pillow rapidfuzz requests \
		"sentry-sdk~=2.8.0" six tifffile
	# the GUI (wxPython) and MySQL client are not needed headless and do not build here
	$(CP_BIN)/pip install --quiet --no-deps cellprofiler-nightly==$(CP_VERSION)
	$(CP_BIN)/pip install --quiet -e ".[dev]"
	touch $@

# The lowest versions setup.cfg allows, installed exactly (requirements-floors.txt,
# which tests/test_packaging.py checks against setup.cfg): a third environment
# that runs the tests of what those libraries do for NuSeT (reading and
# writing images, tiles, segmentation, the command line).
FL_VENV := .venv-floors
FL_BIN  := $(FL_VENV)/bin

$(FL_VENV)/.installed: setup.cfg pyproject.toml requirements-floors.txt
	rm -rf $(FL_VENV)
	$(PYTHON) -m venv $(FL_VENV)
	$(FL_BIN)/pip install --quiet $(TORCH)
	$(FL_BIN)/pip install --quiet -r requirements-floors.txt -e . "pytest>=7" "hypothesis>=6"
	touch $@

# Quick: everything but the slow tests, ImageJ/Java, CellProfiler and Dask.
QUICK := not slow and not jvm and not cellprofiler and not dask

# The suites' commands and what each needs installed first; variables so
# that tests/test_makefile.py can check `make test` without installing anything.
MAIN_PYTEST   ?= $(BIN)/python -m pytest
MAIN_DEPS     ?= install-dev system-deps
CP_PYTEST     ?= $(CP_BIN)/python -m pytest tests/cellprofiler tests/engine
CP_DEPS       ?= $(CP_VENV)/.installed
FLOORS_PYTEST ?= $(FL_BIN)/python -m pytest tests/engine tests/cli tests/test_option_hosts.py -m "$(QUICK)"
FLOORS_DEPS   ?= $(FL_VENV)/.installed
QUICK_PYTEST  ?= $(BIN)/python -m pytest
QUICK_DEPS    ?= install-dev

## Run the whole test suite: the main environment, CellProfiler's, then the
## dependency floors'. Each runs even when one before it fails, so one run
## shows every failure; the exit status is non-zero if any failed.
test:
	@failed=""; \
	$(MAKE) --no-print-directory test-main || failed="$$failed test-main"; \
	$(MAKE) --no-print-directory test-cellprofiler || failed="$$failed test-cellprofiler"; \
	$(MAKE) --no-print-directory test-floors || failed="$$failed test-floors"; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed" >&2; exit 1; fi

test-main: $(MAIN_DEPS)
	$(MAIN_PYTEST)

test-cellprofiler: $(CP_DEPS)
	NUSET_REQUIRE_CELLPROFILER=1 $(CP_PYTEST)

test-floors: $(FLOORS_DEPS)
	$(FLOORS_PYTEST)

## While developing: the main environment without the slow, Java,
## CellProfiler and Dask tests (under 2 minutes).
test-quick: $(QUICK_DEPS)
	$(QUICK_PYTEST) -m "$(QUICK)"

clean:
	rm -rf $(VENV) $(CP_VENV) $(FL_VENV) demo-output build *.egg-info

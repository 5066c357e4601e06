# Two entry points on a fresh machine: `make demo` and `make test`.
# Both create .venv on first use and are safe to run again.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A CPU build of torch, installed before the package so that its open
# `torch>=2.1` requirement does not pull a multi-GB CUDA build. Override
# for a GPU machine, e.g. `make demo TORCH="torch --index-url https://download.pytorch.org/whl/cu124"`.
TORCH  ?= torch==2.13.0

# CellProfiler 5 pins numpy<2 and scipy<1.11, so its module is tested in a
# second environment; this also runs the engine's tests on numpy 1.26.
CP_VENV := .venv-cellprofiler
CP_BIN  := $(CP_VENV)/bin
CP_VERSION := 5.0.0.dev784

.PHONY: demo test test-main test-cellprofiler install install-dev system-deps clean

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
	$(BIN)/pip install --quiet -e ".[dev]"
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

# The two suites' commands and what each needs installed first; variables so
# that tests/test_makefile.py can check `make test` without installing anything.
MAIN_PYTEST ?= $(BIN)/python -m pytest
MAIN_DEPS   ?= install-dev system-deps
CP_PYTEST   ?= $(CP_BIN)/python -m pytest tests/cellprofiler tests/engine
CP_DEPS     ?= $(CP_VENV)/.installed

## Run the whole test suite: the main environment, then CellProfiler's. The
## second runs even when the first fails, so one run shows every failure;
## the exit status is non-zero if either failed.
test:
	@failed=""; \
	$(MAKE) --no-print-directory test-main || failed="$$failed test-main"; \
	$(MAKE) --no-print-directory test-cellprofiler || failed="$$failed test-cellprofiler"; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed" >&2; exit 1; fi

test-main: $(MAIN_DEPS)
	$(MAIN_PYTEST)

test-cellprofiler: $(CP_DEPS)
	NUSET_REQUIRE_CELLPROFILER=1 $(CP_PYTEST)

clean:
	rm -rf $(VENV) $(CP_VENV) demo-output build *.egg-info

"""CellProfiler tests need CellProfiler, which pins numpy<2: `make test` runs
them in a second environment (.venv-cellprofiler) with NUSET_REQUIRE_CELLPROFILER=1,
which turns a missing CellProfiler into a failure instead of a skip."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

if os.environ.get("NUSET_REQUIRE_CELLPROFILER") != "1":
    pytest.importorskip("cellprofiler_core", reason="CellProfiler runs in .venv-cellprofiler (see Makefile)")

import cellprofiler_core.preferences as prefs  # noqa: E402

prefs.set_headless()

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "cellprofiler_plugin"
prefs.set_plugin_directory(str(PLUGIN_DIR), globally=False)

from cellprofiler_core.utilities.core.modules import fill_modules  # noqa: E402

fill_modules()  # register the built-in modules and RunNuSeT, so saved pipelines load
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cellprofiler" / "nuset_nuclei.cppipe"


@pytest.fixture(scope="session")
def runnuset():
    """The plugin file imported as CellProfiler imports it: by file name."""
    spec = importlib.util.spec_from_file_location("runnuset", PLUGIN_DIR / "runnuset.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["runnuset"] = module
    spec.loader.exec_module(module)
    return module

"""CellProfiler tests need CellProfiler, which pins numpy<2: `make test` runs
them in a second environment (.venv-cellprofiler) with NUSET_REQUIRE_CELLPROFILER=1,
which turns a missing CellProfiler into a failure instead of a skip.

Elsewhere the test modules, marked :data:`requires_cellprofiler`, still
import (they import CellProfiler only when it is there) and their tests are
reported as skipped. (Skipping here, while pytest imports this conftest, is an
error when the folder is given on the command line, and skipping whole modules
leaves `pytest tests/cellprofiler` with no tests, exit status 5.)"""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

REQUIRED = os.environ.get("NUSET_REQUIRE_CELLPROFILER") == "1"
PLUGIN_DIR = Path(__file__).resolve().parents[2] / "cellprofiler_plugin"

try:
    import cellprofiler_core.preferences as prefs
except ImportError:
    if REQUIRED:
        raise
    prefs = None
else:
    prefs.set_headless()
    prefs.set_plugin_directory(str(PLUGIN_DIR), globally=False)

    from cellprofiler_core.utilities.core.modules import fill_modules

    fill_modules()  # register the built-in modules and RunNuSeT, so saved pipelines load


#: Marks (as ``pytestmark``) a test module that needs CellProfiler: its tests
#: are skipped where CellProfiler is not installed (and not required).
requires_cellprofiler = pytest.mark.skipif(prefs is None, reason="CellProfiler runs in .venv-cellprofiler (see Makefile)")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cellprofiler" / "nuset_nuclei.cppipe"


@pytest.fixture(scope="session")
def runnuset():
    """The plugin file imported as CellProfiler imports it: by file name."""
    spec = importlib.util.spec_from_file_location("runnuset", PLUGIN_DIR / "runnuset.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["runnuset"] = module
    spec.loader.exec_module(module)
    return module

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

# Real images (tests/data): an H&E tile (256 x 320 RGB uint8, 70 annotated
# nuclei; dense purple, as in tests/engine/test_colour.py), the StarDist 3-D
# example (tests/data/stardist3d/README.md) and a 512 x 512 fluorescence image.
TESTS = Path(__file__).resolve().parents[1]
NONFLUO = TESTS / "data" / "real" / "dsb2018_stage1_train_nonfluo"
HNE_ID = "00ae65c1c6631ae6f2be1a449902976e6eb8483bf6b0740d00530220832c6d3e"
STARDIST_3D = TESTS / "data" / "stardist3d"
FLUO_2D = TESTS / "data" / "real" / "stardist_wheel_dsb2018_example"


@pytest.fixture(scope="session")
def runnuset():
    """The plugin file imported as CellProfiler imports it: by file name."""
    spec = importlib.util.spec_from_file_location("runnuset", PLUGIN_DIR / "runnuset.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["runnuset"] = module
    spec.loader.exec_module(module)
    return module


def new_pipeline(image_name: str = "DNA", colour: bool = False, spacing_zyx=None):
    """A pipeline as CellProfiler starts one (Images, Metadata, NamesAndTypes,
    Groups) that names every input image ``image_name``: loaded as a
    *Color image* with ``colour``, as 3-D volumes with ``spacing_zyx``
    (NamesAndTypes' *Process as 3D?* and relative pixel spacing)."""
    from cellprofiler_core.pipeline import Pipeline

    pipeline = Pipeline()
    pipeline.init_modules()  # Images, Metadata, NamesAndTypes, Groups
    names_and_types = pipeline.modules()[2]
    names_and_types.single_image_provider.value = image_name
    if colour:
        names_and_types.single_load_as_choice.value = "Color image"
    if spacing_zyx is not None:
        names_and_types.process_as_3d.value = True
        names_and_types.z.value, names_and_types.y.value, names_and_types.x.value = spacing_zyx
    return pipeline


def add_module(pipeline, name: str, **values):
    """Append CellProfiler module ``name`` with its settings ``values`` (by attribute name)."""
    from cellprofiler_core.utilities.core.modules import instantiate_module

    module = instantiate_module(name)
    module.set_module_num(len(pipeline.modules()) + 1)
    for setting, value in values.items():
        getattr(module, setting).value = value
    pipeline.add_module(module)
    return module


def add_label_export(pipeline, objects: str, image_name: str):
    """Save ``objects`` as a label image, ``<input file name>_labels.npy`` in
    the output folder, as a user would: ConvertObjectsToImage (uint16) then
    SaveImages (NumPy format, named from the input image ``image_name``)."""
    add_module(pipeline, "ConvertObjectsToImage", object_name=objects, image_name=f"{objects}Labels",
               image_mode="uint16")
    add_module(pipeline, "SaveImages", image_name=f"{objects}Labels", file_image_name=image_name,
               wants_file_name_suffix=True, file_name_suffix="_labels", file_format="npy")


def run_cellprofiler(pipeline, images: Path, out: Path, timeout: int = 900):
    """Save ``pipeline`` next to ``out`` and run it with the real `cellprofiler`
    command, headless, on the files of ``images``, RunNuSeT from the plugin
    folder, TIFFs read by imageio (not Bio-Formats, which needs Java).

    Returns
    -------
    subprocess.CompletedProcess
        With the command's text output; ``out`` holds what the pipeline wrote.
    """
    import subprocess

    path = out.with_suffix(".cppipe")
    with open(path, "w") as fh:
        pipeline.dump(fh)
    exe = Path(sys.executable).with_name("cellprofiler")
    return subprocess.run(
        [str(exe), "-c", "-r", "-p", str(path), "-i", str(images), "-o", str(out),
         "--plugins-directory", str(PLUGIN_DIR), "-e", "imageio_reader"],
        capture_output=True, text=True, timeout=timeout)

"""Shared fixtures. The shipped model and the bundled sample image are real
files inside the package; tests that need them use these fixtures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

import nuset_engine
from nuset_engine import Segmenter

#: A few real annotated images (tests/data/real/README.md), laid out as ../shared/data.
REAL_DATA = Path(__file__).resolve().parent / "data" / "real"


@pytest.fixture(scope="session")
def sample():
    """(image, ground-truth labels) of the bundled sample."""
    return tifffile.imread(nuset_engine.SAMPLE_IMAGE), tifffile.imread(nuset_engine.SAMPLE_LABELS)


@pytest.fixture(scope="session")
def segmenter():
    """The shipped default model on the CPU."""
    return Segmenter.load(device="cpu")


def disk(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


@pytest.fixture
def network_inputs(segmenter, monkeypatch):
    """The shapes of the images the network runs on, in order, while the
    test runs (the shipped model's ``network_maps`` is recorded)."""
    shapes = []
    original = type(segmenter).network_maps

    def recording(self, normalized, foreground=False, augment=False):
        shapes.append(normalized.shape)
        return original(self, normalized, foreground, augment)

    monkeypatch.setattr(type(segmenter), "network_maps", recording)
    return shapes


# Markers, for choosing tests (`make test-quick` runs `-m "not slow and not jvm
# and not cellprofiler and not dask"`; `make test` runs them all):
MARKERS = {
    "slow": "takes long on a 2-core CPU (training, tiling mosaics, a wheel in a fresh environment)",
    "jvm": "runs Java: ImageJ 1.x, a JVM in process (scyjava) or javac (tests/fiji)",
    "cellprofiler": "needs CellProfiler (tests/cellprofiler; runs in .venv-cellprofiler)",
    "dask": "starts a Dask cluster (the distributed package)",
}
# Marked by folder: every test under it.
FOLDER_MARKS = {"fiji": "jvm", "cellprofiler": "cellprofiler"}
# Slow tests of files that do not mark their own, by file and name (all
# parameters): the slowest by `pytest --durations=30` on the 2-core build
# machine, 3-65 s each when quiet, several times that when it is shared.
# (tests/cli and tests/test_packaging.py mark theirs in place.)
SLOW = {
    "engine/test_train.py": {"test_training_learns_a_few_images_and_resumes",
                             "test_resuming_gives_the_uninterrupted_run"},
    "engine/test_segmenter.py": {"test_augmentation_end_to_end_whole_and_tiled",
                                 "test_a_second_weight_set_runs_pass_two_only"},
    "engine/test_tiling.py": {"test_one_pass_reuses_pass_one_outputs", "test_nuclei_on_seams_of_a_mosaic_are_whole",
                              "test_tiled_and_whole_image_results_agree", "test_memory_map_input_and_output"},
    "engine/test_properties.py": {"test_tiled_path_holds_the_same_properties"},
    "engine/test_options.py": {"test_an_options_object_and_keywords_segment_alike"},
    "engine/test_api.py": {"test_label_dtype_with_and_without_out"},
}
TESTS = Path(__file__).resolve().parent


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            where = Path(item.path).resolve().relative_to(TESTS)
        except ValueError:
            continue
        if where.parts[0] in FOLDER_MARKS:
            item.add_marker(FOLDER_MARKS[where.parts[0]])
        if getattr(item, "originalname", item.name) in SLOW.get(where.as_posix(), ()):
            item.add_marker("slow")

"""NuSeT's own memory in a CellProfiler run on a large image (default settings).

Usage (in the CellProfiler environment, e.g. .venv-cellprofiler):
    python benchmarks/cellprofiler_memory.py [--megapixels 100] [--tiling Automatic|"Whole image"]

Runs the RunNuSeT module in process on real CellProfiler objects (as the
tests do) on a square image made of mirrored copies of the bundled sample.
Prints the process's resident memory before the module runs (CellProfiler,
the image, the loaded model), its peak when the engine hands the labels
back, and its peak after the module has also made CellProfiler's object
measurements (which any segmentation module pays), with the additions over
the baseline. Linux only (reads /proc/self/statm).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from common import cpu_description  # noqa: E402


def rss_gb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=100)
    parser.add_argument("--tiling", default="Automatic")
    args = parser.parse_args()

    import cellprofiler_core.preferences as prefs

    prefs.set_headless()
    from cellprofiler_core.image import Image, ImageSetList
    from cellprofiler_core.measurement import Measurements
    from cellprofiler_core.object import ObjectSet
    from cellprofiler_core.pipeline import Pipeline
    from cellprofiler_core.workspace import Workspace

    import nuset_engine

    spec = importlib.util.spec_from_file_location("runnuset", ROOT / "cellprofiler_plugin" / "runnuset.py")
    plugin = importlib.util.module_from_spec(spec)
    sys.modules["runnuset"] = plugin
    spec.loader.exec_module(plugin)

    side = int(round((args.megapixels * 1e6) ** 0.5))
    sample = tifffile.imread(nuset_engine.SAMPLE_IMAGE)
    block = np.block([[sample, sample[:, ::-1]], [sample[::-1], sample[::-1, ::-1]]])
    pixels = (np.tile(block, (side // 1024 + 1, side // 1024 + 1))[:side, :side] / 65535).astype(np.float32)

    module = plugin.RunNuSeT()
    module.set_module_num(1)
    module.x_name.value = "DNA"
    module.tiling.value = args.tiling
    module.device.value = "CPU"
    image_sets = ImageSetList()
    image_set = image_sets.get_image_set(0)
    image_set.add("DNA", Image(pixels))
    pipeline = Pipeline()
    pipeline.add_module(module)
    workspace = Workspace(pipeline, module, image_set, ObjectSet(), Measurements(), image_sets)
    segmenter = module._segmenter()  # the model, loaded before the baseline
    engine_peak = []
    segment = segmenter.segment

    def recorded(*a, **kw):  # the peak when the engine hands the labels back, before CellProfiler measures them
        result = segment(*a, **kw)
        engine_peak.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2)
        return result

    segmenter.segment = recorded
    before = rss_gb()
    t0 = time.perf_counter()
    module.run(workspace)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    count = workspace.object_set.get_objects("Nuclei").count
    print(cpu_description())
    print("| megapixels | tiling | nuclei | s | RSS before (GB) | peak, engine (GB) | peak, module with "
          "CellProfiler's measurements (GB) | addition: engine / module (GB) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {side * side / 1e6:.0f} | {args.tiling} | {count} | {seconds:.0f} | {before:.2f} | {engine_peak[0]:.2f} | "
          f"{peak:.2f} | {engine_peak[0] - before:.2f} / {peak - before:.2f} |")


if __name__ == "__main__":
    main()

"""Write nuset_nuclei.cppipe with CellProfiler's own API (so the file is in
the exact format of the installed CellProfiler).

Usage (in CellProfiler's Python, with NuSeT installed):
    python examples/cellprofiler/build_pipeline.py [OUTPUT.cppipe]
"""
import sys
from pathlib import Path

import cellprofiler_core.preferences as prefs

prefs.set_headless()
prefs.set_plugin_directory(str(Path(__file__).resolve().parents[2] / "cellprofiler_plugin"), globally=False)

from cellprofiler_core.pipeline import Pipeline  # noqa: E402
from cellprofiler_core.utilities.core.modules import fill_modules, instantiate_module  # noqa: E402


def build() -> Pipeline:
    fill_modules()
    pipeline = Pipeline()
    pipeline.init_modules()  # Images, Metadata, NamesAndTypes, Groups
    pipeline.modules()[2].single_image_provider.value = "DNA"

    def add(name):
        module = instantiate_module(name)
        module.set_module_num(len(pipeline.modules()) + 1)
        pipeline.add_module(module)
        return module

    nuset = add("RunNuSeT")
    nuset.x_name.value, nuset.y_name.value = "DNA", "Nuclei"
    add("MeasureObjectSizeShape").objects_list.value = "Nuclei"
    intensity = add("MeasureObjectIntensity")
    intensity.images_list.value = "DNA"
    intensity.objects_list.value = "Nuclei"
    add("ExportToSpreadsheet").wants_prefix.value = False
    return pipeline


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("nuset_nuclei.cppipe"))
    with open(target, "w") as fh:
        build().dump(fh)
    print(f"wrote {target}")

"""The real `cellprofiler` command, headless, on the shipped example pipeline."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile

import nuset_engine
from tests.cellprofiler.conftest import EXAMPLE, PLUGIN_DIR, requires_cellprofiler

pytestmark = requires_cellprofiler  # runs the `cellprofiler` command


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_example_pipeline_runs_headless(tmp_path, segmenter):
    images = tmp_path / "in"
    images.mkdir()
    sample = tifffile.imread(nuset_engine.SAMPLE_IMAGE)
    shutil.copy(nuset_engine.SAMPLE_IMAGE, images / "sample.tif")
    tifffile.imwrite(images / "flipped.tif", np.ascontiguousarray(sample[:, ::-1]))
    out = tmp_path / "out"  # fresh: ExportToSpreadsheet never overwrites
    exe = Path(sys.executable).with_name("cellprofiler")
    result = subprocess.run(
        [str(exe), "-c", "-r", "-p", str(EXAMPLE), "-i", str(images), "-o", str(out),
         "--plugins-directory", str(PLUGIN_DIR), "-e", "imageio_reader"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    image_rows = {Path(r["FileName_DNA"]).name: r for r in read_csv(out / "Image.csv")}
    assert set(image_rows) == {"sample.tif", "flipped.tif"}
    nuclei = read_csv(out / "Nuclei.csv")
    for name, pixels in (("sample.tif", sample), ("flipped.tif", sample[:, ::-1])):
        expected = int(segmenter.segment(pixels.astype(np.float32) / 65535).max())
        assert int(float(image_rows[name]["Count_Nuclei"])) == expected
        number = image_rows[name]["ImageNumber"]
        rows = [r for r in nuclei if r["ImageNumber"] == number]
        assert len(rows) == expected
        areas = np.array([float(r["AreaShape_Area"]) for r in rows])
        assert 20 < np.median(areas) < 2000  # plausible nucleus areas in pixels
        intensity = np.array([float(r["Intensity_MeanIntensity_DNA"]) for r in rows])
        background = np.median(pixels) / 65535
        assert (intensity > 0).all() and np.median(intensity) > background  # nuclei brighter than background

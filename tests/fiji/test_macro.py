"""The "NuSeT Segment" commands in a real ImageJ, driven by macros, headless on Xvfb."""
import re
import shutil
import subprocess
import sys

import numpy as np
import tifffile

import nuset_engine
from tests.fiji.conftest import xvfb_run

PYTHON = sys.executable


def run_macro(ij_home, ij_jar, macro_text, argument, tmp_path, timeout=300):
    macro = tmp_path / "test.ijm"
    macro.write_text(macro_text)
    result = subprocess.run(
        [xvfb_run(), "-a", "java", "-jar", str(ij_jar), "-ijpath", str(ij_home), "-batch", str(macro), argument],
        capture_output=True, text=True, timeout=timeout)
    return result.stdout + result.stderr


SINGLE = """
args = split(getArgument(), "|");
open(args[1]);
run("NuSeT Segment", "python=" + args[0] + " min_score=0.85 add_rois");
print("RESULT title=" + getTitle() + " max=" + getValue("Max") + " rois=" + roiManager("count") + " bits=" + bitDepth());
"""


def test_macro_segments_the_current_image(ij_home, ij_jar, tmp_path, segmenter, sample):
    output = run_macro(ij_home, ij_jar, SINGLE, f"{PYTHON}|{nuset_engine.SAMPLE_IMAGE}", tmp_path)
    match = re.search(r"RESULT title=(\S+) max=(\d+) rois=(\d+) bits=(\d+)", output)
    assert match, output
    expected = int(segmenter.segment(sample[0]).max())
    assert match.group(1) == "img2d-labels"
    assert int(match.group(2)) == expected and int(match.group(3)) == expected
    assert match.group(4) == "16"
    assert f"NuSeT: {expected} nuclei in img2d.tif" in output


FOLDER = """
args = split(getArgument(), "|");
run("NuSeT Segment Folder", "input=" + args[1] + " output=" + args[2] + " python=" + args[0]);
"""


def test_folder_macro_pays_start_up_once(ij_home, ij_jar, tmp_path, segmenter, sample):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    variants = [sample[0], sample[0][:, ::-1], sample[0][::-1], sample[0].T, sample[0][::-1, ::-1]]
    for i, v in enumerate(variants):
        tifffile.imwrite(src / f"img{i}.tif", np.ascontiguousarray(v))
    output = run_macro(ij_home, ij_jar, FOLDER, f"{PYTHON}|{src}|{out}", tmp_path)
    for i, v in enumerate(variants):
        labels = tifffile.imread(out / f"img{i}_labels.tif")
        expected = segmenter.segment(np.ascontiguousarray(v))
        assert np.array_equal(labels, expected)
        assert f"img{i}.tif: {int(expected.max())} nuclei" in output
    match = re.search(r"NuSeT: 5 images segmented, 0 failed, ([\d.]+) s in all \(([\d.]+) s per image\)", output)
    assert match, output
    print(f"folder macro: {match.group(2)} s per image (5 images of 512x512)")  # recorded in docs/benchmarks.md


def test_augment_option_reaches_the_engine(ij_home, ij_jar, tmp_path, segmenter, sample):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    image = sample[0][:256, :256]
    tifffile.imwrite(src / "crop.tif", image)
    run_macro(ij_home, ij_jar, FOLDER.replace('+ args[0]);', '+ args[0] + " augment");'),
              f"{PYTHON}|{src}|{out}", tmp_path)
    labels = tifffile.imread(out / "crop_labels.tif")
    assert np.array_equal(labels, segmenter.segment(image, augment=True))
    assert not np.array_equal(labels, segmenter.segment(image))


def test_python_side_failures_are_readable_in_the_log(ij_home, ij_jar, tmp_path):
    bad_python = run_macro(ij_home, ij_jar, SINGLE, f"/nonexistent/python|{nuset_engine.SAMPLE_IMAGE}", tmp_path)
    assert "NuSeT error: cannot start the Python '/nonexistent/python'" in bad_python
    assert "Set the Python that has NuSeT installed: in the NuSeT Segment dialog's python field" in bad_python
    assert "Exception" not in bad_python and "RESULT title=img2d.tif " in bad_python  # no labels, no trace

    macro = SINGLE.replace("min_score=0.85", "model=/nonexistent/model.pt")
    bad_model = run_macro(ij_home, ij_jar, macro, f"{PYTHON}|{nuset_engine.SAMPLE_IMAGE}", tmp_path)
    assert "NuSeT error: /nonexistent/model.pt: model file not found" in bad_model
    assert "Traceback" not in bad_model


def test_passes_option_reaches_the_engine_and_bad_values_are_refused(ij_home, ij_jar, tmp_path, segmenter, sample):
    for passes, two_pass in (("one", False), ("two", True)):
        macro = SINGLE.replace("min_score=0.85", f"passes={passes}")
        output = run_macro(ij_home, ij_jar, macro, f"{PYTHON}|{nuset_engine.SAMPLE_IMAGE}", tmp_path)
        match = re.search(r"RESULT title=\S+ max=(\d+)", output)
        assert match, output
        assert int(match.group(1)) == int(segmenter.segment(sample[0], two_pass=two_pass).max()), passes
    for option, message in (("passes=three", "'passes=three': use as_trained, one or two"),
                            ("min_score=high", "'min_score=high' is not a number")):
        output = run_macro(ij_home, ij_jar, SINGLE.replace("min_score=0.85", option),
                           f"{PYTHON}|{nuset_engine.SAMPLE_IMAGE}", tmp_path)
        assert f"NuSeT error: {message}" in output
        assert "RESULT title=img2d.tif " in output  # the command stopped: no labels image


def test_install_command_puts_the_jar_and_macros_into_an_installation(tmp_path, ij_jar):
    from click.testing import CliRunner

    from nuset_cli.main import cli

    imagej = tmp_path / "ImageJ"
    imagej.mkdir()
    shutil.copy(ij_jar, imagej / "ij.jar")
    result = CliRunner().invoke(cli, ["fiji", "install", str(imagej)])
    assert result.exit_code == 0, result.output
    assert (imagej / "plugins" / "NuSeT_.jar").is_file()
    assert (imagej / "macros" / "nuset_segment_folder.ijm").is_file()

"""The "NuSeT Segment" commands in a headless ImageJ (no display, as pipelines
and clusters run Fiji), and the tile_size option of the commands.

The macros run in a real headless JVM (``java.awt.headless=true``, no X
server) through the ``headless_macro`` fixture (see conftest.py for the one
thing it does that ImageJ 1.53t cannot do headless on its own: registering the
plugin's menu commands).
"""
import os
import re
import json
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import roifile
import tifffile

import nuset_engine

PYTHON = sys.executable
SAMPLE = str(nuset_engine.SAMPLE_IMAGE)

ROIS_HEADLESS = """
args = split(getArgument(), "|");
setBatchMode(true);  // as in a headless pyimagej session
open(args[1]);
original = getTitle();
run("NuSeT Segment", "python=" + args[0] + " min_score=0.85 " + args[2]);
labels = getTitle();
max = getValue("Max");
selectImage(original);
print("RESULT labels=" + labels + " max=" + max + " overlay=" + Overlay.size + " images=" + nImages);
"""


def _result(output):
    match = re.search(r"RESULT labels=(\S+) max=(\d+) overlay=(\d+) images=(\d+)", output)
    assert match, output
    return match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4))


def test_add_rois_headless_go_to_the_overlay_with_a_warning(headless_macro, segmenter, sample):
    output = headless_macro(ROIS_HEADLESS, f"{PYTHON}|{SAMPLE}|add_rois")
    expected = int(segmenter.segment(sample[0]).max())
    assert "HeadlessException" not in output and "Exception" not in output, output
    labels, count, overlay, images = _result(output)
    assert (labels, count, images) == ("img2d-labels", expected, 2)  # the label image opened
    assert overlay == expected  # one ROI per nucleus, on the segmented image's Overlay
    assert (f"NuSeT warning: no display (headless), so no ROI Manager: the {expected} ROIs are on the Overlay "
            "of img2d.tif instead. Add roi_zip=/path/RoiSet.zip to save them as a file.") in output


def test_roi_zip_saves_the_rois_headless(headless_macro, segmenter, sample, tmp_path):
    target = tmp_path / "out dir" / "Roi Set.zip"  # a new folder, spaces in the path
    output = headless_macro(ROIS_HEADLESS, f"{PYTHON}|{SAMPLE}|roi_zip=[{target}]")  # roi_zip implies add_rois
    expected = segmenter.segment(sample[0])
    assert "Exception" not in output and "NuSeT warning" not in output, output
    labels, count, overlay, images = _result(output)
    assert (labels, count, images) == ("img2d-labels", int(expected.max()), 2)
    assert overlay == 0  # asked for a zip: nothing on the Overlay
    rois = roifile.roiread(target)
    assert len(rois) == expected.max()
    assert [roi.name for roi in rois[:2]] == ["0001", "0002"]
    # each polygon outlines its nucleus: the centroid of ROI k lies inside label k
    for k in (1, len(rois) // 2, len(rois)):
        x, y = rois[k - 1].coordinates().mean(axis=0)
        assert expected[int(y), int(x)] == k
    assert f"NuSeT: {int(expected.max())} ROIs saved to {target}" in output


def test_plain_run_headless_uses_the_defaults(headless_macro, segmenter, sample):
    macro = 'setBatchMode(true); open(getArgument()); run("NuSeT Segment"); ' \
            'print("RESULT labels=" + getTitle() + " max=" + getValue("Max") + " overlay=0 images=" + nImages);'
    output = headless_macro(macro, SAMPLE, env={"NUSET_PYTHON": PYTHON})  # no dialog to show headless
    assert "Exception" not in output, output
    assert _result(output)[:2] == ("img2d-labels", int(segmenter.segment(sample[0]).max()))


def _argv_recorder(tmp_path):
    """A Python for the commands that appends its argv to a file, then runs the real Python.
    What it reads on stdin (the requests to the session's NuSeT worker) goes to ``<log>.requests``."""
    log = tmp_path / "argv.txt"
    wrapper = tmp_path / "python-recording"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\ntee -a "{log}.requests" | "{PYTHON}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, log


def _requests(log):
    """The worker's requests, each as its argument line."""
    return [" ".join(json.loads(line)["args"]) for line in Path(f"{log}.requests").read_text().splitlines()]


TILE_SIZES = """
args = split(getArgument(), "|");
setBatchMode(true);
open(args[1]);
original = getTitle();
options = split(args[2], ",");
for (i = 0; i < options.length; i++) {
    selectImage(original);
    run("NuSeT Segment", "python=" + args[0] + " " + options[i]);
    print("RESULT " + options[i] + " -> " + getTitle() + " max=" + getValue("Max"));
    if (getTitle() != original) close();  // each run's labels get the plain title
}
"""


def test_tile_size_auto_0_and_default_reach_the_command_line(headless_macro, tmp_path, segmenter, sample):
    wrapper, log = _argv_recorder(tmp_path)
    output = headless_macro(TILE_SIZES, f"{wrapper}|{SAMPLE}|min_score=0.85,tile_size=auto,tile_size=0")
    assert "Exception" not in output and "NuSeT error" not in output, output
    assert log.read_text().splitlines() == ["-m fiji_bridge.command --serve"]  # one Python for the macro's 3 runs
    calls = _requests(log)
    assert len(calls) == 3
    default, auto, whole = calls
    assert "--tile-size" not in default and "--tile-size" not in auto  # auto: the Python side's default
    assert "--tile-size 0" in whole
    expected = int(segmenter.segment(sample[0]).max())
    assert f"RESULT tile_size=0 -> img2d-labels max={expected}" in output


@pytest.mark.parametrize("value", ["abc", "-5", "12.5", "256px"])
def test_bad_tile_size_is_refused_in_one_line(headless_macro, tmp_path, value):
    wrapper, log = _argv_recorder(tmp_path)
    output = headless_macro(TILE_SIZES, f"{wrapper}|{SAMPLE}|tile_size={value}")
    assert (f"NuSeT error: 'tile_size={value}': use auto (tiles for large images), 0 (the whole image at once) "
            "or a tile size in pixels") in output
    assert "Exception" not in output
    assert f"RESULT tile_size={value} -> img2d.tif " in output  # the command stopped: no labels
    assert not log.exists()  # Python never started


def test_tile_size_in_pixels_reaches_the_engine(headless_macro, tmp_path, segmenter, sample):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    tifffile.imwrite(src / "img.tif", sample[0])
    wrapper, log = _argv_recorder(tmp_path)
    macro = ('args = split(getArgument(), "|"); run("NuSeT Segment Folder", "input=" + args[1] + " output=" '
             '+ args[2] + " python=" + args[0] + " tile_size=256");')
    output = headless_macro(macro, f"{wrapper}|{src}|{out}")
    assert "--tile-size 256" in log.read_text()
    assert "Exception" not in output, output
    labels = tifffile.imread(out / "img_labels.tif")
    assert np.array_equal(labels, segmenter.segment(sample[0], tile_size=256))


def test_labels_segmented_in_tiles_open_in_imagej(headless_macro, segmenter, sample):
    """With tile_size below the image size the engine segments in tiles; the
    command line behind the Fiji command must still write labels ImageJ 1.x
    can read (it cannot open tiled TIFFs, which `nuset segment` writes for
    such images): the labels open, no error dialog, no HeadlessException."""
    output = headless_macro(TILE_SIZES, f"{PYTHON}|{SAMPLE}|tile_size=300")
    assert "Exception" not in output, output
    assert "NuSeT error" not in output, output
    expected = int(segmenter.segment(sample[0], tile_size=300).max())
    assert f"RESULT tile_size=300 -> img2d-labels max={expected}" in output


def _dialog_fields(ij_home, ij_jar, tmp_path):
    """``read(*typed)``: DialogFields.java run under Xvfb with ``tmp_path`` as the user's home."""
    import subprocess

    from tests.fiji.conftest import xvfb_run

    jar = ij_home / "plugins" / "NuSeT_.jar"
    classes = tmp_path / "classes"
    subprocess.run(["javac", "--release", "8", "-nowarn", "-cp", f"{ij_jar}:{jar}", "-d", str(classes),
                    str(Path(__file__).parent / "DialogFields.java")], check=True, capture_output=True, text=True)

    def read(*typed):
        environment = {k: v for k, v in os.environ.items() if k != "NUSET_PYTHON"}
        result = subprocess.run([xvfb_run(), "-a", "java", f"-Duser.home={tmp_path}", "-cp",
                                 f"{ij_jar}:{jar}:{classes}", "nuset.DialogFields", *typed],
                                capture_output=True, text=True, timeout=120, env=environment)
        return result.stdout + result.stderr

    return read


def test_dialog_checks_numbers_remembers_settings_and_records_only_changes(ij_home, ij_jar, tmp_path):
    """As ImageJ's own dialogs: a field that is not a number, or out of the table's range, is refused
    before anything runs, quoting what was typed; an OK is remembered for the next dialog; the Macro
    Recorder gets only what differs from the defaults (a recorded macro runs on a colleague's machine)."""
    read = _dialog_fields(ij_home, ij_jar, tmp_path)
    refused = read("auto", "0.850.9")
    assert "NuSeT error: 'min_score=0.850.9' is not a number" in refused and "REFUSED" in refused
    refused = read("auto", "1.5")
    assert "NuSeT error: 'min_score=1.5': min_score must be between 0 and 1" in refused and "REFUSED" in refused
    first = read("auto")
    assert "SHOWN python=python3 min_score= add_rois=false" in first  # nothing remembered: the model's own
    assert "RECORDED model=/models/m.nuset.pt python=/usr/bin/python3" in first  # defaults left out
    second = read("1024", "0.9")
    assert "SHOWN python=/usr/bin/python3 min_score= " in second  # the last OK's Python is remembered
    assert "RECORDED min_score=0.9 tile_size=1024 model=/models/m.nuset.pt python=/usr/bin/python3" in second
    assert "SHOWN python=/usr/bin/python3 min_score=0.9 " in read("auto")


def test_dialog_tile_size_field(ij_home, ij_jar, tmp_path):
    """The dialog's tile_size is a text field read in its place among the others (built under Xvfb)."""
    read = _dialog_fields(ij_home, ij_jar, tmp_path)
    output = read("auto")
    assert ("TILE auto MODEL /models/m.nuset.pt PYTHON /usr/bin/python3 ROI_ZIP /out/RoiSet.zip MIN_SCORE \n"
            in output), output  # min_score left empty: the model's own
    assert "--tile-size" not in output
    assert "TILE 512 " in read(" 512 ") and "--tile-size 512 " in read("512")
    assert "--tile-size 0 " in read("0")
    refused = read("large")
    assert "NuSeT error: 'tile_size=large': use auto" in refused and "REFUSED" in refused


def test_scratch_dir_from_a_macro_reaches_the_engine(headless_macro, tmp_path, segmenter, sample):
    """scratch_dir, the option added through the engine's table only: its
    macro key and command-line flag come from the table; a folder that does
    not exist is refused by the Python side in one Log line."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    wrapper, log = _argv_recorder(tmp_path)
    output = headless_macro(TILE_SIZES, f"{wrapper}|{SAMPLE}|scratch_dir={scratch} tile_size=256 passes=one,"
                                        f"scratch_dir={tmp_path / 'missing'}")
    good, missing = _requests(log)
    assert f"--scratch-dir {scratch} " in good + " " and "--two-pass one" in good
    expected = int(segmenter.segment(sample[0], tile_size=256, two_pass=False).max())
    assert f"tile_size=256 passes=one -> img2d-labels max={expected}" in output, output
    assert not list(scratch.iterdir())  # the tiles' files are gone
    assert f"NuSeT error: scratch_dir must be an existing folder, got '{tmp_path / 'missing'}'" in output

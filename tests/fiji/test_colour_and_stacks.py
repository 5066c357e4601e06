""""NuSeT Segment" in a real ImageJ on colour images and hyperstacks (issues 19 and 20).

- An RGB H&E tile (real, DSB2018) goes to Python as RGB: a colour model made
  from the shipped weights (`mark_model_input(..., "rgb-inverted")`) finds its
  nuclei; the shipped gray model refuses it with one Log line naming the choices.
- A Z-stack (the StarDist 3-D example, Z calibration 2) comes back as a label
  hyperstack with the same slices, 3-D nuclei scored against the 3-D truth,
  ROIs on their slices.
- A time-lapse (a real image shifted a few pixels per frame) comes back with
  the same frames, a nucleus keeping its label through them (track ids), ROIs
  on their frames, in the ROI Manager of a batch macro under Xvfb.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from nuset_engine import default_model_path
from nuset_engine.colour import mark_model_input
from nuset_engine.metrics import matching_counts
from tests.conftest import REAL_DATA
from tests.fiji.test_macro import run_macro

PYTHON = sys.executable
HNE_TILE = REAL_DATA / "dsb2018_stage1_train_nonfluo" / "images" / \
    "00ae65c1c6631ae6f2be1a449902976e6eb8483bf6b0740d00530220832c6d3e.tif"  # 70 nuclei
STARDIST_3D = Path(__file__).parents[1] / "data" / "stardist3d"
WHEEL_EXAMPLE = REAL_DATA / "stardist_wheel_dsb2018_example"


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("NuSeT error:")]


RGB = """
args = split(getArgument(), "|");
setBatchMode(true);
open(args[1]);
source = getTitle();
print("BITS " + bitDepth());
run("NuSeT Segment", "python=" + args[0]);
print("AFTER_GRAY " + getTitle());
selectImage(source);
run("NuSeT Segment", "python=" + args[0] + " model=[" + args[2] + "]");
print("RESULT title=" + getTitle() + " bits=" + bitDepth());
saveAs("Tiff", args[3]);
"""


def test_an_rgb_he_tile_is_segmented_by_a_colour_model_and_refused_by_the_gray_one(headless_macro, tmp_path):
    model = mark_model_input(default_model_path(), "rgb-inverted", tmp_path / "he.nuset.pt")
    saved = tmp_path / "he_labels.tif"
    output = headless_macro(RGB, f"{PYTHON}|{HNE_TILE}|{model}|{saved}")
    assert "BITS 24" in output, output  # ImageJ holds it as an RGB image
    # the gray model: exactly one clear Log line naming the choices, no labels, no trace
    (line,) = errors(output)
    assert "an RGB image (shape (256, 320, 3)) was given to a fluorescence model" in line, line
    assert "pick one channel" in line and "histology model" in line, line
    assert str(HNE_TILE.parent) not in line and "input.tif" not in line  # no temporary file names
    assert f"AFTER_GRAY {HNE_TILE.name}" in output and "Exception" not in output
    # the colour model: labels that match the truth
    assert re.search(r"RESULT title=\w+-labels bits=16", output), output
    labels = tifffile.imread(saved)
    truth = tifffile.imread(HNE_TILE.parent.parent / "labels" / HNE_TILE.name)
    assert labels.shape == truth.shape
    matched = matching_counts(truth, labels, [0.5])[0.5]["tp"]
    assert matched >= 35, matched  # the engine finds 59 of the 70 nuclei here


Z_STACK = """
args = split(getArgument(), "|");
setBatchMode(true);
open(args[1]);
source = getTitle();
Stack.getDimensions(w, h, c, z, t);
Stack.setDimensions(1, c * z * t, 1);      // the file records no axes: say they are Z slices
setVoxelSize(1, 1, 2, "micron");           // Z step twice the pixel size
run("NuSeT Segment", "python=" + args[0] + " add_rois");
Stack.getDimensions(w, h, c, z, t);
getVoxelSize(pw, ph, pd, unit);
print("RESULT title=" + getTitle() + " c=" + c + " z=" + z + " t=" + t + " depth=" + pd + " unit=" + unit);
saveAs("Tiff", args[2]);
selectImage(source);                       // headless: the ROIs are on its Overlay
for (i = 0; i < Overlay.size; i++) {
    Overlay.activateSelection(i);
    Roi.getPosition(rc, rz, rt);
    print("ROI " + Roi.getName + " z=" + rz + " slice=" + getSliceNumber());
}
"""


def test_a_z_stack_comes_back_as_a_label_hyperstack_with_3d_nuclei(headless_macro, tmp_path):
    saved = tmp_path / "z_labels.tif"
    output = headless_macro(Z_STACK, f"{PYTHON}|{STARDIST_3D / 'img3d.tif'}|{saved}")
    assert not errors(output), output
    assert "RESULT title=img3d-labels c=1 z=31 t=1 depth=2 unit=micron" in output, output
    assert re.search(r"NuSeT: \d+ nuclei in img3d.tif \(31 slices, nuclei joined in 3-D", output), output
    labels = tifffile.imread(saved)
    truth = tifffile.imread(STARDIST_3D / "mask3d.tif")  # 51 nuclei
    assert labels.shape == truth.shape
    counts = matching_counts(truth, labels, [0.5])[0.5]
    ap50 = counts["tp"] / (counts["tp"] + counts["fp"] + counts["fn"])
    assert ap50 > 0.45, counts  # the engine scores about 0.63
    # one ROI per nucleus per slice, each on its slice
    rois = re.findall(r"ROI img3d-(\d{4})-z(\d+) z=(\d+) slice=(\d+)", output)
    expected = sum(len(np.unique(plane)) - 1 for plane in labels)
    assert len(rois) == expected > 100
    assert all(int(z) == int(rz) == int(s) for _, z, rz, s in rois)
    for label, z, _, _ in rois[::25]:  # the ROI's nucleus is on that slice
        assert (labels[int(z) - 1] == int(label)).any()


def moving_window(image: np.ndarray, frames: int, step: int, width: int) -> np.ndarray:
    """``frames`` views of ``image`` moving ``step`` pixels right per frame: nuclei move left."""
    return np.stack([image[..., t * step : t * step + width] for t in range(frames)])


TIME_LAPSE = """
args = split(getArgument(), "|");
setBatchMode(true);
open(args[1]);
source = getTitle();
run("NuSeT Segment", "python=" + args[0] + " add_rois");
Stack.getDimensions(w, h, c, z, t);
print("RESULT title=" + getTitle() + " c=" + c + " z=" + z + " t=" + t + " interval=" + Stack.getFrameInterval());
saveAs("Tiff", args[2]);
print("MANAGER " + roiManager("count"));
for (i = 0; i < roiManager("count"); i++) {
    roiManager("select", i);
    Roi.getPosition(rc, rz, rt);
    print("ROI " + Roi.getName + " czt=" + rc + "," + rz + "," + rt + " frame_of_image=" + getSliceNumber());
}
"""


def test_a_time_lapse_comes_back_tracked_with_rois_on_their_frames(ij_home, ij_jar, tmp_path):
    pytest.importorskip("laptrack", reason="tracking needs the tracking extra (laptrack)")
    image = tifffile.imread(WHEEL_EXAMPLE / "images" / "img2d.tif")[:256]
    truth = tifffile.imread(WHEEL_EXAMPLE / "labels" / "img2d.tif")[:256]
    movie, moved = moving_window(image, 3, 4, 256), moving_window(truth, 3, 4, 256)
    source = tmp_path / "movie.tif"
    tifffile.imwrite(source, movie, imagej=True, metadata={"axes": "TYX", "finterval": 5.0})
    saved = tmp_path / "movie_labels.tif"
    output = run_macro(ij_home, ij_jar, TIME_LAPSE, f"{PYTHON}|{source}|{saved}", tmp_path)
    assert not errors(output), output
    assert "RESULT title=movie-labels c=1 z=1 t=3 interval=5" in output, output
    assert re.search(r"NuSeT: \d+ tracks in movie.tif \(3 frames, labels = track ids", output), output
    with tifffile.TiffFile(saved) as tif:
        labels = tif.asarray()
    assert labels.shape == movie.shape
    # a nucleus inside all frames and found in each (IoU > 0.5) keeps its label: the labels are track ids
    found, same = 0, 0
    for g in np.unique(moved[0])[1:]:
        masks = [moved[t] == g for t in range(3)]
        if len({int(m.sum()) for m in masks}) > 1:
            continue  # enters or leaves the window
        ids = [matched_label(labels[t], masks[t]) for t in range(3)]
        if all(ids):
            found += 1
            same += len(set(ids)) == 1
    assert found >= 15 and same >= 0.9 * found, (same, found)
    # one ROI per nucleus per frame in the ROI Manager, each on its frame
    rois = re.findall(r"ROI movie-(\d{4})-t(\d) czt=(\d+),(\d+),(\d+) frame_of_image=(\d+)", output)
    assert f"MANAGER {len(rois)}" in output
    assert len(rois) == sum(len(np.unique(frame)) - 1 for frame in labels)
    # selecting a ROI shows its frame; a plain (T only, batch mode) stack numbers its images as ImageJ's own
    # "Add" does (Roi.setPosition(n): reported as z), a hyperstack gets (c, z, t) = (0, 1, t)
    assert all(int(s) == int(t) and (int(rt), int(rz)) in ((int(t), 1), (0, int(t))) for _, t, _, rz, rt, s in rois)


def matched_label(labels: np.ndarray, mask: np.ndarray) -> int:
    """The label covering ``mask`` with IoU > 0.5, or 0."""
    best = int(np.bincount(labels[mask]).argmax())
    inter = np.count_nonzero(labels[mask] == best)
    return best if best and inter / (mask.sum() + np.count_nonzero(labels == best) - inter) > 0.5 else 0


CHANNELS = """
args = split(getArgument(), "|");
setBatchMode(true);
open(args[1]);
source = getTitle();
run("NuSeT Segment", "python=" + args[0] + " channel=3");
print("AFTER_BAD " + getTitle());
run("NuSeT Segment", "python=" + args[0] + " channel=2");
Stack.getDimensions(w, h, c, z, t);
print("RESULT title=" + getTitle() + " c=" + c + " z=" + z + " t=" + t);
saveAs("Tiff", args[2]);
"""


def test_the_channel_option_picks_the_channel_of_a_hyperstack(headless_macro, segmenter, tmp_path):
    pytest.importorskip("laptrack", reason="tracking needs the tracking extra (laptrack)")
    from fiji_bridge.hyperstacks import segment_hyperstack
    from nuset_engine.stacks import ArrayStack

    image = tifffile.imread(WHEEL_EXAMPLE / "images" / "img2d.tif")[:128]
    movie = moving_window(image, 2, 4, 128)
    two_channels = np.stack([np.zeros_like(movie), movie], axis=1)  # T, C, Y, X: nuclei in the second channel
    tifffile.imwrite(tmp_path / "two.tif", two_channels, imagej=True, metadata={"axes": "TCYX"})
    saved = tmp_path / "two_labels.tif"
    output = headless_macro(CHANNELS, f"{PYTHON}|{tmp_path / 'two.tif'}|{saved}")
    (line,) = errors(output)
    assert line == "NuSeT error: channel=3, but two.tif has 2 channels; give channel=1 to 2, or 0 for the current one"
    assert "AFTER_BAD two.tif" in output
    assert "RESULT title=two-labels c=1 z=1 t=2" in output, output
    expected, _ = segment_hyperstack(segmenter, ArrayStack(movie, "TYX"))
    assert np.array_equal(tifffile.imread(saved), expected[:, 0])

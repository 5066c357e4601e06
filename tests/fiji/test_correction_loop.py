"""Issue 18's loop, end to end in a real ImageJ (under Xvfb): segment an
image with "NuSeT Segment", correct its ROIs in the ROI Manager and save the
set, fine-tune with ``nuset train --from default`` on the folder, and
segment again in ImageJ with ``model=``: the new labels follow the edit.

The edit is a real correction of the shipped model on the bundled sample: at
the left edge it finds only a fragment (ROI 115, 96 pixels) of a large
nucleus (532 pixels in the ground truth). The macro deletes the fragment and
adds the nucleus' outline, as a user would redraw it."""
import re
import sys

import numpy as np
import pytest
import roifile
import tifffile
from click.testing import CliRunner
from skimage.measure import find_contours

import nuset_engine
from nuset_cli.main import cli
from tests.fiji.test_macro import run_macro

pytestmark = [pytest.mark.slow, pytest.mark.jvm]

PYTHON = sys.executable
FRAGMENT, NUCLEUS = 115, 120  # the fragment's label (model), the nucleus' label (ground truth)

CORRECT = """
args = split(getArgument(), "|");  // python | image | RoiSet.zip to save | ROI name to delete | xs | ys
open(args[1]);
image = getTitle();
run("NuSeT Segment", "python=" + args[0] + " add_rois");
found = roiManager("count");
for (i = 0; i < roiManager("count"); i++) {
    roiManager("select", i);
    if (endsWith(Roi.getName, args[3])) { roiManager("delete"); break; }
}
selectImage(image);
xs = split(args[4], ","); ys = split(args[5], ",");
x = newArray(xs.length); y = newArray(ys.length);
for (i = 0; i < xs.length; i++) { x[i] = parseFloat(xs[i]); y[i] = parseFloat(ys[i]); }
makeSelection("polygon", x, y);
roiManager("add");
roiManager("save", args[2]);
print("EDITED " + found + " -> " + roiManager("count"));
"""

AGAIN = """
args = split(getArgument(), "|");  // python | image | model | labels to save
open(args[1]);
run("NuSeT Segment", "python=" + args[0] + " model=" + args[2]);
saveAs("Tiff", args[3]);
print("SAVED " + getTitle());
"""


def _coverage(labels, region):
    """The share of ``region`` that the label covering most of it covers, and
    that label's IoU with the region."""
    values, counts = np.unique(labels[region], return_counts=True)
    counts[values == 0] = 0
    best = values[np.argmax(counts)]
    if best == 0:
        return 0.0, 0.0
    overlap = counts.max()
    return overlap / region.sum(), overlap / (region.sum() + (labels == best).sum() - overlap)


def test_corrected_rois_fine_tune_a_model_that_follows_the_correction(ij_home, ij_jar, tmp_path, segmenter, sample):
    image, truth = sample
    before = segmenter.segment(image)
    nucleus = truth == NUCLEUS
    assert np.isin(FRAGMENT, before[nucleus])  # the shipped model found a fragment of it
    coverage_before, iou_before = _coverage(before, nucleus)
    assert coverage_before < 0.3, coverage_before

    work = tmp_path / "work"
    work.mkdir()
    tifffile.imwrite(work / "img2d.tif", image)
    contour = max(find_contours(nucleus.astype(float), 0.5), key=len)  # (row, col) on pixel edges
    xs = ",".join(f"{c + 0.5:.1f}" for c in contour[:, 1])
    ys = ",".join(f"{r + 0.5:.1f}" for r in contour[:, 0])
    roi_set = work / "img2d_RoiSet.zip"
    output = run_macro(ij_home, ij_jar, CORRECT,
                       f"{PYTHON}|{work / 'img2d.tif'}|{roi_set}|-{FRAGMENT:04d}|{xs}|{ys}", tmp_path)
    found = int(before.max())
    assert f"EDITED {found} -> {found}" in output, output  # one deleted, one added
    names = [roi.name for roi in roifile.roiread(roi_set)]
    assert not any(name.endswith(f"-{FRAGMENT:04d}") for name in names) and len(names) == found

    # Fine-tune on the corrected folder (the image and its RoiSet pair by name). One
    # image: it validates on a held-out strip at the bottom, away from the edit.
    result = CliRunner().invoke(cli, ["train", "--from", "default", "--images", str(work), "--labels", str(work),
                                      "-o", str(tmp_path / "run"), "--epochs", "1", "--steps-per-epoch", "100",
                                      "--patience", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    model = tmp_path / "run" / "model.nuset.pt"
    assert model.is_file()

    again = tmp_path / "again_labels.tif"
    output = run_macro(ij_home, ij_jar, AGAIN, f"{PYTHON}|{work / 'img2d.tif'}|{model}|{again}", tmp_path)
    assert "SAVED" in output, output
    after = tifffile.imread(again)
    coverage_after, iou_after = _coverage(after, nucleus)
    print(f"redrawn nucleus: covered {coverage_before:.2f} -> {coverage_after:.2f}, IoU {iou_before:.2f} -> "
          f"{iou_after:.2f}")
    # in the direction of the edit: the redrawn nucleus is found as one object, far more of it
    assert coverage_after > coverage_before + 0.3 and iou_after > iou_before + 0.2, (coverage_after, iou_after)
    # and the rest of the image is still segmented as before (it was not edited)
    rest = (truth > 0) & ~nucleus
    assert abs(int((after[rest] > 0).sum()) - int((before[rest] > 0).sum())) < 0.1 * rest.sum()

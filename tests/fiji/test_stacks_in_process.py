"""fiji_bridge's Python functions (pyimagej / ImageJ1 through scyjava) on RGB
images and on stacks, with real ImagePlus objects in a headless JVM and real
images: an H&E tile (DSB2018) for a colour model, the StarDist 3-D example,
and a time-lapse made by moving a window over a real image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr

from fiji_bridge import imageplus_to_array, segment, segment_imageplus
from nuset_engine import Segmenter, default_model_path
from nuset_engine.colour import mark_model_input
from nuset_engine.metrics import matching_counts
from tests.conftest import REAL_DATA
from tests.fiji.test_colour_and_stacks import HNE_TILE, STARDIST_3D, WHEEL_EXAMPLE, matched_label, moving_window
from tests.fiji.test_pyimagej import stand_in_datasets  # noqa: F401 - a fixture


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    return str(mark_model_input(default_model_path(), "rgb-inverted", tmp_path_factory.mktemp("m") / "he.nuset.pt"))


def rgb_imageplus(rgb: np.ndarray, title: str):
    from jpype import JArray, JInt
    from scyjava import jimport

    height, width, _ = rgb.shape
    packed = (rgb[..., 0].astype(np.int64) << 16 | rgb[..., 1].astype(np.int64) << 8 | rgb[..., 2]).astype(np.int32)
    processor = jimport("ij.process.ColorProcessor")(width, height, JArray(JInt)(packed.ravel().tolist()))
    return jimport("ij.ImagePlus")(title, processor)


def test_an_rgb_imageplus_goes_whole_to_a_colour_model(jvm, colour_model):
    rgb = tifffile.imread(HNE_TILE)
    truth = tifffile.imread(REAL_DATA / "dsb2018_stage1_train_nonfluo" / "labels" / HNE_TILE.name)
    imp = rgb_imageplus(rgb, "he.tif")
    assert np.array_equal(imageplus_to_array(imp), rgb)  # RGB pixels exact, (H, W, 3)
    result = segment_imageplus(imp, model=colour_model)
    labels = imageplus_to_array(result)
    assert str(result.getTitle()) == "he-labels"
    assert np.array_equal(labels, Segmenter.load(colour_model, device="cpu").segment(rgb))
    assert matching_counts(truth, labels, [0.5])[0.5]["tp"] >= 35  # 59 of the 70 nuclei on this machine
    # pyimagej's xarray of an RGB image (a channel axis of 3) goes whole to the colour model too
    xarr = xr.DataArray(rgb, dims=("row", "col", "ch"), name="he.tif")
    assert np.array_equal(segment(None, xarr, model=colour_model).values, labels)
    # the gray model refuses the RGB image, naming the choices; a channel makes it one gray plane
    with pytest.raises(ValueError, match="was given to a fluorescence model.*pick one channel"):
        segment(None, imp)
    assert imageplus_to_array(segment(None, imp, channel=2)).shape == rgb.shape[:2]


def z_stack_imageplus(jvm, volume: np.ndarray, depth: float):
    from fiji_bridge import labels_to_imageplus

    imp = labels_to_imageplus(volume[None].astype(np.uint32), "img3d.tif")  # a 16-bit Z-stack of the image
    imp.getCalibration().pixelDepth = depth
    return imp


def test_a_z_stack_imageplus_gives_a_label_hyperstack(jvm):
    volume = tifffile.imread(STARDIST_3D / "img3d.tif")
    truth = tifffile.imread(STARDIST_3D / "mask3d.tif")
    imp = z_stack_imageplus(jvm, volume, 2.0)
    assert int(imp.getNSlices()) == 31
    with pytest.warns(UserWarning, match="ROIs are on the Overlay of 'img3d.tif'"):
        result = segment_imageplus(imp, add_rois=True)
    assert (int(result.getNSlices()), int(result.getNFrames())) == (31, 1)
    assert result.getCalibration().pixelDepth == pytest.approx(2.0)
    stack = result.getStack()
    labels = np.stack([imageplus_to_array(type(imp)("p", stack.getProcessor(z + 1))) for z in range(31)])
    counts = matching_counts(truth, labels, [0.5])[0.5]
    assert counts["tp"] / (counts["tp"] + counts["fp"] + counts["fn"]) > 0.45, counts
    overlay = imp.getOverlay()  # headless: on the Overlay, one ROI per nucleus per slice, each on its slice
    assert overlay.size() == sum(len(np.unique(p)) - 1 for p in labels)
    for i in range(0, overlay.size(), 40):
        roi = overlay.get(i)
        label, z = str(roi.getName()).split("-z")
        assert int(roi.getPosition()) == int(z) and (labels[int(z) - 1] == int(label)).any()


def test_a_time_lapse_as_xarray_and_numpy_is_tracked(tmp_path):
    pytest.importorskip("laptrack", reason="tracking needs the tracking extra (laptrack)")
    image = tifffile.imread(WHEEL_EXAMPLE / "images" / "img2d.tif")[:256]
    truth = tifffile.imread(WHEEL_EXAMPLE / "labels" / "img2d.tif")[:256]
    movie, moved = moving_window(image, 3, 4, 256), moving_window(truth, 3, 4, 256)
    xarr = xr.DataArray(movie, dims=("t", "row", "col"), name="movie.tif", attrs={"unit": "µm"})
    labels = segment(None, xarr, roi_zip=tmp_path / "RoiSet.zip")
    assert labels.dims == ("t", "row", "col") and labels.shape == movie.shape and labels.name == "movie-labels"
    found = same = 0
    for g in np.unique(moved[0])[1:]:
        masks = [moved[t] == g for t in range(3)]
        if len({int(m.sum()) for m in masks}) == 1:
            ids = [matched_label(labels.values[t], masks[t]) for t in range(3)]
            found += all(ids)
            same += all(ids) and len(set(ids)) == 1
    assert found >= 15 and same >= 0.9 * found, (same, found)  # labels are track ids
    import roifile

    rois = roifile.roiread(tmp_path / "RoiSet.zip")
    assert len(rois) == sum(len(np.unique(f)) - 1 for f in labels.values)
    assert {r.t_position for r in rois} == {1, 2, 3} and all(r.name.endswith(f"-t{r.t_position}") for r in rois)
    # numpy says its axes; an X-first layout comes back X-first
    as_numpy = segment(None, np.ascontiguousarray(movie.transpose(0, 2, 1)), axes="TXY")
    assert np.array_equal(as_numpy, labels.values.transpose(0, 2, 1))


def test_a_z_stack_dataset_comes_back_with_z(stand_in_datasets, segmenter):
    """The ImageJ2 branch, with pyimagej's axis conversion but a stand-in gateway (no ImageJ2 here:
    tests/fiji/test_pyimagej.py says why)."""
    from tests.fiji.test_pyimagej import _Axis, _Dataset, _StandInGateway

    volume = tifffile.imread(STARDIST_3D / "img3d.tif")[8:20]
    dataset = _Dataset(volume, [_Axis("X", 1.0, 0.0, "µm"), _Axis("Y", 1.0, 0.0, "µm"), _Axis("Z", 2.0, 0.0)],
                       name="img3d.tif")
    labels = segment(_StandInGateway(), dataset)
    assert labels.getName() == "img3d-labels"
    assert [axis.getLabel() for axis in labels.axes] == ["X", "Y", "Z"] and labels.axes[2].scale == 2.0
    assert labels.array.shape == volume.shape and labels.array.max() > 10
    from fiji_bridge.hyperstacks import segment_hyperstack
    from nuset_engine.stacks import ArrayStack

    expected, _ = segment_hyperstack(segmenter, ArrayStack(volume, "ZYX", voxel_size=(2.0, 1.0, 1.0)))
    assert np.array_equal(labels.array, expected[0])


def test_the_fiji_worker_says_when_tracking_is_not_installed(tmp_path, monkeypatch, sample):
    """The worker of "NuSeT Segment" on a time-lapse without laptrack: one error naming the package and
    how to install it. laptrack is installed here, so its import is blocked for this test (sys.modules entry
    None: `import laptrack` raises ImportError, as where it is missing)."""
    import json
    import sys

    from fiji_bridge.command import serve_requests

    movie = moving_window(sample[0][:96], 2, 4, 96)
    tifffile.imwrite(tmp_path / "movie.tif", movie, imagej=True, metadata={"axes": "TYX"})
    monkeypatch.setitem(sys.modules, "laptrack", None)
    answers = []
    request = {"args": ["--input", str(tmp_path / "movie.tif"), "--output", str(tmp_path / "labels.tif")]}
    serve_requests([json.dumps(request)], answers.append)
    assert answers[0] == {"ready": True} and answers[-1] == {"done": True}
    (error,) = [a["error"] for a in answers if "error" in a]
    assert error.startswith("tracking a time-lapse needs the 'laptrack' package; install it with: pip install "
                            "'nuset[tracking]'"), error
    assert not (tmp_path / "labels.tif").exists()

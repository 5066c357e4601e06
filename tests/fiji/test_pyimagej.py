"""`fiji_bridge.segment(ij, image)` for pyimagej users.

What runs here: the real pyimagej package (imagej 1.x) builds the xarray
images its users hold (`imagej.convert.ndarray_to_xarray`, pyimagej's dim
names), and the ImagePlus branch runs on real ImageJ1 objects in a headless
JVM (it needs no gateway).

What cannot run here: an ImageJ2 gateway (`imagej.init()` needs ImageJ2 and
imglib2 jars from Maven, unreachable on this machine). So for the ImageJ2
Dataset branch the gateway and the Dataset are stand-ins (`_StandInGateway`,
the only mock in the suite): they follow pyimagej's conversion of axes
(`java_to_xarray` / `xarray_to_dataset`), using pyimagej's own dim-name
rules (`imagej.dims`), but hold numpy arrays instead of Java images.
"""
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import roifile
import xarray as xr
from imagej import dims as ij_dims
from imagej.convert import ndarray_to_xarray

import fiji_bridge.pyimagej
from fiji_bridge import imageplus_to_array, labels_to_imageplus, segment


# -- xarray (what ij.py.from_java gives, or what a user builds) ------------------------------------------------

def test_xarray_in_xarray_out(segmenter, sample):
    xarr = ndarray_to_xarray(sample[0], dim_order=["row", "col"])  # as ij.py.from_java gives a 2-D image
    assert tuple(xarr.dims) == ("row", "col")
    labels = segment(None, xarr)
    assert tuple(labels.dims) == ("row", "col")
    assert np.array_equal(labels.values, segmenter.segment(sample[0]))


@pytest.mark.parametrize("dim_order", [None, ["Y", "X"], ["y", "x"]], ids=["dim_0-dim_1", "Y-X", "y-x"])
def test_any_two_spatial_axis_names_round_trip(segmenter, sample, dim_order):
    xarr = ndarray_to_xarray(sample[0], dim_order=dim_order)  # None: numpy's dim_0, dim_1
    labels = segment(None, xarr)
    expected = segmenter.segment(sample[0])
    assert labels.dims == xarr.dims and np.array_equal(labels.values, expected)
    again = segment(None, labels)  # the labels are accepted as input again, with the same axes
    assert again.dims == xarr.dims and again.shape == xarr.shape and again.max() > 0


def test_xarray_keeps_coords_attrs_and_names_the_labels(segmenter, sample):
    height, width = sample[0].shape
    xarr = xr.DataArray(sample[0], dims=("row", "col"), name="nuclei.tif", attrs={"unit": "µm", "source": "test"},
                        coords={"row": 10 + 0.65 * np.arange(height), "col": 0.65 * np.arange(width)})
    labels = segment(None, xarr)
    assert labels.name == "nuclei-labels"
    assert labels.attrs == {"unit": "µm", "source": "test"}
    for dim in ("row", "col"):
        assert np.array_equal(labels.coords[dim].values, xarr.coords[dim].values)


def test_x_first_xarray_keeps_its_layout(segmenter, sample):
    xarr = ndarray_to_xarray(np.ascontiguousarray(sample[0].T), dim_order=["X", "Y"])
    labels = segment(None, xarr)
    assert labels.dims == ("X", "Y")
    assert np.array_equal(labels.values, segmenter.segment(np.ascontiguousarray(sample[0].T)))


def test_singleton_axes_are_dropped(segmenter, sample):
    xarr = ndarray_to_xarray(sample[0][None, None, :, :, None], dim_order=["t", "pln", "row", "col", "ch"])
    labels = segment(None, xarr)
    assert labels.dims == ("row", "col") and np.array_equal(labels.values, segmenter.segment(sample[0]))


def test_xarray_with_channels_needs_a_channel(segmenter, sample):
    stack = np.stack([np.zeros_like(sample[0]), sample[0]], axis=-1)
    xarr = ndarray_to_xarray(stack, dim_order=["row", "col", "ch"])
    assert "ch" in xarr.dims
    with pytest.raises(ValueError, match=re.escape("channel axis 'ch' of size 2: give channel= (0 to 1)")):
        segment(None, xarr)
    with pytest.raises(ValueError, match="channel 2 requested but its channel axis 'ch' has 2 channels"):
        segment(None, xarr, channel=2)
    labels = segment(None, xarr, channel=1)
    assert labels.dims == ("row", "col")
    assert np.array_equal(labels.values, segmenter.segment(sample[0]))


@pytest.mark.parametrize("shape, dim_order, found", [
    ((3, 2, 64, 64), ["pln", "z", "row", "col"], "pln (3), z (2), row (64), col (64)"),  # two Z axes
    ((4, 64, 64, 2), ["t", "Y", "X", "q"], "t (4), Y (64), X (64), q (2)"),  # an unknown axis
    ((64, 64, 3), None, "dim_0 (64), dim_1 (64), dim_2 (3)"),
    ((1, 64), ["row", "col"], "row (1), col (64)"),
])
def test_anything_but_planes_and_stacks_is_refused_naming_the_axes(shape, dim_order, found):
    xarr = ndarray_to_xarray(np.zeros(shape, np.uint8), dim_order=dim_order)
    with pytest.raises(ValueError, match=re.escape(f"has axes {found}; NuSeT segments one 2-D plane, or a stack")) \
            as info:
        segment(None, xarr)
    assert "exactly two spatial axes of size > 1" in str(info.value)


def test_numpy_in_numpy_out(segmenter, sample):
    labels = segment(None, sample[0], min_score=0.9)
    assert isinstance(labels, np.ndarray)
    assert np.array_equal(labels, segmenter.segment(sample[0], min_score=0.9))


def test_roi_zip_without_java(segmenter, sample, tmp_path):
    """roi_zip writes a RoiSet zip ImageJ opens; no JVM is needed (run in a fresh Python)."""
    target = tmp_path / "RoiSet.zip"
    code = ("import sys, scyjava\nfrom imagej.convert import ndarray_to_xarray\nimport tifffile, nuset_engine\n"
            "from fiji_bridge import segment\n"
            "image = ndarray_to_xarray(tifffile.imread(nuset_engine.SAMPLE_IMAGE), dim_order=['row', 'col'])\n"
            "labels = segment(None, image, roi_zip=sys.argv[1])\n"
            "print('JVM', scyjava.jvm_started(), 'MAX', int(labels.max()))\n")
    result = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=300)
    expected = segmenter.segment(sample[0])
    assert f"JVM False MAX {expected.max()}" in result.stdout, result.stderr
    rois = roifile.roiread(target)
    assert len(rois) == expected.max() and rois[0].name == "0001"


def test_both_python_apis_call_the_roi_option_add_rois():
    """The pyimagej function and the ImageJ1 one take the same keyword (the
    ImageJ1 one's old name, add_rois_to_manager, is deprecated; see
    tests/fiji/test_inprocess.py)."""
    import inspect

    from fiji_bridge import segment_imageplus

    for function in (segment, segment_imageplus):
        parameter = inspect.signature(function).parameters["add_rois"]
        assert parameter.default is False, function.__name__
        assert "    add_rois : " in function.__doc__, function.__name__


def test_add_rois_without_java_warns_instead_of_starting_a_jvm(segmenter, sample):
    code = ("import warnings, scyjava, tifffile, nuset_engine\nfrom fiji_bridge import segment\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    labels = segment(None, tifffile.imread(nuset_engine.SAMPLE_IMAGE), add_rois=True)\n"
            "print('JVM', scyjava.jvm_started(), 'MAX', int(labels.max()))\n"
            "print('WARNING', [str(w.message) for w in caught if 'add_rois' in str(w.message)])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert f"JVM False MAX {segmenter.segment(sample[0]).max()}" in result.stdout, result.stderr
    assert "the ROIs were not added; give roi_zip=" in result.stdout


# -- ImagePlus: real ImageJ1 objects in a headless JVM ----------------------------------------------------------

def _calibrated(jvm, image, title="nuclei.tif", pixel_width=0.65):
    imp = labels_to_imageplus(image, title)
    calibration = imp.getCalibration()
    calibration.pixelWidth = calibration.pixelHeight = pixel_width
    calibration.setUnit("micron")
    return imp


def test_imageplus_gets_a_titled_calibrated_imageplus_back(jvm, segmenter, sample):
    imp = _calibrated(jvm, sample[0])
    with pytest.warns(UserWarning, match=r"no display \(headless\), so no ROI Manager: the \d+ ROIs are on the "
                                         r"Overlay of 'nuclei.tif' instead; give roi_zip="):
        result = segment(None, imp, add_rois=True)  # an ImagePlus needs no ImageJ2 gateway
    expected = segmenter.segment(sample[0])
    assert str(result.getTitle()) == "nuclei-labels"
    calibration = result.getCalibration()
    assert calibration.pixelWidth == pytest.approx(0.65) and calibration.pixelHeight == pytest.approx(0.65)
    assert str(calibration.getUnit()) == "micron"
    assert np.array_equal(imageplus_to_array(result), expected)
    assert imp.getOverlay().size() == expected.max()
    again = segment(None, result)  # the labels are an ordinary ImagePlus: segment them again
    assert str(again.getTitle()) == "nuclei-labels-labels" and again.getCalibration().pixelWidth == pytest.approx(0.65)


def test_imageplus_roi_zip(jvm, segmenter, sample, tmp_path):
    imp = _calibrated(jvm, sample[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the ROIs went where asked: no warning
        segment(None, imp, roi_zip=tmp_path / "RoiSet.zip")
    assert imp.getOverlay() is None
    assert len(roifile.roiread(tmp_path / "RoiSet.zip")) == segmenter.segment(sample[0]).max()


def _hyperstack(jvm, planes, channels, slices):
    from scyjava import jimport

    height, width = planes[0].shape
    stack = jimport("ij.ImageStack")(width, height)
    for plane in planes:
        stack.addSlice(labels_to_imageplus(plane).getProcessor())
    imp = jimport("ij.ImagePlus")("stack.tif", stack)
    imp.setDimensions(channels, slices, 1)
    return imp


def test_imageplus_channel_is_chosen(jvm, segmenter, sample):
    two_channels = _hyperstack(jvm, [np.zeros_like(sample[0]), sample[0]], channels=2, slices=1)
    with pytest.raises(ValueError, match=re.escape("channel axis 'C' of size 2: give channel= (0 to 1)")):
        segment(None, two_channels)
    labels = segment(None, two_channels, channel=1)
    assert np.array_equal(imageplus_to_array(labels), segmenter.segment(sample[0]))
    # Z-stacks and time-lapses: tests/fiji/test_stacks_in_process.py


# -- ImageJ2 Dataset: a stand-in gateway (no ImageJ2 here) -----------------------------------------------------

class _Axis:
    """A net.imagej.axis.DefaultLinearAxis as far as segment() and pyimagej read it."""

    def __init__(self, label, scale=1.0, origin=0.0, unit=None):
        self.label, self.scale, self.origin, self._unit = label, scale, origin, unit

    def type(self):  # the AxisType: only its label is used
        return self

    def getLabel(self):
        return self.label

    def unit(self):
        return self._unit

    def setUnit(self, unit):
        self._unit = unit

    def calibratedValue(self, position):
        return self.origin + self.scale * position


class _Dataset:
    """A net.imagej.Dataset stand-in: pixels in numpy (C order) and axes in ImageJ2's order (X first)."""

    def __init__(self, array, axes, name=None):
        self.array, self.axes, self.name = np.asarray(array), list(axes), name

    def numDimensions(self):
        return len(self.axes)

    def axis(self, d):
        return self.axes[d]

    def getName(self):
        return self.name

    def setName(self, name):
        self.name = name

    def labels(self):
        return [axis.label for axis in self.axes]


class _StandInGateway:
    """The ij.py calls segment() makes, as pyimagej 1.8 does them for 2-D images with X/Y or custom axes.

    from_java: imagej.convert.java_to_xarray without the CXYZT permutation (the images here are already in
    that order); to_dataset: imagej.convert.xarray_to_dataset (axis types from the dim names, scale and origin
    from the coords, the name; units are not carried, as in pyimagej).
    """

    class py:
        @staticmethod
        def from_java(ds):
            dims = ij_dims._convert_dims([axis.label for axis in reversed(ds.axes)], direction="python")
            coords = {d: [axis.calibratedValue(i) for i in range(n)]
                      for d, axis, n in zip(dims, reversed(ds.axes), ds.array.shape)}
            return xr.DataArray(ds.array, dims=dims, coords=coords, attrs={}, name=ds.name)

        @staticmethod
        def to_dataset(data):
            xarr = data if isinstance(data, xr.DataArray) else ndarray_to_xarray(data)
            axes = [None] * xarr.ndim
            for dim in xarr.dims:
                coords = np.asarray(xarr[dim].values, dtype=np.float64)
                scale = coords[1] - coords[0] if len(coords) > 1 else 1.0
                axes[ij_dims._get_axis_num(xarr, dim)] = _Axis(ij_dims._convert_dim(dim, "java"), scale, coords[0])
            return _Dataset(xarr.values, axes, xarr.name)


@pytest.fixture
def stand_in_datasets(jvm, monkeypatch):
    """Let segment() take the stand-in Dataset for a Java object (it checks with scyjava.isjava)."""
    real = fiji_bridge.pyimagej._is_java
    monkeypatch.setattr(fiji_bridge.pyimagej, "_is_java", lambda obj: isinstance(obj, _Dataset) or real(obj))


def test_dataset_labels_have_x_y_axes_calibration_and_a_name(stand_in_datasets, segmenter, sample):
    dataset = _Dataset(sample[0], [_Axis("X", 0.65, 0.0, "µm"), _Axis("Y", 0.65, 3.25, "µm")], name="nuclei.tif")
    labels = segment(_StandInGateway(), dataset)
    expected = segmenter.segment(sample[0])
    assert labels.labels() == ["X", "Y"]
    assert labels.getName() == "nuclei-labels"
    assert [(a.scale, a.origin) for a in labels.axes] == [pytest.approx((0.65, 0.0)), pytest.approx((0.65, 3.25))]
    assert [a.unit() for a in labels.axes] == ["µm", "µm"]
    assert np.array_equal(labels.array, expected)
    again = segment(_StandInGateway(), labels)  # the round trip the users reported failing
    assert again.labels() == ["X", "Y"] and again.array.shape == expected.shape and again.array.max() > 0


def test_dataset_with_unnamed_axes_is_accepted(stand_in_datasets, segmenter, sample):
    """What earlier versions returned (axes dim_1, dim_0, no name) segments again, and comes back with X/Y."""
    dataset = _StandInGateway.py.to_dataset(sample[0])  # pyimagej's conversion of a bare numpy array
    assert dataset.labels() == ["dim_1", "dim_0"] and dataset.getName() is None
    labels = segment(_StandInGateway(), dataset)
    assert labels.labels() == ["X", "Y"] and labels.getName() == "labels"
    assert np.array_equal(labels.array, segmenter.segment(sample[0]))


def test_dataset_rois_headless_warn_or_go_to_a_zip(stand_in_datasets, segmenter, sample, tmp_path):
    dataset = _Dataset(sample[0], [_Axis("X"), _Axis("Y")], name="nuclei.tif")
    with pytest.warns(UserWarning, match=r"no display \(headless\), so no ROI Manager, and no ImagePlus to hold an "
                                         r"Overlay: the \d+ ROIs were not added; give roi_zip="):
        segment(_StandInGateway(), dataset, add_rois=True)
    segment(_StandInGateway(), dataset, add_rois=True, roi_zip=tmp_path / "RoiSet.zip")
    assert len(roifile.roiread(tmp_path / "RoiSet.zip")) == segmenter.segment(sample[0]).max()

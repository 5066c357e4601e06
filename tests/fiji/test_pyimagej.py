"""`fiji_bridge.segment(ij, image)` for pyimagej users.

What runs here: the real pyimagej package (imagej 1.x) builds the xarray
images its users hold (`imagej.convert.ndarray_to_xarray`, pyimagej's dim
names), and the ImagePlus branch runs on real ImageJ1 objects.

What cannot run here: an ImageJ2 gateway (`imagej.init()` needs ImageJ2 and
imglib2 jars from Maven, unreachable on this machine). So the `ij.py`
conversions of ImageJ2 Datasets (`from_java`, `to_dataset`) are not exercised;
for the ImagePlus test, `ij.py` is a stand-in built on the real ImageJ1
conversions of this package (a mock of the gateway, the only one in the suite).
"""
import numpy as np
import pytest
from imagej.convert import ndarray_to_xarray

from fiji_bridge import imageplus_to_array, labels_to_imageplus, segment


def test_xarray_in_xarray_out(segmenter, sample):
    xarr = ndarray_to_xarray(sample[0], dim_order=["row", "col"])  # as ij.py.from_java gives a 2-D image
    assert tuple(xarr.dims) == ("row", "col")
    labels = segment(None, xarr)
    assert tuple(labels.dims) == ("row", "col")
    assert np.array_equal(labels.values, segmenter.segment(sample[0]))


def test_xarray_with_channels_needs_a_channel(segmenter, sample):
    stack = np.stack([np.zeros_like(sample[0]), sample[0]], axis=-1)
    xarr = ndarray_to_xarray(stack, dim_order=["row", "col", "ch"])
    assert "ch" in xarr.dims
    with pytest.raises(ValueError, match="'ch' dimension of size 2"):
        segment(None, xarr)
    labels = segment(None, xarr, channel=1)
    assert np.array_equal(labels.values, segmenter.segment(sample[0]))


def test_numpy_in_numpy_out(segmenter, sample):
    labels = segment(None, sample[0], min_score=0.9)
    assert isinstance(labels, np.ndarray)
    assert np.array_equal(labels, segmenter.segment(sample[0], min_score=0.9))


class _ImageJ1Gateway:
    """Stand-in for the pyimagej gateway (ImageJ2 cannot be created here)."""

    class py:
        @staticmethod
        def from_java(imp):
            return ndarray_to_xarray(imageplus_to_array(imp), dim_order=["row", "col"])

        @staticmethod
        def to_imageplus(labels):
            return labels_to_imageplus(labels)


def test_imageplus_through_the_gateway_api(jvm, segmenter, sample):
    imp = labels_to_imageplus(sample[0], "nuclei")
    result = segment(_ImageJ1Gateway(), imp, add_rois=True)
    expected = segmenter.segment(sample[0])
    assert np.array_equal(imageplus_to_array(result), expected)
    assert imp.getOverlay().size() == expected.max()

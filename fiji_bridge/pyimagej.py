"""Segmentation for pyimagej users: ImageJ2 Datasets, ImagePlus, numpy, xarray."""
from __future__ import annotations

import numpy as np

from nuset_engine import Segmenter
from nuset_engine.io import to_grayscale

from .rois import add_rois as _rois_to_imagej

_CHANNEL_DIMS = ("ch", "c", "Channel")


def _is_java(obj) -> bool:
    try:
        import scyjava
    except ImportError:
        return False
    return scyjava.isjava(obj)


def _to_plane(data, channel):
    """2-D numpy plane from a numpy array or an xarray (pyimagej's dims: row, col, ch)."""
    dims = getattr(data, "dims", None)
    if dims is not None:  # xarray.DataArray
        extra = [d for d in dims if d not in ("row", "col", "y", "x")]
        for d in extra:
            if data.sizes[d] == 1:
                data = data.isel({d: 0})
            elif d in _CHANNEL_DIMS and channel is not None:
                data = data.isel({d: channel})
            else:
                raise ValueError(f"image has a '{d}' dimension of size {data.sizes[d]}; "
                                 f"NuSeT segments one 2-D plane (give channel= for channels)")
        return np.asarray(data.values)
    return to_grayscale(np.asarray(data), channel)


def segment(ij, image, *, add_rois: bool = False, channel: int | None = None, model: str | None = None,
            device: str = "auto", **params):
    """Segment nuclei in what a pyimagej user holds; labels come back in the same world.

    Parameters
    ----------
    ij : the pyimagej gateway (``imagej.init(...)``); only used for Java images
        and ROIs, may be None for numpy/xarray input.
    image : ``net.imagej.Dataset`` / ImgPlus / RandomAccessibleInterval,
        ``ij.ImagePlus``, ``xarray.DataArray`` or numpy array (2-D, or with a
        channel dimension selected by ``channel``).
    add_rois : one ROI per nucleus in the ROI Manager (on the ImagePlus's
        Overlay when there is no ROI Manager); needs ImageJ1 (``ij.jar``).
    model, device, **params : as ``Segmenter.load`` / ``Segmenter.segment``.

    Returns
    -------
    For a Dataset: a Dataset (``ij.py.to_dataset``); for an ImagePlus: an
    ImagePlus (``ij.py.to_imageplus``); for xarray: an xarray with the same
    spatial dims and coords; for numpy: a uint16/uint32 numpy array.
    """
    java_input = _is_java(image)
    if java_input:
        if ij is None:
            raise ValueError("a Java image needs the pyimagej gateway: segment(ij, image)")
        data = ij.py.from_java(image)  # xarray.DataArray (or numpy) with pyimagej's dim names
    else:
        data = image
    plane = _to_plane(data, channel)
    labels = Segmenter.shared(model, device).segment(plane, **params)

    imp = None
    if java_input:
        from scyjava import jimport

        if isinstance(image, jimport("ij.ImagePlus")):
            imp = image
            result = ij.py.to_imageplus(labels)
        else:
            result = ij.py.to_dataset(labels)
    elif getattr(image, "dims", None) is not None:
        import xarray as xr

        spatial = [d for d in image.dims if d in ("row", "col", "y", "x")]
        result = xr.DataArray(labels, dims=spatial, coords={d: image.coords[d] for d in spatial if d in image.coords},
                              name="labels")
    else:
        result = labels
    if add_rois:
        _rois_to_imagej(labels, imp)
    return result

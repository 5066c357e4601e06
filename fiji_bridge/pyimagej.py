"""Segmentation for pyimagej users: ImageJ2 Datasets, ImagePlus, numpy, xarray.

Any image with exactly two spatial axes of size > 1 is accepted, whatever
its axes are called (``row``/``col`` as pyimagej names them, ``Y``/``X``,
``y``/``x``, ``dim_0``/``dim_1``...). Axes of size 1 are dropped; one channel
of a channel axis (``c``, ``ch``, ``Channel``) is chosen with ``channel=``;
a Z or time axis of size > 1 is refused with the axes found.

Labels come back in the input's world with their spatial axes, calibration
and a ``<name>-labels`` title, so they can be segmented, shown or measured
again.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nuset_engine import Segmenter
from nuset_engine.io import to_grayscale
from nuset_engine.options import options_doc

from .imagej1 import PYIMAGEJ_OPTIONS
from .rois import add_rois as _add_rois

_CHANNEL_AXES = {"c", "ch", "channel"}
_STACK_AXES = {"z", "pln", "slice", "t", "time"}  # lower-case; may not have size > 1
_ROW_AXES = {"row", "y"}
_COL_AXES = {"col", "x"}
# ImageJ2 axis labels -> pyimagej's xarray dims (imagej.dims._to_pydim)
_IJ2_TO_XARRAY = {"Time": "t", "slice": "pln", "Z": "pln", "Y": "row", "X": "col", "Channel": "ch"}

_SUPPORTED = ("NuSeT segments one 2-D plane: it needs exactly two spatial axes of size > 1 (any names: "
              "row/col, Y/X, y/x, dim_0/dim_1...); axes of size 1 are dropped, a channel axis (c, ch, Channel) "
              "takes channel=, and Z or time axes must have size 1 (select a plane first, e.g. "
              "image.isel(pln=0), or Image > Duplicate... in ImageJ)")


def _is_java(obj) -> bool:
    try:
        import scyjava
    except ImportError:
        return False
    return scyjava.isjava(obj)


def _is_imageplus(obj) -> bool:
    from scyjava import jimport

    try:
        ImagePlus = jimport("ij.ImagePlus")
    except Exception:  # ImageJ2 without the ImageJ1 layer (no ij.jar): no ImagePlus can exist
        return False
    return isinstance(obj, ImagePlus)


def _describe(names_sizes) -> str:
    return ", ".join(f"{name} ({size})" for name, size in names_sizes)


def _select_channel(what: str, axis: str, size: int, channel: int | None) -> int:
    if channel is None:
        if size == 1:
            return 0
        raise ValueError(f"{what} has a channel axis '{axis}' of size {size}: give channel= (0 to {size - 1}) "
                         "to choose the nuclear channel")
    if not 0 <= channel < size:
        raise ValueError(f"{what}: channel {channel} requested but its channel axis '{axis}' has {size} "
                         f"channel{'s' if size != 1 else ''} (0 to {size - 1})")
    return channel


def _xarray_plane(data, channel: int | None, what: str = "image"):
    """The 2-D xarray NuSeT segments: singleton axes dropped, the channel selected.

    Returns the 2-D DataArray (its two dims are the spatial axes, in the
    input's order, with their coords).
    """
    found = _describe(data.sizes.items())
    channel_axes = [d for d in data.dims if str(d).lower() in _CHANNEL_AXES]
    if len(channel_axes) > 1:
        raise ValueError(f"{what} has axes {found}: more than one channel axis; {_SUPPORTED}")
    if channel_axes:
        axis = channel_axes[0]
        data = data.isel({axis: _select_channel(what, str(axis), data.sizes[axis], channel)})
    elif channel not in (None, 0):
        raise ValueError(f"{what} has axes {found} and no channel axis, but channel={channel} was requested")
    stack = [d for d in data.dims if str(d).lower() in _STACK_AXES and data.sizes[d] > 1]
    spatial = [d for d in data.dims if data.sizes[d] > 1 and d not in stack]
    if stack or len(spatial) != 2:
        raise ValueError(f"{what} has axes {found}; {_SUPPORTED}")
    data = data.isel({d: 0 for d in data.dims if d not in spatial})
    return data


def _imageplus_plane(imp, channel: int | None) -> np.ndarray:
    """The plane of an ImageJ1 ImagePlus (dimensions X, Y, C, Z, T) NuSeT segments."""
    from .imagej1 import processor_to_array

    title = str(imp.getTitle())
    width, height, channels, slices, frames = (int(n) for n in imp.getDimensions())
    what = f"ImagePlus '{title}'"
    if slices > 1 or frames > 1:
        found = _describe(zip("XYCZT", (width, height, channels, slices, frames)))
        raise ValueError(f"{what} has axes {found}; {_SUPPORTED}. "
                         "segment_imageplus(imp) segments the current plane instead")
    c = _select_channel(what, "C", channels, channel)
    if channels == 1:
        return processor_to_array(imp.getProcessor(), title)
    return processor_to_array(imp.getStack().getProcessor(imp.getStackIndex(c + 1, 1, 1)), title)


def _row_col(dims) -> tuple:
    """Which of two spatial dims is the row (ImageJ's Y) and which the column (X).

    By name where the names say it (row/y, col/x, any case); otherwise by
    position, as numpy and pyimagej order them (rows first).
    """
    first, second = dims
    if str(first).lower() in _COL_AXES or str(second).lower() in _ROW_AXES:
        return second, first
    return first, second


def _rows_first(plane, labels: np.ndarray) -> np.ndarray:
    """``labels`` of ``plane`` with rows (ImageJ's Y) first."""
    return labels if _row_col(plane.dims) == tuple(plane.dims) else labels.T


def _coords(plane, dim) -> np.ndarray:
    if dim in plane.coords:
        values = np.asarray(plane.coords[dim].values)
        if np.issubdtype(values.dtype, np.number):
            return values.astype(np.float64)
    return np.arange(plane.sizes[dim], dtype=np.float64)


def _dataset_result(ij, image, plane, labels: np.ndarray, title: str):
    """A Dataset with X/Y axes, the input's calibration and ``title``.

    pyimagej (``ij.py.to_dataset``) turns the xarray dims ``row``/``col``
    into ImageJ2's Y/X axes and each dim's coords into the axis' scale and
    origin; the units, which its conversion drops, are copied from the
    input's axes.
    """
    import xarray as xr

    row, col = _row_col(plane.dims)
    labels = np.ascontiguousarray(_rows_first(plane, labels))  # C order: pyimagej maps row/col to Y/X for these
    xarr = xr.DataArray(labels, dims=("row", "col"), coords={"row": _coords(plane, row), "col": _coords(plane, col)},
                        name=title)
    result = ij.py.to_dataset(xarr)
    result.setName(title)
    if hasattr(image, "axis") and hasattr(image, "numDimensions"):
        units = {}
        for i in range(int(image.numDimensions())):
            axis = image.axis(i)
            label = str(axis.type().getLabel())
            name = _IJ2_TO_XARRAY.get(label, label)
            unit = axis.unit() if hasattr(axis, "unit") else None
            if unit is not None and name in (row, col):
                units["Y" if name == row else "X"] = str(unit)
        for i in range(int(result.numDimensions())):
            axis = result.axis(i)
            label = str(axis.type().getLabel())
            if label in units:
                axis.setUnit(units[label])
    return result


def segment(ij, image, *, add_rois: bool = False, roi_zip: str | Path | None = None, channel: int | None = None,
            model: str | None = None, device: str = "auto", backend: str = "auto", **params):
    """Segment nuclei in what a pyimagej user holds; labels come back in the same world.

    Parameters
    ----------
    ij : the pyimagej gateway (``imagej.init(...)``); needed for ImageJ2
        images (Dataset, ImgPlus, ...); may be None for an ImagePlus, numpy
        or xarray input.
    image : ``net.imagej.Dataset`` / ImgPlus / RandomAccessibleInterval,
        ``ij.ImagePlus``, ``xarray.DataArray`` or numpy array: exactly two
        spatial axes of size > 1 (any names), axes of size 1, and a channel
        axis (``c``/``ch``/``Channel``, numpy: see ``to_grayscale``).
    add_rois : one ROI per nucleus in the ROI Manager. Without a display
        (headless) there is none: they go on the ImagePlus's Overlay (for an
        ImagePlus input) with a warning, or, with no ImagePlus, a warning
        says they went nowhere: give ``roi_zip``.
    roi_zip : write the ROIs to this RoiSet zip instead of the ROI Manager
        (implies ``add_rois``; works headless and without Java).
    channel : the channel to segment when the image has several (0-based).
    model, device, backend : as ``Segmenter.load``.
    **params : the segmentation options (below), as ``Segmenter.segment``.

    Returns
    -------
    For a Dataset (or other ImageJ2 image): a Dataset with X and Y axes, the
    input's calibration (scale, origin, unit) and the name
    ``<name>-labels``. For an ImagePlus: an ImagePlus titled
    ``<title>-labels`` with the input's calibration. For an xarray: an xarray
    with the input's two spatial dims, their coords, its attrs and the name
    ``<name>-labels``. For numpy: a uint16/uint32 numpy array.
    """
    from .imagej1 import labeled_imageplus, labels_title

    imp = None
    if _is_java(image):
        if _is_imageplus(image):  # ImageJ1 itself: no gateway needed
            imp = image
            plane = _imageplus_plane(imp, channel)
            labels = roi_labels = Segmenter.shared(model, device, backend).segment(plane, **params)
            result = labeled_imageplus(labels, imp)
        else:
            if ij is None:
                raise ValueError("an ImageJ2 image (Dataset, ImgPlus...) needs the pyimagej gateway: "
                                 "segment(ij, image)")
            name = str(image.getName()) if hasattr(image, "getName") and image.getName() is not None else ""
            data = ij.py.from_java(image)  # xarray.DataArray (numpy for an image without axes)
            if getattr(data, "dims", None) is None:
                import xarray as xr

                data = xr.DataArray(np.asarray(data))
            plane = _xarray_plane(data, channel, f"image '{name}'" if name else "image")
            labels = Segmenter.shared(model, device, backend).segment(np.asarray(plane.values), **params)
            result = _dataset_result(ij, image, plane, labels, labels_title(name or data.name))
            roi_labels = _rows_first(plane, labels)
    elif getattr(image, "dims", None) is not None:  # xarray.DataArray
        import xarray as xr

        plane = _xarray_plane(image, channel, f"image '{image.name}'" if image.name is not None else "image")
        labels = Segmenter.shared(model, device, backend).segment(np.asarray(plane.values), **params)
        coords = {k: v for k, v in plane.coords.items() if v.dims and set(v.dims) <= set(plane.dims)}
        result = xr.DataArray(labels, dims=plane.dims, coords=coords, attrs=dict(image.attrs),
                              name=labels_title(image.name))
        roi_labels = _rows_first(plane, labels)
    else:
        labels = roi_labels = Segmenter.shared(model, device, backend).segment(to_grayscale(np.asarray(image), channel),
                                                                      **params)
        result = labels
    if add_rois or roi_zip is not None:
        _add_rois(roi_labels, imp, roi_zip=roi_zip)  # ROIs in ImageJ's x (column) / y (row) coordinates
    return result


segment.__doc__ = segment.__doc__.rstrip() + "\n" + options_doc(PYIMAGEJ_OPTIONS, indent=4)

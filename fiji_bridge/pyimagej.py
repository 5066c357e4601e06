"""Segmentation for pyimagej users: ImageJ2 Datasets, ImagePlus, numpy, xarray.

Any image with exactly two spatial axes of size > 1 is accepted, whatever
its axes are called (``row``/``col`` as pyimagej names them, ``Y``/``X``,
``y``/``x``, ``dim_0``/``dim_1``...). Axes of size 1 are dropped; one channel
of a channel axis (``c``, ``ch``, ``Channel``) is chosen with ``channel=``,
or, for a colour model, a channel axis of 3 (RGB) is kept whole. A Z axis
(``z``, ``pln``, ``slice``) and/or a time axis (``t``, ``time``) of size > 1
make a stack: nuclei joined in 3-D, a time-lapse's nuclei tracked (labels =
track ids), labels with the same Z and T. numpy arrays say their axes with
``axes=`` (``"ZYX"``, ``"TYX"``, ``"TZCYX"``...).

Labels come back in the input's world with their axes, calibration and a
``<name>-labels`` title, so they can be segmented, shown or measured again.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nuset_engine import Segmenter
from nuset_engine.options import options_doc

from .imagej1 import PYIMAGEJ_OPTIONS, as_model_takes
from .rois import add_rois as _add_rois

_CHANNEL_AXES = {"c", "ch", "channel"}
_Z_AXES = {"z", "pln", "slice"}  # lower-case
_T_AXES = {"t", "time"}
_STACK_AXES = _Z_AXES | _T_AXES
_ROW_AXES = {"row", "y"}
_COL_AXES = {"col", "x"}
# ImageJ2 axis labels -> pyimagej's xarray dims (imagej.dims._to_pydim)
_IJ2_TO_XARRAY = {"Time": "t", "slice": "pln", "Z": "pln", "Y": "row", "X": "col", "Channel": "ch"}

_SUPPORTED = ("NuSeT segments one 2-D plane, or a stack of them: it needs exactly two spatial axes of size > 1 (any "
              "names: row/col, Y/X, y/x, dim_0/dim_1...), at most one Z axis (z, pln, slice) and one time axis "
              "(t, time); axes of size 1 are dropped, a channel axis (c, ch, Channel) takes channel=")


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


def _xarray_selection(data, channel: int | None, what: str = "image", colour: bool = False):
    """What NuSeT segments of an xarray: singleton axes dropped, the channel selected.

    Returns
    -------
    (DataArray, list, str or None)
        The image (its dims: the stack axes, the two spatial axes and an
        RGB axis, in the input's order), the stack dims (Z and/or T), and
        the RGB dim kept whole for a colour model (``colour``, a channel
        axis of 3 or 4 and no ``channel``), or None.
    """
    found = _describe(data.sizes.items())
    channel_axes = [d for d in data.dims if str(d).lower() in _CHANNEL_AXES]
    if len(channel_axes) > 1:
        raise ValueError(f"{what} has axes {found}: more than one channel axis; {_SUPPORTED}")
    rgb = None
    if channel_axes:
        axis = channel_axes[0]
        if colour and channel is None and data.sizes[axis] in (3, 4):
            rgb = axis
        else:
            data = data.isel({axis: _select_channel(what, str(axis), data.sizes[axis], channel)})
    elif channel not in (None, 0):
        raise ValueError(f"{what} has axes {found} and no channel axis, but channel={channel} was requested")
    stack = [d for d in data.dims if str(d).lower() in _STACK_AXES and data.sizes[d] > 1]
    spatial = [d for d in data.dims if data.sizes[d] > 1 and d not in stack and d != rgb]
    z_axes = [d for d in stack if str(d).lower() in _Z_AXES]
    if len(spatial) != 2 or len(z_axes) > 1 or len(stack) - len(z_axes) > 1:
        raise ValueError(f"{what} has axes {found}; {_SUPPORTED}")
    if rgb is not None and stack:
        raise ValueError(f"{what} has axes {found}: an RGB stack; NuSeT segments stacks of one channel: give "
                         "channel= (0 red, 1 green, 2 blue)")
    data = data.isel({d: 0 for d in data.dims if d not in spatial and d not in stack and d != rgb})
    return data, stack, rgb


def _spacing(data, dim) -> float | None:
    """The step between a dim's coords (its calibration), or None where it has none."""
    if dim not in data.coords or data.sizes[dim] < 2:
        return None
    values = np.asarray(data.coords[dim].values)
    if not np.issubdtype(values.dtype, np.number):
        return None
    step = abs(float(values[1] - values[0]))
    return step if step > 0 else None


def _segment_xarray(segmenter, data, channel: int | None, what: str, params: dict):
    """Labels of an xarray image, with the image's own dims (the channel axis dropped).

    Returns
    -------
    (xarray.DataArray, numpy.ndarray)
        The labels (dims and coords of the segmented axes, in the input's
        order), and the same labels for ROIs: ``(H, W)`` or ``(T, Z, H, W)``
        with rows (ImageJ's Y) first.
    """
    import xarray as xr

    colour = model_is_colour(segmenter)
    image, stack, rgb = _xarray_selection(data, channel, what, colour)
    spatial = [d for d in image.dims if d not in stack and d != rgb]
    coords = {k: v for k, v in image.coords.items() if v.dims and set(v.dims) <= set(spatial + stack)}
    if not stack:
        values = image.transpose(*spatial, rgb).values if rgb is not None else image.values
        labels = segmenter.segment(as_model_takes(segmenter, values, None, what), **params)
        result = xr.DataArray(labels, dims=spatial, coords=coords)
        return result, _rows_first(image.isel({rgb: 0}) if rgb is not None else image, labels)
    from nuset_engine.stacks import ArrayStack

    from .hyperstacks import segment_hyperstack

    t_dim = next((d for d in stack if str(d).lower() in _T_AXES), None)
    z_dim = next((d for d in stack if str(d).lower() in _Z_AXES), None)
    order = [d for d in (t_dim, z_dim) if d is not None] + spatial
    axes = "T" * (t_dim is not None) + "Z" * (z_dim is not None) + "YX"
    z_step = _spacing(image, z_dim) if z_dim is not None else None
    y_step, x_step = (_spacing(image, d) for d in spatial)
    # the coords' steps are the calibration (pyimagej: scale * index); none at all: isotropic voxels
    voxel = (z_step or y_step or 1.0, y_step or 1.0, x_step or 1.0) if (z_step or y_step or x_step) else None
    stack_labels, _ = segment_hyperstack(segmenter, ArrayStack(image.transpose(*order).values, axes, voxel_size=voxel,
                                                                name=what), None, **params)
    shaped = stack_labels.reshape([image.sizes[d] for d in order])
    result = xr.DataArray(shaped, dims=order, coords=coords).transpose(*[d for d in image.dims if d in order])
    rows = stack_labels if _row_col(spatial) == tuple(spatial) else np.swapaxes(stack_labels, -1, -2)
    return result, rows


def model_is_colour(segmenter) -> bool:
    """Whether the segmenter's model takes RGB images (``nuset_engine.colour``)."""
    from nuset_engine.colour import model_input

    return model_input(segmenter.metadata).colour


def _segment_numpy(segmenter, image, channel: int | None, axes: str | None, voxel_size, params: dict):
    """Labels of a numpy image: 2-D (as the model takes it), or with ``axes``
    naming Z or T a stack, labels in the input's axis order (channels
    dropped); and the labels for ROIs (``(H, W)`` or ``(T, Z, H, W)``)."""
    image = np.asarray(image)
    if axes is not None and any(a in "TZ" and n > 1 for a, n in zip(axes.upper(), image.shape)):
        from nuset_engine.stacks import ArrayStack

        from .hyperstacks import segment_hyperstack

        stack = ArrayStack(image, axes, channel, voxel_size, name="image")
        labels, _ = segment_hyperstack(segmenter, stack, None, **params)
        kept = [a for a in stack.axes if a in "TZYX"]  # the input's order, channels dropped
        canonical = [a for a in "TZYX" if a in kept]
        shaped = labels.reshape([n for a, n in zip("TZYX", labels.shape) if a in canonical])
        return np.transpose(shaped, [canonical.index(a) for a in kept]), labels
    if axes is not None:
        from nuset_engine.io import to_grayscale

        rgb_model = model_is_colour(segmenter)
        image = image if rgb_model else to_grayscale(image, channel, "image", axes=axes.upper())
        channel = None
    labels = segmenter.segment(as_model_takes(segmenter, image, channel, "image"), **params)
    return labels, labels


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


def _dataset_result(ij, image, labels, title: str):
    """A Dataset with X/Y axes (and Z/Time of a stack), the input's calibration and ``title``.

    ``labels`` is the xarray :func:`_segment_xarray` returns. pyimagej
    (``ij.py.to_dataset``) turns the xarray dims ``row``/``col``/``pln``/``t``
    into ImageJ2's Y/X/Z/Time axes and each dim's coords into the axis' scale
    and origin; the units, which its conversion drops, are copied from the
    input's axes.
    """
    import xarray as xr

    stack = [d for d in labels.dims if str(d).lower() in _STACK_AXES]
    row, col = _row_col([d for d in labels.dims if d not in stack])
    names = {row: "row", col: "col"}
    names |= {d: ("t" if str(d).lower() in _T_AXES else "pln") for d in stack}
    order = [d for d in stack if names[d] == "t"] + [d for d in stack if names[d] == "pln"] + [row, col]
    values = np.ascontiguousarray(labels.transpose(*order).values)  # C order: pyimagej maps row/col to Y/X
    xarr = xr.DataArray(values, dims=[names[d] for d in order], coords={names[d]: _coords(labels, d) for d in order},
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
            axes: str | None = None, voxel_size: tuple[float, float, float] | None = None, model: str | None = None,
            device: str = "auto", backend: str = "auto", **params):
    """Segment nuclei in what a pyimagej user holds; labels come back in the same world.

    Parameters
    ----------
    ij : the pyimagej gateway (``imagej.init(...)``); needed for ImageJ2
        images (Dataset, ImgPlus, ...); may be None for an ImagePlus, numpy
        or xarray input.
    image : ``net.imagej.Dataset`` / ImgPlus / RandomAccessibleInterval,
        ``ij.ImagePlus``, ``xarray.DataArray`` or numpy array: exactly two
        spatial axes of size > 1 (any names), axes of size 1, a channel
        axis (``c``/``ch``/``Channel``, numpy: see ``to_grayscale``), and
        Z (``z``/``pln``/``slice``) and/or time (``t``/``time``) axes: a
        stack, segmented whole (nuclei joined in 3-D, a time-lapse's nuclei
        tracked so that labels are track ids; needs laptrack). RGB images
        (an RGB ImagePlus, a channel axis of 3) go whole to a colour model;
        a gray model refuses them unless ``channel`` picks one.
    add_rois : one ROI per nucleus in the ROI Manager (per nucleus and
        plane for stacks, each with its Z/T position). Without a display
        (headless) there is none: they go on the ImagePlus's Overlay (for an
        ImagePlus input) with a warning, or, with no ImagePlus, a warning
        says they went nowhere: give ``roi_zip``.
    roi_zip : write the ROIs to this RoiSet zip instead of the ROI Manager
        (implies ``add_rois``; works headless and without Java).
    channel : the channel to segment when the image has several (0-based).
    axes : numpy input only: one letter per dimension from T, Z, C, S, Y, X
        (e.g. ``"ZYX"``, ``"TYX"``); Z or T of size > 1 make a stack.
    voxel_size : numpy input only: ``(z, y, x)`` of a stack's voxel (one
        unit); ImagePlus, Dataset and xarray stacks carry their calibration.
    model, device, backend : as ``Segmenter.load``.
    **params : the segmentation options (below), as ``Segmenter.segment``.

    Returns
    -------
    For a Dataset (or other ImageJ2 image): a Dataset with X and Y axes (and
    Z and Time of a stack), the input's calibration (scale, origin, unit)
    and the name ``<name>-labels``. For an ImagePlus: an ImagePlus titled
    ``<title>-labels`` with the input's calibration, Z and T. For an xarray:
    an xarray with the input's spatial and stack dims, their coords, its
    attrs and the name ``<name>-labels``. For numpy: a uint16/uint32 numpy
    array (a stack's with the input's axes, channels dropped).
    """
    from .imagej1 import labeled_imageplus, labels_title, segment_imageplus_labels

    imp = None
    segmenter = Segmenter.shared(model, device, backend)
    if _is_java(image):
        if _is_imageplus(image):  # ImageJ1 itself: no gateway needed
            imp = image
            channel = _imageplus_channel(imp, channel)
            labels = roi_labels = segment_imageplus_labels(segmenter, imp, channel, params)
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
            labels, roi_labels = _segment_xarray(segmenter, data, channel, f"image '{name}'" if name else "image",
                                                 params)
            result = _dataset_result(ij, image, labels, labels_title(name or data.name))
    elif getattr(image, "dims", None) is not None:  # xarray.DataArray
        labels, roi_labels = _segment_xarray(segmenter, image, channel,
                                             f"image '{image.name}'" if image.name is not None else "image", params)
        result = labels.assign_attrs(dict(image.attrs)).rename(labels_title(image.name))
    else:
        result, roi_labels = _segment_numpy(segmenter, image, channel, axes, voxel_size, params)
    if add_rois or roi_zip is not None:
        _add_rois(roi_labels, imp, roi_zip=roi_zip)  # ROIs in ImageJ's x (column) / y (row) coordinates
    return result


def _imageplus_channel(imp, channel: int | None) -> int | None:
    """The channel of an ImagePlus with several to segment: given, or an error asking for it (RGB: optional)."""
    _, _, channels, _, _ = (int(n) for n in imp.getDimensions())
    what = f"ImagePlus '{imp.getTitle()}'"
    if int(imp.getBitDepth()) == 24:
        if channel is not None and not 0 <= channel < 3:
            raise ValueError(f"{what}: channel {channel} requested but an RGB image has 3 (0 red, 1 green, 2 blue)")
        return channel
    if channels == 1 and channel in (None, 0):
        return None
    return _select_channel(what, "C", channels, channel)


segment.__doc__ = segment.__doc__.rstrip() + "\n" + options_doc(PYIMAGEJ_OPTIONS, indent=4)

"""Z-stacks and time-lapses as files: read a TIFF's axes and voxel size,
stream its planes one by one, and write label stacks as ImageJ hyperstacks.

Reading: tifffile's series axes (from ImageJ hyperstack or OME metadata) say
which axis is Z, T, C (channels) or S (RGB samples); a file that does not say
(tifffile's Q or I) needs ``axes=`` (e.g. ``"ZYX"``). Planes are read through
tifffile's zarr store, so only the pages of the plane asked for are read.

Segmenting stacks: :mod:`nuset_engine.volumes`; tracking: :mod:`nuset_engine.tracking`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np
import tifffile

from .io import atomic_write

__all__ = ["StackReader", "ArrayStack", "open_stack", "parse_axes", "is_stack", "series_axes",
           "write_stack_labels"]

_KNOWN = "TZCSYX"  # the letters an axes string may use
_UNKNOWN = "QI"  # tifffile's "the file does not say"
_MICRONS = {"micron": 1.0, "um": 1.0, "µm": 1.0, "\\u00B5m": 1.0, "microns": 1.0, "nm": 1e-3, "mm": 1e3}


def parse_axes(axes: str) -> str:
    """An axes string, checked and upper-cased.

    Parameters
    ----------
    axes : str
        One letter per dimension from T (time), Z (depth), C (channel),
        S (RGB samples), Y, X; each once, Y and X present (e.g. ``"zyx"``).

    Returns
    -------
    str
        ``axes`` upper-cased.

    Raises
    ------
    ValueError
        Unknown or repeated letters, or no Y and X, named in the message.
    """
    letters = str(axes).strip().upper()
    bad = sorted(set(letters) - set(_KNOWN))
    problem = None
    if bad:
        problem = f"unknown letter{'s' * (len(bad) > 1)} {', '.join(bad)}"
    elif len(set(letters)) != len(letters):
        problem = "a letter is used twice"
    elif "Y" not in letters or "X" not in letters:
        problem = "Y and X are required"
    if problem:
        raise ValueError(f"axes {axes!r}: {problem}; give one letter per dimension, in the file's order, from "
                         "T (time), Z (depth), C (channel), S (RGB samples), Y, X; e.g. 'ZYX' or 'TZCYX'")
    return letters


def _check_axes(axes: str, shape: tuple, source) -> str:
    """``axes`` checked (:func:`parse_axes`) and fitted to ``shape``, one letter per dimension."""
    try:
        letters = parse_axes(axes)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    if len(letters) != len(shape):
        raise ValueError(f"{source}: axes {axes!r} have {len(letters)} letters but the image has {len(shape)} "
                         f"dimensions ({'x'.join(map(str, shape))}); give one letter per dimension, in the "
                         "file's order")
    return letters


def _voxel_size(tif: tifffile.TiffFile) -> tuple[float, float, float] | None:
    """(z, y, x) microns from OME or ImageJ metadata; None when not recorded (z = y when only Y and X are)."""
    if tif.is_ome and tif.ome_metadata:
        sizes = []
        for axis in "ZYX":
            value = re.search(rf'PhysicalSize{axis}="([0-9.eE+-]+)"', tif.ome_metadata)
            unit = re.search(rf'PhysicalSize{axis}Unit="([^"]+)"', tif.ome_metadata)
            factor = _MICRONS.get(unit.group(1) if unit else "µm")
            sizes.append(float(value.group(1)) * factor if value and factor else None)
        if sizes[1] and sizes[2]:
            return (sizes[0] or sizes[1], sizes[1], sizes[2])
    meta = tif.imagej_metadata or {}
    factor = _MICRONS.get(meta.get("unit", ""))
    page = tif.pages.first
    xres, yres = page.tags.get("XResolution"), page.tags.get("YResolution")
    if factor is None or xres is None or yres is None or not xres.value[0] or not yres.value[0]:
        return None
    x = xres.value[1] / xres.value[0] * factor
    y = yres.value[1] / yres.value[0] * factor
    z = float(meta["spacing"]) * factor if meta.get("spacing") else y  # no Z step recorded: isotropic
    return (z, float(y), float(x))


class StackReader:
    """A TIFF stack (Z and/or time, any channel layout), read plane by plane.

    Parameters
    ----------
    path : str or Path
        A TIFF file.
    axes : str, optional
        One letter per dimension of the file's first series (as tifffile
        reports its shape), from ``T Z C S Y X``; overrides the file's own
        axes. Needed when the file does not record them.
    channel : int, optional
        The channel (0-based) of a C axis (or of S samples); required when
        there are several channels; RGB samples without it give luminance.
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns; default: from the file's metadata.

    Attributes
    ----------
    axes : str
        The axes used (the file's, or ``axes``).
    shape : tuple of int
        The file's shape.
    n_frames, n_planes : int
        Time points and Z planes (1 where there is no T or Z axis).
    plane_shape : tuple of int
        ``(H, W)``.
    voxel_size : tuple of 3 float or None
        ``(z, y, x)`` microns, or None when unknown.
    planes_read : int
        How many planes were read so far.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing or unreadable file; axes that do not fit, are unknown, or
        include stacks along other dimensions; a missing or impossible channel.
    """

    def __init__(self, path: str | Path, axes: str | None = None, channel: int | None = None,
                 voxel_size: tuple[float, float, float] | None = None):
        import zarr

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such file")
        try:
            with tifffile.TiffFile(self.path) as tif:
                series = tif.series[0]
                file_axes, shape = series.axes, tuple(int(n) for n in series.shape)
                file_voxel = _voxel_size(tif)
            array = zarr.open(tifffile.imread(self.path, aszarr=True, series=0), mode="r")
            if not hasattr(array, "shape"):  # a pyramid: full resolution
                array = array["0"]
        except Exception as exc:
            raise ValueError(f"{self.path}: cannot read the image ({str(exc).strip() or type(exc).__name__}); "
                             "the file may be truncated or corrupt") from exc
        self._set_up(array, shape, _check_axes(axes, shape, self.path) if axes else file_axes, channel,
                     voxel_size or file_voxel)

    def _set_up(self, array, shape: tuple, axes: str, channel, voxel_size) -> None:
        self.axes, self.shape, self._array, self.channel = axes, shape, array, channel
        self._index = self._plan(channel)
        self.voxel_size = tuple(float(v) for v in voxel_size) if voxel_size else None
        if self.voxel_size is not None and (len(self.voxel_size) != 3 or min(self.voxel_size) <= 0):
            raise ValueError(f"{self.path}: voxel size {voxel_size} must be three positive numbers (z, y, x microns)")
        size = dict(zip(self.axes, shape))
        self.n_frames, self.n_planes = size.get("T", 1), size.get("Z", 1)
        self.plane_shape = (size["Y"], size["X"])
        self.planes_read = 0

    def _plan(self, channel):
        """Per axis: a fixed index, or the name of the loop variable (t, z) or of the plane (y, x, c)."""
        axes, shape, source = self.axes, self.shape, self.path
        if "Y" not in axes or "X" not in axes:
            raise ValueError(f"{source}: axes {axes} have no Y and X")
        unknown = [a for a, n in zip(axes, shape) if n > 1 and a not in _KNOWN]
        if unknown:
            what = ("the file does not record what its axes are" if set(unknown) <= set(_UNKNOWN)
                    else f"stacks along {', '.join(sorted(set(unknown)))} are not supported")
            raise ValueError(f"{source}: image of shape {'x'.join(map(str, shape))}, axes {axes}: {what}; "
                             "give the axes, one letter per dimension from T, Z, C, S, Y, X (e.g. axes 'ZYX' for a "
                             "Z-stack, 'TYX' for a time-lapse)")
        channels = [a for a, n in zip(axes, shape) if a in "CS" and n > 1]
        if len(channels) > 1:
            raise ValueError(f"{source}: channels and RGB samples (axes {axes}); save the nuclear channel alone")
        index = []
        for a, n in zip(axes, shape):
            if a in "TZ":
                index.append(a.lower())
            elif a in "YX":
                index.append(slice(None))
            elif a in channels:
                if channel is None and not (a == "S" and n in (3, 4)):
                    raise ValueError(f"{source}: {n} channels (axes {axes}); choose the nuclear channel (0-based)")
                if channel is not None and not 0 <= channel < n:
                    raise ValueError(f"{source}: channel {channel} requested but the image has {n} channels")
                index.append(slice(None) if channel is None else channel)
            else:
                if channel not in (None, 0):
                    raise ValueError(f"{source}: channel {channel} requested but the image has 1 channel")
                index.append(0)
        return index

    def plane(self, z: int = 0, t: int = 0) -> np.ndarray:
        """The ``(H, W)`` plane at depth ``z``, time ``t`` (only its pages are read).

        Returns
        -------
        numpy.ndarray
            The file's dtype (float32 luminance for RGB samples without a channel).
        """
        if not (0 <= z < self.n_planes and 0 <= t < self.n_frames):
            raise IndexError(f"plane z={z}, t={t} outside {self.n_planes} planes x {self.n_frames} frames")
        index = tuple({"z": z, "t": t}.get(i, i) if isinstance(i, str) else i for i in self._index)
        try:
            block = np.asarray(self._array[index])
        except Exception as exc:  # a damaged page shows only when it is read
            raise ValueError(f"{self.path}: cannot read plane z={z}, t={t} ({exc}); the file may be truncated "
                             "or corrupt") from exc
        self.planes_read += 1
        kept = [a for a, i in zip(self.axes, self._index) if isinstance(i, slice)]
        if len(kept) == 3:  # RGB(A) samples: luminance, as the 2-D reader does
            block = np.moveaxis(block, kept.index("S"), -1)[..., :3].astype(np.float32)
            block = block @ np.array([0.2989, 0.5870, 0.1140], np.float32)
            kept.remove("S")
        return block if kept == ["Y", "X"] else block.T

    def planes(self, t: int = 0) -> Iterator[np.ndarray]:
        """The Z planes of frame ``t``, read one at a time."""
        for z in range(self.n_planes):
            yield self.plane(z, t)


class ArrayStack(StackReader):
    """An in-memory stack (a NumPy array, or anything indexable like one:
    a memory map, a zarr array), read plane by plane as :class:`StackReader`
    reads a file, for hosts that hold their images in memory (CellProfiler,
    ImageJ through pyimagej).

    Parameters
    ----------
    array : array-like
        The stack; ``axes`` says what its dimensions are.
    axes : str
        One letter per dimension from ``T Z C S Y X`` (e.g. ``"ZYX"``).
    channel : int, optional
        As for :class:`StackReader`.
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns.
    name : str, default "image"
        What error messages call the stack.
    """

    def __init__(self, array, axes: str, channel: int | None = None,
                 voxel_size: tuple[float, float, float] | None = None, name: str = "image"):
        self.path = name
        shape = tuple(int(n) for n in array.shape)
        self._set_up(array, shape, _check_axes(axes, shape, name), channel, voxel_size)


def open_stack(path: str | Path, axes: str | None = None, channel: int | None = None,
               voxel_size: tuple[float, float, float] | None = None) -> StackReader:
    """A :class:`StackReader` for a TIFF (see there for the parameters)."""
    return StackReader(path, axes, channel, voxel_size)


def is_stack(path: str | Path, axes: str | None = None) -> bool:
    """Whether a TIFF is a Z-stack or time-lapse (a Z or T axis longer than
    1), by its own axes or ``axes``; reads the metadata only.

    Returns
    -------
    bool
        False for anything else (2-D images, channels, unknown axes, files
        that cannot be read: the 2-D reader reports those).
    """
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, file_axes = tuple(series.shape), series.axes
    except Exception:  # noqa: BLE001 - the 2-D reader names the problem
        return False
    axes = _check_axes(axes, shape, path) if axes else file_axes
    return any(a in "TZ" and n > 1 for a, n in zip(axes, shape))



def series_axes(n_frames: int, n_planes: int) -> str:
    """The ImageJ axes of a series' labels with frames and planes of size 1
    dropped: ``"TZYX"``, ``"TYX"``, ``"ZYX"`` or ``"YX"``."""
    return "T" * (n_frames > 1) + "Z" * (n_planes > 1) + "YX"


def write_stack_labels(path: str | Path, labels: np.ndarray, voxel_size=None, overwrite: bool = False,
                       axes: str = "ZYX") -> Path:
    """Write 3-D (or time-lapse) labels as an ImageJ hyperstack TIFF, atomically.

    Parameters
    ----------
    path : str or Path
    labels : numpy.ndarray or planes
        ``(Z, H, W)`` (or as ``axes`` says, e.g. ``(T, Z, H, W)`` for ``"TZYX"``)
        integer labels; written plane by plane. Or, for labels too large to
        hold, an object with that ``shape`` whose iteration yields the
        ``(H, W)`` planes in order (iterated twice: for the largest label,
        then to write).
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns, kept as the file's spacing and resolution.
    overwrite : bool, default False
        Replace an existing file.
    axes : str, default ``"ZYX"``

    Returns
    -------
    Path

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.

    Notes
    -----
    uint16; above 65535 labels float32 (exact to 2**24), as ImageJ has no
    32-bit integer images.
    """
    from .errors import OutputExistsError

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    # an array's planes, or those an object with a shape yields (iterated twice: largest label, then writing)
    planes = labels.reshape(-1, *labels.shape[-2:]) if isinstance(labels, np.ndarray) else labels
    largest = max((int(np.max(p, initial=0)) for p in planes), default=0)
    dtype = np.uint16 if largest <= np.iinfo(np.uint16).max else np.float32
    metadata = {"axes": axes}
    extra = {}
    if voxel_size:
        metadata |= {"spacing": float(voxel_size[0]), "unit": "um"}
        extra["resolution"] = (1 / float(voxel_size[2]), 1 / float(voxel_size[1]))

    def write(tmp):
        tifffile.imwrite(tmp, (np.asarray(p).astype(dtype) for p in planes), shape=labels.shape, dtype=dtype,
                         imagej=True, metadata=metadata, compression="zlib", **extra)

    return atomic_write(path, write)

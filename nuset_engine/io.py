"""Reading and writing images: tifffile for TIFF, imageio for PNG/JPEG.

Errors name the file and say what to do. Writes are atomic: data go to a
temporary file in the target folder, which is renamed into place only when
complete, so an interrupted run never leaves a half-written file.
"""
from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from .errors import ImageTooLargeError, OutputExistsError

__all__ = ["read_image", "read_plane", "to_grayscale", "write_labels", "write_csv", "atomic_write", "LazyPlane",
           "open_plane"]

_TIFF = {".tif", ".tiff"}
_OTHER = {".png", ".jpg", ".jpeg", ".bmp"}
IMAGE_SUFFIXES = tuple(sorted(_TIFF | _OTHER))  # what read_image reads


def _unreadable(path, exc: BaseException) -> ValueError:
    """The error for a file a reader fails on: its first line only (not
    imageio's plugin hints), or the exception's type when it says nothing."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ValueError(f"{path}: cannot read the image ({reason}); the file may be truncated or corrupt")


# tifffile's axis letters (``series.axes``): Y and X are the plane; C (channels)
# and S (samples: RGB) are channels; Q (other) and I (a page sequence) mean the
# file does not say; every other letter (Z depth, T time, ...) is a stack.
_CHANNEL_AXES = "CS"
_UNKNOWN_AXES = "QI"
_STACK_NAMES = {"Z": "a Z-stack", "T": "a time series"}
_ONE_PLANE = ("NuSeT segments single 2-D planes: save one plane (Fiji: Image > Stacks > Tools > Make Substack...), "
              "or one file per plane")


def _dims(shape) -> str:
    return "x".join(str(int(n)) for n in shape)


def _stack_error(source, shape, axes: str | None) -> ValueError | None:
    """The error for an image the file's own axes say is a stack (Z, time, or
    any other non-channel axis of size > 1); None when it is not one."""
    if axes is None or len(axes) != len(shape):
        return None
    letters = [a for a, n in zip(axes, shape) if n > 1 and a not in "YX" + _CHANNEL_AXES + _UNKNOWN_AXES]
    if not letters:
        return None
    names = getattr(tifffile.TIFF, "AXES_NAMES", {})  # "A" -> "angle", ...
    what = " and ".join(_STACK_NAMES.get(a, f"a stack along '{names.get(a, 'unknown')}' ({a})") for a in letters)
    return ValueError(f"{source}: {what} (axes {axes}, {_dims(shape)}); {_ONE_PLANE}")


def _plan(shape, axes: str | None, channel: int | None, source) -> tuple[int, int, int | None, bool]:
    """How one 2-D plane is taken from an array of ``shape``: the indices of
    its Y and X axes, of the channel axis (None if there is none), and whether
    the plane is the luminance of RGB(A) samples; other axes have size 1.

    With ``axes`` (tifffile's letters, one per axis) the file's own axes
    decide; without them, or where the file does not say (Q, I), the shape
    does: a small first or last axis (<= 8) is taken as channels.
    """
    shape = tuple(int(n) for n in shape)
    if axes is not None and "Y" in axes and "X" in axes:
        error = _stack_error(source, shape, axes)
        if error is not None:
            raise error
        extra = [i for i, n in enumerate(shape) if n > 1 and axes[i] not in "YX"]
        if not any(axes[i] in _UNKNOWN_AXES for i in extra):
            y, x = axes.index("Y"), axes.index("X")
            if not extra:
                _check_channel(channel, 1, source)
                return y, x, None, False
            if len(extra) > 1:  # channels of RGB images
                raise ValueError(f"{source}: an image with channels and RGB samples (axes {axes}, {_dims(shape)}); "
                                 "NuSeT reads one channel: save the nuclear channel as a single-plane image")
            c = extra[0]
            if channel is not None:
                _check_channel(channel, shape[c], source)
                return y, x, c, False
            if axes[c] == "S" and shape[c] in (3, 4) and c == len(shape) - 1:
                return y, x, c, True
            raise ValueError(f"{source}: {shape[c]}-channel image of shape {shape} (axes {axes}); choose one channel")
    kept = [i for i, n in enumerate(shape) if n != 1] if len(shape) > 2 else list(range(len(shape)))
    if len(kept) == 2:
        _check_channel(channel, 1, source)
        return kept[0], kept[1], None, False
    unknown = f"the file does not record its meaning (axes {axes})" if axes else "its meaning is unknown"
    if len(kept) == 3:
        channel_last = shape[kept[2]] <= 8 and shape[kept[0]] > 8
        c = kept[2] if channel_last else kept[0]
        y, x = (i for i in kept if i != c)
        n = shape[c]
        if channel is not None:
            _check_channel(channel, n, source)
            return y, x, c, False
        if channel_last and n in (3, 4):
            return y, x, c, True
        if n <= 8:
            raise ValueError(
                f"{source}: {n}-channel image of shape {shape}, taking its {'last' if channel_last else 'first'} "
                f"axis as channels, but {unknown}; choose one channel, or, if the {n} planes are Z slices or time "
                f"points, save one plane (Fiji: Image > Stacks > Tools > Make Substack...)")
    unknown = (f"the file does not record the meaning of its other axes (axes {axes})" if axes
               else "the meaning of its other axes is unknown")
    raise ValueError(f"{source}: image of shape {shape} is not a single 2-D plane and {unknown}; NuSeT segments "
                     "2-D images (split stacks into planes or pick one channel); a Z-stack or time-lapse is "
                     "segmented as one when its axes are given (e.g. axes ZYX or TYX)")


def _check_channel(channel: int | None, n: int, source) -> None:
    if channel is not None and not 0 <= channel < n:
        raise ValueError(f"{source}: channel {channel} requested but the image has {n} channel{'s' * (n != 1)}")


def _take(array, plan, rows=slice(None), cols=slice(None), channel: int | None = None) -> np.ndarray:
    """The region ``rows, cols`` of the plane ``plan`` (from :func:`_plan`) of
    ``array`` (numpy, or zarr: only that region is read)."""
    y, x, c, luminance = plan
    index = [0] * len(array.shape)
    index[y], index[x] = rows, cols
    if c is not None:
        index[c] = slice(None) if luminance else channel
    block = np.asarray(array[tuple(index)])
    order = sorted(i for i, v in enumerate(index) if isinstance(v, slice))
    wanted = [y, x, c] if luminance else [y, x]
    if order != wanted:
        block = block.transpose([order.index(i) for i in wanted])
    if luminance:
        block = block[..., :3].astype(np.float32) @ np.array([0.2989, 0.5870, 0.1140], np.float32)
    return block


def _read(path: str | Path) -> tuple[np.ndarray, str | None]:
    """The image of a file and its axes (tifffile's letters; None for PNG/JPEG).
    A TIFF whose axes say it is a stack (Z, time) is refused before its pixels
    are read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix not in _TIFF | _OTHER:
        raise ValueError(f"{path}: unsupported format {suffix!r}; use TIFF, PNG or JPEG")
    axes, refused = None, None
    try:
        if suffix in _TIFF:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                axes = series.axes
                refused = _stack_error(path, series.shape, axes)
                image = None if refused else tif.asarray()
        else:
            import imageio.v3 as iio

            image = np.asarray(iio.imread(path))
    except MemoryError:
        raise ImageTooLargeError(path) from None
    except Exception as exc:  # each reader raises its own types for corrupt data
        raise _unreadable(path, exc) from exc
    if refused is not None:
        raise refused
    if image.size == 0:
        raise ValueError(f"{path}: cannot read the image (no pixel data); the file may be truncated or corrupt")
    return image, axes


def read_image(path: str | Path) -> np.ndarray:
    """Read a TIFF/PNG/JPEG as a numpy array (channels kept).

    A TIFF's own axes (tifffile's ``series[0].axes``, from ImageJ or OME
    metadata) are checked: a stack (Z, time: an axis other than Y, X and
    channels, of size > 1) is refused, as NuSeT segments single 2-D planes.
    :func:`read_plane` also uses the axes to find the channels.

    Parameters
    ----------
    path : str or Path
        A ``.tif``/``.tiff``, ``.png``, ``.jpg``/``.jpeg`` or ``.bmp`` file.

    Returns
    -------
    numpy.ndarray
        The pixels as stored (any dtype; channels not selected).

    Raises
    ------
    FileNotFoundError, ValueError
        With the file name and the reason (missing, empty, unsupported,
        a stack, truncated or corrupt).
    ImageTooLargeError
        A ``MemoryError``: the image does not fit in memory; it carries
        the file and a tile size to segment it with (:func:`open_plane`).
    """
    return _read(path)[0]


def read_plane(path: str | Path, channel: int | None = None) -> np.ndarray:
    """The 2-D plane of an image file that NuSeT segments.

    :func:`read_image` then :func:`to_grayscale` with the file's own axes (a
    TIFF's C or S axis is its channels, whatever its size or place).

    Parameters
    ----------
    path : str or Path
        The image file.
    channel : int, optional
        The channel (0-based) of a multi-channel image; required when it has
        several.

    Returns
    -------
    numpy.ndarray
        ``(H, W)``, the file's dtype (float32 luminance for RGB(A) without
        ``channel``).

    Raises
    ------
    FileNotFoundError, ValueError, ImageTooLargeError
        As :func:`read_image`; ``ValueError`` also for a missing or
        impossible ``channel``.
    """
    image, axes = _read(path)
    return to_grayscale(image, channel, source=str(path), axes=axes)


def to_grayscale(image: np.ndarray, channel: int | None = None, source: str = "image",
                 axes: str | None = None) -> np.ndarray:
    """One 2-D plane from what readers return.

    Parameters
    ----------
    image : array_like
        What a reader returned.
    channel : int, optional
        The channel (0-based) to take from a multi-channel image.
    source : str, default ``"image"``
        Names the image in error messages (its file name).
    axes : str, optional
        tifffile's axis letters, one per dimension.

    Returns
    -------
    numpy.ndarray
        The ``(H, W)`` plane.

    Raises
    ------
    ValueError
        The plane cannot be chosen (a stack, several channels and no
        ``channel``, a ``channel`` out of range), naming ``source``.

    Notes
    -----
    With ``axes`` (tifffile's letters, one per dimension, e.g. ``"CYX"``,
    ``"YXS"``, ``"ZYX"``): axes of size 1 are dropped; a C (channels) or S
    (samples) axis is selected with ``channel``; RGB(A) samples without one
    give luminance; a Z, T or other stack axis of size > 1 is refused, naming
    the axes. Q and I (tifffile's "other" and "sequence") say nothing, and
    are handled as without ``axes``:

    - ``(H, W)``: returned as is.
    - ``(H, W, 3|4)`` RGB(A): ``channel`` if given, else luminance
      ``0.2989 R + 0.5870 G + 0.1140 B`` (as the original NuSeT did).
    - ``(C, H, W)`` with ``C <= 8`` or ``(H, W, C)``: taken as channels,
      ``channel`` is required.
    - Anything else (a stack, 4-D) is refused with the shape in the message.
    """
    image = np.asarray(image)
    if axes is not None and len(axes) != image.ndim:
        raise ValueError(f"{source}: axes {axes!r} given for an image of {image.ndim} dimensions {image.shape}")
    if image.ndim == 2 and axes is None:
        _check_channel(channel, 1, source)
        return image
    return _take(image, _plan(image.shape, axes, channel, source), channel=channel)


class LazyPlane:
    """One 2-D plane of a TIFF, read region by region (tifffile's zarr
    interface), for images too large to load whole: ``plane[y0:y1, x0:x1]``
    reads only the strips or tiles that region needs.

    Axes and channels follow :func:`to_grayscale` with the file's own axes:
    a stack (Z, time) is refused; ``(H, W)``; channels (C, S, or a small
    first or last axis where the file does not say) with ``channel``;
    RGB(A) without one gives luminance.

    Parameters
    ----------
    path : str or Path
        A TIFF file (use :func:`open_plane`, which checks it first).
    channel : int, optional
        As for :func:`read_plane`.

    Attributes
    ----------
    shape : tuple of int
        ``(H, W)``.
    dtype : numpy.dtype
        Of the regions read (float32 for RGB luminance).
    """

    def __init__(self, path: str | Path, channel: int | None = None):
        import zarr

        self.path = Path(path)
        try:
            with tifffile.TiffFile(self.path) as tif:
                axes = tif.series[0].axes
            store = tifffile.imread(self.path, aszarr=True)
            array = zarr.open(store, mode="r")
            if not hasattr(array, "shape"):  # a pyramid: full resolution
                array = array["0"]
        except Exception as exc:
            raise _unreadable(self.path, exc) from exc
        shape = tuple(int(v) for v in array.shape)
        if any(v == 0 for v in shape):
            raise ValueError(f"{self.path}: cannot read the image (no pixel data); the file may be truncated or corrupt")
        self._array, self.channel = array, channel
        self._plan = _plan(shape, axes if len(axes) == len(shape) else None, channel, self.path)
        y, x, _, luminance = self._plan
        self.shape = (shape[y], shape[x])
        self.dtype = np.dtype(np.float32) if luminance else array.dtype
        self.ndim = 2

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = key
        try:
            return _take(self._array, self._plan, rows, cols, self.channel)
        except Exception as exc:  # a damaged strip or tile shows only when it is read
            raise _unreadable(self.path, exc) from exc

    def __array__(self, dtype=None, copy=None):
        block = self[0 : self.shape[0], 0 : self.shape[1]]
        return block if dtype is None else block.astype(dtype)


def open_plane(path: str | Path, channel: int | None = None) -> LazyPlane:
    """A :class:`LazyPlane` for a TIFF, with the checks of :func:`read_image`.

    Parameters
    ----------
    path : str or Path
        A TIFF file.
    channel : int, optional
        As for :func:`read_plane`.

    Returns
    -------
    LazyPlane
        Sliced as ``plane[y0:y1, x0:x1]``; ``Segmenter.segment(plane,
        tile_size=...)`` reads it tile by tile.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing, empty, not a TIFF, unreadable, or not one 2-D plane.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes)")
    if path.suffix.lower() not in _TIFF:
        raise ValueError(f"{path}: only TIFF files can be read tile by tile; convert it to TIFF, or read it whole "
                         "with read_plane()")
    return LazyPlane(path, channel)


def atomic_write(path: str | Path, write, suffix: str | None = None) -> Path:
    """Write a file atomically: ``write(tmp_path)``, then rename to ``path``.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder is created if needed.
    write : callable
        Called with the temporary file's path (in ``path``'s folder); must
        write the whole file there.
    suffix : str, optional
        The temporary file's suffix (default: ``path``'s), for writers that
        choose the format by it.

    Returns
    -------
    Path
        ``path``. If ``write`` raises, the temporary file is removed and
        ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600 files; give the result the usual umask-based mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_labels(path: str | Path, labels: np.ndarray, overwrite: bool = False, tile: int | None = None,
                 max_label: int | None = None) -> Path:
    """Write a label image as a zlib-compressed TIFF (uint16, or uint32 above 65535).

    Parameters
    ----------
    path : str or Path
        The TIFF to write (atomically, see :func:`atomic_write`).
    labels : array_like
        ``(H, W)`` integer labels, 0 = background; with ``tile``, any
        array that slices (a memory map larger than memory).
    overwrite : bool, default False
        Replace an existing file.
    tile : int, optional
        Write a tiled TIFF of ``tile`` pixel tiles (a multiple of 16), tile
        by tile. Tiled TIFFs suit large images (QuPath, napari,
        Bio-Formats); plain ImageJ reads only untiled ones.
    max_label : int, optional
        The largest label, when known (spares a full read for the type).

    Returns
    -------
    Path

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False (a ``FileExistsError``).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    if max_label is None:
        max_label = int(np.max(labels, initial=0))
    dtype = np.uint16 if max_label <= np.iinfo(np.uint16).max else np.uint32
    if not tile:
        labels = np.asarray(labels)
        return atomic_write(path, lambda tmp: tifffile.imwrite(tmp, labels.astype(dtype), compression="zlib"))

    def tiles():
        for y in range(0, labels.shape[0], tile):
            for x in range(0, labels.shape[1], tile):
                yield np.asarray(labels[y : y + tile, x : x + tile]).astype(dtype)

    return atomic_write(path, lambda tmp: tifffile.imwrite(tmp, tiles(), shape=labels.shape, dtype=dtype,
                                                           tile=(tile, tile), compression="zlib"))


def write_csv(path: str | Path, rows: list[dict], columns: list[str]) -> Path:
    """Write dict rows as CSV with the given header, atomically.

    Parameters
    ----------
    path : str or Path
    rows : list of dict
        One dict per row; keys are columns (missing ones are left empty).
    columns : list of str
        The header, in order; every key of ``rows`` must be one of them.

    Returns
    -------
    Path
    """

    def write(tmp):
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    return atomic_write(path, write)

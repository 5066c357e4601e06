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

__all__ = ["read_image", "to_grayscale", "write_labels", "write_csv", "atomic_write", "LazyPlane", "open_plane"]

_TIFF = {".tif", ".tiff"}
_OTHER = {".png", ".jpg", ".jpeg", ".bmp"}
IMAGE_SUFFIXES = tuple(sorted(_TIFF | _OTHER))  # what read_image reads


def _unreadable(path, exc: BaseException) -> ValueError:
    """The error for a file a reader fails on: its first line only (not
    imageio's plugin hints), or the exception's type when it says nothing."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ValueError(f"{path}: cannot read the image ({reason}); the file may be truncated or corrupt")


def read_image(path: str | Path) -> np.ndarray:
    """Read a TIFF/PNG/JPEG as a numpy array (all planes/channels kept).

    Raises
    ------
    FileNotFoundError, ValueError
        With the file name and the reason (missing, empty, unsupported,
        truncated or corrupt).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix not in _TIFF | _OTHER:
        raise ValueError(f"{path}: unsupported format {suffix!r}; use TIFF, PNG or JPEG")
    try:
        if suffix in _TIFF:
            image = tifffile.imread(path)
        else:
            import imageio.v3 as iio

            image = np.asarray(iio.imread(path))
    except MemoryError:
        raise MemoryError(f"{path}: the image is too large to load whole; segment it in tiles (tile_size, "
                          "--tile-size 2048), which reads a TIFF region by region") from None
    except Exception as exc:  # each reader raises its own types for corrupt data
        raise _unreadable(path, exc) from exc
    if image.size == 0:
        raise ValueError(f"{path}: cannot read the image (no pixel data); the file may be truncated or corrupt")
    return image


def to_grayscale(image: np.ndarray, channel: int | None = None, source: str = "image") -> np.ndarray:
    """One 2-D plane from what readers return.

    - ``(H, W)``: returned as is.
    - ``(H, W, 3|4)`` RGB(A): ``channel`` if given, else luminance
      ``0.2989 R + 0.5870 G + 0.1140 B`` (as the original NuSeT did).
    - ``(C, H, W)`` with ``C <= 8`` or ``(H, W, C)``: ``channel`` is required.
    - Anything else (a stack, 4-D) is refused with the shape in the message.
    """
    image = np.asarray(image)
    image = np.squeeze(image) if image.ndim > 2 and min(image.shape) == 1 else image
    if image.ndim == 2:
        if channel not in (None, 0):
            raise ValueError(f"{source}: channel {channel} requested but the image has 1 channel")
        return image
    if image.ndim == 3:
        channel_last = image.shape[-1] <= 8 and image.shape[0] > 8
        n_channels = image.shape[-1] if channel_last else image.shape[0]
        if channel is not None:
            if not 0 <= channel < n_channels:
                raise ValueError(f"{source}: channel {channel} requested but the image has {n_channels} channels")
            return image[..., channel] if channel_last else image[channel]
        if channel_last and n_channels in (3, 4):
            rgb = image[..., :3].astype(np.float32)
            return rgb @ np.array([0.2989, 0.5870, 0.1140], np.float32)
        if n_channels <= 8:
            raise ValueError(f"{source}: {n_channels}-channel image of shape {image.shape}; choose one channel")
    raise ValueError(
        f"{source}: image of shape {image.shape} is not a single 2-D plane; NuSeT segments 2-D images "
        "(split stacks into planes or pick one channel)"
    )


class LazyPlane:
    """One 2-D plane of a TIFF, read region by region (tifffile's zarr
    interface), for images too large to load whole: ``plane[y0:y1, x0:x1]``
    reads only the strips or tiles that region needs.

    Channels follow :func:`to_grayscale`: ``(H, W)``; ``(H, W, C)`` or
    ``(C, H, W)`` with ``channel``; RGB(A) without one gives luminance.
    """

    def __init__(self, path: str | Path, channel: int | None = None):
        import zarr

        self.path = Path(path)
        try:
            store = tifffile.imread(self.path, aszarr=True)
            array = zarr.open(store, mode="r")
            if not hasattr(array, "shape"):  # a pyramid: full resolution
                array = array["0"]
        except Exception as exc:
            raise _unreadable(self.path, exc) from exc
        shape = tuple(int(v) for v in array.shape)
        if any(v == 0 for v in shape):
            raise ValueError(f"{self.path}: cannot read the image (no pixel data); the file may be truncated or corrupt")
        self._array, self._index, self.channel = array, None, channel
        squeezed = [i for i, v in enumerate(shape) if v != 1]
        if len(squeezed) == 2:
            if channel not in (None, 0):
                raise ValueError(f"{self.path}: channel {channel} requested but the image has 1 channel")
            self._axes = squeezed
            self._channel_axis = None
        elif len(squeezed) == 3:
            channel_last = shape[squeezed[2]] <= 8 and shape[squeezed[0]] > 8
            self._channel_axis = squeezed[2] if channel_last else squeezed[0]
            self._axes = [a for a in squeezed if a != self._channel_axis]
            n = shape[self._channel_axis]
            if channel is not None and not 0 <= channel < n:
                raise ValueError(f"{self.path}: channel {channel} requested but the image has {n} channels")
            if channel is None and not (channel_last and n in (3, 4)):
                raise ValueError(f"{self.path}: {n}-channel image of shape {shape}; choose one channel")
        else:
            raise ValueError(f"{self.path}: image of shape {shape} is not a single 2-D plane; NuSeT segments "
                             "2-D images (split stacks into planes or pick one channel)")
        self.shape = (shape[self._axes[0]], shape[self._axes[1]])
        self.dtype = np.dtype(np.float32) if channel is None and self._channel_axis is not None else array.dtype
        self.ndim = 2

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = key
        index = [0] * len(self._array.shape)
        index[self._axes[0]], index[self._axes[1]] = rows, cols
        if self._channel_axis is not None:
            index[self._channel_axis] = slice(None) if self.channel is None else self.channel
        try:
            block = np.asarray(self._array[tuple(index)])
        except Exception as exc:  # a damaged strip or tile shows only when it is read
            raise _unreadable(self.path, exc) from exc
        if self._channel_axis is not None and self.channel is None:
            if self._channel_axis < self._axes[0]:
                block = np.moveaxis(block, 0, -1)
            block = block[..., :3].astype(np.float32) @ np.array([0.2989, 0.5870, 0.1140], np.float32)
        return block

    def __array__(self, dtype=None, copy=None):
        block = self[0 : self.shape[0], 0 : self.shape[1]]
        return block if dtype is None else block.astype(dtype)


def open_plane(path: str | Path, channel: int | None = None) -> LazyPlane:
    """A :class:`LazyPlane` for a TIFF, with the checks of :func:`read_image`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes)")
    if path.suffix.lower() not in _TIFF:
        raise ValueError(f"{path}: only TIFF files can be read tile by tile; convert it or omit --tile-size")
    return LazyPlane(path, channel)


def atomic_write(path: str | Path, write, suffix: str | None = None) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` to ``path``."""
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

    With ``tile`` (pixels, a multiple of 16) the TIFF is tiled and written
    tile by tile, so ``labels`` may be a memory map larger than memory (pass
    ``max_label`` to spare a full read for the type). Tiled TIFFs suit large
    images (QuPath, napari, Bio-Formats); plain ImageJ reads only untiled ones.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or allow overwriting")
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
    """Write dict rows as CSV with the given header, atomically."""

    def write(tmp):
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    return atomic_write(path, write)

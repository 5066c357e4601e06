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

__all__ = ["read_image", "to_grayscale", "write_labels", "write_csv", "atomic_write"]

_TIFF = {".tif", ".tiff"}
_OTHER = {".png", ".jpg", ".jpeg", ".bmp"}


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
    except Exception as exc:  # each reader raises its own types for corrupt data
        raise ValueError(f"{path}: cannot read the image ({exc}); the file may be truncated or corrupt") from exc
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


def write_labels(path: str | Path, labels: np.ndarray, overwrite: bool = False) -> Path:
    """Write a label image as a zlib-compressed TIFF (uint16, or uint32 above 65535)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or allow overwriting")
    labels = np.asarray(labels)
    dtype = np.uint16 if labels.max(initial=0) <= np.iinfo(np.uint16).max else np.uint32
    return atomic_write(path, lambda tmp: tifffile.imwrite(tmp, labels.astype(dtype), compression="zlib"))


def write_csv(path: str | Path, rows: list[dict], columns: list[str]) -> Path:
    """Write dict rows as CSV with the given header, atomically."""

    def write(tmp):
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    return atomic_write(path, write)

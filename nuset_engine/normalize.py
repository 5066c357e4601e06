"""Intensity normalization: whole-image and foreground (NuSeT's two passes).

Both functions take any real-valued 2-D array and return float32 of the same
shape. Constant and all-zero images give an all-zero result, never NaN.
"""
from __future__ import annotations

import numpy as np

__all__ = ["whole_image_normalize", "foreground_normalize", "foreground_statistics", "normalize_with", "as_float_image"]

_EPS = 1e-5
_FLOAT32_SAFE = 1e30  # well inside float32 range, so sums and squares stay finite


def as_float_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as float32, with a clear error for what cannot be one.

    Raises
    ------
    ValueError
        If the array is not 2-D, is empty, is not numeric, or holds NaN/Inf.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(
            f"expected a 2-D grayscale image, got an array of shape {image.shape}; "
            "select one channel (and one plane) first"
        )
    if image.size == 0:
        raise ValueError(f"the image is empty (shape {image.shape})")
    if image.dtype == bool:
        image = image.astype(np.uint8)
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"unsupported pixel type {image.dtype}; use an integer or float image")
    if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
        raise ValueError(
            "the image contains NaN or infinite values; replace them (e.g. np.nan_to_num) first"
        )
    peak = max(abs(float(image.max())), abs(float(image.min())))
    if peak > _FLOAT32_SAFE:  # beyond float32: rescale (normalization removes the scale anyway)
        return (image.astype(np.float64) / peak).astype(np.float32)
    return image.astype(np.float32)


def normalize_with(image: np.ndarray, center: float, spread: float) -> np.ndarray:
    """``(image - center) / spread`` as float32 (zeros when ``spread`` is ~0):
    both normalizations with statistics computed elsewhere (image-wide, for
    tiles)."""
    if not np.isfinite(spread) or spread < _EPS:
        return np.zeros(image.shape, np.float32)
    return ((image - center) / (spread + _EPS)).astype(np.float32)


def whole_image_normalize(image: np.ndarray) -> np.ndarray:
    """``(image - mean) / std`` over all pixels (NuSeT pass 1).

    Parameters
    ----------
    image : (H, W) array of any real dtype.

    Returns
    -------
    (H, W) float32 array; zeros for a constant image.
    """
    image = as_float_image(image)
    # float64 statistics: float32 sums lose precision on megapixel images.
    return normalize_with(image, float(image.mean(dtype=np.float64)), float(image.std(dtype=np.float64)))


def foreground_normalize(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalize with statistics from pixels inside ``mask`` only (NuSeT pass 2).

    ``(image - mean(fg)) / std(fg)`` where ``fg = image[mask > 0]``. The paper
    text says mean; the original code used the median of non-zero masked
    pixels, which silently drops genuine zero-valued nuclei pixels. We use the
    mean of all masked pixels, as the paper describes.

    Parameters
    ----------
    image : (H, W) array of any real dtype.
    mask : (H, W) array; non-zero marks foreground (labels or booleans).

    Returns
    -------
    (H, W) float32 array. With fewer than two foreground pixels (an empty
    mask) it falls back to :func:`whole_image_normalize`.
    """
    image = as_float_image(image)
    mask = np.asarray(mask)
    if mask.shape != image.shape:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {image.shape}")
    fg = image[mask > 0]
    stats = foreground_statistics(fg.size, float(fg.mean(dtype=np.float64)), float(fg.std(dtype=np.float64))) \
        if fg.size else None
    return normalize_with(image, *stats) if stats else whole_image_normalize(image)


def foreground_statistics(count: int, mean: float, std: float) -> tuple[float, float] | None:
    """Pass 2's centre and spread from the foreground's pixel count, mean
    and standard deviation (gathered in one array or tile by tile).

    Returns
    -------
    tuple of float or None
        ``(mean, std)``; ``None`` when the foreground has fewer than two
        pixels or no spread (an empty pass-1 mask): then pass 2 normalizes
        as pass 1 did.
    """
    return (mean, std) if count >= 2 and std >= _EPS else None

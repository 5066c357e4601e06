"""Resizing on one image-wide pixel grid, computable window by window.

A tile of a resized image must hold exactly the pixels the whole resized
image holds there, or tiled and whole results drift apart. These functions
define the resize by global coordinates (pixel centres, as
``scipy.ndimage.zoom(grid_mode=True)`` and ``skimage.transform.resize`` do:
output pixel ``i`` samples input coordinate ``(i + 0.5) * f - 0.5`` with
``f = input size / output size``, after a Gaussian anti-aliasing filter of
sigma ``(f - 1) / 2`` when shrinking), so any window can be computed from the
input pixels around it alone.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .normalize import as_float_image

__all__ = ["scaled_shape", "resample_window", "nearest_window", "enlarge_labels_window"]


def scaled_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """Shape of an image of ``shape`` resized by ``scale`` (at least 1 x 1)."""
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def _axis(n_in: int, n_out: int, start: int, stop: int, sigma: float):
    """Input coordinates of output pixels ``start:stop`` and the input range
    (with room for the filter) they need."""
    coords = (np.arange(start, stop) + 0.5) * (n_in / n_out) - 0.5
    pad = int(4.0 * sigma + 0.5) + 2  # gaussian_filter's radius (truncate=4) plus interpolation
    lo = max(int(math.floor(coords[0])) - pad, 0)
    hi = min(int(math.ceil(coords[-1])) + pad + 1, n_in)
    return coords, lo, hi


def resample_window(source, shape_out: tuple[int, int], window: tuple[int, int, int, int],
                    origin: tuple[int, int] = (0, 0), shape_in: tuple[int, int] | None = None) -> np.ndarray:
    """Pixels ``window = (y0, y1, x0, x1)`` of the image of ``shape_in``
    resized (linear interpolation, anti-aliased) to ``shape_out``.

    ``source`` holds the input image from pixel ``origin`` on (the whole
    image by default; any array-like that slices, e.g. a zarr array); it must
    cover the input pixels the window needs (the window's footprint plus the
    filter's reach), clipped to the image. Returns float32.
    """
    shape_in = tuple(source.shape) if shape_in is None else shape_in
    factors = (shape_in[0] / shape_out[0], shape_in[1] / shape_out[1])
    sigma = tuple(max(0.0, (f - 1) / 2) for f in factors)
    ys, ry0, ry1 = _axis(shape_in[0], shape_out[0], window[0], window[1], sigma[0])
    xs, rx0, rx1 = _axis(shape_in[1], shape_out[1], window[2], window[3], sigma[1])
    oy, ox = origin
    block = as_float_image(np.asarray(source[ry0 - oy:ry1 - oy, rx0 - ox:rx1 - ox]))
    if any(sigma):
        block = ndimage.gaussian_filter(block, sigma, mode="mirror")
    # linear interpolation, separable: rows, then columns
    return _interp_axis(_interp_axis(block, ys - ry0, 0), xs - rx0, 1)


def _interp_axis(block: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    coords = np.clip(coords, 0, block.shape[axis] - 1)
    low = np.floor(coords).astype(np.intp)
    high = np.minimum(low + 1, block.shape[axis] - 1)
    weight = (coords - low).astype(np.float32)
    shape = [1, 1]
    shape[axis] = -1
    weight = weight.reshape(shape)
    a, b = np.take(block, low, axis=axis), np.take(block, high, axis=axis)
    return (a * (1 - weight) + b * weight).astype(np.float32)


def nearest_window(source: np.ndarray, shape_src: tuple[int, int], shape_out: tuple[int, int],
                   window: tuple[int, int, int, int], origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Pixels ``window`` of the image of ``shape_src`` resized to
    ``shape_out`` by nearest neighbour (for labels): each output pixel takes
    the source pixel that contains its centre. ``source`` holds the source
    image from pixel ``origin`` on and must cover the window's footprint."""
    rows = np.minimum(((np.arange(window[0], window[1]) + 0.5) * (shape_src[0] / shape_out[0])).astype(np.intp),
                      shape_src[0] - 1) - origin[0]
    cols = np.minimum(((np.arange(window[2], window[3]) + 0.5) * (shape_src[1] / shape_out[1])).astype(np.intp),
                      shape_src[1] - 1) - origin[1]
    if rows.size and (rows.min() < 0 or rows.max() >= source.shape[0] or cols.min() < 0
                      or cols.max() >= source.shape[1]):
        raise ValueError("the source does not cover the requested window")
    return source[rows[:, None], cols[None, :]]


def enlarge_labels_window(labels: np.ndarray, foreground: np.ndarray, shape_src: tuple[int, int],
                          shape_out: tuple[int, int], window: tuple[int, int, int, int],
                          origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Pixels ``window`` of labels made on a coarse grid (``shape_src``)
    brought to a finer one (``shape_out``), with outlines that follow
    ``foreground`` on the fine grid.

    Enlarged by nearest neighbour alone, outlines come out as steps of the
    coarse pixels. Here each label is first grown by one coarse pixel into
    the background (:func:`skimage.segmentation.expand_labels`); then a fine
    pixel keeps its label where ``foreground`` (``(y1 - y0, x1 - x0)`` bool,
    e.g. the network's foreground probability resampled linearly, > 0.5)
    says it is a nucleus, or where the coarse pixel lies inside its object
    (all four neighbours share its label: holes the clean-up filled stay
    filled). Boundaries between touching nuclei keep the coarse grid's.
    ``labels`` holds the coarse labels from pixel ``origin`` on (see
    :func:`nearest_window`); returns the labels' dtype.
    """
    from skimage.segmentation import expand_labels

    cross = ndimage.generate_binary_structure(2, 1)
    inside = (labels > 0) & (ndimage.minimum_filter(labels, footprint=cross, mode="nearest")
                             == ndimage.maximum_filter(labels, footprint=cross, mode="nearest"))
    grown = nearest_window(expand_labels(labels, 1), shape_src, shape_out, window, origin)
    keep = np.asarray(foreground, bool) | nearest_window(inside, shape_src, shape_out, window, origin)
    return np.where(keep, grown, 0).astype(labels.dtype, copy=False)

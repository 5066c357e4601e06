"""Per-pixel training targets: U-Net weight maps (Ronneberger et al. 2015),
as NuSeT trains with them, and the centre-distance map of the optional
distance head."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["unet_weight_map", "touching_border", "centre_distance"]


def touching_border(labels: np.ndarray) -> np.ndarray:
    """Nucleus pixels with a pixel of another nucleus among their 8
    neighbours: a strip two pixels wide where touching nuclei meet."""
    lab = np.asarray(labels).astype(np.int64)
    big = int(lab.max(initial=0)) + 1  # (not int64's max: ndimage's filters overflow on it)
    upper = ndimage.maximum_filter(lab, size=3, mode="nearest")
    lower = ndimage.minimum_filter(np.where(lab > 0, lab, big), size=3, mode="nearest")
    return (lab > 0) & ((upper != lab) | (lower != lab))


def centre_distance(labels: np.ndarray) -> np.ndarray:
    """Per nucleus, each pixel's distance to the nucleus' edge (background
    or a touching neighbour), divided by the nucleus' largest: 1 at its
    centre, falling to 0 at its edges, 0 on background. Touching nuclei are
    two hills with a valley between them even where the foreground mask
    joins them, which is what the watershed needs.

    Returns (H, W) float32 in [0, 1].
    """
    labels = np.asarray(labels)
    inside = (labels > 0) & ~touching_border(labels)
    distance = ndimage.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]  # the image edge is an edge
    n = int(labels.max(initial=0))
    if n == 0:
        return np.zeros(labels.shape, np.float32)
    peak = np.asarray(ndimage.maximum(distance, labels, np.arange(n + 1)), np.float64)
    peak[peak == 0] = 1
    return (distance / peak[labels]).astype(np.float32) * (labels > 0)


def unet_weight_map(labels: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """Class-balance weights plus a border term between close nuclei.

    ``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))**2 / (2 * sigma**2))`` on
    background pixels, where ``d1``/``d2`` are the distances (pixels) to the
    nearest and second-nearest nucleus. ``w_c`` is the inverse class
    frequency scaled to a maximum of 1. (The original divided by ``2*sigma``
    with sigma=25, i.e. an effective sigma of 5 px, which we use directly.)

    Parameters
    ----------
    labels : (H, W) integer instance labels, 0 = background.

    Returns
    -------
    (H, W) float32 weights.
    """
    labels = np.asarray(labels)
    fg = labels > 0
    freq_fg = fg.mean()
    if freq_fg in (0.0, 1.0):
        weights = np.ones(labels.shape, np.float32)
    else:
        inv = np.where(fg, 1 / freq_fg, 1 / (1 - freq_fg))
        weights = (inv / inv.max()).astype(np.float32)
    slices = ndimage.find_objects(labels)
    if sum(s is not None for s in slices) < 2:
        return weights
    # Beyond d1 + d2 > 3*sigma*sqrt(2)... the term is < w0 * 1e-4: only look nearby.
    margin = int(np.ceil(4.5 * sigma))
    h, w = labels.shape
    d1 = np.full(labels.shape, np.inf, np.float32)
    d2 = np.full(labels.shape, np.inf, np.float32)
    for index, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        r0, r1 = max(sl[0].start - margin, 0), min(sl[0].stop + margin, h)
        c0, c1 = max(sl[1].start - margin, 0), min(sl[1].stop + margin, w)
        dist = ndimage.distance_transform_edt(labels[r0:r1, c0:c1] != index).astype(np.float32)
        a, b = d1[r0:r1, c0:c1], d2[r0:r1, c0:c1]
        b[...] = np.minimum(b, np.maximum(a, dist))
        a[...] = np.minimum(a, dist)
    border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
    weights += np.where(fg | ~np.isfinite(d2), 0, border).astype(np.float32)
    return weights

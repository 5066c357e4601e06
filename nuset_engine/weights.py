"""U-Net weight maps (Ronneberger et al. 2015), as NuSeT trains with them."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["unet_weight_map"]


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

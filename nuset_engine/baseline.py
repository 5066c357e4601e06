"""The classical baseline NuSeT is compared with: Otsu threshold, then a
distance-transform watershed (the approach of CellProfiler's
IdentifyPrimaryObjects), built from scikit-image."""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_otsu
from skimage.segmentation import watershed

from .normalize import as_float_image
from .watershed import clean_labels

__all__ = ["otsu_watershed"]


def otsu_watershed(image: np.ndarray, smoothing: float = 1.0, min_distance: int = 5,
                   min_size_fraction: float = 0.2) -> np.ndarray:
    """Labels from Otsu thresholding and a watershed seeded at distance maxima.

    Parameters
    ----------
    smoothing : Gaussian sigma (pixels) before thresholding.
    min_distance : minimum distance (pixels) between seeds.
    """
    image = gaussian(as_float_image(image), smoothing, preserve_range=True)
    if np.ptp(image) == 0:
        return np.zeros(image.shape, np.uint16)
    mask = ndimage.binary_fill_holes(image > threshold_otsu(image))
    distance = ndimage.distance_transform_edt(mask)
    components, _ = ndimage.label(mask)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=components, exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return clean_labels(watershed(-distance, markers, mask=mask), min_size_fraction)

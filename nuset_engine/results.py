"""What a segmentation returns besides the labels."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .options import SegmentOptions

__all__ = ["SegmentationDetails", "empty_result"]


@dataclass
class SegmentationDetails:
    """What :meth:`Segmenter.segment` computed besides the labels.

    Coordinates are in input-image pixels. ``boxes`` ``(N, 4)`` as
    ``(x1, y1, x2, y2)`` with ``scores`` ``(N,)``; ``foreground_probability``
    ``(H, W)`` float32 from the final pass; ``scale`` is the factor the image
    was resized by internally; ``nucleus_size`` the median nucleus size
    (pixels, input scale) used for the anchors; ``options`` those the
    segmentation ran with (``two_pass`` resolved to what ran).
    """

    foreground_probability: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    scale: float
    nucleus_size: float
    options: SegmentOptions = field(default_factory=SegmentOptions)


def empty_result(shape, options: SegmentOptions, return_details: bool):
    """Labels (and details) of an image without nuclei: no contrast."""
    labels = np.zeros(shape, np.uint16)
    if not return_details:
        return labels
    return labels, SegmentationDetails(np.zeros(shape, np.float32), np.zeros((0, 4)), np.zeros(0), 1.0, 0.0, options)

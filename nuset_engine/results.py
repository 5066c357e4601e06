"""What a segmentation returns besides the labels."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SegmentationDetails", "empty_result"]


@dataclass
class SegmentationDetails:
    """What :meth:`Segmenter.segment` computed besides the labels.

    Coordinates are in input-image pixels. ``boxes`` ``(N, 4)`` as
    ``(x1, y1, x2, y2)`` with ``scores`` ``(N,)``; ``foreground_probability``
    ``(H, W)`` float32 from the final pass; ``scale`` is the factor the image
    was resized by internally; ``nucleus_size`` the median nucleus size
    (pixels, input scale) used for the anchors.
    """

    foreground_probability: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    scale: float
    nucleus_size: float
    params: dict = field(default_factory=dict)


def empty_result(shape, params: dict, return_details: bool):
    """Labels (and details) of an image without nuclei: no contrast."""
    labels = np.zeros(shape, np.uint16)
    if not return_details:
        return labels
    return labels, SegmentationDetails(np.zeros(shape, np.float32), np.zeros((0, 4)), np.zeros(0), 1.0, 0.0, params)

"""Nucleus sizes from the network's maps and from labels: what sets the
internal scale, the anchor size and the clean-up's size limit, for whole
images and tiles alike (:mod:`.pipeline`)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["CORE_LEVEL", "COARSE_SCALE", "interior_mask", "component_sizes", "component_boxes", "label_boxes", "label_sizes",
           "typical_size", "min_object_size"]

# Centre distance (0 at a nucleus' edge, 1 at its centre) above which a
# foreground pixel belongs to a nucleus core; chosen on the validation split.
CORE_LEVEL = 0.3
# Resolution of the first look for the nucleus size (see pipeline.first_look).
COARSE_SCALE = 0.25


def interior_mask(maps: np.ndarray) -> np.ndarray:
    """The foreground's nucleus cores: where the predicted centre distance
    exceeds :data:`CORE_LEVEL` (touching nuclei fall apart there); the plain
    foreground mask for models without the distance head."""
    mask = maps[0] > 0.5
    return mask & (maps[1] > CORE_LEVEL) if len(maps) > 1 else mask


def component_sizes(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area and ``max(bbox height, bbox width)`` (pixels) of each
    8-connected component of ``mask``."""
    return label_sizes(ndimage.label(mask, structure=np.ones((3, 3), int))[0])


def component_boxes(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`component_sizes`, with the centres of the components'
    bounding boxes (:func:`label_boxes`)."""
    return label_boxes(ndimage.label(mask, structure=np.ones((3, 3), int))[0])


def label_boxes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`label_sizes`, with the ``(N, 2)`` ``(row, col)`` centres
    of the objects' bounding boxes (NaN for ids not present)."""
    n = int(labels.max(initial=0))
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    sides, centres = np.zeros(n, np.int64), np.full((n, 2), np.nan)
    for i, sl in enumerate(ndimage.find_objects(labels, n)):
        if sl is not None:
            sides[i] = max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
            centres[i] = (sl[0].start + sl[0].stop - 1) / 2, (sl[1].start + sl[1].stop - 1) / 2
    return areas, sides, centres


def label_sizes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area and ``max(bbox height, bbox width)`` of objects ``1..labels.max()``
    (index ``i - 1`` for object ``i``; 0 for ids not present)."""
    return label_boxes(labels)[:2]


def typical_size(areas: np.ndarray, sides: np.ndarray) -> float | None:
    """Median side of the objects of at least a fifth of the mean area (so
    specks do not drag it down); what the anchors are scaled to. ``None``
    without objects."""
    areas, sides = np.asarray(areas), np.asarray(sides)
    if areas.size == 0:
        return None
    return float(np.median(sides[areas >= max(1, int(0.2 * areas.mean()))]))


def min_object_size(areas: np.ndarray, fraction: float) -> int:
    """The clean-up's size limit: ``fraction`` x the mean area of the pass-1
    objects (pixels, at least 1)."""
    return max(1, int(fraction * np.mean(areas))) if len(areas) else 1

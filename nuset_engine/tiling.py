"""Tiled network passes: bounded memory for large images, same result.

The image is cut into overlapping tiles whose cores tile the image exactly;
each tile is run with a margin of context on every side and only its core is
kept. Tile and core edges are multiples of the network stride (16), so every
RPN feature cell of a core lies on the same absolute grid as in a whole-image
pass, and the stitched outputs equal the whole-image ones up to the context
the margin cuts off (far beyond where the network looks in practice).
Normalization statistics and the anchor size are computed image-wide by the
caller, never per tile.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch

from .network import STRIDE

__all__ = ["tile_windows", "tiled_forward", "DEFAULT_MARGIN"]

DEFAULT_MARGIN = 64  # pixels of context on each side of a tile's core


def _round_down(value: int, step: int = STRIDE) -> int:
    return max(step, value // step * step)


def tile_windows(height: int, width: int, tile_size: int, margin: int = DEFAULT_MARGIN) -> Iterator[tuple]:
    """Yield ``(core, tile)`` windows as ``(y0, y1, x0, x1)`` for an image whose
    sides are multiples of 16. Cores partition the image; tiles add ``margin``."""
    core = tile_size - 2 * margin
    for cy in range(0, height, core):
        for cx in range(0, width, core):
            core_win = (cy, min(cy + core, height), cx, min(cx + core, width))
            tile_win = (max(cy - margin, 0), min(cy + core + margin, height),
                        max(cx - margin, 0), min(cx + core + margin, width))
            yield core_win, tile_win


def tiled_forward(forward: Callable, padded: np.ndarray, tile_size: int, margin: int = DEFAULT_MARGIN):
    """Run ``forward`` tile by tile over ``padded`` (sides multiples of 16).

    ``forward(array) -> (prob (h, w) ndarray, objectness (A, h/16, w/16),
    box_deltas (4A, h/16, w/16))``. Returns the same three for the whole image.
    """
    height, width = padded.shape
    if height % STRIDE or width % STRIDE:
        raise ValueError("tiled_forward needs an image padded to multiples of 16")
    tile_size = _round_down(int(tile_size))
    if tile_size < 2 * margin + STRIDE:
        raise ValueError(f"tile_size must be at least {2 * margin + STRIDE} pixels, got {tile_size}")
    prob = np.zeros((height, width), np.float32)
    objectness = deltas = None
    for (cy0, cy1, cx0, cx1), (ty0, ty1, tx0, tx1) in tile_windows(height, width, tile_size, margin):
        p, o, d = forward(padded[ty0:ty1, tx0:tx1])
        prob[cy0:cy1, cx0:cx1] = p[cy0 - ty0 : cy1 - ty0, cx0 - tx0 : cx1 - tx0]
        if objectness is None:
            objectness = torch.zeros((o.shape[0], height // STRIDE, width // STRIDE), dtype=o.dtype)
            deltas = torch.zeros((d.shape[0], height // STRIDE, width // STRIDE), dtype=d.dtype)
        s = STRIDE
        core = (slice(cy0 // s, cy1 // s), slice(cx0 // s, cx1 // s))
        local = (slice((cy0 - ty0) // s, (cy1 - ty0) // s), slice((cx0 - tx0) // s, (cx1 - tx0) // s))
        objectness[(slice(None),) + core] = o[(slice(None),) + local].cpu()
        deltas[(slice(None),) + core] = d[(slice(None),) + local].cpu()
    return prob, objectness, deltas

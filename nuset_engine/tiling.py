"""Tile geometry for :mod:`.pipeline`: which tiles, what each reads, which
of its objects it keeps, and where pass 1's outputs wait for the final sweep.

The image is cut into overlapping tiles whose cores partition it. A tile is
its core plus a margin of context; a nucleus is kept from the one tile whose
core holds the centre of its bounding box, and only if it does not touch
that tile's cut edges (:func:`owned_objects`). A whole image is the one-tile
case: its core is the image and no edge is cut, so every object is kept.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from scipy import ndimage

from .normalize import as_float_image
from .options import AUTO_TILE_SIZE, DEFAULT_MARGIN, MIN_CORE, MIN_TILE_SIZE, option
from .resample import resample_window, scaled_shape

__all__ = ["tile_windows", "tile_size_for", "Moments", "DEFAULT_MARGIN", "MIN_CORE", "MIN_TILE_SIZE",
           "AUTO_TILE_SIZE"]


def tile_size_for(tile_size: int | str | None, shape: tuple[int, ...]) -> int | None:
    """The tile side to segment an image of ``shape`` with, or ``None`` for
    the whole image at once.

    ``tile_size``: ``"auto"`` (tiles of :data:`AUTO_TILE_SIZE` for images of
    more than ``AUTO_TILE_SIZE**2`` pixels), ``0`` or ``None`` (whole), or a
    side in pixels (tiles when the image's longer side exceeds it).
    """
    h, w = (int(v) for v in shape[-2:])
    tile_size = option("tile_size").check(tile_size)
    if tile_size == "auto":
        return AUTO_TILE_SIZE if h * w > AUTO_TILE_SIZE**2 else None
    return tile_size if tile_size and max(h, w) > tile_size else None


class Moments:
    """Count, mean, variance, min and max accumulated over chunks
    (Chan et al.'s parallel update, float64), so image-wide statistics need
    one chunk at a time."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, 0.0, 0.0
        self.lo, self.hi = math.inf, -math.inf

    def add(self, values: np.ndarray) -> None:
        n = int(values.size)
        if n == 0:
            return
        mean = float(values.mean(dtype=np.float64))
        deviation = values.astype(np.float64).ravel() - mean  # float32 squares overflow near 1.8e19
        m2 = float(deviation @ deviation)
        delta, total = mean - self.mean, self.n + n
        self.mean += delta * n / total
        self.m2 += m2 + delta**2 * self.n * n / total
        self.n = total
        self.lo, self.hi = min(self.lo, float(values.min())), max(self.hi, float(values.max()))

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else 0.0


def tile_windows(height: int, width: int, core: int, margin: int) -> Iterator[tuple]:
    """Yield ``(core, tile)`` windows as ``(y0, y1, x0, x1)``: cores of side
    ``core`` partition the image, tiles add ``margin`` on every side."""
    for cy in range(0, height, core):
        for cx in range(0, width, core):
            yield ((cy, min(cy + core, height), cx, min(cx + core, width)),
                   (max(cy - margin, 0), min(cy + core + margin, height),
                    max(cx - margin, 0), min(cx + core + margin, width)))


def work_tiles(shape_in, scale: float, tile_size: int | None, margin: int) -> list[tuple]:
    """``(core, tile)`` windows on the image resized by ``scale`` (the
    network's grid); ``tile_size=None``: one tile, the whole image. A shrunk
    image gets proportionally smaller tiles, so that a tile's footprint on
    the input (read, and labelled there) stays within ``tile_size`` pixels a
    side."""
    h, w = scaled_shape(shape_in, scale)
    if tile_size is None:
        return [((0, h, 0, w), (0, h, 0, w))]
    tile_size = max(MIN_TILE_SIZE, round(tile_size * min(scale, 1.0)))
    return list(tile_windows(h, w, max(tile_size - 2 * margin, MIN_CORE), margin))


def read_tile(image, tile, scale: float) -> np.ndarray:
    """One tile of the image resized by ``scale``, as float32."""
    if scale == 1.0:
        return as_float_image(np.asarray(image[tile[0]:tile[1], tile[2]:tile[3]]))
    return resample_window(image, scaled_shape(image.shape, scale), tile)


def owned_objects(labels: np.ndarray, core, tile, shape) -> np.ndarray:
    """Ids of the objects of a tile's ``labels`` that this tile keeps:
    bounding-box centre in the core, no contact with an edge where the tile
    was cut out of the image (``shape``)."""
    y0, y1, x0, x1 = tile
    cy0, cy1, cx0, cx1 = core[0] - y0, core[1] - y0, core[2] - x0, core[3] - x0
    h, w = labels.shape
    cut = (y0 > 0, y1 < shape[0], x0 > 0, x1 < shape[1])  # top, bottom, left, right
    keep = []
    for index, (r, c) in enumerate(ndimage.find_objects(labels), start=1) if labels.any() else ():
        if r is None:
            continue
        if (cut[0] and r.start == 0) or (cut[1] and r.stop == h) or (cut[2] and c.start == 0) or (cut[3] and c.stop == w):
            continue
        if cy0 <= (r.start + r.stop - 1) / 2 < cy1 and cx0 <= (c.start + c.stop - 1) / 2 < cx1:
            keep.append(index)
    return np.array(keep, dtype=np.int64)


def input_rows(n_in: int, n_work: int) -> np.ndarray:
    """For each input row (or column), the network-grid row holding its centre."""
    return np.minimum(((np.arange(n_in) + 0.5) * (n_work / n_in)).astype(np.intp), n_work - 1)


class TileStore:
    """Network outputs of pass 1's tiles, kept for a final sweep that would
    compute them again: in memory for a single tile (a whole image), else in
    files of a temporary directory (in ``folder``, the ``scratch_dir``
    option, when given; about 9 bytes per pixel with the distance head).
    Files are removed by :meth:`close`."""

    def __init__(self, in_memory: bool, folder: str | None = None):
        self._memory: dict | None = {} if in_memory else None
        self._dir = None if in_memory else tempfile.TemporaryDirectory(prefix="nuset-tiles-", dir=folder)

    def put(self, index: int, maps: np.ndarray, objectness: torch.Tensor, deltas: torch.Tensor) -> None:
        if self._memory is not None:
            self._memory[index] = (maps, objectness, deltas)
            return
        np.savez(Path(self._dir.name) / f"{index}.npz", maps=maps, objectness=objectness.cpu().numpy(),
                 deltas=deltas.cpu().numpy())

    def get(self, index: int, device) -> tuple:
        if self._memory is not None:
            return self._memory[index]
        with np.load(Path(self._dir.name) / f"{index}.npz") as f:
            return (f["maps"], torch.from_numpy(f["objectness"]).to(device),
                    torch.from_numpy(f["deltas"]).to(device))

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
        self._memory = None if self._memory is None else {}

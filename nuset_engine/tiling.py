"""Tiled segmentation: bounded memory for large images, labels merged across seams.

The image is cut into overlapping tiles whose cores partition it. Each tile
(core plus a margin of context) runs the whole pipeline: network passes,
proposals, watershed. A nucleus is kept from the one tile whose core holds
the centre of its bounding box, and only if it does not touch that tile's
cut edges; the margin (at least twice the nucleus size) makes sure such a
tile exists for every nucleus, so no nucleus is cut in two or counted twice.

What must be image-wide is computed image-wide, in sweeps over the tiles
before any label is written: the intensity statistics of pass 1, the
foreground statistics of pass 2, the nucleus size (hence the resize factor
and the anchor size). Only one tile's worth of intermediate data is ever in
memory; the input may be a memory map or a zarr array read tile by tile, and
the labels may go to a memory map (see :func:`segment_tiled`).

Without the foreground pass, the final sweep's network input is pass 1's
(same tiles, same normalization), so pass 1 keeps its outputs in temporary
files (:class:`_TileStore`) and the final sweep reads them back instead of
running the network again: one network pass per pixel, as for whole images.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from scipy import ndimage

from .anchors import DEFAULT_BASE_SIZE
from .normalize import as_float_image, normalize_with
from .options import AUTO_TILE_SIZE, DEFAULT_MARGIN, MIN_CORE, MIN_TILE_SIZE, SegmentOptions, option
from .results import SegmentationDetails, empty_result
from .sizes import COARSE_SCALE, interior_mask, label_boxes, min_object_size, typical_size
from .resample import enlarge_labels_window, nearest_window, resample_window, scaled_shape
from .watershed import label_dtype

__all__ = ["tile_windows", "segment_tiled", "tile_size_for", "Moments", "DEFAULT_MARGIN", "MIN_CORE", "MIN_TILE_SIZE",
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


def _work_tiles(shape_in, scale: float, tile_size: int, margin: int):
    """Tile windows on the image resized by ``scale`` (the network's grid).
    A shrunk image gets proportionally smaller tiles, so that a tile's
    footprint on the input (read, and labelled there) stays within
    ``tile_size`` pixels a side."""
    shape = scaled_shape(shape_in, scale)
    tile_size = max(MIN_TILE_SIZE, round(tile_size * min(scale, 1.0)))
    return tile_windows(shape[0], shape[1], max(tile_size - 2 * margin, MIN_CORE), margin)


def _read(image, tile, scale: float) -> np.ndarray:
    """One tile of the image resized by ``scale``, as float32."""
    if scale == 1.0:
        return as_float_image(np.asarray(image[tile[0]:tile[1], tile[2]:tile[3]]))
    return resample_window(image, scaled_shape(image.shape, scale), tile)


def _owned(labels: np.ndarray, core, tile, shape) -> np.ndarray:
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


class _TileStore:
    """Network outputs of pass 1's tiles, in files of a temporary directory
    (in ``folder``, the ``scratch_dir`` option, when given; about 9 bytes per
    pixel with the distance head), for a final sweep that
    would compute them again. Removed by :meth:`close`."""

    def __init__(self, folder: str | None = None):
        self._dir = tempfile.TemporaryDirectory(prefix="nuset-tiles-", dir=folder)

    def put(self, index: int, maps: np.ndarray, objectness: torch.Tensor, deltas: torch.Tensor) -> None:
        np.savez(Path(self._dir.name) / f"{index}.npz", maps=maps, objectness=objectness.cpu().numpy(),
                 deltas=deltas.cpu().numpy())

    def get(self, index: int, device) -> tuple:
        with np.load(Path(self._dir.name) / f"{index}.npz") as f:
            return (f["maps"], torch.from_numpy(f["objectness"]).to(device),
                    torch.from_numpy(f["deltas"]).to(device))

    def close(self) -> None:
        self._dir.cleanup()


def _pass_one(segmenter, image, mean, std, scale, tile_size, store: _TileStore | None = None):
    """Pass 1 over all tiles: the foreground intensity moments, and the
    area, size and bounding-box centre (network scale) of each object a tile
    owns. With ``store``, the network outputs of each tile are kept there."""
    fg, areas, sides, centres = Moments(), [], [], []
    shape = scaled_shape(image.shape, scale)
    for index, (core, tile) in enumerate(_work_tiles(image.shape, scale, tile_size, DEFAULT_MARGIN)):
        block = _read(image, tile, scale)
        maps, objectness, deltas = segmenter.network_maps(normalize_with(block, mean, std))
        if store is not None:
            store.put(index, maps, objectness, deltas)
        objects, _ = ndimage.label(interior_mask(maps), structure=np.ones((3, 3), int))
        owned = _owned(objects, core, tile, shape)
        tile_areas, tile_sides, tile_centres = label_boxes(objects)
        areas.extend(tile_areas[owned - 1])
        sides.extend(tile_sides[owned - 1])
        centres.extend(tile_centres[owned - 1] + (tile[0], tile[2]))
        inner = (slice(core[0] - tile[0], core[1] - tile[0]), slice(core[2] - tile[2], core[3] - tile[2]))
        fg.add(block[inner][maps[0][inner] > 0.5])
    return fg, np.array(areas, np.int64), np.array(sides, np.int64), np.array(centres, np.float64).reshape(-1, 2)


def _input_rows(n_in: int, n_work: int) -> np.ndarray:
    """For each input row (or column), the network-grid row holding its centre."""
    return np.minimum(((np.arange(n_in) + 0.5) * (n_work / n_in)).astype(np.intp), n_work - 1)


def segment_tiled(segmenter, image, options: SegmentOptions, out: np.ndarray | None = None, return_details: bool = False):
    """Segment ``image`` tile by tile; see the module docstring.

    Parameters
    ----------
    segmenter : :class:`~nuset_engine.segmenter.Segmenter`.
    image : (H, W) array-like (numpy array, memory map, zarr array).
    options : the segmentation's options, ``tile_size`` a number of pixels.
    out : optional (H, W) uint32 array to write the labels into (e.g. a
        memory map), zero-filled; by default one is allocated and returned
        as uint16 when the labels fit.
    return_details : also return ``SegmentationDetails`` (the foreground
        probability then takes another H x W float32 array).
    """
    tile_size = int(options.tile_size)
    if tile_size < MIN_TILE_SIZE:
        raise ValueError(f"tile_size must be at least {MIN_TILE_SIZE} pixels, got {tile_size}")
    if len(image.shape) != 2:
        raise ValueError(f"expected a 2-D grayscale image, got an array of shape {tuple(image.shape)}; "
                         "select one channel (and one plane) first")
    shape = tuple(int(v) for v in image.shape)
    if 0 in shape:
        raise ValueError(f"the image is empty (shape {shape})")

    # Sweep 0: intensity statistics (also checks that every pixel is usable).
    whole = Moments()
    for core, _ in tile_windows(*shape, 2048, 0):
        whole.add(as_float_image(np.asarray(image[core[0]:core[1], core[2]:core[3]])))
    if whole.lo == whole.hi:  # no contrast, no nuclei
        empty = empty_result(shape, options, return_details)
        if out is None:
            return empty
        return (out, empty[1]) if return_details else out

    store = None  # pass 1's network outputs, when the final sweep can use them
    try:
        # Sweep 1, at the network's scale: nucleus size and foreground statistics
        # (at the input scale first when the scale is to be estimated).
        def sweep_one(scale):
            nonlocal store
            if store is not None:
                store.close()
            # one pass, no augmentation: the final pass is this sweep, kept for reuse
            store = None if options.two_pass or options.augment else _TileStore(options.scratch_dir)
            return _pass_one(segmenter, image, whole.mean, whole.std, scale, tile_size, store)[:3]

        if options.nucleus_diameter is not None or not options.auto_scale:
            scale = segmenter.choose_scale(None, options.nucleus_diameter, options.auto_scale)
            fg, areas, sides = sweep_one(scale)
        else:
            # a first look at a quarter of the resolution, as for whole images
            scale = segmenter.scale_from_first_look(
                image, _pass_one(segmenter, image, whole.mean, whole.std, COARSE_SCALE, tile_size)[1:],
                whole.mean, whole.std)
            if scale is not None:
                fg, areas, sides = sweep_one(scale)
            else:
                fg, areas, sides = sweep_one(1.0)
                scale = segmenter.choose_scale(typical_size(areas, sides), None, True)
                if scale != 1.0:
                    fg, areas, sides = sweep_one(scale)
        size = typical_size(areas, sides)
        base = size if size is not None else DEFAULT_BASE_SIZE
        min_size = min_object_size(areas, options.min_size_fraction)
        center, spread = whole.mean, whole.std
        if options.two_pass and fg.n >= 2 and fg.std >= 1e-5:  # as foreground_normalize
            center, spread = fg.mean, fg.std

        # Sweep 2: final pass, post-processing and stitching, tile by tile.
        work_shape = scaled_shape(shape, scale)
        rows, cols = _input_rows(shape[0], work_shape[0]), _input_rows(shape[1], work_shape[1])
        labels_out = np.zeros(shape, np.uint32) if out is None else out
        prob_out = np.zeros(shape, np.float32) if return_details else None
        all_boxes, all_scores = [], []
        next_id = 1
        margin = max(DEFAULT_MARGIN, math.ceil(2 * base))  # a nucleus fits in the margin: it is whole in some tile
        # the last pass-1 sweep ran at this scale on the same input: with the
        # same margin its tiles are these, so read its outputs back
        reuse = store is not None and margin == DEFAULT_MARGIN
        for index, (core, tile) in enumerate(_work_tiles(shape, scale, tile_size, margin)):
            if reuse:
                maps, objectness, deltas = store.get(index, segmenter.device)
            else:
                block = _read(image, tile, scale)
                maps, objectness, deltas = segmenter.network_maps(normalize_with(block, center, spread),
                                                                   foreground=options.two_pass,
                                                                   augment=options.augment)
            labels, boxes, scores = segmenter.postprocess(maps, objectness, deltas, base, options, min_size)
            owned = _owned(labels, core, tile, work_shape)
            # input pixels whose centres fall in this tile
            y0, y1 = np.searchsorted(rows, tile[0]), np.searchsorted(rows, tile[1])
            x0, x1 = np.searchsorted(cols, tile[2]), np.searchsorted(cols, tile[3])
            if y1 <= y0 or x1 <= x0:
                continue  # no input pixel's centre falls in this tile
            if scale < 1.0:  # outlines follow the foreground on the input grid, as for whole images
                foreground = _on_input_grid(maps[0], tile, (y0, y1, x0, x1), work_shape, shape) > 0.5
                labels = enlarge_labels_window(labels, foreground, work_shape, shape, (y0, y1, x0, x1),
                                               origin=(tile[0], tile[2]))
            elif scale != 1.0:
                labels = nearest_window(labels, work_shape, shape, (y0, y1, x0, x1), origin=(tile[0], tile[2]))
            labels = labels.astype(np.int64)
            existing = np.asarray(labels_out[y0:y1, x0:x1])
            # A nucleus on a seam may also have been kept, slightly differently,
            # by a neighbour: keep this one only where most of it is still free.
            # (sized for the owned ids too: a tiny nucleus can vanish when resized to the input grid)
            lut = np.zeros(max(int(labels.max(initial=0)), int(owned.max(initial=0))) + 1, np.int64)
            lut[owned] = 1
            kept = lut[labels].astype(bool)
            area = np.bincount(labels[kept], minlength=lut.size)
            taken = np.bincount(labels[kept & (existing > 0)], minlength=lut.size)
            owned = owned[(area[owned] > 0) & (taken[owned] * 2 < area[owned])]
            lut[:] = 0
            lut[owned] = np.arange(next_id, next_id + owned.size)
            next_id += owned.size
            new = lut[labels]
            write = (new > 0) & (existing == 0)
            existing[write] = new[write]
            labels_out[y0:y1, x0:x1] = existing
            if prob_out is not None:
                _add_details(prob_out, all_boxes, all_scores, maps[0], boxes, scores, core, tile, rows, cols,
                             work_shape, shape)
        if out is None and next_id - 1 <= np.iinfo(np.uint16).max:
            labels_out = labels_out.astype(label_dtype(next_id - 1))
        if not return_details:
            return labels_out
        boxes = np.concatenate(all_boxes) / scale if all_boxes else np.zeros((0, 4))
        scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
        return labels_out, SegmentationDetails(prob_out, boxes, scores, scale, base / scale, options)
    finally:
        if store is not None:
            store.close()


def _on_input_grid(prob: np.ndarray, tile, window, work_shape, shape) -> np.ndarray:
    """A tile's map (network grid) resampled onto the input pixels
    ``window`` whose centres fall in the tile. The map is extended by its
    edge values first: linear interpolation near a cut edge reaches a little
    past the tile."""
    pad = 3
    return resample_window(np.pad(prob, pad, mode="edge"), shape, window, origin=(tile[0] - pad, tile[2] - pad),
                           shape_in=work_shape)


def _add_details(prob_out, all_boxes, all_scores, prob, boxes, scores, core, tile, rows, cols, work_shape, shape):
    """The core's probability (input grid) and the boxes centred in the core."""
    y0, y1 = np.searchsorted(rows, core[0]), np.searchsorted(rows, core[1])
    x0, x1 = np.searchsorted(cols, core[2]), np.searchsorted(cols, core[3])
    if work_shape == shape:
        prob_out[y0:y1, x0:x1] = prob[core[0] - tile[0]:core[1] - tile[0], core[2] - tile[2]:core[3] - tile[2]]
    elif y1 > y0 and x1 > x0:
        prob_out[y0:y1, x0:x1] = resample_window(prob, shape, (y0, y1, x0, x1), origin=(tile[0], tile[2]),
                                                 shape_in=work_shape)
    cy, cx = (boxes[:, 1] + boxes[:, 3]) / 2 + tile[0], (boxes[:, 0] + boxes[:, 2]) / 2 + tile[2]
    inside = (core[0] <= cy) & (cy < core[1]) & (core[2] <= cx) & (cx < core[3])
    all_boxes.append(boxes[inside] + np.array([tile[2], tile[0], tile[2], tile[0]], np.float64))
    all_scores.append(scores[inside])

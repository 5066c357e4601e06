"""NuSeT's pipeline, one loop for whole images and tiles alike: a whole
image is the one-tile case (:mod:`.tiling`).

1. Image-wide decisions, made before any label is written (:func:`plan`),
   each in sweeps over the tiles so that one tile's data is in memory at a
   time:

   - sweep 0: pass 1's intensity statistics (also checks every pixel);
   - the resize factor: from the user's nucleus diameter, or measured: a
     first look at :data:`~.sizes.COARSE_SCALE` finds large nuclei, a crop at
     the input resolution confirms their size (:func:`scale_from_first_look`);
     otherwise pass 1 at the input scale measures them (:func:`choose_scale`);
   - pass 1 at that scale: the nucleus size (the anchor size), the
     clean-up's size limit, and the foreground statistics that normalize
     pass 2 (:func:`~.normalize.foreground_statistics`).

2. The final sweep (:func:`run`): each tile runs the final network pass,
   the proposals and the watershed (:func:`postprocess`); its objects are
   mapped back to the input grid and kept as :func:`~.tiling.owned_objects`
   says. The margin (at least twice the nucleus size) makes sure that every
   nucleus is whole in some tile, so none is cut in two or counted twice.

Without the foreground pass, the final sweep's network input is pass 1's
(same tiles, same normalization): pass 1 keeps its outputs
(:class:`~.tiling.TileStore`) and the final sweep reads them back, one
network pass per pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .anchors import DEFAULT_BASE_SIZE
from .network import STRIDE
from .normalize import as_float_image, foreground_statistics, normalize_with
from .options import DEFAULT_MARGIN, MIN_TILE_SIZE, SegmentOptions
from .resample import enlarge_labels_window, nearest_window, resample_window, scaled_shape
from .results import SegmentationDetails, empty_result
from .rpn import propose_boxes
from .sizes import COARSE_SCALE, component_boxes, interior_mask, label_boxes, min_object_size, typical_size
from .tiling import Moments, TileStore, input_rows, owned_objects, read_tile, tile_windows, work_tiles
from .watershed import label_dtype, mask_to_objects, rpn_aided_watershed

__all__ = ["Plan", "SCALE_LIMITS", "choose_scale", "plan", "postprocess", "run"]

# Internal resize factors allowed: nuclei up to 8x larger than in training
# are shrunk; smaller ones are enlarged at most 2x (beyond that an image
# would grow by 4x per axis for little gain, and a noisy coarse mask could
# blow a small image up to gigapixels).
SCALE_LIMITS = (0.125, 2.0)


@dataclass(frozen=True)
class Plan:
    """The image-wide decisions of one segmentation.

    Attributes
    ----------
    scale : float
        The internal resize factor (network grid / input grid).
    base : float
        The anchor size: the typical nucleus size on the network grid.
    min_size : int
        The clean-up's size limit (pixels, network grid).
    center, spread : float
        The final pass's normalization.
    """

    scale: float
    base: float
    min_size: int
    center: float
    spread: float


def choose_scale(segmenter, nucleus_size: float | None, nucleus_diameter: float | None, auto_scale: bool) -> float:
    """The internal resize factor.

    Parameters
    ----------
    segmenter : Segmenter
        Its ``training_nucleus_size`` is the size to resize towards.
    nucleus_size : float or None
        The estimated nucleus size (pixels), if any.
    nucleus_diameter : float or None
        The user's nucleus diameter (pixels); wins over the estimate.
    auto_scale : bool
        Use the estimate at all.

    Returns
    -------
    float
        The factor that brings the size to the training size (within
        :data:`SCALE_LIMITS`); 1.0 without a size, or within a factor 1.5 of
        the training size for an estimate.
    """
    if nucleus_diameter is not None:
        if not nucleus_diameter > 0:
            raise ValueError(f"nucleus_diameter must be positive pixels, got {nucleus_diameter}")
        size = float(nucleus_diameter)
    elif auto_scale and nucleus_size is not None:
        size = nucleus_size
    else:
        return 1.0
    scale = float(np.clip(segmenter.training_nucleus_size / max(size, 1.0), *SCALE_LIMITS))
    # Within a factor 1.5 the network copes (it trained with scale jitter);
    # resizing then would only cost time and blur.
    return 1.0 if abs(math.log(scale)) < math.log(1.5) and nucleus_diameter is None else scale


def first_look(segmenter, areas: np.ndarray, sides: np.ndarray, centres: np.ndarray):
    """Where to measure the nucleus size, from the objects found at
    :data:`COARSE_SCALE` (areas, sizes and ``(N, 2)`` bounding-box centres on
    that grid): ``(size, centre)`` of a nucleus of the typical size, in input
    pixels, when nuclei there look large enough to need shrinking; ``None``
    when they look small (then pass 1 runs at the input scale, which the
    image needs anyway)."""
    size = typical_size(areas, sides)
    # 1.5x the training size: where choose_scale starts shrinking (on the
    # validation split sizes seen at a quarter were 0-20% above those at full resolution)
    if size is None or size / COARSE_SCALE < 1.5 * segmenter.training_nucleus_size:
        return None
    areas, sides = np.asarray(areas), np.asarray(sides)
    distance = np.where(areas >= max(1, int(0.2 * areas.mean())), np.abs(sides - size), np.inf)
    return size / COARSE_SCALE, np.asarray(centres, np.float64)[int(np.argmin(distance))] / COARSE_SCALE


def size_around(segmenter, image, centre, size: float, center: float, spread: float) -> float | None:
    """The typical nucleus size (pixels) measured at the input resolution on
    a crop around ``centre`` (six nuclei of ``size`` pixels across, 256-512
    pixels a side; ``image`` may be any array that slices), as pass 1
    measures it on a whole image. Only objects centred at least ``size``
    from a cut edge count (large nuclei are more often cut by the crop:
    leaving out the cut ones would bias the size down), and only those of a
    quarter of ``size`` or more, which must hold most of the nuclei's area
    (``None`` otherwise). At a quarter of the resolution dense small nuclei
    can merge into large blobs: here they fall apart."""
    h, w = (int(v) for v in image.shape)
    side = int(np.clip(6 * size, 16 * STRIDE, 32 * STRIDE))
    y0 = int(np.clip(round(centre[0] - side / 2), 0, max(h - side, 0)))
    x0 = int(np.clip(round(centre[1] - side / 2), 0, max(w - side, 0)))
    crop = as_float_image(np.asarray(image[y0:y0 + side, x0:x0 + side]))
    maps = segmenter.network_maps(normalize_with(crop, center, spread))[0]
    areas, sides, centres = component_boxes(interior_mask(maps))
    margin = min(size, side / 4)
    lo = np.array([margin if y0 > 0 else 0, margin if x0 > 0 else 0])
    hi = np.array(crop.shape) - [margin if y0 + side < h else 0, margin if x0 + side < w else 0]
    # a quarter of the size seen at the coarse look: specks (many, where the
    # network sees nuclei far larger than it trained on) would drag the median down
    inner = np.all((centres >= lo) & (centres < hi), axis=1)
    keep = inner & (sides >= size / 4)
    if areas[keep].sum() < 0.5 * areas[inner].sum():
        return None  # most of the nucleus area is in small objects: not large nuclei after all
    return typical_size(areas[keep], sides[keep])


def scale_from_first_look(segmenter, image, coarse_objects, center: float, spread: float) -> float | None:
    """The resize factor (< 1) for an image whose nuclei the first look at
    :data:`COARSE_SCALE` found large (``coarse_objects``: their areas, sizes
    and bounding-box centres there), measured on a crop at the input
    resolution (:func:`size_around`); ``None`` when the first look or the
    crop finds them small: then pass 1 runs at the input scale."""
    found = first_look(segmenter, *coarse_objects)
    if found is None:
        return None
    scale = choose_scale(segmenter, size_around(segmenter, image, found[1], found[0], center, spread), None, True)
    return scale if scale < 1.0 else None


def postprocess(maps: np.ndarray, objectness, deltas, base: float, options: SegmentOptions, min_size: int):
    """Labels, boxes and scores from one pass's network outputs (network grid).

    Parameters
    ----------
    maps, objectness, deltas
        From :meth:`Segmenter.network_maps <nuset_engine.segmenter.Segmenter.network_maps>`.
    base : float
        The anchor size (pixels).
    options : SegmentOptions
    min_size : int
        The clean-up's size limit (pixels; used when
        ``options.min_size_fraction > 0``).

    Returns
    -------
    labels : numpy.ndarray
        ``(H, W)`` instance labels.
    boxes, scores : numpy.ndarray
        The proposals ``(N, 4)`` ``(x1, y1, x2, y2)`` and their scores ``(N,)``.
    """
    mask = maps[0] > 0.5
    boxes, scores = propose_boxes(objectness, deltas, base, mask.shape, score_threshold=options.min_score,
                                  pre_nms_top_n=None, post_nms_top_n=None,  # no caps: large images keep every nucleus
                                  nms_threshold=options.nms_threshold)
    boxes, scores = boxes.cpu().numpy(), scores.cpu().numpy()
    if options.watershed:
        labels = rpn_aided_watershed(mask, boxes, scores, min_score=options.min_score,
                                     min_size_fraction=options.min_size_fraction, min_size=min_size,
                                     interior=interior_mask(maps) if len(maps) > 1 else None,
                                     elevation=maps[1] if len(maps) > 1 else None)
    else:
        labels = mask_to_objects(mask, options.min_size_fraction, min_size)
    return labels, boxes, scores


def _pass_one(segmenter, image, mean: float, std: float, scale: float, tile_size: int | None,
              store: TileStore | None = None):
    """Pass 1 over all tiles: the foreground intensity moments, and the
    area, size and bounding-box centre (network grid) of each object a tile
    owns. With ``store``, the network outputs of each tile are kept there."""
    fg, areas, sides, centres = Moments(), [], [], []
    shape = scaled_shape(image.shape, scale)
    for index, (core, tile) in enumerate(work_tiles(image.shape, scale, tile_size, DEFAULT_MARGIN)):
        block = read_tile(image, tile, scale)
        maps, objectness, deltas = segmenter.network_maps(normalize_with(block, mean, std))
        if store is not None:
            store.put(index, maps, objectness, deltas)
        objects, _ = ndimage.label(interior_mask(maps), structure=np.ones((3, 3), int))
        owned = owned_objects(objects, core, tile, shape)
        tile_areas, tile_sides, tile_centres = label_boxes(objects)
        areas.extend(tile_areas[owned - 1])
        sides.extend(tile_sides[owned - 1])
        centres.extend(tile_centres[owned - 1] + (tile[0], tile[2]))
        inner = (slice(core[0] - tile[0], core[1] - tile[0]), slice(core[2] - tile[2], core[3] - tile[2]))
        fg.add(block[inner][maps[0][inner] > 0.5])
    return fg, np.array(areas, np.int64), np.array(sides, np.int64), np.array(centres, np.float64).reshape(-1, 2)


def plan(segmenter, image, options: SegmentOptions, tile_size: int | None,
         whole: Moments) -> tuple[Plan, TileStore | None]:
    """The image-wide decisions (see the module docstring).

    Parameters
    ----------
    segmenter : Segmenter
    image : array-like
        ``(H, W)``, read tile by tile.
    options : SegmentOptions
        With ``two_pass`` resolved to True or False.
    tile_size : int or None
        The tile side (pixels), or ``None`` for the whole image as one tile.
    whole : Moments
        The input's intensity statistics (sweep 0).

    Returns
    -------
    plan : Plan
    store : TileStore or None
        Pass 1's network outputs at ``plan.scale``, when the final sweep can
        reuse them (one pass, no augmentation); the caller closes it.
    """
    store = None

    def sweep(scale):
        nonlocal store
        if store is not None:
            store.close()
        # one pass, no augmentation: the final pass is this sweep, kept for reuse
        reusable = not (options.two_pass or options.augment)
        store = TileStore(tile_size is None, options.scratch_dir) if reusable else None
        return _pass_one(segmenter, image, whole.mean, whole.std, scale, tile_size, store)[:3]

    try:
        if options.nucleus_diameter is not None or not options.auto_scale:
            scale = choose_scale(segmenter, None, options.nucleus_diameter, options.auto_scale)
        else:
            # A first look at a quarter of the resolution: large nuclei show
            # there, and pass 1 at the input scale (costly for the images
            # that get shrunk) is needed only for small ones.
            scale = None
            if min(image.shape) * COARSE_SCALE >= 2 * STRIDE:
                coarse = _pass_one(segmenter, image, whole.mean, whole.std, COARSE_SCALE, tile_size)
                scale = scale_from_first_look(segmenter, image, coarse[1:], whole.mean, whole.std)
        if scale is None:
            fg, areas, sides = sweep(1.0)
            scale = choose_scale(segmenter, typical_size(areas, sides), None, True)
            if scale != 1.0:
                fg, areas, sides = sweep(scale)
        else:
            fg, areas, sides = sweep(scale)
    except BaseException:
        if store is not None:
            store.close()
        raise
    size = typical_size(areas, sides)
    stats = foreground_statistics(fg.n, fg.mean, fg.std) if options.two_pass else None
    center, spread = stats or (whole.mean, whole.std)
    return Plan(scale, size if size is not None else DEFAULT_BASE_SIZE,
                min_object_size(areas, options.min_size_fraction), center, spread), store


def _statistics(image, one_tile: bool) -> Moments:
    """Sweep 0: the input's intensity moments, 2048 x 2048 pixels at a time
    (every pixel checked on the way)."""
    whole = Moments()
    for core, _ in tile_windows(*image.shape, 2048, 0):
        block = np.asarray(image[core[0]:core[1], core[2]:core[3]])
        whole.add(block if one_tile else as_float_image(block))
    return whole


def run(segmenter, image, options: SegmentOptions, tile_size: int | None = None, out: np.ndarray | None = None,
        return_details: bool = False):
    """Segment ``image``: :func:`plan`, then the final sweep.

    Parameters
    ----------
    segmenter : Segmenter
    image : array-like
        ``(H, W)``: with ``tile_size``, any array-like with ``shape``,
        ``dtype`` and slicing (numpy array, memory map, zarr array), read
        tile by tile; without, anything :func:`numpy.asarray` takes.
    options : SegmentOptions
        Resolved as :meth:`Segmenter.segment <nuset_engine.segmenter.Segmenter.segment>`
        resolves them: ``two_pass`` True or False, ``min_score`` and
        ``min_size_fraction`` numbers (the model's own where not given).
    tile_size : int or None
        The tile side in pixels (at least :data:`~.options.MIN_TILE_SIZE`),
        or ``None``: the whole image as one tile.
    out : numpy.ndarray, optional
        ``(H, W)`` uint32 or int32, zero-filled, for the labels (e.g. a
        memory map); by default one is allocated and returned as uint16 when
        the labels fit.
    return_details : bool, default False
        Also return :class:`~.results.SegmentationDetails` (the foreground
        probability then takes another H x W float32 array).

    Returns
    -------
    labels or (labels, details)
    """
    if tile_size is None:
        image = as_float_image(image)  # one tile: converted (and checked) once
    else:
        if tile_size < MIN_TILE_SIZE:
            raise ValueError(f"tile_size must be at least {MIN_TILE_SIZE} pixels, got {tile_size}")
        if len(image.shape) != 2:
            raise ValueError(f"expected a 2-D grayscale image, got an array of shape {tuple(image.shape)}; "
                             "select one channel (and one plane) first")
    shape = tuple(int(v) for v in image.shape)
    if 0 in shape:
        raise ValueError(f"the image is empty (shape {shape})")
    whole = _statistics(image, tile_size is None)
    if whole.lo == whole.hi:  # no contrast, no nuclei; spares the network a blank input
        empty = empty_result(shape, options, return_details)
        if out is None:
            return empty
        return (out, empty[1]) if return_details else out
    decided, store = plan(segmenter, image, options, tile_size, whole)
    try:
        return _final_sweep(segmenter, image, options, tile_size, decided, store, out, return_details)
    finally:
        if store is not None:
            store.close()


def _final_sweep(segmenter, image, options, tile_size, plan: Plan, store, out, return_details):
    """The final pass, post-processing and stitching, tile by tile."""
    shape = tuple(int(v) for v in image.shape)
    scale = plan.scale
    work_shape = scaled_shape(shape, scale)
    rows, cols = input_rows(shape[0], work_shape[0]), input_rows(shape[1], work_shape[1])
    labels_out = np.zeros(shape, np.uint32) if out is None else out
    prob_out = np.zeros(shape, np.float32) if return_details else None
    all_boxes, all_scores = [], []
    next_id = 1
    margin = max(DEFAULT_MARGIN, math.ceil(2 * plan.base))  # a nucleus fits in the margin: it is whole in some tile
    # the last pass-1 sweep ran at this scale on the same input: with the
    # same tiles (one tile, or the same margin) read its outputs back
    reuse = store is not None and (tile_size is None or margin == DEFAULT_MARGIN)
    for index, (core, tile) in enumerate(work_tiles(shape, scale, tile_size, margin)):
        if reuse:
            maps, objectness, deltas = store.get(index, segmenter.device)
        else:
            block = read_tile(image, tile, scale)
            maps, objectness, deltas = segmenter.network_maps(normalize_with(block, plan.center, plan.spread),
                                                               foreground=options.two_pass, augment=options.augment)
        labels, boxes, scores = postprocess(maps, objectness, deltas, plan.base, options, plan.min_size)
        owned = owned_objects(labels, core, tile, work_shape)
        # input pixels whose centres fall in this tile
        y0, y1 = np.searchsorted(rows, tile[0]), np.searchsorted(rows, tile[1])
        x0, x1 = np.searchsorted(cols, tile[2]), np.searchsorted(cols, tile[3])
        if y1 <= y0 or x1 <= x0:
            continue  # no input pixel's centre falls in this tile
        if scale < 1.0:  # outlines follow the foreground on the input grid, not the network's coarser one
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
    return labels_out, SegmentationDetails(prob_out, boxes, scores, scale, plan.base / scale, options)


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

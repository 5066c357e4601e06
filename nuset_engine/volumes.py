"""Z-stacks segmented in 3-D: NuSeT on each plane with one nucleus size for
the whole stack, the planes' nuclei joined into 3-D objects, and their 3-D
measurements.

Joining: a 3-D watershed of the stacked nuclei (the default; the voxel
size's anisotropy applied), or overlap linking: each plane's nuclei are
linked to the 3-D objects of the planes above by overlap (IoU, one-to-one),
looking past one plane where a nucleus was missed (the gap is filled with
the overlap of its neighbours).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from .io import write_csv
from .options import SegmentOptions, options_from
from .stacks import StackReader

__all__ = ["segment_stack", "segment_series", "link_planes", "join_watershed", "estimate_nucleus_diameter",
           "default_min_planes", "measure_objects_3d", "write_measurements_3d", "MEASUREMENT_3D_COLUMNS"]


def _overlaps(labels: np.ndarray, n: int, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU ``(n, G)`` of a plane's nuclei 1..n with the objects of ``previous``
    (a plane of 3-D object ids), and those ids ``(G,)``."""
    ids, inverse = np.unique(previous, return_inverse=True)
    inverse = inverse.reshape(previous.shape)
    if ids[0] != 0:  # keep 0 as background: shift so that column 0 is "none"
        ids, inverse = np.concatenate([[0], ids]), inverse + 1
    g = len(ids)
    inter = np.bincount(labels.ravel().astype(np.int64) * g + inverse.ravel(), minlength=(n + 1) * g)
    inter = inter.reshape(n + 1, g)
    area_a, area_b = inter.sum(1)[1:], inter.sum(0)[1:]
    inter = inter[1:, 1:]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0), ids[1:]


def link_planes(planes, out: np.ndarray, min_iou: float = 0.3, max_gap: int = 1, min_planes: int = 1) -> int:
    """Join 2-D labels, plane after plane, into 3-D objects.

    Each plane's nuclei are matched one-to-one (Hungarian assignment on IoU)
    to the objects of the plane above; objects missing from it are looked
    for up to ``max_gap`` planes further up, and a gap a match bridges is
    filled with the overlap of the two footprints.

    Parameters
    ----------
    planes : iterable of numpy.ndarray
        ``(H, W)`` integer labels per plane, in Z order (consumed one by one).
    out : numpy.ndarray
        ``(Z, H, W)`` uint32 (or a memory map), zero-filled: the 3-D labels.
    min_iou : float, default 0.3
        The least IoU between a nucleus and an object's footprint for a link.
    max_gap : int, default 1
        Planes an object may be missing from and still be continued.
    min_planes : int, default 1
        Objects in fewer planes are removed.

    Returns
    -------
    int
        The number of 3-D objects; ``out`` holds them as 1..N.
    """
    recent: list[tuple[int, np.ndarray]] = []  # (z, plane of object ids), nearest last
    planes_of = [0]  # per object id: the planes it is in
    for z, labels in enumerate(planes):
        labels = np.asarray(labels)
        n = int(labels.max(initial=0))
        mapping = np.zeros(n + 1, np.uint32)
        if n:
            ious, ids, zs, seen = [], [], [], set()
            for zp, previous in reversed(recent):
                iou, found = _overlaps(labels, n, previous)
                fresh = ~np.isin(found, list(seen))
                seen.update(found.tolist())
                ious.append(iou[:, fresh]), ids.append(found[fresh]), zs.append(np.full(fresh.sum(), zp))
            iou = np.concatenate(ious, 1) if ious else np.zeros((n, 0))
            ids = np.concatenate(ids) if ids else np.zeros(0, np.uint32)
            zs = np.concatenate(zs) if zs else np.zeros(0, int)
            rows, cols = linear_sum_assignment(-iou) if iou.size else ((), ())
            for r, c in zip(rows, cols):
                if iou[r, c] >= min_iou:
                    mapping[r + 1] = ids[c]
                    for zz in range(int(zs[c]) + 1, z):  # bridge the planes it was missed in
                        gap = out[zz]
                        gap[(gap == 0) & (labels == r + 1) & (out[int(zs[c])] == ids[c])] = ids[c]
                        planes_of[ids[c]] += 1
            present = np.unique(labels)[1:] if (labels == 0).any() else np.unique(labels)
            new = present[mapping[present] == 0]
            mapping[new] = np.arange(len(planes_of), len(planes_of) + len(new))
            planes_of.extend([0] * len(new))
            for i in mapping[present]:
                planes_of[int(i)] += 1
        out[z] = mapping[labels]
        recent = (recent + [(z, out[z])])[-(max_gap + 1):]
    keep = np.asarray(planes_of) >= max(min_planes, 1)
    keep[0] = False
    lut = np.zeros(len(planes_of), np.uint32)
    lut[keep] = np.arange(1, keep.sum() + 1)
    for z in range(out.shape[0]):
        out[z] = lut[out[z]]
    return int(keep.sum())


def estimate_nucleus_diameter(segmenter, stack: StackReader, t: int = 0, options: SegmentOptions | None = None,
                              **overrides) -> float:
    """One nucleus size for a whole stack: NuSeT's own estimate on the middle
    plane, or, where it finds no nuclei, on the maximum projection (built
    plane by plane).

    Parameters
    ----------
    segmenter : Segmenter
    stack : StackReader
    t : int, default 0
        The frame.
    options : SegmentOptions, optional
        As for ``Segmenter.segment``; a given ``nucleus_diameter`` is returned as is.

    Returns
    -------
    float
        Pixels (input scale); 0 when no nuclei are found.
    """
    options = options_from(None if options is None else asdict(options), **overrides)
    if options.nucleus_diameter:
        return float(options.nucleus_diameter)
    _, details = segmenter.segment(stack.plane(stack.n_planes // 2, t), options, return_details=True)
    if details.nucleus_size > 0 or stack.n_planes == 1:
        return float(details.nucleus_size)
    projection = None
    for plane in stack.planes(t):
        projection = plane.copy() if projection is None else np.maximum(projection, plane, out=projection)
    _, details = segmenter.segment(projection, options, return_details=True)
    return float(details.nucleus_size)


def default_min_planes(nucleus_diameter: float, voxel_size=None) -> int:
    """Objects in fewer planes than this are dropped: 2 when a nucleus is
    expected to span 3 planes or more (its diameter in Z planes, from the
    voxel size; isotropic voxels when unknown), else 1."""
    z, y = (voxel_size[0], voxel_size[1]) if voxel_size else (1.0, 1.0)
    return 2 if nucleus_diameter * y / z >= 3 else 1


def _watershed_block(mask: np.ndarray, nucleus_diameter: float, z_step: float, smoothing: float) -> np.ndarray:
    """The 3-D watershed of one block of stacked foreground (see :func:`join_watershed`)."""
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    distance = ndimage.distance_transform_edt(mask, sampling=(z_step, 1.0, 1.0)).astype(np.float32)
    if smoothing:
        distance = ndimage.gaussian_filter(distance, (smoothing / z_step, smoothing, smoothing))
    peaks = peak_local_max(distance, min_distance=max(1, round(nucleus_diameter / 4)), labels=mask.astype(np.uint8),
                           exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask)


def _continued(here: np.ndarray, before: np.ndarray, before_ids: np.ndarray) -> dict[int, int]:
    """Objects of a block (``here``) that continue those of the block above
    (``before``, over the same planes): IoU > 0.5 there, one to one; as
    ``{label here: final id}`` (``before_ids``: final ids of ``before``'s labels)."""
    both = (here > 0) & (before > 0)
    if not both.any():
        return {}
    pairs, inter = np.unique(np.stack([here[both], before[both]]), axis=1, return_counts=True)
    area_here, area_before = np.bincount(here.ravel()), np.bincount(before.ravel())
    iou = inter / (area_here[pairs[0]] + area_before[pairs[1]] - inter)
    links, used = {}, set()
    for i in np.argsort(-iou):
        h, b = int(pairs[0, i]), int(pairs[1, i])
        if iou[i] > 0.5 and h not in links and b not in used and before_ids[b]:
            links[h] = int(before_ids[b])
            used.add(b)
    return links


def join_watershed(out: np.ndarray, nucleus_diameter: float, voxel_size=None, smoothing: float = 1.0,
                   max_voxels: int = 2**25) -> int:
    """Join stacked 2-D labels into 3-D nuclei by a 3-D watershed.

    The stacked nuclei are the foreground; its distance transform (in
    voxels of the XY pixel size, Z stretched by the voxel size's anisotropy)
    is smoothed, its maxima at least a quarter of a nucleus diameter apart
    seed a watershed of the foreground. A stack of more than ``max_voxels``
    is done in slabs of planes, each with a nucleus's depth of context
    above and below, and nuclei that cross from one slab to the next are
    joined by their overlap (IoU > 0.5 in the shared planes).

    Parameters
    ----------
    out : numpy.ndarray
        ``(Z, H, W)`` integer labels of each plane (or a memory map);
        replaced, slab by slab, by the 3-D labels.
    nucleus_diameter : float
        Pixels (XY).
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns; None: isotropic voxels.
    smoothing : float, default 1.0
        Gaussian sigma (XY pixels) of the distance map.
    max_voxels : int, default 2**25
        The most voxels watershedded at once (about 50 bytes each at the peak).

    Returns
    -------
    int
        The number of 3-D nuclei (1..N in ``out``).
    """
    z_step = voxel_size[0] / voxel_size[1] if voxel_size else 1.0
    depth, area = out.shape[0], out.shape[1] * out.shape[2]
    margin = max(1, int(np.ceil(nucleus_diameter / z_step)))  # a nucleus's depth, in planes
    core = max(margin, max_voxels // area - 2 * margin, 1)
    if core >= depth:
        margin = 0
    next_id, above = 1, None  # above: the previous block's labels below its core, and their final ids
    for start in range(0, depth, core):
        stop, low, high = min(start + core, depth), max(0, start - margin), min(depth, start + core + margin)
        block = _watershed_block(np.asarray(out[low:high]) > 0, nucleus_diameter, z_step, smoothing)
        final = np.zeros(int(block.max(initial=0)) + 1, np.uint32)
        if above is not None:
            shared, ids = above
            for label, value in _continued(block[start - low : start - low + len(shared)], shared, ids).items():
                final[label] = value
        present = np.unique(block[start - low : stop - low])
        present = present[(present > 0) & (final[present] == 0)]
        final[present] = np.arange(next_id, next_id + len(present))
        next_id += len(present)
        for z in range(start, stop):
            out[z] = final[block[z - low]]
        above = (block[stop - low :], final) if stop < depth else None
    return next_id - 1


def segment_stack(segmenter, stack: StackReader, t: int = 0, options: SegmentOptions | None = None, *,
                  out: np.ndarray | None = None, join: str = "watershed", min_iou: float = 0.3, max_gap: int = 1,
                  min_planes: int | None = None, **overrides) -> np.ndarray:
    """Segment a Z-stack: NuSeT on each plane (one nucleus size for all),
    the planes' nuclei then joined into 3-D objects.

    Planes are read and segmented one at a time into ``out``; the
    watershed join then works on slabs of planes (:func:`join_watershed`).

    Parameters
    ----------
    segmenter : Segmenter
    stack : StackReader
        From :func:`open_stack`.
    t : int, default 0
        The frame of a time-lapse.
    options : SegmentOptions, optional
        The 2-D segmentation options; keyword ``overrides`` override them.
        Without ``nucleus_diameter`` it is estimated once
        (:func:`estimate_nucleus_diameter`).
    out : numpy.ndarray, optional
        ``(Z, H, W)`` uint32, zero-filled (e.g. a memory map) for the labels.
    join : {"watershed", "link"}, default "watershed"
        :func:`join_watershed` (3-D watershed of the stacked nuclei, the
        voxel size's anisotropy applied), or :func:`link_planes` (overlap
        linking across planes). On the StarDist 3-D example the watershed
        scores far higher (docs/cli.md): linking merges nuclei stacked in Z.
    min_iou, max_gap : float, int
        For ``join="link"``, as for :func:`link_planes`.
    min_planes : int, optional
        For ``join="link"``: drop objects in fewer planes; default
        :func:`default_min_planes`.

    Returns
    -------
    numpy.ndarray
        ``(Z, H, W)`` uint32 labels, 0 = background, 1..N the 3-D nuclei.
    """
    if join not in ("watershed", "link"):
        raise ValueError(f"join must be 'watershed' or 'link', not {join!r}")
    options = options_from(None if options is None else asdict(options), **overrides)
    diameter = estimate_nucleus_diameter(segmenter, stack, t, options)
    if out is None:
        out = np.zeros((stack.n_planes, *stack.plane_shape), np.uint32)
    if diameter <= 0:  # no nuclei anywhere
        return out
    planes = (segmenter.segment(plane, options, nucleus_diameter=diameter) for plane in stack.planes(t))
    if join == "link":
        if min_planes is None:
            min_planes = default_min_planes(diameter, stack.voxel_size)
        link_planes(planes, out, min_iou=min_iou, max_gap=max_gap, min_planes=min_planes)
    else:
        for z, labels in enumerate(planes):
            out[z] = labels
        join_watershed(out, diameter, stack.voxel_size)
    return out


def segment_series(segmenter, stack: StackReader, options: SegmentOptions | None = None, *,
                   out: np.ndarray | None = None, frames=None, on_frame=None, **overrides) -> np.ndarray:
    """Segment every frame of a stack: Z-stacks with :func:`segment_stack`,
    single planes in 2-D; one nucleus size (estimated on the first frame)
    for all frames. Frames are read and segmented one at a time, and each
    is stored in ``out`` whole, by ``out[t] = frame``.

    Parameters
    ----------
    segmenter : Segmenter
    stack : StackReader
    options : SegmentOptions, optional
        As for :func:`segment_stack`, with keyword ``overrides``.
    out : numpy.ndarray, optional
        ``(T, Z, H, W)`` uint32, zero-filled, for the labels (a memory map:
        Z-stacks are joined on it in slabs); or anything that stores a
        ``(Z, H, W)`` frame by ``out[t] = frame`` (a store on disk, so that
        a long time-lapse needs the memory of one frame).
    frames : iterable of int, optional
        The frames to segment (default: all); the others are left in ``out``
        as they are (a resumed run segments only those it lacks).
    on_frame : callable, optional
        Called as ``on_frame(t, nucleus_diameter)`` once frame ``t`` is in
        ``out``, with the nucleus diameter used for all frames (``None``:
        each frame estimated its own); given back as ``nucleus_diameter``,
        a resumed run skips the estimate.

    Returns
    -------
    numpy.ndarray
        ``out``: ``(T, Z, H, W)`` uint32 labels; each frame's nuclei numbered 1..N.
    """
    options = options_from(None if options is None else asdict(options), **overrides)
    if out is None:
        out = np.zeros((stack.n_frames, stack.n_planes, *stack.plane_shape), np.uint32)
    frames = range(stack.n_frames) if frames is None else list(frames)
    if not frames:
        return out
    diameter = estimate_nucleus_diameter(segmenter, stack, 0, options)
    if diameter <= 0:  # the first frame has no nuclei: each frame estimates its own
        diameter = None
    for t in frames:
        if stack.n_planes > 1:  # into an array's frame directly (a memory map: joined in slabs on disk)
            target = out[t] if isinstance(out, np.ndarray) else None
            frame = segment_stack(segmenter, stack, t, options, out=target, nucleus_diameter=diameter)
            if target is None:
                out[t] = frame
        else:
            out[t] = segmenter.segment(stack.plane(0, t), options, nucleus_diameter=diameter)[None]
        if on_frame is not None:
            on_frame(t, diameter)
    return out


MEASUREMENT_3D_COLUMNS = ["label", "volume", "centroid_z", "centroid_y", "centroid_x", "bbox_min_z", "bbox_min_y",
                          "bbox_min_x", "bbox_max_z", "bbox_max_y", "bbox_max_x", "extent_z", "extent_y", "extent_x"]
_MICRON_COLUMNS = ["volume_um3", "centroid_z_um", "centroid_y_um", "centroid_x_um", "extent_z_um", "extent_y_um",
                   "extent_x_um"]


def measure_objects_3d(labels: np.ndarray, voxel_size=None) -> list[dict]:
    """Per-nucleus 3-D measurements (scikit-image regionprops).

    Parameters
    ----------
    labels : numpy.ndarray
        ``(Z, H, W)`` labels, 0 = background.
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns: adds the micron columns.

    Returns
    -------
    list of dict
        One row per nucleus: volume (voxels), centroid (voxel coordinates),
        bounding box (min inclusive, max exclusive) and extents (voxels); with
        ``voxel_size`` also ``volume_um3``, ``centroid_*_um``, ``extent_*_um``.
    """
    from skimage.measure import regionprops

    rows = []
    for region in regionprops(np.asarray(labels)):
        box = region.bbox
        row = {"label": region.label, "volume": int(region.area)}
        row |= {f"centroid_{a}": float(c) for a, c in zip("zyx", region.centroid)}
        row |= {f"bbox_min_{a}": int(v) for a, v in zip("zyx", box[:3])}
        row |= {f"bbox_max_{a}": int(v) for a, v in zip("zyx", box[3:])}
        row |= {f"extent_{a}": int(box[i + 3] - box[i]) for i, a in enumerate("zyx")}
        if voxel_size:
            row["volume_um3"] = row["volume"] * float(np.prod(voxel_size))
            row |= {f"centroid_{a}_um": row[f"centroid_{a}"] * s for a, s in zip("zyx", voxel_size)}
            row |= {f"extent_{a}_um": row[f"extent_{a}"] * s for a, s in zip("zyx", voxel_size)}
        rows.append(row)
    return rows


def write_measurements_3d(path: str | Path, rows: list[dict], voxel_size=None, frames: bool = False) -> Path:
    """Write :func:`measure_objects_3d` rows as CSV, atomically (columns:
    ``frame`` first with ``frames``, :data:`MEASUREMENT_3D_COLUMNS`, then the
    micron ones with ``voxel_size``)."""
    columns = ["frame"] * frames + MEASUREMENT_3D_COLUMNS + (_MICRON_COLUMNS if voxel_size else [])
    return write_csv(path, rows, columns)

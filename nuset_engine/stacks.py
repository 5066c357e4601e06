"""Z-stacks and time-lapses: read a TIFF's axes and voxel size, stream its
planes one by one, segment each plane in 2-D with one nucleus size for the
whole stack, and join the planes' nuclei into 3-D objects.

Reading: tifffile's series axes (from ImageJ hyperstack or OME metadata) say
which axis is Z, T, C (channels) or S (RGB samples); a file that does not say
(tifffile's Q or I) needs ``axes=`` (e.g. ``"ZYX"``). Planes are read through
tifffile's zarr store, so only the pages of the plane asked for are read.

Joining: each plane's nuclei are linked to the 3-D objects of the planes
above by overlap (IoU, one-to-one), looking past one plane where a nucleus
was missed (the gap is filled with the overlap of its neighbours).
"""
from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np
import tifffile
from scipy.optimize import linear_sum_assignment

from .io import atomic_write, write_csv
from .options import SegmentOptions, options_from

__all__ = ["StackReader", "open_stack", "parse_axes", "is_stack", "segment_stack", "segment_series", "link_planes",
           "join_watershed", "estimate_nucleus_diameter", "default_min_planes",
           "track_series", "write_tracks", "TRACK_COLUMNS",
           "write_stack_labels", "measure_objects_3d", "write_measurements_3d", "MEASUREMENT_3D_COLUMNS"]

_KNOWN = "TZCSYX"  # the letters an axes string may use
_UNKNOWN = "QI"  # tifffile's "the file does not say"
_MICRONS = {"micron": 1.0, "um": 1.0, "µm": 1.0, "\\u00B5m": 1.0, "microns": 1.0, "nm": 1e-3, "mm": 1e3}


def parse_axes(axes: str) -> str:
    """An axes string, checked and upper-cased.

    Parameters
    ----------
    axes : str
        One letter per dimension from T (time), Z (depth), C (channel),
        S (RGB samples), Y, X; each once, Y and X present (e.g. ``"zyx"``).

    Returns
    -------
    str
        ``axes`` upper-cased.

    Raises
    ------
    ValueError
        Unknown or repeated letters, or no Y and X, named in the message.
    """
    letters = str(axes).strip().upper()
    bad = sorted(set(letters) - set(_KNOWN))
    problem = None
    if bad:
        problem = f"unknown letter{'s' * (len(bad) > 1)} {', '.join(bad)}"
    elif len(set(letters)) != len(letters):
        problem = "a letter is used twice"
    elif "Y" not in letters or "X" not in letters:
        problem = "Y and X are required"
    if problem:
        raise ValueError(f"axes {axes!r}: {problem}; give one letter per dimension, in the file's order, from "
                         "T (time), Z (depth), C (channel), S (RGB samples), Y, X; e.g. 'ZYX' or 'TZCYX'")
    return letters


def _check_axes(axes: str, shape: tuple, source) -> str:
    """``axes`` checked (:func:`parse_axes`) and fitted to ``shape``, one letter per dimension."""
    try:
        letters = parse_axes(axes)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    if len(letters) != len(shape):
        raise ValueError(f"{source}: axes {axes!r} have {len(letters)} letters but the image has {len(shape)} "
                         f"dimensions ({'x'.join(map(str, shape))}); give one letter per dimension, in the "
                         "file's order")
    return letters


def _voxel_size(tif: tifffile.TiffFile) -> tuple[float, float, float] | None:
    """(z, y, x) microns from OME or ImageJ metadata; None when not recorded (z = y when only Y and X are)."""
    if tif.is_ome and tif.ome_metadata:
        sizes = []
        for axis in "ZYX":
            value = re.search(rf'PhysicalSize{axis}="([0-9.eE+-]+)"', tif.ome_metadata)
            unit = re.search(rf'PhysicalSize{axis}Unit="([^"]+)"', tif.ome_metadata)
            factor = _MICRONS.get(unit.group(1) if unit else "µm")
            sizes.append(float(value.group(1)) * factor if value and factor else None)
        if sizes[1] and sizes[2]:
            return (sizes[0] or sizes[1], sizes[1], sizes[2])
    meta = tif.imagej_metadata or {}
    factor = _MICRONS.get(meta.get("unit", ""))
    page = tif.pages.first
    xres, yres = page.tags.get("XResolution"), page.tags.get("YResolution")
    if factor is None or xres is None or yres is None or not xres.value[0] or not yres.value[0]:
        return None
    x = xres.value[1] / xres.value[0] * factor
    y = yres.value[1] / yres.value[0] * factor
    z = float(meta["spacing"]) * factor if meta.get("spacing") else y  # no Z step recorded: isotropic
    return (z, float(y), float(x))


class StackReader:
    """A TIFF stack (Z and/or time, any channel layout), read plane by plane.

    Parameters
    ----------
    path : str or Path
        A TIFF file.
    axes : str, optional
        One letter per dimension of the file's first series (as tifffile
        reports its shape), from ``T Z C S Y X``; overrides the file's own
        axes. Needed when the file does not record them.
    channel : int, optional
        The channel (0-based) of a C axis (or of S samples); required when
        there are several channels; RGB samples without it give luminance.
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns; default: from the file's metadata.

    Attributes
    ----------
    axes : str
        The axes used (the file's, or ``axes``).
    shape : tuple of int
        The file's shape.
    n_frames, n_planes : int
        Time points and Z planes (1 where there is no T or Z axis).
    plane_shape : tuple of int
        ``(H, W)``.
    voxel_size : tuple of 3 float or None
        ``(z, y, x)`` microns, or None when unknown.
    planes_read : int
        How many planes were read so far.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing or unreadable file; axes that do not fit, are unknown, or
        include stacks along other dimensions; a missing or impossible channel.
    """

    def __init__(self, path: str | Path, axes: str | None = None, channel: int | None = None,
                 voxel_size: tuple[float, float, float] | None = None):
        import zarr

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such file")
        try:
            with tifffile.TiffFile(self.path) as tif:
                series = tif.series[0]
                file_axes, shape = series.axes, tuple(int(n) for n in series.shape)
                file_voxel = _voxel_size(tif)
            array = zarr.open(tifffile.imread(self.path, aszarr=True, series=0), mode="r")
            if not hasattr(array, "shape"):  # a pyramid: full resolution
                array = array["0"]
        except Exception as exc:
            raise ValueError(f"{self.path}: cannot read the image ({str(exc).strip() or type(exc).__name__}); "
                             "the file may be truncated or corrupt") from exc
        self.axes = _check_axes(axes, shape, self.path) if axes else file_axes
        self.shape, self._array, self.channel = shape, array, channel
        self._index = self._plan(channel)
        self.voxel_size = tuple(float(v) for v in voxel_size) if voxel_size else file_voxel
        if self.voxel_size is not None and (len(self.voxel_size) != 3 or min(self.voxel_size) <= 0):
            raise ValueError(f"{self.path}: voxel size {voxel_size} must be three positive numbers (z, y, x microns)")
        size = dict(zip(self.axes, shape))
        self.n_frames, self.n_planes = size.get("T", 1), size.get("Z", 1)
        self.plane_shape = (size["Y"], size["X"])
        self.planes_read = 0

    def _plan(self, channel):
        """Per axis: a fixed index, or the name of the loop variable (t, z) or of the plane (y, x, c)."""
        axes, shape, source = self.axes, self.shape, self.path
        if "Y" not in axes or "X" not in axes:
            raise ValueError(f"{source}: axes {axes} have no Y and X")
        unknown = [a for a, n in zip(axes, shape) if n > 1 and a not in _KNOWN]
        if unknown:
            what = ("the file does not record what its axes are" if set(unknown) <= set(_UNKNOWN)
                    else f"stacks along {', '.join(sorted(set(unknown)))} are not supported")
            raise ValueError(f"{source}: image of shape {'x'.join(map(str, shape))}, axes {axes}: {what}; "
                             "give the axes, one letter per dimension from T, Z, C, S, Y, X (e.g. axes 'ZYX' for a "
                             "Z-stack, 'TYX' for a time-lapse)")
        channels = [a for a, n in zip(axes, shape) if a in "CS" and n > 1]
        if len(channels) > 1:
            raise ValueError(f"{source}: channels and RGB samples (axes {axes}); save the nuclear channel alone")
        index = []
        for a, n in zip(axes, shape):
            if a in "TZ":
                index.append(a.lower())
            elif a in "YX":
                index.append(slice(None))
            elif a in channels:
                if channel is None and not (a == "S" and n in (3, 4)):
                    raise ValueError(f"{source}: {n} channels (axes {axes}); choose the nuclear channel (0-based)")
                if channel is not None and not 0 <= channel < n:
                    raise ValueError(f"{source}: channel {channel} requested but the image has {n} channels")
                index.append(slice(None) if channel is None else channel)
            else:
                if channel not in (None, 0):
                    raise ValueError(f"{source}: channel {channel} requested but the image has 1 channel")
                index.append(0)
        return index

    def plane(self, z: int = 0, t: int = 0) -> np.ndarray:
        """The ``(H, W)`` plane at depth ``z``, time ``t`` (only its pages are read).

        Returns
        -------
        numpy.ndarray
            The file's dtype (float32 luminance for RGB samples without a channel).
        """
        if not (0 <= z < self.n_planes and 0 <= t < self.n_frames):
            raise IndexError(f"plane z={z}, t={t} outside {self.n_planes} planes x {self.n_frames} frames")
        index = tuple({"z": z, "t": t}.get(i, i) if isinstance(i, str) else i for i in self._index)
        try:
            block = np.asarray(self._array[index])
        except Exception as exc:  # a damaged page shows only when it is read
            raise ValueError(f"{self.path}: cannot read plane z={z}, t={t} ({exc}); the file may be truncated "
                             "or corrupt") from exc
        self.planes_read += 1
        kept = [a for a, i in zip(self.axes, self._index) if isinstance(i, slice)]
        if len(kept) == 3:  # RGB(A) samples: luminance, as the 2-D reader does
            block = np.moveaxis(block, kept.index("S"), -1)[..., :3].astype(np.float32)
            block = block @ np.array([0.2989, 0.5870, 0.1140], np.float32)
            kept.remove("S")
        return block if kept == ["Y", "X"] else block.T

    def planes(self, t: int = 0) -> Iterator[np.ndarray]:
        """The Z planes of frame ``t``, read one at a time."""
        for z in range(self.n_planes):
            yield self.plane(z, t)


def open_stack(path: str | Path, axes: str | None = None, channel: int | None = None,
               voxel_size: tuple[float, float, float] | None = None) -> StackReader:
    """A :class:`StackReader` for a TIFF (see there for the parameters)."""
    return StackReader(path, axes, channel, voxel_size)


def is_stack(path: str | Path, axes: str | None = None) -> bool:
    """Whether a TIFF is a Z-stack or time-lapse (a Z or T axis longer than
    1), by its own axes or ``axes``; reads the metadata only.

    Returns
    -------
    bool
        False for anything else (2-D images, channels, unknown axes, files
        that cannot be read: the 2-D reader reports those).
    """
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, file_axes = tuple(series.shape), series.axes
    except Exception:  # noqa: BLE001 - the 2-D reader names the problem
        return False
    axes = _check_axes(axes, shape, path) if axes else file_axes
    return any(a in "TZ" and n > 1 for a, n in zip(axes, shape))


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
                   out: np.ndarray | None = None, **overrides) -> np.ndarray:
    """Segment every frame of a stack: Z-stacks with :func:`segment_stack`,
    single planes in 2-D; one nucleus size (estimated on the first frame)
    for all frames. Frames are read and segmented one at a time.

    Parameters
    ----------
    segmenter : Segmenter
    stack : StackReader
    options : SegmentOptions, optional
        As for :func:`segment_stack`, with keyword ``overrides``.
    out : numpy.ndarray, optional
        ``(T, Z, H, W)`` uint32, zero-filled, for the labels.

    Returns
    -------
    numpy.ndarray
        ``(T, Z, H, W)`` uint32 labels; each frame's nuclei numbered 1..N.
    """
    options = options_from(None if options is None else asdict(options), **overrides)
    if out is None:
        out = np.zeros((stack.n_frames, stack.n_planes, *stack.plane_shape), np.uint32)
    diameter = estimate_nucleus_diameter(segmenter, stack, 0, options)
    if diameter <= 0:  # the first frame has no nuclei: each frame estimates its own
        diameter = None
    for t in range(stack.n_frames):
        if stack.n_planes > 1:
            segment_stack(segmenter, stack, t, options, out=out[t], nucleus_diameter=diameter)
        else:
            out[t, 0] = segmenter.segment(stack.plane(0, t), options, nucleus_diameter=diameter)
    return out


def write_stack_labels(path: str | Path, labels: np.ndarray, voxel_size=None, overwrite: bool = False,
                       axes: str = "ZYX") -> Path:
    """Write 3-D (or time-lapse) labels as an ImageJ hyperstack TIFF, atomically.

    Parameters
    ----------
    path : str or Path
    labels : numpy.ndarray
        ``(Z, H, W)`` (or as ``axes`` says, e.g. ``(T, Z, H, W)`` for ``"TZYX"``)
        integer labels; written plane by plane.
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns, kept as the file's spacing and resolution.
    overwrite : bool, default False
        Replace an existing file.
    axes : str, default ``"ZYX"``

    Returns
    -------
    Path

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.

    Notes
    -----
    uint16; above 65535 labels float32 (exact to 2**24), as ImageJ has no
    32-bit integer images.
    """
    from .errors import OutputExistsError

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    planes = labels.reshape(-1, *labels.shape[-2:])
    largest = max((int(np.max(p, initial=0)) for p in planes), default=0)
    dtype = np.uint16 if largest <= np.iinfo(np.uint16).max else np.float32
    metadata = {"axes": axes}
    extra = {}
    if voxel_size:
        metadata |= {"spacing": float(voxel_size[0]), "unit": "um"}
        extra["resolution"] = (1 / float(voxel_size[2]), 1 / float(voxel_size[1]))

    def write(tmp):
        tifffile.imwrite(tmp, (np.asarray(p).astype(dtype) for p in planes), shape=labels.shape, dtype=dtype,
                         imagej=True, metadata=metadata, compression="zlib", **extra)

    return atomic_write(path, write)


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


TRACK_COLUMNS = ["track_id", "frame", "z", "y", "x", "size", "parent_track_id"]


def track_series(labels: np.ndarray, voxel_size=None, max_distance: float | None = None, gap_frames: int = 1,
                 divisions: bool = False) -> list[dict]:
    """Link the nuclei of a time-lapse across frames (laptrack), and
    renumber them by track: a nucleus keeps its label from frame to frame.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(T, Z, H, W)`` labels, each frame numbered on its own (from
        :func:`segment_series`); renumbered in place, frame by frame, so
        that labels are track ids (1..N).
    voxel_size : tuple of 3 float, optional
        ``(z, y, x)`` microns; distances are measured in microns with it,
        else in pixels (Z steps as pixels).
    max_distance : float, optional
        The farthest a nucleus moves between frames (microns with
        ``voxel_size``, else pixels); default: the median nucleus diameter.
    gap_frames : int, default 1
        Frames a nucleus may be missed in and its track go on.
    divisions : bool, default False
        Link daughters to their mother (track splits). Off by default, as
        in TrackMate's LAP tracker: on real nuclei that only moved, about 5
        tracks got a parent link.

    Returns
    -------
    list of dict
        One row per nucleus and frame: ``track_id``, ``frame``, ``z``,
        ``y``, ``x`` (centroid, pixels), ``size`` (pixels, or voxels for
        Z-stacks) and ``parent_track_id`` (0: none), the columns of
        :data:`TRACK_COLUMNS` (a napari tracks layer's data and graph;
        TrackMate imports it as CSV).

    Raises
    ------
    RuntimeError
        laptrack is not installed.
    """
    try:
        from laptrack import LapTrack
    except ImportError as exc:
        raise RuntimeError("tracking a time-lapse needs the 'laptrack' package; install it with: "
                           "pip install 'nuset[tracking]' (or pip install laptrack)") from exc
    import pandas as pd
    from skimage.measure import regionprops_table

    scale = np.asarray(voxel_size if voxel_size else (1.0, 1.0, 1.0), float)
    frames = []
    for t in range(labels.shape[0]):
        props = regionprops_table(np.asarray(labels[t]), properties=("label", "centroid", "area"))
        frames.append(pd.DataFrame({"frame": t, "label": props["label"], "z": props["centroid-0"],
                                    "y": props["centroid-1"], "x": props["centroid-2"], "size": props["area"]}))
    table = pd.concat(frames, ignore_index=True)
    if table.empty:
        return []
    for i, axis in enumerate("zyx"):
        table[f"{axis}_um"] = table[axis] * scale[i]
    if max_distance is None:
        area = table["size"].to_numpy(float)
        diameters = 2 * np.sqrt(area / np.pi) if labels.shape[1] == 1 else 2 * np.cbrt(3 * area / (4 * np.pi))
        max_distance = float(np.median(diameters)) * float(scale[1])
    cutoff = max_distance**2
    tracker = LapTrack(cutoff=cutoff, gap_closing_cutoff=cutoff, gap_closing_max_frame_count=gap_frames + 1,
                       splitting_cutoff=cutoff if divisions else False)
    tracks, splits, _ = tracker.predict_dataframe(table, ["z_um", "y_um", "x_um"], only_coordinate_cols=False)
    tracks = tracks.reset_index(drop=True)
    tracks["track_id"] += 1
    parents = dict(zip(splits["child_track_id"] + 1, splits["parent_track_id"] + 1)) if len(splits) else {}
    for t in range(labels.shape[0]):
        here = tracks[tracks["frame"] == t]
        lut = np.zeros(int(np.max(labels[t], initial=0)) + 1, np.uint32)
        lut[here["label"].to_numpy(int)] = here["track_id"].to_numpy(np.uint32)
        labels[t] = lut[labels[t]]
    tracks = tracks.sort_values(["track_id", "frame"])
    return [{"track_id": int(r["track_id"]), "frame": int(r["frame"]), "z": float(r["z"]), "y": float(r["y"]),
             "x": float(r["x"]), "size": int(r["size"]), "parent_track_id": int(parents.get(r["track_id"], 0))}
            for r in tracks.to_dict("records")]


def write_tracks(path: str | Path, rows: list[dict]) -> Path:
    """Write :func:`track_series` rows as CSV (columns :data:`TRACK_COLUMNS`), atomically."""
    return write_csv(path, rows, TRACK_COLUMNS)

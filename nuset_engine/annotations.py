"""Training annotations in the forms users have them, read as instance labels.

An annotation is a label image (instance labels of any integer dtype, or a
binary mask) or an ImageJ ROI set (Fiji's ROI Manager ``RoiSet.zip``, NuSeT's
own ``<image>_rois.zip``, a single ``.roi``). :func:`read_annotation` turns
any of them into int32 instance labels of the image's shape;
:func:`annotated_stems` says which image a file annotates (the pairing rule
of :func:`nuset_engine.data.find_pairs`).

ImageJ coordinates put pixel ``(row i, column j)`` at ``[j, j+1) x [i, i+1)``,
its centre at ``(j + 0.5, i + 0.5)``; a pixel belongs to a ROI when its centre
is inside the ROI, as in ImageJ's own masks.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.draw import polygon as fill_polygon
from skimage.segmentation import relabel_sequential

from .io import read_image

__all__ = ["read_annotation", "label_image_instances", "rasterize_rois", "annotated_stems", "LABEL_IMAGE_SUFFIXES",
           "PAIRING_RULE"]

#: The file types a label image may have (JPEG too, as before, though its compression alters labels).
LABEL_IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
# what may follow an image's stem in its annotation's name (compared without case);
# "_labels" and "_rois" are what `nuset segment` writes (batch.OUTPUT_SUFFIXES)
_LABEL_ENDINGS = ("", "_labels", "_masks")
_ROI_SET_ENDINGS = {".zip": ("", "_rois", "_roiset"), ".roi": ("",)}

PAIRING_RULE = ("An image <name>.tif (any image type) pairs with one file of the labels folder: a label image or "
                "binary mask <name>.tif, <name>_labels.tif or <name>_masks.tif (.tif, .tiff or .png), or an ImageJ "
                "ROI set <name>.zip, <name>_rois.zip or <name>_RoiSet.zip, or a single ROI <name>.roi (Fiji's ROI "
                "Manager saves RoiSet.zip: rename it after its image).")


def annotated_stems(name: str) -> list[str]:
    """The image stems a file of this name may annotate, the likeliest first.

    Parameters
    ----------
    name : str
        A file name, e.g. ``"cell1_RoiSet.zip"``.

    Returns
    -------
    list of str
        E.g. ``["cell1_RoiSet", "cell1"]``; ``[]`` for files that are no
        annotation (by their type). Endings are matched without case.
    """
    suffix = Path(name).suffix.lower()
    if suffix in LABEL_IMAGE_SUFFIXES:
        endings = _LABEL_ENDINGS
    elif suffix in _ROI_SET_ENDINGS:
        endings = _ROI_SET_ENDINGS[suffix]
    else:
        return []
    base = name[: -len(suffix)]
    return [base[: len(base) - len(e)] for e in endings if base.lower().endswith(e) and len(base) > len(e)]


def read_annotation(path: str | Path, shape: tuple[int, int], *, image_path: str | Path | None = None,
                    allow_empty: bool = False) -> np.ndarray:
    """The instance labels of an annotation file.

    Parameters
    ----------
    path : str or Path
        A label image or binary mask (:data:`LABEL_IMAGE_SUFFIXES`), or an
        ImageJ ROI set (``.zip``) or single ROI (``.roi``).
    shape : tuple of int
        ``(H, W)`` of the image it annotates, pixels.
    image_path : str or Path, optional
        That image, named in errors.
    allow_empty : bool, default False
        Return all-zero labels for an annotation that marks no nucleus (an
        empty ROI set, an all-background label image) instead of raising.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` int32 instance labels, 0 = background.

    Raises
    ------
    ValueError
        Naming the file and the fix: unreadable, of another size than the
        image, empty (no ROI, or all background; unless ``allow_empty``), ROIs entirely outside the
        image or of a kind that outlines no area, negative or fractional
        labels.

    Notes
    -----
    Label images: see :func:`label_image_instances`. ROI sets: see
    :func:`rasterize_rois`.
    """
    path = Path(path)
    shape = tuple(int(n) for n in shape)
    if path.suffix.lower() in _ROI_SET_ENDINGS:
        return rasterize_rois(_read_rois(path), shape, source=str(path), allow_empty=allow_empty)
    labels = label_image_instances(read_image(path), source=str(path), allow_empty=allow_empty)
    if labels.shape != shape:
        image = f"the image {image_path}" if image_path is not None else "the image"
        raise ValueError(f"{path}: labels of shape {labels.shape} do not match {image} of shape {shape}; each label "
                         "image must have its image's height and width")
    return labels


def label_image_instances(labels: np.ndarray, source: str = "labels", allow_empty: bool = False) -> np.ndarray:
    """Instance labels from a label image or binary mask as read from a file.

    Parameters
    ----------
    labels : array_like
        ``(H, W)`` (or with axes of size 1, or a gray image saved as RGB(A))
        of any integer dtype, bool, or float holding whole numbers.
    source : str, default ``"labels"``
        Names the file in errors.
    allow_empty : bool, default False
        Accept labels without any nucleus (all 0).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` int32, 0 = background. A mask (bool, or a single
        non-zero value such as 255) is split into 8-connected components;
        instance ids are kept where they fit in int32, else renumbered
        1..N.

    Raises
    ------
    ValueError
        Several different colour channels, not a 2-D plane, negative,
        fractional or non-finite values, or no labelled pixel (unless
        ``allow_empty``).
    """
    labels = np.asarray(labels)
    labels = labels.reshape([n for n in labels.shape if n != 1]) if labels.ndim > 2 else labels
    if labels.ndim == 3 and labels.shape[-1] in (3, 4):
        colour = labels[..., :3]
        if not (colour == colour[..., :1]).all():
            raise ValueError(f"{source}: a colour label image; save labels as a single-channel integer image "
                             "(Fiji: Image > Type > 16-bit), one id per nucleus")
        labels = colour[..., 0]
    if labels.ndim != 2:
        raise ValueError(f"{source}: labels of shape {labels.shape} are not a single 2-D plane; save one label "
                         "image per image")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or (labels != np.round(labels)).any():
            raise ValueError(f"{source}: the labels are fractional numbers ({labels.dtype}), not nucleus ids; save "
                             "integer labels (0 = background, 1, 2, ... one per nucleus; Fiji: Image > Type > 16-bit)")
    elif labels.dtype.kind not in "biu":
        raise ValueError(f"{source}: labels of type {labels.dtype} are not integers; save integer labels")
    if labels.dtype.kind != "b" and labels.min() < 0:
        raise ValueError(f"{source}: negative labels (down to {labels.min()}); labels are 0 for background and "
                         "1, 2, ... for nuclei")
    values = np.unique(labels)
    if values[-1] == 0:
        if allow_empty:
            return np.zeros(labels.shape, np.int32)
        raise ValueError(f"{source}: every pixel is background (0): no nucleus is annotated; remove the image and "
                         "its labels from the training folders, or annotate its nuclei")
    if labels.dtype.kind == "b" or len(values[values != 0]) == 1:
        return ndimage.label(labels != 0, structure=np.ones((3, 3), int))[0].astype(np.int32)
    if values[-1] > np.iinfo(np.int32).max:
        return relabel_sequential(labels.astype(np.int64))[0].astype(np.int32)
    return labels.astype(np.int32)


def _read_rois(path: Path) -> list:
    """The ROIs of a ``.zip`` or ``.roi`` file (roifile), with errors naming it."""
    import roifile

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        rois = roifile.roiread(path)
    except Exception as exc:  # zipfile, struct and roifile raise their own types for bad data
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not an ImageJ ROI set ({reason}); a .zip or .roi in the labels folder must be "
                         "ROIs saved by Fiji's ROI Manager (More > Save...) or NuSeT's own ROI output "
                         "(<image>_rois.zip)") from exc
    return [rois] if isinstance(rois, roifile.ImagejRoi) else list(rois)


def rasterize_rois(rois, shape: tuple[int, int], source: str = "ROI set", allow_empty: bool = False) -> np.ndarray:
    """Instance labels from ImageJ ROIs, one nucleus per ROI.

    Parameters
    ----------
    rois : sequence of roifile.ImagejRoi
        Area ROIs: polygon, freehand, traced (wand), rectangle, oval,
        ellipse, rotated rectangle, composite (shape) ROIs, and polylines
        whose ends meet.
    shape : tuple of int
        ``(H, W)`` of the image, pixels.
    source : str, default ``"ROI set"``
        Names the file in errors.
    allow_empty : bool, default False
        Return all-zero labels for a set of no ROI instead of raising.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` int32 labels 1..N in the order of the ROIs (ROIs covering
        no pixel centre are left out).

    Raises
    ------
    ValueError
        No ROI (unless ``allow_empty``); a ROI entirely outside the image; a ROI that outlines no
        area (point, line, open polyline, angle, text, image), named by its
        number and name; no ROI covering any pixel.

    Notes
    -----
    A pixel belongs to a ROI when its centre is inside it (ImageJ's rule;
    composite ROIs by the even-odd rule, so holes stay holes). ROIs
    partly outside the image are clipped (nuclei at the border). Where ROIs
    overlap, the smaller ROI keeps the overlap, so a nucleus drawn over a
    larger one is never erased, whatever the order of the set. Stack
    positions (C, Z, T) are ignored: every ROI is drawn on the one 2-D plane.
    Rounded rectangles are taken as rectangles.
    """
    rois = list(rois)
    if not rois and allow_empty:
        return np.zeros(shape, np.int32)
    if not rois:
        raise ValueError(f"{source}: the ROI set holds no ROI: no nucleus is annotated; annotate the image's nuclei "
                         "or remove the image and its ROI set from the training folders")
    regions = [_roi_region(roi, shape, f"{source}: ROI {i} of {len(rois)} ({roi.name!r})")
               for i, roi in enumerate(rois, start=1)]
    labels = np.zeros(shape, np.int32)
    areas = [int(mask.sum()) for _, mask in regions]
    for i in sorted(range(len(rois)), key=lambda k: -areas[k]):  # larger first: smaller ROIs paint over them
        window, mask = regions[i]
        labels[window][mask] = i + 1
    if not labels.any():
        raise ValueError(f"{source}: none of its {len(rois)} ROIs covers a pixel centre of the {shape[0]}x{shape[1]} "
                         "image; were the ROIs saved for a scaled copy of the image?")
    return relabel_sequential(labels)[0].astype(np.int32)


def _roi_region(roi, shape, name) -> tuple[tuple[slice, slice], np.ndarray]:
    """The pixels of one ROI as ``(window, mask)``: a window of the image
    (clipped to it) and the pixels of that window inside the ROI."""
    kind, outline = _outline(roi, name)
    x0, y0, x1, y1 = outline if kind in ("rect", "oval") else _bounds(outline)
    height, width = shape
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise ValueError(f"{name} lies outside the {height}x{width} image (x {x0:g} to {x1:g}, y {y0:g} to {y1:g} "
                         "pixels); was the ROI set saved for another image, or a larger copy of this one?")
    r0, r1 = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)), height)
    c0, c1 = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)), width)
    window = (slice(r0, r1), slice(c0, c1))
    yy = (np.arange(r0, r1) + 0.5)[:, None]  # pixel centres
    xx = (np.arange(c0, c1) + 0.5)[None, :]
    if kind == "rect":
        mask = (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
    elif kind == "oval":
        a, b = (x1 - x0) / 2, (y1 - y0) / 2
        mask = ((xx - x0 - a) / max(a, 1e-9)) ** 2 + ((yy - y0 - b) / max(b, 1e-9)) ** 2 <= 1
    else:
        mask = np.zeros((r1 - r0, c1 - c0), bool)
        for ring in outline:  # even-odd: a ring inside another is a hole
            rr, cc = fill_polygon(ring[:, 1] - 0.5 - r0, ring[:, 0] - 0.5 - c0, shape=mask.shape)
            ring_mask = np.zeros_like(mask)
            ring_mask[rr, cc] = True
            mask ^= ring_mask
    return window, mask


def _bounds(rings) -> tuple[float, float, float, float]:
    xy = np.concatenate(rings)
    return float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max())


_NO_AREA = {"LINE": "a straight line", "POINT": "a point selection", "ANGLE": "an angle", "NOROI": "no selection",
            "POLYLINE": "an open segmented line", "FREELINE": "an open freehand line", "UNKNOWN": "of unknown type"}


def _outline(roi, name):
    """What a ROI outlines: ``("rect" | "oval", (x0, y0, x1, y1))`` or
    ``("rings", [(N, 2) float x, y arrays])``, in ImageJ pixel coordinates.
    Raises ValueError for ROIs that outline no area."""
    import roifile

    types, subtypes = roifile.ROI_TYPE, roifile.ROI_SUBTYPE
    if roi.subtype in (subtypes.TEXT, subtypes.IMAGE, subtypes.ARROW):
        what = {subtypes.TEXT: "a text label", subtypes.IMAGE: "an image overlay", subtypes.ARROW: "an arrow"}
        _no_area(name, what[roi.subtype])
    if roi.roitype in (types.RECT, types.OVAL) and not roi.composite:
        if roi.subpixelrect:
            box = (roi.xd, roi.yd, roi.xd + roi.widthd, roi.yd + roi.heightd)
        else:
            box = (roi.left, roi.top, roi.right, roi.bottom)
        return ("rect" if roi.roitype == types.RECT else "oval"), tuple(float(v) for v in box)
    if roi.composite:
        try:
            rings = roi.coordinates(multi=True)
        except NotImplementedError:  # curved segments (QUADTO/CUBICTO)
            raise ValueError(f"{name} is a composite shape with curved edges, which NuSeT cannot read; in Fiji, "
                             "convert it first (Edit > Selection > Interpolate, interval 1)") from None
    elif roi.roitype in (types.POLYGON, types.FREEHAND, types.TRACED, types.POLYLINE, types.FREELINE):
        rings = [roi.coordinates()]
        closed = len(rings[0]) > 2 and np.allclose(rings[0][0], rings[0][-1])
        if roi.roitype in (types.POLYLINE, types.FREELINE) and not closed:
            _no_area(name, _NO_AREA[roi.roitype.name])
    else:
        _no_area(name, _NO_AREA.get(roi.roitype.name, f"of type {roi.roitype.name}"))
    rings = [np.asarray(r, np.float64) for r in rings if len(r) >= 3]
    if not rings:
        _no_area(name, "an outline of fewer than 3 points")
    return "rings", rings


def _no_area(name, what):
    raise ValueError(f"{name} is {what}, which outlines no nucleus; NuSeT trains on areas: outline each nucleus with "
                     "Fiji's polygon, freehand, oval, rectangle or wand tool")

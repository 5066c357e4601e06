"""Per-image outputs beyond the label image: ImageJ ROIs, per-nucleus
measurements, and a QC overlay. All writes are atomic (see ``io.atomic_write``).

The formats are what the next tool expects: ROI zips open in Fiji's ROI
Manager (written with roifile), measurements are plain CSV for pandas/R, the
overlay is an RGB PNG.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.measure import find_contours, regionprops_table
from skimage.segmentation import find_boundaries

from .io import atomic_write, write_csv

__all__ = ["label_contours", "write_rois", "measure_nuclei", "write_measurements", "overlay_image",
           "write_overlay", "pixel_size_from_tiff"]

MEASUREMENT_COLUMNS = ["label", "area", "centroid_y", "centroid_x", "bbox_min_y", "bbox_min_x", "bbox_max_y",
                       "bbox_max_x", "perimeter", "eccentricity", "solidity", "mean_intensity",
                       "integrated_intensity"]


def label_contours(labels: np.ndarray) -> dict[int, np.ndarray]:
    """The outer contour of each nucleus.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` instance labels, 0 = background.

    Returns
    -------
    dict of int to numpy.ndarray
        Per label, its contour as ``(N, 2)`` float ``(x, y)`` pixel
        coordinates (pixel centres at ``.5``); the longest contour for
        multi-part objects.
    """
    contours = {}
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        obj = np.pad(labels[sl] == index, 1)
        found = find_contours(obj.astype(np.uint8), 0.5)
        if not found:
            continue
        rc = max(found, key=len)
        # back to image coordinates (minus the pad), as (x, y) pixel centres
        contours[index] = np.stack([rc[:, 1] - 1 + sl[1].start + 0.5, rc[:, 0] - 1 + sl[0].start + 0.5], axis=1)
    return contours


def write_rois(path: str | Path, labels: np.ndarray) -> Path:
    """Write one polygon ImageJ ROI per nucleus, named by its label (``0001``...), in a zip.

    Parameters
    ----------
    path : str or Path
        The RoiSet zip (replaced if it exists; written atomically). No
        nuclei: an empty zip.
    labels : numpy.ndarray
        ``(H, W)`` instance labels, 0 = background.

    Returns
    -------
    Path
    """
    import roifile

    rois = []
    for index, xy in label_contours(labels).items():
        roi = roifile.ImagejRoi.frompoints(xy.astype(np.float32))
        roi.roitype = roifile.ROI_TYPE.POLYGON
        roi.name = f"{index:04d}"
        rois.append(roi)

    def write(tmp):
        Path(tmp).unlink(missing_ok=True)  # roiwrite appends to an existing zip
        if rois:
            roifile.roiwrite(tmp, rois, mode="w")
        else:  # an empty but valid zip, so "no nuclei" is distinguishable from "not written"
            import zipfile

            zipfile.ZipFile(tmp, "w").close()

    return atomic_write(path, write)


def measure_nuclei(labels: np.ndarray, image: np.ndarray, pixel_size: float | None = None) -> list[dict]:
    """Per-nucleus measurements (scikit-image regionprops).

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` instance labels, 0 = background.
    image : array_like
        The ``(H, W)`` image, for the intensities.
    pixel_size : float, optional
        Microns per pixel. Areas and lengths are in pixels, or with it in
        square microns / microns; then the columns are named ``area_um2``,
        ``perimeter_um``, ``centroid_*_um``.

    Returns
    -------
    list of dict
        One row per nucleus (columns: :func:`measurement_columns`).
    """
    if labels.max() == 0:
        return []
    props = regionprops_table(
        labels.astype(np.int32), intensity_image=np.asarray(image, np.float64),
        properties=("label", "area", "centroid", "bbox", "perimeter", "eccentricity", "solidity", "intensity_mean"),
    )
    rows = []
    for i in range(len(props["label"])):
        row = {
            "label": int(props["label"][i]), "area": float(props["area"][i]),
            "centroid_y": float(props["centroid-0"][i]), "centroid_x": float(props["centroid-1"][i]),
            "bbox_min_y": int(props["bbox-0"][i]), "bbox_min_x": int(props["bbox-1"][i]),
            "bbox_max_y": int(props["bbox-2"][i]), "bbox_max_x": int(props["bbox-3"][i]),
            "perimeter": float(props["perimeter"][i]), "eccentricity": float(props["eccentricity"][i]),
            "solidity": float(props["solidity"][i]), "mean_intensity": float(props["intensity_mean"][i]),
        }
        row["integrated_intensity"] = row["mean_intensity"] * row["area"]
        if pixel_size:
            row["area_um2"] = row.pop("area") * pixel_size**2
            row["perimeter_um"] = row.pop("perimeter") * pixel_size
            row["centroid_y_um"] = row["centroid_y"] * pixel_size
            row["centroid_x_um"] = row["centroid_x"] * pixel_size
        rows.append(row)
    return rows


def measurement_columns(pixel_size: float | None) -> list[str]:
    """The columns of :func:`measure_nuclei`'s rows, in CSV order, with or without ``pixel_size``."""
    if not pixel_size:
        return MEASUREMENT_COLUMNS
    cols = [c for c in MEASUREMENT_COLUMNS if c not in ("area", "perimeter")]
    return cols[:1] + ["area_um2", "perimeter_um", "centroid_y_um", "centroid_x_um"] + cols[1:]


def write_measurements(path: str | Path, rows: list[dict], pixel_size: float | None = None) -> Path:
    """Write measurement rows as CSV (atomically).

    Parameters
    ----------
    path : str or Path
    rows : list of dict
        From :func:`measure_nuclei`.
    pixel_size : float, optional
        As given to :func:`measure_nuclei` (it sets the columns).

    Returns
    -------
    Path
    """
    return write_csv(path, rows, measurement_columns(pixel_size))


def overlay_image(image: np.ndarray, labels: np.ndarray, color=(255, 255, 0)) -> np.ndarray:
    """A quality-control picture: the image with the nuclei's outlines.

    Parameters
    ----------
    image : array_like
        ``(H, W)`` image.
    labels : numpy.ndarray
        ``(H, W)`` instance labels.
    color : tuple of int, default ``(255, 255, 0)``
        RGB of the outlines.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8: the image contrast-stretched (0.5-99.8
        percentiles), outlines drawn in ``color``.
    """
    image = np.asarray(image, np.float64)
    lo, hi = np.percentile(image, (0.5, 99.8))
    gray = np.clip((image - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(image)
    rgb = np.repeat((gray * 255).astype(np.uint8)[..., None], 3, axis=2)
    rgb[find_boundaries(labels, mode="inner")] = color
    return rgb


def write_overlay(path: str | Path, image: np.ndarray, labels: np.ndarray) -> Path:
    """Write :func:`overlay_image` as a PNG (atomically).

    Parameters
    ----------
    path : str or Path
    image, labels : numpy.ndarray
        As for :func:`overlay_image`.

    Returns
    -------
    Path
    """
    import imageio.v3 as iio

    rgb = overlay_image(image, labels)
    return atomic_write(path, lambda tmp: iio.imwrite(tmp, rgb, extension=".png"))


def pixel_size_from_tiff(path: str | Path) -> float | None:
    """The pixel size a TIFF records.

    Parameters
    ----------
    path : str or Path
        A TIFF file.

    Returns
    -------
    float or None
        Microns per pixel from the OME metadata, or the resolution tags in
        microns (ImageJ's unit) or centimetres; ``None`` when the file
        records none, in another unit, or cannot be read.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if tif.is_ome and tif.ome_metadata:
                import re

                match = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', tif.ome_metadata)
                unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', tif.ome_metadata)
                if match and (unit is None or unit.group(1) in ("µm", "um", "micron")):
                    return float(match.group(1))
            page = tif.pages.first
            tag = page.tags.get("XResolution")
            if tag is None:
                return None
            num, den = tag.value
            if not num:
                return None
            per_unit = den / num  # units per pixel
            unit = (tif.imagej_metadata or {}).get("unit", "")
            if unit in ("micron", "um", "µm", "\\u00B5m"):
                return float(per_unit)
            res_unit = page.tags.get("ResolutionUnit")
            if res_unit is not None and int(res_unit.value) == 3:  # centimetre
                return float(per_unit * 1e4)
    except Exception:  # metadata is optional: an unreadable tag means "unknown"
        return None
    return None

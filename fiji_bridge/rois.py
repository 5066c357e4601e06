"""Nuclei as ImageJ1 ROIs: in the ROI Manager, on an Overlay, or in a RoiSet zip.

Where they go:

- ``roi_zip`` given: a RoiSet zip at that path (written with ``roifile``;
  ImageJ opens it with File > Open or ``roiManager("open", path)``). No Java
  needed.
- otherwise the ROI Manager, when one can exist (a display; in a batch-mode
  macro the batch-mode ROI Manager);
- without a display (headless Fiji, a cluster node) there is no ROI Manager:
  the ROIs go onto the image's Overlay, with a warning saying so; with no
  image to hold an Overlay they cannot go anywhere, and a warning says that
  and how to save them (``roi_zip=``).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from nuset_engine.outputs import label_contours, write_rois


def _java_running() -> bool:
    try:
        import scyjava
    except ImportError:
        return False
    return scyjava.jvm_started()


def _roi_manager():
    """The ROI Manager to fill, or None when there is no display (headless).

    The headless check comes first: in ImageJ 1.x even the batch-mode ROI
    Manager is a (hidden) window, so asking for it headless throws
    ``java.awt.HeadlessException``.
    """
    from scyjava import jimport

    if jimport("java.awt.GraphicsEnvironment").isHeadless():
        return None
    Interpreter = jimport("ij.macro.Interpreter")
    RoiManager = jimport("ij.plugin.frame.RoiManager")
    manager = RoiManager.getInstance()  # the visible one, if open
    if manager is None and Interpreter.isBatchMode():
        manager = Interpreter.getBatchModeRoiManager()
    return manager if manager is not None else RoiManager.getRoiManager()


def _title(imp) -> str:
    return str(imp.getTitle()) if imp is not None else ""


def add_rois(labels: np.ndarray, imp=None, use_roi_manager: bool = True, roi_zip: str | Path | None = None):
    """One polygon ROI per nucleus, named by its label (``0001``...).

    Parameters
    ----------
    labels : 2-D label image (0 = background).
    imp : the ``ij.ImagePlus`` the ROIs belong to; holds them on its Overlay
        when there is no ROI Manager (or ``use_roi_manager`` is False).
    use_roi_manager : add to the ROI Manager when one can exist (a display,
        or a macro in batch mode).
    roi_zip : write the ROIs to this RoiSet zip instead (replaced if it
        exists; works headless and without Java).

    Returns
    -------
    With ``roi_zip``: the zip's Path. Otherwise the list of the Java
    ``PolygonRoi`` objects, in label order (empty when no JVM is running).

    Warns (``UserWarning``) when the ROIs cannot go where they were asked to
    go: on the Overlay instead of the ROI Manager (no display), or nowhere
    (no display and no image, or no JVM at all).
    """
    labels = np.asarray(labels)
    if roi_zip is not None:
        return write_rois(roi_zip, labels)
    if not _java_running():
        warnings.warn("add_rois: ImageJ is not running (no JVM), so there is no ROI Manager: the ROIs were not "
                      "added; give roi_zip='RoiSet.zip' to save them as a file ImageJ opens", stacklevel=2)
        return []

    from scyjava import jimport

    FloatPolygon = jimport("ij.process.FloatPolygon")
    PolygonRoi = jimport("ij.gui.PolygonRoi")
    Roi = jimport("ij.gui.Roi")
    Overlay = jimport("ij.gui.Overlay")

    rois = []
    for index, xy in label_contours(labels).items():
        polygon = FloatPolygon(xy[:, 0].astype(np.float32).tolist(), xy[:, 1].astype(np.float32).tolist())
        roi = PolygonRoi(polygon, Roi.POLYGON)
        roi.setName(f"{index:04d}")
        rois.append(roi)
    manager = _roi_manager() if use_roi_manager else None
    if manager is not None:
        for roi in rois:
            manager.addRoi(roi)
        return rois
    if imp is None:
        if use_roi_manager:
            warnings.warn(f"add_rois: no display (headless), so no ROI Manager, and no ImagePlus to hold an "
                          f"Overlay: the {len(rois)} ROIs were not added; give roi_zip='RoiSet.zip' to save "
                          "them as a file ImageJ opens", stacklevel=2)
        return rois
    overlay = imp.getOverlay() or Overlay()
    for roi in rois:
        overlay.add(roi)
    imp.setOverlay(overlay)
    if use_roi_manager:
        warnings.warn(f"add_rois: no display (headless), so no ROI Manager: the {len(rois)} ROIs are on the "
                      f"Overlay of '{_title(imp)}' instead; give roi_zip='RoiSet.zip' to save them as a file",
                      stacklevel=2)
    return rois

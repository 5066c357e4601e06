"""Nuclei as ImageJ1 ROIs: in the ROI Manager, or on an Overlay when there is none."""
from __future__ import annotations

import numpy as np

from nuset_engine.outputs import label_contours


def _roi_manager():
    """The ROI Manager to fill, or None when there is no display (headless)."""
    from scyjava import jimport

    GraphicsEnvironment = jimport("java.awt.GraphicsEnvironment")
    Interpreter = jimport("ij.macro.Interpreter")
    RoiManager = jimport("ij.plugin.frame.RoiManager")
    if Interpreter.isBatchMode() and Interpreter.getBatchModeRoiManager() is not None:
        return Interpreter.getBatchModeRoiManager()
    if GraphicsEnvironment.isHeadless():
        return None
    return RoiManager.getRoiManager()


def add_rois(labels: np.ndarray, imp=None, use_roi_manager: bool = True):
    """One polygon ROI per nucleus, named by its label (``0001``...).

    Added to the ROI Manager when ``use_roi_manager`` and one can exist
    (a display, or a macro in batch mode); otherwise to ``imp``'s Overlay.

    Returns
    -------
    list of the Java ``PolygonRoi`` objects, in label order.
    """
    from scyjava import jimport

    FloatPolygon = jimport("ij.process.FloatPolygon")
    PolygonRoi = jimport("ij.gui.PolygonRoi")
    Roi = jimport("ij.gui.Roi")
    Overlay = jimport("ij.gui.Overlay")

    rois = []
    for index, xy in label_contours(np.asarray(labels)).items():
        polygon = FloatPolygon(xy[:, 0].astype(np.float32).tolist(), xy[:, 1].astype(np.float32).tolist())
        roi = PolygonRoi(polygon, Roi.POLYGON)
        roi.setName(f"{index:04d}")
        rois.append(roi)
    manager = _roi_manager() if use_roi_manager else None
    if manager is not None:
        for roi in rois:
            manager.addRoi(roi)
    if imp is not None and manager is None:
        overlay = imp.getOverlay() or Overlay()
        for roi in rois:
            overlay.add(roi)
        imp.setOverlay(overlay)
    return rois

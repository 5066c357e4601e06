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

Label stacks (``(T, Z, H, W)``, from a Z-stack or time-lapse) give one ROI
per nucleus per plane, each with its hyperstack position ``(0, z, t)``
(channel 0: shown on every channel), named ``0007-z03-t02`` (``-z``/``-t``
only where there are several planes/frames, positions 1-based as ImageJ
counts them).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from nuset_engine.outputs import label_contours, write_rois


def plane_rois(labels: np.ndarray):
    """The nuclei of a label image or label stack as ImageJ ROI outlines.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` labels, or ``(T, Z, H, W)`` labels of a stack.

    Yields
    ------
    tuple
        ``(name, xy, z, t)``: the ROI name (``0007``, or ``0007-z03-t02``
        for stacks), its ``(N, 2)`` float32 outline in ``(x, y)`` pixels, and
        its 1-based Z and T positions (0 for a 2-D image).
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        for index, xy in label_contours(labels).items():
            yield f"{index:04d}", xy.astype(np.float32), 0, 0
        return
    frames, planes = labels.shape[:2]
    z_digits, t_digits = len(str(planes)), len(str(frames))
    for t in range(frames):
        for z in range(planes):
            suffix = ((f"-z{z + 1:0{z_digits}d}" if planes > 1 else "")
                      + (f"-t{t + 1:0{t_digits}d}" if frames > 1 else ""))
            for index, xy in label_contours(labels[t, z]).items():
                yield f"{index:04d}{suffix}", xy.astype(np.float32), z + 1, t + 1


def write_stack_rois(path: str | Path, labels: np.ndarray) -> Path:
    """Write the ROIs of a label stack (:func:`plane_rois`) to a RoiSet zip,
    each with its hyperstack position (ImageJ's ``Roi.setPosition(0, z, t)``).

    Parameters
    ----------
    path : str or Path
        The RoiSet zip (replaced if it exists). No nuclei: an empty zip.
    labels : numpy.ndarray
        ``(T, Z, H, W)`` labels.

    Returns
    -------
    Path
    """
    import zipfile

    import roifile

    from nuset_engine.io import atomic_write

    rois = []
    for name, xy, z, t in plane_rois(labels):
        roi = roifile.ImagejRoi.frompoints(xy)
        roi.roitype = roifile.ROI_TYPE.POLYGON
        roi.name = name
        roi.c_position, roi.z_position, roi.t_position = 0, z, t
        rois.append(roi)

    def write(tmp):
        Path(tmp).unlink(missing_ok=True)  # roiwrite appends to an existing zip
        if rois:
            roifile.roiwrite(tmp, rois, mode="w")
        else:
            zipfile.ZipFile(tmp, "w").close()

    return atomic_write(path, write)


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
    labels : 2-D label image (0 = background), or a ``(T, Z, H, W)``
        label stack: one ROI per nucleus per plane, with its position
        (:func:`plane_rois`).
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
        return write_rois(roi_zip, labels) if labels.ndim == 2 else write_stack_rois(roi_zip, labels)
    if not _java_running():
        warnings.warn("add_rois: ImageJ is not running (no JVM), so there is no ROI Manager: the ROIs were not "
                      "added; give roi_zip='RoiSet.zip' to save them as a file ImageJ opens", stacklevel=2)
        return []

    from scyjava import jimport

    FloatPolygon = jimport("ij.process.FloatPolygon")
    PolygonRoi = jimport("ij.gui.PolygonRoi")
    Roi = jimport("ij.gui.Roi")
    Overlay = jimport("ij.gui.Overlay")

    # as ImageJ's own Roi.setPosition(imp): a hyperstack position (channel 0: every channel), or on a plain
    # stack (Z or T only, not shown as a hyperstack) the image number, so each ROI shows on its plane
    plain = imp is not None and not imp.isHyperStack() and int(imp.getNChannels()) == 1
    rois = []
    for name, xy, z, t in plane_rois(labels):
        roi = PolygonRoi(FloatPolygon(xy[:, 0].tolist(), xy[:, 1].tolist()), Roi.POLYGON)
        roi.setName(name)
        if labels.ndim > 2:
            roi.setPosition(int(imp.getStackIndex(1, z, t))) if plain else roi.setPosition(0, z, t)
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

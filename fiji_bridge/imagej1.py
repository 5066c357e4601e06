"""ImageJ1 ``ImagePlus`` <-> numpy, and segmentation of an ImagePlus, through
scyjava and ``ij.jar`` alone (works in plain ImageJ, Fiji and pyimagej)."""
from __future__ import annotations

import numpy as np

from nuset_engine import Segmenter

from .rois import add_rois


def imageplus_to_array(imp) -> np.ndarray:
    """The current plane of an ImagePlus as a 2-D numpy array.

    8-bit -> uint8, 16-bit -> uint16, 32-bit -> float32; RGB is refused
    (choose a channel in ImageJ first). Java's signed bytes/shorts are
    reinterpreted as the unsigned values ImageJ shows.
    """
    processor = imp.getProcessor()
    if imp.getBitDepth() == 24:
        raise ValueError(f"{imp.getTitle()}: RGB image; split the channels (Image > Color > Split Channels) "
                         "and segment the nuclear one")
    width, height = int(processor.getWidth()), int(processor.getHeight())
    pixels = np.asarray(processor.getPixels())  # jpype arrays expose a buffer: no per-pixel copy
    if imp.getBitDepth() == 16:
        pixels = pixels.view(np.uint16)
    elif imp.getBitDepth() == 8:
        pixels = pixels.view(np.uint8)
    return pixels.reshape(height, width).copy()


def labels_to_imageplus(labels: np.ndarray, title: str = "labels"):
    """A 16-bit ImagePlus holding ``labels`` (32-bit float above 65535 nuclei,
    exact up to 2**24)."""
    from jpype import JArray, JFloat, JShort
    from scyjava import jimport

    ImagePlus = jimport("ij.ImagePlus")
    labels = np.asarray(labels)
    height, width = labels.shape
    if labels.max(initial=0) <= np.iinfo(np.uint16).max:
        processor = jimport("ij.process.ShortProcessor")(width, height)
        processor.setPixels(JArray(JShort)(labels.astype(np.uint16).view(np.int16).ravel()))
    else:
        processor = jimport("ij.process.FloatProcessor")(width, height)
        processor.setPixels(JArray(JFloat)(labels.astype(np.float32).ravel()))
    processor.resetMinAndMax()
    return ImagePlus(title, processor)


def segment_imageplus(imp, add_rois_to_manager: bool = False, model: str | None = None, device: str = "auto",
                      **params):
    """Segment the current plane of an ImageJ1 ImagePlus.

    Parameters
    ----------
    imp : ij.ImagePlus
    add_rois_to_manager : also add one ROI per nucleus to the ROI Manager
        (or to ``imp``'s Overlay when there is no ROI Manager).
    model, device, **params : as ``Segmenter.load`` / ``Segmenter.segment``.

    Returns
    -------
    ij.ImagePlus titled ``<title>-labels`` (16-bit labels, 0 = background).
    """
    labels = Segmenter.shared(model, device).segment(imageplus_to_array(imp), **params)
    result = labels_to_imageplus(labels, f"{imp.getShortTitle()}-labels")
    calibration = imp.getCalibration()
    if calibration is not None:
        result.setCalibration(calibration.copy())
    if add_rois_to_manager:
        add_rois(labels, imp)
    return result

"""ImageJ1 ``ImagePlus`` <-> numpy, and segmentation of an ImagePlus, through
scyjava and ``ij.jar`` alone (works in plain ImageJ, Fiji and pyimagej)."""
from __future__ import annotations

import warnings

import numpy as np

from nuset_engine import Segmenter
from nuset_engine.options import SEGMENT_OPTIONS, options_doc

from .rois import add_rois as _add_rois


#: The segmentation options the Python functions for ImageJ take as keywords.
PYIMAGEJ_OPTIONS = tuple(o for o in SEGMENT_OPTIONS if "pyimagej" in o.hosts)


def imageplus_to_array(imp) -> np.ndarray:
    """The current plane of an ImagePlus as a 2-D numpy array.

    8-bit -> uint8, 16-bit -> uint16, 32-bit -> float32; RGB is refused
    (choose a channel in ImageJ first). Java's signed bytes/shorts are
    reinterpreted as the unsigned values ImageJ shows.
    """
    return processor_to_array(imp.getProcessor(), str(imp.getTitle()))


def processor_to_array(processor, title: str = "image") -> np.ndarray:
    """An ImageJ1 ``ImageProcessor`` as a 2-D numpy array (see :func:`imageplus_to_array`)."""
    bit_depth = int(processor.getBitDepth())
    if bit_depth == 24:
        raise ValueError(f"{title}: RGB image; split the channels (Image > Color > Split Channels) "
                         "and segment the nuclear one")
    width, height = int(processor.getWidth()), int(processor.getHeight())
    pixels = np.asarray(processor.getPixels())  # jpype arrays expose a buffer: no per-pixel copy
    if bit_depth == 16:
        pixels = pixels.view(np.uint16)
    elif bit_depth == 8:
        pixels = pixels.view(np.uint8)
    return pixels.reshape(height, width).copy()


def labels_title(title) -> str:
    """``<title without extension>-labels`` (as ImageJ's short title), or ``labels``."""
    import re

    title = str(title or "").strip()
    title = re.sub(r"\.(ome\.)?[A-Za-z][A-Za-z0-9]{0,4}$", "", title)
    return f"{title}-labels" if title else "labels"


def labeled_imageplus(labels: np.ndarray, source_imp):
    """Labels as an ImagePlus titled ``<source title>-labels`` with the source's calibration."""
    short = str(source_imp.getShortTitle() or "")  # as the Fiji command names its label image
    result = labels_to_imageplus(labels, f"{short}-labels" if short else "labels")
    calibration = source_imp.getCalibration()
    if calibration is not None:
        result.setCalibration(calibration.copy())
    return result


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


def segment_imageplus(imp, add_rois: bool = False, model: str | None = None, device: str = "auto",
                      roi_zip: str | None = None, *, add_rois_to_manager: bool | None = None, backend: str = "auto",
                      **params):
    """Segment the current plane of an ImageJ1 ImagePlus.

    Parameters
    ----------
    imp : ij.ImagePlus
    add_rois : also add one ROI per nucleus to the ROI Manager (or to
        ``imp``'s Overlay when there is no display, with a warning), as
        ``segment(..., add_rois=True)`` does.
    roi_zip : write the ROIs to this RoiSet zip instead (implies ROIs; works
        headless).
    model, device, backend : as ``Segmenter.load``.
    add_rois_to_manager : deprecated name of ``add_rois`` (a
        ``DeprecationWarning``); still honoured.
    **params : the segmentation options (below), as ``Segmenter.segment``.

    Returns
    -------
    ij.ImagePlus titled ``<title>-labels`` (16-bit labels, 0 = background),
    with ``imp``'s calibration.
    """
    if add_rois_to_manager is not None:
        warnings.warn("segment_imageplus(add_rois_to_manager=...) is deprecated: use add_rois=..., as segment() does",
                      DeprecationWarning, stacklevel=2)
        add_rois = add_rois or bool(add_rois_to_manager)
    labels = Segmenter.shared(model, device, backend).segment(imageplus_to_array(imp), **params)
    result = labeled_imageplus(labels, imp)
    if add_rois or roi_zip is not None:
        _add_rois(labels, imp, roi_zip=roi_zip)
    return result


segment_imageplus.__doc__ = segment_imageplus.__doc__.rstrip() + "\n" + options_doc(PYIMAGEJ_OPTIONS, indent=4)

"""ImageJ1 ``ImagePlus`` <-> numpy, and segmentation of an ImagePlus, through
scyjava and ``ij.jar`` alone (works in plain ImageJ, Fiji and pyimagej).

RGB images go to the model whole (colour models take them; a gray model
refuses them naming the choices); hyperstacks with Z slices and/or T frames
are segmented whole (:mod:`fiji_bridge.hyperstacks`) into label hyperstacks
with the same Z and T."""
from __future__ import annotations

import warnings

import numpy as np

from nuset_engine import Segmenter
from nuset_engine.options import SEGMENT_OPTIONS, options_doc

from .rois import add_rois as _add_rois


#: The segmentation options the Python functions for ImageJ take as keywords.
PYIMAGEJ_OPTIONS = tuple(o for o in SEGMENT_OPTIONS if "pyimagej" in o.hosts)


def imageplus_to_array(imp) -> np.ndarray:
    """The current plane of an ImagePlus as a numpy array.

    8-bit -> uint8, 16-bit -> uint16, 32-bit -> float32, all ``(H, W)``;
    RGB -> ``(H, W, 3)`` uint8. Java's signed bytes/shorts are reinterpreted
    as the unsigned values ImageJ shows.
    """
    return processor_to_array(imp.getProcessor(), str(imp.getTitle()))


def processor_to_array(processor, title: str = "image") -> np.ndarray:
    """An ImageJ1 ``ImageProcessor`` as a numpy array (see :func:`imageplus_to_array`)."""
    bit_depth = int(processor.getBitDepth())
    width, height = int(processor.getWidth()), int(processor.getHeight())
    pixels = np.asarray(processor.getPixels())  # jpype arrays expose a buffer: no per-pixel copy
    if bit_depth == 24:  # packed 0xRRGGBB ints
        packed = pixels.view(np.uint32).reshape(height, width)
        return np.stack([(packed >> shift) & 0xFF for shift in (16, 8, 0)], axis=-1).astype(np.uint8)
    if bit_depth == 16:
        pixels = pixels.view(np.uint16)
    elif bit_depth == 8:
        pixels = pixels.view(np.uint8)
    return pixels.reshape(height, width).copy()


def imageplus_stack(imp, channel: int | None = None) -> np.ndarray:
    """The planes of one channel of a hyperstack, as ``(T, Z, H, W)``.

    Parameters
    ----------
    imp : ij.ImagePlus
    channel : int, optional
        0-based: the channel of a multi-channel hyperstack (default: the
        current one), or the colour of an RGB stack (0 red, 1 green, 2 blue;
        required: stacks are segmented one channel at a time).

    Raises
    ------
    ValueError
        An RGB stack without ``channel``, or a channel that does not exist,
        naming the image.
    """
    title = str(imp.getTitle())
    _, _, channels, slices, frames = (int(n) for n in imp.getDimensions())
    rgb = int(imp.getBitDepth()) == 24
    if rgb and channel is None:
        raise ValueError(f"ImagePlus '{title}' is an RGB stack; NuSeT segments stacks of one channel: give channel= "
                         "(0 red, 1 green, 2 blue), or convert it (Image > Type > 8-bit)")
    count = 3 if rgb else channels
    c = int(imp.getC()) - 1 if channel is None else int(channel)
    if not 0 <= c < count:
        raise ValueError(f"ImagePlus '{title}': channel {c} requested but it has {count} channel"
                         f"{'s' if count != 1 else ''} (0 to {count - 1})")
    stack = imp.getStack()
    planes = []
    for t in range(frames):
        for z in range(slices):
            plane = processor_to_array(stack.getProcessor(imp.getStackIndex(1 if rgb else c + 1, z + 1, t + 1)), title)
            planes.append(plane[..., c] if rgb else plane)
    return np.stack(planes).reshape(frames, slices, *planes[0].shape)


def voxel_size(imp) -> tuple[float, float, float]:
    """``(depth, height, width)`` of a voxel, from the ImagePlus's calibration (one unit)."""
    cal = imp.getCalibration()
    return tuple(float(v) if v > 0 else 1.0 for v in (cal.pixelDepth, cal.pixelHeight, cal.pixelWidth))


def is_stack(imp) -> bool:
    """Whether an ImagePlus has Z slices or T frames."""
    return int(imp.getNSlices()) > 1 or int(imp.getNFrames()) > 1


def as_model_takes(segmenter, image: np.ndarray, channel: int | None = None, what: str = "image") -> np.ndarray:
    """A 2-D image as the segmenter's model takes it (``nuset_engine.colour``).

    A colour model gets an RGB image whole; a gray model one plane
    (``channel`` of a multi-channel or RGB image), an RGB image without
    ``channel`` being refused with the engine's message, which names the
    choices. Raises :class:`~nuset_engine.colour.InputMismatchError` (a
    ``ValueError``) naming ``what``.
    """
    from nuset_engine.colour import InputMismatchError, model_input, prepare_input
    from nuset_engine.io import to_grayscale

    model = model_input(segmenter.metadata)
    image = np.asarray(image)
    rgb = image.ndim == 3 and image.shape[-1] in (3, 4)
    if model.colour:
        if channel is not None:
            raise InputMismatchError(f"{what}: a channel ({channel}) was chosen but {model.description} needs the "
                                     "whole RGB image; leave the channel out")
        if not rgb:
            prepare_input(image, model, what)  # raises, naming the choices
        return image
    if rgb and channel is None:
        prepare_input(image, model, what)  # raises: RGB for a gray model
    return to_grayscale(image, channel, what)


def segment_imageplus_labels(segmenter, imp, channel: int | None = None, params: dict | None = None) -> np.ndarray:
    """Labels of an ImagePlus: ``(H, W)`` for its current plane (``channel``:
    0-based, of a multi-channel image; default the current plane), or
    ``(T, Z, H, W)`` for a hyperstack with Z slices or T frames (3-D nuclei,
    a time-lapse's labels = track ids)."""
    from nuset_engine.stacks import ArrayStack

    from .hyperstacks import segment_hyperstack

    title = str(imp.getTitle())
    if is_stack(imp):
        stack = ArrayStack(imageplus_stack(imp, channel), "TZYX", voxel_size=voxel_size(imp),
                           name=f"ImagePlus '{title}'")
        return segment_hyperstack(segmenter, stack, None, **(params or {}))[0]
    processor = imp.getProcessor()
    if channel is not None and int(imp.getNChannels()) > 1:
        if not 0 <= channel < int(imp.getNChannels()):
            raise ValueError(f"ImagePlus '{title}': channel {channel} requested but it has {int(imp.getNChannels())} "
                             f"channels (0 to {int(imp.getNChannels()) - 1})")
        processor = imp.getStack().getProcessor(imp.getStackIndex(channel + 1, 1, 1))
        channel = None
    image = processor_to_array(processor, title)
    return segmenter.segment(as_model_takes(segmenter, image, channel, f"ImagePlus '{title}'"), **(params or {}))


def labels_title(title) -> str:
    """``<title without extension>-labels`` (as ImageJ's short title), or ``labels``."""
    import re

    title = str(title or "").strip()
    title = re.sub(r"\.(ome\.)?[A-Za-z][A-Za-z0-9]{0,4}$", "", title)
    return f"{title}-labels" if title else "labels"


def labeled_imageplus(labels: np.ndarray, source_imp):
    """Labels (``(H, W)`` or ``(T, Z, H, W)``) as an ImagePlus titled
    ``<source title>-labels`` with the source's calibration (and Z and T)."""
    short = str(source_imp.getShortTitle() or "")  # as the Fiji command names its label image
    result = labels_to_imageplus(labels, f"{short}-labels" if short else "labels")
    calibration = source_imp.getCalibration()
    if calibration is not None:
        result.setCalibration(calibration.copy())
    return result


def labels_to_imageplus(labels: np.ndarray, title: str = "labels"):
    """A 16-bit ImagePlus holding ``labels`` (32-bit float above 65535 nuclei,
    exact up to 2**24): ``(H, W)``, or ``(T, Z, H, W)`` as a stack with Z
    slices and T frames."""
    from scyjava import jimport

    ImagePlus = jimport("ij.ImagePlus")
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return ImagePlus(title, _processor(labels, labels.max(initial=0) > np.iinfo(np.uint16).max))
    frames, slices, height, width = labels.shape
    wide = labels.max(initial=0) > np.iinfo(np.uint16).max
    stack = jimport("ij.ImageStack")(width, height)
    for plane in labels.reshape(-1, height, width):
        stack.addSlice(_processor(plane, wide))
    result = ImagePlus(title, stack)
    result.setDimensions(1, slices, frames)
    result.setOpenAsHyperStack(slices > 1 and frames > 1)
    return result


def _processor(plane: np.ndarray, wide: bool):
    from jpype import JArray, JFloat, JShort
    from scyjava import jimport

    height, width = plane.shape
    if not wide:
        processor = jimport("ij.process.ShortProcessor")(width, height)
        processor.setPixels(JArray(JShort)(plane.astype(np.uint16).view(np.int16).ravel()))
    else:
        processor = jimport("ij.process.FloatProcessor")(width, height)
        processor.setPixels(JArray(JFloat)(plane.astype(np.float32).ravel()))
    processor.resetMinAndMax()
    return processor


def segment_imageplus(imp, add_rois: bool = False, model: str | None = None, device: str = "auto",
                      roi_zip: str | None = None, *, channel: int | None = None,
                      add_rois_to_manager: bool | None = None, backend: str = "auto", **params):
    """Segment an ImageJ1 ImagePlus: its current plane, or, for a hyperstack
    with Z slices or T frames, all of them.

    Parameters
    ----------
    imp : ij.ImagePlus
        Gray (8, 16, 32-bit) or RGB (for a colour model, or with
        ``channel``). A hyperstack with Z and/or T is segmented whole: nuclei
        joined in 3-D across Z (the calibration's voxel depth used), a
        time-lapse's nuclei tracked so that labels are track ids (needs
        laptrack).
    channel : 0-based channel of a multi-channel image (default: the current
        one), or colour of an RGB image (0 red, 1 green, 2 blue; default: the
        RGB image whole, which a colour model takes and a gray one refuses).
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
    with ``imp``'s calibration; for a hyperstack, a label hyperstack with the
    same Z and T, and ROIs (one per nucleus per plane) with their positions.
    """
    if add_rois_to_manager is not None:
        warnings.warn("segment_imageplus(add_rois_to_manager=...) is deprecated: use add_rois=..., as segment() does",
                      DeprecationWarning, stacklevel=2)
        add_rois = add_rois or bool(add_rois_to_manager)
    labels = segment_imageplus_labels(Segmenter.shared(model, device, backend), imp, channel, params)
    result = labeled_imageplus(labels, imp)
    if add_rois or roi_zip is not None:
        _add_rois(labels, imp, roi_zip=roi_zip)
    return result


segment_imageplus.__doc__ = segment_imageplus.__doc__.rstrip() + "\n" + options_doc(PYIMAGEJ_OPTIONS, indent=4)

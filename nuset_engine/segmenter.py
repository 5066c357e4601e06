"""The user-facing engine: ``Segmenter.load()`` then ``segmenter.segment(image)``.

One call runs NuSeT's pipeline: pass 1 (whole-image normalization) gives a
coarse foreground mask; its median nucleus size sets the scale (images whose
nuclei are much larger or smaller than the training data are resized so the
network sees familiar sizes); pass 2 (foreground normalization from the
pass-1 mask) gives the final mask and proposal boxes; the RPN-aided
watershed turns them into an instance label image at the input size.
"""
from __future__ import annotations

import copy
import inspect
import math
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch
from skimage.segmentation import relabel_sequential

from .anchors import DEFAULT_BASE_SIZE
from .model_io import load_model
from .network import STRIDE, NuSeTNet
from .normalize import as_float_image, foreground_normalize, normalize_with
from .options import SEGMENT_OPTIONS, SegmentOptions, option_types, options_doc, options_from
from .resample import enlarge_labels_window, nearest_window, resample_window, scaled_shape
from .results import SegmentationDetails, empty_result
from .rpn import propose_boxes
from .sizes import COARSE_SCALE, component_boxes, component_sizes, interior_mask, min_object_size, typical_size
from .tiling import segment_tiled, tile_size_for
from .watershed import label_dtype, mask_to_objects, rpn_aided_watershed

__all__ = ["Segmenter", "SegmentationDetails", "resolve_device", "resize_labels"]

_SHARED: dict[tuple, "Segmenter"] = {}  # see Segmenter.shared and Segmenter.release_shared
_SHARED_LOCK = threading.Lock()
# Internal resize factors allowed: nuclei up to 8x larger than in training
# are shrunk; smaller ones are enlarged at most 2x (beyond that an image
# would grow by 4x per axis for little gain, and a noisy coarse mask could
# blow a small image up to gigapixels).
SCALE_LIMITS = (0.125, 2.0)
# Test-time augmentation: the 8 symmetries of the square (transpose or not,
# then flip rows, columns, both or neither) under which a nucleus image
# means the same; the network is not exactly invariant to them.
DIHEDRAL = tuple((t, r, c) for t in (False, True) for r in (False, True) for c in (False, True))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device to run on.

    Parameters
    ----------
    device : str or torch.device, default ``"auto"``
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"`` or
        ``"cuda"`` (``"cuda:1"``...).

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        An unknown device, or CUDA asked for where there is none.
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unsupported device {device!r}; use 'auto', 'cpu' or 'cuda'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use device='cpu' or 'auto'")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device}; use 'auto', 'cpu' or 'cuda'")
    return device


def _fold_batch_norm(net: torch.nn.Module) -> torch.nn.Module:
    """Fold every Conv2d + BatchNorm2d pair (eval mode) into one Conv2d."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in net.modules():
        if isinstance(module, torch.nn.Sequential):
            layers = list(module)
            for i in range(len(layers) - 1):
                if isinstance(layers[i], torch.nn.Conv2d) and isinstance(layers[i + 1], torch.nn.BatchNorm2d):
                    module[i] = fuse_conv_bn_eval(layers[i], layers[i + 1])
                    module[i + 1] = torch.nn.Identity()
    return net


class Segmenter:
    """A NuSeT model ready to segment 2-D grayscale images.

    Made by :meth:`load` (a model file) or :meth:`shared` (loaded once per
    process); the constructor takes a network already in memory.

    Parameters
    ----------
    net : NuSeTNet
        The network (a copy is prepared for inference; ``net`` is left as is).
    metadata : dict, optional
        The model file's metadata (training nucleus size, normalization...).
    device : str or torch.device, default ``"auto"``
        See :func:`resolve_device`.
    foreground_net : NuSeTNet, optional
        A second weight set for pass 2 (the paper's layout: one network per
        normalization); ``None`` uses ``net`` for both.

    Attributes
    ----------
    device : torch.device
    metadata : dict
    training_nucleus_size : float
        The nucleus size (pixels, largest bounding-box side) the model saw
        most in training; images are resized towards it.

    Notes
    -----
    :meth:`segment` is the API. The other public-looking methods
    (:meth:`network_maps`, :meth:`choose_scale`, :meth:`postprocess`,
    :meth:`scale_from_first_look`, :meth:`first_look`, :meth:`size_around`)
    are internal: the steps of the pipeline that :mod:`nuset_engine.tiling`
    runs tile by tile. They may change without notice.

    Examples
    --------
    >>> seg = Segmenter.load()                      # the shipped model
    >>> labels = seg.segment(image)                 # (H, W) uint16
    >>> labels, details = seg.segment(image, return_details=True)
    """

    def __init__(self, net: NuSeTNet, metadata: dict | None = None, device: str | torch.device = "auto",
                 foreground_net: NuSeTNet | None = None):
        self.device = resolve_device(device)
        self.net = self._prepare(net)
        self.foreground_net = None if foreground_net is None else self._prepare(foreground_net)
        self.metadata = dict(metadata or {})
        # Nucleus size (pixels, max bbox side) the model saw most in training,
        # of whole nuclei. The estimates compared with it (and used as the
        # anchor size) are of the distance head's cores, ~0.85x a nucleus: kept
        # on purpose, one size for both scored lower (docs/benchmarks.md,
        # "One nucleus size").
        self.training_nucleus_size = float(self.metadata.get("nucleus_size", 20.0))

    def _prepare(self, net: NuSeTNet) -> NuSeTNet:
        # Inference copy: batch norm folded into the convolutions (same function,
        # ~15% less time) and channels-last (roughly halves CPU convolution time).
        # A copy, so that a network still being trained is left untouched.
        return _fold_batch_norm(copy.deepcopy(net).eval()).to(self.device, memory_format=torch.channels_last)

    @property
    def two_pass(self) -> bool:
        """Whether :meth:`segment` runs the foreground-normalization pass by
        default: a model trained on whole-image normalization only
        (``nuset train --normalization whole``) never saw foreground-normalized
        input, so it runs one pass; the others run two."""
        return self.metadata.get("training", {}).get("normalization", "both") != "whole"

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "auto") -> "Segmenter":
        """Load a model file.

        Parameters
        ----------
        path : str or Path, optional
            A model written by ``nuset train`` (``.nuset.pt``); ``None``: the
            model shipped with the package.
        device : str, default ``"auto"``
            See :func:`resolve_device`.

        Returns
        -------
        Segmenter
            A new one, with its own copy of the network.

        Raises
        ------
        ModelFileError
            The file is missing, corrupt or not a NuSeT model.
        ValueError
            An unknown device, or CUDA asked for where there is none.
        """
        net, metadata = load_model(path)
        return cls(net, metadata, device)

    @classmethod
    def shared(cls, path: str | Path | None = None, device: str = "auto") -> "Segmenter":
        """Like :meth:`load`, but loaded once per process and reused.

        For wrappers that segment many images (batch workers, the Fiji
        bridge, the CellProfiler module). The models stay loaded until
        :meth:`release_shared`.

        Parameters
        ----------
        path : str or Path, optional
            As for :meth:`load`.
        device : str, default ``"auto"``
            As for :meth:`load`; ``"auto"`` and ``"cpu"`` are cached apart.

        Returns
        -------
        Segmenter
            The same object for the same ``path`` and ``device`` until released.

        Raises
        ------
        ModelFileError, ValueError
            As :meth:`load`.
        """
        key = (None if path is None else str(path), str(device))
        with _SHARED_LOCK:
            if key not in _SHARED:
                _SHARED[key] = cls.load(path, device)
            return _SHARED[key]

    @classmethod
    def release_shared(cls) -> int:
        """Forget every model :meth:`shared` holds and free the GPU memory torch caches.

        A model is freed once nothing else refers to it; the next
        :meth:`shared` loads it again. Wrappers call this when a run ends
        (CellProfiler's ``post_run``), or a notebook to get its GPU memory back.

        Returns
        -------
        int
            How many models were released.
        """
        with _SHARED_LOCK:
            released = len(_SHARED)
            _SHARED.clear()
        if torch.cuda.is_initialized():  # models were on a GPU: give its cached memory back
            torch.cuda.empty_cache()
        return released

    def network_maps(self, normalized: np.ndarray, foreground: bool = False, augment: bool = False):
        """Run the network on a normalized ``(H, W)`` image of any size.

        Internal: a step of :meth:`segment`, used by :mod:`.tiling`.

        The image is padded (mirror) to a multiple of 16 and the outputs are
        cropped back, so no border pixel is lost.

        Parameters
        ----------
        normalized : numpy.ndarray
            ``(H, W)`` float, normalized (:mod:`.normalize`).
        foreground : bool, default False
            The input is foreground-normalized (pass 2), so the foreground
            weight set runs if there is one.
        augment : bool, default False
            Average the maps over the image's 8 flips and transposes
            (:data:`DIHEDRAL`; 8 network runs). The RPN outputs stay those of
            the image as is: averaging them as well scored lower on the
            validation split (docs/benchmarks.md).

        Returns
        -------
        maps : numpy.ndarray
            ``(K, H, W)`` float32: the foreground probability, then (models
            with the distance head) the centre distance.
        objectness, deltas : torch.Tensor
            The RPN objectness ``(A, Hp/16, Wp/16)`` and box deltas
            ``(4A, Hp/16, Wp/16)`` of the padded image.
        """
        h, w = normalized.shape
        padded = np.pad(normalized, ((0, -h % STRIDE), (0, -w % STRIDE)), mode="symmetric")
        net = self.foreground_net if foreground and self.foreground_net is not None else self.net
        maps, objectness, deltas = self._forward(net, padded)
        if augment:
            for transpose, flip_rows, flip_cols in DIHEDRAL[1:]:
                flips = tuple(axis for axis, flip in ((0, flip_rows), (1, flip_cols)) if flip)
                view = np.flip(padded.T if transpose else padded, flips)
                out = np.flip(self._forward(net, view)[0], tuple(axis + 1 for axis in flips))
                maps += out.transpose(0, 2, 1) if transpose else out
            maps /= len(DIHEDRAL)
        return maps[:, :h, :w], objectness, deltas

    @torch.inference_mode()
    def _forward(self, net: NuSeTNet, padded: np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(padded, np.float32))[None, None].to(self.device)
        out = net(x.contiguous(memory_format=torch.channels_last))
        maps = torch.softmax(out.foreground_logits.float(), dim=1)[0, 1:2]
        if out.distance_logits is not None:
            maps = torch.cat([maps, torch.sigmoid(out.distance_logits.float())[0]])
        return maps.cpu().numpy(), out.objectness[0], out.box_deltas[0]

    def choose_scale(self, nucleus_size: float | None, nucleus_diameter: float | None, auto_scale: bool) -> float:
        """The internal resize factor.

        Internal: a step of :meth:`segment`, used by :mod:`.tiling`.

        Parameters
        ----------
        nucleus_size : float or None
            The estimated nucleus size (pixels), if any.
        nucleus_diameter : float or None
            The user's nucleus diameter (pixels); wins over the estimate.
        auto_scale : bool
            Use the estimate at all.

        Returns
        -------
        float
            The factor that brings the size to :attr:`training_nucleus_size`
            (within :data:`SCALE_LIMITS`); 1.0 without a size, or within a
            factor 1.5 of the training size for an estimate.
        """
        if nucleus_diameter is not None:
            if not nucleus_diameter > 0:
                raise ValueError(f"nucleus_diameter must be positive pixels, got {nucleus_diameter}")
            size = float(nucleus_diameter)
        elif auto_scale and nucleus_size is not None:
            size = nucleus_size
        else:
            return 1.0
        scale = float(np.clip(self.training_nucleus_size / max(size, 1.0), *SCALE_LIMITS))
        # Within a factor 1.5 the network copes (it trained with scale jitter);
        # resizing then would only cost time and blur.
        return 1.0 if abs(math.log(scale)) < math.log(1.5) and nucleus_diameter is None else scale

    def postprocess(self, maps: np.ndarray, objectness, deltas, base: float, options: SegmentOptions, min_size: int):
        """Labels, boxes and scores from one pass's outputs (work scale).

        Internal: a step of :meth:`segment`, used by :mod:`.tiling`.

        Parameters
        ----------
        maps, objectness, deltas
            From :meth:`network_maps`.
        base : float
            The anchor size (pixels).
        options : SegmentOptions
        min_size : int
            The clean-up's size limit (pixels; used when
            ``options.min_size_fraction > 0``).

        Returns
        -------
        labels : numpy.ndarray
            ``(H, W)`` instance labels.
        boxes, scores : numpy.ndarray
            The proposals ``(N, 4)`` ``(x1, y1, x2, y2)`` and their scores ``(N,)``.
        """
        mask = maps[0] > 0.5
        boxes, scores = propose_boxes(objectness, deltas, base, mask.shape, score_threshold=options.min_score,
                                      pre_nms_top_n=None, post_nms_top_n=None,  # no caps: large images keep every nucleus
                                      nms_threshold=options.nms_threshold)
        boxes, scores = boxes.cpu().numpy(), scores.cpu().numpy()
        if options.watershed:
            labels = rpn_aided_watershed(mask, boxes, scores, min_score=options.min_score,
                                         min_size_fraction=options.min_size_fraction, min_size=min_size,
                                         interior=interior_mask(maps) if len(maps) > 1 else None,
                                         elevation=maps[1] if len(maps) > 1 else None)
        else:
            labels = mask_to_objects(mask, options.min_size_fraction, min_size)
        return labels, boxes, scores

    def scale_from_first_look(self, image, coarse_objects, center: float, spread: float) -> float | None:
        """The resize factor (< 1) for an image whose nuclei a first look at
        :data:`COARSE_SCALE` found large (``coarse_objects``: their areas,
        sizes and bounding-box centres there), measured on a crop at the
        input resolution (:meth:`size_around`); ``None`` when the first look
        or the crop finds them small: then pass 1 runs at the input scale.

        Internal: a step of :meth:`segment`, used by :mod:`.tiling`."""
        found = self.first_look(*coarse_objects)
        if found is None:
            return None
        scale = self.choose_scale(self.size_around(image, found[1], found[0], center, spread), None, True)
        return scale if scale < 1.0 else None

    def first_look(self, areas: np.ndarray, sides: np.ndarray, centres: np.ndarray):
        """Where to measure the nucleus size, from the objects found at
        :data:`COARSE_SCALE` (areas, sizes and ``(N, 2)`` bounding-box
        centres on that grid): ``(size, centre)`` of a nucleus of the typical
        size, in input pixels, when nuclei there look large enough to need
        shrinking; ``None`` when they look small (then pass 1 runs at the
        input scale, which the image needs anyway).

        Internal: a step of :meth:`scale_from_first_look`."""
        size = typical_size(areas, sides)
        # 1.5x the training size: where choose_scale starts shrinking (on the
        # validation split sizes seen at a quarter were 0-20% above those at full resolution)
        if size is None or size / COARSE_SCALE < 1.5 * self.training_nucleus_size:
            return None
        areas, sides = np.asarray(areas), np.asarray(sides)
        distance = np.where(areas >= max(1, int(0.2 * areas.mean())), np.abs(sides - size), np.inf)
        return size / COARSE_SCALE, np.asarray(centres, np.float64)[int(np.argmin(distance))] / COARSE_SCALE

    def size_around(self, image, centre, size: float, center: float, spread: float) -> float | None:
        """The typical nucleus size (pixels) measured at the input
        resolution on a crop around ``centre`` (six nuclei of ``size``
        pixels across, 256-512 pixels a side; ``image`` may be any array
        that slices), as pass 1 measures it on a whole image. Only objects
        centred at least ``size`` from a cut edge count (large nuclei are
        more often cut by the crop: leaving out the cut ones would bias the
        size down), and only those of a quarter of ``size`` or more, which
        must hold most of the nuclei's area (``None`` otherwise). At a
        quarter of the resolution dense small nuclei can merge into large
        blobs: here they fall apart.

        Internal: a step of :meth:`scale_from_first_look`."""
        h, w = (int(v) for v in image.shape)
        side = int(np.clip(6 * size, 16 * STRIDE, 32 * STRIDE))
        y0 = int(np.clip(round(centre[0] - side / 2), 0, max(h - side, 0)))
        x0 = int(np.clip(round(centre[1] - side / 2), 0, max(w - side, 0)))
        crop = as_float_image(np.asarray(image[y0:y0 + side, x0:x0 + side]))
        maps = self.network_maps(normalize_with(crop, center, spread))[0]
        areas, sides, centres = component_boxes(interior_mask(maps))
        margin = min(size, side / 4)
        lo = np.array([margin if y0 > 0 else 0, margin if x0 > 0 else 0])
        hi = np.array(crop.shape) - [margin if y0 + side < h else 0, margin if x0 + side < w else 0]
        # a quarter of the size seen at the coarse look: specks (many, where the
        # network sees nuclei far larger than it trained on) would drag the median down
        inner = np.all((centres >= lo) & (centres < hi), axis=1)
        keep = inner & (sides >= size / 4)
        if areas[keep].sum() < 0.5 * areas[inner].sum():
            return None  # most of the nucleus area is in small objects: not large nuclei after all
        return typical_size(areas[keep], sides[keep])

    # The return type follows return_details (for type checkers and IDEs).
    # The options are typed here as **overrides; at run time the signature
    # lists them one by one from the option table (_options_as_keywords).
    @overload
    def segment(self, image: Any, options: SegmentOptions | None = None, *, return_details: Literal[False] = False,
                out: np.ndarray | None = None, **overrides: Any) -> np.ndarray: ...

    @overload
    def segment(self, image: Any, options: SegmentOptions | None = None, *, return_details: Literal[True],
                out: np.ndarray | None = None, **overrides: Any) -> tuple[np.ndarray, SegmentationDetails]: ...

    @overload
    def segment(self, image: Any, options: SegmentOptions | None = None, *, return_details: bool,
                out: np.ndarray | None = None,
                **overrides: Any) -> np.ndarray | tuple[np.ndarray, SegmentationDetails]: ...

    def segment(self, image: Any, options: SegmentOptions | None = None, *, return_details: bool = False,
                out: np.ndarray | None = None,
                **overrides: Any) -> np.ndarray | tuple[np.ndarray, SegmentationDetails]:
        """Segment nuclei in one 2-D grayscale image.

        Parameters
        ----------
        image : array_like
            ``(H, W)``, any integer, bool or float dtype (finite values).
            With ``tile_size``, any array-like with ``shape``, ``dtype`` and
            slicing (a memory map, a zarr array, :func:`~nuset_engine.io.open_plane`)
            that is read tile by tile.
        options : SegmentOptions, optional
            A :class:`~nuset_engine.options.SegmentOptions`; keyword
            arguments (below) override its fields.
        return_details : bool, default False
            Also return a :class:`SegmentationDetails`.
        out : numpy.ndarray, optional
            ``(H, W)`` uint32 or int32 array, zero-filled, for the labels
            (a memory map, or the int32 array a host keeps labels in).
        **overrides
            The segmentation options, each checked (an
            :class:`~nuset_engine.options.OptionError` names a value out of
            range); see the list below, made from :mod:`nuset_engine.options`.

        Returns
        -------
        labels : numpy.ndarray
            ``(H, W)`` instance labels, 0 = background, 1..N the nuclei.
            Without ``out``: a new array, uint16, or uint32 when there are
            more than 65535 nuclei. With ``out``: ``out`` itself (no copy),
            in its own dtype (the labels are neither narrowed to uint16 nor
            converted).
        details : SegmentationDetails
            Only with ``return_details=True``: then ``(labels, details)`` is
            returned.

        Raises
        ------
        OptionError
            An option's value out of range (a ``ValueError``).
        TypeError
            An unknown option.
        ValueError
            The image is not 2-D, is empty, or has NaN or infinite values.
        """
        options = options_from(asdict(options) if options is not None else None, **overrides)
        if options.two_pass is None:
            options = replace(options, two_pass=self.two_pass)
        tile_size = options.tile_size
        tiles = tile_size_for(tile_size, np.shape(image)) if len(np.shape(image)) == 2 else None
        if tiles:
            return segment_tiled(self, image, replace(options, tile_size=tiles), out=out, return_details=return_details)
        if out is not None:
            labels = self.segment(np.asarray(image), options, tile_size=0, return_details=return_details)
            out[...] = labels[0] if return_details else labels
            return (out, labels[1]) if return_details else out
        image = as_float_image(image)
        h, w = image.shape
        if image.min() == image.max():  # no contrast, no nuclei; spares the network a blank input
            return empty_result(image.shape, options, return_details)
        # pass 1 normalizes with the input's statistics at any scale, as tiles must
        center, spread = float(image.mean(dtype=np.float64)), float(image.std(dtype=np.float64))

        def pass_one(scale):
            work = image
            if scale != 1.0:
                work_shape = scaled_shape((h, w), scale)
                work = resample_window(image, work_shape, (0, work_shape[0], 0, work_shape[1]))
            maps, objectness, deltas = self.network_maps(normalize_with(work, center, spread))
            return (work, maps, objectness, deltas, *component_sizes(interior_mask(maps)))

        run = None
        if options.nucleus_diameter is not None or not options.auto_scale:
            scale = self.choose_scale(None, options.nucleus_diameter, options.auto_scale)
        else:
            # A first look at a quarter of the resolution: large nuclei show
            # there, and pass 1 at the input scale (costly for the images
            # that get shrunk) is needed only for small ones.
            scale = None
            if min(h, w) * COARSE_SCALE >= 2 * STRIDE:
                coarse_shape = scaled_shape((h, w), COARSE_SCALE)
                coarse = resample_window(image, coarse_shape, (0, coarse_shape[0], 0, coarse_shape[1]))
                coarse_maps = self.network_maps(normalize_with(coarse, center, spread))[0]
                scale = self.scale_from_first_look(image, component_boxes(interior_mask(coarse_maps)), center, spread)
            if scale is None:
                run = pass_one(1.0)
                scale = self.choose_scale(typical_size(*run[4:]), None, True)
                if scale != 1.0:
                    run = None
        if run is None:
            run = pass_one(scale)
        work, maps, objectness, deltas, areas, sides = run
        # The anchor size and the clean-up's size limit come from pass 1, as
        # they must for tiled images (known image-wide before pass 2 starts).
        size = typical_size(areas, sides)
        base = size if size is not None else DEFAULT_BASE_SIZE
        min_size = min_object_size(areas, options.min_size_fraction)
        if options.two_pass:
            maps, objectness, deltas = self.network_maps(foreground_normalize(work, maps[0] > 0.5), foreground=True,
                                                         augment=options.augment)
        elif options.augment:  # one pass: its final run again, averaged (the estimates above stay plain, as when tiled)
            maps, objectness, deltas = self.network_maps(normalize_with(work, center, spread), augment=True)
        labels, boxes, scores = self.postprocess(maps, objectness, deltas, base, options, min_size)
        prob = maps[0]
        if scale != 1.0:
            prob = resample_window(prob, (h, w), (0, h, 0, w))
            labels = resize_labels(labels, (h, w), prob > 0.5 if scale < 1.0 else None)
            boxes = boxes / scale
        if not return_details:
            return labels
        return labels, SegmentationDetails(prob.astype(np.float32), boxes, scores, scale, base / scale, options)


def _options_as_keywords(method):
    """``help()``, IDEs and notebooks show the options as keyword arguments
    (defaults and docs from :mod:`.options`), not as ``**overrides``."""
    signature = inspect.signature(method)
    head = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    types = option_types()
    keywords = [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default, annotation=types[o.name])
                for o in SEGMENT_OPTIONS]
    method.__signature__ = signature.replace(parameters=head + keywords)
    method.__doc__ = method.__doc__.rstrip() + "\n" + options_doc()
    return method


_options_as_keywords(Segmenter.segment)


def resize_labels(labels: np.ndarray, shape: tuple[int, int], foreground: np.ndarray | None = None) -> np.ndarray:
    """Resize labels to ``shape``, renumbered 1..N.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(h, w)`` instance labels.
    shape : tuple of int
        The new ``(H, W)``.
    foreground : numpy.ndarray, optional
        ``(H, W)`` bool foreground on the new grid: the outlines follow it
        (:func:`.resample.enlarge_labels_window`); without it, nearest
        neighbour (:func:`.resample.nearest_window`).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` uint16 (uint32 above 65535 nuclei); nuclei thinner than a
        pixel at the new size vanish.
    """
    window = (0, shape[0], 0, shape[1])
    if foreground is None:
        labels = nearest_window(labels, labels.shape, shape, window)
    else:
        labels = enlarge_labels_window(labels, foreground, labels.shape, shape, window)
    labels, _, _ = relabel_sequential(labels.astype(np.int64))
    return labels.astype(label_dtype(int(labels.max(initial=0))))

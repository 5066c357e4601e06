"""The user-facing engine: ``Segmenter.load()`` then ``segmenter.segment(image)``.

One call runs NuSeT's pipeline (:mod:`.pipeline`): pass 1 (whole-image
normalization) gives a coarse foreground mask; its median nucleus size sets
the scale (images whose nuclei are much larger or smaller than the training
data are resized so the network sees familiar sizes); pass 2 (foreground
normalization from the pass-1 mask) gives the final mask and proposal boxes;
the RPN-aided watershed turns them into an instance label image at the input
size. Large images run the same steps tile by tile.
"""
from __future__ import annotations

import copy
import inspect
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch

from .backends import OpenVinoNetwork, inference_context, prepare_network, resolve_backend
from .colour import prepare_input
from .model_io import load_model
from .network import STRIDE, NuSeTNet
from .options import MODEL_FALLBACKS, SEGMENT_OPTIONS, OptionError, SegmentOptions, option, option_types, \
    options_doc, options_from
from .pipeline import run as run_pipeline
from .results import SegmentationDetails
from .tiling import tile_size_for

__all__ = ["Segmenter", "SegmentationDetails", "resolve_device"]

_SHARED: dict[tuple, "Segmenter"] = {}  # see Segmenter.shared and Segmenter.release_shared
_SHARED_LOCK = threading.Lock()
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
    backend : str, default ``"auto"``
        How the network runs: ``"f32"``, ``"bf16"`` or ``"auto"`` (bfloat16
        on CPUs that compute it natively); see :mod:`nuset_engine.backends`.

    Attributes
    ----------
    device : torch.device
    backend : str
        The backend that runs: ``"f32"`` or ``"bf16"``.
    metadata : dict
    training_nucleus_size : float
        The nucleus size (pixels, largest bounding-box side) the model saw
        most in training; images are resized towards it.
    postprocessing : dict
        The model's own defaults of the options ``min_score`` and
        ``min_size_fraction``, used where :meth:`segment` gets ``None``:
        those its file carries (``nuset train`` chooses them on the model's
        validation images), else :data:`~nuset_engine.options.MODEL_FALLBACKS`.

    Notes
    -----
    :meth:`segment` is the API. :meth:`network_maps` is internal: the
    network step of :mod:`nuset_engine.pipeline`, which runs the rest of
    the pipeline tile by tile (a whole image is one tile). It may change
    without notice.

    Examples
    --------
    >>> seg = Segmenter.load()                      # the shipped model
    >>> labels = seg.segment(image)                 # (H, W) uint16
    >>> labels, details = seg.segment(image, return_details=True)
    """

    def __init__(self, net: NuSeTNet, metadata: dict | None = None, device: str | torch.device = "auto",
                 foreground_net: NuSeTNet | None = None, backend: str = "auto"):
        self.device = resolve_device(device)
        self.backend = resolve_backend(backend, self.device)
        self.net = self._prepare(net)
        self.foreground_net = None if foreground_net is None else self._prepare(foreground_net)
        self.metadata = dict(metadata or {})
        # Nucleus size (pixels, max bbox side) the model saw most in training,
        # of whole nuclei. The estimates compared with it (and used as the
        # anchor size) are of the distance head's cores, ~0.85x a nucleus: kept
        # on purpose, one size for both scored lower (docs/benchmarks.md,
        # "One nucleus size").
        self.training_nucleus_size = float(self.metadata.get("nucleus_size", 20.0))
        self.postprocessing = self._postprocessing()

    def _prepare(self, net: NuSeTNet) -> NuSeTNet:
        # Inference copy: batch norm folded into the convolutions (same function,
        # ~15% less time) and channels-last (roughly halves CPU convolution time).
        # A copy, so that a network still being trained is left untouched.
        net = _fold_batch_norm(copy.deepcopy(net).eval()).to(self.device, memory_format=torch.channels_last)
        return prepare_network(net, self.backend)

    def _postprocessing(self) -> dict:
        own = self.metadata.get("postprocessing") or {}
        chosen = {}
        for name, fallback in MODEL_FALLBACKS.items():
            try:
                chosen[name] = option(name).check(own.get(name, fallback))
            except OptionError as exc:
                raise ValueError(f"the model's post-processing defaults are not valid ({exc}); "
                                 "retrain it with `nuset train`") from None
        return chosen

    @property
    def two_pass(self) -> bool:
        """Whether :meth:`segment` runs the foreground-normalization pass by
        default: a model trained on whole-image normalization only
        (``nuset train --normalization whole``) never saw foreground-normalized
        input, so it runs one pass; the others run two."""
        return self.metadata.get("training", {}).get("normalization", "both") != "whole"

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "auto", backend: str = "auto") -> "Segmenter":
        """Load a model file.

        Parameters
        ----------
        path : str or Path, optional
            A model written by ``nuset train`` (``.nuset.pt``); ``None``: the
            model shipped with the package.
        device : str, default ``"auto"``
            See :func:`resolve_device`.
        backend : str, default ``"auto"``
            ``"auto"``, ``"f32"`` or ``"bf16"``: see :mod:`nuset_engine.backends`.

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
        return cls(net, metadata, device, backend=backend)

    @classmethod
    def shared(cls, path: str | Path | None = None, device: str = "auto", backend: str = "auto") -> "Segmenter":
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
        backend : str, default ``"auto"``
            As for :meth:`load`.

        Returns
        -------
        Segmenter
            The same object for the same ``path``, ``device`` and
            ``backend`` until released.

        Raises
        ------
        ModelFileError, ValueError
            As :meth:`load`.
        """
        key = (None if path is None else str(path), str(device), str(backend))
        with _SHARED_LOCK:
            if key not in _SHARED:
                _SHARED[key] = cls.load(path, device, backend)
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

        Internal: a step of :mod:`.pipeline`.

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
    def _forward(self, net, padded: np.ndarray):
        if isinstance(net, OpenVinoNetwork):
            return net.run(padded)
        x = torch.from_numpy(np.ascontiguousarray(padded, np.float32))[None, None].to(self.device)
        with inference_context(self.backend, self.device):
            out = net(x.contiguous(memory_format=torch.channels_last))
        maps = torch.softmax(out.foreground_logits.float(), dim=1)[0, 1:2]
        if out.distance_logits is not None:
            maps = torch.cat([maps, torch.sigmoid(out.distance_logits.float())[0]])
        return maps.cpu().numpy(), out.objectness[0].float(), out.box_deltas[0].float()

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
        # the model's input kind (its file's "input"): checked, and RGB or brightfield turned into its plane
        image = prepare_input(image, self.metadata)
        options = options_from(asdict(options) if options is not None else None, **overrides)
        if options.two_pass is None:
            options = replace(options, two_pass=self.two_pass)
        # options left at "the model's own": the values its file carries
        options = replace(options, **{name: value for name, value in self.postprocessing.items()
                                      if getattr(options, name) is None})
        shape = np.shape(image)
        tiles = tile_size_for(options.tile_size, shape) if len(shape) == 2 else None
        if tiles:
            options = replace(options, tile_size=tiles)
        # A whole image is the one-tile case of the same loop (tiles=None).
        return run_pipeline(self, image, options, tiles, out=out, return_details=return_details)


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

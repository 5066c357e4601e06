"""What a model expects as input, and turning an image into it: fluorescence
gray, brightfield gray, or RGB (H&E histology).

The network sees one 2-D plane in which nuclei are bright on a dark
background, as in fluorescence. A model file records the input it was
trained on (its metadata's ``"input"``: ``{"kind", "transform"}``), and
:func:`prepare_input` checks every image against it before segmenting:

======================  ===================  ==============================
input kind (``name``)   the image            the plane the network sees
======================  ===================  ==============================
``"fluorescence"``      ``(H, W)`` gray      the image as is
``"brightfield"``       ``(H, W)`` gray      the image inverted (``-image``)
``"hed"``               ``(H, W, 3)`` RGB    haematoxylin (``rgb2hed``)
``"rgb-inverted"``      ``(H, W, 3)`` RGB    inverted luminance
``"rgb"``               ``(H, W, 3)`` RGB    3 channels: reserved for a
                                             3-channel network (none yet)
======================  ===================  ==============================

Model files without ``"input"`` (every model before it existed) are
fluorescence models. Nothing is converted silently: RGB given to a gray
model, or one channel given to an RGB model, stops with an error that names
the choices.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from skimage.color import rgb2hed

__all__ = ["INPUT_KINDS", "ModelInput", "model_input", "input_metadata", "prepare_input", "haematoxylin",
           "read_input", "mark_model_input", "InputMismatchError"]

#: name -> what a model file records: (the image, "fluorescence" | "brightfield" | "rgb"; the transform to the
#: network's plane, "none" | "invert" | "hed")
INPUT_KINDS = {
    "fluorescence": ("fluorescence", "none"),
    "brightfield": ("brightfield", "invert"),
    "hed": ("rgb", "hed"),
    "rgb-inverted": ("rgb", "invert"),
    "rgb": ("rgb", "none"),
}
# rgb2hed's haematoxylin is an optical density; its largest value over all
# colours (at cyan, 0/255/255) maps to 1, white to 0.
_H_MAX = float(rgb2hed(np.array([[[0, 255, 255]]], np.uint8))[0, 0, 0])
_CHOICES_FOR_RGB = ("pick one channel (the channel option), convert the image to gray "
                    "yourself, or use a histology model (an H&E model file: input kind 'hed' or 'rgb-inverted')")
# ITU-R 601 luminance, as nuset_engine.io.to_grayscale
_LUMINANCE = np.array([0.2989, 0.5870, 0.1140], np.float32)


class InputMismatchError(ValueError):
    """The image is not the kind of input the model was trained on."""


@dataclass(frozen=True)
class ModelInput:
    """The input a model expects.

    Attributes
    ----------
    name : str
        ``"fluorescence"``, ``"brightfield"``, ``"hed"``, ``"rgb-inverted"``
        or ``"rgb"`` (:data:`INPUT_KINDS`).
    """

    name: str = "fluorescence"

    def __post_init__(self) -> None:
        if self.name not in INPUT_KINDS:
            raise ValueError(f"unknown input kind {self.name!r}; choose one of {', '.join(INPUT_KINDS)}")

    @property
    def colour(self) -> bool:
        """Whether the model expects RGB images ``(H, W, 3)``."""
        return INPUT_KINDS[self.name][0] == "rgb"

    @property
    def transform(self) -> str:
        """``"none"``, ``"invert"`` or ``"hed"``."""
        return INPUT_KINDS[self.name][1]

    @property
    def description(self) -> str:
        """The model, as error messages name it."""
        return {"fluorescence": "a fluorescence model (gray images, nuclei bright)",
                "brightfield": "a brightfield model (gray images, nuclei dark on a bright background)",
                "hed": "a histology model (RGB H&E images, haematoxylin plane)",
                "rgb-inverted": "a histology model (RGB H&E images, inverted luminance)",
                "rgb": "a 3-channel RGB model"}[self.name]


def input_metadata(name: str) -> dict:
    """The ``"input"`` entry a model file's metadata records for input kind
    ``name`` (e.g. ``{"kind": "rgb", "transform": "hed"}`` for ``"hed"``).

    Parameters
    ----------
    name : str
        One of :data:`INPUT_KINDS`.

    Returns
    -------
    dict
        ``{"kind": "fluorescence" | "brightfield" | "rgb", "transform": "none" | "invert" | "hed"}``
        (:data:`INPUT_KINDS`).
    """
    kind, transform = INPUT_KINDS[ModelInput(name).name]
    return {"kind": kind, "transform": transform}


def model_input(metadata: dict | None) -> ModelInput:
    """The input a model expects, from its file's metadata.

    Parameters
    ----------
    metadata : dict or None
        A model file's metadata (``Segmenter.metadata``); without an
        ``"input"`` entry the model is a fluorescence model.

    Returns
    -------
    ModelInput

    Raises
    ------
    ValueError
        The entry names an unknown kind or transform.
    """
    entry = (metadata or {}).get("input")
    if entry is None:
        return ModelInput("fluorescence")
    kind, transform = (entry.get("kind"), entry.get("transform", "none")) if isinstance(entry, dict) else (entry, None)
    for name, recorded in INPUT_KINDS.items():
        if (kind, transform) == recorded:
            return ModelInput(name)
    raise ValueError(f"the model file records an input NuSeT does not know ({entry!r}); known: "
                     + "; ".join(str(input_metadata(n)) for n in INPUT_KINDS) + ". Upgrade NuSeT or fix the file")


def _is_rgb(shape) -> bool:
    return len(shape) == 3 and shape[-1] in (3, 4)


def haematoxylin(rgb: np.ndarray) -> np.ndarray:
    """The haematoxylin (nuclear stain) plane of an H&E image.

    Colour deconvolution (Ruifrok & Johnston 2001) with scikit-image's
    :func:`~skimage.color.rgb2hed`; the optical density is clipped at 0 and
    scaled so the largest possible value is 1. Nuclei are bright, the
    (white or pink) background dark.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``(H, W, 3)`` RGB, or ``(H, W, 4)`` RGBA (alpha ignored); integer
        or float in [0, 1].

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32 in [0, 1].
    """
    rgb = np.asarray(rgb)[..., :3]
    return (np.clip(rgb2hed(rgb)[..., 0], 0, None) / _H_MAX).astype(np.float32)


class _Inverted:
    """A lazy ``-plane`` of a 2-D array-like (a memory map, a zarr array,
    :func:`~nuset_engine.io.open_plane`), so large images stay tiled."""

    def __init__(self, plane: Any):
        self.plane = plane
        self.shape = tuple(plane.shape)
        self.dtype = np.dtype(np.float32)
        self.ndim = 2

    def __getitem__(self, key) -> np.ndarray:
        return -np.asarray(self.plane[key], np.float32)

    def __array__(self, dtype=None, copy=None):
        block = self[:, :]
        return block if dtype is None else block.astype(dtype)


def prepare_input(image: Any, model: ModelInput | dict | None = None, source: str = "image") -> Any:
    """Check an image against the input a model expects and return the 2-D
    plane its network segments.

    Parameters
    ----------
    image : array_like
        ``(H, W)`` gray, or ``(H, W, 3)`` RGB (``(H, W, 4)`` RGBA: alpha
        ignored). Gray array-likes that are read tile by tile (memory maps,
        zarr arrays, :func:`~nuset_engine.io.open_plane`) stay lazy: a
        brightfield model gets a view that inverts each region as it is read.
    model : ModelInput or dict, optional
        What the model expects: a :class:`ModelInput`, or a model file's
        metadata (:func:`model_input`); ``None``: fluorescence.
    source : str, default ``"image"``
        Names the image in error messages (its file name).

    Returns
    -------
    array_like
        ``(H, W)``: the image itself (fluorescence), its inverse as float32
        (brightfield), its haematoxylin plane, float32 in [0, 1] (hed), or
        its inverted luminance ``-(0.2989 R + 0.5870 G + 0.1140 B)``,
        float32 (rgb-inverted).

    Raises
    ------
    InputMismatchError
        A ``ValueError``: RGB given to a gray (fluorescence or brightfield)
        model, a single channel given to an RGB model, or an RGB model
        whose network takes 3 channels (not supported yet). The message
        names the choices.
    """
    model = model if isinstance(model, ModelInput) else model_input(model)
    shape = tuple(np.shape(image))
    if model.name == "rgb":
        raise InputMismatchError(f"{source}: the model expects 3-channel RGB input, which this NuSeT cannot run "
                                 "(its networks take one channel); use a histology model with the 'hed' input "
                                 "(haematoxylin plane) or a gray model")
    if not model.colour:
        if _is_rgb(shape):
            raise InputMismatchError(
                f"{source}: an RGB image (shape {shape}) was given to {model.description}; nothing is converted "
                f"silently: {_CHOICES_FOR_RGB}")
        if model.transform == "invert" and len(shape) == 2:
            lazy = hasattr(image, "shape") and type(image) is not np.ndarray  # a memory map, zarr, open_plane
            return _Inverted(image) if lazy else -np.asarray(image, np.float32)
        return image  # other shapes: the pipeline's own checks name the problem
    if not _is_rgb(shape):
        dtype = getattr(image, "dtype", None)
        what = f"a single-channel {dtype} image" if len(shape) == 2 else f"an image of shape {shape}"
        raise InputMismatchError(
            f"{source}: {what} (shape {shape}) was given to {model.description}, which needs (H, W, 3) RGB; give "
            "the colour image as read (`read_input`, or `read_image` not `read_plane`), or, for gray images, use "
            "a fluorescence model (nuclei bright) or a brightfield model (nuclei dark)")
    if model.transform == "hed":
        return haematoxylin(np.asarray(image))
    return -(np.asarray(image)[..., :3].astype(np.float32) @ _LUMINANCE)


def read_input(path: str | Path, model: ModelInput | dict | None = None, channel: int | None = None) -> np.ndarray:
    """Read an image file as the model wants it: the colour image for an RGB
    model, else the 2-D plane :func:`~nuset_engine.io.read_plane` reads
    (then refused by :func:`prepare_input` if it is RGB luminance).

    Parameters
    ----------
    path : str or Path
        The image file.
    model : ModelInput or dict, optional
        As for :func:`prepare_input`.
    channel : int, optional
        The channel of a multi-channel image (gray models only).

    Returns
    -------
    numpy.ndarray
        What to give :meth:`~nuset_engine.segmenter.Segmenter.segment`:
        ``(H, W, 3|4)`` for an RGB model, else ``(H, W)``.

    Raises
    ------
    InputMismatchError
        An RGB file for a gray model without ``channel``, a gray file for an
        RGB model, or ``channel`` given for an RGB model.
    FileNotFoundError, ValueError
        As :func:`~nuset_engine.io.read_image`.
    """
    from .io import read_image, read_plane

    model = model if isinstance(model, ModelInput) else model_input(model)
    if model.colour:
        if channel is not None:
            raise InputMismatchError(f"{path}: a channel ({channel}) was chosen but {model.description} needs "
                                     "the whole RGB image; leave the channel out")
        return read_image(path)
    image = read_image(path)
    if channel is None and _is_rgb(image.shape):
        prepare_input(image, model, source=str(path))  # raises: RGB for a gray model
    return read_plane(path, channel)


def mark_model_input(model: str | Path, name: str, output: str | Path, overwrite: bool = False) -> Path:
    """Write a copy of a model file that records the input it takes.

    For a model trained on transformed planes (e.g. haematoxylin planes
    written as gray images), so that it is given the images as they are
    (RGB) and checks them.

    Parameters
    ----------
    model : str or Path
        A model file (``nuset train``).
    name : str
        The input kind (:data:`INPUT_KINDS`).
    output : str or Path
        The new model file (written atomically).
    overwrite : bool, default False
        Replace ``output`` if it exists.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    OutputExistsError
        ``output`` exists and ``overwrite`` is False.
    ModelFileError, ValueError
        An unreadable model, an unknown ``name``.
    """
    from .errors import OutputExistsError
    from .model_io import load_model, save_model

    entry = input_metadata(name)
    if Path(output).exists() and not overwrite:
        raise OutputExistsError(output)
    net, metadata = load_model(model)
    return save_model(output, net, {**metadata, "input": entry})

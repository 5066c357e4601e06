"""Export a NuSeT model for other software: ONNX, TorchScript, or a
bioimage.io model package.

The exported networks give NuSeT's *maps*, not labels: the foreground
probability ``softmax(foreground_logits)[:, 1]`` and, with the distance head,
the centre distance ``sigmoid(distance_logits)``, as the segmenter computes
them (:class:`MapsNetwork`). The RPN-aided watershed, the second
(foreground-normalized) pass and the nucleus-size rescaling stay in NuSeT.

- ``onnx``, ``torchscript``: one file; ``input`` ``(N, 1, H, W)`` float32
  (whole-image normalized, H and W multiples of 16) gives ``maps``
  ``(N, K, H, W)``, ``objectness`` ``(N, A, H/16, W/16)`` (RPN logits) and
  ``box_deltas`` ``(N, 4A, H/16, W/16)``: all NuSeT's watershed needs from a
  network, so another runtime can stand in for PyTorch. The model file's
  config and metadata travel along (ONNX metadata properties, TorchScript
  extra files ``nuset_*.txt``).
- ``bioimageio``: a ``.zip`` (rdf.yaml, format 0.5) of the maps alone, with
  TorchScript and ONNX weights, test tensors, README, cover, license and
  citation; its zero-mean/unit-variance preprocessing is NuSeT's pass 1.

Each file is loaded back and checked against PyTorch before it replaces
``output``; a package must pass bioimage.io's own test.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import OutputExistsError
from .io import atomic_write
from .model_io import default_model_path, load_model
from .network import STRIDE, NuSeTNet
from .normalize import whole_image_normalize
from .sizes import CORE_LEVEL

__all__ = ["FORMATS", "MapsNetwork", "ExportError", "export_model", "verify_export"]

FORMATS = ("onnx", "torchscript", "bioimageio")
#: The oldest opset torch's torch.export-based exporter writes natively:
#: the widest choice of runtimes.
ONNX_OPSET = 18
#: The most an exported output may differ from PyTorch's: this much plus
#: this much relative to the value (the RPN's logits are not small).
TOLERANCE = 1e-4
OUTPUT_NAMES = ("maps", "objectness", "box_deltas")
#: The real input of the checks, and the package's test input: this window
#: (rows, columns) of the bundled sample.
TEST_WINDOW = (slice(128, 384), slice(128, 384))
FOREGROUND_THRESHOLD = 0.5  # the segmenter's mask
#: Packages each format needs beyond NuSeT's own, and the extra installing them.
_NEEDS = {
    "onnx": (("onnx", "onnxscript", "onnxruntime"), "export"),
    "torchscript": ((), "export"),
    "bioimageio": (("bioimageio.core", "bioimageio.spec", "onnx", "onnxscript", "onnxruntime"), "bioimageio"),
}
CITATION = ("Yang L, Ghosh RP, Franklin JM, Chen S, You C, Narayan RR, et al. (2020) NuSeT: A deep learning tool "
            "for reliably separating and analyzing crowded cells. PLoS Comput Biol 16(9): e1008193.")
DOI = "10.1371/journal.pcbi.1008193"
LICENSE = "MIT"  # SPDX, as setup.cfg's license_expression
COPYRIGHT = "Copyright (c) 2026 The NuSeT PyTorch authors"


class ExportError(RuntimeError):
    """An exported network does not reproduce PyTorch's outputs, or a
    package fails bioimage.io's test."""


class MapsNetwork(nn.Module):
    """A NuSeT network whose outputs are the segmenter's maps.

    Parameters
    ----------
    net : NuSeTNet
        The network, in eval mode.
    rpn : bool, default False
        Also return the RPN's raw outputs.

    Notes
    -----
    ``forward(x)``: ``x`` ``(N, 1, H, W)`` float32, H and W multiples of 16.
    Returns ``maps`` ``(N, K, H, W)`` float32 in [0, 1] (channel 0 the
    foreground probability; channel 1, with the distance head, the centre
    distance), or with ``rpn=True`` ``(maps, objectness, box_deltas)``:
    objectness logits ``(N, A, H/16, W/16)``, box deltas ``(dx, dy, dw, dh)``
    per anchor ``(N, 4A, H/16, W/16)``, A = 21 anchors.
    """

    def __init__(self, net: NuSeTNet, rpn: bool = False):
        super().__init__()
        self.net = net
        self.rpn = rpn

    def forward(self, x: torch.Tensor):
        out = self.net(x)
        maps = torch.softmax(out.foreground_logits, dim=1)[:, 1:2]
        if out.distance_logits is not None:
            maps = torch.cat([maps, torch.sigmoid(out.distance_logits)], dim=1)
        return (maps, out.objectness, out.box_deltas) if self.rpn else maps


class _SizeCheck(nn.Module):
    """Refuses, in TorchScript, inputs the traced network would fail on deep inside."""

    def __init__(self, traced: nn.Module):
        super().__init__()
        self.traced = traced
        self.stride = STRIDE  # an attribute: TorchScript reads no module globals

    def forward(self, x: torch.Tensor):
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] % self.stride != 0 or x.shape[3] % self.stride != 0:
            raise ValueError("NuSeT takes input (N, 1, H, W) float32 with H and W multiples of 16")
        return self.traced(x)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def _require(format: str) -> None:
    packages, extra = _NEEDS[format]
    missing = [name for name in packages if not _installed(name)]
    if missing:
        raise ModuleNotFoundError(f"exporting to {format} needs {', '.join(missing)}: "
                                  f'pip install "nuset[{extra}]"')


@contextmanager
def _quiet():
    """Silence what the exporters say about their own internals (the traced
    stride check, their deprecations, torchvision operators not found)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _example() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).standard_normal((1, 1, 64, 64), dtype=np.float32))


def _model_info(net: NuSeTNet, metadata: dict, rpn: bool) -> dict[str, str]:
    """What travels with an exported file: the model file's config and
    metadata, and what the inputs and outputs are."""
    outputs = "maps (foreground probability" + (", centre distance" if net.config.distance else "") + ")"
    if rpn:
        outputs += ", objectness (RPN logits), box_deltas (dx, dy, dw, dh per anchor)"
    return {"nuset_config": json.dumps(net.config.to_dict()), "nuset_metadata": json.dumps(metadata),
            "nuset_outputs": outputs,
            "nuset_input": "(N, 1, H, W) float32, each image zero mean and unit variance, "
                           f"H and W multiples of {STRIDE}"}


def _write_onnx(module: MapsNetwork, path: Path, info: dict[str, str]) -> None:
    """torch.export-based export; batch, height and width (steps of 16) dynamic."""
    import onnx

    height, width = torch.export.Dim("height"), torch.export.Dim("width")
    shapes = {"x": {0: torch.export.Dim("batch"), 2: STRIDE * height, 3: STRIDE * width}}
    with tempfile.TemporaryDirectory() as folder, _quiet():
        raw = Path(folder) / "raw.onnx"
        torch.onnx.export(module, (_example(),), str(raw), dynamo=True, input_names=["input"],
                          output_names=list(OUTPUT_NAMES if module.rpn else OUTPUT_NAMES[:1]),
                          opset_version=ONNX_OPSET, dynamic_shapes=shapes, external_data=False, verbose=False)
        graph = onnx.load(str(raw))
    onnx.helper.set_model_props(graph, info)
    onnx.save(graph, str(path))


def _write_torchscript(module: MapsNetwork, path: Path, info: dict[str, str]) -> None:
    """Trace the network and script a size check around it."""
    with _quiet():
        scripted = torch.jit.script(_SizeCheck(torch.jit.trace(module, _example())))
    torch.jit.save(scripted, str(path), _extra_files={f"{key}.txt": value for key, value in info.items()})


def _sample() -> np.ndarray:
    """The bundled sample image, ``(512, 512)`` float32 raw intensities."""
    import tifffile

    from . import SAMPLE_IMAGE

    return tifffile.imread(SAMPLE_IMAGE).astype(np.float32)


def _numpy(result) -> list[np.ndarray]:
    results = [result] if isinstance(result, (torch.Tensor, np.ndarray)) else result
    return [r.detach().cpu().numpy() if isinstance(r, torch.Tensor) else np.asarray(r) for r in results]


def verify_export(path: str | Path, module: MapsNetwork, format: str) -> float:
    """Check an exported file against the PyTorch network it came from.

    The inputs: a random batch of two 128x192 images, and the 256x256 window
    :data:`TEST_WINDOW` of the bundled sample, normalized as NuSeT's pass 1.

    Parameters
    ----------
    path : str or Path
        The exported file.
    module : MapsNetwork
        The network that was exported.
    format : {"onnx", "torchscript"}
        ONNX runs in onnxruntime (CPU), TorchScript through ``torch.jit.load``.

    Returns
    -------
    float
        The largest absolute difference over all outputs.

    Raises
    ------
    ExportError
        An output differs in shape, or by more than :data:`TOLERANCE`
        (absolute plus relative); the message names the output.
    """
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        run = lambda x: session.run(None, {"input": x})  # noqa: E731
    else:
        loaded = torch.jit.load(str(path), map_location="cpu")
        run = lambda x: loaded(torch.from_numpy(x))  # noqa: E731
    sample = whole_image_normalize(_sample()[TEST_WINDOW])[None, None]
    largest = 0.0
    for x in (np.random.default_rng(1).standard_normal((2, 1, 128, 192), dtype=np.float32), sample):
        with torch.inference_mode():
            wanted, got = _numpy(module(torch.from_numpy(x))), _numpy(run(x))
        for name, a, b in zip(OUTPUT_NAMES, got, wanted):
            if a.shape != b.shape:
                raise ExportError(f"the exported {name} has shape {a.shape}, PyTorch's {b.shape}")
            difference = np.abs(a - b)
            if not np.all(difference <= TOLERANCE * (1 + np.abs(b))):
                raise ExportError(f"the exported {name} differs from PyTorch's by up to {difference.max():.3g}")
            largest = max(largest, float(difference.max()))
    return largest


def export_model(model: str | Path | None, output: str | Path, format: str, *, overwrite: bool = False) -> Path:
    """Export a NuSeT model file, and check the result.

    Parameters
    ----------
    model : str, Path or None
        A model file from ``nuset train``; ``None`` or ``"default"``: the
        shipped model.
    output : str or Path
        The file to write: ``.onnx``, a TorchScript ``.pt``, or for
        ``bioimageio`` a ``.zip`` package (deepImageJ, QuPath and
        bioimage.io's tools read it; unzip it for a folder).
    format : {"onnx", "torchscript", "bioimageio"}
    overwrite : bool, default False
        Replace ``output`` if it exists.

    Returns
    -------
    Path
        ``output``, written atomically once checked (:func:`verify_export`;
        a package also passes bioimage.io's test).

    Raises
    ------
    ValueError
        An unknown format; a package name not ending in ``.zip``;
        ``output`` is a folder.
    OutputExistsError
        ``output`` exists and ``overwrite`` is False.
    ModuleNotFoundError
        A package the format needs is missing; the message gives the
        ``pip install "nuset[...]"`` that adds it.
    ModelFileError
        The model file cannot be read.
    ExportError
        The export does not reproduce PyTorch's outputs, or the package
        fails bioimage.io's test; ``output`` is left as it was.

    Notes
    -----
    Runs on the CPU, float32. ONNX comes from torch's torch.export-based
    exporter (``dynamo=True``, the one torch develops; the TorchScript-based
    one is deprecated), which checks while exporting that height and width
    may be any multiples of 16. TorchScript is traced, with a scripted size
    check.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    output = Path(output)
    if format == "bioimageio" and output.suffix.lower() != ".zip":
        raise ValueError(f"{output}: a bioimage.io package is a .zip file; give a name ending in .zip")
    if output.is_dir():
        raise ValueError(f"{output} is a folder; give the name of the file to write")
    if output.exists() and not overwrite:
        raise OutputExistsError(output)
    _require(format)
    model = None if model is None or str(model) == "default" else Path(model)
    net, metadata = load_model(model)
    module = MapsNetwork(net, rpn=format != "bioimageio").eval()

    def write(tmp: str) -> None:
        try:
            if format == "bioimageio":
                _write_package(module, metadata, Path(tmp), model or default_model_path())
            else:
                writer = _write_onnx if format == "onnx" else _write_torchscript
                writer(module, Path(tmp), _model_info(net, metadata, rpn=True))
                verify_export(tmp, module, format)
        except ExportError as exc:
            raise ExportError(f"{output} not written: {exc}; please report this with your versions of torch, "
                              "onnx, onnxruntime and bioimageio.core") from exc

    return atomic_write(output, write)


# --- the bioimage.io package ---------------------------------------------------

_README = """# NuSeT nuclei maps

The network of NuSeT (Yang et al. 2020): a U-Net sharing its encoder with a
region proposal network, for nuclei in fluorescence images. Exported by
`nuset export` (nuset {version}) from `{model}` (SHA-256 `{sha256}`).

## Input and output

`image`: one grayscale channel, height and width multiples of 16. The
preprocessing brings each image to zero mean and unit variance (NuSeT's first
pass). `maps`, same height and width, float32 in [0, 1]: {channels}.

**From maps to labels:** threshold the foreground probability at 0.5 (NuSeT's
mask) and label the connected components; to split touching nuclei, seed a
watershed with the regions where the centre distance exceeds {core}.

**Not included:** NuSeT's RPN-aided watershed (its region proposals split
touching nuclei), its second pass (foreground normalization), and rescaling
images whose nuclei are much larger or smaller than the ~{size:.0f} px the
model was trained at (resize such images first). For NuSeT's labels use
`nuset segment`. Software that predicts tile by tile normalizes each tile on
its own, not the whole image as NuSeT does.

## Validation

{validation} To validate on annotated images of your own:
`nuset evaluate --images DIR --labels DIR`.

## Citation

{citation} https://doi.org/{doi}

## License

{license}, {copyright}. {training}
"""


def _readme(net: NuSeTNet, metadata: dict, model_path: Path) -> str:
    import hashlib

    from . import __version__

    channels = "channel 0 `foreground_probability` (nucleus or background)"
    if net.config.distance:
        channels += ", channel 1 `centre_distance` (each nucleus' distance to its edge, 1 at its centre)"
    scores = metadata.get("validation") or {}
    validation = "The model file holds no validation scores."
    if {"ap@0.50", "f1@0.50", "mean_ap"} <= set(scores):
        validation = (f"On {scores.get('n_images', 'its')} held-out images, NuSeT's whole pipeline with these "
                      f"weights scored AP50 {scores['ap@0.50']:.3f}, F1 at IoU 0.5 {scores['f1@0.50']:.3f}, mean "
                      f"AP {scores['mean_ap']:.3f}; thresholded maps alone split touching nuclei less well.")
    images = (metadata.get("training") or {}).get("images")
    training = f"Trained with `nuset train` on `{Path(images).parent.name}/{Path(images).name}`." if images else ""
    return _README.format(version=__version__, model=model_path.name, channels=channels, core=CORE_LEVEL,
                          sha256=hashlib.sha256(model_path.read_bytes()).hexdigest(), doi=DOI,
                          size=float(metadata.get("nucleus_size", 19.0)), validation=validation, citation=CITATION,
                          license=LICENSE, copyright=COPYRIGHT, training=training)


def _cover(image: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """``(H/2, W, 3)`` uint8: the image (contrast-stretched) beside the maps
    over it (red: foreground probability, green: centre distance), half
    size (bioimage.io asks for covers under 500 kB, twice as wide as high)."""
    low, high = np.percentile(image, (1, 99.5))
    left = np.repeat(np.clip((image - low) / max(high - low, 1e-6), 0, 1)[..., None], 3, axis=2)
    right = 0.35 * left
    right[..., 0] = np.maximum(right[..., 0], maps[0])
    right[..., 1] = np.maximum(right[..., 1], maps[1] if len(maps) > 1 else 0.0)
    cover = np.concatenate([left, right], axis=1)
    h, w = cover.shape[0] // 2, cover.shape[1] // 2
    cover = cover[: 2 * h, : 2 * w].reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
    return (cover * 255).round().astype(np.uint8)


def _maps_of(network, image: np.ndarray) -> np.ndarray:
    """``(1, K, H, W)`` maps of a raw ``(H, W)`` image, normalized as the package's preprocessing."""
    with torch.inference_mode():
        return _numpy(network(torch.from_numpy(whole_image_normalize(image)[None, None])))[0]


def _describe(folder: Path, net: NuSeTNet, metadata: dict):
    """The bioimage.io model description (format 0.5) of the files in ``folder``."""
    import bioimageio.spec.model.v0_5 as bio

    from . import __version__

    channels = ["foreground_probability"] + (["centre_distance"] if net.config.distance else [])
    what = " and ".join(c.replace("_", " ") for c in channels)
    size = bio.ParameterizedSize(min=STRIDE, step=STRIDE)
    same = {a: bio.SizeReference(tensor_id=bio.TensorId("image"), axis_id=bio.AxisId(a)) for a in "yx"}
    normalize = bio.ZeroMeanUnitVarianceDescr(  # per image, NuSeT's epsilon
        kwargs=bio.ZeroMeanUnitVarianceKwargs(axes=[bio.AxisId(a) for a in ("channel", "y", "x")], eps=1e-5))
    image = bio.InputTensorDescr(
        id=bio.TensorId("image"), description="fluorescence image of nuclei, raw intensities",
        axes=[bio.BatchAxis(), bio.ChannelAxis(channel_names=[bio.Identifier("nuclei")]),
              *(bio.SpaceInputAxis(id=bio.AxisId(a), size=size) for a in "yx")],
        test_tensor=bio.FileDescr(source=folder / "test_input.npy"), preprocessing=[normalize])
    maps = bio.OutputTensorDescr(
        id=bio.TensorId("maps"), description=what,
        axes=[bio.BatchAxis(), bio.ChannelAxis(channel_names=[bio.Identifier(c) for c in channels]),
              *(bio.SpaceOutputAxis(id=bio.AxisId(a), size=same[a]) for a in "yx")],
        test_tensor=bio.FileDescr(source=folder / "test_output.npy"),
        data=bio.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)))
    weights = bio.WeightsDescr(
        torchscript=bio.TorchscriptWeightsDescr(source=folder / "weights.pt",
                                                pytorch_version=bio.Version(torch.__version__.split("+")[0])),
        onnx=bio.OnnxWeightsDescr(source=folder / "weights.onnx", opset_version=ONNX_OPSET, parent="torchscript"))
    return bio.ModelDescr(
        name="NuSeT nuclei maps", description=f"{what.capitalize()} of nuclei in 2-D fluorescence images, from "
                                              "NuSeT's U-Net; NuSeT's watershed is not included.",
        authors=[bio.Author(name="The NuSeT PyTorch authors")], cite=[bio.CiteEntry(text=CITATION, doi=bio.Doi(DOI))],
        license=bio.LicenseId(LICENSE), version=bio.Version(__version__),
        documentation=bio.FileDescr(source=folder / "README.md"), covers=[bio.FileDescr(source=folder / "cover.png")],
        tags=["nuclei", "fluorescence-light-microscopy", "semantic-segmentation", "2d", "unet", "pytorch", "nuset"],
        inputs=[image], outputs=[maps], weights=weights,
        config=bio.Config(
            bioimageio=bio.BioimageioConfig(
                architecture_type="U-Net with RPN head", modality="fluorescence microscopy",
                target_structure=["nuclei"], task="semantic segmentation",
                model_parameter_count=sum(p.numel() for p in net.parameters())),
            nuset={"config": net.config.to_dict(), "foreground_threshold": FOREGROUND_THRESHOLD,
                   "core_level": CORE_LEVEL, "training_nucleus_size": metadata.get("nucleus_size")}))


def _write_package(module: MapsNetwork, metadata: dict, output: Path, model_path: Path) -> None:
    """Write the package ``output`` (a .zip), then run bioimage.io's test on it."""
    import imageio.v3 as iio
    from bioimageio.core import test_model
    from bioimageio.spec import save_bioimageio_package

    sample = _sample()
    info = _model_info(module.net, metadata, rpn=False)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for format, writer, file in (("torchscript", _write_torchscript, "weights.pt"),
                                     ("onnx", _write_onnx, "weights.onnx")):
            writer(module, folder / file, info)
            verify_export(folder / file, module, format)
        crop = sample[TEST_WINDOW]
        np.save(folder / "test_input.npy", crop[None, None])
        np.save(folder / "test_output.npy", _maps_of(torch.jit.load(str(folder / "weights.pt")), crop))
        iio.imwrite(folder / "cover.png", _cover(sample, _maps_of(module, sample)[0]))
        (folder / "README.md").write_text(_readme(module.net, metadata, model_path))
        save_bioimageio_package(_describe(folder, module.net, metadata), output_path=output)
    summary = test_model(output, devices=["cpu"])
    if summary.status != "passed":
        failed = "; ".join(f"{d.name}: {e.msg}" for d in summary.details if d.status == "failed" for e in d.errors)
        raise ExportError(f"the package fails bioimage.io's test ({failed})")

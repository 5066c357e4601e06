"""Inference backends: how the network's convolutions run.

- ``"f32"``: PyTorch in float32, the reference.
- ``"bf16"``: PyTorch under :func:`torch.autocast` with bfloat16 below the
  full resolution; the full-resolution layers (the first encoder block, the
  last decoder block and the classifier) stay float32 (:func:`prepare_network`).
  Fast on CPUs that compute bfloat16 natively (AVX512-BF16 or AMX;
  :func:`native_bf16`) and on CUDA GPUs; elsewhere bfloat16 is emulated,
  slower than float32.
- ``"openvino"``: the network converted and compiled by OpenVINO for the
  CPU, in float32 (``pip install "nuset[openvino]"``;
  :class:`OpenVinoNetwork`).
- ``"auto"`` (the default): ``"bf16"`` on a CPU with native bfloat16,
  ``"f32"`` everywhere else.

A backend other than the reference is used by default only where its labels
were measured equivalent to float32 on the validation split (AP50 within
0.005, at least 99% of nuclei matched at IoU 0.9): ``benchmarks/backends.py``.
With every layer in bfloat16 only 98.1% of the nuclei matched, and the
network ran slower than with the full-resolution layers in float32 (their
one- and eight-channel convolutions gain nothing from bfloat16 and pay for
the conversions).
"""
from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .model_io import weights_checksum
from .options import BACKENDS

__all__ = ["AUTO_ON_NATIVE_BF16", "BACKENDS", "OpenVinoNetwork", "native_bf16", "resolve_backend",
           "prepare_network", "inference_context"]


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux: /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (x86-64 with AVX512-BF16
    or AMX-BF16, as oneDNN uses them). ``False`` where it cannot be told."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())


#: What ``"auto"`` runs on a CPU with native bfloat16: the backend measured
#: equivalent to float32 there (benchmarks/backends.py, docs/benchmarks.md).
AUTO_ON_NATIVE_BF16 = "bf16"


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend to run: ``backend`` checked, ``"auto"`` resolved.

    Parameters
    ----------
    backend : str
        One of :data:`BACKENDS`.
    device : torch.device
        Where the network runs.

    Returns
    -------
    str
        ``"f32"``, ``"bf16"`` or ``"openvino"``.

    Raises
    ------
    ValueError
        An unknown backend, or OpenVINO on a GPU.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend == "openvino" and device.type != "cpu":
        raise ValueError(f"the openvino backend runs on the CPU, not on {device}; use device='cpu' or another backend")
    if backend == "auto":
        return AUTO_ON_NATIVE_BF16 if device.type == "cpu" and native_bf16() else "f32"
    return backend


def inference_context(backend: str, device: torch.device):
    """The context the network runs in for ``backend`` (resolved)."""
    if backend == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Float32(torch.nn.Module):
    """Runs ``module`` in float32 inside a bfloat16 autocast region."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.module(x.float())


def prepare_network(net: torch.nn.Module, backend: str):
    """``net`` (a :class:`~nuset_engine.network.NuSeTNet` prepared for
    inference) set up for ``backend`` (resolved): for ``"bf16"`` its
    full-resolution layers are wrapped to run in float32 (see the module
    docstring; the weights are shared, not copied); for ``"openvino"`` an
    :class:`OpenVinoNetwork`."""
    if backend == "openvino":
        return OpenVinoNetwork(net)
    if backend == "bf16":
        net.encoders[0] = Float32(net.encoders[0])
        net.decoders[-1] = Float32(net.decoders[-1])
        net.classifier = Float32(net.classifier)
    return net


class OpenVinoNetwork:
    """A NuSeT network converted and compiled by OpenVINO for the CPU, in
    float32 (bfloat16 in OpenVINO changed the maps as much as bfloat16 in
    every PyTorch layer, which fails the equivalence rule).

    Parameters
    ----------
    net : NuSeTNet
        The network, in eval mode (batch norm may be folded).
    threads : int, optional
        CPU threads; default: as many as torch uses.

    Raises
    ------
    ModuleNotFoundError
        OpenVINO is not installed, with the command that installs it.
    """

    def __init__(self, net: torch.nn.Module, threads: int | None = None):
        try:
            import openvino as ov
        except ImportError:
            raise ModuleNotFoundError('the openvino backend needs OpenVINO: pip install "nuset[openvino]" '
                                      "(or choose the backend f32, bf16 or auto)") from None
        self.config = net.config
        core = ov.Core()
        cached = _openvino_cache(net)
        if cached is not None and cached.is_file():
            model = core.read_model(cached)
        else:
            model = _convert(net, ov)
            if cached is not None:
                _save_converted(model, cached, ov)
        self._compiled = core.compile_model(model, "CPU", {
            "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads())})

    def run(self, padded: np.ndarray) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """The maps ``(K, H, W)``, objectness and box deltas of one ``(H, W)``
        input (multiples of 16), as :meth:`Segmenter.network_maps
        <nuset_engine.segmenter.Segmenter.network_maps>` uses them."""
        maps, objectness, deltas = self._compiled(np.ascontiguousarray(padded, np.float32)[None, None]).to_tuple()
        return maps[0], torch.from_numpy(np.array(objectness[0])), torch.from_numpy(np.array(deltas[0]))


def _openvino_cache(net: torch.nn.Module) -> Path | None:
    """Where the network converted for OpenVINO is kept between runs (the
    conversion takes seconds, reading it back a tenth of one): the user's
    cache folder (``NUSET_CACHE_DIR``, else ``$XDG_CACHE_HOME/nuset`` or
    ``~/.cache/nuset``), named after the weights; ``None`` where there is no
    home to cache in."""
    import openvino as ov

    root = os.environ.get("NUSET_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "nuset")
    if root.startswith("~"):
        return None
    name = f"{weights_checksum(net.state_dict())[:32]}-ov{ov.__version__.split('-')[0]}.xml"
    return Path(root) / "openvino" / name


def _convert(net: torch.nn.Module, ov):
    from .export import MapsNetwork

    module = MapsNetwork(net, rpn=True).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing warnings about the input-size check
        return ov.convert_model(module, example_input=torch.zeros(1, 1, 64, 64),
                                input=[ov.PartialShape([1, 1, -1, -1])])


def _save_converted(model, path: Path, ov) -> None:
    """Write the converted model (.xml and .bin) next to ``path``, each file
    renamed into place whole; a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as folder:
            ov.save_model(model, str(Path(folder) / path.name), compress_to_fp16=False)
            os.replace(Path(folder) / path.with_suffix(".bin").name, path.with_suffix(".bin"))
            os.replace(Path(folder) / path.name, path)  # the .xml last: it marks the entry complete
    except OSError:
        pass

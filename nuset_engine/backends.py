"""Inference backends: how the network's convolutions run.

- ``"f32"``: PyTorch in float32, the reference.
- ``"bf16"``: PyTorch under :func:`torch.autocast` with bfloat16 below the
  full resolution; the full-resolution layers (the first encoder block, the
  last decoder block and the classifier) stay float32 (:func:`prepare_network`).
  Fast on CPUs that compute bfloat16 natively (AVX512-BF16 or AMX;
  :func:`native_bf16`) and on CUDA GPUs; elsewhere bfloat16 is emulated,
  slower than float32.
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
import platform
from functools import lru_cache

import torch

from .options import BACKENDS

__all__ = ["AUTO_ON_NATIVE_BF16", "BACKENDS", "native_bf16", "resolve_backend", "prepare_network",
           "inference_context"]


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
        ``"f32"`` or ``"bf16"``.

    Raises
    ------
    ValueError
        An unknown backend.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
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


def prepare_network(net: torch.nn.Module, backend: str) -> torch.nn.Module:
    """``net`` (a :class:`~nuset_engine.network.NuSeTNet` prepared for
    inference) set up for ``backend`` (resolved): for ``"bf16"`` its
    full-resolution layers are wrapped to run in float32 (see the module
    docstring); the weights are shared, not copied."""
    if backend == "bf16":
        net.encoders[0] = Float32(net.encoders[0])
        net.decoders[-1] = Float32(net.decoders[-1])
        net.classifier = Float32(net.classifier)
    return net

"""The NuSeT model file: one ``.pt`` file holding the architecture config,
the weights (float16 to keep the shipped file small), metadata (training
recipe, nucleus size the model was trained at, validation scores) and a
SHA-256 checksum of the weights that is verified at load time."""
from __future__ import annotations

import hashlib
import json
import io
from pathlib import Path

import torch

from .network import NetworkConfig, NuSeTNet

__all__ = ["FORMAT", "FORMAT_VERSION", "save_model", "load_model", "default_model_path", "model_checksum",
           "weights_checksum", "ModelFileError"]

FORMAT = "nuset-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """The model file is missing, corrupt, or not a NuSeT model of a known version."""


def default_model_path() -> Path:
    """The model shipped inside the package."""
    return Path(__file__).parent / "models" / "default.nuset.pt"


def weights_checksum(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 (64 hex digits) of a state dict: its keys in order and their
    tensors' bytes. What a model file stores and :func:`load_model` checks."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_model(path: str | Path, net: NuSeTNet, metadata: dict | None = None, half: bool = True) -> Path:
    """Write ``net`` to ``path`` (atomically)."""
    from .io import atomic_write

    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
        for k, v in net.state_dict().items()
    }
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": net.config.to_dict(),
        # plain JSON types only, so that loading never needs to unpickle objects
        "metadata": json.loads(json.dumps(metadata or {}, default=str)),
        "state_dict": state,
        "sha256": weights_checksum(state),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


#: What every model file holds besides ``format``, and of which type.
_PAYLOAD_TYPES = {"format_version": int, "config": dict, "metadata": dict, "state_dict": dict, "sha256": str}


def _payload_problem(payload: dict) -> str | None:
    """What is missing or of the wrong type in a model file's payload, if anything."""
    for key, kind in _PAYLOAD_TYPES.items():
        if key not in payload:
            return f"missing {key!r}"
        value = payload[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{key!r} is of type {type(value).__name__}, expected {kind.__name__}"
    for name, tensor in payload["state_dict"].items():
        if not isinstance(tensor, torch.Tensor):
            return f"'state_dict' holds a {type(tensor).__name__} under {name!r}"
    return None


def load_model(path: str | Path | None = None) -> tuple[NuSeTNet, dict]:
    """Read a model file; returns the network (float32, eval mode) and its metadata.

    Raises
    ------
    ModelFileError
        Naming the file and the fix, for a missing, truncated, corrupt or
        incompatible file.
    """
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        hint = (
            "the package was installed without its default model; reinstall NuSeT"
            if path == default_model_path()
            else "give the path of a model written by `nuset train`"
        )
        raise ModelFileError(f"{path}: model file not found ({hint})")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(
            f"{path}: not a readable NuSeT model file ({exc.__class__.__name__}); "
            "it may be truncated or corrupt: copy it again or retrain with `nuset train`"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a NuSeT model file (models are written by `nuset train`)")
    version = payload.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:  # a newer layout: check nothing else
        raise ModelFileError(
            f"{path}: model format version {version} is newer than this NuSeT understands ({FORMAT_VERSION}); "
            "upgrade NuSeT"
        )
    problem = _payload_problem(payload)
    if problem:
        raise ModelFileError(
            f"{path}: not a valid NuSeT model file ({problem}); it is damaged or was not written by NuSeT: "
            "use the shipped model or one written by `nuset train`"
        )
    state = payload["state_dict"]
    if weights_checksum(state) != payload.get("sha256"):
        raise ModelFileError(f"{path}: checksum mismatch, the weights are corrupt; copy the file again")
    try:
        config = NetworkConfig(**payload["config"])
    except (TypeError, ValueError) as exc:  # e.g. an option added by a newer NuSeT
        raise ModelFileError(f"{path}: architecture not understood by this NuSeT ({exc}); upgrade NuSeT") from exc
    net = NuSeTNet(config)
    try:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: weights do not fit the stated architecture ({exc})") from exc
    return net.eval(), payload["metadata"]


def model_checksum(path: str | Path | None = None) -> str:
    """The SHA-256 of a model file's weights, as the file stores it (and
    :func:`load_model` verifies): what names a parent model in the metadata
    of a model fine-tuned from it.

    Parameters
    ----------
    path : str or Path, optional
        A model file; ``None``: the shipped model.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    ModelFileError
        As :func:`load_model`, for a file that is missing, corrupt or not a
        NuSeT model.
    """
    path = Path(path) if path is not None else default_model_path()
    load_model(path)  # every check, the checksum's included
    return torch.load(path, map_location="cpu", weights_only=True)["sha256"]

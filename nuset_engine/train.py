"""Training NuSeT, from scratch or by fine-tuning a model (``parent``): real
images mixed with synthetic ones, validated each epoch, the best checkpoint
kept, resumable, bounded by epochs or a time budget, with an early stop; at
the end the model's post-processing defaults are chosen on its validation
images (:func:`~nuset_engine.validation.choose_postprocessing`).

Outputs in ``output``: ``last.ckpt`` (weights + optimizer state, for
``resume``), ``model.nuset.pt`` (best validation AP50, the file that
``Segmenter.load`` reads) and ``history.jsonl`` (one line per epoch).

Two recipes. :class:`TrainConfig`'s defaults are the recipe that made the
shipped model (v0.3, ``models/MODEL_CARD.md``). :meth:`TrainConfig.fine_tuning`
starts from a model's weights, keeps its architecture, normalization and
nucleus size, and changes what :data:`FINE_TUNING` lists, for a few (3-20)
of the user's images.
"""
from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from .anchors import anchor_base_size
from .colour import INPUT_KINDS, input_metadata, model_input
from .data import NuSeTDataset
from .io import atomic_write
from .losses import nuset_loss
from .model_io import default_model_path, load_model, model_checksum, save_model
from .network import DOUBLING, STRIDE, NetworkConfig, NuSeTNet
from .segmenter import Segmenter, resolve_device
from .synthetic import synthetic_dataset
from .validation import TrainingData, choose_postprocessing, training_data, validate

__all__ = ["TrainConfig", "FINE_TUNING", "ARCHITECTURE", "TRAINABLE_INPUTS", "ArchitectureMismatch", "TrainingProgress",
           "parent_model_path", "ema_update", "train"]

#: What fine-tuning changes from the from-scratch recipe (the shipped model's).
#: Short epochs, so that validation and the early stop act within minutes; no
#: synthetic images (the user's domain is the point); no moving average (few
#: steps); half the crops scaled so the user's nuclei have the parent's
#: nucleus size (the scale the segmenter resizes to), half at their own scale
#: (what pass 1 sees before it has measured the size). Measured with
#: benchmarks/finetune.py on the DSB H&E tiles (the shipped model: AP50 0.00;
#: 10 training and 40 validation images, one CPU thread, 2026-12-02): after
#: 600 steps, half the crops matched scored AP50 0.52 (0.51 on the images
#: enlarged 1.6x), all matched 0.46 (0.43); in 5 minutes, Adam 2e-4 constant
#: 0.44 and 1e-3 cosine 0.44, crops of 128 pixels 0.44 and of 256 0.41.
FINE_TUNING = dict(epochs=20, steps_per_epoch=40, crop_size=128, lr=2e-4, lr_schedule="constant",
                   synthetic_ratio=0.0, matched_scale_fraction=0.5, ema_decay=0.0, patience=5)

#: The input kinds a model can be trained for (its network takes one plane).
TRAINABLE_INPUTS = tuple(name for name in INPUT_KINDS if name != "rgb")

#: The fields a fine-tuned model takes from its parent and may not change.
ARCHITECTURE = ("base_width", "width_multipliers", "distance")

@dataclass
class TrainConfig:
    """Training recipe. The defaults are the shipped model's recipe
    (``models/MODEL_CARD.md``); :meth:`fine_tuning` makes the fine-tuning one.

    ``parent`` (``"default"`` or a model file) fine-tunes that model: its
    weights are the start, its architecture must be this config's, and its
    nucleus size is the fine-tuned model's. ``minutes`` bounds the training
    time (then ``epochs`` is an upper bound and a cosine schedule runs over
    the time); ``patience`` > 0 stops after that many epochs without a better
    validation AP50. ``validation``: ``"images"`` (the fixed id hash split),
    ``"strips"`` (a held-out strip of every image, :func:`~nuset_engine.validation.hold_out_strips`)
    or ``"auto"`` (strips when the split leaves fewer than 2 validation or 5
    training images). ``tune_postprocessing``: choose the model's
    post-processing defaults on the validation images at the end.
    ``input``: the images the model takes (:data:`~nuset_engine.colour.INPUT_KINDS`
    but ``"rgb"``): the network trains and validates on the planes that kind's
    transform makes of them (e.g. the haematoxylin plane of an H&E image for
    ``"hed"``), and the model file records the kind, so that it is given the
    images as they are. ``"fluorescence"`` reads RGB files as luminance, as
    before input kinds existed; fine-tuning keeps the parent's kind unless
    another is given."""

    images: str
    labels: str
    output: str
    parent: str | None = None
    base_width: int = 8
    width_multipliers: tuple[int, ...] = DOUBLING
    epochs: int = 36
    steps_per_epoch: int = 250
    batch_size: int = 8
    crop_size: int = 256
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    synthetic_ratio: float = 1.0
    synthetic_images: int = 200
    normalization: str = "both"
    distance: bool = True
    camera_augmentation: bool = False
    validation: str = "auto"
    validation_fraction: float = 0.1
    max_validation_images: int | None = None
    scale_min: float = 0.5
    scale_max: float = 2.0
    matched_scale_fraction: float = 0.0
    ema_decay: float = 0.998
    minutes: float | None = None
    patience: int = 0
    tune_postprocessing: bool = True
    input: str = "fluorescence"
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0

    def __post_init__(self) -> None:
        self.width_multipliers = tuple(self.width_multipliers)
        self.check()

    @classmethod
    def fine_tuning(cls, parent: str, images: str, labels: str, output: str, **changes) -> "TrainConfig":
        """The fine-tuning recipe: :data:`FINE_TUNING` over the defaults, the
        parent's architecture and normalization, then ``changes``.

        Raises
        ------
        ArchitectureMismatch
            A change to one of :data:`ARCHITECTURE` that the parent contradicts.
        ModelFileError
            The parent is missing or not a NuSeT model.
        """
        path = parent_model_path(parent)
        net, metadata = load_model(path)
        inherited = {name: getattr(net.config, name) for name in ARCHITECTURE}
        inherited["normalization"] = metadata.get("training", {}).get("normalization", "both")
        inherited["input"] = model_input(metadata).name
        config = cls(images, labels, output, parent=parent, **{**FINE_TUNING, **inherited, **changes})
        _check_architecture(config, net.config, path)
        return config

    def check(self) -> None:
        """Refuse a recipe that would fail or train nothing, before any data
        are read (the checks are written so that NaN fails them too)."""
        for name in ("epochs", "steps_per_epoch", "batch_size"):
            if not getattr(self, name) >= 1:
                raise ValueError(f"{name} must be 1 or more, got {getattr(self, name)}")
        if self.crop_size % STRIDE or not self.crop_size >= 2 * STRIDE:
            # the network halves the size 4 times; a 16-pixel crop leaves a 1x1 bottleneck,
            # which batch norm cannot train on with one crop per batch
            raise ValueError(f"crop_size must be a multiple of {STRIDE}, at least {2 * STRIDE}, got {self.crop_size}")
        for name in ("lr", "scale_min", "scale_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.scale_min > self.scale_max:
            raise ValueError(f"scale_min ({self.scale_min}) must not exceed scale_max ({self.scale_max})")
        if not 0 < self.validation_fraction < 1:
            raise ValueError("validation_fraction must be between 0 and 1 (exclusive: both the training and the "
                             f"validation split need images), got {self.validation_fraction}")
        if self.max_validation_images is not None and not self.max_validation_images >= 1:
            raise ValueError("max_validation_images must be 1 or more (or None for no limit), "
                             f"got {self.max_validation_images}")
        if not 0 <= self.matched_scale_fraction <= 1:
            raise ValueError(f"matched_scale_fraction must be between 0 and 1, got {self.matched_scale_fraction}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be positive (or None for no time budget), got {self.minutes}")
        if not self.patience >= 0:
            raise ValueError(f"patience must be 0 (no early stop) or more epochs, got {self.patience}")
        if self.validation not in ("auto", "images", "strips"):
            raise ValueError(f"validation must be 'auto', 'images' or 'strips', got {self.validation!r}")
        if self.input not in TRAINABLE_INPUTS:
            raise ValueError(f"input must be one of {', '.join(TRAINABLE_INPUTS)}, got {self.input!r}"
                             + (" (3-channel networks are not supported yet)" if self.input == "rgb" else ""))


class ArchitectureMismatch(ValueError):
    """A fine-tuning config whose architecture field ``name`` (``value``)
    differs from the parent model's (``parent_value``, file ``path``)."""

    def __init__(self, name: str, value, parent_value, path: Path):
        super().__init__(f"{name}={value!r} contradicts the parent model {path} ({name}={parent_value!r}): "
                         f"fine-tuning keeps the parent's architecture; leave {name} unset")
        self.name, self.value, self.parent_value, self.path = name, value, parent_value, path


def _check_architecture(config: TrainConfig, parent: NetworkConfig, path: Path) -> None:
    for name in ARCHITECTURE:
        if getattr(config, name) != getattr(parent, name):
            raise ArchitectureMismatch(name, getattr(config, name), getattr(parent, name), path)


def parent_model_path(parent: str) -> Path:
    """The file of a parent model: ``"default"`` is the shipped model."""
    return default_model_path() if str(parent) == "default" else Path(parent)


class _Parent(NamedTuple):
    path: Path
    net: NuSeTNet
    metadata: dict
    record: dict  # what the fine-tuned model's metadata says of it


def _load_parent(config: TrainConfig) -> _Parent | None:
    if config.parent is None:
        return None
    path = parent_model_path(config.parent)
    net, metadata = load_model(path)
    _check_architecture(config, net.config, path)
    record = {"model": "default" if str(config.parent) == "default" else str(path.resolve()),
              "sha256": model_checksum(path), "nucleus_size": metadata.get("nucleus_size"),
              "validation_ap50": metadata.get("validation", {}).get("ap@0.50"), "parent": metadata.get("parent")}
    return _Parent(path, net, metadata, record)


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    name = name.lower()
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-10)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; use 'rmsprop' or 'adam'")


def _set_lr(optimizer: torch.optim.Optimizer, config: TrainConfig, done: float) -> float:
    """Set the learning rate for the fraction ``done`` (0-1) of the run:
    constant, or cosine decay to 0 (a function of ``done`` alone, so
    resuming needs no state)."""
    lr = config.lr
    if config.lr_schedule == "cosine":
        lr *= 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
    elif config.lr_schedule != "constant":
        raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}; use 'constant' or 'cosine'")
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


class _MixedSamples:
    """Index-addressable mix: a real sample with probability 1/(1+ratio),
    else a synthetic one (the dataset draws indices uniformly)."""

    def __init__(self, real, synthetic, ratio):
        n_syn = int(round(len(real) * ratio)) if synthetic else 0
        self.real, self.synthetic, self.n_syn = real, synthetic, n_syn

    def __len__(self):
        return len(self.real) + self.n_syn

    def __getitem__(self, i):
        if i < len(self.real):
            return self.real[i]
        return self.synthetic[(i - len(self.real)) % len(self.synthetic)]


def ema_update(decay: float):
    """``multi_avg_fn`` for :class:`~torch.optim.swa_utils.AveragedModel`: an
    exponential moving average whose decay warms up as ``(1 + n) / (10 + n)``
    after ``n`` updates, so the random initial weights do not linger (with a
    fixed 0.998 they still weigh 37% after 500 steps). Integer buffers (batch
    counts) are copied."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        n = float(num_averaged)
        d = min(decay, (1 + n) / (10 + n))
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                a.lerp_(c, 1 - d)
            else:
                a.copy_(c)

    return update


@dataclass(frozen=True)
class TrainingProgress:
    """Where a run stands; ``train(progress=...)`` gets one after every step
    and every validation.

    ``done`` is the fraction of the run (0-1): of its steps, or of its time
    budget where that is further. ``loss`` is the epoch's mean so far;
    ``ap50`` the last validation's AP50 (``None`` before the first).
    """

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    done: float
    seconds: float
    ap50: float | None = None
    best_ap50: float | None = None
    best_epoch: int | None = None


class _State:
    """What a run carries from epoch to epoch (and across a resume)."""

    def __init__(self):
        self.epoch, self.best, self.best_epoch, self.wall, self.ap50 = 0, -1.0, 0, 0.0, None

    def done(self, config: TrainConfig, global_step: int, seconds: float) -> float:
        by_steps = global_step / (config.epochs * config.steps_per_epoch)
        return max(by_steps, seconds / (60 * config.minutes)) if config.minutes else by_steps

    def stop_reason(self, config: TrainConfig) -> str | None:
        if config.minutes and self.wall >= 60 * config.minutes:
            return f"time budget of {config.minutes:g} min"
        if config.patience and self.epoch - self.best_epoch >= config.patience:
            return f"early stop: no better validation AP50 in {config.patience} epochs"
        return None


def train(config: TrainConfig, resume: bool = False, log: Callable[[str], None] = print,
          progress: Callable[[TrainingProgress], None] | None = None) -> Path:
    """Train a model (from scratch, or fine-tune ``config.parent``).

    Parameters
    ----------
    config : TrainConfig
    resume : bool, default False
        Continue the run in ``config.output`` from its last checkpoint.
    log : callable, default print
        Gets a line of text per event (epoch scores, best model saved...).
    progress : callable, optional
        Gets a :class:`TrainingProgress` after every step and validation.

    Returns
    -------
    Path
        The best model file (``model.nuset.pt``).
    """
    config.check()  # again: fields may have been changed since the config was made
    out = Path(config.output)
    last = out / "last.ckpt"
    if last.exists() and not resume:
        raise FileExistsError(f"{out} already holds a training run; resume it or choose another output folder")
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    parent = _load_parent(config)
    data = training_data(config, log)
    out.mkdir(parents=True, exist_ok=True)
    synthetic = []
    if config.synthetic_ratio > 0:
        log(f"generating {config.synthetic_images} synthetic images")
        synthetic = synthetic_dataset(config.synthetic_images, seed=config.seed * 100_000)
    data_size = float(np.median([anchor_base_size(lab) for _, lab in data.real]))
    # Fine-tuned, a model keeps its parent's nucleus size: the matched crops
    # bring the user's nuclei to it, and the segmenter resizes images to it.
    nucleus_size = float(parent.metadata.get("nucleus_size", 20.0)) if parent else data_size
    dataset = NuSeTDataset(_MixedSamples(data.real, synthetic, config.synthetic_ratio),
                           config.steps_per_epoch * config.batch_size, config.crop_size, config.normalization,
                           (config.scale_min, config.scale_max), config.seed, config.distance,
                           config.camera_augmentation, config.matched_scale_fraction, nucleus_size)
    net = parent.net if parent else NuSeTNet(NetworkConfig(base_width=config.base_width, distance=config.distance,
                                                           width_multipliers=config.width_multipliers))
    net = net.to(device, memory_format=torch.channels_last)
    optimizer = _optimizer(config.optimizer, net.parameters(), config.lr)
    # With ema_decay, validation and the saved model use an exponential moving
    # average of the weights and batch-norm statistics (smoother than the last step's).
    ema = AveragedModel(net, multi_avg_fn=ema_update(config.ema_decay), use_buffers=True) if config.ema_decay else None
    state = _State()
    if resume and last.exists():
        _resume(last, net, optimizer, ema, state, device, log)
    metadata = _metadata(config, data, parent, nucleus_size, data_size, device)
    run = _Run(config, out, dataset, data.validation, net, optimizer, ema, state, metadata, device, log, progress)
    stopped = run.epochs()
    return _finish(out / "model.nuset.pt", config, state, stopped, data.validation, device, log)


def _resume(last: Path, net, optimizer, ema, state: _State, device, log) -> None:
    saved = torch.load(last, map_location=device, weights_only=True)
    net.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    if ema is not None:
        ema.load_state_dict(saved["ema"])
    state.epoch, state.best, state.wall = saved["epoch"] + 1, saved["best"], saved["wall_seconds"]
    state.best_epoch = saved.get("best_epoch", state.epoch)
    log(f"resuming after epoch {state.epoch} (best AP50 {state.best:.4f})")


def _metadata(config: TrainConfig, data: TrainingData, parent: _Parent | None, nucleus_size: float, data_size: float,
              device) -> dict:
    """What the model file says of its training (more is added as it goes)."""
    metadata = {
        "input": input_metadata(config.input),
        "training": asdict(config),
        "nucleus_size": nucleus_size,
        "data_nucleus_size": data_size,
        "training_ids": data.training_ids,
        "validation_ids": data.validation_ids,
        "validation_method": data.method,
        "hardware": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}",
        "torch": str(torch.__version__),
    }
    if data.method.startswith("held-out images"):
        metadata["split_rule"] = f"sha1(id)[:8]/2**32 < {config.validation_fraction}"
    if parent:
        metadata["parent"] = parent.record
        if "postprocessing" in parent.metadata:  # the parent's defaults until new ones are chosen
            metadata["postprocessing"] = parent.metadata["postprocessing"]
    return metadata


class _Run:
    """The epochs of one :func:`train` call."""

    def __init__(self, config, out, dataset, validation, net, optimizer, ema, state, metadata, device, log,
                 progress):
        self.config, self.out, self.dataset, self.validation = config, out, dataset, validation
        self.net, self.optimizer, self.ema = net, optimizer, ema
        self.state, self.metadata, self.device, self.log = state, metadata, device, log
        self.progress = progress or (lambda p: None)

    def epochs(self) -> str:
        """Train until the epochs, the time budget or the patience run out; returns why it stopped."""
        config, state = self.config, self.state
        while state.epoch < config.epochs:
            reason = state.stop_reason(config)
            if reason:
                return reason
            t0 = time.time()
            losses, steps, lr = self.train_epoch(t0)
            model = self.ema.module if self.ema is not None else self.net
            model.eval()
            scores = validate(_plane_segmenter(model, self.metadata, self.device), self.validation)
            state.wall += time.time() - t0
            self.record(model, losses, steps, lr, scores)
            state.epoch += 1
        return state.stop_reason(config) or f"all {config.epochs} epochs"

    def train_epoch(self, t0: float) -> tuple[dict, int, float]:
        config, state = self.config, self.state
        self.dataset.epoch = state.epoch
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=config.batch_size,
                                             num_workers=config.num_workers, shuffle=False)
        self.net.train()
        sums: dict[str, float] = {}
        lr, step = config.lr, 0
        for step, batch in enumerate(loader, start=1):
            batch = {k: v.to(self.device) for k, v in batch.items()}
            seconds = state.wall + time.time() - t0
            lr = _set_lr(self.optimizer, config, state.done(config, state.epoch * len(loader) + step - 1, seconds))
            # channels-last roughly halves convolution time on CPU (and suits tensor cores)
            terms = nuset_loss(self.net(batch["image"].contiguous(memory_format=torch.channels_last)), batch)
            self.optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update_parameters(self.net)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            seconds = state.wall + time.time() - t0
            self.report(step, len(loader), sums["total"] / step, seconds)
            if step % 25 == 0:
                self.log(f"epoch {state.epoch + 1}/{config.epochs} step {step}/{len(loader)} "
                         f"loss {sums['total'] / step:.4f}")
            if config.minutes and seconds >= 60 * config.minutes:
                self.log(f"time budget of {config.minutes:g} min reached in epoch {state.epoch + 1}, step {step}")
                break
        return {k: v / max(step, 1) for k, v in sums.items()}, step, lr

    def report(self, step: int, steps: int, loss: float, seconds: float) -> None:
        state, config = self.state, self.config
        best = state.best if state.best >= 0 else None
        self.progress(TrainingProgress(state.epoch + 1, config.epochs, step, steps, loss,
                                       state.done(config, state.epoch * steps + step, seconds), seconds,
                                       state.ap50, best, state.best_epoch or None))

    def record(self, model, losses: dict, steps: int, lr: float, scores: dict) -> None:
        """The epoch's history line, the best model and the checkpoint."""
        state, out = self.state, self.out
        state.ap50 = scores["ap@0.50"]
        record = {"epoch": state.epoch + 1, "wall_seconds": round(state.wall, 1), "steps": steps, "lr": lr,
                  **{f"loss_{k}": v for k, v in losses.items()},
                  **{k: scores[k] for k in ("ap@0.50", "f1@0.50", "mean_ap", "mean_iu")}}
        with open(out / "history.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        self.log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if scores["ap@0.50"] > state.best:
            state.best, state.best_epoch = scores["ap@0.50"], state.epoch + 1
            save_model(out / "model.nuset.pt", model, self.metadata | {
                "epoch": state.epoch + 1, "validation": scores, "wall_seconds": round(state.wall, 1)})
            self.log(f"new best AP50 {state.best:.4f}: saved {out / 'model.nuset.pt'}")
        self.report(steps, steps, losses.get("total", float("nan")), state.wall)
        payload = {"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": state.epoch,
                   "best": state.best, "best_epoch": state.best_epoch, "wall_seconds": state.wall}
        if self.ema is not None:
            payload["ema"] = self.ema.state_dict()
        atomic_write(out / "last.ckpt", lambda tmp: torch.save(payload, tmp))


def _plane_segmenter(net, metadata: dict, device) -> Segmenter:
    """A segmenter of the run's validation samples: planes already made by
    the model's input transform, so its ``"input"`` entry is left out."""
    return Segmenter(net, {k: v for k, v in metadata.items() if k != "input"}, device)


def _finish(path: Path, config: TrainConfig, state: _State, stopped: str, samples, device, log) -> Path:
    """Add to the best model's metadata how the run went and, with
    ``config.tune_postprocessing``, the post-processing defaults chosen on
    the validation samples."""
    if not path.exists():
        raise ValueError(f"{config.output}: no model was saved (no epoch completed)")
    net, metadata = load_model(path)
    log(f"stopped: {stopped}; best validation AP50 {metadata['validation']['ap@0.50']:.4f} "
        f"(epoch {metadata['epoch']})")
    metadata.update(stopped=stopped, epochs_run=state.epoch, minutes=round(state.wall / 60, 2))
    if config.tune_postprocessing:
        # from the parent's defaults (carried in the metadata), else the engine's fallbacks
        values, search = choose_postprocessing(_plane_segmenter(net, metadata, device), samples)
        metadata.update(postprocessing=values, postprocessing_search=search)
        log("post-processing defaults chosen on the validation images: "
            + ", ".join(f"{k}={v:g}" for k, v in values.items()))
    return save_model(path, net, metadata)  # the same float16 weights, now with the run's record

"""Training NuSeT: real images mixed with synthetic ones, validated each epoch
on the fixed hash split, best checkpoint kept, resumable after interruption.

Outputs in ``output``: ``last.ckpt`` (weights + optimizer state, for
``resume``), ``model.nuset.pt`` (best validation AP50, the file that
``Segmenter.load`` reads) and ``history.jsonl`` (one line per epoch).
"""
from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from .anchors import anchor_base_size
from .data import NuSeTDataset, find_pairs, load_pairs, split_pairs
from .io import atomic_write
from .metrics import evaluate_pair, pool
from .model_io import save_model
from .network import DOUBLING, STRIDE, NetworkConfig, NuSeTNet
from .losses import nuset_loss
from .segmenter import Segmenter, resolve_device
from .synthetic import synthetic_dataset

__all__ = ["TrainConfig", "ema_update", "train", "validate"]


@dataclass
class TrainConfig:
    """Training recipe. Defaults follow the paper where it is explicit
    (RMSprop, lr 5e-5, synthetic:real 1:1, both normalizations)."""

    images: str
    labels: str
    output: str
    base_width: int = 16
    width_multipliers: tuple[int, ...] = DOUBLING
    epochs: int = 35
    steps_per_epoch: int = 200
    batch_size: int = 8
    crop_size: int = 256
    optimizer: str = "rmsprop"
    lr: float = 5e-5
    lr_schedule: str = "constant"
    synthetic_ratio: float = 1.0
    synthetic_images: int = 200
    normalization: str = "both"
    distance: bool = False
    camera_augmentation: bool = False
    validation_fraction: float = 0.1
    max_validation_images: int | None = None
    scale_min: float = 0.5
    scale_max: float = 2.0
    matched_scale_fraction: float = 0.0
    ema_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0

    def __post_init__(self) -> None:
        self.check()

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


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    name = name.lower()
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-10)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; use 'rmsprop' or 'adam'")


def _set_lr(optimizer: torch.optim.Optimizer, config: TrainConfig, step: int) -> None:
    """Learning rate for a global step: constant, or cosine decay to 0 over
    all epochs (a function of the step alone, so resuming needs no state)."""
    lr = config.lr
    if config.lr_schedule == "cosine":
        lr *= 0.5 * (1 + math.cos(math.pi * step / (config.epochs * config.steps_per_epoch)))
    elif config.lr_schedule != "constant":
        raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}; use 'constant' or 'cosine'")
    for group in optimizer.param_groups:
        group["lr"] = lr


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


def validate(segmenter: Segmenter, samples, two_pass: bool | None = None, watershed: bool = True) -> dict:
    """Pooled metrics of ``segmenter`` over ``(image, labels)`` samples
    (``two_pass=None``: as the model was trained)."""
    results = [evaluate_pair(lab, segmenter.segment(img, two_pass=two_pass, watershed=watershed))
               for img, lab in samples]
    return pool(results)


def train(config: TrainConfig, resume: bool = False, log: Callable[[str], None] = print) -> Path:
    """Train a model; returns the path of the best model file."""
    config.check()  # again: fields may have been changed since the config was made
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.ckpt"
    if last.exists() and not resume:
        raise FileExistsError(f"{out} already holds a training run; resume it or choose another output folder")
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)

    pairs = find_pairs(config.images, config.labels)
    train_pairs, val_pairs = split_pairs(pairs, config.validation_fraction)
    val_pairs = val_pairs[: config.max_validation_images]  # None: all
    if not train_pairs or not val_pairs:
        raise ValueError(f"need images in both the training and validation split, got {len(train_pairs)}/{len(val_pairs)}")
    log(f"{len(train_pairs)} training and {len(val_pairs)} validation images")
    real = load_pairs(train_pairs)
    val = load_pairs(val_pairs)
    synthetic = []
    if config.synthetic_ratio > 0:
        log(f"generating {config.synthetic_images} synthetic images")
        synthetic = synthetic_dataset(config.synthetic_images, seed=config.seed * 100_000)
    nucleus_size = float(np.median([anchor_base_size(lab) for _, lab in real]))
    dataset = NuSeTDataset(_MixedSamples(real, synthetic, config.synthetic_ratio),
                           config.steps_per_epoch * config.batch_size, config.crop_size, config.normalization,
                           (config.scale_min, config.scale_max), config.seed, config.distance,
                           config.camera_augmentation, config.matched_scale_fraction, nucleus_size)

    net_config = NetworkConfig(base_width=config.base_width, distance=config.distance,
                               width_multipliers=config.width_multipliers)
    net = NuSeTNet(net_config).to(device, memory_format=torch.channels_last)
    optimizer = _optimizer(config.optimizer, net.parameters(), config.lr)
    # With ema_decay, validation and the saved model use an exponential moving
    # average of the weights and batch-norm statistics (smoother than the last step's).
    ema = AveragedModel(net, multi_avg_fn=ema_update(config.ema_decay), use_buffers=True) if config.ema_decay else None
    start_epoch, best, wall = 0, -1.0, 0.0
    if resume and last.exists():
        state = torch.load(last, map_location=device, weights_only=True)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        start_epoch, best, wall = state["epoch"] + 1, state["best"], state["wall_seconds"]
        log(f"resuming after epoch {start_epoch} (best AP50 {best:.4f})")

    metadata = {
        "training": asdict(config),
        "nucleus_size": nucleus_size,
        "validation_ids": [p[0] for p in val_pairs],
        "split_rule": f"sha1(id)[:8]/2**32 < {config.validation_fraction}",
        "hardware": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}",
        "torch": str(torch.__version__),
    }
    for epoch in range(start_epoch, config.epochs):
        t0 = time.time()
        dataset.epoch = epoch
        loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, num_workers=config.num_workers,
                                             shuffle=False)
        net.train()
        sums: dict[str, float] = {}
        for step, batch in enumerate(loader, start=1):
            batch = {k: v.to(device) for k, v in batch.items()}
            _set_lr(optimizer, config, epoch * len(loader) + step - 1)
            # channels-last roughly halves convolution time on CPU (and suits tensor cores)
            terms = nuset_loss(net(batch["image"].contiguous(memory_format=torch.channels_last)), batch)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            optimizer.step()
            if ema is not None:
                ema.update_parameters(net)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            if step % 25 == 0:
                log(f"epoch {epoch + 1}/{config.epochs} step {step}/{len(loader)} loss {sums['total'] / step:.4f}")
        model = ema.module if ema is not None else net
        model.eval()
        scores = validate(Segmenter(model, metadata, device), val)
        wall += time.time() - t0
        record = {"epoch": epoch + 1, "wall_seconds": round(wall, 1),
                  **{f"loss_{k}": v / len(loader) for k, v in sums.items()},
                  **{k: scores[k] for k in ("ap@0.50", "f1@0.50", "mean_ap", "mean_iu")}}
        with open(out / "history.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if scores["ap@0.50"] > best:
            best = scores["ap@0.50"]
            save_model(out / "model.nuset.pt", model, metadata | {"epoch": epoch + 1, "validation": scores,
                                                                 "wall_seconds": round(wall, 1)})
            log(f"new best AP50 {best:.4f}: saved {out / 'model.nuset.pt'}")
        payload = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                   "best": best, "wall_seconds": wall}
        if ema is not None:
            payload["ema"] = ema.state_dict()
        atomic_write(last, lambda tmp: torch.save(payload, tmp))
    return out / "model.nuset.pt"

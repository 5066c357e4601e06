"""How a training run is validated: which samples it holds out (images of
the fixed id hash split, or a strip of every image when there are few), its
validation score, and the post-processing defaults a model file carries,
chosen on those samples.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
from skimage.segmentation import relabel_sequential

from .anchors import anchor_base_size
from .data import find_pairs, load_pairs, split_pairs
from .metrics import evaluate_pair, pool
from .segmenter import Segmenter

__all__ = ["TrainingData", "training_data", "hold_out_strips", "validate", "choose_postprocessing", "MIN_SCORES",
           "MIN_SIZE_FRACTIONS", "POSTPROCESSING_MARGIN", "STRIP_FRACTION", "MIN_VALIDATION_IMAGES",
           "MIN_TRAINING_IMAGES"]

#: Validation on held-out strips when the id hash split leaves fewer
#: validation or training images than these.
MIN_VALIDATION_IMAGES, MIN_TRAINING_IMAGES = 2, 5
#: Share of each image's longer side held out as its validation strip.
STRIP_FRACTION = 0.25

#: The post-processing grid :func:`choose_postprocessing` tries (the parent's
#: or the engine's values are added), and the AP50 gain it takes to leave
#: them: 0.01, or two more nuclei found where the validation holds few.
MIN_SCORES = (0.5, 0.7, 0.85, 0.95)
MIN_SIZE_FRACTIONS = (0.1, 0.2, 0.3)
POSTPROCESSING_MARGIN = 0.01


def hold_out_strips(samples, fraction: float = STRIP_FRACTION) -> tuple[list, list]:
    """Split every ``(image, labels)`` sample into a part to train on and a
    strip to validate on: the strip is the last ``fraction`` of the image's
    longer side; a gap of one median nucleus (:func:`anchor_base_size`)
    between the two keeps most nuclei out of both.

    Returns
    -------
    training, validation : list of (image, labels)
        ``(H, W')`` or ``(H', W)`` slices of each image, labels renumbered 1..N.
    """
    training, validation = [], []
    for image, labels in samples:
        axis = int(image.shape[1] > image.shape[0])
        n = image.shape[axis]
        strip = max(int(round(n * fraction)), 1)
        head = max(n - strip - int(math.ceil(anchor_base_size(labels))), n // 4)

        def part(array, start, stop):
            return array[start:stop] if axis == 0 else array[:, start:stop]

        for out, (start, stop) in ((training, (0, head)), (validation, (n - strip, n))):
            out.append((part(image, start, stop), relabel_sequential(part(labels, start, stop))[0]))
    return training, validation


class TrainingData(NamedTuple):
    """The samples a run trains and validates on, and how it validates."""

    training_ids: list
    validation_ids: list
    real: list  # (image, labels) to train on
    validation: list  # (image, labels) to validate on
    method: str  # in words, for the log and the model's metadata


def training_data(config, log: Callable[[str], None]) -> TrainingData:
    """The training and validation samples of a run, by the method
    ``config`` (a :class:`~nuset_engine.train.TrainConfig`) asks for:
    held-out images of the fixed id hash split, or held-out strips
    (:func:`hold_out_strips`) when asked or when the split leaves fewer than
    :data:`MIN_VALIDATION_IMAGES` validation or :data:`MIN_TRAINING_IMAGES`
    training images."""
    pairs = find_pairs(config.images, config.labels)
    # images as the planes the model's input transform makes (fluorescence: as before input kinds, RGB as luminance)
    kind = None if config.input == "fluorescence" else config.input
    train_pairs, val_pairs = split_pairs(pairs, config.validation_fraction)
    few = len(val_pairs) < MIN_VALIDATION_IMAGES or len(train_pairs) < MIN_TRAINING_IMAGES
    if config.validation == "strips" or (config.validation == "auto" and few):
        samples = load_pairs(pairs, kind)
        real, val = hold_out_strips(samples)
        val = val[: config.max_validation_images]  # None: all
        ids = [p[0] for p in pairs]
        why = (f" (the id hash split left {len(train_pairs)} training and {len(val_pairs)} validation images)"
               if config.validation == "auto" else "")
        method = (f"held-out strips: the last {STRIP_FRACTION:.0%} of the longer side of {len(val)} of the "
                  f"{len(pairs)} images, not used for training crops{why}")
        log(f"validating on held-out strips of {len(val)} images{why}; {len(pairs)} images to train on")
        return TrainingData(ids, ids[: len(val)], real, val, method)
    val_pairs = val_pairs[: config.max_validation_images]
    if not train_pairs or not val_pairs:
        raise ValueError(f"need images in both the training and validation split, got {len(train_pairs)}/"
                         f"{len(val_pairs)}; use validation='strips' to validate on a strip of each image")
    method = (f"held-out images: {len(val_pairs)} of {len(pairs)} images by the fixed id hash split "
              f"(sha1(id)[:8]/2**32 < {config.validation_fraction})")
    log(f"validating on {len(val_pairs)} held-out images; {len(train_pairs)} training images")
    return TrainingData([p[0] for p in train_pairs], [p[0] for p in val_pairs], load_pairs(train_pairs, kind),
                 load_pairs(val_pairs, kind), method)


def validate(segmenter: Segmenter, samples, two_pass: bool | None = None, watershed: bool = True,
             **options) -> dict:
    """Pooled metrics of ``segmenter`` over ``(image, labels)`` samples
    (``two_pass=None``: as the model was trained; ``options``: more
    segmentation options, e.g. ``min_score``)."""
    results = [evaluate_pair(lab, segmenter.segment(img, two_pass=two_pass, watershed=watershed, **options))
               for img, lab in samples]
    return pool(results)


def choose_postprocessing(segmenter: Segmenter, samples, start: dict | None = None,
                          min_scores=MIN_SCORES, min_size_fractions=MIN_SIZE_FRACTIONS) -> tuple[dict, dict]:
    """A model's post-processing defaults, chosen on validation samples.

    One option at a time, as cheap as a few validations: each ``min_score``
    (at ``start``'s ``min_size_fraction``), then each ``min_size_fraction``
    at the best of those scores. The setting with the best AP50 (then mean
    AP) wins if it beats ``start`` by :data:`POSTPROCESSING_MARGIN` AP50 and
    by two validation nuclei (``2 / n`` for ``n`` nuclei): one or two nuclei
    of a small validation set should not move a model's defaults.

    Parameters
    ----------
    segmenter : Segmenter
    samples : list of (image, labels)
    start : dict, optional
        The values to keep unless beaten (default: the model's own,
        ``segmenter.postprocessing``).
    min_scores, min_size_fractions : sequence of float
        The values tried (``start``'s are added).

    Returns
    -------
    values : dict
        ``{"min_score": ..., "min_size_fraction": ...}``.
    search : dict
        What was tried: ``tried`` (each setting with its AP50 and mean AP),
        ``start``, ``images``, ``nuclei``, ``margin``.
    """
    start = {name: float((start or segmenter.postprocessing)[name]) for name in ("min_score", "min_size_fraction")}
    n_nuclei = sum(len(np.unique(lab[lab > 0])) for _, lab in samples)
    margin = max(POSTPROCESSING_MARGIN, 2 / max(n_nuclei, 1))
    tried: list[dict] = []

    def best_of(settings) -> dict:
        for setting in settings:
            if not any(all(t[k] == v for k, v in setting.items()) for t in tried):
                scores = validate(segmenter, samples, **setting)
                tried.append({**setting, "ap@0.50": scores["ap@0.50"], "mean_ap": scores["mean_ap"]})
        return max(tried, key=lambda t: (t["ap@0.50"], t["mean_ap"]))

    best = best_of({**start, "min_score": v} for v in sorted({*min_scores, start["min_score"]}))
    best = best_of({**start, "min_score": best["min_score"], "min_size_fraction": v}
                   for v in sorted({*min_size_fractions, start["min_size_fraction"]}))
    at_start = next(t for t in tried if all(t[k] == v for k, v in start.items()))
    chosen = best if best["ap@0.50"] >= at_start["ap@0.50"] + margin else at_start
    search = {"score": "ap@0.50", "images": len(samples), "nuclei": n_nuclei, "start": start, "margin": margin,
              "tried": tried}
    return {k: chosen[k] for k in start}, search

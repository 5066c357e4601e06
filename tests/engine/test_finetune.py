"""Fine-tuning the shipped model on a few real images (issue 18).

One short real run from the shipped model on 3 DSB fluorescence images whose
nuclei are ~55 px across, three times the model's training size, checked
for what fine-tuning promises: a small model file naming its parent by
checksum, validation on held-out strips said in its metadata,
post-processing defaults chosen on them, the parent's nucleus size kept, and
automatic scaling still working on an image at another scale. Shorter runs
check the time budget and the early stop. Scores differ between CPUs: only
margins are asserted.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from skimage.transform import rescale

import nuset_engine
from nuset_engine import ModelFileError, Segmenter
from nuset_engine.data import find_pairs, split_pairs
from nuset_engine.metrics import evaluate_pair, pool
from nuset_engine.model_io import default_model_path, load_model, model_checksum
from nuset_engine.synthetic import synthetic_image
from nuset_engine.train import ARCHITECTURE, FINE_TUNING, ArchitectureMismatch, TrainConfig, train
from nuset_engine.validation import MIN_SCORES, MIN_SIZE_FRACTIONS, hold_out_strips
from tests.conftest import disk
from tests.conftest import REAL_DATA

FLUO = REAL_DATA / "dsb2018_stage1_train_fluo"
# 360x360, 20-29 nuclei of 53-58 px (median max bbox side) each
LARGE_NUCLEI = ("1a75de9e11", "1f00080601", "4948e3dfe0")


def link_images(folder: Path, prefixes) -> tuple[str, str]:
    """images/ and labels/ in ``folder`` linking to the DSB images whose ids start so."""
    ids = [next(p.stem for p in (FLUO / "images").iterdir() if p.name.startswith(prefix)) for prefix in prefixes]
    for sub in ("images", "labels"):
        (folder / sub).mkdir(parents=True)
        for image_id in ids:
            (folder / sub / f"{image_id}.tif").symlink_to(FLUO / sub / f"{image_id}.tif")
    return str(folder / "images"), str(folder / "labels")


def history(out) -> list[dict]:
    return [json.loads(line) for line in (Path(out) / "history.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """(model path, log lines) of a short fine-tune from the shipped model."""
    images, labels = link_images(tmp_path_factory.mktemp("three"), LARGE_NUCLEI)
    out = tmp_path_factory.mktemp("run") / "out"
    lines = []
    config = TrainConfig.fine_tuning("default", images, labels, str(out), epochs=3, steps_per_epoch=8,
                                     batch_size=4, device="cpu")
    return train(config, log=lines.append), lines


@pytest.mark.slow
def test_a_fine_tuned_model_file_says_where_it_comes_from(finetuned):
    path, lines = finetuned
    net, meta = load_model(path)
    parent_net, parent_meta = load_model(default_model_path())
    assert path.stat().st_size < 20e6 and path.stat().st_size < 1.5 * default_model_path().stat().st_size
    assert net.config == parent_net.config
    # the parent, by the checksum its file stores
    assert meta["parent"]["model"] == "default"
    assert meta["parent"]["sha256"] == model_checksum() == torch.load(default_model_path(), weights_only=True)["sha256"]
    assert meta["training"]["normalization"] == parent_meta["training"]["normalization"]
    assert meta["training"]["lr"] == FINE_TUNING["lr"] and meta["training"]["parent"] == "default"
    # the parent's nucleus size, not the user's (~55 px): the size images are resized to
    assert meta["nucleus_size"] == parent_meta["nucleus_size"] and meta["data_nucleus_size"] > 40
    assert sorted(i[:10] for i in meta["training_ids"]) == sorted(LARGE_NUCLEI)
    assert meta["stopped"] == "all 3 epochs" and meta["epochs_run"] == 3 and 0 < meta["minutes"] < 10
    # 3 images leave no validation image in the id hash split: strips of all three
    method = meta["validation_method"]
    assert method.startswith("held-out strips") and "of 3 of the 3 images" in method
    assert any(line.startswith("validating on held-out strips of 3 images") for line in lines)
    assert meta["validation"]["ap@0.50"] == max(h["ap@0.50"] for h in history(path.parent))


@pytest.mark.slow
def test_post_processing_defaults_are_chosen_on_the_validation_strips(finetuned):
    path, _ = finetuned
    meta = load_model(path)[1]
    chosen, search = meta["postprocessing"], meta["postprocessing_search"]
    tried = search["tried"]
    assert search["images"] == 3 and search["nuclei"] > 10
    # each option over its values (one at a time: 4 + 3 - 1 settings)
    assert {t["min_score"] for t in tried} >= set(MIN_SCORES) and len(tried) == 6
    assert {t["min_size_fraction"] for t in tried} >= set(MIN_SIZE_FRACTIONS)
    assert all(0 <= t["ap@0.50"] <= 1 for t in tried)
    start = next(t for t in tried if all(t[k] == search["start"][k] for k in chosen))
    best = max(tried, key=lambda t: (t["ap@0.50"], t["mean_ap"]))
    pick = next(t for t in tried if all(t[k] == chosen[k] for k in chosen))
    # the defaults move only for a gain of the margin (else they stay the engine's)
    assert pick in (start, best)
    assert (pick is best and best["ap@0.50"] >= start["ap@0.50"] + search["margin"]) or pick is start
    # what was stored is what segmenting with those values scores
    segmenter = Segmenter.load(path, device="cpu")
    assert set(chosen) == {"min_score", "min_size_fraction"}
    image = tifffile.imread(nuset_engine.SAMPLE_IMAGE)[:128, :128]
    assert segmenter.segment(image, **chosen).shape == image.shape


@pytest.mark.slow
def test_automatic_scaling_still_works_at_another_scale(finetuned):
    """The issue's quick experiment trained on resized images only, and the
    model's size estimate at full resolution failed. The sample's nuclei
    (~29 px) enlarged 1.6x (~46 px) must be found as at 1x, after the
    segmenter shrinks the image by itself."""
    path, _ = finetuned
    segmenter = Segmenter.load(path, device="cpu")
    image, truth = tifffile.imread(nuset_engine.SAMPLE_IMAGE), tifffile.imread(nuset_engine.SAMPLE_LABELS)
    big = rescale(image.astype(np.float32), 1.6, order=1, preserve_range=True)
    big_truth = rescale(truth, 1.6, order=0, preserve_range=True, anti_aliasing=False).astype(np.int32)
    labels, details = segmenter.segment(image, return_details=True)
    big_labels, big_details = segmenter.segment(big, return_details=True)
    n, n_big = int(labels.max()), int(big_labels.max())
    ap50 = pool([evaluate_pair(truth, labels)])["ap@0.50"]
    ap50_big = pool([evaluate_pair(big_truth, big_labels)])["ap@0.50"]
    print(f"1x: {n} nuclei, scale {details.scale:.2f}, AP50 {ap50:.3f}; "
          f"1.6x: {n_big} nuclei, scale {big_details.scale:.2f}, AP50 {ap50_big:.3f}")
    assert big_details.scale < 0.8  # the size was measured and the image shrunk
    assert abs(n_big - n) <= 0.15 * n and abs(n - 125) <= 0.25 * 125
    # (the shipped model: AP50 0.89 and 0.86; a 3-epoch fine-tune on 3 images: ~0.79 at both)
    assert ap50 > 0.6 and ap50_big > 0.6 and abs(ap50_big - ap50) < 0.1


def test_fine_tuning_keeps_the_parents_architecture(tmp_path):
    net, _ = load_model(default_model_path())
    config = TrainConfig.fine_tuning("default", str(tmp_path), str(tmp_path), str(tmp_path / "out"))
    assert {name: getattr(config, name) for name in ARCHITECTURE} == {
        "base_width": net.config.base_width, "width_multipliers": net.config.width_multipliers,
        "distance": net.config.distance}
    assert {k: getattr(config, k) for k in FINE_TUNING} == FINE_TUNING
    with pytest.raises(ArchitectureMismatch, match="base_width=16 contradicts the parent model") as caught:
        TrainConfig.fine_tuning("default", str(tmp_path), str(tmp_path), str(tmp_path / "out"), base_width=16)
    assert (caught.value.name, caught.value.parent_value) == ("base_width", net.config.base_width)
    # a config made by hand is checked when training starts, before any file is written
    config = TrainConfig(str(tmp_path), str(tmp_path), str(tmp_path / "out"), parent="default", distance=False)
    with pytest.raises(ArchitectureMismatch, match="distance=False contradicts"):
        train(config, log=lambda m: None)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ModelFileError, match="nope.pt: model file not found"):
        TrainConfig.fine_tuning(str(tmp_path / "nope.pt"), str(tmp_path), str(tmp_path), str(tmp_path / "out"))


def test_the_defaults_are_the_shipped_models_recipe(tmp_path):
    net, meta = load_model(default_model_path())
    shipped = {**meta["training"], "width_multipliers": net.config.width_multipliers}  # (not in its metadata)
    config = TrainConfig(str(tmp_path), str(tmp_path), str(tmp_path / "out"))
    recipe = ("base_width", "width_multipliers", "epochs", "steps_per_epoch", "batch_size", "crop_size", "optimizer",
              "lr", "lr_schedule", "synthetic_ratio", "synthetic_images", "normalization", "distance", "ema_decay",
              "scale_min", "scale_max", "matched_scale_fraction", "camera_augmentation", "validation_fraction")
    assert {k: getattr(config, k) for k in recipe} == {k: shipped[k] for k in recipe}


def test_held_out_strips_share_no_nucleus_with_the_training_part():
    shape = (100, 160)
    labels = np.zeros(shape, np.int32)
    for k, (r, c) in enumerate(((r, c) for r in range(10, 100, 20) for c in range(8, 160, 14)), start=1):
        labels[disk(shape, (r, c), 5)] = k
    image = (labels > 0).astype(np.float32)
    (train_image, train_labels), = hold_out_strips([(image, labels)])[0]
    (val_image, val_labels), = hold_out_strips([(image, labels)])[1]
    assert val_image.shape == (100, 40) and train_image.shape[0] == 100  # the last quarter of the longer side
    assert train_image.shape[1] <= 160 - 40 - 11  # a gap of one nucleus (11 px) between the parts
    assert set(np.unique(labels[:, : train_image.shape[1]])).isdisjoint(set(np.unique(labels[:, 120:])) - {0})
    assert train_labels.max() == len(np.unique(train_labels)) - 1  # renumbered 1..N
    assert np.array_equal(val_labels > 0, labels[:, 120:] > 0)


def test_enough_images_validate_on_the_held_out_images(tmp_path):
    """With 2+ validation and 5+ training images in the id hash split, whole
    images validate (a tiny from-scratch run)."""
    names = [f"s{i}" for i in range(12)]
    images = (synthetic_image(seed, shape=(64, 64)) for seed in range(100))
    for name, (image, labels) in zip(names, (pair for pair in images if pair[1].max() > 0)):
        for sub, array in (("images", image), ("labels", labels)):
            (tmp_path / sub).mkdir(exist_ok=True)
            tifffile.imwrite(tmp_path / sub / f"{name}.tif", array)
    _, held_out = split_pairs(find_pairs(tmp_path / "images", tmp_path / "labels"), 0.3)
    assert len(held_out) >= 2
    config = TrainConfig(str(tmp_path / "images"), str(tmp_path / "labels"), str(tmp_path / "out"), base_width=4,
                         epochs=1, steps_per_epoch=1, batch_size=2, crop_size=32, synthetic_ratio=0,
                         validation_fraction=0.3, tune_postprocessing=False, device="cpu")
    meta = load_model(train(config, log=lambda m: None))[1]
    assert meta["validation_method"].startswith(f"held-out images: {len(held_out)} of 12 images")
    assert meta["validation_ids"] == [p[0] for p in held_out] and "postprocessing" not in meta


@pytest.mark.slow
def test_a_time_budget_stops_within_it_plus_an_epoch(tmp_path):
    images, labels = link_images(tmp_path / "data", LARGE_NUCLEI)
    config = TrainConfig.fine_tuning("default", images, labels, str(tmp_path / "out"), minutes=0.2, epochs=1000,
                                     steps_per_epoch=4, batch_size=2, crop_size=64, lr_schedule="cosine",
                                     patience=0, tune_postprocessing=False, device="cpu")
    t0 = time.time()
    meta = load_model(train(config, log=lambda m: None))[1]
    seconds = time.time() - t0
    h = history(tmp_path / "out")
    walls = [0.0] + [e["wall_seconds"] for e in h]
    longest_epoch = max(np.diff(walls))
    assert meta["stopped"] == "time budget of 0.2 min" and len(h) < 1000
    # the budget was spent, and not one epoch more (wall seconds are rounded to 0.1)
    assert walls[-2] < 12.05 and 11.95 <= walls[-1] <= 12 + longest_epoch + 0.1
    assert seconds < 12 + longest_epoch + 10  # (+ reading the parent and the images, saving)
    # the cosine schedule runs over the time budget: near 0 at its end
    assert h[-1]["lr"] < 0.5 * config.lr


@pytest.mark.slow
def test_early_stop_after_patience_epochs_without_a_better_score(tmp_path):
    """A learning rate too small to change anything: validation AP50 stalls
    and training stops ``patience`` epochs after its best."""
    images, labels = link_images(tmp_path / "data", LARGE_NUCLEI)
    config = TrainConfig.fine_tuning("default", images, labels, str(tmp_path / "out"), epochs=12,
                                     steps_per_epoch=2, batch_size=2, crop_size=64, lr=1e-9, patience=2,
                                     tune_postprocessing=False, device="cpu")
    meta = load_model(train(config, log=lambda m: None))[1]
    ap50 = [e["ap@0.50"] for e in history(tmp_path / "out")]
    best = 1 + ap50.index(max(ap50))
    assert len(ap50) < 12 and meta["stopped"] == "early stop: no better validation AP50 in 2 epochs"
    assert len(ap50) == best + 2 and meta["epoch"] == best

"""A short real training run: the network must learn a few synthetic images."""
import json

import numpy as np
import pytest
import tifffile
import torch
from torch.optim.swa_utils import AveragedModel

from nuset_engine import Segmenter
from nuset_engine.data import is_validation, split_pairs
from nuset_engine.metrics import pixel_metrics
from nuset_engine.synthetic import synthetic_image
from nuset_engine.train import TrainConfig, ema_update, train


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    names = [f"syn{i}" for i in range(40)]
    train_names = [n for n in names if not is_validation(n, 0.5)][:3]
    val_names = [n for n in names if is_validation(n, 0.5)][:1]
    for k, name in enumerate(train_names + val_names):
        image, labels = synthetic_image(100 + k, shape=(128, 128))
        for sub, array in (("images", image), ("labels", labels)):
            (root / sub).mkdir(exist_ok=True)
            tifffile.imwrite(root / sub / f"{name}.tif", array)
    return root, train_names


def _config(root, out, epochs, **extra):
    return TrainConfig(images=str(root / "images"), labels=str(root / "labels"), output=str(out),
                       base_width=8, epochs=epochs, steps_per_epoch=40, batch_size=4, crop_size=128,
                       optimizer="adam", lr=3e-3, synthetic_ratio=0, validation_fraction=0.5,
                       scale_min=1.0, scale_max=1.0, seed=1, device="cpu", **extra)


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_overfits_a_few_images_and_resumes(dataset, tmp_path, ema_decay):
    """Also with a moving average of the weights, which is what is then
    validated, saved and carried across the resume."""
    root, train_names = dataset
    out = tmp_path / "run"
    train(_config(root, out, epochs=2, ema_decay=ema_decay), log=lambda m: None)
    with pytest.raises(FileExistsError):
        train(_config(root, out, epochs=3, ema_decay=ema_decay), log=lambda m: None)
    model = train(_config(root, out, epochs=3, ema_decay=ema_decay), resume=True, log=lambda m: None)
    assert ("ema" in torch.load(out / "last.ckpt", weights_only=True)) == bool(ema_decay)
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss_total"] < history[0]["loss_total"]

    segmenter = Segmenter.load(model, device="cpu")
    ious = []
    for name in train_names:
        image = tifffile.imread(root / "images" / f"{name}.tif")
        truth = tifffile.imread(root / "labels" / f"{name}.tif")
        pred = segmenter.segment(image, min_size_fraction=0)
        ious.append(pixel_metrics(truth, pred)["mean_iu"])
    assert np.mean(ious) > 0.75, ious


def test_moving_average_forgets_the_initial_weights_quickly():
    """The average's decay warms up: after one update it is mostly the new
    weights, later it moves by (1 - decay) per step."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = AveragedModel(net, multi_avg_fn=ema_update(0.998), use_buffers=True)
    ema.update_parameters(net)  # the first update copies
    before = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update_parameters(net)  # n = 1: decay 2/11
    assert torch.allclose(ema.module[0].weight, before + 1 - 2 / 11, atol=1e-6)
    for _ in range(3000):
        ema.update_parameters(net)
    assert torch.allclose(ema.module[0].weight, net[0].weight, atol=1e-3)
    assert ema.module[1].num_batches_tracked.dtype == torch.long


def test_validation_split_is_fixed_by_image_id():
    """The split depends on each id alone: not on order, not on which other
    images exist (adding images never moves one across the split)."""
    pairs = [(f"img{i}", None, None) for i in range(200)]
    training, validation = split_pairs(pairs, 0.1)
    assert len(training) + len(validation) == 200 and 5 <= len(validation) <= 40
    assert {p[0] for p in training}.isdisjoint(p[0] for p in validation)
    shuffled = split_pairs(pairs[::-1] + [("extra", None, None)], 0.1)
    assert sorted(p[0] for p in shuffled[1] if p[0] != "extra") == sorted(p[0] for p in validation)
    assert all(is_validation(p[0], 0.1) for p in validation)

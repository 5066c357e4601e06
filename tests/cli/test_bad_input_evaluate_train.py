"""`nuset evaluate` and `nuset train` on bad input and bad options: a clear
error naming the file and the fix, before any work where possible; nothing
the user had is replaced without asking."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from nuset_cli.main import cli
from nuset_engine.data import find_pairs, load_pairs
from nuset_engine.io import to_grayscale
from nuset_engine.train import TrainConfig
from tests.conftest import disk

SHAPE = (64, 64)


@pytest.fixture
def runner():
    return CliRunner()


def nuclei():
    """A tiny image with three nuclei and its labels."""
    labels = np.zeros(SHAPE, np.uint16)
    for k, centre in enumerate(((16, 16), (40, 20), (30, 46)), start=1):
        labels[disk(SHAPE, centre, 7)] = k
    image = np.where(labels > 0, 3000, 200).astype(np.uint16)
    return image, labels


@pytest.fixture
def data(tmp_path):
    """images/ and labels/ folders holding two good pairs: ``a.tif`` (training
    side of a 0.5 split) and ``d.tif`` (validation side)."""
    image, labels = nuclei()
    for sub, array in (("images", image), ("labels", labels)):
        (tmp_path / sub).mkdir()
        for name in ("a.tif", "d.tif"):
            tifffile.imwrite(tmp_path / sub / name, array)
    return tmp_path


def invoke(runner, *args):
    result = runner.invoke(cli, [*map(str, args)])
    # a user error ends in click's message and exit code, never in an uncaught exception
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def evaluate(runner, data, *args):
    return invoke(runner, "evaluate", "--images", data / "images", "--labels", data / "labels", "--split", "all",
                  "--method", "otsu", *args)


def train(runner, data, *args):
    return invoke(runner, "train", "--images", data / "images", "--labels", data / "labels", "-o", data / "run",
                  "--synthetic-ratio", "0", "--device", "cpu", *args)


# -- image/label pairs (evaluate and train read them the same way) ---------------------------------------------------


def test_a_truncated_image_is_named(runner, data):
    path = data / "images" / "a.tif"
    path.write_bytes(path.read_bytes()[:300])
    result = evaluate(runner, data)
    assert result.exit_code == 1
    assert f"Error: {path}: cannot read the image" in result.output and "truncated or corrupt" in result.output


def test_rgb_images_are_read_as_grayscale(runner, data, tmp_path):
    image, labels = nuclei()
    gray = evaluate(runner, data)
    assert gray.exit_code == 0, gray.output
    rgb = np.stack([image // 16] * 3, axis=-1).astype(np.uint8)
    tifffile.imwrite(data / "images" / "a.tif", rgb, photometric="rgb")
    result = evaluate(runner, data)
    assert result.exit_code == 0, result.output
    assert result.output == gray.output  # same nuclei, same metrics
    [(loaded, _), _] = load_pairs(find_pairs(data / "images", data / "labels"))
    assert loaded.shape == SHAPE and np.array_equal(loaded, to_grayscale(rgb))


def test_an_image_with_several_channels_is_named(runner, data):
    path = data / "images" / "a.tif"
    tifffile.imwrite(path, np.stack([nuclei()[0]] * 5))
    for result in (evaluate(runner, data), train(runner, data, "--validation-fraction", "0.5")):
        assert result.exit_code == 1
        assert f"Error: {path}: 5-channel image" in result.output and "nuclear channel" in result.output


def test_labels_of_another_shape_are_refused_naming_both_files(runner, data):
    labels = data / "labels" / "a.tif"
    tifffile.imwrite(labels, nuclei()[1][:, :60])
    message = f"{labels}: labels of shape (64, 60) do not match the image {data / 'images' / 'a.tif'} of shape (64, 64)"
    result = evaluate(runner, data)
    assert result.exit_code == 1 and message in result.output
    result = train(runner, data, "--validation-fraction", "0.5")  # before any training
    assert result.exit_code == 1 and message in result.output and not (data / "run" / "last.ckpt").exists()
    with pytest.raises(ValueError, match="do not match the image"):
        load_pairs(find_pairs(data / "images", data / "labels"))


def test_a_parameter_the_engine_refuses_is_a_clear_error(runner, data):
    # NaN passes click's ranges; the engine's check then stops the run (cleanly)
    result = invoke(runner, "evaluate", "--images", data / "images", "--labels", data / "labels",
                    "--split", "all", "--device", "cpu", "--nucleus-diameter", "nan")
    assert result.exit_code in (1, 2) and "nucleus" in result.output and "diameter" in result.output


# -- nuset evaluate ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option, value, message", [
    ("--scale", "0", "0.0 is not in the range x>0"),
    ("--scale", "-2", "-2.0 is not in the range x>0"),
    ("--validation-fraction", "1.5", "1.5 is not in the range 0<=x<=1"),
    ("--validation-fraction", "-0.1", "-0.1 is not in the range 0<=x<=1"),
])
def test_evaluate_refuses_out_of_range_options(runner, data, option, value, message):
    result = evaluate(runner, data, option, value)
    assert result.exit_code == 2 and message in result.output


def test_evaluate_output_is_not_replaced_without_overwrite(runner, data):
    out = data / "metrics.json"
    out.write_text("the user's own notes\n")
    result = evaluate(runner, data, "--output", out)
    assert result.exit_code == 1 and f"{out} exists; pass --overwrite" in result.output
    assert "AP at IoU" not in result.output  # refused before evaluating
    assert out.read_text() == "the user's own notes\n"
    result = evaluate(runner, data, "--output", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metrics"]["n_gt"] == 6
    assert sorted(p.name for p in data.iterdir()) == ["images", "labels", "metrics.json"]  # no temporary file left


def test_evaluate_output_in_a_missing_folder_is_refused_before_evaluating(runner, data):
    out = data / "nope" / "metrics.json"
    result = evaluate(runner, data, "--output", out)
    assert result.exit_code == 1 and f"{data / 'nope'} does not exist" in result.output
    assert "AP at IoU" not in result.output and not out.parent.exists()


# -- nuset train ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option, value, message", [
    ("--epochs", "0", "0 is not in the range x>=1"),
    ("--steps-per-epoch", "0", "0 is not in the range x>=1"),
    ("--batch-size", "-1", "-1 is not in the range x>=1"),
    ("--max-validation-images", "0", "0 is not in the range x>=1"),
    ("--max-validation-images", "-2", "-2 is not in the range x>=1"),
    ("--crop-size", "16", "16 is not in the range x>=32"),
    ("--lr", "0", "0.0 is not in the range x>0"),
    ("--scale-min", "0", "0.0 is not in the range x>0"),
    ("--scale-min", "-1", "-1.0 is not in the range x>0"),
    ("--scale-max", "0", "0.0 is not in the range x>0"),
    ("--validation-fraction", "0", "0.0 is not in the range 0<x<1"),
    ("--validation-fraction", "1", "1.0 is not in the range 0<x<1"),
    ("--matched-scale-fraction", "2", "2.0 is not in the range 0<=x<=1"),
    ("--ema-decay", "1", "1.0 is not in the range 0<=x<1"),
])
def test_train_refuses_out_of_range_options_before_any_work(runner, data, option, value, message):
    result = train(runner, data, option, value)
    assert result.exit_code == 2 and message in result.output
    assert not (data / "run").exists()


@pytest.mark.parametrize("args, message", [
    (("--scale-min", "3", "--scale-max", "2"), "scale_min (3.0) must not exceed scale_max (2.0)"),
    (("--crop-size", "100"), "crop_size must be a multiple of 16, at least 32, got 100"),
])
def test_train_refuses_inconsistent_options_before_any_work(runner, data, args, message):
    result = train(runner, data, *args)
    assert result.exit_code == 1 and message in result.output
    assert not (data / "run").exists()


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be 1 or more, got 0"),
    ("steps_per_epoch", 0, "steps_per_epoch must be 1 or more"),
    ("batch_size", 0, "batch_size must be 1 or more"),
    ("crop_size", 24, "crop_size must be a multiple of 16, at least 32, got 24"),
    ("crop_size", 16, "crop_size must be .*at least 32, got 16"),
    ("lr", 0.0, "lr must be positive"),
    ("lr", float("nan"), "lr must be positive"),
    ("scale_min", 0.0, "scale_min must be positive"),
    ("scale_min", -0.5, "scale_min must be positive"),
    ("scale_min", 2.5, r"scale_min \(2.5\) must not exceed scale_max \(2.0\)"),
    ("validation_fraction", 0.0, "validation_fraction must be between 0 and 1"),
    ("validation_fraction", 1.0, "validation_fraction must be between 0 and 1"),
    ("max_validation_images", 0, "max_validation_images must be 1 or more"),
    ("matched_scale_fraction", 1.5, "matched_scale_fraction must be between 0 and 1"),
    ("ema_decay", 1.0, r"ema_decay must be in \[0, 1\)"),
])
def test_the_engine_refuses_a_bad_training_config(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(images=str(tmp_path), labels=str(tmp_path), output=str(tmp_path / "run"), **{field: value})
    TrainConfig(images=str(tmp_path), labels=str(tmp_path), output=str(tmp_path / "run"))  # the defaults are valid

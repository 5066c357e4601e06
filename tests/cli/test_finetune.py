"""`nuset train --from` and `nuset info` on a fine-tuned model: a real short
fine-tune of the shipped model on 3 real images, resumed once; refused
flags and files with a clear message before any work."""
from __future__ import annotations

import json

import pytest
import tifffile
from click.testing import CliRunner

from nuset_cli.main import cli
from nuset_cli.train import INPUTS
from nuset_engine.model_io import model_checksum
from nuset_engine.train import TRAINABLE_INPUTS
from tests.conftest import REAL_DATA
from tests.engine.test_finetune import LARGE_NUCLEI, link_images

HE = REAL_DATA / "dsb2018_stage1_train_nonfluo"


@pytest.fixture
def runner():
    return CliRunner()


def train(runner, data, *args):
    return runner.invoke(cli, ["train", "--images", str(data / "images"), "--labels", str(data / "labels"),
                               "-o", str(data / "run"), "--device", "cpu", *map(str, args)])


@pytest.fixture
def data(tmp_path):
    link_images(tmp_path, LARGE_NUCLEI)
    return tmp_path


@pytest.mark.slow
def test_fine_tune_resume_and_info(runner, data):
    quick = ("--from", "default", "--steps-per-epoch", "4", "--batch-size", "4")
    result = train(runner, data, *quick, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "validating on held-out strips of 3 images" in result.output
    result = train(runner, data, *quick, "--epochs", "2", "--resume")
    assert result.exit_code == 0, result.output
    assert "resuming after epoch 1" in result.output
    assert [json.loads(line)["epoch"] for line in (data / "run" / "history.jsonl").read_text().splitlines()] == [1, 2]
    model = data / "run" / "model.nuset.pt"
    assert f"best model: {model}" in result.output and "post-processing defaults: min_score" in result.output
    assert "stopped: all 2 epochs" in result.output

    result = runner.invoke(cli, ["info", "--model", str(model), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"fine-tuned from default (weights sha256 {model_checksum()}) on 3 images" in result.output
    assert "validated on held-out strips: the last 25% of the longer side of 3 of the 3 images" in result.output
    assert "post-processing defaults (chosen on its validation images): min_score" in result.output
    assert "stopped: all 2 epochs" in result.output and "training nucleus size: 19.0 px" in result.output


def test_info_on_the_shipped_model_says_what_it_has(runner):
    result = runner.invoke(cli, ["info", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "trained from scratch on images in" in result.output and "min to the best epoch" in result.output
    assert "validated on held-out images: 47 by the fixed id hash split" in result.output
    assert ("post-processing defaults: min_score 0.85, min_size_fraction 0.2 (the engine's, for model files"
            in result.output)


@pytest.mark.parametrize("args, message", [
    (("--base-width", "16"), "--base-width 16 contradicts the model given with --from"),
    (("--no-distance",), "--distance off contradicts the model given with --from"),
    (("--width-multipliers", "1", "2", "6", "12", "24"), "--width-multipliers 1 2 6 12 24 contradicts"),
])
def test_architecture_flags_that_contradict_the_parent_are_refused(runner, data, args, message):
    result = train(runner, data, "--from", "default", *args)
    assert result.exit_code == 1 and message in result.output and "leave" in result.output
    assert "Traceback" not in result.output and not (data / "run").exists()
    # the parent's own values are no contradiction
    result = train(runner, data, "--from", "default", "--base-width", "8", "--epochs", "0")
    assert result.exit_code == 2 and "0 is not in the range x>=1" in result.output


def test_a_missing_or_foreign_parent_is_named(runner, data):
    result = train(runner, data, "--from", data / "nope.pt")
    assert result.exit_code == 1 and f"{data / 'nope.pt'}: model file not found" in result.output
    (data / "notes.pt").write_text("not a model")
    result = train(runner, data, "--from", data / "notes.pt")
    assert result.exit_code == 1 and "notes.pt: not a readable NuSeT model file" in result.output
    assert not (data / "run").exists()


def test_help_names_each_recipes_defaults(runner):
    result = runner.invoke(cli, ["train", "--help"], terminal_width=400, max_content_width=400)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--from default|MODEL_FILE" in text
    assert "[default: 0.001 (the shipped model's recipe); with --from: 0.0002 (fine-tuning)]" in text
    assert "[default: 8 (the shipped model's); with --from: the parent's]" in text


@pytest.mark.slow
def test_a_histology_model_is_trained_for_rgb_images_and_takes_them_as_they_are(runner, tmp_path):
    """--input hed: the network trains on haematoxylin planes of real H&E
    tiles, the file records the input, and the model then takes RGB files
    (and refuses gray ones)."""
    tiles = sorted(p.name for p in (HE / "images").glob("*.tif") if tifffile.imread(p).ndim == 3)  # not brightfield
    assert len(tiles) == 4
    for sub in ("images", "labels"):
        (tmp_path / sub).mkdir()
        for name in tiles[:3]:
            (tmp_path / sub / name).symlink_to(HE / sub / name)
    result = train(runner, tmp_path, "--from", "default", "--input", "hed", "--epochs", "1", "--steps-per-epoch", "4",
                   "--batch-size", "4")
    assert result.exit_code == 0, result.output
    model = tmp_path / "run" / "model.nuset.pt"
    info = runner.invoke(cli, ["info", "--model", str(model), "--device", "cpu"])
    assert "input: a histology model (RGB H&E images, haematoxylin plane)" in info.output, info.output
    out = tmp_path / "out"
    result = runner.invoke(cli, ["segment", str(HE / "images" / tiles[3]), "--model", str(model), "-o", str(out),
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*_labels.tif"))) == 1
    gray = REAL_DATA / "stardist_wheel_dsb2018_example"
    result = runner.invoke(cli, ["segment", str(next((gray / "images").glob("*.tif"))), "--model", str(model), "-o",
                                 str(tmp_path / "gray"), "--device", "cpu"])
    assert result.exit_code != 0 and "needs (H, W, 3) RGB" in result.output, result.output


def test_rgb_inputs_offered_for_training_are_the_engines():
    assert INPUTS == list(TRAINABLE_INPUTS)

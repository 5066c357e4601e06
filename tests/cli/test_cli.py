"""The `nuset` command line, run in process with click's runner and, once,
as the installed console script."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

import nuset_engine
from nuset_cli.main import cli


@pytest.fixture
def runner():
    return CliRunner()


def test_segment_sample_writes_labels_and_prints_count(runner, tmp_path, segmenter, sample):
    result = runner.invoke(cli, ["segment", str(nuset_engine.SAMPLE_IMAGE), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    labels = tifffile.imread(tmp_path / "img2d_labels.tif")
    assert labels.dtype == np.uint16
    assert np.array_equal(labels, segmenter.segment(sample[0]))  # same as the engine
    assert f"{labels.max()} nuclei" in result.output


def test_augment_option_reaches_the_engine(runner, tmp_path, segmenter, sample):
    image = sample[0][:256, :256]
    tifffile.imwrite(tmp_path / "crop.tif", image)
    result = runner.invoke(cli, ["segment", str(tmp_path / "crop.tif"), "-o", str(tmp_path / "out"), "--augment"])
    assert result.exit_code == 0, result.output
    labels = tifffile.imread(tmp_path / "out" / "crop_labels.tif")
    assert np.array_equal(labels, segmenter.segment(image, augment=True))
    assert not np.array_equal(labels, segmenter.segment(image))  # ~480 pixels differ
    import json

    assert json.loads((tmp_path / "out" / "nuset_run.json").read_text())["options"]["params"]["augment"] is True


def test_existing_output_is_not_overwritten(runner, tmp_path):
    target = tmp_path / "img2d_labels.tif"
    target.write_bytes(b"precious")
    result = runner.invoke(cli, ["segment", str(nuset_engine.SAMPLE_IMAGE), "-o", str(tmp_path)])
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert target.read_bytes() == b"precious"
    result = runner.invoke(cli, ["segment", str(nuset_engine.SAMPLE_IMAGE), "-o", str(tmp_path), "--overwrite"])
    assert result.exit_code == 0 and tifffile.imread(target).max() > 0


def test_batch_goes_on_past_bad_files(runner, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(nuset_engine.SAMPLE_IMAGE, folder / "good.tif")
    (folder / "empty.tif").write_bytes(b"")
    (folder / "corrupt.tif").write_bytes(b"II*\x00garbage")
    tifffile.imwrite(folder / "stack.tif", np.zeros((12, 40, 40), np.uint8))
    result = runner.invoke(cli, ["segment", str(folder), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "empty.tif: the file is empty" in result.output
    assert "corrupt.tif: cannot read" in result.output
    assert "stack.tif" in result.output and "not a single 2-D plane" in result.output
    assert "1 segmented, 0 skipped, 3 failed" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_labels.tif", "nuset_run.json",
                                                                    "summary.csv"]


def test_rgb_png_and_channel_selection(runner, tmp_path, sample):
    import imageio.v3 as iio

    rgb = np.zeros(sample[0].shape + (3,), np.uint8)
    rgb[..., 2] = np.clip(sample[0], 0, 255)
    iio.imwrite(tmp_path / "rgb.png", rgb)
    result = runner.invoke(cli, ["segment", str(tmp_path / "rgb.png"), "--channel", "2", "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert tifffile.imread(tmp_path / "o" / "rgb_labels.tif").max() > 50
    result = runner.invoke(cli, ["segment", str(tmp_path / "rgb.png"), "--channel", "5", "-o", str(tmp_path / "p")])
    assert result.exit_code == 1 and "channel 5 requested but the image has 3 channels" in result.output


def test_missing_model_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(cli, ["segment", str(nuset_engine.SAMPLE_IMAGE), "-o", str(tmp_path),
                                 "--model", str(tmp_path / "x.pt")])
    assert result.exit_code == 1 and "x.pt: model file not found" in result.output
    assert "Traceback" not in result.output


def test_evaluate_and_info(runner, tmp_path):
    for sub, src in (("images", nuset_engine.SAMPLE_IMAGE), ("labels", nuset_engine.SAMPLE_LABELS)):
        (tmp_path / sub).mkdir()
        shutil.copy(src, tmp_path / sub / "img2d.tif")
    out = tmp_path / "metrics.json"
    result = runner.invoke(cli, ["evaluate", "--images", str(tmp_path / "images"), "--labels",
                                 str(tmp_path / "labels"), "--split", "all", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "AP at IoU 0.5" in result.output and "touching nuclei separated" in result.output
    import json

    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["n_gt"] == 125 and metrics["ap@0.50"] > 0.6
    # the image's id falls in the training side of the fixed 10% split
    result = runner.invoke(cli, ["evaluate", "--images", str(tmp_path / "images"), "--labels",
                                 str(tmp_path / "labels"), "--split", "validation"])
    assert result.exit_code == 1 and "no images in the validation split" in result.output
    result = runner.invoke(cli, ["info"])
    assert result.exit_code == 0 and "validation AP50" in result.output and "torch" in result.output


def test_synth_writes_pairs(runner, tmp_path):
    result = runner.invoke(cli, ["synth", str(tmp_path), "--count", "2", "--seed", "7"])
    assert result.exit_code == 0, result.output
    for sub in ("images", "labels"):
        assert sorted(p.name for p in (tmp_path / sub).iterdir()) == ["synthetic_000007.tif", "synthetic_000008.tif"]


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("nuset")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    for command in ("segment", "train", "evaluate", "synth", "info"):
        assert command in result.stdout


def test_cellprofiler_plugin_dir_and_install(runner, tmp_path):
    result = runner.invoke(cli, ["cellprofiler", "plugin-dir"])
    folder = Path(result.output.strip())
    assert result.exit_code == 0 and (folder / "runnuset.py").is_file()
    assert runner.invoke(cli, ["cellprofiler", "install", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "runnuset.py").read_bytes() == (folder / "runnuset.py").read_bytes()
    (tmp_path / "runnuset.py").write_text("# the user's own edits\n")
    result = runner.invoke(cli, ["cellprofiler", "install", str(tmp_path)])
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert (tmp_path / "runnuset.py").read_text() == "# the user's own edits\n"


def test_train_passes_the_architecture_options(runner, tmp_path):
    assert runner.invoke(cli, ["synth", str(tmp_path / "data"), "--count", "6"]).exit_code == 0
    result = runner.invoke(cli, [
        "train", "--images", str(tmp_path / "data" / "images"), "--labels", str(tmp_path / "data" / "labels"),
        "-o", str(tmp_path / "run"), "--base-width", "4", "--width-multipliers", "1", "2", "6", "12", "24",
        "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--crop-size", "64",
        "--synthetic-ratio", "0", "--validation-fraction", "0.5", "--device", "cpu", "--no-tune-postprocessing"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["info", "--model", str(tmp_path / "run" / "model.nuset.pt")])
    assert result.exit_code == 0 and "channels per level 4/8/24/48/96" in result.output, result.output


def test_backend_option(runner, tmp_path, sample):
    """--backend reaches the engine: bf16 labels close to f32's; an unknown
    backend is refused with the choices."""
    from nuset_engine.metrics import evaluate_pair, pool

    tifffile.imwrite(tmp_path / "crop.tif", sample[0][:256, :256])
    for backend in ("f32", "bf16"):
        result = runner.invoke(cli, ["segment", str(tmp_path / "crop.tif"), "-o", str(tmp_path / backend),
                                     "--backend", backend])
        assert result.exit_code == 0, result.output
    f32, bf16 = (tifffile.imread(tmp_path / b / "crop_labels.tif") for b in ("f32", "bf16"))
    assert f32.max() > 5 and pool([evaluate_pair(f32, bf16)])["ap@0.50"] > 0.9
    result = runner.invoke(cli, ["segment", str(tmp_path / "crop.tif"), "-o", str(tmp_path / "x"), "--backend", "fp8"])
    assert result.exit_code == 2 and "'fp8' is not one of 'auto', 'f32', 'bf16', 'openvino'" in result.output

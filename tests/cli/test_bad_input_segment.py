"""`nuset segment` and the engine on bad input and bad options: a clear error
naming the file and the fix, before any work where possible; a batch goes on
past a bad file; nothing the user had is replaced without asking."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

import nuset_engine
from nuset_cli.main import cli
from nuset_engine.io import read_image, to_grayscale
from nuset_engine.segmenter import resolve_device


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def crop(sample):
    return np.ascontiguousarray(sample[0][:128, :128])


@pytest.fixture
def good(tmp_path, crop):
    path = tmp_path / "good.tif"
    tifffile.imwrite(path, crop)
    return path


def segment(runner, *args):
    result = runner.invoke(cli, ["segment", *map(str, args)])
    assert "Traceback" not in result.output
    return result


def summary(folder):
    with open(folder / "summary.csv") as fh:
        return {r["image"].rsplit("/", 1)[-1]: r for r in csv.DictReader(fh)}


def test_an_unknown_device_is_named_with_the_choices(runner, good, tmp_path):
    result = segment(runner, good, "-o", tmp_path / "o", "--device", "foo")
    assert result.exit_code == 1 and "unsupported device 'foo'; use 'auto', 'cpu' or 'cuda'" in result.output
    with pytest.raises(ValueError, match="unsupported device 'tpu:x'"):
        resolve_device("tpu:x")


@pytest.mark.parametrize("option, value, message", [
    ("--min-score", "1.5", "1.5 is not in the range 0<=x<=1"),
    ("--nms-threshold", "2", "2.0 is not in the range 0<=x<=1"),
    ("--min-size-fraction", "-1", "-1.0 is not in the range x>=0"),
    ("--nucleus-diameter", "0", "0.0 is not in the range x>0"),
    ("--tile-size", "100", "tile_size must be at least 192 pixels (1024-2048 work well), 0 for whole images, "
                           "or 'auto', got 100"),
    ("--tile-size", "-5", "tile_size must be at least 192 pixels"),
    ("--tile-size", "huge", "'huge' is not 'auto', 0 (whole images) or a number of pixels"),
    ("--pixel-size", "-1", "-1.0 is not in the range x>0"),
    ("--channel", "-1", "-1 is not in the range x>=0"),
])
def test_out_of_range_options_are_refused_before_any_work(runner, good, tmp_path, option, value, message):
    result = segment(runner, good, "-o", tmp_path / "o", option, value)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "o").exists()


def test_the_engine_refuses_out_of_range_parameters(segmenter, crop):
    for kwargs, message in (({"min_score": -0.1}, "min_score must be between 0 and 1, got -0.1"),
                            ({"nms_threshold": 1.5}, "nms_threshold must be between 0 and 1"),
                            ({"min_size_fraction": float("nan")}, "min_size_fraction must be 0")):
        with pytest.raises(ValueError, match=message):
            segmenter.segment(crop, **kwargs)


def test_tile_size_zero_means_whole_images(runner, good, tmp_path, segmenter, crop):
    result = segment(runner, good, "-o", tmp_path / "o", "--tile-size", "0")
    assert result.exit_code == 0, result.output
    assert np.array_equal(tifffile.imread(tmp_path / "o" / "good_labels.tif"), segmenter.segment(crop))


def test_batch_errors_name_the_file(runner, tmp_path, good, crop):
    src = tmp_path / "in"
    src.mkdir()
    nan = crop.astype(np.float32)
    nan[5, 5] = np.nan
    tifffile.imwrite(src / "nan.tif", nan)
    tifffile.imwrite(src / "complex.tif", crop.astype(np.complex64))
    (src / "good.tif").write_bytes(good.read_bytes())
    result = segment(runner, src, "-o", tmp_path / "o")
    assert result.exit_code == 1
    assert f"error: {src / 'nan.tif'}: the image contains NaN or infinite values" in result.output
    assert f"error: {src / 'complex.tif'}: " in result.output
    assert summary(tmp_path / "o")["good.tif"]["status"] == "ok"


def test_a_tiff_truncated_past_its_header_is_named_when_read_in_tiles(runner, tmp_path, sample):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.ascontiguousarray(sample[0][:300, :300]), rowsperstrip=16)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header and strip offsets intact, pixel data cut
    result = segment(runner, path, "-o", tmp_path / "o", "--tile-size", "256")
    assert result.exit_code == 1
    assert f"error: {path}: cannot read the image (" in result.output and "truncated or corrupt" in result.output


def test_resume_past_an_unreadable_labels_file_goes_on(runner, tmp_path, good):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name in ("a.tif", "b.tif"):
        (src / name).write_bytes(good.read_bytes())
    out.mkdir()
    (out / "a_labels.tif").write_bytes(b"garbage")
    result = segment(runner, src, "-o", out, "--resume")
    assert result.exit_code == 1
    assert f"{out / 'a_labels.tif'}: cannot read these existing labels" in result.output
    assert "pass --overwrite to segment the image again" in result.output
    rows = summary(out)
    assert rows["a.tif"]["status"] == "error" and rows["b.tif"]["status"] == "ok"
    assert (out / "a_labels.tif").read_bytes() == b"garbage"  # the user's file is left alone


def test_an_output_folder_that_cannot_be_made_is_a_clear_error(runner, tmp_path, good):
    (tmp_path / "afile").write_text("not a folder")
    result = segment(runner, good, "-o", tmp_path / "afile" / "sub")
    assert result.exit_code == 1 and f"cannot create the output folder {tmp_path / 'afile' / 'sub'}" in result.output


def test_an_earlier_runs_summary_is_not_replaced_without_asking(runner, tmp_path, good):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("my notes\n")
    result = segment(runner, good, "-o", out)
    assert result.exit_code == 1 and "summary.csv exists (an earlier run's); pass --overwrite" in result.output
    assert (out / "summary.csv").read_text() == "my notes\n" and not (out / "good_labels.tif").exists()
    assert segment(runner, good, "-o", out, "--overwrite").exit_code == 0
    assert summary(out)["good.tif"]["status"] == "ok"
    # --resume continues that run and rewrites its summary, the finished image skipped
    result = segment(runner, good, "-o", out, "--resume")
    assert result.exit_code == 0 and summary(out)["good.tif"]["status"] == "skipped (complete)"


def test_a_channel_a_plain_image_does_not_have_is_refused(runner, tmp_path, good, crop):
    result = segment(runner, good, "-o", tmp_path / "o", "--channel", "1")
    assert result.exit_code == 1 and f"{good}: channel 1 requested but the image has 1 channel" in result.output
    assert np.array_equal(to_grayscale(crop, 0), crop)  # channel 0 of a plain image is the image
    result = segment(runner, good, "-o", tmp_path / "t", "--channel", "2", "--tile-size", "192")
    assert result.exit_code == 1 and "channel 2 requested but the image has 1 channel" in result.output


@pytest.mark.parametrize("options", [[], ["--tile-size", "256"]])
def test_an_imagej_z_stack_in_a_folder_gets_3d_labels_beside_the_2d_images(runner, tmp_path, good, options):
    # a 3-plane Z-stack used to be refused (before that, misnamed a "3-channel image"); now it is
    # segmented plane by plane into one 3-D label hyperstack (tests/cli/test_stacks.py has the details)
    src = tmp_path / "in"
    src.mkdir()
    stack = np.random.default_rng(1).integers(0, 4000, (3, 512, 512), dtype=np.uint16)
    tifffile.imwrite(src / "a_stack.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    (src / "good.tif").write_bytes(good.read_bytes())
    result = segment(runner, src, "-o", tmp_path / "o", *options)
    assert result.exit_code == 0, result.output
    rows = summary(tmp_path / "o")
    assert rows["a_stack.tif"]["status"] == "ok" and rows["good.tif"]["status"] == "ok"
    with tifffile.TiffFile(tmp_path / "o" / "a_stack_labels.tif") as tif:
        assert tif.series[0].axes == "ZYX" and tif.series[0].shape == (3, 512, 512)
    assert tifffile.imread(tmp_path / "o" / "good_labels.tif").ndim == 2


def test_bmp_files_in_a_folder_are_found(runner, tmp_path, crop):
    import imageio.v3 as iio

    src = tmp_path / "in"
    src.mkdir()
    iio.imwrite(src / "a.bmp", (crop // 256).astype(np.uint8) if crop.dtype != np.uint8 else crop)
    result = segment(runner, src, "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "a_labels.tif").exists()


def test_an_unreadable_png_gets_one_line_without_plugin_advice(tmp_path):
    path = tmp_path / "garbage.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: cannot read the image (") and "truncated or corrupt" in message
    assert "\n" not in message and "pip install" not in message


def test_an_image_too_large_for_memory_says_to_use_tiles(tmp_path, good, monkeypatch):
    # Mocked: really exhausting this machine's memory would take the test run down with it.
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 6.71 GiB")

    monkeypatch.setattr(nuset_engine.io.tifffile.TiffFile, "asarray", no_memory)
    with pytest.raises(MemoryError, match=r"good.tif: the image is too large to load whole; segment it in tiles"):
        read_image(good)

"""The engine's typed errors name their fix in the Python API's terms
(``overwrite=True``, ``tile_size=2048``); the command line says them with
its flags (``--overwrite``, ``--tile-size 2048``), on the terminal and in the
run's summary.csv (tests/engine/test_api.py has the engine's side)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from nuset_cli._common import in_cli_terms
from nuset_cli.main import cli
from nuset_engine import ImageTooLargeError, OptionError, OutputClashError, OutputExistsError


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def good(tmp_path, sample):
    path = tmp_path / "in" / "good.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, np.ascontiguousarray(sample[0][:128, :128]))
    return path


def summary(folder):
    with open(folder / "summary.csv") as fh:
        return {r["image"].rsplit("/", 1)[-1]: r for r in csv.DictReader(fh)}


def test_typed_errors_in_command_line_terms():
    assert in_cli_terms(OutputExistsError("o/x_labels.tif", resumable=True)) == (
        "o/x_labels.tif exists; pass --overwrite to replace or --resume to skip")
    assert in_cli_terms(OutputExistsError("o/x_labels.tif", resumable=True, unreadable="not a TIFF")) == (
        "o/x_labels.tif: cannot read these existing labels (not a TIFF); delete the file, or pass --overwrite to "
        "segment the image again")
    assert in_cli_terms(ImageTooLargeError("i/x.tif")) == (
        "i/x.tif: the image is too large to load whole; segment it in tiles (--tile-size 2048), which reads a TIFF "
        "region by region")
    assert in_cli_terms(OutputClashError("a/x.tif", "b/x.tif", "o/x")) == (
        "a/x.tif and b/x.tif would write the same outputs (o/x_*); segment them into different --output folders")
    # other errors keep their message
    assert in_cli_terms(OptionError("min_score", "min_score must be between 0 and 1, got 2")) == (
        "min_score must be between 0 and 1, got 2")


def test_existing_outputs_are_reported_with_the_flags_in_the_summary_too(runner, tmp_path, good):
    out = tmp_path / "o"
    out.mkdir()
    (out / "good_labels.tif").write_bytes(b"mine")
    result = runner.invoke(cli, ["segment", str(good), "-o", str(out)])
    message = f"{out / 'good_labels.tif'} exists; pass --overwrite to replace or --resume to skip"
    assert result.exit_code == 1 and f"error: {message}" in result.output
    assert summary(out)["good.tif"]["error"] == message
    assert (out / "good_labels.tif").read_bytes() == b"mine"


def test_an_image_too_large_for_memory_is_told_to_use_tile_size(runner, tmp_path, good, monkeypatch):
    # Mocked: really exhausting this machine's memory would take the test run down with it.
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 6.71 GiB")

    monkeypatch.setattr(tifffile.TiffFile, "asarray", no_memory)
    result = runner.invoke(cli, ["segment", str(good), "-o", str(tmp_path / "o")])
    message = (f"{good}: the image is too large to load whole; segment it in tiles (--tile-size 2048), which reads "
               "a TIFF region by region")
    assert result.exit_code == 1 and f"error: {message}" in result.output
    assert summary(tmp_path / "o")["good.tif"]["error"] == message
    assert "tile_size=" not in result.output and "open_plane" not in result.output


def test_colliding_inputs_name_the_output_flag(runner, tmp_path, good):
    other = tmp_path / "other" / "good.tif"
    other.parent.mkdir()
    other.write_bytes(good.read_bytes())
    result = runner.invoke(cli, ["segment", str(good), str(other), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "would write the same outputs" in result.output
    assert "segment them into different --output folders" in result.output


def test_evaluate_says_an_image_too_large_for_memory_cannot_be_evaluated(runner, tmp_path, good, monkeypatch):
    (tmp_path / "labels").mkdir()
    tifffile.imwrite(tmp_path / "labels" / "good.tif", np.zeros((128, 128), np.uint16))

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 6.71 GiB")

    monkeypatch.setattr(tifffile.TiffFile, "asarray", no_memory)
    result = runner.invoke(cli, ["evaluate", "--images", str(good.parent), "--labels", str(tmp_path / "labels"),
                                 "--split", "all", "--method", "otsu"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (f"{good}: the image is too large to load whole, and evaluation needs whole images; crop it, or segment "
            "it with `nuset segment --tile-size 2048`") in result.output

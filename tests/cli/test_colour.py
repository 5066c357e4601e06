"""Colour images on the command line: a gray model refuses an RGB file
without a channel, naming the choices; a model that records an RGB input
kind reads the file whole and segments it."""

import tifffile
from click.testing import CliRunner

from nuset_cli.main import cli
from nuset_engine.colour import mark_model_input
from tests.conftest import REAL_DATA

NONFLUO = REAL_DATA / "dsb2018_stage1_train_nonfluo"


def _he_tile():
    import csv

    with open(NONFLUO / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("modality", "").startswith("histology")]
    return NONFLUO / "images" / f"{rows[0]['id']}.tif"


def test_an_rgb_file_needs_a_colour_model_or_a_channel(tmp_path):
    tile = _he_tile()
    assert tifffile.imread(tile).ndim == 3
    runner = CliRunner()
    result = runner.invoke(cli, ["segment", str(tile), "-o", str(tmp_path / "gray")])
    assert result.exit_code == 1
    assert "pick one channel" in result.output and "histology model" in result.output, result.output
    assert not (tmp_path / "gray" / f"{tile.stem}_labels.tif").exists()

    model = mark_model_input(None, "rgb-inverted", tmp_path / "he.nuset.pt")
    result = runner.invoke(cli, ["segment", str(tile), "-o", str(tmp_path / "he"), "--model", str(model)])
    assert result.exit_code == 0, result.output
    labels = tifffile.imread(tmp_path / "he" / f"{tile.stem}_labels.tif")
    assert labels.shape == tifffile.imread(tile).shape[:2] and labels.max() > 5

"""`nuset segment` on Z-stacks and time-lapses: routed to the stack path by
the file's axes or --axes; labels as an ImageJ hyperstack, 3-D measurements."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from skimage.measure import regionprops

from nuset_cli.main import cli
from nuset_engine.metrics import matching_counts

STARDIST_3D = Path(__file__).parents[1] / "data" / "stardist3d"


def segment(*args):
    result = CliRunner().invoke(cli, ["segment", *map(str, args)])
    assert "Traceback" not in result.output
    return result


def rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_a_z_stack_without_axes_is_segmented_in_3d_with_axes_given(tmp_path):
    source = STARDIST_3D / "img3d.tif"  # axes not recorded (QYX)
    refused = segment(source, "-o", tmp_path / "a")
    assert refused.exit_code == 1
    assert "a Z-stack or time-lapse is segmented as one when its axes are given" in refused.output
    result = segment(source, "-o", tmp_path / "o", "--axes", "ZYX", "--voxel-size", "2", "1", "1", "--measurements")
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(tmp_path / "o" / "img3d_labels.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZYX" and tif.imagej_metadata["spacing"] == 2.0
        labels = tif.asarray()
    truth = tifffile.imread(STARDIST_3D / "mask3d.tif")
    counts = matching_counts(truth, labels, [0.5])[0.5]
    assert counts["tp"] / (counts["tp"] + counts["fp"] + counts["fn"]) > 0.45
    table = rows(tmp_path / "o" / "img3d_measurements.csv")
    assert len(table) == labels.max() == len(np.unique(labels)) - 1
    assert sum(float(r["volume"]) for r in table) == np.count_nonzero(labels)
    assert float(table[0]["volume_um3"]) == pytest.approx(2 * float(table[0]["volume"]))
    (summary,) = rows(tmp_path / "o" / "summary.csv")
    assert summary["status"] == "ok" and int(summary["nuclei"]) == labels.max()


def test_an_imagej_time_lapse_is_segmented_and_tracked(tmp_path, sample):
    pytest.importorskip("laptrack", reason="tracking needs the tracking extra (laptrack)")
    image = sample[0][:160]
    movie = np.stack([image[:, 4 * t : 4 * t + 160] for t in range(3)])  # nuclei move 4 pixels left per frame
    tifffile.imwrite(tmp_path / "t.tif", movie, imagej=True, metadata={"axes": "TYX"})
    result = segment(tmp_path / "t.tif", "-o", tmp_path / "o", "--measurements")
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(tmp_path / "o" / "t_labels.tif") as tif:
        assert tif.series[0].axes == "TYX"
        labels = tif.asarray()
    tracks = rows(tmp_path / "o" / "t_tracks.csv")
    assert list(tracks[0]) == ["track_id", "frame", "z", "y", "x", "size", "parent_track_id"]
    # labels are track ids: a nucleus in the middle keeps its label as it moves
    central = min(regionprops(labels[0]), key=lambda r: np.hypot(r.centroid[0] - 80, r.centroid[1] - 80))
    y, x = (int(round(c)) for c in central.centroid)
    assert labels[0, y, x] == labels[1, y, x - 4] == labels[2, y, x - 8] == central.label
    first = [r for r in tracks if r["track_id"] == str(central.label)]
    assert [r["frame"] for r in first] == ["0", "1", "2"]
    table = rows(tmp_path / "o" / "t_measurements.csv")
    assert {r["frame"] for r in table} == {"0", "1", "2"}
    assert {r["label"] for r in table} == {r["track_id"] for r in tracks}


def test_stacks_refuse_2d_only_outputs_and_bad_axes(tmp_path):
    tifffile.imwrite(tmp_path / "z.tif", np.zeros((3, 40, 40), np.uint16), imagej=True, metadata={"axes": "ZYX"})
    result = segment(tmp_path / "z.tif", "-o", tmp_path / "o", "--rois")
    assert result.exit_code == 1
    assert "z.tif: ROIs and overlays are made for 2-D images, not for stacks" in result.output
    result = segment(tmp_path / "z.tif", "-o", tmp_path / "p", "--axes", "ZQX")
    assert result.exit_code == 1 and "axes 'ZQX': unknown letter Q" in result.output
    result = segment(tmp_path / "z.tif", "-o", tmp_path / "q", "--axes", "TZYX")
    assert result.exit_code == 1 and "axes 'TZYX' have 4 letters but the image has 3 dimensions" in result.output


def dividing_movie(frames: int = 6, at: int = 3, shape=(96, 128)) -> np.ndarray:
    """A synthetic time-lapse (uint8, blurred disks with noise): a nucleus
    (radius 9) that divides at frame ``at`` into two (radius 7) moving
    apart along X, and two neighbours drifting 2 pixels a frame."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    movie = []
    for t in range(frames):
        nuclei = [((48, 64), 9)] if t < at else [((48, 64 - 8 - 2 * (t - at)), 7), ((48, 64 + 8 + 2 * (t - at)), 7)]
        nuclei += [((18, 110 - 2 * t), 8), ((78, 20 + 2 * t), 8)]
        image = np.zeros(shape)
        for (y, x), r in nuclei:
            image[(yy - y) ** 2 + (xx - x) ** 2 <= r**2] = 1
        image = ndimage.gaussian_filter(image, 1.5) * 180 + 20 + rng.normal(0, 6, shape)
        movie.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(movie)


def test_divisions_write_parent_links_only_when_asked(tmp_path):
    pytest.importorskip("laptrack", reason="tracking needs the tracking extra (laptrack)")
    tifffile.imwrite(tmp_path / "d.tif", dividing_movie(), imagej=True, metadata={"axes": "TYX"})
    result = segment(tmp_path / "d.tif", "-o", tmp_path / "with", "--divisions")
    assert result.exit_code == 0, result.output
    tracks = rows(tmp_path / "with" / "d_tracks.csv")
    daughters = [r for r in tracks if r["parent_track_id"] != "0"]
    assert {r["frame"] for r in daughters} == {"3", "4", "5"} and len({r["track_id"] for r in daughters}) == 2
    (mother,) = {r["parent_track_id"] for r in daughters}
    assert [r["frame"] for r in tracks if r["track_id"] == mother] == ["0", "1", "2"]
    result = segment(tmp_path / "d.tif", "-o", tmp_path / "without")
    assert result.exit_code == 0, result.output
    assert all(r["parent_track_id"] == "0" for r in rows(tmp_path / "without" / "d_tracks.csv"))

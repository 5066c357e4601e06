import csv

import numpy as np
import pytest
import roifile
import tifffile

from nuset_engine.outputs import (label_contours, measure_nuclei, overlay_image, pixel_size_from_tiff,
                                  write_measurements, write_rois)


@pytest.fixture
def labels():
    lab = np.zeros((60, 80), np.uint16)
    lab[10:20, 10:30] = 1
    lab[30:50, 40:60] = 7
    return lab


def test_rois_open_as_imagej_rois_named_by_label(tmp_path, labels):
    path = write_rois(tmp_path / "r.zip", labels)
    rois = roifile.roiread(path)
    assert [r.name for r in rois] == ["0001", "0007"]
    for roi, (r0, r1, c0, c1) in zip(rois, [(10, 20, 10, 30), (30, 50, 40, 60)]):
        xy = roi.coordinates()
        assert abs(xy[:, 0].min() - c0) <= 1 and abs(xy[:, 0].max() - c1) <= 1
        assert abs(xy[:, 1].min() - r0) <= 1 and abs(xy[:, 1].max() - r1) <= 1


def test_contours_follow_each_label(labels):
    contours = label_contours(labels)
    assert set(contours) == {1, 7}


def test_measurements_pixels_and_microns(tmp_path, labels):
    image = np.where(labels > 0, 100.0, 5.0)
    rows = measure_nuclei(labels, image)
    assert [r["label"] for r in rows] == [1, 7]
    assert rows[0]["area"] == 200 and rows[0]["mean_intensity"] == 100
    assert rows[0]["integrated_intensity"] == 20000
    assert rows[0]["centroid_y"] == pytest.approx(14.5) and rows[0]["centroid_x"] == pytest.approx(19.5)
    micro = measure_nuclei(labels, image, pixel_size=0.5)
    assert micro[1]["area_um2"] == pytest.approx(400 * 0.25)
    path = write_measurements(tmp_path / "m.csv", micro, pixel_size=0.5)
    with open(path) as fh:
        table = list(csv.DictReader(fh))
    assert float(table[1]["area_um2"]) == pytest.approx(100.0) and "area" not in table[0]


def test_pixel_size_from_imagej_and_ome_tiff(tmp_path):
    image = np.zeros((8, 8), np.uint16)
    tifffile.imwrite(tmp_path / "ij.tif", image, imagej=True, resolution=(1 / 0.325, 1 / 0.325),
                     metadata={"unit": "micron"})
    assert pixel_size_from_tiff(tmp_path / "ij.tif") == pytest.approx(0.325)
    tifffile.imwrite(tmp_path / "ome.ome.tif", image, ome=True, metadata={"PhysicalSizeX": 0.65,
                                                                         "PhysicalSizeXUnit": "µm"})
    assert pixel_size_from_tiff(tmp_path / "ome.ome.tif") == pytest.approx(0.65)
    tifffile.imwrite(tmp_path / "plain.tif", image)
    assert pixel_size_from_tiff(tmp_path / "plain.tif") is None


def test_overlay_outlines(labels):
    rgb = overlay_image(np.random.default_rng(0).random(labels.shape), labels)
    assert rgb.shape == labels.shape + (3,) and rgb.dtype == np.uint8
    assert tuple(rgb[10, 15]) == (255, 255, 0)  # on the outline of nucleus 1
    assert tuple(rgb[15, 15]) != (255, 255, 0)  # inside it

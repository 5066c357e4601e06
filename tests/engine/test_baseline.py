import numpy as np

from nuset_engine.baseline import otsu_watershed
from tests.conftest import disk


def test_otsu_watershed_splits_two_touching_disks_and_ignores_flat_images():
    shape = (60, 90)
    image = (disk(shape, (30, 30), 14) | disk(shape, (30, 56), 14)).astype(np.float32) * 100
    image += np.random.default_rng(0).normal(0, 3, shape)
    labels = otsu_watershed(image, min_distance=8)
    assert labels.max() == 2
    assert labels[30, 30] != labels[30, 56] and labels[30, 30] > 0
    assert otsu_watershed(np.full(shape, 7.0)).max() == 0

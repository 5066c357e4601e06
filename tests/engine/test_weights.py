import numpy as np

from nuset_engine.weights import centre_distance, touching_border, unet_weight_map


def test_border_between_close_nuclei_gets_high_weight():
    labels = np.zeros((40, 60), int)
    labels[10:30, 5:28] = 1
    labels[10:30, 30:55] = 2  # 2-px gap at columns 28-29
    w = unet_weight_map(labels, w0=10, sigma=5)
    gap = w[20, 28]
    far = w[2, 2]
    assert gap > 8 and far < 1.5
    assert w[labels > 0].max() <= 1.0 + 1e-6  # foreground: class weight only, at most 1


def test_single_nucleus_and_empty():
    labels = np.zeros((20, 20), int)
    assert np.array_equal(unet_weight_map(labels), np.ones((20, 20), np.float32))
    labels[5:10, 5:10] = 1
    w = unet_weight_map(labels)
    assert w.max() == 1.0 and w.dtype == np.float32


def test_touching_border_is_the_strip_where_nuclei_meet():
    labels = np.zeros((20, 30), int)
    labels[5:15, 2:10] = 1
    labels[5:15, 10:18] = 2  # touches nucleus 1 along columns 9|10
    labels[5:15, 22:28] = 3  # alone
    border = touching_border(labels)
    assert np.array_equal(np.flatnonzero(border.any(axis=0)), [9, 10])
    assert border[5:15, 9].all() and border[5:15, 10].all() and not border[labels == 3].any()


def test_centre_distance_has_one_hill_per_nucleus_and_a_valley_where_they_touch():
    labels = np.zeros((30, 50), int)
    labels[5:25, 3:20] = 1
    labels[5:25, 20:37] = 2  # touches nucleus 1
    labels[10:14, 42:46] = 3  # small and alone
    d = centre_distance(labels)
    assert d.dtype == np.float32 and d.min() == 0 and d.max() <= 1
    for k in (1, 2, 3):
        assert np.isclose(d[labels == k].max(), 1.0)  # each nucleus peaks at 1, however small
    assert (d[labels == 0] == 0).all()
    assert d[15, 19] == 0 and d[15, 20] == 0  # the contact
    assert d[15, 11] > 0.8 and d[15, 28] > 0.8  # the centres

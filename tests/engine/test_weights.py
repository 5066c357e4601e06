import numpy as np

from nuset_engine.weights import touching_border, unet_weight_map


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
    w = unet_weight_map(labels, border=border)
    assert w[10, 9] > 8 and w[10, 5] <= 1.0 + 1e-6  # the strip is weighted like a gap

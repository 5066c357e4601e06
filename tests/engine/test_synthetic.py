import numpy as np
from scipy import ndimage

from nuset_engine.synthetic import synthetic_image


def test_reproducible_and_varied():
    a_img, a_lab = synthetic_image(5)
    b_img, b_lab = synthetic_image(5)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_lab, b_lab)
    c_img, _ = synthetic_image(6)
    assert a_img.shape != c_img.shape or not np.array_equal(a_img, c_img)


def test_sizes_dtypes_and_labels():
    for seed in range(4):
        image, labels = synthetic_image(seed)
        assert 256 <= image.shape[0] <= 640 and 256 <= image.shape[1] <= 640
        assert image.shape == labels.shape and image.dtype == np.uint16 and labels.dtype == np.uint16
        ids = np.unique(labels[labels > 0])
        assert np.array_equal(ids, np.arange(1, len(ids) + 1))  # consecutive
        assert len(ids) > 5


def test_touching_nuclei_are_labelled_separately():
    images_with_touching = 0
    for seed in range(3):
        _, labels = synthetic_image(seed)
        # touching nuclei form one connected blob that carries several labels
        _, n_blobs = ndimage.label(labels > 0, structure=np.ones((3, 3)))
        images_with_touching += int(labels.max() > n_blobs)
    assert images_with_touching >= 2


def test_given_shape():
    image, labels = synthetic_image(1, shape=(100, 130))
    assert image.shape == labels.shape == (100, 130)

"""Training augmentation on a real image: labels follow the pixels, the
camera imitation changes intensities only, mirrored padding keeps nuclei
apart, size-matched crops reach the training size."""
import numpy as np
import pytest
from scipy import ndimage

from nuset_engine.anchors import anchor_base_size
from nuset_engine.data import NuSeTDataset, _random_crop, acquisition, augment


def test_augment_is_reproducible_and_keeps_labels_aligned(sample):
    image, truth = sample
    a = augment(np.random.default_rng(3), image, truth, 128)
    b = augment(np.random.default_rng(3), image, truth, 128)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    out, labels = a
    assert out.shape == labels.shape == (128, 128) and out.dtype == np.float32 and labels.dtype == np.int32
    if labels.any() and (labels == 0).any():  # nuclei stay brighter than background on average
        assert out[labels > 0].mean() > out[labels == 0].mean()


def test_camera_imitation_raises_background_adds_noise_and_keeps_labels(sample):
    image, truth = sample
    x = ((image - image.min()) / float(image.max() - image.min())).astype(np.float32)
    changed = [acquisition(np.random.default_rng(seed), x) for seed in range(20)]
    altered = [c for c in changed if not np.array_equal(c, x)]
    assert 4 <= len(altered) <= 16  # about half of the draws
    for c in altered:
        assert np.isfinite(c).all() and c.shape == x.shape
        assert np.median(c[truth == 0]) >= np.median(x[truth == 0]) - 0.05  # background raised (or noise only)
        assert c[truth > 0].mean() > c[truth == 0].mean()  # nuclei still brighter on average
    out, labels = augment(np.random.default_rng(1), image, truth, 128, camera=True)
    plain_out, plain_labels = augment(np.random.default_rng(1), image, truth, 128, camera=False)
    assert np.array_equal(labels, plain_labels)  # geometry identical; only intensities may change


def test_mirrored_copies_of_a_nucleus_are_separate_objects(sample):
    """A crop wider than the image is padded by mirroring; every copy of a
    nucleus must be its own object, or its box would span all copies."""
    image, truth = sample
    small_image, small_truth = image[:100, :100], truth[:100, :100]
    crop, labels = _random_crop(np.random.default_rng(0), small_image, small_truth, 256)
    assert crop.shape == labels.shape == (256, 256)
    assert np.array_equal(labels > 0, np.pad(small_truth, 78, mode="symmetric") > 0)
    inside = np.unique(small_truth[small_truth > 0]).size
    assert np.unique(labels[labels > 0]).size > 4 * inside  # about nine copies, each with its own ids
    for i in np.unique(labels[labels > 0]):  # one copy of a nucleus is one connected blob
        assert ndimage.label(labels == i, structure=np.ones((3, 3)))[1] == 1


def test_matched_crops_bring_nuclei_to_the_training_size(sample):
    """With matched_fraction=1 the crops' nuclei are about matched_size
    (x0.67-1.75, less where the crop cuts them), whatever the image's own size."""
    image, truth = sample
    own = anchor_base_size(truth)
    for target in (own / 3, own * 2):
        data = NuSeTDataset([(image, truth)], 8, matched_fraction=1.0, matched_size=target)
        sizes = [anchor_base_size(data[i]["target"].numpy()) for i in range(8)]  # binary: 8-connected blobs
        assert 0.6 * target <= np.median(sizes) <= 1.8 * target, (target, sizes)
    with pytest.raises(ValueError, match="matched_size"):
        NuSeTDataset([(image, truth)], 6, matched_fraction=0.5)

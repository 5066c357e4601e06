"""Training augmentation on a real image: labels follow the pixels, the
camera imitation changes intensities only."""
import numpy as np

from nuset_engine.data import acquisition, augment


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

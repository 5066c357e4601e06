import numpy as np
import pytest

from nuset_engine.normalize import foreground_normalize, whole_image_normalize


@pytest.mark.parametrize("value", [0, 7, 65535])
def test_constant_images_give_zeros_not_nan(value):
    image = np.full((20, 30), value, np.uint16)
    assert np.array_equal(whole_image_normalize(image), np.zeros((20, 30), np.float32))
    assert np.array_equal(foreground_normalize(image, image > 0), np.zeros((20, 30), np.float32))


def test_whole_image_normalize_has_zero_mean_unit_std():
    image = np.random.default_rng(0).integers(0, 255, (64, 64)).astype(np.uint8)
    out = whole_image_normalize(image)
    assert out.dtype == np.float32
    assert abs(out.mean()) < 1e-4 and abs(out.std() - 1) < 1e-3


def test_foreground_normalize_uses_only_masked_pixels():
    image = np.zeros((10, 10), np.float32)
    image[:5] = np.arange(50).reshape(5, 10)
    mask = np.zeros((10, 10), bool)
    mask[:5] = True
    out = foreground_normalize(image, mask)
    assert abs(out[mask].mean()) < 1e-5
    assert abs(out[mask].std() - 1) < 1e-3
    # background pixels lie below the foreground mean
    assert (out[~mask] < 0).all()


def test_foreground_normalize_empty_mask_falls_back_to_whole_image():
    image = np.random.default_rng(1).random((16, 16))
    assert np.allclose(foreground_normalize(image, np.zeros((16, 16))), whole_image_normalize(image))


@pytest.mark.parametrize("bad", [np.full((4, 4), np.nan), np.full((4, 4), np.inf)])
def test_non_finite_values_are_refused(bad):
    with pytest.raises(ValueError, match="NaN or infinite"):
        whole_image_normalize(bad)


def test_non_2d_is_refused():
    with pytest.raises(ValueError, match="2-D"):
        whole_image_normalize(np.zeros((3, 8, 8)))


def test_mask_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="mask shape"):
        foreground_normalize(np.zeros((8, 8)), np.zeros((4, 4)))

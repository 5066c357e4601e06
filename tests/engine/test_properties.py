"""Property-based: any 2-D array of a supported dtype gives labels of the same
shape and a sane dtype, or a clear ValueError; never a crash or NaN."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

DTYPES = st.sampled_from([np.bool_, np.uint8, np.uint16, np.int16, np.int32, np.int64, np.float16,
                          np.float32, np.float64])
SHAPES = st.tuples(st.integers(1, 70), st.integers(1, 70))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(image=DTYPES.flatmap(lambda dt: arrays(dt, SHAPES)))
def test_any_array_gives_labels_or_a_clear_error(segmenter, image):
    try:
        labels, details = segmenter.segment(image, return_details=True)
    except ValueError as exc:
        assert "NaN or infinite" in str(exc)  # the only refusal for a 2-D numeric array
        assert not np.all(np.isfinite(image.astype(np.float64)))
        return
    assert labels.shape == image.shape
    assert labels.dtype in (np.uint16, np.uint32)
    assert np.isfinite(details.foreground_probability).all()
    ids = np.unique(labels)
    # numbered 1..N (an image that is all nuclei has no 0: e.g. a 19 x 9 image of two bright pixels)
    assert ids[0] >= 0 and np.array_equal(ids[ids > 0], np.arange(1, np.count_nonzero(ids) + 1))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(image=DTYPES.flatmap(lambda dt: arrays(dt, st.tuples(st.integers(1, 260), st.integers(193, 260)))))
def test_tiled_path_holds_the_same_properties(segmenter, image):
    """Images just over the tile size go through the tiled path (several
    tiles, seams, image-wide statistics) with the same guarantees."""
    try:
        labels, details = segmenter.segment(image, tile_size=192, return_details=True)
    except ValueError as exc:
        assert "NaN or infinite" in str(exc)
        assert not np.all(np.isfinite(image.astype(np.float64)))
        return
    assert labels.shape == image.shape and labels.dtype in (np.uint16, np.uint32)
    assert np.isfinite(details.foreground_probability).all()
    ids = np.unique(labels)
    assert np.array_equal(ids[ids > 0], np.arange(1, np.count_nonzero(ids) + 1))

import numpy as np
import pytest

from nuset_engine.metrics import matching_counts
from nuset_engine.tiling import tile_windows


@pytest.mark.parametrize("shape,tile", [((512, 512), 256), ((160, 800), 192), ((48, 48), 256)])
def test_cores_partition_the_image_and_stay_on_the_stride_grid(shape, tile):
    cover = np.zeros(shape, int)
    for (cy0, cy1, cx0, cx1), (ty0, ty1, tx0, tx1) in tile_windows(*shape, tile):
        cover[cy0:cy1, cx0:cx1] += 1
        assert ty0 <= cy0 and cy1 <= ty1 and tx0 <= cx0 and cx1 <= tx1
        assert ty1 - ty0 <= tile and tx1 - tx0 <= tile
        assert all(v % 16 == 0 for v in (cy0, cx0, ty0, tx0))
    assert (cover == 1).all()


def test_tiled_and_whole_image_results_agree(segmenter, sample):
    image = sample[0]
    whole, whole_details = segmenter.segment(image, return_details=True)
    tiled, tiled_details = segmenter.segment(image, tile_size=192, return_details=True)  # 16 tiles of core 64
    assert tiled.shape == whole.shape
    n = int(whole.max())
    matched = matching_counts(whole, tiled, thresholds=(0.9,))[0.9]["tp"]
    assert matched >= 0.99 * n and abs(int(tiled.max()) - n) <= 0.01 * n + 1
    diff = np.abs(tiled_details.foreground_probability - whole_details.foreground_probability)
    assert diff.mean() < 0.002 and diff.max() < 0.15  # only far context is cut off at seams


def test_too_small_tiles_are_refused(segmenter, sample):
    with pytest.raises(ValueError, match="tile_size must be at least"):
        segmenter.segment(sample[0], tile_size=64)

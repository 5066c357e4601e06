import math

import numpy as np
import pytest

from nuset_engine.metrics import matching_counts
from nuset_engine.resample import nearest_window, resample_window, scaled_shape
from nuset_engine.tiling import DEFAULT_MARGIN, MIN_CORE, Moments, tile_windows


@pytest.mark.parametrize("shape,core,margin", [((512, 512), 128, 64), ((160, 800), 100, 30), ((48, 48), 256, 64)])
def test_cores_partition_the_image(shape, core, margin):
    cover = np.zeros(shape, int)
    for (cy0, cy1, cx0, cx1), (ty0, ty1, tx0, tx1) in tile_windows(*shape, core, margin):
        cover[cy0:cy1, cx0:cx1] += 1
        assert ty0 == max(cy0 - margin, 0) and ty1 == min(cy1 + margin, shape[0])
        assert tx0 == max(cx0 - margin, 0) and tx1 == min(cx1 + margin, shape[1])
    assert (cover == 1).all()


def test_moments_over_chunks_equal_numpy():
    values = np.random.default_rng(0).normal(1000, 30, 10_001).astype(np.float32)
    m = Moments()
    for chunk in np.array_split(values, 7):
        m.add(chunk)
    m.add(values[:0])
    assert m.n == values.size and m.lo == values.min() and m.hi == values.max()
    assert math.isclose(m.mean, values.mean(dtype=np.float64), rel_tol=1e-12)
    assert math.isclose(m.std, values.std(dtype=np.float64), rel_tol=1e-9)


def test_moments_of_extreme_float32_values_stay_finite():
    """Squared deviations of float32 values beyond ~1.8e19 overflow float32;
    the whole-image path (numpy, float64) has no such limit, nor may tiles."""
    values = np.array([-3e38, 3e38, 1e30, 0], np.float32)
    m = Moments()
    for chunk in np.array_split(values, 2):
        m.add(chunk)
    assert math.isclose(m.std, values.std(dtype=np.float64), rel_tol=1e-9) and math.isfinite(m.std)


@pytest.mark.parametrize("out_shape", [(61, 47), (250, 190)])
def test_resampled_windows_equal_the_whole_resize(out_shape):
    image = np.random.default_rng(1).random((123, 97)).astype(np.float32)
    whole = resample_window(image, out_shape, (0, out_shape[0], 0, out_shape[1]))
    window = (10, 40, 5, 33)
    part = resample_window(image, out_shape, window)
    assert np.allclose(part, whole[10:40, 5:33], atol=1e-6)
    # the same resize as scikit-image's away from the image edges
    from skimage.transform import resize

    ref = resize(image, out_shape, order=1, anti_aliasing=out_shape[0] < image.shape[0], preserve_range=True)
    assert np.allclose(whole[8:-8, 8:-8], ref[8:-8, 8:-8], atol=1e-4)
    labels = (image * 5).astype(np.int32)
    big = nearest_window(labels, labels.shape, out_shape, (0, out_shape[0], 0, out_shape[1]))
    assert np.array_equal(nearest_window(labels, labels.shape, out_shape, window), big[10:40, 5:33])


def _agreement(a, b):
    return matching_counts(a, b, thresholds=(0.9,))[0.9]["tp"] / max(int(a.max()), 1)


def test_tiled_and_whole_image_results_agree(segmenter, sample):
    # the sample's nuclei (cores ~24 px, within 1.5x of the training size) are
    # not resized (details.scale == 1.0): tiles share the whole image's grid
    image = sample[0]
    whole, whole_details = segmenter.segment(image, return_details=True)
    tiled, tiled_details = segmenter.segment(image, tile_size=192, return_details=True)  # cores of 64 px
    assert tiled.shape == whole.shape and tiled.dtype == whole.dtype
    assert _agreement(whole, tiled) >= 0.99 and abs(int(tiled.max()) - int(whole.max())) <= 1
    assert len(np.unique(tiled)) == tiled.max() + 1  # ids 1..N, none lost
    diff = np.abs(tiled_details.foreground_probability - whole_details.foreground_probability)
    assert diff.mean() < 0.002 and diff.max() < 0.2  # only far context is cut off at seams
    assert tiled_details.scale == whole_details.scale
    assert len(tiled_details.boxes) == pytest.approx(len(whole_details.boxes), rel=0.05)


def _best_iou(pred, region):
    values, counts = np.unique(pred[region.slice][region.image], return_counts=True)
    counts, values = counts[values > 0], values[values > 0]
    if not values.size:
        return 0.0
    best = values[np.argmax(counts)]
    return counts.max() / (region.area + (pred == best).sum() - counts.max())


def test_nuclei_on_seams_of_a_mosaic_are_whole(segmenter):
    """A 1024 x 1024 mosaic of 16 synthetic images, tiled so that seams cut
    through nuclei: the true nuclei a seam crosses are found (IoU >= 0.5) as
    often as without tiles, and no nucleus is counted twice (as many nuclei as without tiles, within 2%)."""
    from skimage.measure import regionprops

    from nuset_engine.synthetic import synthetic_image

    images, truths = zip(*[synthetic_image(50 + k, shape=(256, 256)) for k in range(16)])
    offsets = np.cumsum([0] + [int(t.max()) for t in truths])
    truths = [np.where(t > 0, t.astype(np.int64) + o, 0) for t, o in zip(truths, offsets)]
    mosaic = np.block([[images[4 * r + c] for c in range(4)] for r in range(4)]).astype(np.float32)
    truth = np.block([[truths[4 * r + c] for c in range(4)] for r in range(4)])
    whole, details = segmenter.segment(mosaic, return_details=True)
    tile = 400  # cores of 272 px: seams do not fall on the mosaic's own edges
    tiled = segmenter.segment(mosaic, tile_size=tile)
    # (Tiled and whole can differ by a pixel in the median nucleus size here,
    # which moves the anchors: agreement is checked on real nuclei above.)
    assert abs(int(tiled.max()) - int(whole.max())) <= 0.02 * whole.max()
    # seams: core edges of the final sweep (network scale), in input pixels
    margin = max(DEFAULT_MARGIN, math.ceil(2 * details.nucleus_size * details.scale))
    core = max(tile - 2 * margin, MIN_CORE)
    seams = np.arange(core, round(mosaic.shape[0] * details.scale), core) / details.scale
    on_seam = [r for r in regionprops(truth)
               if any(r.bbox[0] < s < r.bbox[2] or r.bbox[1] < s < r.bbox[3] for s in seams)]
    assert len(on_seam) >= 20  # the test really looks at seams
    found_whole = sum(_best_iou(whole, r) >= 0.5 for r in on_seam)
    found_tiled = sum(_best_iou(tiled, r) >= 0.5 for r in on_seam)
    assert found_tiled >= found_whole - 1, (found_tiled, found_whole, len(on_seam))
    # and none is cut in two by a seam: a true seam nucleus is not covered by
    # more large pieces (>= 30% of it) in the tiled result than in the whole one
    def pieces(pred, region):
        values, counts = np.unique(pred[region.slice][region.image], return_counts=True)
        return int(((values > 0) & (counts >= 0.3 * region.area)).sum())

    assert all(pieces(tiled, r) <= pieces(whole, r) for r in on_seam)


def test_memory_map_input_and_output(segmenter, sample, tmp_path):
    from nuset_engine.options import SegmentOptions
    from nuset_engine.pipeline import run

    image = np.lib.format.open_memmap(tmp_path / "in.npy", mode="w+", dtype=np.uint16, shape=sample[0].shape)
    image[:] = sample[0]
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.uint32, shape=image.shape)
    # run() takes options resolved as Segmenter.segment resolves them (two_pass, the model's own defaults)
    options = SegmentOptions(min_score=0.9, two_pass=True, tile_size=256,
                             min_size_fraction=segmenter.postprocessing["min_size_fraction"])
    assert run(segmenter, image, options, 256, out=out) is out
    assert np.array_equal(out, segmenter.segment(sample[0], options))


def test_too_small_tiles_are_refused(segmenter, sample):
    with pytest.raises(ValueError, match="tile_size must be at least"):
        segmenter.segment(sample[0], tile_size=64)


def test_one_pass_reuses_pass_one_outputs(segmenter, sample, tmp_path, monkeypatch, network_inputs):
    """Without the foreground pass the final sweep reads pass 1's stored
    outputs: the network runs once per tile, labels are unchanged, and the
    temporary files are gone afterwards."""
    import tempfile

    from nuset_engine import tiling
    from nuset_engine.pipeline import choose_scale

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    calls = network_inputs
    image = sample[0]
    scale = choose_scale(segmenter, None, 20.0, True)  # the tiles are cut on the network's grid
    tiles = len(list(tiling.work_tiles(image.shape, scale, 256, DEFAULT_MARGIN)))
    reused = segmenter.segment(image, two_pass=False, tile_size=256, nucleus_diameter=20.0)
    assert len(calls) == tiles  # pass 1 only
    assert not list(tmp_path.iterdir())

    calls.clear()  # test-time augmentation: the final sweep is not pass 1's, so it runs again
    augmented = segmenter.segment(image, two_pass=False, tile_size=256, nucleus_diameter=20.0, augment=True)
    assert len(calls) == 2 * tiles and augmented.max() > 50 and not np.array_equal(augmented, reused)

    calls.clear()  # a whole image is the one-tile case: pass 1 kept in memory, read back
    whole = segmenter.segment(image, two_pass=False, nucleus_diameter=20.0)
    assert calls == [scaled_shape(image.shape, scale)] and whole.max() > 50 and not list(tmp_path.iterdir())

    from nuset_engine import pipeline

    # nothing stored: the final sweep runs the network again
    monkeypatch.setattr(pipeline, "TileStore", lambda in_memory, folder: None)
    calls.clear()
    again = segmenter.segment(image, two_pass=False, tile_size=256, nucleus_diameter=20.0)
    assert len(calls) == 2 * tiles
    assert np.array_equal(reused, again) and reused.max() > 50


def test_scratch_dir_holds_the_stored_tiles(segmenter, sample, tmp_path, monkeypatch):
    """scratch_dir: pass 1's stored outputs go there, not to the system's
    temporary folder, and are removed when the segmentation ends."""
    import tempfile

    from nuset_engine import tiling

    system, scratch = tmp_path / "system", tmp_path / "scratch"
    system.mkdir()
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system))
    written = []
    put = tiling.TileStore.put

    def recording_put(store, index, *outputs):
        put(store, index, *outputs)
        written.extend(p for p in scratch.rglob("*.npz"))

    monkeypatch.setattr(tiling.TileStore, "put", recording_put)
    labels = segmenter.segment(sample[0], two_pass=False, tile_size=256, nucleus_diameter=20.0,
                               scratch_dir=str(scratch))
    assert written and labels.max() > 50
    assert not list(scratch.iterdir()) and not list(system.iterdir())
    with pytest.raises(ValueError, match="scratch_dir must be an existing folder, got '.*missing'"):
        segmenter.segment(sample[0], scratch_dir=str(tmp_path / "missing"))



def test_tile_size_for_resolves_auto_whole_and_fixed_sizes():
    from nuset_engine.tiling import AUTO_TILE_SIZE, tile_size_for

    assert tile_size_for("auto", (AUTO_TILE_SIZE, AUTO_TILE_SIZE)) is None  # 4.2 MP: whole
    assert tile_size_for("auto", (AUTO_TILE_SIZE + 1, AUTO_TILE_SIZE)) == AUTO_TILE_SIZE
    assert tile_size_for("auto", (10_000, 10_000)) == AUTO_TILE_SIZE
    assert tile_size_for("auto", (100, 30_000)) is None  # 3 MP strip: whole, by its pixel count
    assert tile_size_for(0, (10_000, 10_000)) is None and tile_size_for(None, (10_000, 10_000)) is None
    assert tile_size_for(512, (513, 100)) == 512 and tile_size_for(512, (512, 512)) is None
    for bad in ("big", 100, -1, 1.5, True):
        with pytest.raises(ValueError, match="tile_size must be"):
            tile_size_for(bad, (600, 600))


def test_large_images_are_tiled_by_default(segmenter, sample, monkeypatch):
    """The engine's default (tile_size="auto") sends an image over 2048 x 2048
    pixels to the tiled path, so every wrapper gets bounded memory; 0 keeps
    it whole. (The tiled run itself is replaced by a recorder: its results
    are tested above, and a 4.4 MP run would only add minutes.)"""
    from nuset_engine import segmenter as segmenter_module

    calls = []
    monkeypatch.setattr(segmenter_module, "run_pipeline",
                        lambda seg, image, options, tile_size, **kw: calls.append(tile_size))
    big = np.broadcast_to(sample[0][:1, :1], (2100, 2100))  # no memory: a view of one pixel
    segmenter.segment(big)
    assert calls == [2048]
    segmenter.segment(big, tile_size=0)
    assert calls == [2048, None]  # whole: the one-tile case

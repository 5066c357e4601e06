import numpy as np

from scipy import ndimage

from nuset_engine.watershed import clean_labels, mask_to_objects, rpn_aided_watershed
from tests.conftest import disk


def two_touching_disks(shape=(60, 80)):
    a, b = disk(shape, (30, 25), 12), disk(shape, (30, 45), 12)
    boxes = np.array([[13, 18, 37, 42], [33, 18, 57, 42]], float)  # (x1, y1, x2, y2)
    return a, b, boxes


def test_two_touching_disks_become_two_labels():
    a, b, boxes = two_touching_disks()
    labels = rpn_aided_watershed(a | b, boxes, np.array([0.99, 0.95]))
    assert labels.dtype == np.uint16
    assert labels.max() == 2
    # each disk is (almost entirely) one label
    for d in (a, b):
        values, counts = np.unique(labels[d], return_counts=True)
        assert counts.max() / d.sum() > 0.9


def test_overlapping_disks_one_component_become_exactly_two_labels():
    """Where connected components see one object, the RPN-aided watershed
    with a box around each disc gives exactly two, one per disc (a watershed
    that did nothing would give one)."""
    a, b, boxes = two_touching_disks()
    assert (a & b).any() and mask_to_objects(a | b).max() == 1
    labels = rpn_aided_watershed(a | b, boxes, np.array([0.99, 0.95]))
    assert sorted(np.unique(labels)) == [0, 1, 2]
    assert labels[30, 25] != labels[30, 45]  # the two centres
    assert ((labels > 0) == (a | b)).all()


def test_the_segmenter_splits_two_overlapping_nuclei(segmenter):
    """The whole pipeline on an image of two overlapping nuclei (discs of the
    training nucleus size, 4 px of overlap): two labels, one without the
    watershed."""
    shape = (64, 80)
    a, b = disk(shape, (32, 31), 11), disk(shape, (32, 49), 11)
    image = ndimage.gaussian_filter(np.where(a | b, 220.0, 20.0).astype(np.float32), 1.0)
    labels = segmenter.segment(image)
    assert labels.max() == 2 and labels[32, 31] != labels[32, 49]
    for d in (a, b):
        assert np.unique(labels[d], return_counts=True)[1].max() / d.sum() > 0.9
    assert segmenter.segment(image, watershed=False).max() == 1


def test_without_confident_boxes_touching_disks_stay_one_object():
    a, b, boxes = two_touching_disks()
    assert rpn_aided_watershed(a | b, boxes, np.array([0.5, 0.4]), min_score=0.85).max() == 1
    assert rpn_aided_watershed(a | b).max() == 1


def test_unseeded_component_keeps_its_own_label():
    a, b, boxes = two_touching_disks()
    extra = disk(a.shape, (8, 70), 5)
    labels = rpn_aided_watershed(a | b | extra, boxes, np.array([0.99, 0.95]))
    assert labels.max() == 3
    assert len(np.unique(labels[extra])) == 1 and labels[extra][0] > 0


def test_box_centre_off_foreground_is_moved_onto_it():
    # a C-shaped nucleus whose box centre is background
    shape = (60, 60)
    ring = disk(shape, (30, 30), 20) & ~disk(shape, (30, 30), 10)
    ring[25:35, 30:] = False
    box = np.array([[10, 10, 50, 50]], float)
    labels = rpn_aided_watershed(ring, box, np.array([0.99]), min_size_fraction=0)
    assert labels.max() == 1
    assert (labels > 0).sum() == ring.sum()


def test_box_without_foreground_seeds_nothing():
    a = disk((40, 40), (20, 20), 8)
    boxes = np.array([[0, 0, 5, 5], [12, 12, 28, 28]], float)
    assert rpn_aided_watershed(a, boxes, np.array([0.99, 0.99])).max() == 1


def test_seeds_near_the_image_edge_are_kept():
    shape = (40, 60)
    a, b = disk(shape, (2, 10), 8), disk(shape, (2, 24), 8)  # touching, at the top edge
    boxes = np.array([[2, 0, 18, 10], [16, 0, 32, 10]], float)
    assert rpn_aided_watershed(a | b, boxes, np.array([0.99, 0.99])).max() == 2


def test_close_lower_score_seed_is_dropped():
    a = disk((40, 40), (20, 20), 10)
    boxes = np.array([[10, 10, 30, 30], [11, 10, 31, 30]], float)  # centres 1 px apart
    assert rpn_aided_watershed(a, boxes, np.array([0.99, 0.98]), min_seed_distance=3).max() == 1


def test_empty_mask_gives_empty_labels():
    labels = rpn_aided_watershed(np.zeros((10, 12), bool), np.array([[0, 0, 5, 5]]), np.array([0.99]))
    assert labels.shape == (10, 12) and labels.max() == 0


def test_clean_labels_removes_small_objects_and_fills_holes():
    labels = np.zeros((50, 50), int)
    labels[5:25, 5:25] = 1
    labels[12:15, 12:15] = 0  # a 9-px hole
    labels[30:45, 30:45] = 5
    labels[2:4, 40:42] = 9  # a 4-px speck, far below 1/5 of the mean area
    cleaned = clean_labels(labels)
    assert cleaned.max() == 2  # renumbered 1..N
    assert cleaned[13, 13] == 1  # hole filled
    assert cleaned[2, 40] == 0  # speck removed


def test_interior_splits_touching_disks_one_box_missed():
    """With the predicted touching strip removed, the disk no box seeded
    still becomes its own nucleus, and the strip goes to its neighbours."""
    a, b, boxes = two_touching_disks()
    mask = a | b
    interior = mask.copy()
    interior[:, 35:37] = False  # the strip where the disks meet (x = 36 +- 1)
    plain = rpn_aided_watershed(mask, boxes[:1], np.array([0.99]))
    assert plain.max() == 1
    labels = rpn_aided_watershed(mask, boxes[:1], np.array([0.99]), interior=interior)
    assert labels.max() == 2
    assert (labels[mask] > 0).all()  # strip pixels are assigned, not lost
    for d in (a, b):
        assert np.unique(labels[d], return_counts=True)[1].max() / d.sum() > 0.9


def test_interior_specks_do_not_seed():
    a, b, boxes = two_touching_disks()
    interior = a | b
    interior[25:30, 18:24] = False
    interior[27, 20:22] = True  # a 2-pixel speck cut loose inside disk a
    labels = rpn_aided_watershed(a | b, boxes, np.array([0.99, 0.95]), interior=interior)
    assert labels.max() == 2
    # the size rule is what keeps it from seeding (no clean-up: it would stay)
    assert rpn_aided_watershed(a | b, boxes, np.array([0.99, 0.95]), interior=interior,
                               min_size_fraction=0).max() == 3


def test_peak_positions_match_ndimage():
    """The linear-time peak finder gives ndimage.maximum_position's answer."""
    from scipy import ndimage

    from nuset_engine.watershed import _peak_positions

    rng = np.random.default_rng(0)
    for _ in range(50):
        labels, n = ndimage.label(rng.random((60, 70)) > 0.6)
        values = rng.random((60, 70)).astype(np.float32)  # no ties
        wanted = np.sort(rng.choice(np.arange(1, n + 1), size=min(n, 7), replace=False))
        assert np.array_equal(_peak_positions(values, labels, wanted),
                              np.array(ndimage.maximum_position(values, labels, wanted)))

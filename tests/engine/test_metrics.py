import numpy as np
import pytest

from nuset_engine.metrics import best_iou, evaluate_pair, matching_counts, object_metrics, pixel_metrics, pool


def squares(*specs, shape=(40, 40)):
    labels = np.zeros(shape, int)
    for value, (r0, r1, c0, c1) in specs:
        labels[r0:r1, c0:c1] = value
    return labels


GT = squares((1, (2, 12, 2, 12)), (2, (2, 12, 12, 22)), (3, (25, 35, 25, 35)))


def test_perfect_prediction():
    m = object_metrics(GT, GT)
    assert m["correct"] == 3 and m.get("incorrect", 0) == 0
    assert m["touching"] == 2 and m["touching_separated"] == 2
    summary = pool([evaluate_pair(GT, GT)])
    assert summary["ap@0.50"] == 1.0 and summary["mean_ap"] == 1.0 and summary["mean_iu"] == 1.0
    assert summary["fn_rate"] == 0 and summary["fp_rate"] == 0


def test_merge_of_two_touching_nuclei():
    pred = squares((7, (2, 12, 2, 22)), (8, (25, 35, 25, 35)))
    m = object_metrics(GT, pred)
    assert m["merge"] == 1 and m["correct"] == 1 and m["incorrect"] == 1
    assert m["touching_separated"] == 0
    assert matching_counts(GT, pred)[0.5] == {"tp": 1, "fp": 1, "fn": 2}


def test_best_iou_per_ground_truth_nucleus():
    # nucleus 1 found exactly, nucleus 2 half covered (a 10x5 prediction inside it),
    # nucleus 3 missed
    pred = squares((4, (2, 12, 2, 12)), (9, (2, 12, 12, 17)))
    best, areas = best_iou(GT, pred)
    np.testing.assert_allclose(best, [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(areas, [100, 100, 100])
    best, areas = best_iou(GT, np.zeros_like(GT))
    np.testing.assert_array_equal(best, [0, 0, 0])


def test_split_of_one_nucleus():
    gt = squares((1, (0, 10, 0, 20)))
    pred = squares((1, (0, 10, 0, 10)), (2, (0, 10, 10, 20)))
    m = object_metrics(gt, pred)
    assert m["split"] == 1 and m["incorrect"] == 2 and m.get("correct", 0) == 0


def test_catastrophe():
    gt = squares((1, (0, 10, 0, 10)), (2, (0, 10, 10, 20)))
    pred = squares((1, (0, 5, 0, 20)), (2, (5, 10, 0, 20)))
    assert object_metrics(gt, pred)["catastrophe"] == 1


def test_missed_and_false_detection_and_rates():
    gt = squares((1, (0, 10, 0, 10)), (2, (20, 30, 20, 30)))
    pred = squares((1, (0, 10, 0, 10)), (2, (0, 4, 30, 34)))
    m = object_metrics(gt, pred)
    assert m["missed"] == 1 and m["false_detection"] == 1 and m["correct"] == 1
    summary = pool([evaluate_pair(gt, pred)])
    assert summary["fn_rate"] == pytest.approx(0.5)  # one of two GT nuclei not covered to 0.7
    assert summary["fp_rate"] == pytest.approx(0.5)  # one prediction without GT, over 2 GT nuclei
    assert summary["ap@0.50"] == pytest.approx(1 / 3)  # TP 1, FP 1, FN 1
    assert summary["f1@0.50"] == pytest.approx(0.5)


def test_iou_thresholds_count_matches_strictly_above():
    gt = squares((1, (0, 10, 0, 10)))
    pred = squares((1, (0, 10, 0, 8)))  # IoU 0.8
    counts = matching_counts(gt, pred)
    assert counts[0.75]["tp"] == 1 and counts[0.8]["tp"] == 0


def test_pixel_metrics_by_hand():
    gt = np.zeros((10, 10), int)
    gt[:5] = 1  # 50 fg
    pred = np.zeros((10, 10), int)
    pred[:4] = 1  # 40 fg, all correct
    m = pixel_metrics(gt, pred)
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(0.8)
    assert m["pixel_accuracy"] == pytest.approx(0.9)
    assert m["rmse"] == pytest.approx(np.sqrt(0.1))
    assert m["mean_iu"] == pytest.approx((40 / 50 + 50 / 60) / 2)


def test_empty_images():
    empty = np.zeros((8, 8), int)
    summary = pool([evaluate_pair(empty, empty)])
    assert summary["n_gt"] == 0 and summary["ap@0.50"] == 0.0
    with pytest.raises(ValueError):
        pool([])

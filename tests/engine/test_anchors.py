import math

import numpy as np
import torch

from nuset_engine.anchors import (
    DEFAULT_BASE_SIZE, anchor_base_size, anchor_shapes, box_iou, decode_boxes, encode_boxes,
    generate_anchors, masks_to_boxes, nms,
)


def test_base_size_is_median_of_max_bbox_side():
    labels = np.zeros((100, 100), int)
    labels[0:10, 0:4] = 1    # max side 10
    labels[20:26, 20:40] = 2  # 20
    labels[50:80, 50:60] = 3  # 30
    assert anchor_base_size(labels) == 20.0
    assert anchor_base_size(labels > 0) == 20.0  # binary masks use connected components


def test_empty_mask_gives_default_not_nan():
    value = anchor_base_size(np.zeros((32, 32), bool))
    assert value == DEFAULT_BASE_SIZE and math.isfinite(value)


def test_21_anchor_shapes_keep_area_per_scale():
    shapes = anchor_shapes(20.0)
    assert shapes.shape == (21, 2)
    areas = (shapes[:, 0] * shapes[:, 1]).reshape(7, 3)  # ratio-major: rows are ratios
    assert torch.allclose(areas, areas[0:1].expand(7, 3))
    assert torch.allclose(areas[0], torch.tensor([100.0, 400.0, 1600.0]))
    ratios = shapes[:, 0] / shapes[:, 1]
    assert torch.allclose(ratios[::3], torch.tensor([0.125, 0.25, 0.5, 1, 2, 4, 8]))


def test_generate_anchors_layout():
    anchors = generate_anchors(16.0, 2, 3)
    assert anchors.shape == (2 * 3 * 21, 4)
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    # position-major: the first 21 anchors sit on cell (0, 0), centred at (8, 8)
    assert torch.allclose(centres[:21], torch.tensor([8.0, 8.0]).expand(21, 2))
    assert torch.allclose(centres[21], torch.tensor([24.0, 8.0]))  # next column: x + 16
    assert torch.allclose(centres[3 * 21], torch.tensor([8.0, 24.0]))  # next row: y + 16


def test_encode_decode_round_trip():
    gen = torch.Generator().manual_seed(0)
    anchors = generate_anchors(20.0, 4, 4)
    xy = torch.rand(len(anchors), 2, generator=gen) * 60
    wh = torch.rand(len(anchors), 2, generator=gen) * 40 + 2
    boxes = torch.cat([xy, xy + wh], dim=1)
    assert torch.allclose(decode_boxes(encode_boxes(boxes, anchors), anchors), boxes, atol=1e-3)


def test_masks_to_boxes_and_iou():
    labels = np.zeros((20, 20), int)
    labels[2:6, 3:9] = 1
    boxes = masks_to_boxes(labels)
    assert boxes.tolist() == [[3.0, 2.0, 9.0, 6.0]]
    other = torch.tensor([[6.0, 2.0, 12.0, 6.0]])  # half overlapping: IoU = 12 / 36
    assert torch.allclose(box_iou(boxes, other), torch.tensor([[12 / 36]]))


def _brute_force_nms(boxes, scores, threshold):
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep = []
    for i in order:
        if all(float(box_iou(boxes[i : i + 1], boxes[j : j + 1])) <= threshold for j in keep):
            keep.append(i)
    return keep


def test_nms_matches_brute_force():
    gen = torch.Generator().manual_seed(3)
    for threshold in (0.1, 0.3, 0.7):
        xy = torch.rand(150, 2, generator=gen) * 100
        boxes = torch.cat([xy, xy + torch.rand(150, 2, generator=gen) * 30 + 1], dim=1)
        scores = torch.rand(150, generator=gen)
        assert nms(boxes, scores, threshold).tolist() == _brute_force_nms(boxes, scores, threshold)


def test_nms_empty():
    assert nms(torch.zeros((0, 4)), torch.zeros(0), 0.5).numel() == 0

import torch

from nuset_engine.anchors import generate_anchors, box_iou
from nuset_engine.rpn import propose_boxes, rpn_targets


def test_targets_mark_each_nucleus_best_anchor_and_sample_256():
    anchors = generate_anchors(20.0, 16, 16)
    gt = torch.tensor([[10.0, 10.0, 30.0, 30.0], [100.0, 50.0, 112.0, 90.0], [200.0, 200.0, 203.0, 204.0]])
    labels, targets = rpn_targets(anchors, gt, generator=torch.Generator().manual_seed(0))
    best = box_iou(anchors, gt).argmax(dim=0)
    assert (labels[best] == 1).all()  # even the tiny third box gets its best anchor
    assert (labels >= 0).sum() == 256
    assert (labels == 1).sum() <= 128
    # targets of positives decode back onto their boxes
    from nuset_engine.anchors import decode_boxes

    pos = labels == 1
    decoded = decode_boxes(targets[pos], anchors[pos])
    assert (box_iou(decoded, gt).max(dim=1).values > 0.999).all()


def test_targets_without_nuclei_are_all_negative():
    anchors = generate_anchors(20.0, 4, 4)
    labels, _ = rpn_targets(anchors, torch.zeros((0, 4)))
    assert set(labels.unique().tolist()) <= {0, -1}
    assert (labels == 0).sum() == 256


def test_propose_boxes_returns_the_confident_anchor():
    a, h, w = 21, 4, 4
    objectness = torch.full((a, h, w), -10.0)
    objectness[10, 1, 2] = 10.0  # anchor 10 (ratio 1, scale 1) of cell row 1, column 2
    deltas = torch.zeros((4 * a, h, w))
    boxes, scores = propose_boxes(objectness, deltas, 20.0, (64, 64), nms_threshold=0.1)
    assert scores[0] > 0.99
    assert torch.allclose(boxes[0], torch.tensor([30.0, 14.0, 50.0, 34.0]))  # centre (40, 24), 20x20

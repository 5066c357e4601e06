"""One cached segmenter per (model, device) for the bridge's Python process."""
from __future__ import annotations

_SEGMENTERS: dict = {}


def get_segmenter(model: str | None = None, device: str = "auto"):
    from nuset_engine import Segmenter

    key = (model, device)
    if key not in _SEGMENTERS:
        _SEGMENTERS[key] = Segmenter.load(model, device=device)
    return _SEGMENTERS[key]

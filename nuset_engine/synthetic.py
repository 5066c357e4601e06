"""Synthetic training images: nuclei-like blobs, touching and overlapping
pairs, and non-nuclear artefacts (the paper's generator, whose code was never
published, rebuilt from its description).

Each call is reproducible from its seed. Overlapping blobs are split in the
labels by a watershed seeded at the blob centres, as the paper describes.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import line_aa, polygon
from skimage.segmentation import relabel_sequential, watershed

__all__ = ["random_blob", "synthetic_image", "synthetic_dataset"]


def random_blob(rng: np.random.Generator, radius: float, n_vertices: int = 48) -> np.ndarray:
    """Vertices ``(n, 2)`` as (row, col) offsets of a smooth, irregular,
    elongated closed outline with mean radius ``radius`` pixels."""
    theta = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 4, 5):
        r += rng.normal(0, 0.12 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    elong = rng.uniform(1.0, 1.6)
    angle = rng.uniform(0, np.pi)
    y, x = r * np.sin(theta) * radius / np.sqrt(elong), r * np.cos(theta) * radius * np.sqrt(elong)
    ca, sa = np.cos(angle), np.sin(angle)
    return np.stack([ca * y + sa * x, -sa * y + ca * x], axis=1)


def _place_nuclei(rng, shape, mean_radius, density, overlap_fraction):
    """Centres and radii; a fraction of nuclei is placed touching/overlapping
    an earlier one, the rest avoid overlap."""
    h, w = shape
    n_target = int(density * h * w / (np.pi * mean_radius**2))
    centres, radii = [], []
    for _ in range(n_target * 4):
        if len(centres) >= n_target:
            break
        r = max(2.5, mean_radius * rng.uniform(0.7, 1.3))
        if centres and rng.random() < overlap_fraction:
            j = rng.integers(len(centres))
            d = (r + radii[j]) * rng.uniform(0.6, 0.95)
            a = rng.uniform(0, 2 * np.pi)
            c = centres[j] + d * np.array([np.sin(a), np.cos(a)])
            touching = True
        else:
            c = rng.uniform([0, 0], [h, w])
            touching = False
        if not (0 <= c[0] < h and 0 <= c[1] < w):
            continue
        dists = [np.hypot(*(c - q)) for q in centres]
        limit = 0.55 if touching else 1.05
        if any(dd < limit * (r + rq) for dd, rq in zip(dists, radii)):
            continue
        centres.append(c)
        radii.append(r)
    return centres, radii


def _add_artefacts(rng, image, mean_radius):
    h, w = image.shape
    art = np.zeros_like(image)
    for _ in range(rng.integers(0, 4)):  # irregular polygons (debris, dust)
        n = rng.integers(3, 8)
        rr, cc = polygon(*(rng.uniform(0, [h, w]) + rng.normal(0, mean_radius * 1.5, (n, 2))).T, shape=(h, w))
        art[rr, cc] += rng.uniform(0.2, 0.9)
    for _ in range(rng.integers(0, 4)):  # thin bright lines (fibres, scratches)
        r0, c0, r1, c1 = (rng.uniform(0, [h, w, h, w])).astype(int)
        rr, cc, val = line_aa(r0, c0, min(r1, h - 1), min(c1, w - 1))
        art[np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1)] += val * rng.uniform(0.3, 1.0)
    if rng.random() < 0.3:  # stripes (uneven illumination, scan artefacts)
        period = rng.uniform(8, 60)
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[:h, :w]
        art += rng.uniform(0.1, 0.4) * (np.sin((yy * np.cos(angle) + xx * np.sin(angle)) * 2 * np.pi / period) > 0.7)
    n_debris = rng.integers(0, 30)  # small dots, much smaller than nuclei
    rr = rng.integers(0, h, n_debris)
    cc = rng.integers(0, w, n_debris)
    art[rr, cc] += rng.uniform(0.3, 1.0, n_debris)
    return ndimage.gaussian_filter(art, 0.7)


def synthetic_image(seed: int, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic image and its instance labels.

    Parameters
    ----------
    seed : int
        Everything (size, nuclei, artefacts, noise) derives from it.
    shape : (H, W), optional
        Defaults to a random size with both sides in [256, 640] pixels.

    Returns
    -------
    image : (H, W) uint16 in [0, 4095] (12-bit camera-like)
    labels : (H, W) uint16 instance labels, 0 = background
    """
    rng = np.random.default_rng(seed)
    if shape is None:
        shape = tuple(int(v) for v in rng.integers(256, 641, 2))
    h, w = shape
    mean_radius = float(np.exp(rng.uniform(np.log(4), np.log(22))))
    centres, radii = _place_nuclei(rng, shape, mean_radius, rng.uniform(0.05, 0.35), rng.uniform(0.1, 0.5))

    union = np.zeros(shape, bool)
    signal = np.zeros(shape, np.float32)
    markers = np.zeros(shape, np.int32)
    base_brightness = rng.uniform(0.3, 1.0)
    for k, (c, r) in enumerate(zip(centres, radii), start=1):
        verts = random_blob(rng, r) + c
        rr, cc = polygon(verts[:, 0], verts[:, 1], shape=shape)
        if rr.size == 0:
            continue
        union[rr, cc] = True
        signal[rr, cc] += base_brightness * rng.uniform(0.4, 1.3)
        markers[int(np.clip(c[0], 0, h - 1)), int(np.clip(c[1], 0, w - 1))] = k
    markers[~union] = 0
    distance = ndimage.distance_transform_edt(union)
    labels = watershed(-distance, markers, mask=union)
    # Blobs whose centre marker was overwritten by a neighbour still need a label.
    orphans, _ = ndimage.label(union & (labels == 0))
    labels = np.where(orphans > 0, orphans + labels.max(), labels)

    texture = ndimage.gaussian_filter(rng.normal(0, 1, shape), rng.uniform(1, 3))
    signal *= 1 + rng.uniform(0, 0.6) * texture / (texture.std() + 1e-6) * 0.3
    image = signal + _add_artefacts(rng, signal, mean_radius)
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    image += rng.uniform(0, 0.15) * (1 + np.sin(yy * rng.uniform(0, 4) + xx * rng.uniform(0, 4)))  # uneven background
    image = ndimage.gaussian_filter(image, rng.uniform(0.5, 2.0))
    image += rng.normal(0, rng.uniform(0.005, 0.08), shape)
    image = np.clip(image, 0, None) * rng.uniform(300, 3500)
    labels, _, _ = relabel_sequential(labels.astype(np.int32))
    return np.clip(image, 0, 4095).astype(np.uint16), labels.astype(np.uint16)


def synthetic_dataset(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` synthetic ``(image, labels)`` pairs, image ``i`` seeded ``seed + i``."""
    return [synthetic_image(seed + i) for i in range(n)]

"""Training data: pairing images with their annotations, the fixed validation split,
augmentation, and the torch dataset that feeds :mod:`nuset_engine.train`."""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from skimage.segmentation import relabel_sequential
from skimage.transform import resize

from .anchors import anchor_base_size, generate_anchors, masks_to_boxes
from .annotations import PAIRING_RULE, annotated_stems, label_image_instances, read_annotation
from .colour import InputMismatchError, ModelInput, prepare_input
from .io import read_image, to_grayscale
from .network import STRIDE
from .normalize import foreground_normalize, whole_image_normalize
from .rpn import rpn_targets
from .weights import centre_distance, unet_weight_map

__all__ = ["is_validation", "split_pairs", "find_pairs", "load_pairs", "as_instance_labels", "augment", "NuSeTDataset"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def is_validation(image_id: str, fraction: float = 0.1) -> bool:
    """The fixed validation split: an image is held out when the first 8 hex
    digits of SHA-1(id), as a fraction of 2**32, fall below ``fraction``.
    Independent of file order and of which other images exist."""
    return int(hashlib.sha1(image_id.encode()).hexdigest()[:8], 16) / 2**32 < fraction


def split_pairs(pairs, fraction: float = 0.1) -> tuple[list, list]:
    """``(training, validation)``: the ``(id, ...)`` tuples of ``pairs`` on
    each side of the fixed split (:func:`is_validation`), order kept."""
    held_out = [is_validation(p[0], fraction) for p in pairs]
    return [p for p, v in zip(pairs, held_out) if not v], [p for p, v in zip(pairs, held_out) if v]


def find_pairs(images_dir: str | Path, labels_dir: str | Path) -> list[tuple[str, Path, Path]]:
    """The images of a folder paired with their annotations.

    Parameters
    ----------
    images_dir : str or Path
        The images (:data:`IMAGE_SUFFIXES`).
    labels_dir : str or Path
        Their annotations, named after them
        (:data:`~nuset_engine.annotations.PAIRING_RULE`): label images or
        masks ``<name>.tif``, ``<name>_labels.tif``, ``<name>_masks.tif``;
        ImageJ ROI sets ``<name>.zip``, ``<name>_rois.zip``,
        ``<name>_RoiSet.zip``, ``<name>.roi``. May be ``images_dir`` itself
        (then annotation files are not taken for images).

    Returns
    -------
    list of (str, Path, Path)
        ``(id, image_path, annotation_path)`` with ``id`` the image's stem,
        in file name order. Images without an annotation are left out, with
        a ``UserWarning`` naming them.

    Raises
    ------
    ValueError
        No image has an annotation (the message gives the pairing rule and
        the files found), or an image has two candidate annotations
        (naming both).
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    images = [p for p in sorted(images_dir.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    stems = {}
    for image in images:
        stems.setdefault(image.stem, set()).add(image.resolve())
    partners = {}
    for path in sorted(p for p in labels_dir.iterdir() if p.is_file()):
        # the likeliest image a file annotates: "a_labels.tif" is a_labels's if there is one, else a's
        stem = next((s for s in annotated_stems(path.name) if s in stems and path.resolve() not in stems[s]), None)
        if stem is not None:
            partners.setdefault(stem, []).append(path)
    claimed = {p.resolve() for files in partners.values() for p in files}
    images = [p for p in images if p.resolve() not in claimed]  # one folder for both: annotations are no images
    twice = [p for p in images if len(partners.get(p.stem, ())) > 1]
    if twice:
        first = " and ".join(str(p) for p in partners[twice[0].stem])
        more = f" (and {len(twice) - 1} more: {_some([p.name for p in twice[1:]])})" if len(twice) > 1 else ""
        raise ValueError(f"{twice[0]}: two annotation files match it: {first}{more}; keep one per image (move the "
                         f"other out of {labels_dir})")
    pairs = [(p.stem, p, partners[p.stem][0]) for p in images if p.stem in partners]
    unpaired = [p.name for p in images if p.stem not in partners]
    if not pairs:
        found = sorted(p.name for p in labels_dir.iterdir() if p.is_file())
        raise ValueError(f"no image in {images_dir} has an annotation in {labels_dir}. {PAIRING_RULE} Images: "
                         f"{_some(unpaired) or 'none'}. Files in {labels_dir}: {_some(found) or 'none'}.")
    if unpaired:
        warnings.warn(f"{len(unpaired)} of {len(images)} images in {images_dir} have no annotation in {labels_dir} "
                      f"and are left out: {_some(unpaired)}. {PAIRING_RULE}", UserWarning, stacklevel=2)
    return pairs


def _some(names, n=5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def as_instance_labels(labels: np.ndarray) -> np.ndarray:
    """Instance labels from instance or binary label images (binary masks are
    split into 8-connected components; see
    :func:`~nuset_engine.annotations.label_image_instances`; all-zero labels
    are returned as they are)."""
    return label_image_instances(labels, allow_empty=True)


def _training_plane(image: np.ndarray, input_kind: str | None, source: str) -> np.ndarray:
    """The plane of an image that a model of ``input_kind`` is trained on (see :func:`load_pairs`)."""
    if input_kind is None:
        return to_grayscale(image, source=source)
    model = ModelInput(input_kind)
    if not (model.colour or (image.ndim == 3 and image.shape[-1] in (3, 4))):
        image = to_grayscale(image, source=source)  # size-1 axes dropped, stacks refused
    return np.asarray(prepare_input(image, model, source))


def load_pairs(pairs, input_kind: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(image, instance labels)`` for the ``(id, image_path, label_path)``
    tuples of :func:`find_pairs`: each image as the 2-D plane a model of
    ``input_kind`` sees (:func:`~nuset_engine.colour.prepare_input`: gray,
    inverted gray, or the haematoxylin plane of RGB; an image of the wrong
    kind is refused); without ``input_kind``, RGB images as luminance
    (:func:`~nuset_engine.io.to_grayscale`, as before input kinds existed)
    and gray as they are. Annotations (label images, masks,
    ImageJ ROI sets) read by :func:`~nuset_engine.annotations.read_annotation`
    at their image's shape. Raises ValueError naming the file and the fix.

    An annotation that marks no nucleus (an empty ROI set, an all-background
    label image) gives a background-only sample, with a ``UserWarning``
    naming it: such images teach the network what is not a nucleus, but may
    also be a mistake."""
    samples, empty = [], []
    for _, image_path, label_path in pairs:
        image = read_image(image_path)
        try:
            image = _training_plane(image, input_kind, str(image_path))
        except InputMismatchError:
            raise
        except ValueError as exc:  # no --channel here: the fix is in the file
            raise ValueError(f"{exc}; for training and evaluation, save the nuclear channel as a single-plane "
                             "image") from exc
        labels = read_annotation(label_path, image.shape, image_path=image_path, allow_empty=True)
        if not labels.any():
            empty.append(str(label_path))
        samples.append((image, labels))
    if empty:
        warnings.warn(f"{len(empty)} of {len(samples)} annotations mark no nucleus, and their images are used as "
                      f"background only: {_some(empty)}; if they have nuclei, annotate them or leave them out",
                      UserWarning, stacklevel=2)
    return samples


def _mirror_pad(image, labels, pad):
    """Symmetric padding of an image and its labels; each mirrored copy of a
    nucleus gets an id of its own (copies sharing an id would be one object
    to the box, weight and distance targets)."""
    (top, bottom), (left, right) = pad
    h, w = labels.shape
    image, labels = np.pad(image, pad, mode="symmetric"), np.pad(labels, pad, mode="symmetric")
    rows = np.arange(-top, h + bottom) // h  # which mirrored copy each row and column lies in
    cols = np.arange(-left, w + right) // w
    rows, cols = rows - rows.min(), cols - cols.min()
    copy = rows[:, None] * (cols.max() + 1) + cols[None, :]
    key = np.where(labels > 0, labels.astype(np.int64) * int(copy.max() + 1) + copy + 1, 0)
    return image, relabel_sequential(key)[0].astype(np.int32)


def _random_crop(rng, image, labels, size):
    """A ``size x size`` window covering ``size`` pixels of the image (padded
    symmetrically when the image is smaller)."""
    h, w = image.shape
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph or pw:
        image, labels = _mirror_pad(image, labels, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
        h, w = image.shape
    r, c = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    return image[r : r + size, c : c + size], labels[r : r + size, c : c + size]


def acquisition(rng, image: np.ndarray) -> np.ndarray:
    """Imitate other microscopes on an image scaled to about 0-1: with
    probability 1/2 a raised background (camera offset, up to 0.5), Gaussian
    noise (s.d. up to 0.05) and an illumination ramp across the image (one
    side at 30-100% of the other)."""
    if rng.random() >= 0.5:
        return image
    h, w = image.shape
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * np.linspace(-0.5, 0.5, h)[:, None] + np.sin(angle) * np.linspace(-0.5, 0.5, w)[None, :]
    low = rng.uniform(0.3, 1.0)
    gain = low + (1 - low) * (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    noise = rng.normal(0.0, rng.uniform(0, 0.05), image.shape)
    return (image * gain + rng.uniform(0, 0.5) + noise).astype(np.float32)


def augment(rng, image, labels, crop_size=256, scale_range=(0.5, 2.0), rotate=True, camera=False):
    """Random scale (log-uniform in ``scale_range``), crop, flips, 90-degree
    and small rotations, and intensity (gamma, gain) changes; with ``camera``,
    also :func:`acquisition` (background, noise, uneven illumination).

    Returns float32 image and int32 labels of shape ``(crop_size, crop_size)``.
    """
    scale = float(np.exp(rng.uniform(*np.log(scale_range))))
    window = max(int(round(crop_size / scale)), 8)
    image, labels = _random_crop(rng, image.astype(np.float32), labels, window)
    if window != crop_size:
        image = resize(image, (crop_size, crop_size), order=1, preserve_range=True, anti_aliasing=scale < 1)
        labels = resize(labels, (crop_size, crop_size), order=0, preserve_range=True, anti_aliasing=False)
    k = rng.integers(4)
    image, labels = np.rot90(image, k), np.rot90(labels, k)
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    if rotate and rng.random() < 0.3:
        angle = rng.uniform(-15, 15)
        image = ndimage.rotate(image, angle, reshape=False, order=1, mode="reflect")
        labels = ndimage.rotate(labels, angle, reshape=False, order=0, mode="reflect")
    lo, hi = float(image.min()), float(image.max())
    if hi > lo:
        image = (image - lo) / (hi - lo)
        image = image ** rng.uniform(0.6, 1.6) * rng.uniform(0.5, 2.0)
    if camera:
        image = acquisition(rng, image)
    return np.ascontiguousarray(image, np.float32), np.ascontiguousarray(labels, np.int32)


class NuSeTDataset(torch.utils.data.Dataset):
    """Random augmented crops with every training target.

    Each item is a dict: ``image`` ``(1, S, S)`` float32 (normalized),
    ``target`` ``(S, S)`` int64, ``distance`` ``(S, S)`` float32 (with
    ``distance``: :func:`~nuset_engine.weights.centre_distance`), ``weights`` ``(S, S)`` float32,
    ``rpn_labels`` ``(N,)`` int64 and ``rpn_targets`` ``(N, 4)`` float32 with
    ``N = (S/16)**2 * 21``.

    Parameters
    ----------
    samples : list of (image, instance labels) pairs.
    length : items per epoch (crops are random, so any length works).
    normalization : "foreground" (from the ground truth, NuSeT pass 2),
        "whole" (pass 1), or "both" (each crop picks one at random, so a
        single weight set serves both passes).
    distance : add the centre-distance target.
    camera : add the :func:`acquisition` augmentation.
    matched_fraction : fraction of crops scaled so that their image's median
        nucleus (:func:`~nuset_engine.anchors.anchor_base_size`) is
        ``matched_size`` times a factor drawn log-uniformly from
        ``matched_range``, the scale at which the segmenter's auto-scaling
        runs the network on any image; the other crops use ``scale_range``
        around the image's own scale (what pass 1 sees).
    matched_size : the training nucleus size in pixels (required with
        ``matched_fraction``).
    """

    def __init__(self, samples, length, crop_size=256, normalization="both", scale_range=(0.5, 2.0), seed=0,
                 distance=False, camera=False, matched_fraction=0.0, matched_size=None, matched_range=(0.67, 1.75)):
        if crop_size % STRIDE:
            raise ValueError(f"crop_size must be a multiple of {STRIDE}")
        if not 0 <= matched_fraction <= 1:
            raise ValueError(f"matched_fraction must be between 0 and 1, got {matched_fraction}")
        if matched_fraction and not (matched_size and matched_size > 0):
            raise ValueError("matched_fraction needs the training nucleus size (matched_size, pixels)")
        self.samples, self.length, self.crop_size = samples, length, crop_size
        self.normalization, self.scale_range, self.seed = normalization, scale_range, seed
        self.distance, self.camera = distance, camera
        self.matched_fraction, self.matched_size, self.matched_range = matched_fraction, matched_size, matched_range
        # each image's nucleus size, measured once (only needed for matched crops)
        self._sizes = [anchor_base_size(samples[i][1]) for i in range(len(samples))] if matched_fraction else None
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        which = rng.integers(len(self.samples))
        image, labels = self.samples[which]
        scale_range = self.scale_range
        if self.matched_fraction and rng.random() < self.matched_fraction:
            base = self.matched_size / self._sizes[which]
            scale_range = (base * self.matched_range[0], base * self.matched_range[1])
        image, labels = augment(rng, image, labels, self.crop_size, scale_range, camera=self.camera)
        use_fg = self.normalization == "foreground" or (self.normalization == "both" and rng.random() < 0.5)
        image = foreground_normalize(image, labels) if use_fg else whole_image_normalize(image)
        feat = self.crop_size // STRIDE
        anchors = generate_anchors(anchor_base_size(labels), feat, feat, STRIDE)
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        rpn_labels, rpn_tgts = rpn_targets(anchors, masks_to_boxes(labels), generator=gen)
        item = {
            "image": torch.from_numpy(image)[None],
            "target": torch.from_numpy((labels > 0).astype(np.int64)),
            "weights": torch.from_numpy(unet_weight_map(labels)),
            "rpn_labels": rpn_labels,
            "rpn_targets": rpn_tgts,
        }
        if self.distance:
            item["distance"] = torch.from_numpy(centre_distance(labels))
        return item

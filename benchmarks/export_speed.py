"""One network pass of the exported model: PyTorch f32 against ONNX Runtime f32.

Usage: python benchmarks/export_speed.py [--size 1024] [--repeats 5] [--model PATH]
           [--accuracy IMAGES LABELS]

Exports the model (`nuset_engine.export.export_model`, format onnx) to a
temporary folder, then times one pass over a ``size`` x ``size`` input (the
bundled sample tiled, normalized as NuSeT's pass 1), all outputs (maps and
RPN), after one warm-up, best of ``repeats`` taken in turns:

- PyTorch, the exported module as is (``MapsNetwork``, batch norm unfolded);
- PyTorch as NuSeT runs it (``Segmenter.net``: batch norm folded,
  channels-last input);
- ONNX Runtime, CPU provider, all graph optimizations, as many threads as torch.

Prints the CPU (model name and vector flags from /proc/cpuinfo), versions and
thread count, then one Markdown table row per runtime.

``--accuracy IMAGES LABELS`` also scores, on the fixed validation split of
that set, what users of the exported maps get (the foreground probability
thresholded at 0.5, one nucleus per connected region; and the same split by
a watershed seeded where the centre distance exceeds 0.3) beside NuSeT's
own labels: AP50 and F1 at IoU 0.5, pooled over the images.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_description, validation_samples  # noqa: E402

import nuset_engine  # noqa: E402
from nuset_engine import Segmenter  # noqa: E402
from nuset_engine.export import MapsNetwork, export_model  # noqa: E402
from nuset_engine.model_io import load_model  # noqa: E402
from nuset_engine.normalize import whole_image_normalize  # noqa: E402


def best_times(runs: dict, repeats: int) -> dict[str, float]:
    """The best of ``repeats`` seconds of each run, after a warm-up, the runs
    taking turns (a shared machine's load then weighs on all alike)."""
    best = {}
    for name, run in runs.items():
        run()
        best[name] = float("inf")
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def speed(model: str | None, size: int, repeats: int) -> None:
    import onnxruntime

    sample = tifffile.imread(nuset_engine.SAMPLE_IMAGE)
    image = np.tile(sample, (size // sample.shape[0] + 1, size // sample.shape[1] + 1))[:size, :size]
    x = whole_image_normalize(image)[None, None]
    net, _ = load_model(model)
    exported = MapsNetwork(net, rpn=True).eval()
    segmenter = Segmenter.load(model, device="cpu", backend="f32")
    threads = torch.get_num_threads()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory() as folder:
        path = export_model(model, Path(folder) / "model.onnx", "onnx")
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    tensor = torch.from_numpy(x)
    channels_last = tensor.contiguous(memory_format=torch.channels_last)

    def torch_pass(module, data):
        def run():
            with torch.inference_mode():
                module(data)
        return run

    print(f"{cpu_description()}; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"{threads} threads; input 1x1x{size}x{size} float32, best of {repeats}")
    print("| runtime | s/pass |")
    print("|---|---|")
    runs = {"PyTorch f32, exported module (batch norm unfolded)": torch_pass(exported, tensor),
            "PyTorch f32, as NuSeT runs it (batch norm folded, channels-last)":
                torch_pass(segmenter.net, channels_last),
            "ONNX Runtime f32 (CPU provider)": lambda: session.run(None, {"input": x})}
    for name, seconds in best_times(runs, repeats).items():
        print(f"| {name} | {seconds:.3f} |")


def accuracy(model: str | None, images: str, labels: str) -> None:
    from scipy import ndimage
    from skimage.segmentation import watershed

    from nuset_engine.metrics import evaluate_pair, pool
    from nuset_engine.network import STRIDE
    from nuset_engine.sizes import CORE_LEVEL

    net, _ = load_model(model)
    module = MapsNetwork(net).eval()
    segmenter = Segmenter.load(model, device="cpu", backend="f32")
    _, samples = validation_samples(images, labels)
    results = {"thresholded maps": [], "thresholded maps + centre-distance watershed": [], "NuSeT": []}
    for image, truth in samples:
        h, w = image.shape
        normalized = whole_image_normalize(image)
        padded = np.pad(normalized, ((0, -h % STRIDE), (0, -w % STRIDE)), mode="symmetric")
        with torch.inference_mode():
            maps = module(torch.from_numpy(padded)[None, None])[0, :, :h, :w].numpy()
        mask = maps[0] > 0.5
        results["thresholded maps"].append(evaluate_pair(truth, ndimage.label(mask)[0]))
        if len(maps) > 1:
            seeds = ndimage.label(mask & (maps[1] > CORE_LEVEL))[0]
            split = watershed(-maps[1], seeds, mask=mask)
            results["thresholded maps + centre-distance watershed"].append(evaluate_pair(truth, split))
        results["NuSeT"].append(evaluate_pair(truth, segmenter.segment(image)))
    print(f"validation split of {images}: {len(samples)} images")
    print("| labels from | AP50 | F1@0.5 |")
    print("|---|---|---|")
    for name, pairs in results.items():
        if pairs:
            scores = pool(pairs)
            print(f"| {name} | {scores['ap@0.50']:.3f} | {scores['f1@0.50']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="input side, pixels (a multiple of 16)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default=None, help="model file (default: the shipped model)")
    parser.add_argument("--accuracy", nargs=2, metavar=("IMAGES", "LABELS"), default=None)
    args = parser.parse_args()
    speed(args.model, args.size, args.repeats)
    if args.accuracy:
        accuracy(args.model, *args.accuracy)


if __name__ == "__main__":
    main()

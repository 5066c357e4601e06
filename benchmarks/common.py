"""What the benchmark scripts share: the fixed validation split's images and
the models named on their command lines."""
from __future__ import annotations

from nuset_engine import Segmenter
from nuset_engine.data import find_pairs, load_pairs, split_pairs


def validation_samples(images: str, labels: str, fraction: float = 0.1):
    """``(pairs, samples)``: the validation split's ``(id, image path, label
    path)`` and its loaded ``(image, labels)`` arrays, in the same order."""
    pairs = split_pairs(find_pairs(images, labels), fraction)[1]
    return pairs, load_pairs(pairs)


def named_model(spec: str) -> tuple[str, Segmenter]:
    """``NAME=PATH`` → ``(NAME, segmenter on the CPU)``; PATH ``default`` (or
    empty) is the shipped model."""
    name, _, path = spec.partition("=")
    return name, Segmenter.load(None if path in ("", "default") else path, device="cpu")


def cpu_description() -> str:
    """The CPU's model name and the vector flags that change float results
    and speed (from /proc/cpuinfo; the platform's name elsewhere)."""
    import platform

    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
    return f"{fields.get('model name', platform.machine())} [{' '.join(f for f in wanted if f in flags)}]"

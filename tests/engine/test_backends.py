"""Inference backends: float32 (the reference) and bfloat16, and what
``"auto"`` picks on which CPU."""
import numpy as np
import pytest
import torch

from nuset_engine import Segmenter, backends
from nuset_engine.metrics import evaluate_pair, matching_counts, pool


@pytest.fixture
def crop(sample):
    return np.ascontiguousarray(sample[0][:256, :256])


def test_auto_never_picks_bf16_without_native_support(monkeypatch):
    """A CPU without AVX512-BF16/AMX (e.g. AMD EPYC Zen 3) emulates bfloat16,
    slower than float32: auto stays float32 there. (The CPU's flags are
    replaced here: the test must tell both kinds of CPU apart on either.)"""
    cpu = torch.device("cpu")
    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset({"avx2", "fma", "avx512f"}))
    assert not backends.native_bf16()
    assert backends.resolve_backend("auto", cpu) == "f32"
    monkeypatch.setattr(backends, "_cpu_flags", lambda: frozenset({"avx2", "avx512_bf16", "amx_bf16"}))
    if backends.platform.machine().lower() in ("x86_64", "amd64"):
        assert backends.native_bf16()
        assert backends.resolve_backend("auto", cpu) == backends.AUTO_ON_NATIVE_BF16
    assert backends.resolve_backend("auto", torch.device("cuda")) == "f32"
    assert backends.resolve_backend("bf16", cpu) == "bf16" and backends.resolve_backend("f32", cpu) == "f32"


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="unknown backend .fp8.; use one of auto, f32, bf16, openvino"):
        Segmenter.load(device="cpu", backend="fp8")


def test_f32_is_the_reference_and_bf16_stays_close(crop):
    f32 = Segmenter.load(device="cpu", backend="f32")
    bf16 = Segmenter.load(device="cpu", backend="bf16")
    assert (f32.backend, bf16.backend) == ("f32", "bf16")
    z = (crop - crop.mean()) / crop.std()
    reference, close = f32.network_maps(z.astype(np.float32))[0], bf16.network_maps(z.astype(np.float32))[0]
    difference = np.abs(reference - close)
    # 16-bit arithmetic: close, not equal (float32 itself is deterministic on one machine)
    assert 0 < difference.max() < 0.1 and difference.mean() < 0.005
    assert np.array_equal(f32.network_maps(z.astype(np.float32))[0], reference)
    labels, reference_labels = bf16.segment(crop), f32.segment(crop)
    assert pool([evaluate_pair(reference_labels, labels)])["ap@0.50"] > 0.9
    matched = matching_counts(reference_labels, labels, thresholds=(0.5,))[0.5]["tp"]
    assert matched >= 0.9 * reference_labels.max()


def test_shared_models_are_kept_per_backend():
    Segmenter.release_shared()
    try:
        f32, bf16 = Segmenter.shared(None, "cpu", "f32"), Segmenter.shared(None, "cpu", "bf16")
        assert f32 is not bf16 and Segmenter.shared(None, "cpu", "f32") is f32
    finally:
        Segmenter.release_shared()


def test_openvino_gives_float32s_labels(crop, segmenter):
    pytest.importorskip("openvino")
    openvino = Segmenter.load(device="cpu", backend="openvino")
    f32 = Segmenter.load(device="cpu", backend="f32")
    assert openvino.backend == "openvino"
    z = ((crop - crop.mean()) / crop.std()).astype(np.float32)
    assert np.abs(openvino.network_maps(z)[0] - f32.network_maps(z)[0]).max() < 1e-3  # float32 both
    labels, reference = openvino.segment(crop), f32.segment(crop)
    assert matching_counts(reference, labels, thresholds=(0.9,))[0.9]["tp"] >= 0.98 * reference.max() > 5


def test_openvino_missing_or_on_a_gpu_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "openvino", None)  # as where the extra is not installed
    with pytest.raises(ModuleNotFoundError, match=r'openvino backend needs OpenVINO: pip install "nuset\[openvino\]"'):
        Segmenter.load(device="cpu", backend="openvino")
    with pytest.raises(ValueError, match="the openvino backend runs on the CPU"):
        backends.resolve_backend("openvino", torch.device("cuda"))


def test_openvino_keeps_its_conversion_in_the_users_cache(tmp_path, monkeypatch, crop):
    """The conversion takes seconds: it is done once per model and OpenVINO
    version, kept in NUSET_CACHE_DIR, and read back by the next load."""
    pytest.importorskip("openvino")
    monkeypatch.setenv("NUSET_CACHE_DIR", str(tmp_path))
    first = Segmenter.load(device="cpu", backend="openvino")
    assert [p.suffix for p in sorted((tmp_path / "openvino").iterdir())] == [".bin", ".xml"]

    def no_conversion(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(backends, "_convert", no_conversion)
    again = Segmenter.load(device="cpu", backend="openvino")
    assert np.array_equal(again.segment(crop), first.segment(crop))

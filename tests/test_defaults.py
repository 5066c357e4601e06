"""The three wrappers expose the engine's parameters with the engine's
defaults. The CellProfiler module and the Java command cannot import the
engine at load time (no torch needed to list them), so their defaults are
written out; this test keeps them equal to Segmenter.segment's."""
import inspect
import re
from pathlib import Path

from cli._common import SEGMENT_OPTIONS
from nuset_engine import Segmenter

ROOT = Path(__file__).resolve().parents[1]
ENGINE = {k: p.default for k, p in inspect.signature(Segmenter.segment).parameters.items()
          if p.default is not inspect.Parameter.empty}


def test_cli_defaults():
    import click

    @click.command()
    def probe(**kw):
        pass

    for option in SEGMENT_OPTIONS:
        probe = option(probe)
    for param in probe.params:
        if param.name in ENGINE:
            assert param.default == ENGINE[param.name], param.name


def test_cellprofiler_defaults():
    source = (ROOT / "cellprofiler_plugin" / "runnuset.py").read_text()
    for label, name in (("Minimum box score", "min_score"), ("Proposal overlap threshold \\(NMS\\)", "nms_threshold"),
                        ("Smallest object, as a fraction of the mean nucleus area", "min_size_fraction")):
        value = re.search(rf'"{label}", ([0-9.]+),', source).group(1)
        assert float(value) == ENGINE[name], name
    # the pass choice defaults to the engine's None: as the model was trained
    assert ENGINE["two_pass"] is None
    assert re.search(r'PASSES = \{"As the model was trained": None,', source)
    assert re.search(r'"Foreground-normalization pass", list\(PASSES\), "As the model was trained"', source)


def test_fiji_defaults():
    source = (ROOT / "fiji_bridge" / "java" / "nuset" / "Bridge.java").read_text()
    for field, name in (("minScore", "min_score"), ("nmsThreshold", "nms_threshold"),
                        ("minSizeFraction", "min_size_fraction")):
        assert float(re.search(rf"{field} = ([0-9.]+)", source).group(1)) == ENGINE[name], name
    assert re.search(r'PASSES = \{"as_trained", "one", "two"\};\s+String passes = PASSES\[0\];', source)

"""Every wrapper offers the engine's options as the option table
(nuset_engine/options.py) declares them, and leans on no other wrapper.

The click CLI and the Fiji command build their options from the table;
the Fiji plugin's dialog and macro keys are generated from it when its jar
is built (tests/fiji runs them in a real ImageJ); the pyimagej functions
pass them to the engine, which checks them; the CellProfiler module's
settings are checked against it in tests/cellprofiler/test_module.py.
"""
import ast
from pathlib import Path

import click
import numpy as np
import pytest

from nuset_engine.options import INPUT_OPTIONS, OPTIONS, SEGMENT_OPTIONS, OptionError, SegmentOptions, option

ROOT = Path(__file__).resolve().parents[1]


def _params(command: click.Command) -> dict:
    return {p.name: p for p in command.params}


@pytest.mark.parametrize("command_name", ["segment", "evaluate"])
def test_cli_options_are_the_table(command_name):
    from nuset_cli.main import cli

    params = _params(cli.commands[command_name])
    table = [o for o in SEGMENT_OPTIONS if "cli" in o.hosts]
    if command_name == "segment":
        table += [o for o in INPUT_OPTIONS if "cli" in o.hosts]
    for entry in table:
        param = params[entry.name]
        assert param.opts == [entry.flag] and param.default == entry.default, entry.name
        if entry.kind == "flag":
            assert param.secondary_opts == [f"--no-{entry.flag[2:]}"]
        if entry.kind in ("number", "integer"):
            assert (param.type.min, param.type.max, param.type.min_open) == (entry.minimum, entry.maximum,
                                                                            entry.min_open), entry.name
        assert entry.help in param.help
    # the engine-only option is not offered
    assert "auto_scale" not in params


def test_fiji_command_takes_the_table_options_as_text():
    from fiji_bridge import command

    params = _params(command.main)
    fiji = [o for o in SEGMENT_OPTIONS if "fiji" in o.hosts]
    assert [o.name for o in fiji] == [n for n in params if n in {o.name for o in SEGMENT_OPTIONS}]
    texts = {o.name: None for o in fiji} | {"min_score": "0.9", "two_pass": "one", "watershed": "false",
                                              "nucleus_diameter": "0", "tile_size": "512"}
    assert command.parse_params(texts) == {"min_score": 0.9, "two_pass": False, "watershed": False,
                                           "nucleus_diameter": None, "tile_size": 512}
    with pytest.raises(OptionError, match="min_score must be between 0 and 1"):
        command.parse_params(texts | {"min_score": "1.5"})


def test_fiji_dialog_and_macro_keys_are_generated_from_the_table():
    from fiji_bridge.build import options_java

    source = options_java()
    fiji = [o for o in SEGMENT_OPTIONS if "fiji" in o.hosts]
    names = source.split("NAME = {")[1].split("}")[0]
    keys = source.split("KEY = {")[1].split("}")[0]
    assert names == ", ".join(f'"{o.name}"' for o in fiji)
    # the macro keys of earlier releases are kept
    assert keys == ", ".join(f'"{o.key}"' for o in fiji)
    assert '"no_watershed"' in keys and '"passes"' in keys and '"tile_size"' in keys
    # the hand-written Java declares no option or default of its own (it keeps
    # tile_size's validator, a special widget, and the old single_pass key)
    bridge = (ROOT / "fiji_bridge" / "java" / "nuset" / "Bridge.java").read_text()
    for entry in fiji:
        if entry.kind == "number" and entry.default is not None:
            assert repr(entry.default) not in bridge, entry.name
        assert f'"{entry.key}"' not in bridge or entry.key in ("passes", "tile_size"), entry.key


def test_pyimagej_functions_document_and_check_the_options(segmenter, sample):
    from fiji_bridge import imagej1, pyimagej

    for function in (pyimagej.segment, imagej1.segment_imageplus):
        for entry in (o for o in SEGMENT_OPTIONS if "pyimagej" in o.hosts):
            assert f"    {entry.name} : " in function.__doc__, (function.__name__, entry.name)
    with pytest.raises(OptionError, match="min_score must be between 0 and 1"):
        pyimagej.segment(None, sample[0], min_score=2)
    with pytest.raises(TypeError, match="unknown segmentation option.*minscore"):
        pyimagej.segment(None, sample[0], minscore=0.9)
    labels = pyimagej.segment(None, sample[0][:192, :192], two_pass=False, min_score=0.9)
    assert np.array_equal(labels, segmenter.segment(sample[0][:192, :192], SegmentOptions(two_pass=False,
                                                                                          min_score=0.9)))


def _imports(package: str) -> dict[str, set[str]]:
    """{module file: top-level names it imports (absolute and relative-resolved)}."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


WRAPPERS = {"cli", "fiji_bridge", "cellprofiler_plugin"}


def test_wrappers_import_only_the_engine():
    """No wrapper imports another, except the CLI's two install commands,
    which put the other wrappers' files in place (they run no segmentation)."""
    allowed = {"cli/fiji.py": {"fiji_bridge"}, "cli/cellprofiler.py": {"cellprofiler_plugin"}}
    for package in WRAPPERS:
        for module, names in _imports(package).items():
            others = (names & WRAPPERS) - {package}
            assert others <= allowed.get(module, set()), (module, others)
    for module, names in _imports("nuset_engine").items():
        assert not names & (WRAPPERS | {"click", "cellprofiler_core", "imagej", "scyjava"}), module


def test_no_private_name_crosses_engine_modules():
    for path in sorted((ROOT / "nuset_engine").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("nuset_engine")):
                private = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
                assert not private, (path.name, node.module, private)


def test_every_option_has_a_place_in_each_host_it_names():
    for entry in OPTIONS:
        assert set(entry.hosts) <= {"cli", "cellprofiler", "fiji", "pyimagej"}, entry.name
    assert option("auto_scale").hosts == ()  # engine API only

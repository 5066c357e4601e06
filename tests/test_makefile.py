"""How the test suites run.

`make test` on the real Makefile: the three suites (main, CellProfiler,
dependency floors) all run even when one fails, and the exit status reports a
failure of any. The suites' commands are replaced by small scripts through
the Makefile's variables (MAIN_PYTEST, CP_PYTEST, FLOORS_PYTEST), and their
install prerequisites are emptied (MAIN_DEPS, CP_DEPS, FLOORS_DEPS), so
nothing is installed or built here (in CI this runs inside the main suite,
before .venv-cellprofiler and .venv-floors exist).

The CellProfiler tests, given to pytest in an environment without
CellProfiler: skipped cleanly, unless NUSET_REQUIRE_CELLPROFILER=1.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _env():
    # this test may itself run under `make test`: keep the outer make's flags,
    # variable overrides and jobserver out of the inner one
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES")}
    env.pop("NUSET_REQUIRE_CELLPROFILER", None)
    return env


def _suite(tmp_path, name, status):
    """A stand-in for one suite's pytest command: records that it ran (and
    with which NUSET_REQUIRE_CELLPROFILER), then exits with ``status``."""
    script = tmp_path / f"{name}.sh"
    script.write_text(f'#!/bin/sh\necho "{name} ${{NUSET_REQUIRE_CELLPROFILER:-unset}}" >> "{tmp_path}/ran"\n'
                      f"exit {status}\n")
    script.chmod(0o755)
    return script


SUITES = (("test-main", "main"), ("test-cellprofiler", "cellprofiler"), ("test-floors", "floors"))


def _make(tmp_path, *args, main_status=0, cp_status=0, floors_status=0):
    variables = [f"MAIN_PYTEST={_suite(tmp_path, 'main', main_status)}", "MAIN_DEPS=",
                 f"CP_PYTEST={_suite(tmp_path, 'cellprofiler', cp_status)}", "CP_DEPS=",
                 f"FLOORS_PYTEST={_suite(tmp_path, 'floors', floors_status)}", "FLOORS_DEPS="]
    result = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args, *variables],
                            capture_output=True, text=True, env=_env(), timeout=60)
    ran = (tmp_path / "ran").read_text().splitlines() if (tmp_path / "ran").exists() else []
    return result, ran


@needs_make
def test_the_suite_commands_and_prerequisites_are_make_variables(tmp_path):
    """Dry run (nothing executed): with the variables set, `make test-main`,
    `make test-cellprofiler` and `make test-floors` run just the given
    commands. This also keeps the tests below from installing anything should
    the variables go away."""
    for target, name in SUITES:
        result, ran = _make(tmp_path, "-n", target)
        assert result.returncode == 0, result.stderr
        assert ran == []
        commands = result.stdout.strip().splitlines()
        assert len(commands) == 1 and commands[0].endswith(f"{tmp_path / name}.sh"), result.stdout


@needs_make
@pytest.mark.parametrize("statuses", [(0, 0, 0), (3, 0, 0), (0, 4, 0), (0, 0, 5), (3, 4, 5)])
def test_make_test_runs_every_suite_and_fails_if_any_fails(tmp_path, statuses):
    dry, _ = _make(tmp_path, "-n", "test-main")
    assert dry.stdout.strip().endswith("main.sh"), "the Makefile would run the real suite: " + dry.stdout
    result, ran = _make(tmp_path, "test", main_status=statuses[0], cp_status=statuses[1], floors_status=statuses[2])
    # the main suite first, then CellProfiler's (with missing CellProfiler a failure), then the floors',
    # whatever the ones before did
    assert ran == ["main unset", "cellprofiler 1", "floors unset"], (ran, result.stdout, result.stderr)
    if any(statuses):
        assert result.returncode != 0, result.stdout + result.stderr
        failed = [target for (target, _), status in zip(SUITES, statuses) if status]
        assert "make test: failed: " + " ".join(failed) in result.stderr
    else:
        assert result.returncode == 0, result.stdout + result.stderr


@needs_make
def test_the_quick_selection_leaves_out_the_marked_tests():
    """`make test-quick`: the main environment without slow, Java, CellProfiler and Dask tests."""
    result = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "-n", "test-quick", "QUICK_PYTEST=pytest",
                             "QUICK_DEPS="], capture_output=True, text=True, env=_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'pytest -m "not slow and not jvm and not cellprofiler and not dask"', result.stdout


@pytest.mark.cellprofiler
@pytest.mark.skipif(importlib.util.find_spec("cellprofiler_core") is not None,
                    reason="CellProfiler is installed here: tests/cellprofiler runs for real")
def test_cellprofiler_tests_skip_cleanly_without_cellprofiler():
    """`python -m pytest tests/cellprofiler` in the main environment: every
    test reported as skipped, exit status 0, no traceback; with
    NUSET_REQUIRE_CELLPROFILER=1 the missing CellProfiler is a failure."""
    command = [sys.executable, "-m", "pytest", "tests/cellprofiler", "-q", "-rs", "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output and not re.search(r"\berrors?\b", output, re.IGNORECASE), output
    assert re.search(r"^\d+ skipped in ", output, re.MULTILINE) and " passed" not in output, output
    assert "CellProfiler runs in .venv-cellprofiler" in output

    required = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env=_env() | {"NUSET_REQUIRE_CELLPROFILER": "1"})
    assert required.returncode not in (0, 5), required.stdout + required.stderr
    assert "No module named 'cellprofiler_core'" in required.stdout + required.stderr

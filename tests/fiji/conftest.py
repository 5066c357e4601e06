"""Fiji/ImageJ tests run the real ImageJ 1.x (Debian's libij-java) and a real
JVM. `make test` installs them (libij-java, xvfb, a JDK); without them these
tests fail rather than skip, unless NUSET_SKIP_IMAGEJ=1 is set on purpose."""
import os
import shutil
from pathlib import Path

import pytest

IJ_JAR = Path(os.environ.get("NUSET_IJ_JAR", "/usr/share/java/ij.jar"))

if os.environ.get("NUSET_SKIP_IMAGEJ") == "1":
    pytest.skip("ImageJ tests disabled by NUSET_SKIP_IMAGEJ=1", allow_module_level=True)


@pytest.fixture(scope="session")
def ij_jar():
    assert IJ_JAR.is_file(), f"{IJ_JAR} missing: install Debian's libij-java (make test does)"
    return IJ_JAR


@pytest.fixture(scope="session")
def ij_home(tmp_path_factory, ij_jar):
    """An ImageJ home whose plugins folder holds NuSeT_.jar, built from source now."""
    from fiji_bridge.build import build_jar

    home = tmp_path_factory.mktemp("imagej")
    build_jar(ij_jar, home / "plugins")
    return home


@pytest.fixture(scope="session")
def jvm(ij_jar):
    """A JVM in this process with only ij.jar on the class path (nothing from Maven)."""
    import scyjava

    if not scyjava.jvm_started():
        # Importing pyimagej (tests/fiji/test_pyimagej.py) registers imglyb's
        # start-up hook, which needs ImageJ2's imglib2-imglyb jar (Maven only,
        # not installable here). Drop it: this JVM is plain ImageJ1.
        from scyjava import _jvm

        _jvm._startup_callbacks[:] = [f for f in _jvm._startup_callbacks
                                      if not getattr(f, "__module__", "").startswith("imglyb")]
        scyjava.config.endpoints.clear()
        scyjava.config.set_java_constraints(fetch="never")
        scyjava.config.add_classpath(str(ij_jar))
        scyjava.config.add_option("-Djava.awt.headless=true")
        scyjava.start_jvm()
    return scyjava


def xvfb_run():
    exe = shutil.which("xvfb-run")
    assert exe, "xvfb-run missing: install Debian's xvfb (make test does)"
    return exe

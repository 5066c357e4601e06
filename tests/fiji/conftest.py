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


@pytest.fixture(scope="session")
def headless_macro(tmp_path_factory, ij_jar, ij_home):
    """Run an ImageJ macro in a headless JVM (``java.awt.headless=true``, no X
    server): ``headless_macro(macro_text, argument, env=None) -> stdout+stderr``.

    The driver (tests/fiji/HeadlessMacro.java) registers the commands of
    NuSeT_.jar's plugins.config, which ImageJ 1.53t can only learn by building
    AWT menus (impossible headless; Fiji's headless mode patches that);
    everything else is the real ImageJ running the real macro and plugin.
    """
    import subprocess

    jar = ij_home / "plugins" / "NuSeT_.jar"
    classes = tmp_path_factory.mktemp("headless-driver")
    subprocess.run(["javac", "--release", "8", "-nowarn", "-cp", str(ij_jar), "-d", str(classes),
                    str(Path(__file__).parent / "HeadlessMacro.java")], check=True, capture_output=True, text=True)
    scripts = tmp_path_factory.mktemp("headless-macros")

    def run(macro_text, argument="", env=None, timeout=300):
        macro = scripts / f"macro{len(list(scripts.iterdir()))}.ijm"
        macro.write_text(macro_text)
        environment = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # no X server to fall back on
        environment.update(env or {})
        result = subprocess.run(
            ["java", "-Djava.awt.headless=true", "-cp", os.pathsep.join([str(ij_jar), str(jar), str(classes)]),
             "HeadlessMacro", str(macro), argument, str(jar)],
            capture_output=True, text=True, timeout=timeout, env=environment)
        output = result.stdout + result.stderr
        assert "MACRO_DONE headless=true" in output, output  # the JVM really was headless and the macro ended
        return output

    return run

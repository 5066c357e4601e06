"""Build hook: a wheel carries NuSeT_.jar, the Fiji plugin, compiled when the
package is built, so that `nuset fiji install` needs no JDK on the user's
machine (Fiji ships a Java runtime, not a compiler).

The jar is compiled against ImageJ 1.x's ij.jar ($NUSET_IJ_JAR, or Debian's
libij-java at /usr/share/java/ij.jar) with `javac --release 8`. Without a
JDK or ij.jar the wheel is built without it, with a warning, and
`nuset fiji install` compiles the jar on the user's machine instead.
Everything else is in setup.cfg.
"""
import importlib.util
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithJar(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # a source checkout compiles on install (it has a JDK for the tests)
            return
        ij_jar = os.environ.get("NUSET_IJ_JAR", "/usr/share/java/ij.jar")
        target = Path(self.build_lib) / "fiji_bridge" / "java"
        sys.path.insert(0, str(ROOT))  # fiji_bridge/build.py reads the option table of the source tree
        try:
            spec = importlib.util.spec_from_file_location("_nuset_jar_build", ROOT / "fiji_bridge" / "build.py")
            builder = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(builder)
            jar = builder.build_jar(builder.find_ij_jar(ij_jar), target)
            print(f"built {jar}")
        except Exception as exc:  # noqa: BLE001 - a wheel without the jar still works (install compiles)
            print(f"WARNING: NuSeT_.jar not built into the wheel ({exc}); `nuset fiji install` will need a JDK",
                  file=sys.stderr)
        finally:
            sys.path.remove(str(ROOT))


setup(cmdclass={"build_py": BuildPyWithJar})

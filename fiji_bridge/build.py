"""Build the ImageJ/Fiji plugin jar (``NuSeT_.jar``) from the Java source
shipped in ``fiji_bridge/java``, against a given ``ij.jar``.

Needs a JDK (``javac`` and ``jar``); the classes target Java 8 so the jar
runs in every Fiji and ImageJ 1.x.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

JAVA_DIR = Path(__file__).parent / "java"
JAR_NAME = "NuSeT_.jar"  # ImageJ1 only scans jars with an underscore in the name


def find_ij_jar(root: str | Path) -> Path:
    """ij.jar of an ImageJ folder (``ij.jar``) or a Fiji.app (``jars/ij-*.jar``), or the file itself."""
    root = Path(root)
    if root.is_file() and root.suffix == ".jar":
        return root
    candidates = [root / "ij.jar", *sorted((root / "jars").glob("ij-*.jar"))]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{root}: no ij.jar (ImageJ) or jars/ij-*.jar (Fiji) found; give the ImageJ/Fiji folder")


def build_jar(ij_jar: str | Path, output_dir: str | Path) -> Path:
    """Compile the plugin and write ``output_dir/NuSeT_.jar``."""
    for tool in ("javac", "jar"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"'{tool}' not found: building the Fiji plugin needs a JDK (e.g. openjdk-17-jdk)")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        classes = Path(tmp) / "classes"
        sources = sorted(str(p) for p in (JAVA_DIR / "nuset").glob("*.java"))
        subprocess.run(["javac", "--release", "8", "-nowarn", "-cp", str(ij_jar), "-d", str(classes), *sources],
                       check=True, capture_output=True, text=True)
        shutil.copy(JAVA_DIR / "plugins.config", classes / "plugins.config")
        jar = output_dir / JAR_NAME
        subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "."], check=True, capture_output=True, text=True)
    return jar

"""Build the ImageJ/Fiji plugin jar (``NuSeT_.jar``) from the Java source
shipped in ``fiji_bridge/java``, against a given ``ij.jar``.

Needs a JDK (``javac`` and ``jar``); the classes target Java 8 so the jar
runs in every Fiji and ImageJ 1.x.

The dialog fields and macro keys of the commands come from the engine's
option table: :func:`options_java` writes them as ``nuset/Options.java``
next to the sources when the jar is built, so the jar always matches the
Python side it runs.

A wheel carries the jar, built when the package is built
(``python -m fiji_bridge.build --packaged``), so that ``nuset fiji install``
needs no JDK (Fiji ships a Java runtime, not a compiler):
:func:`packaged_jar` returns it when it was built from the sources and
option table installed, and compiling is the fallback.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from nuset_engine.options import SEGMENT_OPTIONS, Option

JAVA_DIR = Path(__file__).parent / "java"
JAR_NAME = "NuSeT_.jar"  # ImageJ1 only scans jars with an underscore in the name
PACKAGED_JAR = JAVA_DIR / JAR_NAME
INSTALL_FILE = "NuSeT.properties"  # beside the jar: the Python `nuset fiji install` ran from
DIGEST_ENTRY = "nuset-sources.sha256"  # in the jar: what it was built from


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


def _java_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _default_text(entry: Option) -> str:
    """The default as the dialog and the Python command read it ("" where none is given)."""
    if entry.default is None:
        return entry.choices[0][0] if entry.choices else ""
    if entry.kind == "flag":
        return "true" if entry.default else "false"
    return str(entry.default)


def options_java() -> str:
    """``nuset/Options.java``: the table's options the Fiji commands offer."""
    entries = [o for o in SEGMENT_OPTIONS if "fiji" in o.hosts]

    def array(values) -> str:
        return "{" + ", ".join(_java_string(v) for v in values) + "}"

    def numbers(values) -> str:
        return "{" + ", ".join("Double.NaN" if v is None else repr(float(v)) for v in values) + "}"

    choices = "{" + ", ".join(array(word for word, _ in o.choices) for o in entries) + "}"
    return f"""package nuset;

/** The segmentation options of the NuSeT commands. Generated from the engine's option table
 * (nuset_engine/options.py) by fiji_bridge/build.py when the jar is built: do not edit. */
final class Options {{
    private Options() {{ }}

    /** Engine names; the Python command's flags are these with dashes (--min-score). */
    static final String[] NAME = {array(o.name for o in entries)};
    /** number, integer, flag, tile_size or folder. */
    static final String[] KIND = {array(o.kind for o in entries)};
    /** Macro keys and dialog labels. A flag whose default is on is offered inverted (no_watershed). */
    static final String[] KEY = {array(o.key for o in entries)};
    /** Defaults as text ("" where none is given). */
    static final String[] DEFAULT = {array(_default_text(o) for o in entries)};
    /** Shown beside a field (or after a checkbox's key). */
    static final String[] NOTE = {array(o.note for o in entries)};
    /** Allowed range of numbers (NaN: none); MIN_OPEN: the minimum itself is not allowed. */
    static final double[] MIN = {numbers(o.minimum for o in entries)};
    static final double[] MAX = {numbers(o.maximum for o in entries)};
    static final boolean[] MIN_OPEN = {{{", ".join("true" if o.min_open else "false" for o in entries)}}};
    /** Whether 0 typed in a number field means "none given" (nucleus_diameter); for the other numbers
     *  without a default (the model's own: min_score) an empty field does, so they are text fields. */
    static final boolean[] ZERO_IS_DEFAULT = {{{", ".join("true" if o.zero_means_default else "false" for o in entries)}}};
    /** The words of a three-state flag, default first (empty for others). */
    static final String[][] CHOICES = {choices};
    static final String[] HELP = {array(o.help for o in entries)};
}}
"""


def build_jar(ij_jar: str | Path, output_dir: str | Path) -> Path:
    """Compile the plugin and write ``output_dir/NuSeT_.jar``."""
    for tool in ("javac", "jar"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"'{tool}' not found: building the Fiji plugin needs a JDK (e.g. openjdk-17-jdk)")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        classes = Path(tmp) / "classes"
        generated = Path(tmp) / "Options.java"
        generated.write_text(options_java(), encoding="utf-8")
        sources = sorted(str(p) for p in (JAVA_DIR / "nuset").glob("*.java")) + [str(generated)]
        subprocess.run(["javac", "--release", "8", "-nowarn", "-cp", str(ij_jar), "-d", str(classes), *sources],
                       check=True, capture_output=True, text=True)
        shutil.copy(JAVA_DIR / "plugins.config", classes / "plugins.config")
        (classes / DIGEST_ENTRY).write_text(sources_digest())
        jar = output_dir / JAR_NAME
        subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "."], check=True, capture_output=True, text=True)
    return jar


def sources_digest() -> str:
    """SHA-256 of what a jar is built from: the Java sources, plugins.config and the generated options."""
    digest = hashlib.sha256()
    for path in sorted((JAVA_DIR / "nuset").glob("*.java")) + [JAVA_DIR / "plugins.config"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(options_java().encode())
    return digest.hexdigest()


def jar_digest(jar: str | Path) -> str | None:
    """The sources digest a NuSeT_.jar was built from (``None``: not one of ours, or unreadable)."""
    try:
        with zipfile.ZipFile(jar) as archive:
            return archive.read(DIGEST_ENTRY).decode().strip()
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def packaged_jar() -> Path | None:
    """The jar shipped in the package, if it was built from these sources and this option table."""
    return PACKAGED_JAR if PACKAGED_JAR.is_file() and jar_digest(PACKAGED_JAR) == sources_digest() else None


def main(argv: list[str] | None = None) -> int:
    """``python -m fiji_bridge.build [IJ_JAR_OR_FOLDER] --packaged``: build the jar shipped in the package."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("imagej", nargs="?", default="/usr/share/java/ij.jar",
                        help="ij.jar, or an ImageJ/Fiji folder (default: Debian's libij-java)")
    parser.add_argument("--output", default=str(JAVA_DIR), help="folder for NuSeT_.jar (default: the package's)")
    args = parser.parse_args(argv)
    try:
        jar = build_jar(find_ij_jar(args.imagej), args.output)
    except (FileNotFoundError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"NuSeT_.jar not built: {getattr(exc, 'stderr', None) or exc}", file=sys.stderr)
        return 1
    print(jar)
    return 0


if __name__ == "__main__":
    sys.exit(main())

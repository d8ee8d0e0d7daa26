"""The figures' font: DejaVu Sans (matplotlib's own) reduced to the scripts the figures can show.

A PDF embeds the subset of each font that it uses, and fontTools makes that subset from the whole font
file: for DejaVu Sans, with thousands of glyphs and their layout tables, that was a quarter of the
figures stage. The four faces cut once to Latin, Greek, punctuation, arrows, mathematical operators and
shapes (some 900 glyphs) give the same outlines, metrics and kerning, so the PNGs are the same bytes;
a character outside them falls back to the whole DejaVu Sans. The cut faces are kept in matplotlib's
cache directory, named by the font files and fontTools version they were made from.
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

import fontTools
import matplotlib
from fontTools import subset
from matplotlib import font_manager

FAMILY = "DejaVu Sans Figures"
FACES = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique")
UNICODE_RANGES = ((0x0020, 0x024F),   # Basic Latin to Latin Extended-B (Norwegian, Sami)
                  (0x0370, 0x03FF),   # Greek
                  (0x2000, 0x209F),   # punctuation, super- and subscripts
                  (0x2190, 0x22FF),   # arrows, mathematical operators
                  (0x25A0, 0x25FF))   # geometric shapes


def source_faces() -> list[Path]:
    directory = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [directory / f"{face}.ttf" for face in FACES]


def cut_face(source: Path, target: Path) -> None:
    """Write `source` reduced to UNICODE_RANGES, renamed to FAMILY, with its hinting and kerning."""
    options = subset.Options(glyph_names=True, recommended_glyphs=True, notdef_outline=True, legacy_kern=True,
                             name_IDs=["*"], name_languages=["*"], layout_features=["*"])
    options.drop_tables += ["FFTM"]   # FontForge's time stamp
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=[u for low, high in UNICODE_RANGES for u in range(low, high + 1)])
    subsetter.subset(font)
    for record in font["name"].names:
        text = record.toUnicode()
        record.string = text.replace("DejaVu Sans", FAMILY).replace("DejaVuSans", FAMILY.replace(" ", ""))
    font.save(str(target))


def cut_faces(directory: Path) -> list[Path]:
    """The cut faces in `directory`, made there (atomically) if absent."""
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for source in source_faces():
        target = directory / source.name.replace("DejaVuSans", FAMILY.replace(" ", ""))
        if not target.exists():
            handle, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
            os.close(handle)
            try:
                cut_face(source, Path(tmp))
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
        made.append(target)
    return made


def cache_directory() -> Path:
    key = hashlib.sha256(repr((fontTools.version, UNICODE_RANGES, [(p.name, p.stat().st_size, p.stat().st_mtime_ns)
                                                                   for p in source_faces()])).encode()).hexdigest()
    return Path(matplotlib.get_cachedir()) / f"figure-fonts-{key[:16]}"


@functools.cache
def family() -> list[str]:
    """The font list for rcParams["font.sans-serif"]: the cut faces, registered with matplotlib, then the
    whole DejaVu Sans (also alone, when the cut faces cannot be written)."""
    try:
        faces = cut_faces(cache_directory())
    except OSError:
        return ["DejaVu Sans"]
    for face in faces:
        font_manager.fontManager.addfont(str(face))
    return [FAMILY, "DejaVu Sans"]

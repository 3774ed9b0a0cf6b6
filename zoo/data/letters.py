"""``zoo data letters OUT``: letters rendered from the typefaces installed on this machine.

A second offline image set beside the digits: each image is one character drawn by one font
file, and the test split holds whole typeface families, so a held-out image is always a
design the model never saw (how hard that is: docs/benchmarks.md, "Letters"). Nothing is
downloaded: the fonts come from the system's font folders (Debian's ``fonts-*`` packages,
:data:`FONT_PACKAGES`) or from folders the caller names.

What makes it a benchmark rather than a pile of renders (docs/architecture.md, "Letters"):

- only fonts that draw the requested characters as text: a font is skipped when its cmap lacks
  one of them, when it is a symbol, dingbat, math, emoji or icon font (by name, or because its
  glyphs for letters are named for other characters), when a glyph renders empty, as the
  font's .notdef box, or the same as another requested character;
- one copy of each design: files with the same family and style names, and files whose renders
  of the whole requested alphabet are identical (an .otf and a .ttf, Noto's script fonts that
  carry Noto Sans's Latin), appear once;
- the split is by *family*: a family's weights, widths and optical sizes, and any other family
  whose renders are near-identical (a clone such as FreeSerif of Nimbus Roman), all fall on
  one side;
- every glyph is cropped to its ink, scaled to fit ``size - 2 * margin`` keeping its aspect
  ratio, centred, and area-averaged from a 4x rendering: grey anti-aliased ink on black.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import string
import struct
import subprocess
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo import io
from zoo.errors import ZooError

#: Named character sets for ``chars``; combine them with commas (``upper,digits``).
CHAR_SETS = {"upper": string.ascii_uppercase, "lower": string.ascii_lowercase,
             "digits": string.digits}

#: The Debian packages the error message names (and CI installs): 76 Latin typeface families
#: for A-Z after grouping, 113 MB installed (41 MB download). Every one adds a family; clones
#: of these (fonts-freefont-*, fonts-texgyre, fonts-lmodern, fonts-adf-verana, fonts-open-sans)
#: would add images but no new design. Measured on Debian 12 (docs/benchmarks.md, "Letters").
FONT_PACKAGES = (
    "fonts-urw-base35", "fonts-cmu", "fonts-linuxlibertine", "fonts-liberation2",
    "fonts-noto-core", "fonts-paratype", "fonts-gfs-artemisia", "fonts-gfs-didot",
    "fonts-gfs-neohellenic", "fonts-gfs-theokritos", "fonts-adf-accanthis",
    "fonts-adf-baskervald", "fonts-adf-berenis", "fonts-adf-gillius", "fonts-adf-ikarius",
    "fonts-adf-irianis", "fonts-adf-libris", "fonts-adf-mekanus", "fonts-adf-oldania",
    "fonts-adf-romande", "fonts-adf-solothurn", "fonts-adf-switzera", "fonts-adf-tribun",
    "fonts-adf-universalis", "fonts-averia-gwf", "fonts-b612", "fonts-cabin", "fonts-cantarell",
    "fonts-cardo", "fonts-century-catalogue", "fonts-comfortaa", "fonts-comic-neue",
    "fonts-courier-prime", "fonts-crosextra-caladea", "fonts-dancingscript", "fonts-dosis",
    "fonts-ebgaramond", "fonts-fanwood", "fonts-go", "fonts-goudybookletter", "fonts-humor-sans",
    "fonts-isabella", "fonts-jura", "fonts-karla", "fonts-kristi", "fonts-league-spartan",
    "fonts-lindenhill", "fonts-lobster", "fonts-oldstandard", "fonts-play", "fonts-prociono",
    "fonts-quattrocento", "fonts-quicksand", "fonts-tuffy", "fonts-yanone-kaffeesatz",
)

#: Fewer usable families than this from the system's fonts is an error naming FONT_PACKAGES:
#: a handful of designs makes a benchmark whose held-out figure is a coin toss.
MIN_FAMILIES = 10

#: Font files read (TrueType, OpenType and their collections). Type 1 is left out: Debian's
#: Type 1 fonts ship as OpenType too, and fontTools reads no character map from Type 1.
FONT_EXTENSIONS = (".ttf", ".otf", ".ttc", ".otc")

#: Families with these words in their names are not text faces.
NOT_TEXT = re.compile(r"\b(symbols?\d*|dingbats?|math|emoji|icons?|wingdings|webdings|ornaments?"
                      r"|awesome|braille|keyboard)\b", re.IGNORECASE)
#: Families whose lowercase letters are capitals (refused when lowercase is requested).
CAPITALS_ONLY = re.compile(r"small ?caps|\b(titling|capitals|caps)\b", re.IGNORECASE)
#: Words that name a width, weight, optical size or cut of a family, not another design:
#: "PT Sans Narrow", "Noto Serif Display" and "CMU Typewriter Text Variable Width" are
#: "PT Sans", "Noto Serif" and "CMU Typewriter".
VARIANT_WORDS = re.compile(
    r"\b(condensed|cond|narrow|extended|expanded|wide|semi|demi|extra|ultra|light|medium|"
    r"regular|book|bold|semibold|demibold|extrabold|black|heavy|thin|hairline|caption|display|"
    r"text|titling|subhead|upright|italic|oblique|slanted|variable|width|std|pro|style|code|"
    r"no\d|small ?caps|smallcaps)\b", re.IGNORECASE)

#: Designs whose renders differ by less than this root-mean-square (0-1 grey, 32 px) are one
#: family for the split. Measured on ~480 Debian font files: clones and optical sizes of one
#: design (FreeSerif / Nimbus Roman 0.06-0.08, Open Sans / Noto Sans 0.05-0.07, Verana /
#: DejaVu 0.01-0.07) sit below it; distinct designs start around 0.1, a family's own styles
#: differ by 0.15-0.3.
NEAR_DUPLICATE_RMS = 0.08
#: The renders that rule compares: a fixed size, so ``size`` never changes the split.
REFERENCE_SIZE = 32
#: Glyphs are drawn this many times larger, then area-averaged down (anti-aliasing).
OVERSAMPLE = 4
#: The manifest, in OUT: what drew each image, the families' splits, skipped files, counts.
MANIFEST = "letters.json"
_MISSING_CHAR = "\uffff"  # a noncharacter: the font draws its .notdef glyph for it
#: How each character is drawn (``rendering``): ``glyph`` alone, cropped to its ink, scaled to
#: fit and centred; ``line`` as a crop of a line of text in which it stands between two
#: others, so that its neighbours show at the edges, in a jittered crop with noise (harder:
#: docs/benchmarks.md, "Letters").
RENDERINGS = ("glyph", "line")
#: ``line`` crops: side as a multiple of the character's larger side, the crop centre's shift as
#: a fraction of the side, rotation in degrees, blur radius and noise (0-255) up to.
LINE_CROP, LINE_SHIFT, LINE_ROTATION, LINE_BLUR, LINE_NOISE = (1.5, 2.1), 0.12, 15, 0.6, 10
#: ``line`` background and ink grey levels are drawn from these ranges.
LINE_BACKGROUND, LINE_INK = (0, 60), (170, 255)


def parse_chars(spec: str) -> list[str]:
    """``"upper,digits"`` -> the characters, in order, once each.

    Comma-separated parts are set names (:data:`CHAR_SETS`) or literal characters
    (``"upper,&?"``).
    """
    chars: list[str] = []
    for part in spec.split(","):
        for char in CHAR_SETS.get(part.strip().lower(), part):
            if not char.isprintable() or char.isspace():
                raise ZooError(f"--chars {spec!r}: {char!r} is not a visible character; name "
                               f"sets ({', '.join(CHAR_SETS)}) or visible characters")
            if char not in chars:
                chars.append(char)
    if not chars:
        raise ZooError(f"--chars {spec!r} names no characters; try upper, lower, digits or "
                       "a string such as ABC")
    return chars


def class_name(char: str) -> str:
    """The folder of ``char``: distinct from every other character's on a case-insensitive
    file system. Capitals and caseless letters and digits name themselves (``A``, ``7``),
    small letters get ``_small`` (``a_small``), anything else its Unicode name
    (``ampersand``, ``question_mark``)."""
    if char.isalnum():
        return f"{char}_small" if char.islower() else char
    return unicodedata.name(char, f"u{ord(char):04x}").lower().replace(" ", "_").replace("-", "_")


def system_font_dirs() -> list[Path]:
    """Where fonts are installed: the usual folders of Linux, macOS and Windows, and every
    folder fontconfig knows of when ``fc-list`` is there."""
    home = Path.home()
    dirs = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"),
            home / ".local/share/fonts", home / ".fonts", Path("/Library/Fonts"),
            Path("/System/Library/Fonts"), home / "Library/Fonts"]
    if os.name == "nt":
        dirs.append(Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts")
    if shutil.which("fc-list"):
        try:
            listed = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True,
                                    text=True, timeout=60, check=True).stdout.split("\n")
        except (OSError, subprocess.SubprocessError):  # a broken fontconfig: the folders remain
            listed = []
        dirs += sorted({Path(file).parent for file in listed if file})
    kept: list[Path] = []
    for folder in dirs:  # fontconfig lists subfolders of the usual ones: each tree once
        if folder.is_dir() and not any(folder.is_relative_to(k) for k in kept):
            kept.append(folder)
    return kept


def font_files(dirs) -> list[Path]:
    """Every font file under ``dirs`` (recursively, symlinks resolved), sorted, once each."""
    found = set()
    for folder in dirs:
        for path in Path(folder).rglob("*"):
            if path.suffix.lower() in FONT_EXTENSIONS and path.is_file():
                found.add(path.resolve())
    return sorted(found)


@dataclass
class Face:
    """One font (a file, or one member of a collection) that draws every requested char."""
    file: str
    index: int
    font_family: str  # as the font names itself
    style: str
    family_names: tuple  # every family name in its name table (legacy, typographic, WWS)
    images: list  # uint8 (size, size) per requested char
    reference: np.ndarray  # float32 renders at REFERENCE_SIZE, flattened
    digest: str  # of the images: identical renders are one design
    id: str = ""  # the images' file name
    family: str = ""  # the family it is split with (:func:`_families`)


def write_letters(out: str | Path, chars: str = "upper", size: int = 32, test_split: float = 0.25,
                  seed: int = 0, fonts=None, rendering: str = "glyph") -> dict:
    """Write ``out/train/<class>/<font>.png`` and ``out/test/<class>/<font>.png`` (or
    ``out/<class>/...`` when ``test_split`` is 0), one image per usable font and character,
    and ``out/letters.json``, the manifest: which font file, family and style drew each
    image (``fonts``, keyed by the image's file name), each family's split, the skipped files
    and why, the counts.

    ``chars``: see :func:`parse_chars` (default the capitals A-Z); class folders are named by
    :func:`class_name`. ``rendering``: one of :data:`RENDERINGS` (``line`` draws each image
    with its own fixed random jitter, so the set is the same every time). ``test_split`` is the fraction of *families* held out, picked with
    ``seed``. ``fonts``: folders to read font files from instead of the system's
    (:func:`system_font_dirs`). From the system's fonts at least :data:`MIN_FAMILIES`
    families must be usable, else the error names the Debian packages to install; from
    ``fonts``, as many as the split needs (two with a test split, else one).
    Returns ``{"path", "manifest", "counts", "families", "skipped"}``: images per split and
    class, families per split, skipped files per reason.
    """
    from PIL import Image

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ZooError(f"{out} exists and is not empty; choose a new folder for the letters")
    if not 0.0 <= test_split < 1.0:
        raise ZooError(f"test_split must be in [0, 1), got {test_split}")
    if size < 8:
        raise ZooError(f"size must be at least 8 pixels, got {size}")
    if rendering not in RENDERINGS:
        raise ZooError(f"rendering must be one of {', '.join(RENDERINGS)}, got {rendering!r}")
    wanted = parse_chars(chars)
    classes = [class_name(c) for c in wanted]
    folded = {}
    for char, name in zip(wanted, classes):
        if folded.setdefault(name.casefold(), char) != char:
            raise ZooError(f"--chars: {folded[name.casefold()]!r} and {char!r} would share a "
                           "folder on a case-insensitive file system; request one of them")
    if isinstance(fonts, (str, os.PathLike)):
        fonts = [fonts]
    dirs = [Path(d) for d in fonts] if fonts else system_font_dirs()
    for folder in dirs:
        if not folder.is_dir():
            raise ZooError(f"font folder {folder} does not exist")

    faces, skipped = _usable_faces(font_files(dirs), wanted, size)
    families = _families(faces)
    needed = (2 if test_split else 1) if fonts else MIN_FAMILIES
    if len(families) < needed:
        where = ", ".join(map(str, dirs)) or "the system's font folders"
        raise ZooError(
            f"found {len(families)} usable typeface famil{'y' if len(families) == 1 else 'ies'} "
            f"drawing {chars!r} in {where} (need {needed}); install fonts: apt-get install "
            f"{' '.join(FONT_PACKAGES)} (or pass --fonts DIR with more font files)")

    names = sorted(families)
    order = np.random.default_rng(seed).permutation(len(names))
    n_test = min(len(names) - 1, max(1, round(len(names) * test_split))) if test_split else 0
    split_of = {names[i]: ("test" if rank < n_test else "train") if test_split else "all"
                for rank, i in enumerate(order)}

    # The whole set is written beside OUT and moved into place at the end: an interrupted
    # run leaves no half-written benchmark.
    counts: dict[str, dict[str, int]] = {}
    with io.atomic_path(out) as tmp:
        for face in faces:
            split = split_of[face.family]
            per_split = counts.setdefault(split, {})
            images = face.images if rendering == "glyph" else \
                [_render_in_line(face, char, wanted, size) for char in wanted]
            for name, pixels in zip(classes, images):
                folder = (tmp / split if test_split else tmp) / name
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels, "L").convert("RGB").save(folder / f"{face.id}.png",
                                                                 format="PNG")
                per_split[name] = per_split.get(name, 0) + 1
        counts = {split: dict(sorted(c.items())) for split, c in sorted(counts.items())}
        io.write_json(tmp / MANIFEST, {
            "chars": wanted, "classes": dict(zip(classes, wanted)), "size": size,
            "rendering": rendering,
            "margin": margin_for(size), "test_split": test_split, "seed": seed,
            "font_dirs": [str(d) for d in dirs], "counts": counts,
            "families": {name: {"split": split_of[name],
                                "font_families": sorted({f.font_family for f in families[name]}),
                                "fonts": [f.id for f in families[name]]} for name in names},
            "fonts": {f.id: {"file": f.file, "index": f.index, "font_family": f.font_family,
                             "style": f.style, "family": f.family, "split": split_of[f.family]}
                      for f in faces},
            "skipped": [{"file": file, "index": index, "reason": reason}
                        for file, index, reason in skipped],
        })
    reasons: dict[str, int] = {}
    for _, _, reason in skipped:
        kind = reason.split(":")[0]
        reasons[kind] = reasons.get(kind, 0) + 1
    family_counts: dict[str, int] = {}
    for name in names:
        family_counts[split_of[name]] = family_counts.get(split_of[name], 0) + 1
    return {"path": str(out), "manifest": str(out / MANIFEST), "counts": counts,
            "families": dict(sorted(family_counts.items())), "skipped": reasons}


def margin_for(size: int) -> int:
    """Empty border around each glyph: a tenth of the side (3 px at 32 px)."""
    return max(1, round(size / 10))


def _render(font, char: str, size: int) -> np.ndarray | None:
    """``char`` in ``font`` (a Pillow font at ``OVERSAMPLE * size`` px) cropped to its ink,
    scaled to fit ``size - 2 * margin`` keeping its aspect ratio, centred on black; None when
    it draws nothing."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(char)
    pad = 4  # the box FreeType reports may clip anti-aliased edges by a pixel
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad))
    ImageDraw.Draw(canvas).text((pad - left, pad - top), char, font=font, fill=255)
    ink = canvas.getbbox()
    if ink is None:
        return None
    glyph = canvas.crop(ink)
    scale = (size - 2 * margin_for(size)) / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))),
                         Image.Resampling.BOX)
    image = Image.new("L", (size, size))
    image.paste(glyph, ((size - glyph.width) // 2, (size - glyph.height) // 2))
    return np.asarray(image)


def _render_in_line(face: Face, char: str, others: list[str], size: int) -> np.ndarray:
    """``char`` as a crop of a line of text: between two of ``others`` in ``face``'s font, in
    a square around it that shows parts of its neighbours, shifted, rotated, blurred and
    noisy by amounts drawn (per font and character, the same each time) from the LINE_
    ranges."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = np.random.default_rng(zlib.crc32(f"{face.id}/{char}".encode()))
    scale = 3 * size  # drawn large, area-averaged down
    font = ImageFont.truetype(face.file, scale, index=face.index,
                              layout_engine=ImageFont.Layout.BASIC)
    left, right = rng.choice(others), rng.choice(others)
    canvas = Image.new("L", (int(font.getlength(left + char + right)) + 2 * scale, 3 * scale))
    ImageDraw.Draw(canvas).text((scale, scale), left + char + right, font=font, fill=255)
    x0, y0, x1, y1 = font.getbbox(char)
    start = scale + font.getlength(left)
    centre_x, centre_y = start + (x0 + x1) / 2, scale + (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0, 0.3 * scale) * rng.uniform(*LINE_CROP)
    centre_x += rng.uniform(-LINE_SHIFT, LINE_SHIFT) * side
    centre_y += rng.uniform(-LINE_SHIFT, LINE_SHIFT) * side
    canvas = canvas.rotate(rng.uniform(-LINE_ROTATION, LINE_ROTATION),
                           center=(centre_x, centre_y), resample=Image.Resampling.BICUBIC)
    crop = canvas.crop((round(centre_x - side / 2), round(centre_y - side / 2),
                        round(centre_x + side / 2), round(centre_y + side / 2)))
    crop = crop.resize((size, size), Image.Resampling.BOX).filter(
        ImageFilter.GaussianBlur(rng.uniform(0, LINE_BLUR)))
    background, ink = rng.uniform(*LINE_BACKGROUND), rng.uniform(*LINE_INK)
    pixels = background + np.asarray(crop, np.float32) / 255 * (ink - background)
    pixels += rng.normal(0, rng.uniform(0, LINE_NOISE), pixels.shape)
    return np.clip(pixels, 0, 255).round().astype(np.uint8)


def _usable_faces(files, wanted: list[str], size: int):
    """The faces that draw every char in ``wanted`` as text, one per design (first in path
    order), and ``(file, index, reason)`` for every face left out."""
    faces: list[Face] = []
    skipped: list[tuple[str, int, str]] = []
    by_name: dict[tuple[str, str], list[Face]] = {}
    by_render: dict[str, Face] = {}
    for path in files:
        for index, reason_or_face in _read_faces(path, wanted, size):
            if isinstance(reason_or_face, str):
                skipped.append((str(path), index, reason_or_face))
                continue
            face = reason_or_face
            # Same names are a copy only if the renders agree too: some fonts misname their
            # styles (all of Courier Prime's files call themselves "Light").
            namesakes = by_name.setdefault((face.font_family.casefold(), face.style.casefold()), [])
            twin = by_render.get(face.digest) or next(
                (f for f in namesakes if _rms(f.reference, face.reference) < NEAR_DUPLICATE_RMS),
                None)
            if twin is not None:
                skipped.append((face.file, index, f"duplicate: same design as {twin.file}"))
                continue
            namesakes.append(face)
            by_render[face.digest] = face
            faces.append(face)
    taken: set[str] = set()
    for face in faces:
        face.id = _unique(_slug(f"{face.font_family} {face.style}"), taken)
    return faces, skipped


def _read_faces(path: Path, wanted: list[str], size: int):
    """``(index, Face or reason)`` for each font in the file at ``path``."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    # fontTools and FreeType raise all of these for damaged or unsupported files: "skip it"
    damaged = (TTLibError, OSError, ValueError, KeyError, IndexError, AssertionError,
               struct.error, NotImplementedError)
    try:
        collection = path.suffix.lower() in (".ttc", ".otc")
        count = len(TTCollection(str(path), lazy=True).fonts) if collection else 1
    except damaged as exc:
        yield 0, f"unreadable: {_first_line(exc)}"
        return
    for index in range(count):
        try:
            font = TTFont(str(path), fontNumber=index, lazy=True)
            yield index, _check_face(path, index, font, wanted, size)
        except damaged as exc:
            yield index, f"unreadable: {_first_line(exc)}"


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


def _check_face(path: Path, index: int, font, wanted: list[str], size: int):
    """A :class:`Face` if the font draws every char in ``wanted`` as text, else why not."""
    from fontTools import agl
    from PIL import ImageFont

    names = font["name"]
    family = names.getBestFamilyName() or path.stem
    style = names.getBestSubFamilyName() or "Regular"
    cmap = font.getBestCmap() or {}
    missing = [c for c in wanted if ord(c) not in cmap]
    if missing:
        return f"missing characters: {''.join(missing[:10])}"
    if NOT_TEXT.search(family):
        return f"not a text font: {family}"
    if CAPITALS_ONLY.search(f"{family} {style}") and any(c != c.upper() for c in wanted):
        return f"capitals only: {family} {style}"
    # A font that calls its glyph for "A" "Alpha" (URW's Standard Symbols) or "a10" (URW's
    # dingbats) puts symbols on the letters' code points.
    decoded = [agl.toUnicode(cmap[ord(c)]) for c in wanted]
    named = [(c, d) for c, d in zip(wanted, decoded)
             if d or not re.fullmatch(r"(cid|glyph|gid|g|index)?\d+", cmap[ord(c)])]
    if named and 2 * sum(c == d for c, d in named) < len(named):
        return f"not a text font: its glyph for {wanted[0]!r} is {cmap[ord(wanted[0])]!r}"

    pil = {s: ImageFont.truetype(str(path), OVERSAMPLE * s, index=index,
                                 layout_engine=ImageFont.Layout.BASIC)
           for s in {size, REFERENCE_SIZE}}
    images = [_render(pil[size], c, size) for c in wanted]
    empty = [c for c, image in zip(wanted, images) if image is None]
    if empty:
        return f"empty glyph: {''.join(empty[:10])}"
    if ord(_MISSING_CHAR) not in cmap:
        notdef = _render(pil[size], _MISSING_CHAR, size)
        boxes = [c for c, image in zip(wanted, images)
                 if notdef is not None and np.array_equal(image, notdef)]
        if boxes:
            return f"draws .notdef: {''.join(boxes[:10])}"
    seen: dict[bytes, str] = {}
    for char, image in zip(wanted, images):
        other = seen.setdefault(image.tobytes(), char)
        if other != char:
            return f"same glyph twice: {other} and {char}"
    reference = (images if size == REFERENCE_SIZE
                 else [_render(pil[REFERENCE_SIZE], c, REFERENCE_SIZE) for c in wanted])
    digest = hashlib.sha256(b"".join(image.tobytes() for image in images)).hexdigest()
    family_names = tuple(sorted({family} | {names.getDebugName(i) for i in (1, 16, 21)} - {None}))
    return Face(file=str(path), index=index, font_family=family, style=style,
                family_names=family_names, images=images,
                reference=np.concatenate([r.ravel() for r in reference]).astype(np.float32) / 255,
                digest=digest)


def _families(faces: list[Face]) -> dict[str, list[Face]]:
    """Group ``faces`` into families for the split: the same family name once variant words
    are dropped (:data:`VARIANT_WORDS`), a name that extends another family's ("Noto Sans
    Telugu" of "Noto Sans"), or near-identical renders (:data:`NEAR_DUPLICATE_RMS`).
    Each face's ``family`` is set to its family's name: the shortest member's font family."""
    keys = sorted({_design_key(name) for f in faces for name in f.family_names})
    parent = {key: key for key in keys}

    def root(key):
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def join(a, b):
        a, b = root(a), root(b)
        parent[max(a, b)] = min(a, b)

    for face in faces:  # a face whose names disagree joins both families (a misnamed file)
        for name in face.family_names:
            join(_design_key(face.font_family), _design_key(name))
    for key in keys:  # "Noto Sans Telugu" and "Go Mono" extend "Noto Sans" and "Go"
        words = key.split()
        for n in range(1, len(words)):
            if " ".join(words[:n]) in parent:
                join(" ".join(words[:n]), key)
    if faces:
        renders = np.stack([f.reference for f in faces])
        squares = (renders ** 2).sum(axis=1)
        rms = np.sqrt(np.maximum(squares[:, None] + squares[None, :] - 2 * renders @ renders.T, 0)
                      / renders.shape[1])
        for i, j in zip(*np.nonzero(np.triu(rms < NEAR_DUPLICATE_RMS, k=1))):
            join(_design_key(faces[i].font_family), _design_key(faces[j].font_family))
    members: dict[str, list[Face]] = {}
    for face in faces:
        members.setdefault(root(_design_key(face.font_family)), []).append(face)
    families = {}
    for group in members.values():
        name = min((f.font_family for f in group), key=lambda n: (len(n), n))
        for face in group:
            face.family = name
        families[name] = group
    return families


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _design_key(family: str) -> str:
    """``"PT Sans Narrow"`` -> ``"pt sans"``: the family name without variant words."""
    key = " ".join(VARIANT_WORDS.sub(" ", family).lower().split())
    return key or family.lower()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "font"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate

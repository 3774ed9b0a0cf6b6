"""`zoo data letters`: real fonts from the system, a family split, dedupe, clear errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.data import scan_folder, write_letters
from zoo.data.letters import NOT_TEXT, class_name, margin_for, parse_chars
from zoo.errors import ZooError

CHARS = "Ag7&"  # a capital, a small letter, a digit and a sign: four kinds of class names
CLASSES = {"A", "g_small", "7", "ampersand"}


@pytest.fixture(scope="module")
def letters(tmp_path_factory):
    """The set from the system's fonts: (OUT, summary, manifest); skipped without fonts."""
    out = tmp_path_factory.mktemp("letters") / "set"
    try:
        summary = write_letters(out, chars=CHARS, seed=1)
    except ZooError as exc:
        if "apt-get install" not in str(exc):
            raise
        pytest.skip(f"too few fonts installed (apt-get install the packages of "
                    f"zoo.data.letters.FONT_PACKAGES): {str(exc)[:80]}")
    return out, summary, json.loads((out / "letters.json").read_text())


def fonts_of(manifest, n, suffix=None):
    """Font files of ``n`` different families (one each), optionally with a given extension."""
    files, families = [], set()
    for font in manifest["fonts"].values():
        if font["family"] not in families and (suffix is None or font["file"].endswith(suffix)):
            files.append(Path(font["file"]))
            families.add(font["family"])
    assert len(files) >= n, f"need {n} font families with {suffix or 'any'} files"
    return files[:n]


def test_layout_classes_and_images(letters):
    out, summary, manifest = letters
    for split in ("train", "test"):
        assert {p.name for p in (out / split).iterdir()} == CLASSES  # every class in both
        for name in CLASSES:
            assert len(list((out / split / name).glob("*.png"))) == summary["counts"][split][name]
    assert len({name.casefold() for name in CLASSES}) == len(CLASSES)
    assert manifest["classes"] == {"A": "A", "g_small": "g", "7": "7", "ampersand": "&"}
    assert summary["counts"]["train"]["A"] >= 100 and summary["counts"]["test"]["A"] >= 20

    margin = margin_for(32)
    for path in sorted((out / "test" / "g_small").glob("*.png"))[:20]:
        image = Image.open(path)
        assert image.size == (32, 32) and image.mode == "RGB"
        pixels = np.asarray(image)
        assert (pixels[..., 0] == pixels[..., 2]).all()  # grey ink
        assert len(np.unique(pixels)) > 8  # anti-aliased, not two-level
        grey = pixels[..., 0]
        assert not grey[:margin].any() and not grey[-margin:].any()  # the margin is empty
        assert not grey[:, :margin].any() and not grey[:, -margin:].any()
        rows, cols = np.nonzero(grey)
        extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        assert 32 - 2 * margin - 1 <= extent <= 32 - 2 * margin  # scaled to fit the box


def test_families_are_split_whole_and_traced_in_the_manifest(letters):
    out, summary, manifest = letters
    families = manifest["families"]
    assert summary["families"]["test"] == round(len(families) * 0.25)
    for font_id, font in manifest["fonts"].items():
        assert font["split"] == families[font["family"]]["split"]
        assert font_id in families[font["family"]]["fonts"]
        for name in CLASSES:  # one image of every class, in its family's split only
            assert (out / font["split"] / name / f"{font_id}.png").is_file()
            other = "train" if font["split"] == "test" else "test"
            assert not (out / other / name / f"{font_id}.png").exists()
        assert not NOT_TEXT.search(font["font_family"])
    # A family's weights and widths, and clones, travel together.
    by_name = {f["font_family"]: f["family"] for f in manifest["fonts"].values()}
    for variant, base in [("PT Sans Narrow", "PT Sans"), ("Nimbus Sans Narrow", "Nimbus Sans"),
                          ("Noto Serif Display", "Noto Serif"), ("FreeSerif", "Nimbus Roman")]:
        if variant in by_name and base in by_name:
            assert by_name[variant] == by_name[base]
    for skipped in manifest["skipped"]:  # URW's symbol fonts, where installed
        if Path(skipped["file"]).stem in ("StandardSymbolsPS", "D050000L"):
            assert skipped["reason"].startswith(("not a text font", "duplicate"))
    folder = scan_folder(out, val_split=0.1)  # what `zoo finetune --data OUT` reads
    assert folder.layout == "train/val/test folders" and set(folder.classes) == CLASSES


def test_the_same_font_twice_renders_once(letters, tmp_path):
    [font] = fonts_of(letters[2], 1)
    fonts = tmp_path / "fonts"
    (fonts / "copy").mkdir(parents=True)
    shutil.copy(font, fonts / f"first{font.suffix}")
    shutil.copy(font, fonts / "copy" / f"second{font.suffix}")
    summary = write_letters(tmp_path / "out", chars="AB", test_split=0, fonts=[fonts])
    assert summary["counts"] == {"all": {"A": 1, "B": 1}}
    assert summary["skipped"] == {"duplicate": 1}
    assert len(list((tmp_path / "out" / "A").glob("*.png"))) == 1  # OUT/<class>/ without a split


def test_font_collections_are_read_face_by_face(letters, tmp_path):
    from fontTools.ttLib import TTCollection, TTFont

    collection = TTCollection()
    collection.fonts = [TTFont(path) for path in fonts_of(letters[2], 2, suffix=".ttf")]
    (tmp_path / "fonts").mkdir()
    collection.save(tmp_path / "fonts" / "pair.ttc")
    write_letters(tmp_path / "out", chars="AB", test_split=0.5, fonts=[tmp_path / "fonts"])
    manifest = json.loads((tmp_path / "out" / "letters.json").read_text())
    assert sorted(f["index"] for f in manifest["fonts"].values()) == [0, 1]
    assert sorted(f["split"] for f in manifest["fonts"].values()) == ["test", "train"]


def test_output_is_deterministic_and_the_split_ignores_size(letters, tmp_path):
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    for path in fonts_of(letters[2], 6):
        shutil.copy(path, fonts / path.name)

    def tree(out):
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
                if p.is_file() and p.name != "letters.json"}

    first = write_letters(tmp_path / "a", chars="xY", seed=3, test_split=0.5, fonts=[fonts])
    again = write_letters(tmp_path / "b", chars="xY", seed=3, test_split=0.5, fonts=[fonts])
    assert first["counts"] == again["counts"]
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    manifests = [json.loads((tmp_path / d / "letters.json").read_text()) for d in "ab"]
    assert manifests[0]["families"] == manifests[1]["families"]
    larger = write_letters(tmp_path / "c", chars="xY", seed=3, test_split=0.5, size=48,
                           fonts=[fonts])
    assert Image.open(next((tmp_path / "c" / "test" / "x_small").glob("*.png"))).size == (48, 48)
    assert json.loads((tmp_path / "c" / "letters.json").read_text())["families"] == \
        manifests[0]["families"]
    assert set(larger["families"]) == {"test", "train"} and sum(larger["families"].values()) <= 6


def test_too_few_fonts_is_one_line_naming_the_packages(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "zoo", "data", "letters", str(tmp_path / "out"),
         "--fonts", str(tmp_path / "empty")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: found 0 usable typeface families")
    assert "apt-get install fonts-urw-base35 " in result.stderr and "--fonts DIR" in result.stderr
    assert not (tmp_path / "out").exists()


def test_characters_and_class_names():
    assert parse_chars("upper,digits") == list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    assert parse_chars("lower")[:3] == ["a", "b", "c"]
    assert parse_chars("ABA,upper")[:3] == ["A", "B", "C"] and len(parse_chars("ABA,upper")) == 26
    assert [class_name(c) for c in "Aa7&?é"] == ["A", "a_small", "7", "ampersand",
                                                  "question_mark", "é_small"]
    with pytest.raises(ZooError, match="not a visible character"):
        parse_chars("A B")
    with pytest.raises(ZooError, match="names no characters"):
        parse_chars(",")


def test_bad_options_are_refused(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("taken")
    with pytest.raises(ZooError, match="not empty"):
        write_letters(tmp_path / "full")
    with pytest.raises(ZooError, match="test_split"):
        write_letters(tmp_path / "a", test_split=1.0)
    with pytest.raises(ZooError, match="case-insensitive"):
        write_letters(tmp_path / "b", chars="\u01c5\u01c4")  # Dz digraphs: titlecase, capital
    with pytest.raises(ZooError, match="does not exist"):
        write_letters(tmp_path / "c", fonts=[tmp_path / "nowhere"])

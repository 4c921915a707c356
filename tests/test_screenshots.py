"""`phone-tui screenshots`: the SVGs (byte for byte the repository's), a PNG of each drawn by
headless Chromium for the README, and the glyphs the screens use (all in common monospace
fonts, so no picture shows a box where a character should be)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import subprocess
import tokenize
import tomllib
import zlib
from pathlib import Path

import pytest

from phone_tui import cli
from phone_tui.flows.model import load_flow, shipped_flows
from phone_tui.testing import FAST_KDF
from phone_tui.ui import png

ROOT = Path(__file__).resolve().parent.parent
# .ci/run installs Debian's chromium and sets this, so a missing browser fails CI, not skips.
REQUIRED = os.environ.get("PHONE_TUI_REQUIRE_BROWSER") == "1"
needs_browser = pytest.mark.skipif(png.find_browser() is None and not REQUIRED,
                                   reason="no Chromium installed (.ci/run installs it)")


def _shot_names() -> set[str]:
    return {step.shot for path in shipped_flows() for step in load_flow(path).steps
            if step.shot}


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """One `phone-tui screenshots` run with no browser on PATH: (exit code, stderr, folder)."""
    empty = tmp_path_factory.mktemp("no-browser")
    out = tmp_path_factory.mktemp("shots")
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        patch.setenv("PATH", str(empty))
        patch.setattr("phone_tui.handset.persona.DEFAULT_KDF", FAST_KDF)  # no screen shows it
        code = cli.main(["screenshots", "--out", str(out)])
    return code, err.getvalue(), out


def test_screenshots_without_a_browser_write_the_svgs_then_say_what_is_missing(shots):
    code, err, out = shots
    assert {path.stem for path in out.glob("*.svg")} == _shot_names()
    assert not list(out.glob("*.png"))
    assert code == 2 and err.count("\n") == 1, err
    assert "no Chromium found" in err and "apt-get install chromium" in err
    assert "--svg-only" in err


def test_screenshots_svg_only_needs_no_browser(tmp_path, monkeypatch, capsys, fast_kdf):
    first_run = [p for p in shipped_flows() if p.stem == "screenshots-first-run"]
    monkeypatch.setattr("phone_tui.flows.model.shipped_flows", lambda: first_run)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["screenshots", "--svg-only", "--out", str(tmp_path / "o")]) == 0
    assert list((tmp_path / "o").glob("*.svg")) and not list((tmp_path / "o").glob("*.png"))
    assert capsys.readouterr().err == ""


def test_screenshot_svgs_are_the_repository_set_byte_for_byte(shots):
    _, _, out = shots
    assert "DETERMINISTIC" in (out / "lock-secure.svg").read_text(encoding="utf-8")
    root = ROOT / "screenshots"
    if not root.exists():
        pytest.skip("not run from a checkout")
    assert {path.stem for path in root.glob("*.svg")} == _shot_names()
    # Deterministic: the same bytes as the set in the repository. (PNGs are not compared:
    # Chromium's anti-aliasing differs from machine to machine.)
    changed = [path.name for path in out.glob("*.svg")
               if path.read_bytes() != (root / path.name).read_bytes()]
    assert changed == [], "run `phone-tui screenshots` and commit screenshots/"


# ---- PNG -----------------------------------------------------------------------------------

def _decode_png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the filtered scanlines of an 8-bit RGB/RGBA PNG (stdlib only)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name}: not a PNG"
    at, idat, header = 8, [], None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        crc = struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0]
        assert zlib.crc32(kind + body) == crc, f"{path.name}: damaged {kind!r} chunk"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        at += 12 + length
    assert header is not None and idat, f"{path.name}: no IHDR or IDAT"
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6), f"{path.name}: {depth}-bit colour type {colour}"
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == height * (1 + width * (3 if colour == 2 else 4)), f"{path.name}: size"
    return width, height, raw


def _check_pngs(folder: Path, names: set[str]) -> None:
    for name in sorted(names):
        svg, picture = folder / f"{name}.svg", folder / f"{name}.png"
        assert picture.is_file(), f"{picture} missing: run `phone-tui screenshots`"
        width, height, raw = _decode_png(picture)
        view_width, view_height = png.svg_size(svg)
        # The window is the viewBox: no white margin, nothing clipped.
        assert abs(width / height - view_width / view_height) < 0.005, (name, width, height)
        assert width >= view_width
        # Not blank: a one-colour page has 2 distinct (filtered) scanlines, a screen hundreds.
        stride = len(raw) // height
        rows = {raw[row * stride:(row + 1) * stride] for row in range(height)}
        assert len(rows) > 100, (name, len(rows))


@needs_browser
def test_screenshot_pngs_are_drawn_from_each_svg_at_its_size(shots):
    _, _, out = shots
    browser = png.find_browser()
    assert browser is not None, "Chromium is required here (PHONE_TUI_REQUIRE_BROWSER=1)"
    written = png.render_pngs(sorted(out.glob("*.svg")), browser)
    assert {path.stem for path in written} == _shot_names()
    _check_pngs(out, _shot_names())


def test_the_readme_shows_a_png_of_every_screenshot():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pictures = set(re.findall(r"!\[[^\]]*\]\(screenshots/([\w-]+)\.png\)", readme))
    assert pictures == _shot_names()
    assert not re.search(r"!\[[^\]]*\]\(screenshots/[\w-]+\.svg\)", readme)
    if (ROOT / "screenshots").exists():
        _check_pngs(ROOT / "screenshots", pictures)


# ---- glyphs --------------------------------------------------------------------------------

# Every non-ASCII character the screens may show: each is in DejaVu Sans Mono (the fallback
# monospace font of most Linux systems, and what Chromium draws the SVGs with there), so no
# screenshot shows a box. Emoji and Braille are not; add a character here only after
# `fc-list ":charset=HEX" family | grep "DejaVu Sans Mono"` finds it.
GLYPHS = frozenset(
    "°±·×–—‖…‹›←↑→↓↗↙⇄⌨⏎−≥⌫─│┌┐└┘╭╮╯╰▀▁▂▃▄▅▆▇█▏░▒▓■▮▯▶▸◉○●◷◐◑◒◓◎☏⚙⚠✈✉✎✓✕✗❚"
)


def _shown_strings() -> dict[str, str]:
    """Each string literal in phone_tui/ and each string in seeds/ and themes/ TOML, by
    where it is (file:line or file)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "phone_tui").rglob("*.py")):
        with path.open("rb") as source:
            for token in tokenize.tokenize(source.readline):
                if token.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1)):
                    where = f"{path.relative_to(ROOT)}:{token.start[0]}"
                    found[where] = found.get(where, "") + token.string

    def walk(value, where: str) -> None:  # noqa: ANN001
        if isinstance(value, str):
            found[where] = found.get(where, "") + value
        elif isinstance(value, dict):
            for item in value.values():
                walk(item, where)
        elif isinstance(value, list):
            for item in value:
                walk(item, where)

    for folder in ("seeds", "themes"):
        for path in sorted((ROOT / folder).rglob("*.toml")):
            walk(tomllib.loads(path.read_text(encoding="utf-8")), str(path.relative_to(ROOT)))
    return found


def test_every_character_the_screens_show_is_in_common_monospace_fonts():
    if not (ROOT / "phone_tui").is_dir():
        pytest.skip("not run from a checkout")
    missing = {f"{where}: {ch!r} U+{ord(ch):04X}" for where, text in _shown_strings().items()
               for ch in text if ord(ch) > 127 and ch not in GLYPHS}
    assert not missing, sorted(missing)


def test_the_glyph_list_is_in_dejavu_sans_mono():
    try:
        subprocess.run(["fc-list", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("fontconfig's fc-list is not installed")
    if "DejaVu Sans Mono" not in subprocess.run(["fc-list", ":", "family"], capture_output=True,
                                                 text=True).stdout:
        pytest.skip("DejaVu Sans Mono is not installed")
    lacking = [ch for ch in sorted(GLYPHS) if "DejaVu Sans Mono" not in subprocess.run(
        ["fc-list", f":charset={ord(ch):x}", "family"], capture_output=True, text=True).stdout]
    assert lacking == []

"""PNGs of the screenshots: each SVG drawn by headless Chromium, at the SVG's own size.

SVG is what the snapshots compare, but viewers differ: rsvg-convert collapses runs of spaces,
and a machine without the fonts the SVG names shows boxes. A browser draws it as intended, so
the README shows PNGs made here. Chromium is a program we run, not a library we import.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from phone_tui.errors import PngError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "install Chromium (Debian/Ubuntu: sudo apt-get install chromium) or pass --svg-only"
SCALE = 2  # device pixels per SVG pixel: crisp text on a projector, ~120 KB a picture
JOBS = 2  # Chromium at once (each is several processes; the CI machine has 2 cores)
TIMEOUT = 60.0  # seconds for one picture
# Headless, offline (the SVG names web fonts: local ones are used, the same on every run),
# nothing started but the page.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND")
VIEWBOX = re.compile(rb'viewBox="\s*[-\d.]+[\s,]+[-\d.]+[\s,]+([\d.]+)[\s,]+([\d.]+)\s*"')


def find_browser() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def missing_browser_message() -> str:
    return (f"no Chromium found on PATH (looked for {', '.join(BROWSERS)}) to write the PNGs; "
            f"the SVGs are written; {INSTALL}")


def svg_size(svg: Path) -> tuple[int, int]:
    """The SVG's width and height in CSS pixels, from its viewBox (rounded up)."""
    match = VIEWBOX.search(svg.read_bytes()[:4096])
    if match is None:
        raise PngError(f"{svg}: no viewBox to size the picture by")
    width, height = (math.ceil(float(value)) for value in match.groups())
    return width, height


def render_png(svg: Path, browser: str, *, scale: int = SCALE) -> Path:
    """Draw ``svg`` as NAME.png beside it: the window is the viewBox, so no margin, no clip."""
    width, height = svg_size(svg)
    png = svg.with_suffix(".png")
    png.unlink(missing_ok=True)  # a stale picture must not pass for a new one
    # A profile of its own: two Chromiums on one profile wait for each other's lock.
    with tempfile.TemporaryDirectory(prefix="phone-tui-chromium-") as profile:
        command = [browser, *FLAGS, f"--user-data-dir={profile}",
                   f"--force-device-scale-factor={scale}", f"--window-size={width},{height}",
                   f"--screenshot={png}", svg.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise PngError(f"{svg}: {browser} took over {TIMEOUT:.0f} s to draw it") from None
        except OSError as problem:
            raise PngError(f"{svg}: cannot run {browser}: {problem.strerror}") from None
    if done.returncode != 0 or not png.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PngError(f"{svg}: {browser} wrote no PNG (exit {done.returncode}: {last})")
    return png


def render_pngs(svgs: Sequence[Path], browser: str, *, jobs: int = JOBS) -> list[Path]:
    """A PNG beside each SVG, ``jobs`` at a time; the first failure is raised."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda svg: render_png(svg, browser), svgs))

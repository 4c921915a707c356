"""PNGs of the screenshots: each SVG drawn by headless Chromium, at the SVG's own size.

SVG is what the snapshots compare, but viewers differ: rsvg-convert collapses runs of spaces,
and a machine without the fonts the SVG names shows boxes. A browser draws it as intended, so
the README shows PNGs made here. Chromium is a program we run, not a library we import.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
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


def render_png(svg: Path, browser: str, *, scale: int = SCALE,
               timeout: float | None = None) -> Path:
    """Draw ``svg`` as NAME.png beside it: the window is the viewBox, so no margin, no clip.
    ``timeout`` (default ``TIMEOUT``) bounds the browser's run; every failure is a PngError
    naming the file, and nothing the browser started outlives the call."""
    timeout = TIMEOUT if timeout is None else timeout
    try:
        width, height = svg_size(svg)
    except OSError as problem:
        raise PngError(f"{svg}: cannot read it: {problem.strerror}") from None
    png = svg.with_suffix(".png")
    try:
        png.unlink(missing_ok=True)  # a stale picture must not pass for a new one
    except OSError as problem:
        raise PngError(f"{png}: cannot replace it: {problem.strerror}") from None
    # A profile of its own: two Chromiums on one profile wait for each other's lock.
    try:
        profile = Path(tempfile.mkdtemp(prefix="phone-tui-chromium-"))
    except OSError as problem:
        raise PngError(f"{svg}: no folder for {browser}'s profile in "
                       f"{tempfile.gettempdir()}: {problem.strerror}") from None
    command = [browser, *FLAGS, f"--user-data-dir={profile}",
               f"--force-device-scale-factor={scale}", f"--window-size={width},{height}",
               f"--screenshot={png}", svg.resolve().as_uri()]
    try:
        code, last = _run(command, timeout)
    except subprocess.TimeoutExpired:
        failure = f"{svg}: {browser} took over {timeout:g} s to draw it"
    except OSError as problem:
        failure = f"{svg}: cannot run {browser}: {problem.strerror or problem}"
    else:
        failure = None if code == 0 and png.is_file() else \
            f"{svg}: {browser} wrote no PNG (exit {code}: {last})"
    finally:
        left = _remove(profile)
    if failure is not None:
        raise PngError(failure + (f"; {left}" if left else ""))
    if left:
        raise PngError(f"{svg}: {left}")
    return png


def _run(command: list[str], timeout: float) -> tuple[int, str]:
    """Run the browser in a process group of its own, and kill that whole group when its main
    process ends or ``timeout`` passes (Chromium's helpers outlive a killed main process, and
    keep writing to the profile). The exit code and the last line of its stderr."""
    with tempfile.TemporaryFile() as log:  # not a pipe: a helper holding it open would hang us
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log, start_new_session=True)
        try:
            code = proc.wait(timeout)
        finally:
            _kill_group(proc)
        log.seek(0)
        text = log.read()[-4096:].decode("utf-8", "replace")
    return code, (text.strip().splitlines() or ["no output"])[-1].strip()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL every process of ``proc``'s group (the session it leads), then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _remove(profile: Path, *, tries: int = 20) -> str | None:
    """Remove the browser's profile folder; None, or why it is left behind. A killed helper
    may still be on its way out for a moment: a few tries, a little apart."""
    for attempt in range(tries):
        shutil.rmtree(profile, ignore_errors=True)
        if not profile.exists():
            return None
        time.sleep(0.01 * (attempt + 1))
    try:
        shutil.rmtree(profile)
    except OSError as problem:
        return f"cannot remove the browser profile {profile}: {problem.strerror or problem}"
    return None


def render_pngs(svgs: Sequence[Path], browser: str, *, jobs: int = JOBS,
                timeout: float | None = None) -> list[Path]:
    """A PNG beside each SVG, ``jobs`` at a time. The first failure is raised, once the
    pictures under way end; the ones not yet started are not drawn."""
    failed = threading.Event()  # set by the failing job itself: no next job slips in

    def job(svg: Path) -> Path | None:
        if failed.is_set():
            return None
        try:
            return render_png(svg, browser, timeout=timeout)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(job, svg) for svg in svgs]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [path for future in futures if (path := future.result()) is not None]

"""Building blocks for tests of phone_tui (and of flows built on it).

``FAST_KDF`` makes Argon2id cheap so a test suite can unlock hundreds of times. It is only ever
used when passed explicitly, as these helpers do; the app itself always uses RFC 9106 defaults.
"""

from __future__ import annotations

from pathlib import Path

from phone_tui.core.clock import ManualClock
from phone_tui.core.config import Settings
from phone_tui.core.entropy import DeterministicEntropy
from phone_tui.core.paths import resolve_paths
from phone_tui.crypto.keystore import KdfParams, KdfPolicy
from phone_tui.handset.device import load_device
from phone_tui.handset.handset import Handset
from phone_tui.handset.persona import KdfConfig

_FAST = KdfParams(memory_kib=8, iterations=1, lanes=1)
FAST_KDF = KdfConfig(params=_FAST, policy=KdfPolicy(minimum=_FAST))

TEST_PIN = "482916"
SIZE = (100, 40)


def make_handset(data_dir: Path, *, settings: Settings | None = None,
                 clock: ManualClock | None = None, kdf: KdfConfig = FAST_KDF,
                 seed: int | None = None) -> Handset:
    """A deterministic handset in ``data_dir``: manual clock, seeded entropy (another ``seed``
    gives another phone, with other numbers), given KDF."""
    entropy = DeterministicEntropy() if seed is None else DeterministicEntropy(seed)
    return Handset(resolve_paths(data_dir), settings or Settings(), clock=clock or ManualClock(),
                   entropy=entropy, device=load_device(), kdf=kdf)


def make_app(data_dir: Path, *, settings: Settings | None = None,
             clock: ManualClock | None = None, theme: str | None = None,
             handset: Handset | None = None, network=None):  # noqa: ANN001, ANN201
    """A PhoneApp around ``make_handset``, with the shipped themes and link profiles, on
    ``network`` (a new Bus with a seeded generator when None)."""
    import random

    from phone_tui.modem.bus import Bus
    from phone_tui.modem.profiles import load_profiles
    from phone_tui.ui.app import PhoneApp
    from phone_tui.ui.themes import load_themes

    settings = settings or Settings()
    paths = resolve_paths(data_dir)
    handset = handset or make_handset(data_dir, settings=settings, clock=clock)
    return PhoneApp(handset, paths=paths, settings=settings,
                    themes=load_themes(paths.user_themes_dir), theme=theme,
                    profiles=load_profiles(settings.profiles),
                    network=network or Bus(random.Random(7)))


async def set_up(handset: Handset, pin: str = TEST_PIN, *, locked: bool = True) -> None:
    """Finish first-run setup directly on the model (no UI), optionally locking after."""
    await handset.setup(pin)
    if locked:
        handset.lock()


async def settle(pilot) -> None:  # noqa: ANN001 - textual.pilot.Pilot
    """Let workers (Argon2id in a thread) finish and the screen catch up."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def enter_pin(pilot, pin: str, *, click: bool = False) -> None:  # noqa: ANN001
    """Type (or click) a PIN on the visible pad and press OK, then settle."""
    pad = pilot.app.query_one("#pin-pad")
    for digit in pin:
        if click:
            await pilot.click(pad, offset=pad.offset_of(digit))
        else:
            await pilot.press(digit)
    if click:
        await pilot.click(pad, offset=pad.offset_of("ok"))
    else:
        await pilot.press("enter")
    await settle(pilot)


async def open_app(pilot, app_id: str) -> None:  # noqa: ANN001
    """Click an app's tile on the home screen, then settle."""
    await settle(pilot)
    await pilot.click(f"#app-{app_id}")
    await settle(pilot)


async def wait_for(pilot, predicate, rounds: int = 100) -> None:  # noqa: ANN001
    """Let the app run (in short pauses) until ``predicate()`` holds; fail after ``rounds``."""
    for _ in range(rounds):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met")

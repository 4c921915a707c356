"""Building blocks for tests of phone_tui (and of flows built on it), and a pytest plugin.

Installed with phone-tui, the plugin gives any test suite these fixtures: ``clock`` (a
ManualClock), ``entropy``, ``data_dir``, ``handset`` (deterministic, set up with nothing),
``app_factory`` (a PhoneApp around it), ``fast_kdf`` (the CLI's personas on FAST_KDF for one
test), ``stage_factory`` (a prepared demo stage of N phones)
and ``flow_runner`` (play a flow file headless). Helpers: ``set_up``, ``enter_pin``,
``open_app``, ``send``, ``settle``, ``wait_for``, ``notifications``.

``FAST_KDF`` makes Argon2id cheap so a test suite can unlock hundreds of times. It is only ever
used when passed explicitly, as these helpers do, or for one test by the ``fast_kdf`` fixture;
the app itself always uses RFC 9106 defaults.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
    """Let workers (Argon2id in a thread) finish, the keys waiting at the app (KeyPacing) go
    on, and the screen catch up; again while a key let on starts a worker (a PIN's Enter)."""
    from phone_tui.ui.key_pacing import keys_handled

    await keys_handled(pilot)


async def enter_pin(pilot, pin: str, *, click: bool = False) -> None:  # noqa: ANN001
    """Type (or click) a PIN on the visible pad and press OK, then settle."""
    from phone_tui.ui.key_pacing import press_at_once

    pad = pilot.app.query_one("#pin-pad")
    if not click:
        await press_at_once(pilot, [*pin, "enter"])  # as a terminal sends a fast typist's keys
        return
    for digit in pin:
        await pilot.click(pad, offset=pad.offset_of(digit))
    await pilot.click(pad, offset=pad.offset_of("ok"))
    await settle(pilot)


async def open_app(pilot, app_id: str) -> None:  # noqa: ANN001
    """Click an app's tile on the home screen, then settle."""
    await settle(pilot)
    await pilot.click(f"#app-{app_id}")
    await settle(pilot)


async def wait_for(pilot, predicate, rounds: int = 500) -> None:  # noqa: ANN001
    """Let the app run (in short pauses) until ``predicate()`` holds; fail after ``rounds``."""
    for _ in range(rounds):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met")


def notifications(app) -> list[str]:  # noqa: ANN001 - a PhoneApp or a StageApp
    """Every notification's text still to be seen: each phone's (its shade's history, newest
    first), then the app's own toasts and a stage's presenter status line (newest first)."""
    from phone_tui.ui.handset_view import HandsetView

    texts = [notice.message for view in app.query(HandsetView) for notice in view.notices.history]
    status = getattr(app, "presenter_status", None)
    presenter = list(status.history) if status is not None else []
    return texts + [str(toast.message) for toast in app._notifications] + presenter


def send(handset: Handset, to: str, text: str) -> str:
    """Send ``text`` from an unlocked handset to a number or a contact's name."""
    messenger = handset.messenger
    if messenger is None:
        raise AssertionError("the handset is locked: unlock it before sending")
    number = next((c.number for c in messenger.contacts() if c.name == to), to)
    return messenger.send_text(number, text)


# ---- the pytest plugin (entry point "phone_tui" in pytest11) ---------------------------------


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says (``clock.advance(seconds)``)."""
    return ManualClock()


@pytest.fixture
def entropy() -> DeterministicEntropy:
    return DeterministicEntropy()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data folder (what --data-dir would be)."""
    return tmp_path / "home"


@pytest.fixture
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> KdfConfig:
    """For this test, a persona made without a KdfConfig (by the CLI, a flow run, a stage)
    gets ``FAST_KDF`` instead of RFC 9106's: the same Argon2id, cheap parameters."""
    from phone_tui.handset import persona

    monkeypatch.setattr(persona, "DEFAULT_KDF", FAST_KDF)
    return FAST_KDF


@pytest.fixture
def handset(data_dir: Path, clock: ManualClock) -> Handset:
    """A deterministic handset at its first run (``await set_up(handset)`` to set it up)."""
    return make_handset(data_dir, clock=clock)


@pytest.fixture
def app_factory(data_dir: Path, clock: ManualClock):  # noqa: ANN201
    """``app_factory(**kwargs)`` builds a PhoneApp like ``make_app``, on the test's clock."""
    def build(**kwargs):  # noqa: ANN003, ANN202
        kwargs.setdefault("clock", clock)
        return make_app(data_dir, **kwargs)

    return build


@pytest.fixture
def stage_factory(tmp_path: Path):  # noqa: ANN201
    """``await stage_factory(count=2, profile="full")``: a StageApp whose phones are set up
    with the demo PINs (fast KDF) and locked; run it with ``app.run_test(size=(130, 45))``.
    Every call builds the stage from the same folder (its carrier and bots too), as a restart
    does (``app.stage.close()`` first)."""
    async def build(count: int = 2, profile: str | None = "full"):  # noqa: ANN202
        import random

        from phone_tui.handset.stage import Stage, load_stage_seeds
        from phone_tui.modem.bus import Bus
        from phone_tui.modem.profiles import load_profiles
        from phone_tui.ui.stage_app import StageApp
        from phone_tui.ui.themes import load_themes

        stage = Stage(tmp_path / "stage", count, clock=ManualClock(), device=load_device(),
                      seeds=load_stage_seeds(), deterministic=True, profile=profile,
                      kdf=FAST_KDF)
        await stage.prepare()
        return StageApp(stage, themes=load_themes(tmp_path / "themes"),
                        profiles=load_profiles(),
                        network=Bus(random.Random(7), folder=stage.carrier_folder))

    return build


@pytest.fixture
def flow_runner(tmp_path: Path, fast_kdf: KdfConfig):  # noqa: ANN201
    """``await flow_runner(path, snapshots=None, check=None)`` plays a flow file headless (its
    phones set up with the fast KDF) and returns its report (``report.passed``,
    ``report.results``, ``report.differing``)."""
    async def run(path: Path, **kwargs):  # noqa: ANN003, ANN202
        from phone_tui.flows.model import load_flow
        from phone_tui.ui.flow_runner import run_flow

        return await run_flow(load_flow(Path(path)), tmp_path / "flow-run", **kwargs)

    return run

"""Private stays private: every file 0600, every folder 0700, and a duress wipe leaves no trace
of its persona in the log (issue 11, item 11)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import subprocess

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.core.logs import setup_logging
from phone_tui.core.paths import resolve_paths
from phone_tui.crypto.keystore import UnlockOutcome
from phone_tui.flows.training import Progress, Score
from phone_tui.handset.device import load_device
from phone_tui.handset.stage import Stage, load_stage_seeds
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import FAST_KDF, TEST_PIN, make_handset, send, set_up

PROFILES = load_profiles()
OPEN_PIN = "731956"
DURESS = "7391"


@pytest.fixture
def log_to(tmp_path):
    """``log_to(path, max_bytes)``: the phone_tui logger writes to ``path`` as the app's does,
    rotating at ``max_bytes``; undone after the test."""
    def start(path, max_bytes: int = 1 << 20) -> None:
        setup_logging(path, "debug", max_bytes=max_bytes)

    yield start
    logger = logging.getLogger("phone_tui")
    for handler in list(logger.handlers):
        if handler.get_name() == "phone-tui-file":
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def too_open(folder) -> list[str]:
    """What ``find FOLDER -perm /077`` lists (anything group or others may touch)."""
    found = subprocess.run(["find", str(folder), "-perm", "/077"], check=True,
                           capture_output=True, text=True).stdout.split()
    return sorted(found)


@pytest.mark.looptime
async def test_a_full_session_leaves_every_file_0600_and_every_folder_0700(tmp_path, log_to):
    os.umask(0o022)  # the usual default: what a careless mkdir or open would give away
    home = tmp_path / "home"
    paths = resolve_paths(home)
    log_to(paths.log_file, max_bytes=300)  # rotates many times in this session
    clock = ManualClock()
    bus = Bus(random.Random(3))
    phone = make_handset(home, clock=clock)
    colleague = make_handset(tmp_path / "colleague", clock=clock, seed=99)
    for handset in (phone, colleague):
        handset.attach(bus, PROFILES)
    await set_up(colleague, locked=False)
    await set_up(phone, locked=False)
    phone.messenger.add_contact(colleague.number, "Colleague")
    send(phone, "Colleague", "hello")
    await asyncio.sleep(5)
    send(colleague, phone.number, "hello back")
    await asyncio.sleep(5)
    assert [m.body for m in phone.messenger.history(colleague.number)] == ["hello", "hello back"]
    phone.lock()
    send(colleague, phone.number, "while you were locked")  # spooled on the locked phone
    await asyncio.sleep(5)
    assert phone.persona.spool_path.exists()
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal; the throttle file is made
        await phone.unlock("555111")
    phone.switch_persona("open")
    await phone.setup(OPEN_PIN)
    phone.personas["open"].set_wipe_after(5)
    phone.remember(link_profile="lte")
    Progress(paths.data_dir / "training", "alice").record(Score("f", "F", 3, 3, finished=True))

    stage = Stage(paths.data_dir / "demo", 2, clock=clock, device=load_device(),
                  seeds=load_stage_seeds(), deterministic=True, profile="full", kdf=FAST_KDF)
    await stage.prepare()
    stage_bus = Bus(random.Random(4))
    stage.attach(stage_bus, PROFILES, [])
    await asyncio.sleep(5)

    logging.getLogger("phone_tui.test").info("one more line after the last rotation")
    rotated = sorted(p.name for p in paths.log_dir.iterdir())
    assert "phone-tui.log.1" in rotated
    assert (paths.data_dir / "demo" / "phone-1").is_dir()
    assert too_open(paths.data_dir) == []
    assert too_open(paths.log_dir) == []


async def test_a_duress_wipe_removes_its_personas_log_lines_and_says_nothing(
        tmp_path, log_to):
    home = tmp_path / "home"
    paths = resolve_paths(home)
    log_to(paths.log_file, max_bytes=400)
    phone = make_handset(home)
    phone.switch_persona("open")
    await phone.setup(OPEN_PIN)
    phone.switch_persona("secure")
    await phone.setup(TEST_PIN, duress_pin=DURESS)
    secure_number = phone.line_number("secure")
    logging.getLogger("phone_tui.modem.bus").info("%s registered", secure_number)
    phone.lock()
    with pytest.raises(Exception):  # noqa: B017, PT011
        await phone.unlock("555111")
    phone.switch_persona("open")
    await phone.unlock(OPEN_PIN)
    phone.lock()
    phone.switch_persona("secure")
    files = lambda: sorted(paths.log_dir.glob("phone-tui.log*"))  # noqa: E731
    before = "".join(path.read_text() for path in files())
    assert "persona secure" in before and len(files()) > 1  # rotated at least once

    assert await phone.unlock(DURESS) is UnlockOutcome.DURESS
    logging.getLogger("phone_tui.test").info("the log goes on after the wipe")

    after = "".join(path.read_text() for path in files())
    assert "persona secure" not in after
    assert secure_number not in after
    assert "duress" not in after.lower() and "wiped" not in after
    assert "persona open unlocked" in after  # the other OS's lines stay
    assert paths.log_file.read_text().rstrip().endswith("the log goes on after the wipe")
    for path in files():
        assert path.stat().st_mode & 0o777 == 0o600
    assert not list(paths.log_dir.glob(".*"))  # no temp file left behind

"""What start-up leaves unimported: the lock screen needs no cryptography (Argon2id and the
store key come with the PIN), no SQLCipher, no store or spool module, no messenger, no other
views, no flows, and none of Textual's heavy widgets, its Footer included (benchmarks/startup.py
measures what each costs), nor the seed contacts."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from phone_tui.core.clock import SystemClock
from phone_tui.core.config import Settings
from phone_tui.core.entropy import SystemEntropy
from phone_tui.core.paths import resolve_paths
from phone_tui.handset.device import load_device
from phone_tui.handset.handset import Handset

# Loaded only once the PIN is typed, a view is opened or a command runs.
LATER = ("cryptography", "sqlcipher3", "xeddsa", "phone_tui.handset.messenger",
         "phone_tui.handset.bots", "phone_tui.crypto.ratchet", "phone_tui.flows",
         "phone_tui.ui.views.home", "phone_tui.ui.views.messages", "phone_tui.ui.commands",
         "phone_tui.ui.keys_screen",  # the help screen, loaded when first opened
         "phone_tui.ui.stage_app", "textual.widgets._text_area", "textual.widgets._markdown",
         "pygments", "markdown_it",
         # The store and the spool open with the PIN (nothing spooled: nothing to count)...
         "phone_tui.store.database", "phone_tui.handset.spool",
         # ...and the footer is one widget, not Textual's Footer of one widget per key...
         "textual.widgets._footer",
         # ...and the seed contacts are read when a messenger first needs them (the first
         # unlock), not when the locked phone registers.
         "phone_tui.handset.contacts")

CHILD = r'''
import asyncio, sys
from phone_tui.cli import build_app, parser

app = build_app(parser().parse_args(["--data-dir", sys.argv[1]]), sys.argv[1])

async def idle(pilot):
    for _ in range(20):  # the first frame, on_ready (the network attached), the footer's keys
        await pilot.pause()
    print(type(pilot.app.screen.focused).__name__)
    print(" ".join(sorted(sys.modules)))
    pilot.app.exit()

app.run(headless=True, size=(100, 40), auto_pilot=idle)
'''


def test_the_lock_screen_starts_without_what_only_an_unlocked_phone_needs(tmp_path):
    # A set-up, locked phone with the default KDF, as phone-tui refuses weaker parameters.
    handset = Handset(resolve_paths(tmp_path), Settings(), clock=SystemClock(),
                      entropy=SystemEntropy(), device=load_device())
    asyncio.run(handset.setup("482916"))
    handset.lock()
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True,
                          text=True, check=True, timeout=60)
    focused, modules = done.stdout.splitlines()[-2:]
    assert focused == "PinEntry"
    loaded = set(modules.split())
    assert {"phone_tui.ui.views.lock", "phone_tui.modem.bus"} <= loaded  # it did start
    early = sorted(m for m in loaded if any(m == p or m.startswith(p + ".") for p in LATER))
    assert early == []


async def test_the_seed_contacts_are_read_at_the_first_unlock_not_while_the_phone_is_locked(
        data_dir, clock, monkeypatch):
    """The locked phone registers without them; the first unlock reads them once, before its
    messenger starts, which then knows every one of them (and the bots start)."""
    from phone_tui.handset import contacts
    from phone_tui.testing import (
        SIZE,
        TEST_PIN,
        enter_pin,
        make_app,
        make_handset,
        set_up,
        settle,
        wait_for,
    )

    reads = []
    load = contacts.load_contacts
    monkeypatch.setattr(contacts, "load_contacts", lambda: reads.append(1) or load())
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert handset.modem is not None and reads == []  # registered, nothing read
        await enter_pin(pilot, TEST_PIN)
        await wait_for(pilot, lambda: handset.messenger is not None and app.bots)
        known = {contact.number for contact in handset.messenger.contacts()}
        assert reads == [1] and {seed.number for seed in load()} <= known

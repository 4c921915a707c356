"""Snapshot of the Open OS's SMS app: a thread with a text received, one delivered and one that
expired, the carrier note and the compose line's counter (100x40, fixed clock and seeds)."""

from __future__ import annotations

import asyncio

from phone_tui.core.config import Settings
from phone_tui.testing import SIZE, make_app, make_handset, open_app, set_up, settle, wait_for

FRIEND = "+8619012345678"


def test_sms_thread(snap_compare, tmp_path):
    settings = Settings(persona="open")
    handset = make_handset(tmp_path, settings=settings)
    asyncio.run(set_up(handset, locked=False))
    app = make_app(tmp_path, handset=handset, settings=settings, theme="open")

    async def thread(pilot) -> None:
        await wait_for(pilot, lambda: handset.texts is not None)
        texts = handset.texts
        at = handset.clock.now()
        with texts.store.transaction():
            for outgoing, body, state, reason, parts in [
                    (0, "Are you still at the office?", "received", "", 1),
                    (1, "Yes, until 8. Call me on the secure phone.", "delivered", "", 1),
                    (1, "\u00a1Hola! \u0436\u0434\u0443 " * 8, "expired",
                     "not delivered within its validity period", 2)]:
                texts.store.execute(
                    "INSERT INTO texts (number, outgoing, body, state, reason, at, parts) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", (FRIEND, outgoing, body, state, reason, at,
                                                     parts))
        await open_app(pilot, "sms")
        await pilot.press("enter")  # on the newest thread
        await settle(pilot)
        await pilot.press(*"On my way {now}")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=thread)

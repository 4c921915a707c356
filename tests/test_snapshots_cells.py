"""Snapshots of the cells issue's screens: the warnings of a secure phone next to a fake base
station, Settings > Network security, and the attacker's pane on the stage.

Review changes with the HTML report before `pytest --snapshot-update`.
"""

from __future__ import annotations

import asyncio
import random

from phone_tui.testing import SIZE, make_app, make_handset, open_app, set_up, settle


def _fake_cell_next_to(handset) -> None:
    for modem in handset.modems.values():
        handset.network.put_fake_cell(modem.number)


def test_secure_os_warnings(snap_compare, tmp_path):
    handset = make_handset(tmp_path)
    asyncio.run(set_up(handset, locked=False))
    app = make_app(tmp_path, handset=handset, theme="secure")

    async def warn(pilot) -> None:
        from phone_tui.ui.handset_view import HandsetView

        await settle(pilot)
        _fake_cell_next_to(pilot.app.handset)
        await open_app(pilot, "settings")
        pilot.app.query_one(HandsetView).top.open_entry("network_security")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=warn)


def test_attacker_pane(snap_compare, tmp_path):
    from phone_tui.core.clock import ManualClock
    from phone_tui.handset.device import load_device
    from phone_tui.handset.stage import Stage, load_stage_seeds
    from phone_tui.modem.bus import Bus
    from phone_tui.modem.profiles import load_profiles
    from phone_tui.testing import FAST_KDF
    from phone_tui.ui.stage_app import StageApp
    from phone_tui.ui.themes import load_themes

    stage = Stage(tmp_path / "stage", 2, clock=ManualClock(), device=load_device(),
                  seeds=load_stage_seeds(), deterministic=True, profile="full", kdf=FAST_KDF)
    asyncio.run(stage.prepare())
    for handset in stage.handsets:
        handset.switch_persona("open")
    app = StageApp(stage, themes=load_themes(tmp_path / "themes"), profiles=load_profiles(),
                   network=Bus(random.Random(7), wall=stage.clock.now))

    async def catch(pilot) -> None:
        from phone_tui.testing import wait_for

        await settle(pilot)
        for phone, handset in zip(stage.phones, stage.handsets, strict=False):
            await handset.unlock(phone.open_pin)
            await settle(pilot)
        await pilot.press("f11")
        li, wang = stage.handsets
        li.messenger.send_text(wang.number, "Not for the attacker")
        await wait_for(pilot, lambda: len(wang.messenger.history(li.number)) == 1)
        await settle(pilot)
        pilot.app.query_one("AttackerView").show_records()
        await settle(pilot)

    assert snap_compare(app, terminal_size=(130, 50), run_before=catch)

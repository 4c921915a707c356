"""On the stage: the fake base station key, the attacker's pane, the status bar's RAT and
null-cipher sign, the warnings, and Settings > Network security."""

from __future__ import annotations

from phone_tui.handset.handset import HandsetState
from phone_tui.testing import settle, wait_for
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.widgets.attacker_view import AttackerView
from phone_tui.ui.widgets.status_bar import StatusBar

WIDE = (130, 45)


def status_text(app, index: int = 1) -> str:
    return str(app.query_one(f"#handset-{index}", HandsetView).query_one(StatusBar).render())


def attacker_text(app) -> str:
    return str(app.query_one(AttackerView).render())


async def unlock(pilot, os: str) -> None:
    app = pilot.app
    for phone, handset in zip(app.stage.phones, app.stage.handsets, strict=False):
        await pilot.press(*(phone.pin if os == "secure" else phone.open_pin), "enter")
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        assert handset.state is HandsetState.UNLOCKED


async def test_f11_on_the_open_os_catches_the_imsi_and_shows_e2e_only_as_ciphertext(
        stage_factory):
    app = await stage_factory()
    for handset in app.stage.handsets:
        handset.switch_persona("open")
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock(pilot, "open")
        li, wang = app.stage.handsets
        assert "LTE" in status_text(app) and "\u26a0" not in status_text(app)
        assert not app.query_one(AttackerView).has_class("-on")
        await pilot.press("f11")
        await settle(pilot)
        assert li.camped.id == "imsi-catcher"
        assert "2G\u26a0" in status_text(app)
        assert app.query_one(AttackerView).has_class("-on")
        assert f"IMSI {li.identities['open'].imsi}" in attacker_text(app)
        li.messenger.send_text(wang.number, "PLAINTEXT-NEVER-SHOWN")
        await wait_for(pilot, lambda: len(wang.messenger.history(li.number)) == 1)
        await wait_for(pilot, lambda: "E2E message: ciphertext" in attacker_text(app))
        assert "PLAINTEXT" not in attacker_text(app)
        await pilot.press("f11")
        await settle(pilot)
        assert li.camped.id == "lte-1" and "\u26a0" not in status_text(app)


async def test_f11_next_to_the_secure_os_is_refused_with_a_banner_and_listed(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock(pilot, "secure")
        li = app.stage.handsets[0]
        await pilot.press("f11")
        await settle(pilot)
        assert li.camped.id == "lte-1" and "LTE" in status_text(app)
        view = app.query_one("#handset-1", HandsetView)
        shown = [notice.message for notice in view.notices.history]
        assert any("downgrade to 2G" in line for line in shown)
        assert view.notices.current is not None
        # One banner says every refusal of that cell, not the last one with "+2 more".
        current = view.notices.current
        assert (current.title, current.message) == (
            "Network security: refused",
            "IMSI request, IMEI request, downgrade to 2G, no cipher")
        assert view.notices.hidden == 0
        assert "nothing caught yet" in attacker_text(app)
        # On, though it caught nothing: the pane says so (it said "off" until a record came).
        assert "(attacker's tap" in attacker_text(app) and "(off)" not in attacker_text(app)
        view.open_app("network")
        await settle(pilot)
        text = str(view.query_one("#net-security").render())
        assert "Identity request (IMSI) from a cell \u2014 refused" in text


async def test_settings_network_security_toggles_on_open_and_policy_lines_on_secure(
        stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock(pilot, "secure")
        view = app.query_one("#handset-1", HandsetView)
        view.open_app("settings")
        await settle(pilot)
        view.top.open_entry("network_security")
        await settle(pilot)
        assert "set by policy" in str(view.query_one("#netsec-allow_2g").render())
    app.stage.close()
    app = await stage_factory()
    for handset in app.stage.handsets:
        handset.switch_persona("open")
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock(pilot, "open")
        li = app.stage.handsets[0]
        view = app.query_one("#handset-1", HandsetView)
        view.open_app("settings")
        await settle(pilot)
        view.top.open_entry("network_security")
        await settle(pilot)
        await pilot.click("#netsec-allow_2g")
        await settle(pilot)
        assert li.settings.allow_2g is False
        await pilot.press("f11")
        await settle(pilot)
        assert li.camped.id == "lte-1"
        text = str(view.query_one("#netsec-log").render())
        assert "downgrade to 2G \u2014 refused" in text

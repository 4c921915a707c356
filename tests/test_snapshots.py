"""Snapshots of every screen of this issue in each shipped theme, at 100×40, fixed clock and seeds.

Review changes with the HTML report before `pytest --snapshot-update`.
"""

from __future__ import annotations

import asyncio

import pytest

from phone_tui.testing import (
    SIZE,
    enter_pin,
    make_app,
    make_handset,
    open_app,
    set_up,
    settle,
)

THEMES = ["secure", "open", "high-contrast"]


def build(tmp_path, theme: str, state: str):
    handset = make_handset(tmp_path)
    if state != "setup":
        asyncio.run(set_up(handset, locked=state in ("lock", "throttled")))
    return make_app(tmp_path, handset=handset, theme=theme)


async def wrong_pins(pilot) -> None:
    for _ in range(5):
        await enter_pin(pilot, "555111")


async def open_settings(pilot) -> None:
    await settle(pilot)
    await open_app(pilot, "settings")


async def nothing(pilot) -> None:
    await settle(pilot)


SCENES = {"setup": nothing, "lock": nothing, "throttled": wrong_pins, "home": nothing,
          "settings": open_settings}


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("state", list(SCENES))
def test_screen(snap_compare, tmp_path, theme, state):
    assert snap_compare(build(tmp_path, theme, state), terminal_size=SIZE,
                        run_before=SCENES[state])


def test_terminal_too_small(snap_compare, tmp_path):
    assert snap_compare(build(tmp_path, "secure", "lock"), terminal_size=(40, 12))


async def open_network(pilot) -> None:
    await settle(pilot)
    await open_app(pilot, "network")


@pytest.mark.parametrize("theme", ["secure", "open"])
def test_network_app(snap_compare, tmp_path, theme):
    assert snap_compare(build(tmp_path, theme, "home"), terminal_size=SIZE,
                        run_before=open_network)


@pytest.mark.parametrize("registration", ["roaming", "searching", "denied", "airplane"])
def test_status_bar_registration(snap_compare, tmp_path, registration):
    from dataclasses import replace

    app = build(tmp_path, "secure", "home")

    async def switch(pilot) -> None:
        await settle(pilot)
        handset = pilot.app.handset
        if registration == "airplane":
            handset.set_airplane(True)
        else:
            handset.profiles["custom"] = replace(handset.profiles["lte"], name="custom",
                                                 registration=registration)
            handset.set_link_profile("custom")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=switch)


@pytest.mark.parametrize("bars", [0, 1, 2, 3, 4])
def test_status_bar_signal(snap_compare, tmp_path, bars):
    """One snapshot per bar count: unlit bars are dim (issue 12)."""
    profile = {0: "no-service", 1: "gprs", 2: "edge", 3: "3g", 4: "lte"}[bars]
    app = build(tmp_path, "secure", "home")

    async def switch(pilot) -> None:
        await settle(pilot)
        pilot.app.handset.set_link_profile(profile)
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=switch)


def _chat_rows(handset) -> None:
    """A conversation with every tick state, written straight into the store."""
    store = handset.persona.store
    number = "+86 190 0000 0110"
    at = handset.clock.now()
    rows = [(0, "Reporting for duty. Anything for me this morning?", "received"),
            (1, "Status report please.", "read"),
            (0, "All stations report normal. Next briefing at 09:00.", "received"),
            (1, "Thanks. Moving to the secure facility now.", "delivered"),
            (1, "Arrived.", "sent"),
            (1, "Draft: badge renewal request", "sending"),
            (1, "Photo of the gate", "failed")]
    for index, (outgoing, body, state) in enumerate(rows):
        store.execute("INSERT INTO messages (uuid, number, outgoing, body, state, reason, at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (f"snap-{index}", number, outgoing, body, state,
                       "no service" if state == "failed" else "", at + 60 * index))


async def _messages(pilot) -> None:
    await settle(pilot)
    _chat_rows(pilot.app.handset)
    await open_app(pilot, "messages")


async def _chat(pilot) -> None:
    from phone_tui.ui.handset_view import HandsetView
    from phone_tui.ui.views.messages import ChatView

    await settle(pilot)
    _chat_rows(pilot.app.handset)
    pilot.app.query_one(HandsetView).push(ChatView("+86 190 0000 0110"))
    await settle(pilot)


async def _key_changed_then_show(pilot, view_name: str) -> None:
    """The IT desk's identity key changes; then show its contact info or its chat."""
    from phone_tui.ui.handset_view import HandsetView
    from phone_tui.ui.views import messages

    await settle(pilot)
    messenger = pilot.app.handset.messenger
    number = "+86 190 0000 0120"
    messenger._check_identity(number, b"\x11" * 32)
    messenger._check_identity(number, b"\x22" * 32)
    pilot.app.query_one(HandsetView).push(getattr(messages, view_name)(number))
    await settle(pilot)


async def _changed(pilot) -> None:
    await _key_changed_then_show(pilot, "ContactInfoView")


async def _warning(pilot) -> None:
    await _key_changed_then_show(pilot, "ChatView")


@pytest.mark.parametrize("scene", ["messages", "chat", "verification", "identity_changed"])
def test_messages_app(snap_compare, tmp_path, scene):
    runs = {"messages": _messages, "chat": _chat, "verification": _changed,
            "identity_changed": _warning}
    assert snap_compare(build(tmp_path, "secure", "home"), terminal_size=SIZE,
                        run_before=runs[scene])


@pytest.mark.parametrize("persona", ["secure", "open"])
def test_radios_view(snap_compare, tmp_path, persona):
    from phone_tui.core.config import Settings

    settings = Settings(persona=persona)
    handset = make_handset(tmp_path, settings=settings)
    asyncio.run(set_up(handset, locked=False))
    app = make_app(tmp_path, handset=handset, settings=settings, theme="secure")

    async def radios(pilot) -> None:
        from phone_tui.ui.handset_view import HandsetView

        await open_app(pilot, "settings")
        pilot.app.query_one(HandsetView).top.open_entry("radios")
        await settle(pilot)
        if persona == "open":
            await pilot.click("#radio-wifi")
            await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=radios)


def _dual(tmp_path, persona: str = "secure"):
    """Both OSes set up; ``persona`` running and unlocked, with messages waiting for the
    other in the network."""
    handset = make_handset(tmp_path)

    async def prepare() -> None:
        other = "open" if persona == "secure" else "secure"
        handset.switch_persona(other)
        await handset.setup("731956")
        handset.switch_persona(persona)
        await handset.setup("482916")

    asyncio.run(prepare())
    return make_app(tmp_path, handset=handset, theme=None)


async def _hold_messages_for_the_other(pilot) -> None:
    """Three messages for the OS not running, held by the network (as the carrier's count)."""
    from phone_tui.modem.profiles import load_profiles
    from phone_tui.testing import wait_for

    await settle(pilot)
    handset = pilot.app.handset
    sender = handset.network.attach("+86 190 0000 0199", load_profiles()["full"],
                                    on_message=lambda _: None, on_state=lambda *_: None)
    for _ in range(3):
        sender.send(handset.line_number(handset.other), b"\x00" * 64)
    await wait_for(pilot, lambda: handset.waiting_for(handset.other) == 3)


async def _switch_screen(pilot) -> None:
    await _hold_messages_for_the_other(pilot)
    await pilot.press("f2")
    await settle(pilot)


async def _switch_confirm(pilot) -> None:
    await _switch_screen(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def _boot(pilot) -> None:
    from phone_tui.ui.handset_view import HandsetView

    await _switch_confirm(pilot)
    pilot.app.query_one(HandsetView).boot_seconds = 3.0
    await pilot.press("enter")
    await settle(pilot)
    pilot.app.query_one(HandsetView).top.hold(1.8)
    await settle(pilot)


async def _landed(pilot) -> None:
    from phone_tui.testing import wait_for
    from phone_tui.ui.handset_view import HandsetView

    await _switch_confirm(pilot)
    await pilot.press("enter")
    # The three held messages come in after the boot: the lock screen counts them.
    await wait_for(pilot, lambda: pilot.app.query_one(HandsetView).waiting == 3)
    await settle(pilot)


@pytest.mark.parametrize("scene", ["switch", "confirm", "boot", "landed"])
@pytest.mark.parametrize("persona", ["secure", "open"])
def test_os_switch(snap_compare, tmp_path, persona, scene):
    runs = {"switch": _switch_screen, "confirm": _switch_confirm, "boot": _boot,
            "landed": _landed}
    assert snap_compare(_dual(tmp_path, persona), terminal_size=SIZE, run_before=runs[scene])


@pytest.mark.parametrize("persona", ["secure", "open"])
def test_settings_per_os(snap_compare, tmp_path, persona):
    assert snap_compare(_dual(tmp_path, persona), terminal_size=SIZE, run_before=open_settings)

"""Words a new user reads name what they mean: the OS that is wiped, the radios on."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Static

from phone_tui.core.clock import ManualClock
from phone_tui.core.config import Settings
from phone_tui.testing import (
    SIZE,
    enter_pin,
    make_app,
    make_handset,
    notifications,
    open_app,
    set_up,
    settle,
)
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.lock import LockView
from phone_tui.ui.views.switch import SwitchView

WRONG = "111222"


def top(app):
    return app.query_one(HandsetView).top


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_lock_screen_wrong_pin_names_the_os_that_would_be_wiped(app_factory, handset):
    await set_up(handset)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(top(app), LockView)
        await enter_pin(pilot, WRONG)
        message = text_of(app, "#pin-message")
        assert "9 attempts left before the Secure OS is wiped." in message
        assert "phone" not in message


def card_text(app, persona: str) -> str:
    return str(app.query_one(f"#os-{persona}").content)


async def test_switch_cards_list_only_the_radios_that_are_on(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=Settings(persona="open"))
    handset.switch_persona("secure")
    await set_up(handset)
    handset.switch_persona("open")
    await set_up(handset, locked=False)
    handset.set_radio("wifi", True)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_app(pilot, "switch")
        assert isinstance(top(app), SwitchView)
        assert "radios: cellular, Wi-Fi" in card_text(app, "open")
        assert "GPS" not in card_text(app, "open") and "camera" not in card_text(app, "open")
        assert "radios: off" in card_text(app, "secure")  # not running: its line is off
        app.query_one(HandsetView).set_airplane(True)
        handset.set_radio("wifi", False)
        await settle(pilot)
        assert "radios: off" in card_text(app, "open")


async def test_a_notice_quoting_a_settings_table_keeps_its_brackets(data_dir, clock):
    """`[keymap]` in a notice is the table's name, not markup: it read `settings.toml:  has`."""
    settings = Settings(keymap={"no.such.binding": "f12"})
    handset = make_handset(data_dir, clock=clock, settings=settings)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, settings=settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        # In the phone's banner, in full in its shade.
        shown = [str(app.query_one("#notice-banner").render()), *notifications(app)]
        assert any("settings.toml: [keymap] has unknown binding ids: no.such.binding" in text
                   for text in shown), shown
        assert not any(":  has" in text for text in shown)


BROKEN_FLOW = '''[flow]
id = "t"
title = "T"
audience = "party"

[[step]]
say = "Unlock."
timeout = -1
do = [{ unlock = 3 }]
expect = [{ event = "Unlocked" }]

[[step]]
say = ""
expect = [{ event = "Teleported" }]
'''


def test_a_flow_file_reports_every_mistake_each_at_its_keys_own_line(tmp_path):
    from phone_tui.flows.model import FlowError, load_flow

    path = tmp_path / "broken.toml"
    path.write_text(BROKEN_FLOW, encoding="utf-8")
    try:
        load_flow(path)
    except FlowError as problem:
        found = [(p.line, p.key) for p in problem.problems]
        lines = str(problem).splitlines()
    else:
        raise AssertionError("the broken flow loaded")
    assert found == [(4, "flow.audience"), (8, "step 1.timeout"), (9, "step 1.do[0].unlock"),
                     (13, "step 2.say"), (14, "step 2.expect[0].event")]
    assert len(lines) == 5 and all(str(path) in line for line in lines)


def test_a_missing_flow_key_points_at_the_flow_table(tmp_path):
    from phone_tui.flows.model import FlowError, load_flow

    path = tmp_path / "no-title.toml"
    path.write_text(BROKEN_FLOW.replace('title = "T"\n', "").replace("party", "test")
                    .replace("timeout = -1\n", "").replace("unlock = 3", "unlock = true")
                    .replace('say = ""', 'say = "x"').replace("Teleported", "Locked"),
                    encoding="utf-8")
    try:
        load_flow(path)
    except FlowError as problem:
        assert (problem.line, problem.key) == (1, "flow.title")
    else:
        raise AssertionError("a flow without a title loaded")


def test_flow_check_prints_each_mistake_on_its_own_line_with_file_and_line(tmp_path, capsys):
    from phone_tui import cli

    path = tmp_path / "broken.toml"
    path.write_text(BROKEN_FLOW, encoding="utf-8")
    assert cli.main(["flow", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"phone-tui: error: {path}:4: key 'flow.audience': expected one of demo, training, test",
        f"phone-tui: error: {path}:8: key 'step 1.timeout': expected seconds, more than 0 "
        "and at most 600",
        f"phone-tui: error: {path}:9: key 'step 1.do[0].unlock': unlock: type the phone's PIN "
        "(the demo PIN on a stage) and Enter",
        f"phone-tui: error: {path}:13: key 'step 2.say': expected the text to show "
        '(say = "...")',
        f"phone-tui: error: {path}:14: key 'step 2.expect[0].event': unknown event (known: "
        + ", ".join(__import__("phone_tui.flows.model", fromlist=["EVENTS"]).EVENTS) + ")",
    ]


def _desk():
    from phone_tui.handset.contacts import load_contacts

    return next(c for c in load_contacts() if c.name == "IT Security Desk")


@pytest.mark.parametrize(("question", "words"), [
    ("why are there two OSes?", ["Secure OS", "Open OS", "only one runs at a time"]),
    ("what is a duress PIN?", ["silently wipes this OS", "other OS is not touched"]),
    ("can the carrier read this?", ["end-to-end encrypted", "metadata", "safety number"]),
    ("fake base station near me", ["IMSI catcher", "2G", "Allow 2G", "encrypted apps", "report"]),
    ("is a carrier call safe on 2G?", ["plain SMS and carrier calls", "Allow 2G"]),
])
def test_the_security_desk_answers_what_trainees_ask(question, words):
    reply = _desk().reply_to(question)
    assert reply is not None and all(word in reply for word in words), reply


def test_the_security_desks_default_lists_what_it_can_explain():
    reply = _desk().reply_to("lunch?")
    assert reply is not None
    for topic in ("two OSes", "safety numbers", "PIN", "duress PIN", "carrier"):
        assert topic in reply


@pytest.mark.looptime
async def test_the_security_desk_answers_a_duress_question_over_the_network(tmp_path):
    import random

    from phone_tui.core.entropy import SystemEntropy
    from phone_tui.handset.bots import start_bots
    from phone_tui.handset.contacts import load_contacts
    from phone_tui.modem.bus import Bus
    from phone_tui.modem.profiles import load_profiles

    clock = ManualClock()
    profiles = load_profiles()
    seeds = load_contacts()
    bus = Bus(random.Random(3))
    bots = start_bots(seeds, bus, profiles["full"], SystemEntropy(), clock)
    phone = make_handset(tmp_path / "phone", clock=clock)
    phone.seed_contacts = seeds
    phone.attach(bus, profiles)
    await set_up(phone, locked=False)
    desk = next(s.number for s in seeds if s.name == "IT Security Desk")
    phone.messenger.send_text(desk, "What is a duress PIN?")
    await asyncio.sleep(30)  # looptime: the loop's fake clock, no real wait
    replies = [m.body for m in phone.messenger.history(desk) if not m.outgoing]
    assert replies and replies[0].startswith("A duress PIN is a second PIN")
    assert bots

"""The demo stage's model: phones on one network, and every presenter control."""

from __future__ import annotations

import asyncio
import random

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.handset.contacts import load_contacts
from phone_tui.handset.device import load_device
from phone_tui.handset.handset import HandsetState
from phone_tui.handset.messenger import IdentityChangedError
from phone_tui.handset.stage import Stage, StageError, load_stage_seeds
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import FAST_KDF

SEEDS = load_stage_seeds()


def make_stage(root, count=2, **kwargs) -> Stage:
    return Stage(root, count, clock=ManualClock(), device=load_device(), seeds=SEEDS,
                 deterministic=True, kdf=FAST_KDF, **kwargs)


async def on_air(stage: Stage) -> Stage:
    await stage.prepare()
    stage.attach(Bus(random.Random(3)), load_profiles(), load_contacts())
    for handset, phone in zip(stage.handsets, stage.phones, strict=False):
        await handset.unlock(phone.pin)
    return stage


def test_stage_needs_two_to_four_phones(tmp_path):
    for count in (1, 5):
        with pytest.raises(StageError, match="2 to 4 handsets"):
            make_stage(tmp_path, count)


@pytest.mark.looptime
async def test_phones_are_set_up_with_the_demo_pins_and_reused(tmp_path):
    stage = make_stage(tmp_path)
    await stage.prepare()
    for handset in stage.handsets:
        assert handset.running == "secure" and handset.state is HandsetState.LOCKED
        assert handset.state_of("open") is HandsetState.LOCKED
    keystore = stage.handsets[0].personas["secure"].keystore_path.read_bytes()
    again = make_stage(tmp_path)
    await again.prepare()
    assert again.handsets[0].personas["secure"].keystore_path.read_bytes() == keystore
    assert await again.handsets[1].unlock(SEEDS.phones[1].pin)


@pytest.mark.looptime
async def test_two_phones_message_and_the_tap_sees_only_metadata_and_ciphertext(tmp_path):
    stage = await on_air(make_stage(tmp_path))
    li, wang = stage.handsets
    contacts = {c.name: c.number for c in li.messenger.contacts()}
    assert contacts["Director Wang"] == wang.number
    li.messenger.send_text(wang.number, "The figures are final: 4.2 million")
    await asyncio.sleep(5)
    assert [m.body for m in wang.messenger.history(li.number)] == [
        "The figures are final: 4.2 million"]
    messages = [r for r in stage.network.tap.recent if r.content == "message"]
    assert {(r.src, r.dst) for r in messages} == {(li.number, wang.number)}
    assert all(b"4.2 million" not in r.data and len(r.body) >= 160 for r in messages)


@pytest.mark.looptime
async def test_profiles_signal_and_airplane_controls(tmp_path):
    stage = await on_air(make_stage(tmp_path, 3))
    stage.set_profile("gprs")
    assert {h.modem.profile.name for h in stage.handsets} == {"gprs"}
    stage.set_profile("5g", 1)
    assert [h.modem.profile.name for h in stage.handsets] == ["gprs", "5g", "gprs"]
    assert stage.toggle_signal(2) is False
    assert stage.handsets[2].modem.registration == "searching"
    assert stage.toggle_signal(2) is True and stage.handsets[2].modem.profile.name == "gprs"
    assert stage.toggle_airplane(0) is True and not stage.network.is_registered(
        stage.handsets[0].number)
    assert stage.toggle_airplane(0) is False
    with pytest.raises(StageError, match="Unknown link profile"):
        stage.set_profile("warp")
    with pytest.raises(StageError, match="no phone 9"):
        stage.toggle_airplane(8)


@pytest.mark.looptime
async def test_a_bot_message_can_be_injected(tmp_path):
    stage = await on_air(make_stage(tmp_path))
    sender = stage.inject(1)
    await asyncio.sleep(5)
    wang = stage.handsets[1]
    bot = next(c.number for c in wang.messenger.contacts() if c.name == sender)
    assert [m.body for m in wang.messenger.history(bot)] == [SEEDS.injects[0]]


@pytest.mark.looptime
async def test_a_man_in_the_middle_raises_the_safety_number_warning(tmp_path):
    stage = await on_air(make_stage(tmp_path))
    li, wang = stage.handsets
    # They have not talked yet: the phone first learns Wang's real key, as after an earlier
    # chat, so the forgery shows as a change, not as a first contact.
    assert stage.impersonate(0) == "Director Wang"
    await asyncio.sleep(5)
    contact = li.messenger.contact(wang.number)
    assert contact.new_identity is not None
    assert contact.identity == wang.messenger.identity.public_dh
    with pytest.raises(IdentityChangedError):
        li.messenger.send_text(wang.number, "are you there?")


@pytest.mark.looptime
async def test_reset_starts_over_with_new_keys_and_the_bots_still_answer(tmp_path):
    stage = await on_air(make_stage(tmp_path))
    li, wang = stage.handsets
    old_identity = li.messenger.identity.public_dh
    li.messenger.send_text(wang.number, "before the reset")
    stage.toggle_airplane(1)
    await asyncio.sleep(5)
    await stage.reset()
    assert all(h.state is HandsetState.LOCKED and h.running == "secure" for h in stage.handsets)
    assert not stage.handsets[1].modem.airplane and not stage.network.tap.recent
    await li.unlock(SEEDS.phones[0].pin)
    await wang.unlock(SEEDS.phones[1].pin)
    assert li.messenger.identity.public_dh != old_identity
    assert li.messenger.history(wang.number) == []
    desk = next(c.number for c in li.messenger.contacts() if c.name == "IT Security Desk")
    li.messenger.send_text(desk, "what is a safety number?")
    li.messenger.send_text(wang.number, "after the reset")
    await asyncio.sleep(10)
    assert [m.body for m in wang.messenger.history(li.number)] == ["after the reset"]
    assert any("fingerprint" in m.body for m in li.messenger.history(desk))


@pytest.mark.looptime
async def test_reset_reports_every_step_in_order_and_ends_done(tmp_path):
    stage = await on_air(make_stage(tmp_path, 3))
    steps = []
    await stage.reset(progress=steps.append)
    assert [step.text for step in steps] == [
        "Wiping phone 1 of 3…", "Wiping phone 2 of 3…", "Wiping phone 3 of 3…",
        *(f"Setting up phone {n} of 3: {os}…" for n in (1, 2, 3)
          for os in ("Open OS", "Secure OS")),
        "Back on the network: publishing keys…", "The stage is ready."]
    assert [step.done for step in steps] == list(range(len(steps) - 1)) + [steps[0].total]
    assert {step.total for step in steps} == {len(steps) - 1}


@pytest.mark.looptime
async def test_the_carrier_names_both_lines_of_each_phone_and_the_bots(tmp_path):
    stage = await on_air(make_stage(tmp_path))
    li = stage.handsets[0]
    names = stage.name_directory()
    assert names[li.line_number("secure").replace(" ", "")] == "Minister Li"
    assert names[li.line_number("open").replace(" ", "")] == "Minister Li, Open OS"
    assert names["+8619000000110"] == "Duty Officer"


@pytest.mark.looptime
async def test_stage_phones_do_not_lock_themselves_unless_the_stage_says_so(tmp_path):
    from dataclasses import replace

    from phone_tui.core.resources import seeds_dir
    from phone_tui.errors import ConfigError

    assert SEEDS.auto_lock == 0
    stage = await on_air(make_stage(tmp_path / "default"))
    li = stage.handsets[0]
    assert [handset.auto_lock_seconds for handset in stage.handsets] == [0, 0]
    li.clock.advance(3600)
    assert not li.check_idle() and li.state is HandsetState.UNLOCKED
    li.lock("user")  # Ctrl+L still locks
    assert li.state is HandsetState.LOCKED
    li.switch_persona("open")
    assert await li.unlock(stage.phones[0].open_pin)
    assert li.auto_lock_seconds == 0
    # The stage's config can ask for an auto-lock; a phone's own Settings still change it.
    timed = await on_air(Stage(tmp_path / "timed", 2, clock=ManualClock(), device=load_device(),
                               seeds=replace(SEEDS, auto_lock=60), deterministic=True,
                               kdf=FAST_KDF))
    wang = timed.handsets[1]
    assert wang.auto_lock_seconds == 60
    wang.clock.advance(61)
    assert wang.check_idle() and wang.state is HandsetState.LOCKED
    assert await wang.unlock(timed.phones[1].pin)
    wang.set_auto_lock(0)
    wang.clock.advance(3600)
    assert not wang.check_idle()
    seeds = tmp_path / "stage.toml"
    seeds.write_text((seeds_dir() / "stage.toml").read_text().replace("auto_lock = 0",
                                                                      "auto_lock = 45"))
    with pytest.raises(ConfigError, match="auto_lock"):
        load_stage_seeds(seeds)


@pytest.mark.looptime
async def test_each_phone_has_both_lines_of_the_others_so_open_os_phones_can_write(tmp_path):
    stage = await on_air(make_stage(tmp_path))
    li, wang = stage.handsets
    contacts = {c.name: c.number for c in li.messenger.contacts()}
    assert contacts["Director Wang"] == wang.line_number("secure")
    assert contacts["Director Wang, Open OS"] == wang.line_number("open")
    # Both on the Open OS: Li writes to Wang's Open OS line by name, and it is delivered.
    for handset, phone in zip(stage.handsets, SEEDS.phones, strict=False):
        handset.switch_persona("open")
        await handset.unlock(phone.open_pin)
    contacts = {c.name: c.number for c in li.messenger.contacts()}
    li.messenger.send_text(contacts["Director Wang, Open OS"], "Meet at the Open OS")
    await asyncio.sleep(5)
    assert [m.body for m in wang.messenger.history(li.number)] == ["Meet at the Open OS"]

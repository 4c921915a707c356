"""One PIN attempt at a time, on the OS it was typed for (issue 11, item 7)."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from phone_tui.crypto.keystore import Keystore, UnlockOutcome
from phone_tui.errors import HandsetBusy, Throttled, WrongPin
from phone_tui.handset.persona import Persona
from phone_tui.testing import (
    SIZE,
    TEST_PIN,
    make_app,
    make_handset,
    notifications,
    set_up,
    settle,
    wait_for,
)

OPEN_PIN = "731956"
WRONG = "555111"
FIRST_WAIT = 5  # Gatekeeper: failures 1-4 go on at once, the 5th imposes 30 s


class Gate:
    """Holds Persona.try_unlock (the Argon2id step) in its thread until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        original = Persona.try_unlock

        def gated(persona: Persona, pin: str) -> UnlockOutcome:
            self.calls += 1
            self.entered.set()
            self.release.wait(30)
            return original(persona, pin)

        monkeypatch.setattr(Persona, "try_unlock", gated)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 30)


async def both_set_up(data_dir, clock):
    """Open set up with its own PIN and locked; secure set up, locked and running."""
    handset = make_handset(data_dir, clock=clock)
    handset.switch_persona("open")
    await handset.setup(OPEN_PIN)
    handset.switch_persona("secure")
    await set_up(handset)
    return handset


async def test_200_concurrent_wrong_unlocks_reach_argon2id_only_as_the_schedule_allows(
        handset, monkeypatch):
    await set_up(handset)
    calls = []
    original = Persona.try_unlock

    def counted(persona: Persona, pin: str) -> UnlockOutcome:
        calls.append(pin)
        return original(persona, pin)

    monkeypatch.setattr(Persona, "try_unlock", counted)
    results = await asyncio.gather(*(handset.unlock(WRONG) for _ in range(200)),
                                   return_exceptions=True)
    assert len(calls) == FIRST_WAIT
    assert sum(isinstance(r, WrongPin) for r in results) == FIRST_WAIT
    assert sum(isinstance(r, Throttled) for r in results) == 200 - FIRST_WAIT
    assert handset.failures() == FIRST_WAIT
    assert handset.persona.is_set_up  # not wiped: only five attempts ever ran


async def test_200_concurrent_wrong_pin_checks_are_throttled_too(handset, monkeypatch):
    await set_up(handset, locked=False)
    calls = []
    original = Keystore.unlock

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(Keystore, "unlock", counted)
    results = await asyncio.gather(*(handset.change_pin(WRONG, "551203") for _ in range(100)),
                                   *(handset.verify_pin(WRONG) for _ in range(100)),
                                   return_exceptions=True)
    assert len(calls) == FIRST_WAIT
    assert sum(isinstance(r, WrongPin) for r in results) == FIRST_WAIT
    assert sum(isinstance(r, Throttled) for r in results) == 200 - FIRST_WAIT


async def test_a_switch_during_a_wrong_pin_counts_it_for_the_os_it_was_typed_for(
        data_dir, clock, monkeypatch):
    handset = await both_set_up(data_dir, clock)
    gate = Gate(monkeypatch)
    attempt = asyncio.ensure_future(handset.unlock(WRONG))
    await gate.wait_entered()
    with pytest.raises(HandsetBusy, match="unlock"):
        handset.switch_persona("open")
    gate.release.set()
    with pytest.raises(WrongPin):
        await attempt
    assert handset.running == "secure"
    assert handset.personas["secure"].throttle.load().failures == 1
    assert handset.personas["open"].throttle.load().failures == 0


async def test_a_switch_during_a_right_pin_never_leaves_the_other_os_unlocked(
        data_dir, clock, monkeypatch):
    handset = await both_set_up(data_dir, clock)
    gate = Gate(monkeypatch)
    attempt = asyncio.ensure_future(handset.unlock(TEST_PIN))
    await gate.wait_entered()
    with contextlib.suppress(HandsetBusy):
        handset.switch_persona("open")
    gate.release.set()
    assert await attempt is UnlockOutcome.UNLOCKED
    for name, persona in handset.personas.items():
        if name != handset.running:
            assert persona.keystore is None and persona.store is None
    assert handset.persona.is_unlocked


async def test_an_attempt_whose_caller_is_cancelled_still_counts(handset, monkeypatch):
    await set_up(handset)
    gate = Gate(monkeypatch)
    attempt = asyncio.ensure_future(handset.unlock(WRONG))
    await gate.wait_entered()
    attempt.cancel()  # a lock screen that closed mid-unlock
    gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await handset.operations_done()
    assert handset.failures() == 1


async def test_ui_switch_os_mid_unlock_counts_every_wrong_pin_on_the_secure_os(
        data_dir, clock, monkeypatch):
    """The reproduction: PIN, Enter, click "⇄ Switch OS", Enter, Enter — four rounds."""
    from phone_tui.ui.views.lock import LockView

    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, clock=clock)
    rounds = 4
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for done in range(rounds):
            gate = Gate(monkeypatch)
            for digit in WRONG:
                await pilot.press(digit)
            await pilot.press("enter")
            await gate.wait_entered()
            await pilot.click("#switch-hint")
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            gate.release.set()
            await settle(pilot)
            await wait_for(pilot, lambda: isinstance(app.query_one("HandsetView").top, LockView)
                           and not app.query_one("#lock-pin").disabled)
            assert handset.running == "secure"
            assert handset.personas["secure"].throttle.load().failures == done + 1
        notices = notifications(app)
    assert handset.personas["open"].throttle.load().failures == 0
    assert sum("unlock" in notice.lower() for notice in notices) == rounds


async def test_a_lock_asked_for_during_a_pin_change_waits_for_it_to_finish(
        handset, monkeypatch):
    from phone_tui.handset.events import Locked, PinChanged

    await set_up(handset, locked=False)
    entered, release = threading.Event(), threading.Event()
    original = Keystore.derive_pin

    def gated(keystore: Keystore, new_pin: str) -> bytes:
        entered.set()
        release.wait(30)
        return original(keystore, new_pin)

    monkeypatch.setattr(Keystore, "derive_pin", gated)
    change = asyncio.ensure_future(handset.change_pin(TEST_PIN, "551203"))
    assert await asyncio.to_thread(entered.wait, 30)
    handset.lock("idle")  # the auto-lock fires while the keystore is being rewritten
    assert handset.persona.is_unlocked
    release.set()
    await change
    assert not handset.persona.is_unlocked
    kinds = [type(event) for event in handset.events.history[-2:]]
    assert kinds == [PinChanged, Locked]
    assert await handset.unlock("551203") is UnlockOutcome.UNLOCKED



async def test_the_keystore_is_written_only_on_the_loop_so_writers_never_race(
        handset, monkeypatch):
    """The messenger writes the keystore on the loop (a used one-time prekey, a rotation); a
    PIN change or a new duress PIN used to write it from a worker thread at the same time, and
    the last rename won: a write with the old PIN's wrapping could land after the new one."""
    await set_up(handset, locked=False)
    loop_thread = threading.get_ident()
    writers = []
    original = Keystore._write

    def recording(keystore: Keystore) -> None:
        writers.append(threading.get_ident())
        original(keystore)

    monkeypatch.setattr(Keystore, "_write", recording)
    await handset.change_pin(TEST_PIN, "551203")
    await handset.set_duress_pin("551203", "660314")
    assert writers and set(writers) == {loop_thread}
    handset.lock()
    assert await handset.unlock("551203") is UnlockOutcome.UNLOCKED

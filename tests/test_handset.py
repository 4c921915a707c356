from __future__ import annotations

import pytest

from phone_tui.core.config import Settings
from phone_tui.crypto.keystore import UnlockOutcome
from phone_tui.errors import PinPolicyError, Throttled, WrongPin
from phone_tui.handset.events import Locked, PinChanged, PinRejected, Unlocked, Wiped
from phone_tui.handset.handset import HandsetState
from phone_tui.handset.pin_policy import check_pin
from phone_tui.testing import TEST_PIN, make_handset, set_up


@pytest.mark.parametrize("pin", ["123", "12345678901234567", "12a4", "1111", "1234", "9876",
                                 "١٢٣٤٥"])
def test_pin_policy_refuses(pin):
    with pytest.raises(PinPolicyError):
        check_pin(pin)


@pytest.mark.parametrize("pin", ["4829", "482916", "1357924680135792"])
def test_pin_policy_accepts(pin):
    check_pin(pin)


async def test_setup_unlock_lock_cycle_emits_events(handset):
    assert handset.state is HandsetState.SETUP
    await handset.setup(TEST_PIN)
    assert handset.state is HandsetState.UNLOCKED
    assert handset.number.startswith("+86 190 ")
    handset.lock()
    assert handset.state is HandsetState.LOCKED
    assert handset.persona.keystore is None and handset.persona.store is None
    assert await handset.unlock(TEST_PIN) is UnlockOutcome.UNLOCKED
    kinds = [type(event) for event in handset.events.history]
    assert kinds[-3:] == [Unlocked, Locked, Unlocked]


async def test_a_new_handset_object_sees_the_same_persona(handset, data_dir, clock):
    await set_up(handset)
    number = (await _unlocked_number(handset))
    again = make_handset(data_dir, clock=clock)
    assert again.state is HandsetState.LOCKED
    await again.unlock(TEST_PIN)
    assert again.number == number


async def _unlocked_number(handset):
    await handset.unlock(TEST_PIN)
    number = handset.number
    handset.lock()
    return number


async def test_wrong_pin_five_times_imposes_30s_wait(handset, clock):
    await set_up(handset)
    for failures in range(1, 5):
        with pytest.raises(WrongPin) as caught:
            await handset.unlock("555111")
        assert caught.value.wait_seconds == 0
        assert caught.value.attempts_left == 10 - failures
    with pytest.raises(WrongPin, match="5 attempts left.*Try again in 30 s"):
        await handset.unlock("555111")
    with pytest.raises(Throttled):
        await handset.unlock(TEST_PIN)  # even the right PIN waits
    clock.advance(29)
    with pytest.raises(Throttled, match="1 s"):
        await handset.unlock(TEST_PIN)
    clock.advance(1)
    assert await handset.unlock(TEST_PIN) is UnlockOutcome.UNLOCKED
    assert handset.failures() == 0
    rejected = [e for e in handset.events.history if isinstance(e, PinRejected)]
    assert [e.failures for e in rejected] == [1, 2, 3, 4, 5]


async def test_wipe_after_ten_failures(handset, clock):
    await set_up(handset)
    for _ in range(9):
        with pytest.raises(WrongPin):
            await handset.unlock("555111")
        clock.advance(30)
    with pytest.raises(WrongPin):
        await handset.unlock("555111")
    assert handset.state is HandsetState.SETUP
    assert not handset.persona.keystore_path.exists()
    assert not handset.persona.store_path.exists()
    assert isinstance(handset.events.history[-1], Wiped)
    assert handset.events.history[-1].reason == "failures"


async def test_wipe_after_zero_means_never(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=Settings(wipe_after_failures=0))
    await set_up(handset)
    for _ in range(12):
        with pytest.raises(WrongPin) as caught:
            await handset.unlock("555111")
        assert caught.value.attempts_left is None
        clock.advance(30)
    assert handset.state is HandsetState.LOCKED


async def test_duress_pin_wipes_silently(handset):
    await handset.setup(TEST_PIN, duress_pin="7391")
    handset.lock()
    assert await handset.unlock("7391") is UnlockOutcome.DURESS
    assert handset.state is HandsetState.SETUP
    assert not any(isinstance(e, PinRejected) for e in handset.events.history)
    assert handset.events.history[-1] == Wiped("secure", "duress")


async def test_duress_pin_must_differ(handset):
    with pytest.raises(PinPolicyError):
        await handset.setup(TEST_PIN, duress_pin=TEST_PIN)


async def test_change_pin_needs_the_current_pin_and_counts_failures(handset):
    await set_up(handset, locked=False)
    with pytest.raises(WrongPin):
        await handset.change_pin("555111", "551203")
    assert handset.failures() == 1
    await handset.change_pin(TEST_PIN, "551203")
    assert isinstance(handset.events.history[-1], PinChanged)
    handset.lock()
    with pytest.raises(WrongPin):
        await handset.unlock(TEST_PIN)
    assert await handset.unlock("551203") is UnlockOutcome.UNLOCKED


async def test_auto_lock_after_idle_timeout(handset, clock):
    await set_up(handset, locked=False)
    handset.set_auto_lock(30)
    clock.advance(29)
    assert not handset.check_idle()
    handset.touch()
    clock.advance(29)
    assert not handset.check_idle()
    clock.advance(1)
    assert handset.check_idle()
    assert handset.events.history[-1] == Locked("secure", "idle")


async def test_auto_lock_setting_lives_in_the_encrypted_store(handset, data_dir, clock):
    await set_up(handset, locked=False)
    handset.set_auto_lock(300)
    handset.lock()
    assert handset.auto_lock_seconds == 0  # unreadable while locked
    again = make_handset(data_dir, clock=clock)
    await again.unlock(TEST_PIN)
    assert again.auto_lock_seconds == 300
    with pytest.raises(PinPolicyError):
        again.set_auto_lock(7)

"""Two OSes on one handset: isolation, switching, and the network holding the other's mail."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import weakref

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.crypto.keystore import UnlockOutcome
from phone_tui.errors import KeystoreCorrupt, StoreError, WrongPin
from phone_tui.handset.events import CellCamped, Locked, PersonaSwitched
from phone_tui.handset.handset import HandsetState
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.store.database import PersonaStore
from phone_tui.testing import TEST_PIN, make_handset, set_up

PROFILES = load_profiles()
OPEN_PIN = "731956"


@pytest.fixture
def world(tmp_path):
    """A dual-OS phone and a colleague's phone on one network."""
    clock = ManualClock()
    bus = Bus(random.Random(5))
    phone = make_handset(tmp_path / "phone", clock=clock)
    colleague = make_handset(tmp_path / "colleague", clock=clock, seed=99)
    for handset in (phone, colleague):
        handset.attach(bus, PROFILES)
    return bus, phone, colleague


async def set_up_both(phone) -> None:
    """Secure set up and left locked, open set up and running unlocked."""
    await set_up(phone)
    phone.switch_persona("open")
    await phone.setup(OPEN_PIN)


def test_each_os_has_its_own_number_folder_and_files(tmp_path):
    phone = make_handset(tmp_path)
    secure, open_ = phone.personas["secure"], phone.personas["open"]
    assert phone.line_number("secure") != phone.line_number("open")
    assert secure.folder != open_.folder and secure.folder.parent == open_.folder.parent
    assert json.loads((tmp_path / "data" / "sim.json").read_text())["numbers"] == {
        "secure": phone.line_number("secure"), "open": phone.line_number("open")}


def test_a_one_number_sim_file_keeps_its_number_for_the_secure_os(tmp_path):
    (tmp_path / "data").mkdir(parents=True)
    (tmp_path / "data" / "sim.json").write_text('{"number": "+86 190 1111 2222"}')
    phone = make_handset(tmp_path)
    assert phone.line_number("secure") == "+86 190 1111 2222"
    assert phone.line_number("open").startswith("+86 190")


def test_a_damaged_sim_file_is_named_and_left_alone(tmp_path):
    (tmp_path / "data").mkdir(parents=True)
    sim = tmp_path / "data" / "sim.json"
    sim.write_text('{"numbers": ')
    with pytest.raises(KeystoreCorrupt, match="sim.json"):
        make_handset(tmp_path).line_number("open")
    assert sim.read_text() == '{"numbers": '


@pytest.mark.looptime
async def test_switching_locks_the_running_os_and_its_keys_leave_memory(world):
    bus, phone, _ = world
    await set_up(phone, locked=False)
    events = []
    phone.events.listen(events.append)
    persona = phone.personas["secure"]
    refs = [weakref.ref(obj) for obj in (persona.keystore, persona.store, phone.messenger,
                                         phone.messenger.identity)]
    phone.switch_persona("open")
    gc.collect()
    assert [ref() for ref in refs] == [None] * 4
    assert persona.keystore is None and persona.store is None and phone.messenger is None
    assert phone.running == "open" and phone.state is HandsetState.SETUP
    assert phone.state_of("secure") is HandsetState.LOCKED
    # The open OS's radio chooses its cell afresh (its policy, its settings).
    assert events == [Locked("secure", "switch"), PersonaSwitched("open", "secure"),
                      CellCamped("open", "lte-1", "LTE", "eea2", False)]
    # The radio now carries the open OS's line; the secure OS's is off and holds its mail.
    assert bus.is_registered(phone.line_number("open"))
    assert not bus.is_registered(phone.line_number("secure"))


@pytest.mark.looptime
async def test_one_os_cannot_read_the_other(world):
    _, phone, _ = world
    await set_up_both(phone)
    secure, open_ = phone.personas["secure"], phone.personas["open"]
    open_key = bytes.fromhex(open_.keystore.secret("store_key"))
    # The open OS's key does not open the secure OS's store, nor its PIN the secure keystore.
    with pytest.raises(StoreError):
        PersonaStore(secure.store_path, open_key)
    phone.switch_persona("secure")
    with pytest.raises(WrongPin):
        await phone.unlock(OPEN_PIN)
    assert await phone.unlock(TEST_PIN) is UnlockOutcome.UNLOCKED
    assert open_.keystore is None and open_.store is None
    # Wrong PINs counted against the secure OS only.
    assert phone.personas["open"].throttle.load().failures == 0


@pytest.mark.looptime
async def test_open_secure_open_round_trip_keeps_each_os_own_conversations(world):
    _, phone, colleague = world
    await set_up(colleague, locked=False)
    them = colleague.number
    await set_up_both(phone)
    phone.messenger.add_contact(them, "Colleague")
    phone.messenger.send_text(them, "from the open OS")
    await asyncio.sleep(10)
    phone.switch_persona("secure")
    await phone.unlock(TEST_PIN)
    assert phone.messenger.contact(them) is None  # the open OS's contacts are not here
    phone.messenger.add_contact(them, "Colleague")
    phone.messenger.send_text(them, "from the secure OS")
    await asyncio.sleep(10)
    phone.switch_persona("open")
    await phone.unlock(OPEN_PIN)
    assert [m.body for m in phone.messenger.history(them)] == ["from the open OS"]
    # The colleague saw two numbers: one per OS, each its own conversation.
    assert {c.number: c.last.body for c in colleague.messenger.conversations()} == {
        phone.line_number("open"): "from the open OS",
        phone.line_number("secure"): "from the secure OS"}


@pytest.mark.looptime
async def test_messages_for_the_os_not_running_wait_in_the_network_then_arrive_once(world):
    bus, phone, colleague = world
    await set_up(colleague, locked=False)
    await set_up(phone, locked=False)  # the secure OS publishes its keys
    secure_number = phone.line_number("secure")
    phone.switch_persona("open")
    await phone.setup(OPEN_PIN)
    colleague.messenger.add_contact(secure_number, "Official")
    for i in range(20):
        colleague.messenger.send_text(secure_number, f"secure note {i}")
    await asyncio.sleep(30)
    assert phone.waiting_for("secure") == 20
    assert phone.waiting_for("open") == 0
    assert phone.messenger.conversations() == []  # nothing reached the open OS
    assert {m.state for m in colleague.messenger.history(secure_number)} == {"sent"}
    phone.switch_persona("secure")
    await asyncio.sleep(30)  # delivered to the locked OS: kept as ciphertext until unlock
    assert phone.waiting_for("secure") == 0
    assert b"secure note" not in phone.persona.spool_path.read_bytes()
    await phone.unlock(TEST_PIN)
    bodies = [m.body for m in phone.messenger.history(colleague.number)]
    assert bodies == [f"secure note {i}" for i in range(20)]
    await asyncio.sleep(30)
    assert {m.state for m in colleague.messenger.history(secure_number)} == {"delivered"}


@pytest.mark.looptime
async def test_airplane_mode_and_profile_carry_over_a_switch_and_messages_queue(world):
    bus, phone, colleague = world
    await set_up(colleague, locked=False)
    await set_up_both(phone)
    phone.set_link_profile("3g")
    phone.set_airplane(True)
    phone.messenger.add_contact(colleague.number, "Colleague")
    phone.messenger.send_text(colleague.number, "queued in airplane mode")
    phone.switch_persona("secure")
    assert phone.modem.airplane and phone.modem.profile.name == "3g"
    assert not bus.is_registered(phone.line_number("secure"))
    phone.switch_persona("open")
    await phone.unlock(OPEN_PIN)
    await asyncio.sleep(30)
    assert colleague.messenger.conversations() == []
    phone.set_airplane(False)
    await asyncio.sleep(30)
    assert [m.body for m in colleague.messenger.history(phone.number)] == [
        "queued in airplane mode"]
    assert [m.state for m in phone.messenger.history(colleague.number)] == ["delivered"]


@pytest.mark.looptime
async def test_wipe_after_failures_is_per_os(world):
    _, phone, _ = world
    await set_up_both(phone)
    phone.set_wipe_after(5)
    phone.lock()
    for _ in range(5):
        with pytest.raises(WrongPin):
            await phone.unlock("000000")
    assert phone.state is HandsetState.SETUP  # the open OS was wiped
    phone.switch_persona("secure")
    assert phone.state is HandsetState.LOCKED and phone.wipe_after == 10
    assert await phone.unlock(TEST_PIN) is UnlockOutcome.UNLOCKED


def test_a_damaged_unlock_policy_is_named_and_left_alone(tmp_path):
    phone = make_handset(tmp_path)
    policy = phone.persona.policy_path
    policy.parent.mkdir(parents=True)
    policy.write_text('{"wipe_after_failures": -3}')
    with pytest.raises(KeystoreCorrupt, match="policy.json"):
        phone.wipe_after  # noqa: B018
    assert policy.read_text() == '{"wipe_after_failures": -3}'


@pytest.mark.looptime
async def test_switching_back_and_forth_during_traffic_loses_and_duplicates_nothing(world):
    bus, phone, colleague = world
    await set_up(colleague, locked=False)
    await set_up_both(phone)
    phone.switch_persona("secure")
    await phone.unlock(TEST_PIN)
    secure_number = phone.line_number("secure")
    colleague.messenger.add_contact(secure_number, "Official")
    for i in range(60):
        colleague.messenger.send_text(secure_number, f"note {i}")
        if i % 6 == 5:  # every few messages the official switches OS, and back
            await asyncio.sleep(0.04)  # mid-flight on LTE (35 ± 15 ms one way)
            phone.switch_persona("open")
            await asyncio.sleep(0.2)
            phone.switch_persona("secure")
            await phone.unlock(TEST_PIN)
    await asyncio.sleep(60)
    bodies = [m.body for m in phone.messenger.history(colleague.number)]
    assert bodies == [f"note {i}" for i in range(60)]
    assert bus.stats.stored > 0  # some waited in the network while the open OS ran
    assert phone.waiting_for("secure") == 0
    assert {m.state for m in colleague.messenger.history(secure_number)} == {"delivered"}

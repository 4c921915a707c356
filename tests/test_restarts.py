"""State survives a restart, for everything that talks: the bots, the key directory, the
mailbox, and what was still being sent when phone-tui quit.

A "restart" here is what a new process does: a new Handset, a new Bus and new bots built from
the same folders, after the old ones closed their stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import stat
from pathlib import Path

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.core.config import Settings
from phone_tui.core.entropy import SystemEntropy
from phone_tui.errors import CarrierStateError
from phone_tui.handset.bots import start_bots
from phone_tui.handset.contacts import load_contacts
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import TEST_PIN, make_handset, notifications, set_up

PROFILES = load_profiles()
SEEDS = load_contacts()
NUMBERS = {seed.name: seed.number for seed in SEEDS}
DUTY, DESK = NUMBERS["Duty Officer"], NUMBERS["IT Security Desk"]
# Each bot, a first and a second question, and the start of the answer each gets.
EXCHANGES = {
    DUTY: (("Status report please", "All stations report normal"),
           ("Urgent: the door is open", "Understood, treating as urgent")),
    DESK: (("What is a safety number?", "A safety number is a fingerprint"),
           ("Is my PIN long enough?", "Use 6 or more digits")),
}


class Run:
    """One run of phone-tui on ``home``: its carrier (bus and bots) and its handset."""

    def __init__(self, home: Path, clock: ManualClock, seed: int, persona: str = "secure"):
        self.carrier = home / "data" / "network"
        self.bus = Bus(random.Random(seed), folder=self.carrier)
        self.bots = start_bots(SEEDS, self.bus, PROFILES["full"], SystemEntropy(), clock,
                               folder=self.carrier)
        # Another seed per run: a new process does not replay the last one's random bytes.
        self.handset = make_handset(home, clock=clock, seed=seed,
                                    settings=Settings(persona=persona))
        self.handset.seed_contacts = SEEDS
        self.handset.attach(self.bus, PROFILES)

    def bot(self, number: str):  # noqa: ANN201
        return next(bot for bot in self.bots if bot.seed.number == number)

    def quit(self) -> None:
        self.handset.lock("quit")
        for bot in self.bots:
            bot.close()
        self.bus.close()


def incoming(messenger, number: str) -> list[str]:  # noqa: ANN001
    return [m.body for m in messenger.history(number) if not m.outgoing]


def outgoing_states(messenger, number: str) -> list[str]:  # noqa: ANN001
    return [m.state for m in messenger.history(number) if m.outgoing]


@pytest.mark.looptime
async def test_each_bot_reads_and_answers_after_a_restart_with_the_same_safety_number(
        tmp_path):
    clock = ManualClock()
    run = Run(tmp_path, clock, seed=1)
    await set_up(run.handset, locked=False)
    messenger = run.handset.messenger
    for number, ((question, _), _) in EXCHANGES.items():
        messenger.send_text(number, question)
    await asyncio.sleep(30)
    safety = {number: messenger.safety_number(number) for number in EXCHANGES}
    bot_keys = {number: run.bot(number).messenger.identity.public_dh for number in EXCHANGES}
    for number, ((_, answer), _) in EXCHANGES.items():
        assert outgoing_states(messenger, number) == ["read"]
        assert [reply.startswith(answer) for reply in incoming(messenger, number)] == [True]
    run.quit()

    run = Run(tmp_path, clock, seed=2)
    await run.handset.unlock(TEST_PIN)
    messenger = run.handset.messenger
    for number, (_, (question, _)) in EXCHANGES.items():
        messenger.send_text(number, question)
    await asyncio.sleep(30)
    for number, ((_, first), (_, second)) in EXCHANGES.items():
        assert outgoing_states(messenger, number) == ["read", "read"]  # ✓✓ read, both times
        replies = incoming(messenger, number)
        assert len(replies) == 2 and replies[0].startswith(first)
        assert replies[1].startswith(second)
        assert messenger.safety_number(number) == safety[number]
        assert messenger.contact(number).new_identity is None
        assert run.bot(number).messenger.identity.public_dh == bot_keys[number]
    run.quit()


@pytest.mark.looptime
async def test_stage_bots_read_and_answer_after_a_restart_and_forget_phones_after_a_reset(
        stage_factory):
    contacts = load_contacts()

    async def start():  # noqa: ANN202 - what StageApp.on_ready does, without the screen
        app = await stage_factory()
        stage = app.stage
        stage.attach(app._network, app._profiles, contacts)
        await stage.handsets[0].unlock(stage.phones[0].pin)
        return stage

    def bot(stage, number: str):  # noqa: ANN001, ANN202
        return next(b for b in stage.bots if b.seed.number == number)

    async def exchange(stage, index: int) -> None:  # noqa: ANN001
        messenger = stage.handsets[0].messenger
        for number, questions in EXCHANGES.items():
            messenger.send_text(number, questions[index][0])
        await asyncio.sleep(30)
        for number, questions in EXCHANGES.items():
            assert outgoing_states(messenger, number)[-1] == "read"
            assert incoming(messenger, number)[-1].startswith(questions[index][1])

    def stop(stage) -> None:  # noqa: ANN001
        for handset in stage.handsets:
            handset.lock("quit")
        stage.close()

    stage = await start()
    assert stage.carrier_folder is not None and stage.carrier_folder.parent == stage.root
    await exchange(stage, 0)
    li = stage.handsets[0]
    safety = {number: li.messenger.safety_number(number) for number in EXCHANGES}
    stop(stage)

    stage = await start()
    await exchange(stage, 1)
    li = stage.handsets[0]
    assert {number: li.messenger.safety_number(number) for number in EXCHANGES} == safety
    old_number = li.number

    await stage.reset()  # new keys for every phone; the bots forget them, on disk too
    for number in EXCHANGES:
        store = bot(stage, number).store
        assert store.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
        assert store.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    await stage.handsets[0].unlock(stage.phones[0].pin)
    await exchange(stage, 0)
    li = stage.handsets[0]
    after_reset = {number: li.messenger.safety_number(number) for number in EXCHANGES}
    assert li.number == old_number and after_reset != safety  # the phone's key is new
    stop(stage)

    stage = await start()
    await exchange(stage, 1)
    li = stage.handsets[0]
    assert {number: li.messenger.safety_number(number) for number in EXCHANGES} == after_reset
    for number in EXCHANGES:  # the bot's history is the conversation since the reset
        bodies = [m.body for m in bot(stage, number).messenger.history(li.number)
                  if not m.outgoing]
        assert bodies == [EXCHANGES[number][0][0], EXCHANGES[number][1][0]]
    stop(stage)


@pytest.mark.looptime
async def test_a_one_time_prekey_handed_out_before_a_restart_is_not_handed_out_after(tmp_path):
    clock = ManualClock()
    carrier = tmp_path / "data" / "network"
    bus = Bus(random.Random(1), folder=carrier)
    handset = make_handset(tmp_path, clock=clock)
    handset.attach(bus, PROFILES)
    await set_up(handset)
    number = handset.number
    handed_out = {bus.fetch_keys(number)[1][0] for _ in range(3)}  # three strangers
    left = bus.one_time_keys_left(number)
    handset.lock("quit")
    bus.close()

    bus = Bus(random.Random(2), folder=carrier)
    handset = make_handset(tmp_path, clock=clock, seed=2)
    handset.attach(bus, PROFILES)  # offers public.json's keys only to a directory without ours
    await handset.unlock(TEST_PIN)
    assert bus.one_time_keys_left(number) == left
    rest = set()
    while (fetched := bus.fetch_keys(number))[1] is not None:
        rest.add(fetched[1][0])
    assert len(rest) == left and not handed_out & rest


@pytest.mark.looptime
async def test_a_message_held_for_the_os_not_running_survives_a_restart(tmp_path):
    clock = ManualClock()
    run = Run(tmp_path, clock, seed=1)
    await set_up(run.handset, locked=False)
    secure = run.handset.number
    run.handset.switch_persona("open")  # the secure OS's line is off: the network holds
    run.bot(DUTY).messenger.send_text(secure, "Briefing moved to 10:00")
    await asyncio.sleep(10)
    assert run.bus.waiting(secure) == 1
    run.quit()
    assert b"Briefing" not in (run.carrier / "mailbox.db").read_bytes()

    run = Run(tmp_path, clock, seed=2, persona="open")
    assert run.handset.running == "open" and run.handset.waiting_for("secure") == 1
    run.handset.switch_persona("secure")
    await run.handset.unlock(TEST_PIN)
    await asyncio.sleep(10)
    assert incoming(run.handset.messenger, DUTY) == ["Briefing moved to 10:00"]
    assert run.bus.waiting(secure) == 0
    run.quit()


@pytest.mark.looptime
async def test_a_message_still_sending_at_quit_arrives_once_after_the_restart(tmp_path):
    clock = ManualClock()
    run = Run(tmp_path, clock, seed=1)
    await set_up(run.handset, locked=False)
    run.handset.set_airplane(True)  # it never leaves the phone in this run
    message_id = run.handset.messenger.send_text(DESK, "Is my PIN long enough?")
    await asyncio.sleep(10)
    assert outgoing_states(run.handset.messenger, DESK) == ["sending"]
    phone = run.handset.number
    run.quit()

    run = Run(tmp_path, clock, seed=2)
    await run.handset.unlock(TEST_PIN)
    await asyncio.sleep(30)
    messenger = run.handset.messenger
    assert [(m.uuid, m.state) for m in messenger.history(DESK) if m.outgoing] == [
        (message_id, "read")]
    desk = run.bot(DESK).messenger
    assert [m.uuid for m in desk.history(phone) if not m.outgoing] == [message_id]
    replies = incoming(messenger, DESK)
    assert len(replies) == 1 and replies[0].startswith("Use 6 or more digits")
    messenger.resume_outbox()  # a later unlock sends nothing twice
    await asyncio.sleep(10)
    assert len(desk.history(phone)) == 2
    run.quit()


@pytest.mark.looptime
async def test_a_message_still_sending_that_cannot_go_again_fails_with_a_reason(tmp_path):
    clock = ManualClock()
    run = Run(tmp_path, clock, seed=1)
    await set_up(run.handset, locked=False)
    run.handset.set_airplane(True)
    messenger = run.handset.messenger
    messenger.send_text(DESK, "hello")
    # Before it could leave, the desk's safety number changed (as a PREKEY message from a new
    # key would record it): sending to it is blocked until the user accepts the new number.
    messenger.store.execute("UPDATE contacts SET new_identity = ? WHERE number = ?",
                            ("ab" * 32, DESK))
    run.quit()

    run = Run(tmp_path, clock, seed=2)
    await run.handset.unlock(TEST_PIN)
    await asyncio.sleep(10)
    [message] = [m for m in run.handset.messenger.history(DESK) if m.outgoing]
    assert message.state == "failed"
    assert "safety number" in message.reason and "send it again" in message.reason
    assert run.bot(DESK).messenger.history(run.handset.number) == []
    run.quit()


def test_the_carrier_folder_and_its_files_are_private(tmp_path):
    async def run() -> Path:
        session = Run(tmp_path, ManualClock(), seed=1)
        await set_up(session.handset, locked=False)
        session.handset.switch_persona("open")
        session.bot(DUTY).messenger.send_text(session.handset.line_number("secure"), "x")
        await asyncio.sleep(5)
        session.quit()
        return session.carrier

    carrier = asyncio.run(run())
    names = sorted(str(path.relative_to(carrier)) for path in carrier.rglob("*"))
    assert names == ["bots", "bots/8619000000100.db", "bots/8619000000110.db",
                     "bots/8619000000120.db", "carrier.key", "directory.json", "mailbox.db",
                     "smsc.db"]
    for path in [carrier, *carrier.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    for db in (carrier / "bots").iterdir():
        assert b"SQLite format 3" not in db.read_bytes()[:16]  # encrypted at rest


@pytest.mark.parametrize("name", ["directory.json", "mailbox.db", "smsc.db"])
@pytest.mark.parametrize("text", ["{bad", "[]", "null", "[" * 100000,
                                  '{"format": 1, "numbers": {"+1": {"bundle": "zz", '
                                  '"one_time": {}}}, "mailboxes": {"+1": [{"expires": NaN, '
                                  '"envelope": "00"}]}}'])
def test_a_damaged_carrier_file_stops_the_carrier_naming_it_and_is_left_untouched(
        tmp_path, name, text):
    carrier = tmp_path / "network"
    carrier.mkdir()
    (carrier / name).write_text(text)
    with pytest.raises(CarrierStateError) as caught:
        Bus(folder=carrier)
    assert str(caught.value).startswith(str(carrier / name))
    assert (carrier / name).read_text() == text


@pytest.mark.parametrize("name", ["mailbox.db", "smsc.db"])
def test_phone_tui_refuses_to_start_on_a_damaged_carrier_file(tmp_path, capsys, name):
    from phone_tui import cli

    carrier = tmp_path / "data" / "network"
    carrier.mkdir(parents=True)
    text = '{"format": 1, "mailboxes": {"+1": [5]}}'
    (carrier / name).write_text(text)
    assert cli.main(["--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(carrier / name) in err
    assert "Traceback" not in err
    assert (carrier / name).read_text() == text


def test_a_damaged_carrier_key_is_refused_and_kept(tmp_path):
    from phone_tui.handset.carrier import carrier_key

    (tmp_path / "carrier.key").write_bytes(b"short")
    with pytest.raises(CarrierStateError, match="carrier.key"):
        carrier_key(tmp_path)
    assert (tmp_path / "carrier.key").read_bytes() == b"short"


def test_mailbox_expiry_is_kept_in_wall_clock_time_across_a_restart(tmp_path):
    """A message stored for a day, with the carrier down for 23 hours in between, has one hour
    left after the restart (loop time starts again in each process)."""
    from phone_tui.modem.frames import Envelope, EnvelopeKind

    wall = [1_000_000.0]
    carrier = tmp_path / "network"

    async def first() -> None:
        bus = Bus(random.Random(1), folder=carrier, wall=lambda: wall[0], ttl=86400)
        bus.attach("+2", PROFILES["full"], on_message=lambda _e: None,
                   on_state=lambda *_a: None, powered=False)
        forged = Envelope(EnvelopeKind.MESSAGE, b"\x01" * 16, "+1", "+2", b"cipher")
        bus._deliver_or_store("+2", forged.encode(), forged)
        await asyncio.sleep(0)
        bus.close()

    asyncio.run(first())
    import sqlite3

    with contextlib.closing(sqlite3.connect(carrier / "mailbox.db")) as db:
        [(number, expires)] = db.execute("SELECT number, expires FROM mailbox").fetchall()
    assert number == "+2" and expires == pytest.approx(wall[0] + 86400, abs=1)
    wall[0] += 23 * 3600

    async def second() -> float:
        bus = Bus(random.Random(2), folder=carrier, wall=lambda: wall[0], ttl=86400)
        bus.attach("+2", PROFILES["full"], on_message=lambda _e: None,
                   on_state=lambda *_a: None, powered=False)
        left = bus._store["+2"][0].expires - bus.now()
        bus.close()
        return left

    assert asyncio.run(second()) == pytest.approx(3600, abs=1)


def test_fresh_deletes_the_stage_carrier_but_not_foreign_files(tmp_path):
    from phone_tui.handset.stage import StageError, remove_stage

    root = tmp_path / "demo"
    for name in ("phone-1/data", "network/bots"):
        (root / name).mkdir(parents=True)
    for name in ("network/carrier.key", "network/directory.json", "network/mailbox.db",
                 "network/bots/8619000000110.db", "network/mailbox.db-wal"):
        (root / name).write_bytes(b"")
    (root / "network" / "thesis.txt").write_text("chapter 1")
    with pytest.raises(StageError, match="did not make .*thesis.txt"):
        remove_stage(root)
    assert (root / "network" / "thesis.txt").exists()
    (root / "network" / "thesis.txt").unlink()
    remove_stage(root)
    assert not root.exists()


def test_phone_tui_keeps_its_carrier_in_the_data_folder(tmp_path):
    from phone_tui import cli

    args = cli.parser().parse_args(["--data-dir", str(tmp_path), "--deterministic"])
    assert cli.build_app(args, str(tmp_path)).carrier_folder == tmp_path / "data" / "network"


async def test_the_app_runs_its_carrier_and_bots_from_the_carrier_folder(tmp_path):
    from phone_tui.core.paths import resolve_paths
    from phone_tui.testing import SIZE, settle
    from phone_tui.ui.app import PhoneApp
    from phone_tui.ui.themes import load_themes

    carrier = tmp_path / "data" / "network"
    handset = make_handset(tmp_path)
    await set_up(handset, locked=False)
    paths = resolve_paths(tmp_path)
    app = PhoneApp(handset, paths=paths, settings=Settings(), themes=load_themes(tmp_path),
                   profiles=PROFILES, carrier_folder=carrier)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert handset.network.folder == carrier and len(app.bots) == 3
    handset.lock("quit")
    app.close_network()
    assert app.bots == []
    directory = json.loads((carrier / "directory.json").read_text())["numbers"]
    assert {handset.number, DUTY, DESK} <= set(directory)
    assert sorted(p.name for p in (carrier / "bots").iterdir()) == [
        "8619000000100.db", "8619000000110.db", "8619000000120.db"]


async def test_a_damaged_carrier_key_leaves_the_phone_working_without_bots(tmp_path):
    from phone_tui.core.paths import resolve_paths
    from phone_tui.testing import SIZE, settle
    from phone_tui.ui.app import PhoneApp
    from phone_tui.ui.themes import load_themes

    carrier = tmp_path / "data" / "network"
    carrier.mkdir(parents=True)
    (carrier / "carrier.key").write_bytes(b"short")
    handset = make_handset(tmp_path)
    await set_up(handset, locked=False)
    app = PhoneApp(handset, paths=resolve_paths(tmp_path), settings=Settings(),
                   themes=load_themes(tmp_path), profiles=PROFILES, carrier_folder=carrier)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.bots == [] and handset.modem is not None
        assert any("carrier.key" in text for text in notifications(app))
    assert (carrier / "carrier.key").read_bytes() == b"short"


def test_a_flood_to_a_phone_that_is_off_writes_each_envelope_once(tmp_path, monkeypatch):
    """The mailbox on disk changes by rows: 300 big messages arriving one per loop tick for a
    phone that is off write 300 envelopes, not the whole mailbox again at every arrival (which
    was 45 150 envelopes, 2.6 GB for 60 KiB ones)."""
    from phone_tui.modem.frames import Envelope, EnvelopeKind
    from phone_tui.modem.mailbox import MailboxFile

    written = []
    apply = MailboxFile.apply

    def counting(self, inserts, deletes):  # noqa: ANN001, ANN202
        written.extend(len(envelope) for *_, envelope in inserts)
        return apply(self, inserts, deletes)

    monkeypatch.setattr(MailboxFile, "apply", counting)
    body = bytes(60_000)

    async def flood() -> int:
        bus = Bus(random.Random(1), folder=tmp_path / "network")
        bus.attach("+2", PROFILES["full"], on_message=lambda _e: None,
                   on_state=lambda *_a: None, powered=False)
        for n in range(300):
            envelope = Envelope(EnvelopeKind.MESSAGE, n.to_bytes(16, "big"), "+1", "+2", body)
            bus._deliver_or_store("+2", envelope.encode(), envelope)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        bus.close()
        return bus.stored_for("+2")

    assert asyncio.run(flood()) == 300
    assert len(written) == 300 and sum(written) < 300 * 61_000
    # ...and all 300 are there, in order, after a restart.
    from phone_tui.modem.mailbox import load_mailboxes

    entries = load_mailboxes(tmp_path / "network" / "mailbox.db")["+2"]
    ids = [Envelope.decode(entry.envelope).msg_id for entry in entries]
    assert ids == [n.to_bytes(16, "big") for n in range(300)]

"""A message is "delivered" only once the recipient's store committed it, and no kill loses or
duplicates one: SIGKILLed processes over stores and a carrier mailbox on disk, then a fresh
process over the same folders that restarts everything and resumes.

One runner subprocess (imports paid once) forks a child per run: the child runs a carrier
(persistent mailbox) and two messengers (SQLCipher stores on disk, identities kept in them),
and at the run's kill point "kills" the recipient (or the sender: its store and radio stop
dead, the uncommitted transaction is lost as in a kill) and SIGKILLs itself a moment later,
after the carrier acted on what had left. A second fork, over the same folders, reopens
everything, resumes the outboxes and runs until the link is quiet. Each run's result comes back
as one JSON line.

    DURABILITY_RUNS=50 pytest tests/test_durability.py   (the default; DURABILITY_RANDOM for the
                                                         random-point runs, 40 by default)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = Path(os.environ.get("DURABILITY_TREE", ROOT))  # another checkout, to show old code fail
RUNS = int(os.environ.get("DURABILITY_RUNS", "50"))
RANDOM_RUNS = int(os.environ.get("DURABILITY_RANDOM", "40"))

RUNNER = r'''
import asyncio, contextlib, json, os, random, shutil, signal, sys, time
from pathlib import Path

import sqlcipher3

from phone_tui.core.clock import SystemClock
from phone_tui.core.entropy import SystemEntropy
from phone_tui.crypto.identity import IdentityKeys
from phone_tui.handset.events import EventStream
from phone_tui.handset.messenger import Messenger, MessageReceived
from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import Envelope, EnvelopeKind, FrameError, HopFrame, HopKind
from phone_tui.modem.frames import parse_report, ReportStatus
from phone_tui.modem.profiles import LinkProfile
from phone_tui.store.database import PersonaStore

FAST = LinkProfile("fast", "Fast", 1, 0, 0, 1, 0, 0)
NUMBERS = {"alice": "+1", "bob": "+2"}


class Killed(sqlcipher3.OperationalError):
    pass


class Mortal:
    """The store's connection, which stops dead when its phone is killed: nothing after that
    reaches the file (the open transaction is lost with the process, as a kill does)."""

    def __init__(self, db):
        self.db, self.dead = db, False

    def execute(self, *args):
        if self.dead:
            raise Killed("this phone was killed")
        return self.db.execute(*args)

    @property
    def in_transaction(self):
        return self.db.in_transaction

    def close(self):
        self.db.close()


class Phone:
    def __init__(self, bus, name, folder):
        self.name, self.number = name, NUMBERS[name]
        key = bytes.fromhex((folder / f"{name}.key").read_text())
        self.store = PersonaStore(folder / f"{name}.db", key)
        self.mortal = self.store._db = Mortal(self.store._db)
        identity = IdentityKeys.from_secrets(self.store.get("profile", "identity"))
        self.events = EventStream()
        self.modem = bus.attach(self.number, FAST, on_message=self._on_message,
                                on_state=lambda *state: self.messenger.on_state(*state))
        self.messenger = Messenger(
            number=self.number, persona="secure", store=self.store, identity=identity,
            network=bus, modem=self.modem, entropy=SystemEntropy(), clock=SystemClock(),
            events=self.events, save_identity=self._save_identity)
        # (Older code, run to show these tests fail without the fix, has no batches.)
        self.batch = getattr(self.messenger, "batch", contextlib.nullcontext)
        self.modem.batch = self.batch
        self.messenger.publish_keys()

    def _on_message(self, envelope):
        self.messenger.on_envelope(envelope)

    def _save_identity(self, keys):
        self.store.put("profile", "identity", keys.to_secrets())

    @property
    def dead(self):
        return self.mortal.dead

    def kill(self):
        self.mortal.dead = True


def make_template(folder):
    """Two phones with identities in their stores and their keys in the carrier's directory."""
    entropy = SystemEntropy()
    folder.mkdir(parents=True)
    for name in NUMBERS:
        key = entropy.token_bytes(32)
        (folder / f"{name}.key").write_text(key.hex())
        store = PersonaStore(folder / f"{name}.db", key)
        store.put("profile", "identity", IdentityKeys.generate(entropy, time.time()).to_secrets())
        store.close()

    async def publish():
        bus = Bus(random.Random(0), folder=folder / "carrier")
        phones = [Phone(bus, name, folder) for name in NUMBERS]
        await asyncio.sleep(0.01)
        for phone in phones:
            phone.store.close()
        bus.close()

    asyncio.run(publish())


def outgoing(phone):
    return phone.store.execute("SELECT uuid, state, net_id FROM messages WHERE outgoing = 1"
                               ).fetchall()


async def scenario(folder, spec):
    """Chat until the kill point, then kill the victim; SIGKILL the process shortly after."""
    rng = random.Random(spec["seed"])
    bus = Bus(random.Random(spec["seed"]), folder=folder / "carrier")
    alice, bob = Phone(bus, "alice", folder), Phone(bus, "bob", folder)
    phones = {phone.number: phone for phone in (alice, bob)}
    mode, point = spec["mode"], spec.get("frames", 0)
    victim = {"recipient": bob, "sender": alice}.get(spec.get("victim", "recipient"))
    down = {}  # (session, seq) of a data frame to bob: the envelope it carried
    state = {"frames": 0, "fired": False}
    loop = asyncio.get_running_loop()
    carry = bus._carry

    def kill_all():
        os.kill(os.getpid(), signal.SIGKILL)

    def fire(note):
        state["fired"] = True
        with open(folder / "fired.json", "w") as out:  # what the kill followed
            json.dump(note, out)
            out.flush()
            os.fsync(out.fileno())
        if victim is None:
            kill_all()
        victim.kill()
        # The carrier and the other phone act on what left; the sender sends all it meant to
        # (on a loaded machine its sends can come after the kill point and these 50 ms).
        loop.call_later(0.05, kill_when_sent)

    def kill_when_sent():
        if state.get("sending", False) and not alice.dead:
            loop.call_later(0.01, kill_when_sent)
        else:
            kill_all()

    def hooked(modem, frame, direction):
        phone = phones.get(modem.number)
        if phone is not None and phone.dead:
            return  # a dead phone's radio is off
        carry(modem, frame, direction)
        if state["fired"]:
            return
        state["frames"] += 1
        try:
            hop = HopFrame.decode(frame)
        except FrameError:
            return
        if modem is bob.modem and direction == "down" and hop.kind is HopKind.DATA:
            down[(hop.session, hop.seq)] = hop.payload
            return
        if mode == "random":
            if state["frames"] >= point:
                fire({"frames": state["frames"]})
            return
        if modem is not bob.modem or direction != "up":
            return
        if mode == "ack":
            # Any frame up carries bob's acknowledgement (cumulative, plus selective bits): an
            # ACK frame, or a data frame (his report) it rides on. The first that covers a
            # message frame down is the ack to kill after.
            for (session, seq), payload in list(down.items()):
                covered = seq < hop.ack or (
                    seq > hop.ack and hop.sack >> (seq - hop.ack - 1) & 1)
                if session != hop.session or not covered:
                    continue
                del down[(session, seq)]
                if payload[0] == EnvelopeKind.MESSAGE:
                    fire({"net_id": Envelope.decode(payload).msg_id.hex()})
                    return
        elif mode == "report" and hop.kind is HopKind.DATA:
            envelope = Envelope.decode(hop.payload)
            if envelope.kind is EnvelopeKind.REPORT and \
                    parse_report(envelope.body)[0] is ReportStatus.DELIVERED:
                fire({"net_id": envelope.msg_id.hex()})

    bus._carry = hooked
    if mode == "random":  # both ways: each received message is answered
        def reply(event):
            if isinstance(event, MessageReceived) and not bob.dead:
                bob.messenger.send_text("+1", "re " + event.uuid)
        bob.events.listen(reply)
    count = spec.get("messages", 4)
    state["sending"] = True
    try:
        if rng.random() < 0.5:
            with alice.batch():  # a loop tick of sends: one transaction
                for index in range(count):
                    alice.messenger.send_text("+2", f"m{index}")
        else:
            for index in range(count):
                alice.messenger.send_text("+2", f"m{index}")
                await asyncio.sleep(rng.random() * 0.004)
    except Killed:
        pass  # the sender died while it was sending
    state["sending"] = False
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        await asyncio.sleep(0.005)
        if not alice.dead and all(state == "delivered" for _u, state, _n in outgoing(alice)):
            break
    kill_all()  # the kill point never came: killed after it all


async def restart(folder, spec):
    """A fresh process over the same folders: reopen, resume, run until quiet, report."""
    fired = json.loads((folder / "fired.json").read_text()) if (folder / "fired.json").exists() \
        else {}
    # First, before anything runs: what bob's store holds after the kill.
    bob_key = bytes.fromhex((folder / "bob.key").read_text())
    store = PersonaStore(folder / "bob.db", bob_key)
    kept_at_kill = {row[0] for row in store.execute(
        "SELECT uuid FROM messages WHERE outgoing = 0 AND kind = 'text'")}
    store.close()
    alice_key = bytes.fromhex((folder / "alice.key").read_text())
    store = PersonaStore(folder / "alice.db", alice_key)
    named = None
    if "net_id" in fired:
        row = store.execute("SELECT uuid FROM messages WHERE net_id = ?",
                            (fired["net_id"],)).fetchone()
        named = row[0] if row else None
    store.close()

    bus = Bus(random.Random(spec["seed"] + 1), folder=folder / "carrier")
    alice, bob = Phone(bus, "alice", folder), Phone(bus, "bob", folder)
    await asyncio.sleep(0.01)
    for phone in (alice, bob):
        phone.messenger.resume_outbox()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        # Quiet: nothing left to send, nothing waiting at the carrier or on the hops. (A message
        # may stay "sent": its "delivered" report died with the recipient, after the hop ack.)
        quiet = not any(state == "sending" for phone in (alice, bob)
                        for _uuid, state, _net in outgoing(phone))
        idle = all(not sub.in_flight and (sub.driver is None or sub.driver.channel.idle)
                   for sub in bus._subscribers.values())
        if quiet and idle and bus.stored_for("+1") == bus.stored_for("+2") == 0:
            break
    result = {"fired": fired, "named": named, "named_kept": named in kept_at_kill,
              "problems": []}
    for sender, recipient in ((alice, bob), (bob, alice)):
        sent = [row[0] for row in outgoing(sender)]
        got = [row[0] for row in recipient.store.execute(
            "SELECT uuid FROM messages WHERE outgoing = 0 AND kind = 'text'")]
        for uuid in sent:
            if got.count(uuid) != 1:
                result["problems"].append(f"{sender.name}'s {uuid[:8]} is in "
                                          f"{recipient.name}'s store {got.count(uuid)} time(s)")
        strays = set(got) - set(sent)
        if strays:
            result["problems"].append(f"{recipient.name} holds {len(strays)} never sent")
        result[f"{sender.name}_sent"] = len(sent)
        result[f"{sender.name}_states"] = sorted(state for _u, state, _n in outgoing(sender))
    bus.close()
    for phone in (alice, bob):
        phone.store.close()
    return result


def in_child(work):
    """Run ``work`` in a forked child; its exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            work()
        except BaseException:
            import traceback
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _pid, status = os.waitpid(pid, 0)
    return status


def main():
    root, specs = Path(sys.argv[1]), json.loads(sys.argv[2])
    template = root / "template"
    make_template(template)
    for spec in specs:
        folder = root / f"run-{spec['id']}"
        shutil.copytree(template, folder)
        status = in_child(lambda: asyncio.run(scenario(folder, spec)))
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
            print(json.dumps({"id": spec["id"], "error": f"not killed (status {status})"}),
                  flush=True)
            continue
        out = folder / "result.json"

        def check():
            out.write_text(json.dumps(asyncio.run(restart(folder, spec))))

        status = in_child(check)
        result = json.loads(out.read_text()) if status == 0 and out.exists() else {
            "error": f"restart failed (status {status})"}
        print(json.dumps({"id": spec["id"], **result}), flush=True)
        shutil.rmtree(folder)


main()
'''


def run_specs(tmp_path: Path, specs: list[dict]) -> dict[str, dict]:
    child = subprocess.run([sys.executable, "-c", RUNNER, str(tmp_path), json.dumps(specs)],
                           env={**os.environ, "PYTHONPATH": str(CODE)}, cwd=CODE, timeout=600,
                           capture_output=True, text=True)
    assert child.returncode == 0, child.stderr[-3000:]
    results = {}
    for line in child.stdout.splitlines():
        result = json.loads(line)
        results[result["id"]] = result
    assert len(results) == len(specs), child.stderr[-3000:]
    return results


def ack_specs() -> list[dict]:
    """Half the runs kill the recipient right after its hop acknowledgement leaves, half right
    after its "delivered" report does."""
    return [{"id": f"ack-{n}", "mode": "ack" if n % 2 else "report", "seed": n}
            for n in range(RUNS)]


def random_specs() -> list[dict]:
    import random

    rng = random.Random(13)
    return [{"id": f"random-{n}", "mode": "random", "seed": 1000 + n,
             "frames": rng.randint(1, 70), "messages": rng.randint(1, 5),
             "victim": rng.choice(["recipient", "sender", "all"])} for n in range(RANDOM_RUNS)]


@pytest.fixture(scope="module")
def ack_results(tmp_path_factory) -> dict[str, dict]:
    return run_specs(tmp_path_factory.mktemp("ack"), ack_specs())


@pytest.fixture(scope="module")
def random_results(tmp_path_factory) -> dict[str, dict]:
    return run_specs(tmp_path_factory.mktemp("random"), random_specs())


@pytest.mark.parametrize("spec", ack_specs(), ids=lambda spec: spec["id"])
def test_a_recipient_killed_right_after_its_delivered_ack_left_has_the_message(
        ack_results, spec):
    result = ack_results[spec["id"]]
    assert "error" not in result, result
    assert result["fired"], result  # killed at the hook point, not after it all
    assert result["named"] is not None, result
    assert result["named_kept"], result  # in its store when it died...
    assert result["problems"] == [], result  # ...and every message once after the restart
    assert result["alice_sent"] == 4


@pytest.mark.parametrize("spec", random_specs(), ids=lambda spec: spec["id"])
def test_a_kill_at_any_point_loses_and_duplicates_no_message(random_results, spec):
    result = random_results[spec["id"]]
    assert "error" not in result, result
    assert result["problems"] == [], result
    assert 0 < result["alice_sent"] <= spec["messages"] or result["fired"], result

"""Lawful intercept (modem/intercept.py): the records the carrier hands over, and their export."""

from __future__ import annotations

import json
import random
import stat

import pytest
from test_modem import PROFILES, Phone, wait_until

from phone_tui.modem.bus import Bus
from phone_tui.modem.cells import Identity
from phone_tui.modem.frames import Envelope, EnvelopeKind
from phone_tui.modem.intercept import IriRecord, LawfulIntercept

WALL = 1_800_000_000.25  # 2027-01-15 08:00:00.250 UTC


def test_a_record_names_both_parties_by_msisdn_imsi_and_imei():
    intercept = LawfulIntercept(lambda: WALL)
    intercept.identities["+1"] = ("460990000000001", "864175030000019")
    intercept.identities["+2"] = ("460990000000002", "864175030000027")
    intercept.cells["+1"] = "lte-1"
    made = intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", state="submitted",
                          sms_text="Meet at five", content="clear", size=12)
    assert (made.seq, made.time, made.calling_imsi, made.called_imei, made.cell) == (
        1, "2027-01-15T08:00:00.250Z", "460990000000001", "864175030000027", "lte-1")
    assert intercept.emit("IRI-REPORT", "registration", calling="+2", called="",
                          direction="", state="registered").seq == 2
    assert list(intercept.recent)[0] is made


def test_unknown_record_types_and_services_are_refused():
    intercept = LawfulIntercept()
    with pytest.raises(ValueError):
        intercept.emit("IRI-WHATEVER", "sms", calling="+1", called="+2")
    with pytest.raises(ValueError):
        intercept.emit("IRI-REPORT", "fax", calling="+1", called="+2")


def test_a_huge_sms_text_is_cut_and_the_history_is_bounded():
    intercept = LawfulIntercept(history=10)
    for _ in range(50):
        intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", sms_text="x" * 50_000)
    assert len(intercept.recent) == 10
    assert all(len(r.sms_text or "") == 10_000 for r in intercept.recent)


def test_export_writes_json_lines_0600_and_never_over_a_file(tmp_path):
    intercept = LawfulIntercept(lambda: WALL)
    intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", sms_text="a \"quoted\"\ntext")
    intercept.emit("IRI-REPORT", "e2e-message", calling="+2", called="+1", content="ciphertext",
                   size=99)
    path = tmp_path / "intercept.jsonl"
    assert intercept.export(path) == 2
    lines = path.read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["sms_text"] == "a \"quoted\"\ntext" and second["sms_text"] is None
    assert set(first) == set(IriRecord.__dataclass_fields__)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("mine")
    with pytest.raises(FileExistsError):
        intercept.export(path)
    assert path.read_text() == "mine"


@pytest.mark.looptime
async def test_the_carrier_records_registrations_and_e2e_messages_as_metadata_only():
    bus = Bus(random.Random(3), wall=lambda: WALL)
    alice = Phone(bus, "+1", PROFILES["lte"])
    bob = Phone(bus, "+2", PROFILES["lte"])
    bus.intercept.identities["+1"] = ("460990000000001", "864175030000019")
    secret = b"\x93" * 40  # stands for the ratchet's ciphertext
    alice.modem.send("+2", secret)
    await wait_until(lambda: bob.inbox)
    records = list(bus.intercept.recent)
    assert [(r.service, r.state, r.calling) for r in records[:2]] == [
        ("registration", "registered", "+1"), ("registration", "registered", "+2")]
    [message] = [r for r in records if r.service == "e2e-message"]
    assert (message.calling, message.called, message.calling_imsi) == ("+1", "+2",
                                                                      "460990000000001")
    assert (message.content, message.size, message.sms_text) == ("ciphertext", 40, None)
    assert secret.hex() not in message.to_json()
    bob.modem.set_airplane(True)
    await wait_until(lambda: records != list(bus.intercept.recent))
    assert bus.intercept.recent[-1].state == "deregistered"


@pytest.mark.looptime
async def test_a_phone_cannot_send_the_carrier_services_envelopes_on_to_another_phone():
    bus = Bus(random.Random(4))
    alice = Phone(bus, "+1", PROFILES["lte"])
    bob = Phone(bus, "+2", PROFILES["lte"])
    for kind in (EnvelopeKind.SMS, EnvelopeKind.CC):
        alice.modem._submit(Envelope(kind, bytes(16), "+1", "+2", b"x").encode())
    alice.modem.send("+2", b"after")
    await wait_until(lambda: bob.inbox)
    assert bob.inbox == [b"after"] and bus.stats.rejected == 2


def test_the_attach_identity_reaches_the_intercept():
    bus = Bus(random.Random(5))
    bus.connect("+7", _NoPhone(), Identity("460990000000007", "864175030000076"))
    assert bus.intercept.identities["+7"] == ("460990000000007", "864175030000076")


class _NoPhone:
    def deliver(self, frame: bytes) -> None: ...
    def opened(self, session: int) -> None: ...
    def closed(self) -> None: ...
